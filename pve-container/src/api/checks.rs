//! Checks and value normalization the container API methods share (upstream's
//! `check_lock`, `check_protection`, `check_vmid_unused`,
//! `check_ct_modify_config_perm`, the per-option checks of `update_pct_config`,
//! `parse_lxc_network`).

use std::collections::BTreeMap;

use pve_common::api::{ApiError, RpcEnv};
use serde_json::{json, Value};

use crate::config::CtSection;
use crate::disks::parse_new_disk;
use crate::volumes::{parse_volume, MountType};

pub(super) fn err(msg: impl Into<String>) -> ApiError {
    ApiError::internal(msg)
}

pub(super) fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        other => other.to_string(),
    }
}

pub(super) fn storage_err(e: pve_storage::StorageError) -> String {
    let s = e.to_string();
    if s.ends_with('\n') {
        s
    } else {
        s + "\n"
    }
}

/// Upstream's `check_protection`.
pub(super) fn check_protection(section: &CtSection, prefix: &str) -> Result<(), String> {
    if section
        .get("protection")
        .is_some_and(|p| p == "1" || p.eq_ignore_ascii_case("yes") || p == "true")
    {
        return Err(format!("{prefix} - protection mode enabled\n"));
    }
    Ok(())
}

/// Upstream's `check_lock`.
pub(super) fn check_lock(section: &CtSection) -> Result<(), String> {
    match section.get("lock") {
        Some(lock) if !lock.is_empty() => Err(format!("CT is locked ({lock})\n")),
        _ => Ok(()),
    }
}

/// The privilege an option needs on `/vms/VMID` (upstream's
/// `check_ct_modify_config_perm`); `Err` for options only root@pam may set.
pub(super) fn check_modify_perm(
    env: &RpcEnv,
    vmid: u32,
    pool: Option<&str>,
    old: Option<&CtSection>,
    new: &BTreeMap<String, String>,
    delete: &[String],
    unprivileged: bool,
) -> Result<(), ApiError> {
    if env.auth.is_root() {
        return Ok(());
    }
    let vm_perm = |privs: &[&str]| -> Result<(), ApiError> {
        let path = format!("/vms/{vmid}");
        if env.has_privs(&path, privs, false)
            || pool.is_some_and(|p| env.has_privs(&format!("/pool/{p}"), privs, false))
        {
            return Ok(());
        }
        env.check_privs(&path, privs, false)
    };
    let perm_exc = |msg: &str| ApiError::new(403, format!("{msg}\n"));
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| err(format!("{e}\n")));
    let check = |opt: &str, value: Option<&String>| -> Result<(), ApiError> {
        if matches!(opt, "cores" | "cpuunits" | "cpulimit") {
            vm_perm(&["VM.Config.CPU"])
        } else if opt == "rootfs" || is_indexed(opt, "mp") {
            vm_perm(&["VM.Config.Disk"])?;
            let Some(value) = value else { return Ok(()) };
            let mp =
                parse_volume(opt, value).map_err(|e| ApiError::parameter(opt, e.trim_end()))?;
            if mp.kind != MountType::Volume {
                let kind = if mp.kind == MountType::Bind {
                    "bind"
                } else {
                    "device"
                };
                return Err(perm_exc(&format!(
                    "mount point type {kind} is only allowed for root@pam"
                )));
            }
            if let Some((sid, _)) = parse_new_disk(&mp.volume) {
                env.check_privs(
                    &format!("/storage/{sid}"),
                    &["Datastore.AllocateSpace"],
                    false,
                )
            } else {
                let storage = storage.as_ref().map_err(Clone::clone)?;
                pve_storage::access::check_volume_access(
                    env,
                    &storage.cfg,
                    Some(vmid),
                    &mp.volume,
                    Some("rootdir"),
                )
                .map_err(|e| ApiError::new(403, format!("{e}\n")))
            }
        } else if opt == "memory" || opt == "swap" {
            vm_perm(&["VM.Config.Memory"])
        } else if is_indexed(opt, "net")
            || matches!(opt, "nameserver" | "searchdomain" | "hostname")
        {
            vm_perm(&["VM.Config.Network"])
        } else if is_indexed(opt, "dev") {
            Err(perm_exc(
                "configuring device passthrough is only allowed for root@pam",
            ))
        } else if opt == "features" {
            if !unprivileged {
                return Err(perm_exc(
                    "changing feature flags for privileged container is only allowed for root@pam",
                ));
            }
            let only_nesting = |v: Option<&str>| {
                let keys: Vec<&str> = v
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.split('=').next().unwrap_or_default())
                    .collect();
                keys.is_empty() || keys == ["nesting"]
            };
            let old_v = old.and_then(|o| o.get("features"));
            if !only_nesting(value.map(String::as_str)) || !only_nesting(old_v) {
                return Err(perm_exc(
                    "changing feature flags (except nesting) is only allowed for root@pam",
                ));
            }
            vm_perm(&["VM.Allocate"])
        } else if opt == "hookscript" {
            Err(perm_exc(
                "changing the hookscript is only allowed for root@pam",
            ))
        } else {
            vm_perm(&["VM.Config.Options"])
        }
    };
    for opt in delete {
        check(opt, None)?;
    }
    for (opt, value) in new {
        check(opt, Some(value))?;
    }
    Ok(())
}

pub(super) fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// The `tag-style` of datacenter.cfg (tag order and case handling).
pub(super) fn tag_style(env: &RpcEnv) -> pve_guest_common::tags::TagStyle {
    let text =
        std::fs::read_to_string(env.paths.etc_pve().join("datacenter.cfg")).unwrap_or_default();
    pve_guest_common::tags::TagStyle::from_datacenter_cfg(&text)
}

/// `check_type` plus upstream's extra checks of `update_pct_config` for one option.
pub(super) fn normalize_option(
    key: &str,
    value: &str,
    tag_style: &pve_guest_common::tags::TagStyle,
) -> Result<String, String> {
    let mut v = crate::schema::check_type(key, value)?;
    if key == "tags" {
        v = pve_guest_common::tags::unique_tags(&v, *tag_style);
    } else if is_indexed(key, "net") {
        let format = crate::schema::option_format("net").unwrap_or_default();
        let net = pve_common::schema::property_string::parse_property_string(&format, &v)?;
        let truthy = |k: &str| net.get(k).is_some_and(pve_common::schema::perl_truthy);
        if !truthy("link_down")
            && truthy("host-managed")
            && net.get("ip6").and_then(Value::as_str) == Some("auto")
        {
            return Err(format!(
                "{key}: SLAAC is not supported for host-managed network configuration.\n"
            ));
        }
    }
    Ok(v)
}

/// A random MAC address with datacenter.cfg's `mac_prefix` (default `BC:24:11`), as
/// upstream's `random_ether_addr`.
fn random_mac(paths: &pve_common::paths::NodePaths) -> String {
    let cfg = std::fs::read_to_string(paths.etc_pve().join("datacenter.cfg")).unwrap_or_default();
    pve_common::random::ether_addr(&pve_common::random::mac_prefix(&cfg))
}

/// Upstream's `parse_lxc_network` + `print_lxc_network`: `type=veth` and a random
/// `hwaddr` when none is set.
pub(super) fn normalize_net(
    paths: &pve_common::paths::NodePaths,
    value: &str,
) -> Result<String, String> {
    let format = crate::schema::option_format("net").unwrap_or_default();
    let mut net = pve_common::schema::property_string::parse_property_string(&format, value)?;
    net.insert("type".into(), json!("veth"));
    if net
        .get("hwaddr")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        net.insert("hwaddr".into(), json!(random_mac(paths)));
    }
    pve_common::schema::property_string::print_property_string(&net, &format)
}

/// A node root with storages `local` (dir: vztmpl, images, rootdir) and `isos`, a VM
/// 300 on node `n2` and an (empty) template `local:vztmpl/t.tar.gz`.
#[cfg(test)]
pub(super) fn test_node(tag: &str) -> (std::path::PathBuf, RpcEnv) {
    let root = std::env::temp_dir().join(format!("ct-create-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/pve/nodes/n1/lxc")).unwrap();
    std::fs::create_dir_all(root.join("etc/pve/nodes/n2/qemu-server")).unwrap();
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl,images,rootdir\n\ndir: isos\n\tpath /srv/iso\n\tcontent iso\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/pve/nodes/n2/qemu-server/300.conf"),
        "memory: 512\n",
    )
    .unwrap();
    let cache = root.join("var/lib/vz/template/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("t.tar.gz"), b"").unwrap();
    let mut env = RpcEnv::cli(pve_common::paths::NodePaths::new(&root));
    env.node = "n1".into();
    (root, env)
}

/// Upstream's `check_vmid_unused` (see [`pve_cluster::cfs::Cfs::check_vmid_unused`]).
pub(super) fn check_vmid_unused(env: &RpcEnv, vmid: u32) -> Result<(), String> {
    pve_cluster::cfs::Cfs::new(&env.paths).check_vmid_unused(vmid)
}
