//! `/access/domains[/{realm}]`: the authentication realms (read only for now).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

use super::{files, internal, perms};
use crate::domains::parse_domains;

pub fn router() -> Router {
    Router::new()
        .method(list_domains_method())
        .match_param("realm", Router::new().method(read_domain_method()))
}

/// domains.cfg's bytes (empty when absent).
fn raw_domains(env: &RpcEnv) -> Result<Vec<u8>, ApiError> {
    match std::fs::read(files(env).path("domains.cfg")) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(internal(e)),
    }
}

fn list_domains(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let domains = parse_domains(&String::from_utf8_lossy(&raw_domains(env)?));
    let list: Vec<Value> = domains
        .iter()
        .map(|(id, r)| {
            let mut entry = json!({ "realm": id, "type": r.realm_type });
            if let Some(c) = r.comment.as_deref().filter(|c| !c.is_empty()) {
                entry["comment"] = json!(c);
            }
            if r.default {
                entry["default"] = json!(1);
            }
            // the `tfa` option is a property string whose `type` names the provider
            if let Some(t) = r.tfa.as_deref().and_then(tfa_type) {
                entry["tfa"] = json!(t);
            }
            entry
        })
        .collect();
    Ok(Value::Array(list).into())
}

fn tfa_type(tfa: &str) -> Option<&str> {
    tfa.split(',').find_map(|kv| match kv.split_once('=') {
        Some(("type", v)) => Some(v),
        None if !kv.is_empty() => Some(kv),
        _ => None,
    })
}

fn read_domain(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let realm = p.required_str("realm")?;
    let raw = raw_domains(env)?;
    let domains = parse_domains(&String::from_utf8_lossy(&raw));
    let r = domains
        .get(&realm)
        .ok_or_else(|| ApiError::internal(format!("domain '{realm}' does not exist\n")))?;
    let mut data = Map::new();
    data.insert("type".into(), json!(r.realm_type));
    if let Some(c) = &r.comment {
        data.insert("comment".into(), json!(c));
    }
    if r.default {
        data.insert("default".into(), json!(1));
    }
    if let Some(t) = &r.tfa {
        data.insert("tfa".into(), json!(t));
    }
    for (k, v) in &r.options {
        data.insert(k.clone(), json!(v));
    }
    let digest: String = openssl::sha::sha1(&raw)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    data.insert("digest".into(), json!(digest));
    Ok(Value::Object(data).into())
}

fn list_domains_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Authentication domain index.", list_domains)
    .permissions(perms(pve_common::schema::json_lit(r#"{"description": "Anyone can access that, because we need that list for the login box (before the user is authenticated).", "user": "world"}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"comment": {"description": "A comment. The GUI use this text when you select a domain (Realm) on the login window.", "optional": 1, "type": "string"}, "realm": {"type": "string"}, "tfa": {"description": "Two-factor authentication provider.", "enum": ["yubico", "oath"], "optional": 1, "type": "string"}, "type": {"type": "string"}}, "type": "object"}, "links": [{"href": "{realm}", "rel": "child"}], "type": "array"}"#)))
}

fn read_domain_method() -> ApiMethod {
    ApiMethod::new("read", HttpMethod::Get, "Get auth server configuration.", read_domain)
    .param("realm", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Authentication domain ID", "format": "pve-realm", "maxLength": 32, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["perm", "/access/realm", ["Realm.Allocate", "Sys.Audit"], "any", 1]}"#)))
    .returns(Schema::literal(json!({})))
}
