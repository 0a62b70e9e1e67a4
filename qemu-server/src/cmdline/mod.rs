//! VM config → QEMU command line for upstream's patched QEMU (what `qm showcmd` prints).
//!
//! Covered so far: the common frame (ids, QMP/event sockets, pid file, SMBIOS, SMP,
//! boot menu, VNC, the default CPU, memory, the i440fx chipset with its PCI bridges,
//! USB tablet, VGA, balloon, iSCSI initiator, machine type). A config using a key the
//! generator does not handle yet is refused with an error naming the key, never
//! answered with a wrong command line.

use pve_guest_common::GuestConfig;

mod quote;

pub use quote::{normalize_pretty, pretty_command, shell_quote};

/// What the generator asks of the host. The conformance harness supplies the corpus'
/// facts; a real node reads them from the system.
pub trait HostFacts {
    fn node_name(&self) -> &str;
    /// QEMU binary version `(major, minor, micro)`.
    fn qemu_version(&self) -> (u32, u32, u32);
    fn host_arch(&self) -> &str;
    fn iscsi_initiator_name(&self) -> Option<String>;
}

/// Keys the generator understands (everything else is refused for now).
const HANDLED_KEYS: &[&str] = &[
    "smbios1", "name", "sockets", "cores", "vcpus", "memory", "tablet", "balloon", "numa",
    "ostype", "vmgenid", "digest",
];

/// Builds the argv of the VM's QEMU process.
pub fn config_to_command(
    vmid: u32,
    config: &GuestConfig,
    host: &dyn HostFacts,
) -> Result<Vec<String>, String> {
    let conf = &config.main;
    for key in conf.values.keys() {
        if !HANDLED_KEYS.contains(&key.as_str()) {
            return Err(format!("not implemented yet: config key '{key}'"));
        }
    }
    if conf.get("ostype").is_some_and(|o| o.starts_with('w')) {
        return Err("not implemented yet: Windows machine pinning".into());
    }
    if conf.get("vmgenid").is_some_and(|v| v != "0") {
        return Err("not implemented yet: vmgenid device".into());
    }
    if host.host_arch() != "x86_64" {
        return Err("not implemented yet: non-x86_64 hosts".into());
    }
    let run = "/var/run/qemu-server";
    let mut cmd: Vec<String> = vec![qemu_binary(host.host_arch())];
    cmd_start(&mut cmd, vmid, conf.get("name"), run);
    let mut push = |a: &str, b: String| {
        cmd.push(a.to_string());
        cmd.push(b);
    };
    if let Some(smbios) = conf.get("smbios1") {
        if smbios.contains("base64=1") {
            return Err("not implemented yet: base64 smbios".into());
        }
        push("-smbios", format!("type=1,{smbios}"));
    }
    let num = |k: &str, d: u64| -> Result<u64, String> {
        conf.get(k)
            .map(|v| v.parse().map_err(|_| format!("invalid {k}")))
            .unwrap_or(Ok(d))
    };
    let sockets = num("sockets", 1)?;
    let cores = num("cores", 1)?;
    let maxcpus = sockets * cores;
    let vcpus = num("vcpus", maxcpus)?;
    push(
        "-smp",
        format!("{vcpus},sockets={sockets},cores={cores},maxcpus={maxcpus}"),
    );
    cmd.push("-nodefaults".into());
    let mut push = |a: &str, b: String| {
        cmd.push(a.to_string());
        cmd.push(b);
    };
    push(
        "-boot",
        "menu=on,strict=on,reboot-timeout=1000,splash=/usr/share/qemu-server/bootsplash.jpg".into(),
    );
    push("-vnc", format!("unix:{run}/{vmid}.vnc,password=on"));
    push(
        "-cpu",
        "kvm64,enforce,+kvm_pv_eoi,+kvm_pv_unhalt,+lahf_lm,+sep".into(),
    );
    let memory = conf
        .get("memory")
        .map(|m| m.strip_prefix("current=").unwrap_or(m).to_string())
        .unwrap_or_else(|| "512".into());
    push("-m", memory);
    push("-global", "PIIX4_PM.disable_s3=1".into());
    push("-global", "PIIX4_PM.disable_s4=1".into());
    push(
        "-device",
        "pci-bridge,id=pci.1,chassis_nr=1,bus=pci.0,addr=0x1e".into(),
    );
    push(
        "-device",
        "pci-bridge,id=pci.2,chassis_nr=2,bus=pci.0,addr=0x1f".into(),
    );
    if conf.get("tablet") != Some("0") {
        push(
            "-device",
            "piix3-usb-uhci,id=uhci,bus=pci.0,addr=0x1.0x2".into(),
        );
        push("-device", "usb-tablet,id=tablet,bus=uhci.0,port=1".into());
    }
    push("-device", "VGA,id=vga,bus=pci.0,addr=0x2".into());
    if conf.get("balloon") != Some("0") {
        push(
            "-device",
            "virtio-balloon-pci,id=balloon0,bus=pci.0,addr=0x3,free-page-reporting=on".into(),
        );
    }
    if let Some(iqn) = host.iscsi_initiator_name() {
        push("-iscsi", format!("initiator-name={iqn}"));
    }
    push("-machine", "type=pc+pve0".into());
    Ok(cmd)
}

fn cmd_start(cmd: &mut Vec<String>, vmid: u32, name: Option<&str>, run: &str) {
    let mut push = |a: &str, b: String| {
        cmd.push(a.to_string());
        if !b.is_empty() {
            cmd.push(b);
        }
    };
    push("-id", vmid.to_string());
    push(
        "-name",
        name.map(str::to_string).unwrap_or(format!("vm{vmid}")),
    );
    push("-no-shutdown", String::new());
    push(
        "-chardev",
        format!("socket,id=qmp,path={run}/{vmid}.qmp,server=on,wait=off"),
    );
    push("-mon", "chardev=qmp,mode=control".into());
    push(
        "-chardev",
        "socket,id=qmp-event,path=/var/run/qmeventd.sock,reconnect-ms=5000".into(),
    );
    push("-mon", "chardev=qmp-event,mode=control".into());
    push("-pidfile", format!("{run}/{vmid}.pid"));
    push("-daemonize", String::new());
}

/// The binary for the host architecture.
pub fn qemu_binary(arch: &str) -> String {
    if arch == "x86_64" {
        "/usr/bin/kvm".into()
    } else {
        format!("/usr/bin/qemu-system-{arch}")
    }
}
