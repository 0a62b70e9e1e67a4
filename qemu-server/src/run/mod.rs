//! VM lifecycle on this node (upstream's `vm_start`, `vm_stop`, `vm_shutdown`,
//! `vm_reboot`, `vm_suspend`, `vm_resume`, `vm_reset`, `vmstatus`,
//! `vm_sendkey`, `vm_human_monitor_command`), on the stock QEMU binary.
//!
//! A start activates the config's volumes, creates `tap{vmid}i{n}` on the
//! configured bridges, starts QEMU daemonized with its pid file and QMP socket
//! under /run/qemu-server and waits until QMP answers. Any failure kills what
//! was started and removes the pid file, sockets and taps; the config is never
//! written by a start.

pub mod cmd;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, format_err, Error};
use pve_common::paths::NodePaths;
use pve_guest_common::GuestConfig;
use serde_json::{json, Value};

use crate::helpers;
use crate::qmp::QmpClient;

pub use cmd::{start_command, HostEnv, StartCommand, TapDevice};

/// Where the VM runs and what it may use.
#[derive(Clone)]
pub struct RunEnv {
    pub paths: NodePaths,
    pub node: String,
    pub host: HostEnv,
}

impl RunEnv {
    pub fn new(paths: NodePaths, node: impl Into<String>) -> Self {
        Self {
            paths,
            node: node.into(),
            host: HostEnv::detect(),
        }
    }

    /// `nodes/NODE/qemu-server/VMID.conf` relative to /etc/pve.
    pub fn config_rel(&self, vmid: u32) -> String {
        format!("nodes/{}/qemu-server/{vmid}.conf", self.node)
    }

    pub fn config_path(&self, vmid: u32) -> PathBuf {
        self.paths.pve_file(&self.config_rel(vmid))
    }

    /// Loads the VM config as upstream's `load_config` (same missing-file error).
    pub fn load_config(&self, vmid: u32) -> Result<GuestConfig, Error> {
        let path = self.config_path(vmid);
        let raw = std::fs::read_to_string(&path).map_err(|_| {
            format_err!(
                "Configuration file '{}' does not exist",
                self.config_rel(vmid)
            )
        })?;
        let parsed = crate::parse_vm_config(vmid, &raw, false).map_err(|e| format_err!("{e}"))?;
        Ok(parsed.config)
    }
}

/// Upstream's `check_lock`.
pub fn check_lock(conf: &GuestConfig) -> Result<(), Error> {
    if let Some(lock) = conf.main.get("lock") {
        bail!("VM is locked ({lock})");
    }
    Ok(())
}

/// The per-VM config lock file (`/var/lock/qemu-server/lock-VMID.conf`), held
/// with flock for the duration of a lifecycle operation.
pub struct ConfigLock {
    _file: std::fs::File,
}

pub fn lock_config(paths: &NodePaths, vmid: u32, timeout: Duration) -> Result<ConfigLock, Error> {
    use std::os::fd::AsRawFd;
    let dir = paths.host("var/lock/qemu-server");
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("lock-{vmid}.conf")))?;
    let start = Instant::now();
    loop {
        // SAFETY: flock on a valid, owned fd.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc == 0 {
            return Ok(ConfigLock { _file: file });
        }
        if start.elapsed() >= timeout {
            bail!(
                "can't lock file '{}' - got timeout",
                dir.join(format!("lock-{vmid}.conf")).display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(f)),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f),
    }
}

/// Runs `f` with a QMP connection to the VM.
pub fn with_qmp<R>(
    paths: &NodePaths,
    vmid: u32,
    f: impl for<'a> FnOnce(
        &'a QmpClient,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<R, Error>> + 'a>,
    >,
) -> Result<R, Error> {
    let socket = helpers::qmp_socket(paths, vmid);
    block_on(async {
        let client = QmpClient::open(&socket).await?;
        f(&client).await
    })
}

fn ip(args: &[&str]) -> Result<(), Error> {
    let out = Command::new("ip").args(args).output()?;
    if !out.status.success() {
        bail!(
            "command 'ip {}' failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Creates the tap and plugs it into its bridge (upstream's pve-bridge script).
pub fn create_tap(tap: &TapDevice) -> Result<(), Error> {
    if !link_exists(&tap.bridge) {
        bail!("bridge '{}' does not exist", tap.bridge);
    }
    if link_exists(&tap.name) {
        let _ = ip(&["link", "del", &tap.name]);
    }
    ip(&["tuntap", "add", "dev", &tap.name, "mode", "tap"])?;
    let res = (|| {
        if let Some(mtu) = tap.mtu {
            ip(&["link", "set", &tap.name, "mtu", &mtu.to_string()])?;
        }
        ip(&["link", "set", &tap.name, "master", &tap.bridge])?;
        ip(&["link", "set", &tap.name, "up"])
    })();
    if res.is_err() {
        let _ = ip(&["link", "del", &tap.name]);
    }
    res
}

/// Removes every `tap{vmid}i*` device.
pub fn remove_taps(vmid: u32) {
    let prefix = format!("tap{vmid}i");
    if let Ok(rd) = std::fs::read_dir("/sys/class/net") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name
                .strip_prefix(&prefix)
                .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()))
            {
                let _ = ip(&["link", "del", &name]);
            }
        }
    }
}

/// Removes the runtime files of a VM (upstream's `vm_stop_cleanup` part).
pub fn remove_runtime_files(paths: &NodePaths, vmid: u32) {
    let run = helpers::run_dir(paths);
    for ext in [
        "mon", "qmp", "pid", "vnc", "qga", "serial0", "serial1", "serial2", "serial3",
    ] {
        let _ = std::fs::remove_file(run.join(format!("{vmid}.{ext}")));
    }
}

fn kill_and_wait(pid: i32, signal: i32, timeout: Duration) -> bool {
    // SAFETY: plain kill(2).
    unsafe { libc::kill(pid, signal) };
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    !pid_alive(pid)
}

fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.rfind(')') {
            Some(end) => !matches!(stat[end + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

fn read_pidfile(paths: &NodePaths, vmid: u32) -> Option<i32> {
    std::fs::read_to_string(helpers::pidfile_name(paths, vmid))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Options of `vm_start`.
#[derive(Default, Clone)]
pub struct StartOptions {
    pub skiplock: bool,
    /// Start with the CPUs stopped (`-S`).
    pub paused: bool,
    /// How long to wait for QMP (default 30 s).
    pub timeout: Option<Duration>,
    /// Continue from a saved VM state (a snapshot's `vmstate` volume path): QEMU starts
    /// with `-incoming defer` and loads the file with `migrate-incoming`.
    pub statefile: Option<PathBuf>,
    /// Machine type to start with instead of the config's (a snapshot's
    /// `runningmachine`).
    pub forcemachine: Option<String>,
    /// `-cpu` value to start with (a snapshot's `runningcpu`).
    pub forcecpu: Option<String>,
}

/// The config's `machine` value with its type replaced (options such as `viommu` kept).
fn force_machine_type(value: Option<&str>, machine: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut replaced = false;
    for p in value
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
    {
        if !replaced && (!p.contains('=') || p.starts_with("type=")) {
            parts.push(machine.to_string());
            replaced = true;
        } else {
            parts.push(p.to_string());
        }
    }
    if !replaced {
        parts.insert(0, machine.to_string());
    }
    parts.join(",")
}

/// Starts the VM (upstream's `vm_start`). Returns QEMU's pid.
pub fn vm_start(env: &RunEnv, vmid: u32, opts: &StartOptions) -> Result<i32, Error> {
    let _lock = lock_config(&env.paths, vmid, Duration::from_secs(10))?;
    let mut conf = env.load_config(vmid)?;
    if !opts.skiplock {
        check_lock(&conf)?;
    }
    if conf.main.get("template") == Some("1") {
        bail!("you can't start a vm if it's a template");
    }
    if helpers::vm_running_locally(&env.paths, vmid).is_some() {
        bail!("VM {vmid} already running");
    }
    if let Some(m) = &opts.forcemachine {
        let value = force_machine_type(conf.main.get("machine"), m);
        conf.main.values.insert("machine".into(), value);
    }
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format_err!("{e}"))?;
    let mut sc = start_command(&env.paths, &env.node, &storage, vmid, &conf, &env.host)?;
    if let Some(cpu) = &opts.forcecpu {
        match sc.argv.iter().position(|a| a == "-cpu") {
            Some(i) if i + 1 < sc.argv.len() => sc.argv[i + 1] = cpu.clone(),
            _ => sc.argv.extend(["-cpu".to_string(), cpu.clone()]),
        }
    }
    if opts.paused {
        sc.argv.push("-S".into());
    }
    if let Some(state) = &opts.statefile {
        if !state.exists() {
            bail!("unable to find state file '{}'", state.display());
        }
        sc.argv
            .extend(["-incoming".to_string(), "defer".to_string()]);
    }
    let res = start_prepared(
        env,
        vmid,
        &storage,
        &sc,
        opts.timeout.unwrap_or(Duration::from_secs(30)),
    )
    .and_then(|pid| {
        if let Some(state) = &opts.statefile {
            load_state(env, vmid, pid, state, opts.paused)?;
        }
        Ok(pid)
    });
    match res {
        Ok(pid) => Ok(pid),
        Err(err) => {
            cleanup_failed_start(&env.paths, vmid);
            Err(format_err!("start failed: {err}"))
        }
    }
}

/// Loads a saved VM state into a QEMU started with `-incoming defer` and waits until
/// the guest runs again (or is paused, with `paused`).
fn load_state(env: &RunEnv, vmid: u32, pid: i32, state: &Path, paused: bool) -> Result<(), Error> {
    let uri = format!("file:{}", state.display());
    with_qmp(&env.paths, vmid, move |c| {
        Box::pin(async move { c.migrate_incoming(&uri).await })
    })?;
    let start = Instant::now();
    loop {
        if !pid_alive(pid) {
            bail!("QEMU exited while loading the VM state");
        }
        let (status, err) = with_qmp(&env.paths, vmid, |c| Box::pin(c.migrate_status()))?;
        match status.as_str() {
            "completed" => break,
            "failed" | "cancelled" => bail!(
                "loading the VM state failed - {}",
                err.unwrap_or_else(|| status.clone())
            ),
            _ => {}
        }
        if start.elapsed() > Duration::from_secs(600) {
            bail!("loading the VM state did not finish within 600s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // the state carries the run state of the saved VM (paused for a snapshot)
    let status = with_qmp(&env.paths, vmid, |c| Box::pin(c.status_name()))?;
    if !paused && status != "running" {
        with_qmp(&env.paths, vmid, |c| Box::pin(c.cont()))?;
    }
    Ok(())
}

fn cleanup_failed_start(paths: &NodePaths, vmid: u32) {
    if let Some(pid) = read_pidfile(paths, vmid) {
        if pid > 0 && pid_alive(pid) && helpers::vm_running_locally(paths, vmid) == Some(pid) {
            kill_and_wait(pid, libc::SIGKILL, Duration::from_secs(5));
        }
    }
    remove_taps(vmid);
    remove_runtime_files(paths, vmid);
}

fn start_prepared(
    env: &RunEnv,
    vmid: u32,
    storage: &pve_storage::Storage,
    sc: &StartCommand,
    timeout: Duration,
) -> Result<i32, Error> {
    // activate storages and check the volumes exist
    let mut stores: Vec<&str> = sc
        .volumes
        .iter()
        .filter_map(|v| v.split_once(':').map(|(s, _)| s))
        .collect();
    stores.sort();
    stores.dedup();
    for sid in stores {
        storage
            .activate_storage(sid)
            .map_err(|e| format_err!("{e}"))?;
    }
    for volid in &sc.volumes {
        let (p, _, _) = storage.path(volid, None).map_err(|e| format_err!("{e}"))?;
        if !p.exists() {
            bail!("volume '{volid}' does not exist");
        }
    }

    let run = helpers::run_dir(&env.paths);
    std::fs::create_dir_all(&run)?;
    remove_runtime_files(&env.paths, vmid);

    for tap in &sc.taps {
        create_tap(tap)?;
    }

    let (prog, args) = sc
        .argv
        .split_first()
        .ok_or_else(|| format_err!("empty command"))?;
    let mut child = Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format_err!("unable to execute '{prog}' - {e}"))?;
    let mut stderr = child.stderr.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut buf = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut buf);
        }
        let _ = tx.send(buf);
    });
    let status = child.wait()?;
    let errtext = rx
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    if !status.success() {
        let msg = errtext.trim();
        if !msg.is_empty() {
            bail!(
                "QEMU exited with code {}: {msg}",
                status.code().unwrap_or(-1)
            );
        }
        bail!("QEMU exited with code {}", status.code().unwrap_or(-1));
    }
    let pid =
        read_pidfile(&env.paths, vmid).ok_or_else(|| format_err!("QEMU wrote no pid file"))?;

    // wait until QMP answers
    let socket = helpers::qmp_socket(&env.paths, vmid);
    let start = Instant::now();
    block_on(async {
        loop {
            if !pid_alive(pid) {
                bail!("QEMU process {pid} exited during startup");
            }
            if let Ok(client) = QmpClient::connect(&socket, Duration::from_secs(1)).await {
                if client.query_status().await.is_ok() {
                    return Ok(());
                }
            }
            if start.elapsed() > timeout {
                bail!(
                    "QMP socket {socket:?} did not answer within {}s",
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })?;
    Ok(pid)
}

/// Deactivation and file cleanup after the process is gone (upstream's `vm_stop_cleanup`).
pub fn vm_stop_cleanup(paths: &NodePaths, vmid: u32) {
    remove_taps(vmid);
    remove_runtime_files(paths, vmid);
}

/// Options of stop/shutdown (upstream's `_do_vm_stop` arguments).
#[derive(Default, Clone)]
pub struct StopOptions {
    pub skiplock: bool,
    /// Seconds to wait for QEMU to exit (default 60; stop's quit uses 5).
    pub timeout: Option<u64>,
    /// ACPI powerdown instead of quit.
    pub shutdown: bool,
    /// Kill (SIGTERM, then SIGKILL) after the timeout.
    pub force: bool,
    /// Skip the config load and lock check (`nocheck`).
    pub nocheck: bool,
}

/// Stops or shuts the VM down (upstream's `_do_vm_stop`); warnings go to `warn`.
pub fn vm_stop(
    env: &RunEnv,
    vmid: u32,
    opts: &StopOptions,
    warn: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let _lock = lock_config(&env.paths, vmid, Duration::from_secs(10))?;
    vm_stop_locked(env, vmid, opts, warn)
}

/// [`vm_stop`] for a caller that already holds the VM's config lock.
pub fn vm_stop_locked(
    env: &RunEnv,
    vmid: u32,
    opts: &StopOptions,
    warn: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    let Some(pid) = helpers::vm_running_locally(&env.paths, vmid) else {
        // not running: still remove leftovers
        vm_stop_cleanup(&env.paths, vmid);
        return Ok(());
    };
    if !opts.nocheck {
        let conf = env.load_config(vmid)?;
        if !opts.skiplock {
            check_lock(&conf)?;
        }
    }
    let socket = helpers::qmp_socket(&env.paths, vmid);
    let cmd_res: Result<(), Error> = block_on(async {
        let client = QmpClient::open(&socket).await?;
        if opts.shutdown {
            client.system_powerdown().await
        } else {
            client.quit().await
        }
    });
    let running = || helpers::vm_running_locally(&env.paths, vmid).is_some();
    let wait = |secs: u64| {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            if !running() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        !running()
    };
    match cmd_res {
        Ok(()) => {
            let timeout = opts.timeout.unwrap_or(60);
            if wait(timeout) {
                vm_stop_cleanup(&env.paths, vmid);
                return Ok(());
            }
            if opts.force {
                warn("VM still running - terminating now with SIGTERM");
                // SAFETY: plain kill(2).
                unsafe { libc::kill(pid, libc::SIGTERM) };
            } else {
                bail!("VM quit/powerdown failed - got timeout");
            }
        }
        Err(_) => {
            if !running() {
                warn("Unexpected: VM shutdown command failed, but VM not running anymore..");
                vm_stop_cleanup(&env.paths, vmid);
                return Ok(());
            }
            if opts.force {
                warn("VM quit/powerdown failed - terminating now with SIGTERM");
                // SAFETY: plain kill(2).
                unsafe { libc::kill(pid, libc::SIGTERM) };
            } else {
                bail!("VM quit/powerdown failed");
            }
        }
    }
    if !wait(10) {
        warn("VM still running - terminating now with SIGKILL");
        kill_and_wait(pid, libc::SIGKILL, Duration::from_secs(5));
    }
    vm_stop_cleanup(&env.paths, vmid);
    Ok(())
}

fn ensure_running(env: &RunEnv, vmid: u32) -> Result<i32, Error> {
    helpers::vm_running_locally(&env.paths, vmid)
        .ok_or_else(|| format_err!("VM {vmid} not running"))
}

fn qmp_do<R: Send>(
    env: &RunEnv,
    vmid: u32,
    f: impl for<'a> FnOnce(
        &'a QmpClient,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<R, Error>> + 'a>,
    >,
) -> Result<R, Error> {
    ensure_running(env, vmid)?;
    with_qmp(&env.paths, vmid, f)
}

/// `system_reset` (upstream's `vm_reset`).
pub fn vm_reset(env: &RunEnv, vmid: u32, skiplock: bool) -> Result<(), Error> {
    let _lock = lock_config(&env.paths, vmid, Duration::from_secs(10))?;
    let conf = env.load_config(vmid)?;
    if !skiplock {
        check_lock(&conf)?;
    }
    qmp_do(env, vmid, |c| Box::pin(c.system_reset()))
}

/// Pause the VM (upstream's `vm_suspend` without `todisk`).
pub fn vm_suspend(env: &RunEnv, vmid: u32, skiplock: bool) -> Result<(), Error> {
    let _lock = lock_config(&env.paths, vmid, Duration::from_secs(10))?;
    let conf = env.load_config(vmid)?;
    if !skiplock {
        check_lock(&conf)?;
    }
    qmp_do(env, vmid, |c| Box::pin(c.stop()))
}

/// Resume a paused VM (upstream's `vm_resume`; `nocheck` skips the config).
pub fn vm_resume(env: &RunEnv, vmid: u32, skiplock: bool, nocheck: bool) -> Result<(), Error> {
    let _lock = lock_config(&env.paths, vmid, Duration::from_secs(10))?;
    if !nocheck {
        let conf = env.load_config(vmid)?;
        if !skiplock {
            check_lock(&conf)?;
        }
    }
    qmp_do(env, vmid, |c| {
        Box::pin(async move {
            let st = c.status_name().await?;
            if st == "suspended" {
                c.execute(qapi::qmp::system_wakeup {}).await?;
                Ok(())
            } else {
                c.cont().await
            }
        })
    })
}

/// Shutdown then start (upstream's `vm_reboot`).
pub fn vm_reboot(
    env: &RunEnv,
    vmid: u32,
    timeout: Option<u64>,
    warn: &mut dyn FnMut(&str),
) -> Result<(), Error> {
    ensure_running(env, vmid)?;
    vm_stop(
        env,
        vmid,
        &StopOptions {
            shutdown: true,
            force: true,
            timeout,
            ..Default::default()
        },
        warn,
    )?;
    vm_start(env, vmid, &StartOptions::default()).map(drop)
}

/// `sendkey` as upstream (HMP `sendkey KEY`).
pub fn vm_sendkey(env: &RunEnv, vmid: u32, key: &str, skiplock: bool) -> Result<(), Error> {
    let conf = env.load_config(vmid)?;
    if !skiplock {
        check_lock(&conf)?;
    }
    let key = key.to_string();
    qmp_do(env, vmid, move |c| {
        Box::pin(async move {
            let out = c.human_monitor_command(&format!("sendkey {key}")).await?;
            if !out.trim().is_empty() {
                bail!("{}", out.trim());
            }
            Ok(())
        })
    })
}

/// The human monitor (`qm monitor`, the API's monitor method).
pub fn vm_monitor(env: &RunEnv, vmid: u32, command: &str) -> Result<String, Error> {
    let command = command.to_string();
    qmp_do(env, vmid, move |c| {
        Box::pin(async move { c.human_monitor_command(&command).await })
    })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// Process uptime (s) and resident memory (bytes) from /proc.
fn proc_stats(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields after comm: state is [0]; starttime is field 22 => index 19; rss 24 => 21
    let start: f64 = f.get(19)?.parse().ok()?;
    let rss_pages: u64 = f.get(21)?.parse().ok()?;
    let up: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some((
        (up - start / clock_ticks()).max(0.0) as u64,
        rss_pages * page,
    ))
}

fn net_counters(vmid: u32) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    let prefix = format!("tap{vmid}i");
    if let Ok(text) = std::fs::read_to_string("/proc/net/dev") {
        for line in text.lines().skip(2) {
            let Some((name, rest)) = line.split_once(':') else {
                continue;
            };
            if !name.trim().starts_with(&prefix) {
                continue;
            }
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            // the tap's rx is the guest's tx: upstream swaps them
            if v.len() >= 9 {
                tx += v[0];
                rx += v[8];
            }
        }
    }
    (rx, tx)
}

/// `status/current` (upstream's `vmstatus` for one VM, with `full` QMP data).
pub fn vm_status(env: &RunEnv, vmid: u32) -> Result<Value, Error> {
    let conf = env.load_config(vmid)?;
    let c = &conf.main;
    let sockets: u64 = c.get("sockets").and_then(|v| v.parse().ok()).unwrap_or(1);
    let cores: u64 = c.get("cores").and_then(|v| v.parse().ok()).unwrap_or(1);
    let cpus = c
        .get("vcpus")
        .and_then(|v| v.parse().ok())
        .unwrap_or(sockets * cores);
    let mem_mib: u64 = c
        .get("memory")
        .and_then(|m| m.split(',').next())
        .and_then(|m| m.strip_prefix("current=").unwrap_or(m).parse().ok())
        .unwrap_or(2048);
    let maxmem = mem_mib * 1024 * 1024;
    let maxdisk = boot_disk_size(c);
    let mut d = json!({
        "vmid": vmid,
        "status": "stopped",
        "name": c.get("name").map(str::to_string).unwrap_or(format!("VM {vmid}")),
        "cpus": cpus,
        "maxmem": maxmem,
        "maxdisk": maxdisk,
        "disk": 0,
        "cpu": 0,
        "mem": 0,
        "uptime": 0,
        "netin": 0,
        "netout": 0,
        "memhost": 0,
        "qmpstatus": "stopped",
        "ha": {"managed": 0},
    });
    if let Some(lock) = c.get("lock") {
        d["lock"] = json!(lock);
    }
    if let Some(tags) = c.get("tags") {
        d["tags"] = json!(tags);
    }
    if c.get("template") == Some("1") {
        d["template"] = json!(1);
    }
    if c.get("agent").is_some_and(|a| {
        a.split(',')
            .next()
            .is_some_and(|v| v == "1" || v.contains("enabled=1"))
    }) {
        d["agent"] = json!(1);
    }
    if let Some(pid) = helpers::vm_running_locally(&env.paths, vmid) {
        d["status"] = json!("running");
        d["pid"] = json!(pid);
        if let Some((uptime, rss)) = proc_stats(pid) {
            d["uptime"] = json!(uptime);
            d["mem"] = json!(rss.min(maxmem));
            d["memhost"] = json!(rss);
        }
        let (netin, netout) = net_counters(vmid);
        d["netin"] = json!(netin);
        d["netout"] = json!(netout);
        let socket = helpers::qmp_socket(&env.paths, vmid);
        let q: Result<(String, String, i64, i64), Error> = block_on(async {
            let client = QmpClient::connect(&socket, Duration::from_secs(3)).await?;
            let st = client.status_name().await?;
            let v = client.query_version().await?;
            let q = &v.qemu;
            let (mut rd, mut wr) = (0, 0);
            if let Ok(stats) = client
                .execute(qapi::qmp::query_blockstats { query_nodes: None })
                .await
            {
                for s in stats {
                    rd += s.stats.rd_bytes;
                    wr += s.stats.wr_bytes;
                }
            }
            Ok((st, format!("{}.{}.{}", q.major, q.minor, q.micro), rd, wr))
        });
        d["diskread"] = json!(0);
        d["diskwrite"] = json!(0);
        if let Ok((st, ver, rd, wr)) = q {
            d["qmpstatus"] = json!(st);
            d["running-qemu"] = json!(ver);
            d["diskread"] = json!(rd);
            d["diskwrite"] = json!(wr);
        } else {
            d["qmpstatus"] = json!("running");
        }
    }
    Ok(d)
}

fn size_to_bytes(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().ok()?;
    let m = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024f64.powi(2),
        "G" => 1024f64.powi(3),
        "T" => 1024f64.powi(4),
        _ => return None,
    };
    Some((n * m) as u64)
}

/// Size of the boot disk (`maxdisk`): first disk in the boot order, else the first disk.
fn boot_disk_size(c: &pve_guest_common::ConfigSection) -> u64 {
    let order: Vec<&str> = c
        .get("boot")
        .and_then(|b| b.split(',').find_map(|kv| kv.strip_prefix("order=")))
        .map(|o| o.split(';').collect())
        .unwrap_or_default();
    let disks = cmd_drive_keys(c);
    let pick = order
        .iter()
        .find_map(|k| {
            disks
                .iter()
                .find(|(dk, v)| dk == k && !v.contains("media=cdrom"))
        })
        .or_else(|| disks.iter().find(|(_, v)| !v.contains("media=cdrom")));
    pick.and_then(|(_, v)| {
        v.split(',')
            .find_map(|kv| kv.strip_prefix("size="))
            .and_then(size_to_bytes)
    })
    .unwrap_or(0)
}

fn cmd_drive_keys(c: &pve_guest_common::ConfigSection) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (bus, max) in [("ide", 4), ("sata", 6), ("scsi", 31), ("virtio", 16)] {
        for i in 0..max {
            let key = format!("{bus}{i}");
            if let Some(v) = c.get(&key) {
                out.push((key, v.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_to_bytes("8G"), Some(8 << 30));
        assert_eq!(size_to_bytes("512M"), Some(512 << 20));
        assert_eq!(size_to_bytes("100"), Some(100));
        assert_eq!(size_to_bytes("1X"), None);
    }
}
