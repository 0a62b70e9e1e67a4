//! The client side of pmxcfs' local IPC socket (`/run/pve-cluster/ipc.sock`; the
//! server and the protocol are in pve-cluster's `ipc` module): reading files of
//! /etc/pve without root, adding cluster log entries and reading the cluster log.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use crate::NodePaths;

/// The socket's path.
pub fn socket_path(paths: &NodePaths) -> PathBuf {
    paths.run_dir("pve-cluster").join("ipc.sock")
}

/// Reads a file of /etc/pve through pmxcfs' socket (`Ok(None)`: it does not exist).
pub fn read(paths: &NodePaths, rel: &str) -> std::io::Result<Option<Vec<u8>>> {
    request(paths, format!("READ {rel}\n").as_bytes())
}

/// Adds a cluster log entry (upstream's `PVE::Cluster::log_msg`); root only. `ident`
/// and `tag` must not contain blanks.
pub fn log_msg(
    paths: &NodePaths,
    priority: u8,
    ident: &str,
    tag: &str,
    msg: &str,
) -> std::io::Result<()> {
    let bad = |s: &str| s.is_empty() || s.contains(char::is_whitespace);
    if bad(ident) || bad(tag) || msg.is_empty() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut req = format!("LOG {priority} {ident} {tag} {}\n", msg.len()).into_bytes();
    req.extend_from_slice(msg.as_bytes());
    request(paths, &req).map(drop)
}

/// The cluster log as JSON (`{"data": [...]}`), newest first, at most `max` entries
/// (0: 50), only those of `user` when given.
pub fn cluster_log(paths: &NodePaths, user: Option<&str>, max: usize) -> std::io::Result<Vec<u8>> {
    let user = user.unwrap_or("");
    if user.contains(char::is_whitespace) {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    request(paths, format!("CLOG {max} {user}\n").as_bytes()).map(Option::unwrap_or_default)
}

fn request(paths: &NodePaths, req: &[u8]) -> std::io::Result<Option<Vec<u8>>> {
    let mut s = UnixStream::connect(socket_path(paths))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(req)?;
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
