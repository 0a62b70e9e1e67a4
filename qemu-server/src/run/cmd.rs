//! The seam between the VM config and the QEMU process actually started.
//!
//! `start_command` turns a config into the argv of the stock QEMU binary with the one
//! generator (`cmdline::config_to_command(.., Target::Stock(caps))`, every stock QEMU
//! difference in `cmdline::stock`), plus what `run` does around the process: the tap
//! devices to create on their bridges and the volumes to activate.

use std::collections::BTreeMap;

use anyhow::{bail, format_err, Error};
use pve_common::paths::NodePaths;
use pve_guest_common::GuestConfig;
use serde_json::Value;

use crate::cmdline::{self, Capabilities, Target};
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
        let qemu_binary =
            std::env::var("PVE_QEMU_BINARY").unwrap_or_else(|_| cmdline::host_qemu_binary());
        Self { qemu_binary, kvm }
    }
}

/// storage.cfg with every `path` below the node root (a test or dev node lives under a
/// prefix; a real node's root is `/` and nothing changes).
fn rooted_storage(
    paths: &NodePaths,
    cfg: &pve_storage::StorageConfig,
) -> pve_storage::StorageConfig {
    let mut cfg = cfg.clone();
    if paths.root() != std::path::Path::new("/") {
        for section in cfg.data.ids.values_mut() {
            if let Some(Value::String(p)) = section.get_mut("path") {
                *p = paths.host(p).to_string_lossy().into_owned();
            }
        }
    }
    cfg
}

/// Runtime paths of the generated line (`/var/run/qemu-server/...`) below the node root.
fn relocate_run_dir(argv: Vec<String>, paths: &NodePaths) -> Vec<String> {
    let run = helpers::run_dir(paths).to_string_lossy().into_owned();
    if run == "/var/run/qemu-server" || run == "/run/qemu-server" {
        return argv;
    }
    argv.into_iter()
        .map(|a| {
            a.replace("/var/run/qemu-server/", &format!("{run}/"))
                .replace("=/run/qemu-server/", &format!("={run}/"))
                .replace("\"/run/qemu-server/", &format!("\"{run}/"))
        })
        .collect()
}

/// The tap devices of the config's bridged NICs (upstream's pve-bridge does this when
/// QEMU opens them; here `run` creates them before QEMU starts).
fn taps(vmid: u32, conf: &BTreeMap<String, String>) -> Vec<TapDevice> {
    let mut out = Vec::new();
    for i in 0..32 {
        let Some(value) = conf.get(&format!("net{i}")) else {
            continue;
        };
        let prop = |name: &str| {
            value
                .split(',')
                .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        };
        if let Some(bridge) = prop("bridge") {
            out.push(TapDevice {
                name: format!("tap{vmid}i{i}"),
                bridge: bridge.to_string(),
                mtu: prop("mtu").and_then(|m| m.parse().ok()),
            });
        }
    }
    out
}

/// Volume ids of the config's drives (not `none`, `cdrom` or absolute paths).
fn volumes(conf: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (key, value) in conf {
        if crate::drive::parse_drive_name(key).is_none() {
            continue;
        }
        let file = value.split(',').next().unwrap_or_default();
        let file = file.strip_prefix("file=").unwrap_or(file);
        if file.contains(':') && !file.starts_with('/') {
            out.push(file.to_string());
        }
    }
    out
}

/// A `bios: ovmf` VM without `efidisk0` runs on a fresh copy of the vars template in
/// `/run/qemu-server/efidisk/VMID-ovmf.fd` (upstream copies it while building the
/// command line, with "no efidisk configured! Using temporary efivars disk.").
fn temporary_efivars(
    paths: &NodePaths,
    vmid: u32,
    section: &pve_guest_common::ConfigSection,
) -> Result<(), Error> {
    let (_, vars) = cmdline::ovmf_files_for(section, None).map_err(|e| format_err!("{e}"))?;
    let template = cmdline::stock::firmware_file(&vars);
    if !std::path::Path::new(&template).exists() {
        bail!("EFI vars image '{vars}' not found");
    }
    let dir = helpers::run_dir(paths).join("efidisk");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(&template, dir.join(format!("{vmid}-ovmf.fd")))
        .map_err(|e| format_err!("unable to copy '{template}' - {e}"))?;
    Ok(())
}

/// Capabilities of the binary, probed once and kept in /run/qemu-server keyed by the
/// binary's identity (a probe costs three process starts).
pub fn capabilities(paths: &NodePaths, binary: &str) -> Result<Capabilities, Error> {
    Capabilities::probe_cached(binary, &helpers::run_dir(paths)).map_err(|e| format_err!("{e}"))
}

/// Builds the stock-QEMU argv for `vmid` from the generator.
pub fn start_command(
    paths: &NodePaths,
    node: &str,
    storage: &pve_storage::Storage,
    vmid: u32,
    config: &GuestConfig,
    host: &HostEnv,
) -> Result<StartCommand, Error> {
    let conf = &config.main.values;
    if !host.kvm && conf.get("kvm").map(String::as_str) != Some("0") {
        bail!("KVM virtualisation configured, but not available. Either disable in VM configuration or enable in BIOS.");
    }
    let caps = capabilities(paths, &host.qemu_binary)?;
    let facts = cmdline::NodeHost::for_start(
        paths,
        node,
        caps.version,
        rooted_storage(paths, &storage.cfg),
    );
    let (argv, _warnings) =
        cmdline::config_to_command(&facts, vmid, config, &Target::Stock(caps.clone()))
            .map_err(|e| format_err!("{}", e.trim_end()))?;
    cmdline::stock::check(&argv, &caps).map_err(|e| format_err!("{e}"))?;
    if conf.get("bios").map(String::as_str) == Some("ovmf") && !conf.contains_key("efidisk0") {
        temporary_efivars(paths, vmid, &config.main)?;
    }
    Ok(StartCommand {
        argv: relocate_run_dir(argv, paths),
        taps: taps(vmid, conf),
        volumes: volumes(conf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_and_volumes() {
        let mut conf = BTreeMap::new();
        conf.insert(
            "net0".to_string(),
            "virtio=BC:24:11:00:00:01,bridge=vmbr0,mtu=1400".to_string(),
        );
        conf.insert("net1".to_string(), "e1000=BC:24:11:00:00:02".to_string());
        conf.insert(
            "scsi0".to_string(),
            "local:100/vm-100-disk-0.qcow2,size=1G".into(),
        );
        conf.insert("ide2".to_string(), "none,media=cdrom".into());
        conf.insert("name".to_string(), "a:b".into());
        assert_eq!(
            taps(100, &conf),
            vec![TapDevice {
                name: "tap100i0".into(),
                bridge: "vmbr0".into(),
                mtu: Some(1400)
            }]
        );
        assert_eq!(volumes(&conf), vec!["local:100/vm-100-disk-0.qcow2"]);
    }

    #[test]
    fn run_dir_below_root() {
        let paths = NodePaths::new("/tmp/x");
        let out = relocate_run_dir(
            vec!["-pidfile".into(), "/var/run/qemu-server/1.pid".into()],
            &paths,
        );
        assert_eq!(
            out[1],
            format!("{}/1.pid", helpers::run_dir(&paths).display())
        );
        let out = relocate_run_dir(
            vec![r#"{"file":{"filename":"/run/qemu-server/efidisk/1-ovmf.fd"}}"#.into()],
            &paths,
        );
        assert_eq!(
            out[0],
            format!(
                r#"{{"file":{{"filename":"{}/efidisk/1-ovmf.fd"}}}}"#,
                helpers::run_dir(&paths).display()
            )
        );
    }
}
