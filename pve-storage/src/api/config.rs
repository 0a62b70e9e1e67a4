//! `/storage`: storage.cfg CRUD with digest (upstream's `PVE::API2::Storage::Config`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::{json, Map, Value};

use super::schemas as s;
use super::{declare, load, with_locked_config};
use crate::config::{self, plugin_data, section_config, StorageConfig};

/// A section as the API shows it: the file values plus `storage` and `digest`.
fn api_storage_config(cfg: &StorageConfig, storeid: &str) -> Result<Value, ApiError> {
    let raw = cfg
        .raw(storeid)
        .ok_or_else(|| crate::StorageError::NoSuchStorage(storeid.to_string()))?;
    let mut scfg = raw.clone();
    scfg.insert("storage".into(), json!(storeid));
    scfg.insert("digest".into(), json!(cfg.digest()));
    Ok(Value::Object(scfg))
}

fn index(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let wanted_type = p.str("type");
    let mut list = Vec::new();
    for storeid in storage.cfg.ids() {
        let privs = ["Datastore.Audit", "Datastore.AllocateSpace"];
        if !env.has_privs(&format!("/storage/{storeid}"), &privs, true) {
            continue;
        }
        let scfg = api_storage_config(&storage.cfg, &storeid)?;
        if wanted_type
            .as_deref()
            .is_some_and(|t| scfg.get("type").and_then(Value::as_str) != Some(t))
        {
            continue;
        }
        list.push(scfg);
    }
    Ok(Value::Array(list).into())
}

fn read(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    Ok(api_storage_config(&storage.cfg, &p.required_str("storage")?)?.into())
}

/// Parameters minus the ones the handler takes out itself.
fn section_values(p: &Params, skip: &[&str]) -> Map<String, Value> {
    p.0.iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn checked(
    storage_type: &str,
    storeid: &str,
    values: &Map<String, Value>,
    create: bool,
) -> Result<Map<String, Value>, ApiError> {
    section_config()
        .check_config(storage_type, storeid, values, create)
        .map_err(|e| ApiError::internal(format!("{}\n", e.to_string().trim_end_matches('\n'))))
}

fn create(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage_type = p.required_str("type")?;
    let storeid = p.required_str("storage")?;
    let mut values = section_values(&p, &["type", "storage"]);
    if values.get("nodes").is_some_and(|v| v.as_str() == Some("")) {
        values.remove("nodes");
    }
    let sensitive = plugin_data(&storage_type)
        .and_then(|d| d.sensitive.clone())
        .unwrap_or_default();
    values.retain(|k, _| !sensitive.contains(k));
    crate::plugin::lookup(&storage_type)?;
    let mut opts = checked(&storage_type, &storeid, &values, true)?;
    opts.remove("type");
    with_locked_config(env, "create storage failed", |cfg| {
        if cfg.raw(&storeid).is_some() {
            return Err(ApiError::internal(format!(
                "storage ID '{storeid}' already defined\n"
            )));
        }
        let mut section = Map::new();
        section.insert("type".into(), json!(storage_type));
        section.extend(opts);
        cfg.data.set(&storeid, section);
        let parsed = StorageConfig::parse(&cfg.to_text()?);
        let scfg = parsed.storage(&storeid)?;
        if !scfg.disable && scfg.available_on(&env.node) {
            let store = crate::Storage {
                paths: env.paths.clone(),
                cfg: parsed,
            };
            store.activate_storage(&storeid)?;
        }
        Ok(())
    })?;
    Ok(json!({"storage": storeid, "type": storage_type}).into())
}

fn update(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storeid = p.required_str("storage")?;
    let digest = p.str("digest");
    let delete = p.str("delete");
    let values = section_values(&p, &["storage", "digest", "delete"]);
    let storage_type = with_locked_config(env, "update storage failed", |cfg| {
        cfg.data
            .assert_if_modified(digest.as_deref())
            .map_err(ApiError::internal)?;
        let scfg = cfg.storage(&storeid)?;
        let storage_type = scfg.storage_type.clone();
        let sensitive = plugin_data(&storage_type)
            .and_then(|d| d.sensitive.clone())
            .unwrap_or_default();
        let mut values = values;
        values.retain(|k, _| !sensitive.contains(k));
        let mut opts = checked(&storage_type, &storeid, &values, false)?;
        opts.remove("type");
        let mut section = cfg.raw(&storeid).cloned().unwrap_or_default();
        if let Some(delete) = delete.as_deref() {
            let keys: Vec<&str> = delete
                .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
                .filter(|k| !k.is_empty())
                .collect();
            section_config()
                .delete_from_config(&storage_type, &mut section, &opts, &keys)
                .map_err(|e| {
                    ApiError::internal(format!("{}\n", e.to_string().trim_end_matches('\n')))
                })?;
        }
        section.extend(opts);
        cfg.data.set(&storeid, section);
        Ok(storage_type)
    })?;
    Ok(json!({"storage": storeid, "type": storage_type}).into())
}

fn delete(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storeid = p.required_str("storage")?;
    with_locked_config(env, "delete storage failed", |cfg| {
        cfg.storage(&storeid)?;
        let used_as_base = cfg.storages().iter().any(|s| {
            s.raw
                .get("base")
                .and_then(Value::as_str)
                .and_then(|b| b.split_once(':'))
                .is_some_and(|(sid, _)| sid == storeid)
        });
        if used_as_base {
            return Err(ApiError::internal(
                "can't remove storage - storage is used as base of another storage\n",
            ));
        }
        cfg.data.remove(&storeid);
        Ok(())
    })?;
    Ok(Value::Null.into())
}

/// `PUT /storage/{storage}` takes every property but the fixed ones, all optional,
/// plus `delete` and `digest` (upstream's `updateSchema`).
fn update_params() -> Map<String, Value> {
    // a property is updatable when some type has it as a non-fixed option
    let updatable = |k: &str| {
        section_config().types().any(|t| {
            section_config()
                .options(t)
                .and_then(|o| o.get(k))
                .is_some_and(|o| !o.fixed)
        })
    };
    let mut props = Map::new();
    for (k, v) in config::properties() {
        if k != "storage" && !updatable(k) {
            continue;
        }
        let mut v = v.clone();
        if k != "storage" {
            v["optional"] = json!(1);
        }
        props.insert(k.clone(), v);
    }
    props.insert(
        "delete".into(),
        pve_common::schema::json_lit(
            r#"{
            "description": "A list of settings you want to delete.",
            "format": "pve-configid-list",
            "maxLength": 4096,
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        }"#,
        ),
    );
    props.insert(
        "digest".into(),
        pve_common::schema::json_lit(r#"{
            "description": "Prevent changes if current configuration file has a different digest. This can be used to prevent concurrent modifications.",
            "maxLength": 64,
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        }"#),
    );
    props
}

fn create_params() -> Map<String, Value> {
    config::properties()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `/storage`.
pub fn storage_router() -> Router {
    let item = Router::new()
        .method(declare(
            ApiMethod::new("read", HttpMethod::Get, "Read storage configuration.", read),
            s::storage_read_params(),
            s::storage_read_returns(),
            s::storage_read_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "update",
                HttpMethod::Put,
                "Update storage configuration.",
                update,
            )
            .protected(),
            Value::Object(update_params()),
            s::storage_update_returns(),
            s::storage_update_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "delete",
                HttpMethod::Delete,
                "Delete storage configuration.",
                delete,
            )
            .protected(),
            s::storage_delete_params(),
            s::storage_delete_returns(),
            s::storage_delete_permissions(),
        ));
    Router::new()
        .method(declare(
            ApiMethod::new("index", HttpMethod::Get, "Storage index.", index),
            s::storage_index_params(),
            s::storage_index_returns(),
            s::storage_index_permissions(),
        ))
        .method(declare(
            ApiMethod::new("create", HttpMethod::Post, "Create a new storage.", create).protected(),
            Value::Object(create_params()),
            s::storage_create_returns(),
            s::storage_create_permissions(),
        ))
        .match_param("storage", item)
}
