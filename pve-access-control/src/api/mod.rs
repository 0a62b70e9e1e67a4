//! The `/access` API (registry routers). Parameter schemas are upstream's, copied from
//! its published API description.

mod ticket;

use pve_common::api::{ApiError, ApiMethod, HttpMethod, Permissions, Router};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::auth::load_user_config;
use crate::store::ConfigFiles;

/// `/access` with the methods implemented so far (mounted by pve-manager).
pub fn router() -> Router {
    Router::new()
        .subdir("roles", Router::new().method(roles_index()))
        .subdir("ticket", ticket::router())
}

pub(crate) fn files(env: &pve_common::api::RpcEnv) -> ConfigFiles {
    ConfigFiles::new(env.paths.clone())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("{e}\n"))
}

fn roles_index() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Role index.", |env, _| {
        let cfg = load_user_config(&files(env)).map_err(internal)?;
        let list: Vec<Value> = cfg
            .roles
            .iter()
            .map(|(id, privs)| {
                json!({
                    "roleid": id,
                    "privs": privs.iter().cloned().collect::<Vec<_>>().join(","),
                    "special": u8::from(crate::privileges::is_builtin_role(id)),
                })
            })
            .collect();
        Ok(Value::Array(list).into())
    })
    .permissions(Permissions::all_users())
    .returns(Schema::literal(json!({
        "items": {"properties": {
            "privs": {"format": "pve-priv-list", "optional": 1, "type": "string"},
            "roleid": {"format": "pve-roleid", "type": "string"},
            "special": {"default": 0, "optional": 1, "type": "boolean"}},
            "type": "object"},
        "links": [{"href": "{roleid}", "rel": "child"}],
        "type": "array"
    })))
}
