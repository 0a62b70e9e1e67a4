//! SIGTERM under concurrent readers: pmxcfs exits and unmounts every time.

mod common;

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{is_mounted, Node};

const ROUNDS: usize = 100;

#[test]
fn sigterm_under_readers_many_times() {
    let Some(mut n) = Node::started("sigterm", &[]) else {
        return;
    };
    fs::write(n.p("storage.cfg"), b"dir: local\n").unwrap();
    n.stop();
    let t0 = Instant::now();
    for round in 0..ROUNDS {
        n.start();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|k| {
                let (stop, m) = (stop.clone(), n.mnt());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = fs::read(m.join("storage.cfg"));
                        let _ = fs::read(m.join(".version"));
                        if k == 0 {
                            let _ = fs::read_dir(&m).map(|d| d.count());
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        n.stop();
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert!(!is_mounted(&n.mnt()), "round {round}: still mounted");
    }
    println!("{ROUNDS} SIGTERM rounds in {:?}", t0.elapsed());
}
