//! `cargo xtask ct-template [--root DIR] [--debian] [--force]`: container templates made
//! from Debian packages only, put where the dev node's `local` storage keeps templates
//! (`<root>/var/lib/vz/template/cache/`, i.e. `local:vztmpl/…`).
//!
//! - busybox (always): the static busybox of Debian's `busybox-static` package with its
//!   applet links, a minimal /etc (root user, hosts, os-release `ID=busybox`) and
//!   busybox init whose rcS brings up /etc/network/interfaces with busybox `ifup`
//!   when a setup wrote one. Small (about 1 MiB) and made in a second.
//! - Debian (`--debian`): `debootstrap --variant=minbase` of the host's release from the
//!   host's Debian mirror, as a tarball the debian distro setup knows.
//!
//! The tarballs are built once into `target/ct-templates/` (again with `--force`) and
//! copied to the storage.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{status, workspace_root};

struct Opts {
    root: PathBuf,
    debian: bool,
    force: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts {
        root: workspace_root().join("target/devnode"),
        debian: false,
        force: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => o.root = PathBuf::from(it.next().context("--root needs a value")?),
            "--debian" => o.debian = true,
            "--force" => o.force = true,
            other => bail!("unknown option '{other}'"),
        }
    }
    Ok(o)
}

pub fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let out = workspace_root().join("target/ct-templates");
    std::fs::create_dir_all(&out)?;
    let cache = o.root.join("var/lib/vz/template/cache");
    std::fs::create_dir_all(&cache)?;
    let mut made = vec![busybox(&out, o.force)?];
    if o.debian {
        made.push(debian(&out, o.force)?);
    }
    for t in made {
        let name = t.file_name().context("template name")?;
        std::fs::copy(&t, cache.join(name))
            .with_context(|| format!("copy {} to {}", t.display(), cache.display()))?;
        println!("local:vztmpl/{}", name.to_string_lossy());
    }
    Ok(())
}

/// The busybox template in `target/ct-templates/` (built once), for the container tests.
pub fn busybox_for_tests() -> Result<PathBuf> {
    let out = workspace_root().join("target/ct-templates");
    std::fs::create_dir_all(&out)?;
    busybox(&out, false)
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A scratch folder removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(tag: &str) -> Result<Scratch> {
    let dir = workspace_root().join(format!("target/ct-templates/.{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(Scratch(dir))
}

fn write(root: &Path, rel: &str, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))?;
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Packs `rootfs` as `<out>/<name>` (gzip, numeric owners, as template tarballs are).
fn pack(rootfs: &Path, out: &Path, name: &str) -> Result<PathBuf> {
    let target = out.join(name);
    let tmp = out.join(format!(".{name}.tmp"));
    status(
        Command::new("tar")
            .arg("--numeric-owner")
            .arg("-czf")
            .arg(&tmp)
            .arg("-C")
            .arg(rootfs)
            .arg("."),
    )?;
    std::fs::rename(&tmp, &target)?;
    Ok(target)
}

fn busybox(out: &Path, force: bool) -> Result<PathBuf> {
    let work = scratch("busybox")?;
    // the package's version names the template
    let version = output(Command::new("apt-cache").args(["policy", "busybox-static"]))?
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Candidate:")
                .map(|v| v.trim().to_string())
        })
        .filter(|v| v != "(none)")
        .context("no busybox-static package in the apt sources (apt-get update?)")?;
    let upstream_version = version
        .split(':')
        .next_back()
        .unwrap_or(&version)
        .split('-')
        .next()
        .unwrap_or(&version)
        .to_string();
    let name = format!("busybox-{upstream_version}_amd64.tar.gz");
    if out.join(&name).exists() && !force {
        return Ok(out.join(name));
    }
    status(
        Command::new("apt-get")
            .args(["-q", "download", "busybox-static"])
            .current_dir(&work.0),
    )?;
    let deb = std::fs::read_dir(&work.0)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("apt-get download left no .deb")?;
    let pkg = work.0.join("pkg");
    status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&pkg))?;
    let bb = pkg.join("bin/busybox");
    if !bb.exists() {
        bail!("busybox-static has no bin/busybox");
    }

    let rootfs = work.0.join("rootfs");
    for d in [
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc/init.d",
        "etc/network",
        "dev",
        "proc",
        "sys",
        "tmp",
        "run",
        "root",
        "var/log",
        "var/run",
    ] {
        std::fs::create_dir_all(rootfs.join(d))?;
    }
    std::fs::copy(&bb, rootfs.join("bin/busybox"))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        rootfs.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )?;
    std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    std::fs::set_permissions(rootfs.join("root"), std::fs::Permissions::from_mode(0o700))?;
    // every applet as a link to /bin/busybox, where busybox itself would install it
    let applets = output(Command::new(&bb).arg("--list-full"))?;
    for rel in applets.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let link = rootfs.join(rel);
        if rel == "bin/busybox" || link.exists() {
            continue;
        }
        if let Some(d) = link.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::os::unix::fs::symlink("/bin/busybox", &link)?;
    }
    write(
        &rootfs,
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\n",
        0o644,
    )?;
    write(&rootfs, "etc/group", "root:x:0:\n", 0o644)?;
    write(&rootfs, "etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640)?;
    write(&rootfs, "etc/hostname", "busybox\n", 0o644)?;
    write(
        &rootfs,
        "etc/hosts",
        "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
        0o644,
    )?;
    write(
        &rootfs,
        "etc/os-release",
        &format!("NAME=\"BusyBox\"\nID=busybox\nVERSION_ID={upstream_version}\nPRETTY_NAME=\"BusyBox {upstream_version}\"\n"),
        0o644,
    )?;
    write(&rootfs, "etc/shells", "/bin/sh\n/bin/ash\n", 0o644)?;
    // busybox init: rcS, a console shell, and a clean stop on the signals LXC sends
    // (SIGPWR, lxc's default halt signal, runs the powerfail action)
    write(
        &rootfs,
        "etc/inittab",
        "::sysinit:/etc/init.d/rcS\n::respawn:-/bin/sh\n::ctrlaltdel:/sbin/reboot\n::powerfail:/sbin/poweroff\n::shutdown:/etc/init.d/rcK\n",
        0o644,
    )?;
    write(
        &rootfs,
        "etc/init.d/rcS",
        "#!/bin/sh\nmount -t tmpfs -o mode=0755 tmpfs /run 2>/dev/null\n[ -r /etc/hostname ] && hostname -F /etc/hostname\nifconfig lo 127.0.0.1 up 2>/dev/null\nif [ -f /etc/network/interfaces ]; then\n\tmkdir -p /run/network\n\tifup -a\nfi\n",
        0o755,
    )?;
    write(
        &rootfs,
        "etc/init.d/rcK",
        "#!/bin/sh\n[ -f /etc/network/interfaces ] && ifdown -a 2>/dev/null\nsync\n",
        0o755,
    )?;
    write(
        &rootfs,
        "etc/network/interfaces",
        "auto lo\niface lo inet loopback\n",
        0o644,
    )?;
    let target = pack(&rootfs, out, &name)?;
    drop(work);
    Ok(target)
}

fn debian(out: &Path, force: bool) -> Result<PathBuf> {
    let release =
        output(Command::new("sh").args(["-c", ". /etc/os-release; echo $VERSION_CODENAME"]))?;
    let version = output(Command::new("sh").args(["-c", ". /etc/os-release; echo $VERSION_ID"]))?;
    if release.is_empty() {
        bail!("cannot tell the host's Debian release");
    }
    let name = format!("debian-{version}-minbase_{version}-1_amd64.tar.gz");
    if out.join(&name).exists() && !force {
        return Ok(out.join(name));
    }
    if Command::new("debootstrap")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::deps::apt_install(&[], &["debootstrap"])?;
    }
    let mirror = host_mirror().unwrap_or_else(|| "http://deb.debian.org/debian".into());
    let work = scratch("debian")?;
    let rootfs = work.0.join("rootfs");
    status(
        Command::new("debootstrap")
            .args([
                "--variant=minbase",
                "--include=ifupdown,iproute2,openssh-server",
            ])
            .arg(&release)
            .arg(&rootfs)
            .arg(&mirror),
    )?;
    // what a template leaves to the container's setup
    for f in [
        "etc/hostname",
        "etc/machine-id",
        "etc/ssh/ssh_host_rsa_key",
        "etc/ssh/ssh_host_rsa_key.pub",
        "etc/ssh/ssh_host_ecdsa_key",
        "etc/ssh/ssh_host_ecdsa_key.pub",
        "etc/ssh/ssh_host_ed25519_key",
        "etc/ssh/ssh_host_ed25519_key.pub",
    ] {
        let _ = std::fs::remove_file(rootfs.join(f));
    }
    let _ = std::fs::write(rootfs.join("etc/machine-id"), "");
    let apt_cache = rootfs.join("var/cache/apt/archives");
    if let Ok(rd) = std::fs::read_dir(&apt_cache) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "deb") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    let target = pack(&rootfs, out, &name)?;
    drop(work);
    Ok(target)
}

/// The first Debian mirror of the host's apt sources.
fn host_mirror() -> Option<String> {
    let mut texts = Vec::new();
    for p in [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ] {
        if let Ok(t) = std::fs::read_to_string(p) {
            texts.push(t);
        }
    }
    for t in texts {
        for l in t.lines() {
            let l = l.trim();
            if let Some(u) = l.strip_prefix("URIs:") {
                let u = u.trim();
                if !u.contains("security") {
                    return Some(u.to_string());
                }
            }
            if let Some(rest) = l.strip_prefix("deb ") {
                if let Some(u) = rest.split_whitespace().find(|w| w.starts_with("http")) {
                    if !u.contains("security") {
                        return Some(u.to_string());
                    }
                }
            }
        }
    }
    None
}
