//! pvedaemon and pveproxy as processes: `start [--debug]`, `stop`, `restart`, `status`
//! as upstream's daemons take them, pid files, and a graceful stop on SIGTERM.
//!
//! Addresses: pvedaemon listens on `$PVE_DAEMON_ADDR` (default 127.0.0.1:85), pveproxy
//! on `$PVE_PROXY_ADDR` (default 0.0.0.0:8006) and hands protected calls to
//! `$PVE_DAEMON_ADDR`. `$PVE_AUTH_FAIL_DELAY_MS` sets the delay of failed logins
//! (default 3000, as upstream). Every path comes from `PVE_ROOT`.

use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pve_common::api::{env::local_node_name, EnvKind};
use pve_common::NodePaths;

use crate::http::{serve, AccessControl, ServerContext, TlsFiles};

/// Which daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    Pvedaemon,
    Pveproxy,
}

impl Daemon {
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Pvedaemon => "pvedaemon",
            Daemon::Pveproxy => "pveproxy",
        }
    }

    fn listen(self) -> Result<SocketAddr> {
        let (var, default) = match self {
            Daemon::Pvedaemon => ("PVE_DAEMON_ADDR", "127.0.0.1:85"),
            Daemon::Pveproxy => ("PVE_PROXY_ADDR", "0.0.0.0:8006"),
        };
        let text = std::env::var(var).unwrap_or_else(|_| default.into());
        text.parse()
            .with_context(|| format!("invalid {var} '{text}'"))
    }

    fn pid_file(self, paths: &NodePaths) -> PathBuf {
        paths
            .run_dir(self.name())
            .join(format!("{}.pid", self.name()))
    }
}

fn daemon_addr() -> Result<SocketAddr> {
    Daemon::Pvedaemon.listen()
}

fn auth_delay() -> Duration {
    let ms = std::env::var("PVE_AUTH_FAIL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    Duration::from_millis(ms)
}

/// The running pid from the pid file, if that process lives.
fn running_pid(d: Daemon, paths: &NodePaths) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(d.pid_file(paths))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // SAFETY: signal 0 only checks that the process exists.
    (unsafe { libc::kill(pid, 0) } == 0).then_some(pid)
}

/// `NAME start|stop|restart|status [--debug]`; returns the exit code.
pub fn main(d: Daemon, args: &[String]) -> i32 {
    match run(d, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}: {e:#}", d.name());
            255
        }
    }
}

fn run(d: Daemon, args: &[String]) -> Result<i32> {
    let paths = NodePaths::from_env();
    let cmd = args.first().map(String::as_str).unwrap_or("");
    let debug = args.iter().any(|a| a == "--debug" || a == "-debug");
    match cmd {
        "start" if debug => foreground(d, &paths).map(|_| 0),
        "start" => start_detached(d, &paths),
        "stop" => stop(d, &paths).map(|_| 0),
        "restart" => {
            stop(d, &paths)?;
            start_detached(d, &paths)
        }
        "status" => {
            println!(
                "{}",
                if running_pid(d, &paths).is_some() {
                    "running"
                } else {
                    "stopped"
                }
            );
            Ok(0)
        }
        _ => {
            eprintln!("USAGE: {} <COMMAND> [ARGS] [OPTIONS]", d.name());
            eprintln!("       {} start  [--debug <boolean>]", d.name());
            eprintln!("       {} stop", d.name());
            eprintln!("       {} restart", d.name());
            eprintln!("       {} status", d.name());
            Ok(255)
        }
    }
}

/// Starts the daemon in the background (a detached copy of this program in the
/// foreground mode) and returns once it listens.
fn start_detached(d: Daemon, paths: &NodePaths) -> Result<i32> {
    if let Some(pid) = running_pid(d, paths) {
        eprintln!("{} already running (pid {pid})", d.name());
        return Ok(0);
    }
    let exe = std::env::current_exe().context("locating own binary")?;
    let mut child = Command::new(exe)
        .args(["start", "--debug"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .context("starting daemon")?;
    let addr = d.listen()?;
    let probe = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port())
    } else {
        addr
    };
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&probe, Duration::from_millis(100)).is_ok() {
            return Ok(0);
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("daemon exited during start ({st})");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("daemon did not start listening on {addr}")
}

fn stop(d: Daemon, paths: &NodePaths) -> Result<()> {
    let Some(pid) = running_pid(d, paths) else {
        return Ok(());
    };
    // SAFETY: sending SIGTERM to a pid we read from our own pid file.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..100 {
        if running_pid(d, paths).is_none() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{} (pid {pid}) did not stop", d.name())
}

/// Switches the whole process (every thread) to www-data, when run as root and the user
/// exists; the pid file goes to www-data first so that it can remove it at exit.
fn drop_privileges(pid_file: &std::path::Path) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let name = std::ffi::CString::new("www-data").expect("no NUL");
    // SAFETY: getpwnam gets a valid NUL-terminated name; the record is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        eprintln!("pveproxy: user www-data missing, running as root");
        return Ok(());
    }
    // SAFETY: pw is non-null and points to libc's static passwd record.
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    if let Some(dir) = pid_file.parent() {
        let _ = std::os::unix::fs::chown(dir, Some(uid), Some(gid));
    }
    let _ = std::os::unix::fs::chown(pid_file, Some(uid), Some(gid));
    let groups = [gid];
    // SAFETY: plain syscalls with valid arguments; glibc applies setgid/setuid to every
    // thread of the process.
    let ok = unsafe {
        libc::setgroups(1, groups.as_ptr()) == 0 && libc::setgid(gid) == 0 && libc::setuid(uid) == 0
    };
    if !ok {
        bail!(
            "unable to switch to user www-data - {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Runs the daemon in this process until SIGTERM or SIGINT.
fn foreground(d: Daemon, paths: &NodePaths) -> Result<()> {
    let node = local_node_name();
    let pid_file = d.pid_file(paths);
    std::fs::create_dir_all(pid_file.parent().expect("pid file has a parent"))?;
    std::fs::write(&pid_file, format!("{}\n", std::process::id()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let (kind, tls, daemon) = match d {
            Daemon::Pvedaemon => (EnvKind::Daemon, None, None),
            Daemon::Pveproxy => {
                let ip = "127.0.0.1".parse().expect("valid address");
                crate::certs::ensure_node_cert(paths, &node, ip, false)?;
                let (cert, key) = crate::certs::proxy_cert_files(paths, &node);
                (
                    EnvKind::Proxy,
                    Some(TlsFiles { cert, key }),
                    Some(daemon_addr()?),
                )
            }
        };
        // The daemons never show schema documentation; leaving it out of the tree (and
        // of the schemas built later) keeps it out of their memory.
        pve_common::schema::drop_docs();
        let ctx = Arc::new(ServerContext {
            root: Arc::new(crate::api::root()),
            paths: paths.clone(),
            node,
            kind,
            auth: Arc::new(AccessControl::new(paths.clone())),
            daemon,
            auth_failure_delay: auth_delay(),
        });
        let server = serve(ctx, d.listen()?, tls).await?;
        eprintln!("{} listening on {}", d.name(), server.addr);
        if d == Daemon::Pveproxy {
            // Upload spool files go to /var/tmp (missing below a fresh PVE_ROOT).
            let spool = paths.host("/var/tmp");
            if !spool.exists() {
                use std::os::unix::fs::PermissionsExt;
                std::fs::create_dir_all(&spool)?;
                std::fs::set_permissions(&spool, std::fs::Permissions::from_mode(0o1777))?;
            }
            // Bound and holding its TLS key: the rest runs as www-data, as upstream.
            drop_privileges(&pid_file)?;
        }
        // Building the API tree leaves freed temporaries behind (parsed schema text);
        // give those pages back instead of keeping them resident while idle.
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe { libc::malloc_trim(0) };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        server.shutdown(Duration::from_secs(10)).await;
        anyhow::Ok(())
    });
    let _ = std::fs::remove_file(&pid_file);
    result
}
