//! Allocating and freeing a container's volumes (upstream's `PVE::LXC::alloc_disk`,
//! `create_disks`, `destroy_disks`, `delete_mountpoint_volume` and the volume part of
//! `destroy_lxc_container`). `STORAGE:SIZE_IN_GiB` in `rootfs`/`mpN` asks for a new
//! volume.

use pve_storage::Storage;

use crate::config::{CtConfig, CtSection};
use crate::volumes::{parse_volume, MountType};

/// `STORAGE:SIZE` (upstream's `$NEW_DISK_RE`): the storage and the size in GiB.
pub fn parse_new_disk(volume: &str) -> Option<(&str, f64)> {
    let (sid, size) = volume.split_once(':')?;
    if sid.is_empty() || sid.chars().any(char::is_whitespace) {
        return None;
    }
    let (int, frac) = match size.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (size, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    Some((sid, size.parse().ok()?))
}

fn storage_err(e: pve_storage::StorageError) -> String {
    let s = e.to_string();
    if s.ends_with('\n') {
        s
    } else {
        s + "\n"
    }
}

/// Upstream's `alloc_disk`: a raw image formatted with ext4 on storages with a path
/// (a subvolume for size 0), a raw image elsewhere; returns the volume id and whether
/// the caller must chown it (subvolumes).
pub fn alloc_disk(
    storage: &Storage,
    vmid: u32,
    storeid: &str,
    size_kib: u64,
    root_uid: u64,
    root_gid: u64,
) -> Result<(String, bool), String> {
    let scfg = storage.cfg.storage(storeid).map_err(storage_err)?;
    let rootdir = scfg.content.contains("rootdir");
    if !rootdir {
        return Err(format!(
            "content type 'rootdir' is not available or configured on storage '{storeid}'\n"
        ));
    }
    let quotas = scfg.raw.get("quotas").is_some_and(|v| {
        v.as_i64() == Some(1) || v.as_str() == Some("1") || v.as_bool() == Some(true)
    });
    let subvol = (scfg.path.is_some()
        && (size_kib == 0 || (scfg.storage_type == "btrfs" && quotas)))
        || scfg.storage_type == "zfspool";
    let format = if subvol { "subvol" } else { "raw" };
    let volid = storage
        .vdisk_alloc(storeid, vmid, Some(format), None, size_kib)
        .map_err(storage_err)?;
    if !subvol {
        let formatted = storage
            .path(&volid, None)
            .map_err(storage_err)
            .and_then(|(path, _, _)| crate::create::format_disk(&path, root_uid, root_gid));
        if let Err(e) = formatted {
            let _ = storage.vdisk_free(&volid);
            return Err(e);
        }
    }
    Ok((volid, subvol))
}

/// Upstream's `create_disks`: allocates every `STORAGE:SIZE` volume of `settings`
/// (`rootfs`, `mpN` → value) and writes the resulting mount point strings into `conf`
/// (its pending section with `pending`). Returns the allocated volume ids; on error
/// the ones allocated so far are freed.
pub fn create_disks(
    storage: &Storage,
    vmid: u32,
    settings: &[(String, String)],
    conf: &mut CtConfig,
    pending: bool,
) -> Result<Vec<String>, String> {
    let idmap = crate::idmap::section_id_maps(&conf.main)?;
    let (uid, gid) = if idmap.entries.is_empty() {
        (0, 0)
    } else {
        (idmap.root_uid, idmap.root_gid)
    };
    let mut allocated = Vec::new();
    let result = (|| -> Result<(), String> {
        for (key, value) in settings {
            let mut mp = parse_volume(key, value)?;
            let text = match parse_new_disk(&mp.volume) {
                Some((sid, size_gib)) if mp.kind == MountType::Volume => {
                    let size_kib = ((size_gib * 1024.0) as u64) * 1024;
                    let (volid, chown) = alloc_disk(storage, vmid, sid, size_kib, uid, gid)?;
                    allocated.push(volid.clone());
                    if chown {
                        let (path, _, _) = storage.path(&volid, None).map_err(storage_err)?;
                        std::os::unix::fs::chown(&path, Some(uid as u32), Some(gid as u32))
                            .map_err(|e| format!("chown {}: {e}\n", path.display()))?;
                    }
                    mp.volume = volid;
                    print_mountpoint(key, &mp.volume, value, Some(size_kib * 1024))
                }
                _ => value.clone(),
            };
            let section = if pending {
                &mut conf.pending
            } else {
                &mut conf.main
            };
            section.set(key, text);
        }
        Ok(())
    })();
    if let Err(e) = result {
        destroy_disks(storage, &allocated, &mut |_| {});
        return Err(e);
    }
    Ok(allocated)
}

/// A size in bytes as upstream prints `size=` (the largest unit that divides it).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (unit, suffix) in UNITS {
        if bytes != 0 && bytes % unit == 0 {
            return format!("{}{suffix}", bytes / unit);
        }
    }
    if bytes == 0 {
        "0T".into()
    } else {
        bytes.to_string()
    }
}

/// Rewrites a mount point string with a new volume (and size), keeping its other
/// options in their order.
fn print_mountpoint(key: &str, volume: &str, original: &str, size: Option<u64>) -> String {
    let _ = key;
    let mut parts: Vec<String> = vec![volume.to_string()];
    for (i, part) in original.split(',').enumerate() {
        let is_volume = if i == 0 {
            !part.contains('=') || part.starts_with("volume=")
        } else {
            part.starts_with("volume=")
        };
        if is_volume || part.starts_with("size=") || part.is_empty() {
            continue;
        }
        parts.push(part.to_string());
    }
    if let Some(size) = size {
        parts.push(format!("size={}", format_size(size)));
    }
    parts.join(",")
}

/// Upstream's `destroy_disks`: frees each volume, warning on failure.
pub fn destroy_disks(storage: &Storage, volids: &[String], warn: &mut dyn FnMut(&str)) {
    for volid in volids {
        if let Err(e) = storage.vdisk_free(volid) {
            warn(&format!("{e}"));
        }
    }
}

/// Upstream's `delete_mountpoint_volume`: frees a storage volume the container owns;
/// bind mounts and devices are left alone.
pub fn delete_mountpoint_volume(
    storage: &Storage,
    vmid: u32,
    volume: &str,
    warn: &mut dyn FnMut(&str),
) -> Result<(), String> {
    if crate::volumes::classify_mountpoint(volume) != MountType::Volume {
        return Ok(());
    }
    let vn = storage.parse_volname(volume).map_err(storage_err)?;
    if vn.vmid.as_deref() == Some(&vmid.to_string()) {
        storage.vdisk_free(volume).map_err(storage_err)
    } else {
        warn(&format!(
            "ignore deletion of '{volume}', CT {vmid} isn't the owner!"
        ));
        Ok(())
    }
}

/// Every volume of a section (rootfs, mpN, unusedN) as upstream's
/// `foreach_volume_full(..., include_unused => 1)`.
pub fn section_volumes_with_unused(section: &CtSection) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in &section.values {
        let is_vol = key == "rootfs"
            || key
                .strip_prefix("mp")
                .or_else(|| key.strip_prefix("unused"))
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()));
        if !is_vol {
            continue;
        }
        if let Ok(mp) = parse_volume(key, value) {
            if !out.contains(&mp.volume) {
                out.push(mp.volume);
            }
        }
    }
    out
}

/// The volume part of upstream's `destroy_lxc_container`: frees the container's own
/// volumes of the config and its pending section (snapshots reference the same
/// volumes), and with `purge_unreferenced` every other `rootdir`/`images` volume of
/// the VMID on the node's enabled storages. Failures of single volumes only warn, as
/// upstream's `vdisk_free` in an eval would for the purge; a failing config volume
/// aborts.
pub fn destroy_container_volumes(
    storage: &Storage,
    node: &str,
    vmid: u32,
    conf: &CtConfig,
    purge_unreferenced: bool,
    warn: &mut dyn FnMut(&str),
) -> Result<(), String> {
    let mut seen = Vec::new();
    for section in [&conf.main, &conf.pending] {
        for volid in section_volumes_with_unused(section) {
            if seen.contains(&volid) {
                continue;
            }
            seen.push(volid.clone());
            delete_mountpoint_volume(storage, vmid, &volid, warn)?;
        }
    }
    if purge_unreferenced {
        for sec in storage.cfg.storages() {
            if sec.disable || !sec.available_on(node) {
                continue;
            }
            let Ok(list) =
                storage.volume_list(&sec.storeid, Some(&["rootdir", "images"]), Some(vmid))
            else {
                continue;
            };
            for e in list {
                if let Err(err) = storage.vdisk_free(&e.volid) {
                    warn(&format!("{err}"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_disk_syntax() {
        assert_eq!(parse_new_disk("local:8"), Some(("local", 8.0)));
        assert_eq!(parse_new_disk("bt:0.5"), Some(("bt", 0.5)));
        assert_eq!(parse_new_disk("local:0"), Some(("local", 0.0)));
        assert_eq!(parse_new_disk("local:100/vm-100-disk-0.raw"), None);
        assert_eq!(parse_new_disk("local:8."), None);
        assert_eq!(parse_new_disk("8"), None);
        assert_eq!(parse_new_disk(":8"), None);
        assert_eq!(parse_new_disk("/srv/data"), None);
    }

    #[test]
    fn mountpoint_rewrite() {
        assert_eq!(
            print_mountpoint(
                "rootfs",
                "local:100/vm-100-disk-0.raw",
                "local:4",
                Some(4 << 30)
            ),
            "local:100/vm-100-disk-0.raw,size=4G"
        );
        assert_eq!(
            print_mountpoint(
                "mp0",
                "local:100/vm-100-disk-1.raw",
                "volume=local:0.5,mp=/data,backup=1",
                Some(512 << 20)
            ),
            "local:100/vm-100-disk-1.raw,mp=/data,backup=1,size=512M"
        );
        assert_eq!(format_size(0), "0T");
    }

    #[test]
    fn destroy_frees_own_volumes_and_purges_unreferenced() {
        if std::process::Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_err()
        {
            assert_ne!(
                std::env::var("PVE_TEST_REQUIRE_HOST").as_deref(),
                Ok("1"),
                "SKIP not allowed: qemu-img not installed"
            );
            println!("SKIP: qemu-img not installed");
            return;
        }
        let root = std::env::temp_dir().join(format!("ct-disks-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        let storage = Storage {
            paths: pve_common::paths::NodePaths::new(&root),
            cfg: pve_storage::StorageConfig::parse(
                "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir\n",
            ),
        };
        let alloc = |vmid| {
            storage
                .vdisk_alloc("local", vmid, Some("raw"), None, 1024)
                .unwrap()
        };
        let rootfs = alloc(100);
        let unused = alloc(100);
        let stray = alloc(100);
        let foreign = alloc(101);
        let mut conf = CtConfig::default();
        conf.main.set("rootfs", format!("{rootfs},size=1M"));
        conf.main.set("mp0", "/srv/data,mp=/data");
        conf.main.set("mp1", format!("{foreign},mp=/other"));
        conf.pending.set("unused0", unused.clone());
        let exists = |v: &str| storage.path(v, None).unwrap().0.exists();
        let mut warnings = Vec::new();
        destroy_container_volumes(&storage, "n1", 100, &conf, false, &mut |w| {
            warnings.push(w.to_string())
        })
        .unwrap();
        assert!(!exists(&rootfs) && !exists(&unused));
        assert!(
            exists(&stray),
            "unreferenced volumes stay without the purge flag"
        );
        assert!(exists(&foreign), "volumes of other guests stay");
        assert_eq!(
            warnings,
            [format!(
                "ignore deletion of '{foreign}', CT 100 isn't the owner!"
            )]
        );
        destroy_container_volumes(&storage, "n1", 100, &CtConfig::default(), true, &mut |_| {})
            .unwrap();
        assert!(!exists(&stray) && exists(&foreign));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn volumes_with_unused() {
        let mut s = CtSection::default();
        s.set("rootfs", "local:100/vm-100-disk-0.raw,size=1G");
        s.set("mp0", "/srv,mp=/srv");
        s.set("unused0", "local:100/vm-100-disk-1.raw");
        s.set("mp1", "local:100/vm-100-disk-0.raw,mp=/x");
        assert_eq!(
            section_volumes_with_unused(&s),
            vec![
                "/srv".to_string(),
                "local:100/vm-100-disk-0.raw".into(),
                "local:100/vm-100-disk-1.raw".into()
            ]
        );
    }
}
