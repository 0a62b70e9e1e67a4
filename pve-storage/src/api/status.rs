//! `/nodes/{node}/storage`: storage status (upstream's `PVE::API2::Storage::Status`).

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde::Serialize;
use serde_json::{json, Value};

use super::schemas as s;
use super::{declare, load};
use crate::storage::Storage;

/// One storage's entry in upstream's `storage_info`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StorageInfo {
    #[serde(rename = "type")]
    pub storage_type: String,
    pub total: u64,
    pub avail: u64,
    pub used: u64,
    pub shared: u8,
    pub content: String,
    pub active: u8,
    pub enabled: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub select_existing: Option<u8>,
}

/// The status of every storage available on `node` holding any of `content`
/// (upstream's `storage_info`); disabled or failing storages show zeros.
pub fn storage_info(
    storage: &Storage,
    node: &str,
    content: Option<&[&str]>,
    include_format: bool,
) -> BTreeMap<String, StorageInfo> {
    let mut info = BTreeMap::new();
    for scfg in storage.cfg.storages() {
        if !scfg.available_on(node) {
            continue;
        }
        if let Some(wanted) = content {
            if !wanted.iter().any(|c| scfg.content.contains(*c)) {
                continue;
            }
        }
        let mut entry = StorageInfo {
            storage_type: scfg.storage_type.clone(),
            total: 0,
            avail: 0,
            used: 0,
            shared: u8::from(scfg.shared),
            content: scfg.content_string(),
            active: 0,
            enabled: u8::from(!scfg.disable),
            format: None,
            select_existing: None,
        };
        if !scfg.disable {
            if include_format {
                let data = crate::config::plugin_data(&scfg.storage_type);
                entry.format = Some(match data.and_then(|d| d.format.as_ref()) {
                    Some((valid, default)) => {
                        let valid: BTreeMap<&str, u8> =
                            valid.iter().map(|f| (f.as_str(), 1)).collect();
                        json!([valid, default])
                    }
                    None => json!({"none": 1}),
                });
            }
            let status = storage
                .activate_storage(&scfg.storeid)
                .and_then(|()| storage.status(&scfg.storeid));
            match status {
                Ok(st) if st.active => {
                    entry.total = st.total;
                    entry.avail = st.avail;
                    entry.used = st.used;
                    entry.active = 1;
                }
                Ok(_) => {}
                Err(e) => eprintln!("{e}"),
            }
        }
        info.insert(scfg.storeid.clone(), entry);
    }
    info
}

fn content_list(p: &Params) -> Option<Vec<String>> {
    p.str("content").map(|c| {
        c.split(|ch: char| ch == ',' || ch == ';' || ch.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    })
}

fn no_such_storage() -> ApiError {
    ApiError::parameter("storage", "No such storage.")
}

fn index(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let target = p
        .str("target")
        .filter(|t| t != &env.node && t != "localhost");
    let content = content_list(&p);
    let content_refs: Option<Vec<&str>> = content
        .as_ref()
        .map(|c| c.iter().map(String::as_str).collect());
    let mut info = storage_info(
        &storage,
        &env.node,
        content_refs.as_deref(),
        p.bool("format").unwrap_or(false),
    );
    let wanted = p.str("storage");
    if let Some(w) = &wanted {
        if !info.contains_key(w) {
            return Err(no_such_storage());
        }
    }
    let mut list = Vec::new();
    for storeid in storage.cfg.ids() {
        let Some(data) = info.remove(&storeid) else {
            continue;
        };
        let privs = ["Datastore.Audit", "Datastore.AllocateSpace"];
        if !env.has_privs(&format!("/storage/{storeid}"), &privs, true) {
            continue;
        }
        if wanted.as_deref().is_some_and(|w| w != storeid) {
            continue;
        }
        let scfg = storage.cfg.storage(&storeid)?;
        if p.bool("enabled").unwrap_or(false) && scfg.disable {
            continue;
        }
        if let Some(target) = &target {
            if !scfg.shared || !scfg.available_on(&env.node) || !scfg.available_on(target) {
                continue;
            }
        }
        let mut v = serde_json::to_value(&data).map_err(|e| ApiError::internal(e.to_string()))?;
        if data.total > 0 {
            v["used_fraction"] = json!(data.used as f64 / data.total as f64);
        }
        v["storage"] = json!(storeid);
        list.push(v);
    }
    // upstream's hash_to_array sorts by key
    list.sort_by(|a, b| a["storage"].as_str().cmp(&b["storage"].as_str()));
    Ok(Value::Array(list).into())
}

fn read_status(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let storeid = p.required_str("storage")?;
    let mut info = storage_info(&storage, &env.node, None, false);
    let data = info.remove(&storeid).ok_or_else(no_such_storage)?;
    Ok(serde_json::to_value(data)
        .map_err(|e| ApiError::internal(e.to_string()))?
        .into())
}

/// The sub-directories upstream lists for a storage.
const STORAGE_SUBDIRS: [&str; 11] = [
    "content",
    "download-url",
    "file-restore",
    "import-metadata",
    "identity",
    "oci-registry-pull",
    "prunebackups",
    "rrd",
    "rrddata",
    "status",
    "upload",
];

fn diridx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let list: Vec<Value> = STORAGE_SUBDIRS
        .iter()
        .map(|d| json!({ "subdir": d }))
        .collect();
    Ok(Value::Array(list).into())
}

/// `/nodes/{node}/storage`.
pub fn node_storage_router() -> Router {
    let item = Router::new()
        .method(declare(
            ApiMethod::new("diridx", HttpMethod::Get, "", diridx),
            s::storage_diridx_params(),
            s::storage_diridx_returns(),
            s::storage_diridx_permissions(),
        ))
        .subdir("content", super::content::router())
        .subdir("prunebackups", super::prune::router())
        .subdir("upload", super::upload::router())
        .subdir(
            "status",
            Router::new().method(declare(
                ApiMethod::new(
                    "read_status",
                    HttpMethod::Get,
                    "Read storage status.",
                    read_status,
                )
                .protected()
                .proxyto("node"),
                s::storage_status_params(),
                s::storage_status_returns(),
                s::storage_status_permissions(),
            )),
        );
    Router::new()
        .method(declare(
            ApiMethod::new(
                "index",
                HttpMethod::Get,
                "Get status for all datastores.",
                index,
            )
            .protected()
            .proxyto("node"),
            s::status_index_params(),
            s::status_index_returns(),
            s::status_index_permissions(),
        ))
        .match_param("storage", item)
}
