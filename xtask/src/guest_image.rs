//! `cargo xtask guest-image`: a small bootable BIOS disk image with a Linux guest that
//! powers off when the ACPI power button is pressed (QMP `system_powerdown`).
//!
//! Built from Debian packages only (fetched with `apt-get download` from the host's
//! configured Debian mirrors, unpacked with `dpkg-deb -x`, nothing installed):
//! the cloud kernel (`linux-image-cloud-amd64`), `busybox-static`, `syslinux` +
//! `syslinux-common` (boot loader), `mtools` and `dosfstools` (to build the FAT
//! file system without mounting). The disk is an unpartitioned FAT file system
//! whose boot sector is syslinux's; it holds the kernel, an initramfs (written
//! here as a newc cpio: busybox, the `button` and `evdev` modules and an init
//! script) and `syslinux.cfg`. The init prints `pve-guest-image ready` on the
//! serial console (ttyS0) once it listens on the power button input devices, and
//! `poweroff -f`s on the first event.
//!
//! Known limit: under nested KVM (as on the dev machine) syslinux's real-mode code
//! hits a KVM emulation failure, so the disk boots under TCG only there. The kernel
//! and initramfs are kept next to the image (`vmlinuz`, `initrd`): a VM config can
//! boot them directly with `args: -kernel … -initrd … -append console=ttyS0`, which
//! works under KVM too (that is what the lifecycle tests do).
//!
//! Output: `target/guest-image/guest.img` (raw); cached, rebuilt only when
//! missing or when `--force` is given.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::workspace_root;

const VERSION: &str = "5";

const INIT: &str = r#"#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
insmod /lib/modules/evdev.ko
insmod /lib/modules/button.ko
sleep 1
n=0
for d in /sys/class/input/event*; do
  [ -e "$d/device/name" ] || continue
  if [ "$(cat $d/device/name)" = "Power Button" ]; then
    ev=/dev/input/$(basename $d)
    # no console output here: a serial console without a reader blocks writes
    ( dd if=$ev of=/dev/null bs=24 count=1 2>/dev/null; poweroff -f ) &
    n=$((n+1))
  fi
done
# announce readiness only once every listener has the input device open
for i in 1 2 3 4 5 6 7 8 9 10; do
  [ "$(ls -l /proc/[0-9]*/fd 2>/dev/null | grep -c /dev/input/event)" -ge "$n" ] && break
  sleep 0.2
done
echo "pve-guest-image ready ($n power buttons)"
while true; do sleep 3600; done
"#;

const SYSLINUX_CFG: &str = "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd\n  APPEND console=tty0 console=ttyS0 quiet panic=-1\n";

fn run_cmd(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Where the image lands.
pub fn image_path() -> Result<PathBuf> {
    Ok(workspace_root().join("target/guest-image/guest.img"))
}

/// The versioned kernel package `linux-image-cloud-amd64` depends on.
fn kernel_package() -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", "linux-image-cloud-amd64"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Depends: "))
        .filter(|p| p.starts_with("linux-image-"))
        .map(str::to_string)
        .context("no kernel package found (run apt-get update)")
}

pub fn run(args: &[String]) -> Result<()> {
    let force = args.iter().any(|a| a == "--force");
    let img = image_path()?;
    let dir = img.parent().unwrap().to_path_buf();
    let stamp = dir.join("version");
    if !force && img.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(VERSION) {
        println!("{} is up to date", img.display());
        return Ok(());
    }
    build(&dir, &img)?;
    std::fs::write(&stamp, VERSION)?;
    println!("built {}", img.display());
    Ok(())
}

fn build(dir: &Path, img: &Path) -> Result<()> {
    let debs = dir.join("debs");
    let x = dir.join("unpacked");
    let _ = std::fs::remove_dir_all(&debs);
    let _ = std::fs::remove_dir_all(&x);
    std::fs::create_dir_all(&debs)?;
    std::fs::create_dir_all(&x)?;
    let kernel = match kernel_package() {
        Ok(k) => k,
        Err(_) => {
            run_cmd(Command::new("apt-get").args(["update", "-qq"]))?;
            kernel_package()?
        }
    };
    let pkgs = [
        kernel.as_str(),
        "busybox-static",
        "syslinux",
        "syslinux-common",
        "mtools",
        "dosfstools",
    ];
    run_cmd(
        Command::new("apt-get")
            .args(["download", "-qq"])
            .args(pkgs)
            .current_dir(&debs),
    )?;
    for e in std::fs::read_dir(&debs)? {
        let p = e?.path();
        run_cmd(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&x))?;
    }
    let kver = kernel.trim_start_matches("linux-image-");
    let vmlinuz = x.join(format!("boot/vmlinuz-{kver}"));
    let modules = x.join(format!("lib/modules/{kver}/kernel/drivers"));
    let busybox = x.join("bin/busybox");

    // initramfs
    let mut cpio = Cpio::default();
    for d in [
        "bin",
        "dev",
        "proc",
        "sys",
        "tmp",
        "lib",
        "lib/modules",
        "etc",
    ] {
        cpio.dir(d);
    }
    cpio.node("dev/console", 0o020600, 5, 1);
    cpio.file("bin/busybox", 0o755, &std::fs::read(&busybox)?);
    cpio.file("init", 0o755, INIT.as_bytes());
    for (name, rel) in [
        ("evdev.ko", "input/evdev.ko"),
        ("button.ko", "acpi/button.ko"),
    ] {
        let data = std::fs::read(modules.join(rel)).with_context(|| format!("module {rel}"))?;
        cpio.file(&format!("lib/modules/{name}"), 0o644, &data);
    }
    let initrd = dir.join("initrd");
    std::fs::write(&initrd, cpio.finish())?;

    // FAT image with syslinux
    let tmp = dir.join("guest.img.tmp");
    let _ = std::fs::remove_file(&tmp);
    let size_kib =
        (std::fs::metadata(&vmlinuz)?.len() + std::fs::metadata(&initrd)?.len()) / 1024 + 4096;
    run_cmd(
        Command::new(x.join("sbin/mkfs.fat"))
            .args(["-C", "-n", "PVEGUEST"])
            .arg(&tmp)
            .arg(size_kib.to_string()),
    )?;
    let path = format!(
        "{}:{}",
        x.join("usr/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let cfg = dir.join("syslinux.cfg");
    std::fs::write(&cfg, SYSLINUX_CFG)?;
    let kcopy = dir.join("vmlinuz");
    std::fs::copy(&vmlinuz, &kcopy)?;
    for f in [&kcopy, &initrd, &cfg] {
        run_cmd(
            Command::new(x.join("usr/bin/mcopy"))
                .env("MTOOLS_SKIP_CHECK", "1")
                .arg("-i")
                .arg(&tmp)
                .arg(f)
                .arg("::"),
        )?;
    }
    run_cmd(
        Command::new(x.join("usr/bin/syslinux"))
            .env("PATH", &path)
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("--install")
            .arg(&tmp),
    )?;
    // ldlinux.c32 must sit next to ldlinux.sys
    run_cmd(
        Command::new(x.join("usr/bin/mcopy"))
            .env("MTOOLS_SKIP_CHECK", "1")
            .arg("-o")
            .arg("-i")
            .arg(&tmp)
            .arg(x.join("usr/lib/syslinux/modules/bios/ldlinux.c32"))
            .arg("::"),
    )?;
    std::fs::rename(&tmp, img)?;
    let _ = std::fs::remove_dir_all(&x);
    Ok(())
}

/// A newc cpio archive writer (enough for an initramfs).
#[derive(Default)]
struct Cpio {
    buf: Vec<u8>,
    ino: u32,
}

impl Cpio {
    fn entry(&mut self, name: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.ino += 1;
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let hdr = format!(
            "070701{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            self.ino,
            mode,
            0,
            0,
            nlink,
            0,
            data.len(),
            0,
            0,
            rdev.0,
            rdev.1,
            name.len() + 1,
            0
        );
        self.buf.extend_from_slice(hdr.as_bytes());
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(0);
        self.pad();
        self.buf.extend_from_slice(data);
        self.pad();
    }
    fn pad(&mut self) {
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
    }
    fn dir(&mut self, name: &str) {
        self.entry(name, 0o040755, &[], (0, 0));
    }
    fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, 0o100000 | perm, data, (0, 0));
    }
    fn node(&mut self, name: &str, mode: u32, major: u32, minor: u32) {
        self.entry(name, mode, &[], (major, minor));
    }
    fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        while self.buf.len() % 512 != 0 {
            self.buf.push(0);
        }
        self.buf
    }
}
