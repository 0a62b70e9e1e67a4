//! `POST /nodes/{node}/qemu` (create) and `DELETE …/{vmid}` (destroy).

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_guest_common::snapshot::check_lock;
use pve_guest_common::{ConfigSection, GuestConfig};
use serde_json::{json, Value};

use crate::disks::{all_volumes, create_disks, free_volumes, volume_owned_by};
use crate::drive::Drive;

use super::config::{add_random_mac, check_modify_perm, check_storage_access, generate_uuid};
use super::{conf_file, err, running};

/// The QEMU version of the installed binary (`creation-qemu` of new VMs).
pub(crate) fn kvm_version() -> Option<String> {
    static VERSION: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            for bin in ["/usr/bin/kvm", "qemu-system-x86_64"] {
                let Ok(out) = std::process::Command::new(bin).arg("--version").output() else {
                    continue;
                };
                let text = String::from_utf8_lossy(&out.stdout);
                if let Some(v) = text
                    .split_whitespace()
                    .skip_while(|w| *w != "version")
                    .nth(1)
                {
                    return Some(v.to_string());
                }
            }
            None
        })
        .clone()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `creation-qemu=<version>,ctime=<now>`.
pub(crate) fn new_meta_info() -> String {
    match kvm_version() {
        Some(v) => format!("creation-qemu={v},ctime={}", now()),
        None => format!("ctime={}", now()),
    }
}

/// The default boot order: first disk, first CD-ROM, first NIC.
pub(crate) fn default_boot_order(section: &ConfigSection) -> String {
    let mut devs = Vec::new();
    let buses: [(&str, u32); 4] = [("ide", 4), ("scsi", 31), ("virtio", 16), ("sata", 6)];
    for want_cd in [false, true] {
        'outer: for (bus, n) in buses {
            for i in 0..n {
                let key = format!("{bus}{i}");
                let Some(v) = section.get(&key) else { continue };
                let Ok(d) = Drive::parse(&key, v) else {
                    continue;
                };
                if d.is_cdrom() == want_cd {
                    devs.push(key);
                    break 'outer;
                }
            }
        }
    }
    if let Some(net) = section.values.keys().find(|k| {
        k.strip_prefix("net")
            .is_some_and(|n| n.parse::<u32>().is_ok())
    }) {
        devs.push(net.clone());
    }
    format!("order={}", devs.join(";"))
}

fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        other => other.to_string(),
    }
}

const CREATE_ONLY: [&str; 12] = [
    "node",
    "vmid",
    "archive",
    "bwlimit",
    "force",
    "pool",
    "start",
    "ha-managed",
    "storage",
    "unique",
    "live-restore",
    "import-working-storage",
];

pub(super) fn create(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    if p.str("archive").is_some() {
        return Err(err("restoring from an archive is not supported yet\n"));
    }
    let default_storage = p.str("storage");
    let pool = p.str("pool");
    if let Some(pl) = &pool {
        pve_access_control::api::check_pool_exist(env, pl)?;
    }
    if let Some(s) = &default_storage {
        env.check_privs(
            &format!("/storage/{s}"),
            &["Datastore.AllocateSpace"],
            false,
        )?;
    }
    let allowed = env.has_privs(&format!("/vms/{vmid}"), &["VM.Allocate"], true)
        || pool
            .as_ref()
            .is_some_and(|pl| env.has_privs(&format!("/pool/{pl}"), &["VM.Allocate"], true));
    if !allowed {
        return Err(ApiError::new(403, "Permission check failed\n"));
    }
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &p.0 {
        if !CREATE_ONLY.contains(&k.as_str()) {
            set.insert(k.clone(), param_text(v));
        }
    }
    if let Some(cd) = set.remove("cdrom") {
        let v = if cd.contains("media=") {
            cd
        } else {
            format!("{cd},media=cdrom")
        };
        set.insert("ide2".into(), v);
    }
    let mut errors = BTreeMap::new();
    for (k, v) in set.iter_mut() {
        if k == "description" {
            continue;
        }
        match crate::schema::check_option_value(crate::schema::vm_config_options(), k, v) {
            Ok(n) => *v = n,
            Err(e) => {
                errors.insert(k.clone(), e.trim_end().to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    crate::disks::check_import_params(set.iter()).map_err(|(k, m)| ApiError::parameter(&k, m))?;
    check_storage_access(env, vmid, &set)?;
    check_modify_perm(env, vmid, &set.keys().cloned().collect::<Vec<_>>())?;
    let keys: Vec<String> = set.keys().cloned().collect();
    for k in keys {
        if k.strip_prefix("net")
            .is_some_and(|n| n.parse::<u32>().is_ok())
        {
            let n = add_random_mac(env, &set[&k]).map_err(|e| ApiError::parameter(&k, e))?;
            set.insert(k, n);
        }
    }

    let emsg = format!("unable to create VM {vmid} -");
    let file = conf_file(env, vmid);
    file.lock_timeout(std::time::Duration::from_secs(5), || {
        pve_cluster::cfs::Cfs::new(&env.paths).check_vmid_unused(vmid)?;
        let mut conf = GuestConfig::default();
        conf.main.values.insert("lock".into(), "create".into());
        file.write(&conf)
    })
    .map_err(|e| err(format!("{emsg} {e}")))?;

    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "qmcreate", Some(&vmid.to_string()), move |task| {
            let log = |l: &str| task.log(l);
            let result = file.lock_timeout(std::time::Duration::from_secs(1), || {
                create_config(&wenv, vmid, &set, default_storage.as_deref(), &log)
                    .map_err(|e| format!("{emsg} {e}"))
            });
            if let (Ok(()), Some(pl)) = (&result, &pool) {
                pve_access_control::api::add_vm_to_pool(&wenv, vmid, pl)
                    .map_err(|e| anyhow::anyhow!("{}", e.message.trim_end()))?;
            }
            if let Err(e) = result {
                if let Err(re) = file.remove() {
                    task.warn(re.trim_end());
                }
                anyhow::bail!("{}", e.trim_end());
            }
            Ok(())
        })
        .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

fn create_config(
    env: &RpcEnv,
    vmid: u32,
    set: &BTreeMap<String, String>,
    default_storage: Option<&str>,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let mut conf = GuestConfig::default();
    let template = set.get("template").is_some_and(|t| t == "1");
    let settings: Vec<(String, String)> = set.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let created = create_disks(
        &storage,
        vmid,
        &ConfigSection::default(),
        &settings,
        default_storage,
        template,
        log,
    );
    let created = match created {
        Ok(c) => c,
        Err((made, e)) => {
            free_volumes(&storage, &made.allocated, log);
            return Err(e);
        }
    };
    for (k, v) in set {
        if k == "description" {
            conf.main.description = Some(v.clone());
        } else {
            conf.main.values.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &created.values {
        conf.main.values.insert(k.clone(), v.clone());
    }
    conf.main.values.insert("meta".into(), new_meta_info());
    if let Some(tags) = conf.main.get("tags").map(str::to_string) {
        let style = super::config::tag_style(env);
        conf.main.values.insert(
            "tags".into(),
            pve_guest_common::tags::unique_tags(&tags, style),
        );
    }
    if conf.main.get("boot").is_none() {
        let order = default_boot_order(&conf.main);
        conf.main.values.insert("boot".into(), order);
    }
    if conf.main.get("smbios1").is_none() {
        conf.main
            .values
            .insert("smbios1".into(), format!("uuid={}", generate_uuid()));
    }
    if conf.main.get("vmgenid").is_none_or(|v| v == "1") && conf.main.get("arch") != Some("aarch64")
    {
        conf.main.values.insert("vmgenid".into(), generate_uuid());
    }
    let file = conf_file(env, vmid);
    if let Err(e) = file.write(&conf) {
        free_volumes(&storage, &created.allocated, log);
        return Err(e);
    }
    Ok(())
}

/// Whether a base volume has linked clones on its storage.
fn base_in_use(storage: &pve_storage::Storage, volid: &str) -> bool {
    let Ok(vn) = storage.parse_volname(volid) else {
        return false;
    };
    if !vn.is_base {
        return false;
    }
    let Some((sid, _)) = pve_storage::volume::split_volume_id(volid) else {
        return false;
    };
    let Ok(list) = storage.volume_list(sid, Some(&["images"]), None) else {
        return false;
    };
    list.iter().any(|e| {
        storage
            .parse_volname(&e.volid)
            .ok()
            .and_then(|o| o.basename)
            .is_some_and(|b| b == vn.name)
    })
}

/// Frees the VM's own volumes and writes the replacement config (upstream's
/// `destroy_vm`).
pub(crate) fn destroy_vm_disks(
    env: &RpcEnv,
    vmid: u32,
    skiplock: bool,
    purge_unreferenced: bool,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let file = conf_file(env, vmid);
    let conf = file.load()?;
    if !skiplock && conf.main.get("lock") != Some("suspended") {
        check_lock("VM", &conf.main)?;
    }
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let volumes = all_volumes(&conf);
    if conf.main.get("template") == Some("1") {
        for v in &volumes {
            if base_in_use(&storage, v) {
                return Err(format!(
                    "base volume '{v}' is still in use by linked cloned\n"
                ));
            }
        }
    }
    for v in &volumes {
        if !volume_owned_by(&storage, v, vmid) {
            continue;
        }
        if let Err(e) = storage.vdisk_free(v) {
            log(&format!("Could not remove disk '{v}', check manually: {e}"));
        }
    }
    if purge_unreferenced {
        for sec in storage.cfg.storages() {
            if sec.disable || !sec.available_on(&env.node) {
                continue;
            }
            let Ok(list) = storage.volume_list(&sec.storeid, Some(&["images"]), Some(vmid)) else {
                continue;
            };
            for e in list {
                if volumes.contains(&e.volid) {
                    continue;
                }
                if let Err(err) = storage.vdisk_free(&e.volid) {
                    log(&format!("{err}"));
                }
            }
        }
    }
    let mut replacement = GuestConfig::default();
    replacement
        .main
        .values
        .insert("lock".into(), "destroyed".into());
    file.write(&replacement)
}

pub(super) fn destroy(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let skiplock = p.bool("skiplock").unwrap_or(false);
    if skiplock && !env.auth.is_root() {
        return Err(ApiError::parameter(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    let purge_unreferenced = p.bool("destroy-unreferenced-disks").unwrap_or(false);
    let early = move |env: &RpcEnv| -> Result<(), String> {
        let conf = conf_file(env, vmid).load()?;
        if conf.main.get("protection") == Some("1") {
            return Err(format!(
                "can't remove VM {vmid} - protection mode enabled\n"
            ));
        }
        if running(env, vmid) {
            return Err(format!("VM {vmid} is running - destroy failed\n"));
        }
        Ok(())
    };
    early(env).map_err(err)?;
    let wenv = env.clone();
    let purge = p.bool("purge").unwrap_or(false);
    let upid =
        pve_common::tasks::start_worker(env, "qmdestroy", Some(&vmid.to_string()), move |task| {
            let file = conf_file(&wenv, vmid);
            let log = |l: &str| task.log(l);
            file.lock(|| {
                early(&wenv)?;
                destroy_vm_disks(&wenv, vmid, skiplock, purge_unreferenced, &log)?;
                pve_access_control::api::remove_vm_access(&wenv, vmid).map_err(|e| e.message)?;
                if purge {
                    log(&format!("purging VM {vmid} from related configurations.."));
                }
                file.remove()
            })
            .map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
        })
        .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_order_defaults() {
        let mut s = ConfigSection::default();
        s.values.insert(
            "net0".into(),
            "virtio=BC:24:11:00:01:03,bridge=vmbr0".into(),
        );
        assert_eq!(default_boot_order(&s), "order=net0");
        s.values.insert(
            "scsi0".into(),
            "local:100/vm-100-disk-0.qcow2,size=4G".into(),
        );
        s.values.insert("ide2".into(), "none,media=cdrom".into());
        assert_eq!(default_boot_order(&s), "order=scsi0;ide2;net0");
    }
}
