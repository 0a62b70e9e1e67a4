//! Suites about policies: prune selection, bandwidth limits, volume access.

use jiff::tz::TimeZone;
use serde_json::Value;

use super::acl::{User, UserCfg};
use crate::config::StorageConfig;
use crate::prune::{select, BackupItem, PruneOptions};
use pve_common::conformance::check::{expect_eq, str_field};

pub use pve_common::conformance::CORPUS_DEFECT;

pub fn prune_case(top: &Value, case: &Value) -> Result<(), String> {
    let list_name = str_field(case, "list")?;
    let vmid = case["vmid"].as_u64().map(|v| v as u32);
    let list = top["backup_lists"][list_name]
        .as_array()
        .ok_or("unknown backup list")?;
    if list.iter().any(|b| !b.is_object()) {
        // the converter kept only the key names of this list: nothing to run against
        return Err(format!(
            "{CORPUS_DEFECT}: backup list '{list_name}' holds no backup entries ({})",
            Value::Array(list.clone())
        ));
    }
    let items: Vec<BackupItem> = list
        .iter()
        .map(|b| BackupItem {
            volid: b["volid"].as_str().unwrap_or_default().to_string(),
            ctime: b["ctime"].as_i64().unwrap_or_default(),
            vmid: b["vmid"].as_u64().map(|v| v as u32),
            protected: b
                .get("protected")
                .is_some_and(pve_common::schema::perl_truthy),
        })
        .filter(|b| vmid.is_none() || b.vmid == vmid)
        .collect();
    let keep = PruneOptions::from_map(case["keep"].as_object().unwrap_or(&Default::default()))
        .map_err(|e| e.to_string())?;
    let mut got = select(&items, &keep, vmid, case["type"].as_str(), &TimeZone::UTC)
        .map_err(|e| format!("unexpected error: {e}"))?;
    got.sort_by(|a, b| a.volid.cmp(&b.volid));
    let mut want = case["expected"].as_array().cloned().unwrap_or_default();
    want.sort_by(|a, b| a["volid"].as_str().cmp(&b["volid"].as_str()));
    let got = serde_json::to_value(&got).map_err(|e| e.to_string())?;
    expect_eq("selection", &got, &Value::Array(want))
}

pub fn bwlimit_case(top: &Value, case: &Value) -> Result<(), String> {
    let cfg = StorageConfig::parse(top["storage_cfg"].as_str().unwrap_or_default());
    let dc = top["datacenter_cfg"].as_str().unwrap_or_default();
    let dc_limit = dc
        .lines()
        .find_map(|l| l.strip_prefix("bwlimit:"))
        .map(str::trim);
    let user = str_field(case, "user")?;
    let perms = &top["permissions"][user];
    let check = |path: &str, privilege: &str| -> bool {
        user == "root@pam"
            || perms[path]
                .as_array()
                .is_some_and(|l| l.iter().any(|p| p.as_str() == Some(privilege)))
    };
    let storages: Vec<Option<&str>> = case["storages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(Value::as_str)
        .collect();
    let got = crate::bwlimit::get_bandwidth_limit(
        str_field(case, "operation")?,
        &storages,
        case["override"].as_f64(),
        &cfg,
        dc_limit,
        Some(&check),
    )
    .map_err(|e| format!("unexpected error: {e}"))?;
    let got = got.map_or(Value::Null, |v| {
        if v.fract() == 0.0 {
            Value::from(v as i64)
        } else {
            Value::from(v)
        }
    });
    expect_eq("limit", &got, &case["expected"])
}

pub fn volume_access_case(top: &Value, case: &Value) -> Result<(), String> {
    let cfg = StorageConfig::parse(top["storage_cfg"].as_str().unwrap_or_default());
    let users = UserCfg::parse(top["user_cfg"].as_str().unwrap_or_default());
    let volid = str_field(case, "volid")?;
    let vmid = case["vmid"].as_u64().map(|v| v as u32);
    let names = |k: &str| -> Vec<String> {
        case[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    for (key, allowed) in [("allowed_users", true), ("denied_users", false)] {
        for name in names(key) {
            let who = User {
                cfg: &users,
                name: &name,
            };
            let r = crate::access::check_volume_access(&who, &cfg, vmid, volid, None);
            if r.is_ok() != allowed {
                return Err(format!("{name}: got {r:?}, want allowed={allowed}"));
            }
        }
    }
    let root = User {
        cfg: &users,
        name: "root@pam",
    };
    for (key, allowed) in [
        ("allowed_content_types", true),
        ("denied_content_types", false),
    ] {
        for ct in names(key) {
            let r = crate::access::check_volume_access(&root, &cfg, vmid, volid, Some(&ct));
            if r.is_ok() != allowed {
                return Err(format!("content {ct}: got {r:?}, want allowed={allowed}"));
            }
        }
    }
    Ok(())
}
