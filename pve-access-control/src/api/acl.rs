//! `/access/acl`: read and change the ACL tree of user.cfg.

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::{split_list, Schema};
use serde_json::{json, Value};

use super::{load_cfg, perms, update_user_config};
use crate::acl::permissions;
use crate::ids::{is_valid_acl_path, normalize_path, split_tokenid};
use crate::perm_check::perm_modify_privs;
use crate::user_cfg::RoleSet;

pub fn router() -> Router {
    Router::new()
        .method(read_acl_method())
        .method(update_acl_method())
}

fn read_acl(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let cfg = load_cfg(env)?;
    let audit = env.has_privs("/access", &["Sys.Audit"], false);
    let mut res = Vec::new();
    cfg.acl_root.walk(&mut |path, node| {
        if !(audit || env.has_privs(path, &perm_modify_privs(path), true)) {
            return;
        }
        for (kind, entries) in [
            ("user", &node.users),
            ("group", &node.groups),
            ("token", &node.tokens),
        ] {
            for (id, roles) in entries {
                for (role, propagate) in roles {
                    res.push(json!({
                        "path": path,
                        "type": kind,
                        "ugid": id,
                        "roleid": role,
                        "propagate": u8::from(*propagate),
                    }));
                }
            }
        }
    });
    Ok(Value::Array(res).into())
}

/// Adds (or with `delete` removes) `role` for `id` in one ACL entry map.
fn apply(
    entries: &mut std::collections::BTreeMap<String, RoleSet>,
    id: &str,
    role: &str,
    propagate: bool,
    delete: bool,
) {
    if delete {
        if let Some(set) = entries.get_mut(id) {
            set.remove(role);
            if set.is_empty() {
                entries.remove(id);
            }
        }
    } else {
        entries
            .entry(id.to_string())
            .or_default()
            .insert(role.to_string(), propagate);
    }
}

fn update_acl(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let set = |name: &str| p.str(name).filter(|v| !v.is_empty() && v != "0");
    let (users, groups, tokens) = (set("users"), set("groups"), set("tokens"));
    if users.is_none() && groups.is_none() && tokens.is_none() {
        let msg = "either 'users', 'groups' or 'tokens' is required.";
        return Err(ApiError::parameters(
            ["users", "groups", "tokens"]
                .iter()
                .map(|k| (k.to_string(), msg.to_string()))
                .collect(),
        ));
    }
    let raw_path = p.required_str("path")?;
    let invalid = || ApiError::parameter("path", format!("invalid ACL path '{raw_path}'"));
    let path = normalize_path(&raw_path).ok_or_else(invalid)?;
    let delete = p.bool("delete").unwrap_or(false);
    if !delete && !is_valid_acl_path(&path) {
        return Err(invalid());
    }
    let propagate = p.bool("propagate").unwrap_or(true);
    let roles = p.required_str("roles")?;
    let authid = env.auth.full();
    update_user_config(env, "ACL update failed", |cfg| {
        let own = permissions(cfg, &authid, &path);
        let verb = if delete { "remove" } else { "add" };
        for role in split_list(&roles) {
            let Some(role_privs) = cfg.roles.get(role) else {
                return Err(ApiError::internal(format!(
                    "role '{role}' does not exist\n"
                )));
            };
            if !own.contains_key("Permissions.Modify") {
                // without Permissions.Modify only a subset of one's own privileges
                let role_err = |text: String| ApiError::parameter("role", text);
                for privilege in role_privs {
                    let Some(own_propagate) = own.get(privilege) else {
                        return Err(role_err(format!(
                            "Cannot {verb} role '{role}' - requires 'Permissions.Modify' or superset of privileges."
                        )));
                    };
                    if propagate && !own_propagate && !delete {
                        return Err(role_err(format!(
                            "Cannot {verb} role '{role}' with propagation - requires 'Permissions.Modify' or propagated superset of privileges."
                        )));
                    }
                }
                if role == "NoAccess" {
                    return Err(role_err(format!(
                        "Cannot {verb} role '{role}' - requires 'Permissions.Modify'"
                    )));
                }
            }
            for group in groups.as_deref().map(split_list).unwrap_or_default() {
                if !cfg.groups.contains_key(group) {
                    return Err(ApiError::internal(format!(
                        "group '{group}' does not exist\n"
                    )));
                }
                apply(
                    &mut cfg.acl_root.find_mut(&path).groups,
                    group,
                    role,
                    propagate,
                    delete,
                );
            }
            for user in users.as_deref().map(split_list).unwrap_or_default() {
                if !cfg.users.contains_key(user) {
                    return Err(ApiError::internal(format!(
                        "user '{user}' does not exist\n"
                    )));
                }
                apply(
                    &mut cfg.acl_root.find_mut(&path).users,
                    user,
                    role,
                    propagate,
                    delete,
                );
            }
            for token in tokens.as_deref().map(split_list).unwrap_or_default() {
                let (user, name) = split_tokenid(token).ok_or_else(|| {
                    ApiError::internal(format!("'{token}' is not a valid token ID\n"))
                })?;
                if !cfg.users.contains_key(user) {
                    return Err(super::no_such_user(user));
                }
                if cfg.token(user, name).is_none() {
                    return Err(ApiError::internal(format!(
                        "no such token '{name}' for user '{user}'\n"
                    )));
                }
                apply(
                    &mut cfg.acl_root.find_mut(&path).tokens,
                    token,
                    role,
                    propagate,
                    delete,
                );
            }
        }
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn read_acl_method() -> ApiMethod {
    ApiMethod::new("read_acl", HttpMethod::Get, "Get Access Control List (ACLs).", read_acl)
    .permissions(perms(pve_common::schema::json_lit(r#"{"description": "The returned list is restricted to objects where you have rights to modify permissions.", "user": "all"}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"additionalProperties": 0, "properties": {"path": {"description": "Access control path", "type": "string"}, "propagate": {"default": 1, "description": "Allow to propagate (inherit) permissions.", "optional": 1, "type": "boolean"}, "roleid": {"type": "string"}, "type": {"enum": ["user", "group", "token"], "type": "string"}, "ugid": {"type": "string"}}, "type": "object"}, "type": "array"}"#)))
}

fn update_acl_method() -> ApiMethod {
    ApiMethod::new("update_acl", HttpMethod::Put, "Update Access Control List (add or remove permissions).", update_acl)
    .param("delete", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Remove permissions (instead of adding it).", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("groups", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of groups.", "format": "pve-groupid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("path", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Access control path", "type": "string", "typetext": "<string>"}"#)))
    .param("propagate", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "Allow to propagate (inherit) permissions.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("roles", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of roles.", "format": "pve-roleid-list", "type": "string", "typetext": "<string>"}"#)))
    .param("tokens", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of API tokens.", "format": "pve-tokenid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("users", Schema::literal(pve_common::schema::json_lit(r#"{"description": "List of users.", "format": "pve-userid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(json!({"check": ["perm-modify", "{path}"]})))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}
