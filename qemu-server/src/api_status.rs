//! `/nodes/{node}/qemu/{vmid}/status/*`, `monitor` and `sendkey` (upstream's
//! `PVE::API2::Qemu` vmcmdidx, vm_status, vm_start, vm_stop, vm_reset,
//! vm_shutdown, vm_reboot, vm_suspend, vm_resume, monitor, vm_sendkey), plus the
//! functions `qm` calls for the same commands.
//!
//! Mount with [`mount_vm_runtime`] on the `{vmid}` router, next to the config API.

use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, EnvKind, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::api_status_schema::METHODS;
use crate::run::{self, RunEnv, StartOptions, StopOptions};

fn run_env(env: &RpcEnv) -> RunEnv {
    RunEnv::new(env.paths.clone(), env.node.clone())
}

fn err(e: anyhow::Error) -> ApiError {
    ApiError::internal(format!("{e}\n"))
}

fn root_only(env: &RpcEnv, p: &Params, name: &str) -> Result<(), ApiError> {
    if p.bool(name).unwrap_or(false) && !env.auth.is_root() {
        return Err(ApiError::parameter(name, "Only root may use this option."));
    }
    Ok(())
}

fn not_running(env: &RunEnv, vmid: u32) -> Result<(), ApiError> {
    if crate::helpers::vm_running_locally(&env.paths, vmid).is_none() {
        return Err(ApiError::internal(format!("VM {vmid} not running\n")));
    }
    Ok(())
}

/// The config must exist before any worker starts (upstream's `load_config`).
fn config_exists(env: &RunEnv, vmid: u32) -> Result<(), ApiError> {
    env.load_config(vmid).map(drop).map_err(err)
}

fn vm_is_paused(env: &RunEnv, vmid: u32) -> bool {
    if crate::helpers::vm_running_locally(&env.paths, vmid).is_none() {
        return false;
    }
    run::vm_status(env, vmid)
        .ok()
        .and_then(|s| {
            s["qmpstatus"]
                .as_str()
                .map(|q| q == "paused" || q == "suspended")
        })
        .unwrap_or(false)
}

fn worker(
    env: &RpcEnv,
    kind: &str,
    vmid: u32,
    f: impl FnOnce(&pve_common::tasks::WorkerTask) -> anyhow::Result<()> + Send + 'static,
) -> Result<ApiResponse, ApiError> {
    let upid =
        pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), f).map_err(err)?;
    Ok(json!(upid).into())
}

fn vmcmdidx(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let subs = [
        "current", "start", "stop", "reset", "shutdown", "suspend", "reboot",
    ];
    Ok(Value::Array(subs.iter().map(|s| json!({ "subdir": s })).collect()).into())
}

fn status_current(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let renv = run_env(env);
    Ok(run::vm_status(&renv, p.vmid()?).map_err(err)?.into())
}

fn start(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    for o in [
        "skiplock",
        "migratedfrom",
        "stateuri",
        "machine",
        "force-cpu",
        "targetstorage",
    ] {
        if p.get(o).is_some() && !env.auth.is_root() {
            return Err(ApiError::parameter(o, "Only root may use this option."));
        }
    }
    for o in [
        "migratedfrom",
        "stateuri",
        "targetstorage",
        "force-cpu",
        "machine",
    ] {
        if p.get(o).is_some() {
            return Err(ApiError::internal(format!(
                "parameter '{o}' is not supported on this node yet\n"
            )));
        }
    }
    let renv = run_env(env);
    config_exists(&renv, vmid)?;
    let opts = StartOptions {
        skiplock: p.bool("skiplock").unwrap_or(false),
        paused: false,
        timeout: p
            .i64("timeout")
            .map(|t| std::time::Duration::from_secs(t as u64)),
        ..Default::default()
    };
    worker(env, "qmstart", vmid, move |task| {
        task.log(format!("start VM {vmid}"));
        if crate::helpers::vm_running_locally(&renv.paths, vmid).is_some() {
            anyhow::bail!("VM {vmid} already running");
        }
        run::vm_start(&renv, vmid, &opts)?;
        Ok(())
    })
}

fn stop(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    root_only(env, &p, "keepActive")?;
    if p.get("migratedfrom").is_some() && !env.auth.is_root() {
        return Err(ApiError::parameter(
            "migratedfrom",
            "Only root may use this option.",
        ));
    }
    let renv = run_env(env);
    config_exists(&renv, vmid)?;
    let opts = StopOptions {
        skiplock: p.bool("skiplock").unwrap_or(false),
        timeout: p.i64("timeout").map(|t| t as u64),
        shutdown: false,
        force: true,
        nocheck: false,
    };
    worker(env, "qmstop", vmid, move |task| {
        run::vm_stop(&renv, vmid, &opts, &mut |w| task.warn(w))
    })
}

fn reset(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    let renv = run_env(env);
    not_running(&renv, vmid)?;
    let skiplock = p.bool("skiplock").unwrap_or(false);
    worker(env, "qmreset", vmid, move |_| {
        run::vm_reset(&renv, vmid, skiplock)
    })
}

fn shutdown(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    root_only(env, &p, "keepActive")?;
    let renv = run_env(env);
    let force = p.bool("forceStop").unwrap_or(false);
    let mut shutdown = true;
    let mut paused_warning = false;
    if vm_is_paused(&renv, vmid) {
        if force {
            paused_warning = true;
            shutdown = false;
        } else {
            return Err(ApiError::internal("VM is paused - cannot shutdown\n"));
        }
    }
    config_exists(&renv, vmid)?;
    let opts = StopOptions {
        skiplock: p.bool("skiplock").unwrap_or(false),
        timeout: p.i64("timeout").map(|t| t as u64),
        shutdown,
        force,
        nocheck: false,
    };
    worker(env, "qmshutdown", vmid, move |task| {
        if paused_warning {
            task.warn("VM is paused - stop instead of shutdown");
        }
        run::vm_stop(&renv, vmid, &opts, &mut |w| task.warn(w))
    })
}

fn reboot(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let renv = run_env(env);
    if vm_is_paused(&renv, vmid) {
        return Err(ApiError::internal("VM is paused - cannot shutdown\n"));
    }
    not_running(&renv, vmid)?;
    let timeout = p.i64("timeout").map(|t| t as u64);
    worker(env, "qmreboot", vmid, move |task| {
        run::vm_reboot(&renv, vmid, timeout, &mut |w| task.warn(w))
    })
}

fn suspend(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    let renv = run_env(env);
    not_running(&renv, vmid)?;
    if p.bool("todisk").unwrap_or(false) {
        return Err(ApiError::internal(
            "suspend to disk is not supported on this node yet\n",
        ));
    }
    let skiplock = p.bool("skiplock").unwrap_or(false);
    worker(env, "qmpause", vmid, move |_| {
        run::vm_suspend(&renv, vmid, skiplock)
    })
}

fn resume(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    root_only(env, &p, "nocheck")?;
    let renv = run_env(env);
    not_running(&renv, vmid)?;
    let skiplock = p.bool("skiplock").unwrap_or(false);
    let nocheck = p.bool("nocheck").unwrap_or(false);
    worker(env, "qmresume", vmid, move |_| {
        run::vm_resume(&renv, vmid, skiplock, nocheck)
    })
}

fn monitor(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let command = p.required_str("command")?;
    // upstream: anything but `info …` and `help` needs Sys.Modify on /
    let is_ro = command.starts_with("info ") || command == "info" || command == "help";
    if !is_ro {
        env.check_privs("/", &["Sys.Modify"], false)?;
    }
    let renv = run_env(env);
    config_exists(&renv, vmid)?;
    // upstream returns the error text as the result
    let out = match run::vm_monitor(&renv, vmid, &command) {
        Ok(o) => o,
        Err(e) => format!("ERROR: {e}"),
    };
    Ok(json!(out).into())
}

fn sendkey(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    let key = p.required_str("key")?;
    let renv = run_env(env);
    run::vm_sendkey(&renv, vmid, &key, p.bool("skiplock").unwrap_or(false)).map_err(err)?;
    Ok(Value::Null.into())
}

type HandlerFn = fn(&RpcEnv, Params) -> Result<ApiResponse, ApiError>;

fn handler(name: &str) -> HandlerFn {
    match name {
        "vmcmdidx" => vmcmdidx,
        "vm_status" => status_current,
        "vm_start" => start,
        "vm_stop" => stop,
        "vm_reset" => reset,
        "vm_shutdown" => shutdown,
        "vm_reboot" => reboot,
        "vm_suspend" => suspend,
        "vm_resume" => resume,
        "monitor" => monitor,
        "vm_sendkey" => sendkey,
        other => panic!("no handler for {other}"),
    }
}

/// The methods with upstream's schemas, keyed by their path below `{vmid}`
/// (`""` is not used; `status`, `status/current`, ..., `monitor`, `sendkey`).
pub fn vm_runtime_methods() -> Vec<(String, ApiMethod)> {
    METHODS
        .iter()
        .map(
            |(path, method, name, desc, params, returns, perms, protected)| {
                let http: HttpMethod = method.parse().expect("method");
                let mut m = ApiMethod::new(name, http, desc, handler(name)).proxyto("node");
                if *protected {
                    m = m.protected();
                }
                let params: Value = serde_json::from_str(params).expect("params literal");
                if let Value::Object(props) = params {
                    for (n, s) in props {
                        m = m.param(&n, Schema::literal(s));
                    }
                }
                m = m.returns(Schema::literal(
                    serde_json::from_str(returns).expect("returns"),
                ));
                let perms: Value = serde_json::from_str(perms).expect("perms");
                if !perms.is_null() {
                    let p: Permissions = serde_json::from_value(perms).expect("perms literal");
                    m = m.permissions(p);
                }
                let rel = path
                    .strip_prefix("/nodes/{node}/qemu/{vmid}/")
                    .expect("path below {vmid}")
                    .to_string();
                (rel, m)
            },
        )
        .collect()
}

/// Adds `status` (with its children), `monitor` and `sendkey` to the `{vmid}` router.
pub fn mount_vm_runtime(vmid_router: Router) -> Router {
    let methods = vm_runtime_methods();
    let mut status = Router::new();
    let mut children: Vec<(String, Router)> = Vec::new();
    let mut top = vmid_router;
    for (rel, m) in methods {
        match rel.split_once('/') {
            None if rel == "status" => status = status.method(m),
            None => top = top.subdir(&rel, Router::new().method(m)),
            Some((_, child)) => match children.iter_mut().find(|(n, _)| n == child) {
                Some((_, r)) => *r = std::mem::take(r).method(m),
                None => children.push((child.to_string(), Router::new().method(m))),
            },
        }
    }
    for (name, r) in children {
        status = status.subdir(&name, r);
    }
    top.subdir("status", status)
}

// ---- CLI-facing functions (qm start|stop|shutdown|reboot|suspend|resume|reset|status|monitor|sendkey|terminal)

/// Calls one of the methods above by its path below `{vmid}` in `env` (a CLI env runs
/// workers in the foreground) and returns the method's data.
pub fn call(
    env: &RpcEnv,
    rel: &str,
    mut params: serde_json::Map<String, Value>,
) -> Result<Value, ApiError> {
    let (_, m) = vm_runtime_methods()
        .into_iter()
        .find(|(r, _)| r == rel)
        .ok_or_else(|| ApiError::internal(format!("no method '{rel}'\n")))?;
    params.entry("node").or_insert_with(|| json!(env.node));
    Ok(pve_common::api::call_method(&m, env, params)?.data)
}

/// `qm status VMID [--verbose]`: `status: running` or, verbose, every field sorted.
pub fn qm_status(env: &RpcEnv, vmid: u32, verbose: bool) -> Result<String, ApiError> {
    let st = run::vm_status(&run_env(env), vmid).map_err(err)?;
    if !verbose {
        return Ok(format!(
            "status: {}\n",
            st["status"].as_str().unwrap_or("unknown")
        ));
    }
    let mut out = String::new();
    if let Value::Object(map) = st {
        let mut keys: Vec<_> = map.keys().cloned().collect();
        keys.sort();
        for k in keys {
            let v = &map[&k];
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Object(_) | Value::Array(_) => serde_json::to_string(v).unwrap_or_default(),
                other => other.to_string(),
            };
            out.push_str(&format!("{k}: {text}\n"));
        }
    }
    Ok(out)
}

/// `qm monitor VMID`: one command; returns QEMU's output.
pub fn qm_monitor(env: &RpcEnv, vmid: u32, command: &str) -> Result<String, ApiError> {
    run::vm_monitor(&run_env(env), vmid, command).map_err(err)
}

/// `qm terminal VMID [--iface serialN]`: connects stdin/stdout to the serial socket
/// until EOF on stdin or the socket closes (upstream uses socat; `Ctrl+O` quits).
pub fn qm_terminal(env: &RpcEnv, vmid: u32, iface: Option<&str>) -> Result<(), ApiError> {
    use std::io::{Read, Write};
    let renv = run_env(env);
    let conf = renv.load_config(vmid).map_err(err)?;
    let iface = match iface {
        Some(i) => i.to_string(),
        None => (0..4)
            .map(|i| format!("serial{i}"))
            .find(|k| conf.main.get(k).is_some())
            .ok_or_else(|| ApiError::internal("unable to find a serial interface\n"))?,
    };
    if conf.main.get(&iface) != Some("socket") {
        return Err(ApiError::internal(format!(
            "configuration does not have a serial socket on interface '{iface}'\n"
        )));
    }
    not_running(&renv, vmid)?;
    let path = crate::helpers::run_dir(&renv.paths).join(format!("{vmid}.{iface}"));
    let sock = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        ApiError::internal(format!("unable to connect to '{}' - {e}\n", path.display()))
    })?;
    eprintln!("starting serial terminal on interface {iface} (press Ctrl+O to exit)");
    let mut rd = sock
        .try_clone()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut out = std::io::stdout();
        while let Ok(n) = rd.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = out.flush();
        }
    });
    let mut wr = sock;
    let mut buf = [0u8; 1024];
    let mut stdin = std::io::stdin();
    while let Ok(n) = stdin.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Some(pos) = buf[..n].iter().position(|b| *b == 0x0f) {
            let _ = wr.write_all(&buf[..pos]);
            break;
        }
        if wr.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = wr.shutdown(std::net::Shutdown::Both);
    let _ = t.join();
    Ok(())
}

/// Whether `env` runs workers in the foreground (as `qm` does).
pub fn is_cli(env: &RpcEnv) -> bool {
    env.kind == EnvKind::Cli
}
