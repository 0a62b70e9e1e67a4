//! The seam between the VM config and the QEMU process actually started.
//!
//! `start_command` is the only place that turns a config into the argv of the
//! stock QEMU binary. Until `cmdline::config_to_command(.., Target::Stock(caps))`
//! covers the full schema, a small builder of our own serves the keys a test or
//! dev VM uses (name, memory, sockets/cores, disks on ide/sata/scsi/virtio,
//! boot order, netN on bridges, serial sockets, machine type). The lead can
//! swap the body of `start_command` for the generator call; everything else in
//! `run` only consumes `StartCommand`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Error};
use pve_common::paths::NodePaths;
use pve_guest_common::GuestConfig;

use crate::helpers;

/// A tap device QEMU gets attached to, created (and removed) by `run`.
#[derive(Debug, Clone, PartialEq)]
pub struct TapDevice {
    /// `tap{vmid}i{n}` as upstream names them.
    pub name: String,
    pub bridge: String,
    pub mtu: Option<u32>,
}

/// What `vm_start` needs to start a VM.
#[derive(Debug, Clone)]
pub struct StartCommand {
    pub argv: Vec<String>,
    pub taps: Vec<TapDevice>,
    /// Volume ids (storage:volname) to activate before starting.
    pub volumes: Vec<String>,
}

/// Host facts the command depends on.
#[derive(Debug, Clone)]
pub struct HostEnv {
    pub qemu_binary: String,
    pub kvm: bool,
}

impl HostEnv {
    /// Stock QEMU; KVM when /dev/kvm can be opened read-write.
    pub fn detect() -> Self {
        let kvm = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok();
        let qemu_binary = std::env::var("PVE_QEMU_BINARY")
            .unwrap_or_else(|_| "/usr/bin/qemu-system-x86_64".to_string());
        Self { qemu_binary, kvm }
    }
}

/// Drive keys as upstream orders them on the command line.
fn drive_keys(conf: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (bus, max) in [("ide", 4), ("sata", 6), ("scsi", 31), ("virtio", 16)] {
        for i in 0..max {
            let key = format!("{bus}{i}");
            if let Some(v) = conf.get(&key) {
                out.push((key, v.clone()));
            }
        }
    }
    out
}

fn prop<'a>(opts: &'a str, name: &str) -> Option<&'a str> {
    opts.split(',')
        .skip(1)
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

/// Upstream's MAC-or-model first field: `virtio=AA:BB:..` or `model=virtio,macaddr=..`.
fn net_model_mac(value: &str) -> (String, Option<String>) {
    let mut model = String::from("virtio");
    let mut mac = None;
    for (i, kv) in value.split(',').enumerate() {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "e1000" | "e1000e" | "virtio" | "rtl8139" | "vmxnet3" | "ne2k_pci" | "pcnet"
                if i == 0 =>
            {
                model = k.to_string();
                if !v.is_empty() {
                    mac = Some(v.to_string());
                }
            }
            "model" => model = v.to_string(),
            "macaddr" => mac = Some(v.to_string()),
            _ => {}
        }
    }
    (model, mac)
}

/// Builds the stock-QEMU argv for `vmid` (see the module doc: this is the seam).
pub fn start_command(
    paths: &NodePaths,
    storage: &pve_storage::Storage,
    vmid: u32,
    config: &GuestConfig,
    host: &HostEnv,
) -> Result<StartCommand, Error> {
    let conf = &config.main.values;
    let get = |k: &str| conf.get(k).map(|s| s.as_str());
    let run = helpers::run_dir(paths);
    let s = |p: PathBuf| p.to_string_lossy().into_owned();

    let mut argv = vec![host.qemu_binary.clone()];
    let mut push = |a: &[&str]| argv.extend(a.iter().map(|x| x.to_string()));
    let name = get("name")
        .map(str::to_string)
        .unwrap_or(format!("VM{vmid}"));
    push(&["-name", &format!("{name},debug-threads=on")]);
    push(&[
        "-chardev",
        &format!(
            "socket,id=qmp,path={},server=on,wait=off",
            s(helpers::qmp_socket(paths, vmid))
        ),
        "-mon",
        "chardev=qmp,mode=control",
    ]);
    push(&[
        "-pidfile",
        &s(helpers::pidfile_name(paths, vmid)),
        "-daemonize",
    ]);
    push(&["-nodefaults"]);

    let machine = get("machine")
        .map(|m| m.split(',').next().unwrap_or("pc").to_string())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "pc".to_string());
    // Upstream's versioned `pc-i440fx-X.Y+pveN` types do not exist in stock QEMU.
    let machine = machine.split("+pve").next().unwrap_or("pc").to_string();
    let accel = if host.kvm && get("kvm") != Some("0") {
        "kvm"
    } else {
        "tcg"
    };
    push(&["-machine", &format!("type={machine},accel={accel}")]);
    if accel == "kvm" {
        push(&["-cpu", "host"]);
    }

    let sockets: u32 = get("sockets").and_then(|v| v.parse().ok()).unwrap_or(1);
    let cores: u32 = get("cores").and_then(|v| v.parse().ok()).unwrap_or(1);
    let vcpus: u32 = get("vcpus")
        .and_then(|v| v.parse().ok())
        .unwrap_or(sockets * cores);
    push(&[
        "-smp",
        &format!(
            "{vcpus},sockets={sockets},cores={cores},maxcpus={}",
            sockets * cores
        ),
    ]);
    let memory = get("memory")
        .and_then(|m| m.split(',').next())
        .map(|m| m.strip_prefix("current=").unwrap_or(m).to_string())
        .unwrap_or_else(|| "2048".into());
    push(&["-m", &memory]);
    push(&[
        "-vnc",
        &format!("unix:{},password=off", s(helpers::vnc_socket(paths, vmid))),
        "-vga",
        "std",
    ]);

    // boot order: `order=scsi0;net0`
    let order: Vec<String> = get("boot")
        .and_then(|b| {
            b.split(',')
                .find_map(|kv| kv.strip_prefix("order="))
                .map(|o| o.split(';').map(str::to_string).collect())
        })
        .unwrap_or_default();
    let bootindex = |key: &str| order.iter().position(|k| k == key).map(|i| 100 * (i + 1));

    let mut volumes = Vec::new();
    let mut have_scsi_ctrl = false;
    let mut have_ahci = false;
    for (key, value) in drive_keys(conf) {
        let file = value.split(',').next().unwrap_or_default();
        if file == "none" {
            continue;
        }
        let media_cdrom = prop(&value, "media") == Some("cdrom");
        let (path, format) = if file.starts_with('/') {
            (
                file.to_string(),
                prop(&value, "format").unwrap_or("raw").to_string(),
            )
        } else if file.contains(':') {
            let (p, _, _) = storage
                .path(file, None)
                .map_err(|e| anyhow::format_err!("{e}"))?;
            volumes.push(file.to_string());
            let fmt = prop(&value, "format")
                .map(str::to_string)
                .unwrap_or_else(|| {
                    let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("raw");
                    if ["qcow2", "vmdk"].contains(&ext) {
                        ext.to_string()
                    } else {
                        "raw".to_string()
                    }
                });
            (s(p), fmt)
        } else {
            bail!("unable to parse volume ID '{file}'");
        };
        let cache = prop(&value, "cache").unwrap_or("none");
        let cache = if cache == "none" && !can_odirect(&path) {
            "writeback"
        } else {
            cache
        };
        let mut drive = format!("file={path},if=none,id=drive-{key},format={format},cache={cache}");
        if media_cdrom {
            drive.push_str(",media=cdrom,readonly=on");
        } else {
            drive.push_str(",aio=threads,detect-zeroes=on");
        }
        push(&["-drive", &drive]);
        let boot = bootindex(&key)
            .map(|b| format!(",bootindex={b}"))
            .unwrap_or_default();
        let n: u32 = key
            .trim_start_matches(|c: char| c.is_ascii_alphabetic())
            .parse()
            .unwrap_or(0);
        let dev = if let Some(_i) = key.strip_prefix("virtio") {
            format!("virtio-blk-pci,drive=drive-{key},id={key}{boot}")
        } else if key.starts_with("scsi") {
            if !have_scsi_ctrl {
                push(&["-device", "virtio-scsi-pci,id=scsihw0"]);
                have_scsi_ctrl = true;
            }
            let kind = if media_cdrom { "scsi-cd" } else { "scsi-hd" };
            format!(
                "{kind},bus=scsihw0.0,channel=0,scsi-id=0,lun={n},drive=drive-{key},id={key}{boot}"
            )
        } else if key.starts_with("sata") {
            if !have_ahci {
                push(&["-device", "ahci,id=ahci0"]);
                have_ahci = true;
            }
            let kind = if media_cdrom { "ide-cd" } else { "ide-hd" };
            format!("{kind},bus=ahci0.{n},drive=drive-{key},id={key}{boot}")
        } else {
            let kind = if media_cdrom { "ide-cd" } else { "ide-hd" };
            format!(
                "{kind},bus=ide.{},unit={},drive=drive-{key},id={key}{boot}",
                n / 2,
                n % 2
            )
        };
        push(&["-device", &dev]);
    }

    let mut taps = Vec::new();
    for i in 0..32 {
        let key = format!("net{i}");
        let Some(value) = get(&key) else { continue };
        let (model, mac) = net_model_mac(value);
        let Some(bridge) = prop(&format!("x,{value}"), "bridge").map(str::to_string) else {
            // user-mode networking when no bridge is given, as upstream
            push(&["-netdev", &format!("type=user,id={key}")]);
            let mut dev = format!("{},netdev={key},id={key}", nic_device(&model));
            if let Some(mac) = &mac {
                dev.push_str(&format!(",mac={mac}"));
            }
            push(&["-device", &dev]);
            continue;
        };
        let tap = format!("tap{vmid}i{i}");
        let mtu = prop(&format!("x,{value}"), "mtu").and_then(|m| m.parse().ok());
        taps.push(TapDevice {
            name: tap.clone(),
            bridge,
            mtu,
        });
        let vhost = if model == "virtio" && std::path::Path::new("/dev/vhost-net").exists() {
            ",vhost=on"
        } else {
            ""
        };
        push(&[
            "-netdev",
            &format!("type=tap,id={key},ifname={tap},script=no,downscript=no{vhost}"),
        ]);
        let mut dev = format!("{},netdev={key},id={key}", nic_device(&model));
        if let Some(mac) = &mac {
            dev.push_str(&format!(",mac={mac}"));
        }
        if let Some(b) = bootindex(&key) {
            dev.push_str(&format!(",bootindex={b}"));
        }
        push(&["-device", &dev]);
    }

    for i in 0..4 {
        let key = format!("serial{i}");
        if get(&key) == Some("socket") {
            let path = run.join(format!("{vmid}.{key}"));
            push(&[
                "-chardev",
                &format!("socket,id={key},path={},server=on,wait=off", s(path)),
                "-device",
                &format!("isa-serial,chardev={key}"),
            ]);
        }
    }

    Ok(StartCommand {
        argv,
        taps,
        volumes,
    })
}

fn nic_device(model: &str) -> &str {
    match model {
        "virtio" => "virtio-net-pci",
        "e1000" => "e1000",
        "e1000e" => "e1000e",
        "rtl8139" => "rtl8139",
        "vmxnet3" => "vmxnet3",
        other => other,
    }
}

/// Whether O_DIRECT works on the file's filesystem (tmpfs refuses it).
fn can_odirect(path: &str) -> bool {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_model_and_mac() {
        assert_eq!(
            net_model_mac("virtio=BC:24:11:00:00:01,bridge=vmbr0"),
            ("virtio".into(), Some("BC:24:11:00:00:01".into()))
        );
        assert_eq!(
            net_model_mac("model=e1000,macaddr=AA:BB:CC:DD:EE:FF"),
            ("e1000".into(), Some("AA:BB:CC:DD:EE:FF".into()))
        );
    }

    #[test]
    fn drive_props() {
        assert_eq!(
            prop("local:100/x.qcow2,size=1G,cache=none", "cache"),
            Some("none")
        );
        assert_eq!(prop("local:100/x.qcow2,size=1G", "cache"), None);
    }
}
