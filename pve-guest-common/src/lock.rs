//! The per-guest config lock (upstream's `lock_file_full` on
//! `/var/lock/qemu-server/lock-<vmid>.conf` or `/run/lock/lxc/pve-config-<vmid>.lock`):
//! an exclusive `flock` held while the code runs.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Runs `code` holding an exclusive flock on `path` (created when missing), waiting up
/// to `timeout`; a timeout fails with `can't lock file '<path>' - got timeout`.
pub fn lock_file_full<R>(
    path: &Path,
    timeout: Duration,
    code: impl FnOnce() -> Result<R, String>,
) -> Result<R, String> {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("can't open file '{}' - {e}\n", path.display()))?;
    let start = Instant::now();
    loop {
        // SAFETY: the descriptor belongs to `file`, which lives until the end of this
        // function; flock has no memory-safety preconditions.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            break;
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "can't lock file '{}' - got timeout\n",
                path.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The lock goes away with the descriptor when `file` is dropped.
    let res = code();
    drop(file);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_locker_times_out() {
        let path = std::env::temp_dir().join(format!("gc-lock-{}", std::process::id()));
        let r = lock_file_full(&path, Duration::from_secs(1), || {
            // flock locks are per open file description: a second open in the same
            // process conflicts as well.
            let inner = lock_file_full(&path, Duration::from_millis(100), || Ok(()));
            Ok(inner)
        })
        .unwrap();
        assert!(r.unwrap_err().contains("got timeout"));
        assert!(lock_file_full(&path, Duration::from_millis(100), || Ok(1)).is_ok());
        let _ = std::fs::remove_file(path);
    }
}
