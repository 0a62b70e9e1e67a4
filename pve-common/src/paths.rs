//! `NodePaths`: every host path of a node, derived from one root prefix.
//!
//! The root comes from the environment variable `PVE_ROOT` (default `/`). A test, the dev
//! node and every node of a simulated cluster each get their own root, so they live side
//! by side on one machine. No other code spells an absolute host path.

use std::path::{Path, PathBuf};

/// The environment variable that sets the root prefix.
pub const ROOT_ENV: &str = "PVE_ROOT";

/// The path of the implicit `local` dir storage as storage.cfg spells it (the host
/// location is [`NodePaths::var_lib_vz`]).
pub const LOCAL_STORAGE_PATH: &str = "/var/lib/vz";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePaths {
    root: PathBuf,
}

impl Default for NodePaths {
    fn default() -> Self {
        Self::from_env()
    }
}

impl NodePaths {
    /// Paths below `root` (`/` for a real node).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Paths below `$PVE_ROOT`, or below `/` when it is unset or empty.
    pub fn from_env() -> Self {
        match std::env::var_os(ROOT_ENV) {
            Some(r) if !r.is_empty() => Self::new(r),
            _ => Self::new("/"),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `rel` (an absolute host path such as `/etc/pve`) below the root.
    pub fn host(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// The pmxcfs mount point, `/etc/pve`.
    pub fn etc_pve(&self) -> PathBuf {
        self.host("/etc/pve")
    }
    /// A file below `/etc/pve`.
    pub fn pve_file(&self, rel: &str) -> PathBuf {
        self.etc_pve().join(rel.trim_start_matches('/'))
    }
    /// pmxcfs' database directory, `/var/lib/pve-cluster` (holds `config.db`).
    pub fn cluster_lib_dir(&self) -> PathBuf {
        self.host("/var/lib/pve-cluster")
    }
    pub fn config_db(&self) -> PathBuf {
        self.cluster_lib_dir().join("config.db")
    }
    /// `/etc/corosync` (the host copy of corosync.conf and the authkey).
    pub fn corosync_dir(&self) -> PathBuf {
        self.host("/etc/corosync")
    }
    /// `/var/lib/vz`, the `local` dir storage.
    pub fn var_lib_vz(&self) -> PathBuf {
        self.host(LOCAL_STORAGE_PATH)
    }
    /// `/var/lock/pve-manager`: node-local storage locks.
    pub fn pve_manager_lock_dir(&self) -> PathBuf {
        self.host("/var/lock/pve-manager")
    }
    /// `/var/log/pve`, task logs live in `tasks/` below it.
    pub fn log_dir(&self) -> PathBuf {
        self.host("/var/log/pve")
    }
    pub fn task_dir(&self) -> PathBuf {
        self.log_dir().join("tasks")
    }
    /// `/run/qemu-server`: pid files, QMP and VNC sockets.
    pub fn qemu_run_dir(&self) -> PathBuf {
        self.host("/run/qemu-server")
    }
    /// `/var/lib/lxc`: generated LXC configs.
    pub fn lxc_dir(&self) -> PathBuf {
        self.host("/var/lib/lxc")
    }
    /// pmxcfs' single-instance lock, `/var/lib/pve-cluster/.pmxcfs.lockfile`.
    pub fn pmxcfs_lock_file(&self) -> PathBuf {
        self.cluster_lib_dir().join(".pmxcfs.lockfile")
    }

    /// pmxcfs' pid file, `/var/run/pve-cluster.pid`.
    pub fn pmxcfs_pid_file(&self) -> PathBuf {
        self.host("/run/pve-cluster.pid")
    }

    /// Created when pmxcfs exits, removed when it starts: clients wait while it exists.
    pub fn cfs_restart_flag(&self) -> PathBuf {
        self.run_dir("pve-cluster").join("cfs-restart-flag")
    }

    /// `/run/pve-cluster` and `/run/pveproxy` style runtime dirs.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.host("/run").join(name)
    }
    /// `/var/lib/rrdcached/db`.
    pub fn rrd_dir(&self) -> PathBuf {
        self.host("/var/lib/rrdcached/db")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_root() {
        let p = NodePaths::new("/tmp/node1");
        assert_eq!(p.etc_pve(), Path::new("/tmp/node1/etc/pve"));
        assert_eq!(
            p.pve_file("/storage.cfg"),
            Path::new("/tmp/node1/etc/pve/storage.cfg")
        );
        assert_eq!(
            p.config_db(),
            Path::new("/tmp/node1/var/lib/pve-cluster/config.db")
        );
        let real = NodePaths::new("/");
        assert_eq!(real.task_dir(), Path::new("/var/log/pve/tasks"));
        assert_eq!(real.qemu_run_dir(), Path::new("/run/qemu-server"));
    }
}
