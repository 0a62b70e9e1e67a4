//! `/nodes/{node}/status`, `network` (read), `time` and `dns` (read): host facts,
//! read below `PVE_ROOT` where upstream reads a file.

use std::collections::BTreeMap;

use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

use super::nodes::check_local_node;

fn perms(v: Value) -> Permissions {
    serde_json::from_value(v).expect("valid permissions literal")
}

pub fn status_router() -> Router {
    Router::new().method(status_method())
}

pub fn network_router() -> Router {
    Router::new().method(network_method())
}

pub fn time_router() -> Router {
    Router::new()
        .method(time_method())
        .method(set_timezone_method())
}

pub fn dns_router() -> Router {
    Router::new().method(dns_method())
}

fn read_host(env: &RpcEnv, path: &str) -> Option<String> {
    std::fs::read_to_string(env.paths.host(path)).ok()
}

fn proc_kv(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse::<u64>().ok()
    })
}

/// `cpu` fields of /proc/stat: (busy, iowait, idle, total) jiffies.
fn cpu_times() -> Option<[u64; 4]> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = text
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    Some([total - v[3] - v[4], v[4], v[3], total])
}

fn cpu_fractions() -> (f64, f64, f64) {
    let Some(a) = cpu_times() else {
        return (0.0, 0.0, 0.0);
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let Some(b) = cpu_times() else {
        return (0.0, 0.0, 0.0);
    };
    let dt = b[3].saturating_sub(a[3]).max(1) as f64;
    let f = |i: usize| b[i].saturating_sub(a[i]) as f64 / dt;
    (f(0), f(1), f(2))
}

fn cpuinfo() -> Value {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let first = |key: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
    };
    let cpus = text
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let sockets: std::collections::BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.split_once(':').filter(|(k, _)| k.trim() == "physical id"))
        .map(|(_, v)| v.trim().to_string())
        .collect();
    let sockets = sockets.len().max(1);
    let cores_per_socket: usize = first("cpu cores")
        .and_then(|c| c.parse().ok())
        .unwrap_or(cpus / sockets);
    let flags = first("flags").unwrap_or_default();
    let hvm = if flags.split_whitespace().any(|f| f == "vmx" || f == "svm") {
        "1"
    } else {
        "0"
    };
    json!({
        "cpus": cpus,
        "sockets": sockets,
        "cores": cores_per_socket * sockets,
        "model": first("model name").unwrap_or_default(),
        "vendor": first("vendor_id").unwrap_or_default(),
        "family": first("cpu family").unwrap_or_default(),
        "mhz": first("cpu MHz").unwrap_or_default(),
        "flags": flags,
        "hvm": hvm,
        // SAFETY: sysconf has no memory-safety preconditions.
        "user_hz": unsafe { libc::sysconf(libc::_SC_CLK_TCK) },
    })
}

fn statvfs(path: &std::path::Path) -> Option<(u64, u64, u64)> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path, `st` writable memory of the right size.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so `st` is initialised.
    let st = unsafe { st.assume_init() };
    Some((
        st.f_blocks * st.f_frsize,
        st.f_bfree * st.f_frsize,
        st.f_bavail * st.f_frsize,
    ))
}

fn uname() -> [String; 4] {
    let mut u = std::mem::MaybeUninit::<libc::utsname>::uninit();
    // SAFETY: `u` is writable memory of the right size; uname fills it on success.
    if unsafe { libc::uname(u.as_mut_ptr()) } != 0 {
        return Default::default();
    }
    // SAFETY: uname returned 0, so `u` is initialised with NUL-terminated fields.
    let u = unsafe { u.assume_init() };
    let s = |f: &[libc::c_char]| {
        // SAFETY: uname's fields are NUL-terminated strings within their arrays.
        unsafe { std::ffi::CStr::from_ptr(f.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    [s(&u.sysname), s(&u.release), s(&u.version), s(&u.machine)]
}

fn node_status(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    check_local_node(env, &p.required_str("node")?)?;
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |k: &str| proc_kv(&meminfo, k).unwrap_or(0) * 1024;
    let (total, free, avail) = (kb("MemTotal"), kb("MemFree"), kb("MemAvailable"));
    let (swap_total, swap_free) = (kb("SwapTotal"), kb("SwapFree"));
    let (cpu, wait, idle) = cpu_fractions();
    let loadavg: Vec<String> = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .map(str::to_string)
        .collect();
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64;
    let (fs_total, fs_free, fs_avail) = statvfs(env.paths.root()).unwrap_or((0, 0, 0));
    let ksm_shared = std::fs::read_to_string("/sys/kernel/mm/ksm/pages_sharing")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 4096;
    let [sysname, release, version, machine] = uname();
    let boot_mode = if std::path::Path::new("/sys/firmware/efi").exists() {
        "efi"
    } else {
        "legacy-bios"
    };
    Ok(json!({
        "uptime": uptime,
        "cpu": cpu,
        "wait": wait,
        "idle": idle,
        "loadavg": loadavg,
        "memory": { "total": total, "free": free, "used": total.saturating_sub(avail), "available": avail },
        "swap": { "total": swap_total, "free": swap_free, "used": swap_total.saturating_sub(swap_free) },
        "rootfs": { "total": fs_total, "free": fs_free, "avail": fs_avail, "used": fs_total.saturating_sub(fs_free) },
        "ksm": { "shared": ksm_shared },
        "cpuinfo": cpuinfo(),
        "kversion": format!("{sysname} {release} {version}"),
        "current-kernel": { "sysname": sysname, "release": release, "version": version, "machine": machine },
        "pveversion": format!(
            "pve-manager/{}/{}",
            super::version::COMPAT_VERSION,
            env!("PVE_REPOID")
        ),
        "boot-info": { "mode": boot_mode },
    })
    .into())
}

/// One `iface` stanza of /etc/network/interfaces.
#[derive(Default)]
struct Iface {
    families: Vec<String>,
    method: Option<String>,
    method6: Option<String>,
    options: BTreeMap<String, String>,
    options6: BTreeMap<String, String>,
    comments: String,
    comments6: String,
    priority: usize,
}

/// Parses the stanzas upstream's index shows: `auto`/`allow-hotplug` lines and
/// `iface NAME FAMILY METHOD` blocks with their options and `#` comments.
fn parse_interfaces(text: &str) -> (BTreeMap<String, Iface>, std::collections::BTreeSet<String>) {
    let mut ifaces: BTreeMap<String, Iface> = BTreeMap::new();
    let mut auto = std::collections::BTreeSet::new();
    let mut current: Option<(String, bool)> = None;
    let mut priority = 0;
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        match first {
            "auto" | "allow-auto" | "allow-hotplug" => {
                auto.extend(words.map(str::to_string));
                current = None;
            }
            "iface" => {
                let name = words.next().unwrap_or("").to_string();
                let family = words.next().unwrap_or("inet").to_string();
                let method = words.next().unwrap_or("manual").to_string();
                priority += 1;
                let e = ifaces.entry(name.clone()).or_default();
                if e.priority == 0 {
                    e.priority = priority;
                }
                let v6 = family == "inet6";
                if v6 {
                    e.method6 = Some(method);
                } else {
                    e.method = Some(method);
                }
                e.families.push(family);
                current = Some((name, v6));
            }
            "source" | "source-directory" | "mapping" => current = None,
            _ => {
                let Some((name, v6)) = &current else { continue };
                let e = ifaces.get_mut(name).expect("current iface exists");
                if let Some(c) = line.strip_prefix('#') {
                    let target = if *v6 {
                        &mut e.comments6
                    } else {
                        &mut e.comments
                    };
                    target.push_str(c.trim_start());
                    target.push('\n');
                    continue;
                }
                let value = words.collect::<Vec<_>>().join(" ");
                let key = first.replace('-', "_");
                let target = if *v6 { &mut e.options6 } else { &mut e.options };
                target.insert(key, value);
            }
        }
    }
    (ifaces, auto)
}

fn iface_type(name: &str, e: &Iface, env: &RpcEnv) -> &'static str {
    let o = &e.options;
    if o.contains_key("bridge_ports") || o.contains_key("ovs_type") && o["ovs_type"] == "OVSBridge"
    {
        return if o.contains_key("ovs_type") {
            "OVSBridge"
        } else {
            "bridge"
        };
    }
    if o.contains_key("bond_slaves") || o.contains_key("slaves") {
        return "bond";
    }
    if name.contains(':') {
        return "alias";
    }
    if o.contains_key("vlan_raw_device") || name.contains('.') || name.starts_with("vlan") {
        return "vlan";
    }
    if name == "lo" {
        return "loopback";
    }
    let physical = ["eth", "en", "eno", "ens", "enp", "enx", "wl"]
        .iter()
        .any(|p| name.starts_with(p))
        || env
            .paths
            .host(&format!("/sys/class/net/{name}/device"))
            .exists();
    if physical {
        "eth"
    } else {
        "unknown"
    }
}

fn split_cidr(value: &str) -> (String, Option<String>) {
    match value.split_once('/') {
        Some((a, p)) => (a.to_string(), Some(p.to_string())),
        None => (value.to_string(), None),
    }
}

/// IPv4 netmask of a prefix length.
fn v4_netmask(prefix: &str) -> Option<String> {
    let bits: u32 = prefix.parse().ok().filter(|b| *b <= 32)?;
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Some(std::net::Ipv4Addr::from(mask).to_string())
}

fn iface_entry(name: &str, e: &Iface, autostart: bool, env: &RpcEnv) -> Value {
    let ty = iface_type(name, e, env);
    let mut m = Map::new();
    m.insert("iface".into(), json!(name));
    m.insert("type".into(), json!(ty));
    m.insert("priority".into(), json!(e.priority));
    m.insert("families".into(), json!(e.families));
    if let Some(me) = &e.method {
        m.insert("method".into(), json!(me));
    }
    if let Some(me) = &e.method6 {
        m.insert("method6".into(), json!(me));
    }
    if autostart {
        m.insert("autostart".into(), json!(1));
    }
    if env.paths.host(&format!("/sys/class/net/{name}")).exists() {
        m.insert("active".into(), json!(1));
        m.insert("exists".into(), json!(1));
    }
    for (k, v) in &e.options {
        match k.as_str() {
            "address" => {
                let (addr, prefix) = split_cidr(v);
                if let Some(p) = &prefix {
                    m.insert("cidr".into(), json!(v));
                    if let Some(mask) = v4_netmask(p) {
                        m.insert("netmask".into(), json!(mask));
                    }
                }
                m.insert("address".into(), json!(addr));
            }
            "netmask" => {
                m.insert("netmask".into(), json!(v));
            }
            "bond_slaves" => {
                m.insert("slaves".into(), json!(v));
            }
            _ => {
                m.insert(k.clone(), json!(v));
            }
        }
    }
    if let (Some(a), Some(n), false) = (
        m.get("address").cloned(),
        m.get("netmask").cloned(),
        m.contains_key("cidr"),
    ) {
        let prefix = n
            .as_str()
            .and_then(|s| s.parse::<std::net::Ipv4Addr>().ok())
            .map(|ip| u32::from(ip).count_ones());
        if let (Some(a), Some(p)) = (a.as_str(), prefix) {
            m.insert("cidr".into(), json!(format!("{a}/{p}")));
        }
    }
    for (k, v) in &e.options6 {
        match k.as_str() {
            "address" => {
                let (addr, prefix) = split_cidr(v);
                if let Some(p) = prefix {
                    m.insert("cidr6".into(), json!(v));
                    m.insert("netmask6".into(), json!(p));
                }
                m.insert("address6".into(), json!(addr));
            }
            "gateway" => {
                m.insert("gateway6".into(), json!(v));
            }
            "netmask" => {
                m.insert("netmask6".into(), json!(v));
            }
            _ => {
                m.entry(k.clone()).or_insert_with(|| json!(v));
            }
        }
    }
    if !e.comments.is_empty() {
        m.insert("comments".into(), json!(e.comments));
    }
    if !e.comments6.is_empty() {
        m.insert("comments6".into(), json!(e.comments6));
    }
    Value::Object(m)
}

fn type_matches(filter: &str, ty: &str) -> bool {
    match filter {
        "any_bridge" | "any_local_bridge" => ty == "bridge" || ty == "OVSBridge",
        "include_sdn" => true,
        f => f == ty,
    }
}

fn network_index(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    check_local_node(env, &p.required_str("node")?)?;
    let text = read_host(env, "/etc/network/interfaces").unwrap_or_default();
    let (ifaces, auto) = parse_interfaces(&text);
    let filter = p.str("type");
    let list: Vec<Value> = ifaces
        .iter()
        .filter(|(name, _)| name.as_str() != "lo")
        .map(|(name, e)| iface_entry(name, e, auto.contains(name), env))
        .filter(|v| {
            filter
                .as_deref()
                .is_none_or(|f| type_matches(f, v["type"].as_str().unwrap_or("")))
        })
        .collect();
    Ok(Value::Array(list).into())
}

const ZONEINFO: &str = "/usr/share/zoneinfo/";

/// The time zone: the target of /etc/localtime, else /etc/timezone, else UTC.
fn current_timezone(env: &RpcEnv) -> String {
    if let Ok(target) = std::fs::read_link(env.paths.host("/etc/localtime")) {
        let t = target.to_string_lossy();
        if let Some(tz) = t.split_once("zoneinfo/").map(|(_, tz)| tz) {
            return tz.to_string();
        }
    }
    read_host(env, "/etc/timezone")
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "UTC".into())
}

fn time(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    check_local_node(env, &p.required_str("node")?)?;
    let now = jiff::Timestamp::now();
    let tz = jiff::tz::TimeZone::get(&current_timezone(env)).unwrap_or(jiff::tz::TimeZone::UTC);
    let offset = tz.to_offset(now).seconds() as i64;
    Ok(json!({
        "timezone": current_timezone(env),
        "time": now.as_second(),
        "localtime": now.as_second() + offset,
    })
    .into())
}

fn set_timezone(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    check_local_node(env, &p.required_str("node")?)?;
    let tz = p.required_str("timezone")?;
    let zonefile = std::path::Path::new(ZONEINFO).join(&tz);
    if tz.contains("..") || !zonefile.is_file() {
        return Err(ApiError::internal(format!("invalid time zone '{tz}'\n")));
    }
    let write = || -> std::io::Result<()> {
        let etc = env.paths.host("/etc");
        std::fs::create_dir_all(&etc)?;
        std::fs::write(etc.join("timezone"), format!("{tz}\n"))?;
        let link = etc.join("localtime");
        let tmp = etc.join(".localtime.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&zonefile, &tmp)?;
        std::fs::rename(&tmp, &link)
    };
    write().map_err(|e| ApiError::internal(format!("unable to set time zone '{tz}' - {e}\n")))?;
    Ok(Value::Null.into())
}

fn dns(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    check_local_node(env, &p.required_str("node")?)?;
    let text = read_host(env, "/etc/resolv.conf").unwrap_or_default();
    let mut res = Map::new();
    let mut n = 0;
    for line in text.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("search") | Some("domain") => {
                if let Some(d) = w.next() {
                    res.insert("search".into(), json!(d));
                }
            }
            Some("nameserver") if n < 3 => {
                if let Some(ip) = w.next() {
                    n += 1;
                    res.insert(format!("dns{n}"), json!(ip));
                }
            }
            _ => {}
        }
    }
    Ok(Value::Object(res).into())
}

pub(super) fn status_method() -> ApiMethod {
    ApiMethod::new("status", HttpMethod::Get, "Read node status", node_status)
        .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(json!({"check": ["perm", "/nodes/{node}", ["Sys.Audit"]]})))
        .proxyto("node")
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 1, "properties": {"boot-info": {"description": "Meta-information about the boot mode.", "properties": {"mode": {"description": "Through which firmware the system got booted.", "enum": ["efi", "legacy-bios"], "type": "string"}, "secureboot": {"description": "System is booted in secure mode, only applicable for the \"efi\" mode.", "optional": 1, "type": "boolean"}}, "type": "object"}, "cpu": {"description": "The current cpu usage.", "type": "number"}, "cpuinfo": {"properties": {"cores": {"description": "The number of physical cores of the CPU.", "type": "integer"}, "cpus": {"description": "The number of logical threads of the CPU.", "type": "integer"}, "model": {"description": "The CPU model", "type": "string"}, "sockets": {"description": "The number of logical threads of the CPU.", "type": "integer"}}, "type": "object"}, "current-kernel": {"description": "Meta-information about the currently booted kernel of this node.", "properties": {"machine": {"description": "Hardware (architecture) type", "type": "string"}, "release": {"description": "OS kernel release (e.g., \"6.8.0\")", "type": "string"}, "sysname": {"description": "OS kernel name (e.g., \"Linux\")", "type": "string"}, "version": {"description": "OS kernel version with build info", "type": "string"}}, "type": "object"}, "loadavg": {"description": "An array of load avg for 1, 5 and 15 minutes respectively.", "items": {"description": "The value of the load.", "type": "string"}, "type": "array"}, "memory": {"properties": {"available": {"description": "The available memory in bytes.", "type": "integer"}, "free": {"description": "The free memory in bytes.", "type": "integer"}, "total": {"description": "The total memory in bytes.", "type": "integer"}, "used": {"description": "The used memory in bytes.", "type": "integer"}}, "type": "object"}, "pveversion": {"description": "The PVE version string.", "type": "string"}, "rootfs": {"properties": {"avail": {"description": "The available bytes in the root filesystem.", "type": "integer"}, "free": {"description": "The free bytes on the root filesystem.", "type": "integer"}, "total": {"description": "The total size of the root filesystem in bytes.", "type": "integer"}, "used": {"description": "The used bytes in the root filesystem.", "type": "integer"}}, "type": "object"}}, "type": "object"}"#)))
}

pub(super) fn network_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "List available networks", network_index)
        .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}"#)))
        .param("type", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Only list specific interface types.", "enum": ["bridge", "bond", "eth", "alias", "vlan", "fabric", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort", "vnet", "any_bridge", "any_local_bridge", "include_sdn"], "optional": 1, "type": "string"}"#)))
        .permissions(perms(json!({"user": "all"})))
        .proxyto("node")
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"active": {"description": "Set to true if the interface is active.", "optional": 1, "type": "boolean"}, "address": {"description": "IP address.", "format": "ipv4", "optional": 1, "requires": "netmask", "type": "string"}, "address6": {"description": "IP address.", "format": "ipv6", "optional": 1, "requires": "netmask6", "type": "string"}, "autostart": {"description": "Automatically start interface on boot.", "optional": 1, "type": "boolean"}, "bond-primary": {"description": "Specify the primary interface for active-backup bond.", "format": "pve-iface", "optional": 1, "type": "string"}, "bond_mode": {"description": "Bonding mode.", "enum": ["balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb", "balance-slb", "lacp-balance-slb", "lacp-balance-tcp"], "optional": 1, "type": "string"}, "bond_xmit_hash_policy": {"description": "Selects the transmit hash policy to use for slave selection in balance-xor and 802.3ad modes.", "enum": ["layer2", "layer2+3", "layer3+4"], "optional": 1, "type": "string"}, "bridge-access": {"description": "The bridge port access VLAN.", "optional": 1, "type": "integer"}, "bridge-arp-nd-suppress": {"description": "Bridge port ARP/ND suppress flag.", "optional": 1, "type": "boolean"}, "bridge-learning": {"description": "Bridge port learning flag.", "optional": 1, "type": "boolean"}, "bridge-multicast-flood": {"description": "Bridge port multicast flood flag.", "optional": 1, "type": "boolean"}, "bridge-unicast-flood": {"description": "Bridge port unicast flood flag.", "optional": 1, "type": "boolean"}, "bridge_ports": {"description": "Specify the interfaces you want to add to your bridge.", "format": "pve-iface-list", "optional": 1, "type": "string"}, "bridge_vids": {"description": "Specify the allowed VLANs. For example: '2 4 100-200'. Only used if the bridge is VLAN aware.", "format": "pve-vlan-id-or-range-list", "optional": 1, "type": "string"}, "bridge_vlan_aware": {"description": "Enable bridge vlan support.", "optional": 1, "type": "boolean"}, "cidr": {"description": "IPv4 CIDR.", "format": "CIDRv4", "optional": 1, "type": "string"}, "cidr6": {"description": "IPv6 CIDR.", "format": "CIDRv6", "optional": 1, "type": "string"}, "comments": {"description": "Comments", "optional": 1, "type": "string"}, "comments6": {"description": "Comments", "optional": 1, "type": "string"}, "exists": {"description": "Set to true if the interface physically exists.", "optional": 1, "type": "boolean"}, "families": {"description": "The network families.", "items": {"description": "A network family.", "enum": ["inet", "inet6"], "type": "string"}, "optional": 1, "type": "array"}, "gateway": {"description": "Default gateway address.", "format": "ipv4", "optional": 1, "type": "string"}, "gateway6": {"description": "Default ipv6 gateway address.", "format": "ipv6", "optional": 1, "type": "string"}, "iface": {"description": "Network interface name.", "format": "pve-iface", "maxLength": 20, "minLength": 2, "type": "string"}, "link-type": {"description": "The link type.", "optional": 1, "type": "string"}, "method": {"description": "The network configuration method for IPv4.", "enum": ["loopback", "dhcp", "manual", "static", "auto"], "optional": 1, "type": "string"}, "method6": {"description": "The network configuration method for IPv6.", "enum": ["loopback", "dhcp", "manual", "static", "auto"], "optional": 1, "type": "string"}, "mtu": {"description": "MTU.", "maximum": 65520, "minimum": 1280, "optional": 1, "type": "integer"}, "netmask": {"description": "Network mask.", "format": "ipv4mask", "optional": 1, "requires": "address", "type": "string"}, "netmask6": {"description": "Network mask.", "maximum": 128, "minimum": 0, "optional": 1, "requires": "address6", "type": "integer"}, "options": {"description": "A list of additional interface options for IPv4.", "items": {"description": "An interface property.", "type": "string"}, "optional": 1, "type": "array"}, "options6": {"description": "A list of additional interface options for IPv6.", "items": {"description": "An interface property.", "type": "string"}, "optional": 1, "type": "array"}, "ovs_bonds": {"description": "Specify the interfaces used by the bonding device.", "format": "pve-iface-list", "optional": 1, "type": "string"}, "ovs_bridge": {"description": "The OVS bridge associated with a OVS port. This is required when you create an OVS port.", "format": "pve-iface", "optional": 1, "type": "string"}, "ovs_options": {"description": "OVS interface options.", "maxLength": 1024, "optional": 1, "type": "string"}, "ovs_ports": {"description": "Specify the interfaces you want to add to your bridge.", "format": "pve-iface-list", "optional": 1, "type": "string"}, "ovs_tag": {"description": "Specify a VLan tag (used by OVSPort, OVSIntPort, OVSBond)", "maximum": 4094, "minimum": 1, "optional": 1, "type": "integer"}, "priority": {"description": "The order of the interface.", "optional": 1, "type": "integer"}, "slaves": {"description": "Specify the interfaces used by the bonding device.", "format": "pve-iface-list", "optional": 1, "type": "string"}, "type": {"description": "Network interface type", "enum": ["bridge", "bond", "eth", "alias", "vlan", "fabric", "OVSBridge", "OVSBond", "OVSPort", "OVSIntPort", "vnet", "unknown"], "type": "string"}, "uplink-id": {"description": "The uplink ID.", "optional": 1, "type": "string"}, "vlan-id": {"description": "vlan-id for a custom named vlan interface (ifupdown2 only).", "maximum": 4094, "minimum": 1, "optional": 1, "type": "integer"}, "vlan-protocol": {"description": "The VLAN protocol.", "enum": ["802.1ad", "802.1q"], "optional": 1, "type": "string"}, "vlan-raw-device": {"description": "Specify the raw interface for the vlan interface.", "format": "pve-iface", "optional": 1, "type": "string"}, "vxlan-id": {"description": "The VXLAN ID.", "optional": 1, "type": "integer"}, "vxlan-local-tunnelip": {"description": "The VXLAN local tunnel IP.", "optional": 1, "type": "string"}, "vxlan-physdev": {"description": "The physical device for the VXLAN tunnel.", "optional": 1, "type": "string"}, "vxlan-svcnodeip": {"description": "The VXLAN SVC node IP.", "optional": 1, "type": "string"}}, "type": "object"}, "links": [{"href": "{iface}", "rel": "child"}], "type": "array"}"#)))
}

pub(super) fn time_method() -> ApiMethod {
    ApiMethod::new("time", HttpMethod::Get, "Read server time and time zone settings.", time)
        .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(json!({"check": ["perm", "/nodes/{node}", ["Sys.Audit"]]})))
        .proxyto("node")
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"localtime": {"description": "Seconds since 1970-01-01 00:00:00 (local time)", "minimum": 1297163644, "renderer": "timestamp_gmt", "type": "integer"}, "time": {"description": "Seconds since 1970-01-01 00:00:00 UTC.", "minimum": 1297163644, "renderer": "timestamp", "type": "integer"}, "timezone": {"description": "Time zone", "type": "string"}}, "type": "object"}"#)))
}

pub(super) fn set_timezone_method() -> ApiMethod {
    ApiMethod::new("set_timezone", HttpMethod::Put, "Set time zone.", set_timezone)
        .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}"#)))
        .param("timezone", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Time zone. The file '/usr/share/zoneinfo/zone.tab' contains the list of valid names.", "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(json!({"check": ["perm", "/nodes/{node}", ["Sys.Modify"]]})))
        .protected()
        .proxyto("node")
        .returns(Schema::literal(json!({"type": "null"})))
}

pub(super) fn dns_method() -> ApiMethod {
    ApiMethod::new("dns", HttpMethod::Get, "Read DNS settings.", dns)
        .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}"#)))
        .permissions(perms(json!({"check": ["perm", "/nodes/{node}", ["Sys.Audit"]]})))
        .proxyto("node")
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"dns1": {"description": "First name server IP address.", "optional": 1, "type": "string"}, "dns2": {"description": "Second name server IP address.", "optional": 1, "type": "string"}, "dns3": {"description": "Third name server IP address.", "optional": 1, "type": "string"}, "search": {"description": "Search domain for host-name lookup.", "optional": 1, "type": "string"}}, "type": "object"}"#)))
}
