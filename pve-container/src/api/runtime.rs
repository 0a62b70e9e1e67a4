//! `/nodes/{node}/lxc/{vmid}/status/{start,stop,shutdown,reboot}` (upstream's
//! `PVE::API2::LXC::Status`): checks run before the worker as upstream's do, the work
//! runs as a worker task (`vzstart`, `vzstop`, `vzshutdown`, `vzreboot`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::json;

use super::{declare, schemas as s};
use crate::lxc_config::LxcHost;
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;

fn load(env: &RpcEnv, vmid: u32) -> Result<crate::CtConfig, ApiError> {
    CtConfigStore::new(&env.paths, &env.node)
        .load_config(vmid, None)
        .map_err(ApiError::internal)
}

/// Upstream's `check_lock`.
fn check_lock(conf: &crate::CtConfig) -> anyhow::Result<()> {
    if let Some(lock) = conf.main.get("lock").filter(|l| !l.is_empty()) {
        anyhow::bail!("CT is locked ({lock})");
    }
    Ok(())
}

fn root_only(env: &RpcEnv, p: &Params, name: &str) -> Result<(), ApiError> {
    if p.bool(name).unwrap_or(false) && !env.auth.is_root() {
        return Err(ApiError::parameter(name, "Only root may use this option."));
    }
    Ok(())
}

fn worker(
    env: &RpcEnv,
    kind: &str,
    vmid: u32,
    f: impl FnOnce(&pve_common::tasks::WorkerTask) -> anyhow::Result<()> + Send + 'static,
) -> Result<ApiResponse, ApiError> {
    let upid = pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), f)
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

fn running(rt: &LxcRuntime, vmid: u32) -> bool {
    rt.check_running(vmid)
}

fn vm_start(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, &p, "skiplock")?;
    let skiplock = p.bool("skiplock").unwrap_or(false);
    let rt = LxcRuntime::new(&env.paths).with_node(&env.node);
    if running(&rt, vmid) {
        return Err(ApiError::internal(format!("CT {vmid} already running\n")));
    }
    let conf = load(env, vmid)?;
    if conf.main.get("template") == Some("1") {
        return Err(ApiError::internal("Cannot start template as container\n"));
    }
    let paths = env.paths.clone();
    let node = env.node.clone();
    worker(env, "vzstart", vmid, move |task| {
        let store = CtConfigStore::new(&paths, &node);
        let _lock = store.lock_config(vmid).map_err(anyhow::Error::msg)?;
        let conf = store.load_config(vmid, None).map_err(anyhow::Error::msg)?;
        // a `pct mount`ed container may start (the pre-start hook unmounts it first)
        if !skiplock && conf.main.get("lock") != Some("mounted") {
            check_lock(&conf)?;
        }
        let storage = pve_storage::Storage::load(&paths)?;
        let conf = super::apply_pending_before_start(&store, &storage, vmid, conf, &mut |w| {
            task.warn(w.trim_end())
        })
        .map_err(anyhow::Error::msg)?;
        let host = LxcHost::probe();
        let warnings = rt.start_opts(vmid, &conf.main, &host, skiplock)?;
        for w in warnings {
            task.warn(w.trim_end());
        }
        Ok(())
    })
}

fn stop_worker(
    env: &RpcEnv,
    p: &Params,
    kind: &str,
    shutdown: bool,
) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    root_only(env, p, "skiplock")?;
    let skiplock = p.bool("skiplock").unwrap_or(false);
    let rt = LxcRuntime::new(&env.paths).with_node(&env.node);
    if !running(&rt, vmid) {
        return Err(ApiError::internal(format!("CT {vmid} not running\n")));
    }
    load(env, vmid)?;
    let timeout = p.i64("timeout").map(|t| t.max(0) as u64);
    let force = p.bool("forceStop").unwrap_or(false);
    let paths = env.paths.clone();
    let node = env.node.clone();
    worker(env, kind, vmid, move |_task| {
        let store = CtConfigStore::new(&paths, &node);
        let _lock = store.lock_config(vmid).map_err(anyhow::Error::msg)?;
        let conf = store.load_config(vmid, None).map_err(anyhow::Error::msg)?;
        if !skiplock && !shutdown && conf.main.get("lock") != Some("mounted") {
            check_lock(&conf)?;
        }
        // the post-stop hook unmounts the volumes (they were mounted in the container's
        // namespace); a `pct mount` on the host stays, as upstream
        rt.stop(vmid, shutdown, timeout, !shutdown || force)?;
        Ok(())
    })
}

fn vm_stop(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    // `overrule-shutdown` aborts running vzshutdown tasks upstream; a stop here does not
    // wait for them (the lxc-stop --kill ends the container under them).
    stop_worker(env, &p, "vzstop", false)
}

fn vm_shutdown(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    stop_worker(env, &p, "vzshutdown", true)
}

fn vm_reboot(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let rt = LxcRuntime::new(&env.paths).with_node(&env.node);
    if !running(&rt, vmid) {
        return Err(ApiError::internal(format!("CT {vmid} not running\n")));
    }
    load(env, vmid)?;
    let timeout = p.i64("timeout").map(|t| t.max(0) as u64);
    let paths = env.paths.clone();
    let node = env.node.clone();
    worker(env, "vzreboot", vmid, move |task| {
        // upstream: a clean shutdown (killed after the timeout), then a fresh start with
        // the current config
        rt.stop(vmid, true, timeout, true)?;
        let store = CtConfigStore::new(&paths, &node);
        let _lock = store.lock_config(vmid).map_err(anyhow::Error::msg)?;
        let conf = store.load_config(vmid, None).map_err(anyhow::Error::msg)?;
        let storage = pve_storage::Storage::load(&paths)?;
        let conf = super::apply_pending_before_start(&store, &storage, vmid, conf, &mut |w| {
            task.warn(w.trim_end())
        })
        .map_err(anyhow::Error::msg)?;
        rt.start(vmid, &conf.main, &LxcHost::probe())?;
        Ok(())
    })
}

/// Adds start/stop/shutdown/reboot to the `status` directory router.
pub(super) fn mount_status_methods(status: Router) -> Router {
    type H = fn(&RpcEnv, Params) -> Result<ApiResponse, ApiError>;
    let post = |name: &'static str, desc: &'static str, h: H, params, returns, perms| {
        Router::new().method(
            declare(
                ApiMethod::new(name, HttpMethod::Post, desc, h),
                params,
                returns,
                perms,
            )
            .protected(),
        )
    };
    status
        .subdir(
            "reboot",
            post(
                "vm_reboot",
                "Reboot the container by shutting it down, and starting it again. Applies pending changes.",
                vm_reboot,
                s::vm_reboot_params(),
                s::vm_reboot_returns(),
                s::vm_reboot_permissions(),
            ),
        )
        .subdir(
            "shutdown",
            post(
                "vm_shutdown",
                "Shutdown the container. This will trigger a clean shutdown of the container, see lxc-stop(1) for details.",
                vm_shutdown,
                s::vm_shutdown_params(),
                s::vm_shutdown_returns(),
                s::vm_shutdown_permissions(),
            ),
        )
        .subdir(
            "start",
            post(
                "vm_start",
                "Start the container.",
                vm_start,
                s::vm_start_params(),
                s::vm_start_returns(),
                s::vm_start_permissions(),
            ),
        )
        .subdir(
            "stop",
            post(
                "vm_stop",
                "Stop the container. This will abruptly stop all processes running in the container.",
                vm_stop,
                s::vm_stop_params(),
                s::vm_stop_returns(),
                s::vm_stop_permissions(),
            ),
        )
}
