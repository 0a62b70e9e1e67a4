//! `…/{vmid}/snapshot` writes: create (`vzsnapshot`), delete (`vzdelsnapshot`),
//! rollback (`vzrollback`, optionally starting the container) and the snapshot
//! description, on the container snapshot state machine (`crate::snapshot`) with the
//! node's backend (volume snapshots through pve-storage).

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use serde_json::{json, Value};

use super::checks::{check_lock, err};
use super::create::start_container;
use crate::snapshot::{snapshot_create, snapshot_delete, snapshot_rollback};
use crate::snapshot_host::HostSnapshotBackend;
use crate::store::CtConfigStore;

fn worker(
    env: &RpcEnv,
    kind: &str,
    vmid: u32,
    f: impl FnOnce(&RpcEnv, &mut HostSnapshotBackend, &dyn Fn(&str)) -> Result<(), String>
        + Send
        + 'static,
) -> Result<ApiResponse, ApiError> {
    let wenv = env.clone();
    let upid = pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), move |task| {
        let warn = |l: &str| task.warn(l.trim_end());
        let mut backend = HostSnapshotBackend::new(&wenv.paths, &wenv.node);
        f(&wenv, &mut backend, &warn).map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

pub(super) fn snapshot(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = p.required_str("snapname")?;
    if snapname == "current" {
        return Err(err(
            "unable to use snapshot name 'current' (reserved name)\n",
        ));
    }
    if snapname == "vzdump" {
        return Err(err(
            "unable to use snapshot name 'vzdump' (reserved name)\n",
        ));
    }
    let description = p.str("description");
    worker(env, "vzsnapshot", vmid, move |_, b, _| {
        snapshot_create(b, vmid, &snapname, false, description.as_deref())
    })
}

pub(super) fn delsnapshot(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = p.required_str("snapname")?;
    let force = p.bool("force").unwrap_or(false);
    worker(env, "vzdelsnapshot", vmid, move |_, b, _| {
        snapshot_delete(b, vmid, &snapname, force)
    })
}

pub(super) fn rollback(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = p.required_str("snapname")?;
    let start = p.bool("start").unwrap_or(false);
    worker(env, "vzrollback", vmid, move |env, b, warn| {
        // a container that stopped by itself may still have its volumes mounted on the
        // host; the rollback replaces them
        let rt = crate::run::LxcRuntime::new(&env.paths);
        if !rt.check_running(vmid) {
            crate::create::unmount_all(&rt.rootdir(vmid))?;
        }
        snapshot_rollback(b, vmid, &snapname)?;
        if start {
            start_container(env, vmid, warn)?;
        }
        Ok(())
    })
}

pub(super) fn update_snapshot_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = p.required_str("snapname")?;
    let Some(description) = p.str("description") else {
        return Ok(Value::Null.into());
    };
    let store = CtConfigStore::new(&env.paths, &env.node);
    let _lock = store.lock_config(vmid).map_err(err)?;
    let mut conf = store.load_config(vmid, None).map_err(err)?;
    check_lock(&conf.main).map_err(err)?;
    let snap = conf
        .snapshots
        .get_mut(&snapname)
        .ok_or_else(|| err(format!("snapshot '{snapname}' does not exist\n")))?;
    snap.description = Some(description);
    store.write_config(vmid, &conf).map_err(err)?;
    Ok(Value::Null.into())
}
