//! `cargo xtask run` and `cargo xtask stop`: the dev node. pmxcfs (local mode),
//! pvedaemon and pveproxy run below one root (`target/devnode` or `--root`), the API on
//! https://127.0.0.1:PORT with an `admin@pve` Administrator.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::{cargo, status, workspace_root};

struct DevNode {
    root: PathBuf,
    port: u16,
    daemon_port: u16,
    detach: bool,
}

fn parse(args: &[String], allow_run_opts: bool) -> Result<DevNode> {
    let mut n = DevNode {
        root: workspace_root().join("target/devnode"),
        port: 8006,
        daemon_port: 85,
        detach: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => n.root = PathBuf::from(it.next().context("--root needs a directory")?),
            "--port" if allow_run_opts => {
                n.port = it.next().context("--port needs a number")?.parse()?
            }
            "--daemon-port" if allow_run_opts => {
                n.daemon_port = it.next().context("--daemon-port needs a number")?.parse()?
            }
            "--detach" if allow_run_opts => n.detach = true,
            other => bail!("unknown option '{other}'"),
        }
    }
    if n.root.is_relative() {
        n.root = std::env::current_dir()?.join(&n.root);
    }
    Ok(n)
}

/// Where `cargo build` puts the binaries (the target dir cargo uses for this checkout).
pub fn bin_dir() -> Result<PathBuf> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let key = "\"target_directory\":\"";
    let start = text
        .find(key)
        .context("cargo metadata has no target_directory")?
        + key.len();
    let end = text[start..].find('"').context("bad cargo metadata")? + start;
    Ok(PathBuf::from(&text[start..end]).join("debug"))
}

fn node_cmd(bin: &Path, n: &DevNode, name: &str) -> Command {
    let mut c = Command::new(bin.join(name));
    // the container hooks (lxc-pve-*-hook, lxcnetaddbr) of this build
    c.env("PVE_ROOT", &n.root)
        .env("PVE_LXC_HOOK_DIR", bin)
        .env("PVE_DAEMON_ADDR", format!("127.0.0.1:{}", n.daemon_port))
        .env("PVE_PROXY_ADDR", format!("127.0.0.1:{}", n.port));
    c
}

fn mounted(root: &Path) -> bool {
    let target = root.join("etc/pve");
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(target.to_string_lossy().as_ref()))
    })
}

fn random_password() -> String {
    let mut b = [0u8; 12];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut b);
    }
    const CHARS: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    b.iter()
        .map(|x| CHARS[*x as usize % CHARS.len()] as char)
        .collect()
}

pub fn run(args: &[String]) -> Result<()> {
    let n = parse(args, true)?;
    crate::deps::install()?;
    status(cargo().args(["build", "--workspace", "--bins"]))?;
    let bin = bin_dir()?;
    std::fs::create_dir_all(&n.root)?;
    stop_node(&bin, &n)?;
    ensure_bridge("vmbr0");

    // pmxcfs in local mode; it daemonizes once the mount is up. Its output goes to a
    // log file, so that nothing holds our stdout open.
    let log_dir = n.root.join("var/log");
    std::fs::create_dir_all(&log_dir)?;
    let log = std::fs::File::create(log_dir.join("pmxcfs.log"))?;
    status(
        node_cmd(&bin, &n, "pmxcfs")
            .arg("-l")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log),
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mounted(&n.root) {
        if Instant::now() > deadline {
            bail!("pmxcfs did not mount {}", n.root.join("etc/pve").display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let password = std::env::var("PVE_DEV_PASSWORD").unwrap_or_else(|_| random_password());
    status(node_cmd(&bin, &n, "pve-devtool").args([
        "devnode-user",
        "admin@pve",
        &password,
        "Administrator",
    ]))?;
    status(node_cmd(&bin, &n, "pvedaemon").arg("start"))?;
    status(node_cmd(&bin, &n, "pveproxy").arg("start"))?;

    let url = format!("https://127.0.0.1:{}/", n.port);
    let creds = format!(
        "URL: {url}\nuser: admin@pve\npassword: {password}\nexport PVE_ROOT={}\n",
        n.root.display()
    );
    write_private(&n.root.join("credentials"), &creds)?;
    println!("\nThe dev node runs below {}.", n.root.display());
    println!("  API:      {url}api2/json/  (self-signed certificate)");
    println!("  login:    admin@pve / {password}   (also root@pam through PAM)");
    println!("  CLIs:     export PVE_ROOT={}", n.root.display());
    println!("            export PVE_LXC_HOOK_DIR={}", bin.display());
    println!("  (saved in {})", n.root.join("credentials").display());
    if n.detach {
        println!("Stop it with `cargo xtask stop`.");
        return Ok(());
    }
    println!("Press Ctrl-C to stop it.");
    wait_for_signal();
    stop_node(&bin, &n)
}

/// The dev node's VM bridge (`net0: virtio,bridge=vmbr0`): created without uplink or
/// address when missing. Needs root; without it a warning is printed and VMs with
/// bridged NICs will not start.
fn ensure_bridge(name: &str) {
    if Path::new("/sys/class/net").join(name).exists() {
        return;
    }
    let ok = std::process::Command::new("ip")
        .args(["link", "add", name, "type", "bridge"])
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new("ip")
            .args(["link", "set", name, "up"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        println!("created bridge {name} (no uplink, no address)");
    } else {
        eprintln!("warning: unable to create bridge {name}; bridged VM NICs will not start");
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())?;
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_signal() {
    // SAFETY: sigset operations on a local set; the signals are blocked so that sigwait
    // receives them instead of the default handler.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
    }
}

pub fn stop(args: &[String]) -> Result<()> {
    let n = parse(args, false)?;
    let bin = bin_dir()?;
    stop_node(&bin, &n)
}

/// Stops the daemons, then pmxcfs, and waits for the mount to go away.
fn stop_node(bin: &Path, n: &DevNode) -> Result<()> {
    for d in ["pveproxy", "pvedaemon"] {
        if bin.join(d).exists() {
            let _ = node_cmd(bin, n, d).arg("stop").status();
        }
    }
    let pid_file = n.root.join("run/pve-cluster.pid");
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        // SAFETY: SIGTERM to the pid pmxcfs wrote for itself.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while mounted(&n.root) {
        if Instant::now() > deadline {
            bail!(
                "pmxcfs did not unmount {}",
                n.root.join("etc/pve").display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
