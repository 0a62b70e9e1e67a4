//! `/cluster`: the cluster index, resources, status and the next free VMID.

use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

use super::resources::{guest_entry, guest_list, storage_entry, user_config};

fn perms(v: Value) -> Permissions {
    serde_json::from_value(v).expect("valid permissions literal")
}

pub fn router() -> Router {
    Router::new()
        .method(cluster_index_method())
        .subdir("config", super::cluster_config::router())
        .subdir("log", Router::new().method(log_method()))
        .subdir("nextid", Router::new().method(nextid_method()))
        .subdir("resources", Router::new().method(resources_method()))
        .subdir("status", Router::new().method(status_method()))
}

/// Upstream's list, in its order, including the directories we do not serve yet.
const CLUSTER_DIRS: &[&str] = &[
    "acme",
    "backup",
    "backup-info",
    "bulk-action",
    "ceph",
    "config",
    "firewall",
    "ha",
    "jobs",
    "log",
    "mapping",
    "metrics",
    "notifications",
    "nextid",
    "options",
    "qemu",
    "replication",
    "resources",
    "status",
    "tasks",
    "sdn",
];

fn cluster_index(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let list: Vec<Value> = CLUSTER_DIRS.iter().map(|n| json!({ "name": n })).collect();
    Ok(Value::Array(list).into())
}

/// The cluster's node names: `.members` when clustered, else this node.
pub(super) fn node_names(env: &RpcEnv) -> Vec<String> {
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    match cfs.members() {
        Ok(m) if !m.nodelist.is_empty() => m.nodelist.keys().cloned().collect(),
        _ => vec![env.node.clone()],
    }
}

/// A node's resource entry; without Sys.Audit only its identity and state.
fn node_entry(env: &RpcEnv, node: &str) -> Map<String, Value> {
    let can_audit = env.has_privs(&format!("/nodes/{node}"), &["Sys.Audit"], false);
    let mut e = if node == env.node {
        match super::nodes::local_node_entry(env) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    } else {
        let mut m = Map::new();
        m.insert("id".into(), json!(format!("node/{node}")));
        m.insert("node".into(), json!(node));
        m.insert("type".into(), json!("node"));
        m.insert("level".into(), json!(""));
        m.insert("status".into(), json!("unknown"));
        m
    };
    e.remove("ssl_fingerprint");
    if !can_audit {
        e.retain(|k, _| matches!(k.as_str(), "id" | "node" | "type" | "level" | "status"));
    }
    e
}

fn resources(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let filter = p.str("type");
    let wants = |t: &str| filter.as_deref().is_none_or(|f| f == t);
    let usercfg = user_config(env)?;
    let nodes = node_names(env);
    let mut res: Vec<Value> = Vec::new();

    if wants("pool") {
        for pool in usercfg.pools.keys() {
            if env.has_privs(&format!("/pool/{pool}"), &["Pool.Audit"], true) {
                res.push(json!({ "id": format!("/pool/{pool}"), "pool": pool, "type": "pool" }));
            }
        }
    }
    if wants("vm") {
        let vm_pool = vm_pools(&usercfg);
        for (vmid, g) in guest_list(env) {
            if !env.has_privs(&format!("/vms/{vmid}"), &["VM.Audit"], true) {
                continue;
            }
            let mut e = guest_entry(env, vmid, &g);
            if let Some(pool) = vm_pool.get(&vmid) {
                if env.has_privs(&format!("/pool/{pool}"), &["Pool.Audit"], true) {
                    e.insert("pool".into(), json!(pool));
                }
            }
            res.push(Value::Object(e));
        }
    }
    if wants("node") {
        for node in &nodes {
            res.push(Value::Object(node_entry(env, node)));
        }
    }
    if wants("storage") {
        if let Ok(storage) = pve_storage::storage::Storage::load(&env.paths) {
            for sec in storage.cfg.storages() {
                if !env.has_privs(
                    &format!("/storage/{}", sec.storeid),
                    &["Datastore.Audit"],
                    true,
                ) {
                    continue;
                }
                for node in &nodes {
                    if sec.disable || !sec.available_on(node) {
                        continue;
                    }
                    res.push(Value::Object(storage_entry(&storage, &sec, node)));
                }
            }
        }
    }
    if wants("network") && env.has_privs("/sdn/zones/localnetwork", &["SDN.Audit"], true) {
        // The default "localnetwork" zone every node has.
        for node in &nodes {
            res.push(json!({
                "id": format!("network/{node}/zone/localnetwork"),
                "type": "network",
                "network-type": "zone",
                "network": "localnetwork",
                "node": node,
                "status": "ok",
            }));
        }
    }
    Ok(Value::Array(res).into())
}

/// vmid → pool, from user.cfg's pool member lists.
pub(super) fn vm_pools(
    cfg: &pve_access_control::UserConfig,
) -> std::collections::BTreeMap<u32, String> {
    cfg.pools
        .iter()
        .flat_map(|(name, p)| p.vms.iter().map(move |v| (*v, name.clone())))
        .collect()
}

/// The node's address: /etc/hosts below the root first (PVE nodes list their own
/// name there), then the resolver.
fn node_ip(env: &RpcEnv, node: &str) -> Option<String> {
    let hosts = std::fs::read_to_string(env.paths.host("/etc/hosts")).unwrap_or_default();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut it = line.split_whitespace();
        let Some(ip) = it.next() else { continue };
        if ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| !a.is_loopback())
            && it.any(|n| n == node || n.split('.').next() == Some(node))
        {
            return Some(ip.to_string());
        }
    }
    use std::net::ToSocketAddrs;
    (node, 0)
        .to_socket_addrs()
        .ok()?
        .map(|a| a.ip())
        .find(|a| !a.is_loopback())
        .map(|a| a.to_string())
}

fn cluster_status(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    let members = cfs.members().ok();
    let mut res = Vec::new();
    match members {
        Some(m) if !m.nodelist.is_empty() => {
            if let Some(c) = &m.cluster {
                res.push(json!({
                    "type": "cluster", "id": "cluster", "nodes": c.nodes,
                    "version": c.version, "name": c.name, "quorate": c.quorate,
                }));
            }
            for (name, n) in &m.nodelist {
                let mut e = json!({
                    "type": "node", "id": format!("node/{name}"), "name": name,
                    "nodeid": n.id, "local": u8::from(*name == env.node), "online": n.online,
                    "level": "",
                });
                if let Some(ip) = &n.ip {
                    e["ip"] = json!(ip);
                }
                res.push(e);
            }
        }
        _ => {
            let node = &env.node;
            let mut e = json!({
                "type": "node", "id": format!("node/{node}"), "name": node,
                "local": 1, "nodeid": 0, "online": 1, "level": "",
            });
            e["ip"] = node_ip(env, node).map_or(Value::Null, Value::from);
            res.push(e);
        }
    }
    Ok(Value::Array(res).into())
}

/// `next-id: lower=…,upper=…` of datacenter.cfg.
fn next_id_range(env: &RpcEnv) -> (u64, u64) {
    let text = std::fs::read_to_string(env.paths.pve_file("datacenter.cfg")).unwrap_or_default();
    let mut range = (100, 1_000_000);
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim() != "next-id" {
            continue;
        }
        for kv in v.trim().split(',') {
            match kv.split_once('=') {
                Some(("lower", n)) => range.0 = n.parse().unwrap_or(range.0),
                Some(("upper", n)) => range.1 = n.parse().unwrap_or(range.1),
                _ => {}
            }
        }
    }
    range
}

/// Only a hint: the VMID is reserved by creating its config file, which pmxcfs
/// refuses when any node already has a guest with that VMID (its `.vmlist` is
/// cluster-wide and the create is atomic there), so of two racing creates one fails.
fn nextid(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let ids = guest_list(env);
    if let Some(vmid) = p.i64("vmid") {
        if !ids.contains_key(&(vmid as u32)) {
            return Ok(json!(vmid.to_string()).into());
        }
        return Err(ApiError::parameter(
            "vmid",
            format!("VM {vmid} already exists"),
        ));
    }
    let (lower, upper) = next_id_range(env);
    (lower..upper)
        .find(|i| !ids.contains_key(&(*i as u32)))
        .map(|i| json!(i.to_string()).into())
        .ok_or_else(|| {
            ApiError::internal(format!(
                "unable to get any free VMID in range [{lower}, {upper}]\n"
            ))
        })
}

pub(super) fn cluster_index_method() -> ApiMethod {
    ApiMethod::new("index", HttpMethod::Get, "Cluster index.", cluster_index)
        .permissions(perms(json!({"user": "all"})))
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {}, "type": "object"}, "links": [{"href": "{name}", "rel": "child"}], "type": "array"}"#)))
}

pub(super) fn resources_method() -> ApiMethod {
    ApiMethod::new("resources", HttpMethod::Get, "Resources index (cluster wide).", resources)
        .param("type", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Resource type.", "enum": ["vm", "storage", "node", "sdn"], "optional": 1, "type": "string"}"#)))
        .permissions(perms(json!({"user": "all"})))
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"cgroup-mode": {"description": "The cgroup mode the node operates under (for type 'node').", "optional": 1, "type": "integer"}, "content": {"description": "Allowed storage content types (for type 'storage').", "format": "pve-storage-content-list", "optional": 1, "type": "string"}, "cpu": {"description": "CPU utilization (for types 'node', 'qemu' and 'lxc').", "minimum": 0, "optional": 1, "renderer": "fraction_as_percentage", "type": "number"}, "disk": {"description": "Used disk space in bytes (for type 'storage'), used root image space for VMs (for types 'qemu' and 'lxc').", "minimum": 0, "optional": 1, "renderer": "bytes", "type": "integer"}, "diskread": {"description": "The number of bytes the guest read from its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc')", "optional": 1, "renderer": "bytes", "type": "integer"}, "diskwrite": {"description": "The number of bytes the guest wrote to its block devices since the guest was started. This info is not available for all storage types. (for types 'qemu' and 'lxc')", "optional": 1, "renderer": "bytes", "type": "integer"}, "hastate": {"description": "HA service status (for HA managed VMs).", "optional": 1, "type": "string"}, "host-arch": {"default": "x86_64", "description": "The node's CPU architecture. (for type 'node').", "enum": ["x86_64", "aarch64"], "optional": 1, "type": "string"}, "id": {"description": "Resource id.", "type": "string"}, "level": {"description": "Support level (for type 'node').", "optional": 1, "type": "string"}, "lock": {"description": "The guest's current config lock (for types 'qemu' and 'lxc')", "optional": 1, "type": "string"}, "maxcpu": {"description": "Number of available CPUs (for types 'node', 'qemu' and 'lxc').", "minimum": 0, "optional": 1, "type": "number"}, "maxdisk": {"description": "Storage size in bytes (for type 'storage'), root image size for VMs (for types 'qemu' and 'lxc').", "minimum": 0, "optional": 1, "renderer": "bytes", "type": "integer"}, "maxmem": {"description": "Number of available memory in bytes (for types 'node', 'qemu' and 'lxc').", "optional": 1, "renderer": "bytes", "type": "integer"}, "mem": {"description": "Used memory in bytes (for types 'node', 'qemu' and 'lxc').", "minimum": 0, "optional": 1, "renderer": "bytes", "type": "integer"}, "memhost": {"description": "Used memory in bytes from the point of view of the host (for types 'qemu').", "minimum": 0, "optional": 1, "renderer": "bytes", "type": "integer"}, "name": {"description": "Name of the resource.", "optional": 1, "type": "string"}, "netin": {"description": "The amount of traffic in bytes that was sent to the guest over the network since it was started. (for types 'qemu' and 'lxc')", "optional": 1, "renderer": "bytes", "type": "integer"}, "netout": {"description": "The amount of traffic in bytes that was sent from the guest over the network since it was started. (for types 'qemu' and 'lxc')", "optional": 1, "renderer": "bytes", "type": "integer"}, "network": {"description": "The name of a Network entity (for type 'network').", "optional": 1, "type": "string"}, "network-type": {"description": "The type of network resource (for type 'network').", "enum": ["fabric", "zone"], "optional": 1, "type": "string"}, "node": {"description": "The cluster node name (for types 'node', 'storage', 'qemu', and 'lxc').", "format": "pve-node", "optional": 1, "type": "string"}, "plugintype": {"description": "More specific type, if available.", "optional": 1, "type": "string"}, "pool": {"description": "The pool name (for types 'pool', 'qemu' and 'lxc').", "optional": 1, "type": "string"}, "protocol": {"description": "The protocol of a fabric (for type 'network', network-type 'fabric').", "optional": 1, "type": "string"}, "sdn": {"description": "The name of an SDN entity (for type 'sdn')", "optional": 1, "type": "string"}, "shared": {"description": "Determines whether the storage is shared", "optional": 1, "type": "boolean"}, "status": {"description": "Resource type dependent status.", "optional": 1, "type": "string"}, "storage": {"description": "The storage identifier (for type 'storage').", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string"}, "tags": {"description": "The guest's tags (for types 'qemu' and 'lxc')", "optional": 1, "type": "string"}, "template": {"default": 0, "description": "Determines if the guest is a template. (for types 'qemu' and 'lxc')", "optional": 1, "type": "boolean"}, "type": {"description": "Resource type.", "enum": ["node", "storage", "pool", "qemu", "lxc", "openvz", "sdn", "network"], "type": "string"}, "uptime": {"description": "Uptime of node or virtual guest in seconds (for types 'node', 'qemu' and 'lxc').", "optional": 1, "renderer": "duration", "type": "integer"}, "vmid": {"description": "The numerical vmid (for types 'qemu' and 'lxc').", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "optional": 1, "type": "integer"}, "zone-type": {"description": "The type of an SDN zone (for type 'sdn').", "optional": 1, "type": "string"}}, "type": "object"}, "type": "array"}"#)))
}

pub(super) fn status_method() -> ApiMethod {
    ApiMethod::new("get_status", HttpMethod::Get, "Get cluster status information.", cluster_status)
        .permissions(perms(json!({"check": ["perm", "/", ["Sys.Audit"]]})))
        .protected()
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"id": {"type": "string"}, "ip": {"description": "[node] IP of the resolved nodename.", "optional": 1, "type": "string"}, "level": {"description": "[node] Proxmox VE Subscription level, indicates if eligible for enterprise support as well as access to the stable Proxmox VE Enterprise Repository.", "optional": 1, "type": "string"}, "local": {"description": "[node] Indicates if this is the responding node.", "optional": 1, "type": "boolean"}, "name": {"type": "string"}, "nodeid": {"description": "[node] ID of the node from the corosync configuration.", "optional": 1, "type": "integer"}, "nodes": {"description": "[cluster] Nodes count, including offline nodes.", "optional": 1, "type": "integer"}, "online": {"description": "[node] Indicates if the node is online or offline.", "optional": 1, "type": "boolean"}, "quorate": {"description": "[cluster] Indicates if there is a majority of nodes online to make decisions", "optional": 1, "type": "boolean"}, "type": {"description": "Indicates the type, either cluster or node. The type defines the object properties e.g. quorate available for type cluster.", "enum": ["cluster", "node"], "type": "string"}, "version": {"description": "[cluster] Current version of the corosync configuration file.", "optional": 1, "type": "integer"}}, "type": "object"}, "type": "array"}"#)))
}

fn log_method() -> ApiMethod {
    ApiMethod::new("log", HttpMethod::Get, "Read cluster log", cluster_log)
        .param("max", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Maximum number of entries.", "minimum": 1, "optional": 1, "type": "integer", "typetext": "<integer> (1 - N)"}"#)))
        .permissions(perms(pve_common::schema::json_lit(r#"{"description": "The user needs 'Sys.Syslog' on '/' in order to get all logs.", "user": "all"}"#)))
        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {}, "type": "object"}, "type": "array"}"#)))
}

/// The cluster log from pmxcfs: everything for holders of Sys.Syslog on `/`, else
/// the caller's own entries; each entry gets `id` = `uid:node` as upstream adds.
fn cluster_log(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let max = p.i64("max").unwrap_or(0).max(0) as usize;
    let user = env.auth.full();
    let filter = (!env.has_privs("/", &["Sys.Syslog"], false)).then_some(user.as_str());
    let raw = pve_cluster::ipc::cluster_log(&env.paths, filter, max)
        .map_err(|e| ApiError::internal(format!("unable to read the cluster log - {e}\n")))?;
    let mut v: Value = serde_json::from_slice(&raw)
        .map_err(|e| ApiError::internal(format!("unable to parse the cluster log - {e}\n")))?;
    let mut data = v["data"].take();
    if let Some(entries) = data.as_array_mut() {
        for e in entries {
            let id = format!("{}:{}", e["uid"], e["node"].as_str().unwrap_or_default());
            e["id"] = Value::String(id);
        }
    }
    Ok(data.into())
}

pub(super) fn nextid_method() -> ApiMethod {
    ApiMethod::new("nextid", HttpMethod::Get, "Get next free VMID. Pass a VMID to assert that its free (at time of check).", nextid)
        .param("vmid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "optional": 1, "type": "integer", "typetext": "<integer> (100 - 999999999)"}"#)))
        .permissions(perms(json!({"user": "all"})))
        .returns(Schema::literal(json!({"description": "The next free VMID.", "type": "integer"})))
}
