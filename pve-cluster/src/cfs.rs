//! The client side of pmxcfs, as other crates use it (upstream: PVE::Cluster).
//!
//! Everything goes through the mount, like upstream's Perl code: registered config
//! files are read with a digest and written atomically (tmp file + rename), cfs locks
//! are directories under `priv/lock/`, and the guest and member lists come from the
//! generated files `.vmlist` and `.members`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pve_common::digest::sha1;
use pve_common::NodePaths;
use serde::Deserialize;

use crate::memdb::{guest_path, GuestType, OBSERVED_PATHS};

/// Lock acquisition timeout when the caller gives none (upstream: 10 s).
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CfsError {
    #[error("unknown file '{0}'")]
    UnknownFile(String),
    /// The digest given by the caller does not match the file's.
    #[error("detected modified configuration - file changed by other user? Try again.")]
    DigestMismatch,
    /// Failure to take a cfs lock: `cfs-lock '<id>' error: <reason>`.
    #[error("cfs-lock '{lockid}' error: {reason}")]
    Lock { lockid: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("unable to parse {0}: {1}")]
    Parse(&'static str, serde_json::Error),
}

/// See [`Cfs::change_stamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangeStamp {
    dev: u64,
    /// `.version`'s ctime (the database version) and mtime nanoseconds (a hash of its
    /// content).
    ctime: i64,
    mtime_nsec: i64,
}

/// A config file as read: raw bytes and their SHA-1 digest (hex), PVE's `digest`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub data: Vec<u8>,
    pub digest: String,
}

/// The SHA-1 hex digest PVE uses to detect concurrent config modifications.
pub fn config_digest(data: &[u8]) -> String {
    sha1(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct GuestInfo {
    pub node: String,
    #[serde(rename = "type")]
    pub guest_type: String,
    pub version: u32,
}

/// `.vmlist`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct VmListInfo {
    pub version: u32,
    #[serde(default)]
    pub ids: BTreeMap<u32, GuestInfo>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MemberNode {
    pub id: u32,
    pub online: u8,
    #[serde(default)]
    pub ip: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ClusterInfo {
    pub name: String,
    pub version: u32,
    pub nodes: u32,
    pub quorate: u8,
}

/// `.members`; local mode has only the node name and version.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Members {
    pub nodename: String,
    pub version: u32,
    #[serde(default)]
    pub cluster: Option<ClusterInfo>,
    #[serde(default)]
    pub nodelist: BTreeMap<String, MemberNode>,
}

/// Whether `filename` (relative to /etc/pve) is a file PVE registers a parser for.
pub fn is_registered(filename: &str) -> bool {
    OBSERVED_PATHS.contains(&filename) || guest_path(filename).is_some()
}

/// The lock id upstream's `cfs_lock_file` uses: `file-<name>` with `.` and `/` as `_`.
pub fn file_lock_id(filename: &str) -> String {
    format!("file-{filename}").replace(['.', '/'], "_")
}

/// Access to a node's /etc/pve.
#[derive(Clone, Debug)]
pub struct Cfs {
    base: PathBuf,
}

fn io_err(path: &Path, source: std::io::Error) -> CfsError {
    CfsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `utime(path, 0, 0)`: the cfs unlock request for an expired lock.
fn request_unlock(path: &Path) {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return;
    };
    let times = libc::utimbuf {
        actime: 0,
        modtime: 0,
    };
    // SAFETY: c is a valid NUL-terminated path and times a valid utimbuf.
    unsafe { libc::utime(c.as_ptr(), &times) };
}

impl Cfs {
    pub fn new(paths: &NodePaths) -> Self {
        Cfs {
            base: paths.etc_pve(),
        }
    }

    /// A path below the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.base.join(rel.trim_start_matches('/'))
    }

    /// Whether pmxcfs serves the mount (its generated `.version` exists).
    pub fn is_mounted(&self) -> bool {
        self.path(".version").exists()
    }

    /// A value that changes whenever anything below the mount changes: pmxcfs reports
    /// its database version as the ctime of `.version`, whose attributes the
    /// kernel never caches, so this is one stat (one LOOKUP round trip) and never
    /// stale. The root's own attributes stay cacheable: a path walk through /etc/pve
    /// must not cost a round trip. `None`
    /// when the root is not a pmxcfs mount (a plain directory in tests): callers must
    /// then look at the files themselves.
    pub fn change_stamp(&self) -> Option<ChangeStamp> {
        use std::os::unix::fs::MetadataExt;
        const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
        let meta = std::fs::metadata(&self.base).ok()?;
        // Whether the file system on this device is pmxcfs: a FUSE mount with the
        // generated `.version`, asked once per device (statfs is a round trip too).
        static PMXCFS_DEVS: std::sync::Mutex<Vec<(u64, bool)>> = std::sync::Mutex::new(Vec::new());
        let dev = meta.dev();
        let known = PMXCFS_DEVS
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|(d, _)| *d == dev).map(|(_, p)| *p));
        let is_pmxcfs = match known {
            Some(p) => p,
            None => {
                let c = CString::new(self.base.as_os_str().as_bytes()).ok()?;
                // SAFETY: statfs fills the zeroed struct; the path is NUL-terminated.
                let mut st: libc::statfs = unsafe { std::mem::zeroed() };
                let fuse = unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0
                    && st.f_type as i64 == FUSE_SUPER_MAGIC;
                let p = fuse && self.is_mounted();
                if let Ok(mut l) = PMXCFS_DEVS.lock() {
                    l.push((dev, p));
                }
                p
            }
        };
        if !is_pmxcfs {
            return None;
        }
        let v = std::fs::metadata(self.base.join(".version")).ok()?;
        Some(ChangeStamp {
            dev,
            ctime: v.ctime(),
            mtime_nsec: v.mtime_nsec(),
        })
    }

    /// Upstream's `check_vmid_unused`: `VM 100 already exists on node 'x'` (or `CT …`)
    /// when any node has a guest config with this id (the VM list, then the node
    /// directories, which also see configs the list has not caught up with).
    pub fn check_vmid_unused(&self, vmid: u32) -> Result<(), String> {
        if let Ok(Some((node, ty))) = self.guest(vmid) {
            let what = if matches!(ty, crate::memdb::GuestType::Lxc) {
                "CT"
            } else {
                "VM"
            };
            return Err(format!("{what} {vmid} already exists on node '{node}'\n"));
        }
        let Ok(nodes) = std::fs::read_dir(self.path("nodes")) else {
            return Ok(());
        };
        for n in nodes.flatten() {
            for (dir, what) in [("qemu-server", "VM"), ("lxc", "CT")] {
                if n.path().join(dir).join(format!("{vmid}.conf")).exists() {
                    return Err(format!(
                        "{what} {vmid} already exists on node '{}'\n",
                        n.file_name().to_string_lossy()
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads a registered file; `None` when it does not exist.
    pub fn read_file(&self, filename: &str) -> Result<Option<ConfigFile>, CfsError> {
        if !is_registered(filename) {
            return Err(CfsError::UnknownFile(filename.into()));
        }
        self.read_raw(filename)
    }

    /// Reads any file below the mount; `None` when it does not exist.
    pub fn read_raw(&self, rel: &str) -> Result<Option<ConfigFile>, CfsError> {
        let path = self.path(rel);
        match std::fs::read(&path) {
            Ok(data) => Ok(Some(ConfigFile {
                digest: config_digest(&data),
                data,
            })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }

    /// Writes a registered file atomically. With `expected_digest`, the current content
    /// must still have that digest (callers hold the file's cfs lock around this).
    pub fn write_file(
        &self,
        filename: &str,
        data: &[u8],
        expected_digest: Option<&str>,
    ) -> Result<(), CfsError> {
        if !is_registered(filename) {
            return Err(CfsError::UnknownFile(filename.into()));
        }
        if let Some(expected) = expected_digest {
            let current = self
                .read_raw(filename)?
                .map(|f| f.digest)
                .unwrap_or_default();
            if current != expected {
                return Err(CfsError::DigestMismatch);
            }
        }
        self.write_raw(filename, data)
    }

    /// tmp file in the same directory, then rename (as PVE::Tools::file_set_contents).
    pub fn write_raw(&self, rel: &str, data: &[u8]) -> Result<(), CfsError> {
        let path = self.path(rel);
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        if let Err(e) = std::fs::write(&tmp, data) {
            let _ = std::fs::remove_file(&tmp);
            return Err(io_err(&tmp, e));
        }
        std::fs::rename(&tmp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io_err(&path, e)
        })
    }

    /// `.vmlist`.
    pub fn vmlist(&self) -> Result<VmListInfo, CfsError> {
        let path = self.path(".vmlist");
        let data = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        serde_json::from_slice(&data).map_err(|e| CfsError::Parse(".vmlist", e))
    }

    /// `.members`.
    pub fn members(&self) -> Result<Members, CfsError> {
        let path = self.path(".members");
        let data = std::fs::read(&path).map_err(|e| io_err(&path, e))?;
        serde_json::from_slice(&data).map_err(|e| CfsError::Parse(".members", e))
    }

    /// The node and type of a guest, from `.vmlist`.
    pub fn guest(&self, vmid: u32) -> Result<Option<(String, GuestType)>, CfsError> {
        let list = self.vmlist()?;
        Ok(list.ids.get(&vmid).and_then(|g| {
            let t = match g.guest_type.as_str() {
                "qemu" => GuestType::Qemu,
                "lxc" => GuestType::Lxc,
                "openvz" => GuestType::OpenVz,
                _ => return None,
            };
            Some((g.node.clone(), t))
        }))
    }

    /// Runs `code` holding the cfs lock `lockid` (a directory in `priv/lock/`). Errors
    /// of `code` are returned as they are; failures to lock become
    /// `cfs-lock '<lockid>' error: …`.
    pub fn lock<R, E>(
        &self,
        lockid: &str,
        timeout: Option<Duration>,
        code: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<CfsError>,
    {
        let lock_err = |reason: &str| CfsError::Lock {
            lockid: lockid.to_string(),
            reason: reason.to_string(),
        };
        let timeout = timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_LOCK_TIMEOUT);
        let lockdir = self.path("priv/lock");
        let _ = std::fs::create_dir(&lockdir);
        if !lockdir.is_dir() {
            return Err(lock_err("pve cluster filesystem not online.").into());
        }
        let lockpath = lockdir.join(lockid);
        let start = Instant::now();
        let mut last_msg = 0;
        loop {
            match std::fs::create_dir(&lockpath) {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(lock_err(&e.to_string()).into()),
            }
            let elapsed = start.elapsed();
            let remaining = timeout.saturating_sub(elapsed).as_secs().max(1);
            let sleep = Duration::from_millis(remaining.min(10) * 100);
            if elapsed + sleep >= timeout {
                return Err(lock_err("got lock request timeout").into());
            }
            if elapsed.as_secs() > last_msg {
                last_msg = elapsed.as_secs();
                eprintln!("trying to acquire cfs lock '{lockid}' ...");
            }
            request_unlock(&lockpath);
            std::thread::sleep(sleep);
        }
        let res = code();
        let _ = std::fs::remove_dir(&lockpath);
        res
    }

    /// `cfs_lock_file`: the lock of a registered config file.
    pub fn lock_file<R, E: From<CfsError>>(
        &self,
        filename: &str,
        timeout: Option<Duration>,
        code: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        if !is_registered(filename) {
            return Err(CfsError::UnknownFile(filename.into()).into());
        }
        self.lock(&file_lock_id(filename), timeout, code)
    }

    /// `cfs_lock_domain`.
    pub fn lock_domain<R, E: From<CfsError>>(
        &self,
        domain: &str,
        timeout: Option<Duration>,
        code: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        self.lock(&format!("domain-{domain}"), timeout, code)
    }

    /// `cfs_lock_storage`.
    pub fn lock_storage<R, E: From<CfsError>>(
        &self,
        storeid: &str,
        timeout: Option<Duration>,
        code: impl FnOnce() -> Result<R, E>,
    ) -> Result<R, E> {
        self.lock(&format!("storage-{storeid}"), timeout, code)
    }
}

/// The address of cluster node `node` (upstream's `remote_node_ip`): its `ip` in the
/// member list, else a host name lookup. The error text is upstream's.
pub fn remote_node_ip(paths: &NodePaths, node: &str) -> Result<std::net::IpAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(members) = Cfs::new(paths).members() {
        if let Some(ip) = members
            .nodelist
            .get(node)
            .and_then(|m| m.ip.as_deref())
            .and_then(|ip| ip.parse().ok())
        {
            return Ok(ip);
        }
    }
    match (node, 0).to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .map(|a| a.ip())
            .ok_or_else(|| format!("hostname lookup '{node}' failed - got no address for: {node}")),
        Err(e) => Err(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: {e}"
        )),
    }
}

/// A cfs failure inside an API method is a 500 with the message.
impl From<CfsError> for pve_common::api::ApiError {
    fn from(e: CfsError) -> Self {
        pve_common::api::ApiError::internal(format!("{e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_ids_and_registration() {
        assert_eq!(file_lock_id("storage.cfg"), "file-storage_cfg");
        assert_eq!(
            file_lock_id("firewall/cluster.fw"),
            "file-firewall_cluster_fw"
        );
        assert!(is_registered("user.cfg"));
        assert!(is_registered("nodes/pve1/qemu-server/100.conf"));
        assert!(!is_registered("foo.cfg"));
        assert_eq!(
            config_digest(b""),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
    }

    #[test]
    fn parse_lists() {
        let v: VmListInfo = serde_json::from_str("{\n\"version\": 0\n\n}\n").unwrap();
        assert!(v.ids.is_empty());
        let v: VmListInfo = serde_json::from_str(
            "{\n\"version\": 6,\n\"ids\": {\n\"100\": { \"node\": \"pve1\", \"type\": \"qemu\", \"version\": 2 }}\n\n}\n",
        )
        .unwrap();
        assert_eq!(v.ids[&100].node, "pve1");
        let m: Members =
            serde_json::from_str("{\n\"nodename\": \"pve1\",\n\"version\": 0\n}\n").unwrap();
        assert_eq!(m.nodename, "pve1");
    }
}
