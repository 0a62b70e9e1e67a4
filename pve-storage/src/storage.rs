//! Volume-id level operations over storage.cfg, as qemu-server and pve-container use
//! them (upstream's `PVE::Storage` functions).

use std::collections::BTreeMap;
use std::path::PathBuf;

use pve_common::NodePaths;

use crate::config::StorageConfig;
use crate::error::{Result, StorageError};
use crate::list::VolumeEntry;
use crate::plugin::{lookup, StorageCtx, StoragePlugin, StorageStatus};
use crate::qemu_img::ImageInfo;
use crate::volume::{parse_volume_id, VolumeName, Vtype};

/// storage.cfg plus the node's paths.
pub struct Storage {
    pub paths: NodePaths,
    pub cfg: StorageConfig,
}

impl Storage {
    /// Reads storage.cfg through pmxcfs.
    pub fn load(paths: &NodePaths) -> Result<Self> {
        let cfs = pve_cluster::cfs::Cfs::new(paths);
        Ok(Storage {
            paths: paths.clone(),
            cfg: StorageConfig::read(&cfs)?,
        })
    }

    /// Runs `f` with the plugin and context of `storeid`.
    pub fn with<R>(
        &self,
        storeid: &str,
        f: impl FnOnce(&dyn StoragePlugin, &StorageCtx) -> Result<R>,
    ) -> Result<R> {
        let scfg = self.cfg.storage(storeid)?;
        let plugin = lookup(&scfg.storage_type)?;
        let ctx = StorageCtx {
            storeid,
            scfg: &scfg,
            paths: &self.paths,
        };
        f(plugin, &ctx)
    }

    fn with_volume<R>(
        &self,
        volid: &str,
        f: impl FnOnce(&dyn StoragePlugin, &StorageCtx, &str) -> Result<R>,
    ) -> Result<R> {
        let (sid, volname) = parse_volume_id(volid)?;
        self.with(sid, |p, ctx| f(p, ctx, volname))
    }

    pub fn parse_volname(&self, volid: &str) -> Result<VolumeName> {
        self.with_volume(volid, |p, _, name| p.parse_volname(name))
    }

    /// The host path of a volume, its owner and content type.
    pub fn path(
        &self,
        volid: &str,
        snap: Option<&str>,
    ) -> Result<(PathBuf, Option<String>, Vtype)> {
        self.with_volume(volid, |p, ctx, name| p.path(ctx, name, snap))
    }

    pub fn activate_storage(&self, storeid: &str) -> Result<()> {
        self.with(storeid, |p, ctx| {
            if ctx.scfg.disable {
                return Err(StorageError::msg(format!(
                    "storage '{storeid}' is disabled"
                )));
            }
            p.activate_storage(ctx)
        })
    }

    pub fn status(&self, storeid: &str) -> Result<StorageStatus> {
        self.with(storeid, |p, ctx| p.status(ctx))
    }

    /// Allocates an image (size in KiB); returns the volume id.
    pub fn vdisk_alloc(
        &self,
        storeid: &str,
        vmid: u32,
        format: Option<&str>,
        name: Option<&str>,
        size_kib: u64,
    ) -> Result<String> {
        self.activate_storage(storeid)?;
        self.with(storeid, |p, ctx| {
            let (default, valid) = ctx.scfg.formats();
            let fmt = format.unwrap_or(&default);
            if !valid.contains(fmt) {
                return Err(StorageError::msg(format!(
                    "unsupported format '{fmt}' for storage type {}",
                    ctx.scfg.storage_type
                )));
            }
            let volname = p.alloc_image(ctx, vmid, fmt, name, size_kib)?;
            Ok(format!("{storeid}:{volname}"))
        })
    }

    pub fn vdisk_free(&self, volid: &str) -> Result<()> {
        self.with_volume(volid, |p, ctx, name| p.free_image(ctx, name))
    }

    pub fn volume_size_info(&self, volid: &str) -> Result<ImageInfo> {
        self.with_volume(volid, |p, ctx, name| p.volume_size_info(ctx, name))
    }

    /// New size in bytes.
    pub fn volume_resize(&self, volid: &str, size: u64) -> Result<()> {
        self.with_volume(volid, |p, ctx, name| p.volume_resize(ctx, name, size))
    }

    pub fn volume_snapshot(&self, volid: &str, snap: &str) -> Result<()> {
        self.with_volume(volid, |p, ctx, name| p.volume_snapshot(ctx, name, snap))
    }

    pub fn volume_snapshot_rollback(&self, volid: &str, snap: &str) -> Result<()> {
        self.with_volume(volid, |p, ctx, name| {
            p.volume_snapshot_rollback(ctx, name, snap)
        })
    }

    pub fn volume_snapshot_delete(&self, volid: &str, snap: &str) -> Result<()> {
        self.with_volume(volid, |p, ctx, name| {
            p.volume_snapshot_delete(ctx, name, snap)
        })
    }

    /// Turns an image into a base image; returns the new volume id.
    pub fn vdisk_create_base(&self, volid: &str) -> Result<String> {
        let (sid, _) = parse_volume_id(volid)?;
        let name = self.with_volume(volid, |p, ctx, name| p.create_base(ctx, name))?;
        Ok(format!("{sid}:{name}"))
    }

    /// A linked clone of a base image for `vmid`; returns the new volume id.
    pub fn vdisk_clone(&self, volid: &str, vmid: u32) -> Result<String> {
        let (sid, _) = parse_volume_id(volid)?;
        let name = self.with_volume(volid, |p, ctx, name| p.clone_image(ctx, name, vmid))?;
        Ok(format!("{sid}:{name}"))
    }

    /// Whether the volume can be given to another guest (`volume_has_feature` `rename`).
    pub fn volume_can_rename(&self, volid: &str) -> bool {
        self.with_volume(
            volid,
            |p, _, name| Ok(p.can_rename(&p.parse_volname(name)?)),
        )
        .unwrap_or(false)
    }

    /// Upstream's `rename_volume`: gives `volid` to `target_vmid` (its own owner when
    /// `None`), as `target_volname` or the next free disk name; returns the new volume id.
    pub fn rename_volume(
        &self,
        volid: &str,
        target_vmid: Option<u32>,
        target_volname: Option<&str>,
    ) -> Result<String> {
        if volid.is_empty() {
            return Err(StorageError::msg("no source volid provided"));
        }
        if target_vmid.is_none() && target_volname.is_none() {
            return Err(StorageError::msg(
                "no target VMID or target volname provided",
            ));
        }
        let (sid, volname) = parse_volume_id(volid)?;
        self.activate_storage(sid)?;
        self.with(sid, |p, ctx| {
            let target = match target_vmid {
                Some(t) => t,
                None => {
                    let v = p.parse_volname(volname)?;
                    crate::volume::parse_vmid(v.vmid.as_deref().unwrap_or_default())?
                }
            };
            let name = p.rename_volume(ctx, volname, target, target_volname)?;
            Ok(format!("{sid}:{name}"))
        })
    }

    /// The volumes of a storage (content types default to the storage's).
    pub fn volume_list(
        &self,
        storeid: &str,
        content: Option<&[&str]>,
        vmid: Option<u32>,
    ) -> Result<Vec<VolumeEntry>> {
        let vmlist: BTreeMap<u32, String> = pve_cluster::cfs::Cfs::new(&self.paths)
            .vmlist()
            .map(|l| l.ids.into_iter().map(|(k, g)| (k, g.guest_type)).collect())
            .unwrap_or_default();
        self.with(storeid, |p, ctx| {
            let own: Vec<&str> = ctx.scfg.content.iter().map(String::as_str).collect();
            let cts: Vec<&str> = match content {
                Some(c) => c.iter().copied().filter(|c| own.contains(c)).collect(),
                None => own.clone(),
            };
            let vmid = vmid.map(|v| v.to_string());
            let mut list = p.list_volumes(ctx, vmid.as_deref(), &cts, &vmlist)?;
            // upstream's volume_list sorts by the lower-cased volume id
            list.sort_by_key(|e| e.volid.to_lowercase());
            Ok(list)
        })
    }
}
