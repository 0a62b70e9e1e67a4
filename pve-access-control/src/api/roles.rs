//! `/access/roles[/{roleid}]`: the built-in roles and custom `role:` entries.

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::{split_list, Schema};
use serde_json::{json, Map, Value};

use super::{load_cfg, perms, update_user_config};
use crate::privileges::{is_builtin_role, is_valid_privilege, PRIVILEGES};
use crate::user_cfg::UserConfig;

pub fn router() -> Router {
    Router::new()
        .method(list_roles_method())
        .method(create_role_method())
        .match_param(
            "roleid",
            Router::new()
                .method(read_role_method())
                .method(update_role_method())
                .method(delete_role_method()),
        )
}

fn no_such_role(role: &str) -> ApiError {
    ApiError::internal(format!("role '{role}' does not exist\n"))
}

fn list_roles(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let cfg = load_cfg(env)?;
    let list: Vec<Value> = cfg
        .roles
        .iter()
        .map(|(id, privs)| {
            json!({
                "roleid": id,
                "privs": privs.iter().cloned().collect::<Vec<_>>().join(","),
                "special": u8::from(is_builtin_role(id)),
            })
        })
        .collect();
    Ok(Value::Array(list).into())
}

/// Upstream's `add_role_privs`: every privilege must be known.
fn add_privs(cfg: &mut UserConfig, role: &str, privs: Option<String>) -> Result<(), ApiError> {
    let Some(privs) = privs.filter(|p| !p.is_empty() && p != "0") else {
        return Ok(());
    };
    let set = cfg.roles.get_mut(role).ok_or_else(|| no_such_role(role))?;
    for p in split_list(&privs) {
        if !is_valid_privilege(p) {
            return Err(ApiError::internal(format!("invalid privilege '{p}'\n")));
        }
        set.insert(p.to_string());
    }
    Ok(())
}

fn create_role(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let role = p.required_str("roleid")?;
    if role.to_lowercase().starts_with("pve") {
        return Err(ApiError::parameter(
            "roleid",
            "cannot use role ID starting with the (case-insensitive) 'PVE' namespace",
        ));
    }
    update_user_config(env, "create role failed", |cfg| {
        if cfg.roles.contains_key(&role) {
            return Err(ApiError::internal(format!(
                "role '{role}' already exists\n"
            )));
        }
        cfg.roles.insert(role.clone(), Default::default());
        add_privs(cfg, &role, p.str("privs"))
    })?;
    Ok(Value::Null.into())
}

/// Upstream's answer schema of a role: every privilege an optional boolean.
fn role_privs_schema() -> Schema {
    let props: Map<String, Value> = PRIVILEGES
        .iter()
        .map(|p| (p.to_string(), json!({"optional": 1, "type": "boolean"})))
        .collect();
    Schema::literal(json!({"additionalProperties": 0, "properties": props, "type": "object"}))
}

fn read_role(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let role = p.required_str("roleid")?;
    let cfg = load_cfg(env)?;
    let privs = cfg.roles.get(&role).ok_or_else(|| no_such_role(&role))?;
    let map: Map<String, Value> = privs.iter().map(|p| (p.clone(), json!(1))).collect();
    Ok(Value::Object(map).into())
}

fn update_role(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let role = p.required_str("roleid")?;
    if is_builtin_role(&role) {
        return Err(ApiError::internal(format!(
            "auto-generated role '{role}' cannot be modified\n"
        )));
    }
    update_user_config(env, "update role failed", |cfg| {
        let set = cfg
            .roles
            .get_mut(&role)
            .ok_or_else(|| no_such_role(&role))?;
        if !p.bool("append").unwrap_or(false) {
            set.clear();
        }
        add_privs(cfg, &role, p.str("privs"))
    })?;
    Ok(Value::Null.into())
}

fn delete_role(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let role = p.required_str("roleid")?;
    if is_builtin_role(&role) {
        return Err(ApiError::internal(format!(
            "auto-generated role '{role}' cannot be deleted\n"
        )));
    }
    update_user_config(env, "delete role failed", |cfg| {
        cfg.roles.remove(&role).ok_or_else(|| no_such_role(&role))?;
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn list_roles_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Role index.", list_roles)
    .permissions(perms(json!({"user": "all"})))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"privs": {"format": "pve-priv-list", "optional": 1, "type": "string"}, "roleid": {"format": "pve-roleid", "type": "string"}, "special": {"default": 0, "optional": 1, "type": "boolean"}}, "type": "object"}, "links": [{"href": "{roleid}", "rel": "child"}], "type": "array"}"#)))
}

fn create_role_method() -> ApiMethod {
    ApiMethod::new("create_role", HttpMethod::Post, "Create new role.", create_role)
    .param("privs", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-priv-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("roleid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-roleid", "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(json!({"check": ["perm", "/access", ["Sys.Modify"]]})))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn read_role_method() -> ApiMethod {
    ApiMethod::new(
        "read_role",
        HttpMethod::Get,
        "Get role configuration.",
        read_role,
    )
    .param(
        "roleid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-roleid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(json!({"user": "all"})))
    .returns(role_privs_schema())
}

fn update_role_method() -> ApiMethod {
    ApiMethod::new("update_role", HttpMethod::Put, "Update an existing role.", update_role)
    .param("append", Schema::literal(pve_common::schema::json_lit(r#"{"optional": 1, "requires": "privs", "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("privs", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-priv-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("roleid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-roleid", "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(json!({"check": ["perm", "/access", ["Sys.Modify"]]})))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn delete_role_method() -> ApiMethod {
    ApiMethod::new(
        "delete_role",
        HttpMethod::Delete,
        "Delete role.",
        delete_role,
    )
    .param(
        "roleid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-roleid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(json!({"check": ["perm", "/access", ["Sys.Modify"]]})))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}
