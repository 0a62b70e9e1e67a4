use super::*;

fn tmpdb(name: &str) -> (std::path::PathBuf, Memdb) {
    let dir = std::env::temp_dir().join(format!("memdb-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.db");
    let db = Memdb::open(&path).unwrap();
    (dir, db)
}

fn op_create(p: &str) -> Op {
    Op::Create { path: p.into() }
}

fn op_write(p: &str, offset: u32, data: &[u8], truncate: bool) -> Op {
    Op::Write {
        path: p.into(),
        offset,
        data: data.to_vec(),
        truncate,
    }
}

#[test]
fn dirs_and_errnos() {
    let (dir, db) = tmpdb("dirs");
    let mk = |p: &str| db.apply(&Op::Mkdir { path: p.into() }, 0, 5);
    assert_eq!(db.root_state().version, 1);
    mk("a").unwrap();
    assert_eq!(mk("a"), Err(Errno::EEXIST));
    assert_eq!(mk("x/y"), Err(Errno::ENOENT));
    mk("a/b").unwrap();
    let a = db.getattr("a").unwrap();
    assert_eq!((a.inode, a.version), (2, 2));
    assert_eq!(db.getattr("/a//b").unwrap().inode, 3);
    let del = |p: &str| db.apply(&Op::Delete { path: p.into() }, 0, 5);
    assert_eq!(del("a"), Err(Errno::ENOTEMPTY));
    del("a/b").unwrap();
    del("a").unwrap();
    assert_eq!(del("a"), Err(Errno::ENOENT));
    assert_eq!(db.root_state().version, 5);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn write_semantics_and_persistence() {
    let (dir, db) = tmpdb("write");
    db.apply(&op_create("f"), 0, 7).unwrap();
    assert_eq!(db.apply(&op_create("f"), 0, 7), Err(Errno::EEXIST));
    assert_eq!(
        db.apply(&op_write("g", 0, b"x", false), 0, 7),
        Err(Errno::ENOENT)
    );
    db.apply(&op_write("f", 0, b"hello world", false), 0, 7)
        .unwrap();
    db.apply(&op_write("f", 0, b"HE", false), 0, 7).unwrap();
    assert_eq!(db.read_path("f").unwrap(), b"HEllo world");
    db.apply(&op_write("f", 4, b"", true), 0, 7).unwrap();
    assert_eq!(db.read_path("f").unwrap(), b"HEll");
    db.apply(&op_write("f", 6, b"!", false), 0, 7).unwrap();
    assert_eq!(db.read_path("f").unwrap(), b"HEll\0\0!");
    let big = vec![1u8; MAX_FILE_SIZE as usize + 1];
    assert_eq!(
        db.apply(&op_write("f", 0, &big, false), 0, 7),
        Err(Errno::EFBIG)
    );
    let v = db.root_state().version;
    db.apply(
        &Op::Rename {
            from: "f".into(),
            to: "g".into(),
        },
        0,
        8,
    )
    .unwrap();
    assert_eq!(db.root_state().version, v + 1);
    let g = db.getattr("g").unwrap();
    assert_eq!((g.inode, g.version, g.mtime), (2, v + 1, 8));
    let idx = db.encode_index();
    drop(db);
    let db = Memdb::open(&dir.join("config.db")).unwrap();
    assert_eq!(db.read_path("g").unwrap(), b"HEll\0\0!");
    assert_eq!(db.encode_index(), idx);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn vmid_unique_across_nodes() {
    let (dir, db) = tmpdb("vmid");
    for d in [
        "nodes",
        "nodes/a",
        "nodes/b",
        "nodes/a/qemu-server",
        "nodes/b/lxc",
    ] {
        db.apply(&Op::Mkdir { path: d.into() }, 0, 1).unwrap();
    }
    db.apply(&op_create("nodes/a/qemu-server/100.conf"), 0, 1)
        .unwrap();
    assert_eq!(
        db.apply(&op_create("nodes/b/lxc/100.conf"), 0, 1),
        Err(Errno::EEXIST)
    );
    // migration: rename between node dirs keeps the id
    db.apply(
        &Op::Mkdir {
            path: "nodes/b/qemu-server".into(),
        },
        0,
        1,
    )
    .unwrap();
    db.apply(
        &Op::Rename {
            from: "nodes/a/qemu-server/100.conf".into(),
            to: "nodes/b/qemu-server/100.conf".into(),
        },
        0,
        1,
    )
    .unwrap();
    let vl = db.vmlist();
    assert_eq!(vl.get(100).unwrap().node, "b");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn locks() {
    let (dir, db) = tmpdb("locks");
    for d in ["priv", "priv/lock", "priv/lock/l1"] {
        db.apply(&Op::Mkdir { path: d.into() }, 0, 100).unwrap();
    }
    let p = "priv/lock/l1";
    // older mtime refused, same-writer refresh allowed
    assert_eq!(
        db.apply(
            &Op::Mtime {
                path: p.into(),
                mtime: 0
            },
            0,
            0
        ),
        Err(Errno::EACCES)
    );
    assert_eq!(
        db.apply(
            &Op::Mtime {
                path: p.into(),
                mtime: 200
            },
            1,
            0
        ),
        Err(Errno::EACCES)
    );
    db.apply(
        &Op::Mtime {
            path: p.into(),
            mtime: 200,
        },
        0,
        0,
    )
    .unwrap();
    assert_eq!(
        db.apply(
            &Op::Rename {
                from: p.into(),
                to: "priv/lock/l2".into()
            },
            0,
            0
        ),
        Err(Errno::EACCES)
    );
    let csum = db.entry_csum(p).unwrap();
    assert!(!db.lock_expired(p, &csum));
    db.set_lock_timeout(0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(db.lock_expired(p, &csum));
    assert_eq!(
        db.apply(
            &Op::Unlock {
                path: p.into(),
                csum: [0; 32]
            },
            0,
            0
        ),
        Err(Errno::EACCES)
    );
    db.apply(
        &Op::Unlock {
            path: p.into(),
            csum,
        },
        0,
        0,
    )
    .unwrap();
    assert!(db.getattr(p).is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_change_is_answered_once_while_its_commit_is_finishing() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let (dir, db) = tmpdb("answer");
    let db = std::sync::Arc::new(db);
    // Per answer: bytes written or the error, and whether the memdb was still
    // locked by the change.
    type Seen = Vec<(Result<usize, Errno>, bool)>;
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let answer = |seen: &Rc<RefCell<Vec<_>>>| -> Answer {
        let (seen, db) = (seen.clone(), db.clone());
        Box::new(move |res: Result<&Applied, Errno>| {
            let locked = db.state.try_read().is_err();
            seen.borrow_mut().push((res.map(|a| a.count), locked));
        })
    };
    let res = db.apply_answering(&op_create("f"), 0, 5, answer(&seen));
    let created = res.unwrap();
    let e = created.entry.clone().unwrap();
    assert_eq!((e.inode, e.version, e.size), (2, 2, 0));
    let res = db.apply_answering(&op_write("f", 0, b"abc", false), 0, 6, answer(&seen));
    assert_eq!(res.unwrap().entry.unwrap().size, 3);
    // Refused before anything is stored: answered after the fact, unlocked.
    let res = db.apply_answering(&op_create("f"), 0, 7, answer(&seen));
    assert_eq!(res, Err(Errno::EEXIST));
    assert_eq!(
        *seen.borrow(),
        [(Ok(0), true), (Ok(3), true), (Err(Errno::EEXIST), false)]
    );
    // Stored all the same.
    drop(db);
    let db = Memdb::open(&dir.join("config.db")).unwrap();
    assert_eq!(db.read_path("f").unwrap(), b"abc");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_transaction_begun_ahead_serves_the_next_change_or_is_ended() {
    let (dir, db) = tmpdb("ahead");
    let path = dir.join("config.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    // rusqlite's default is to wait up to 5 s for a lock.
    other.busy_timeout(std::time::Duration::ZERO).unwrap();
    let other_writes = || other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok();
    assert!(other_writes());
    db.change_ahead(true);
    // Beginning again while begun changes nothing (the spin calls it once per
    // spin, not knowing whether a change used up what the previous one began).
    db.change_ahead(true);
    // Ahead of a change this connection holds SQLite's write lock (and no one
    // waits for it: `other` has no busy timeout); readers go on.
    assert!(!other_writes());
    let rows = || -> i64 {
        other
            .query_row("SELECT count(*) FROM tree", [], |r| r.get(0))
            .unwrap()
    };
    let before = rows();
    db.apply(&op_create("a"), 0, 5).unwrap();
    assert_eq!(rows(), before + 1);
    assert!(other_writes());
    // That change used up the transaction begun ahead: the next is begun anew.
    db.change_ahead(true);
    assert!(!other_writes());
    db.apply(&op_create("c"), 0, 6).unwrap();
    assert!(other_writes());
    db.change_ahead(true);
    db.change_ahead(false);
    assert!(other_writes());
    // With another writer holding the lock, beginning ahead gives up at once and
    // the next change waits for the lock as usual.
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let t = std::time::Instant::now();
    db.change_ahead(true);
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    other.execute_batch("ROLLBACK").unwrap();
    db.apply(&op_create("b"), 0, 7).unwrap();
    assert_eq!(rows(), before + 3);
    db.change_ahead(false);
    drop(db);
    let db = Memdb::open(&path).unwrap();
    assert!(["a", "b", "c"].iter().all(|p| db.getattr(p).is_some()));
    let _ = std::fs::remove_dir_all(&dir);
}
