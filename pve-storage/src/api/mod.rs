//! The storage API: `/storage` (storage.cfg) and `/nodes/{node}/storage` (status,
//! content, volumes, prune). Schemas, permissions and flags are upstream's.

use pve_common::api::{ApiError, ApiMethod, Permissions, RpcEnv};
use pve_common::schema::Schema;
use pve_common::NodePaths;
use serde_json::Value;

use crate::config::{lock_config, StorageConfig};
use crate::storage::Storage;

mod config;
mod content;
mod prune;
mod schemas;
mod status;
mod upload;

pub use config::storage_router;
pub(crate) use prune::{delete as prune_delete, dryrun as prune_dryrun};
pub use status::{node_storage_router, storage_info, StorageInfo};

/// Adds upstream's parameter properties, return schema and permissions to a method.
fn declare(mut m: ApiMethod, params: Value, returns: Value, perms: Value) -> ApiMethod {
    if let Value::Object(props) = params {
        for (name, schema) in props {
            m = m.param(&name, Schema::literal(schema));
        }
    }
    m = m.returns(Schema::literal(returns));
    if !perms.is_null() {
        let p: Permissions = serde_json::from_value(perms).expect("upstream permission literal");
        m = m.permissions(p);
    }
    m
}

fn cfs(paths: &NodePaths) -> pve_cluster::cfs::Cfs {
    pve_cluster::cfs::Cfs::new(paths)
}

fn load(env: &RpcEnv) -> Result<Storage, ApiError> {
    Ok(Storage::load(&env.paths)?)
}

/// Runs `code` on storage.cfg under its lock; a failure reads `<what>: <error>` as
/// upstream's `lock_storage_config` reports it.
fn with_locked_config<R>(
    env: &RpcEnv,
    what: &str,
    code: impl FnOnce(&mut StorageConfig) -> Result<R, ApiError>,
) -> Result<R, ApiError> {
    let cfs = cfs(&env.paths);
    let mut outcome: Option<Result<R, ApiError>> = None;
    let locked = lock_config(&cfs, || {
        let mut cfg = StorageConfig::read(&cfs)?;
        let r = code(&mut cfg);
        if r.is_ok() {
            cfg.write(&cfs)?;
        }
        outcome = Some(r);
        Ok(())
    });
    let result = match (locked, outcome) {
        (Err(e), _) => Err(ApiError::internal(format!("{e}\n"))),
        (Ok(()), Some(r)) => r,
        (Ok(()), None) => Err(ApiError::internal("lock held without result\n")),
    };
    result.map_err(|e| {
        if e.status == 400 || e.status == 403 {
            e
        } else {
            ApiError::internal(format!("{what}: {}", e.message))
        }
    })
}
