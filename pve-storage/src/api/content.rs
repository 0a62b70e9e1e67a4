//! `/nodes/{node}/storage/{storage}/content`: volume list, allocation, attributes and
//! removal (upstream's `PVE::API2::Storage::Content`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::{json, Map, Value};

use super::schemas as s;
use super::{declare, load};
use crate::attributes::VolumeAttribute;
use crate::volume::{parse_volume_id, Vtype};

fn index(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let storeid = p.required_str("storage")?;
    let content: Option<Vec<String>> = p.str("content").map(|c| {
        c.split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    });
    let content_refs: Option<Vec<&str>> = content
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let vmid = p.i64("vmid").map(|v| v as u32);
    storage.activate_storage(&storeid)?;
    let list = storage.volume_list(&storeid, content_refs.as_deref(), vmid)?;
    let out: Vec<Value> = list
        .iter()
        .filter(|item| {
            crate::access::check_volume_access(env, &storage.cfg, None, &item.volid, None).is_ok()
        })
        .map(|item| item.to_value())
        .collect();
    Ok(Value::Array(out).into())
}

/// Upstream's size syntax for allocation: KiB, or `<n>M` / `<n>G`.
fn parse_alloc_size(text: &str) -> Option<u64> {
    let digits = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(());
    if digits(text).is_some() {
        return text.parse().ok();
    }
    let (num, mult) = match text.as_bytes().last()? {
        b'M' => (&text[..text.len() - 1], 1024),
        b'G' => (&text[..text.len() - 1], 1024 * 1024),
        _ => return None,
    };
    digits(num)?;
    num.parse::<u64>().ok().map(|n| n * mult)
}

fn create(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storeid = p.required_str("storage")?;
    let name = p.required_str("filename")?;
    let size_text = p.required_str("size")?;
    let vmid = p.i64("vmid").unwrap_or_default() as u32;
    let size = parse_alloc_size(&size_text).ok_or_else(|| {
        ApiError::parameter("size", format!("unable to parse size '{size_text}'"))
    })?;
    let mut format = p.str("format");
    for ext in ["raw", "qcow2", "vmdk"] {
        if name.ends_with(&format!(".{ext}")) {
            if let Some(f) = format.as_deref().filter(|f| *f != ext) {
                return Err(ApiError::parameter(
                    "format",
                    format!("different storage formats ({f} != {ext})"),
                ));
            }
            format = Some(ext.to_string());
        }
    }
    let storage = load(env)?;
    let volid = storage.vdisk_alloc(&storeid, vmid, format.as_deref(), Some(&name), size)?;
    Ok(json!(volid).into())
}

/// Upstream's `real_volume_id`: a full volume id, or a name on the given storage.
fn real_volume_id(storeid: Option<&str>, volume: &str) -> Result<(String, String), ApiError> {
    if volume.contains(':') {
        let (sid, _) =
            parse_volume_id(volume).map_err(|e| ApiError::parameter("volume", format!("{e}\n")))?;
        if let Some(s) = storeid.filter(|s| *s != sid) {
            return Err(ApiError::parameter(
                "volume",
                format!("storage ID mismatch ({sid} != {s})\n"),
            ));
        }
        Ok((volume.to_string(), sid.to_string()))
    } else {
        let Some(sid) = storeid else {
            return Err(ApiError::parameter(
                "volume",
                "no storage specified - incomplete volume ID",
            ));
        };
        Ok((format!("{sid}:{volume}"), sid.to_string()))
    }
}

fn info(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let (volid, _) = real_volume_id(p.str("storage").as_deref(), &p.required_str("volume")?)?;
    let storage = load(env)?;
    crate::access::check_volume_access(env, &storage.cfg, None, &volid, None)?;
    let (path, _, _) = storage.path(&volid, None)?;
    let size_info = storage.volume_size_info(&volid)?;
    if size_info.format.is_empty() {
        return Err(ApiError::internal(format!(
            "volume_size_info on '{volid}' failed - no format\n"
        )));
    }
    if size_info.size == 0 && size_info.format != "subvol" {
        return Err(ApiError::internal(format!(
            "volume '{volid}' has size zero\n"
        )));
    }
    let mut entry = Map::new();
    entry.insert("path".into(), json!(storage.node_path(&path)));
    entry.insert("size".into(), json!(size_info.size));
    entry.insert("used".into(), json!(size_info.used));
    entry.insert("format".into(), json!(size_info.format));
    for (name, attr) in [
        ("notes", VolumeAttribute::Notes),
        ("protected", VolumeAttribute::Protected),
    ] {
        match storage.volume_attribute(&volid, attr) {
            Ok(Some(v)) => {
                entry.insert(name.into(), v);
            }
            Ok(None) => {}
            Err(e) => eprintln!("{e}"),
        }
    }
    Ok(Value::Object(entry).into())
}

fn update_attributes(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let (volid, storeid) = real_volume_id(p.str("storage").as_deref(), &p.required_str("volume")?)?;
    let storage = load(env)?;
    crate::access::check_volume_access(env, &storage.cfg, None, &volid, None)?;
    let max_protected = match storage.cfg.storage(&storeid)?.max_protected_backups {
        Some(n) if n < 0 => None,
        Some(n) => Some(n as u64),
        None if env.has_privs(
            &format!("/storage/{storeid}"),
            &["Datastore.Allocate"],
            false,
        ) =>
        {
            None
        }
        None => Some(5),
    };
    for (name, attr) in [
        ("notes", VolumeAttribute::Notes),
        ("protected", VolumeAttribute::Protected),
    ] {
        if let Some(value) = p.str(name) {
            storage.update_volume_attribute(&volid, attr, &value, max_protected)?;
        }
    }
    Ok(Value::Null.into())
}

fn delete(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let (volid, storeid) = real_volume_id(p.str("storage").as_deref(), &p.required_str("volume")?)?;
    let storage = load(env)?;
    let (_, owner, vtype) = storage.path(&volid, None)?;
    let storage_path = format!("/storage/{storeid}");
    match (&owner, vtype) {
        (Some(vmid), Vtype::Backup) => {
            env.check_privs(&storage_path, &["Datastore.AllocateSpace"], false)?;
            env.check_privs(&format!("/vms/{vmid}"), &["VM.Backup"], false)?;
        }
        _ => env.check_privs(&storage_path, &["Datastore.Allocate"], false)?,
    }
    let id = match &owner {
        Some(vmid) => format!("{vmid}@{storeid}"),
        None => storeid.clone(),
    };
    let task_volid = volid.clone();
    let upid = pve_common::tasks::start_worker(env, "imgdel", Some(&id), move |task| {
        storage.volume_free(&task_volid)?;
        task.log(format!("Removed volume '{task_volid}'"));
        Ok(())
    })?;
    if let Some(delay) = p.i64("delay").filter(|d| *d > 0) {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(delay as u64);
        loop {
            let status = pve_common::tasks::task_status(&env.paths, &upid)
                .ok()
                .and_then(|s| s.exitstatus);
            match status {
                Some(s) if s == "OK" || s.starts_with("WARNINGS") => return Ok(Value::Null.into()),
                Some(s) => return Err(ApiError::internal(format!("{s}\n"))),
                None if std::time::Instant::now() < end => {
                    std::thread::sleep(std::time::Duration::from_millis(200))
                }
                None => break,
            }
        }
    }
    Ok(json!(upid).into())
}

pub(super) fn router() -> Router {
    let volume = Router::new()
        .method(declare(
            ApiMethod::new("info", HttpMethod::Get, "Get volume attributes", info)
                .protected()
                .proxyto("node"),
            s::volume_info_params(),
            s::volume_info_returns(),
            s::volume_info_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "updateattributes",
                HttpMethod::Put,
                "Update volume attributes",
                update_attributes,
            )
            .protected()
            .proxyto("node"),
            s::volume_update_params(),
            s::volume_update_returns(),
            s::volume_update_permissions(),
        ))
        .method(declare(
            ApiMethod::new("delete", HttpMethod::Delete, "Delete volume", delete)
                .protected()
                .proxyto("node"),
            s::volume_delete_params(),
            s::volume_delete_returns(),
            s::volume_delete_permissions(),
        ));
    Router::new()
        .method(declare(
            ApiMethod::new("index", HttpMethod::Get, "List storage content.", index)
                .protected()
                .proxyto("node"),
            s::content_index_params(),
            s::content_index_returns(),
            s::content_index_permissions(),
        ))
        .method(declare(
            ApiMethod::new("create", HttpMethod::Post, "Allocate disk images.", create)
                .protected()
                .proxyto("node"),
            s::content_create_params(),
            s::content_create_returns(),
            s::content_create_permissions(),
        ))
        .match_param("volume", volume)
}
