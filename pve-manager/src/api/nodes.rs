//! `/nodes` and `/nodes/{node}`: the node index and each node's directory.

use pve_common::api::router::Children;
use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Permissions, Router, RpcEnv};
use pve_common::schema::{JsonType, Schema};
use serde_json::{json, Map, Value};

/// The standard `node` parameter.
pub fn node_param() -> Schema {
    let mut s = Schema::of_type(JsonType::String).description("The cluster node name.");
    s.format = Some(pve_common::schema::FormatSpec::Named("pve-node".into()));
    s
}

fn prop(ty: JsonType, desc: &str, renderer: Option<&str>) -> Schema {
    let mut s = Schema::of_type(ty).description(desc).optional();
    s.renderer = renderer.map(str::to_string);
    s
}

fn index_returns() -> Schema {
    let mut status = Schema::of_type(JsonType::String).description("Node status.");
    status.enum_ = Some(["unknown", "online", "offline"].map(Value::from).to_vec());
    let mut item = Schema::of_type(JsonType::Object);
    item.properties = Some(
        [
            (
                "cpu",
                prop(
                    JsonType::Number,
                    "CPU utilization.",
                    Some("fraction_as_percentage"),
                ),
            ),
            ("level", prop(JsonType::String, "Support level.", None)),
            (
                "maxcpu",
                prop(JsonType::Integer, "Number of available CPUs.", None),
            ),
            (
                "maxmem",
                prop(
                    JsonType::Integer,
                    "Number of available memory in bytes.",
                    Some("bytes"),
                ),
            ),
            (
                "mem",
                prop(JsonType::Integer, "Used memory in bytes.", Some("bytes")),
            ),
            ("node", node_param()),
            (
                "ssl_fingerprint",
                prop(
                    JsonType::String,
                    "The SSL fingerprint for the node certificate.",
                    None,
                ),
            ),
            ("status", status),
            (
                "uptime",
                prop(
                    JsonType::Integer,
                    "Node uptime in seconds.",
                    Some("duration"),
                ),
            ),
        ]
        .map(|(k, v)| (k.to_string(), v.into()))
        .into(),
    );
    let mut s = Schema::of_type(JsonType::Array);
    s.items = Some(Box::new(item));
    s.links = Some(json!([{"href": "{node}", "rel": "child"}]));
    s
}

/// The values of `key:` lines (in kB) of /proc/meminfo.
fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    })
}

/// Busy and total jiffies of all CPUs from the first line of /proc/stat.
fn cpu_jiffies() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v[4]; // idle + iowait
    Some((total - idle, total))
}

/// CPU utilisation (0..1) since the previous reading (pvestatd will provide this from
/// its RRD data). The first reading of a process waits 50 ms for a second sample; later
/// ones use the previous sample, at most every 100 ms, so a busy API does not wait.
fn cpu_usage() -> Option<f64> {
    use std::time::{Duration, Instant};
    struct Sample {
        at: Instant,
        busy: u64,
        total: u64,
        value: f64,
    }
    static LAST: std::sync::Mutex<Option<Sample>> = std::sync::Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if last.is_none() {
        let (b0, t0) = cpu_jiffies()?;
        std::thread::sleep(Duration::from_millis(50));
        *last = Some(Sample {
            at: Instant::now() - Duration::from_secs(1),
            busy: b0,
            total: t0,
            value: 0.0,
        });
    }
    let prev = last.as_mut()?;
    if prev.at.elapsed() >= Duration::from_millis(100) {
        let (b1, t1) = cpu_jiffies()?;
        if let Some(dt) = t1.checked_sub(prev.total).filter(|d| *d > 0) {
            prev.value = b1.saturating_sub(prev.busy) as f64 / dt as f64;
        }
        prev.at = Instant::now();
        prev.busy = b1;
        prev.total = t1;
    }
    Some(prev.value)
}

/// Total and used bytes of the file system holding `path`.
fn disk_usage(path: &std::path::Path) -> Option<(u64, u64)> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `st` points to writable memory of
    // the right size; statvfs initialises it on success, which we check.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so the struct is initialised.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize;
    let total = st.f_blocks * frsize;
    let free = st.f_bfree * frsize;
    Some((total, total.saturating_sub(free)))
}

/// The SHA-256 fingerprint of this node's certificate (`AA:BB:…`), if it has one.
fn ssl_fingerprint(env: &RpcEnv) -> Option<String> {
    let pem = std::fs::read(
        env.paths
            .pve_file(&format!("nodes/{}/pve-ssl.pem", env.node)),
    )
    .ok()?;
    let cert = openssl::x509::X509::from_pem(&pem).ok()?;
    let digest = cert.digest(openssl::hash::MessageDigest::sha256()).ok()?;
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn uptime() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .map(|s| s as u64)
}

/// This node's entry of the node index, measured from the host (upstream takes these
/// values from pvestatd's RRD data, which does not exist yet).
pub(super) fn local_node_entry(env: &RpcEnv) -> Value {
    let mut e = Map::new();
    e.insert("id".into(), json!(format!("node/{}", env.node)));
    e.insert("level".into(), json!(""));
    e.insert("node".into(), json!(env.node));
    e.insert("status".into(), json!("online"));
    e.insert("type".into(), json!("node"));
    if let Ok(n) = std::thread::available_parallelism() {
        e.insert("maxcpu".into(), json!(n.get()));
    }
    if let (Some(total), Some(avail)) = (meminfo("MemTotal"), meminfo("MemAvailable")) {
        e.insert("maxmem".into(), json!(total));
        e.insert("mem".into(), json!(total.saturating_sub(avail)));
    }
    if let Some(up) = uptime() {
        e.insert("uptime".into(), json!(up));
    }
    if let Some(cpu) = cpu_usage() {
        e.insert("cpu".into(), json!(cpu));
    }
    if let Some((total, used)) = disk_usage(env.paths.root()) {
        e.insert("maxdisk".into(), json!(total));
        e.insert("disk".into(), json!(used));
    }
    if let Some(fp) = ssl_fingerprint(env) {
        e.insert("ssl_fingerprint".into(), json!(fp));
    }
    Value::Object(e)
}

/// `/nodes/{node}`: the node directory; its index lists the sub-directories mounted.
fn node_router() -> Router {
    let dirs = Router::new()
        .subdir("dns", super::node_system::dns_router())
        .subdir("lxc", pve_container::api::node_lxc_router())
        .subdir("network", super::node_system::network_router())
        .subdir("qemu", qemu_server::api::router())
        .subdir("status", super::node_system::status_router())
        .subdir("storage", pve_storage::api::node_storage_router())
        .subdir("tasks", super::tasks::router())
        .subdir("time", super::node_system::time_router())
        .subdir("version", super::version::node_router());
    let names: Vec<String> = match dirs.children() {
        Children::Dirs(d) => d.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let mut item = Schema::of_type(JsonType::Object);
    item.properties = Some(Default::default());
    let mut returns = Schema::of_type(JsonType::Array);
    returns.items = Some(Box::new(item));
    returns.links = Some(json!([{"href": "{name}", "rel": "child"}]));
    dirs.method(
        ApiMethod::new("index", HttpMethod::Get, "Node index.", move |env, p| {
            check_local_node(env, &p.required_str("node")?)?;
            let list: Vec<Value> = names.iter().map(|n| json!({ "name": n })).collect();
            Ok(ApiResponse::from(Value::Array(list)))
        })
        .param("node", node_param())
        .permissions(Permissions::all_users())
        .returns(returns),
    )
}

/// Calls for another node are forwarded by the HTTP layer (`proxyto`); one that
/// arrives here for an unknown node fails as upstream does.
pub(super) fn check_local_node(env: &RpcEnv, node: &str) -> Result<(), ApiError> {
    if node == env.node || node == "localhost" {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "no such cluster node '{node}'\n"
        )))
    }
}

pub fn router() -> Router {
    Router::new()
        .method(
            ApiMethod::new("index", HttpMethod::Get, "Cluster node index.", |env, _| {
                let mut entry = local_node_entry(env);
                // Without Sys.Audit on the node upstream shows only its identity and state.
                if !env.has_privs(&format!("/nodes/{}", env.node), &["Sys.Audit"], false) {
                    if let Value::Object(m) = &mut entry {
                        m.retain(|k, _| {
                            matches!(
                                k.as_str(),
                                "id" | "node" | "type" | "level" | "status" | "ssl_fingerprint"
                            )
                        });
                    }
                }
                Ok(ApiResponse::from(json!([entry])))
            })
            .permissions(Permissions::all_users())
            .returns(index_returns()),
        )
        .match_param("node", node_router())
}
