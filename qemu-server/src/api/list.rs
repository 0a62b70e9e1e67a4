//! `GET /nodes/{node}/qemu` (upstream's `vmstatus`) and the VM directory index.

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use pve_common::units::parse_size;
use pve_guest_common::ConfigSection;
use serde_json::{json, Map, Value};

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

/// What the list shows of one config (everything but the running state).
fn summarize(vmid: u32, conf: &pve_guest_common::GuestConfig) -> VmStatus {
    let m = &conf.main;
    let num = |k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok());
    let mut cpus = num("sockets").unwrap_or(1) * num("cores").unwrap_or(1);
    if let Some(v) = num("vcpus") {
        cpus = v;
    }
    VmStatus {
        vmid,
        name: m
            .get("name")
            .map(str::to_string)
            .unwrap_or_else(|| format!("VM {vmid}")),
        status: "stopped",
        cpus: cpus.min(node_cpus()),
        maxmem: memory_mib(m) * 1024 * 1024,
        maxdisk: bootdisk_size(m),
        pid: None,
        template: m.get("template") == Some("1"),
        lock: m.get("lock").map(str::to_string),
        tags: m.get("tags").map(str::to_string),
    }
}

/// How a cached summary is known to be current.
#[derive(Clone, Debug, PartialEq)]
enum Identity {
    /// On pmxcfs: inode, size and mtime, whose nanoseconds carry the entry's version
    /// (bumped by every write of the file).
    Attr(u64, u64, i64, i64),
    /// On a plain directory (tests): the file's bytes.
    Content(Vec<u8>),
}

#[derive(Default)]
struct ListCache {
    dir: std::path::PathBuf,
    /// The pmxcfs change stamp the whole list was built at.
    stamp: Option<pve_cluster::cfs::ChangeStamp>,
    entries: BTreeMap<u32, (Identity, VmStatus)>,
}

fn list_cache() -> &'static std::sync::Mutex<ListCache> {
    static C: std::sync::OnceLock<std::sync::Mutex<ListCache>> = std::sync::OnceLock::new();
    C.get_or_init(Default::default)
}

/// The summaries of the configs on this node. Parsed configs are cached per process:
/// on pmxcfs an unchanged change stamp (one stat of /etc/pve) means nothing changed
/// anywhere; otherwise each config is checked by its attributes (pmxcfs) or its bytes
/// (a plain directory) and only changed ones are parsed again.
fn config_summaries(env: &RpcEnv) -> BTreeMap<u32, VmStatus> {
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    let dir = cfs.path(&format!("nodes/{}/qemu-server", env.node));
    // Taken before anything is read: a change while we read leaves an older stamp
    // behind, so the next call looks again.
    let stamp = cfs.change_stamp();
    let mut cache = list_cache().lock().unwrap_or_else(|e| e.into_inner());
    if cache.dir != dir {
        *cache = ListCache {
            dir: dir.clone(),
            ..Default::default()
        };
    }
    if stamp.is_some() && cache.stamp == stamp {
        return cache
            .entries
            .iter()
            .map(|(id, (_, s))| (*id, s.clone()))
            .collect();
    }
    let mut fresh = BTreeMap::new();
    for vmid in local_vmids(env) {
        let path = dir.join(format!("{vmid}.conf"));
        let identity = if stamp.is_some() {
            use std::os::unix::fs::MetadataExt;
            match std::fs::metadata(&path) {
                Ok(m) => Identity::Attr(m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
                Err(_) => continue,
            }
        } else {
            match std::fs::read(&path) {
                Ok(b) => Identity::Content(b),
                Err(_) => continue,
            }
        };
        if let Some((known, s)) = cache.entries.get(&vmid) {
            if *known == identity {
                fresh.insert(vmid, (identity, s.clone()));
                continue;
            }
        }
        let text = match &identity {
            Identity::Content(b) => String::from_utf8_lossy(b).into_owned(),
            Identity::Attr(..) => match std::fs::read(&path) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(_) => continue,
            },
        };
        let Ok(parsed) = crate::config::parse_vm_config(vmid, &text, false) else {
            continue;
        };
        fresh.insert(vmid, (identity, summarize(vmid, &parsed.config)));
    }
    cache.stamp = stamp;
    cache.entries = fresh;
    cache
        .entries
        .iter()
        .map(|(id, (_, s))| (*id, s.clone()))
        .collect()
}

/// The VMs with a pid file: only those can run (one directory read instead of a
/// failed open per VM).
fn vmids_with_pidfile(env: &RpcEnv) -> std::collections::BTreeSet<u32> {
    read_pidfile_vmids(env).unwrap_or_default()
}

/// The VM ids of the pid files in their directory (none when it does not exist); an
/// error when the directory or one of its entries cannot be read.
fn read_pidfile_vmids(env: &RpcEnv) -> std::io::Result<std::collections::BTreeSet<u32>> {
    let file = crate::helpers::pidfile_name(&env.paths, 0);
    let Some(dir) = file.parent() else {
        return Ok(Default::default());
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(e),
    };
    let mut vmids = std::collections::BTreeSet::new();
    for e in entries {
        if let Some(vmid) = e?
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".pid")?.parse::<u32>().ok())
        {
            vmids.insert(vmid);
        }
    }
    Ok(vmids)
}

/// The status of every VM on this node (stopped VMs from their configs).
pub fn vm_status_list(env: &RpcEnv) -> BTreeMap<u32, VmStatus> {
    let mut out = config_summaries(env);
    for vmid in vmids_with_pidfile(env) {
        if let Some(s) = out.get_mut(&vmid) {
            s.pid = crate::helpers::vm_running_locally(&env.paths, vmid);
            if s.pid.is_some() {
                s.status = "running";
            }
        }
    }
    out
}

/// What the list shows besides the caller and `full`: the pmxcfs change stamp (every
/// config, user and ACL) and which VMs run here with which pid. The list shows no live
/// counters (cpu, mem, …: 0 as for stopped VMs); adding them means this must change.
/// `None` off pmxcfs (no stamp): the answer is built each time.
///
/// pveproxy takes it too, as www-data, for the calls it hands to pvedaemon: whatever
/// such a process cannot see (an unreadable pid file or directory, a `/proc` mounted
/// with `hidepid`) gives `None` rather than a fingerprint that misses a started VM.
pub(super) fn vmlist_fingerprint(env: &RpcEnv, _p: &Params) -> Option<String> {
    use std::fmt::Write;
    use std::io::ErrorKind::NotFound;
    let stamp = pve_cluster::cfs::Cfs::new(&env.paths).change_stamp()?;
    let mut fp = format!("{stamp:?} {}", env.node);
    let vmids = read_pidfile_vmids(env).ok()?;
    if vmids.is_empty() {
        return Some(fp);
    }
    if std::fs::File::open("/proc/1/cmdline").is_err() {
        return None;
    }
    for vmid in vmids {
        match std::fs::File::open(crate::helpers::pidfile_name(&env.paths, vmid)) {
            Ok(_) => {}
            Err(e) if e.kind() == NotFound => continue,
            Err(_) => return None,
        }
        if let Some(pid) = crate::helpers::vm_running_locally(&env.paths, vmid) {
            let _ = write!(fp, " {vmid}:{pid}");
        }
    }
    Some(fp)
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

    /// The parsed-config cache never serves a changed config: same-size rewrites in
    /// the same instant, additions and removals all show at once.
    #[test]
    fn cached_list_follows_every_change() {
        let root = std::env::temp_dir().join(format!("qm-list-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut env = RpcEnv::cli(pve_common::NodePaths::new(&root));
        env.node = "n1".into();
        let dir = pve_cluster::cfs::Cfs::new(&env.paths).path("nodes/n1/qemu-server");
        std::fs::create_dir_all(&dir).unwrap();
        let names = |env: &RpcEnv| -> Vec<(u32, String)> {
            vm_status_list(env)
                .into_values()
                .map(|s| (s.vmid, s.name))
                .collect()
        };
        std::fs::write(dir.join("100.conf"), "name: aaaa\nmemory: 1024\n").unwrap();
        assert_eq!(names(&env), vec![(100, "aaaa".to_string())]);
        for round in 0..50 {
            let name = if round % 2 == 0 { "bbbb" } else { "cccc" };
            std::fs::write(
                dir.join("100.conf"),
                format!("name: {name}\nmemory: 1024\n"),
            )
            .unwrap();
            assert_eq!(names(&env), vec![(100, name.to_string())]);
        }
        std::fs::write(dir.join("101.conf"), "name: dddd\n").unwrap();
        assert_eq!(names(&env).len(), 2);
        std::fs::remove_file(dir.join("100.conf")).unwrap();
        assert_eq!(names(&env), vec![(101, "dddd".to_string())]);
        let _ = std::fs::remove_dir_all(&root);
    }

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
