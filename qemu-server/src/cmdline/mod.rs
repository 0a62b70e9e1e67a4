//! VM config → QEMU command line. One generator, two targets (see [`Target`]):
//! upstream's patched QEMU (what `qm showcmd` prints) and a stock QEMU binary, whose
//! differences all live in [`stock`].
//!
//! Covered (upstream's `config_to_command` rules): machine type/version resolution
//! with the `+pveN` feature guard and Windows pinning, i440fx/q35/aarch64 virt
//! chipsets, `-cpu` models and flags (custom models, Hyper-V), SMP and CPU hotplug,
//! memory/NUMA/hugepages/DIMM hotplug, drives as `-blockdev` trees (dir, btrfs, CIFS,
//! LVM, RBD/krbd, ZFS over iSCSI, external snapshot chains) or legacy `-drive` lines,
//! SCSI/AHCI controllers, boot order, network devices, host PCI passthrough (incl.
//! mappings and mdev), USB, serial/parallel, audio, watchdog, VGA/SPICE/VNC
//! clipboard, guest agent, RNG, OVMF/AAVMF, TPM, AMD SEV, vIOMMU and templates.
//! A config key the generator does not handle (e.g. `ivshmem`, `virtiofsN`,
//! `intel-tdx`, cloud-init drives) is refused with an error naming it, never answered
//! with a wrong command line.

use std::collections::BTreeMap;

use pve_guest_common::GuestConfig;

mod cpu;
mod drive;
mod machine;
mod node;
mod quote;
pub mod stock;

pub use drive::SnapshotFile;
pub use machine::{extract_version, vm_machine, windows_version, MachineVersion};
pub use node::{host_qemu_binary, showcmd_vm, NodeHost};
pub use quote::{normalize_pretty, pretty_command, shell_quote};
pub use stock::Capabilities;

/// What the generator asks of the host. The conformance harness supplies the corpus'
/// facts; a real node reads them from the system.
pub trait HostFacts {
    fn node_name(&self) -> &str;
    /// QEMU binary version `(major, minor, micro)`.
    fn qemu_version(&self) -> (u32, u32, u32);
    fn host_arch(&self) -> &str;
    fn iscsi_initiator_name(&self) -> Option<String>;
    /// MTU of a host bridge.
    fn bridge_mtu(&self, _bridge: &str) -> u32 {
        1500
    }
    fn vhost_net_available(&self) -> bool {
        true
    }
    /// storage.cfg, for resolving volume ids.
    fn storage_config(&self) -> Option<&pve_storage::StorageConfig> {
        None
    }
    /// Vendor string of the host CPU.
    fn host_cpu_vendor(&self) -> String {
        "GenuineIntel".into()
    }
    /// The external snapshot chain of a volume (`current` included), if it has one.
    fn volume_snapshot_chain(&self, _volid: &str) -> Option<Vec<SnapshotFile>> {
        None
    }
    /// LUN number of a ZFS-over-iSCSI volume (asks the iSCSI target on a real node).
    fn zfs_iscsi_lun(&self, _volid: &str) -> Option<u64> {
        None
    }
    /// Device paths of a cluster PCI mapping on this node (one entry per alternative).
    fn pci_mapping(&self, _name: &str) -> Option<Vec<String>> {
        None
    }
    /// PCI addresses of the host's devices (`0000:01:00.0`, ...).
    fn host_pci_devices(&self) -> Vec<String> {
        std::fs::read_dir("/sys/bus/pci/devices")
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
    /// Host CPU capability report (`/run/qemu-server/host-hw-capabilities.json`).
    fn hw_capabilities(&self) -> serde_json::Value {
        std::fs::read_to_string("/run/qemu-server/host-hw-capabilities.json")
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(serde_json::Value::Null)
    }
    /// Size in bytes of a host file (firmware images).
    fn file_size(&self, path: &str) -> Option<u64> {
        std::fs::metadata(path).ok().map(|m| m.len())
    }
    /// Contents of the cluster's cpu-models.conf.
    fn custom_cpu_models(&self) -> Option<String> {
        None
    }
    /// Physical address bits of the host CPU.
    fn host_phys_bits(&self) -> Option<u32> {
        None
    }
    /// Address and port the SPICE server listens on.
    fn spice_address(&self) -> (String, u16) {
        ("127.0.0.1".into(), 61000)
    }
    /// Host CD-ROM device for `file=cdrom`.
    fn cdrom_path(&self) -> String {
        "/dev/cdrom".into()
    }
}

/// Everything the generator needs besides the config.
pub type GenContext<'a> = &'a dyn HostFacts;

/// Which QEMU the command line is for.
#[derive(Clone, Debug)]
pub enum Target {
    /// Proxmox' patched QEMU (`/usr/bin/kvm`), as `qm showcmd` prints it.
    Upstream,
    /// A distribution's stock QEMU with the probed capabilities.
    Stock(Capabilities),
}

/// Keys the generator understands (everything else is refused for now).
const HANDLED_KEYS: &[&str] = &[
    "smbios1",
    "name",
    "sockets",
    "cores",
    "vcpus",
    "memory",
    "tablet",
    "balloon",
    "numa",
    "ostype",
    "vmgenid",
    "digest",
    "machine",
    "startdate",
    "tdf",
    "localtime",
    "acpi",
    "bootdisk",
    "boot",
    "meta",
    "onboot",
    "description",
    "tags",
    "protection",
    "lock",
    "scsihw",
    "vga",
    "agent",
    "rng0",
    "serial0",
    "serial1",
    "serial2",
    "serial3",
    "spice_enhancements",
    "hotplug",
    "hugepages",
    "cpu",
    "amd-sev",
    "arch",
    "parent",
    "snaptime",
    "reboot",
    "freeze",
    "keyboard",
    "watchdog",
    "audio0",
    "allow-ksm",
    "affinity",
    "parallel0",
    "parallel1",
    "parallel2",
    "cpulimit",
    "cpuunits",
    "startup",
    "hookscript",
    "migrate_downtime",
    "migrate_speed",
    "shares",
    "vmstatestorage",
    "numa0",
    "numa1",
    "numa2",
    "numa3",
    "numa4",
    "numa5",
    "numa6",
    "numa7",
    "runningmachine",
    "runningcpu",
    "running-nets-host-mtu",
    "hostpci0",
    "hostpci1",
    "hostpci2",
    "hostpci3",
    "hostpci4",
    "hostpci5",
    "hostpci6",
    "hostpci7",
    "hostpci8",
    "hostpci9",
    "hostpci10",
    "hostpci11",
    "hostpci12",
    "hostpci13",
    "hostpci14",
    "hostpci15",
    "bios",
    "template",
    "kvm",
    "usb0",
    "usb1",
    "usb2",
    "usb3",
    "usb4",
    "usb5",
    "usb6",
    "usb7",
    "usb8",
    "usb9",
    "usb10",
    "usb11",
    "usb12",
    "usb13",
];

const MAX_NETS: usize = 32;

/// Messages upstream emits while generating: `warnings` go to stderr (`warn`),
/// `task_warnings` are task-log warnings (`log_warn`).
#[derive(Debug, Default, Clone)]
pub struct Messages {
    pub warnings: Vec<String>,
    pub task_warnings: Vec<String>,
}

/// Builds the argv (binary first) of the VM's QEMU process plus every warning
/// upstream would print (stderr warnings first, then task-log warnings).
pub fn config_to_command(
    ctx: GenContext,
    vmid: u32,
    config: &GuestConfig,
    target: &Target,
) -> Result<(Vec<String>, Vec<String>), String> {
    let (argv, msgs) = config_to_command_detailed(ctx, vmid, config, target)?;
    let mut all = msgs.warnings;
    all.extend(msgs.task_warnings);
    Ok((argv, all))
}

/// As [`config_to_command`], with the two kinds of messages kept apart.
pub fn config_to_command_detailed(
    ctx: GenContext,
    vmid: u32,
    config: &GuestConfig,
    target: &Target,
) -> Result<(Vec<String>, Messages), String> {
    let mut version = ctx.qemu_version();
    if let Target::Stock(caps) = target {
        version = caps.version;
    }
    let mut msgs = Messages::default();
    let argv = generate(ctx, vmid, config, version, &mut msgs)?;
    let argv = match target {
        Target::Upstream => argv,
        Target::Stock(caps) => stock::adapt(argv, caps),
    };
    Ok((argv, msgs))
}

/// `qm showcmd` text: one line, or with `pretty` each option on its own line.
pub fn showcmd(argv: &[String], pretty: bool) -> String {
    if pretty {
        pretty_command(argv)
    } else {
        let line = argv
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        format!("{line}\n")
    }
}

fn net_key(k: &str) -> bool {
    k.strip_prefix("net")
        .and_then(|n| n.parse::<usize>().ok())
        .is_some_and(|n| n < MAX_NETS)
}

/// Parsed `netN` value.
struct Net {
    model: String,
    mac: String,
    bridge: Option<String>,
    mtu: Option<u32>,
    queues: Option<u32>,
    host_tunnel: Option<bool>,
}

const NET_MODELS: &[&str] = &[
    "virtio",
    "e1000",
    "e1000e",
    "rtl8139",
    "vmxnet3",
    "ne2k_pci",
    "pcnet",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
];

fn parse_net(value: &str) -> Result<Net, String> {
    let mut net = Net {
        model: String::new(),
        mac: String::new(),
        bridge: None,
        mtu: None,
        queues: None,
        host_tunnel: None,
    };
    for part in value.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match k {
            m if NET_MODELS.contains(&m) => {
                net.model = m.to_string();
                net.mac = v.to_string();
            }
            "model" => net.model = v.to_string(),
            "macaddr" => net.mac = v.to_string(),
            "bridge" => net.bridge = Some(v.to_string()),
            "mtu" => net.mtu = v.parse().ok(),
            "queues" => net.queues = v.parse().ok(),
            "host-tunnel" => net.host_tunnel = Some(v == "1"),
            "firewall" | "tag" | "rate" | "trunks" | "link_down" => {}
            other => return Err(format!("not implemented yet: net option '{other}'")),
        }
    }
    if net.model.is_empty() {
        return Err("not implemented yet: net without model".into());
    }
    if net.mac.is_empty() {
        return Err("not implemented yet: net without MAC address".into());
    }
    Ok(net)
}

/// Upstream's `print_pci_addr` for the devices placed so far.
fn pci_addr(id: &str, bridges: &mut BTreeMap<u32, ()>, arch: &str) -> String {
    let fixed: &[(&str, u32, u32)] = &[
        ("piix3", 0, 1),
        ("ehci", 0, 1),
        ("vga", 0, 2),
        ("balloon0", 0, 3),
        ("watchdog", 0, 4),
        ("ahci0", 0, 7),
        ("qga0", 0, 8),
        ("spice", 0, 9),
        ("hostpci0", 0, 16),
        ("hostpci1", 0, 17),
        ("vga1", 0, 24),
        ("vga2", 0, 25),
        ("vga3", 0, 26),
        ("hostpci2", 0, 27),
        ("hostpci3", 0, 28),
        ("pci.1", 0, 30),
        ("pci.2", 0, 31),
        ("xhci", 1, 27),
        ("pci.4", 1, 28),
        ("rng0", 1, 29),
        ("ivshmem", 2, 11),
        ("audio0", 2, 12),
    ];
    let mut found = fixed
        .iter()
        .find(|(n, _, _)| *n == id)
        .map(|(_, b, a)| (*b, *a));
    if found.is_none() {
        if let Some(n) = id.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) {
            found = Some(if n < 6 { (0, 18 + n) } else { (1, n - 5) });
        } else if let Some(n) = id
            .strip_prefix("virtioscsi")
            .and_then(|n| n.parse::<u32>().ok())
        {
            found = (n < 31).then_some((3, n + 1));
        } else if let Some(n) = id
            .strip_prefix("virtio")
            .and_then(|n| n.parse::<u32>().ok())
        {
            found = Some(if n < 6 { (0, 10 + n) } else { (2, n - 5) });
        } else if let Some(n) = id
            .strip_prefix("scsihw")
            .and_then(|n| n.parse::<u32>().ok())
        {
            found = match n {
                0 => Some((0, 5)),
                1 => Some((0, 6)),
                2..=4 => Some((4, n - 1)),
                _ => None,
            };
        } else if id == "pci.3" {
            found = Some((0, 5));
        }
    }
    match found {
        Some((bus, addr)) => {
            bridges.insert(bus, ());
            // the aarch64 virt machine's root bus is pcie.0
            let busname = if arch == "aarch64" && bus == 0 {
                "pcie"
            } else {
                "pci"
            };
            format!(",bus={busname}.{bus},addr=0x{addr:x}")
        }
        None => String::new(),
    }
}

/// Upstream's `lspci` filter: host PCI ids matching `id` (with or without domain,
/// with or without function), sorted.
fn lspci(all: &[String], id: &str) -> Vec<String> {
    let want = if id.matches(':').count() == 1 {
        format!("0000:{id}")
    } else {
        id.to_string()
    };
    let mut out: Vec<String> = all
        .iter()
        .filter(|d| {
            d.strip_prefix(want.as_str()).is_some_and(|rest| {
                rest.is_empty() || (!want.contains('.') && rest.starts_with('.'))
            })
        })
        .cloned()
        .collect();
    out.sort();
    out
}

/// `,bus=...,addr=...` on q35's PCIe topology.
fn pcie_addr(id: &str) -> String {
    if id == "vga" {
        return ",bus=pcie.0,addr=0x1".into();
    }
    if let Some(n) = id.strip_prefix("hostpci") {
        if let Some(n) = n.strip_suffix("bus0").and_then(|n| n.parse::<u32>().ok()) {
            let addr = match n {
                0..=3 => 16 + n,
                4..=10 => 5 + n,
                11..=15 => 10 + n,
                _ => return String::new(),
            };
            return format!(",bus=pcie.0,addr=0x{addr:x}");
        }
        if let Ok(n) = n.parse::<u32>() {
            if n < 16 {
                return format!(",bus=ich9-pcie-port-{},addr=0x0", n + 1);
            }
        }
    }
    if id == "ivshmem" {
        return ",bus=pcie.0,addr=0x14".into();
    }
    String::new()
}

/// The extra PCIe root port q35 needs for hostpci4 and up.
fn pcie_root_port(i: u32) -> Option<String> {
    let addr = match i {
        4..=11 => format!("10.{}", i - 4),
        12..=15 => format!("11.{}", i - 12),
        _ => return None,
    };
    let id = i + 1;
    Some(format!(
        "pcie-root-port,id=ich9-pcie-port-{id},addr={addr},x-speed=16,x-width=32,multifunction=on,bus=pcie.0,port={id},chassis={id}"
    ))
}

/// Upstream's `device_bootorder`: the boot index of each device, from `boot:
/// order=…` or the legacy `[acdn]{1,4}` form (default `cdn`).
pub(crate) fn device_bootorder(
    conf: &pve_guest_common::config::ConfigSection,
) -> Result<BTreeMap<String, u32>, String> {
    bootorder(conf)
}

/// Boot indices from the legacy `boot: [acdn]{1,4}` form (default `cdn`) for the
/// devices handled so far (network devices; no drives yet).
fn bootorder(
    conf: &pve_guest_common::config::ConfigSection,
) -> Result<BTreeMap<String, u32>, String> {
    let mut order = BTreeMap::new();
    let boot = conf.get("boot");
    let legacy = match boot {
        None => Some("cdn".to_string()),
        Some(b) => {
            let mut legacy = None;
            let mut ord = None;
            for part in b.split(',') {
                match part.split_once('=') {
                    Some(("order", v)) => ord = Some(v.to_string()),
                    Some(("legacy", v)) => legacy = Some(v.to_string()),
                    None => legacy = Some(part.to_string()),
                    Some((k, _)) => return Err(format!("invalid boot option '{k}'")),
                }
            }
            if legacy.is_none() {
                if let Some(ord) = ord {
                    for (i, dev) in ord
                        .split([';', ',', ' '])
                        .filter(|d| !d.is_empty())
                        .enumerate()
                    {
                        order.insert(dev.to_string(), 100 + i as u32);
                    }
                    return Ok(order);
                }
                return Ok(order);
            }
            legacy
        }
    };
    let legacy = legacy.unwrap_or_default();
    let mut next: BTreeMap<char, u32> = legacy
        .chars()
        .enumerate()
        .map(|(i, c)| (c, (i as u32 + 1) * 100))
        .collect();
    for key in drive::drive_keys() {
        let Some(value) = conf.get(&key) else {
            continue;
        };
        let d = drive::Drive::parse(&key, value)?;
        if d.is_cdrom() {
            if let Some(idx) = next.get_mut(&'d') {
                order.insert(key.clone(), *idx);
                *idx += 1;
            }
        } else if let Some(idx) = next.get_mut(&'c') {
            if conf.get("bootdisk") == Some(key.as_str()) {
                order.insert(key.clone(), *idx);
            }
            *idx += 1;
        }
    }
    if let Some(pos) = legacy.find('n') {
        let mut idx = (pos as u32 + 1) * 100;
        for i in 0..MAX_NETS {
            if conf.get(&format!("net{i}")).is_some() {
                order.insert(format!("net{i}"), idx);
                idx += 1;
            }
        }
    }
    Ok(order)
}

fn generate(
    ctx: GenContext,
    vmid: u32,
    config: &GuestConfig,
    kvmver: (u32, u32, u32),
    msgs: &mut Messages,
) -> Result<Vec<String>, String> {
    let is_template = config.main.get("template") == Some("1");
    // Templates only start for backup: everything but the disks is dropped.
    let template_conf;
    let conf = if is_template {
        let mut t = pve_guest_common::config::ConfigSection::default();
        let orig = &config.main;
        t.values.insert("template".into(), "1".into());
        t.values.insert("kvm".into(), "0".into());
        t.values.insert("vga".into(), "none".into());
        for k in ["scsihw", "bios", "name"] {
            if let Some(v) = orig.get(k) {
                t.values.insert(k.into(), v.into());
            }
        }
        for k in drive::drive_keys() {
            if let Some(v) = orig.get(&k) {
                t.values.insert(k.clone(), v.into());
            }
        }
        template_conf = t;
        &template_conf
    } else {
        &config.main
    };
    for key in conf.values.keys() {
        let is_drive = drive::drive_keys().contains(key);
        let unused = key
            .strip_prefix("unused")
            .is_some_and(|n| n.parse::<u32>().is_ok());
        if !HANDLED_KEYS.contains(&key.as_str()) && !net_key(key) && !is_drive && !unused {
            return Err(format!("not implemented yet: config key '{key}'"));
        }
    }
    let warnings = &mut msgs.warnings;
    let task_warnings = &mut msgs.task_warnings;
    let host_arch = ctx.host_arch().to_string();
    let arch = conf.get("arch").unwrap_or(&host_arch).to_string();
    if arch != "x86_64" && arch != "aarch64" {
        return Err(format!("unsupported architecture '{arch}'\n"));
    }
    let native = arch == host_arch;
    let kvmver_str = format!("{}.{}.{}", kvmver.0, kvmver.1, kvmver.2);
    if kvmver.0 < 6 {
        return Err(format!(
            "Detected old QEMU binary ('{kvmver_str}', at least 6.0 is required)\n"
        ));
    }
    let ostype = conf.get("ostype");
    let winversion = windows_version(ostype);
    let kvm = match conf.get("kvm") {
        Some(v) => v != "0",
        None => native,
    };
    // `vmgenid: 1` is replaced by a generated id when the config is written; the
    // generator takes the value as it is (as upstream does).

    // machine
    let mut machine_type_cfg: Option<String> = None;
    let mut machine_enable_s3: Option<bool> = None;
    let mut viommu: Option<String> = None;
    let mut aw_bits: Option<String> = None;
    let mut machine_enable_s4: Option<bool> = None;
    for part in conf
        .get("machine")
        .unwrap_or("")
        .split(',')
        .filter(|p| !p.is_empty())
    {
        match part.split_once('=') {
            Some(("viommu", v)) => {
                if v != "intel" && v != "virtio" {
                    return Err(format!("invalid viommu value '{v}'"));
                }
                viommu = Some(v.to_string())
            }
            Some(("aw-bits", v)) => aw_bits = Some(v.to_string()),
            Some(("enable-s3", v)) => machine_enable_s3 = Some(v == "1"),
            Some(("enable-s4", v)) => machine_enable_s4 = Some(v == "1"),
            None | Some(("type", _)) => {
                machine_type_cfg = Some(part.strip_prefix("type=").unwrap_or(part).to_string())
            }
            Some((k, _)) => return Err(format!("not implemented yet: machine option '{k}'")),
        }
    }
    let creation_qemu = conf.get("meta").and_then(|m| {
        m.split(',')
            .find_map(|p| p.strip_prefix("creation-qemu="))
            .map(str::to_string)
    });
    let mut machine_type = vm_machine(
        machine_type_cfg.as_deref(),
        &arch,
        ostype,
        creation_qemu.as_deref(),
        kvmver,
    )?;
    let machine_version = extract_version(&machine_type, kvmver);
    let node = ctx.node_name();
    if kvmver.2 >= 90 {
        warnings.push(format!(
            "warning: Installed QEMU version ({kvmver_str}) is a release candidate, ignoring version checks"
        ));
    } else if !(kvmver.0, kvmver.1).ge(&(machine_version.major, machine_version.minor)) {
        return Err(format!(
            "Installed QEMU version '{kvmver_str}' is too old to run machine type '{machine_type}', please upgrade node '{node}'\n"
        ));
    } else if machine_version.pve.unwrap_or(0)
        > machine::pve_revision(machine_version.major, machine_version.minor)
    {
        return Err(format!(
            "Installed qemu-server (max feature level for {}.{} is pve{}) is too old to run machine type '{machine_type}', please upgrade node '{node}'\n",
            machine_version.major,
            machine_version.minor,
            machine::pve_revision(machine_version.major, machine_version.minor)
        ));
    }
    let q35 = machine::base_type(&machine_type) == "q35";
    let mut required_pve = 0u32;
    let mut guard = |major: u32, minor: u32, pve: u32| -> bool {
        if !machine_version.at_least(major, minor, Some(pve)) {
            return false;
        }
        let max = machine::pve_revision(major, minor);
        if machine_version.at_least(major, minor, Some(max + 1)) {
            return true;
        }
        required_pve = required_pve.max(pve);
        true
    };
    let mv = |major: u32, minor: u32| machine_version.at_least(major, minor, None);
    let use_old_bios_files = if let Some(base) = machine_type.strip_suffix(".pxe") {
        machine_type = base.to_string();
        true
    } else {
        !mv(2, 4)
    };

    let mut cmd: Vec<String> = vec![if native {
        "/usr/bin/kvm".to_string()
    } else {
        format!("/usr/bin/qemu-system-{arch}")
    }];
    let mut devices: Vec<String> = Vec::new();
    let mut bridges: BTreeMap<u32, ()> = BTreeMap::new();
    let mut machine_flags: Vec<String> = Vec::new();
    let mut rtc_flags: Vec<String> = Vec::new();
    let run = "/var/run/qemu-server";
    let push = |v: &mut Vec<String>, a: &str, b: String| {
        v.push(a.to_string());
        v.push(b);
    };

    if let Some(aff) = conf.get("affinity") {
        let bin = cmd.remove(0);
        cmd.extend([
            "/usr/bin/taskset".to_string(),
            "--cpu-list".into(),
            "--all-tasks".into(),
            aff.to_string(),
            bin,
        ]);
    }
    cmd.push("-id".into());
    cmd.push(vmid.to_string());
    let name = conf
        .get("name")
        .map(str::to_string)
        .unwrap_or(format!("vm{vmid}"));
    if kvmver.0 >= 11 {
        push(&mut cmd, "-name", name.clone());
    } else {
        push(&mut cmd, "-name", format!("{name},debug-threads=on"));
    }
    cmd.push("-no-shutdown".into());
    push(
        &mut cmd,
        "-chardev",
        format!("socket,id=qmp,path={run}/{vmid}.qmp,server=on,wait=off"),
    );
    push(&mut cmd, "-mon", "chardev=qmp,mode=control".into());
    if mv(2, 12) {
        let reconnect = if (kvmver.0, kvmver.1) >= (9, 2) {
            "reconnect-ms=5000"
        } else {
            "reconnect=5"
        };
        push(
            &mut cmd,
            "-chardev",
            format!("socket,id=qmp-event,path=/var/run/qmeventd.sock,{reconnect}"),
        );
        push(&mut cmd, "-mon", "chardev=qmp-event,mode=control".into());
    }
    push(&mut cmd, "-pidfile", format!("{run}/{vmid}.pid"));
    cmd.push("-daemonize".into());

    if let Some(smbios) = conf.get("smbios1") {
        push(&mut cmd, "-smbios", smbios1_arg(smbios)?);
    }

    let mut sev: BTreeMap<String, String> = BTreeMap::new();
    if let Some(v) = conf.get("amd-sev") {
        for (i, part) in v.split(',').enumerate() {
            match part.split_once('=') {
                None if i == 0 => {
                    sev.insert("type".into(), part.to_string());
                }
                Some((k, v)) => {
                    sev.insert(k.to_string(), v.to_string());
                }
                None => return Err(format!("invalid amd-sev value '{v}'")),
            }
        }
    }
    let cvm_type = sev.get("type").cloned();
    if conf.get("bios") == Some("ovmf") && matches!(cvm_type.as_deref(), Some("snp")) {
        if conf.get("efidisk0").is_some() {
            task_warnings.push(
                "EFI disks are not supported with Confidential Virtual Machines and will be ignored"
                    .into(),
            );
        }
        push(&mut cmd, "-bios", format!("{EDK2}/OVMF_SEV_4M.fd"));
    } else if conf.get("bios") == Some("ovmf") {
        if arch == "x86_64"
            && cpu::bitness(conf.get("cpu"), ctx.custom_cpu_models().as_deref())? == 32
        {
            return Err("OVMF (UEFI) BIOS is not supported on 32-bit CPU types\n".into());
        }
        let efi = conf
            .get("efidisk0")
            .map(|v| drive::Drive::parse("efidisk0", v))
            .transpose()?;
        let (code, vars) = ovmf_files(efi.as_ref(), q35, cvm_type.as_deref(), &arch);
        let vars_size = ctx.file_size(&vars);
        if guard(10, 0, 0) {
            let mut d = match &efi {
                Some(d) => d.clone(),
                None => {
                    task_warnings
                        .push("no efidisk configured! Using temporary efivars disk.".into());
                    drive::Drive::parse(
                        "efidisk0",
                        &format!("/run/qemu-server/efidisk/{vmid}-ovmf.fd,format=raw"),
                    )?
                }
            };
            d.opts
                .entry("cache".into())
                .or_insert_with(|| "writeback".into());
            let vol = drive::resolve_volume(
                &d,
                ctx.storage_config(),
                &ctx.cdrom_path(),
                ctx.zfs_iscsi_lun(&d.file),
            )?;
            let size = if vol.format == "raw" { vars_size } else { None };
            push(
                &mut cmd,
                "-object",
                drive::canonical_json(&drive::throttle_group(&d)),
            );
            let code_bd = serde_json::json!({
                "driver": "raw",
                "file": {"driver": "file", "filename": code},
                "node-name": "pflash0",
                "read-only": true,
            });
            push(&mut cmd, "-blockdev", drive::canonical_json(&code_bd));
            let vars_bd = drive::drive_blockdev(&d, &vol, is_template, size)?;
            push(&mut cmd, "-blockdev", drive::canonical_json(&vars_bd));
            machine_flags.push("pflash0=pflash0".into());
            machine_flags.push("pflash1=drive-efidisk0".into());
        } else {
            let mut var = "if=pflash,unit=1,id=drive-efidisk0".to_string();
            match &efi {
                Some(d) => {
                    let vol = drive::resolve_volume(
                        d,
                        ctx.storage_config(),
                        &ctx.cdrom_path(),
                        ctx.zfs_iscsi_lun(&d.file),
                    )?;
                    if d.file.starts_with('/') && d.opt("format").is_none() {
                        return Err("efidisk format must be specified\n".into());
                    }
                    let format = d.opt("format").unwrap_or(&vol.format).to_string();
                    var.push_str(&format!(",format={format},file={}", vol.filename));
                    if format == "raw" && guard(4, 1, 2) {
                        if let Some(sz) = vars_size {
                            var.push_str(&format!(",size={sz}"));
                        }
                    }
                    if is_template {
                        var.push_str(",readonly=on");
                    }
                }
                None => {
                    task_warnings
                        .push("no efidisk configured! Using temporary efivars disk.".into());
                    var.push_str(&format!(
                        ",format=raw,file=/run/qemu-server/efidisk/{vmid}-ovmf.fd"
                    ));
                    if guard(4, 1, 2) {
                        if let Some(sz) = vars_size {
                            var.push_str(&format!(",size={sz}"));
                        }
                    }
                }
            }
            push(
                &mut cmd,
                "-drive",
                format!("if=pflash,unit=0,format=raw,readonly=on,file={code}"),
            );
            push(&mut cmd, "-drive", var);
        }
    }

    if q35 {
        let cfg = if mv(4, 0) {
            "/usr/share/qemu-server/pve-q35-4.0.cfg"
        } else {
            "/usr/share/qemu-server/pve-q35.cfg"
        };
        push(&mut devices, "-readconfig", cfg.into());
    }

    // fixups for unversioned machines of VMs created before QEMU 6.1
    let unversioned = machine_type_cfg
        .as_deref()
        .is_none_or(|t| ["pc", "q35", "virt"].contains(&t));
    let created_before_6_1 = creation_qemu
        .as_deref()
        .and_then(|v| {
            let mut it = v.split(['.', '+']);
            Some((
                it.next()?.parse::<u32>().ok()?,
                it.next()?.parse::<u32>().ok()?,
            ))
        })
        .is_none_or(|v| v < (6, 1));
    if unversioned
        && created_before_6_1
        && (kvmver.0, kvmver.1) >= (6, 1)
        && q35
        && ostype == Some("l26")
    {
        push(
            &mut cmd,
            "-global",
            "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off".into(),
        );
    }

    if let Some(g) = conf.get("vmgenid").filter(|v| *v != "0") {
        push(&mut devices, "-device", format!("vmgenid,guid={g}"));
    }

    let bootorder = bootorder(conf)?;

    // USB controller (i440fx; q35 has its own in the readconfig file)
    if arch == "aarch64" {
        let addr = pci_addr("ehci", &mut bridges, &arch);
        push(&mut devices, "-device", format!("usb-ehci,id=ehci{addr}"));
    } else if !q35 {
        let addr = pci_addr("piix3", &mut bridges, &arch);
        push(
            &mut devices,
            "-device",
            format!("piix3-usb-uhci,id=uhci{addr}.0x2"),
        );
    }

    // USB devices (parsed here: they decide the controllers)
    let use_qemu_xhci = mv(7, 1) && (ostype == Some("l26") || winversion > 7);
    let mut usb_devs: Vec<(u32, String, bool)> = Vec::new();
    for i in 0..14u32 {
        let Some(v) = conf.get(&format!("usb{i}")) else {
            continue;
        };
        if i >= 5 && !use_qemu_xhci {
            return Err(format!("using usb{i} is only possible with machine type >= 7.1 and ostype l26 or windows > 7\n"));
        }
        let mut host = None;
        let mut usb3 = false;
        for (j, part) in v.split(',').enumerate() {
            match part.split_once('=') {
                None if j == 0 => host = Some(part.to_string()),
                Some(("host", h)) => host = Some(h.to_string()),
                Some(("usb3", u)) => usb3 = u == "1",
                Some(("mapping", _)) => return Err("not implemented yet: USB mappings".into()),
                _ => return Err(format!("invalid usb option '{part}'")),
            }
        }
        usb_devs.push((i, host.unwrap_or_default(), usb3));
    }
    let any_usb = !usb_devs.is_empty();
    let use_usb3 = usb_devs.iter().any(|d| d.2);
    let use_usb2 = usb_devs.iter().any(|d| !d.2);
    if !use_qemu_xhci && !q35 && use_usb2 && arch != "aarch64" {
        push(
            &mut devices,
            "-readconfig",
            "/usr/share/qemu-server/pve-usb.cfg".into(),
        );
    }
    if use_qemu_xhci && any_usb {
        let addr = pci_addr("xhci", &mut bridges, &arch);
        push(
            &mut devices,
            "-device",
            format!("qemu-xhci,p2=15,p3=15,id=xhci{addr}"),
        );
    } else if use_usb3 {
        let addr = pci_addr("xhci", &mut bridges, &arch);
        push(
            &mut devices,
            "-device",
            format!("nec-usb-xhci,id=xhci{addr}"),
        );
    }

    let vga = parse_vga(conf.get("vga"), mv(2, 9), winversion, &arch)?;
    let edid_off = winversion > 0 && conf.get("bios") != Some("ovmf");
    let tablet = match conf.get("tablet") {
        Some(t) => t == "1",
        None => vga.qxlnum == 0 && !vga.kind.starts_with("serial"),
    };
    if tablet {
        push(
            &mut devices,
            "-device",
            format!(
                "usb-tablet,id=tablet,bus={}.0,port=1",
                if q35 || arch == "aarch64" {
                    "ehci"
                } else {
                    "uhci"
                }
            ),
        );
        if arch == "aarch64" {
            push(
                &mut devices,
                "-device",
                "usb-kbd,id=keyboard,bus=ehci.0,port=2".into(),
            );
        }
    }

    // host PCI passthrough
    let mut kvm_off = false;
    let mut gpu_passthrough = false;
    let mut vga = vga;
    let mut used_pci: Vec<String> = Vec::new();
    for i in 0..16u32 {
        let id = format!("hostpci{i}");
        let Some(value) = conf.get(&id) else { continue };
        let mut opts: BTreeMap<String, String> = BTreeMap::new();
        for (j, part) in value.split(',').enumerate() {
            match part.split_once('=') {
                None if j == 0 => {
                    opts.insert("host".into(), part.to_string());
                }
                Some((k, v)) => {
                    opts.insert(k.to_string(), v.to_string());
                }
                None => return Err(format!("invalid {id} value '{value}'")),
            }
        }
        for k in opts.keys() {
            if ![
                "host",
                "mapping",
                "mdev",
                "pcie",
                "rombar",
                "romfile",
                "x-vga",
                "driver",
                "vendor-id",
                "device-id",
                "sub-vendor-id",
                "sub-device-id",
            ]
            .contains(&k.as_str())
            {
                return Err(format!("not implemented yet: {id} option '{k}'"));
            }
        }
        let mut alternatives: Vec<Vec<String>> = Vec::new();
        match (opts.get("host"), opts.get("mapping")) {
            (Some(_), Some(_)) => return Err("Cannot set both 'host' and 'mapping'.\n".into()),
            (Some(host), None) => alternatives.push(host.split(';').map(str::to_string).collect()),
            (None, Some(mapping)) => {
                let paths = ctx.pci_mapping(mapping).unwrap_or_default();
                if paths.is_empty() {
                    return Err(format!("PCI device mapping not found for '{mapping}'\n"));
                }
                for p in paths {
                    alternatives.push(p.split(';').map(str::to_string).collect());
                }
            }
            (None, None) => return Err("Either 'host' or 'mapping' must be set.\n".into()),
        }
        let mdev = opts.get("mdev").cloned();
        let mut resolved: Vec<Vec<String>> = Vec::new();
        for alt in &alternatives {
            let mut ids = Vec::new();
            for part in alt {
                let found = lspci(&ctx.host_pci_devices(), part);
                if found.is_empty() {
                    return Err(format!("no PCI device found for '{part}'\n"));
                }
                ids.extend(found);
            }
            if ids.len() > 1 && mdev.is_some() {
                return Err("cannot use mediated device with multifunction device\n".into());
            }
            resolved.push(ids);
        }
        let ids: Vec<String> = if mdev.is_some() {
            resolved.iter().map(|a| a[0].clone()).collect()
        } else if resolved.len() == 1 {
            let ids = resolved.remove(0);
            for d in &ids {
                if used_pci.contains(d) {
                    return Err(format!("device '{d}' assigned more than once\n"));
                }
            }
            used_pci.extend(ids.iter().cloned());
            ids
        } else {
            let pick = resolved
                .into_iter()
                .find(|a| !a.iter().any(|d| used_pci.contains(d)))
                .ok_or_else(|| format!("could not find a free device for '{id}'\n"))?;
            used_pci.extend(pick.iter().cloned());
            pick
        };
        let pcie = opts.get("pcie").is_some_and(|v| v == "1");
        if pcie && !q35 {
            return Err("q35 machine model is not enabled".into());
        }
        let addr = if pcie {
            if winversion == 7 {
                pcie_addr(&format!("{id}bus0"))
            } else {
                if i > 3 {
                    if let Some(rp) = pcie_root_port(i) {
                        push(&mut devices, "-device", rp);
                    }
                }
                pcie_addr(&id)
            }
        } else {
            pci_addr(&id, &mut bridges, &arch)
        };
        let multifunction = ids.len() > 1 && mdev.is_none();
        let sysfs = mdev
            .as_ref()
            .map(|_| format!("/sys/bus/mdev/devices/{i:08}-0000-0000-0000-{vmid:012}"));
        let mut xvga = "";
        if opts.get("x-vga").is_some_and(|v| v == "1") {
            if conf.get("bios") != Some("ovmf") {
                xvga = ",x-vga=on";
            }
            kvm_off = true;
            if conf.get("vga").is_none() {
                vga.kind = "none".into();
            }
            gpu_passthrough = true;
        }
        for (j, dev) in ids.iter().enumerate() {
            let mf = if multifunction {
                format!(".{j}")
            } else {
                String::new()
            };
            let src = match &sysfs {
                Some(p) => format!("sysfsdev={p}"),
                None => format!("host={dev}"),
            };
            let mut s = format!("vfio-pci,{src},id={id}{mf}{addr}{mf}");
            if j == 0 {
                if opts.get("rombar").is_some_and(|v| v == "0") {
                    s.push_str(",rombar=0");
                }
                s.push_str(xvga);
                if multifunction {
                    s.push_str(",multifunction=on");
                }
                if let Some(rom) = opts.get("romfile") {
                    s.push_str(&format!(",romfile=/usr/share/kvm/{rom}"));
                }
                if let Some(b) = bootorder.get(&id) {
                    s.push_str(&format!(",bootindex={b}"));
                }
                for o in ["vendor-id", "device-id", "sub-vendor-id", "sub-device-id"] {
                    if let Some(v) = opts.get(o) {
                        s.push_str(&format!(",x-pci-{o}={v}"));
                    }
                }
            }
            push(&mut devices, "-device", s);
            if sysfs.is_some() {
                break;
            }
        }
    }

    for (i, host, usb3) in &usb_devs {
        let port = use_qemu_xhci.then_some(i + 1);
        let id = format!("usb{i}");
        if host.eq_ignore_ascii_case("spice") && host == "spice" {
            let bus = if (*usb3 && mv(4, 0)) || use_qemu_xhci {
                "xhci"
            } else {
                "ehci"
            };
            push(
                &mut devices,
                "-chardev",
                format!("spicevmc,id=usbredirchardev{i},name=usbredir"),
            );
            let mut dev =
                format!("usb-redir,chardev=usbredirchardev{i},id=usbredirdev{i},bus={bus}.0");
            if let Some(p) = port {
                dev.push_str(&format!(",port={p}"));
            }
            push(&mut devices, "-device", dev);
            if bootorder.contains_key(&id) {
                warnings.push("warning: spice usb port set as bootdevice, ignoring".into());
            }
        } else {
            let mut dev = "usb-host".to_string();
            if *usb3 || port.is_some() {
                dev.push_str(",bus=xhci.0");
                if let Some(p) = port {
                    dev.push_str(&format!(",port={p}"));
                }
            }
            if let Some((vendor, product)) = host.split_once(':') {
                let strip = |x: &str| x.strip_prefix("0x").unwrap_or(x).to_string();
                dev.push_str(&format!(
                    ",vendorid=0x{},productid=0x{}",
                    strip(vendor),
                    strip(product)
                ));
            } else if let Some((bus, port)) = host.split_once('-') {
                dev.push_str(&format!(",hostbus={bus},hostport={port}"));
            } else {
                return Err("no usb id or path given\n".into());
            }
            dev.push_str(&format!(",id={id}"));
            if let Some(b) = bootorder.get(&id) {
                dev.push_str(&format!(",bootindex={b}"));
            }
            push(&mut devices, "-device", dev);
        }
    }

    // parallel ports come right after the serial ports (below)
    // serial ports
    for i in 0..4 {
        let Some(path) = conf.get(&format!("serial{i}")) else {
            continue;
        };
        if path == "socket" {
            push(
                &mut devices,
                "-chardev",
                format!("socket,id=serial{i},path={run}/{vmid}.serial{i},server=on,wait=off"),
            );
        } else {
            push(
                &mut devices,
                "-chardev",
                format!("serial,id=serial{i},path={path}"),
            );
        }
        if arch == "aarch64" && i == 0 && path == "socket" {
            // the aarch64 UART sits in a fixed slot, only reachable through -serial
            push(&mut devices, "-serial", format!("chardev:serial{i}"));
        } else {
            push(
                &mut devices,
                "-device",
                format!("isa-serial,chardev=serial{i}"),
            );
        }
    }
    for i in 0..3 {
        let Some(path) = conf.get(&format!("parallel{i}")) else {
            continue;
        };
        let kind = if path.starts_with("/dev/usb/lp") {
            "serial"
        } else {
            "parallel"
        };
        push(
            &mut devices,
            "-chardev",
            format!("{kind},id=parallel{i},path={path}"),
        );
        push(
            &mut devices,
            "-device",
            format!("isa-parallel,chardev=parallel{i}"),
        );
    }

    let hotplug = conf.get("hotplug").unwrap_or("1");
    let hotplug_features: Vec<&str> = match hotplug {
        "1" => vec!["network", "disk", "usb"],
        "0" => vec![],
        h => h.split(',').collect(),
    };
    for f in &hotplug_features {
        if !["network", "disk", "usb", "memory", "cpu", "cloudinit"].contains(f) {
            return Err(format!("invalid hotplug feature '{f}'"));
        }
    }
    let hotplug_memory = hotplug_features.contains(&"memory");

    // audio
    if let Some(audio) = conf.get("audio0").filter(|_| mv(4, 0)) {
        let mut dev = None;
        let mut driver = "spice".to_string();
        for (j, part) in audio.split(',').enumerate() {
            match part.split_once('=') {
                Some(("device", v)) => dev = Some(v.to_string()),
                Some(("driver", v)) => driver = v.to_string(),
                None if j == 0 => dev = Some(part.to_string()),
                _ => return Err(format!("invalid audio0 option '{part}'")),
            }
        }
        let dev = dev.ok_or("audio0: missing device")?;
        let addr = pci_addr("audio0", &mut bridges, &arch);
        let backend_id = format!("{driver}-backend0");
        let audiodev = if mv(4, 2) {
            format!(",audiodev={backend_id}")
        } else {
            String::new()
        };
        if dev == "AC97" {
            push(
                &mut devices,
                "-device",
                format!("AC97,id=audiodev0{addr}{audiodev}"),
            );
        } else if dev.ends_with("intel-hda") {
            push(&mut devices, "-device", format!("{dev},id=audiodev0{addr}"));
            push(
                &mut devices,
                "-device",
                format!("hda-micro,id=audiodev0-codec0,bus=audiodev0.0,cad=0{audiodev}"),
            );
            push(
                &mut devices,
                "-device",
                format!("hda-duplex,id=audiodev0-codec1,bus=audiodev0.0,cad=1{audiodev}"),
            );
        } else {
            return Err(format!("unknown audio device '{dev}', implement me!"));
        }
        push(
            &mut devices,
            "-audiodev",
            format!("{driver},id={backend_id}"),
        );
    }

    if !is_template && conf.get("tpmstate0").is_some() {
        push(
            &mut devices,
            "-chardev",
            format!("socket,id=tpmchar,path={run}/{vmid}.swtpm"),
        );
        push(
            &mut devices,
            "-tpmdev",
            "emulator,id=tpmdev,chardev=tpmchar".into(),
        );
        push(&mut devices, "-device", "tpm-tis,tpmdev=tpmdev".into());
    }

    let num = |k: &str, d: u64| -> Result<u64, String> {
        conf.get(k)
            .map(|v| v.parse().map_err(|_| format!("invalid {k}")))
            .unwrap_or(Ok(d))
    };
    let sockets = num("sockets", 1)?.max(1);
    let cores = num("cores", 1)?.max(1);
    let maxcpus = sockets * cores;
    let vcpus = match num("vcpus", 0)? {
        0 => maxcpus,
        v => v,
    };
    if hotplug_features.contains(&"cpu") && mv(2, 7) {
        push(
            &mut cmd,
            "-smp",
            format!("1,sockets={sockets},cores={cores},maxcpus={maxcpus}"),
        );
        if arch != "x86_64" {
            return Err("Hotplug of non x86_64 CPU not yet supported".into());
        }
        let model = cpu::hotplug_model(conf.get("cpu"), ctx.custom_cpu_models().as_deref(), kvm)?;
        for id in 2..=vcpus {
            let core = (id - 1) % cores;
            let socket = (id - 1 - core) / cores;
            push(
                &mut cmd,
                "-device",
                format!(
                    "{model}-x86_64-cpu,id=cpu{id},socket-id={socket},core-id={core},thread-id=0"
                ),
            );
        }
    } else {
        push(
            &mut cmd,
            "-smp",
            format!("{vcpus},sockets={sockets},cores={cores},maxcpus={maxcpus}"),
        );
    }
    cmd.push("-nodefaults".into());
    push(
        &mut cmd,
        "-boot",
        "menu=on,strict=on,reboot-timeout=1000,splash=/usr/share/qemu-server/bootsplash.jpg".into(),
    );
    if conf.get("acpi") == Some("0") {
        machine_flags.push("acpi=off".into());
    }
    if conf.get("reboot") == Some("0") {
        cmd.push("-no-reboot".into());
    }
    if !vga.kind.starts_with("serial") && vga.kind != "none" {
        let dev = vga_device(
            &vga,
            None,
            ostype,
            &mut bridges,
            mv(4, 1),
            q35,
            edid_off,
            &arch,
        )?;
        push(&mut devices, "-device", dev);
        if vga.kind == "virtio-gl" {
            push(&mut cmd, "-display", "egl-headless,gl=core".into());
        }
        push(
            &mut cmd,
            "-vnc",
            format!("unix:{run}/{vmid}.vnc,password=on"),
        );
    } else {
        if vga.kind == "none" {
            push(&mut cmd, "-vga", "none".into());
        }
        cmd.push("-nographic".into());
    }

    // Cfg2Cmd: timer / RTC
    let tdf = conf.get("tdf") == Some("1");
    let startdate = conf.get("startdate").unwrap_or("now");
    let localtime = conf.get("localtime") == Some("1");
    let mut global_flags: Vec<String> = Vec::new();
    let mut tdf = tdf;
    let mut localtime = localtime;
    let acpi = conf.get("acpi") != Some("0");
    if winversion >= 5 {
        if conf.get("localtime").is_none() {
            localtime = true;
        }
        if acpi && conf.get("tdf").is_none() {
            tdf = true;
        }
    }
    let hpet_ok = machine::base_type(&machine_type) != "virt";
    if winversion >= 6 {
        global_flags.push("kvm-pit.lost_tick_policy=discard".into());
        if hpet_ok {
            machine_flags.push("hpet=off".into());
        }
    } else if ostype == Some("l26") && guard(10, 1, 0) && hpet_ok {
        machine_flags.push("hpet=off".into());
    }
    if tdf {
        rtc_flags.push("driftfix=slew".into());
    }
    if startdate != "now" {
        rtc_flags.push(format!("base={startdate}"));
    } else if localtime {
        rtc_flags.push("base=localtime".into());
    }

    for g in &global_flags {
        push(&mut cmd, "-global", g.clone());
    }
    let custom_models = ctx.custom_cpu_models();
    let cpu_str = if arch == "aarch64" {
        match conf.get("cpu") {
            Some(c) => cpu::CpuConf::parse(c)?
                .cputype
                .unwrap_or_else(|| if kvm { "host" } else { "max" }.into()),
            None => if kvm { "host" } else { "max" }.to_string(),
        }
    } else {
        cpu::cpu_option(
            &cpu::CpuInputs {
                conf_cpu: conf.get("cpu"),
                ostype,
                bios: conf.get("bios"),
                kvm,
                kvm_off,
                winversion,
                gpu_passthrough,
                qemu_version: kvmver,
                host_vendor: &ctx.host_cpu_vendor(),
                host_phys_bits: ctx.host_phys_bits(),
                custom_models: custom_models.as_deref(),
            },
            &mut guard,
            warnings,
            task_warnings,
        )?
    };
    push(&mut cmd, "-cpu", cpu_str);
    memory_config(ctx, conf, sockets, cores, hotplug_memory, &mut cmd)?;
    if conf.get("freeze") == Some("1") {
        cmd.push("-S".into());
    }
    if let Some(k) = conf.get("keyboard") {
        push(&mut cmd, "-k", k.to_string());
    }

    // guest agent
    if let Some(agent) = conf.get("agent") {
        let mut enabled = false;
        let mut kind = "virtio".to_string();
        for (i, part) in agent.split(',').enumerate() {
            match part.split_once('=') {
                None if i == 0 => enabled = part == "1",
                Some(("enabled", v)) => enabled = v == "1",
                Some(("type", v)) => kind = v.to_string(),
                Some((
                    "fstrim_cloned_disks" | "freeze-fs-on-backup" | "freeze-fs" | "guest-fsfreeze",
                    _,
                )) => {}
                _ => return Err(format!("not implemented yet: agent option '{part}'")),
            }
        }
        if enabled {
            push(
                &mut devices,
                "-chardev",
                format!("socket,path={run}/{vmid}.qga,server=on,wait=off,id=qga0"),
            );
            if kind == "virtio" {
                let addr = pci_addr("qga0", &mut bridges, &arch);
                push(
                    &mut devices,
                    "-device",
                    format!("virtio-serial,id=qga0{addr}"),
                );
                push(
                    &mut devices,
                    "-device",
                    "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0".into(),
                );
            } else if kind == "isa" {
                push(&mut devices, "-device", "isa-serial,chardev=qga0".into());
            }
        }
    }

    // hardware RNG
    if let Some(rng) = conf.get("rng0") {
        let mut source = None;
        let mut max_bytes = "1024".to_string();
        let mut period = "1000".to_string();
        for part in rng.split(',') {
            match part.split_once('=') {
                Some(("source", v)) => source = Some(v.to_string()),
                Some(("max_bytes", v)) => max_bytes = v.to_string(),
                Some(("period", v)) => period = v.to_string(),
                None => source = Some(part.to_string()),
                _ => return Err(format!("not implemented yet: rng0 option '{part}'")),
            }
        }
        if guard(4, 1, 2) {
            let source = source.ok_or("no rng device specified\n")?;
            if !["/dev/urandom", "/dev/random", "/dev/hwrng"].contains(&source.as_str()) {
                return Err(format!("invalid rng source '{source}'\n"));
            }
            push(
                &mut devices,
                "-object",
                format!("rng-random,filename={source},id=rng0"),
            );
            let limiter = if max_bytes != "0" {
                format!(",max-bytes={max_bytes},period={period}")
            } else {
                String::new()
            };
            let addr = pci_addr("rng0", &mut bridges, &arch);
            push(
                &mut devices,
                "-device",
                format!("virtio-rng-pci,rng=rng0{limiter}{addr}"),
            );
        }
    }

    // SPICE / VNC clipboard
    if vga.clipboard.as_deref().is_some_and(|c| c == "vnc")
        && !["std", "cirrus", "vmware", "virtio", "qxl"]
            .iter()
            .any(|p| vga.kind.starts_with(p))
    {
        return Err(format!(
            "vga type {} is not compatible with VNC clipboard\n",
            vga.kind
        ));
    }
    let is_spice = vga.qxlnum > 0 || vga.kind.starts_with("virtio");
    if is_spice || vga.clipboard.as_deref() == Some("vnc") {
        if vga.qxlnum > 1 {
            if winversion > 0 {
                for i in 1..vga.qxlnum {
                    let dev = vga_device(
                        &vga,
                        Some(i),
                        ostype,
                        &mut bridges,
                        mv(4, 1),
                        q35,
                        edid_off,
                        &arch,
                    )?;
                    push(&mut devices, "-device", dev);
                }
            } else {
                let (ram, vram) = match vga.memory {
                    Some(m) => (
                        (vga.qxlnum as u64 * 4 * m * 1024 * 1024).to_string(),
                        (vga.qxlnum as u64 * 2 * m * 1024 * 1024).to_string(),
                    ),
                    None => ("134217728".to_string(), "67108864".to_string()),
                };
                push(&mut cmd, "-global", format!("qxl-vga.ram_size={ram}"));
                push(&mut cmd, "-global", format!("qxl-vga.vram_size={vram}"));
            }
        }
        let addr = pci_addr("spice", &mut bridges, &arch);
        push(
            &mut devices,
            "-device",
            format!("virtio-serial,id=spice{addr}"),
        );
        if vga.clipboard.as_deref() == Some("vnc") {
            push(
                &mut devices,
                "-chardev",
                "qemu-vdagent,id=vdagent,name=vdagent,clipboard=on".into(),
            );
        } else {
            push(
                &mut devices,
                "-chardev",
                "spicevmc,id=vdagent,name=vdagent".into(),
            );
        }
        push(
            &mut devices,
            "-device",
            "virtserialport,chardev=vdagent,name=com.redhat.spice.0".into(),
        );
        if is_spice {
            let (ip, port) = ctx.spice_address();
            let mut folder = false;
            let mut video = None;
            for part in conf.get("spice_enhancements").unwrap_or("").split(',') {
                match part.split_once('=') {
                    Some(("foldersharing", v)) => folder = v == "1",
                    Some(("videostreaming", v)) => video = Some(v.to_string()),
                    None if part.is_empty() => {}
                    _ => return Err(format!("invalid spice_enhancements option '{part}'")),
                }
            }
            if folder {
                push(
                    &mut devices,
                    "-chardev",
                    "spiceport,id=foldershare,name=org.spice-space.webdav.0".into(),
                );
                push(
                    &mut devices,
                    "-device",
                    "virtserialport,chardev=foldershare,name=org.spice-space.webdav.0".into(),
                );
            }
            let mut opts =
                format!("tls-port={port},addr={ip},tls-ciphers=HIGH,seamless-migration=on");
            if let Some(v) = video.filter(|v| v != "off") {
                opts.push_str(&format!(",streaming-video={v}"));
            }
            push(&mut devices, "-spice", opts);
        }
    }

    if conf.get("balloon") != Some("0") {
        let addr = pci_addr("balloon0", &mut bridges, &arch);
        let mut dev = format!("virtio-balloon-pci,id=balloon0{addr}");
        if mv(6, 2) {
            dev.push_str(",free-page-reporting=on");
        }
        push(&mut devices, "-device", dev);
    }
    if let Some(wd) = conf.get("watchdog") {
        let mut model = "i6300esb".to_string();
        let mut action = None;
        for (j, part) in wd.split(',').enumerate() {
            match part.split_once('=') {
                Some(("model", v)) => model = v.to_string(),
                Some(("action", v)) => action = Some(v.to_string()),
                None if j == 0 => model = part.to_string(),
                _ => return Err(format!("invalid watchdog option '{part}'")),
            }
        }
        let addr = pci_addr("watchdog", &mut bridges, &arch);
        push(&mut devices, "-device", format!("{model}{addr}"));
        if let Some(a) = action {
            push(&mut devices, "-watchdog-action", a);
        }
    }
    if let Some(iqn) = ctx.iscsi_initiator_name() {
        push(&mut devices, "-iscsi", format!("initiator-name={iqn}"));
    }

    let scsihw_conf = conf.get("scsihw");
    let scsihw = scsihw_conf.unwrap_or("lsi");
    let mut scsi_controllers: BTreeMap<u32, ()> = BTreeMap::new();
    let mut ahci_controllers: BTreeMap<u32, ()> = BTreeMap::new();
    for key in drive::drive_keys() {
        let Some(value) = conf.get(&key) else {
            continue;
        };
        let d = drive::Drive::parse(&key, value)?;
        if d.interface == "efidisk" || d.interface == "tpmstate" {
            continue;
        }
        if d.interface == "virtio" && d.opt("iothread") == Some("1") {
            push(&mut cmd, "-object", format!("iothread,id=iothread-{key}"));
        }
        if d.interface == "scsi" {
            let (_, controller, prefix) = drive::scsihw_infos(scsihw_conf, d.index);
            if d.index > 13 && !guard(4, 1, 2) {
                return Err(format!("scsi{}: machine version 4.1~pve2 or higher is required to use more than 14 SCSI disks\n", d.index));
            }
            let addr = pci_addr(&format!("{prefix}{controller}"), &mut bridges, &arch);
            let hwtype = if scsihw.starts_with("virtio-scsi-single") {
                "virtio-scsi-pci"
            } else {
                scsihw
            };
            let single = scsihw_conf == Some("virtio-scsi-single");
            let mut iothread = String::new();
            if single && d.opt("iothread") == Some("1") {
                iothread = format!(",iothread=iothread-{prefix}{controller}");
                push(
                    &mut cmd,
                    "-object",
                    format!("iothread,id=iothread-{prefix}{controller}"),
                );
            } else if d.opt("iothread") == Some("1") {
                task_warnings.push("iothread is only valid with virtio disk or virtio-scsi-single controller, ignoring".into());
            }
            let queues = match (single, d.opt("queues")) {
                (true, Some(q)) => format!(",num_queues={q}"),
                _ => String::new(),
            };
            if scsi_controllers.insert(controller, ()).is_none() {
                push(
                    &mut devices,
                    "-device",
                    format!("{hwtype},id={prefix}{controller}{addr}{iothread}{queues}"),
                );
            }
        }
        if d.interface == "sata" {
            let controller = d.index / 6;
            let addr = pci_addr(&format!("ahci{controller}"), &mut bridges, &arch);
            if ahci_controllers.insert(controller, ()).is_none() {
                push(
                    &mut devices,
                    "-device",
                    format!("ahci,id=ahci{controller},multifunction=on{addr}"),
                );
            }
        }
        let blockdev = mv(10, 0);
        if !blockdev {
            let vol = if d.file == "none" {
                None
            } else {
                let vol = drive::resolve_volume(
                    &d,
                    ctx.storage_config(),
                    &ctx.cdrom_path(),
                    ctx.zfs_iscsi_lun(&d.file),
                )?;
                Some(vol)
            };
            if vol
                .as_ref()
                .is_some_and(|v| v.volume_chain && v.format == "qcow2")
            {
                return Err(format!(
                    "storage for '{}' is configured for snapshots as a volume chain - this requires QEMU machine version >= 10.0. See https://pve.proxmox.com/wiki/QEMU_Machine_Version_Upgrade\n",
                    d.file
                ));
            }
            let mut line = drive::drive_commandline(&d, vol.as_ref())?;
            if is_template && d.interface != "ide" && d.interface != "sata" {
                line.push_str(",readonly=on");
            }
            push(&mut devices, "-drive", line);
        } else if d.file != "none" {
            let mut vol = drive::resolve_volume(
                &d,
                ctx.storage_config(),
                &ctx.cdrom_path(),
                ctx.zfs_iscsi_lun(&d.file),
            )?;
            let mixed = vol.volume_chain
                || (vol.storage_type.as_deref() == Some("lvm") && vol.format == "qcow2");
            if mixed {
                vol.chain = ctx.volume_snapshot_chain(&d.file);
            }
            push(
                &mut cmd,
                "-object",
                drive::canonical_json(&drive::throttle_group(&d)),
            );
            let bd = drive::drive_blockdev(&d, &vol, is_template, None)?;
            push(&mut devices, "-blockdev", drive::canonical_json(&bd));
        }
        let addr = if d.interface == "virtio" {
            pci_addr(&key, &mut bridges, &arch)
        } else {
            String::new()
        };
        let dev = drive::drive_device(
            &d,
            scsihw_conf,
            &addr,
            bootorder.get(&key).copied(),
            q35,
            blockdev,
        )?;
        push(&mut devices, "-device", dev);
    }

    for i in 0..MAX_NETS {
        let id = format!("net{i}");
        let Some(value) = conf.get(&id) else { continue };
        let net = parse_net(value)?;
        let vhost = if native && net.model == "virtio" && ctx.vhost_net_available() {
            ",vhost=on"
        } else {
            ""
        };
        let mut netdev = match &net.bridge {
            Some(br) => {
                let _ = br;
                format!(
                    "type=tap,id={id},ifname=tap{vmid}i{i},script=/usr/libexec/qemu-server/pve-bridge,downscript=/usr/libexec/qemu-server/pve-bridgedown{vhost}"
                )
            }
            None => format!("type=user,id={id},hostname={name}"),
        };
        if let (Some(q), true) = (net.queues, net.model == "virtio") {
            netdev.push_str(&format!(",queues={q}"));
        }
        push(&mut devices, "-netdev", netdev);
        guard(10, 0, 1);
        let device = if net.model == "virtio" {
            "virtio-net-pci".to_string()
        } else {
            net.model.clone()
        };
        let addr = pci_addr(&id, &mut bridges, &arch);
        let mut dev = format!("{device},mac={},netdev={id}{addr},id={id}", net.mac);
        if net.model == "virtio" {
            if let Some(q) = net.queues.filter(|q| *q > 1) {
                dev.push_str(&format!(",vectors={},mq=on", q * 2 + 2));
                if mv(7, 1) {
                    dev.push_str(",packed=on");
                }
            }
            if mv(7, 1) {
                dev.push_str(",rx_queue_size=1024,tx_queue_size=256");
            }
        }
        if let Some(bi) = bootorder.get(&id) {
            dev.push_str(&format!(",bootindex={bi}"));
        }
        match (&net.bridge, net.model == "virtio") {
            (Some(br), true) => {
                let bridge_mtu = ctx.bridge_mtu(br);
                let mtu = match net.mtu {
                    None | Some(1) => bridge_mtu,
                    Some(m) if m < 576 => {
                        return Err(format!(
                            "netdev {id}: MTU '{m}' is smaller than the IP minimum MTU '576'\n"
                        ))
                    }
                    Some(m) if m > bridge_mtu => {
                        return Err(format!(
                            "netdev {id}: MTU '{m}' is bigger than the bridge MTU '{bridge_mtu}' - adjust the MTU for the network device in the VM configuration, while ensuring that the bridge is configured as desired.\n"
                        ))
                    }
                    Some(m) => m,
                };
                if machine_version.at_least(10, 0, Some(1)) || mtu != 1500 {
                    dev.push_str(&format!(",host_mtu={mtu}"));
                }
            }
            (_, virtio) => {
                if let Some(m) = net.mtu {
                    let why = if net.bridge.is_none() {
                        "no bridge configured"
                    } else {
                        let _ = virtio;
                        "not using VirtIO"
                    };
                    task_warnings.push(format!("netdev {id}: ignoring MTU '{m}', {why}"));
                }
            }
        }
        if use_old_bios_files {
            let rom = match device.as_str() {
                "virtio-net-pci" => Some("pxe-virtio.rom"),
                "e1000" => Some("pxe-e1000.rom"),
                "e1000e" => Some("pxe-e1000e.rom"),
                "ne2k" => Some("pxe-ne2k_pci.rom"),
                "pcnet" => Some("pxe-pcnet.rom"),
                "rtl8139" => Some("pxe-rtl8139.rom"),
                _ => None,
            };
            if let Some(rom) = rom {
                dev.push_str(&format!(",romfile={rom}"));
            }
        }
        if net.model == "virtio" {
            if machine_version.at_least(11, 0, Some(1)) {
                if net.host_tunnel != Some(true) {
                    dev.push_str(",host_tunnel=off");
                }
            } else if mv(10, 2) && net.host_tunnel == Some(false) {
                dev.push_str(",host_tunnel=off");
            }
        }
        push(&mut devices, "-device", dev);
    }

    // PCI bridges (i440fx)
    if bridges.contains_key(&4) {
        bridges.insert(1, ());
    }
    if !q35 {
        if mv(2, 3) {
            bridges.insert(1, ());
            bridges.insert(2, ());
        }
        if scsihw.starts_with("virtio-scsi-single") {
            bridges.insert(3, ());
        }
    }
    // upstream sorts the bridge numbers as strings, descending, and prepends each
    let mut keys: Vec<String> = bridges.keys().map(|k| k.to_string()).collect();
    keys.sort_by(|a, b| b.cmp(a));
    for k in keys {
        let n: u32 = k.parse().unwrap_or(0);
        if q35 && n < 4 {
            continue;
        }
        let addr = pci_addr(&format!("pci.{k}"), &mut BTreeMap::new(), &arch);
        let dev = format!("pci-bridge,id=pci.{k},chassis_nr={k}{addr}");
        if q35 {
            let at = 2.min(devices.len());
            devices.insert(at, dev);
            devices.insert(at, "-device".into());
        } else if n > 0 {
            devices.insert(0, dev);
            devices.insert(0, "-device".into());
        }
    }

    let mut power_default = true;
    if guard(9, 2, 1) {
        power_default = false;
    }
    let pm_object = if q35 { "ICH9-LPC" } else { "PIIX4_PM" };
    let is_virt = machine::base_type(&machine_type) == "virt";
    if !is_virt
        && (!power_default || machine_enable_s3 == Some(false) || machine_enable_s4 == Some(false))
    {
        if !machine_enable_s3.unwrap_or(power_default) {
            push(&mut cmd, "-global", format!("{pm_object}.disable_s3=1"));
        }
        if !machine_enable_s4.unwrap_or(power_default) {
            push(&mut cmd, "-global", format!("{pm_object}.disable_s4=1"));
        }
    }

    let base = machine_type
        .rfind("+pve")
        .map(|i| &machine_type[..i])
        .unwrap_or(&machine_type);
    if !kvm {
        machine_flags.push("accel=tcg".into());
    }
    let seabios = conf.get("bios").is_none_or(|b| b == "seabios");
    let serial_or_none = vga.kind == "none"
        || vga
            .kind
            .strip_prefix("serial")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if machine::base_type(&machine_type) != "virt" && seabios && serial_or_none {
        machine_flags.push("smm=off".into());
    }
    machine_flags.push(format!("type={base}+pve{required_pve}"));

    // vIOMMU
    if viommu.as_deref() == Some("intel") {
        if !machine_type_cfg
            .as_deref()
            .is_some_and(|t| t.contains("q35"))
        {
            return Err("to use Intel vIOMMU please set the machine type to q35\n".into());
        }
        if aw_bits.as_deref().is_some_and(|b| b != "39" && b != "48") {
            return Err("Intel vIOMMU supports only 39 or 48 bits as address width\n".into());
        }
    }
    if aw_bits.is_some() && viommu.is_none() {
        return Err("cannot set aw-bits if no vIOMMU is configured\n".into());
    }
    if let Some(v) = &viommu {
        let aw = aw_bits
            .as_ref()
            .map(|b| format!(",aw-bits={b}"))
            .unwrap_or_default();
        if v == "intel" {
            devices.insert(0, format!("intel-iommu,intremap=on,caching-mode=on{aw}"));
            devices.insert(0, "-device".into());
            machine_flags.push("kernel-irqchip=split".into());
        } else {
            push(&mut devices, "-device", format!("virtio-iommu-pci{aw}"));
        }
    }

    if let Some(t) = &cvm_type {
        let caps = ctx.hw_capabilities();
        let sc = &caps["amd-sev"];
        let flag = |k: &str| sc[k].as_bool().unwrap_or(false);
        let opt = |k: &str| sev.get(k).is_some_and(|v| v == "1");
        if !flag("sev-support") {
            return Err("Your CPU does not support AMD SEV.\n".into());
        }
        if t == "es" && !flag("sev-support-es") {
            return Err("Your CPU does not support AMD SEV-ES.\n".into());
        }
        if t == "snp" && !flag("sev-support-snp") {
            return Err("Your CPU does not support AMD SEV-SNP.\n".into());
        }
        if conf.get("bios") != Some("ovmf") {
            return Err("To use AMD SEV, you need to change the BIOS to OVMF.\n".into());
        }
        let cbit = sc["cbitpos"].as_u64().unwrap_or(0);
        let rpb = sc["reduced-phys-bits"].as_u64().unwrap_or(0);
        let (obj, policy) = if t == "snp" {
            let mut p: u64 = 1 << 17;
            if sev.get("allow-smt").is_none_or(|v| v == "1") {
                p |= 1 << 16;
            }
            if !opt("no-debug") {
                p |= 1 << 19;
            }
            ("sev-snp-guest", p)
        } else {
            let mut p: u64 = 0;
            if opt("no-debug") {
                p |= 1;
            }
            if opt("no-key-sharing") {
                p |= 2;
            }
            if t == "es" {
                p |= 4;
            }
            p |= 8;
            ("sev-guest", p)
        };
        let mut o =
            format!("{obj},id=sev0,cbitpos={cbit},reduced-phys-bits={rpb},policy={policy:#x}");
        if opt("kernel-hashes") {
            o.push_str(",kernel-hashes=on");
        }
        push(&mut devices, "-object", o);
        machine_flags.push("confidential-guest-support=sev0".into());
    }

    if conf.get("allow-ksm") == Some("0") {
        machine_flags.push("mem-merge=off".into());
    }

    cmd.extend(devices);
    if !rtc_flags.is_empty() {
        push(&mut cmd, "-rtc", rtc_flags.join(","));
    }
    push(&mut cmd, "-machine", machine_flags.join(","));
    if is_template {
        cmd.push("-snapshot".into());
    }
    Ok(cmd)
}

const STATIC_MEM: u64 = 1024;

/// Upstream's `PVE::QemuServer::Memory::config`: `-m`, NUMA nodes and DIMMs.
fn memory_config(
    ctx: GenContext,
    conf: &pve_guest_common::config::ConfigSection,
    sockets: u64,
    cores: u64,
    hotplug: bool,
    cmd: &mut Vec<String>,
) -> Result<(), String> {
    let mut memory: u64 = 512;
    if let Some(m) = conf.get("memory") {
        for (i, part) in m.split(',').enumerate() {
            let v = match part.split_once('=') {
                None if i == 0 => part,
                Some(("current", v)) => v,
                _ => return Err(format!("invalid memory option '{part}'")),
            };
            memory = v
                .parse()
                .map_err(|_| format!("invalid memory value '{v}'"))?;
        }
    }
    let numa = conf.get("numa") == Some("1");
    let hugepages = conf.get("hugepages");
    let custom_numa: Vec<u32> = (0..8)
        .filter(|i| conf.get(&format!("numa{i}")).is_some())
        .collect();
    if hotplug && !custom_numa.is_empty() {
        return Err("cannot enable memory hotplug with custom NUMA topology\n".into());
    }
    let mut push = |a: &str, b: String| {
        cmd.push(a.to_string());
        cmd.push(b);
    };
    let static_memory;
    if hotplug {
        if !numa {
            return Err("NUMA needs to be enabled for memory hotplug\n".into());
        }
        let host_bits = ctx.host_phys_bits().unwrap_or(36);
        let bits = host_bits.min(40) & !1;
        let max_mem = (1u64 << (bits - 21)).min(4 * 1024 * 1024);
        if memory > max_mem {
            return Err(format!("Total memory is bigger than {max_mem}MB\n"));
        }
        let mut sm = STATIC_MEM;
        if hugepages == Some("1024") {
            sm *= sockets;
        }
        if memory < sm {
            return Err(format!("minimum memory must be {sm}MB\n"));
        }
        static_memory = sm;
        push("-m", format!("size={sm},slots=255,maxmem={max_mem}M"));
    } else {
        static_memory = memory;
        push("-m", memory.to_string());
    }
    if hugepages.is_some() && !numa {
        return Err("numa needs to be enabled to use hugepages".into());
    }
    let mem_object = |id: &str, size: u64| -> Result<String, String> {
        match hugepages {
            Some(hp) => {
                if size == 0 || size & 1 == 1 {
                    return Err(format!(
                        "memory size '{size}' is not a positive even integer; cannot use for hugepages\n"
                    ));
                }
                let page = match hp {
                    "any" => {
                        if size & 1023 == 0 {
                            1024
                        } else {
                            2
                        }
                    }
                    other => {
                        let p: u64 = other
                            .parse()
                            .map_err(|_| format!("invalid hugepages value '{other}'"))?;
                        if size % p != 0 {
                            return Err(format!("Memory size {size} is not a multiple of the requested hugepages size {p}\n"));
                        }
                        p
                    }
                };
                Ok(format!(
                    "memory-backend-file,id={id},size={size}M,mem-path=/run/hugepages/kvm/{}kB,share=on,prealloc=yes",
                    page * 1024
                ))
            }
            None => Ok(format!("memory-backend-ram,id={id},size={size}M")),
        }
    };
    let mut numa_total = 0u64;
    if numa {
        for &i in &custom_numa {
            let value = conf.get(&format!("numa{i}")).unwrap_or_default();
            let mut opts: BTreeMap<&str, &str> = BTreeMap::new();
            for part in value.split(',') {
                let (k, v) = part
                    .split_once('=')
                    .ok_or_else(|| format!("invalid numa{i} value '{value}'"))?;
                opts.insert(k, v);
            }
            let mem: u64 = opts
                .get("memory")
                .and_then(|m| m.parse().ok())
                .ok_or_else(|| format!("missing NUMA node{i} memory value\n"))?;
            numa_total += mem;
            let memdev = format!("ram-node{i}");
            let mut obj = mem_object(&memdev, mem)?;
            let cpus = opts
                .get("cpus")
                .ok_or_else(|| format!("missing NUMA node{i} cpus\n"))?
                .split(';')
                .collect::<Vec<_>>()
                .join(",cpus=");
            if let Some(hn) = opts.get("hostnodes") {
                let hostnodes = hn.split(';').collect::<Vec<_>>().join(",");
                let policy = opts.get("policy").ok_or_else(|| {
                    format!("you need to define a policy for hostnode {hostnodes}\n")
                })?;
                obj.push_str(&format!(",host-nodes={hostnodes},policy={policy}"));
            } else if hugepages.is_some() {
                return Err("numa hostnodes need to be defined to use hugepages".into());
            }
            push("-object", obj);
            push(
                "-numa",
                format!("node,nodeid={i},cpus={cpus},memdev={memdev}"),
            );
        }
        if numa_total > 0 && numa_total != static_memory {
            return Err("total memory for NUMA nodes must be equal to vm static memory\n".into());
        }
    }
    if numa && numa_total == 0 {
        let numa_memory = static_memory / sockets;
        for i in 0..sockets {
            let mut cpus = (cores * i).to_string();
            if cores > 1 {
                cpus = format!("{cpus}-{}", cores * i + cores - 1);
            }
            let memdev = format!("ram-node{i}");
            push("-object", mem_object(&memdev, numa_memory)?);
            push(
                "-numa",
                format!("node,nodeid={i},cpus={cpus},memdev={memdev}"),
            );
        }
    }
    if hotplug && static_memory != memory {
        let mut dimm_size: u64 = if hugepages == Some("1024") { 1024 } else { 512 };
        let mut current = static_memory;
        let mut id = 0;
        'outer: for _ in 0..8 {
            for i in 0..32u64 {
                let node = i % sockets; // no custom topology with hotplug (checked above)
                current += dimm_size;
                push("-object", mem_object(&format!("mem-dimm{id}"), dimm_size)?);
                push(
                    "-device",
                    format!("pc-dimm,id=dimm{id},memdev=mem-dimm{id},node={node}"),
                );
                id += 1;
                if current > memory {
                    return Err(format!(
                        "memory size ({memory}) must be aligned to {dimm_size} for hotplugging\n"
                    ));
                }
                if current >= memory {
                    break 'outer;
                }
            }
            dimm_size *= 2;
        }
    }
    Ok(())
}

const EDK2: &str = "/usr/share/pve-edk2-firmware/";

/// The OVMF `(code, vars)` images (upstream paths) for a VM section with the EFI disk
/// value `efidisk` (upstream's `get_ovmf_files` as `create_efidisk` and
/// `get_efivars_size` call it: SMM when the configured machine is q35, the CVM type
/// of `amd-sev`, the configured or host architecture).
pub(crate) fn ovmf_files_for(
    conf: &pve_guest_common::config::ConfigSection,
    efidisk: Option<&str>,
) -> Result<(String, String), String> {
    let efi = efidisk
        .map(|v| drive::Drive::parse("efidisk0", v))
        .transpose()?;
    let machine = conf.get("machine").unwrap_or_default();
    let mtype = machine
        .split(',')
        .find_map(|p| match p.split_once('=') {
            Some(("type", t)) => Some(t),
            Some(_) => None,
            None => Some(p),
        })
        .unwrap_or_default();
    let smm = mtype.contains("q35");
    let cvm = conf.get("amd-sev").and_then(|v| {
        v.split(',').find_map(|p| match p.split_once('=') {
            Some(("type", t)) => Some(t.to_string()),
            Some(_) => None,
            None => Some(p.to_string()),
        })
    });
    if cvm.as_deref() == Some("snp") {
        return Err(
            "SEV-SNP uses consolidated read-only firmware and does not require an EFI disk\n"
                .into(),
        );
    }
    let arch = conf
        .get("arch")
        .unwrap_or(std::env::consts::ARCH)
        .to_string();
    Ok(ovmf_files(efi.as_ref(), smm, cvm.as_deref(), &arch))
}

/// `(code, vars)` OVMF images for an EFI disk (x86_64, no confidential computing).
fn ovmf_files(
    efi: Option<&drive::Drive>,
    smm: bool,
    cvm: Option<&str>,
    arch: &str,
) -> (String, String) {
    if arch == "aarch64" {
        let ms = efi.is_some_and(|d| d.opt("pre-enrolled-keys") == Some("1"));
        let (code, vars) = if ms {
            ("AAVMF_CODE.secboot.fd", "AAVMF_VARS.ms.fd")
        } else {
            ("AAVMF_CODE.fd", "AAVMF_VARS.fd")
        };
        return (format!("{EDK2}/{code}"), format!("{EDK2}/{vars}"));
    }
    let (code, vars) = match efi {
        _ if matches!(cvm, Some("std" | "es")) => ("OVMF_SEV_CODE_4M.fd", "OVMF_SEV_VARS_4M.fd"),
        Some(d) if d.opt("efitype") == Some("4m") => {
            let ms = d.opt("pre-enrolled-keys") == Some("1");
            let code = if smm {
                "OVMF_CODE_4M.secboot.fd"
            } else {
                "OVMF_CODE_4M.fd"
            };
            (
                code,
                if ms {
                    "OVMF_VARS_4M.ms.fd"
                } else {
                    "OVMF_VARS_4M.fd"
                },
            )
        }
        _ => ("OVMF_CODE.fd", "OVMF_VARS.fd"),
    };
    (format!("{EDK2}/{code}"), format!("{EDK2}/{vars}"))
}

/// Parsed `vga` property.
struct Vga {
    kind: String,
    memory: Option<u64>,
    clipboard: Option<String>,
    qxlnum: u32,
}

fn parse_vga(
    value: Option<&str>,
    mv_2_9: bool,
    winversion: u32,
    arch: &str,
) -> Result<Vga, String> {
    let mut vga = Vga {
        kind: String::new(),
        memory: None,
        clipboard: None,
        qxlnum: 0,
    };
    for (i, part) in value.unwrap_or("").split(',').enumerate() {
        match part.split_once('=') {
            None if i == 0 => vga.kind = part.to_string(),
            Some(("type", v)) => vga.kind = v.to_string(),
            Some(("memory", v)) => {
                vga.memory = Some(v.parse().map_err(|_| format!("invalid vga memory '{v}'"))?)
            }
            Some(("clipboard", v)) => vga.clipboard = Some(v.to_string()),
            _ => return Err(format!("invalid vga option '{part}'")),
        }
    }
    vga.qxlnum = match vga.kind.as_str() {
        "qxl" => 1,
        "qxl2" => 2,
        "qxl3" => 3,
        "qxl4" => 4,
        _ => 0,
    };
    if vga.qxlnum > 0 {
        vga.kind = "qxl".into();
    }
    if vga.kind.is_empty() && arch == "aarch64" {
        vga.kind = "virtio".into();
    }
    if vga.kind.is_empty() {
        vga.kind = if (mv_2_9 && winversion == 0) || winversion >= 6 {
            "std".into()
        } else {
            "cirrus".into()
        };
    }
    Ok(vga)
}

#[allow(clippy::too_many_arguments)] // mirrors upstream print_vga_device
fn vga_device(
    vga: &Vga,
    id: Option<u32>,
    ostype: Option<&str>,
    bridges: &mut BTreeMap<u32, ()>,
    mv_4_1: bool,
    q35: bool,
    edid_off: bool,
    arch: &str,
) -> Result<String, String> {
    let mut kind = match vga.kind.as_str() {
        "cirrus" => "cirrus-vga",
        "std" => "VGA",
        "vmware" => "vmware-svga",
        "virtio" if arch == "aarch64" => "virtio-gpu",
        "virtio-gl" if arch == "aarch64" => "virtio-gpu-gl",
        "virtio" => "virtio-vga",
        "virtio-gl" => "virtio-vga-gl",
        "qxl" => "qxl-vga",
        other => return Err(format!("no device-type for {other}\n")),
    };
    let mut max_outputs = "";
    if vga.qxlnum > 0 {
        kind = if id.is_some_and(|i| i > 0) {
            "qxl"
        } else {
            "qxl-vga"
        };
        let linuxish = ostype.is_none_or(|o| {
            o == "other"
                || (o.len() == 3
                    && o.starts_with('l')
                    && o[1..].bytes().all(|b| b.is_ascii_digit()))
        });
        if linuxish && mv_4_1 {
            max_outputs = ",max_outputs=4";
        }
    }
    let mut memory = String::new();
    if let Some(mb) = vga.memory {
        if vga.kind.starts_with("virtio") {
            memory = format!(",max_hostmem={}", mb * 1024 * 1024);
        } else if vga.qxlnum > 0 {
            memory = format!(
                ",vgamem_mb={mb},ram_size_mb={},vram_size_mb={}",
                mb * 4,
                mb * 2
            );
        } else {
            memory = format!(",vgamem_mb={mb}");
        }
    } else if vga.qxlnum > 0 && id.is_some_and(|i| i > 0) {
        memory = ",ram_size=67108864,vram_size=33554432".into();
    }
    let vgaid = format!("vga{}", id.map(|i| i.to_string()).unwrap_or_default());
    let addr = if q35 && vgaid == "vga" {
        ",bus=pcie.0,addr=0x1".to_string()
    } else {
        pci_addr(&vgaid, bridges, arch)
    };
    let edid = if kind == "VGA" && edid_off {
        ",edid=off"
    } else {
        ""
    };
    Ok(format!(
        "{kind},id={vgaid}{memory}{max_outputs}{addr}{edid}"
    ))
}

/// `-smbios type=1,...` from the `smbios1` property (keys sorted, commas doubled,
/// base64 values decoded).
fn smbios1_arg(value: &str) -> Result<String, String> {
    let mut map = BTreeMap::new();
    for part in value.split(',') {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| format!("invalid smbios1 value '{value}'"))?;
        map.insert(k.to_string(), v.to_string());
    }
    let base64 = map.remove("base64").is_some_and(|v| v == "1");
    let mut out = "type=1".to_string();
    for (k, v) in map {
        let v = if base64 && k != "uuid" {
            let bytes = openssl::base64::decode_block(&v)
                .map_err(|_| format!("invalid base64 in smbios1 '{k}'"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            v
        };
        // Perl truthiness: empty and "0" values are left out
        if !v.is_empty() && v != "0" {
            out.push_str(&format!(",{k}={}", v.replace(',', ",,")));
        }
    }
    Ok(out)
}

/// The binary for the host architecture.
pub fn qemu_binary(arch: &str) -> String {
    if arch == "x86_64" {
        "/usr/bin/kvm".into()
    } else {
        format!("/usr/bin/qemu-system-{arch}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Host;
    impl HostFacts for Host {
        fn node_name(&self) -> &str {
            "localhost"
        }
        fn qemu_version(&self) -> (u32, u32, u32) {
            (11, 0, 0)
        }
        fn host_arch(&self) -> &str {
            "x86_64"
        }
        fn iscsi_initiator_name(&self) -> Option<String> {
            None
        }
    }

    fn conf(text: &str) -> GuestConfig {
        crate::config::parse_vm_config(100, text, false)
            .expect("config parses")
            .config
    }

    #[test]
    fn upstream_and_stock_targets() {
        let c = conf("memory: 1024\nnet0: virtio=A2:C0:43:77:08:A0,bridge=vmbr0\nostype: l26\n");
        let (argv, warnings) = config_to_command(&Host, 100, &c, &Target::Upstream).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(argv[0], "/usr/bin/kvm");
        assert_eq!(&argv[1..3], ["-id", "100"]);
        assert!(argv.iter().any(|a| a.ends_with("host_tunnel=off")));
        assert_eq!(argv.last().unwrap(), "hpet=off,type=pc+pve0");

        let caps = Capabilities {
            binary: "/usr/bin/qemu-system-x86_64".into(),
            version: (10, 0, 2),
            machines: Default::default(),
            devices: Default::default(),
        };
        let (argv, _) = config_to_command(&Host, 100, &c, &Target::Stock(caps)).unwrap();
        assert_eq!(argv[0], "/usr/bin/qemu-system-x86_64");
        assert!(!argv.iter().any(|a| a == "-id"));
        // 10.0 binary: debug-threads still given, no host_tunnel, no +pveN
        assert!(argv.iter().any(|a| a == "vm100,debug-threads=on"));
        assert!(!argv.iter().any(|a| a.contains("host_tunnel")));
        assert_eq!(argv.last().unwrap(), "type=pc");
    }

    #[test]
    fn cpu_hotplug_devices() {
        let c = conf("cores: 2\nsockets: 2\nvcpus: 3\nhotplug: cpu,network\n");
        let (argv, _) = config_to_command(&Host, 100, &c, &Target::Upstream).unwrap();
        let smp = argv.iter().position(|a| a == "-smp").unwrap();
        assert_eq!(argv[smp + 1], "1,sockets=2,cores=2,maxcpus=4");
        assert_eq!(
            argv[smp + 3],
            "kvm64-x86_64-cpu,id=cpu2,socket-id=0,core-id=1,thread-id=0"
        );
        assert_eq!(
            argv[smp + 5],
            "kvm64-x86_64-cpu,id=cpu3,socket-id=1,core-id=0,thread-id=0"
        );
        assert_eq!(argv[smp + 6], "-nodefaults");
    }

    #[test]
    fn custom_numa_nodes() {
        let c = conf(
            "memory: 1024\nnuma: 1\nsockets: 2\nnuma0: cpus=0;1,hostnodes=0-1,memory=512,policy=bind\nnuma1: cpus=2-3,memory=512\n",
        );
        let (argv, _) = config_to_command(&Host, 100, &c, &Target::Upstream).unwrap();
        let joined = argv.join(" ");
        assert!(joined.contains(
            "-object memory-backend-ram,id=ram-node0,size=512M,host-nodes=0-1,policy=bind -numa node,nodeid=0,cpus=0,cpus=1,memdev=ram-node0"
        ));
        assert!(joined.contains("-numa node,nodeid=1,cpus=2-3,memdev=ram-node1"));
        let bad = conf("memory: 2048\nnuma: 1\nnuma0: cpus=0,memory=512\n");
        assert_eq!(
            config_to_command(&Host, 100, &bad, &Target::Upstream).unwrap_err(),
            "total memory for NUMA nodes must be equal to vm static memory\n"
        );
    }

    #[test]
    fn errors_and_showcmd() {
        let c = conf("machine: pc-q35-42.9\n");
        let err = config_to_command(&Host, 100, &c, &Target::Upstream).unwrap_err();
        assert_eq!(
            err,
            "Installed QEMU version '11.0.0' is too old to run machine type 'pc-q35-42.9+pve0', please upgrade node 'localhost'\n"
        );
        let argv: Vec<String> = ["/usr/bin/kvm", "-id", "1", "-machine", "type=pc+pve0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            showcmd(&argv, true),
            "/usr/bin/kvm \\\n  -id 1 \\\n  -machine 'type=pc+pve0'\n"
        );
        assert_eq!(
            showcmd(&argv, false),
            "/usr/bin/kvm -id 1 -machine 'type=pc+pve0'\n"
        );
    }
}
