//! Container config files on a node: `/etc/pve/nodes/<node>/lxc/<vmid>.conf` read with
//! its digest, written atomically, and the per-container config lock
//! (`/run/lock/lxc/pve-config-<vmid>.lock`), as upstream's `load_config`,
//! `write_config` and `lock_config`.

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pve_cluster::cfs::Cfs;
use pve_common::paths::NodePaths;

use crate::config::{parse_ct_config, write_ct_config, CtConfig};

/// The container configs of one node.
pub struct CtConfigStore {
    paths: NodePaths,
    cfs: Cfs,
    node: String,
}

/// A held config lock; dropping it unlocks.
pub struct ConfigLock {
    _file: std::fs::File,
}

impl CtConfigStore {
    pub fn new(paths: &NodePaths, node: &str) -> Self {
        Self {
            paths: paths.clone(),
            cfs: Cfs::new(paths),
            node: node.to_string(),
        }
    }

    /// `nodes/<node>/lxc/<vmid>.conf` (relative to /etc/pve).
    pub fn cfs_config_path(&self, vmid: u32, node: Option<&str>) -> String {
        format!("nodes/{}/lxc/{vmid}.conf", node.unwrap_or(&self.node))
    }

    /// The lock file of a container's config.
    pub fn config_file_lock(&self, vmid: u32) -> PathBuf {
        self.paths
            .host("/run/lock/lxc")
            .join(format!("pve-config-{vmid}.lock"))
    }

    /// Reads and parses a config (non-strict: bad lines are dropped with a warning).
    pub fn load_config(&self, vmid: u32, node: Option<&str>) -> Result<CtConfig, String> {
        let path = self.cfs_config_path(vmid, node);
        let file = self
            .cfs
            .read_raw(&path)
            .map_err(|e| format!("{e}\n"))?
            .ok_or_else(|| format!("Configuration file '{path}' does not exist\n"))?;
        let raw = String::from_utf8_lossy(&file.data);
        parse_ct_config(vmid, &raw, false).map(|p| p.config)
    }

    /// Writes a config atomically.
    pub fn write_config(&self, vmid: u32, config: &CtConfig) -> Result<(), String> {
        let raw = write_ct_config(config)?;
        self.cfs
            .write_raw(&self.cfs_config_path(vmid, None), raw.as_bytes())
            .map_err(|e| format!("{e}\n"))
    }

    /// Removes a config (upstream's `destroy_config`).
    pub fn remove_config(&self, vmid: u32) -> Result<(), String> {
        let path = self.cfs.path(&self.cfs_config_path(vmid, None));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("failed to remove config file: {e}\n")),
        }
    }

    /// Takes the config lock (exclusive flock), waiting up to `timeout`.
    pub fn lock_config_full(&self, vmid: u32, timeout: Duration) -> Result<ConfigLock, String> {
        let path = self.config_file_lock(vmid);
        let err = |msg: String| format!("can't lock file '{}' - {msg}\n", path.display());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| err(format!("can't open file - {e}")))?;
        let start = Instant::now();
        loop {
            // SAFETY: the descriptor belongs to `file`, which outlives the call.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(ConfigLock { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(err(e.to_string()));
            }
            if start.elapsed() >= timeout {
                return Err(err("got timeout".into()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `lock_config`: the config lock with upstream's 10 s timeout.
    pub fn lock_config(&self, vmid: u32) -> Result<ConfigLock, String> {
        self.lock_config_full(vmid, Duration::from_secs(10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_write_lock() {
        let root = std::env::temp_dir().join(format!("ct-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/pve/nodes/n1/lxc")).unwrap();
        let paths = NodePaths::new(&root);
        let store = CtConfigStore::new(&paths, "n1");
        assert_eq!(
            store.load_config(100, None).unwrap_err(),
            "Configuration file 'nodes/n1/lxc/100.conf' does not exist\n"
        );
        let mut conf = CtConfig::default();
        conf.main.set("hostname", "ct1");
        store.write_config(100, &conf).unwrap();
        let loaded = store.load_config(100, None).unwrap();
        assert_eq!(loaded.main.get("hostname"), Some("ct1"));
        assert_eq!(loaded.digest.len(), 40);

        let held = store.lock_config(100).unwrap();
        let second = CtConfigStore::new(&paths, "n1");
        // flock locks belong to the open file description: a second open must wait.
        let err = second
            .lock_config_full(100, Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(err.ends_with("- got timeout\n"), "{err}");
        drop(held);
        second
            .lock_config_full(100, Duration::from_millis(100))
            .unwrap();
        std::fs::remove_dir_all(&root).unwrap();
    }
}
