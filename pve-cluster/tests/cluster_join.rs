//! `pvecm add` (local join path) grows a running 2-node cluster to 3 nodes; the new
//! node takes the cluster's data and its writes reach the others.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pve_cluster::testcluster::{host_problem, node_name, TestCluster};

struct Guard(TestCluster);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.down_quiet();
    }
}

fn ready() -> bool {
    match host_problem() {
        None => true,
        Some(reason) => {
            if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
                panic!("host feature required but missing: {reason}");
            }
            println!("SKIP: {reason}");
            false
        }
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn quorate(c: &TestCluster, i: usize) -> bool {
    read(&c.mnt(i).join(".members")).is_some_and(|m| m.contains("\"quorate\": 1"))
}

type DbRow = (i64, i64, i64, i64, i64, i64, String, Option<Vec<u8>>);

fn db_rows(db: &Path) -> Vec<DbRow> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok", "integrity_check of {}", db.display());
    let mut st = conn
        .prepare("SELECT inode,parent,version,writer,mtime,type,name,data FROM tree ORDER BY inode")
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

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
