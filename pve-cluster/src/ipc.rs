//! pmxcfs' local IPC socket (`/run/pve-cluster/ipc.sock`): how daemons that run without
//! root (pveproxy as www-data) read the few private files they need, as upstream's
//! daemons do through pmxcfs' IPC. Our own small protocol (both ends are ours): the
//! client sends `READ <path>\n` with a path relative to /etc/pve; the answer is
//! `OK <length>\n<bytes>` or `ERR <errno>\n`.
//!
//! The peer is identified by the kernel (SO_PEERCRED): root may read any file; a process
//! whose group is www-data may read non-private files and the private files listed in
//! [`WWW_DATA_PRIVATE`]; everyone else is refused (EACCES).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pve_common::NodePaths;

use crate::fuse::path_is_private;
use crate::memdb::Memdb;

/// Private files the www-data group may read: API token secrets (pveproxy checks
/// tokens itself).
pub const WWW_DATA_PRIVATE: &[&str] = &["priv/token.cfg"];

/// The socket's path.
pub fn socket_path(paths: &NodePaths) -> PathBuf {
    paths.run_dir("pve-cluster").join("ipc.sock")
}

fn peer_cred(s: &UnixStream) -> Option<(u32, u32)> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a writable ucred and `len` its size, as SO_PEERCRED expects.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some((cred.uid, cred.gid))
}

/// Whether a peer with `uid`/`gid` may read `path`.
pub fn may_read(uid: u32, gid: u32, www_data_gid: u32, path: &str) -> bool {
    if uid == 0 {
        return true;
    }
    if gid != www_data_gid {
        return false;
    }
    !path_is_private(path) || WWW_DATA_PRIVATE.contains(&path)
}

fn normalize(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") || parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

fn serve_one(s: UnixStream, memdb: &Memdb, www_data_gid: u32) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let (uid, gid) = peer_cred(&s).unwrap_or((u32::MAX, u32::MAX));
    let mut line = String::new();
    BufReader::new((&s).take(4096)).read_line(&mut line)?;
    let mut w = &s;
    let Some(path) = line.trim_end().strip_prefix("READ ").and_then(normalize) else {
        return w.write_all(format!("ERR {}\n", libc::EINVAL).as_bytes());
    };
    if !may_read(uid, gid, www_data_gid, &path) {
        return w.write_all(format!("ERR {}\n", libc::EACCES).as_bytes());
    }
    match memdb.read_path(&path) {
        Ok(data) => {
            w.write_all(format!("OK {}\n", data.len()).as_bytes())?;
            w.write_all(&data)
        }
        Err(e) => w.write_all(format!("ERR {}\n", e.0).as_bytes()),
    }
}

/// Binds the socket (mode 0660, group www-data) and serves it on a thread until the
/// process ends.
pub fn start(paths: &NodePaths, memdb: Arc<Memdb>, www_data_gid: u32) -> std::io::Result<()> {
    let path = socket_path(paths);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    set_owner_mode(&path, www_data_gid, 0o660)?;
    std::thread::Builder::new()
        .name("ipc".into())
        .spawn(move || {
            for s in listener.incoming().flatten() {
                let memdb = memdb.clone();
                // one short-lived thread per client keeps a slow client from blocking
                // the others
                let _ = std::thread::Builder::new()
                    .name("ipc-client".into())
                    .spawn(move || {
                        let _ = serve_one(s, &memdb, www_data_gid);
                    });
            }
        })?;
    Ok(())
}

fn set_owner_mode(path: &Path, gid: u32, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::os::unix::fs::chown(path, Some(0), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Reads a file of /etc/pve through pmxcfs' socket (`Ok(None)`: it does not exist).
pub fn read(paths: &NodePaths, rel: &str) -> std::io::Result<Option<Vec<u8>>> {
    let mut s = UnixStream::connect(socket_path(paths))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("READ {rel}\n").as_bytes())?;
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head)?;
    let head = head.trim_end();
    if let Some(len) = head.strip_prefix("OK ") {
        let len: usize = len
            .parse()
            .map_err(|_| std::io::Error::other("bad pmxcfs IPC answer"))?;
        let mut data = vec![0u8; len];
        r.read_exact(&mut data)?;
        return Ok(Some(data));
    }
    match head
        .strip_prefix("ERR ")
        .and_then(|e| e.parse::<i32>().ok())
    {
        Some(libc::ENOENT) => Ok(None),
        Some(errno) => Err(std::io::Error::from_raw_os_error(errno)),
        None => Err(std::io::Error::other("bad pmxcfs IPC answer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_rules() {
        assert!(may_read(0, 0, 33, "priv/authkey.key"));
        assert!(may_read(33, 33, 33, "user.cfg"));
        assert!(may_read(33, 33, 33, "priv/token.cfg"));
        assert!(!may_read(33, 33, 33, "priv/shadow.cfg"));
        assert!(!may_read(33, 33, 33, "priv/authkey.key"));
        assert!(!may_read(33, 33, 33, "nodes/n1/priv/x"));
        assert!(!may_read(1000, 1000, 33, "user.cfg"));
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(
            normalize("/priv//token.cfg").as_deref(),
            Some("priv/token.cfg")
        );
        assert_eq!(normalize("priv/../priv/shadow.cfg"), None);
        assert_eq!(normalize(""), None);
    }
}
