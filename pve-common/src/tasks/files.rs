//! The files below the task directory: the `active` list, the `index` archive (rotated
//! to `index.1`), the `.active.lock` lock, and the task logs themselves.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::upid::{status_from_last_line, Upid};

use super::TaskError;

/// Past this size the index is renamed to `index.1` (about 1000 entries).
pub const INDEX_MAX_SIZE: u64 = 50_000;
/// How long to wait for `.active.lock`.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(10);

pub fn active_path(task_dir: &Path) -> PathBuf {
    task_dir.join("active")
}
pub fn index_path(task_dir: &Path) -> PathBuf {
    task_dir.join("index")
}
pub fn index_rotated_path(task_dir: &Path) -> PathBuf {
    task_dir.join("index.1")
}
pub fn lock_path(task_dir: &Path) -> PathBuf {
    task_dir.join(".active.lock")
}

/// One line of the `active` file: `<UPID> <saved 0/1>[ <endtime 8 hex>[ <status>]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveEntry {
    /// The UPID as written (kept verbatim, so lower-case hex survives a rewrite).
    pub upid: String,
    pub task: Upid,
    /// Whether the finished task is already in the index.
    pub saved: bool,
    pub endtime: Option<i64>,
    pub status: Option<String>,
}

impl ActiveEntry {
    pub fn new(upid: &Upid) -> Self {
        Self {
            upid: upid.to_string(),
            task: upid.clone(),
            saved: false,
            endtime: None,
            status: None,
        }
    }

    /// Parses one line (without its newline); `None` for anything malformed.
    pub fn parse(line: &str) -> Option<Self> {
        let (upid, rest) = line.split_once(' ')?;
        let task: Upid = upid.parse().ok()?;
        let (saved, rest) = match rest.split_at_checked(1)? {
            ("0", r) => (false, r),
            ("1", r) => (true, r),
            _ => return None,
        };
        let (endtime, status) = if rest.is_empty() {
            (None, None)
        } else {
            let rest = rest.strip_prefix(|c: char| c.is_ascii_whitespace())?;
            let (end, tail) = rest.split_at_checked(8)?;
            let endtime = parse_endtime(end)?;
            let status = if tail.is_empty() {
                None
            } else {
                let status = tail.strip_prefix(|c: char| c.is_ascii_whitespace())?;
                if status.trim().is_empty() {
                    return None;
                }
                Some(status.to_string())
            };
            (Some(endtime), status)
        };
        Some(Self {
            upid: upid.to_string(),
            task,
            saved,
            endtime,
            status,
        })
    }

    /// The line as upstream writes it, with its newline.
    pub fn to_line(&self) -> String {
        let saved = u8::from(self.saved);
        match (self.endtime, &self.status) {
            (Some(end), Some(status)) => format!("{} {saved} {end:08X} {status}\n", self.upid),
            (Some(end), None) => format!("{} {saved} {end:08X}\n", self.upid),
            (None, _) => format!("{} {saved}\n", self.upid),
        }
    }
}

/// One line of the index: `<UPID> <endtime 8 hex> <status>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub upid: String,
    pub task: Upid,
    pub endtime: Option<i64>,
    pub status: Option<String>,
}

impl IndexEntry {
    /// Parses one line (without its newline); `None` for anything malformed. Like
    /// upstream, endtime and status may be missing.
    pub fn parse(line: &str) -> Option<Self> {
        let (upid, rest) = match line.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((u, r)) => (u, Some(r)),
            None => (line, None),
        };
        let task: Upid = upid.parse().ok()?;
        let (endtime, status) = match rest {
            None => (None, None),
            Some(rest) => {
                let (end, tail) = rest.split_at_checked(8)?;
                let endtime = parse_endtime(end)?;
                let status = if tail.is_empty() {
                    None
                } else {
                    let status = tail.strip_prefix(|c: char| c.is_ascii_whitespace())?;
                    if status.is_empty() || status.starts_with(|c: char| c.is_ascii_whitespace()) {
                        return None;
                    }
                    Some(status.to_string())
                };
                (Some(endtime), status)
            }
        };
        Some(Self {
            upid: upid.to_string(),
            task,
            endtime,
            status,
        })
    }

    pub fn format_line(upid: &str, endtime: i64, status: &str) -> String {
        format!("{upid} {endtime:08X} {status}\n")
    }
}

fn parse_endtime(text: &str) -> Option<i64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(text, 16).ok()
}

/// Reads the `active` file; a missing file is an empty list, malformed lines are skipped.
pub fn read_active(task_dir: &Path) -> io::Result<Vec<ActiveEntry>> {
    let text = match fs::read(active_path(task_dir)) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text.lines().filter_map(ActiveEntry::parse).collect())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the `active` file atomically (write a temporary file, then rename).
pub fn write_active(task_dir: &Path, list: &[ActiveEntry]) -> io::Result<()> {
    let path = active_path(task_dir);
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = task_dir.join(format!("active.tmp.{}.{n}", std::process::id()));
    let text: String = list.iter().map(ActiveEntry::to_line).collect();
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_data()?;
        fs::rename(&tmp, &path)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Appends finished tasks to the index and rotates it to `index.1` when it grew past
/// [`INDEX_MAX_SIZE`].
pub fn append_index(task_dir: &Path, text: &str) -> io::Result<()> {
    let path = index_path(task_dir);
    let mut f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .open(&path)?;
    f.write_all(text.as_bytes())?;
    let size = f.metadata()?.len();
    drop(f);
    if size > INDEX_MAX_SIZE {
        fs::rename(&path, index_rotated_path(task_dir))?;
    }
    Ok(())
}

/// An exclusive `flock` on `.active.lock`, released on drop. Threads of one process
/// exclude each other too, as each guard has its own open file description.
pub struct ActiveLock {
    _file: File,
}

impl ActiveLock {
    pub fn acquire(task_dir: &Path, timeout: Duration) -> Result<Self, TaskError> {
        let path = lock_path(task_dir);
        let lock_err = |msg: String| TaskError::Lock {
            path: path.clone(),
            msg,
        };
        fs::create_dir_all(task_dir).map_err(|e| lock_err(e.to_string()))?;
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(&path)
            .map_err(|e| lock_err(format!("can't open file - {e}")))?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            // SAFETY: the descriptor belongs to `file`, which lives across the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(Self { _file: file });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => {}
                _ => return Err(lock_err(err.to_string())),
            }
            if Instant::now() >= deadline {
                return Err(lock_err("got timeout".into()));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

/// The uid of `www-data` when this process may and can hand files to it.
fn www_data_uid() -> Option<libc::uid_t> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let mut pwd: libc::passwd = unsafe_zeroed_passwd();
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    let name = c"www-data";
    // SAFETY: all pointers point to live, correctly sized buffers owned by this frame;
    // getpwnam_r writes only within them and sets `result` to `&pwd` or null.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    Some(pwd.pw_uid)
}

fn unsafe_zeroed_passwd() -> libc::passwd {
    // SAFETY: passwd is a plain C struct of integers and pointers; all-zero (null
    // pointers) is a valid value for it.
    unsafe { std::mem::zeroed() }
}

/// Creates a task's log (mode 0640, failing if it exists) and its parent directory,
/// and gives it to www-data when running as root. The chown is best effort.
pub fn create_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)?;
    // The umask may have cut the mode; the log must stay readable for www-data's group.
    let _ = file.set_permissions(fs::Permissions::from_mode(0o640));
    if let Some(uid) = www_data_uid() {
        let _ = std::os::unix::fs::fchown(&file, Some(uid), None);
    }
    Ok(file)
}

/// The status of a finished task from the last line of its log, without reading the
/// whole (possibly large) file.
pub fn read_status(log: &Path) -> String {
    match read_last_line(log) {
        Ok(line) => status_from_last_line(&line),
        Err(e) => format!("unable to get last line from task log - {e}"),
    }
}

fn read_last_line(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut tail: Vec<u8> = Vec::new();
    let mut pos = len;
    let mut chunk = 4096u64;
    loop {
        let start = pos.saturating_sub(chunk);
        let mut buf = vec![0u8; (pos - start) as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf)?;
        buf.extend_from_slice(&tail);
        tail = buf;
        pos = start;
        let trimmed = tail.strip_suffix(b"\n").unwrap_or(&tail);
        if let Some(i) = trimmed.iter().rposition(|b| *b == b'\n') {
            return Ok(String::from_utf8_lossy(&trimmed[i + 1..]).into_owned());
        }
        if pos == 0 {
            return Ok(String::from_utf8_lossy(trimmed).into_owned());
        }
        chunk = chunk.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "UPID:node1:0000C346:165A0CE4:68D7279C:qmstart:100:root@pam:";

    #[test]
    fn active_lines_round_trip() {
        for line in [
            format!("{U} 0"),
            format!("{U} 1 68D727A0"),
            format!("{U} 1 68D727A0 OK"),
            format!("{U} 0 68D727A0 WARNINGS: 2"),
            format!("{U} 1 68D727A0 some error: with spaces"),
        ] {
            let e = ActiveEntry::parse(&line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(e.to_line(), format!("{line}\n"));
        }
        for bad in [
            "".to_string(),
            U.to_string(),
            format!("{U} 2"),
            format!("{U} 0 68D7"),
            format!("{U} 0 68D727A0 "),
            format!("{U} 0 ZZZZZZZZ OK"),
            format!("{U} 0x"),
            "UPID:bad 0".to_string(),
            "ü ü".to_string(),
        ] {
            assert!(ActiveEntry::parse(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn index_lines() {
        let e = IndexEntry::parse(&format!("{U} 68D727A0 OK")).unwrap();
        assert_eq!(
            (e.endtime, e.status.as_deref()),
            (Some(0x68D727A0), Some("OK"))
        );
        assert_eq!(
            IndexEntry::format_line(U, 0x68D727A0, "OK"),
            format!("{U} 68D727A0 OK\n")
        );
        assert!(IndexEntry::parse(U).unwrap().endtime.is_none());
        assert!(IndexEntry::parse(&format!("{U} 68D7")).is_none());
        assert!(IndexEntry::parse("garbage 68D727A0 OK").is_none());
        assert!(IndexEntry::parse("").is_none());
    }

    #[test]
    fn status_from_the_last_line_of_large_logs() {
        let dir = std::env::temp_dir().join(format!("pve-tasks-status-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let log = dir.join("log");
        let long = "x".repeat(10_000);
        fs::write(
            &log,
            format!("{}\nTASK ERROR: {long}\n", "y\n".repeat(5000)),
        )
        .unwrap();
        assert_eq!(read_status(&log), long);
        fs::write(&log, "TASK OK").unwrap();
        assert_eq!(read_status(&log), "OK");
        fs::write(&log, "").unwrap();
        assert_eq!(read_status(&log), "unexpected status");
        fs::remove_dir_all(&dir).unwrap();
        assert!(read_status(&log).starts_with("unable to get last line from task log - "));
    }
}
