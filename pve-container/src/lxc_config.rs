//! The LXC configuration of a container (`/var/lib/lxc/<vmid>/config`), generated from
//! its PVE config as upstream's `PVE::LXC::update_lxc_config`: includes, id maps for
//! unprivileged containers, seccomp and AppArmor settings (AppArmor only where the host
//! has it), device passthrough, cgroup v2 limits, network devices, raw `lxc.*` entries
//! and the cpuset for `cores`.
//!
//! Everything the generator needs to know about the host is in [`LxcHost`], so it can be
//! tested without LXC.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::CtSection;
use crate::setup::net::parse_lxc_network;

/// A device node: block (`true`) or char, major and minor number.
pub type DeviceInfo = (bool, u64, u64);

/// What `update_lxc_config` reads from the host.
pub struct LxcHost {
    /// Major version of the LXC tools (`lxc-start --version`).
    pub lxc_major: u32,
    /// `/sys/fs/cgroup` is a cgroup2 mount (unified layout).
    pub cgroup_v2: bool,
    /// cgroup v2 controllers available (`memory`, `cpu`, …).
    pub cgv2_controllers: Vec<String>,
    /// Controllers mounted as cgroup v1 hierarchies (a legacy or hybrid host), and
    /// whether v1 memory has swap accounting (`memory.memsw.*`).
    pub cgv1_controllers: Vec<String>,
    pub cgv1_memsw: bool,
    /// AppArmor is enabled on the host.
    pub apparmor: bool,
    /// Where the hook programs the config names live (`/usr/share/lxc`: `lxcnetaddbr`);
    /// `$PVE_LXC_HOOK_DIR` points a dev or test root at the build directory.
    pub hook_dir: PathBuf,
    /// Where the pre-start/autodev/post-stop hooks live (`/usr/share/lxc/hooks`;
    /// `$PVE_LXC_HOOK_DIR` as for [`Self::hook_dir`]).
    pub lxc_hooks_dir: PathBuf,
    /// `/usr/share/lxc/config` (the `lxc.include` directory).
    pub lxc_config_path: PathBuf,
    /// MTU of a bridge (`/sys/class/net/<bridge>/mtu`).
    pub bridge_mtu: fn(&str) -> Result<u32, String>,
    /// Block (`true`) or char device, and its major/minor number.
    pub device_info: fn(&str) -> Result<DeviceInfo, String>,
    /// cpuset controller version and the CPUs available to containers.
    pub cpuset: Option<(u8, Vec<u32>)>,
    /// The kernel supports seccomp notify (>= 5.3, needed by `features: mknod`).
    pub seccomp_notify: bool,
    /// Whether only the old lxc-syscalld socket path exists.
    pub old_syscalld_socket: bool,
    /// Random index source for picking CPUs (upstream: `rand`).
    pub random: fn(usize) -> usize,
}

fn read_bridge_mtu(bridge: &str) -> Result<u32, String> {
    let mtu = std::fs::read_to_string(format!("/sys/class/net/{bridge}/mtu"))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("bridge '{bridge}' does not exist\n"))?;
    mtu.parse()
        .map_err(|_| format!("unexpeted error: unable to parse mtu value '{mtu}' as integer\n"))
}

fn stat_device(path: &str) -> Result<DeviceInfo, String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path).map_err(|e| format!("stat '{path}' failed: {e}\n"))?;
    let ft = meta.file_type();
    if !ft.is_block_device() && !ft.is_char_device() {
        return Err(format!("{path} is not a device\n"));
    }
    let rdev = meta.rdev();
    let major = ((rdev >> 32) & 0xffff_f000) | ((rdev >> 8) & 0xfff);
    let minor = ((rdev >> 12) & 0xffff_ff00) | (rdev & 0xff);
    Ok((ft.is_block_device(), major, minor))
}

fn parse_cpu_list(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u32>().ok()),
        }
    }
    out
}

fn time_random(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    if n == 0 {
        0
    } else {
        nanos % n
    }
}

impl LxcHost {
    /// Probes this host.
    pub fn probe() -> Self {
        let lxc_major = std::process::Command::new("lxc-start")
            .arg("--version")
            .output()
            .ok()
            .and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .find_map(|l| l.split('.').next()?.trim().parse().ok())
            })
            .unwrap_or(0);
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let cgroup_v2 = mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[1] == "/sys/fs/cgroup" && f[2] == "cgroup2"
        });
        let cgv2_controllers = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let cgv1_controllers: Vec<String> = mounts
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 3 && f[2] == "cgroup").then(|| f[3].to_string())
            })
            .flat_map(|opts| {
                opts.split(',')
                    .filter(|o| ["memory", "cpu", "cpuacct", "cpuset", "devices"].contains(o))
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let cgv1_memsw = cgv1_controllers.iter().any(|c| c == "memory")
            && Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists();
        let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.trim() == "Y");
        let cpuset = if cgroup_v2 {
            [
                "/sys/fs/cgroup/lxc/cpuset.cpus.effective",
                "/sys/fs/cgroup/cpuset.cpus.effective",
            ]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| (2, parse_cpu_list(&t)))
        } else {
            [
                "/sys/fs/cgroup/cpuset/lxc/cpuset.cpus",
                "/sys/fs/cgroup/cpuset/cpuset.cpus",
            ]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| (1, parse_cpu_list(&t)))
        };
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut nums = kernel
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        let (kmaj, kmin) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
        let new_socket = Path::new("/run/pve-lxc-syscalld/socket");
        let old_socket = Path::new("/run/pve/lxc-syscalld.sock");
        let dev_hooks = std::env::var_os("PVE_LXC_HOOK_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        Self {
            hook_dir: dev_hooks
                .clone()
                .unwrap_or_else(|| PathBuf::from("/usr/share/lxc")),
            lxc_hooks_dir: dev_hooks.unwrap_or_else(|| PathBuf::from("/usr/share/lxc/hooks")),
            lxc_major,
            cgroup_v2,
            cgv2_controllers,
            cgv1_controllers,
            cgv1_memsw,
            apparmor,
            lxc_config_path: PathBuf::from("/usr/share/lxc/config"),
            bridge_mtu: read_bridge_mtu,
            device_info: stat_device,
            cpuset,
            seccomp_notify: (kmaj, kmin) >= (5, 3),
            old_syscalld_socket: !new_socket.exists()
                && old_socket.exists()
                && !old_socket.is_symlink(),
            random: time_random,
        }
    }

    /// Whether the generated config names the PVE hooks itself (the host has no
    /// `common.conf.d/01-pve.conf` that names them).
    pub fn names_pve_hooks(&self) -> bool {
        !self
            .lxc_config_path
            .join("common.conf.d/01-pve.conf")
            .exists()
    }

    /// The hooks the generated config names that do not exist (a dev node without the
    /// binaries installed and without `$PVE_LXC_HOOK_DIR`).
    pub fn missing_hooks(&self) -> Vec<PathBuf> {
        if !self.names_pve_hooks() {
            return Vec::new();
        }
        PVE_HOOKS
            .iter()
            .map(|(_, name)| self.lxc_hooks_dir.join(name))
            .filter(|p| !p.is_file())
            .collect()
    }

    fn has_cgv2(&self, controller: &str) -> bool {
        self.cgv2_controllers.iter().any(|c| c == controller)
    }

    /// `controller` is a cgroup v1 hierarchy and not available in v2.
    fn has_cgv1(&self, controller: &str) -> bool {
        !self.has_cgv2(controller) && self.cgv1_controllers.iter().any(|c| c == controller)
    }
}

/// The LXC hook types and upstream's names of their programs.
pub const PVE_HOOKS: [(&str, &str); 3] = [
    ("pre-start", "lxc-pve-prestart-hook"),
    ("autodev", "lxc-pve-autodev-hook"),
    ("post-stop", "lxc-pve-poststop-hook"),
];

/// The generated config plus side files and warnings.
#[derive(Debug, Default)]
pub struct LxcConfig {
    /// The text of `/var/lib/lxc/<vmid>/config`.
    pub config: String,
    /// `rules.seccomp` for the container directory, when one is needed.
    pub seccomp_rules: Option<String>,
    pub warnings: Vec<String>,
}

fn features(conf: &CtSection) -> serde_json::Map<String, Value> {
    conf.get("features")
        .and_then(|f| {
            let format = crate::schema::option_format("features")?;
            pve_common::schema::property_string::parse_property_string(&format, f).ok()
        })
        .unwrap_or_default()
}

fn flag(map: &serde_json::Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(pve_common::schema::perl_truthy)
}

/// Upstream's `calculate_memory_constraints`: (max, high) in bytes for MiB.
pub fn memory_constraints(memory_mib: u64) -> (u64, u64) {
    let max = memory_mib * 1024 * 1024;
    let high = if memory_mib >= 16 * 1024 {
        (memory_mib - 128) * 1024 * 1024
    } else {
        memory_mib * 1024 * 1016
    };
    (max, high)
}

/// `PVE::CpuSet::short_string`: `0-3,5,7-8`.
pub fn cpuset_short_string(members: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = members.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

const SECCOMP_KEYCTL_ONLY: &str = "keyctl errno 38\n";

fn seccomp_config(
    conf: &CtSection,
    vmid: u32,
    dir: &Path,
    unprivileged: bool,
    feats: &serde_json::Map<String, Value>,
    host: &LxcHost,
    out: &mut LxcConfig,
) -> Result<String, String> {
    if conf.has_lxc_entry("lxc.seccomp.profile") {
        let warn: Vec<&str> = ["keyctl", "mknod"]
            .into_iter()
            .filter(|f| flag(feats, f))
            .collect();
        if !warn.is_empty() {
            out.warnings.push(format!(
                "explicitly configured lxc.seccomp.profile overrides the following settings: {}\n",
                warn.join(", ")
            ));
        }
        return Ok(String::new());
    }
    if !unprivileged {
        return Ok(String::new());
    }
    let mut rules: std::collections::BTreeMap<&str, Vec<&str>> = [
        ("keyctl", vec!["errno 38"]),
        (
            "ioctl",
            vec!["errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]"],
        ),
        ("socket", vec!["errno 97 [0,38,SCMP_CMP_EQ]"]),
    ]
    .into_iter()
    .collect();
    let mut raw = String::new();
    if flag(feats, "keyctl") {
        rules.remove("keyctl");
    }
    if flag(feats, "mknod") {
        if !host.seccomp_notify {
            return Err("'mknod' feature requested, but kernel too old (required >= 5.3)\n".into());
        }
        if host.old_syscalld_socket {
            raw.push_str("lxc.seccomp.notify.proxy = unix:/run/pve/lxc-syscalld.sock\n");
        } else {
            raw.push_str("lxc.seccomp.notify.proxy = unix:/run/pve-lxc-syscalld/socket\n");
        }
        raw.push_str(&format!("lxc.seccomp.notify.cookie = {vmid}\n"));
        rules.insert(
            "mknod",
            vec![
                "notify [1,8192,SCMP_CMP_MASKED_EQ,61440]",
                "notify [1,24576,SCMP_CMP_MASKED_EQ,61440]",
            ],
        );
        rules.insert(
            "mknodat",
            vec![
                "notify [2,8192,SCMP_CMP_MASKED_EQ,61440]",
                "notify [2,24576,SCMP_CMP_MASKED_EQ,61440]",
            ],
        );
    }
    let lines: Vec<String> = rules
        .iter()
        .flat_map(|(sc, rs)| rs.iter().map(move |r| format!("{sc} {r}")))
        .collect();
    let extra = lines.join("\n") + "\n";
    if extra == "\n" {
        return Ok(raw);
    }
    let cfg = host.lxc_config_path.display().to_string();
    if raw.is_empty() && extra == SECCOMP_KEYCTL_ONLY {
        return Ok(format!("lxc.seccomp.profile = {cfg}/pve-userns.seccomp\n"));
    }
    let common = std::fs::read_to_string(host.lxc_config_path.join("common.seccomp"))
        .map_err(|e| format!("unable to open file '{cfg}/common.seccomp' - {e}\n"))?;
    out.seccomp_rules = Some(common + &extra);
    raw.push_str(&format!(
        "lxc.seccomp.profile = {}\n",
        dir.join("rules.seccomp").display()
    ));
    Ok(raw)
}

fn apparmor_config(
    conf: &CtSection,
    feats: &serde_json::Map<String, Value>,
    out: &mut LxcConfig,
) -> String {
    let mut raw =
        "lxc.apparmor.profile = generated\nlxc.apparmor.raw = allow mqueue,\n".to_string();
    let mut uses = Vec::new();
    if flag(feats, "fuse") {
        uses.push("features:fuse");
    }
    if flag(feats, "nesting") {
        uses.push("features:nesting");
        raw.push_str("lxc.apparmor.allow_nesting = 1\nlxc.apparmor.raw = allow userns,\n");
    } else {
        raw.push_str("lxc.apparmor.raw = deny mount -> /proc/,\n");
        raw.push_str("lxc.apparmor.raw = deny mount -> /sys/,\n");
    }
    if let Some(mount) = feats
        .get("mount")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
    {
        uses.push("features:mount");
        for fs in pve_common::schema::split_list(mount) {
            raw.push_str(&format!("lxc.apparmor.raw = mount fstype={fs},\n"));
        }
    }
    if conf.has_lxc_entry("lxc.apparmor.profile") {
        if !uses.is_empty() {
            out.warnings.push(format!(
                "explicitly configured lxc.apparmor.profile overrides the following settings: {}\n",
                uses.join(", ")
            ));
        }
        return String::new();
    }
    raw
}

/// Generates the LXC config of a (non-template) container. `dir` is its directory
/// (`/var/lib/lxc/<vmid>`).
pub fn generate_lxc_config(
    vmid: u32,
    conf: &CtSection,
    dir: &Path,
    host: &LxcHost,
) -> Result<LxcConfig, String> {
    let mut out = LxcConfig::default();
    let mut raw = String::new();
    if host.lxc_major >= 4 {
        raw.push_str("lxc.cgroup.relative = 0\n");
        raw.push_str(&format!("lxc.cgroup.dir.monitor = lxc.monitor/{vmid}\n"));
        raw.push_str(&format!("lxc.cgroup.dir.container = lxc/{vmid}\n"));
        raw.push_str("lxc.cgroup.dir.container.inner = ns\n");
    }
    let arch = conf
        .get("arch")
        .filter(|a| !a.is_empty())
        .ok_or("missing 'arch' - internal error\n")?;
    raw.push_str(&format!("lxc.arch = {arch}\n"));
    let custom_idmap = conf.has_lxc_entry("lxc.idmap");
    let unprivileged = conf.get("unprivileged") == Some("1") || custom_idmap;
    let ostype = conf
        .get("ostype")
        .filter(|o| !o.is_empty())
        .ok_or("missing 'ostype' - internal error\n")?;
    let cfg = &host.lxc_config_path;
    let include = |name: &str, fallback: &str| {
        let p = cfg.join(name);
        if p.is_file() {
            p
        } else {
            cfg.join(fallback)
        }
    };
    raw.push_str(&format!(
        "lxc.include = {}\n",
        include(&format!("{ostype}.common.conf"), "common.conf").display()
    ));
    if unprivileged {
        raw.push_str(&format!(
            "lxc.include = {}\n",
            include(&format!("{ostype}.userns.conf"), "userns.conf").display()
        ));
    }
    // Upstream's pve-container installs these three lines as
    // `<config>/common.conf.d/01-pve.conf`, which the common include pulls in; without
    // that file on the host the generated config names the hooks itself, at the same
    // place.
    if host.names_pve_hooks() {
        for (kind, name) in PVE_HOOKS {
            raw.push_str(&format!(
                "lxc.hook.{kind} = {}\n",
                host.lxc_hooks_dir.join(name).display()
            ));
        }
    }
    let feats = features(conf);
    raw.push_str(&seccomp_config(
        conf,
        vmid,
        dir,
        unprivileged,
        &feats,
        host,
        &mut out,
    )?);
    if host.apparmor {
        raw.push_str(&apparmor_config(conf, &feats, &mut out));
    }
    if flag(&feats, "fuse") {
        if host.apparmor {
            raw.push_str("lxc.apparmor.raw = mount fstype=fuse,\n");
        }
        raw.push_str("lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file 0 0\n");
    }
    if unprivileged && !flag(&feats, "force_rw_sys") {
        raw.push_str("lxc.mount.auto = sys:mixed\n");
    }
    if conf.get("entrypoint").is_some_and(|e| e != "/sbin/init") {
        raw.push_str("lxc.mount.entry = shm dev/shm tmpfs rw,nosuid,nodev,create=dir 0 0\n");
    }
    let dev_format = crate::schema::option_format("dev").unwrap_or_default();
    let mut devs: Vec<(u32, &str)> = conf
        .values
        .iter()
        .filter_map(|(k, v)| {
            let idx = k.strip_prefix("dev")?.parse::<u32>().ok()?;
            Some((idx, v.as_str()))
        })
        .collect();
    devs.sort();
    for (idx, value) in devs {
        let dev = pve_common::schema::property_string::parse_property_string(&dev_format, value)?;
        let path = dev
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Path is not defined for passthrough device dev{idx}\n"))?;
        let (block, major, minor) = (host.device_info)(path)?;
        let kind = if block { 'b' } else { 'c' };
        let deny_write = flag(&dev, "deny-write");
        let perms = if deny_write { "r" } else { "rw" };
        raw.push_str(&format!(
            "lxc.cgroup2.devices.allow = {kind} {major}:{minor} {perms}\n"
        ));
        if deny_write {
            raw.push_str(&format!(
                "lxc.cgroup2.devices.deny = {kind} {major}:{minor} w\n"
            ));
        }
    }
    raw.push_str("lxc.monitor.unshare = 1\n");
    if unprivileged && !custom_idmap {
        raw.push_str("lxc.idmap = u 0 100000 65536\nlxc.idmap = g 0 100000 65536\n");
    }
    if conf.get("console") == Some("0") {
        raw.push_str("lxc.console.path = none\n");
        if host.cgroup_v2 {
            raw.push_str("lxc.cgroup2.devices.deny = c 5:1 rwm\n");
        }
    }
    let tty = conf.get("tty").unwrap_or("2");
    raw.push_str(&format!("lxc.tty.max = {tty}\n"));
    raw.push_str("lxc.environment = TERM=linux\n");
    let utsname = conf
        .get("hostname")
        .filter(|h| !h.is_empty())
        .map_or_else(|| format!("CT{vmid}"), str::to_string);
    raw.push_str(&format!("lxc.uts.name = {utsname}\n"));
    let memory: u64 = conf
        .get("memory")
        .and_then(|m| m.parse().ok())
        .filter(|m| *m > 0)
        .unwrap_or(512);
    let swap: u64 = conf.get("swap").and_then(|m| m.parse().ok()).unwrap_or(0);
    if host.has_cgv1("memory") {
        // A legacy (v1) hierarchy: current upstream writes only cgroup2 keys; these are
        // the limits upstream wrote for v1 hosts (PVE 7) and sets on a running CT.
        raw.push_str(&format!(
            "lxc.cgroup.memory.limit_in_bytes = {}\n",
            memory * 1024 * 1024
        ));
        if host.cgv1_memsw {
            raw.push_str(&format!(
                "lxc.cgroup.memory.memsw.limit_in_bytes = {}\n",
                (memory + swap) * 1024 * 1024
            ));
        }
    }
    if host.has_cgv1("cpu") {
        if let Some(limit) = conf
            .get("cpulimit")
            .and_then(|c| c.parse::<f64>().ok())
            .filter(|c| *c != 0.0)
        {
            raw.push_str("lxc.cgroup.cpu.cfs_period_us = 100000\n");
            raw.push_str(&format!(
                "lxc.cgroup.cpu.cfs_quota_us = {}\n",
                (100000.0 * limit) as u64
            ));
        }
        if let Some(units) = conf.get("cpuunits").and_then(|c| c.parse::<u64>().ok()) {
            // v1 shares: 2 ..= 262144
            raw.push_str(&format!(
                "lxc.cgroup.cpu.shares = {}\n",
                units.clamp(2, 262144)
            ));
        }
    }
    if host.has_cgv2("memory") {
        let (max, high) = memory_constraints(memory);
        raw.push_str(&format!("lxc.cgroup2.memory.max = {max}\n"));
        raw.push_str(&format!("lxc.cgroup2.memory.high = {high}\n"));
        raw.push_str(&format!(
            "lxc.cgroup2.memory.swap.max = {}\n",
            swap * 1024 * 1024
        ));
    }
    if host.has_cgv2("cpu") {
        if let Some(limit) = conf
            .get("cpulimit")
            .and_then(|c| c.parse::<f64>().ok())
            .filter(|c| *c != 0.0)
        {
            raw.push_str(&format!(
                "lxc.cgroup2.cpu.max = {} 100000\n",
                (100000.0 * limit) as u64
            ));
        }
        if let Some(units) = conf.get("cpuunits").and_then(|c| c.parse::<u64>().ok()) {
            let shares = if host.cgroup_v2 {
                units.min(10000)
            } else {
                units.max(2)
            };
            raw.push_str(&format!("lxc.cgroup2.cpu.weight = {shares}\n"));
        }
    }
    let rootfs = conf
        .get("rootfs")
        .ok_or("missing 'rootfs' configuration\n")?;
    crate::volumes::parse_volume("rootfs", rootfs)?;
    raw.push_str(&format!("lxc.rootfs.path = {}/rootfs\n", dir.display()));
    if let Some(entry) = conf.get("entrypoint") {
        raw.push_str(&format!("lxc.init.cmd = {entry}\n"));
    }
    // Upstream sorts the keys as strings: net0, net1, net10, net11, …, net2.
    let mut nets: Vec<(&String, &String)> = conf
        .values
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix("net")
                .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    nets.sort();
    for (key, value) in nets {
        let ind = &key[3..];
        let d = parse_lxc_network(value)?;
        let get = |k: &str| d.props.get(k).and_then(Value::as_str).map(str::to_string);
        raw.push_str(&format!("lxc.net.{ind}.type = veth\n"));
        raw.push_str(&format!("lxc.net.{ind}.veth.pair = veth{vmid}i{ind}\n"));
        if let Some(hw) = get("hwaddr") {
            raw.push_str(&format!("lxc.net.{ind}.hwaddr = {hw}\n"));
        }
        if let Some(name) = &d.name {
            raw.push_str(&format!("lxc.net.{ind}.name = {name}\n"));
        }
        let bridge = get("bridge").unwrap_or_default();
        let bridge_mtu = (host.bridge_mtu)(&bridge)?;
        let mtu = d
            .props
            .get("mtu")
            .and_then(Value::as_u64)
            .filter(|m| *m > 0)
            .map_or(bridge_mtu, |m| m as u32);
        if mtu > bridge_mtu {
            return Err(format!(
                "{key}: MTU size '{mtu}' is bigger than bridge MTU '{bridge_mtu}'\n"
            ));
        }
        raw.push_str(&format!("lxc.net.{ind}.mtu = {mtu}\n"));
        if host.lxc_major >= 4 {
            raw.push_str(&format!(
                "lxc.net.{ind}.script.up = {}\n",
                host.hook_dir.join("lxcnetaddbr").display()
            ));
        }
        if !flag(&d.props, "link_down") && flag(&d.props, "host-managed") {
            if let Some(ip) = d.ip.as_deref().filter(|i| *i != "dhcp" && *i != "manual") {
                raw.push_str(&format!("lxc.net.{ind}.ipv4.address = {ip}\n"));
            }
            if let Some(gw) = &d.gw {
                raw.push_str(&format!("lxc.net.{ind}.ipv4.gateway = {gw}\n"));
            }
            if let Some(ip6) = &d.ip6 {
                if ip6 == "auto" {
                    return Err(format!(
                        "{key}: SLAAC is not supported for host-managed network configuration\n"
                    ));
                }
                if ip6 != "dhcp" && ip6 != "manual" {
                    raw.push_str(&format!("lxc.net.{ind}.ipv6.address = {ip6}\n"));
                }
            }
            if let Some(gw6) = &d.gw6 {
                raw.push_str(&format!("lxc.net.{ind}.ipv6.gateway = {gw6}\n"));
            }
            raw.push_str(&format!("lxc.net.{ind}.flags = up\n"));
        }
    }
    if let Some(env) = conf.get("env") {
        for var in env.split('\0').filter(|v| !v.is_empty()) {
            raw.push_str(&format!("lxc.environment.runtime = {var}\n"));
        }
    }
    let mut had_cpuset = false;
    for (k, v) in &conf.lxc {
        had_cpuset |= k == "lxc.cgroup2.cpuset.cpus";
        raw.push_str(&format!("{k} = {v}\n"));
    }
    let cores: usize = conf.get("cores").and_then(|c| c.parse().ok()).unwrap_or(0);
    if let (false, true, Some((version, members))) = (had_cpuset, cores > 0, &host.cpuset) {
        let mut members = members.clone();
        while members.len() > cores {
            let idx = (host.random)(members.len()).min(members.len() - 1);
            members.remove(idx);
        }
        let ver = if *version == 1 { "" } else { "2" };
        raw.push_str(&format!(
            "lxc.cgroup{ver}.cpuset.cpus = {}\n",
            cpuset_short_string(&members)
        ));
    }
    out.config = raw;
    Ok(out)
}

/// Upstream's `update_lxc_config`: writes `/var/lib/lxc/<vmid>/config` (and the
/// seccomp rules file when needed); a template only gets its old config removed.
/// Returns the warnings upstream prints.
pub fn update_lxc_config(
    paths: &pve_common::paths::NodePaths,
    vmid: u32,
    conf: &CtSection,
    host: &LxcHost,
) -> Result<Vec<String>, String> {
    update_lxc_config_in(&paths.lxc_dir(), vmid, conf, host)
}

/// [`update_lxc_config`] below another base directory.
pub fn update_lxc_config_in(
    base: &Path,
    vmid: u32,
    conf: &CtSection,
    host: &LxcHost,
) -> Result<Vec<String>, String> {
    let dir = base.join(vmid.to_string());
    if conf.get("template") == Some("1") {
        let _ = std::fs::remove_file(dir.join("config"));
        return Ok(Vec::new());
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}\n", dir.display()))?;
    let generated = generate_lxc_config(vmid, conf, &dir, host)?;
    let write = |path: PathBuf, data: &str| -> Result<(), String> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, data)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("unable to write '{}' - {e}\n", path.display())
            })
    };
    if let Some(rules) = &generated.seccomp_rules {
        write(dir.join("rules.seccomp"), rules)?;
    }
    std::fs::create_dir_all(dir.join("rootfs"))
        .map_err(|e| format!("mkdir {}/rootfs: {e}\n", dir.display()))?;
    write(dir.join("config"), &generated.config)?;
    Ok(generated.warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(apparmor: bool) -> LxcHost {
        LxcHost {
            hook_dir: PathBuf::from("/usr/share/lxc"),
            lxc_hooks_dir: PathBuf::from("/usr/share/lxc/hooks"),
            lxc_major: 6,
            cgroup_v2: true,
            cgv2_controllers: vec!["cpuset".into(), "cpu".into(), "memory".into()],
            cgv1_controllers: Vec::new(),
            cgv1_memsw: false,
            apparmor,
            lxc_config_path: PathBuf::from("/nonexistent/lxc/config"),
            bridge_mtu: |b| {
                if b == "vmbr0" {
                    Ok(1500)
                } else {
                    Err(format!("bridge '{b}' does not exist\n"))
                }
            },
            device_info: |p| {
                if p == "/dev/ttyUSB0" {
                    Ok((false, 188, 0))
                } else {
                    Ok((true, 8, 16))
                }
            },
            cpuset: Some((2, vec![0, 1, 2, 3, 4, 5, 6, 7])),
            seccomp_notify: true,
            old_syscalld_socket: false,
            random: |_| 0,
        }
    }

    fn conf(raw: &str) -> CtSection {
        crate::config::parse_ct_config(100, raw, true)
            .unwrap()
            .config
            .main
    }

    #[test]
    fn unprivileged_full_config() {
        let c = conf(
            "arch: amd64\nostype: debian\nhostname: ct1\nunprivileged: 1\nmemory: 1024\nswap: 256\ncores: 2\ncpulimit: 1.5\ncpuunits: 20000\nfeatures: nesting=1,keyctl=1\nrootfs: local:100/vm-100-disk-0.raw,size=8G\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\ndev0: /dev/ttyUSB0,deny-write=1\nlxc.environment.runtime: A=1\nlxc.mount.entry: /srv srv none bind 0 0\n",
        );
        let cfgdir = std::env::temp_dir().join(format!("lxc-share-{}", std::process::id()));
        std::fs::create_dir_all(&cfgdir).unwrap();
        std::fs::write(cfgdir.join("common.seccomp"), "2\ndenylist\n").unwrap();
        std::fs::write(cfgdir.join("debian.common.conf"), "").unwrap();
        let mut h = host(true);
        h.lxc_config_path = cfgdir.clone();
        let out = generate_lxc_config(100, &c, Path::new("/var/lib/lxc/100"), &h).unwrap();
        let want = "lxc.cgroup.relative = 0
lxc.cgroup.dir.monitor = lxc.monitor/100
lxc.cgroup.dir.container = lxc/100
lxc.cgroup.dir.container.inner = ns
lxc.arch = amd64
lxc.include = CFG/debian.common.conf
lxc.include = CFG/userns.conf
lxc.hook.pre-start = /usr/share/lxc/hooks/lxc-pve-prestart-hook
lxc.hook.autodev = /usr/share/lxc/hooks/lxc-pve-autodev-hook
lxc.hook.post-stop = /usr/share/lxc/hooks/lxc-pve-poststop-hook
lxc.seccomp.profile = /var/lib/lxc/100/rules.seccomp
lxc.apparmor.profile = generated
lxc.apparmor.raw = allow mqueue,
lxc.apparmor.allow_nesting = 1
lxc.apparmor.raw = allow userns,
lxc.mount.auto = sys:mixed
lxc.cgroup2.devices.allow = c 188:0 r
lxc.cgroup2.devices.deny = c 188:0 w
lxc.monitor.unshare = 1
lxc.idmap = u 0 100000 65536
lxc.idmap = g 0 100000 65536
lxc.tty.max = 2
lxc.environment = TERM=linux
lxc.uts.name = ct1
lxc.cgroup2.memory.max = 1073741824
lxc.cgroup2.memory.high = 1065353216
lxc.cgroup2.memory.swap.max = 268435456
lxc.cgroup2.cpu.max = 150000 100000
lxc.cgroup2.cpu.weight = 10000
lxc.rootfs.path = /var/lib/lxc/100/rootfs
lxc.net.0.type = veth
lxc.net.0.veth.pair = veth100i0
lxc.net.0.hwaddr = BC:24:11:00:00:01
lxc.net.0.name = eth0
lxc.net.0.mtu = 1500
lxc.net.0.script.up = /usr/share/lxc/lxcnetaddbr
lxc.environment.runtime = A=1
lxc.mount.entry = /srv srv none bind 0 0
lxc.cgroup2.cpuset.cpus = 6-7
";
        assert_eq!(
            out.config,
            want.replace("CFG", &cfgdir.display().to_string())
        );
        assert_eq!(
            out.seccomp_rules.as_deref(),
            Some("2\ndenylist\nioctl errno 1 [1,0x9400,SCMP_CMP_MASKED_EQ,0xff00]\nsocket errno 97 [0,38,SCMP_CMP_EQ]\n")
        );
        // a host whose common include names the hooks gets none in the config
        std::fs::create_dir_all(cfgdir.join("common.conf.d")).unwrap();
        std::fs::write(cfgdir.join("common.conf.d/01-pve.conf"), "").unwrap();
        let out = generate_lxc_config(100, &c, Path::new("/var/lib/lxc/100"), &h).unwrap();
        assert!(!out.config.contains("lxc.hook."));
        assert!(h.missing_hooks().is_empty());
        std::fs::remove_dir_all(&cfgdir).unwrap();
        let mut h = host(false);
        h.lxc_hooks_dir = PathBuf::from("/nonexistent/hooks");
        assert_eq!(
            h.missing_hooks()[0],
            PathBuf::from("/nonexistent/hooks/lxc-pve-prestart-hook")
        );
    }

    /// A legacy (v1) host gets v1 memory and cpu limits; no cgroup2 limits there.
    #[test]
    fn cgroup_v1_limits() {
        let c = conf(
            "arch: amd64\nostype: debian\nmemory: 1024\nswap: 256\ncpulimit: 1.5\ncpuunits: 1\nrootfs: /x\n",
        );
        let mut h = host(true);
        h.cgroup_v2 = false;
        h.cgv2_controllers.clear();
        h.cgv1_controllers = vec!["cpu".into(), "memory".into()];
        h.cgv1_memsw = true;
        let text = generate_lxc_config(100, &c, Path::new("/d"), &h)
            .unwrap()
            .config;
        for line in [
            "lxc.cgroup.memory.limit_in_bytes = 1073741824\n",
            "lxc.cgroup.memory.memsw.limit_in_bytes = 1342177280\n",
            "lxc.cgroup.cpu.cfs_period_us = 100000\n",
            "lxc.cgroup.cpu.cfs_quota_us = 150000\n",
            "lxc.cgroup.cpu.shares = 2\n",
        ] {
            assert!(text.contains(line), "{line} missing in:\n{text}");
        }
        assert!(!text.contains("lxc.cgroup2.memory"), "{text}");
        h.cgv1_memsw = false;
        let text = generate_lxc_config(100, &c, Path::new("/d"), &h)
            .unwrap()
            .config;
        assert!(!text.contains("memsw"), "{text}");
    }

    #[test]
    fn privileged_without_apparmor_and_errors() {
        let c = conf(
            "arch: amd64\nostype: alpine\nconsole: 0\nrootfs: /srv/ct,size=0\nnet0: name=eth0,bridge=vmbr0,mtu=1400,ip=10.0.0.2/24,gw=10.0.0.1,host-managed=1\n",
        );
        let out = generate_lxc_config(100, &c, Path::new("/d"), &host(false)).unwrap();
        assert!(!out.config.contains("apparmor"));
        assert!(!out.config.contains("lxc.idmap"));
        assert!(out
            .config
            .contains("lxc.console.path = none\nlxc.cgroup2.devices.deny = c 5:1 rwm\n"));
        assert!(out.config.contains("lxc.uts.name = CT100\n"));
        assert!(out.config.contains(
            "lxc.net.0.mtu = 1400\nlxc.net.0.script.up = /usr/share/lxc/lxcnetaddbr\nlxc.net.0.ipv4.address = 10.0.0.2/24\nlxc.net.0.ipv4.gateway = 10.0.0.1\nlxc.net.0.flags = up\n"
        ));
        assert!(out.config.contains("lxc.cgroup2.memory.max = 536870912\n"));

        let big = conf(
            "arch: amd64\nostype: debian\nrootfs: /x\nnet0: name=eth0,bridge=vmbr0,mtu=9000\n",
        );
        assert_eq!(
            generate_lxc_config(100, &big, Path::new("/d"), &host(false)).unwrap_err(),
            "net0: MTU size '9000' is bigger than bridge MTU '1500'\n"
        );
        let nobridge =
            conf("arch: amd64\nostype: debian\nrootfs: /x\nnet0: name=eth0,bridge=vmbr9\n");
        assert_eq!(
            generate_lxc_config(100, &nobridge, Path::new("/d"), &host(false)).unwrap_err(),
            "bridge 'vmbr9' does not exist\n"
        );
        let noroot = conf("arch: amd64\nostype: debian\n");
        assert_eq!(
            generate_lxc_config(100, &noroot, Path::new("/d"), &host(false)).unwrap_err(),
            "missing 'rootfs' configuration\n"
        );
    }

    #[test]
    fn custom_idmap_and_seccomp_profile_override() {
        let c = conf(
            "arch: amd64\nostype: debian\nrootfs: /x\nfeatures: keyctl=1\nlxc.idmap: u 0 200000 65536\nlxc.idmap: g 0 200000 65536\nlxc.seccomp.profile: /my.seccomp\n",
        );
        let out = generate_lxc_config(100, &c, Path::new("/d"), &host(false)).unwrap();
        assert!(out
            .config
            .contains("lxc.include = /nonexistent/lxc/config/userns.conf\n"));
        assert!(!out.config.contains("lxc.idmap = u 0 100000"));
        assert!(out.config.contains("lxc.idmap = u 0 200000 65536\n"));
        assert_eq!(
            out.warnings,
            ["explicitly configured lxc.seccomp.profile overrides the following settings: keyctl\n"]
        );
    }

    #[test]
    fn default_unprivileged_seccomp() {
        let c = conf("arch: amd64\nostype: debian\nrootfs: /x\nunprivileged: 1\n");
        let err = generate_lxc_config(100, &c, Path::new("/d"), &host(false)).unwrap_err();
        assert!(err.starts_with("unable to open file '/nonexistent/lxc/config/common.seccomp'"));
        let c = conf("arch: amd64\nostype: debian\nrootfs: /x\nunprivileged: 0\n");
        let out = generate_lxc_config(100, &c, Path::new("/d"), &host(false)).unwrap();
        assert!(!out.config.contains("seccomp"));
    }

    #[test]
    fn writes_files_and_templates() {
        let base = std::env::temp_dir().join(format!("lxc-cfg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let c = conf("arch: amd64\nostype: debian\nrootfs: /x\n");
        update_lxc_config_in(&base, 100, &c, &host(false)).unwrap();
        let text = std::fs::read_to_string(base.join("100/config")).unwrap();
        assert!(text.starts_with("lxc.cgroup.relative = 0\n"));
        assert!(base.join("100/rootfs").is_dir());
        let t = conf("arch: amd64\nostype: debian\nrootfs: /x\ntemplate: 1\n");
        update_lxc_config_in(&base, 100, &t, &host(false)).unwrap();
        assert!(!base.join("100/config").exists());
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(cpuset_short_string(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
        assert_eq!(memory_constraints(32768).1, (32768 - 128) * 1024 * 1024);
    }
}
