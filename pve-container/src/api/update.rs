//! `PUT /nodes/{node}/lxc/{vmid}/config` (upstream's `update_vm` with
//! `update_pct_config`): changes go to `[pve:pending]` first; a stopped container gets
//! them applied at once, a running one only the options that need no restart (the rest
//! stays pending until the next start applies it). `mpN: STORAGE:SIZE` allocates a new
//! volume; a replaced or deleted volume mount point becomes `unusedN`; deleting an
//! `unusedN` frees the volume unless a snapshot still uses it.

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use serde_json::Value;

use super::cgroup::{
    change_cpu_quota, change_cpu_shares, change_memory_limit, clamp_cpuunits, CgroupWriter,
    LxcCgroup,
};
use super::checks::{
    check_lock, check_modify_perm, check_protection, err, is_indexed, normalize_option, param_text,
};
use crate::config::{assert_if_modified, parse_pending_delete, CtConfig, CtSection};
use crate::disks::{create_disks, delete_mountpoint_volume, parse_new_disk};
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;
use crate::volumes::{add_unused_volume, foreach_volume, parse_volume, MountType};

/// Options a running container takes over at once (upstream's `$LXC_FASTPLUG_OPTIONS`).
const FASTPLUG: [&str; 9] = [
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
    "lock",
];

/// Upstream's `option_exists`.
fn option_exists(key: &str) -> bool {
    key == "description" || crate::schema::ct_config_options().contains_key(key)
}

fn print_pending_delete(map: &BTreeMap<String, bool>) -> String {
    map.iter()
        .map(|(k, force)| if *force { format!("!{k}") } else { k.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

fn set_pending_delete(conf: &mut CtConfig, map: &BTreeMap<String, bool>) {
    if map.is_empty() {
        conf.pending.remove("delete");
    } else {
        conf.pending.set("delete", print_pending_delete(map));
    }
}

fn pending_delete(conf: &CtConfig) -> BTreeMap<String, bool> {
    parse_pending_delete(conf.pending.get("delete").unwrap_or_default())
}

fn add_to_pending_delete(conf: &mut CtConfig, key: &str) {
    let mut map = pending_delete(conf);
    map.insert(key.to_string(), false);
    set_pending_delete(conf, &map);
}

fn remove_from_pending_delete(conf: &mut CtConfig, key: &str) {
    let mut map = pending_delete(conf);
    map.remove(key);
    set_pending_delete(conf, &map);
}

fn main_has(conf: &CtConfig, key: &str) -> bool {
    if key == "description" {
        conf.main.description.is_some()
    } else {
        conf.main.get(key).is_some()
    }
}

/// Upstream's `cleanup_pending`: drops pending values equal to the current ones and
/// deletions of keys that are not set.
fn cleanup_pending(conf: &mut CtConfig) {
    let same: Vec<String> = conf
        .pending
        .values
        .iter()
        .filter(|(k, v)| *k != "delete" && conf.main.get(k) == Some(v.as_str()))
        .map(|(k, _)| k.clone())
        .collect();
    for k in same {
        conf.pending.remove(&k);
    }
    let map: BTreeMap<String, bool> = pending_delete(conf)
        .into_iter()
        .filter(|(k, _)| main_has(conf, k))
        .collect();
    set_pending_delete(conf, &map);
}

fn section_uses(section: &CtSection, volid: &str) -> bool {
    foreach_volume(section)
        .iter()
        .any(|(_, mp)| mp.volume == volid)
}

/// Upstream's `is_volume_in_use` with snapshots and pending changes.
fn volume_in_use(conf: &CtConfig, volid: &str) -> bool {
    section_uses(&conf.main, volid)
        || section_uses(&conf.pending, volid)
        || conf.snapshots.values().any(|s| section_uses(s, volid))
}

/// What [`update_config`] gets: options to set (already type-checked), to delete, to
/// revert.
#[derive(Default)]
pub struct UpdateRequest {
    pub set: BTreeMap<String, String>,
    pub delete: Vec<String>,
    pub revert: Vec<String>,
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default()
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace() || c == '\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Upstream's `update_pct_config` on a loaded config: records the changes as pending,
/// then applies what the container's state allows (`running`: the cgroup of the
/// running container). Returns the per-option errors of the apply step.
pub fn update_config(
    storage: &pve_storage::Storage,
    vmid: u32,
    conf: &mut CtConfig,
    running: Option<&mut dyn CgroupWriter>,
    req: &UpdateRequest,
    warn: &mut dyn FnMut(&str),
) -> Result<BTreeMap<String, String>, String> {
    for opt in &req.revert {
        if opt == "description" {
            conf.pending.description = None;
        }
        conf.pending.remove(opt);
        remove_from_pending_delete(conf, opt);
    }
    let mut modified: Vec<String> = Vec::new();
    for opt in &req.delete {
        if !main_has(conf, opt) && conf.pending.get(opt).is_none() {
            warn(&format!(
                "cannot delete '{opt}' - not set in current configuration!"
            ));
            continue;
        }
        modified.push(opt.clone());
        if matches!(opt.as_str(), "memory" | "rootfs" | "ostype") {
            return Err(format!("unable to delete required option '{opt}'\n"));
        } else if is_indexed(opt, "unused") || is_indexed(opt, "mp") {
            check_protection(&conf.main, &format!("can't remove CT {vmid} drive '{opt}'"))?;
        } else if opt == "unprivileged" {
            return Err(format!("unable to delete read-only option: '{opt}'\n"));
        }
        add_to_pending_delete(conf, opt);
    }
    for (opt, value) in &req.set {
        modified.push(opt.clone());
        if opt == "rootfs" || is_indexed(opt, "mp") {
            check_protection(&conf.main, &format!("can't update CT {vmid} drive '{opt}'"))?;
            let mp = parse_volume(opt, value)?;
            if mp.kind == MountType::Volume {
                let (sid, _) = pve_storage::volume::parse_volume_id(&mp.volume)
                    .map_err(|e| format!("{e}\n"))?;
                let scfg = storage.cfg.storage(sid).map_err(|e| format!("{e}\n"))?;
                if !scfg.content.contains("rootdir") {
                    return Err(format!(
                        "storage '{sid}' does not allow content type 'rootdir' (Container)\n"
                    ));
                }
            }
        } else if opt == "unprivileged" {
            return Err(format!("unable to modify read-only option: '{opt}'\n"));
        }
        if opt == "description" {
            conf.pending.description = Some(value.clone());
        } else {
            conf.pending.set(opt, value.clone());
        }
        remove_from_pending_delete(conf, opt);
    }
    cleanup_pending(conf);
    let mut errors = BTreeMap::new();
    if let Some(cgroup) = running {
        hotplug_pending(conf, storage, vmid, &modified, cgroup, &mut errors, warn);
    } else {
        apply_pending(conf, storage, vmid, Some(&modified), &mut errors, warn);
    }
    Ok(errors)
}

fn take_pending(conf: &mut CtConfig, opt: &str) {
    if opt == "description" {
        if let Some(d) = conf.pending.description.take() {
            conf.main.description = Some(d);
        }
    } else if let Some(v) = conf.pending.remove(opt) {
        conf.main.set(opt, v);
    }
}

fn drop_main(conf: &mut CtConfig, opt: &str) {
    if opt == "description" {
        conf.main.description = None;
    } else {
        conf.main.remove(opt);
    }
}

fn pending_keys(conf: &CtConfig) -> Vec<String> {
    let mut keys: Vec<String> = conf
        .pending
        .values
        .keys()
        .filter(|k| *k != "delete")
        .cloned()
        .collect();
    if conf.pending.description.is_some() {
        keys.push("description".into());
    }
    keys.sort();
    keys
}

/// Upstream's `vmconfig_hotplug_pending` without namespace work: the fast-plug
/// options, freeing unused volumes, and memory, swap and CPU limits through the
/// container's cgroup. Network devices and mount points stay pending for the next
/// start.
fn hotplug_pending(
    conf: &mut CtConfig,
    storage: &pve_storage::Storage,
    vmid: u32,
    selection: &[String],
    cgroup: &mut dyn CgroupWriter,
    errors: &mut BTreeMap<String, String>,
    warn: &mut dyn FnMut(&str),
) {
    // memory and swap change together (upstream's `$hotplug_memory`)
    let memory_done = std::cell::Cell::new(false);
    let hotplug_memory = |cgroup: &mut dyn CgroupWriter,
                          memory: Option<&str>,
                          swap: Option<&str>|
     -> Result<(), String> {
        memory_done.set(true);
        let mib = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("invalid value '{v}'\n"))
        };
        let swap = swap.map(mib).transpose()?.map(|s| s * 1024 * 1024);
        let (max, high) = match memory {
            Some(m) => {
                let (max, high) = crate::lxc_config::memory_constraints(mib(m)?);
                (Some(max), Some(high))
            }
            None => (None, None),
        };
        change_memory_limit(cgroup, max, swap, high)
    };
    for opt in pending_keys(conf) {
        if selection.contains(&opt) && FASTPLUG.contains(&opt.as_str()) {
            take_pending(conf, &opt);
        }
    }
    for opt in pending_delete(conf).into_keys() {
        if !selection.contains(&opt) {
            continue;
        }
        let res = if FASTPLUG.contains(&opt.as_str()) {
            Ok(true)
        } else if opt == "swap" {
            hotplug_memory(cgroup, None, Some("0")).map(|()| true)
        } else if opt == "cpulimit" {
            change_cpu_quota(cgroup, None).map(|()| true)
        } else if opt == "cpuunits" {
            change_cpu_shares(cgroup, None).map(|()| true)
        } else if is_indexed(&opt, "unused") {
            let volid = conf.main.get(&opt).unwrap_or_default().to_string();
            let mut probe = conf.clone();
            probe.main.remove(&opt);
            if volume_in_use(&probe, &volid) {
                Ok(true)
            } else {
                delete_mountpoint_volume(storage, vmid, &volid, warn).map(|()| true)
            }
        } else {
            Ok(false)
        };
        match res {
            Ok(true) => {
                drop_main(conf, &opt);
                remove_from_pending_delete(conf, &opt);
            }
            Ok(false) => {}
            Err(e) => {
                errors.insert(opt.clone(), format!("unable to hotplug {opt}: {e}"));
            }
        }
    }
    for opt in pending_keys(conf) {
        if !selection.contains(&opt) || FASTPLUG.contains(&opt.as_str()) {
            continue;
        }
        let value = conf.pending.get(&opt).unwrap_or_default().to_string();
        let res = match opt.as_str() {
            "cpulimit" => value
                .parse::<f64>()
                .map_err(|_| format!("invalid value '{value}'\n"))
                .and_then(|l| change_cpu_quota(cgroup, Some((100000.0 * l) as u64)).map(|()| true)),
            "cpuunits" => value
                .parse::<u64>()
                .map_err(|_| format!("invalid value '{value}'\n"))
                .and_then(|u| change_cpu_shares(cgroup, Some(u)).map(|()| true)),
            "memory" | "swap" => {
                if memory_done.get() {
                    Ok(true)
                } else {
                    let memory = conf.pending.get("memory").map(str::to_string);
                    let swap = conf.pending.get("swap").map(str::to_string);
                    hotplug_memory(cgroup, memory.as_deref(), swap.as_deref()).map(|()| true)
                }
            }
            _ => Ok(false),
        };
        match res {
            Ok(true) => take_pending(conf, &opt),
            Ok(false) => {}
            Err(e) => {
                errors.insert(opt.clone(), format!("unable to hotplug {opt}: {e}"));
            }
        }
    }
}

/// Upstream's `vmconfig_apply_pending` (the container is stopped).
pub fn apply_pending(
    conf: &mut CtConfig,
    storage: &pve_storage::Storage,
    vmid: u32,
    selection: Option<&[String]>,
    errors: &mut BTreeMap<String, String>,
    warn: &mut dyn FnMut(&str),
) {
    let selected = |opt: &str| selection.is_none_or(|s| s.iter().any(|o| o == opt));
    let mut apply_error = |errors: &mut BTreeMap<String, String>, opt: &str, e: String| {
        let msg = format!("unable to apply pending change {opt} : {e}");
        warn(&msg);
        errors.insert(opt.to_string(), msg);
    };
    for opt in pending_delete(conf).into_keys() {
        if !selected(&opt) {
            continue;
        }
        let res = (|| -> Result<(), String> {
            if is_indexed(&opt, "mp") {
                if let Some(value) = conf.main.get(&opt).map(str::to_string) {
                    let mp = parse_volume(&opt, &value)?;
                    if mp.kind == MountType::Volume {
                        add_unused_volume(&mut conf.main, &mp.volume)?;
                    }
                }
            } else if is_indexed(&opt, "unused") {
                let volid = conf.main.get(&opt).unwrap_or_default().to_string();
                let mut probe = conf.clone();
                probe.main.remove(&opt);
                if !volume_in_use(&probe, &volid) {
                    delete_mountpoint_volume(storage, vmid, &volid, &mut |_| {})?;
                }
            }
            Ok(())
        })();
        match res {
            Ok(()) => {
                drop_main(conf, &opt);
                remove_from_pending_delete(conf, &opt);
            }
            Err(e) => apply_error(errors, &opt, e),
        }
    }
    cleanup_pending(conf);
    for opt in pending_keys(conf) {
        if !selected(&opt) {
            continue;
        }
        let res = if is_indexed(&opt, "mp") {
            apply_pending_mountpoint(conf, storage, vmid, &opt)
        } else if is_indexed(&opt, "net") {
            let value = conf.pending.get(&opt).unwrap_or_default().to_string();
            super::checks::normalize_net(&storage.paths, &value).map(|n| conf.pending.set(&opt, n))
        } else {
            Ok(())
        };
        match res {
            Ok(()) => take_pending(conf, &opt),
            Err(e) => apply_error(errors, &opt, e),
        }
    }
}

/// Upstream's `apply_pending_mountpoint` for a stopped container: a new volume for
/// `STORAGE:SIZE`; the replaced volume becomes `unusedN`.
fn apply_pending_mountpoint(
    conf: &mut CtConfig,
    storage: &pve_storage::Storage,
    vmid: u32,
    opt: &str,
) -> Result<(), String> {
    let value = conf.pending.get(opt).unwrap_or_default().to_string();
    let mp = parse_volume(opt, &value)?;
    if mp.kind == MountType::Volume && parse_new_disk(&mp.volume).is_some() {
        create_disks(storage, vmid, &[(opt.to_string(), value)], conf, true)?;
    } else if mp.kind == MountType::Volume {
        if let Ok(info) = storage.volume_size_info(&mp.volume) {
            let text = rewrite_size(&value, info.size);
            conf.pending.set(opt, text);
        }
    }
    if let Some(old) = conf.main.get(opt).map(str::to_string) {
        let old_mp = parse_volume(opt, &old)?;
        let new_vol = parse_volume(opt, conf.pending.get(opt).unwrap_or_default())
            .map(|m| m.volume)
            .unwrap_or_default();
        if old_mp.kind == MountType::Volume && old_mp.volume != new_vol {
            add_unused_volume(&mut conf.main, &old_mp.volume)?;
        }
    }
    Ok(())
}

fn rewrite_size(value: &str, size: u64) -> String {
    let mut parts: Vec<String> = value
        .split(',')
        .filter(|p| !p.starts_with("size="))
        .map(str::to_string)
        .collect();
    parts.push(format!("size={}", crate::disks::format_size(size)));
    parts.join(",")
}

/// What `vm_start` does first upstream: a config with pending changes gets them applied
/// (errors only warn) and written before the container starts. Returns the config to
/// start with.
pub fn apply_pending_before_start(
    store: &CtConfigStore,
    storage: &pve_storage::Storage,
    vmid: u32,
    mut conf: CtConfig,
    warn: &mut dyn FnMut(&str),
) -> Result<CtConfig, String> {
    if conf.pending.is_empty() {
        return Ok(conf);
    }
    let mut errors = BTreeMap::new();
    apply_pending(&mut conf, storage, vmid, None, &mut errors, warn);
    store.write_config(vmid, &conf)?;
    store.load_config(vmid, None)
}

pub(super) fn update_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let digest = p.str("digest");
    let mut set = BTreeMap::new();
    for (k, v) in &p.0 {
        if !matches!(k.as_str(), "node" | "vmid" | "digest" | "delete" | "revert") {
            set.insert(k.clone(), param_text(v));
        }
    }
    let delete = split_list(p.str("delete"));
    let revert = split_list(p.str("revert"));
    if set.is_empty() && p.get("delete").is_none() && p.get("revert").is_none() {
        return Err(err("no options specified\n"));
    }
    let store = CtConfigStore::new(&env.paths, &env.node);
    let _lock = store.lock_config(vmid).map_err(err)?;
    let mut conf = store.load_config(vmid, None).map_err(err)?;
    check_lock(&conf.main).map_err(err)?;
    assert_if_modified(&conf, digest.as_deref()).map_err(err)?;
    let unprivileged = conf.main.get("unprivileged") == Some("1");
    check_modify_perm(
        env,
        vmid,
        None,
        Some(&conf.main),
        &BTreeMap::new(),
        &delete,
        unprivileged,
    )?;
    check_modify_perm(
        env,
        vmid,
        None,
        Some(&conf.main),
        &BTreeMap::new(),
        &revert,
        unprivileged,
    )?;
    for opt in &revert {
        if !option_exists(opt) {
            return Err(ApiError::parameter(
                "revert",
                format!("unknown option '{opt}'"),
            ));
        }
        if set.contains_key(opt) {
            return Err(ApiError::parameter(
                "revert",
                format!("you can't use '-{opt}' and '-revert {opt}' at the same time"),
            ));
        }
    }
    for opt in &delete {
        if !option_exists(opt) {
            return Err(ApiError::parameter(
                "delete",
                format!("unknown option '{opt}'"),
            ));
        }
        if set.contains_key(opt) {
            return Err(ApiError::parameter(
                "delete",
                format!("you can't use '-{opt}' and -delete {opt}' at the same time"),
            ));
        }
        if revert.contains(opt) {
            return Err(ApiError::parameter(
                "delete",
                format!("you can't use '-delete {opt}' and '-revert {opt}' at the same time"),
            ));
        }
    }
    check_modify_perm(env, vmid, None, Some(&conf.main), &set, &[], unprivileged)?;
    clamp_cpuunits(&mut set);
    let mut errors = BTreeMap::new();
    let tag_style = super::checks::tag_style(env);
    for (k, v) in set.iter_mut() {
        if k == "description" {
            continue;
        }
        match normalize_option(k, v, &tag_style) {
            Ok(n) => *v = n,
            Err(e) => {
                errors.insert(k.clone(), e.trim_end().to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| err(format!("{e}\n")))?;
    let rt = LxcRuntime::new(&env.paths);
    let running = rt.check_running(vmid);
    let mut cgroup = running.then_some(LxcCgroup { rt, vmid });
    let req = UpdateRequest {
        set,
        delete,
        revert,
    };
    let mut warnings = Vec::new();
    let errors = update_config(
        &storage,
        vmid,
        &mut conf,
        cgroup.as_mut().map(|c| c as &mut dyn CgroupWriter),
        &req,
        &mut |w| warnings.push(w.to_string()),
    )
    .map_err(err)?;
    for w in warnings {
        eprintln!("{w}");
    }
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    store.write_config(vmid, &conf).map_err(err)?;
    Ok(Value::Null.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage(root: &std::path::Path) -> pve_storage::Storage {
        pve_storage::Storage {
            paths: pve_common::paths::NodePaths::new(root),
            cfg: pve_storage::StorageConfig::parse(
                "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\ndir: iso\n\tpath /srv/iso\n\tcontent iso\n",
            ),
        }
    }

    fn conf(raw: &str) -> CtConfig {
        crate::parse_ct_config(100, raw, true).unwrap().config
    }

    fn update(
        st: &pve_storage::Storage,
        c: &mut CtConfig,
        running: bool,
        set: &[(&str, &str)],
        delete: &[&str],
        revert: &[&str],
    ) -> Result<BTreeMap<String, String>, String> {
        let req = UpdateRequest {
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            delete: delete.iter().map(|s| s.to_string()).collect(),
            revert: revert.iter().map(|s| s.to_string()).collect(),
        };
        let mut cg = FakeCgroup::default();
        let res = update_config(
            st,
            100,
            c,
            running.then_some(&mut cg as &mut dyn CgroupWriter),
            &req,
            &mut |_| {},
        );
        CGROUP_LOG.with(|l| l.borrow_mut().extend(cg.0));
        res
    }

    thread_local! {
        static CGROUP_LOG: std::cell::RefCell<Vec<(String, String)>> = Default::default();
    }

    #[derive(Default)]
    struct FakeCgroup(Vec<(String, String)>);

    impl CgroupWriter for FakeCgroup {
        fn version(&self, _controller: &str) -> u8 {
            2
        }
        fn read(&mut self, key: &str) -> Result<String, String> {
            Err(format!("no {key}"))
        }
        fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
            self.0.push((key.to_string(), value.to_string()));
            Ok(())
        }
    }

    fn cgroup_log() -> Vec<(String, String)> {
        CGROUP_LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }

    #[test]
    fn stopped_applies_and_running_keeps_pending() {
        let root = std::env::temp_dir().join(format!("ct-upd-{}", std::process::id()));
        let st = storage(&root);
        let mut c = conf("memory: 512\nhostname: a\nrootfs: local:100/vm-100-disk-0.raw,size=1G\nmp0: local:100/vm-100-disk-1.raw,mp=/data,size=1G\n");
        update(
            &st,
            &mut c,
            false,
            &[("memory", "1024"), ("hostname", "b")],
            &["mp0"],
            &[],
        )
        .unwrap();
        assert_eq!(c.main.get("memory"), Some("1024"));
        assert_eq!(c.main.get("hostname"), Some("b"));
        assert_eq!(c.main.get("mp0"), None);
        assert_eq!(c.main.get("unused0"), Some("local:100/vm-100-disk-1.raw"));
        assert!(c.pending.is_empty(), "{:?}", c.pending);

        cgroup_log();
        update(
            &st,
            &mut c,
            true,
            &[
                ("memory", "2048"),
                ("hostname", "c"),
                ("net0", "name=eth0,bridge=vmbr0"),
            ],
            &["onboot"],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.main.get("hostname"),
            Some("c"),
            "fast-plug option applied"
        );
        assert_eq!(
            c.main.get("memory"),
            Some("2048"),
            "memory through the cgroup"
        );
        assert_eq!(
            cgroup_log(),
            vec![
                (
                    "memory.high".to_string(),
                    (2048u64 * 1024 * 1016).to_string()
                ),
                ("memory.max".to_string(), (2048u64 << 20).to_string())
            ]
        );
        assert!(
            c.pending.get("net0").is_some(),
            "a network device stays pending"
        );
        update(&st, &mut c, true, &[("swap", "0")], &["memory"], &[]).unwrap_err();
        update(&st, &mut c, true, &[], &[], &["net0"]).unwrap();
        assert!(c.pending.is_empty(), "{:?}", c.pending);
        update(
            &st,
            &mut c,
            true,
            &[("cpulimit", "2"), ("cpuunits", "50")],
            &["hostname"],
            &[],
        )
        .unwrap();
        assert_eq!(c.main.get("hostname"), None);
        assert_eq!(c.main.get("cpulimit"), Some("2"));
        assert_eq!(
            cgroup_log(),
            vec![
                ("cpu.max".to_string(), "200000 100000".to_string()),
                ("cpu.weight".to_string(), "50".to_string())
            ]
        );
        update(&st, &mut c, true, &[], &["cpulimit"], &[]).unwrap();
        assert_eq!(
            cgroup_log(),
            vec![("cpu.max".to_string(), "max".to_string())]
        );
        assert_eq!(c.main.get("cpulimit"), None);
        update(&st, &mut c, true, &[], &["swap"], &[]).unwrap();
        assert_eq!(c.pending.get("delete"), None, "swap was not set");
        assert!(cgroup_log().is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn net_gets_type_and_mac() {
        let root = std::env::temp_dir().join(format!("ct-upd-n-{}", std::process::id()));
        let st = storage(&root);
        let mut c = conf("memory: 512\nrootfs: local:100/vm-100-disk-0.raw\n");
        update(
            &st,
            &mut c,
            false,
            &[("net0", "name=eth0,bridge=vmbr0,ip=dhcp")],
            &[],
            &[],
        )
        .unwrap();
        let net = c.main.get("net0").unwrap();
        let re = regex::Regex::new(
            r"^name=eth0,bridge=vmbr0,hwaddr=BC:24:11(:[0-9A-F]{2}){3},ip=dhcp,type=veth$",
        )
        .unwrap();
        assert!(re.is_match(net), "{net}");
        let fixed = "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth";
        update(
            &st,
            &mut c,
            false,
            &[("net1", "name=eth1,bridge=vmbr0,hwaddr=BC:24:11:00:00:01")],
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(c.main.get("net1"), Some(fixed));
    }

    #[test]
    fn errors_are_upstreams() {
        let root = std::env::temp_dir().join(format!("ct-upd-e-{}", std::process::id()));
        let st = storage(&root);
        let mut c = conf("memory: 512\nrootfs: local:100/vm-100-disk-0.raw,size=1G\nunprivileged: 1\nprotection: 1\nmp0: /srv,mp=/srv\n");
        assert_eq!(
            update(&st, &mut c, false, &[], &["rootfs"], &[]).unwrap_err(),
            "unable to delete required option 'rootfs'\n"
        );
        assert_eq!(
            update(&st, &mut c, false, &[], &["unprivileged"], &[]).unwrap_err(),
            "unable to delete read-only option: 'unprivileged'\n"
        );
        assert_eq!(
            update(&st, &mut c, false, &[("unprivileged", "0")], &[], &[]).unwrap_err(),
            "unable to modify read-only option: 'unprivileged'\n"
        );
        assert_eq!(
            update(&st, &mut c, false, &[], &["mp0"], &[]).unwrap_err(),
            "can't remove CT 100 drive 'mp0' - protection mode enabled\n"
        );
        c.main.remove("protection");
        assert_eq!(
            update(&st, &mut c, false, &[("mp1", "iso:5,mp=/x")], &[], &[]).unwrap_err(),
            "storage 'iso' does not allow content type 'rootdir' (Container)\n"
        );
        // a bind mount point removed is not a volume: no unusedN
        let mut c = conf("memory: 512\nrootfs: local:100/vm-100-disk-0.raw\nmp0: /srv,mp=/srv\n");
        update(&st, &mut c, false, &[], &["mp0"], &[]).unwrap();
        assert!(c.main.get("unused0").is_none() && c.main.get("mp0").is_none());
    }

    #[test]
    fn list_split() {
        assert_eq!(split_list(Some("a,b;c d".into())), vec!["a", "b", "c", "d"]);
        assert!(split_list(None).is_empty());
        assert!(option_exists("mp3") && option_exists("description") && !option_exists("foo"));
    }
}
