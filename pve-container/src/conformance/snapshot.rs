//! `snapshot`: the snapshot life cycle against the mocks of upstream's
//! `snapshot-test.pm` (see the corpus README).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;
use serde_json::Value;

use crate::config::{parse_ct_config, write_ct_config, CtConfig, CtSection};
use crate::snapshot::{self, SnapshotBackend};

struct Mock {
    vmid: u32,
    file: String,
    mocks: Value,
    volume_mocks: Value,
    running: bool,
    snapshots: BTreeMap<String, String>,
    deletes: BTreeMap<String, String>,
    rollbacks: BTreeMap<String, String>,
}

impl Mock {
    fn flag(&self, name: &str) -> bool {
        self.mocks[name].as_bool().unwrap_or(false)
    }

    fn listed(&self, list: &str, volid: &str) -> bool {
        self.volume_mocks[list]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(volid)))
    }
}

fn record(map: &mut BTreeMap<String, String>, volid: &str, snap: &str) {
    map.entry(volid.to_string())
        .and_modify(|v| {
            v.push(',');
            v.push_str(snap);
        })
        .or_insert_with(|| snap.to_string());
}

impl SnapshotBackend for Mock {
    fn lock_config(&mut self, _vmid: u32) -> Result<Box<dyn std::any::Any>, String> {
        Ok(Box::new(()))
    }
    fn load_config(&mut self, vmid: u32) -> Result<CtConfig, String> {
        if vmid != self.vmid {
            return Err(format!("unexpected config access for {vmid}\n"));
        }
        parse_ct_config(vmid, &self.file, false).map(|p| p.config)
    }
    fn write_config(&mut self, _vmid: u32, config: &CtConfig) -> Result<(), String> {
        let mut config = config.clone();
        for snap in config.snapshots.values_mut() {
            if snap
                .get("snaptime")
                .is_some_and(|t| !t.is_empty() && t != "0")
            {
                snap.set("snaptime", "1234567890");
            }
        }
        self.file = write_ct_config(&config)?;
        Ok(())
    }
    fn has_snapshot_feature(&mut self, _section: &CtSection, _backup_only: bool) -> bool {
        self.flag("has_feature_snapshot")
    }
    fn check_running(&mut self, _vmid: u32) -> bool {
        self.running
    }
    fn stop_kill(&mut self, _vmid: u32) -> Result<(), String> {
        if self.flag("stop_kills_container") {
            self.running = false;
        }
        Ok(())
    }
    fn freeze(&mut self, _vmid: u32) -> Result<(), String> {
        if self.flag("freeze_works") {
            Ok(())
        } else {
            Err("freeze disabled\n".into())
        }
    }
    fn thaw(&mut self, vmid: u32) -> Result<(), String> {
        self.freeze(vmid)
    }
    fn sync_container_namespace(&mut self, _vmid: u32) -> Result<(), String> {
        Ok(())
    }
    fn fsfreeze_mountpoint(&mut self, _vmid: u32, mp: &str, _thaw: bool) -> Result<(), String> {
        Err(format!("unexpected fsfreeze of {mp}\n"))
    }
    fn activate_storage(&mut self, _storeid: &str) -> Result<(), String> {
        if self.flag("activate_storage_works") {
            Ok(())
        } else {
            Err("storage activation failed\n".into())
        }
    }
    fn volume_snapshot_needs_fsfreeze(&mut self, _volid: &str) -> bool {
        self.volume_mocks["volume_snapshot_needs_fsfreeze"]
            .as_bool()
            .unwrap_or(false)
    }
    fn volume_snapshot(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        if !self.listed("volume_snapshot_succeeds_for", volid) {
            return Err("volume snapshot disabled\n".into());
        }
        record(&mut self.snapshots, volid, snap);
        Ok(())
    }
    fn volume_snapshot_delete(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        if !self.listed("volume_snapshot_delete_succeeds_for", volid) {
            return Err("volume snapshot delete disabled\n".into());
        }
        record(&mut self.deletes, volid, snap);
        Ok(())
    }
    fn volume_snapshot_rollback(&mut self, volid: &str, snap: &str) -> Result<(), String> {
        if !self.listed("volume_snapshot_rollback_succeeds_for", volid) {
            return Err("volume snapshot rollback disabled\n".into());
        }
        record(&mut self.rollbacks, volid, snap);
        Ok(())
    }
    fn volume_rollback_is_possible(
        &mut self,
        volid: &str,
        _snap: &str,
        _blockers: &mut Vec<String>,
    ) -> Result<(), String> {
        if self.listed("volume_rollback_is_possible_for", volid) {
            Ok(())
        } else {
            Err("volume_rollback_is_possible failed\n".into())
        }
    }
    fn now(&mut self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
    fn warn(&mut self, _msg: &str) {}
}

fn compare_map(
    what: &str,
    got: &BTreeMap<String, String>,
    want: Option<&Value>,
) -> Result<(), String> {
    let Some(want) = want else { return Ok(()) };
    let want: BTreeMap<String, String> = want
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    if &want == got {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

fn run_case(dir: &Path, volume_mocks: &Value, case: &Value) -> Result<(), String> {
    let s = |k: &str| case[k].as_str().unwrap_or_default().to_string();
    let vmid: u32 = s("vmid").parse().map_err(|_| "bad vmid".to_string())?;
    let input = std::fs::read_to_string(dir.join(s("input_config")))
        .map_err(|e| format!("reading input: {e}"))?;
    let want = std::fs::read_to_string(dir.join(s("expected_config")))
        .map_err(|e| format!("reading expected: {e}"))?;
    let mut mock = Mock {
        vmid,
        file: input,
        mocks: case["mocks"].clone(),
        volume_mocks: volume_mocks.clone(),
        running: case["mocks"]["container_running_at_start"]
            .as_bool()
            .unwrap_or(true),
        snapshots: BTreeMap::new(),
        deletes: BTreeMap::new(),
        rollbacks: BTreeMap::new(),
    };
    let snapname = s("snapname");
    let truthy = |k: &str| case.get(k).is_some_and(pve_common::schema::perl_truthy);
    let comment = case["comment"].as_str();
    let result = match s("op").as_str() {
        "prepare" => {
            snapshot::snapshot_prepare(&mut mock, vmid, &snapname, truthy("save_vmstate"), comment)
                .map(|_| ())
        }
        "commit" => snapshot::snapshot_commit(&mut mock, vmid, &snapname),
        "create" => {
            snapshot::snapshot_create(&mut mock, vmid, &snapname, truthy("save_vmstate"), comment)
        }
        "delete" => snapshot::snapshot_delete(&mut mock, vmid, &snapname, truthy("force")),
        "rollback" => snapshot::snapshot_rollback(&mut mock, vmid, &snapname),
        other => return Err(format!("unknown op {other}")),
    };
    let got_err = result.err().unwrap_or_default();
    let want_err = s("expected_error");
    if got_err != want_err {
        return Err(format!("error {got_err:?}, expected {want_err:?}"));
    }
    compare_map(
        "volume snapshots",
        &mock.snapshots,
        case.get("expected_volume_snapshots"),
    )?;
    compare_map(
        "volume snapshot deletes",
        &mock.deletes,
        case.get("expected_volume_snapshot_deletes"),
    )?;
    compare_map(
        "volume rollbacks",
        &mock.rollbacks,
        case.get("expected_volume_rollbacks"),
    )?;
    if mock.file != want {
        return Err(format!("config:\n{}\nexpected:\n{want}", mock.file));
    }
    Ok(())
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let path = dir.join("cases.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let data: Value = serde_json::from_str(&text)?;
    let volume_mocks = data["volume_mocks"].clone();
    let mut out = Vec::new();
    for case in data["cases"].as_array().into_iter().flatten() {
        let name = case["name"].as_str().unwrap_or("?").to_string();
        out.push(CaseOutcome {
            name,
            result: run_case(dir, &volume_mocks, case),
        });
    }
    Ok(out)
}
