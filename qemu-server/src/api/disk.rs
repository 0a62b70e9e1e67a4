//! `…/{vmid}/resize`, `…/template`, `…/clone` and `…/feature`.

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_guest_common::snapshot::check_lock;
use pve_guest_common::{ConfigSection, GuestConfig};
use serde_json::{json, Value};

use crate::disks::{copy_image, print_drive, section_volumes};
use crate::drive::{parse_drive_name, Drive};

use super::config::{add_random_mac, generate_uuid};
use super::snapshot::volume_can_snapshot;
use super::{conf_file, err, running, storage};

fn start(
    env: &RpcEnv,
    kind: &str,
    vmid: u32,
    f: impl FnOnce(&RpcEnv, &dyn Fn(&str)) -> Result<(), String> + Send + 'static,
) -> Result<ApiResponse, ApiError> {
    let wenv = env.clone();
    let upid = pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), move |task| {
        f(&wenv, &|l| task.log(l)).map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

/// The new size in bytes for a `[+]N[KMGT]` request on a disk of `current` bytes.
fn new_size(current: u64, request: &str) -> Result<u64, String> {
    let (grow, rest) = match request.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, request),
    };
    let (num, mult) = match rest.chars().last() {
        Some('K') => (&rest[..rest.len() - 1], 1u64 << 10),
        Some('M') => (&rest[..rest.len() - 1], 1 << 20),
        Some('G') => (&rest[..rest.len() - 1], 1 << 30),
        Some('T') => (&rest[..rest.len() - 1], 1 << 40),
        _ => (rest, 1),
    };
    let n: f64 = num.parse().map_err(|_| "internal error".to_string())?;
    let mut size = n * mult as f64;
    if grow {
        size += current as f64;
    }
    Ok(size as u64)
}

pub(super) fn resize(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let disk = p.required_str("disk")?;
    let size = p.required_str("size")?;
    let digest = p.str("digest");
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !env.auth.is_root() {
        return Err(ApiError::parameter(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    let auth_env = env.clone();
    let check = move |_env: &RpcEnv, conf: &GuestConfig| -> Result<(Drive, String), String> {
        let (drive, volid) = disk_to_change(conf, digest.as_deref(), skiplock, &disk, "resize")?;
        if let Some((sid, _)) = pve_storage::volume::split_volume_id(&volid) {
            auth_env
                .check_privs(
                    &format!("/storage/{sid}"),
                    &["Datastore.AllocateSpace"],
                    false,
                )
                .map_err(|e| e.message)?;
        }
        Ok((drive, volid))
    };
    let file = conf_file(env, vmid);
    let conf = file.load().map_err(err)?;
    check(env, &conf).map_err(err)?;
    start(env, "resize", vmid, move |env, log| {
        let file = conf_file(env, vmid);
        file.lock(|| {
            let mut conf = file.load()?;
            let (mut drive, volid) = check(env, &conf)?;
            let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
            let current = storage
                .volume_size_info(&volid)
                .map_err(|_| format!("Could not determine current size of volume '{volid}'\n"))?
                .size;
            let newsize = new_size(current, &size)?;
            if newsize < current {
                return Err("shrinking disks is not supported\n".into());
            }
            if newsize == current {
                return Ok(());
            }
            log(&format!(
                "update VM {vmid}: resize --disk {} --size {size}",
                drive.key
            ));
            // a running VM: QEMU grows file-based images itself (upstream's plugins
            // skip the resize when running), block devices are grown first
            let running = running(env, vmid);
            let file_based = pve_storage::volume::split_volume_id(&volid)
                .and_then(|(sid, _)| storage.cfg.storage(sid).ok())
                .is_some_and(|scfg| scfg.path.is_some());
            if !(running && file_based) {
                storage
                    .volume_resize(&volid, newsize)
                    .map_err(|e| format!("{e}\n"))?;
            }
            if running {
                let renv = crate::run::RunEnv::new(env.paths.clone(), env.node.clone());
                crate::run::snapshot::drive_resize(&renv, vmid, &drive.key, newsize)
                    .map_err(|e| format!("{e}\n"))?;
            }
            drive.props.insert(
                "size".into(),
                json!(pve_common::units::format_size(newsize)),
            );
            let key = drive.key.clone();
            conf.main.values.insert(key, print_drive(&drive)?);
            file.write(&conf)
        })
    })
}

/// Upstream's `assert_if_modified` (move_disk uses it, not the config API's text).
fn assert_if_modified(digest: Option<&str>, current: &str) -> Result<(), String> {
    match digest.filter(|d| !d.is_empty()) {
        Some(d) if !current.is_empty() && d != current => {
            Err("detected modified configuration - file changed by other user? Try again.\n".into())
        }
        _ => Ok(()),
    }
}

/// Upstream's log line when a mirror job starts.
fn mirror_start_line(key: &str, bwlimit: Option<u64>) -> String {
    match bwlimit {
        Some(l) => {
            format!("drive mirror is starting for drive-{key} with bandwidth limit: {l} KiB/s")
        }
        None => format!("drive mirror is starting for drive-{key}"),
    }
}

/// `POST …/move_disk` (upstream's `move_vm_disk`): with `storage` the disk is copied
/// to another storage of the same VM; with `target-vmid` the volume is given to another
/// VM (renamed on its storage, no copy).
pub(super) fn move_disk(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let target_vmid = p.i64("target-vmid").filter(|t| *t != 0);
    match (target_vmid, p.str("storage")) {
        (Some(_), Some(_)) => {
            let msg = "either set 'storage' or 'target-vmid', but not both";
            Err(ApiError::parameters(BTreeMap::from([
                ("target-vmid".to_string(), msg.to_string()),
                ("storage".to_string(), msg.to_string()),
            ])))
        }
        (Some(t), None) => reassign_disk(env, &p, t),
        (None, Some(storeid)) => move_to_storage(env, &p, storeid),
        (None, None) => {
            let msg = "both 'storage' and 'target-vmid' missing, either needs to be set";
            Err(ApiError::parameters(BTreeMap::from([
                ("target-vmid".to_string(), msg.to_string()),
                ("storage".to_string(), msg.to_string()),
            ])))
        }
    }
}

/// The node a guest lives on: `.vmlist` of pmxcfs, else the config files of all nodes.
fn guest_node(env: &RpcEnv, vmid: u32) -> Option<String> {
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    if let Ok(list) = cfs.vmlist() {
        return list.ids.get(&vmid).map(|g| g.node.clone());
    }
    let nodes = std::fs::read_dir(cfs.path("nodes")).ok()?;
    nodes.flatten().find_map(|n| {
        ["qemu-server", "lxc"]
            .iter()
            .any(|d| n.path().join(d).join(format!("{vmid}.conf")).exists())
            .then(|| n.file_name().to_string_lossy().into_owned())
    })
}

/// Upstream's `is_volume_in_use`: a drive of the config other than `skip`, or any drive
/// of a snapshot, uses `volid` (same volume id or same path).
fn volume_used_by_drives(
    storage: &pve_storage::Storage,
    conf: &GuestConfig,
    skip: &str,
    volid: &str,
) -> bool {
    let path = storage.path(volid, None).ok().map(|(p, _, _)| p);
    let uses = |file: &str| {
        file == volid
            || path.as_ref().is_some_and(|p| {
                if file.starts_with('/') {
                    std::path::Path::new(file) == p
                } else {
                    storage.path(file, None).is_ok_and(|(q, _, _)| &q == p)
                }
            })
    };
    let scan = |section: &ConfigSection, skip: Option<&str>| {
        section.values.iter().any(|(k, v)| {
            if parse_drive_name(k).is_none() || Some(k.as_str()) == skip {
                return false;
            }
            let Ok(d) = Drive::parse(k, v) else {
                return false;
            };
            let file = d.file();
            !file.is_empty() && !d.is_cdrom() && uses(&file)
        })
    };
    scan(&conf.main, Some(skip)) || conf.snapshots.values().any(|s| scan(s, None))
}

/// Whether `key` is an `unusedN` key.
fn is_unused(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a reassign works on, after upstream's checks.
struct Reassign {
    source: GuestConfig,
    target: GuestConfig,
    /// The source volume.
    volid: String,
    /// The value for the target key (a drive parsed with the target key's format; for
    /// an `unusedN` target just the volume).
    drive: Option<Drive>,
}

#[allow(clippy::too_many_arguments)]
fn load_and_check_reassign(
    env: &RpcEnv,
    vmid: u32,
    target_vmid: u32,
    disk: &str,
    target_disk: &str,
    digest: Option<&str>,
    target_digest: Option<&str>,
) -> Result<Reassign, String> {
    let source_node = guest_node(env, vmid).ok_or_else(|| format!("could not find VM {vmid}\n"))?;
    let target_node = guest_node(env, target_vmid)
        .ok_or_else(|| format!("could not find target VM {target_vmid}\n"))?;
    if source_node != target_node {
        return Err(format!(
            "Both VMs need to be on the same node ({source_node} != {target_node})\n"
        ));
    }
    let source = conf_file(env, vmid).load()?;
    check_lock("VM", &source.main)?;
    let target = conf_file(env, target_vmid).load()?;
    check_lock("VM", &target.main)?;
    if source.main.get("template") == Some("1") || target.main.get("template") == Some("1") {
        return Err("Can't move disks from or to template VMs\n".into());
    }
    assert_if_modified(digest, &source.digest).map_err(|e| format!("VM {vmid}: {e}"))?;
    assert_if_modified(target_digest, &target.digest)
        .map_err(|e| format!("VM {target_vmid}: {e}"))?;
    let value = source
        .main
        .get(disk)
        .ok_or_else(|| format!("Disk '{disk}' for VM '{vmid}' does not exist\n"))?
        .to_string();
    if target.main.get(target_disk).is_some_and(|v| !v.is_empty()) {
        return Err(format!(
            "Target disk key '{target_disk}' is already in use for VM '{target_vmid}'\n"
        ));
    }
    let volid = if is_unused(disk) {
        value.clone()
    } else {
        let d = Drive::parse(disk, &value)
            .map_err(|e| format!("failed to parse source disk - {}\n", e.trim_end()))?;
        if d.is_cdrom() && !crate::disks::is_cloudinit_value(&value) {
            let file = d.file();
            if file.is_empty() {
                return Err(format!("disk '{disk}' has no associated volume\n"));
            }
            return Err("CD drive contents can't be moved to another VM\n".into());
        }
        d.file()
    };
    if volid.is_empty() {
        return Err(format!("disk '{disk}' has no associated volume\n"));
    }
    if pve_storage::volume::split_volume_id(&volid).is_none() || volid.starts_with('/') {
        return Err(format!("Volume '{volid}' not managed by PVE\n"));
    }
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    if volume_used_by_drives(&storage, &source, disk, &volid) {
        return Err("Can't move disk used by a snapshot to another VM\n".into());
    }
    if !storage.volume_can_rename(&volid) {
        return Err("Storage does not support moving of this disk to another VM\n".into());
    }
    if running(env, vmid) && !is_unused(disk) {
        return Err(
            "Cannot move disk to another VM while the source VM is running - detach first\n".into(),
        );
    }
    // re-parsed with the target key's format
    let drive = if is_unused(target_disk) {
        None
    } else {
        Some(Drive::parse(target_disk, &value).map_err(|e| {
            format!(
                "failed to parse source disk for target disk format - {}\n",
                e.trim_end()
            )
        })?)
    };
    Ok(Reassign {
        source,
        target,
        volid,
        drive,
    })
}

/// `move_disk` with `target-vmid`: the volume is renamed to the target VM on its
/// storage, the source key leaves the source config (and its boot order), the target
/// key gets the volume through a config update of the target (`unusedN` directly).
fn reassign_disk(env: &RpcEnv, p: &Params, target: i64) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let target_vmid = u32::try_from(target).map_err(|_| {
        ApiError::parameter("target-vmid", "value must have a minimum value of 100")
    })?;
    let disk = p.required_str("disk")?;
    let target_disk = p.str("target-disk").unwrap_or_else(|| disk.clone());
    let digest = p.str("digest");
    let target_digest = p.str("target-digest");
    if !env.auth.is_root() {
        env.check_privs(&format!("/vms/{target_vmid}"), &["VM.Config.Disk"], false)?;
    }
    if vmid == target_vmid {
        return Err(ApiError::parameter(
            "target-vmid",
            "must be different than source VMID to reassign disk",
        ));
    }
    let checked = load_and_check_reassign(
        env,
        vmid,
        target_vmid,
        &disk,
        &target_disk,
        digest.as_deref(),
        target_digest.as_deref(),
    )
    .map_err(err)?;
    if let Some((sid, _)) = pve_storage::volume::split_volume_id(&checked.volid) {
        env.check_privs(
            &format!("/storage/{sid}"),
            &["Datastore.AllocateSpace"],
            false,
        )?;
    }
    let wenv = env.clone();
    let id = format!("{vmid}-{disk}>{target_vmid}-{target_disk}");
    let upid = pve_common::tasks::start_worker(env, "qmmove", Some(&id), move |task| {
        let log = |l: &str| task.log(l);
        let env = &wenv;
        let source_file = conf_file(env, vmid);
        let target_file = conf_file(env, target_vmid);
        source_file
            .lock(|| {
                target_file.lock(|| {
                    let r = load_and_check_reassign(
                        env,
                        vmid,
                        target_vmid,
                        &disk,
                        &target_disk,
                        digest.as_deref(),
                        target_digest.as_deref(),
                    )?;
                    do_reassign(
                        env,
                        r,
                        (vmid, &disk),
                        (target_vmid, &target_disk),
                        target_digest.clone(),
                        &log,
                    )
                })
            })
            .map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

fn do_reassign(
    env: &RpcEnv,
    r: Reassign,
    (vmid, disk): (u32, &str),
    (target_vmid, target_disk): (u32, &str),
    target_digest: Option<String>,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let Reassign {
        mut source,
        mut target,
        volid,
        drive,
    } = r;
    log(&format!(
        "reassign disk '{disk}' from VM '{vmid}' as '{target_disk}' to VM '{target_vmid}'"
    ));
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let new_volid = storage
        .rename_volume(&volid, Some(target_vmid), None)
        .map_err(|e| format!("{e}\n"))?;
    let mut order = crate::cmdline::device_bootorder(&source.main).unwrap_or_default();
    if order.remove(disk).is_some() {
        log(&format!("removing disk '{disk}' from boot order config"));
        let mut devs: Vec<(String, u32)> = order.into_iter().collect();
        devs.sort_by_key(|(_, i)| *i);
        let devs: Vec<String> = devs.into_iter().map(|(d, _)| d).collect();
        source
            .main
            .values
            .insert("boot".into(), super::config::print_bootorder(&devs));
    }
    source.main.values.remove(disk);
    log(&format!("removing disk '{disk}' from VM '{vmid}' config"));
    conf_file(env, vmid).write(&source)?;
    match drive {
        None => {
            target
                .main
                .values
                .insert(target_disk.to_string(), new_volid.clone());
            conf_file(env, target_vmid).write(&target)?;
        }
        Some(mut d) => {
            d.props
                .insert("file".into(), Value::from(new_volid.clone()));
            let value = print_drive(&d)?;
            let req = super::config::UpdateRequest {
                vmid: target_vmid,
                digest: target_digest,
                set: BTreeMap::from([(target_disk.to_string(), value.clone())]),
                logged: vec![(target_disk.to_string(), value)],
                ..Default::default()
            };
            super::config::update_vm_locked(env, &req, log).map_err(|e| e.message)?;
        }
    }
    Ok(())
}

/// `move_disk` to another storage of the same VM: the volume is copied into a new one
/// on the target storage (`qemu-img convert`), the drive points at the copy, the old
/// volume becomes `unusedN` or is freed (`delete`). A running VM's disk is mirrored by
/// QEMU (`drive-mirror`) and switched over live.
fn move_to_storage(env: &RpcEnv, p: &Params, storeid: String) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let disk = p.required_str("disk")?;
    let format = p.str("format");
    let digest = p.str("digest");
    let delete = p.bool("delete").unwrap_or(false);
    env.check_privs(
        &format!("/storage/{storeid}"),
        &["Datastore.AllocateSpace"],
        false,
    )?;

    let check = {
        let (disk, storeid, format) = (disk.clone(), storeid.clone(), format.clone());
        move |env: &RpcEnv, conf: &GuestConfig| -> Result<(Option<Drive>, String, bool), ApiError> {
            check_lock("VM", &conf.main).map_err(err)?;
            assert_if_modified(digest.as_deref(), &conf.digest).map_err(err)?;
            // an unusedN key holds the bare volume
            let (drive, old) = match conf.main.get(&disk).filter(|_| is_unused(&disk)) {
                Some(v) => (None, v.to_string()),
                None => {
                    let (d, old) = disk_to_change(conf, None, true, &disk, "move").map_err(err)?;
                    (Some(d), old)
                }
            };
            let storage = storage(env)?;
            let (oldstore, _) = pve_storage::volume::split_volume_id(&old)
                .ok_or_else(|| err(format!("unable to parse volume ID '{old}'\n")))?;
            let oldfmt = storage.parse_volname(&old).ok().map(|v| v.format);
            if oldstore == storeid && (format.is_none() || oldfmt.is_none() || oldfmt == format) {
                return Err(err("you can't move to the same storage with same format\n"));
            }
            let scfg = storage
                .cfg
                .storage(&storeid)
                .map_err(|_| err(format!("storage '{storeid}' does not exist\n")))?;
            if scfg.disable {
                return Err(err(format!("storage '{storeid}' is disabled\n")));
            }
            if !scfg.has_content(pve_storage::Vtype::Images) {
                return Err(ApiError::parameter(
                    "storage",
                    format!("storage '{storeid}' does not support vm images"),
                ));
            }
            let snapshotted = volume_used_by_drives(&storage, conf, &disk, &old);
            if snapshotted && delete {
                return Err(err(
                    "you can't move a disk with snapshots and delete the source\n",
                ));
            }
            Ok((drive, old, snapshotted))
        }
    };
    let conf = conf_file(env, vmid).load().map_err(err)?;
    check(env, &conf)?;
    let bwlimit = p.i64("bwlimit");
    start(env, "qmmove", vmid, move |env, log| {
        let file = conf_file(env, vmid);
        let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
        let mut newvol: Option<String> = None;
        let mut old_volid = String::new();
        let res = file.lock(|| {
            let mut conf = file.load()?;
            let (drive, old, snapshotted) = check(env, &conf).map_err(|e| e.message)?;
            old_volid = old.clone();
            let (oldstore, _) = pve_storage::volume::split_volume_id(&old).unwrap_or_default();
            log(&format!(
                "copying volume '{old}' from current storage '{oldstore}' to target storage '{storeid}'"
            ));
            if snapshotted {
                log("moving disk with snapshots, snapshots will not be moved!");
            }
            let movelimit = super::bwlimit::resolve(
                env,
                "move",
                &[Some(oldstore), Some(storeid.as_str())],
                bwlimit,
            )?;
            let src_vn = storage.parse_volname(&old).map_err(|e| format!("{e}\n"))?;
            let scfg = storage
                .cfg
                .storage(&storeid)
                .map_err(|e| format!("{e}\n"))?;
            let (default_fmt, valid) = scfg.formats();
            // upstream's resolve_dst_disk_format: the requested or the source format when
            // the target supports it, else the target's default
            let wanted = format.clone().unwrap_or_else(|| src_vn.format.clone());
            let fmt = if valid.contains(&wanted) {
                wanted
            } else {
                default_fmt
            };
            if let Some(f) = format.as_deref().filter(|f| *f != fmt) {
                log(&format!(
                    "format '{f}' is not supported by the target storage '{storeid}' - using '{fmt}' instead"
                ));
            }
            log(&format!("create full clone of drive {disk} ({old})"));
            let size = if disk == "efidisk0" {
                crate::ovmf::efivars_size(&conf.main)?
            } else {
                storage
                    .volume_size_info(&old)
                    .map_err(|e| format!("{e}\n"))?
                    .size
            };
            let vol = storage
                .vdisk_alloc(&storeid, vmid, Some(&fmt), None, size.div_ceil(1024))
                .map_err(|e| format!("{e}\n"))?;
            newvol = Some(vol.clone());
            log(&format!("allocated target volume '{vol}'"));
            let (src, _, _) = storage.path(&old, None).map_err(|e| format!("{e}\n"))?;
            let (dst, _, _) = storage.path(&vol, None).map_err(|e| format!("{e}\n"))?;
            let mirrored = running(env, vmid) && drive.is_some();
            if mirrored {
                // a running VM: QEMU mirrors onto the new image and switches to it
                let renv = crate::run::RunEnv::new(env.paths.clone(), env.node.clone());
                log(&mirror_start_line(&disk, movelimit));
                crate::run::snapshot::drive_mirror_move(
                    &renv, vmid, &disk, &src, &dst, &fmt, movelimit,
                )
                .map_err(|e| format!("{e}\n"))?;
            } else if disk == "efidisk0" {
                crate::ovmf::copy_efivars(&src, &src_vn.format, &dst, &fmt, size)?;
            } else {
                copy_image(&src, &src_vn.format, &dst, &fmt, movelimit)?;
            }
            let newsize = storage
                .volume_size_info(&vol)
                .map(|i| i.size)
                .unwrap_or(size);
            let value = match drive {
                Some(mut drive) => {
                    drive.props.insert("file".into(), Value::from(vol.clone()));
                    drive.props.insert(
                        "size".into(),
                        json!(pve_common::units::format_size(newsize)),
                    );
                    print_drive(&drive)?
                }
                None => vol.clone(),
            };
            conf.main.values.insert(disk.clone(), value);
            if !delete {
                if let Some(key) =
                    pve_guest_common::snapshot::add_unused_volume(&mut conf.main, &old, 256)
                {
                    log(&format!(
                        "adding source volume '{old}' as '{key}' to config"
                    ));
                }
            }
            file.write(&conf)?;
            // upstream: the agent trims the guest's file systems after a live move
            let agent = crate::qga::parse_agent(conf.main.get("agent"));
            if mirrored && agent.fstrim_cloned_disks {
                let sock = crate::helpers::qga_socket(&env.paths, vmid);
                match crate::qga::command_at(
                    &sock,
                    vmid,
                    "guest-ping",
                    json!({}),
                    Some(std::time::Duration::from_secs(3)),
                ) {
                    Ok(_) => {
                        let _ = crate::qga::command_at(&sock, vmid, "guest-fstrim", json!({}), None);
                    }
                    Err(e) => log(&format!("QEMU Guest Agent is not running - {e}")),
                }
            }
            Ok(())
        });
        match res {
            Ok(()) => {
                if delete {
                    log(&format!(
                        "removing source volume '{old_volid}' after successful copy"
                    ));
                    if let Err(e) = storage.vdisk_free(&old_volid) {
                        log(&format!("{e}"));
                    }
                }
                Ok(())
            }
            Err(e) => {
                if let Some(v) = newvol {
                    if let Err(fe) = storage.vdisk_free(&v) {
                        log(&format!("{fe}"));
                    }
                }
                Err(format!("storage migration failed: {e}"))
            }
        }
    })
}

pub(super) fn template(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let disk = p.str("disk");
    let file = conf_file(env, vmid);
    let conf = file.load().map_err(err)?;
    check_lock("VM", &conf.main).map_err(err)?;
    if conf.main.get("template") == Some("1") && disk.is_none() {
        return Err(err("you can't convert a template to a template\n"));
    }
    if running(env, vmid) && disk.is_none() {
        return Err(err("you can't convert a VM to template if VM is running\n"));
    }
    start(env, "qmtemplate", vmid, move |env, log| {
        let file = conf_file(env, vmid);
        file.lock(|| {
            let mut conf = file.load()?;
            check_lock("VM", &conf.main)?;
            let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
            conf.main.values.insert("lock".into(), "template".into());
            file.write(&conf)?;
            let result = (|| {
                for (key, volid) in section_volumes(&conf.main, false) {
                    if disk.as_ref().is_some_and(|d| d != &key) {
                        continue;
                    }
                    let vn = storage
                        .parse_volname(&volid)
                        .map_err(|e| format!("{e}\n"))?;
                    if vn.is_base {
                        continue;
                    }
                    log(&format!("create base image for {key}: {volid}"));
                    let base = storage
                        .vdisk_create_base(&volid)
                        .map_err(|e| format!("{e}\n"))?;
                    let mut d = Drive::parse(&key, conf.main.get(&key).unwrap_or_default())?;
                    d.props.insert("file".into(), json!(base));
                    conf.main.values.insert(key.clone(), print_drive(&d)?);
                    let mut saved = conf.clone();
                    saved.main.values.insert("lock".into(), "template".into());
                    file.write(&saved)?;
                }
                Ok::<(), String>(())
            })();
            conf.main.values.remove("lock");
            if result.is_ok() && disk.is_none() {
                conf.main.values.insert("template".into(), "1".into());
            }
            file.write(&conf)?;
            result
        })
    })
}

struct ClonePlan {
    newconf: ConfigSection,
    /// key → (drive, full copy)
    drives: BTreeMap<String, (Drive, bool)>,
    oldname: Option<String>,
    /// The section the clone is made from (EFI vars size).
    source: ConfigSection,
}

fn plan_clone(
    env: &RpcEnv,
    conf: &GuestConfig,
    snapname: Option<&str>,
    full: Option<bool>,
    storage_param: Option<&str>,
    format: Option<&str>,
) -> Result<ClonePlan, String> {
    check_lock("VM", &conf.main)?;
    if let Some(s) = snapname {
        if !conf.snapshots.contains_key(s) {
            return Err(format!("snapshot '{s}' does not exist\n"));
        }
    }
    let template = conf.main.get("template") == Some("1");
    let full = full.unwrap_or(!template);
    if storage_param.is_some() && !full {
        return Err("parameter 'storage' not allowed for linked clones\n".into());
    }
    if format.is_some() && !full {
        return Err("parameter 'format' not allowed for linked clones\n".into());
    }
    let old = match snapname {
        Some(s) => &conf.snapshots[s],
        None => &conf.main,
    };
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let mut plan = ClonePlan {
        newconf: ConfigSection::default(),
        drives: BTreeMap::new(),
        oldname: old.get("name").map(str::to_string),
        source: old.clone(),
    };
    plan.newconf.description = old.description.clone();
    for (opt, value) in &old.values {
        if matches!(
            opt.as_str(),
            "parent"
                | "snaptime"
                | "vmstate"
                | "snapstate"
                | "runningcpu"
                | "runningmachine"
                | "running-nets-host-mtu"
        ) || is_unused(opt)
        {
            continue;
        }
        if opt
            .strip_prefix("net")
            .is_some_and(|n| n.parse::<u32>().is_ok())
        {
            let mut net = pve_common::schema::property_string::parse_named_property_string(
                "pve-qm-net",
                value,
            )?;
            net.remove("macaddr");
            let text = pve_common::schema::property_string::print_named_property_string(
                &net,
                "pve-qm-net",
            )?;
            plan.newconf
                .values
                .insert(opt.clone(), add_random_mac(env, &text)?);
        } else if parse_drive_name(opt).is_some() {
            let drive = Drive::parse(opt, value)?;
            if drive.is_cdrom() {
                plan.newconf.values.insert(opt.clone(), value.clone());
                continue;
            }
            let volid = drive.file();
            let mut msg = "clone feature is not supported for".to_string();
            if snapname.is_some() {
                msg.push_str(" a snapshot of");
            }
            msg.push_str(&format!(" '{volid}' ({opt})"));
            let vn = storage.parse_volname(&volid).ok();
            let full_this = full || opt == "tpmstate0";
            if full_this {
                if vn.is_none() || (snapname.is_some() && !volume_can_snapshot(&storage, &volid)) {
                    return Err(format!("Full {msg}\n"));
                }
            } else if !vn.as_ref().is_some_and(|v| v.is_base) || snapname.is_some() {
                return Err(format!("Linked {msg}\n"));
            }
            plan.drives.insert(opt.clone(), (drive, full_this));
        } else {
            plan.newconf.values.insert(opt.clone(), value.clone());
        }
    }
    Ok(plan)
}

pub(super) fn clone(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let newid = p
        .i64("newid")
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| {
            ApiError::parameter("newid", "property is missing and it is not optional")
        })?;
    let snapname = p.str("snapname");
    let storage_param = p.str("storage");
    let format = p.str("format");
    let full = p.bool("full");
    let bwlimit = p.i64("bwlimit");
    let name = p.str("name");
    let description = p.str("description");
    if let Some(t) = p
        .str("target")
        .filter(|t| t != &env.node && t != "localhost")
    {
        return Err(err(format!(
            "can't clone VM to node '{t}' (not supported yet)\n"
        )));
    }
    if let Some(s) = &storage_param {
        let st = super::storage(env)?;
        let scfg = st.cfg.storage(s).map_err(|e| err(format!("{e}\n")))?;
        if !scfg.has_content(pve_storage::Vtype::Images) {
            return Err(ApiError::parameter(
                "storage",
                format!("storage '{s}' does not support vm images"),
            ));
        }
    }
    let newfile = conf_file(env, newid);
    let early = {
        let (newfile, snapname, storage_param, format) = (
            newfile.clone(),
            snapname.clone(),
            storage_param.clone(),
            format.clone(),
        );
        move |env: &RpcEnv| -> Result<ClonePlan, String> {
            let conf = conf_file(env, vmid).load()?;
            // a running VM's disks are copied by QEMU itself (drive-mirror in do_clone)
            let plan = plan_clone(
                env,
                &conf,
                snapname.as_deref(),
                full,
                storage_param.as_deref(),
                format.as_deref(),
            )?;
            if newfile.exists() {
                return Err(format!(
                    "unable to create VM {newid}: config file already exists\n"
                ));
            }
            Ok(plan)
        }
    };
    early(env).map_err(err)?;
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "qmclone", Some(&vmid.to_string()), move |task| {
            let log = |l: &str| task.log(l);
            let env = &wenv;
            let src = conf_file(env, vmid);
            src.lock_timeout(std::time::Duration::from_secs(1), || {
                newfile.lock_timeout(std::time::Duration::from_secs(1), || {
                    let plan = early(env)?;
                    do_clone(
                        env,
                        vmid,
                        newid,
                        plan,
                        &CloneOpts {
                            snapname: snapname.clone(),
                            storage: storage_param.clone(),
                            format: format.clone(),
                            name: name.clone(),
                            description: description.clone(),
                            bwlimit,
                        },
                        &log,
                    )
                })
            })
            .map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
        })
        .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

struct CloneOpts {
    snapname: Option<String>,
    storage: Option<String>,
    format: Option<String>,
    name: Option<String>,
    description: Option<String>,
    /// The caller's `bwlimit` override (KiB/s).
    bwlimit: Option<i64>,
}

fn do_clone(
    env: &RpcEnv,
    vmid: u32,
    newid: u32,
    plan: ClonePlan,
    opts: &CloneOpts,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    log(&format!("creating a clone of VM {vmid} with ID {newid}"));
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let newfile = conf_file(env, newid);
    let mut newconf = GuestConfig::default();
    newconf.main = plan.newconf;
    let smbios = newconf.main.get("smbios1").unwrap_or_default().to_string();
    let mut parts: Vec<String> = smbios
        .split(',')
        .filter(|p| !p.is_empty() && !p.starts_with("uuid="))
        .map(str::to_string)
        .collect();
    parts.insert(0, format!("uuid={}", generate_uuid()));
    newconf
        .main
        .values
        .insert("smbios1".into(), parts.join(","));
    if newconf.main.get("vmgenid").is_some() {
        newconf
            .main
            .values
            .insert("vmgenid".into(), generate_uuid());
    }
    newconf.main.values.remove("template");
    let name = opts.name.clone().unwrap_or_else(|| {
        format!(
            "Copy-of-VM-{}",
            plan.oldname.clone().unwrap_or_else(|| vmid.to_string())
        )
    });
    newconf.main.values.insert("name".into(), name);
    if let Some(d) = &opts.description {
        newconf.main.description = Some(d.clone());
    }
    newconf.main.values.insert("lock".into(), "clone".into());
    newfile.write(&newconf)?;
    let mut created: Vec<String> = Vec::new();
    let result = (|| {
        for (opt, (mut drive, full)) in plan.drives {
            let volid = drive.file();
            let newvol = if full {
                let (sid, _) = pve_storage::volume::split_volume_id(&volid).ok_or_else(|| {
                    format!("Full clone feature is not supported for '{volid}'\n")
                })?;
                let target = opts.storage.clone().unwrap_or_else(|| sid.to_string());
                let src_vn = storage
                    .parse_volname(&volid)
                    .map_err(|e| format!("{e}\n"))?;
                let scfg = storage.cfg.storage(&target).map_err(|e| format!("{e}\n"))?;
                let (default_fmt, valid) = scfg.formats();
                let fmt = opts
                    .format
                    .clone()
                    .or_else(|| {
                        valid
                            .contains(&src_vn.format)
                            .then(|| src_vn.format.clone())
                    })
                    .unwrap_or(default_fmt);
                let size = storage
                    .volume_size_info(&volid)
                    .map_err(|e| format!("{e}\n"))?
                    .size;
                let size = if opt == "efidisk0" {
                    crate::ovmf::efivars_size(&plan.source)?
                } else {
                    size
                };
                // upstream's clone class: the source storage and the target storage
                let clonelimit = super::bwlimit::resolve(
                    env,
                    "clone",
                    &[Some(sid), opts.storage.as_deref()],
                    opts.bwlimit,
                )?;
                log(&format!("create full clone of drive {opt} ({volid})"));
                let newvol = storage
                    .vdisk_alloc(&target, newid, Some(&fmt), None, size.div_ceil(1024))
                    .map_err(|e| format!("{e}\n"))?;
                created.push(newvol.clone());
                let (src, _, _) = storage
                    .path(&volid, opts.snapname.as_deref())
                    .map_err(|e| format!("{e}\n"))?;
                let (dst, _, _) = storage.path(&newvol, None).map_err(|e| format!("{e}\n"))?;
                let src_text = match &opts.snapname {
                    // qcow2 internal snapshots are read through qemu-img's snapshot syntax.
                    Some(s) if src_vn.format == "qcow2" => std::path::PathBuf::from(format!(
                        "snapshot.name={s},file.filename={}",
                        src.display()
                    )),
                    _ => src,
                };
                let live = opts.snapname.is_none()
                    && crate::helpers::vm_running_locally(&env.paths, vmid).is_some();
                if live {
                    // a running source VM: QEMU copies the disk it has open
                    log(&format!("drive mirror of {opt} into {newvol}"));
                    log(&mirror_start_line(&opt, clonelimit));
                    let renv = crate::run::RunEnv::new(env.paths.clone(), env.node.clone());
                    let lines = crate::run::snapshot::drive_mirror_copy(
                        &renv,
                        vmid,
                        &opt,
                        &src_text,
                        &dst,
                        &fmt,
                        clonelimit,
                        plan.source.get("agent"),
                    )
                    .map_err(|e| format!("{e}\n"))?;
                    for l in lines {
                        log(&l);
                    }
                } else if opts.snapname.is_some() && src_vn.format == "qcow2" {
                    let mut cmd = std::process::Command::new("qemu-img");
                    cmd.args(["convert", "-p", "-n"]);
                    if let Some(l) = clonelimit {
                        cmd.args(["-r", &format!("{l}K")]);
                    }
                    let out = cmd
                        .args(["-O", &fmt, "--image-opts"])
                        .arg(format!("driver=qcow2,{}", src_text.display()))
                        .arg(&dst)
                        .output()
                        .map_err(|e| format!("qemu-img convert failed: {e}\n"))?;
                    if !out.status.success() {
                        return Err(format!(
                            "copy failed: {}\n",
                            String::from_utf8_lossy(&out.stderr).trim()
                        ));
                    }
                } else if opt == "efidisk0" {
                    crate::ovmf::copy_efivars(&src_text, &src_vn.format, &dst, &fmt, size)?;
                } else {
                    copy_image(&src_text, &src_vn.format, &dst, &fmt, clonelimit)?;
                }
                drive
                    .props
                    .insert("size".into(), json!(pve_common::units::format_size(size)));
                newvol
            } else {
                log(&format!("create linked clone of drive {opt} ({volid})"));
                let newvol = storage
                    .vdisk_clone(&volid, newid)
                    .map_err(|e| format!("{e}\n"))?;
                created.push(newvol.clone());
                newvol
            };
            drive.props.insert("file".into(), Value::from(newvol));
            newconf
                .main
                .values
                .insert(opt.clone(), print_drive(&drive)?);
            newfile.write(&newconf)?;
        }
        newconf.main.values.remove("lock");
        newfile.write(&newconf)
    })();
    if let Err(e) = result {
        for v in &created {
            if let Err(fe) = storage.vdisk_free(v) {
                log(&format!("{fe}"));
            }
        }
        let _ = newfile.remove();
        return Err(format!("clone failed: {e}"));
    }
    Ok(())
}

pub(super) fn feature(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let feature = p.required_str("feature")?;
    let snapname = p.str("snapname");
    let conf = conf_file(env, vmid).load().map_err(err)?;
    let section = match &snapname {
        Some(s) => conf
            .snapshots
            .get(s)
            .ok_or_else(|| err(format!("snapshot '{s}' does not exist\n")))?,
        None => &conf.main,
    };
    let storage = super::storage(env)?;
    let vols = section_volumes(section, false);
    let has = vols.iter().all(|(_, v)| match feature.as_str() {
        "snapshot" => volume_can_snapshot(&storage, v),
        "clone" => storage
            .parse_volname(v)
            .is_ok_and(|vn| vn.is_base || volume_can_snapshot(&storage, v)),
        _ => storage.parse_volname(v).is_ok(),
    });
    let shared = vols.iter().all(|(_, v)| {
        pve_storage::volume::split_volume_id(v)
            .and_then(|(sid, _)| storage.cfg.storage(sid).ok())
            .is_some_and(|s| s.shared)
    });
    // Nodes other than this one that see every storage the VM uses (shared ones).
    let nodes: Vec<String> = if shared && !vols.is_empty() {
        std::fs::read_dir(pve_cluster::cfs::Cfs::new(&env.paths).path("nodes"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != &env.node)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    Ok(json!({"hasFeature": u8::from(has), "nodes": nodes}).into())
}

/// The checks resize and move_disk share, in upstream's order and words: the config
/// digest, the lock (unless `skiplock`), the drive `disk` with a volume that is not a
/// CD-ROM (`action` names the refused operation). Returns the drive and its volume.
fn disk_to_change(
    conf: &GuestConfig,
    digest: Option<&str>,
    skiplock: bool,
    disk: &str,
    action: &str,
) -> Result<(Drive, String), String> {
    if let Some(d) = digest.filter(|d| !d.is_empty()) {
        if d != conf.digest {
            return Err("checksum mismatch (file change by other user?)\n".into());
        }
    }
    if !skiplock {
        check_lock("VM", &conf.main)?;
    }
    let value = conf
        .main
        .get(disk)
        .ok_or_else(|| format!("disk '{disk}' does not exist\n"))?;
    let drive = Drive::parse(disk, value)?;
    let volid = drive.file();
    if volid.is_empty() {
        return Err(format!("disk '{disk}' has no associated volume\n"));
    }
    if drive.is_cdrom() {
        return Err(format!("you can't {action} a cdrom\n"));
    }
    Ok((drive, volid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_sizes() {
        assert_eq!(new_size(1 << 30, "+1G").unwrap(), 2 << 30);
        assert_eq!(new_size(1 << 30, "4G").unwrap(), 4 << 30);
        assert_eq!(new_size(0, "512").unwrap(), 512);
    }
}
