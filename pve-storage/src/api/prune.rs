//! `/nodes/{node}/storage/{storage}/prunebackups` (upstream's
//! `PVE::API2::Storage::PruneBackups`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::json;

use super::schemas as s;
use super::{declare, load};
use crate::prune::{select, BackupItem, PruneEntry, PruneMark, PruneOptions};
use crate::storage::Storage;

/// The selection upstream's `prune_backups` makes (keep options from the parameter,
/// else from the storage).
fn selection(storage: &Storage, p: &Params) -> Result<Vec<PruneEntry>, ApiError> {
    let storeid = p.required_str("storage")?;
    let scfg = storage.cfg.storage(&storeid)?;
    if !scfg.content.contains("backup") {
        return Err(ApiError::internal(format!(
            "content type 'backup' is not available on storage '{storeid}'\n"
        )));
    }
    let keep_text = match p.str("prune-backups") {
        Some(t) => t,
        None => scfg
            .prune_backups
            .clone()
            .unwrap_or_else(|| "keep-all=1".to_string()),
    };
    let keep = PruneOptions::parse(&keep_text)?;
    let vmid = p.i64("vmid").map(|v| v as u32);
    storage.activate_storage(&storeid)?;
    let list = storage.volume_list(&storeid, Some(&["backup"]), vmid)?;
    let backups: Vec<BackupItem> = list
        .iter()
        .map(|e| BackupItem {
            volid: e.volid.clone(),
            ctime: e.ctime.unwrap_or_default(),
            vmid: e.vmid,
            protected: e.protected,
        })
        .collect();
    let tz = jiff::tz::TimeZone::system();
    Ok(select(
        &backups,
        &keep,
        vmid,
        p.str("type").as_deref(),
        &tz,
    )?)
}

pub(crate) fn dryrun(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let list = selection(&storage, &p)?;
    Ok(serde_json::to_value(list)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into())
}

pub(crate) fn delete(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storeid = p.required_str("storage")?;
    let vmid = p.i64("vmid");
    let storage_path = format!("/storage/{storeid}");
    match vmid {
        Some(vmid) => {
            env.check_privs(&storage_path, &["Datastore.AllocateSpace"], false)?;
            env.check_privs(&format!("/vms/{vmid}"), &["VM.Backup"], false)?;
        }
        None => env.check_privs(&storage_path, &["Datastore.Allocate"], false)?,
    }
    let storage = load(env)?;
    let list = selection(&storage, &p)?;
    let id = match vmid {
        Some(v) => format!("{v}@{storeid}"),
        None => storeid.clone(),
    };
    let upid = pve_common::tasks::start_worker(env, "prunebackups", Some(&id), move |task| {
        let mut failed = false;
        for entry in list.iter().filter(|e| e.mark == Some(PruneMark::Remove)) {
            task.log(format!("removing backup '{}'", entry.volid));
            if let Err(e) = storage.volume_free(&entry.volid) {
                task.warn(format!(
                    "error when removing backup '{}' - {e}",
                    entry.volid
                ));
                failed = true;
            }
        }
        if failed {
            anyhow::bail!("error pruning backups - check log");
        }
        Ok(())
    })?;
    Ok(json!(upid).into())
}

pub(super) fn router() -> Router {
    Router::new()
        .method(declare(
            ApiMethod::new(
                "dryrun",
                HttpMethod::Get,
                "Get prune information for backups. NOTE: this is only a preview and might not be what a subsequent prune call does if backups are removed/added in the meantime.",
                dryrun,
            )
            .protected()
            .proxyto("node"),
            s::prune_dryrun_params(),
            s::prune_dryrun_returns(),
            s::prune_dryrun_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "delete",
                HttpMethod::Delete,
                "Prune backups. Only those using the standard naming scheme are considered.",
                delete,
            )
            .protected()
            .proxyto("node"),
            s::prune_delete_params(),
            s::prune_delete_returns(),
            s::prune_delete_permissions(),
        ))
}
