//! A real 3-node cluster in network namespaces: corosync + our pmxcfs per node.
//! One cluster serves all checks in order (bringing one up takes seconds).

use std::path::{Path, PathBuf};
use std::time::Duration;

use pve_cluster::testcluster::TestCluster;

mod cluster_common;
use cluster_common::*;

fn wait_same(c: &TestCluster, rel: &str, content: &str) {
    for i in 1..=3 {
        let p = c.mnt(i).join(rel);
        wait_for(
            &format!("{rel} on node{i}"),
            Duration::from_secs(20),
            || read(&p).as_deref() == Some(content),
        );
    }
}

#[test]
fn three_node_cluster() {
    if !ready() {
        return;
    }
    let base = PathBuf::from(format!("/var/tmp/pve-cluster-test-{}", std::process::id()));
    let tag = format!("pct{}", std::process::id() % 10000);
    let c = TestCluster::new(
        &tag,
        (std::process::id() % 200 + 20) as u8,
        3,
        &base,
        Path::new(env!("CARGO_BIN_EXE_pmxcfs")),
    );
    let g = Guard(c.clone());
    c.up().expect("cluster up");
    c.wait_quorate(&[1, 2, 3], 3, Duration::from_secs(30))
        .expect("quorate");
    for i in 1..=3 {
        wait_for("pmxcfs quorate", Duration::from_secs(20), || quorate(&c, i));
    }

    // A write on any node is readable on all.
    for i in 1..=3 {
        let rel = format!("from-node{i}.txt");
        std::fs::write(c.mnt(i).join(&rel), format!("written on node{i}\n")).unwrap();
        wait_same(&c, &rel, &format!("written on node{i}\n"));
    }
    // A change from another node is read at once, not from a stale page cache: once a
    // later write (total order) is visible on node3, the earlier overwrite is too.
    assert_eq!(
        read(&c.mnt(3).join("from-node1.txt")).as_deref(),
        Some("written on node1\n")
    );
    std::fs::write(c.mnt(1).join("from-node1.txt"), "WRITTEN ON NODE1\n").unwrap();
    std::fs::write(c.mnt(1).join("marker.txt"), "m").unwrap();
    wait_for("marker on node3", Duration::from_secs(20), || {
        read(&c.mnt(3).join("marker.txt")).is_some()
    });
    assert_eq!(
        read(&c.mnt(3).join("from-node1.txt")).as_deref(),
        Some("WRITTEN ON NODE1\n")
    );
    // Online state comes from the kvstore group's membership, which may lag the DCDB's.
    wait_for("node3 online in .members", Duration::from_secs(20), || {
        read(&c.mnt(1).join(".members"))
            .is_some_and(|m| m.contains("\"node3\": { \"id\": 3, \"online\": 1"))
    });

    // The cluster log: an entry logged on node 1 (through its IPC socket, as the
    // daemons log) shows on node 3.
    let paths = |i: usize| pve_common::NodePaths::new(c.root(i));
    pve_cluster::ipc::log_msg(&paths(1), 6, "root@pam", "test", "hello from node1").unwrap();
    wait_for("log entry on node3", Duration::from_secs(20), || {
        read(&c.mnt(3).join(".clusterlog")).is_some_and(|l| {
            l.contains("\"tag\": \"test\"")
                && l.contains(
                    "\"node\": \"node1\", \"user\": \"root@pam\", \"msg\": \"hello from node1\"",
                )
        })
    });

    // Catch-up on restart: node3 (follower) and node1 (lowest id, starts the sync).
    for (down, writer) in [(3usize, 1usize), (1, 2)] {
        c.stop_pmxcfs(down);
        // what is logged meanwhile reaches the restarted node through the log merge
        let line = format!("logged while node{down} was down");
        pve_cluster::ipc::log_msg(&paths(writer), 6, "root@pam", "test", &line).unwrap();
        let rel = format!("missed-by-node{down}.txt");
        std::fs::write(c.mnt(writer).join(&rel), "missed\n").unwrap();
        std::fs::create_dir(c.mnt(writer).join(format!("dir-missed-{down}"))).unwrap();
        c.start_pmxcfs(down).expect("restart pmxcfs");
        wait_same(&c, &rel, "missed\n");
        wait_for("quorate after restart", Duration::from_secs(20), || {
            quorate(&c, down)
        });
        wait_for("merged cluster log", Duration::from_secs(20), || {
            read(&c.mnt(down).join(".clusterlog"))
                .is_some_and(|l| l.contains(&line) && l.contains("hello from node1"))
        });
    }

    // Cutting two nodes off leaves node1 without quorum: read-only; healing restores.
    c.set_link(2, false).unwrap();
    c.set_link(3, false).unwrap();
    wait_for("quorum loss", Duration::from_secs(30), || !quorate(&c, 1));
    let err = std::fs::write(c.mnt(1).join("while-cut.txt"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{err}");
    assert_eq!(
        read(&c.mnt(1).join("from-node1.txt")).as_deref(),
        Some("WRITTEN ON NODE1\n")
    );
    c.set_link(2, true).unwrap();
    c.set_link(3, true).unwrap();
    c.wait_quorate(&[1, 2, 3], 3, Duration::from_secs(60))
        .expect("healed");
    wait_for("quorum back", Duration::from_secs(30), || quorate(&c, 1));
    wait_for("write after heal", Duration::from_secs(30), || {
        std::fs::write(c.mnt(1).join("after-heal.txt"), "healed\n").is_ok()
    });
    wait_same(&c, "after-heal.txt", "healed\n");

    // Two nodes racing for one lock and for one new VMID: exactly one wins.
    std::fs::create_dir_all(c.mnt(1).join("priv/lock")).unwrap();
    for n in 1..=2 {
        std::fs::create_dir_all(c.mnt(1).join(format!("nodes/node{n}/qemu-server"))).unwrap();
    }
    wait_for("dirs on node2", Duration::from_secs(20), || {
        c.mnt(2).join("nodes/node2/qemu-server").is_dir() && c.mnt(2).join("priv/lock").is_dir()
    });
    for round in 0..5 {
        let lock = format!("priv/lock/race-{round}");
        let vmid = 200 + round;
        let handles: Vec<_> = [1usize, 2]
            .into_iter()
            .map(|n| {
                let lock = c.mnt(n).join(&lock);
                let conf = c
                    .mnt(n)
                    .join(format!("nodes/node{n}/qemu-server/{vmid}.conf"));
                std::thread::spawn(move || {
                    let l = std::fs::create_dir(&lock).is_ok();
                    let v = std::fs::write(&conf, "memory: 512\n").is_ok();
                    (l, v)
                })
            })
            .collect();
        let res: Vec<(bool, bool)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(res.iter().filter(|r| r.0).count(), 1, "lock race {round}");
        assert_eq!(res.iter().filter(|r| r.1).count(), 1, "vmid race {round}");
    }

    // 1,000 files written on node1 are identical everywhere, down to config.db rows.
    std::fs::create_dir(c.mnt(1).join("bulk")).unwrap();
    for k in 0..1000 {
        std::fs::write(
            c.mnt(1).join(format!("bulk/f{k}")),
            format!("content {k}\n"),
        )
        .unwrap();
    }
    std::fs::write(c.mnt(1).join("bulk-done"), "1").unwrap();
    wait_same(&c, "bulk-done", "1");
    for i in 2..=3 {
        for k in (0..1000).step_by(97) {
            assert_eq!(
                read(&c.mnt(i).join(format!("bulk/f{k}"))).unwrap(),
                format!("content {k}\n")
            );
        }
    }
    let db = |i: usize| c.root(i).join("var/lib/pve-cluster/config.db");
    let rows1 = db_rows(&db(1));
    assert!(rows1.len() > 1000);
    for i in 2..=3 {
        let rows = db_rows(&db(i));
        assert_eq!(rows.len(), rows1.len(), "row count on node{i}");
        assert!(rows == rows1, "config.db rows of node{i} differ from node1");
    }
    drop(g);
    assert!(!base.exists());
}
