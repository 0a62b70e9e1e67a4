//! `/pools`: resource pools of user.cfg (9.x style with `poolid` as a parameter, and
//! the legacy `/pools/{poolid}` paths).

use pve_access_control::api::update_user_config;
use pve_access_control::perm_check::perm_modify_privs;
use pve_access_control::user_cfg::Pool;
use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use super::resources::{guest_entry, guest_list, storage_entry, user_config};

fn perms(v: Value) -> Permissions {
    serde_json::from_value(v).expect("valid permissions literal")
}

pub fn router() -> Router {
    Router::new()
        .method(index_method())
        .method(create_method())
        .method(update_method())
        .method(delete_method())
        .match_param(
            "poolid",
            Router::new()
                .method(read_method())
                .method(update_legacy_method())
                .method(delete_legacy_method()),
        )
}

fn no_such_pool(pool: &str) -> ApiError {
    ApiError::internal(format!("pool '{pool}' does not exist\n"))
}

/// One pool with its members (`GET /pools?poolid=` and `GET /pools/{poolid}`).
fn pool_info(env: &RpcEnv, poolid: &str, type_filter: Option<&str>) -> Result<Value, ApiError> {
    let cfg = user_config(env)?;
    let pool = cfg.pools.get(poolid).ok_or_else(|| no_such_pool(poolid))?;
    let guests = guest_list(env);
    let mut members = Vec::new();
    for vmid in &pool.vms {
        let Some(g) = guests.get(vmid) else { continue };
        if type_filter.is_some_and(|t| t != g.guest_type) {
            continue;
        }
        let mut e = guest_entry(env, *vmid, g);
        // Upstream's pool members carry the RRD stats only, no config properties.
        e.remove("tags");
        e.remove("lock");
        members.push(Value::Object(e));
    }
    if type_filter.is_none_or(|t| t == "storage") {
        if let Ok(storage) = pve_storage::storage::Storage::load(&env.paths) {
            for storeid in &pool.storage {
                let Ok(sec) = storage.cfg.storage(storeid) else {
                    continue;
                };
                // Prefer this node, else the first node the storage is restricted to.
                let node = match &sec.nodes {
                    Some(nodes) if !nodes.contains(&env.node) => nodes
                        .iter()
                        .next()
                        .cloned()
                        .unwrap_or_else(|| env.node.clone()),
                    _ => env.node.clone(),
                };
                members.push(Value::Object(storage_entry(&storage, &sec, &node)));
            }
        }
    }
    let mut info = json!({ "members": members });
    if let Some(c) = &pool.comment {
        info["comment"] = json!(c);
    }
    info["poolid"] = json!(poolid);
    Ok(info)
}

fn list_pools(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    if let Some(poolid) = p.str("poolid") {
        let info = pool_info(env, &poolid, p.str("type").as_deref())?;
        return Ok(json!([info]).into());
    }
    let cfg = user_config(env)?;
    let list: Vec<Value> = cfg
        .pools
        .iter()
        .filter(|(id, _)| env.has_privs(&format!("/pool/{id}"), &["Pool.Audit"], true))
        .map(|(id, pool)| {
            let mut e = json!({ "poolid": id });
            if let Some(c) = &pool.comment {
                e["comment"] = json!(c);
            }
            e
        })
        .collect();
    Ok(Value::Array(list).into())
}

fn read_pool(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let poolid = p.required_str("poolid")?;
    Ok(pool_info(env, &poolid, p.str("type").as_deref())?.into())
}

fn create_pool(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let poolid = p.required_str("poolid")?;
    update_user_config(env, "create pool failed", |cfg| {
        if cfg.pools.contains_key(&poolid) {
            return Err(ApiError::internal(format!(
                "pool '{poolid}' already exists\n"
            )));
        }
        let starts_with_letter = |s: &str| s.starts_with(|c: char| c.is_ascii_alphabetic());
        let parent = match poolid.rsplit_once('/') {
            Some((parent, leaf)) => {
                if !cfg.pools.contains_key(parent) {
                    return Err(ApiError::internal(format!(
                        "parent '{parent}' of pool '{poolid}' does not exist\n"
                    )));
                }
                if !starts_with_letter(leaf) {
                    return Err(ApiError::internal("pool name must start with a letter\n"));
                }
                Some(parent.to_string())
            }
            None => {
                if !starts_with_letter(&poolid) {
                    return Err(ApiError::internal("pool name must start with a letter\n"));
                }
                None
            }
        };
        if let Some(parent) = &parent {
            if let Some(pp) = cfg.pools.get_mut(parent) {
                pp.pools.insert(poolid.clone());
            }
        }
        let comment = p.str("comment").filter(|c| !c.is_empty() && c != "0");
        cfg.pools.insert(
            poolid.clone(),
            Pool {
                comment,
                parent,
                ..Default::default()
            },
        );
        Ok(())
    })?;
    Ok(Value::Null.into())
}

/// Upstream's `check_perm_modify` on an object added to or removed from a pool.
fn check_perm_modify(env: &RpcEnv, path: &str) -> Result<(), ApiError> {
    env.check_privs(path, &perm_modify_privs(path), true)
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

fn update_pool(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let poolid = p.required_str("poolid")?;
    let delete = p.bool("delete").unwrap_or(false);
    let allow_move = p.bool("allow-move").unwrap_or(false);
    update_user_config(env, "update pools failed", |cfg| {
        if !cfg.pools.contains_key(&poolid) {
            return Err(no_such_pool(&poolid));
        }
        if let Some(c) = p.str("comment") {
            cfg.pools.get_mut(&poolid).expect("checked").comment = Some(c);
        }
        if let Some(vms) = p.str("vms") {
            for vmid_text in split_list(&vms) {
                check_perm_modify(env, &format!("/vms/{vmid_text}"))?;
                let vmid: u32 = vmid_text
                    .parse()
                    .map_err(|_| ApiError::internal(format!("invalid vmid '{vmid_text}'\n")))?;
                let existing = cfg
                    .pools
                    .iter()
                    .find(|(_, pl)| pl.vms.contains(&vmid))
                    .map(|(n, _)| n.clone());
                let pool = cfg.pools.get_mut(&poolid).expect("checked");
                if delete {
                    if !pool.vms.remove(&vmid) {
                        return Err(ApiError::internal(format!(
                            "VM {vmid} is not a pool member\n"
                        )));
                    }
                    continue;
                }
                if pool.vms.contains(&vmid) {
                    return Err(ApiError::internal(format!(
                        "VM {vmid} is already a pool member\n"
                    )));
                }
                if let Some(existing) = existing {
                    if !allow_move {
                        return Err(ApiError::internal(format!(
                            "VM {vmid} belongs already to pool '{existing}' and 'allow-move' is not set\n"
                        )));
                    }
                    env.check_privs(&format!("/pool/{existing}"), &["Pool.Allocate"], false)?;
                    if let Some(old) = cfg.pools.get_mut(&existing) {
                        old.vms.remove(&vmid);
                    }
                }
                cfg.pools
                    .get_mut(&poolid)
                    .expect("checked")
                    .vms
                    .insert(vmid);
            }
        }
        if let Some(storage) = p.str("storage") {
            for storeid in split_list(&storage) {
                check_perm_modify(env, &format!("/storage/{storeid}"))?;
                let pool = cfg.pools.get_mut(&poolid).expect("checked");
                if delete {
                    if !pool.storage.remove(storeid) {
                        return Err(ApiError::internal(format!(
                            "Storage '{storeid}' is not a pool member\n"
                        )));
                    }
                } else if !pool.storage.insert(storeid.to_string()) {
                    return Err(ApiError::internal(format!(
                        "Storage '{storeid}' is already a pool member\n"
                    )));
                }
            }
        }
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn delete_pool(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let poolid = p.required_str("poolid")?;
    let guests = guest_list(env);
    let storage_ids: Vec<String> = pve_storage::storage::Storage::load(&env.paths)
        .map(|s| s.cfg.ids())
        .unwrap_or_default();
    update_user_config(env, "delete pool failed", |cfg| {
        let pool = cfg
            .pools
            .get(&poolid)
            .ok_or_else(|| no_such_pool(&poolid))?;
        let not_empty = |what: String| {
            ApiError::internal(format!("pool '{poolid}' is not empty (contains {what})\n"))
        };
        if let Some(sub) = pool.pools.iter().next() {
            return Err(not_empty(format!("pool '{sub}'")));
        }
        if let Some(vmid) = pool.vms.iter().find(|v| guests.contains_key(v)) {
            return Err(not_empty(format!("VM {vmid}")));
        }
        if let Some(s) = pool.storage.iter().find(|s| storage_ids.contains(s)) {
            return Err(not_empty(format!("storage '{s}'")));
        }
        let parent = pool.parent.clone();
        cfg.pools.remove(&poolid);
        if let Some(pp) = parent.and_then(|pa| cfg.pools.get_mut(&pa)) {
            pp.pools.remove(&poolid);
        }
        // Upstream's delete_pool_acl: the ACL entries on /pool/<poolid> go with it.
        let node = cfg.acl_root.find_mut(&format!("/pool/{poolid}"));
        node.users.clear();
        node.groups.clear();
        node.tokens.clear();
        Ok(())
    })?;
    Ok(Value::Null.into())
}

pub(super) fn index_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "List pools or get pool configuration.", list_pools)
        .param("poolid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-poolid", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
        .param("type", Schema::literal(pve_common::schema::json_lit(r#"{"enum": ["qemu", "lxc", "storage"], "optional": 1, "requires": "poolid", "type": "string"}"#)))
        .permissions(perms(pve_common::schema::json_lit(r#"{"description": "List all pools where you have Pool.Audit permissions on /pool/<pool>, or the pool specific with {poolid}", "user": "all"}"#)))
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"comment": {"optional": 1, "type": "string"}, "members": {"items": {"additionalProperties": 1, "properties": {"id": {"type": "string"}, "node": {"type": "string"}, "storage": {"optional": 1, "type": "string"}, "type": {"enum": ["qemu", "lxc", "openvz", "storage"], "type": "string"}, "vmid": {"optional": 1, "type": "integer"}}, "type": "object"}, "optional": 1, "type": "array"}, "poolid": {"type": "string"}}, "type": "object"}, "links": [{"href": "{poolid}", "rel": "child"}], "type": "array"}"#)))
}

pub(super) fn create_method() -> ApiMethod {
    ApiMethod::new(
        "create_pool",
        HttpMethod::Post,
        "Create new pool.",
        create_pool,
    )
    .param(
        "comment",
        Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})),
    )
    .param(
        "poolid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-poolid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(
        json!({"check": ["perm", "/pool/{poolid}", ["Pool.Allocate"]]}),
    ))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

pub(super) fn update_method() -> ApiMethod {
    ApiMethod::new("update_pool", HttpMethod::Put, "Update pool.", update_pool)
        .param("allow-move", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Allow adding a guest even if already in another pool. The guest will be removed from its current pool and added to this one.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
        .param("comment", Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})))
        .param("delete", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Remove the passed VMIDs and/or storage IDs instead of adding them.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
        .param("poolid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-poolid", "type": "string", "typetext": "<string>"}"#)))
        .param("storage", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of storage IDs to add or remove from this pool.", "format": "pve-storage-id-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
        .param("vms", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of guest VMIDs to add or remove from this pool.", "format": "pve-vmid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["perm", "/pool/{poolid}", ["Pool.Allocate"]], "description": "You also need the right to modify permissions on any object you add/delete."}"#)))
        .protected()
        .returns(Schema::literal(json!({"type": "null"})))
}

pub(super) fn delete_method() -> ApiMethod {
    ApiMethod::new("delete_pool", HttpMethod::Delete, "Delete pool.", delete_pool)
        .param("poolid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-poolid", "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["perm", "/pool/{poolid}", ["Pool.Allocate"]], "description": "You can only delete empty pools (no members)."}"#)))
        .protected()
        .returns(Schema::literal(json!({"type": "null"})))
}

pub(super) fn read_method() -> ApiMethod {
    ApiMethod::new("read_pool", HttpMethod::Get, "Get pool configuration (deprecated, no support for nested pools, use 'GET /pools/?poolid={poolid}').", read_pool)
        .param("poolid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-poolid", "type": "string", "typetext": "<string>"}"#)))
        .param("type", Schema::literal(pve_common::schema::json_lit(r#"{"enum": ["qemu", "lxc", "storage"], "optional": 1, "type": "string"}"#)))
        .permissions(perms(json!({"check": ["perm", "/pool/{poolid}", ["Pool.Audit"]]})))
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"comment": {"optional": 1, "type": "string"}, "members": {"items": {"additionalProperties": 1, "properties": {"id": {"type": "string"}, "node": {"type": "string"}, "storage": {"optional": 1, "type": "string"}, "type": {"enum": ["qemu", "lxc", "openvz", "storage"], "type": "string"}, "vmid": {"optional": 1, "type": "integer"}}, "type": "object"}, "type": "array"}}, "type": "object"}"#)))
}

/// `PUT /pools/{poolid}`: the same method as `PUT /pools` under upstream's old name.
pub(super) fn update_legacy_method() -> ApiMethod {
    let mut m = update_method();
    m.name = "update_pool_deprecated".into();
    m.description = "Update pool data (deprecated, no support for nested pools - use 'PUT /pools/?poolid={poolid}' instead).".into();
    m
}

/// `DELETE /pools/{poolid}`: the same method as `DELETE /pools` under upstream's old name.
pub(super) fn delete_legacy_method() -> ApiMethod {
    let mut m = delete_method();
    m.name = "delete_pool_deprecated".into();
    m.description = "Delete pool (deprecated, no support for nested pools, use 'DELETE /pools/?poolid={poolid}').".into();
    m
}
