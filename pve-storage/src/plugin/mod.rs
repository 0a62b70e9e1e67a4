//! The `StoragePlugin` trait and the plugins (dir, btrfs).

use std::collections::BTreeMap;
use std::path::PathBuf;

use pve_common::NodePaths;

use crate::config::StorageSection;
use crate::error::{Result, StorageError};
use crate::list::VolumeEntry;
use crate::qemu_img::ImageInfo;
use crate::volume::{parse_volname_dir, VolumeName, Vtype};

pub mod btrfs;
pub mod dir;

/// One storage as a plugin call sees it.
pub struct StorageCtx<'a> {
    pub storeid: &'a str,
    pub scfg: &'a StorageSection,
    pub paths: &'a NodePaths,
}

impl StorageCtx<'_> {
    /// A configured host path below the node root.
    pub fn host(&self, configured: &str) -> PathBuf {
        self.paths.host(configured)
    }
    /// The storage's base folder on the host.
    pub fn base(&self) -> Result<PathBuf> {
        let p = self
            .scfg
            .path
            .as_deref()
            .ok_or_else(|| StorageError::msg("storage definition has no path"))?;
        Ok(self.host(p))
    }
}

/// Usage of a storage, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStatus {
    pub total: u64,
    pub used: u64,
    pub avail: u64,
    pub active: bool,
}

/// What every storage type implements.
pub trait StoragePlugin: Send + Sync {
    fn storage_type(&self) -> &'static str;

    /// Upstream's `parse_volname`.
    fn parse_volname(&self, volname: &str) -> Result<VolumeName> {
        parse_volname_dir(volname)
    }
    /// The host path of a volume (or of a snapshot of it), its owner and content type.
    fn path(
        &self,
        ctx: &StorageCtx,
        volname: &str,
        snap: Option<&str>,
    ) -> Result<(PathBuf, Option<String>, Vtype)>;
    fn activate_storage(&self, ctx: &StorageCtx) -> Result<()>;
    fn deactivate_storage(&self, _ctx: &StorageCtx) -> Result<()> {
        Ok(())
    }
    fn status(&self, ctx: &StorageCtx) -> Result<StorageStatus>;
    fn list_images(&self, ctx: &StorageCtx, vmid: Option<&str>) -> Result<Vec<VolumeEntry>>;
    fn list_volumes(
        &self,
        ctx: &StorageCtx,
        vmid: Option<&str>,
        content_types: &[&str],
        vmlist: &BTreeMap<u32, String>,
    ) -> Result<Vec<VolumeEntry>>;
    /// Allocates an image (size in KiB) and returns its volume name.
    fn alloc_image(
        &self,
        ctx: &StorageCtx,
        vmid: u32,
        format: &str,
        name: Option<&str>,
        size_kib: u64,
    ) -> Result<String>;
    fn free_image(&self, ctx: &StorageCtx, volname: &str) -> Result<()>;
    fn volume_size_info(&self, ctx: &StorageCtx, volname: &str) -> Result<ImageInfo>;
    /// New size in bytes.
    fn volume_resize(&self, ctx: &StorageCtx, volname: &str, size: u64) -> Result<()>;
    fn volume_snapshot(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()>;
    fn volume_snapshot_rollback(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()>;
    fn volume_snapshot_delete(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()>;
    /// Turns an image into a base image (template); returns the new volume name.
    fn create_base(&self, ctx: &StorageCtx, volname: &str) -> Result<String>;
    /// A linked clone of a base image for `vmid`; returns the new volume name.
    fn clone_image(&self, ctx: &StorageCtx, volname: &str, vmid: u32) -> Result<String>;
    /// Whether `rename_volume` works for this volume (upstream's `volume_has_feature`
    /// with `rename`: qcow2, raw and vmdk images that are not base images).
    fn can_rename(&self, v: &VolumeName) -> bool {
        v.vtype == Vtype::Images
            && !v.is_base
            && matches!(v.format.as_str(), "qcow2" | "raw" | "vmdk")
    }
    /// Gives an image to `target_vmid` (upstream's `rename_volume`): the next free
    /// `vm-TARGET-disk-N` name unless `target_volname` is given; returns the new volume
    /// name (with the base prefix of a linked clone kept).
    fn rename_volume(
        &self,
        _ctx: &StorageCtx,
        _volname: &str,
        _target_vmid: u32,
        _target_volname: Option<&str>,
    ) -> Result<String> {
        Err(StorageError::msg(format!(
            "not implemented in storage plugin '{}'",
            self.storage_type()
        )))
    }
}

/// Renames a volume's file or directory for `rename_volume`, refusing to replace an
/// existing target (`target volume '<name>' already exists`).
pub(crate) fn rename_no_clobber(
    old: &std::path::Path,
    new: &std::path::Path,
    target_name: &str,
) -> Result<()> {
    if std::fs::symlink_metadata(new).is_ok() {
        return Err(StorageError::msg(format!(
            "target volume '{target_name}' already exists"
        )));
    }
    std::fs::rename(old, new).map_err(|e| {
        StorageError::msg(format!(
            "rename '{}' to '{}' failed - {e}",
            old.display(),
            new.display()
        ))
    })
}

/// The plugin of a storage type.
pub fn lookup(storage_type: &str) -> Result<&'static dyn StoragePlugin> {
    match storage_type {
        "dir" => Ok(&dir::DirPlugin),
        "btrfs" => Ok(&btrfs::BtrfsPlugin),
        other => Err(StorageError::msg(format!(
            "storage type '{other}' is not supported"
        ))),
    }
}

/// `parse_volname` of the storage's plugin (directory rules for path-based types).
pub fn parse_volname(scfg: &StorageSection, volname: &str) -> Result<VolumeName> {
    match lookup(&scfg.storage_type) {
        Ok(p) => p.parse_volname(volname),
        Err(_) => parse_volname_dir(volname),
    }
}
