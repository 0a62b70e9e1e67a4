//! `/access/users/{userid}/token[/{tokenid}]`: a user's API tokens. Metadata lives in
//! user.cfg, the secrets in priv/token.cfg.

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::{split_list, Schema};
use serde_json::{json, Map, Value};

use super::users::token_data;
use super::{files, internal, load_cfg, no_such_user, perms, update_user_config};
use crate::secrets::{new_uuid, parse_token_cfg, write_token_cfg};
use crate::user_cfg::{Token, UserConfig};

pub fn router() -> Router {
    Router::new().method(list_tokens_method()).match_param(
        "tokenid",
        Router::new()
            .method(read_token_method())
            .method(generate_token_method())
            .method(update_token_method())
            .method(remove_token_method()),
    )
}

/// Upstream's `check_token_exist`.
fn token<'a>(cfg: &'a UserConfig, userid: &str, tokenid: &str) -> Result<&'a Token, ApiError> {
    let user = cfg.users.get(userid).ok_or_else(|| no_such_user(userid))?;
    user.tokens.get(tokenid).ok_or_else(|| {
        ApiError::internal(format!("no such token '{tokenid}' for user '{userid}'\n"))
    })
}

/// Changes priv/token.cfg under its lock.
fn edit_token_cfg(
    env: &RpcEnv,
    f: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> Result<(), ApiError> {
    let files = files(env);
    let _lock = files
        .lock("token.cfg")
        .map_err(|e| internal(format!("can't lock file 'priv/token.cfg' - {e}")))?;
    let mut tokens = parse_token_cfg(
        &files
            .read("priv/token.cfg")
            .map_err(internal)?
            .unwrap_or_default(),
    );
    f(&mut tokens);
    files
        .write("priv/token.cfg", write_token_cfg(&tokens).as_bytes())
        .map_err(internal)
}

/// A new secret for `full` in token.cfg.
fn generate_secret(env: &RpcEnv, full: &str) -> Result<String, ApiError> {
    let value = new_uuid();
    edit_token_cfg(env, |t| {
        t.insert(full.to_string(), value.clone());
    })?;
    Ok(value)
}

fn list_tokens(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let cfg = load_cfg(env)?;
    let user = cfg
        .users
        .get(&userid)
        .ok_or_else(|| no_such_user(&userid))?;
    let list: Vec<Value> = user
        .tokens
        .iter()
        .map(|(id, t)| {
            let mut m = token_data(t);
            m.insert("tokenid".into(), json!(id));
            Value::Object(m)
        })
        .collect();
    Ok(Value::Array(list).into())
}

fn read_token(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let tokenid = p.required_str("tokenid")?;
    let cfg = load_cfg(env)?;
    Ok(Value::Object(token_data(token(&cfg, &userid, &tokenid)?)).into())
}

fn generate_token(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let tokenid = p.required_str("tokenid")?;
    let cfg = load_cfg(env)?;
    if !cfg.users.contains_key(&userid) {
        return Err(no_such_user(&userid));
    }
    if cfg.token(&userid, &tokenid).is_some() {
        return Err(ApiError::parameter("tokenid", "Token already exists."));
    }
    let full = format!("{userid}!{tokenid}");
    // the answer shows the token as given (upstream echoes the parameter values)
    let mut info = Map::new();
    info.insert(
        "privsep".into(),
        p.get("privsep").cloned().unwrap_or(json!(1)),
    );
    if let Some(expire) = p.get("expire") {
        info.insert("expire".into(), expire.clone());
    }
    let comment = p.str("comment").filter(|c| !c.is_empty() && c != "0");
    if let Some(c) = &comment {
        info.insert("comment".into(), json!(c));
    }
    let value = update_user_config(env, "generating token failed", |cfg| {
        let user = cfg
            .users
            .get_mut(&userid)
            .ok_or_else(|| no_such_user(&userid))?;
        if user.tokens.contains_key(&tokenid) {
            return Err(ApiError::internal("Token already exists.\n"));
        }
        let value = generate_secret(env, &full)?;
        user.tokens.insert(
            tokenid.clone(),
            Token {
                expire: p.i64("expire").unwrap_or(0),
                privsep: p.bool("privsep").unwrap_or(true),
                comment: comment.clone(),
            },
        );
        Ok(value)
    })?;
    Ok(json!({ "info": info, "value": value, "full-tokenid": full }).into())
}

fn update_token(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let tokenid = p.required_str("tokenid")?;
    token(&load_cfg(env)?, &userid, &tokenid)?;
    let full = format!("{userid}!{tokenid}");
    let regenerate = p.bool("regenerate").unwrap_or(false);
    let delete = p.str("delete").unwrap_or_default();
    let (updated, value) = update_user_config(env, "updating token info failed", |cfg| {
        token(cfg, &userid, &tokenid)?;
        let t = cfg
            .users
            .get_mut(&userid)
            .and_then(|u| u.tokens.get_mut(&tokenid))
            .ok_or_else(|| no_such_user(&userid))?;
        if let Some(privsep) = p.bool("privsep") {
            t.privsep = privsep;
        }
        if let Some(expire) = p.i64("expire") {
            t.expire = expire;
        }
        if let Some(comment) = p.str("comment") {
            t.comment = Some(comment);
        }
        if t.comment.as_deref() == Some("") {
            t.comment = None;
        }
        for key in split_list(&delete) {
            if key != "comment" {
                return Err(ApiError::parameter(
                    "delete",
                    format!("unknown option '{key}'"),
                ));
            }
            t.comment = None;
        }
        let updated = t.clone();
        let value = match regenerate {
            true => Some(generate_secret(env, &full)?),
            false => None,
        };
        Ok((updated, value))
    })?;
    let mut res = token_data(&updated);
    if let Some(value) = value {
        res.insert("value".into(), json!(value));
        res.insert("full-tokenid".into(), json!(full));
    }
    Ok(Value::Object(res).into())
}

fn remove_token(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let tokenid = p.required_str("tokenid")?;
    token(&load_cfg(env)?, &userid, &tokenid)?;
    let full = format!("{userid}!{tokenid}");
    update_user_config(env, "deleting token failed", |cfg| {
        token(cfg, &userid, &tokenid)?;
        edit_token_cfg(env, |t| {
            t.remove(&full);
        })?;
        if let Some(u) = cfg.users.get_mut(&userid) {
            u.tokens.remove(&tokenid);
        }
        cfg.delete_token_acl(&full);
        Ok(())
    })?;
    Ok(Value::Null.into())
}

fn list_tokens_method() -> ApiMethod {
    ApiMethod::new("token_index", HttpMethod::Get, "Get user API tokens.", list_tokens)
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}, "tokenid": {"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}}, "type": "object"}, "links": [{"href": "{tokenid}", "rel": "child"}], "type": "array"}"#)))
}

fn read_token_method() -> ApiMethod {
    ApiMethod::new("read_token", HttpMethod::Get, "Get specific API token information.", read_token)
    .param("tokenid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}}, "type": "object"}"#)))
}

fn generate_token_method() -> ApiMethod {
    ApiMethod::new("generate_token", HttpMethod::Post, "Generate a new API token for a specific user. NOTE: returns API token value, which needs to be stored as it cannot be retrieved afterwards!", generate_token)
    .param("comment", Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})))
    .param("expire", Schema::literal(pve_common::schema::json_lit(r#"{"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer", "typetext": "<integer> (0 - N)"}"#)))
    .param("privsep", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("tokenid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]}"#)))
    .protected()
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"full-tokenid": {"description": "The full token id.", "format_description": "<userid>!<tokenid>", "type": "string"}, "info": {"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}}, "type": "object"}, "value": {"description": "API token value used for authentication.", "type": "string"}}, "type": "object"}"#)))
}

fn update_token_method() -> ApiMethod {
    ApiMethod::new("update_token_info", HttpMethod::Put, "Update API token for a specific user. NOTE: when 'regenerate' is set, the returned token value needs to be stored as it cannot be retrieved afterwards!", update_token)
    .param("comment", Schema::literal(json!({"optional": 1, "type": "string", "typetext": "<string>"})))
    .param("delete", Schema::literal(pve_common::schema::json_lit(r#"{"description": "A list of settings you want to delete.", "format": "pve-configid-list", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("expire", Schema::literal(pve_common::schema::json_lit(r#"{"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer", "typetext": "<integer> (0 - N)"}"#)))
    .param("privsep", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("regenerate", Schema::literal(pve_common::schema::json_lit(r#"{"default": 0, "description": "Regenerate the token's secret value. All users of the previous secret will lose access after this operation.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("tokenid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]}"#)))
    .protected()
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"properties": {"comment": {"optional": 1, "type": "string"}, "expire": {"default": "same as user", "description": "API token expiration date (seconds since epoch). '0' means no expiration date.", "minimum": 0, "optional": 1, "type": "integer"}, "full-tokenid": {"description": "The full token id. Only set when 'regenerate' was set.", "format_description": "<userid>!<tokenid>", "optional": 1, "type": "string"}, "privsep": {"default": 1, "description": "Restrict API token privileges with separate ACLs (default), or give full privileges of corresponding user.", "optional": 1, "type": "boolean"}, "value": {"description": "API token value used for authentication. Only set when 'regenerate' was set.", "optional": 1, "type": "string"}}, "type": "object"}"#)))
}

fn remove_token_method() -> ApiMethod {
    ApiMethod::new("remove_token", HttpMethod::Delete, "Remove API token for a specific user.", remove_token)
    .param("tokenid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User-specific token identifier.", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)", "type": "string"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]}"#)))
    .protected()
    .returns(Schema::literal(json!({"type": "null"})))
}
