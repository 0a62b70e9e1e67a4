//! `cargo xtask deps`: the Debian packages the project needs, installed when missing.
//!
//! Idempotent and fast when everything is there (one `dpkg-query`). QEMU comes from
//! bookworm-backports, and `qemu-system-x86` must have the very version of the installed
//! `qemu-utils` (both are built from one source package).

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::status;

/// Headers and tools the crates build against.
const BUILD: &[&str] = &[
    "pkg-config",
    "libssl-dev",
    "libfuse3-dev",
    "libpam0g-dev",
    "libclang-dev",
    "libcorosync-common-dev",
    "libcpg-dev",
    "libquorum-dev",
    "libcmap-dev",
    "libvotequorum-dev",
    "libcfg-dev",
];

/// What the daemons and the real-host tests drive.
const RUNTIME: &[&str] = &[
    "tzdata",
    "fuse3",
    "corosync",
    "lxc",
    "btrfs-progs",
    "iproute2",
    "sqlite3",
    "e2fsprogs",
    // OVMF firmware and vars templates for `bios: ovmf` VMs and EFI disks on stock QEMU
    "ovmf",
    "python3-venv",
    "curl",
    // test password hashes (`openssl passwd`), certificate checks in tests
    "openssl",
    "wrk",
];

/// The Python API clients the client tests drive (pinned as in
/// ../shared/conformance/clients/README.md), in their own venv.
const CLIENT_PACKAGES: &[&str] = &["proxmoxer==2.3.0", "requests==2.34.2"];

/// Where the client venv lives (`PVE_CLIENT_VENV` overrides it); tests read the same.
pub fn client_venv() -> std::path::PathBuf {
    std::env::var_os("PVE_CLIENT_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/var/tmp/pve-client-venv"))
}

/// Packages taken from bookworm-backports, with the same version as `qemu-utils`.
const QEMU: &[&str] = &["qemu-utils", "qemu-system-x86"];

const BACKPORTS_LIST: &str = "/etc/apt/sources.list.d/pve-rs-bookworm-backports.sources";
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// `package -> version` for installed packages among `names`.
fn installed(names: &[&str]) -> Result<Vec<(String, String)>> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${Package} ${db:Status-Abbrev} ${Version}\n"])
        .args(names)
        .output()
        .context("running dpkg-query (is this a Debian system?)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (name, status, version) = (parts.next()?, parts.next()?, parts.next()?);
            (status == "ii").then(|| (name.to_string(), version.to_string()))
        })
        .collect())
}

fn missing<'a>(names: &[&'a str], have: &[(String, String)]) -> Vec<&'a str> {
    names
        .iter()
        .copied()
        .filter(|n| !have.iter().any(|(h, _)| h == n))
        .collect()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

pub fn install() -> Result<()> {
    install_debian()?;
    install_pam_service()?;
    install_clients()
}

/// The PAM service the `pam` realm authenticates through (as the upstream package
/// installs it): the system's common auth and account stacks.
const PAM_SERVICE: &str = "/etc/pam.d/proxmox-ve-auth";
const PAM_SERVICE_TEXT: &str = "auth\tinclude\tcommon-auth\naccount\tinclude\tcommon-account\n";

fn install_pam_service() -> Result<()> {
    if Path::new(PAM_SERVICE).exists() {
        return Ok(());
    }
    if !is_root() {
        bail!("{PAM_SERVICE} is missing; run `cargo xtask deps` as root");
    }
    std::fs::write(PAM_SERVICE, PAM_SERVICE_TEXT)
        .with_context(|| format!("write {PAM_SERVICE}"))?;
    set_mode(PAM_SERVICE, 0o644)
}

/// The client venv with proxmoxer, made with Debian's python3 when missing.
fn install_clients() -> Result<()> {
    let venv = client_venv();
    let python = venv.join("bin/python3");
    let have = Command::new(&python)
        .args(["-c", "import proxmoxer, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    if have {
        return Ok(());
    }
    status(
        Command::new("/usr/bin/python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv),
    )?;
    status(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(CLIENT_PACKAGES),
    )
}

fn install_debian() -> Result<()> {
    let all: Vec<&str> = BUILD.iter().chain(RUNTIME).chain(QEMU).copied().collect();
    let have = installed(&all)?;
    let version_of = |p: &str| have.iter().find(|(n, _)| n == p).map(|(_, v)| v.clone());
    let mut plain = missing(BUILD, &have);
    plain.extend(missing(RUNTIME, &have));
    let utils = version_of("qemu-utils");
    let system = version_of("qemu-system-x86");
    let qemu_ok = utils.is_some() && utils == system;
    if plain.is_empty() && qemu_ok {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages ({}{}); run `cargo xtask deps` as root",
            plain.join(" "),
            if qemu_ok {
                ""
            } else {
                " qemu-system-x86 from bookworm-backports"
            }
        );
    }
    ensure_backports()?;
    apt_update()?;
    if !plain.is_empty() {
        apt_install(&[], &plain)?;
    }
    if !qemu_ok {
        // `-t bookworm-backports` so that QEMU's own dependencies (qemu-system-data,
        // seabios, …) come from there too.
        let spec = match &utils {
            // Keep the installed qemu-utils and take its twin.
            Some(v) => vec![format!("qemu-system-x86={v}")],
            None => QEMU.iter().map(|s| s.to_string()).collect(),
        };
        let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
        apt_install(&["-t", "bookworm-backports"], &spec)?;
    }
    let have = installed(QEMU)?;
    let v: Vec<&String> = have.iter().map(|(_, v)| v).collect();
    if v.len() != 2 || v[0] != v[1] {
        bail!("qemu-utils and qemu-system-x86 versions differ after install: {have:?}");
    }
    Ok(())
}

fn ensure_backports() -> Result<()> {
    let configured = ["/etc/apt/sources.list", "/etc/apt/sources.list.d"]
        .iter()
        .any(|p| {
            let path = Path::new(p);
            let files: Vec<std::path::PathBuf> = if path.is_dir() {
                std::fs::read_dir(path)
                    .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                    .unwrap_or_default()
            } else {
                vec![path.to_path_buf()]
            };
            files.iter().any(|f| {
                std::fs::read_to_string(f).is_ok_and(|t| {
                    t.lines().any(|l| {
                        !l.trim_start().starts_with('#') && l.contains("bookworm-backports")
                    })
                })
            })
        });
    if configured {
        return Ok(());
    }
    eprintln!("adding bookworm-backports to {BACKPORTS_LIST}");
    std::fs::write(
        BACKPORTS_LIST,
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
         Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
    )
    .with_context(|| format!("writing {BACKPORTS_LIST}"))
}

fn apt_update() -> Result<()> {
    status(
        Command::new("apt-get")
            .args(["-q", "update"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// `apt-get install` with service starts disabled: installing corosync or lxc must not
/// start a host corosync or lxc-net bridge that the tests would trip over.
pub fn apt_install(options: &[&str], spec: &[&str]) -> Result<()> {
    let own_policy = !Path::new(POLICY_RC_D).exists();
    if own_policy {
        std::fs::write(POLICY_RC_D, "#!/bin/sh\nexit 101\n")?;
        set_mode(POLICY_RC_D, 0o755)?;
    }
    let result = status(
        Command::new("apt-get")
            .args(["-q", "-y", "--no-install-recommends"])
            .args(options)
            .arg("install")
            .args(spec)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if own_policy {
        let _ = std::fs::remove_file(POLICY_RC_D);
    }
    result
}

fn set_mode(path: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {path}"))
}
