//! The files under `/etc/pve` this crate reads and writes, behind one small type so
//! that the pmxcfs client can replace plain file access later. Writes are atomic
//! (temporary file + rename); locks are `flock`s on files under `priv/lock/`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::SystemTime;

use pve_common::NodePaths;

/// Access to the cluster file system (plain files for now).
#[derive(Clone, Debug)]
pub struct ConfigFiles {
    paths: NodePaths,
}

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileKey {
    fn of(m: &fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

type ReadCache = std::sync::Mutex<std::collections::HashMap<PathBuf, (FileKey, String)>>;

fn read_cache() -> &'static ReadCache {
    static CACHE: std::sync::OnceLock<ReadCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// A held lock; released on drop.
pub struct FileLock {
    _file: File,
}

impl ConfigFiles {
    pub fn new(paths: NodePaths) -> Self {
        Self { paths }
    }

    pub fn paths(&self) -> &NodePaths {
        &self.paths
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.paths.pve_file(rel)
    }

    /// The file's text; `None` when it does not exist.
    ///
    /// The daemons read user.cfg, token.cfg and the keys on every request, so the text
    /// is kept per file and read again only when the file's identity changes (inode,
    /// size, mtime or ctime). Our writers replace files by rename, which always gives a
    /// new inode.
    pub fn read(&self, rel: &str) -> io::Result<Option<String>> {
        let path = self.path(rel);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // pveproxy runs as www-data: the private files it needs come through
            // pmxcfs' IPC socket, which checks who asks.
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return pve_cluster::ipc::read(&self.paths, rel)
                    .map(|d| d.map(|b| String::from_utf8_lossy(&b).into_owned()))
                    .map_err(|_| e);
            }
            Err(e) => return Err(e),
        };
        let key = FileKey::of(&meta);
        if let Some(text) = read_cache().lock().ok().and_then(|c| {
            c.get(&path)
                .filter(|(k, _)| *k == key)
                .map(|(_, t)| t.clone())
        }) {
            return Ok(Some(text));
        }
        let text = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        // Cache only what did not change while we read it.
        if fs::metadata(&path).is_ok_and(|m| FileKey::of(&m) == key) {
            if let Ok(mut c) = read_cache().lock() {
                // Room for every guest config of a large cluster.
                if c.len() >= 65536 {
                    c.clear();
                }
                c.insert(path, (key, text.clone()));
            }
        }
        Ok(Some(text))
    }

    pub fn mtime(&self, rel: &str) -> Option<SystemTime> {
        fs::metadata(self.path(rel)).ok()?.modified().ok()
    }

    /// Replaces the file atomically (mode 0600 under `priv/`, 0640 elsewhere).
    pub fn write(&self, rel: &str, data: &[u8]) -> io::Result<()> {
        let path = self.path(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mode = if rel.starts_with("priv/") {
            0o600
        } else {
            0o640
        };
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn remove(&self, rel: &str) -> io::Result<()> {
        match fs::remove_file(self.path(rel)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Takes the exclusive lock `name` (e.g. `user.cfg`), waiting for it.
    pub fn lock(&self, name: &str) -> io::Result<FileLock> {
        let dir = self.path("priv/lock");
        fs::create_dir_all(&dir)?;
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(name))?;
        // SAFETY: flock on a file descriptor we own for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(FileLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_and_read() {
        let dir = std::env::temp_dir().join(format!("pve-ac-store-{}", std::process::id()));
        let files = ConfigFiles::new(NodePaths::new(&dir));
        assert_eq!(files.read("user.cfg").unwrap(), None);
        files.write("priv/token.cfg", b"x\n").unwrap();
        assert_eq!(
            files.read("priv/token.cfg").unwrap().as_deref(),
            Some("x\n")
        );
        let _l = files.lock("user.cfg").unwrap();
        fs::remove_dir_all(&dir).unwrap();
    }
}
