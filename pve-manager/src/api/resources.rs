//! The entries of `/cluster/resources` and of pool member lists: guests, nodes and
//! storages. Upstream reads the numbers from pvestatd's RRD data; until pvestatd
//! exists they come from the guest configs and the host (a stopped guest reports
//! the same values either way).

use std::collections::BTreeMap;

use pve_common::api::RpcEnv;
use pve_common::units::parse_size;
use serde_json::{json, Map, Value};

use pve_access_control::store::ConfigFiles;
use pve_access_control::UserConfig;
use pve_cluster::cfs::{Cfs, GuestInfo};

/// user.cfg as it is now (an absent file is root@pam only).
pub fn user_config(env: &RpcEnv) -> Result<UserConfig, pve_common::api::ApiError> {
    pve_access_control::auth::load_user_config(&ConfigFiles::new(env.paths.clone()))
        .map_err(|e| pve_common::api::ApiError::internal(format!("{e}\n")))
}

/// The guests of the cluster: `.vmlist` from pmxcfs, or, when /etc/pve is a plain
/// directory (tests, pmxcfs not running), the config files found under nodes/*.
pub fn guest_list(env: &RpcEnv) -> BTreeMap<u32, GuestInfo> {
    let cfs = Cfs::new(&env.paths);
    if let Ok(list) = cfs.vmlist() {
        return list.ids;
    }
    let mut ids = BTreeMap::new();
    let Ok(nodes) = std::fs::read_dir(cfs.path("nodes")) else {
        return ids;
    };
    for node in nodes.flatten() {
        let name = node.file_name().to_string_lossy().into_owned();
        for (dir, ty) in [("qemu-server", "qemu"), ("lxc", "lxc")] {
            let Ok(files) = std::fs::read_dir(node.path().join(dir)) else {
                continue;
            };
            for f in files.flatten() {
                let fname = f.file_name().to_string_lossy().into_owned();
                if let Some(vmid) = fname
                    .strip_suffix(".conf")
                    .and_then(|v| v.parse::<u32>().ok())
                {
                    ids.insert(
                        vmid,
                        GuestInfo {
                            node: name.clone(),
                            guest_type: ty.into(),
                            version: 0,
                        },
                    );
                }
            }
        }
    }
    ids
}

/// The main section of a guest config (snapshots and `[PENDING]` left out).
fn guest_config(env: &RpcEnv, vmid: u32, g: &GuestInfo) -> BTreeMap<String, String> {
    let dir = if g.guest_type == "lxc" {
        "lxc"
    } else {
        "qemu-server"
    };
    // Read through the file cache: only configs that changed since the last request
    // are read again (one stat each otherwise).
    let text = ConfigFiles::new(env.paths.clone())
        .read(&format!("nodes/{}/{dir}/{vmid}.conf", g.node))
        .ok()
        .flatten()
        .unwrap_or_default();
    let mut conf = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('[') {
            break;
        }
        if line.starts_with('#') {
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            conf.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    conf
}

/// The `size=` of a drive property string.
fn volume_size(drive: &str) -> Option<u64> {
    drive
        .split(',')
        .find_map(|kv| kv.strip_prefix("size="))
        .and_then(parse_size)
}

fn is_qemu_disk_key(key: &str) -> bool {
    ["ide", "sata", "scsi", "virtio"].iter().any(|bus| {
        key.strip_prefix(bus)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Size of the boot disk: the first disk of `boot: order=` (or the legacy `bootdisk`),
/// else the first disk that is not a CD-ROM.
fn qemu_boot_disk_size(conf: &BTreeMap<String, String>) -> u64 {
    let is_disk = |k: &str| {
        conf.get(k)
            .filter(|v| !v.contains("media=cdrom"))
            .and_then(|v| volume_size(v))
    };
    let order: Vec<String> = conf
        .get("boot")
        .and_then(|b| {
            b.split(',')
                .find_map(|kv| kv.strip_prefix("order="))
                .map(|o| o.split(';').map(str::to_string).collect())
        })
        .or_else(|| conf.get("bootdisk").map(|d| vec![d.clone()]))
        .unwrap_or_default();
    order
        .iter()
        .filter(|k| is_qemu_disk_key(k))
        .find_map(|k| is_disk(k))
        .or_else(|| {
            conf.keys()
                .filter(|k| is_qemu_disk_key(k))
                .find_map(|k| is_disk(k))
        })
        .unwrap_or(0)
}

/// The node's CPU count (asked once: the standard library reads the cgroup limits for
/// it, too slow to repeat for every guest of a long list).
fn node_cpus() -> u64 {
    static CPUS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

fn num(conf: &BTreeMap<String, String>, key: &str) -> Option<u64> {
    conf.get(key).and_then(|v| v.parse().ok())
}

/// Whether a guest is running: QEMU by its pid file naming a live process, a
/// container by its cgroup.
fn guest_running(env: &RpcEnv, vmid: u32, guest_type: &str) -> bool {
    if guest_type == "lxc" {
        return env
            .paths
            .host(&format!("/sys/fs/cgroup/lxc/{vmid}"))
            .exists();
    }
    // the pid file must name a live QEMU started with it (a recycled pid does not count)
    qemu_server::helpers::vm_running_locally(&env.paths, vmid).is_some()
}

/// One guest's entry (upstream's `extract_vm_stats` plus the config properties).
pub fn guest_entry(env: &RpcEnv, vmid: u32, g: &GuestInfo) -> Map<String, Value> {
    let conf = guest_config(env, vmid, g);
    let lxc = g.guest_type == "lxc";
    let cpus = node_cpus();
    let (maxcpu, maxdisk, name) = if lxc {
        let cores = num(&conf, "cores").unwrap_or(cpus);
        let maxcpu = match conf.get("cpulimit").and_then(|v| v.parse::<f64>().ok()) {
            Some(l) if l > 0.0 => (l.ceil() as u64).min(cores),
            _ => cores,
        };
        let disk = conf.get("rootfs").and_then(|r| volume_size(r)).unwrap_or(0);
        let name = conf
            .get("hostname")
            .cloned()
            .unwrap_or_else(|| format!("CT{vmid}"));
        (maxcpu, disk, name)
    } else {
        let vcpus = num(&conf, "sockets").unwrap_or(1) * num(&conf, "cores").unwrap_or(1);
        let vcpus = num(&conf, "vcpus").unwrap_or(vcpus);
        let name = conf
            .get("name")
            .cloned()
            .unwrap_or_else(|| format!("VM {vmid}"));
        (vcpus, qemu_boot_disk_size(&conf), name)
    };
    let maxmem = num(&conf, "memory").unwrap_or(512) * 1024 * 1024;
    let running = guest_running(env, vmid, &g.guest_type);
    let mut e = Map::new();
    e.insert("id".into(), json!(format!("{}/{vmid}", g.guest_type)));
    e.insert("vmid".into(), json!(vmid));
    e.insert("node".into(), json!(g.node));
    e.insert("type".into(), json!(g.guest_type));
    e.insert(
        "status".into(),
        json!(if running { "running" } else { "stopped" }),
    );
    e.insert("name".into(), json!(name));
    e.insert(
        "template".into(),
        json!(u8::from(conf.get("template").is_some_and(|t| t == "1"))),
    );
    e.insert("uptime".into(), json!(0));
    e.insert("maxcpu".into(), json!(maxcpu.min(cpus)));
    e.insert("cpu".into(), json!(0));
    e.insert("maxmem".into(), json!(maxmem));
    e.insert("mem".into(), json!(0));
    e.insert("maxdisk".into(), json!(maxdisk));
    for k in ["disk", "netin", "netout", "diskread", "diskwrite"] {
        e.insert(k.into(), json!(0));
    }
    for k in ["lock", "tags"] {
        if let Some(v) = conf.get(k) {
            e.insert(k.into(), json!(v));
        }
    }
    e
}

/// A storage's entry on `node` (upstream's `extract_storage_stats`).
pub fn storage_entry(
    storage: &pve_storage::storage::Storage,
    sec: &pve_storage::config::StorageSection,
    node: &str,
) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert(
        "id".into(),
        json!(format!("storage/{node}/{}", sec.storeid)),
    );
    e.insert("storage".into(), json!(sec.storeid));
    e.insert("node".into(), json!(node));
    e.insert("type".into(), json!("storage"));
    e.insert("plugintype".into(), json!(sec.storage_type));
    e.insert("status".into(), json!("unknown"));
    e.insert("shared".into(), json!(u8::from(sec.shared)));
    e.insert("content".into(), json!(sec.content_string()));
    if let Ok(st) = storage.status(&sec.storeid) {
        if st.active {
            e.insert("maxdisk".into(), json!(st.total));
            e.insert("disk".into(), json!(st.used));
            e.insert("status".into(), json!("available"));
        }
    }
    e
}
