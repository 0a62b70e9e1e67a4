//! `…/{vmid}/config` (GET, PUT, POST), `…/pending` and `…/unlink`: reading configs with
//! or without pending changes, and upstream's update semantics (changes go to
//! `[PENDING]`, applied at once while the VM is stopped).

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_guest_common::pending::{
    add_to_pending_delete, cleanup_pending, config_with_pending, pending_delete, pending_entries,
    remove_from_pending_delete,
};
use pve_guest_common::snapshot::check_lock;
use pve_guest_common::GuestConfig;
use serde_json::{json, Map, Value};

use crate::config_file::{section_json, typed_value, VmConfigFile};
use crate::disks::{create_disks, free_volumes, register_unused_drive, volume_in_use};
use crate::drive::{parse_drive_name, Drive};
use crate::schema::{check_option_value, vm_config_options};

use super::{conf_file, err, storage};

/// The returns of `GET …/config`: the option schema plus `digest`. Built from the shared
/// option map, so the property-string formats are not copied again.
pub(super) fn config_returns() -> pve_common::schema::Schema {
    let mut props = vm_config_options().clone();
    props.insert(
        "digest".into(),
        pve_common::schema::Schema::literal(pve_common::schema::json_lit(r#"{"type": "string", "description": "SHA1 digest of configuration file. This can be used to prevent concurrent modifications."}"#)).into(),
    );
    let mut schema = pve_common::schema::Schema::literal(
        json!({"description": "The VM configuration.", "type": "object"}),
    );
    schema.properties = Some(props);
    schema
}

fn snapshot_config_json(conf: &GuestConfig, snapname: &str) -> Result<Value, ApiError> {
    let snap = conf
        .snapshots
        .get(snapname)
        .ok_or_else(|| err(format!("snapshot '{snapname}' does not exist\n")))?;
    let mut out = section_json(snap);
    out.insert("digest".into(), json!(conf.digest));
    Ok(Value::Object(out))
}

pub(super) fn get_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let current = p.bool("current").unwrap_or(false);
    let snapshot = p.str("snapshot").filter(|s| !s.is_empty());
    if snapshot.is_some() && current {
        let msg = "cannot use 'snapshot' parameter with 'current'";
        return Err(ApiError::parameters(BTreeMap::from([
            ("snapshot".to_string(), msg.to_string()),
            ("current".to_string(), msg.to_string()),
        ])));
    }
    let conf = conf_file(env, vmid).load().map_err(err)?;
    if let Some(snap) = snapshot {
        return Ok(snapshot_config_json(&conf, &snap)?.into());
    }
    let view = if current {
        conf.clone()
    } else {
        config_with_pending(&conf)
    };
    let mut out = section_json(&view.main);
    if out.contains_key("cipassword") {
        out.insert("cipassword".into(), json!("**********"));
    }
    out.insert("digest".into(), json!(conf.digest));
    Ok(Value::Object(out).into())
}

pub(super) fn pending(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let mut conf = conf_file(env, vmid).load().map_err(err)?;
    if let Some(d) = conf.main.description.take() {
        conf.main.values.insert("description".into(), d);
    }
    if let Some(d) = conf.pending.description.take() {
        conf.pending.values.insert("description".into(), d);
    }
    conf.main
        .values
        .insert("digest".into(), conf.digest.clone());
    let mut list = Vec::new();
    for e in pending_entries(&conf) {
        let mut m = Map::new();
        m.insert("key".into(), json!(e.key));
        let hide = |v: String| {
            if e.key == "cipassword" {
                "**********".to_string()
            } else {
                v
            }
        };
        if let Some(v) = e.value {
            m.insert("value".into(), typed_value(&e.key, &hide(v)));
        }
        if let Some(v) = e.pending {
            m.insert("pending".into(), typed_value(&e.key, &hide(v)));
        }
        if let Some(force) = e.delete {
            m.insert("delete".into(), json!(if force { 2 } else { 1 }));
        }
        list.push(Value::Object(m));
    }
    Ok(Value::Array(list).into())
}

/// A parsed config update (upstream's `update_vm` parameters).
#[derive(Clone, Debug, Default)]
pub struct UpdateRequest {
    pub vmid: u32,
    pub digest: Option<String>,
    pub delete: Vec<String>,
    pub revert: Vec<String>,
    pub force: bool,
    pub skiplock: bool,
    /// Option → config-file text.
    pub set: BTreeMap<String, String>,
    /// The request as upstream logs it (`-key value`, sorted by key).
    pub logged: Vec<(String, String)>,
}

fn split_list(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace() || c == '\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => u8::from(*b).to_string(),
        other => other.to_string(),
    }
}

const CONTROL_PARAMS: [&str; 9] = [
    "node",
    "vmid",
    "digest",
    "delete",
    "revert",
    "force",
    "skiplock",
    "background_delay",
    "skip_cloud_init",
];

impl UpdateRequest {
    fn from_params(p: &Params) -> Result<Self, ApiError> {
        let mut req = UpdateRequest {
            vmid: p.vmid()?,
            digest: p.str("digest"),
            delete: p.str("delete").map(|d| split_list(&d)).unwrap_or_default(),
            revert: p.str("revert").map(|d| split_list(&d)).unwrap_or_default(),
            force: p.bool("force").unwrap_or(false),
            skiplock: p.bool("skiplock").unwrap_or(false),
            ..Default::default()
        };
        for (k, v) in &p.0 {
            if !matches!(
                k.as_str(),
                "node"
                    | "vmid"
                    | "digest"
                    | "background_delay"
                    | "skip_cloud_init"
                    | "import-working-storage"
            ) {
                req.logged.push((k.clone(), param_text(v)));
            }
            if CONTROL_PARAMS.contains(&k.as_str()) || k == "import-working-storage" {
                continue;
            }
            req.set.insert(k.clone(), param_text(v));
        }
        req.logged.sort();
        Ok(req)
    }
}

const CPU_OPTIONS: [&str; 9] = [
    "cores",
    "cpu",
    "runningcpu",
    "cpulimit",
    "cpuunits",
    "numa",
    "smp",
    "sockets",
    "vcpus",
];
const MEMORY_OPTIONS: [&str; 4] = ["memory", "balloon", "shares", "allow-ksm"];
const HWTYPE_OPTIONS: [&str; 12] = [
    "acpi",
    "hotplug",
    "kvm",
    "machine",
    "runningmachine",
    "scsihw",
    "smbios1",
    "tablet",
    "vga",
    "watchdog",
    "audio0",
    "rng0",
];
const GENERAL_OPTIONS: [&str; 17] = [
    "agent",
    "autostart",
    "bios",
    "description",
    "keyboard",
    "localtime",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "ostype",
    "protection",
    "reboot",
    "startdate",
    "startup",
    "tdf",
    "template",
];
const DISK_OPTIONS: [&str; 3] = ["boot", "bootdisk", "vmstatestorage"];
const CLOUDINIT_OPTIONS: [&str; 8] = [
    "cicustom",
    "cipassword",
    "citype",
    "ciuser",
    "ciupgrade",
    "nameserver",
    "searchdomain",
    "sshkeys",
];

fn numbered(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Upstream's `check_vm_modify_config_perm`: the privilege each option needs.
pub(super) fn check_modify_perm(env: &RpcEnv, vmid: u32, keys: &[String]) -> Result<(), ApiError> {
    if env.auth.is_root() {
        return Ok(());
    }
    let path = format!("/vms/{vmid}");
    for opt in keys {
        let opt = opt.as_str();
        if parse_drive_name(opt).is_some()
            || opt == "cdrom"
            || ["unused", "serial", "usb", "hostpci", "virtiofs"]
                .iter()
                .any(|p| numbered(opt, p))
            || opt == "tags"
        {
            continue;
        }
        if CPU_OPTIONS.contains(&opt) || numbered(opt, "numa") {
            env.check_privs(&path, &["VM.Config.CPU"], false)?;
        } else if MEMORY_OPTIONS.contains(&opt) {
            env.check_privs(&path, &["VM.Config.Memory"], false)?;
        } else if HWTYPE_OPTIONS.contains(&opt) {
            env.check_privs(&path, &["VM.Config.HWType"], false)?;
        } else if GENERAL_OPTIONS.contains(&opt) {
            env.check_privs(&path, &["VM.Config.Options"], false)?;
            if opt == "startup" {
                env.check_privs("/", &["Sys.Modify"], false)?;
            }
        } else if opt == "freeze" {
            env.check_privs(&path, &["VM.PowerMgmt"], false)?;
        } else if DISK_OPTIONS.contains(&opt) {
            env.check_privs(&path, &["VM.Config.Disk"], false)?;
        } else if numbered(opt, "net") || opt == "running-nets-host-mtu" {
            env.check_privs(&path, &["VM.Config.Network"], false)?;
        } else if CLOUDINIT_OPTIONS.contains(&opt) || numbered(opt, "ipconfig") {
            env.check_privs(&path, &["VM.Config.Cloudinit", "VM.Config.Network"], true)?;
        } else if opt == "vmstate" {
            env.check_privs(&path, &["VM.Config.Disk", "VM.PowerMgmt"], false)?;
        } else {
            return Err(err(format!("only root can set '{opt}' config\n")));
        }
    }
    Ok(())
}

/// The permission a drive value needs (CD-ROM, cloud-init or disk).
fn check_drive_perm(env: &RpcEnv, vmid: u32, key: &str, value: &str) -> Result<(), ApiError> {
    if env.auth.is_root() {
        return Ok(());
    }
    let path = format!("/vms/{vmid}");
    let drive = Drive::parse(key, value).ok();
    let file = drive.as_ref().map(|d| d.file()).unwrap_or_default();
    if file.contains("cloudinit") {
        env.check_privs(&path, &["VM.Config.Cloudinit", "VM.Config.CDROM"], false)
    } else if drive.as_ref().is_some_and(|d| d.is_cdrom()) || file == "cdrom" || file == "none" {
        env.check_privs(&path, &["VM.Config.CDROM"], false)
    } else {
        env.check_privs(&path, &["VM.Config.Disk"], false)
    }
}

fn datacenter_cfg(env: &RpcEnv) -> String {
    pve_cluster::cfs::Cfs::new(&env.paths)
        .read_raw("datacenter.cfg")
        .ok()
        .flatten()
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_default()
}

/// The `tag-style` of datacenter.cfg.
pub(super) fn tag_style(env: &RpcEnv) -> pve_guest_common::tags::TagStyle {
    pve_guest_common::tags::TagStyle::from_datacenter_cfg(&datacenter_cfg(env))
}

/// A random UUID (v4), as upstream's `generate_uuid`.
pub(super) fn generate_uuid() -> String {
    let mut b = pve_common::random::bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Adds a MAC to `netN` values without one (upstream's `parse_net` + `print_net`).
pub(super) fn add_random_mac(env: &RpcEnv, value: &str) -> Result<String, String> {
    crate::schema::formats::register_formats();
    let mut net =
        pve_common::schema::property_string::parse_named_property_string("pve-qm-net", value)?;
    if net.get("macaddr").is_none_or(Value::is_null) {
        net.insert(
            "macaddr".into(),
            json!(pve_common::random::ether_addr(
                &pve_common::random::mac_prefix(&datacenter_cfg(env))
            )),
        );
    }
    pve_common::schema::property_string::print_named_property_string(&net, "pve-qm-net")
}

/// The option values normalised to their config-file form (`yes` → `1`, …).
fn normalise(set: &mut BTreeMap<String, String>) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (k, v) in set.iter_mut() {
        if k == "description" || k == "cdrom" {
            continue;
        }
        match check_option_value(vm_config_options(), k, v) {
            Ok(n) => *v = n,
            Err(e) => {
                errors.insert(k.clone(), e.trim_end().to_string());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::parameters(errors))
    }
}

fn bootorder(conf: &GuestConfig) -> Vec<String> {
    conf.main
        .get("boot")
        .and_then(|b| b.split(',').find_map(|kv| kv.strip_prefix("order=")))
        .map(split_list)
        .unwrap_or_default()
}

pub(super) fn print_bootorder(devs: &[String]) -> String {
    if devs.is_empty() {
        " ".into()
    } else {
        format!("order={}", devs.join(";"))
    }
}

/// Options a running VM takes without hot-plugging (upstream's `fast_plug_option`,
/// cloud-init options included).
const FAST_PLUG_OPTIONS: [&str; 20] = [
    "description",
    "hookscript",
    "lock",
    "migrate_downtime",
    "migrate_speed",
    "name",
    "onboot",
    "protection",
    "shares",
    "startup",
    "tags",
    "vmstatestorage",
    "cicustom",
    "cipassword",
    "citype",
    "ciuser",
    "ciupgrade",
    "nameserver",
    "searchdomain",
    "sshkeys",
];

/// Moves pending fast-plug values into the config; true when something moved.
fn apply_fast_plug(conf: &mut GuestConfig) -> bool {
    let mut changed = false;
    for opt in FAST_PLUG_OPTIONS {
        if let Some(v) = conf.pending.values.remove(opt) {
            conf.main.values.insert(opt.to_string(), v);
            changed = true;
        }
    }
    if let Some(d) = conf.pending.description.take() {
        conf.main.description = Some(d);
        changed = true;
    }
    changed
}

/// Applies the pending changes of a stopped VM (upstream's `vmconfig_apply_pending`).
pub(crate) fn apply_pending(
    storage: &pve_storage::Storage,
    vmid: u32,
    conf: &mut GuestConfig,
    log: &dyn Fn(&str),
) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    for (opt, force) in pending_delete(conf) {
        let mut result = Ok(());
        if let Some(val) = conf.main.get(&opt).map(str::to_string) {
            if parse_drive_name(&opt).is_some() {
                result = delete_or_detach_drive(storage, vmid, conf, &opt, &val, force, log);
            }
        }
        match result {
            Err(e) => {
                let msg = format!("unable to apply pending change {opt} : {e}");
                log(&msg);
                errors.insert(opt, msg);
            }
            Ok(()) => {
                remove_from_pending_delete(conf, &opt);
                if opt == "description" {
                    conf.main.description = None;
                }
                conf.main.values.remove(&opt);
            }
        }
    }
    cleanup_pending(conf);
    let pending: Vec<(String, String)> = conf
        .pending
        .values
        .iter()
        .filter(|(k, _)| *k != "delete")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (opt, val) in pending {
        if let Some(old) = conf.main.get(&opt).map(str::to_string) {
            if parse_drive_name(&opt).is_some() && old != val {
                if let Ok(d) = Drive::parse(&opt, &old) {
                    conf.main.values.insert(opt.clone(), val.clone());
                    register_unused_drive(storage, vmid, conf, &opt, &d, log);
                }
            }
        }
        conf.main.values.insert(opt.clone(), val);
        conf.pending.values.remove(&opt);
    }
    if let Some(d) = conf.pending.description.take() {
        conf.main.description = Some(d);
    }
    errors
}

/// Removes a drive: with `force` its volume is freed (unless still used elsewhere),
/// otherwise it becomes `unusedN`.
fn delete_or_detach_drive(
    storage: &pve_storage::Storage,
    vmid: u32,
    conf: &mut GuestConfig,
    key: &str,
    value: &str,
    force: bool,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let drive = Drive::parse(key, value)?;
    if force && !drive.is_cdrom() {
        let file = drive.file();
        if pve_storage::volume::split_volume_id(&file).is_some()
            && !volume_in_use(conf, &file, Some(key))
        {
            storage.vdisk_free(&file).map_err(|e| format!("{e}\n"))?;
        }
    } else {
        register_unused_drive(storage, vmid, conf, key, &drive, log);
    }
    Ok(())
}

/// Deallocates an `unusedN` volume unless it is still referenced.
fn try_deallocate(
    storage: &pve_storage::Storage,
    conf: &GuestConfig,
    key: &str,
    volid: &str,
) -> Result<bool, String> {
    if volume_in_use(conf, volid, Some(key)) {
        return Ok(false);
    }
    storage.vdisk_free(volid).map_err(|e| format!("{e}\n"))?;
    Ok(true)
}

/// Runs a config update as upstream's `update_vm` does, under the VM's config lock.
/// `log` gets the task output lines.
pub fn update_vm(env: &RpcEnv, req: &UpdateRequest, log: &dyn Fn(&str)) -> Result<(), ApiError> {
    let file = conf_file(env, req.vmid);
    let outcome: std::cell::RefCell<Option<ApiError>> = Default::default();
    let res = file.lock(|| match update_locked(env, &file, req, log) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.message.clone();
            *outcome.borrow_mut() = Some(e);
            Err(msg)
        }
    });
    match (res, outcome.into_inner()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(e)) => Err(e),
        (Err(msg), None) => Err(err(msg)),
    }
}

/// [`update_vm`] for a caller that holds the VM's config lock already (move_disk's
/// reassign updates the target VM inside both locks).
pub(super) fn update_vm_locked(
    env: &RpcEnv,
    req: &UpdateRequest,
    log: &dyn Fn(&str),
) -> Result<(), ApiError> {
    update_locked(env, &conf_file(env, req.vmid), req, log)
}

/// Checks that can fail before any change (and before a worker starts).
fn load_and_check(file: &VmConfigFile, req: &UpdateRequest) -> Result<GuestConfig, ApiError> {
    let conf = file.load().map_err(err)?;
    if let Some(d) = req.digest.as_deref().filter(|d| !d.is_empty()) {
        if d != conf.digest {
            return Err(err("checksum mismatch (file change by other user?)\n"));
        }
    }
    if !req.skiplock {
        check_lock("VM", &conf.main).map_err(err)?;
    }
    Ok(conf)
}

fn update_locked(
    env: &RpcEnv,
    file: &VmConfigFile,
    req: &UpdateRequest,
    log: &dyn Fn(&str),
) -> Result<(), ApiError> {
    let mut conf = load_and_check(file, req)?;
    let mut set = req.set.clone();
    let mut delete = req.delete.clone();
    for opt in &req.revert {
        if let Some(v) = conf.main.get(opt) {
            set.insert(opt.clone(), v.to_string());
        } else if conf.pending.values.contains_key(opt) {
            delete.push(opt.clone());
        }
    }
    let mut paramarr = Vec::new();
    for (k, v) in &req.logged {
        let v = if k == "cipassword" { "<hidden>" } else { v };
        paramarr.push(format!("-{k} {v}"));
    }
    log(&format!("update VM {}: {}", req.vmid, paramarr.join(" ")));
    let storage = storage(env)?;
    let write = |conf: &GuestConfig| file.write(conf).map_err(err);
    let mut order = bootorder(&conf);
    let bootorder_deleted = delete.iter().any(|d| d == "bootorder");

    for opt in &delete {
        conf = file.load().map_err(err)?;
        let val = conf
            .main
            .get(opt)
            .or_else(|| conf.pending.get(opt))
            .map(str::to_string)
            .or_else(|| {
                (opt == "description")
                    .then(|| conf.main.description.clone())
                    .flatten()
            });
        let Some(val) = val else {
            log(&format!(
                "cannot delete '{opt}' - not set in current configuration!"
            ));
            continue;
        };
        let is_pending_val = conf.pending.values.remove(opt).is_some();
        if !bootorder_deleted && order.iter().any(|d| d == opt) {
            order.retain(|d| d != opt);
            conf.pending
                .values
                .insert("boot".into(), print_bootorder(&order));
        }
        if numbered(opt, "unused") {
            if conf.main.get("protection") == Some("1") {
                return Err(err(format!(
                    "can't remove unused disk '{val}' - protection mode enabled\n"
                )));
            }
            env.check_privs(&format!("/vms/{}", req.vmid), &["VM.Config.Disk"], false)?;
            if try_deallocate(&storage, &conf, opt, &val).map_err(err)? {
                conf.main.values.remove(opt);
            }
        } else if parse_drive_name(opt).is_some() {
            if conf.main.get("protection") == Some("1") {
                return Err(err(format!(
                    "can't remove drive '{opt}' - protection mode enabled\n"
                )));
            }
            check_drive_perm(env, req.vmid, opt, &val)?;
            if is_pending_val {
                if let Ok(d) = Drive::parse(opt, &val) {
                    register_unused_drive(&storage, req.vmid, &mut conf, opt, &d, log);
                }
            }
            add_to_pending_delete(&mut conf, opt, req.force);
        } else if opt == "tags" {
            conf.main.values.remove(opt);
        } else {
            add_to_pending_delete(&mut conf, opt, req.force);
        }
        write(&conf)?;
    }

    let template = conf.main.get("template") == Some("1");
    for (opt, value) in &set {
        conf = file.load().map_err(err)?;
        if conf.pending.get(opt) == Some(value.as_str()) {
            continue;
        }
        if parse_drive_name(opt).is_some() {
            if let Some(old) = conf.main.get(opt).map(str::to_string) {
                check_drive_perm(env, req.vmid, opt, &old)?;
            }
            check_drive_perm(env, req.vmid, opt, value)?;
            if let Some(old) = conf.pending.get(opt).map(str::to_string) {
                if let Ok(d) = Drive::parse(opt, &old) {
                    register_unused_drive(&storage, req.vmid, &mut conf, opt, &d, log);
                }
            }
            if crate::disks::is_cloudinit_value(value) {
                let existing = crate::disks::cloudinit_key(conf.main.values.iter(), opt)
                    .or_else(|| crate::disks::cloudinit_key(conf.pending.values.iter(), opt));
                if let Some(k) = existing {
                    return Err(err(format!(
                        "{opt} - cloud-init drive is already attached at '{k}'\n"
                    )));
                }
            }
            let created = create_disks(
                &storage,
                req.vmid,
                &config_with_pending(&conf).main,
                &[(opt.clone(), value.clone())],
                None,
                template,
                log,
            )
            .map_err(|(made, e)| {
                free_volumes(&storage, &made.allocated, log);
                err(e)
            })?;
            let mut newval = value.clone();
            for (k, v) in created.values {
                if &k == opt {
                    newval = v;
                }
            }
            conf.pending.values.insert(opt.clone(), newval.clone());
            if !order.is_empty() {
                let is_cd = Drive::parse(opt, &newval).is_ok_and(|d| d.is_cdrom());
                if is_cd && !order.iter().any(|d| d == opt) {
                    order.push(opt.clone());
                    conf.pending
                        .values
                        .insert("boot".into(), print_bootorder(&order));
                }
            }
        } else if opt == "description" {
            conf.pending.description = Some(value.clone());
        } else if opt == "tags" {
            let tags = pve_guest_common::tags::unique_tags(value, tag_style(env));
            conf.pending.values.insert(opt.clone(), tags);
        } else if opt == "boot" {
            conf.pending.values.insert(opt.clone(), value.clone());
            if let Some(o) = value.split(',').find_map(|kv| kv.strip_prefix("order=")) {
                let devs = split_list(o);
                for dev in &devs {
                    let exists = conf.main.get(dev).is_some()
                        || conf.pending.get(dev).is_some()
                        || set.contains_key(dev);
                    if !exists || delete.contains(dev) {
                        return Err(err(format!(
                            "invalid bootorder: device '{dev}' does not exist'\n"
                        )));
                    }
                }
                conf.pending
                    .values
                    .insert(opt.clone(), print_bootorder(&devs));
                if conf.main.get("bootdisk").is_some() {
                    add_to_pending_delete(&mut conf, "bootdisk", false);
                }
            }
        } else {
            conf.pending.values.insert(opt.clone(), value.clone());
        }
        remove_from_pending_delete(&mut conf, opt);
        write(&conf)?;
    }

    conf = file.load().map_err(err)?;
    if cleanup_pending(&mut conf) {
        write(&conf)?;
    }
    if conf.pending.values.is_empty() && conf.pending.description.is_none() {
        return Ok(());
    }
    if super::running(env, req.vmid) {
        // Options without effect on the running guest apply at once; hot-plugging the
        // rest is the runtime's job, until then they stay pending.
        if apply_fast_plug(&mut conf) {
            write(&conf)?;
        }
        return Ok(());
    }
    let errors = apply_pending(&storage, req.vmid, &mut conf, log);
    write(&conf)?;
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    Ok(())
}

/// Parameter checks and preparation shared by PUT and POST.
fn prepare_update(env: &RpcEnv, p: &Params) -> Result<UpdateRequest, ApiError> {
    let mut req = UpdateRequest::from_params(p)?;
    if req.skiplock && !env.auth.is_root() {
        return Err(ApiError::parameter(
            "skiplock",
            "Only root may use this option.",
        ));
    }
    if req.delete.is_empty() && req.revert.is_empty() && req.set.is_empty() {
        return Err(err("no options specified\n"));
    }
    if let Some(cd) = req.set.remove("cdrom") {
        let v = if cd.contains("media=") {
            cd
        } else {
            format!("{cd},media=cdrom")
        };
        req.set.insert("ide2".into(), v);
    }
    let opts = vm_config_options();
    for opt in &req.revert {
        if !opts.contains_key(opt) {
            return Err(ApiError::parameter(
                "revert",
                format!("unknown option '{opt}'"),
            ));
        }
        if req.set.contains_key(opt) {
            return Err(ApiError::parameter(
                "delete",
                format!("you can't use '-{opt}' and -revert {opt}' at the same time"),
            ));
        }
    }
    for opt in req.delete.iter_mut() {
        if opt == "cdrom" {
            *opt = "ide2".into();
        }
        if req.set.contains_key(opt.as_str()) {
            return Err(ApiError::parameter(
                "delete",
                format!("you can't use '-{opt}' and -delete {opt}' at the same time"),
            ));
        }
        if req.revert.contains(opt) {
            return Err(ApiError::parameter(
                "revert",
                format!("you can't use '-delete {opt}' and -revert {opt}' at the same time"),
            ));
        }
        if !opts.contains_key(opt.as_str()) && opt != "description" {
            return Err(ApiError::parameter(
                "delete",
                format!("unknown option '{opt}'"),
            ));
        }
    }
    normalise(&mut req.set)?;
    crate::disks::check_import_params(req.set.iter())
        .map_err(|(k, m)| ApiError::parameter(&k, m))?;
    let keys: Vec<String> = req.set.keys().cloned().collect();
    for k in keys {
        let v = req.set[&k].clone();
        if numbered(&k, "net") {
            let n = add_random_mac(env, &v).map_err(|e| ApiError::parameter(&k, e))?;
            req.set.insert(k, n);
        } else if k == "vmgenid" && v == "1" {
            req.set.insert(k, generate_uuid());
        }
    }
    check_modify_perm(env, req.vmid, &req.delete)?;
    check_modify_perm(env, req.vmid, &req.set.keys().cloned().collect::<Vec<_>>())?;
    check_storage_access(env, req.vmid, &req.set)?;
    // early checks before forking or locking
    load_and_check(&conf_file(env, req.vmid), &req)?;
    Ok(req)
}

/// `Datastore.AllocateSpace` on storages that get new disks, access to used volumes.
pub(super) fn check_storage_access(
    env: &RpcEnv,
    _vmid: u32,
    set: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    if env.auth.is_root() {
        return Ok(());
    }
    for (k, v) in set {
        if parse_drive_name(k).is_none() {
            continue;
        }
        let Ok(d) = Drive::parse(k, v) else { continue };
        let file = d.file();
        if let Some((sid, rest)) = file.split_once(':') {
            if rest.parse::<f64>().is_ok() {
                env.check_privs(
                    &format!("/storage/{sid}"),
                    &["Datastore.AllocateSpace"],
                    false,
                )?;
            }
        }
    }
    Ok(())
}

pub(super) fn update_sync(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let req = prepare_update(env, &p)?;
    let log = |l: &str| {
        if env.kind == pve_common::api::EnvKind::Cli {
            println!("{l}");
        }
    };
    update_vm(env, &req, &log)?;
    Ok(Value::Null.into())
}

pub(super) fn update_async(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let req = prepare_update(env, &p)?;
    let wenv = env.clone();
    let upid = pve_common::tasks::start_worker(
        env,
        "qmconfig",
        Some(&req.vmid.to_string()),
        move |task| update_vm(&wenv, &req, &|l| task.log(l)).map_err(|e| anyhow::anyhow!("{e}")),
    )
    .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

pub(super) fn unlink(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let mut map = p.0.clone();
    if let Some(ids) = map.remove("idlist") {
        map.insert("delete".into(), ids);
    }
    update_sync(env, Params(map))
}
