//! The btrfs plugin, with upstream's layout: volume names follow the directory rules,
//! but every `raw` image lives in a subvolume of its own
//! (`images/VMID/vm-VMID-disk-N/disk.raw` for volume `VMID/vm-VMID-disk-N.raw`) and
//! `subvol` volumes are subvolumes (`images/VMID/subvol-VMID-disk-N.subvol`). Snapshots
//! of both are read-only subvolumes beside them (`…/vm-VMID-disk-N@SNAP`), templates are
//! renamed read-only subvolumes and linked clones are writable snapshots of them.
//! qcow2 and vmdk images are plain files as on a dir storage. Sized subvolumes (btrfs
//! quotas) are refused, as upstream (quotas do not survive send/receive).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::dir::{base_volname, ensure_inside, next_disk_name, DirPlugin};
use super::{StorageCtx, StoragePlugin, StorageStatus};
use crate::error::{Result, StorageError};
use crate::layout::get_subdir;
use crate::list::{images_of_content, list_volumes, FileProbe, HostProbe, VolumeEntry};
use crate::qemu_img::{self, ImageInfo};
use crate::volume::{parse_volname_dir, VolumeName, Vtype};

pub struct BtrfsPlugin;

/// Runs `btrfs -q <args>`; a failure carries upstream's "command '…' failed" text.
pub fn btrfs(args: &[&std::ffi::OsStr]) -> Result<()> {
    let out = Command::new("btrfs")
        .arg("-q")
        .args(args)
        .output()
        .map_err(|e| StorageError::msg(format!("unable to run btrfs: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(StorageError::msg(format!(
        "command 'btrfs {}' failed: {}{}",
        shown.join(" "),
        match out.status.code() {
            Some(c) => format!("exit code {c}"),
            None => "got signal".into(),
        },
        if stderr.is_empty() {
            String::new()
        } else {
            format!(" - {stderr}")
        }
    )))
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// Whether a volume is handled the btrfs way (a subvolume) rather than as a file.
fn in_subvolume(v: &VolumeName) -> bool {
    v.vtype == Vtype::Images && matches!(v.format.as_str(), "raw" | "subvol")
}

/// The subvolume that holds an image: `images/VMID/NAME[@SNAP]` (NAME without `.raw`).
fn subvolume_path(ctx: &StorageCtx, v: &VolumeName, snap: Option<&str>) -> Result<PathBuf> {
    let vmid = v
        .vmid
        .as_deref()
        .ok_or_else(|| StorageError::msg("internal error: image without owner"))?;
    let mut name = match v.format.as_str() {
        "raw" => v
            .name
            .strip_suffix(".raw")
            .ok_or_else(|| StorageError::msg(format!("internal error: bad disk name: {}", v.name)))?
            .to_string(),
        _ => v.name.clone(),
    };
    if let Some(s) = snap {
        name = format!("{name}@{s}");
    }
    let dir = ctx.host(&get_subdir(ctx.scfg, "images")?).join(vmid);
    let path = dir.join(name);
    ensure_inside(&ctx.base()?, &path)?;
    Ok(path)
}

/// The file (raw: `disk.raw` inside the subvolume) or folder (subvol) of a volume.
fn volume_path(ctx: &StorageCtx, v: &VolumeName, snap: Option<&str>) -> Result<PathBuf> {
    let sub = subvolume_path(ctx, v, snap)?;
    Ok(match v.format.as_str() {
        "raw" => sub.join("disk.raw"),
        _ => sub,
    })
}

/// `path` is the top of a btrfs subvolume (as btrfs-progs decides it: inode 256).
fn is_subvolume(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_dir() && m.ino() == 256)
}

/// The snapshots (`NAME@SNAP` subvolumes) beside a subvolume.
fn snapshots_of(sub: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(base)) = (sub.parent(), sub.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}@", base.to_string_lossy());
    let mut res: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.len() > prefix.len() && n.starts_with(&prefix)
                })
                .map(|e| e.path())
                .filter(|p| is_subvolume(p))
                .collect()
        })
        .unwrap_or_default();
    res.sort();
    res
}

/// Swaps two paths atomically (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes())?;
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; AT_FDCWD is ignored for absolute ones.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl BtrfsPlugin {
    fn image_dir(ctx: &StorageCtx, vmid: u32) -> Result<PathBuf> {
        let dir = ctx
            .host(&get_subdir(ctx.scfg, "images")?)
            .join(vmid.to_string());
        ensure_inside(&ctx.base()?, &dir)?;
        Ok(dir)
    }

    fn free_name(&self, ctx: &StorageCtx, vmid: u32, fmt: &str) -> Result<String> {
        let vmid_s = vmid.to_string();
        let existing: Vec<String> = self
            .list_images(ctx, Some(&vmid_s))?
            .into_iter()
            .map(|e| e.volid)
            .collect();
        next_disk_name(&existing, vmid, fmt, ctx.storeid)
    }
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
        if !in_subvolume(&v) {
            return DirPlugin.path(ctx, volname, snap);
        }
        Ok((volume_path(ctx, &v, snap)?, v.vmid.clone(), v.vtype))
    }

    fn activate_storage(&self, ctx: &StorageCtx) -> Result<()> {
        DirPlugin.activate_storage(ctx)
    }

    fn status(&self, ctx: &StorageCtx) -> Result<StorageStatus> {
        DirPlugin.status(ctx)
    }

    /// Images as upstream's btrfs plugin lists them: names without a dot are raw images
    /// in subvolumes (sized by their `disk.raw`), `.subvol` folders, qcow2/vmdk files;
    /// snapshots (`@`) are not volumes.
    fn list_images(&self, ctx: &StorageCtx, vmid: Option<&str>) -> Result<Vec<VolumeEntry>> {
        let imagedir = ctx.host(&get_subdir(ctx.scfg, "images")?);
        let mut owners: Vec<String> = std::fs::read_dir(&imagedir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        owners.retain(|o| !o.is_empty() && o.bytes().all(|b| b.is_ascii_digit()));
        owners.sort();
        let mut res = Vec::new();
        for owner in owners {
            if vmid.is_some_and(|v| v != owner) {
                continue;
            }
            let ownerdir = imagedir.join(&owner);
            let mut names: Vec<String> = std::fs::read_dir(&ownerdir)
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            for name in names {
                if name.starts_with('.') || name.contains('@') {
                    continue;
                }
                let (stem, ext) = match name.split_once('.') {
                    Some((s, e)) if matches!(e, "qcow2" | "vmdk" | "subvol") => (s, Some(e)),
                    Some(_) => continue,
                    None => (name.as_str(), None),
                };
                if stem.contains('.') {
                    continue;
                }
                let path = ownerdir.join(&name);
                if ensure_inside(&ctx.base()?, &path).is_err() {
                    continue;
                }
                let ctime = HostProbe.stat(&path).map(|s| s.ctime).filter(|c| *c != 0);
                let (volname, format, size, used, parent) = match ext {
                    None => {
                        let Ok(Some(i)) = HostProbe.image_info(&path.join("disk.raw"), "raw")
                        else {
                            continue;
                        };
                        (
                            format!("{name}.raw"),
                            "raw".to_string(),
                            i.size,
                            i.used,
                            i.parent,
                        )
                    }
                    Some("subvol") => {
                        if !path.is_dir() {
                            continue;
                        }
                        (name.clone(), "subvol".to_string(), 0, 0, None)
                    }
                    Some(fmt) => match HostProbe.image_info(&path, fmt)? {
                        Some(i) => (name.clone(), fmt.to_string(), i.size, i.used, i.parent),
                        None => continue,
                    },
                };
                res.push(VolumeEntry {
                    volid: format!("{}:{owner}/{volname}", ctx.storeid),
                    content: "images".into(),
                    format,
                    size,
                    ctime,
                    vmid: owner.parse().ok(),
                    used: Some(used),
                    parent: Some(parent),
                    ..Default::default()
                });
            }
        }
        Ok(res)
    }

    fn list_volumes(
        &self,
        ctx: &StorageCtx,
        vmid: Option<&str>,
        content_types: &[&str],
        vmlist: &BTreeMap<u32, String>,
    ) -> Result<Vec<VolumeEntry>> {
        let mut res = Vec::new();
        for ct in content_types {
            if matches!(*ct, "images" | "rootdir") {
                res.extend(images_of_content(self.list_images(ctx, vmid)?, vmlist, ct));
            } else {
                res.extend(list_volumes(
                    ctx.storeid,
                    ctx.scfg,
                    vmid,
                    &[ct],
                    vmlist,
                    &|p| ctx.host(p),
                    &HostProbe,
                )?);
            }
        }
        Ok(res)
    }

    fn alloc_image(
        &self,
        ctx: &StorageCtx,
        vmid: u32,
        fmt: &str,
        name: Option<&str>,
        size_kib: u64,
    ) -> Result<String> {
        if fmt != "raw" && fmt != "subvol" {
            return DirPlugin.alloc_image(ctx, vmid, fmt, name, size_kib);
        }
        let dir = Self::image_dir(ctx, vmid)?;
        std::fs::create_dir_all(&dir)?;
        let name = match name {
            Some(n) => n.to_string(),
            None => self.free_name(ctx, vmid, fmt)?,
        };
        let (tmpfmt, _) = crate::volume::parse_image_name(&name)?;
        if tmpfmt != fmt {
            return Err(StorageError::msg(format!(
                "illegal name '{name}' - wrong extension for format ('{tmpfmt} != '{fmt}')"
            )));
        }
        let volname = format!("{vmid}/{name}");
        let v = parse_volname_dir(&volname)?;
        let sub = subvolume_path(ctx, &v, None)?;
        if std::fs::symlink_metadata(&sub).is_ok() {
            return Err(StorageError::msg(format!(
                "disk image '{}' already exists",
                sub.display()
            )));
        }
        if fmt == "subvol" && size_kib > 0 {
            return Err(StorageError::msg(
                "btrfs quotas are currently not supported, use an unsized subvolume or a raw file",
            ));
        }
        btrfs(&[os("subvolume"), os("create"), os("--"), sub.as_os_str()])?;
        if fmt == "raw" {
            let file = sub.join("disk.raw");
            let made = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .and_then(|f| f.set_len(size_kib * 1024));
            if let Err(e) = made {
                let _ = btrfs(&[os("subvolume"), os("delete"), os("--"), sub.as_os_str()]);
                return Err(StorageError::msg(format!(
                    "failed to create raw file '{}' - {e}",
                    file.display()
                )));
            }
        }
        Ok(volname)
    }

    fn free_image(&self, ctx: &StorageCtx, volname: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.free_image(ctx, volname);
        }
        let sub = subvolume_path(ctx, &v, None)?;
        let mut args: Vec<PathBuf> = snapshots_of(&sub);
        for s in &args {
            ensure_inside(&ctx.base()?, s)?;
        }
        args.push(sub.clone());
        let mut cmd: Vec<&std::ffi::OsStr> = vec![os("subvolume"), os("delete"), os("--")];
        cmd.extend(args.iter().map(|p| p.as_os_str()));
        if v.is_base {
            // a template's subvolume is read-only; deleting works regardless, but the
            // property is cleared first so a failure leaves a usable volume
            let _ = btrfs(&[
                os("property"),
                os("set"),
                sub.as_os_str(),
                os("ro"),
                os("false"),
            ]);
        }
        btrfs(&cmd)?;
        if let Some(dir) = sub.parent() {
            let _ = std::fs::remove_dir(dir);
        }
        Ok(())
    }

    fn volume_size_info(&self, ctx: &StorageCtx, volname: &str) -> Result<ImageInfo> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.volume_size_info(ctx, volname);
        }
        let path = volume_path(ctx, &v, None)?;
        if v.format == "subvol" {
            if !path.is_dir() {
                return Err(StorageError::msg(format!(
                    "failed to stat '{}'",
                    path.display()
                )));
            }
            return Ok(ImageInfo {
                size: 0,
                format: "subvol".into(),
                used: 0,
                parent: None,
            });
        }
        qemu_img::info(&path, Some("raw"))
    }

    fn volume_resize(&self, ctx: &StorageCtx, volname: &str, size: u64) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.volume_resize(ctx, volname, size);
        }
        if v.format == "subvol" {
            return Err(StorageError::msg(
                "cannot resize subvolume - btrfs quotas are currently not supported",
            ));
        }
        qemu_img::resize(&volume_path(ctx, &v, None)?, "raw", size)
    }

    fn volume_snapshot(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.volume_snapshot(ctx, volname, snap);
        }
        let sub = subvolume_path(ctx, &v, None)?;
        let target = subvolume_path(ctx, &v, Some(snap))?;
        btrfs(&[
            os("subvolume"),
            os("snapshot"),
            os("-r"),
            os("--"),
            sub.as_os_str(),
            target.as_os_str(),
        ])
    }

    fn volume_snapshot_rollback(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.volume_snapshot_rollback(ctx, volname, snap);
        }
        let sub = subvolume_path(ctx, &v, None)?;
        let source = subvolume_path(ctx, &v, Some(snap))?;
        // A writable copy of the snapshot is swapped in atomically; the old state then
        // sits at the temporary name and is deleted.
        let mut tmp = sub.as_os_str().to_os_string();
        tmp.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        btrfs(&[
            os("subvolume"),
            os("snapshot"),
            os("--"),
            source.as_os_str(),
            tmp.as_os_str(),
        ])?;
        let swapped = exchange(&tmp, &sub);
        let _ = btrfs(&[os("subvolume"), os("delete"), os("--"), tmp.as_os_str()]);
        swapped.map_err(|e| {
            StorageError::msg(format!(
                "failed to rotate '{}' into place at '{}' - {e}",
                tmp.display(),
                sub.display()
            ))
        })
    }

    fn volume_snapshot_delete(&self, ctx: &StorageCtx, volname: &str, snap: &str) -> Result<()> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.volume_snapshot_delete(ctx, volname, snap);
        }
        let target = subvolume_path(ctx, &v, Some(snap))?;
        btrfs(&[os("subvolume"), os("delete"), os("--"), target.as_os_str()])
    }

    /// raw and subvol: the subvolume is renamed to `base-…` and made read-only.
    fn create_base(&self, ctx: &StorageCtx, volname: &str) -> Result<String> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.create_base(ctx, volname);
        }
        if v.is_base {
            return Err(StorageError::msg(
                "create_base not possible with base image",
            ));
        }
        let newvol = base_volname(&v);
        let nv = parse_volname_dir(&newvol)?;
        let sub = subvolume_path(ctx, &v, None)?;
        let newsub = subvolume_path(ctx, &nv, None)?;
        let taken = std::fs::symlink_metadata(&newsub).is_ok();
        super::dir::rename_to_base(&sub, &newsub, taken)?;
        // as upstream: a failure to set the flag is a warning only
        if let Err(e) = btrfs(&[
            os("property"),
            os("set"),
            newsub.as_os_str(),
            os("ro"),
            os("true"),
        ]) {
            eprintln!("{e}");
        }
        Ok(newvol)
    }

    /// raw and subvol images are subvolumes: the subvolume moves (upstream renames the
    /// folder); qcow2 and vmdk files move as on a dir storage.
    fn rename_volume(
        &self,
        ctx: &StorageCtx,
        volname: &str,
        target_vmid: u32,
        target_volname: Option<&str>,
    ) -> Result<String> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.rename_volume(ctx, volname, target_vmid, target_volname);
        }
        let name = match target_volname {
            Some(n) => n.to_string(),
            None => self.free_name(ctx, target_vmid, &v.format)?,
        };
        let target = format!("{target_vmid}/{name}");
        let nv = parse_volname_dir(&target)?;
        let old = subvolume_path(ctx, &v, None)?;
        let new = subvolume_path(ctx, &nv, None)?;
        std::fs::create_dir_all(Self::image_dir(ctx, target_vmid)?)?;
        super::rename_no_clobber(&old, &new, &target)?;
        Ok(target)
    }

    /// raw and subvol: a writable snapshot of the base subvolume, named as a fresh
    /// image of `vmid` (no link to the base in the name: btrfs needs none).
    fn clone_image(&self, ctx: &StorageCtx, volname: &str, vmid: u32) -> Result<String> {
        let v = parse_volname_dir(volname)?;
        if !in_subvolume(&v) {
            return DirPlugin.clone_image(ctx, volname, vmid);
        }
        if !v.is_base {
            return Err(StorageError::msg("clone_image only works on base images"));
        }
        let dir = Self::image_dir(ctx, vmid)?;
        std::fs::create_dir_all(&dir)?;
        let name = self.free_name(ctx, vmid, &v.format)?;
        let newvol = format!("{vmid}/{name}");
        let nv = parse_volname_dir(&newvol)?;
        let sub = subvolume_path(ctx, &v, None)?;
        let newsub = subvolume_path(ctx, &nv, None)?;
        btrfs(&[
            os("subvolume"),
            os("snapshot"),
            os("--"),
            sub.as_os_str(),
            newsub.as_os_str(),
        ])?;
        Ok(newvol)
    }
}
