//! Crash safety: SIGKILL during a write loop loses no acknowledged write.

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Node;

#[test]
fn sigkill_during_writes_keeps_every_acknowledged_write() {
    let Some(mut n) = Node::started("crash", &[]) else {
        return;
    };
    fs::create_dir(n.p("loop")).unwrap();
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (acked, stop, dir) = (acked.clone(), stop.clone(), n.p("loop"));
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let content = format!("file {i}\n").repeat(20);
                match fs::write(dir.join(format!("f{i}.cfg")), content) {
                    Ok(()) => {
                        acked.store(i + 1, Ordering::SeqCst);
                        i += 1;
                    }
                    Err(_) => break,
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    n.kill();
    stop.store(true, Ordering::SeqCst);
    let _ = writer.join();
    let count = acked.load(Ordering::SeqCst);
    assert!(count > 10, "only {count} writes before the kill");

    let conn = rusqlite::Connection::open(n.db_path()).unwrap();
    let ic: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ic, "ok");
    drop(conn);

    // the stale mount of the killed daemon is cleaned up by the next start
    n.start();
    for i in 0..count {
        let want = format!("file {i}\n").repeat(20);
        let got = fs::read_to_string(n.p(&format!("loop/f{i}.cfg")))
            .unwrap_or_else(|e| panic!("acknowledged write f{i} lost: {e}"));
        assert_eq!(got, want, "f{i}");
    }
    println!("{count} acknowledged writes survived SIGKILL");
    n.stop();
}
