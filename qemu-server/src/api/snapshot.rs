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

use super::{conf_file, err, running};

/// A VM as the snapshot machinery sees it: its config file and its volumes on storage.
/// A stopped VM gets storage-level volume snapshots; a running one is paused, its qcow2
/// disks get internal snapshots through QMP, the RAM state (with `vmstate`) goes into a
/// state volume `vm-VMID-state-NAME`, and it is resumed (`run::snapshot`).
pub struct VmSnapshots<'a> {
    pub file: VmConfigFile,
    pub storage: pve_storage::Storage,
    pub log: &'a dyn Fn(&str),
    old_machine: std::cell::RefCell<Option<String>>,
    /// The snapshot paused a running VM and resumes it afterwards.
    paused: std::cell::Cell<bool>,
    /// `runningmachine`/`runningcpu` of the snapshot a rollback starts from.
    force: std::cell::RefCell<(Option<String>, Option<String>)>,
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
        Self::for_file(conf_file(env, vmid), log)
    }

    pub fn for_file(file: VmConfigFile, log: &'a dyn Fn(&str)) -> Result<Self, String> {
        Ok(Self {
            storage: pve_storage::Storage::load(&file.paths).map_err(|e| format!("{e}\n"))?,
            file,
            log,
            old_machine: Default::default(),
            paused: Default::default(),
            force: Default::default(),
        })
    }

    fn running(&self) -> bool {
        crate::helpers::vm_running_locally(&self.file.paths, self.file.vmid).is_some()
    }

    fn qga_socket(&self) -> std::path::PathBuf {
        crate::helpers::qga_socket(&self.file.paths, self.file.vmid)
    }

    fn run_env(&self) -> crate::run::RunEnv {
        crate::run::RunEnv::new(self.file.paths.clone(), self.file.node.clone())
    }

    fn is_qcow2(&self, volid: &str) -> bool {
        self.storage
            .parse_volname(volid)
            .is_ok_and(|v| v.format == "qcow2")
    }

    /// Upstream's `find_vmstate_storage`: `vmstatestorage`, else a shared storage
    /// holding one of the VM's disks, else a local one (file based preferred), else
    /// `local`.
    fn vmstate_storage(&self, conf: &GuestConfig) -> String {
        if let Some(s) = conf.main.get("vmstatestorage") {
            return s.to_string();
        }
        let (mut shared, mut local): (Option<String>, Option<String>) = (None, None);
        for (_, volid) in section_volumes(&conf.main, false) {
            let Some((sid, _)) = pve_storage::volume::split_volume_id(&volid) else {
                continue;
            };
            let Ok(scfg) = self.storage.cfg.storage(sid) else {
                continue;
            };
            let is_shared = scfg
                .raw
                .get("shared")
                .is_some_and(|v| v.as_i64() == Some(1) || v.as_str() == Some("1"));
            let dst = if is_shared { &mut shared } else { &mut local };
            if dst.is_none() || scfg.path.is_some() {
                *dst = Some(sid.to_string());
            }
        }
        shared.or(local).unwrap_or_else(|| "local".to_string())
    }

    fn volume_path(&self, volid: &str) -> Result<std::path::PathBuf, String> {
        self.storage
            .path(volid, None)
            .map(|(p, _, _)| p)
            .map_err(|e| format!("{e}\n"))
    }
}

/// Upstream's `get_current_memory` in MiB (default 2048).
fn current_memory(conf: &GuestConfig) -> u64 {
    conf.main
        .get("memory")
        .and_then(|m| {
            m.split(',')
                .find_map(|p| match p.split_once('=') {
                    Some(("current", v)) => Some(v),
                    Some(_) => None,
                    None => Some(p),
                })
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(2048)
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
    fn save_vmstate(
        &self,
        conf: &GuestConfig,
        snapname: &str,
        snap: &mut ConfigSection,
    ) -> Result<(), String> {
        let env = self.run_env();
        let vmid = self.file.vmid;
        let pid = crate::run::snapshot::running(&env, vmid)
            .ok_or_else(|| format!("VM {vmid} not running\n"))?;
        let target = self.vmstate_storage(conf);
        let scfg = self
            .storage
            .cfg
            .storage(&target)
            .map_err(|_| format!("storage '{target}' does not exist\n"))?;
        // RAM twice plus 500 MiB of device state, as upstream reserves
        let size_mib = current_memory(conf) * 2 + 500;
        let mut name = format!("vm-{vmid}-state-{snapname}");
        if scfg.path.is_some() {
            name.push_str(".raw");
        }
        let machine =
            crate::run::snapshot::current_machine(&env, vmid, pid).map_err(|e| format!("{e}\n"))?;
        let cpu = crate::run::snapshot::current_cpu(pid);
        let volid = self
            .storage
            .vdisk_alloc(&target, vmid, Some("raw"), Some(&name), size_mib * 1024)
            .map_err(|e| format!("{e}\n"))?;
        snap.values.insert("vmstate".into(), volid);
        snap.values.insert("runningmachine".into(), machine);
        if let Some(cpu) = cpu {
            snap.values.insert("runningcpu".into(), cpu);
        }
        Ok(())
    }
    fn delete_vmstate(&self, snap: &ConfigSection, force: bool) -> Result<(), String> {
        let Some(volid) = snap.get("vmstate") else {
            return Ok(());
        };
        match self.storage.vdisk_free(volid) {
            Ok(()) => Ok(()),
            Err(e) if force => {
                self.warn(&format!("{e}"));
                Ok(())
            }
            Err(e) => Err(format!("{e}\n")),
        }
    }
    /// Upstream's `__snapshot_check_freeze_needed`: a running VM without RAM state
    /// freezes when the agent option asks for it and the agent answers (each reason to
    /// skip is logged; a silent agent costs the 3 s ping).
    fn freeze_needed(&self, conf: &GuestConfig, vmstate: bool) -> (bool, bool) {
        let running = self.running();
        let freeze = running
            && !vmstate
            && crate::qga::fs_freeze_applicable_at(
                conf.main.get("agent"),
                &self.qga_socket(),
                self.file.vmid,
                self.log,
            );
        (running, freeze)
    }
    /// Upstream's `__snapshot_freeze`: failures are warnings, the snapshot goes on.
    fn freeze(&self, thaw: bool) {
        let (sock, vmid) = (self.qga_socket(), self.file.vmid);
        if thaw {
            if let Err(e) = crate::qga::fs_thaw_at(&sock, vmid) {
                self.warn(&format!("guest-fsfreeze-thaw problems - {e}"));
            }
        } else if let Err(e) =
            crate::qga::fs_freeze_at(&sock, vmid, std::time::Duration::from_secs(600), self.log)
        {
            self.warn(&e);
        }
    }
    fn create_vol_snapshots_hook(&self, snap: &ConfigSection, when: &str) -> Result<(), String> {
        let env = self.run_env();
        let vmid = self.file.vmid;
        match when {
            // upstream's hook only acts on a running VM
            "before" if self.running() => {
                let paused =
                    crate::run::snapshot::pause(&env, vmid).map_err(|e| format!("{e}\n"))?;
                self.paused.set(paused);
                if let Some(volid) = snap.get("vmstate") {
                    let sid = volid.split(':').next().unwrap_or_default();
                    (self.log)(&format!("saving VM state and RAM using storage '{sid}'"));
                }
                Ok(())
            }
            "after" if self.paused.replace(false) => crate::run::snapshot::resume(&env, vmid)
                .map_err(|e| {
                    let msg = format!("{e}\n");
                    self.warn(&msg);
                    msg
                }),
            _ => Ok(()),
        }
    }
    fn create_vol_snapshots_done(&self, snap: &ConfigSection) -> Result<(), String> {
        let Some(volid) = snap.get("vmstate") else {
            return Ok(());
        };
        let path = self.volume_path(volid)?;
        let start = std::time::Instant::now();
        crate::run::snapshot::save_state(&self.run_env(), self.file.vmid, &path)
            .map_err(|e| format!("{e}\n"))?;
        (self.log)(&format!(
            "completed saving the VM state in {}s, saved {:.2} MiB",
            start.elapsed().as_secs(),
            std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / 1024.0 / 1024.0
        ));
        Ok(())
    }
    fn volume_snapshot(&self, key: &str, volid: &str, snapname: &str) -> Result<(), String> {
        (self.log)(&format!("snapshotting 'drive-{key}' ({volid})"));
        if self.running() && self.is_qcow2(volid) {
            return crate::run::snapshot::drive_snapshot(
                &self.run_env(),
                self.file.vmid,
                key,
                snapname,
            )
            .map_err(|e| format!("{e}\n"));
        }
        self.storage
            .volume_snapshot(volid, snapname)
            .map_err(|e| format!("{e}\n"))
    }
    fn volume_snapshot_delete(&self, key: &str, volid: &str, snapname: &str) -> Result<(), String> {
        // a disk the running QEMU has open: its internal snapshot goes through QMP
        let attached = self.running()
            && self.is_qcow2(volid)
            && self.file.load().is_ok_and(|c| {
                c.main
                    .get(key)
                    .is_some_and(|v| v.split(',').next() == Some(volid))
            });
        if attached {
            return crate::run::snapshot::drive_snapshot_delete(
                &self.run_env(),
                self.file.vmid,
                key,
                snapname,
            )
            .map_err(|e| format!("{e}\n"));
        }
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
        // upstream's vm_stop with a 5 s timeout; the config lock is already held
        if self.running() {
            crate::run::vm_stop_locked(
                &self.run_env(),
                self.file.vmid,
                &crate::run::StopOptions {
                    timeout: Some(5),
                    nocheck: true,
                    ..Default::default()
                },
                &mut |w| self.warn(w),
            )
            .map_err(|e| format!("{e}\n"))?;
        }
        Ok(())
    }
    fn rollback_start(&self, vmstate: &str) -> Result<(), String> {
        let path = self.volume_path(vmstate)?;
        let (forcemachine, forcecpu) = self.force.borrow().clone();
        crate::run::vm_start(
            &self.run_env(),
            self.file.vmid,
            &crate::run::StartOptions {
                statefile: Some(path),
                forcemachine,
                forcecpu,
                ..Default::default()
            },
        )
        .map(drop)
        .map_err(|e| format!("{e}\n"))
    }
    fn rollback_hook(&self, conf: &mut GuestConfig, snap: &ConfigSection, prepare: bool) {
        if !prepare {
            *self.force.borrow_mut() = (
                conf.main.get("runningmachine").map(str::to_string),
                conf.main.get("runningcpu").map(str::to_string),
            );
        }
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
    let vmid = p.vmid()?;
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
    let vmid = p.vmid()?;
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
    let vmid = p.vmid()?;
    let snapname = snapname(&p)?;
    let force = p.bool("force").unwrap_or(false);
    worker(env, "qmdelsnapshot", vmid, move |g| {
        snapshot_delete(g, &snapname, force)
    })
}

pub(super) fn rollback(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = snapname(&p)?;
    if p.bool("start").unwrap_or(false) {
        env.check_privs(&format!("/vms/{vmid}"), &["VM.PowerMgmt"], false)?;
    }
    let start = p.bool("start").unwrap_or(false);
    worker(env, "qmrollback", vmid, move |g| {
        snapshot_rollback(g, &snapname)?;
        if start && !g.running() {
            crate::run::vm_start(&g.run_env(), vmid, &Default::default())
                .map_err(|e| format!("{e}\n"))?;
        }
        Ok(())
    })
}

pub(super) fn cmd_idx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    Ok(json!([{"cmd": "rollback"}, {"cmd": "config"}]).into())
}

pub(super) fn get_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = snapname(&p)?;
    let conf = conf_file(env, vmid).load().map_err(err)?;
    let snap = conf
        .snapshots
        .get(&snapname)
        .ok_or_else(|| err(format!("snapshot '{snapname}' does not exist\n")))?;
    Ok(Value::Object(crate::config_file::section_json(snap)).into())
}

pub(super) fn update_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
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
