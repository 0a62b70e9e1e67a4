//! Container lifecycle through Debian's LXC tools (`lxc-start`, `lxc-stop`,
//! `lxc-info`, `lxc-attach`), with `-P <NodePaths::lxc_dir>` so a test root keeps
//! its containers apart from the host's.
//!
//! Upstream starts containers through `systemctl start pve-container@VMID`; this host
//! has no systemd as PID 1, so `lxc-start` daemonizes itself (what the unit runs
//! underneath). The container outlives the calling process either way.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use crate::config::CtSection;
use crate::lxc_config::{update_lxc_config_in, LxcHost};

/// Errors of the lifecycle; the texts are upstream's where it has one.
#[derive(Debug)]
pub enum LxcError {
    AlreadyRunning(u32),
    NotRunning(u32),
    /// A tool failed: its name and what it printed.
    Tool(String, String),
    Config(String),
}

impl std::fmt::Display for LxcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LxcError::AlreadyRunning(v) => write!(f, "CT {v} already running"),
            LxcError::NotRunning(v) => write!(f, "CT {v} not running"),
            LxcError::Tool(t, msg) => write!(f, "command '{t}' failed: {}", msg.trim_end()),
            LxcError::Config(m) => write!(f, "{}", m.trim_end()),
        }
    }
}

impl std::error::Error for LxcError {}

/// The lines of the LXC log that say why a start failed: a hook's own message (LXC
/// logs what a failing hook printed) or else the first error.
fn start_failure(log: &std::path::Path) -> Option<String> {
    let detail = std::fs::read_to_string(log).ok()?;
    let hook_output: Vec<&str> = detail
        .lines()
        .filter_map(|l| l.split_once("produced output: ").map(|(_, m)| m))
        .collect();
    if !hook_output.is_empty() {
        return Some(hook_output.join("\n"));
    }
    detail
        .lines()
        .find(|l| l.contains("ERROR"))
        .map(str::to_string)
}

/// The LXC tools acting on the containers below one lxc path.
#[derive(Clone, Debug)]
pub struct LxcRuntime {
    /// `/var/lib/lxc` below the node's root.
    pub lxc_dir: PathBuf,
    /// Where the tools live (`/usr/bin`); an override lets a test wrap them.
    pub bin_dir: PathBuf,
    /// The node's root, handed to the hooks as `$PVE_ROOT`.
    pub root: PathBuf,
    /// The node whose container configs the hooks read (`$PVE_NODE_NAME`).
    pub node: String,
}

impl LxcRuntime {
    pub fn new(paths: &pve_common::paths::NodePaths) -> Self {
        Self {
            lxc_dir: paths.lxc_dir(),
            bin_dir: PathBuf::from("/usr/bin"),
            root: paths.root().to_path_buf(),
            node: pve_common::api::env::local_node_name(),
        }
    }

    /// The runtime of another node name (a test root's or the API environment's node).
    pub fn with_node(mut self, node: &str) -> Self {
        self.node = node.to_string();
        self
    }

    /// An LXC tool (`lxc-attach`, `lxc-console`, …) for the container, with `-P` and
    /// `-n` set and the hook environment.
    pub fn tool_command(&self, name: &str, vmid: u32) -> Command {
        self.tool(name, vmid)
    }

    fn tool(&self, name: &str, vmid: u32) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(name));
        cmd.env(pve_common::paths::ROOT_ENV, &self.root);
        cmd.env("PVE_NODE_NAME", &self.node);
        cmd.arg("-P")
            .arg(&self.lxc_dir)
            .arg("-n")
            .arg(vmid.to_string());
        cmd
    }

    fn run(&self, name: &str, mut cmd: Command) -> Result<Output, LxcError> {
        let out = cmd
            .output()
            .map_err(|e| LxcError::Tool(name.to_string(), e.to_string()))?;
        if !out.status.success() {
            let mut msg = String::from_utf8_lossy(&out.stderr).into_owned();
            if msg.trim().is_empty() {
                msg = format!("exit code {}", out.status.code().unwrap_or(-1));
            }
            return Err(LxcError::Tool(name.to_string(), msg));
        }
        Ok(out)
    }

    /// The pid of the container's init when it runs (`lxc-info -p`), else `None`.
    pub fn running_pid(&self, vmid: u32) -> Option<u32> {
        if !self.lxc_dir.join(vmid.to_string()).join("config").exists() {
            return None;
        }
        let mut cmd = self.tool("lxc-info", vmid);
        cmd.args(["-p", "-H"]);
        let out = cmd.output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    pub fn check_running(&self, vmid: u32) -> bool {
        self.running_pid(vmid).is_some()
    }

    /// `vm_start`: writes the LXC config from `conf` and starts the container in the
    /// background. The pre-start hook named by the config mounts rootfs and the mount
    /// points in the container's namespace and runs the distribution's start setup;
    /// `skiplock` tells it to skip the lock check. Returns the warnings of the config
    /// generation and of the hook.
    pub fn start(
        &self,
        vmid: u32,
        conf: &CtSection,
        host: &LxcHost,
    ) -> Result<Vec<String>, LxcError> {
        self.start_opts(vmid, conf, host, false)
    }

    /// [`Self::start`] with upstream's `skiplock`.
    pub fn start_opts(
        &self,
        vmid: u32,
        conf: &CtSection,
        host: &LxcHost,
        skiplock: bool,
    ) -> Result<Vec<String>, LxcError> {
        if self.check_running(vmid) {
            return Err(LxcError::AlreadyRunning(vmid));
        }
        if let Some(hook) = host.missing_hooks().first() {
            return Err(LxcError::Config(format!(
                "missing LXC hook '{}' (install pve-container's hooks or set PVE_LXC_HOOK_DIR)\n",
                hook.display()
            )));
        }
        let mut warnings =
            update_lxc_config_in(&self.lxc_dir, vmid, conf, host).map_err(LxcError::Config)?;
        let paths = pve_common::paths::NodePaths::new(&self.root);
        let flag = crate::hooks::skiplock_flag(&paths, vmid);
        if skiplock {
            if let Some(dir) = flag.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            std::fs::write(&flag, b"").map_err(|e| {
                LxcError::Config(format!("unable to write {}: {e}\n", flag.display()))
            })?;
        }
        let warn_file = crate::hooks::warnings_file(&paths, vmid);
        let _ = std::fs::remove_file(&warn_file);
        let log = self.lxc_dir.join(vmid.to_string()).join("start.log");
        let _ = std::fs::remove_file(&log);
        let mut cmd = self.tool("lxc-start", vmid);
        cmd.arg("-l").arg("DEBUG").arg("-o").arg(&log);
        let result = self.run("lxc-start", cmd);
        let _ = std::fs::remove_file(&flag);
        if let Err(e) = result {
            return Err(match (e, start_failure(&log)) {
                (LxcError::Tool(t, m), Some(l)) => LxcError::Tool(t, format!("{m}{l}")),
                (e, _) => e,
            });
        }
        if let Ok(text) = std::fs::read_to_string(&warn_file) {
            warnings.extend(
                text.lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| format!("{l}\n")),
            );
        }
        Ok(warnings)
    }

    /// The directory the container's root is mounted on (`lxc.rootfs.path`).
    pub fn rootdir(&self, vmid: u32) -> PathBuf {
        self.lxc_dir.join(vmid.to_string()).join("rootfs")
    }

    /// Unmounts what is left mounted at the rootfs directory on the host once the
    /// container is gone (`pct mount` leftovers; the hooks mount in the container's
    /// namespace).
    pub fn unmount(&self, vmid: u32) -> Result<(), LxcError> {
        if self.check_running(vmid) {
            return Err(LxcError::AlreadyRunning(vmid));
        }
        crate::create::unmount_all(&self.rootdir(vmid)).map_err(LxcError::Config)
    }

    /// `vm_stop`: a clean shutdown (SIGPWR to init) waiting `timeout` seconds
    /// (upstream's default 60), then a kill unless `force_stop` is false; or with
    /// `shutdown == false` a hard stop at once.
    pub fn stop(
        &self,
        vmid: u32,
        shutdown: bool,
        timeout: Option<u64>,
        force_stop: bool,
    ) -> Result<(), LxcError> {
        if !self.check_running(vmid) {
            return Err(LxcError::NotRunning(vmid));
        }
        let mut cmd = self.tool("lxc-stop", vmid);
        if shutdown {
            cmd.arg("--timeout").arg(timeout.unwrap_or(60).to_string());
            if !force_stop {
                cmd.arg("--nokill");
            }
        } else {
            cmd.arg("--kill");
        }
        match self.run("lxc-stop", cmd) {
            Ok(_) => {}
            Err(_) if shutdown && !force_stop && self.check_running(vmid) => {
                return Err(LxcError::Tool(
                    "lxc-stop".into(),
                    "shutdown timed out".into(),
                ))
            }
            Err(e) => return Err(e),
        }
        // lxc-stop returns when init is gone; wait for the monitor to let go too.
        for _ in 0..100 {
            if !self.check_running(vmid) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Reboot: init gets SIGINT (`lxc-stop --reboot`), LXC restarts the container.
    pub fn reboot(&self, vmid: u32) -> Result<(), LxcError> {
        if !self.check_running(vmid) {
            return Err(LxcError::NotRunning(vmid));
        }
        let mut cmd = self.tool("lxc-stop", vmid);
        cmd.arg("--reboot");
        self.run("lxc-stop", cmd).map(|_| ())
    }

    /// `pct exec`: runs `argv` in the container (all namespaces, cleared
    /// environment as upstream's `lxc-attach --clear-env`) and returns its output.
    pub fn exec(&self, vmid: u32, argv: &[&str]) -> Result<Output, LxcError> {
        if !self.check_running(vmid) {
            return Err(LxcError::NotRunning(vmid));
        }
        let mut cmd = self.tool("lxc-attach", vmid);
        cmd.arg("--clear-env").arg("--").args(argv);
        cmd.output()
            .map_err(|e| LxcError::Tool("lxc-attach".into(), e.to_string()))
    }
}
