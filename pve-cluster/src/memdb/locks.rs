//! Lock directories under `priv/lock/`: ages measured on this node's clock.

use std::collections::HashMap;
use std::time::Instant;

use super::index::entry_csum;
use super::tree::{Kind, Tree};

pub const LOCK_DIR: &str = "priv/lock";

/// A lock older than this may be removed by an unlock request (utime 0).
pub const LOCK_TIMEOUT_SECS: u64 = 120;

/// `priv/lock/<something>`.
pub fn is_lock_dir_path(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path.strip_prefix("priv/lock/")
        .is_some_and(|rest| !rest.is_empty())
}

struct LockInfo {
    since: Instant,
    csum: [u8; 32],
}

pub struct LockTable {
    locks: HashMap<String, LockInfo>,
    pub timeout: u64,
}

impl Default for LockTable {
    fn default() -> Self {
        LockTable {
            locks: HashMap::new(),
            timeout: LOCK_TIMEOUT_SECS,
        }
    }
}

impl LockTable {
    /// Whether the lock is older than the timeout; a new or changed lock (re)starts
    /// its timer and is not expired.
    pub fn expired(&mut self, path: &str, csum: &[u8; 32]) -> bool {
        match self.locks.get_mut(path) {
            Some(li) if li.csum != *csum => {
                li.since = Instant::now();
                li.csum = *csum;
                false
            }
            Some(li) => li.since.elapsed().as_secs() > self.timeout,
            None => {
                self.restart(path, *csum);
                false
            }
        }
    }

    pub fn restart(&mut self, path: &str, csum: [u8; 32]) {
        self.locks.insert(
            path.to_string(),
            LockInfo {
                since: Instant::now(),
                csum,
            },
        );
    }

    pub fn remove(&mut self, path: &str) {
        self.locks.remove(path);
    }

    /// After a (re)load every lock directory starts a fresh timer (upstream's
    /// effective behaviour).
    pub fn rebuild(&mut self, tree: &Tree) {
        self.locks.clear();
        let Some(dir) = tree.lookup(LOCK_DIR).filter(|d| d.kind == Kind::Dir) else {
            return;
        };
        for (name, ino) in &dir.children {
            if let Some(e) = tree.get(*ino).filter(|e| e.kind == Kind::Dir) {
                self.restart(&format!("{LOCK_DIR}/{name}"), entry_csum(e));
            }
        }
    }
}
