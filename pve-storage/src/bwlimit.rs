//! Bandwidth limits (upstream's `get_bandwidth_limit`).

use serde_json::Value;

use crate::config::StorageConfig;
use crate::error::{Result, StorageError};

/// Privilege checks of the caller: `(path, privilege) -> granted`.
pub type PrivCheck<'a> = &'a dyn Fn(&str, &str) -> bool;

/// The limit (KiB/s) from a `bwlimit` property string for `operation`, falling back to
/// `default`.
fn limit_of(bwlimit: &str, operation: &str) -> Result<Option<f64>> {
    let map = pve_common::schema::property_string::parse_named_property_string("bwlimit", bwlimit)
        .map_err(StorageError::msg)?;
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    Ok(map
        .get(operation)
        .and_then(num)
        .or_else(|| map.get("default").and_then(num)))
}

/// The effective limit for `operation` on `storages`, given the caller's `override`.
/// Privilege checks apply only when an override was passed (as upstream: without one
/// the caller's permissions are not consulted). `datacenter_bwlimit` is the `bwlimit`
/// of datacenter.cfg.
pub fn get_bandwidth_limit(
    operation: &str,
    storages: &[Option<&str>],
    override_: Option<f64>,
    cfg: &StorageConfig,
    datacenter_bwlimit: Option<&str>,
    has_priv: Option<PrivCheck<'_>>,
) -> Result<Option<f64>> {
    let mut result = override_;
    let mut use_global = false;
    let checker = if override_.is_some() { has_priv } else { None };
    // true when a limit applied; otherwise the datacenter limits are consulted
    let apply = |bwlimit: Option<&str>, result: &mut Option<f64>| -> Result<bool> {
        if let Some(text) = bwlimit {
            if let Some(limit) = limit_of(text, operation)? {
                if result.is_none_or(|o| o == 0.0 || limit < o) {
                    *result = Some(limit);
                }
                return Ok(true);
            }
        }
        Ok(false)
    };
    if storages.iter().any(Option::is_some) {
        if checker.is_some_and(|c| c("/storage", "Datastore.Allocate")) {
            return Ok(result);
        }
        let mut done = std::collections::HashSet::new();
        for sid in storages.iter().flatten() {
            if !done.insert(*sid) {
                continue;
            }
            if checker.is_some_and(|c| c(&format!("/storage/{sid}"), "Datastore.Allocate")) {
                continue;
            }
            let scfg = cfg.storage(sid)?;
            if !apply(scfg.bwlimit.as_deref(), &mut result)? {
                use_global = true;
            }
        }
        if !use_global {
            return Ok(result);
        }
    }
    if !checker.is_some_and(|c| c("/", "Sys.Modify")) {
        apply(datacenter_bwlimit, &mut result)?;
    }
    Ok(result)
}
