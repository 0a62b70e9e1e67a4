//! A cluster of N nodes on this machine for tests, benchmarks and `cargo xtask
//! cluster`: each node has its own network namespace (10.123.<k>.<i>, reachable only
//! through a bridge in another namespace), its own corosync (in a private mount
//! namespace that binds the node's /etc/corosync, /var/lib/corosync and /run over
//! the host paths) and its own pmxcfs and `PVE_ROOT`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One cluster instance: namespaces `<prefix>-br` and `<prefix>-n<i>`.
#[derive(Clone, Debug)]
pub struct TestCluster {
    pub prefix: String,
    /// Third octet of the node addresses.
    pub subnet: u8,
    pub nodes: usize,
    pub base: PathBuf,
    pub pmxcfs_bin: PathBuf,
    pub cluster_name: String,
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip(args: &[&str]) -> Result<()> {
    run(Command::new("ip").args(args))
}

/// Why this host cannot run a netns cluster, if it cannot.
pub fn host_problem() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    for tool in ["/usr/sbin/corosync", "/usr/bin/nsenter", "/usr/bin/unshare"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing"));
        }
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is missing".into());
    }
    if Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        return Some("ip netns does not work".into());
    }
    None
}

pub fn node_name(i: usize) -> String {
    format!("node{i}")
}

fn read_pid(p: &Path) -> Option<i32> {
    fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
pub fn kill_wait(pid: i32, grace: Duration) {
    // SAFETY: plain kill(2) on a pid we recorded when we started it.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        reap(pid);
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        // SAFETY: as above.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            reap(pid);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    reap(pid);
}

fn reap(pid: i32) {
    let mut st = 0;
    // SAFETY: non-blocking waitpid; fails harmlessly if pid is not our child.
    unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
}

fn lazy_unmount(p: &Path) {
    crate::daemon::lazy_unmount(p);
}

impl TestCluster {
    pub fn new(prefix: &str, subnet: u8, nodes: usize, base: &Path, pmxcfs_bin: &Path) -> Self {
        TestCluster {
            prefix: prefix.to_string(),
            subnet,
            nodes,
            base: base.to_path_buf(),
            pmxcfs_bin: pmxcfs_bin.to_path_buf(),
            cluster_name: "testclu".into(),
        }
    }

    pub fn root(&self, i: usize) -> PathBuf {
        self.base.join(node_name(i))
    }

    pub fn netns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    fn bridge_ns(&self) -> String {
        format!("{}-br", self.prefix)
    }

    fn veth(&self, i: usize) -> String {
        format!("{}v{i}", self.prefix)
    }

    pub fn addr(&self, i: usize) -> String {
        format!("10.123.{}.{i}", self.subnet)
    }

    pub fn mnt(&self, i: usize) -> PathBuf {
        self.root(i).join("etc/pve")
    }

    /// The corosync.conf every node starts with (upstream's layout).
    pub fn corosync_conf(&self) -> String {
        self.corosync_conf_of(self.nodes)
    }

    /// A corosync.conf that lists nodes 1..=`members`.
    pub fn corosync_conf_of(&self, members: usize) -> String {
        let mut s = String::from("logging {\n  debug: off\n  to_syslog: no\n}\n\nnodelist {\n");
        for i in 1..=members {
            s += &format!(
                "  node {{\n    name: {}\n    nodeid: {i}\n    quorum_votes: 1\n    ring0_addr: {}\n  }}\n",
                node_name(i),
                self.addr(i)
            );
        }
        s += "}\n\nquorum {\n  provider: corosync_votequorum\n}\n\n";
        s += &format!(
            "totem {{\n  cluster_name: {}\n  config_version: 1\n  interface {{\n    linknumber: 0\n  }}\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n  token: 1000\n}}\n",
            self.cluster_name
        );
        s
    }

    /// Creates namespaces, bridge, node dirs and configs, then starts every node.
    pub fn up(&self) -> Result<()> {
        self.up_with(self.nodes)
    }

    /// Like [`up`](Self::up), but only nodes 1..=`members` are configured and
    /// started; the others get a namespace and an empty root, ready to join.
    pub fn up_with(&self, members: usize) -> Result<()> {
        self.down_quiet();
        fs::create_dir_all(&self.base)?;
        let br = self.bridge_ns();
        ip(&["netns", "add", &br])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        let mut key = vec![0u8; 256];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut key))
            .context("reading /dev/urandom")?;
        for i in 1..=self.nodes {
            let ns = self.netns(i);
            let veth = self.veth(i);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "netns", &br])?;
            ip(&["-n", &br, "link", "set", &veth, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &veth, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.addr(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            let r = self.root(i);
            for d in ["etc/corosync", "var/lib/corosync", "run", "var/log"] {
                fs::create_dir_all(r.join(d))?;
            }
            if i > members {
                continue;
            }
            fs::write(
                r.join("etc/corosync/corosync.conf"),
                self.corosync_conf_of(members),
            )?;
            fs::write(r.join("etc/corosync/authkey"), &key)?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                r.join("etc/corosync/authkey"),
                fs::Permissions::from_mode(0o400),
            )?;
        }
        for i in 1..=members {
            self.start_corosync(i)?;
        }
        for i in 1..=members {
            self.start_pmxcfs(i)?;
        }
        Ok(())
    }

    /// Runs a command inside node `i`'s network namespace (sharing our mounts).
    pub fn in_node(&self, i: usize, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns(i)))
            .arg(prog);
        c
    }

    /// Runs a command in node `i`'s corosync view (its /etc/corosync and /run).
    pub fn in_corosync_view(&self, i: usize, shell_cmd: &str) -> Command {
        let r = self.root(i);
        let script = format!(
            "mount --bind {r}/etc/corosync /etc/corosync && mount --bind {r}/var/lib/corosync /var/lib/corosync && mount --bind {r}/run /run && {shell_cmd}",
            r = r.display()
        );
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.netns(i)))
            .args(["unshare", "-m", "--propagation", "private", "sh", "-c"])
            .arg(script);
        c
    }

    pub fn start_corosync(&self, i: usize) -> Result<()> {
        let r = self.root(i);
        let log = fs::File::create(r.join("var/log/corosync.out"))?;
        let child = self
            .in_corosync_view(i, "exec corosync -f")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting corosync")?;
        fs::write(r.join("corosync.pid"), format!("{}\n", child.id()))?;
        Ok(())
    }

    pub fn stop_corosync(&self, i: usize) {
        if let Some(pid) = read_pid(&self.root(i).join("corosync.pid")) {
            kill_wait(pid, Duration::from_secs(10));
        }
        let _ = fs::remove_file(self.root(i).join("corosync.pid"));
    }

    pub fn start_pmxcfs(&self, i: usize) -> Result<()> {
        let r = self.root(i);
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(r.join("var/log/pmxcfs.log"))?;
        let child = self
            .in_node(i, &self.pmxcfs_bin.to_string_lossy())
            .arg("-f")
            .env("PVE_ROOT", &r)
            .env("PVE_NODE_NAME", node_name(i))
            .env("PVE_NODE_IP", self.addr(i))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting pmxcfs")?;
        let pid = child.id() as i32;
        fs::write(r.join("pmxcfs.pid"), format!("{pid}\n"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.mnt(i).join(".version").exists() {
            if !alive(pid) {
                reap(pid);
                bail!("pmxcfs on {} exited early", node_name(i));
            }
            if Instant::now() > deadline {
                bail!("pmxcfs on {} did not come up", node_name(i));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn stop_pmxcfs(&self, i: usize) {
        if let Some(pid) = read_pid(&self.root(i).join("pmxcfs.pid")) {
            kill_wait(pid, Duration::from_secs(10));
        }
        let _ = fs::remove_file(self.root(i).join("pmxcfs.pid"));
        lazy_unmount(&self.mnt(i));
    }

    /// Cuts node `i` off the bridge (`false`) or reconnects it (`true`).
    pub fn set_link(&self, i: usize, up: bool) -> Result<()> {
        ip(&[
            "-n",
            &self.bridge_ns(),
            "link",
            "set",
            &self.veth(i),
            if up { "up" } else { "down" },
        ])
    }

    /// `corosync-quorumtool -s` output of node `i`.
    pub fn quorum_status(&self, i: usize) -> String {
        self.in_node(i, "corosync-quorumtool")
            .arg("-s")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Waits until every node reports a quorate membership of `n` nodes.
    pub fn wait_quorate(&self, nodes: &[usize], n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = nodes.iter().all(|i| {
                let s = self.quorum_status(*i);
                s.contains("Quorate:          Yes")
                    && s.lines().any(|l| {
                        l.starts_with("Nodes:")
                            && l.split_whitespace().last() == Some(&n.to_string())
                    })
            });
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("cluster did not become quorate with {n} nodes");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops everything and removes namespaces and node dirs; never fails.
    pub fn down_quiet(&self) {
        for i in 1..=self.nodes.max(16) {
            let r = self.root(i);
            if r.exists() {
                self.stop_pmxcfs(i);
                self.stop_corosync(i);
            }
            let _ = Command::new("ip")
                .args(["netns", "del", &self.netns(i)])
                .stderr(Stdio::null())
                .status();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.bridge_ns()])
            .stderr(Stdio::null())
            .status();
        let _ = fs::remove_dir_all(&self.base);
    }
}
