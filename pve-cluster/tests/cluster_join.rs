//! `pvecm add` (local join path) grows a running 2-node cluster to 3 nodes; the new
//! node takes the cluster's data and its writes reach the others.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pve_cluster::testcluster::{node_name, TestCluster};

mod cluster_common;
use cluster_common::*;

#[test]
fn pvecm_add_grows_two_nodes_to_three() {
    if !ready() {
        return;
    }
    let pid = std::process::id();
    let base = PathBuf::from(format!("/var/tmp/pve-cluster-join-{pid}"));
    let c = TestCluster::new(
        &format!("pcj{}", pid % 10000),
        (pid % 20 + 225) as u8,
        3,
        &base,
        Path::new(env!("CARGO_BIN_EXE_pmxcfs")),
    );
    let g = Guard(c.clone());
    c.up_with(2).expect("2-node cluster up");
    c.wait_quorate(&[1, 2], 2, Duration::from_secs(30))
        .expect("quorate");
    for i in 1..=2 {
        wait_for("pmxcfs quorate", Duration::from_secs(20), || quorate(&c, i));
    }
    std::fs::create_dir(c.mnt(1).join("before")).unwrap();
    for k in 0..50 {
        std::fs::write(c.mnt(1).join(format!("before/f{k}")), format!("{k}\n")).unwrap();
    }

    // Node 3 is not configured; pvecm add in its namespace, against node 1's root.
    assert!(!c.root(3).join("etc/corosync/corosync.conf").exists());
    let out = c
        .in_node(3, env!("CARGO_BIN_EXE_pvecm"))
        .args(["add", &c.addr(1), "--local-root"])
        .arg(c.root(1))
        .env("PVE_ROOT", c.root(3))
        .env("PVE_NODE_NAME", node_name(3))
        .env("PVE_NODE_IP", c.addr(3))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pvecm add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The new config reaches every member's host copy (and corosync reloads it).
    for i in 1..=2 {
        let host = c.root(i).join("etc/corosync/corosync.conf");
        wait_for(
            "host corosync.conf with node3",
            Duration::from_secs(20),
            || read(&host).is_some_and(|t| t.contains("name: node3")),
        );
    }
    c.start_corosync(3).unwrap();
    c.start_pmxcfs(3).unwrap();
    c.wait_quorate(&[1, 2, 3], 3, Duration::from_secs(60))
        .expect("3 nodes quorate");
    wait_for("node3 pmxcfs quorate", Duration::from_secs(30), || {
        quorate(&c, 3)
    });

    // Node 3 took the cluster's data, and its own writes reach the others.
    wait_for("old data on node3", Duration::from_secs(30), || {
        read(&c.mnt(3).join("before/f49")).as_deref() == Some("49\n")
    });
    std::fs::write(c.mnt(3).join("from-node3.txt"), "joined\n").unwrap();
    for i in 1..=2 {
        wait_for("node3's write", Duration::from_secs(20), || {
            read(&c.mnt(i).join("from-node3.txt")).as_deref() == Some("joined\n")
        });
    }
    let conf = read(&c.mnt(3).join("corosync.conf")).unwrap();
    assert!(conf.contains("name: node3") && conf.contains("config_version: 2"));
    wait_for("node3 in .members", Duration::from_secs(20), || {
        read(&c.mnt(1).join(".members"))
            .is_some_and(|m| m.contains("\"node3\": { \"id\": 3, \"online\": 1"))
    });

    let db = |i: usize| c.root(i).join("var/lib/pve-cluster/config.db");
    let rows1 = db_rows(&db(1));
    for i in 2..=3 {
        assert!(db_rows(&db(i)) == rows1, "config.db rows of node{i} differ");
    }
    drop(g);
    assert!(!base.exists());
}
