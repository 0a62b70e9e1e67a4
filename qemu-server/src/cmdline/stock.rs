//! Every difference between upstream's patched QEMU and a stock (e.g. Debian) QEMU
//! binary, applied to the upstream command line. Documented in `docs/qemu-stock.md`.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;

/// What a stock QEMU binary supports, probed from the binary itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The binary to run.
    pub binary: String,
    /// `(major, minor, micro)` from `--version`.
    pub version: (u32, u32, u32),
    /// Machine type names from `-machine help`.
    pub machines: BTreeSet<String>,
    /// Device names from `-device help`.
    pub devices: BTreeSet<String>,
}

static CACHE: Mutex<Vec<Capabilities>> = Mutex::new(Vec::new());

impl Capabilities {
    /// Probes `binary` (cached per binary for the life of the process).
    pub fn probe(binary: &str) -> Result<Capabilities, String> {
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.iter().find(|c| c.binary == binary) {
            return Ok(c.clone());
        }
        let run = |args: &[&str]| -> Result<String, String> {
            let out = Command::new(binary)
                .args(args)
                .output()
                .map_err(|e| format!("unable to run {binary}: {e}"))?;
            if !out.status.success() {
                return Err(format!("{binary} {} failed", args.join(" ")));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let caps = Capabilities {
            binary: binary.to_string(),
            version: parse_version_output(&run(&["--version"])?)
                .ok_or_else(|| format!("unable to parse version of {binary}"))?,
            machines: parse_machine_help(&run(&["-machine", "help"])?),
            devices: parse_device_help(&run(&["-nodefaults", "-device", "help"])?),
        };
        cache.push(caps.clone());
        Ok(caps)
    }

    /// As [`Capabilities::probe`], kept across processes in `cache_dir/qemu-capabilities`
    /// keyed by the binary's identity (path, inode, size, mtime): a probe costs three
    /// process starts, a `qm start` must not pay them every time.
    pub fn probe_cached(binary: &str, cache_dir: &std::path::Path) -> Result<Capabilities, String> {
        use std::os::unix::fs::MetadataExt;
        let meta =
            std::fs::metadata(binary).map_err(|e| format!("unable to stat '{binary}' - {e}"))?;
        let key = format!("{binary} {} {} {}", meta.ino(), meta.size(), meta.mtime());
        let file = cache_dir.join("qemu-capabilities");
        if let Ok(text) = std::fs::read_to_string(&file) {
            let mut lines = text.lines();
            if lines.next() == Some(key.as_str()) {
                let ver = lines
                    .next()
                    .and_then(|v| parse_version_output(&format!("QEMU emulator version {v}")));
                let machines = lines.next().unwrap_or_default();
                let devices = lines.next().unwrap_or_default();
                if let Some(version) = ver {
                    return Ok(Capabilities {
                        binary: binary.to_string(),
                        version,
                        machines: machines.split_whitespace().map(str::to_string).collect(),
                        devices: devices.split_whitespace().map(str::to_string).collect(),
                    });
                }
            }
        }
        let caps = Self::probe(binary)?;
        let text = format!(
            "{key}\n{}.{}.{}\n{}\n{}\n",
            caps.version.0,
            caps.version.1,
            caps.version.2,
            caps.machines.iter().cloned().collect::<Vec<_>>().join(" "),
            caps.devices.iter().cloned().collect::<Vec<_>>().join(" ")
        );
        let _ = std::fs::create_dir_all(cache_dir);
        let tmp = file.with_extension(format!("tmp.{}", std::process::id()));
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &file);
        }
        Ok(caps)
    }

    pub fn has_device(&self, name: &str) -> bool {
        self.devices.contains(name)
    }
}

/// `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)` → `(10, 0, 2)`.
pub fn parse_version_output(text: &str) -> Option<(u32, u32, u32)> {
    let rest = text.split("version ").nth(1)?;
    let ver: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut it = ver.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// Machine names: the first word of each line after the header.
pub fn parse_machine_help(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Device names and their aliases: `name "foo", bus PCI, alias "bar"` lines.
pub fn parse_device_help(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in text.lines() {
        let Some(rest) = l.strip_prefix("name \"") else {
            continue;
        };
        if let Some(name) = rest.split('"').next() {
            out.insert(name.to_string());
        }
        if let Some(alias) = rest
            .split(", alias \"")
            .nth(1)
            .and_then(|a| a.split('"').next())
        {
            out.insert(alias.to_string());
        }
    }
    out
}

/// Rewrites an upstream argv for the stock binary:
/// * the binary is the probed one;
/// * `-id` (a Proxmox patch) is dropped;
/// * `+pveN` is stripped from `-machine type=`;
/// * the Proxmox-only virtio-net property `host_tunnel` is dropped;
/// * the boot splash is dropped when the file does not exist;
/// * `-no-shutdown` and the qmeventd QMP socket are dropped (no qmeventd to clean up
///   after a guest poweroff: QEMU exits itself);
/// * tap netdevs get `script=no,downscript=no` (the taps are created and bridged before
///   QEMU starts, there is no pve-bridge script);
/// * OVMF firmware of pve-edk2-firmware (`/usr/share/pve-edk2-firmware/`) is taken from
///   Debian's `ovmf` package (`/usr/share/OVMF/`, same names) when only that exists;
/// * `-readconfig` of qemu-server's device files (`pve-usb.cfg`, `pve-q35.cfg`,
///   `pve-q35-4.0.cfg`), when they are not installed, becomes the same devices as
///   `-device` arguments in the same place ([`readconfig_devices`]).
pub fn adapt(argv: Vec<String>, caps: &Capabilities) -> Vec<String> {
    let mut out = Vec::with_capacity(argv.len());
    let mut it = argv.into_iter();
    if it.next().is_some() {
        out.push(caps.binary.clone());
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-id" => {
                it.next();
            }
            "-no-shutdown" => {}
            "-chardev" => {
                let v = it.next().unwrap_or_default();
                if v.contains("id=qmp-event,") {
                    // and its `-mon chardev=qmp-event,mode=control`
                    let mut rest: Vec<String> = Vec::new();
                    for a in it.by_ref() {
                        rest.push(a);
                        if rest.len() == 2 {
                            break;
                        }
                    }
                    if !(rest.len() == 2
                        && rest[0] == "-mon"
                        && rest[1].starts_with("chardev=qmp-event,"))
                    {
                        out.push(arg);
                        out.push(v);
                        out.extend(rest);
                    }
                } else {
                    out.push(arg);
                    out.push(v);
                }
            }
            "-netdev" => {
                out.push(arg);
                if let Some(v) = it.next() {
                    out.push(tap_without_scripts(&v));
                }
            }
            "-machine" => {
                out.push(arg);
                if let Some(v) = it.next() {
                    out.push(strip_pve_machine(&v));
                }
            }
            "-device" => {
                out.push(arg);
                if let Some(v) = it.next() {
                    out.push(drop_props(&v, &["host_tunnel"]));
                }
            }
            "-boot" => {
                out.push(arg);
                if let Some(v) = it.next() {
                    out.push(fix_splash(&v));
                }
            }
            "-drive" | "-blockdev" | "-bios" => {
                out.push(arg);
                if let Some(v) = it.next() {
                    out.push(map_firmware(&v));
                }
            }
            "-readconfig" => {
                let Some(v) = it.next() else {
                    out.push(arg);
                    continue;
                };
                match readconfig_devices(&v) {
                    Some(devices) if !std::path::Path::new(&v).exists() => {
                        for d in devices {
                            out.push("-device".into());
                            out.push(d);
                        }
                    }
                    _ => {
                        out.push(arg);
                        out.push(v);
                    }
                }
            }
            _ => out.push(arg),
        }
    }
    out
}

/// The devices qemu-server's readconfig files define, as `-device` values with the
/// section name as `id`: the ICH9 USB controllers (EHCI with its UHCI companions), and
/// for q35 also the HD audio function, four PCIe root ports (`ioh3420` before machine
/// version 4.0, `pcie-root-port` with a 16 GT/s x32 link since) and a DMI-to-PCI bridge
/// with four PCI bridges.
/// `None` for any other file.
pub fn readconfig_devices(path: &str) -> Option<Vec<String>> {
    let name = path.strip_prefix("/usr/share/qemu-server/")?;
    // the root ports since 4.0 announce a 16 GT/s x32 link
    let (q35, root_port, link) = match name {
        "pve-usb.cfg" => (false, "", ""),
        "pve-q35.cfg" => (true, "ioh3420", ""),
        "pve-q35-4.0.cfg" => (true, "pcie-root-port", "x-speed=16,x-width=32,"),
        _ => return None,
    };
    let bus = if q35 { "bus=pcie.0," } else { "" };
    let mut d = Vec::new();
    // (EHCI id, EHCI slot, first UHCI number); the second set exists on q35 only
    let sets: &[(&str, &str, u32)] = if q35 {
        &[("ehci", "1d", 1), ("ehci-2", "1a", 4)]
    } else {
        &[("ehci", "1d", 1)]
    };
    for (i, (ehci, slot, first)) in sets.iter().enumerate() {
        d.push(format!(
            "ich9-usb-ehci{},id={ehci},multifunction=on,{bus}addr={slot}.7",
            i + 1
        ));
        for k in 0..3u32 {
            let n = first + k;
            d.push(format!(
                "ich9-usb-uhci{n},id=uhci-{n},multifunction=on,{bus}addr={slot}.{k},masterbus={ehci}.0,firstport={}",
                k * 2
            ));
        }
    }
    if q35 {
        d.push("ich9-intel-hda,id=audio0,bus=pcie.0,addr=1b.0".into());
        for p in 1..=4u32 {
            d.push(format!(
                "{root_port},id=ich9-pcie-port-{p},{link}multifunction=on,bus=pcie.0,addr=1c.{},port={p},chassis={p}",
                p - 1
            ));
        }
        d.push("i82801b11-bridge,id=pcidmi,bus=pcie.0,addr=1e.0".into());
        for b in 0..4u32 {
            d.push(format!(
                "pci-bridge,id=pci.{b},bus=pcidmi,addr={}.0,chassis_nr={}",
                b + 1,
                b + 1
            ));
        }
    }
    Some(d)
}

/// Where Proxmox' EDK2 firmware lives (package pve-edk2-firmware).
const PVE_EDK2: &str = "/usr/share/pve-edk2-firmware/";
/// Debian's `ovmf` package: the same image names in its own folder.
const DEBIAN_OVMF: &str = "/usr/share/OVMF/";

/// The host file for an upstream firmware path: the upstream file when it exists,
/// else Debian's `ovmf` image of the same name (`/usr/share/OVMF/`), else the
/// upstream path unchanged (then reported missing by the caller).
pub fn firmware_file(upstream: &str) -> String {
    if std::path::Path::new(upstream).exists() {
        return upstream.to_string();
    }
    let Some(name) = upstream
        .strip_prefix(PVE_EDK2)
        .map(|n| n.trim_start_matches('/'))
    else {
        return upstream.to_string();
    };
    let debian = format!("{DEBIAN_OVMF}{name}");
    if std::path::Path::new(&debian).exists() {
        debian
    } else {
        upstream.to_string()
    }
}

/// Firmware paths inside an argument (`-drive if=pflash,…,file=…`, a `-blockdev` JSON
/// `"filename"`, `-bios …`) mapped with [`firmware_file`].
fn map_firmware(value: &str) -> String {
    if !value.contains(PVE_EDK2) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find(PVE_EDK2) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| c == ',' || c == '"' || c.is_whitespace())
            .unwrap_or(tail.len());
        out.push_str(&firmware_file(&tail[..end]));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn tap_without_scripts(value: &str) -> String {
    if !value.starts_with("type=tap,") {
        return value.to_string();
    }
    value
        .split(',')
        .map(|p| {
            if p.starts_with("script=") {
                "script=no"
            } else if p.starts_with("downscript=") {
                "downscript=no"
            } else {
                p
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Refuses an adapted line the binary cannot run: a machine type or device model it
/// does not have, or a Proxmox-only file (`-readconfig` of qemu-server's package).
pub fn check(argv: &[String], caps: &Capabilities) -> Result<(), String> {
    let mut it = argv.iter();
    while let Some(arg) = it.next() {
        if matches!(arg.as_str(), "-drive" | "-blockdev" | "-bios") {
            if let Some(v) = it.next() {
                if let Some(pos) = v.find(PVE_EDK2) {
                    let tail = &v[pos..];
                    let end = tail
                        .find(|c: char| c == ',' || c == '"' || c.is_whitespace())
                        .unwrap_or(tail.len());
                    if !std::path::Path::new(&tail[..end]).exists() {
                        return Err(format!(
                            "EFI base image '{}' not found (install pve-edk2-firmware or Debian's ovmf)",
                            &tail[..end]
                        ));
                    }
                }
            }
            continue;
        }
        let Some(v) = (match arg.as_str() {
            "-machine" | "-device" | "-readconfig" => it.next(),
            _ => None,
        }) else {
            continue;
        };
        match arg.as_str() {
            "-machine" => {
                for t in v.split(',').filter_map(|p| p.strip_prefix("type=")) {
                    if !caps.machines.is_empty() && !caps.machines.contains(t) {
                        return Err(format!(
                            "QEMU binary '{}' does not support machine type '{t}'",
                            caps.binary
                        ));
                    }
                }
            }
            "-device" => {
                let model = v.split(',').next().unwrap_or_default();
                if !caps.devices.is_empty() && !model.starts_with('{') && !caps.has_device(model) {
                    return Err(format!(
                        "QEMU binary '{}' does not support device '{model}'",
                        caps.binary
                    ));
                }
            }
            _ => {
                if !std::path::Path::new(v).exists() {
                    return Err(format!("missing QEMU config file '{v}'"));
                }
            }
        }
    }
    Ok(())
}

fn strip_pve_machine(value: &str) -> String {
    value
        .split(',')
        .map(|p| match p.strip_prefix("type=") {
            Some(t) => {
                let (t, pxe) = match t.strip_suffix(".pxe") {
                    Some(b) => (b, ".pxe"),
                    None => (t, ""),
                };
                let base = t.rfind("+pve").map(|i| &t[..i]).unwrap_or(t);
                format!("type={base}{pxe}")
            }
            None => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn drop_props(value: &str, props: &[&str]) -> String {
    value
        .split(',')
        .filter(|p| {
            !props
                .iter()
                .any(|n| p.split_once('=').is_some_and(|(k, _)| k == *n))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn fix_splash(value: &str) -> String {
    value
        .split(',')
        .filter(|p| {
            p.strip_prefix("splash=")
                .is_none_or(|f| std::path::Path::new(f).exists())
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapt_rewrites() {
        let caps = Capabilities {
            binary: "/usr/bin/qemu-system-x86_64".into(),
            version: (10, 0, 2),
            machines: BTreeSet::new(),
            devices: BTreeSet::new(),
        };
        let argv: Vec<String> = [
            "/usr/bin/kvm",
            "-id",
            "8006",
            "-device",
            "virtio-net-pci,mac=A2:C0:43:77:08:A0,netdev=net0,host_mtu=1500,host_tunnel=off",
            "-machine",
            "hpet=off,type=pc-i440fx-5.1+pve0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = adapt(argv, &caps);
        assert_eq!(
            out,
            [
                "/usr/bin/qemu-system-x86_64",
                "-device",
                "virtio-net-pci,mac=A2:C0:43:77:08:A0,netdev=net0,host_mtu=1500",
                "-machine",
                "hpet=off,type=pc-i440fx-5.1",
            ]
        );
        assert_eq!(
            parse_version_output("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)\n"),
            Some((10, 0, 2))
        );
        assert!(parse_device_help("name \"virtio-net-pci\", bus PCI\n").contains("virtio-net-pci"));
        let devs = parse_device_help("name \"lsi53c895a\", bus PCI, alias \"lsi\"\n");
        assert!(devs.contains("lsi") && devs.contains("lsi53c895a"));
    }

    /// qemu-server's readconfig files become `-device`s where they are not installed,
    /// and the host's QEMU builds a machine with them (q35 with both root port kinds,
    /// i440fx with the USB set).
    #[test]
    fn readconfig_files_as_devices_run_on_the_host_qemu() {
        let caps = Capabilities {
            binary: "/usr/bin/qemu-system-x86_64".into(),
            version: (10, 0, 2),
            machines: BTreeSet::new(),
            devices: BTreeSet::new(),
        };
        let q35 = "/usr/share/qemu-server/pve-q35-4.0.cfg";
        let argv: Vec<String> = ["/usr/bin/kvm", "-readconfig", q35, "-machine", "type=q35"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = adapt(argv, &caps);
        if !std::path::Path::new(q35).exists() {
            assert_eq!(out[1], "-device");
            assert_eq!(
                out[2],
                "ich9-usb-ehci1,id=ehci,multifunction=on,bus=pcie.0,addr=1d.7"
            );
            assert!(out.contains(
                &"pcie-root-port,id=ich9-pcie-port-4,x-speed=16,x-width=32,multifunction=on,bus=pcie.0,addr=1c.3,port=4,chassis=4"
                    .to_string()
            ));
            assert!(
                out.contains(&"pci-bridge,id=pci.3,bus=pcidmi,addr=4.0,chassis_nr=4".to_string())
            );
            assert_eq!(out.len(), 1 + 2 * 18 + 2);
        }
        assert!(readconfig_devices("/etc/other.cfg").is_none());
        assert_eq!(
            readconfig_devices("/usr/share/qemu-server/pve-usb.cfg")
                .unwrap()
                .len(),
            4
        );

        if !std::path::Path::new(&caps.binary).exists() {
            println!("SKIP: no {}", caps.binary);
            assert!(std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() != Ok("1"));
            return;
        }
        for (machine, file) in [
            ("q35", "pve-q35-4.0.cfg"),
            ("q35", "pve-q35.cfg"),
            ("pc", "pve-usb.cfg"),
        ] {
            let mut cmd = std::process::Command::new(&caps.binary);
            cmd.args([
                "-machine",
                machine,
                "-accel",
                "tcg",
                "-nodefaults",
                "-display",
                "none",
            ]);
            cmd.args([
                "-S",
                "-monitor",
                "none",
                "-serial",
                "none",
                "-daemonize",
                "-pidfile",
            ]);
            let pidfile =
                std::env::temp_dir().join(format!("readcfg-{}-{file}.pid", std::process::id()));
            cmd.arg(&pidfile);
            for d in readconfig_devices(&format!("/usr/share/qemu-server/{file}")).unwrap() {
                cmd.args(["-device", &d]);
            }
            let out = cmd.output().unwrap();
            assert!(
                out.status.success(),
                "{machine} with {file}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let pid: i32 = std::fs::read_to_string(&pidfile)
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            // SAFETY: SIGKILL to the QEMU this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = std::fs::remove_file(&pidfile);
        }
    }

    #[test]
    fn firmware_paths_mapped_to_debian_ovmf() {
        let upstream = "/usr/share/pve-edk2-firmware//OVMF_CODE_4M.secboot.fd";
        let mapped = firmware_file(upstream);
        let pve = std::path::Path::new("/usr/share/pve-edk2-firmware/OVMF_CODE_4M.secboot.fd");
        let deb = std::path::Path::new("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
        if pve.exists() {
            assert_eq!(mapped, upstream);
        } else if deb.exists() {
            assert_eq!(mapped, "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
            let bd = format!(
                r#"{{"driver":"raw","file":{{"driver":"file","filename":"{upstream}"}},"node-name":"pflash0","read-only":true}}"#
            );
            assert_eq!(
                map_firmware(&bd),
                r#"{"driver":"raw","file":{"driver":"file","filename":"/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"},"node-name":"pflash0","read-only":true}"#
            );
            let drive = format!("if=pflash,unit=0,format=raw,readonly=on,file={upstream}");
            assert_eq!(
                map_firmware(&drive),
                "if=pflash,unit=0,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
            );
        } else {
            assert_eq!(mapped, upstream);
        }
        // a name neither package has stays, and the start check names it
        let missing = "/usr/share/pve-edk2-firmware//OVMF_NOPE.fd";
        assert_eq!(firmware_file(missing), missing);
        let caps = Capabilities {
            binary: "/usr/bin/qemu-system-x86_64".into(),
            version: (10, 0, 2),
            machines: BTreeSet::new(),
            devices: BTreeSet::new(),
        };
        let argv = vec!["-bios".to_string(), missing.to_string()];
        assert!(check(&argv, &caps)
            .unwrap_err()
            .starts_with("EFI base image '/usr/share/pve-edk2-firmware//OVMF_NOPE.fd' not found"));
    }

    #[test]
    fn probe_host_binary() {
        let bin = "/usr/bin/qemu-system-x86_64";
        if !std::path::Path::new(bin).exists() {
            println!("SKIP: no {bin}");
            assert!(std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() != Ok("1"));
            return;
        }
        let caps = Capabilities::probe(bin).expect("probe");
        assert!(caps.version.0 >= 6);
        assert!(caps.machines.iter().any(|m| m.starts_with("pc-i440fx-")));
        assert!(caps.has_device("virtio-net-pci"));
    }
}
