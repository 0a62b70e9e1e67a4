//! `qm disk rescan` (upstream's `rescan`): disk sizes in the configs follow the
//! volumes, and images of a VM that no config references become `unusedN`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use pve_common::units::format_size;
use pve_guest_common::GuestConfig;
use serde_json::Value;

use crate::config_file::VmConfigFile;
use crate::disks::{print_drive, section_volumes};
use crate::drive::{parse_drive_name, Drive};

/// One image found on a storage.
#[derive(Clone, Debug)]
pub struct ScannedVolume {
    pub vmid: Option<u32>,
    pub size: u64,
    pub path: Option<PathBuf>,
}

/// The images of every enabled storage of `node` (of one VM when given).
pub fn scan_volids(
    storage: &pve_storage::Storage,
    node: &str,
    vmid: Option<u32>,
) -> BTreeMap<String, ScannedVolume> {
    let mut out = BTreeMap::new();
    for sec in storage.cfg.storages() {
        if sec.disable || !sec.available_on(node) || !sec.has_content(pve_storage::Vtype::Images) {
            continue;
        }
        let Ok(list) = storage.volume_list(&sec.storeid, Some(&["images"]), vmid) else {
            continue;
        };
        for e in list {
            if e.size == 0 {
                continue;
            }
            let path = storage.path(&e.volid, None).ok().map(|(p, _, _)| p);
            out.insert(
                e.volid.clone(),
                ScannedVolume {
                    vmid: e.vmid,
                    size: e.size,
                    path,
                },
            );
        }
    }
    out
}

/// Updates sizes and unused entries of one config (upstream's `update_disk_config`);
/// returns whether it changed, logging each change.
pub fn update_disk_config(
    vmid: u32,
    conf: &mut GuestConfig,
    volumes: &BTreeMap<String, ScannedVolume>,
    log: &dyn Fn(&str),
) -> bool {
    let prefix = format!("VM {vmid}");
    let mut changes = false;
    let mut referenced: BTreeSet<String> = BTreeSet::new();
    let mut referenced_path: BTreeSet<PathBuf> = BTreeSet::new();
    let keys: Vec<String> = conf
        .main
        .values
        .keys()
        .filter(|k| parse_drive_name(k).is_some())
        .cloned()
        .collect();
    for key in keys {
        let Ok(mut drive) = Drive::parse(&key, &conf.main.values[&key]) else {
            continue;
        };
        let volid = drive.file();
        if volid.is_empty() {
            continue;
        }
        referenced.insert(volid.clone());
        let vol = volumes.get(&volid);
        if let Some(p) = vol.and_then(|v| v.path.clone()) {
            referenced_path.insert(p);
        }
        if drive.is_cdrom() {
            continue;
        }
        let Some(vol) = vol else { continue };
        let old = drive
            .get("size")
            .and_then(|s| pve_common::units::parse_size(&s))
            .unwrap_or(0);
        if old != vol.size {
            drive
                .props
                .insert("size".into(), Value::from(format_size(vol.size)));
            if let Ok(v) = print_drive(&drive) {
                conf.main.values.insert(key.clone(), v);
                changes = true;
                log(&format!(
                    "{prefix} ({key}): size of disk '{volid}' updated from {} to {}",
                    format_size(old),
                    format_size(vol.size)
                ));
            }
        }
    }
    let unused: Vec<(String, String)> = section_volumes(&conf.main, true)
        .into_iter()
        .filter(|(k, _)| parse_drive_name(k).is_none())
        .collect();
    for (key, volid) in unused {
        let path = volumes.get(&volid).and_then(|v| v.path.clone());
        if referenced.contains(&volid) || path.as_ref().is_some_and(|p| referenced_path.contains(p))
        {
            log(&format!(
                "{prefix} remove entry '{key}', its volume '{volid}' is in use"
            ));
            conf.main.values.remove(&key);
            changes = true;
        }
        referenced.insert(volid);
        if let Some(p) = path {
            referenced_path.insert(p);
        }
    }
    if let Some(f) = conf
        .special
        .get("fleecing")
        .and_then(|s| s.get("fleecing-images"))
    {
        referenced.extend(f.split(',').map(str::to_string));
    }
    let state = format!("vm-{vmid}-state-");
    for (volid, vol) in volumes {
        if volid.contains(&state) || referenced.contains(volid) {
            continue;
        }
        let Some(path) = &vol.path else { continue };
        if referenced_path.contains(path) {
            continue;
        }
        if let Some(key) = pve_guest_common::snapshot::add_unused_volume(&mut conf.main, volid, 256)
        {
            changes = true;
            log(&format!(
                "{prefix} add unreferenced volume '{volid}' as '{key}' to config"
            ));
        }
        referenced_path.insert(path.clone());
    }
    changes
}

/// Rescans one VM or every VM of the node.
pub fn rescan(
    paths: &pve_common::NodePaths,
    node: &str,
    vmid: Option<u32>,
    dryrun: bool,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let storage = pve_storage::Storage::load(paths).map_err(|e| format!("{e}\n"))?;
    log("rescan volumes...");
    let volumes = scan_volids(&storage, node, vmid);
    let ids: Vec<u32> = match vmid {
        Some(v) => vec![v],
        None => {
            let dir = pve_cluster::cfs::Cfs::new(paths).path(&format!("nodes/{node}/qemu-server"));
            let mut ids: Vec<u32> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.flatten()
                        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".conf")?.parse().ok())
                        .collect()
                })
                .unwrap_or_default();
            ids.sort();
            ids
        }
    };
    for id in ids {
        let file = VmConfigFile::new(paths, node, id);
        file.lock(|| {
            let mut conf = file.load()?;
            pve_guest_common::snapshot::check_lock("VM", &conf.main)?;
            let mine: BTreeMap<String, ScannedVolume> = volumes
                .iter()
                .filter(|(_, v)| v.vmid == Some(id))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if update_disk_config(id, &mut conf, &mine, log) && !dryrun {
                file.write(&conf)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}
