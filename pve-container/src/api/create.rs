//! `POST /nodes/{node}/lxc` (create, worker `vzcreate`), `DELETE …/{vmid}` (destroy,
//! `vzdestroy`) and `POST …/{vmid}/template` (`vztemplate`), as upstream's
//! `PVE::API2::LXC`: checks before the worker with upstream's texts, the VMID reserved
//! by a config with `lock: create`, and a failed create frees its volumes and removes
//! that config again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use serde_json::{json, Value};

use super::vmid_param;
use crate::config::{CtConfig, CtSection};
use crate::disks::{create_disks, destroy_container_volumes, destroy_disks, parse_new_disk};
use crate::lxc_config::LxcHost;
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;
use crate::volumes::{foreach_volume, parse_volume, MountType};

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

fn storage_err(e: pve_storage::StorageError) -> String {
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

/// Upstream's `check_vmid_unused`: `CT 100 already exists on node 'x'` when any node
/// has a guest config with this id.
pub(super) fn check_vmid_unused(env: &RpcEnv, vmid: u32) -> Result<(), String> {
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    if let Ok(Some((node, ty))) = cfs.guest(vmid) {
        let what = if matches!(ty, pve_cluster::memdb::GuestType::Lxc) {
            "CT"
        } else {
            "VM"
        };
        return Err(format!("{what} {vmid} already exists on node '{node}'\n"));
    }
    let Ok(nodes) = std::fs::read_dir(cfs.path("nodes")) else {
        return Ok(());
    };
    for n in nodes.flatten() {
        for (dir, what) in [("qemu-server", "VM"), ("lxc", "CT")] {
            if n.path().join(dir).join(format!("{vmid}.conf")).exists() {
                return Err(format!(
                    "{what} {vmid} already exists on node '{}'\n",
                    n.file_name().to_string_lossy()
                ));
            }
        }
    }
    Ok(())
}

fn check_pool_exist(env: &RpcEnv, pool: &str) -> Result<(), ApiError> {
    let files = pve_access_control::store::ConfigFiles::new(env.paths.clone());
    let cfg =
        pve_access_control::auth::load_user_config(&files).map_err(|e| err(format!("{e}\n")))?;
    if cfg.pools.contains_key(pool) {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            format!("Permission check failed (pool '{pool}' does not exist)\n"),
        ))
    }
}

fn add_to_pool(env: &RpcEnv, vmid: u32, pool: &str) -> Result<(), ApiError> {
    pve_access_control::api::update_user_config(
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

/// Upstream's `remove_vm_access`: the guest's ACL entries and pool membership go.
fn remove_vm_access(env: &RpcEnv, vmid: u32) -> Result<(), ApiError> {
    pve_access_control::api::update_user_config(
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

/// Upstream's `validate_ssh_public_keys`: every non-comment line must look like an
/// OpenSSH public key.
fn validate_ssh_public_keys(keys: &str) -> Result<(), String> {
    for line in keys.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ok = fields
            .iter()
            .position(|f| f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-"))
            .and_then(|i| fields.get(i + 1))
            .is_some_and(|b64| {
                b64.len() >= 4
                    && b64
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
            });
        if !ok {
            return Err("SSH public key validation error\n".to_string());
        }
    }
    Ok(())
}

/// `8` or `0.5` (upstream's `^\d+(\.\d+)?$` for a size without storage).
fn is_size_number(v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match v.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(v),
    }
}

/// Parameters of create that are not container options.
const CREATE_ONLY: [&str; 14] = [
    "node",
    "vmid",
    "ostemplate",
    "password",
    "storage",
    "force",
    "restore",
    "unique",
    "pool",
    "ignore-unpack-errors",
    "ssh-public-keys",
    "bwlimit",
    "start",
    "ha-managed",
];

/// Checks and normalizes the non-disk options (upstream's `update_pct_config` on an
/// empty config) into `section`.
pub(super) fn apply_plain_options(
    section: &mut CtSection,
    opts: &BTreeMap<String, String>,
    tag_style: &pve_guest_common::tags::TagStyle,
) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (k, v) in opts {
        if k == "description" {
            section.description = Some(v.clone());
            continue;
        }
        match normalize_option(k, v, tag_style) {
            Ok(n) => section.set(k, n),
            Err(e) => {
                errors.insert(k.clone(), e.trim_end().to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    Ok(())
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

fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if openssl::rand::rand_bytes(&mut buf).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> (i * 8 % 120)) as u8;
        }
    }
    buf
}

/// A random MAC address with datacenter.cfg's `mac_prefix` (default `BC:24:11`), as
/// upstream's `random_ether_addr`.
fn random_mac(paths: &pve_common::paths::NodePaths) -> String {
    let prefix = std::fs::read_to_string(paths.etc_pve().join("datacenter.cfg"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("mac_prefix:").map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "BC:24:11".into());
    let bytes = random_bytes(6);
    let mut parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let pre: Vec<&str> = prefix.split(':').filter(|s| !s.is_empty()).collect();
    if pre.is_empty() {
        parts[0] = format!("{:02X}", (bytes[0] & 0xfe) | 0x02);
    }
    for (i, p) in pre.iter().take(6).enumerate() {
        parts[i] = p.to_uppercase();
    }
    parts.join(":")
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

fn ostemplate_path(
    env: &RpcEnv,
    storage: &pve_storage::Storage,
    vmid: u32,
    ostemplate: &str,
) -> Result<PathBuf, ApiError> {
    pve_storage::access::check_volume_access(
        env,
        &storage.cfg,
        Some(vmid),
        ostemplate,
        Some("vztmpl"),
    )
    .map_err(|e| {
        let m = e.to_string();
        if m.starts_with("Permission check failed") {
            ApiError::new(403, format!("{m}\n"))
        } else {
            err(format!("{m}\n"))
        }
    })?;
    if pve_storage::volume::split_volume_id(ostemplate).is_none() {
        return Ok(PathBuf::from(ostemplate));
    }
    let (path, _, _) = storage
        .path(ostemplate, None)
        .map_err(|e| err(storage_err(e)))?;
    Ok(path)
}

/// What the create worker needs.
struct CreateJob {
    vmid: u32,
    conf: CtConfig,
    /// `rootfs`/`mpN` → mount point string (maybe with `STORAGE:SIZE`), rootfs first.
    mp_param: Vec<(String, String)>,
    archive: PathBuf,
    /// As given (`local:vztmpl/…` or a path), for messages.
    ostemplate: String,
    password: Option<String>,
    ssh_keys: Option<String>,
    pool: Option<String>,
    start: bool,
    ignore_unpack_errors: bool,
}

pub(super) fn create_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid_param(&p)?;
    if p.bool("restore").unwrap_or(false) {
        return Err(err(
            "restoring a container from a backup archive is not implemented\n",
        ));
    }
    if p.bool("unique").unwrap_or(false) {
        return Err(ApiError::parameter(
            "unique",
            "parameter requires 'restore'",
        ));
    }
    if p.bool("ha-managed").unwrap_or(false) {
        env.check_privs("/", &["Sys.Console"], false)?;
        return Err(err(
            "adding a container as HA resource is not implemented\n",
        ));
    }
    let unprivileged = p.bool("unprivileged").unwrap_or(true);
    if !unprivileged {
        env.check_privs("/", &["Sys.Modify"], false)?;
    }
    check_vmid_unused(env, vmid).map_err(err)?;
    let password = p.str("password");
    let ssh_keys = p.str("ssh-public-keys");
    if let Some(keys) = &ssh_keys {
        validate_ssh_public_keys(keys).map_err(err)?;
    }
    let pool = p.str("pool");
    if let Some(pl) = &pool {
        check_pool_exist(env, pl)?;
    }
    let allowed = env.has_privs(&format!("/vms/{vmid}"), &["VM.Allocate"], false)
        || pool
            .as_ref()
            .is_some_and(|pl| env.has_privs(&format!("/pool/{pl}"), &["VM.Allocate"], false));
    if !allowed {
        return Err(ApiError::new(403, "Permission check failed\n"));
    }
    let ostemplate = p.required_str("ostemplate")?;

    let default_storage = p.str("storage").unwrap_or_else(|| "local".into());
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &p.0 {
        if CREATE_ONLY.contains(&k.as_str()) || k == "unprivileged" {
            continue;
        }
        let mut v = param_text(v);
        // a bare size allocates on the default storage
        if (k == "rootfs" || is_indexed(k, "mp")) && is_size_number(&v) {
            v = format!("{default_storage}:{v}");
        }
        params.insert(k.clone(), v);
    }
    check_modify_perm(env, vmid, pool.as_deref(), None, &params, &[], unprivileged)?;

    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| err(format!("{e}\n")))?;
    if ostemplate == "-" {
        return Err(err("pipe can only be used with restore tasks\n"));
    }
    let archive = ostemplate_path(env, &storage, vmid, &ostemplate)?;

    let mut mp_param: BTreeMap<String, String> = BTreeMap::new();
    let mut plain: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (k, v) in params {
        if k == "rootfs" || is_indexed(&k, "mp") {
            mp_param.insert(k, v);
        } else if is_indexed(&k, "unused") {
            warnings.push(format!(
                "ignoring '{k}', cannot create/restore with unused volume"
            ));
        } else {
            plain.insert(k, v);
        }
    }
    if !mp_param.is_empty() && !mp_param.contains_key("rootfs") {
        return Err(err(
            "mount points configured, but 'rootfs' not set - aborting\n",
        ));
    }
    let check_and_activate = |sid: &str| -> Result<(), ApiError> {
        let scfg = storage.cfg.storage(sid).map_err(|e| err(storage_err(e)))?;
        if scfg.disable {
            return Err(err(format!("storage '{sid}' is disabled\n")));
        }
        if !scfg.available_on(&env.node) {
            return Err(err(format!(
                "storage '{sid}' is not available on node '{}'\n",
                env.node
            )));
        }
        if !scfg.content.contains("rootdir") {
            return Err(ApiError::parameter(
                "storage",
                format!("storage '{sid}' does not support container directories"),
            ));
        }
        env.check_privs(
            &format!("/storage/{sid}"),
            &["Datastore.AllocateSpace"],
            false,
        )?;
        storage
            .activate_storage(sid)
            .map_err(|e| err(storage_err(e)))
    };
    for (key, value) in &mp_param {
        let mp = parse_volume(key, value).map_err(|e| ApiError::parameter(key, e.trim_end()))?;
        if mp.kind != MountType::Volume {
            if !env.auth.is_root() {
                return Err(err("Only root can pass arbitrary filesystem paths.\n"));
            }
        } else {
            let (sid, _) = pve_storage::volume::parse_volume_id(&mp.volume)
                .map_err(|e| ApiError::parameter(key, e.to_string()))?;
            check_and_activate(sid)?;
        }
    }
    if !mp_param.contains_key("rootfs") {
        check_and_activate(&default_storage)?;
        mp_param.insert("rootfs".into(), format!("{default_storage}:4"));
    }

    super::update::clamp_cpuunits(&mut plain);
    let mut conf = CtConfig::default();
    apply_plain_options(&mut conf.main, &plain, &tag_style(env))?;
    let nets: Vec<(String, String)> = conf
        .main
        .values
        .iter()
        .filter(|(k, _)| is_indexed(k, "net"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in nets {
        let n = normalize_net(&env.paths, &v).map_err(|e| ApiError::parameter(&k, e.trim_end()))?;
        conf.main.set(&k, n);
    }
    if unprivileged {
        conf.main.set("unprivileged", "1");
    }
    let mut mp_list: Vec<(String, String)> = Vec::new();
    if let Some(r) = mp_param.remove("rootfs") {
        mp_list.push(("rootfs".into(), r));
    }
    mp_list.extend(mp_param);

    // create_and_lock_config: reserve the VMID
    let emsg = format!("unable to create CT {vmid} -");
    let store = CtConfigStore::new(&env.paths, &env.node);
    {
        let reserve = || -> Result<(), String> {
            let _lock = store.lock_config_full(vmid, std::time::Duration::from_secs(5))?;
            check_vmid_unused(env, vmid)?;
            let mut locked = CtConfig::default();
            locked.main.set("lock", "create");
            store.write_config(vmid, &locked)
        };
        reserve().map_err(|e| err(format!("{emsg} {e}")))?;
    }

    let job = CreateJob {
        vmid,
        conf,
        mp_param: mp_list,
        archive,
        ostemplate,
        password,
        ssh_keys,
        pool,
        start: p.bool("start").unwrap_or(false),
        ignore_unpack_errors: p.bool("ignore-unpack-errors").unwrap_or(false),
    };
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "vzcreate", Some(&vmid.to_string()), move |task| {
            for w in &warnings {
                task.warn(w);
            }
            let log = |l: &str| task.log(l.trim_end());
            let warn = |l: &str| task.warn(l.trim_end());
            let result = run_create(&wenv, &job, &log, &warn);
            if let Err(e) = result {
                anyhow::bail!("{emsg} {}", e.trim_end());
            }
            if let Some(pl) = &job.pool {
                add_to_pool(&wenv, vmid, pl)
                    .map_err(|e| anyhow::anyhow!("{}", e.message.trim_end()))?;
            }
            if job.start {
                start_container(&wenv, vmid, &warn)
                    .map_err(|e| anyhow::anyhow!("{}", e.trim_end()))?;
            }
            Ok(())
        })
        .map_err(|e| {
            // no worker will use the reserved config
            let _ = store.remove_config(vmid);
            err(format!("{e}\n"))
        })?;
    Ok(json!(upid).into())
}

/// Mounts, unpacks and sets up the new volumes; writes the final config.
fn run_create(
    env: &RpcEnv,
    job: &CreateJob,
    log: &dyn Fn(&str),
    warn: &dyn Fn(&str),
) -> Result<(), String> {
    let vmid = job.vmid;
    let store = CtConfigStore::new(&env.paths, &env.node);
    let rt = LxcRuntime::new(&env.paths);
    let _lock = store.lock_config(vmid)?;
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let mut conf = job.conf.clone();
    let mut vollist = Vec::new();
    let lxc_dir = rt.lxc_dir.join(vmid.to_string());
    let had_lxc_dir = lxc_dir.exists();
    let result = (|| -> Result<(), String> {
        vollist = create_disks(&storage, vmid, &job.mp_param, &mut conf, false)?;
        // the volumes are referenced by the (still locked) config from here on
        let mut locked = conf.clone();
        locked.main.set("lock", "create");
        store.write_config(vmid, &locked)?;

        let rootdir = rt.rootdir(vmid);
        if crate::create::is_mounted(&rootdir) {
            crate::create::unmount_all(&rootdir)?;
        }
        let mounts = crate::create::mount_all(&storage, &conf.main, &rootdir)?;
        let filled = (|| -> Result<CtSection, String> {
            let idmap = crate::idmap::section_id_maps(&conf.main)?;
            // upstream's abs_filesystem_path
            if !job.archive.is_file() {
                return Err(format!("can't find file '{}'\n", job.ostemplate));
            }
            log(&format!("extracting archive '{}'", job.archive.display()));
            if let Err(e) = crate::create::extract_template(&job.archive, &rootdir, &idmap) {
                if !job.ignore_unpack_errors {
                    return Err(e);
                }
                warn(&format!("ignored unpack errors: {}", e.trim_end()));
            }
            let mut setup = crate::setup::Setup::new(
                &conf.main,
                &rootdir,
                crate::setup::SetupOptions::default(),
            )?;
            for m in &setup.messages {
                log(m);
            }
            let detected = setup.conf.clone();
            // save the config after OS detection, as upstream
            let mut locked = conf.clone();
            locked.main = detected.clone();
            locked.main.set("lock", "create");
            store.write_config(vmid, &locked)?;
            setup.post_create_hook(job.password.as_deref(), job.ssh_keys.as_deref())?;
            for w in &setup.warnings {
                warn(w);
            }
            Ok(detected)
        })();
        drop(mounts.into_iter().rev().collect::<Vec<_>>());
        let unmounted = crate::create::unmount_all(&rootdir);
        conf.main = filled?;
        unmounted?;
        if conf.main.get("hostname").is_none_or(str::is_empty) {
            conf.main.set("hostname", format!("CT{vmid}"));
        }
        if conf
            .main
            .get("memory")
            .is_none_or(|m| m.is_empty() || m == "0")
        {
            conf.main.set("memory", "512");
        }
        if conf.main.get("swap").is_none() {
            conf.main.set("swap", "512");
        }
        conf.main.remove("lock");
        store.write_config(vmid, &conf)
    })();
    if let Err(e) = result {
        let rootdir = rt.rootdir(vmid);
        let _ = crate::create::unmount_all(&rootdir);
        destroy_disks(&storage, &vollist, &mut |w| warn(w));
        if let Err(re) = store.remove_config(vmid) {
            warn(&re);
        }
        remove_vmfw_conf(env, vmid);
        if !had_lxc_dir {
            remove_lxc_dir(&lxc_dir);
        }
        return Err(e);
    }
    Ok(())
}

/// Upstream's `PVE::Firewall::remove_vmfw_conf`: the guest's `firewall/VMID.fw`.
fn remove_vmfw_conf(env: &RpcEnv, vmid: u32) {
    let _ = std::fs::remove_file(env.paths.etc_pve().join(format!("firewall/{vmid}.fw")));
}

/// Removes `/var/lib/lxc/VMID` unless something is still mounted below it.
fn remove_lxc_dir(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p == prefix || p.starts_with(&format!("{prefix}/")));
    if !mounted {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts a container as the `vzstart` worker does (config lock, lock check, mount,
/// start).
pub(super) fn start_container(env: &RpcEnv, vmid: u32, warn: &dyn Fn(&str)) -> Result<(), String> {
    let store = CtConfigStore::new(&env.paths, &env.node);
    let _lock = store.lock_config(vmid)?;
    let conf = store.load_config(vmid, None)?;
    check_lock(&conf.main)?;
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let conf = super::apply_pending_before_start(&store, &storage, vmid, conf, &mut |w| warn(w))?;
    let rt = LxcRuntime::new(&env.paths);
    let warnings = rt
        .start_mounted(
            vmid,
            &conf.main,
            &LxcHost::probe(),
            &storage,
            Default::default(),
        )
        .map_err(|e| format!("{e}\n"))?;
    for w in warnings {
        warn(&w);
    }
    Ok(())
}

fn ha_configured(env: &RpcEnv, vmid: u32) -> bool {
    let cfg =
        std::fs::read_to_string(env.paths.etc_pve().join("ha/resources.cfg")).unwrap_or_default();
    cfg.lines().any(|l| {
        let mut parts = l.splitn(2, ':');
        parts.next().map(str::trim) == Some("ct")
            && parts.next().map(str::trim) == Some(&vmid.to_string())
    })
}

pub(super) fn destroy_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid_param(&p)?;
    let purge = p.bool("purge").unwrap_or(false);
    let force = p.bool("force").unwrap_or(false);
    let purge_unreferenced = p.bool("destroy-unreferenced-disks").unwrap_or(false);
    let store = CtConfigStore::new(&env.paths, &env.node);
    let early = move |env: &RpcEnv, conf: &CtConfig| -> Result<(), String> {
        check_protection(&conf.main, &format!("can't remove CT {vmid}"))?;
        check_lock(&conf.main)?;
        if !purge && ha_configured(env, vmid) {
            return Err(format!(
                "unable to remove CT {vmid} - used in HA resources and purge parameter not set.\n"
            ));
        }
        Ok(())
    };
    let conf = store.load_config(vmid, None).map_err(err)?;
    early(env, &conf).map_err(err)?;
    let running_msg = format!("unable to destroy CT {vmid} - container is running\n");
    let rt = LxcRuntime::new(&env.paths);
    if !force && rt.check_running(vmid) {
        return Err(err(running_msg));
    }
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "vzdestroy", Some(&vmid.to_string()), move |task| {
            let warn = |l: &str| task.warn(l.trim_end());
            let run = || -> Result<(), String> {
                let store = CtConfigStore::new(&wenv.paths, &wenv.node);
                let _lock = store.lock_config(vmid)?;
                let conf = store.load_config(vmid, None)?;
                early(&wenv, &conf)?;
                if rt.check_running(vmid) {
                    if !force {
                        return Err(running_msg.clone());
                    }
                    warn(&format!("forced to stop CT {vmid} before destroying!"));
                    rt.stop(vmid, false, None, true)
                        .map_err(|e| format!("{e}\n"))?;
                }
                let rootdir = rt.rootdir(vmid);
                crate::create::unmount_all(&rootdir)?;
                let storage =
                    pve_storage::Storage::load(&wenv.paths).map_err(|e| format!("{e}\n"))?;
                destroy_container_volumes(
                    &storage,
                    &wenv.node,
                    vmid,
                    &conf,
                    purge_unreferenced,
                    &mut |w| warn(w),
                )?;
                remove_lxc_dir(&rt.lxc_dir.join(vmid.to_string()));
                // a zombie config keeps the VMID reserved until the end
                let mut replacement = CtConfig::default();
                replacement.main.set("lock", "destroyed");
                store.write_config(vmid, &replacement)?;
                remove_vm_access(&wenv, vmid).map_err(|e| e.message)?;
                remove_vmfw_conf(&wenv, vmid);
                if purge {
                    task.log(format!("purging CT {vmid} from related configurations.."));
                    super::purge::remove_vmid_from_backup_jobs(&wenv.paths, vmid)?;
                    if super::purge::remove_ha_resource(&wenv.paths, vmid)? {
                        task.log(format!(
                            "NOTE: removed CT {vmid} from HA resource configuration."
                        ));
                    }
                }
                store.remove_config(vmid)
            };
            run().map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
        })
        .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

pub(super) fn template(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = vmid_param(&p)?;
    let store = CtConfigStore::new(&env.paths, &env.node);
    let rt = LxcRuntime::new(&env.paths);
    let lock = store.lock_config(vmid).map_err(err)?;
    let conf = store.load_config(vmid, None).map_err(err)?;
    check_lock(&conf.main).map_err(err)?;
    if !conf.snapshots.is_empty() {
        return Err(err(
            "unable to create template, because CT contains snapshots\n",
        ));
    }
    if conf.main.get("template") == Some("1") {
        return Err(err("you can't convert a template to a template\n"));
    }
    if rt.check_running(vmid) {
        return Err(err(
            "you can't convert a CT to template if the CT is running\n",
        ));
    }
    drop(lock);
    let wenv = env.clone();
    pve_common::tasks::start_worker(env, "vztemplate", Some(&vmid.to_string()), move |_task| {
        let run = || -> Result<(), String> {
            let store = CtConfigStore::new(&wenv.paths, &wenv.node);
            let _lock = store.lock_config(vmid)?;
            let mut conf = store.load_config(vmid, None)?;
            check_lock(&conf.main)?;
            let storage = pve_storage::Storage::load(&wenv.paths).map_err(|e| format!("{e}\n"))?;
            let vols = foreach_volume(&conf.main);
            for (_, mp) in &vols {
                let ok = mp.kind == MountType::Volume
                    && storage.parse_volname(&mp.volume).is_ok_and(|v| {
                        !v.is_base && matches!(v.format.as_str(), "raw" | "subvol" | "qcow2")
                    });
                if !ok {
                    return Err(format!(
                        "Template feature is not available for '{}'\n",
                        mp.volume
                    ));
                }
            }
            for (key, mp) in vols {
                let base = storage.vdisk_create_base(&mp.volume).map_err(storage_err)?;
                let value = conf.main.get(&key).unwrap_or_default().to_string();
                let rest = value.split_once(',').map(|(_, r)| r);
                let new = match rest {
                    Some(r) if !value.starts_with("volume=") => format!("{base},{r}"),
                    _ => {
                        let mut parts: Vec<String> = value
                            .split(',')
                            .filter(|s| !s.starts_with("volume="))
                            .map(str::to_string)
                            .collect();
                        parts.insert(0, base.clone());
                        parts.join(",")
                    }
                };
                conf.main.set(&key, new);
                store.write_config(vmid, &conf)?;
            }
            conf.main.set("template", "1");
            store.write_config(vmid, &conf)?;
            let _ = std::fs::remove_file(
                LxcRuntime::new(&wenv.paths)
                    .lxc_dir
                    .join(vmid.to_string())
                    .join("config"),
            );
            Ok(())
        };
        run().map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))
    .and_then(|upid| {
        // upstream returns nothing; on the command line the worker ran in the
        // foreground and its error is the command's
        if env.kind != pve_common::api::EnvKind::Cli {
            return Ok(());
        }
        let status = pve_common::tasks::task_status(&env.paths, &upid)
            .ok()
            .and_then(|s| s.exitstatus)
            .unwrap_or_default();
        if status == "OK" || status.starts_with("WARNINGS") {
            Ok(())
        } else {
            Err(err(format!("{status}\n")))
        }
    })?;
    Ok(Value::Null.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pve_common::api::HttpMethod;

    fn node(tag: &str) -> (std::path::PathBuf, RpcEnv) {
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

    fn create(env: &RpcEnv, params: Value) -> Result<ApiResponse, ApiError> {
        let router = super::super::node_lxc_router();
        let (m, _) = router.find(HttpMethod::Post, "").unwrap();
        let Value::Object(mut p) = params else {
            unreachable!()
        };
        p.insert("node".into(), json!(env.node));
        pve_common::api::call_method(m, env, p)
    }

    #[test]
    fn create_checks_before_the_worker() {
        let (root, env) = node("checks");
        let tmpl = "local:vztmpl/t.tar.gz";
        let msg = |r: Result<ApiResponse, ApiError>| {
            let Err(e) = r else {
                panic!("expected an error")
            };
            (e.message, e.errors)
        };
        assert_eq!(
            msg(create(&env, json!({"vmid": 300, "ostemplate": tmpl}))).0,
            "VM 300 already exists on node 'n2'\n"
        );
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": tmpl, "mp0": "local:1,mp=/x"})
            ))
            .0,
            "mount points configured, but 'rootfs' not set - aborting\n"
        );
        let (m, errors) = msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "storage": "isos"}),
        ));
        assert_eq!(m, "Parameter verification failed.\n");
        assert_eq!(
            errors.get("storage").map(String::as_str),
            Some("storage 'isos' does not support container directories")
        );
        assert!(msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "restore": 1})
        ))
        .0
        .contains("not implemented"));
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": "local:iso/x.iso"})
            ))
            .0,
            "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'\n"
        );
        let (m, errors) = msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "memory": "lots"}),
        ));
        assert_eq!(m, "Parameter verification failed.\n");
        assert!(errors.contains_key("memory"), "{errors:?}");
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": tmpl, "ssh-public-keys": "not a key"})
            ))
            .0,
            "SSH public key validation error\n"
        );
        // none of these left a config behind
        assert!(!root.join("etc/pve/nodes/n1/lxc/301.conf").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A user with a fixed set of (path, privilege) grants.
    struct Grants(Vec<(&'static str, &'static str)>);

    impl pve_common::api::env::PermissionChecker for Grants {
        fn has_privs(
            &self,
            _auth: &pve_common::api::AuthId,
            path: &str,
            privs: &[&str],
            any: bool,
        ) -> bool {
            let has = |p: &&str| self.0.iter().any(|(gp, gv)| *gp == path && gv == p);
            if any {
                privs.iter().any(has)
            } else {
                privs.iter().all(has)
            }
        }
    }

    #[test]
    fn create_permissions_of_a_user() {
        let (root, mut env) = node("perms");
        env.auth = pve_common::api::AuthId::parse("alice@pve").unwrap();
        let with = |grants: Vec<(&'static str, &'static str)>| {
            let mut e = env.clone();
            e.permissions = Some(std::sync::Arc::new(Grants(grants)));
            e
        };
        let tmpl = "local:vztmpl/t.tar.gz";
        let base = vec![
            ("/vms/310", "VM.Allocate"),
            ("/vms/310", "VM.Config.Disk"),
            ("/vms/310", "VM.Config.Memory"),
            ("/storage/local", "Datastore.AllocateSpace"),
        ];
        let fail = |e: &RpcEnv, params: Value| {
            let Err(e) = create(e, params) else {
                panic!("expected an error")
            };
            (e.status, e.message)
        };
        assert_eq!(
            fail(&with(vec![]), json!({"vmid": 310, "ostemplate": tmpl})),
            (403, "Permission check failed\n".to_string())
        );
        // privileged containers need Sys.Modify on /
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "unprivileged": 0})
            ),
            (403, "Permission check failed (/, Sys.Modify)\n".to_string())
        );
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "cores": 2})
            ),
            (
                403,
                "Permission check failed (/vms/310, VM.Config.CPU)\n".to_string()
            )
        );
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "mp0": "/srv,mp=/srv", "rootfs": "1"})
            ),
            (
                403,
                "mount point type bind is only allowed for root@pam\n".to_string()
            )
        );
        let mut no_space = base.clone();
        no_space.retain(|(p, _)| *p != "/storage/local");
        assert_eq!(
            fail(
                &with(no_space),
                json!({"vmid": 310, "ostemplate": tmpl, "rootfs": "2"})
            ),
            (
                403,
                "Permission check failed (/storage/local, Datastore.AllocateSpace)\n".to_string()
            )
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn destroy_with_purge() {
        let (root, env) = node("purge");
        let etc = root.join("etc/pve");
        std::fs::write(
            etc.join("nodes/n1/lxc/303.conf"),
            "memory: 512\nrootfs: /srv/ct303,size=0T\n",
        )
        .unwrap();
        std::fs::create_dir_all(etc.join("ha")).unwrap();
        std::fs::write(etc.join("ha/resources.cfg"), "ct: 303\n\tstate started\n").unwrap();
        std::fs::write(
            etc.join("jobs.cfg"),
            "vzdump: backup-1\n\tschedule daily\n\tvmid 303,304\n",
        )
        .unwrap();
        let router = super::super::node_lxc_router();
        let (m, _) = router.find(HttpMethod::Delete, "303").unwrap();
        let call = |purge: bool| {
            let mut p = serde_json::Map::new();
            p.insert("node".into(), json!("n1"));
            p.insert("vmid".into(), json!(303));
            if purge {
                p.insert("purge".into(), json!(1));
            }
            pve_common::api::call_method(m, &env, p)
        };
        let Err(e) = call(false) else {
            panic!("HA-managed without purge")
        };
        assert_eq!(
            e.message,
            "unable to remove CT 303 - used in HA resources and purge parameter not set.\n"
        );
        let upid = call(true).unwrap().data;
        let status = pve_common::tasks::task_status(&env.paths, upid.as_str().unwrap()).unwrap();
        assert_eq!(status.exitstatus.as_deref(), Some("OK"));
        assert!(!etc.join("nodes/n1/lxc/303.conf").exists());
        assert_eq!(
            std::fs::read_to_string(etc.join("ha/resources.cfg")).unwrap(),
            ""
        );
        assert_eq!(
            std::fs::read_to_string(etc.join("jobs.cfg")).unwrap(),
            "vzdump: backup-1\n\tschedule daily\n\tvmid 304\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn destroy_and_template_checks() {
        let (root, env) = node("destroy");
        let conf = root.join("etc/pve/nodes/n1/lxc/302.conf");
        std::fs::write(
            &conf,
            "memory: 512\nprotection: 1\nrootfs: local:302/vm-302-disk-0.raw\n",
        )
        .unwrap();
        let router = super::super::node_lxc_router();
        let call = |method, path: &str| {
            let (m, _) = router.find(method, path).unwrap();
            let mut p = serde_json::Map::new();
            p.insert("node".into(), json!("n1"));
            p.insert("vmid".into(), json!(302));
            pve_common::api::call_method(m, &env, p)
                .err()
                .unwrap()
                .message
        };
        assert_eq!(
            call(HttpMethod::Delete, "302"),
            "can't remove CT 302 - protection mode enabled\n"
        );
        std::fs::write(
            &conf,
            "memory: 512\nlock: backup\nrootfs: local:302/vm-302-disk-0.raw\n",
        )
        .unwrap();
        assert_eq!(call(HttpMethod::Delete, "302"), "CT is locked (backup)\n");
        assert_eq!(
            call(HttpMethod::Post, "302/template"),
            "CT is locked (backup)\n"
        );
        std::fs::write(
            &conf,
            "memory: 512\nrootfs: local:302/vm-302-disk-0.raw\n\n[s1]\nmemory: 512\n",
        )
        .unwrap();
        assert_eq!(
            call(HttpMethod::Post, "302/template"),
            "unable to create template, because CT contains snapshots\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
