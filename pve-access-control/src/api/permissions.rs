//! `GET /access/permissions`: the effective privileges of a user or token.

use std::collections::BTreeSet;

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

use super::{load_cfg, perms};
use crate::acl::{permissions as privileges_on, PrivSet};
use crate::ids::split_tokenid;
use crate::user_cfg::UserConfig;

pub fn router() -> Router {
    Router::new().method(permissions_method())
}

fn priv_map(set: PrivSet) -> Value {
    let map: Map<String, Value> = set
        .into_iter()
        .map(|(p, prop)| (p, json!(u8::from(prop))))
        .collect();
    Value::Object(map)
}

/// Every path upstream reports: the top-level ones, those in ACLs and the pool members.
fn effective_paths(cfg: &UserConfig) -> BTreeSet<String> {
    let mut paths: BTreeSet<String> = [
        "/",
        "/access",
        "/access/groups",
        "/nodes",
        "/pool",
        "/sdn",
        "/storage",
        "/vms",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cfg.acl_root.walk(&mut |p, _| {
        paths.insert(p.to_string());
    });
    for pool in cfg.pools.values() {
        paths.extend(pool.vms.iter().map(|id| format!("/vms/{id}")));
        paths.extend(pool.storage.iter().map(|s| format!("/storage/{s}")));
    }
    paths
}

fn permissions(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let authid = env.auth.full();
    let userid = p.str("userid").unwrap_or_else(|| authid.clone());
    let owned_token = split_tokenid(&userid).is_some_and(|(user, _)| user == authid);
    if userid != authid && !owned_token {
        env.check_privs("/access", &["Sys.Audit"], false)?;
    }
    let cfg = load_cfg(env)?;
    let mut res = Map::new();
    match p.str("path").filter(|p| !p.is_empty()) {
        Some(path) => {
            res.insert(path.clone(), priv_map(privileges_on(&cfg, &userid, &path)));
        }
        None => {
            for path in effective_paths(&cfg) {
                let set = privileges_on(&cfg, &userid, &path);
                if !set.is_empty() {
                    res.insert(path, priv_map(set));
                }
            }
        }
    }
    Ok(Value::Object(res).into())
}

fn permissions_method() -> ApiMethod {
    ApiMethod::new("permissions", HttpMethod::Get, "Retrieve effective permissions of given user/token.", permissions)
    .param("path", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only dump this specific path, not the whole tree.", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User ID or full API token ID", "optional": 1, "pattern": "(?^:^(?^:[^\\s:/]+)\\@(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)(?:!(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+))?$)", "type": "string"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"description": "Each user/token is allowed to dump their own permissions (or that of owned tokens). A user can dump the permissions of another user or their tokens if they have 'Sys.Audit' permission on /access.", "user": "all"}"#)))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"description": "Map of \"path\" => (Map of \"privilege\" => \"propagate boolean\").", "type": "object"}"#)))
}
