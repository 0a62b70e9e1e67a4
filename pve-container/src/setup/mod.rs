//! Distribution setup inside a container's root file system (upstream's
//! `PVE::LXC::Setup` and its plugins): detection of the distribution, and the
//! post-create / pre-start hooks that write hostname, hosts, network configuration, DNS,
//! root password, SSH keys, time zone and init/getty tweaks.
//!
//! All file access goes through [`CtFs`], which resolves paths like a chroot would.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::CtSection;

mod accounts;
pub mod ctfs;
mod debian;
mod init;
pub mod net;
mod redhat;
mod suse;
mod ubuntu;

pub use ctfs::{CtFs, ModifyOpts};

/// The distributions setup knows (upstream's plugin names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distro {
    Debian,
    Devuan,
    Ubuntu,
    Alpine,
    CentOS,
    Fedora,
    Suse,
    Unmanaged,
}

impl Distro {
    pub fn ostype(self) -> &'static str {
        match self {
            Distro::Debian => "debian",
            Distro::Devuan => "devuan",
            Distro::Ubuntu => "ubuntu",
            Distro::Alpine => "alpine",
            Distro::CentOS => "centos",
            Distro::Fedora => "fedora",
            Distro::Suse => "opensuse",
            Distro::Unmanaged => "unmanaged",
        }
    }
}

/// Upstream's known plugin names, with the aliases of related flavours.
fn plugin_for(id: &str) -> Option<&'static str> {
    Some(match id {
        "alpine" => "alpine",
        "archlinux" | "arch" => "archlinux",
        "centos" | "rocky" | "almalinux" => "centos",
        "debian" => "debian",
        "devuan" => "devuan",
        "fedora" => "fedora",
        "gentoo" => "gentoo",
        "openeuler" | "openEuler" => "openeuler",
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" | "opensuse-slowroll" | "sles" => {
            "opensuse"
        }
        "ubuntu" => "ubuntu",
        "nixos" => "nixos",
        "unmanaged" => "unmanaged",
        _ => return None,
    })
}

/// What setup takes from the host (or the test harness).
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// Name servers of the host's resolv.conf (at most three).
    pub dns: Vec<String>,
    /// The host's search domains.
    pub search: Option<String>,
    /// The host's time zone name.
    pub timezone: Option<String>,
    /// Where the host's /etc/localtime points to.
    pub localtime: String,
}

impl HostInfo {
    /// Reads /etc/resolv.conf, /etc/timezone and /etc/localtime of this host.
    pub fn from_host() -> Self {
        let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut dns = Vec::new();
        let mut search = None;
        for line in resolv.lines() {
            let mut parts = line.split_whitespace();
            match parts.next() {
                Some("nameserver") => {
                    if let Some(ns) = parts.next() {
                        if dns.len() < 3 {
                            dns.push(ns.to_string());
                        }
                    }
                }
                Some("search") | Some("domain") => {
                    let rest: Vec<&str> = parts.collect();
                    if !rest.is_empty() {
                        search = Some(rest.join(" "));
                    }
                }
                _ => {}
            }
        }
        let localtime = std::fs::canonicalize("/etc/localtime")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/usr/share/zoneinfo/UTC".into());
        let timezone = std::fs::read_to_string("/etc/timezone")
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
            .or_else(|| {
                localtime
                    .strip_prefix("/usr/share/zoneinfo/")
                    .map(str::to_string)
            });
        Self {
            dns,
            search,
            timezone,
            localtime,
        }
    }
}

/// Options of a setup run.
#[derive(Clone, Debug)]
pub struct SetupOptions {
    /// Upstream's `testmode`: DNS defaults `8.8.8.8 8.8.8.9` / `proxmox.com`.
    pub testmode: bool,
    pub host: HostInfo,
    /// Generate SSH host keys after the post-create hook (needs `ssh-keygen`).
    pub ssh_host_keys: bool,
    /// Source of connection UUIDs (NetworkManager, network-scripts).
    pub uuid: fn() -> String,
    /// Seed of the crontab minute randomiser (drand48, as Perl's `srand`); `None`: time.
    pub seed: Option<u64>,
}

impl Default for SetupOptions {
    fn default() -> Self {
        Self {
            testmode: false,
            host: HostInfo::from_host(),
            ssh_host_keys: true,
            uuid: random_uuid,
            seed: None,
        }
    }
}

fn random_uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "00000000-0000-0000-0000-000000000000".into())
}

/// Perl's `rand()`: drand48.
pub struct Drand48(u64);

impl Drand48 {
    pub fn new(seed: u64) -> Self {
        Self(((seed & 0xffff_ffff) << 16) | 0x330e)
    }
    pub fn next_f64(&mut self) -> f64 {
        self.0 = (0x5_deec_e66d_u64.wrapping_mul(self.0).wrapping_add(0xb)) & ((1 << 48) - 1);
        self.0 as f64 / (1u64 << 48) as f64
    }
}

/// `os-release(5)` parsing as upstream.
pub fn parse_os_release(data: &str) -> BTreeMap<String, String> {
    let line_re = regex::Regex::new(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)=(.*)$").expect("valid regex");
    let dq = regex::Regex::new(r#"^"((?:[^"\\]|\\.)*)""#).expect("valid regex");
    let plain = regex::Regex::new(r"^([A-Za-z0-9]*)").expect("valid regex");
    let mut vars = BTreeMap::new();
    for line in data.split('\n').filter(|l| !l.is_empty()) {
        let Some(c) = line_re.captures(line) else {
            continue;
        };
        let (var, content) = (c[1].to_string(), &c[2]);
        if let Some(rest) = content.strip_prefix('\'') {
            if let Some(end) = rest.find('\'') {
                vars.insert(var, rest[..end].to_string());
                continue;
            }
        }
        if let Some(m) = dq.captures(content) {
            let mut out = String::new();
            let mut chars = m[1].chars();
            while let Some(ch) = chars.next() {
                if ch == '\\' {
                    match chars.next() {
                        Some(e @ ('"' | '\'' | '`' | '$' | '\\')) => out.push(e),
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(o) => {
                            out.push('\\');
                            out.push(o);
                        }
                        None => out.push('\\'),
                    }
                } else {
                    out.push(ch);
                }
            }
            vars.insert(var, out);
        } else if let Some(m) = plain.captures(content) {
            vars.insert(var, m[1].to_string());
        }
    }
    vars
}

/// Upstream's `split_list` (`PVE::Tools`): on NUL if present, else `[,;\s]`.
fn split_list(text: &str) -> Vec<String> {
    pve_common::schema::split_list(text)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// A setup session for one container root file system.
pub struct Setup {
    pub conf: CtSection,
    pub fs: CtFs,
    pub distro: Distro,
    /// The distribution version as the plugin keeps it (Debian: major number).
    pub version: Option<String>,
    pub os_release: BTreeMap<String, String>,
    pub opts: SetupOptions,
    /// Warnings upstream prints or logs.
    pub warnings: Vec<String>,
    /// Informational output upstream prints.
    pub messages: Vec<String>,
    rng: Drand48,
}

impl Setup {
    /// Upstream's `PVE::LXC::Setup->new($conf, $rootdir)`: detects the distribution
    /// (the detected type wins over `ostype`, which only warns; `ostype: unmanaged` skips
    /// detection), sets `ostype` and, when unset, `arch` in the config.
    pub fn new(conf: &CtSection, rootdir: &Path, opts: SetupOptions) -> Result<Self, String> {
        if rootdir.as_os_str().is_empty() || rootdir == Path::new("/") {
            return Err("no root directory\n".into());
        }
        let idmap = crate::idmap::section_id_maps(conf)?;
        let owner =
            (!idmap.entries.is_empty()).then_some((idmap.root_uid as u32, idmap.root_gid as u32));
        let fs = CtFs::new(rootdir, owner);
        let mut warnings = Vec::new();
        let os_release_text = if fs.file_exists("/etc/os-release") {
            fs.get_contents("/etc/os-release").ok()
        } else if fs.file_exists("/usr/lib/os-release") {
            fs.get_contents("/usr/lib/os-release").ok()
        } else {
            None
        };
        let os_release = parse_os_release(os_release_text.as_deref().unwrap_or(""));
        let mut conf = conf.clone();
        let kind = if conf.get("ostype") == Some("unmanaged") {
            "unmanaged".to_string()
        } else {
            let detected = autodetect(&fs, &os_release, &mut warnings)?;
            let expected = conf
                .get("ostype")
                .filter(|o| !o.is_empty())
                .unwrap_or(&detected)
                .to_string();
            if detected != expected {
                if !fs.exists("/etc") {
                    warnings
                        .push("WARNING: /etc not present in CT, is the rootfs mounted?\n".into());
                }
                warnings.push(format!(
                    "got unexpected ostype ({detected} != {expected})\n"
                ));
            }
            detected
        };
        let (distro, version) = match kind.as_str() {
            "debian" => (
                Distro::Debian,
                Some(debian::debian_version(&fs, &mut warnings)?),
            ),
            "devuan" => (Distro::Devuan, Some(debian::devuan_version(&fs)?)),
            "alpine" => (Distro::Alpine, fs.read_firstline("/etc/alpine-release")),
            "centos" => (Distro::CentOS, Some(redhat::centos_version_of_root(&fs)?)),
            "fedora" => (Distro::Fedora, Some(redhat::fedora_version(&os_release)?)),
            "opensuse" => (Distro::Suse, Some(suse::suse_version(&os_release)?)),
            "unmanaged" => (Distro::Unmanaged, None),
            "ubuntu" => (
                Distro::Ubuntu,
                Some(ubuntu::ubuntu_version(&fs, &mut warnings)?),
            ),
            other => return Err(format!("no such OS type '{other}'\n")),
        };
        if distro != Distro::Unmanaged {
            conf.set("ostype", distro.ostype());
        }
        let mut messages = Vec::new();
        if conf.get("arch").is_none() {
            let arch = if distro == Distro::Unmanaged {
                None
            } else {
                match detect_elf_architecture(&fs, "/bin/sh") {
                    Ok(a) => Some(a),
                    Err(e) => {
                        warnings.push(format!("Architecture detection failed: {e}"));
                        None
                    }
                }
            };
            match arch {
                Some(a) => {
                    messages.push(format!("Detected container architecture: {a}\n"));
                    conf.set("arch", a);
                }
                None => {
                    messages.push(
                        "Falling back to amd64.\nUse `pct set VMID --arch ARCH` to change.\n"
                            .into(),
                    );
                    conf.set("arch", "amd64");
                }
            }
        }
        let seed = opts.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
        Ok(Self {
            conf,
            fs,
            distro,
            version,
            os_release,
            opts,
            warnings,
            messages,
            rng: Drand48::new(seed),
        })
    }

    /// Re-seeds the crontab minute randomiser (Perl's `srand`).
    pub fn srand(&mut self, seed: u64) {
        self.rng = Drand48::new(seed);
    }

    fn testmode(&self) -> bool {
        self.opts.testmode
    }

    /// `lookup_dns_conf`: (search domains, name servers).
    pub fn lookup_dns_conf(&self) -> (Option<String>, String) {
        let mut nameserver = self.conf.get("nameserver").map(str::to_string);
        let mut search = self.conf.get("searchdomain").map(str::to_string);
        if self.testmode() {
            nameserver.get_or_insert_with(|| "8.8.8.8 8.8.8.9".into());
            search.get_or_insert_with(|| "proxmox.com".into());
        }
        let nameserver = nameserver.unwrap_or_else(|| self.opts.host.dns.join(" "));
        let search = search.or_else(|| self.opts.host.search.clone());
        (search, nameserver)
    }

    fn tty_count(&self) -> u32 {
        self.conf
            .get("tty")
            .and_then(|t| t.parse().ok())
            .unwrap_or(2)
    }

    fn devttydir(&self) -> &'static str {
        match self.distro {
            Distro::Debian | Distro::Devuan | Distro::Ubuntu | Distro::Alpine => "",
            _ if self.conf.get("unprivileged") == Some("1") => "",
            _ => "lxc/",
        }
    }

    fn uses_systemd_init(&self) -> bool {
        self.fs
            .readlink("/sbin/init")
            .is_some_and(|l| l.ends_with("/systemd"))
    }

    /// The post-create hook: run once after a container was created from a template.
    pub fn post_create_hook(
        &mut self,
        root_password: Option<&str>,
        ssh_keys: Option<&str>,
    ) -> Result<(), String> {
        if self.distro == Distro::Unmanaged {
            return Ok(());
        }
        self.clear_machine_id(false)?;
        if matches!(
            self.distro,
            Distro::Debian | Distro::Devuan | Distro::Ubuntu
        ) {
            self.snakeoil_fixup()?;
        }
        self.template_fixup()?;
        self.randomize_crontab()?;
        self.set_user_password("root", root_password)?;
        if let Some(keys) = ssh_keys.filter(|k| !k.is_empty()) {
            self.set_user_authorized_ssh_keys("root", keys)?;
        }
        self.setup_init()?;
        self.setup_network()?;
        self.set_hostname()?;
        self.set_dns()?;
        self.set_timezone()?;
        if self.opts.ssh_host_keys {
            self.rewrite_ssh_host_keys()?;
        }
        self.check_systemd_nesting();
        Ok(())
    }

    /// The pre-start hook: network, hostname, DNS and time zone on every start.
    pub fn pre_start_hook(&mut self) -> Result<(), String> {
        if self.distro == Distro::Unmanaged {
            return Ok(());
        }
        self.fs.set_contents("/fastboot", "", None)?;
        self.setup_init()?;
        self.setup_network()?;
        self.set_hostname()?;
        self.set_dns()?;
        self.set_timezone()?;
        self.check_systemd_nesting();
        Ok(())
    }

    fn template_fixup(&mut self) -> Result<(), String> {
        match self.distro {
            Distro::Alpine => {
                for (target, link) in [
                    ("/etc/init.d/networking", "/etc/runlevels/boot/networking"),
                    ("/etc/init.d/bootmisc", "/etc/runlevels/boot/bootmisc"),
                    ("/etc/init.d/hostname", "/etc/runlevels/boot/hostname"),
                    ("/etc/init.d/killprocs", "/etc/runlevels/shutdown/killprocs"),
                    ("/etc/init.d/savecache", "/etc/runlevels/shutdown/savecache"),
                ] {
                    self.fs.symlink(target, link);
                }
                self.setup_securetty(&[])?;
                self.remove_lxc_name_from_etc_hosts()
            }
            Distro::CentOS => redhat::centos_template_fixup(self),
            Distro::Fedora => {
                self.setup_securetty(&[])?;
                self.fs.unlink("/etc/systemd/system/getty@.service");
                self.remove_lxc_name_from_etc_hosts()
            }
            Distro::Suse => suse::template_fixup(self),
            Distro::Ubuntu => ubuntu::template_fixup(self),
            Distro::Debian | Distro::Devuan | Distro::Unmanaged => Ok(()),
        }
    }

    fn setup_init(&mut self) -> Result<(), String> {
        match self.distro {
            Distro::Debian | Distro::Devuan => debian::setup_init(self),
            Distro::Alpine => debian::alpine_setup_init(self),
            Distro::CentOS => {
                self.fixup_old_getty()?;
                self.setup_container_getty_service()?;
                if redhat::version_num(self) >= 8.0 {
                    self.setup_systemd_preset(&[])?;
                }
                Ok(())
            }
            Distro::Fedora => {
                self.setup_container_getty_service()?;
                if redhat::version_num(self) >= 37.0 {
                    self.setup_systemd_preset(&[("systemd-networkd.service", true)])?;
                }
                Ok(())
            }
            Distro::Suse => {
                self.fixup_old_getty()?;
                self.setup_container_getty_service()
            }
            Distro::Ubuntu => ubuntu::setup_init(self),
            Distro::Unmanaged => Ok(()),
        }
    }

    fn setup_network(&mut self) -> Result<(), String> {
        match self.distro {
            Distro::Debian | Distro::Devuan => {
                let conf = self.conf.clone();
                debian::setup_network(self, &conf)
            }
            Distro::Alpine => debian::alpine_setup_network(self),
            Distro::CentOS => redhat::centos_setup_network(self),
            Distro::Fedora => redhat::fedora_setup_network(self),
            Distro::Suse => suse::setup_network(self),
            Distro::Ubuntu => ubuntu::setup_network(self),
            Distro::Unmanaged => Ok(()),
        }
    }

    /// `update_etc_hosts`: the PVE section of /etc/hosts.
    fn update_etc_hosts(
        &mut self,
        hostip: Option<&str>,
        newname: &str,
        searchdomains: Option<&str>,
    ) -> Result<(), String> {
        let hosts = "/etc/hosts";
        if self.fs.is_ignored(hosts) {
            return Ok(());
        }
        let namepart = newname.split('.').next().unwrap_or_default().to_string();
        let mut all_names = String::new();
        if newname.contains('.') {
            all_names = format!("{newname} {namepart}");
        } else {
            for domain in split_list(searchdomains.unwrap_or_default()) {
                if !all_names.is_empty() {
                    all_names.push(' ');
                }
                all_names.push_str(&format!("{newname}.{domain}"));
            }
            if !all_names.is_empty() {
                all_names.push(' ');
            }
            all_names.push_str(newname);
        }
        let lo4 = "127.0.0.1 localhost.localnet localhost\n";
        let lo6 = "::1 localhost.localnet localhost\n";
        let mut section = String::new();
        if self.fs.file_exists(hosts) {
            let data = remove_pve_sections(&self.fs.get_contents(hosts)?);
            let has = |re: &str| regex::Regex::new(re).expect("valid regex").is_match(&data);
            if !has(r"(?m)^[ \t]*127\.0\.0\.1[ \t]+") {
                section.push_str(lo4);
            }
            if !has(r"(?m)^[ \t]*::1[ \t]+") {
                section.push_str(lo6);
            }
        } else {
            section.push_str(lo4);
            section.push_str(lo6);
        }
        if let Some(ip) = hostip {
            section.push_str(&format!("{ip} {all_names}\n"));
        } else if namepart != "localhost" {
            section.push_str(&format!("127.0.1.1 {all_names}\n"));
        } else {
            section.push_str(&format!("127.0.1.1 {namepart}\n"));
        }
        self.fs.modify_file(hosts, &section, ModifyOpts::default())
    }

    fn set_hostname(&mut self) -> Result<(), String> {
        if self.distro == Distro::CentOS || self.distro == Distro::Fedora {
            return redhat::set_hostname(self);
        }
        let hostname = self
            .conf
            .get("hostname")
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost")
            .to_string();
        let namepart = hostname.split('.').next().unwrap_or_default().to_string();
        let (ipv4, ipv6) = net::primary_ips(&self.conf);
        let hostip = ipv4.or(ipv6);
        let (search, _) = self.lookup_dns_conf();
        self.update_etc_hosts(hostip.as_deref(), &hostname, search.as_deref())?;
        self.fs
            .set_contents("/etc/hostname", &format!("{namepart}\n"), None)
    }

    fn set_dns(&mut self) -> Result<(), String> {
        let (search, nameserver) = self.lookup_dns_conf();
        let mut data = String::new();
        if let Some(s) = search.filter(|s| !s.is_empty() && s != "0") {
            data.push_str(&format!("search {}\n", split_list(&s).join(" ")));
        }
        for ns in split_list(&nameserver) {
            data.push_str(&format!("nameserver {ns}\n"));
        }
        self.fs.modify_file(
            "/etc/resolv.conf",
            &data,
            ModifyOpts {
                replace: true,
                ..Default::default()
            },
        )
    }

    fn set_timezone(&mut self) -> Result<(), String> {
        let Some(zone) = self.conf.get("timezone").map(str::to_string) else {
            return Ok(());
        };
        let tz_path = if zone == "host" {
            self.opts.host.localtime.clone()
        } else {
            format!("/usr/share/zoneinfo/{zone}")
        };
        if self.fs.file_exists(&tz_path) {
            if self.fs.abs_path("/etc/localtime") != tz_path {
                let tmp = format!("localtime.{}.new.tmpfile", std::process::id());
                self.fs.symlink(&tz_path, &tmp);
                self.fs.rename(&tmp, "/etc/localtime");
            }
            if self.fs.file_exists("/etc/timezone") {
                let contents = if zone == "host" {
                    self.opts.host.timezone.clone().unwrap_or_default()
                } else {
                    zone
                };
                self.fs
                    .set_contents("/etc/timezone", &format!("{contents}\n"), None)?;
            }
        } else {
            self.warnings.push(format!(
                "container does not have {tz_path}, timezone can not be modified\n"
            ));
        }
        Ok(())
    }

    /// The post-clone hook: a clone keeps its machine-id file but empties it, so systemd
    /// does not treat the first boot as a first boot (see machine-id(5)).
    pub fn post_clone_hook(&mut self) -> Result<(), String> {
        if self.distro == Distro::Unmanaged {
            return Ok(());
        }
        self.clear_machine_id(true)?;
        self.check_systemd_nesting();
        Ok(())
    }

    fn clear_machine_id(&mut self, clone: bool) -> Result<(), String> {
        let uses_systemd = self.fs.is_executable("/lib/systemd/systemd")
            || self.fs.is_executable("/usr/lib/systemd/systemd");
        let dbus = "/var/lib/dbus/machine-id";
        let machine_id = "/etc/machine-id";
        let existed = self.fs.file_exists(machine_id);
        if self.fs.file_exists(dbus) && !self.fs.is_symlink(dbus) && uses_systemd {
            self.fs.unlink(dbus);
        }
        if existed {
            if clone {
                let old = self.fs.read_firstline(machine_id).unwrap_or_default();
                if uses_systemd && old != "uninitialized" {
                    self.fs.set_contents(machine_id, "\n", None)?;
                }
            } else {
                self.fs.unlink(machine_id);
            }
        }
        Ok(())
    }

    fn snakeoil_fixup(&mut self) -> Result<(), String> {
        let key = "/etc/ssl/private/ssl-cert-snakeoil.key";
        if !self.fs.file_exists(key) {
            return Ok(());
        }
        if self.uses_systemd_init() {
            let unit_name = "proxmox-regenerate-snakeoil.service";
            let unit_path = format!("/etc/systemd/system/{unit_name}");
            self.messages.push(format!(
                "Setting up '{unit_name}' to regenerate snakeoil certificate..\n"
            ));
            self.fs.set_contents(&unit_path, SNAKEOIL_UNIT, None)?;
            self.fs
                .make_path("/etc/systemd/system/first-boot-complete.target.wants");
            self.fs.symlink(
                &unit_path,
                &format!("/etc/systemd/system/first-boot-complete.target.wants/{unit_name}"),
            );
        } else {
            self.warnings
                .push("Template contains pre-generated snakeoil certificate!\n".into());
            self.warnings.push(
                "Run `make-ssl-cert generate-default-snakeoil -f` to regenerate it!\n".into(),
            );
        }
        self.fs.unlink(key);
        Ok(())
    }

    fn remove_lxc_name_from_etc_hosts(&mut self) -> Result<(), String> {
        if !self.fs.exists("/etc/hosts") {
            return Ok(());
        }
        let hosts = self.fs.get_contents("/etc/hosts")?;
        let re = regex::Regex::new(r"^127.0.1.1\s+LXC_NAME$").expect("valid regex");
        let lines: Vec<String> = ctfs::perl_split_lines(&hosts)
            .into_iter()
            .filter(|l| !re.is_match(l))
            .collect();
        self.fs
            .set_contents("/etc/hosts", &(lines.join("\n") + "\n"), None)
    }
}

const SNAKEOIL_UNIT: &str = "[Unit]
Description=\"Regenerate pre-generated snakeoil certificate and key-pair once\"
ConditionPathExists=/etc/ssl/certs/ssl-cert-snakeoil.pem
ConditionFirstBoot=yes
Wants=first-boot-complete.target
Before=first-boot-complete.target

[Service]
Type=oneshot
ExecStart=make-ssl-cert -f generate-default-snakeoil
";

/// Upstream's `remove_pve_sections`.
pub fn remove_pve_sections(data: &str) -> String {
    let re = regex::Regex::new(r"(?ms)^[ \t]*# --- BEGIN PVE ---.*^[ \t]*# --- END PVE ---.*?$")
        .expect("valid regex");
    re.replace_all(data, "").into_owned()
}

/// Upstream's `detect_elf_architecture` for a file in the container.
pub fn detect_elf_architecture(fs: &CtFs, path: &str) -> Result<String, String> {
    use std::io::Read;
    let mut f = std::fs::File::open(fs.resolve(path, true))
        .map_err(|e| format!("open '{path}' failed: {e}\n"))?;
    let mut buf = [0u8; 20];
    f.read_exact(&mut buf)
        .map_err(|e| format!("read failed: {e}\n"))?;
    if &buf[..4] != b"\x7fELF" {
        return Err(format!("'{path}' does not resolve to an ELF!\n"));
    }
    let class = buf[4];
    // Upstream unpacks bytes 17..19 big-endian: for little-endian files that is the low
    // byte of e_machine.
    let machine = (u16::from(buf[17]) << 8) | u16::from(buf[18]);
    let arch = match machine {
        0x03 => "i386",
        0x3e => "amd64",
        0x28 => "armhf",
        0xb7 => "arm64",
        0xf3 => match class {
            1 => "riscv32",
            2 => "riscv64",
            _ => return Err(format!("'{path}' has invalid class '{class}'!\n")),
        },
        _ => return Err(format!("'{path}' has unknown ELF machine '{machine}'!\n")),
    };
    Ok(arch.to_string())
}

fn autodetect(
    fs: &CtFs,
    os_release: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    if let Some(id) = os_release.get("ID").filter(|i| !i.is_empty()) {
        if let Some(p) = plugin_for(id) {
            return Ok(p.to_string());
        }
        warnings.push(format!(
            "unknown ID '{id}' in /etc/os-release file, trying fallback detection\n"
        ));
    }
    if fs.file_exists("/etc/lsb-release") {
        let data = fs.get_contents("/etc/lsb-release").unwrap_or_default();
        if regex::Regex::new(r"(?im)^DISTRIB_ID=Ubuntu$")
            .expect("valid regex")
            .is_match(&data)
        {
            return Ok("ubuntu".into());
        }
    }
    let f = |p: &str| fs.file_exists(p);
    Ok(if f("/etc/debian_version") {
        "debian"
    } else if f("/etc/devuan_version") {
        "devuan"
    } else if f("/etc/SuSE-brand") || f("/etc/SuSE-release") {
        "opensuse"
    } else if f("/etc/fedora-release") {
        "fedora"
    } else if f("/etc/centos-release") || f("/etc/redhat-release") {
        "centos"
    } else if f("/etc/arch-release") {
        "archlinux"
    } else if f("/etc/alpine-release") {
        "alpine"
    } else if f("/etc/gentoo-release") {
        "gentoo"
    } else if fs.is_directory("/nix/store") {
        "nixos"
    } else if f("/etc/openEuler-release") {
        "openeuler"
    } else if f("/etc/os-release") {
        return Err("unable to detect OS distribution\n".into());
    } else {
        warnings.push(
            "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'\n"
                .into(),
        );
        "unmanaged"
    }
    .to_string())
}

#[cfg(test)]
mod tests;
