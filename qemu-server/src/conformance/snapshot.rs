//! `snapshot`: prepare / commit / create / delete / rollback on a copy of `input/`, with
//! the environment of the corpus README as a fake guest (run state, guest agent, VM
//! state saving, volume capabilities); the written config must equal
//! `expected/<op>/qemu-server/<vmid>.conf`, the error text and the volume calls too.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;
use pve_guest_common::snapshot::{
    snapshot_commit, snapshot_create, snapshot_delete, snapshot_prepare, snapshot_rollback,
    SnapshotGuest,
};
use pve_guest_common::{ConfigSection, GuestConfig};
use serde_json::Value;

use crate::config::{parse_vm_config, write_vm_config};
use crate::disks::section_volumes;

const STATE_VOLUME: &str = "somestorage:state-volume";

struct Env {
    has_feature: bool,
    guest_freeze_ok: bool,
    save_vmstate_ok: bool,
    activate_storage_ok: bool,
    savevm_start_ok: bool,
    qmp_guest_ping_ok: bool,
    stop_ok: bool,
    volume_caps_enabled: bool,
}

struct FakeVm<'a> {
    file: PathBuf,
    vmid: u32,
    env: Env,
    caps: &'a Value,
    running: Cell<bool>,
    calls: RefCell<BTreeMap<&'static str, BTreeMap<String, Vec<String>>>>,
    old_machine: RefCell<Option<String>>,
}

impl FakeVm<'_> {
    fn cap(&self, kind: &str, volid: &str, err: &str) -> Result<(), String> {
        if !self.env.volume_caps_enabled {
            return Ok(());
        }
        let ok = self.caps[kind]
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(volid)));
        if ok {
            Ok(())
        } else {
            Err(err.to_string())
        }
    }

    fn record(&self, kind: &'static str, volid: &str, snap: &str) {
        self.calls
            .borrow_mut()
            .entry(kind)
            .or_default()
            .entry(volid.to_string())
            .or_default()
            .push(snap.to_string());
    }

    fn agent_enabled(conf: &GuestConfig) -> bool {
        conf.main
            .get("agent")
            .is_some_and(|a| a.split(',').any(|p| p == "1" || p == "enabled=1"))
    }
}

impl SnapshotGuest for FakeVm<'_> {
    fn guest_type(&self) -> &'static str {
        "VM"
    }
    fn vmid(&self) -> u32 {
        self.vmid
    }
    fn load_config(&self) -> Result<GuestConfig, String> {
        let text = std::fs::read_to_string(&self.file)
            .map_err(|e| format!("unable to read {}: {e}\n", self.file.display()))?;
        Ok(parse_vm_config(self.vmid, &text, false)?.config)
    }
    fn write_config(&self, conf: &GuestConfig) -> Result<(), String> {
        let mut conf = conf.clone();
        for snap in conf.snapshots.values_mut() {
            if snap.values.contains_key("snaptime") {
                snap.values.insert("snaptime".into(), "1234567890".into());
            }
        }
        std::fs::write(&self.file, write_vm_config(self.vmid, &conf)).map_err(|e| e.to_string())
    }
    fn lock_config(&self, f: &mut dyn FnMut() -> Result<(), String>) -> Result<(), String> {
        f()
    }
    fn volumes(&self, section: &ConfigSection) -> Vec<(String, String)> {
        section_volumes(section, false)
    }
    fn has_snapshot_feature(&self, _conf: &GuestConfig, _snapname: &str) -> bool {
        self.env.has_feature
    }
    fn is_running(&self) -> bool {
        self.running.get()
    }
    fn activate_storages(&self, section: &ConfigSection) -> Result<(), String> {
        let any = !section_volumes(section, false).is_empty() || section.get("vmstate").is_some();
        if any && !self.env.activate_storage_ok {
            return Err("storage activation failed\n".into());
        }
        Ok(())
    }
    fn save_vmstate(
        &self,
        _conf: &GuestConfig,
        _snapname: &str,
        snap: &mut ConfigSection,
    ) -> Result<(), String> {
        if !self.env.save_vmstate_ok {
            return Err("save_vmstate failed\n".into());
        }
        snap.values.insert("vmstate".into(), STATE_VOLUME.into());
        snap.values.insert("runningmachine".into(), "q35".into());
        Ok(())
    }
    fn delete_vmstate(&self, snap: &ConfigSection, force: bool) -> Result<(), String> {
        if snap.get("vmstate") == Some(STATE_VOLUME) {
            return Ok(());
        }
        let err = format!("unexpected state volume {:?}\n", snap.get("vmstate"));
        if force {
            Ok(())
        } else {
            Err(err)
        }
    }
    fn freeze_needed(&self, conf: &GuestConfig, vmstate: bool) -> (bool, bool) {
        let running = self.running.get();
        if vmstate {
            (running, false)
        } else {
            (
                running,
                running && Self::agent_enabled(conf) && self.env.qmp_guest_ping_ok,
            )
        }
    }
    fn freeze(&self, _thaw: bool) {
        // failures of guest-fsfreeze-* are only warnings upstream
        let _ = self.env.guest_freeze_ok;
    }
    fn create_vol_snapshots_hook(&self, _snap: &ConfigSection, when: &str) -> Result<(), String> {
        if self.running.get() && when == "before" && !self.env.savevm_start_ok {
            return Err("savevm-start disabled\n".into());
        }
        Ok(())
    }
    fn volume_snapshot(&self, _key: &str, volid: &str, snapname: &str) -> Result<(), String> {
        self.cap("snapshot", volid, "volume snapshot disabled\n")?;
        self.record("snapshot", volid, snapname);
        Ok(())
    }
    fn volume_snapshot_delete(
        &self,
        _key: &str,
        volid: &str,
        snapname: &str,
    ) -> Result<(), String> {
        self.cap(
            "snapshot_delete",
            volid,
            "volume snapshot delete disabled\n",
        )?;
        self.record("delete", volid, snapname);
        Ok(())
    }
    fn volume_rollback_is_possible(&self, volid: &str, _snapname: &str) -> Result<(), String> {
        self.cap(
            "rollback_possible",
            volid,
            "volume_rollback_is_possible failed\n",
        )
    }
    fn volume_snapshot_rollback(&self, volid: &str, snapname: &str) -> Result<(), String> {
        self.cap("rollback", volid, "volume snapshot rollback disabled\n")?;
        self.record("rollback", volid, snapname);
        Ok(())
    }
    fn rollback_stop(&self) -> Result<(), String> {
        if self.env.stop_ok {
            self.running.set(false);
        }
        Ok(())
    }
    fn rollback_hook(&self, conf: &mut GuestConfig, snap: &ConfigSection, prepare: bool) {
        crate::api::rollback_machine_hook(conf, snap, prepare, &self.old_machine, || {
            "00000000-0000-0000-0000-000000000000".into()
        });
    }
    fn warn(&self, _msg: &str) {}
}

fn env_of(case: &Value) -> Env {
    let e = &case["env"];
    let b = |k: &str| e[k].as_bool().unwrap_or(false);
    Env {
        has_feature: b("has_feature"),
        guest_freeze_ok: b("guest_freeze_ok"),
        save_vmstate_ok: b("save_vmstate_ok"),
        activate_storage_ok: b("activate_storage_ok"),
        savevm_start_ok: b("savevm_start_ok"),
        qmp_guest_ping_ok: b("qmp_guest_ping_ok"),
        stop_ok: b("stop_ok"),
        volume_caps_enabled: b("volume_caps_enabled"),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn calls_json(calls: Option<&BTreeMap<String, Vec<String>>>) -> Value {
    let map: serde_json::Map<String, Value> = calls
        .map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), Value::from(v.join(","))))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(map)
}

fn check_case(dir: &Path, work: &Path, caps: &Value, case: &Value) -> Result<(), String> {
    let op = case["op"].as_str().ok_or("case has no op")?;
    let vmid = case["vmid"].as_u64().ok_or("case has no vmid")? as u32;
    let snapname = case["snapname"].as_str().unwrap_or_default();
    let env = env_of(case);
    let running = op == "rollback" || case["env"]["vm_running"].as_bool().unwrap_or(false);
    let vm = FakeVm {
        file: work
            .join(op)
            .join("qemu-server")
            .join(format!("{vmid}.conf")),
        vmid,
        env,
        caps,
        running: Cell::new(running),
        calls: RefCell::new(BTreeMap::new()),
        old_machine: RefCell::new(None),
    };
    let save_vmstate = case["save_vmstate"].as_bool().unwrap_or(false);
    let comment = case["comment"].as_str();
    let force = case["force"].as_bool().unwrap_or(false);
    let result = match op {
        "prepare" => snapshot_prepare(&vm, snapname, save_vmstate, comment).map(|_| ()),
        "commit" => snapshot_commit(&vm, snapname),
        "create" => snapshot_create(&vm, snapname, save_vmstate, comment),
        "delete" => snapshot_delete(&vm, snapname, force),
        "rollback" => snapshot_rollback(&vm, snapname),
        other => return Err(format!("unknown op {other}")),
    };
    let got_err = result.err().unwrap_or_default();
    let want_err = case["expect_error"].as_str().unwrap_or_default();
    let mut problems = Vec::new();
    if got_err != want_err {
        problems.push(format!("error {got_err:?}, expected {want_err:?}"));
    }
    let calls = vm.calls.borrow();
    for (field, kind) in [
        ("expect_volume_snapshot", "snapshot"),
        ("expect_volume_snapshot_delete", "delete"),
        ("expect_volume_snapshot_rollback", "rollback"),
    ] {
        if let Some(want) = case.get(field) {
            let got = calls_json(calls.get(kind));
            if &got != want {
                problems.push(format!("{field}: got {got}, expected {want}"));
            }
        }
    }
    let expected = dir
        .join("expected")
        .join(op)
        .join("qemu-server")
        .join(format!("{vmid}.conf"));
    let want = std::fs::read_to_string(&expected).map_err(|e| format!("{e}"))?;
    let got = std::fs::read_to_string(&vm.file).unwrap_or_default();
    if got != want {
        problems.push(format!("config\n{got}\nexpected\n{want}"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let cases: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("cases.json")).context("reading cases.json")?,
    )?;
    let work = std::env::temp_dir().join(format!(
        "qs-snapshot-suite-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&dir.join("input"), &work).context("copying input")?;
    let caps = &cases["volume_capabilities"];
    let mut out = Vec::new();
    for case in cases["cases"].as_array().into_iter().flatten() {
        let name = case["case"].as_str().unwrap_or("?").to_string();
        let result = check_case(dir, &work, caps, case);
        out.push(CaseOutcome { name, result });
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_corpus() {
        super::super::assert_suite_passes("snapshot");
    }
}
