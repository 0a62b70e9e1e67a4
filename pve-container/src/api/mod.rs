//! The read side of the container API: `GET /nodes/{node}/lxc` (list),
//! `/nodes/{node}/lxc/{vmid}` (directory index), `…/config` and `…/pending`, with
//! upstream's schemas and permissions. Mount [`node_lxc_router`] below `/nodes/{node}`.

use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::config::{current_config, pending_array, section_to_json};
use crate::store::CtConfigStore;

mod resize;
mod runtime;
mod schemas;

// the write side: create/destroy/template, config update, snapshot writes
mod cgroup;
mod checks;
mod create;
mod destroy;
mod purge;
mod schemas_write;
mod snapshot;
mod update;
pub use cgroup::{host_cgroup_version, limit_cgroup_file, CgroupWriter, LxcCgroup};
pub use update::{apply_pending, apply_pending_before_start, update_config, UpdateRequest};

fn declare(mut m: ApiMethod, params: Value, returns: Value, perms: Value) -> ApiMethod {
    if let Value::Object(props) = params {
        for (name, schema) in props {
            m = m.param(&name, Schema::literal(schema));
        }
    }
    m = m.returns(Schema::literal(returns));
    if !perms.is_null() {
        let p: Permissions = serde_json::from_value(perms).expect("upstream permission literal");
        m = m.permissions(p);
    }
    m.proxyto("node")
}

fn internal(msg: String) -> ApiError {
    ApiError::internal(msg)
}

/// Whether a container runs: its LXC command socket is bound (upstream's
/// `list_active_containers` reads the abstract sockets in /proc/net/unix).
pub fn active_containers() -> std::collections::BTreeSet<u32> {
    active_containers_in(std::path::Path::new("/var/lib/lxc"))
}

/// [`active_containers`] of the containers below another lxc path (a test root).
pub fn active_containers_in(lxc_dir: &std::path::Path) -> std::collections::BTreeSet<u32> {
    let prefix = format!("@{}/", lxc_dir.display());
    let text = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter_map(|path| {
            let rest = path.strip_prefix(&prefix)?;
            let (vmid, tail) = rest.split_once('/')?;
            (tail == "command").then(|| vmid.parse().ok()).flatten()
        })
        .collect()
}

fn vmlist(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let store = CtConfigStore::new(&env.paths, &env.node);
    let dir = env.paths.etc_pve().join(format!("nodes/{}/lxc", env.node));
    let cpucount = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let active = active_containers_in(&env.paths.lxc_dir());
    let mut vmids: Vec<u32> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".conf")?.parse().ok()
            })
            .collect()
        })
        .unwrap_or_default();
    // upstream's hash_to_array sorts the ids as strings
    vmids.sort_by_key(|v| v.to_string());
    let mut list = Vec::new();
    for vmid in vmids {
        if !env.has_privs(&format!("/vms/{vmid}"), &["VM.Audit"], false) {
            continue;
        }
        let conf = store
            .load_config(vmid, None)
            .map(|c| c.main)
            .unwrap_or_default();
        let mut entry = crate::status::stopped_status(vmid, &conf, cpucount);
        if active.contains(&vmid) {
            entry.insert("status".into(), json!("running"));
        }
        list.push(Value::Object(entry));
    }
    Ok(Value::Array(list).into())
}

/// The sub-directories upstream lists for a container.
const CT_SUBDIRS: [&str; 15] = [
    "config",
    "pending",
    "status",
    "vncproxy",
    "termproxy",
    "vncwebsocket",
    "spiceproxy",
    "migrate",
    "clone",
    "rrd",
    "rrddata",
    "firewall",
    "snapshot",
    "resize",
    "interfaces",
];

fn vmdiridx(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    // existence check, as upstream's load_config
    CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let list: Vec<Value> = CT_SUBDIRS.iter().map(|d| json!({ "subdir": d })).collect();
    Ok(Value::Array(list).into())
}

/// Drops `env` unless the caller may read it (upstream's
/// `delete_read_restricted_options`).
fn restrict(env: &RpcEnv, vmid: u32, data: &mut serde_json::Map<String, Value>) {
    if data.contains_key("env")
        && !env.has_privs(&format!("/vms/{vmid}"), &["VM.Config.Options"], true)
    {
        data.remove("env");
    }
}

fn vm_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let conf = CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let section = match p.str("snapshot") {
        Some(snap) => conf
            .snapshots
            .get(&snap)
            .cloned()
            .ok_or_else(|| internal(format!("snapshot '{snap}' does not exist\n")))?,
        None => current_config(&conf, p.bool("current").unwrap_or(false)),
    };
    let mut data = section_to_json(&section, &conf.digest);
    restrict(env, vmid, &mut data);
    Ok(Value::Object(data).into())
}

fn vm_pending(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let mut conf = CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    if !env.has_privs(&format!("/vms/{vmid}"), &["VM.Config.Options"], true) {
        conf.main.remove("env");
        conf.pending.remove("env");
    }
    let items: Vec<Value> = pending_array(&conf)
        .into_iter()
        .map(Value::Object)
        .collect();
    Ok(Value::Array(items).into())
}

const STATUS_SUBDIRS: [&str; 6] = ["current", "start", "stop", "shutdown", "reboot", "migrate"];

fn vmcmdidx(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let list: Vec<Value> = STATUS_SUBDIRS
        .iter()
        .map(|d| json!({ "subdir": d }))
        .collect();
    Ok(Value::Array(list).into())
}

/// The HA state of a guest: `{managed: 0}` unless /etc/pve/ha/resources.cfg lists it,
/// then `managed: 1` with its requested `state` (default `started`).
fn ha_status(env: &RpcEnv, sid: &str) -> Value {
    let cfg =
        std::fs::read_to_string(env.paths.etc_pve().join("ha/resources.cfg")).unwrap_or_default();
    let (kind, id) = sid.split_once(':').unwrap_or((sid, ""));
    let mut in_section = false;
    let mut found = false;
    let mut state = None;
    for line in cfg.lines() {
        if !line.starts_with(char::is_whitespace) && !line.trim().is_empty() {
            let mut parts = line.splitn(2, ':');
            let t = parts.next().unwrap_or_default().trim();
            let i = parts.next().unwrap_or_default().trim();
            in_section = t == kind && i == id;
            found |= in_section;
        } else if in_section {
            let mut kv = line.split_whitespace();
            if kv.next() == Some("state") {
                state = kv.next().map(str::to_string);
            }
        }
    }
    if found {
        json!({"managed": 1, "state": state.unwrap_or_else(|| "started".into())})
    } else {
        json!({"managed": 0})
    }
}

fn vm_status(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let conf = CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let cpucount = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let mut status = crate::status::stopped_status(vmid, &conf.main, cpucount);
    if active_containers_in(&env.paths.lxc_dir()).contains(&vmid) {
        status.insert("status".into(), json!("running"));
    }
    status.insert("ha".into(), ha_status(env, &format!("ct:{vmid}")));
    Ok(Value::Object(status).into())
}

fn snapshot_list(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let conf = CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let mut list = Vec::new();
    for (name, snap) in &conf.snapshots {
        let mut item = serde_json::Map::new();
        item.insert("name".into(), json!(name));
        let snaptime = snap
            .get("snaptime")
            .and_then(|t| t.parse::<i64>().ok())
            .unwrap_or(0);
        item.insert("snaptime".into(), json!(snaptime));
        item.insert(
            "description".into(),
            json!(snap.description.clone().unwrap_or_default()),
        );
        if let Some(parent) = snap.get("parent") {
            item.insert("parent".into(), json!(parent));
        }
        if let Some(state) = snap.get("snapstate").filter(|s| !s.is_empty()) {
            item.insert("snapstate".into(), json!(state));
        }
        list.push(Value::Object(item));
    }
    let mut current = serde_json::Map::new();
    current.insert("name".into(), json!("current"));
    current.insert("digest".into(), json!(conf.digest));
    current.insert(
        "running".into(),
        json!(u8::from(
            active_containers_in(&env.paths.lxc_dir()).contains(&vmid)
        )),
    );
    current.insert("description".into(), json!("You are here!"));
    if let Some(parent) = conf.main.get("parent") {
        current.insert("parent".into(), json!(parent));
    }
    list.push(Value::Object(current));
    Ok(Value::Array(list).into())
}

fn snapshot_cmd_idx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    Ok(json!([{"cmd": "rollback"}, {"cmd": "config"}]).into())
}

fn get_snapshot_config(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let snapname = p.required_str("snapname")?;
    let conf = CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(internal)?;
    let mut snap = conf
        .snapshots
        .get(&snapname)
        .cloned()
        .ok_or_else(|| internal(format!("snapshot '{snapname}' does not exist\n")))?;
    snap.lxc.clear();
    let mut data = section_to_json(&snap, "");
    data.remove("digest");
    Ok(Value::Object(data).into())
}

/// `/nodes/{node}/lxc`.
pub fn node_lxc_router() -> Router {
    use schemas as s;
    // the container formats (`pve-ct-timezone`, `lxc-ip-with-ll-iface`, …) must be known
    // before the first request is validated
    crate::schema::register_formats();
    let config = Router::new().method(declare(
        ApiMethod::new(
            "vm_config",
            HttpMethod::Get,
            "Get container configuration.",
            vm_config,
        ),
        s::vm_config_params(),
        s::vm_config_returns(),
        s::vm_config_permissions(),
    ));
    let pending = Router::new().method(declare(
        ApiMethod::new(
            "vm_pending",
            HttpMethod::Get,
            "Get container configuration, including pending changes.",
            vm_pending,
        ),
        s::vm_pending_params(),
        s::vm_pending_returns(),
        s::vm_pending_permissions(),
    ));
    let current = Router::new().method(
        declare(
            ApiMethod::new(
                "vm_status",
                HttpMethod::Get,
                "Get virtual machine status.",
                vm_status,
            ),
            s::vm_status_params(),
            s::vm_status_returns(),
            s::vm_status_permissions(),
        )
        .protected(),
    );
    let status = Router::new()
        .method(declare(
            ApiMethod::new("vmcmdidx", HttpMethod::Get, "Directory index", vmcmdidx),
            s::vmcmdidx_params(),
            s::vmcmdidx_returns(),
            s::vmcmdidx_permissions(),
        ))
        .subdir("current", current);
    let status = runtime::mount_status_methods(status);
    let snap_config = Router::new().method(declare(
        ApiMethod::new(
            "get_snapshot_config",
            HttpMethod::Get,
            "Get snapshot configuration",
            get_snapshot_config,
        ),
        s::get_snapshot_config_params(),
        s::get_snapshot_config_returns(),
        s::get_snapshot_config_permissions(),
    ));
    let mut cmd_idx = declare(
        ApiMethod::new("snapshot_cmd_idx", HttpMethod::Get, "", snapshot_cmd_idx),
        s::snapshot_cmd_idx_params(),
        s::snapshot_cmd_idx_returns(),
        s::snapshot_cmd_idx_permissions(),
    );
    // upstream runs the snapshot command index locally
    cmd_idx.proxyto = None;
    let snapshot = Router::new()
        .method(
            declare(
                ApiMethod::new(
                    "list",
                    HttpMethod::Get,
                    "List all snapshots.",
                    snapshot_list,
                ),
                s::snapshot_list_params(),
                s::snapshot_list_returns(),
                s::snapshot_list_permissions(),
            )
            .protected(),
        )
        .method(write_method(WriteMethod::Snapshot))
        .match_param(
            "snapname",
            Router::new()
                .method(cmd_idx)
                .method(write_method(WriteMethod::DelSnapshot))
                .subdir(
                    "config",
                    snap_config.method(write_method(WriteMethod::UpdateSnapshotConfig)),
                )
                .subdir(
                    "rollback",
                    Router::new().method(write_method(WriteMethod::Rollback)),
                ),
        );
    let item = Router::new()
        .method(declare(
            ApiMethod::new("vmdiridx", HttpMethod::Get, "Directory index", vmdiridx),
            s::vmdiridx_params(),
            s::vmdiridx_returns(),
            s::vmdiridx_permissions(),
        ))
        .method(write_method(WriteMethod::Destroy))
        .subdir(
            "config",
            config.method(write_method(WriteMethod::UpdateConfig)),
        )
        .subdir("pending", pending)
        .subdir("snapshot", snapshot)
        .subdir("status", status)
        .subdir(
            "template",
            Router::new().method(write_method(WriteMethod::Template)),
        );
    let item = resize::mount_resize(item);
    Router::new()
        .method(
            declare(
                ApiMethod::new(
                    "vmlist",
                    HttpMethod::Get,
                    "LXC container index (per node).",
                    vmlist,
                ),
                s::vmlist_params(),
                s::vmlist_returns(),
                s::vmlist_permissions(),
            )
            .protected(),
        )
        .method(write_method(WriteMethod::Create))
        .match_param("vmid", item)
}

/// The methods that change containers, configs and snapshots.
#[derive(Clone, Copy)]
enum WriteMethod {
    Create,
    Destroy,
    UpdateConfig,
    Template,
    Snapshot,
    DelSnapshot,
    Rollback,
    UpdateSnapshotConfig,
}

/// The container options as parameters (create and config update), `mp0`… expanded;
/// the snapshot bookkeeping keys are left out.
fn with_ct_options(mut m: ApiMethod) -> ApiMethod {
    for (name, schema) in crate::schema::ct_config_options() {
        if name == "parent" || name == "snaptime" {
            continue;
        }
        m = m.param(name, std::sync::Arc::clone(schema));
    }
    m
}

fn write_method(which: WriteMethod) -> ApiMethod {
    use schemas_write as s;
    use HttpMethod::{Delete, Post, Put};
    type H = fn(&RpcEnv, Params) -> Result<ApiResponse, ApiError>;
    let (name, method, desc, handler, params, returns, perms): (_, _, _, H, _, _, _) = match which {
        WriteMethod::Create => (
            "create_vm",
            Post,
            "Create or restore a container.",
            create::create_vm as H,
            s::create_vm_params(),
            s::create_vm_returns(),
            s::create_vm_permissions(),
        ),
        WriteMethod::Destroy => (
            "destroy_vm",
            Delete,
            "Destroy the container (also delete all uses files).",
            destroy::destroy_vm,
            s::destroy_vm_params(),
            s::destroy_vm_returns(),
            s::destroy_vm_permissions(),
        ),
        WriteMethod::UpdateConfig => (
            "update_vm",
            Put,
            "Set container options.",
            update::update_vm,
            s::update_vm_params(),
            s::update_vm_returns(),
            s::update_vm_permissions(),
        ),
        WriteMethod::Template => (
            "template",
            Post,
            "Create a Template.",
            destroy::template,
            s::template_params(),
            s::template_returns(),
            s::template_permissions(),
        ),
        WriteMethod::Snapshot => (
            "snapshot",
            Post,
            "Snapshot a container.",
            snapshot::snapshot,
            s::snapshot_params(),
            s::snapshot_returns(),
            s::snapshot_permissions(),
        ),
        WriteMethod::DelSnapshot => (
            "delsnapshot",
            Delete,
            "Delete a LXC snapshot.",
            snapshot::delsnapshot,
            s::delsnapshot_params(),
            s::delsnapshot_returns(),
            s::delsnapshot_permissions(),
        ),
        WriteMethod::Rollback => (
            "rollback",
            Post,
            "Rollback LXC state to specified snapshot.",
            snapshot::rollback,
            s::rollback_params(),
            s::rollback_returns(),
            s::rollback_permissions(),
        ),
        WriteMethod::UpdateSnapshotConfig => (
            "update_snapshot_config",
            Put,
            "Update snapshot metadata.",
            snapshot::update_snapshot_config,
            s::update_snapshot_config_params(),
            s::update_snapshot_config_returns(),
            s::update_snapshot_config_permissions(),
        ),
    };
    let mut m = ApiMethod::new(name, method, desc, handler);
    if matches!(which, WriteMethod::Create | WriteMethod::UpdateConfig) {
        m = with_ct_options(m);
    }
    declare(m, params, returns, perms).protected()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pve_common::api::call::call_merged;
    use pve_common::paths::NodePaths;

    fn obj(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn list_config_pending() {
        let root = std::env::temp_dir().join(format!("ct-api-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join("etc/pve/nodes/n1/lxc");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("105.conf"),
            "#note\nhostname: c5\nmemory: 256\ncores: 1\nrootfs: local:105/x.raw,size=1G\n\n[pve:pending]\nmemory: 512\n\n[s1]\nhostname: old\nsnaptime: 1\n",
        )
        .unwrap();
        let mut env = RpcEnv::cli(NodePaths::new(&root));
        env.node = "n1".into();
        let router =
            Router::new().match_param("node", Router::new().subdir("lxc", node_lxc_router()));
        let call = |path: &str, q: Value| {
            call_merged(
                &router,
                &env,
                HttpMethod::Get,
                path,
                obj(q),
                Default::default(),
            )
        };
        let list = call("/n1/lxc", json!({})).unwrap().data;
        assert_eq!(list[0]["vmid"], json!(105));
        assert_eq!(list[0]["maxmem"], json!(256u64 << 20));
        let conf = call("/n1/lxc/105/config", json!({})).unwrap().data;
        assert_eq!(conf["memory"], json!(512));
        assert_eq!(conf["description"], json!("note\n"));
        let cur = call("/n1/lxc/105/config", json!({"current": 1}))
            .unwrap()
            .data;
        assert_eq!(cur["memory"], json!(256));
        let snap = call("/n1/lxc/105/config", json!({"snapshot": "s1"}))
            .unwrap()
            .data;
        assert_eq!(snap["hostname"], json!("old"));
        assert_eq!(snap["digest"], conf["digest"]);
        let err = call("/n1/lxc/106/config", json!({})).err().unwrap();
        assert_eq!(err.status, 500);
        assert_eq!(
            err.message,
            "Configuration file 'nodes/n1/lxc/106.conf' does not exist\n"
        );
        let pending = call("/n1/lxc/105/pending", json!({})).unwrap().data;
        let mem = pending
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["key"] == "memory")
            .unwrap();
        assert_eq!(
            (mem["value"].clone(), mem["pending"].clone()),
            (json!(256), json!(512))
        );
        let st = call("/n1/lxc/105/status/current", json!({})).unwrap().data;
        assert_eq!(st["ha"], json!({"managed": 0}));
        assert_eq!(st["status"], json!("stopped"));
        std::fs::create_dir_all(root.join("etc/pve/ha")).unwrap();
        std::fs::write(
            root.join("etc/pve/ha/resources.cfg"),
            "ct: 105\n\tstate stopped\n",
        )
        .unwrap();
        let st = call("/n1/lxc/105/status/current", json!({})).unwrap().data;
        assert_eq!(st["ha"], json!({"managed": 1, "state": "stopped"}));
        let snaps = call("/n1/lxc/105/snapshot", json!({})).unwrap().data;
        assert_eq!(snaps[0]["name"], json!("s1"));
        assert_eq!(snaps[0]["snaptime"], json!(1));
        assert_eq!(snaps[0]["description"], json!(""));
        assert_eq!(snaps[1]["name"], json!("current"));
        assert_eq!(snaps[1]["running"], json!(0));
        let sc = call("/n1/lxc/105/snapshot/s1/config", json!({}))
            .unwrap()
            .data;
        assert_eq!(sc, json!({"hostname": "old", "snaptime": 1}));
        let err = call("/n1/lxc/105/snapshot/nope/config", json!({}))
            .err()
            .unwrap();
        assert_eq!(err.message, "snapshot 'nope' does not exist\n");
        let idx = call("/n1/lxc/105", json!({})).unwrap().data;
        assert_eq!(idx[0], json!({"subdir": "config"}));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
