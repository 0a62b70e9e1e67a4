//! `…/{vmid}/snapshot`: list, create, delete, rollback and the snapshot config, on the
//! shared state machine of pve-guest-common with storage-level volume snapshots.

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_guest_common::snapshot::{
    check_lock, snapshot_create, snapshot_delete, snapshot_list, snapshot_rollback, SnapshotGuest,
};
use pve_guest_common::{ConfigSection, GuestConfig};
use serde_json::{json, Value};

use crate::config_file::VmConfigFile;
use crate::disks::section_volumes;

use super::{conf_file, err, running, vmid};

/// A VM as the snapshot machinery sees it: its config file and its volumes on storage.
/// Only offline volume snapshots: RAM state and snapshots of running VMs need the
/// runtime.
pub struct VmSnapshots<'a> {
    pub file: VmConfigFile,
    pub storage: pve_storage::Storage,
    pub log: &'a dyn Fn(&str),
    old_machine: std::cell::RefCell<Option<String>>,
}

/// The machine bookkeeping of a rollback (upstream's `__snapshot_rollback_hook`): the
/// current `machine` is remembered in the prepare step; afterwards the `running*` keys
/// are dropped, `machine` goes when the snapshot has RAM state but the config had none,
/// and `vmgenid` gets a new value.
pub fn rollback_machine_hook(
    conf: &mut GuestConfig,
    snap: &ConfigSection,
    prepare: bool,
    old_machine: &std::cell::RefCell<Option<String>>,
    new_uuid: impl Fn() -> String,
) {
    if prepare {
        *old_machine.borrow_mut() = conf.main.get("machine").map(str::to_string);
        return;
    }
    if conf.main.values.remove("runningmachine").is_some() {
        conf.main.values.remove("runningcpu");
    } else if snap.get("vmstate").is_some() && old_machine.borrow().is_none() {
        conf.main.values.remove("machine");
    }
    if conf.main.get("vmgenid").is_some() {
        conf.main.values.insert("vmgenid".into(), new_uuid());
    }
    conf.main.values.remove("running-nets-host-mtu");
}

impl<'a> VmSnapshots<'a> {
    pub fn new(env: &RpcEnv, vmid: u32, log: &'a dyn Fn(&str)) -> Result<Self, String> {
        Ok(Self {
            file: conf_file(env, vmid),
            storage: pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?,
            log,
            old_machine: Default::default(),
        })
    }

    fn running(&self) -> bool {
        crate::helpers::vm_running_locally(&self.file.paths, self.file.vmid).is_some()
    }
}

/// Whether storage-level snapshots work for a volume (qcow2 files, btrfs, …).
pub fn volume_can_snapshot(storage: &pve_storage::Storage, volid: &str) -> bool {
    let Some((sid, _)) = pve_storage::volume::split_volume_id(volid) else {
        return false;
    };
    let Ok(scfg) = storage.cfg.storage(sid) else {
        return false;
    };
    let Ok(vn) = storage.parse_volname(volid) else {
        return false;
    };
    match scfg.storage_type.as_str() {
        "btrfs" | "zfspool" | "lvmthin" | "rbd" => true,
        _ => vn.format == "qcow2",
    }
}

impl SnapshotGuest for VmSnapshots<'_> {
    fn guest_type(&self) -> &'static str {
        "VM"
    }
    fn vmid(&self) -> u32 {
        self.file.vmid
    }
    fn load_config(&self) -> Result<GuestConfig, String> {
        self.file.load()
    }
    fn write_config(&self, conf: &GuestConfig) -> Result<(), String> {
        self.file.write(conf)
    }
    fn lock_config(&self, f: &mut dyn FnMut() -> Result<(), String>) -> Result<(), String> {
        self.file.lock(f)
    }
    fn volumes(&self, section: &ConfigSection) -> Vec<(String, String)> {
        section_volumes(section, false)
    }
    fn has_snapshot_feature(&self, conf: &GuestConfig, _snapname: &str) -> bool {
        section_volumes(&conf.main, false)
            .iter()
            .all(|(_, v)| volume_can_snapshot(&self.storage, v))
    }
    fn is_running(&self) -> bool {
        self.running()
    }
    fn volume_snapshot(&self, key: &str, volid: &str, snapname: &str) -> Result<(), String> {
        if self.running() {
            return Err(format!(
                "VM {} is running - snapshots of running VMs need the QEMU runtime\n",
                self.file.vmid
            ));
        }
        (self.log)(&format!("snapshotting 'drive-{key}' ({volid})"));
        self.storage
            .volume_snapshot(volid, snapname)
            .map_err(|e| format!("{e}\n"))
    }
    fn volume_snapshot_delete(
        &self,
        _key: &str,
        volid: &str,
        snapname: &str,
    ) -> Result<(), String> {
        self.storage
            .volume_snapshot_delete(volid, snapname)
            .map_err(|e| format!("{e}\n"))
    }
    fn volume_rollback_is_possible(&self, volid: &str, _snapname: &str) -> Result<(), String> {
        if volume_can_snapshot(&self.storage, volid) {
            Ok(())
        } else {
            Err(format!("rollback is not possible for volume '{volid}'\n"))
        }
    }
    fn volume_snapshot_rollback(&self, volid: &str, snapname: &str) -> Result<(), String> {
        self.storage
            .volume_snapshot_rollback(volid, snapname)
            .map_err(|e| format!("{e}\n"))
    }
    fn rollback_stop(&self) -> Result<(), String> {
        if self.running() {
            return Err(format!(
                "unable to rollback vm {}: vm is running\n",
                self.file.vmid
            ));
        }
        Ok(())
    }
    fn rollback_hook(&self, conf: &mut GuestConfig, snap: &ConfigSection, prepare: bool) {
        rollback_machine_hook(
            conf,
            snap,
            prepare,
            &self.old_machine,
            super::config::generate_uuid,
        );
    }
    fn warn(&self, msg: &str) {
        (self.log)(msg.trim_end());
    }
}

pub(super) fn list(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let conf = conf_file(env, vmid).load().map_err(err)?;
    let mut out = Vec::new();
    for s in snapshot_list(&conf) {
        let mut item = json!({
            "name": s.name,
            "snaptime": s.snaptime.unwrap_or(0),
            "vmstate": u8::from(s.vmstate),
            "description": s.description,
        });
        if let Some(parent) = s.parent {
            item["parent"] = json!(parent);
        }
        if let Some(state) = conf.snapshots[&s.name].get("snapstate") {
            item["snapstate"] = json!(state);
        }
        out.push(item);
    }
    let mut current = json!({
        "name": "current",
        "digest": conf.digest,
        "running": u8::from(running(env, vmid)),
        "description": "You are here!",
    });
    if let Some(parent) = conf.main.get("parent") {
        current["parent"] = json!(parent);
    }
    out.push(current);
    Ok(Value::Array(out).into())
}

fn snapname(p: &Params) -> Result<String, ApiError> {
    p.required_str("snapname")
}

fn worker(
    env: &RpcEnv,
    kind: &str,
    vmid: u32,
    f: impl FnOnce(&VmSnapshots<'_>) -> Result<(), String> + Send + 'static,
) -> Result<ApiResponse, ApiError> {
    let wenv = env.clone();
    let upid = pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), move |task| {
        let log = |l: &str| task.log(l);
        let guest = VmSnapshots::new(&wenv, vmid, &log).map_err(|e| anyhow::anyhow!("{e}"))?;
        f(&guest).map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

pub(super) fn create(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let snapname = snapname(&p)?;
    if snapname == "current" {
        return Err(err(
            "unable to use snapshot name 'current' (reserved name)\n",
        ));
    }
    if snapname.eq_ignore_ascii_case("pending") {
        return Err(err(
            "unable to use snapshot name 'pending' (reserved name)\n",
        ));
    }
    let vmstate = p.bool("vmstate").unwrap_or(false);
    let description = p.str("description");
    conf_file(env, vmid).load().map_err(err)?;
    worker(env, "qmsnapshot", vmid, move |g| {
        (g.log)(&format!("snapshotting VM {vmid} ({snapname})"));
        snapshot_create(g, &snapname, vmstate, description.as_deref())
    })
}

pub(super) fn delete(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let snapname = snapname(&p)?;
    let force = p.bool("force").unwrap_or(false);
    worker(env, "qmdelsnapshot", vmid, move |g| {
        snapshot_delete(g, &snapname, force)
    })
}

pub(super) fn rollback(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let snapname = snapname(&p)?;
    if p.bool("start").unwrap_or(false) {
        env.check_privs(&format!("/vms/{vmid}"), &["VM.PowerMgmt"], false)?;
    }
    worker(env, "qmrollback", vmid, move |g| {
        snapshot_rollback(g, &snapname)
    })
}

pub(super) fn cmd_idx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    Ok(json!([{"cmd": "rollback"}, {"cmd": "config"}]).into())
}

pub(super) fn get_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let snapname = snapname(&p)?;
    let conf = conf_file(env, vmid).load().map_err(err)?;
    let snap = conf
        .snapshots
        .get(&snapname)
        .ok_or_else(|| err(format!("snapshot '{snapname}' does not exist\n")))?;
    Ok(Value::Object(crate::config_file::section_json(snap)).into())
}

pub(super) fn update_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid(&p)?;
    let snapname = snapname(&p)?;
    let Some(description) = p.str("description") else {
        return Ok(Value::Null.into());
    };
    let file = conf_file(env, vmid);
    file.lock(|| {
        let mut conf = file.load()?;
        check_lock("VM", &conf.main)?;
        let snap = conf
            .snapshots
            .get_mut(&snapname)
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
        snap.description = Some(description.clone());
        file.write(&conf)
    })
    .map_err(err)?;
    Ok(Value::Null.into())
}
