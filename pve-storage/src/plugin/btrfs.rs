//! The btrfs plugin. Volume names follow the directory rules; what differs is how
//! subvolumes are made (see `subvol`): this first version stores images as the dir
//! plugin does and creates `subvol` volumes as btrfs subvolumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::dir::{ensure_inside, DirPlugin};
use super::{StorageCtx, StoragePlugin, StorageStatus};
use crate::error::{Result, StorageError};
use crate::list::VolumeEntry;
use crate::qemu_img::ImageInfo;
use crate::volume::{parse_volname_dir, Vtype};

pub struct BtrfsPlugin;

/// Runs `btrfs <args>`.
pub fn btrfs(args: &[&std::ffi::OsStr]) -> Result<()> {
    let out = Command::new("btrfs")
        .args(args)
        .output()
        .map_err(|e| StorageError::msg(format!("unable to run btrfs: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StorageError::msg(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// The snapshot of a subvolume: `<path>@<snap>` beside it.
fn snapshot_path(path: &Path, snap: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!("@{snap}"));
    PathBuf::from(s)
}

fn is_subvol(v: &crate::volume::VolumeName) -> bool {
    v.format == "subvol"
}

impl StoragePlugin for BtrfsPlugin {
    fn storage_type(&self) -> &'static str {
        "btrfs"
    }
    fn path(
        &self,
        ctx: &StorageCtx,
        volname: &str,
        snap: Option<&str>,
    ) -> Result<(PathBuf, Option<String>, Vtype)> {
        let v = parse_volname_dir(volname)?;
        if is_subvol(&v) {
            let (p, owner, vt) = DirPlugin.path(ctx, volname, None)?;
            let p = match snap {
                Some(s) => snapshot_path(&p, s),
                None => p,
            };
            return Ok((p, owner, vt));
        }
        DirPlugin.path(ctx, volname, snap)
    }
    fn activate_storage(&self, ctx: &StorageCtx) -> Result<()> {
        DirPlugin.activate_storage(ctx)
    }
    fn status(&self, ctx: &StorageCtx) -> Result<StorageStatus> {
        DirPlugin.status(ctx)
    }
    fn list_images(&self, ctx: &StorageCtx, vmid: Option<&str>) -> Result<Vec<VolumeEntry>> {
        DirPlugin.list_images(ctx, vmid)
    }
    fn list_volumes(
        &self,
        ctx: &StorageCtx,
        vmid: Option<&str>,
        content_types: &[&str],
        vmlist: &BTreeMap<u32, String>,
    ) -> Result<Vec<VolumeEntry>> {
        DirPlugin.list_volumes(ctx, vmid, content_types, vmlist)
    }
    fn alloc_image(
        &self,
        ctx: &StorageCtx,
        vmid: u32,
        fmt: &str,
        name: Option<&str>,
        size_kib: u64,
    ) -> Result<String> {
        if fmt != "subvol" {
            return DirPlugin.alloc_image(ctx, vmid, fmt, name, size_kib);
        }
        // reserve the name as dir does, then turn the folder into a subvolume
        let volname = DirPlugin.alloc_image(ctx, vmid, fmt, name, 0)?;
        let path = DirPlugin::volume_path(ctx, &volname, None)?;
        std::fs::remove_dir(&path)?;
        btrfs(&[os("subvolume"), os("create"), path.as_os_str()])?;
        if size_kib > 0 {
            let _ = btrfs(&[os("quota"), os("enable"), ctx.base()?.as_os_str()]);
            let limit = format!("{size_kib}K");
            btrfs(&[os("qgroup"), os("limit"), os(&limit), path.as_os_str()])?;
        }
        Ok(volname)
    }
    fn free_image(&self, ctx: &StorageCtx, volname: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !is_subvol(&v) {
            return DirPlugin.free_image(ctx, volname);
        }
        let path = DirPlugin::volume_path(ctx, volname, None)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let prefix = format!("{}@", v.name);
        for e in std::fs::read_dir(&dir)?.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(&prefix) {
                let p = dir.join(&n);
                ensure_inside(&ctx.base()?, &p)?;
                btrfs(&[os("subvolume"), os("delete"), p.as_os_str()])?;
            }
        }
        btrfs(&[os("subvolume"), os("delete"), path.as_os_str()])?;
        let _ = std::fs::remove_dir(&dir);
        Ok(())
    }
    fn volume_size_info(&self, ctx: &StorageCtx, volname: &str) -> Result<ImageInfo> {
        DirPlugin.volume_size_info(ctx, volname)
    }
    fn volume_resize(&self, ctx: &StorageCtx, volname: &str, size: u64) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !is_subvol(&v) {
            return DirPlugin.volume_resize(ctx, volname, size);
        }
        let path = DirPlugin::volume_path(ctx, volname, None)?;
        let _ = btrfs(&[os("quota"), os("enable"), ctx.base()?.as_os_str()]);
        btrfs(&[
            os("qgroup"),
            os("limit"),
            os(&size.to_string()),
            path.as_os_str(),
        ])
    }
    fn volume_snapshot(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !is_subvol(&v) {
            return DirPlugin.volume_snapshot(ctx, volname, snap);
        }
        let path = DirPlugin::volume_path(ctx, volname, None)?;
        let target = snapshot_path(&path, snap);
        ensure_inside(&ctx.base()?, &target)?;
        btrfs(&[
            os("subvolume"),
            os("snapshot"),
            os("-r"),
            path.as_os_str(),
            target.as_os_str(),
        ])
    }
    fn volume_snapshot_rollback(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !is_subvol(&v) {
            return DirPlugin.volume_snapshot_rollback(ctx, volname, snap);
        }
        let path = DirPlugin::volume_path(ctx, volname, None)?;
        let source = snapshot_path(&path, snap);
        if !source.is_dir() {
            return Err(StorageError::msg(format!(
                "snapshot '{snap}' does not exist"
            )));
        }
        // make a writable copy of the snapshot, then swap it in
        let mut tmp = path.as_os_str().to_os_string();
        tmp.push(".tmp-rollback");
        let tmp = PathBuf::from(tmp);
        btrfs(&[
            os("subvolume"),
            os("snapshot"),
            source.as_os_str(),
            tmp.as_os_str(),
        ])?;
        btrfs(&[os("subvolume"), os("delete"), path.as_os_str()])?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
    fn volume_snapshot_delete(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !is_subvol(&v) {
            return DirPlugin.volume_snapshot_delete(ctx, volname, snap);
        }
        let path = DirPlugin::volume_path(ctx, volname, None)?;
        let target = snapshot_path(&path, snap);
        ensure_inside(&ctx.base()?, &target)?;
        btrfs(&[os("subvolume"), os("delete"), target.as_os_str()])
    }
    fn create_base(&self, ctx: &StorageCtx, volname: &str) -> Result<String> {
        DirPlugin.create_base(ctx, volname)
    }
    fn clone_image(&self, ctx: &StorageCtx, volname: &str, vmid: u32) -> Result<String> {
        DirPlugin.clone_image(ctx, volname, vmid)
    }
}
