//! Shared by the multi-node tests: the cluster guard, host checks, waiting and
//! reading config.db rows.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use pve_cluster::testcluster::{host_problem, TestCluster};

pub struct Guard(pub TestCluster);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.down_quiet();
    }
}

pub fn ready() -> bool {
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

pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

pub fn quorate(c: &TestCluster, i: usize) -> bool {
    read(&c.mnt(i).join(".members")).is_some_and(|m| m.contains("\"quorate\": 1"))
}

pub type DbRow = (i64, i64, i64, i64, i64, i64, String, Option<Vec<u8>>);

pub fn db_rows(db: &Path) -> Vec<DbRow> {
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
