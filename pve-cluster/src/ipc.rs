//! pmxcfs' local IPC socket (`/run/pve-cluster/ipc.sock`): how daemons that run without
//! root (pveproxy as www-data) read the few private files they need, as upstream's
//! daemons do through pmxcfs' IPC. Our own small protocol (both ends are ours): the
//! client sends `READ <path>\n` with a path relative to /etc/pve; the answer is
//! `OK <length>\n<bytes>` or `ERR <errno>\n`. `LOG <priority> <ident> <tag> <length>\n`
//! followed by the message adds a cluster log entry (root only, as upstream lets only
//! read-write clients log), `CLOG <max> [<user>]\n` answers the cluster log as JSON,
//! newest first, only `user`'s entries when given (upstream's `get_cluster_log`).
//!
//! The peer is identified by the kernel (SO_PEERCRED): root may read any file; a process
//! whose group is www-data may read non-private files and the private files listed in
//! [`WWW_DATA_PRIVATE`]; everyone else is refused (EACCES).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pve_common::NodePaths;

use crate::fuse::path_is_private;
use crate::memdb::Memdb;
use crate::status::Status;

/// Private files the www-data group may read: API token secrets (pveproxy checks
/// tokens itself).
pub const WWW_DATA_PRIVATE: &[&str] = &["priv/token.cfg"];

pub use pve_common::cfs_ipc::socket_path;

fn peer_cred(s: &UnixStream) -> Option<(u32, u32, u32)> {
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
    (rc == 0).then_some((cred.uid, cred.gid, cred.pid as u32))
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

fn answer(mut w: &UnixStream, res: Result<Vec<u8>, i32>) -> std::io::Result<()> {
    match res {
        Ok(data) => {
            w.write_all(format!("OK {}\n", data.len()).as_bytes())?;
            w.write_all(&data)
        }
        Err(errno) => w.write_all(format!("ERR {errno}\n").as_bytes()),
    }
}

/// Longest cluster log message accepted (upstream cuts entries at 4 KiB anyway).
const MAX_LOG_MSG: usize = 8192;

fn serve_one(
    s: UnixStream,
    memdb: &Memdb,
    status: &Status,
    www_data_gid: u32,
) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let (uid, gid, pid) = peer_cred(&s).unwrap_or((u32::MAX, u32::MAX, 0));
    let mut r = BufReader::new((&s).take(4096 + MAX_LOG_MSG as u64));
    let mut line = String::new();
    r.read_line(&mut line)?;
    let line = line.trim_end();
    let (cmd, args) = line.split_once(' ').unwrap_or((line, ""));
    let res = match cmd {
        "READ" => match normalize(args) {
            None => Err(libc::EINVAL),
            Some(path) if !may_read(uid, gid, www_data_gid, &path) => Err(libc::EACCES),
            Some(path) => memdb.read_path(&path).map_err(|e| e.0),
        },
        "LOG" => {
            let f: Vec<&str> = args.split(' ').collect();
            match (f.as_slice(), uid) {
                (_, u) if u != 0 => Err(libc::EPERM),
                ([pri, ident, tag, len], _) => match (pri.parse::<u8>(), len.parse::<usize>()) {
                    (Ok(pri), Ok(len)) if pri < 8 && len > 0 && len <= MAX_LOG_MSG => {
                        let mut msg = vec![0u8; len];
                        r.read_exact(&mut msg)?;
                        let msg = String::from_utf8_lossy(&msg);
                        status.cluster_log_from(pid, pri, ident, tag, &msg);
                        Ok(Vec::new())
                    }
                    _ => Err(libc::EINVAL),
                },
                _ => Err(libc::EINVAL),
            }
        }
        "CLOG" => {
            let (max, user) = args.split_once(' ').unwrap_or((args, ""));
            match max.parse::<usize>() {
                _ if uid != 0 && gid != www_data_gid => Err(libc::EACCES),
                Ok(max) => {
                    let max = if max == 0 { 50 } else { max };
                    Ok(status
                        .clusterlog_json(Some(user).filter(|u| !u.is_empty()), max)
                        .into_bytes())
                }
                Err(_) => Err(libc::EINVAL),
            }
        }
        _ => Err(libc::EINVAL),
    };
    answer(&s, res)
}

/// Binds the socket (mode 0660, group www-data) and serves it on a thread until the
/// process ends.
pub fn start(
    paths: &NodePaths,
    memdb: Arc<Memdb>,
    status: Arc<Status>,
    www_data_gid: u32,
) -> std::io::Result<()> {
    let path = socket_path(paths);
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    set_owner_mode(&path, www_data_gid, 0o660)?;
    std::thread::Builder::new()
        .name("ipc".into())
        .spawn(move || {
            for s in listener.incoming().flatten() {
                let (memdb, status) = (memdb.clone(), status.clone());
                // one short-lived thread per client keeps a slow client from blocking
                // the others
                let _ = std::thread::Builder::new()
                    .name("ipc-client".into())
                    .spawn(move || {
                        let _ = serve_one(s, &memdb, &status, www_data_gid);
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

pub use pve_common::cfs_ipc::{cluster_log, log_msg, read};

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
