//! `/access/groups[/{groupid}]`: user groups.

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use super::{load_cfg, perms, update_user_config};
use crate::user_cfg::Group;

pub fn router() -> Router {
    Router::new()
        .method(list_groups_method())
        .method(create_group_method())
        .match_param(
            "groupid",
            Router::new()
                .method(read_group_method())
                .method(update_group_method())
                .method(delete_group_method()),
        )
}

fn no_such_group(group: &str) -> ApiError {
    ApiError::internal(format!("group '{group}' does not exist\n"))
}

fn list_groups(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let cfg = load_cfg(env)?;
    let privs = ["User.Modify", "Sys.Audit", "Group.Allocate"];
    let list: Vec<Value> = cfg
        .groups
        .iter()
        .filter(|(id, _)| env.has_privs(&format!("/access/groups/{id}"), &privs, true))
        .map(|(id, g)| {
            let mut entry = json!({
                "groupid": id,
                "users": g.users.iter().cloned().collect::<Vec<_>>().join(","),
            });
            if let Some(c) = &g.comment {
                entry["comment"] = json!(c);
            }
            entry
        })
        .collect();
    Ok(Value::Array(list).into())
}

fn create_group(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let group = p.required_str("groupid")?;
    update_user_config(env, "create group failed", |cfg| {
        if cfg.groups.contains_key(&group) {
            return Err(ApiError::internal(format!(
                "group '{group}' already exists\n"
            )));
        }
        let comment = p.str("comment").filter(|c| !c.is_empty() && c != "0");
        cfg.groups.insert(
            group.clone(),
            Group {
                comment,
                ..Default::default()
            },
        );
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn read_group(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let group = p.required_str("groupid")?;
    let cfg = load_cfg(env)?;
    let g = cfg
        .groups
        .get(&group)
        .ok_or_else(|| no_such_group(&group))?;
    let mut res = json!({ "members": g.users.iter().collect::<Vec<_>>() });
    if let Some(c) = &g.comment {
        res["comment"] = json!(c);
    }
    Ok(res.into())
}

fn update_group(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let group = p.required_str("groupid")?;
    update_user_config(env, "update group failed", |cfg| {
        let g = cfg
            .groups
            .get_mut(&group)
            .ok_or_else(|| no_such_group(&group))?;
        if let Some(c) = p.str("comment") {
            g.comment = Some(c);
        }
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn delete_group(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let group = p.required_str("groupid")?;
    update_user_config(env, "delete group failed", |cfg| {
        let g = cfg
            .groups
            .remove(&group)
            .ok_or_else(|| no_such_group(&group))?;
        for user in g.users {
            if let Some(u) = cfg.users.get_mut(&user) {
                u.groups.remove(&group);
            }
        }
        cfg.delete_group_acl(&group);
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn list_groups_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Group index.", list_groups)
    .permissions(perms(pve_common::schema::json_lit(r#"{"description": "The returned list is restricted to groups where you have 'User.Modify', 'Sys.Audit'  or 'Group.Allocate' permissions on /access/groups/<group>.", "user": "all"}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"comment": {"optional": 1, "type": "string"}, "groupid": {"format": "pve-groupid", "type": "string"}, "users": {"description": "list of users which form this group", "format": "pve-userid-list", "optional": 1, "type": "string"}}, "type": "object"}, "links": [{"href": "{groupid}", "rel": "child"}], "type": "array"}"#)))
}

fn create_group_method() -> ApiMethod {
    ApiMethod::new(
        "create_group",
        HttpMethod::Post,
        "Create new group.",
        create_group,
    )
    .param(
        "comment",
        Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})),
    )
    .param(
        "groupid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-groupid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(
        json!({"check": ["perm", "/access/groups", ["Group.Allocate"]]}),
    ))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn read_group_method() -> ApiMethod {
    ApiMethod::new("read_group", HttpMethod::Get, "Get group configuration.", read_group)
    .param("groupid", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-groupid", "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["perm", "/access/groups", ["Sys.Audit", "Group.Allocate"], "any", 1]}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"comment": {"optional": 1, "type": "string"}, "members": {"items": {"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string"}, "type": "array"}}, "type": "object"}"#)))
}

fn update_group_method() -> ApiMethod {
    ApiMethod::new(
        "update_group",
        HttpMethod::Put,
        "Update group data.",
        update_group,
    )
    .param(
        "comment",
        Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})),
    )
    .param(
        "groupid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-groupid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(
        json!({"check": ["perm", "/access/groups", ["Group.Allocate"]]}),
    ))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn delete_group_method() -> ApiMethod {
    ApiMethod::new(
        "delete_group",
        HttpMethod::Delete,
        "Delete group.",
        delete_group,
    )
    .param(
        "groupid",
        Schema::literal(pve_common::schema::json_lit(
            r#"{"format": "pve-groupid", "type": "string", "typetext": "<string>"}"#,
        )),
    )
    .permissions(perms(
        json!({"check": ["perm", "/access/groups", ["Group.Allocate"]]}),
    ))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}
