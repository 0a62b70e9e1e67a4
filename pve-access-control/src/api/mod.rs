//! The `/access` API (registry routers). Parameter and return schemas and permissions
//! are upstream's, copied from its published API description.

mod acl;
mod domains;
mod groups;
mod password;
mod permissions;
mod roles;
mod ticket;
mod tokens;
mod users;

use pve_common::api::Router;
use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::auth::load_user_config;
use crate::store::ConfigFiles;
use crate::user_cfg::UserConfig;

pub use ticket::compute_api_permission;

/// `/access` (mounted by pve-manager).
pub fn router() -> Router {
    Router::new()
        .method(index_method())
        .subdir("acl", acl::router())
        .subdir("domains", domains::router())
        .subdir("groups", groups::router())
        .subdir("password", password::router())
        .subdir("permissions", permissions::router())
        .subdir("roles", roles::router())
        .subdir("ticket", ticket::router())
        .subdir("users", users::router())
}

pub(crate) fn files(env: &RpcEnv) -> ConfigFiles {
    ConfigFiles::new(env.paths.clone())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("{e}\n"))
}

/// A method's `permissions` written as upstream's JSON.
fn perms(v: Value) -> Permissions {
    serde_json::from_value(v).expect("valid permissions literal")
}

/// user.cfg as it is now.
fn load_cfg(env: &RpcEnv) -> Result<UserConfig, ApiError> {
    load_user_config(&files(env)).map_err(internal)
}

/// An error as Perl prints a raised exception (`<code> <msg>` plus `<param>: <text>`
/// lines); plain `die` texts (500 without parameter errors) stay as they are.
fn exception_text(e: &ApiError) -> String {
    let mut msg = if e.status == 500 && e.errors.is_empty() {
        e.message.clone()
    } else {
        format!("{} {}", e.status, e.message)
    };
    if !msg.ends_with('\n') {
        msg.push('\n');
    }
    for (k, v) in &e.errors {
        msg.push_str(&format!("{k}: {v}\n"));
    }
    msg
}

/// Read-modify-write of user.cfg under its lock, as upstream's `lock_user_config`:
/// an error becomes a 500 `<errmsg>: <error>`. The file is written only on success.
pub fn update_user_config<T>(
    env: &RpcEnv,
    errmsg: &str,
    f: impl FnOnce(&mut UserConfig) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let files = files(env);
    let run = || -> Result<T, ApiError> {
        let _lock = files
            .lock("user.cfg")
            .map_err(|e| internal(format!("can't lock file 'user.cfg' - {e}")))?;
        let mut cfg = load_user_config(&files).map_err(internal)?;
        let res = f(&mut cfg)?;
        files
            .write("user.cfg", cfg.write().as_bytes())
            .map_err(internal)?;
        Ok(res)
    };
    run().map_err(|e| ApiError::internal(format!("{errmsg}: {}", exception_text(&e))))
}

/// Upstream's `check_user_exist`.
fn no_such_user(userid: &str) -> ApiError {
    ApiError::internal(format!("no such user ('{userid}')\n"))
}

fn index(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    // upstream lists its sub-handlers, then the two plain methods
    let dirs = [
        "users", "groups", "roles", "acl", "domains", "openid", "tfa", "ticket", "password",
    ];
    let list: Vec<Value> = dirs.iter().map(|d| json!({ "subdir": d })).collect();
    Ok(Value::Array(list).into())
}

fn index_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Directory index.", index)
    .permissions(perms(json!({"user": "all"})))
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"subdir": {"type": "string"}}, "type": "object"}, "links": [{"href": "{subdir}", "rel": "child"}], "type": "array"}"#)))
}

/// Upstream's `remove_vm_access`: a removed guest's ACL entries and pool membership go.
pub fn remove_vm_access(env: &RpcEnv, vmid: u32) -> Result<(), ApiError> {
    update_user_config(
        env,
        &format!("access permissions cleanup for VM {vmid} failed"),
        |cfg| {
            if let Some(vms) = cfg.acl_root.children.get_mut("vms") {
                vms.children.remove(&vmid.to_string());
            }
            if let Some(pool) = cfg.vms.remove(&vmid) {
                if let Some(p) = cfg.pools.get_mut(&pool) {
                    p.vms.remove(&vmid);
                }
            }
            Ok(())
        },
    )
}

/// Upstream's `add_vm_to_pool`: the new guest joins `pool` in user.cfg.
pub fn add_vm_to_pool(env: &RpcEnv, vmid: u32, pool: &str) -> Result<(), ApiError> {
    update_user_config(
        env,
        &format!("can't add VM {vmid} to pool '{pool}'"),
        |cfg| {
            if let Some(p) = cfg.pools.get_mut(pool) {
                p.vms.insert(vmid);
                cfg.vms.insert(vmid, pool.to_string());
            }
            Ok(())
        },
    )
}

/// Upstream's `check_pool_exist`: a 403 naming the missing pool.
pub fn check_pool_exist(env: &RpcEnv, pool: &str) -> Result<(), ApiError> {
    let files = crate::store::ConfigFiles::new(env.paths.clone());
    let cfg =
        crate::auth::load_user_config(&files).map_err(|e| ApiError::internal(format!("{e}\n")))?;
    if cfg.pools.contains_key(pool) {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            format!("Permission check failed (pool '{pool}' does not exist)\n"),
        ))
    }
}
