//! The dir plugin: volumes are files (and folders, for `subvol`) below a host path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use regex::Regex;

use super::{StorageCtx, StoragePlugin, StorageStatus};
use crate::error::{Result, StorageError};
use crate::layout::{filesystem_path, get_subdir};
use crate::list::{list_images, list_volumes, HostProbe, VolumeEntry};
use crate::qemu_img::{self, ImageInfo, SnapshotOp};
use crate::volume::{parse_image_name, parse_volname_dir, Vtype};

/// Most volumes a guest can have on one storage.
pub const MAX_VOLUMES_PER_GUEST: u32 = 1024;

pub struct DirPlugin;

/// Fails unless `path` (which may not exist yet) resolves to a place below `base`:
/// `..`, absolute names and symlinks leading out are refused.
pub fn ensure_inside(base: &Path, path: &Path) -> Result<()> {
    let base_real = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    // resolve the deepest existing ancestor; the rest must be plain names
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() && std::fs::symlink_metadata(&existing).is_err() {
        match (existing.file_name(), existing.parent()) {
            (Some(n), Some(p)) => {
                rest.push(n.to_os_string());
                existing = p.to_path_buf();
            }
            _ => break,
        }
    }
    let real = std::fs::canonicalize(&existing).unwrap_or(existing);
    let plain = rest.iter().all(|n| n != ".." && n != ".");
    if plain && real.starts_with(&base_real) {
        Ok(())
    } else {
        Err(StorageError::msg(format!(
            "volume path '{}' is outside of the storage",
            path.display()
        )))
    }
}

fn preallocation(ctx: &StorageCtx, fmt: &str) -> Result<Option<String>> {
    let configured = ctx.scfg.preallocation.clone();
    let mode = match fmt {
        "qcow2" => configured.unwrap_or_else(|| "metadata".into()),
        "raw" => match configured.as_deref() {
            None | Some("metadata") => "off".into(),
            Some(m) => m.to_string(),
        },
        _ => return Ok(None),
    };
    let ok = match fmt {
        "qcow2" => matches!(mode.as_str(), "off" | "metadata" | "falloc" | "full"),
        _ => matches!(mode.as_str(), "off" | "falloc" | "full"),
    };
    if !ok {
        return Err(StorageError::msg(format!(
            "preallocation mode '{mode}' not supported by format '{fmt}'"
        )));
    }
    Ok(Some(mode))
}

/// The next free `vm-<vmid>-disk-<N>.<fmt>` (or `subvol-…`) name.
pub fn next_disk_name(existing: &[String], vmid: u32, fmt: &str, storeid: &str) -> Result<String> {
    static NUM: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(vm|base|subvol|basevol)-(\d+)-disk-(\d+)").expect("regex"));
    let used: std::collections::HashSet<u32> = existing
        .iter()
        .filter_map(|v| {
            NUM.captures_iter(v)
                .filter(|c| c[2].parse::<u32>().ok() == Some(vmid))
                .last()
                .and_then(|c| c[3].parse().ok())
        })
        .collect();
    let prefix = if fmt == "subvol" { "subvol" } else { "vm" };
    (0..MAX_VOLUMES_PER_GUEST)
        .find(|i| !used.contains(i))
        .map(|i| format!("{prefix}-{vmid}-disk-{i}.{fmt}"))
        .ok_or_else(|| {
            StorageError::msg(format!(
                "unable to allocate an image name for VM {vmid} in storage '{storeid}'"
            ))
        })
}

/// The volume name an image gets as a template: `vm-…` becomes `base-…`, a linked
/// clone keeps its base in the name.
pub fn base_volname(v: &crate::volume::VolumeName) -> String {
    let newname = match v.name.strip_prefix("vm-") {
        Some(rest) => format!("base-{rest}"),
        None => v.name.clone(),
    };
    let vmid = v.vmid.clone().unwrap_or_default();
    match (&v.basename, &v.basevmid) {
        (Some(b), Some(bv)) => format!("{bv}/{b}/{vmid}/{newname}"),
        _ => format!("{vmid}/{newname}"),
    }
}

fn set_immutable(path: &Path, on: bool) {
    // best effort, as upstream: not every file system supports the flag
    let _ = Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(path)
        .output();
}

/// statvfs of a folder: (total, used, avail) bytes.
pub fn df(path: &Path) -> Result<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StorageError::msg("path contains NUL"))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated string and `st` points to writable memory
    // of the right size; statvfs initialises it fully on success (checked below).
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(StorageError::msg(format!(
            "statvfs '{}' failed - {}",
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    // 64-bit Linux: all of these are u64 already
    let (bs, blocks, bfree, bavail): (u64, u64, u64, u64) =
        (st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail);
    let total = blocks * bs;
    let used = blocks.saturating_sub(bfree) * bs;
    let avail = bavail * bs;
    Ok((total, used, avail))
}

impl DirPlugin {
    /// The checked host path of a volume.
    pub fn volume_path(ctx: &StorageCtx, volname: &str, snap: Option<&str>) -> Result<PathBuf> {
        let (p, _, _) = filesystem_path(ctx.scfg, volname, snap)?;
        let path = ctx.host(&p);
        ensure_inside(&ctx.base()?, &path)?;
        Ok(path)
    }

    fn image_dir(ctx: &StorageCtx, vmid: u32) -> Result<PathBuf> {
        let dir = ctx
            .host(&get_subdir(ctx.scfg, "images")?)
            .join(vmid.to_string());
        ensure_inside(&ctx.base()?, &dir)?;
        Ok(dir)
    }

    fn qcow2_only(v: &crate::volume::VolumeName) -> Result<()> {
        match v.format.as_str() {
            "qcow2" => Ok(()),
            _ => Err(StorageError::msg("can't snapshot this image format")),
        }
    }
}

impl StoragePlugin for DirPlugin {
    fn storage_type(&self) -> &'static str {
        "dir"
    }

    fn path(
        &self,
        ctx: &StorageCtx,
        volname: &str,
        snap: Option<&str>,
    ) -> Result<(PathBuf, Option<String>, Vtype)> {
        let (_, owner, vtype) = filesystem_path(ctx.scfg, volname, snap)?;
        Ok((Self::volume_path(ctx, volname, snap)?, owner, vtype))
    }

    fn activate_storage(&self, ctx: &StorageCtx) -> Result<()> {
        let base = ctx.base()?;
        let mkdir = ctx.scfg.mkdir.unwrap_or(true);
        if !base.is_dir() {
            if !(mkdir && ctx.scfg.create_base_path.unwrap_or(true)) {
                return Err(StorageError::msg(format!(
                    "unable to activate storage '{}' - directory '{}' does not exist",
                    ctx.storeid,
                    ctx.scfg.path.as_deref().unwrap_or_default()
                )));
            }
            std::fs::create_dir_all(&base)?;
        }
        if mkdir && ctx.scfg.create_subdirs.unwrap_or(true) {
            let mut wanted: Vec<&str> = ctx.scfg.content.iter().map(String::as_str).collect();
            if ctx.scfg.content.contains("rootdir") {
                wanted.push("backup");
            }
            for ct in wanted {
                if ct.parse::<Vtype>().is_err() {
                    continue;
                }
                let dir = ctx.host(&get_subdir(ctx.scfg, ct)?);
                ensure_inside(&base, &dir)?;
                std::fs::create_dir_all(&dir)?;
            }
        }
        Ok(())
    }

    fn status(&self, ctx: &StorageCtx) -> Result<StorageStatus> {
        let (total, used, avail) = df(&ctx.base()?)?;
        Ok(StorageStatus {
            total,
            used,
            avail,
            active: true,
        })
    }

    fn list_images(&self, ctx: &StorageCtx, vmid: Option<&str>) -> Result<Vec<VolumeEntry>> {
        list_images(ctx.storeid, ctx.scfg, vmid, &|p| ctx.host(p), &HostProbe)
    }

    fn list_volumes(
        &self,
        ctx: &StorageCtx,
        vmid: Option<&str>,
        content_types: &[&str],
        vmlist: &BTreeMap<u32, String>,
    ) -> Result<Vec<VolumeEntry>> {
        list_volumes(
            ctx.storeid,
            ctx.scfg,
            vmid,
            content_types,
            vmlist,
            &|p| ctx.host(p),
            &HostProbe,
        )
    }

    fn alloc_image(
        &self,
        ctx: &StorageCtx,
        vmid: u32,
        fmt: &str,
        name: Option<&str>,
        size_kib: u64,
    ) -> Result<String> {
        let dir = Self::image_dir(ctx, vmid)?;
        if let Some(n) = name {
            if !n.starts_with(&format!("vm-{vmid}-")) && !n.starts_with(&format!("subvol-{vmid}-"))
            {
                return Err(StorageError::msg(format!(
                    "illegal name '{n}' - should be 'vm-{vmid}-*'"
                )));
            }
        }
        std::fs::create_dir_all(&dir)?;
        let name = match name {
            Some(n) => n.to_string(),
            None => {
                let vmid_s = vmid.to_string();
                let existing: Vec<String> = self
                    .list_images(ctx, Some(&vmid_s))?
                    .into_iter()
                    .map(|e| e.volid)
                    .collect();
                next_disk_name(&existing, vmid, fmt, ctx.storeid)?
            }
        };
        let (tmpfmt, _) = parse_image_name(&name)?;
        if tmpfmt != fmt {
            return Err(StorageError::msg(format!(
                "illegal name '{name}' - wrong extension for format ('{tmpfmt} != {fmt}')"
            )));
        }
        let path = dir.join(&name);
        ensure_inside(&ctx.base()?, &path)?;
        if std::fs::symlink_metadata(&path).is_ok() {
            return Err(StorageError::msg(format!(
                "disk image '{}' already exists",
                path.display()
            )));
        }
        if fmt == "subvol" {
            if size_kib != 0 {
                return Err(StorageError::msg(
                    "illegal size for subvol - only size 0 (unlimited) is supported on dir storages",
                ));
            }
            std::fs::create_dir(&path)?;
        } else {
            let prealloc = preallocation(ctx, fmt)?;
            qemu_img::create(&path, fmt, size_kib, prealloc.as_deref())?;
        }
        Ok(format!("{vmid}/{name}"))
    }

    fn free_image(&self, ctx: &StorageCtx, volname: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        let path = Self::volume_path(ctx, volname, None)?;
        if v.is_base {
            set_immutable(&path, false);
        }
        let meta = std::fs::symlink_metadata(&path);
        match meta {
            Ok(m) if m.is_dir() && v.format == "subvol" => std::fs::remove_dir_all(&path)?,
            Ok(_) => std::fs::remove_file(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        // drop the guest's folder once its last image is gone
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    fn volume_size_info(&self, ctx: &StorageCtx, volname: &str) -> Result<ImageInfo> {
        let v = parse_volname_dir(volname)?;
        let path = Self::volume_path(ctx, volname, None)?;
        let meta = std::fs::metadata(&path)
            .map_err(|_| StorageError::msg(format!("failed to stat '{}'", path.display())))?;
        if meta.is_dir() {
            return Ok(ImageInfo {
                size: 0,
                format: "subvol".into(),
                used: 0,
                parent: None,
            });
        }
        let fmt = match v.vtype {
            Vtype::Images => v.format.clone(),
            _ => "raw".into(),
        };
        qemu_img::info(&path, Some(&fmt))
    }

    fn volume_resize(&self, ctx: &StorageCtx, volname: &str, size: u64) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !matches!(v.format.as_str(), "raw" | "qcow2" | "vmdk") {
            return Err(StorageError::msg(format!(
                "can't resize volume of format '{}'",
                v.format
            )));
        }
        let path = Self::volume_path(ctx, volname, None)?;
        qemu_img::resize(&path, &v.format, size)
    }

    fn volume_snapshot(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        Self::qcow2_only(&v)?;
        qemu_img::snapshot(
            &Self::volume_path(ctx, volname, None)?,
            SnapshotOp::Create,
            snap,
        )
    }

    fn volume_snapshot_rollback(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        Self::qcow2_only(&v)?;
        qemu_img::snapshot(
            &Self::volume_path(ctx, volname, None)?,
            SnapshotOp::Apply,
            snap,
        )
    }

    fn volume_snapshot_delete(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        Self::qcow2_only(&v)?;
        qemu_img::snapshot(
            &Self::volume_path(ctx, volname, None)?,
            SnapshotOp::Delete,
            snap,
        )
    }

    fn create_base(&self, ctx: &StorageCtx, volname: &str) -> Result<String> {
        let v = parse_volname_dir(volname)?;
        if v.vtype != Vtype::Images {
            return Err(StorageError::msg(format!(
                "create_base on wrong vtype '{}'",
                v.vtype
            )));
        }
        if v.is_base {
            return Err(StorageError::msg(
                "create_base not possible with base image",
            ));
        }
        let path = Self::volume_path(ctx, volname, None)?;
        let newvol = base_volname(&v);
        let newpath = Self::volume_path(ctx, &newvol, None)?;
        rename_to_base(&path, &newpath, newpath.is_file())?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&newpath, std::fs::Permissions::from_mode(0o444));
        set_immutable(&newpath, true);
        Ok(newvol)
    }

    fn clone_image(&self, ctx: &StorageCtx, volname: &str, vmid: u32) -> Result<String> {
        let v = parse_volname_dir(volname)?;
        if v.vtype != Vtype::Images {
            return Err(StorageError::msg(format!(
                "clone_image on wrong vtype '{}'",
                v.vtype
            )));
        }
        if v.format == "subvol" {
            return Err(StorageError::msg(
                "this storage type does not support clone_image on subvolumes",
            ));
        }
        if !v.is_base {
            return Err(StorageError::msg("clone_image only works on base images"));
        }
        let basevmid = v.vmid.clone().unwrap_or_default();
        let dir = Self::image_dir(ctx, vmid)?;
        std::fs::create_dir_all(&dir)?;
        let vmid_s = vmid.to_string();
        let existing: Vec<String> = self
            .list_images(ctx, Some(&vmid_s))?
            .into_iter()
            .map(|e| e.volid)
            .collect();
        let name = next_disk_name(&existing, vmid, "qcow2", ctx.storeid)?;
        let newvol = format!("{basevmid}/{}/{vmid}/{name}", v.name);
        let path = Self::volume_path(ctx, &newvol, None)?;
        let backing = format!("../{basevmid}/{}", v.name);
        qemu_img::create_linked(&dir, &path, &backing, &v.format)?;
        Ok(newvol)
    }

    fn rename_volume(
        &self,
        ctx: &StorageCtx,
        volname: &str,
        target_vmid: u32,
        target_volname: Option<&str>,
    ) -> Result<String> {
        ctx.base().map_err(|_| StorageError::msg("no path found"))?;
        let v = parse_volname_dir(volname)?;
        let target_volname = match target_volname {
            Some(n) => n.to_string(),
            None => {
                let existing: Vec<String> = self
                    .list_images(ctx, Some(&target_vmid.to_string()))?
                    .into_iter()
                    .map(|e| e.volid)
                    .collect();
                next_disk_name(&existing, target_vmid, &v.format, ctx.storeid)?
            }
        };
        let imagedir = ctx.host(&get_subdir(ctx.scfg, "images")?);
        let source_vmid = v.vmid.clone().unwrap_or_default();
        let old_path = imagedir.join(&source_vmid).join(&v.name);
        let new_dir = imagedir.join(target_vmid.to_string());
        let new_path = new_dir.join(&target_volname);
        ensure_inside(&ctx.base()?, &old_path)?;
        ensure_inside(&ctx.base()?, &new_path)?;
        std::fs::create_dir_all(&new_dir)?;
        super::rename_no_clobber(&old_path, &new_path, &target_volname)?;
        let base = match (&v.basevmid, &v.basename) {
            (Some(bv), Some(b)) => format!("{bv}/{b}/"),
            _ => String::new(),
        };
        Ok(format!("{base}{target_vmid}/{target_volname}"))
    }
}

/// `create_base`'s move of an image (file or subvolume) to its base name, refused
/// when `exists` says the base name is taken; upstream's error texts.
pub(crate) fn rename_to_base(
    from: &std::path::Path,
    to: &std::path::Path,
    exists: bool,
) -> Result<()> {
    if exists {
        return Err(StorageError::msg(format!(
            "file '{}' already exists",
            to.display()
        )));
    }
    std::fs::rename(from, to).map_err(|e| {
        StorageError::msg(format!(
            "rename '{}' to '{}' failed - {e}",
            from.display(),
            to.display()
        ))
    })
}
