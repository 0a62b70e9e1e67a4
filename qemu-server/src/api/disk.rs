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
use super::{conf_file, err, running, vmid};

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
    let vmid = vmid(&p)?;
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

/// `POST …/move_disk` to another storage of the same VM (upstream's `move_vm_disk`):
/// the volume is copied into a new one on the target storage (`qemu-img convert`), the
/// drive points at the copy, the old volume becomes `unusedN` or is freed (`delete`).
/// A running VM's disk is mirrored by QEMU (`drive-mirror`) and switched over live.
pub(super) fn move_disk(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let disk = p.required_str("disk")?;
    if p.i64("target-vmid").is_some_and(|t| t != i64::from(vmid))
        || p.str("target-disk").is_some_and(|t| t != disk)
    {
        return Err(err(
            "moving a disk to another VM is not implemented on this node yet\n",
        ));
    }
    let Some(storeid) = p.str("storage") else {
        return Err(ApiError::parameter(
            "storage",
            "property is missing and it is not optional",
        ));
    };
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
        move |env: &RpcEnv, conf: &GuestConfig| -> Result<Drive, String> {
            let (drive, old) = disk_to_change(conf, digest.as_deref(), false, &disk, "move")?;
            let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
            let (oldstore, _) = pve_storage::volume::split_volume_id(&old)
                .ok_or_else(|| format!("unable to parse volume ID '{old}'\n"))?;
            let oldfmt = storage.parse_volname(&old).ok().map(|v| v.format);
            if oldstore == storeid && (format.is_none() || oldfmt.is_none() || oldfmt == format) {
                return Err("you can't move to the same storage with same format\n".into());
            }
            storage
                .cfg
                .storage(&storeid)
                .map_err(|_| format!("storage '{storeid}' does not exist\n"))?;
            Ok(drive)
        }
    };
    let conf = conf_file(env, vmid).load().map_err(err)?;
    check(env, &conf).map_err(err)?;
    start(env, "qmmove", vmid, move |env, log| {
        let file = conf_file(env, vmid);
        let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
        let mut newvol: Option<String> = None;
        let mut old_volid = String::new();
        let res = file.lock(|| {
            let mut conf = file.load()?;
            let mut drive = check(env, &conf)?;
            let old = drive.file();
            old_volid = old.clone();
            if conf
                .snapshots
                .values()
                .any(|s| section_volumes(s, false).iter().any(|(_, v)| *v == old))
            {
                log("moving disk with snapshots, snapshots will not be moved!");
            }
            let src_vn = storage.parse_volname(&old).map_err(|e| format!("{e}\n"))?;
            let scfg = storage
                .cfg
                .storage(&storeid)
                .map_err(|e| format!("{e}\n"))?;
            let (default_fmt, valid) = scfg.formats();
            // upstream's resolve_dst_disk_format: the requested or the source format when
            // the target supports it, else the target's default
            let fmt = format.clone().unwrap_or_else(|| src_vn.format.clone());
            let fmt = if valid.contains(&fmt) {
                fmt
            } else {
                default_fmt
            };
            let size = storage
                .volume_size_info(&old)
                .map_err(|e| format!("{e}\n"))?
                .size;
            let vol = storage
                .vdisk_alloc(&storeid, vmid, Some(&fmt), None, size.div_ceil(1024))
                .map_err(|e| format!("{e}\n"))?;
            newvol = Some(vol.clone());
            log(&format!("moving disk '{disk}' ({old}) to '{vol}'"));
            let (src, _, _) = storage.path(&old, None).map_err(|e| format!("{e}\n"))?;
            let (dst, _, _) = storage.path(&vol, None).map_err(|e| format!("{e}\n"))?;
            if running(env, vmid) {
                // a running VM: QEMU mirrors onto the new image and switches to it
                let renv = crate::run::RunEnv::new(env.paths.clone(), env.node.clone());
                crate::run::snapshot::drive_mirror_move(&renv, vmid, &disk, &src, &dst, &fmt)
                    .map_err(|e| format!("{e}\n"))?;
            } else {
                copy_image(&src, &src_vn.format, &dst, &fmt)?;
            }
            let newsize = storage
                .volume_size_info(&vol)
                .map(|i| i.size)
                .unwrap_or(size);
            drive.props.insert("file".into(), Value::from(vol.clone()));
            drive.props.insert(
                "size".into(),
                json!(pve_common::units::format_size(newsize)),
            );
            conf.main.values.insert(disk.clone(), print_drive(&drive)?);
            let in_snapshots = conf
                .snapshots
                .values()
                .any(|s| section_volumes(s, false).iter().any(|(_, v)| *v == old));
            if !delete || in_snapshots {
                if delete {
                    log(&format!(
                        "volume {old} still has snapshots, can't delete it"
                    ));
                }
                pve_guest_common::snapshot::add_unused_volume(&mut conf.main, &old, 256);
            }
            file.write(&conf)?;
            Ok(delete && !in_snapshots)
        });
        match res {
            Ok(free_old) => {
                if free_old {
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
    let vmid = vmid(&p)?;
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

fn is_unused(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

struct ClonePlan {
    newconf: ConfigSection,
    /// key → (drive, full copy)
    drives: BTreeMap<String, (Drive, bool)>,
    oldname: Option<String>,
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
    let vmid = vmid(&p)?;
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
                    let renv = crate::run::RunEnv::new(env.paths.clone(), env.node.clone());
                    crate::run::snapshot::drive_mirror_copy(
                        &renv, vmid, &opt, &src_text, &dst, &fmt,
                    )
                    .map_err(|e| format!("{e}\n"))?;
                } else if opts.snapname.is_some() && src_vn.format == "qcow2" {
                    let out = std::process::Command::new("qemu-img")
                        .args(["convert", "-p", "-n", "-O", &fmt, "--image-opts"])
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
                } else {
                    copy_image(&src_text, &src_vn.format, &dst, &fmt)?;
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
    let vmid = vmid(&p)?;
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
