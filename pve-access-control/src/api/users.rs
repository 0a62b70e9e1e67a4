//! `/access/users`: list, create, read, update and delete users; the API tokens are
//! below (`tokens`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::{split_list, Schema};
use serde_json::{json, Map, Value};

use super::{files, internal, load_cfg, no_such_user, perms, update_user_config};
use crate::domains::parse_domains;
use crate::ids::split_userid;
use crate::user_cfg::{Token, User, UserConfig};

pub fn router() -> Router {
    Router::new()
        .method(list_users_method())
        .method(create_user_method())
        .match_param(
            "userid",
            Router::new()
                .method(read_user_method())
                .method(update_user_method())
                .method(delete_user_method())
                .subdir("token", super::tokens::router()),
        )
}

/// A token's fields as upstream's API shows them.
pub(super) fn token_data(t: &Token) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("expire".into(), json!(t.expire));
    m.insert("privsep".into(), json!(u8::from(t.privsep)));
    if let Some(c) = &t.comment {
        m.insert("comment".into(), json!(c));
    }
    m
}

/// The user's own fields (upstream's `extract_user_data` without `full`).
fn user_data(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("enable".into(), json!(u8::from(u.enable)));
    m.insert("expire".into(), json!(u.expire));
    for (key, value) in [
        ("firstname", &u.firstname),
        ("lastname", &u.lastname),
        ("email", &u.email),
        ("comment", &u.comment),
        ("keys", &u.keys),
    ] {
        if let Some(v) = value {
            m.insert(key.into(), json!(v));
        }
    }
    m
}

/// Users the caller may see in the list: all with User.Modify or Sys.Audit on
/// `/access/groups`, else members of groups where it has one of them, and itself.
fn visible_users(env: &RpcEnv, cfg: &UserConfig) -> Option<std::collections::BTreeSet<String>> {
    let privs = ["User.Modify", "Sys.Audit"];
    if env.has_privs("/access/groups", &privs, true) {
        return None;
    }
    let mut allowed = std::collections::BTreeSet::new();
    for (name, group) in &cfg.groups {
        if env.has_privs(&format!("/access/groups/{name}"), &privs, true) {
            allowed.extend(group.users.iter().cloned());
        }
    }
    allowed.insert(env.auth.full());
    Some(allowed)
}

fn list_users(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let cfg = load_cfg(env)?;
    let domains = parse_domains(
        &files(env)
            .read("domains.cfg")
            .map_err(internal)?
            .unwrap_or_default(),
    );
    let full = p.bool("full").unwrap_or(false);
    let enabled = p.bool("enabled");
    let visible = visible_users(env, &cfg);
    let mut res = Vec::new();
    for (userid, user) in &cfg.users {
        if visible.as_ref().is_some_and(|v| !v.contains(userid)) {
            continue;
        }
        if enabled.is_some_and(|want| want != user.enable) {
            continue;
        }
        let mut entry = user_data(user);
        if full {
            entry.insert(
                "groups".into(),
                json!(user.groups.iter().cloned().collect::<Vec<_>>().join(",")),
            );
            let tokens: Vec<Value> = user
                .tokens
                .iter()
                .map(|(id, t)| {
                    let mut m = token_data(t);
                    m.insert("tokenid".into(), json!(id));
                    Value::Object(m)
                })
                .collect();
            entry.insert(
                "tokens".into(),
                if tokens.is_empty() {
                    Value::Null
                } else {
                    json!(tokens)
                },
            );
        }
        if let Some(realm) = split_userid(userid).and_then(|(_, r)| domains.get(r)) {
            entry.insert("realm-type".into(), json!(realm.realm_type));
        }
        entry.insert("userid".into(), json!(userid));
        res.push(Value::Object(entry));
    }
    Ok(Value::Array(res).into())
}

/// Adds the user to each group of the `groups` list; every group must exist.
fn join_groups(cfg: &mut UserConfig, userid: &str, groups: &str) -> Result<(), ApiError> {
    for group in split_list(groups) {
        if !cfg.groups.contains_key(group) {
            return Err(ApiError::internal(format!("no such group '{group}'\n")));
        }
        cfg.add_user_group(userid, group);
    }
    Ok(())
}

/// A non-empty text parameter (upstream sets these fields only when Perl-true on create).
fn set_text(p: &Params, name: &str) -> Option<String> {
    p.str(name).filter(|s| !s.is_empty() && s != "0")
}

fn create_user(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    update_user_config(env, "create user failed", |cfg| {
        let (name, realm) = split_userid(&userid).ok_or_else(|| {
            ApiError::internal(format!(
                "value '{userid}' does not look like a valid user name\n"
            ))
        })?;
        if cfg.users.contains_key(&userid) {
            return Err(ApiError::internal(format!(
                "user '{userid}' already exists\n"
            )));
        }
        if let Some(password) = p.str("password") {
            super::password::set_password(env, realm, name, &password)?;
        }
        let user = User {
            enable: p.bool("enable").unwrap_or(true),
            expire: p.i64("expire").unwrap_or(0),
            firstname: set_text(&p, "firstname"),
            lastname: set_text(&p, "lastname"),
            email: set_text(&p, "email"),
            comment: set_text(&p, "comment"),
            keys: set_text(&p, "keys"),
            ..Default::default()
        };
        cfg.users.insert(userid.clone(), user);
        if let Some(groups) = set_text(&p, "groups") {
            join_groups(cfg, &userid, &groups)?;
        }
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn read_user(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let cfg = load_cfg(env)?;
    let user = cfg
        .users
        .get(&userid)
        .ok_or_else(|| no_such_user(&userid))?;
    let mut data = user_data(user);
    data.insert(
        "groups".into(),
        json!(user.groups.iter().collect::<Vec<_>>()),
    );
    let tokens: Map<String, Value> = user
        .tokens
        .iter()
        .map(|(id, t)| (id.clone(), Value::Object(token_data(t))))
        .collect();
    data.insert(
        "tokens".into(),
        if tokens.is_empty() {
            Value::Null
        } else {
            Value::Object(tokens)
        },
    );
    Ok(Value::Object(data).into())
}

fn update_user(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    update_user_config(env, "update user failed", |cfg| {
        if !cfg.users.contains_key(&userid) {
            return Err(no_such_user(&userid));
        }
        let groups = p.str("groups");
        if groups.is_some() && !p.bool("append").unwrap_or(false) {
            for g in cfg.groups.values_mut() {
                g.users.remove(&userid);
            }
        }
        if let Some(groups) = groups.filter(|g| !g.is_empty() && g != "0") {
            join_groups(cfg, &userid, &groups)?;
        }
        let user = cfg
            .users
            .get_mut(&userid)
            .ok_or_else(|| no_such_user(&userid))?;
        if let Some(enable) = p.bool("enable") {
            user.enable = enable;
        }
        if let Some(expire) = p.i64("expire") {
            user.expire = expire;
        }
        for (key, field) in [
            ("firstname", &mut user.firstname),
            ("lastname", &mut user.lastname),
            ("email", &mut user.email),
            ("comment", &mut user.comment),
            ("keys", &mut user.keys),
        ] {
            if let Some(v) = p.str(key) {
                *field = Some(v);
            }
        }
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn delete_user(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let (name, realm) = split_userid(&userid).ok_or_else(|| {
        ApiError::internal(format!(
            "value '{userid}' does not look like a valid user name\n"
        ))
    })?;
    update_user_config(env, "delete user failed", |cfg| {
        let domains = parse_domains(
            &files(env)
                .read("domains.cfg")
                .map_err(internal)?
                .unwrap_or_default(),
        );
        if domains.get(realm).is_some_and(|r| r.realm_type == "pve") {
            super::password::remove_pve_password(env, name)?;
        }
        if let Some(user) = cfg.users.remove(&userid) {
            for token in user.tokens.keys() {
                cfg.delete_token_acl(&format!("{userid}!{token}"));
            }
        }
        for g in cfg.groups.values_mut() {
            g.users.remove(&userid);
        }
        cfg.delete_user_acl(&userid);
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn list_users_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "User index.", list_users)
    .param("enabled", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Optional filter for enable property.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("full", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Include group and token information.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"description": "The returned list is restricted to users where you have 'User.Modify' or 'Sys.Audit' permissions on '/access/groups' or on a group the user belongs too. But it always includes the current (authenticated) user.", "user": "all"}"#)))
    .protected()
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"comment": {"maxLength": 2048, "optional": 1, "type": "string"}, "email": {"format": "email-opt", "maxLength": 254, "optional": 1, "type": "string"}, "enable": {"default": 1, "description": "Enable the account (default). You can set this to '0' to disable the account", "optional": 1, "type": "boolean"}, "expire": {"description": "Account expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "firstname": {"maxLength": 1024, "optional": 1, "type": "string"}, "groups": {"format": "pve-groupid-list", "optional": 1, "type": "string"}, "keys": {"description": "Keys for two factor auth (yubico).", "optional": 1, "pattern": "[0-9a-zA-Z!=]{0,4096}", "type": "string"}, "lastname": {"maxLength": 1024, "optional": 1, "type": "string"}, "realm-type": {"description": "The type of the users realm", "format": "pve-realm", "optional": 1, "type": "string"}, "tfa-locked-until": {"description": "Contains a timestamp until when a user is locked out of 2nd factors.", "optional": 1, "type": "integer"}, "tokens": {"items": {"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}, "tokenid": {"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}}, "type": "object"}, "optional": 1, "type": "array"}, "totp-locked": {"description": "True if the user is currently locked out of TOTP factors.", "optional": 1, "type": "boolean"}, "userid": {"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string"}}, "type": "object"}, "links": [{"href": "{userid}", "rel": "child"}], "type": "array"}"#)))
}

fn create_user_method() -> ApiMethod {
    ApiMethod::new("create_user", HttpMethod::Post, "Create new user.", create_user)
    .param("comment", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 2048, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("email", Schema::literal(pve_common::schema::json_lit(r#"{"format": "email-opt", "maxLength": 254, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("enable", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "Enable the account (default). You can set this to '0' to disable the account", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("expire", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Account expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer", "typetext": "<integer> (0 - N)"}"#)))
    .param("firstname", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 1024, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("groups", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-groupid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("keys", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Keys for two factor auth (yubico).", "optional": 1, "pattern": "[0-9a-zA-Z!=]{0,4096}", "type": "string"}"#)))
    .param("lastname", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 1024, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("password", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Initial password.", "maxLength": 64, "minLength": 8, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["and", ["userid-param", "Realm.AllocateUser"], ["userid-group", ["User.Modify"], "groups_param", "create"]], "description": "You need 'Realm.AllocateUser' on '/access/realm/<realm>' on the realm of user <userid>, and 'User.Modify' permissions to '/access/groups/<group>' for any group specified (or 'User.Modify' on '/access/groups' if you pass no groups."}"#)))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn read_user_method() -> ApiMethod {
    ApiMethod::new("read_user", HttpMethod::Get, "Get user configuration.", read_user)
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(json!({"check": ["userid-group", ["User.Modify", "Sys.Audit"]]})))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"comment": {"maxLength": 2048, "optional": 1, "type": "string"}, "email": {"format": "email-opt", "maxLength": 254, "optional": 1, "type": "string"}, "enable": {"default": 1, "description": "Enable the account (default). You can set this to '0' to disable the account", "optional": 1, "type": "boolean"}, "expire": {"description": "Account expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "firstname": {"maxLength": 1024, "optional": 1, "type": "string"}, "groups": {"items": {"format": "pve-groupid", "type": "string"}, "optional": 1, "type": "array"}, "keys": {"description": "Keys for two factor auth (yubico).", "optional": 1, "pattern": "[0-9a-zA-Z!=]{0,4096}", "type": "string"}, "lastname": {"maxLength": 1024, "optional": 1, "type": "string"}, "tokens": {"additionalProperties": {"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}}, "type": "object"}, "optional": 1, "type": "object"}}, "type": "object"}"#)))
}

fn update_user_method() -> ApiMethod {
    ApiMethod::new("update_user", HttpMethod::Put, "Update user configuration.", update_user)
    .param("append", Schema::literal(pve_common::schema::json_lit(r#"{"optional": 1, "requires": "groups", "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("comment", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 2048, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("email", Schema::literal(pve_common::schema::json_lit(r#"{"format": "email-opt", "maxLength": 254, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("enable", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "Enable the account (default). You can set this to '0' to disable the account", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("expire", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Account expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer", "typetext": "<integer> (0 - N)"}"#)))
    .param("firstname", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 1024, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("groups", Schema::literal(pve_common::schema::json_lit(r#"{"format": "pve-groupid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("keys", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Keys for two factor auth (yubico).", "optional": 1, "pattern": "[0-9a-zA-Z!=]{0,4096}", "type": "string"}"#)))
    .param("lastname", Schema::literal(pve_common::schema::json_lit(r#"{"maxLength": 1024, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["userid-group", ["User.Modify"], "groups_param", "update"]}"#)))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}

fn delete_user_method() -> ApiMethod {
    ApiMethod::new("delete_user", HttpMethod::Delete, "Delete user.", delete_user)
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["and", ["userid-param", "Realm.AllocateUser"], ["userid-group", ["User.Modify"]]]}"#)))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}
