//! The snapshot backend of a real node: configs through /etc/pve with the config lock,
//! volumes through pve-storage, freezing and stopping through the LXC tools.
//!
//! Snapshot support per storage follows upstream's plugin feature tables for the storage
//! types pve-storage implements: btrfs snapshots raw, subvol and qcow2 volumes; the
//! file-based types only qcow2. Other types report no snapshot support.

use std::os::fd::AsRawFd;
use std::process::Command;

use pve_common::paths::NodePaths;
use pve_storage::Storage;

use crate::config::{CtConfig, CtSection};
use crate::snapshot::SnapshotBackend;
use crate::store::CtConfigStore;
use crate::volumes::{foreach_volume, MountType};

const FIFREEZE: libc::c_ulong = 0xc004_5877;
const FITHAW: libc::c_ulong = 0xc004_5878;

/// Whether a storage type snapshots a volume format (upstream's `volume_has_feature`
/// for `snapshot`).
pub fn storage_can_snapshot(storage_type: &str, format: &str) -> bool {
    match storage_type {
        "btrfs" => matches!(format, "raw" | "subvol" | "qcow2"),
        "dir" | "nfs" | "cifs" | "glusterfs" | "cephfs" => format == "qcow2",
        _ => false,
    }
}

/// [`SnapshotBackend`] for this node.
pub struct HostSnapshotBackend {
    paths: NodePaths,
    store: CtConfigStore,
    storage: Option<Storage>,
}

impl HostSnapshotBackend {
    pub fn new(paths: &NodePaths, node: &str) -> Self {
        Self {
            paths: paths.clone(),
            store: CtConfigStore::new(paths, node),
            storage: None,
        }
    }

    fn storage(&mut self) -> Result<&Storage, String> {
        if self.storage.is_none() {
            self.storage = Some(Storage::load(&self.paths).map_err(|e| format!("{e}\n"))?);
        }
        Ok(self.storage.as_ref().expect("loaded above"))
    }

    fn lxc(&self, tool: &str, vmid: u32, extra: &[&str]) -> Result<String, String> {
        let out = Command::new(tool)
            .arg("-P")
            .arg(self.paths.lxc_dir())
            .arg("-n")
            .arg(vmid.to_string())
            .args(extra)
            .output()
            .map_err(|e| format!("failed to execute {tool}: {e}\n"))?;
        if !out.status.success() {
            return Err(format!(
                "command '{tool} -n {vmid}{}' failed: {}\n",
                extra.iter().map(|a| format!(" {a}")).collect::<String>(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn pid(&self, vmid: u32) -> Result<u32, String> {
        self.lxc("lxc-info", vmid, &["-p", "-H"])?
            .trim()
            .parse()
            .map_err(|_| format!("unable to get PID for CT {vmid} (not running?)\n"))
    }
}

fn storage_err(e: pve_storage::StorageError) -> String {
    let s = e.to_string();
    if s.ends_with('\n') {
        s
    } else {
        s + "\n"
    }
}

impl SnapshotBackend for HostSnapshotBackend {
    fn lock_config(&mut self, vmid: u32) -> Result<Box<dyn std::any::Any>, String> {
        Ok(Box::new(self.store.lock_config(vmid)?))
    }

    fn load_config(&mut self, vmid: u32) -> Result<CtConfig, String> {
        self.store.load_config(vmid, None)
    }

    fn write_config(&mut self, vmid: u32, config: &CtConfig) -> Result<(), String> {
        self.store.write_config(vmid, config)
    }

    fn has_snapshot_feature(&mut self, section: &CtSection, backup_only: bool) -> bool {
        let Ok(storage) = self.storage() else {
            return false;
        };
        foreach_volume(section).iter().all(|(key, mp)| {
            let backup = key == "rootfs" || (mp.kind == MountType::Volume && mp.flag("backup"));
            if backup_only && !backup {
                return true;
            }
            if mp.kind != MountType::Volume {
                return false;
            }
            let Ok((sid, _)) = pve_storage::parse_volume_id(&mp.volume) else {
                return false;
            };
            let Ok(scfg) = storage.cfg.storage(sid) else {
                return false;
            };
            storage
                .parse_volname(&mp.volume)
                .is_ok_and(|v| storage_can_snapshot(&scfg.storage_type, &v.format))
        })
    }

    fn check_running(&mut self, vmid: u32) -> bool {
        crate::run::LxcRuntime::new(&self.paths).check_running(vmid)
    }

    fn stop_kill(&mut self, vmid: u32) -> Result<(), String> {
        // the volumes are mounted on the host here: unmount them too (the post-stop
        // hook's job upstream), so a rollback can replace them
        let rt = crate::run::LxcRuntime::new(&self.paths);
        rt.stop(vmid, false, None, true)
            .map_err(|e| format!("{e}\n"))?;
        rt.unmount(vmid).map_err(|e| format!("{e}\n"))
    }

    fn freeze(&mut self, vmid: u32) -> Result<(), String> {
        self.lxc("lxc-freeze", vmid, &[]).map(|_| ())
    }

    fn thaw(&mut self, vmid: u32) -> Result<(), String> {
        self.lxc("lxc-unfreeze", vmid, &[]).map(|_| ())
    }

    fn sync_container_namespace(&mut self, vmid: u32) -> Result<(), String> {
        let pid = self.pid(vmid)?;
        let root = format!("/proc/{pid}/root");
        let dir = std::fs::File::open(&root).map_err(|e| format!("open {root}: {e}\n"))?;
        // SAFETY: the descriptor belongs to `dir`, which outlives the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(format!(
                "syncfs on {root} failed: {}\n",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    fn fsfreeze_mountpoint(&mut self, vmid: u32, mp: &str, thaw: bool) -> Result<(), String> {
        let pid = self.pid(vmid)?;
        let path = format!("/proc/{pid}/root/{}", mp.trim_start_matches('/'));
        let op = if thaw { "thaw" } else { "freeze" };
        let file =
            std::fs::File::open(&path).map_err(|e| format!("failed to open {path}: {e}\n"))?;
        let request = if thaw { FITHAW } else { FIFREEZE };
        // SAFETY: FIFREEZE/FITHAW take no argument; the descriptor is owned by `file`.
        if unsafe { libc::ioctl(file.as_raw_fd(), request as _, 0) } != 0 {
            return Err(format!(
                "fs{op} '{path}' failed - {}\n",
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    fn activate_storage(&mut self, storeid: &str) -> Result<(), String> {
        self.storage()?
            .activate_storage(storeid)
            .map_err(storage_err)
    }

    fn volume_snapshot_needs_fsfreeze(&mut self, _volid: &str) -> bool {
        // only RBD with krbd needs it upstream; pve-storage has no RBD plugin
        false
    }

    fn volume_snapshot(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        self.storage()?
            .volume_snapshot(volid, snap)
            .map_err(storage_err)
    }

    fn volume_snapshot_delete(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        self.storage()?
            .volume_snapshot_delete(volid, snap)
            .map_err(storage_err)
    }

    fn volume_snapshot_rollback(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        self.storage()?
            .volume_snapshot_rollback(volid, snap)
            .map_err(storage_err)
    }

    fn volume_rollback_is_possible(
        &mut self,
        volid: &str,
        _snap: &str,
        _blockers: &mut Vec<String>,
    ) -> Result<(), String> {
        // btrfs and the file-based plugins always allow a rollback upstream
        self.storage()?.parse_volname(volid).map_err(storage_err)?;
        Ok(())
    }

    fn now(&mut self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }

    fn warn(&mut self, msg: &str) {
        eprint!("{msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(storage_cfg: &str, ct: &str) -> (std::path::PathBuf, HostSnapshotBackend) {
        let root = std::env::temp_dir().join(format!(
            "ct-snap-host-{}-{}",
            std::process::id(),
            storage_cfg.len()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/pve/nodes/n1/lxc")).unwrap();
        std::fs::write(root.join("etc/pve/storage.cfg"), storage_cfg).unwrap();
        std::fs::write(root.join("etc/pve/nodes/n1/lxc/100.conf"), ct).unwrap();
        let b = HostSnapshotBackend::new(&NodePaths::new(&root), "n1");
        (root, b)
    }

    #[test]
    fn feature_table_decides_prepare() {
        assert!(storage_can_snapshot("btrfs", "subvol"));
        assert!(!storage_can_snapshot("dir", "raw"));
        assert!(storage_can_snapshot("dir", "qcow2"));
        assert!(!storage_can_snapshot("lvm", "raw"));

        let (root, mut b) = node(
            "dir: local\n\tpath /var/lib/vz\n\tcontent rootdir,images\n",
            "rootfs: local:100/vm-100-disk-0.raw,size=1G\n",
        );
        assert_eq!(
            crate::snapshot::snapshot_prepare(&mut b, 100, "s1", false, None).unwrap_err(),
            "snapshot feature is not available\n"
        );
        std::fs::remove_dir_all(&root).unwrap();

        let (root, mut b) = node(
            "btrfs: store\n\tpath /srv/btrfs\n\tcontent rootdir\n",
            "rootfs: store:100/vm-100-disk-0.raw,size=1G\nmp0: /srv/data,mp=/data\n",
        );
        // a bind mount has no snapshot support
        assert_eq!(
            crate::snapshot::snapshot_prepare(&mut b, 100, "s1", false, None).unwrap_err(),
            "snapshot feature is not available\n"
        );
        // …unless only backed-up volumes count (vzdump), where bind mounts are skipped
        let snap = crate::snapshot::snapshot_prepare(&mut b, 100, "vzdump", false, None).unwrap();
        assert_eq!(snap.get("snapstate"), Some("prepare"));
        let conf = b.load_config(100).unwrap();
        assert_eq!(conf.main.get("lock"), Some("snapshot"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
