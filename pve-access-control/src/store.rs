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
    pub fn read(&self, rel: &str) -> io::Result<Option<String>> {
        match fs::read(self.path(rel)) {
            Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
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
