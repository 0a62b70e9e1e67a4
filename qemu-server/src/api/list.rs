//! `GET /nodes/{node}/qemu` (upstream's `vmstatus`) and the VM directory index.

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_common::units::parse_size;
use pve_guest_common::ConfigSection;
use serde_json::{json, Map, Value};

use crate::config_file::VmConfigFile;
use crate::drive::{parse_drive_name, Drive};

/// One VM's entry of the list.
#[derive(Clone, Debug, PartialEq)]
pub struct VmStatus {
    pub vmid: u32,
    pub name: String,
    pub status: &'static str,
    pub cpus: u64,
    pub maxmem: u64,
    pub maxdisk: u64,
    pub pid: Option<i32>,
    pub template: bool,
    pub lock: Option<String>,
    pub tags: Option<String>,
}

impl VmStatus {
    pub fn to_json(&self, full: bool) -> Value {
        let mut m = Map::new();
        m.insert("vmid".into(), json!(self.vmid));
        m.insert("name".into(), json!(self.name));
        m.insert("status".into(), json!(self.status));
        m.insert("cpus".into(), json!(self.cpus));
        m.insert("maxmem".into(), json!(self.maxmem));
        m.insert("maxdisk".into(), json!(self.maxdisk));
        for k in ["cpu", "mem", "memhost", "disk", "netin", "netout", "uptime"] {
            m.insert(k.into(), json!(0));
        }
        if let Some(pid) = self.pid {
            m.insert("pid".into(), json!(pid));
        }
        if self.template {
            m.insert("template".into(), json!(1));
        }
        if let Some(l) = &self.lock {
            m.insert("lock".into(), json!(l));
        }
        if let Some(t) = &self.tags {
            m.insert("tags".into(), json!(t));
        }
        if full {
            m.insert("qmpstatus".into(), json!(self.status));
        }
        Value::Object(m)
    }
}

fn node_cpus() -> u64 {
    static CPUS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
}

/// `memory` is `[current=]<MiB>`; 512 MiB when unset.
pub fn memory_mib(section: &ConfigSection) -> u64 {
    section
        .get("memory")
        .and_then(|m| {
            m.split(',')
                .find_map(|p| match p.split_once('=') {
                    Some(("current", v)) => Some(v),
                    Some(_) => None,
                    None => Some(p),
                })
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(512)
}

/// The size of the boot disk: the first disk of `boot: order=` (legacy `bootdisk`), else
/// the first disk that is not a CD-ROM (upstream's `bootdisk_size`).
pub fn bootdisk_size(section: &ConfigSection) -> u64 {
    let size_of = |key: &str| -> Option<u64> {
        let v = section.get(key)?;
        let d = Drive::parse(key, v).ok()?;
        if d.is_cdrom() {
            return None;
        }
        d.get("size").and_then(|s| parse_size(&s))
    };
    let order: Vec<String> = match section.get("boot") {
        Some(b) if b.contains("order=") => b
            .split(',')
            .find_map(|kv| kv.strip_prefix("order="))
            .map(|o| o.split(';').map(str::to_string).collect())
            .unwrap_or_default(),
        _ => section
            .get("bootdisk")
            .map(|d| vec![d.to_string()])
            .unwrap_or_default(),
    };
    if let Some(first) = order.iter().find(|k| {
        parse_drive_name(k).is_some()
            && section
                .get(k)
                .and_then(|v| Drive::parse(k, v).ok())
                .is_some_and(|d| !d.is_cdrom())
    }) {
        return size_of(first).unwrap_or(0);
    }
    if section.get("boot").is_some_and(|b| b.contains("order=")) {
        return 0;
    }
    let mut keys: Vec<(u8, u32, &String)> = section
        .values
        .keys()
        .filter_map(|k| parse_drive_name(k).map(|(b, i)| (crate::disks::bus_rank(b), i, k)))
        .collect();
    keys.sort();
    keys.into_iter()
        .find_map(|(_, _, k)| size_of(k))
        .unwrap_or(0)
}

/// The VM ids whose config files are on `node`.
pub fn local_vmids(env: &RpcEnv) -> Vec<u32> {
    let dir =
        pve_cluster::cfs::Cfs::new(&env.paths).path(&format!("nodes/{}/qemu-server", env.node));
    let mut ids: Vec<u32> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".conf")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// The status of every VM on this node (stopped VMs from their configs).
pub fn vm_status_list(env: &RpcEnv) -> BTreeMap<u32, VmStatus> {
    let mut out = BTreeMap::new();
    for vmid in local_vmids(env) {
        let Ok(conf) = VmConfigFile::new(&env.paths, &env.node, vmid).load() else {
            continue;
        };
        let m = &conf.main;
        let num = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok());
        let mut cpus = num("sockets").unwrap_or(1) * num("cores").unwrap_or(1);
        if let Some(v) = num("vcpus") {
            cpus = v;
        }
        let pid = crate::helpers::vm_running_locally(&env.paths, vmid);
        out.insert(
            vmid,
            VmStatus {
                vmid,
                name: m
                    .get("name")
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("VM {vmid}")),
                status: if pid.is_some() { "running" } else { "stopped" },
                cpus: cpus.min(node_cpus()),
                maxmem: memory_mib(m) * 1024 * 1024,
                maxdisk: bootdisk_size(m),
                pid,
                template: m.get("template") == Some("1"),
                lock: m.get("lock").map(str::to_string),
                tags: m.get("tags").map(str::to_string),
            },
        );
    }
    out
}

pub(super) fn vmlist(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let full = p.bool("full").unwrap_or(false);
    let list: Vec<Value> = vm_status_list(env)
        .into_values()
        .filter(|s| env.has_privs(&format!("/vms/{}", s.vmid), &["VM.Audit"], true))
        .map(|s| s.to_json(full))
        .collect();
    Ok(Value::Array(list).into())
}

const VM_SUBDIRS: [&str; 20] = [
    "config",
    "cloudinit",
    "pending",
    "status",
    "unlink",
    "vncproxy",
    "termproxy",
    "migrate",
    "resize",
    "move",
    "rrd",
    "rrddata",
    "monitor",
    "agent",
    "snapshot",
    "spiceproxy",
    "sendkey",
    "firewall",
    "mtunnel",
    "remote_migrate",
];

pub(super) fn diridx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    Ok(Value::Array(VM_SUBDIRS.iter().map(|d| json!({ "subdir": d })).collect()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_disk_and_memory() {
        let mut s = ConfigSection::default();
        s.values
            .insert("boot".into(), "order=scsi0;ide2;net0".into());
        s.values.insert(
            "scsi0".into(),
            "local:100/vm-100-disk-0.qcow2,size=8G".into(),
        );
        s.values.insert("ide2".into(), "none,media=cdrom".into());
        assert_eq!(bootdisk_size(&s), 8 << 30);
        assert_eq!(memory_mib(&s), 512);
        s.values.insert("memory".into(), "current=2048".into());
        assert_eq!(memory_mib(&s), 2048);
    }
}
