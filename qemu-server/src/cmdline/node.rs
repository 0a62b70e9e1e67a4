//! The generator's view of a real node ([`NodeHost`]) and `qm showcmd`.

use pve_common::NodePaths;

use super::{config_to_command, showcmd, HostFacts, Target};

/// Host facts read from this node: its name, the installed QEMU's version (probed once),
/// the architecture, the iSCSI initiator name and storage.cfg.
pub struct NodeHost {
    node: String,
    version: (u32, u32, u32),
    storage: Option<pve_storage::StorageConfig>,
    paths: NodePaths,
    /// For a start: bridge MTUs and vhost-net are asked of the running host (for
    /// `qm showcmd` upstream's fixed answers stand).
    live: bool,
}

/// The QEMU binary of this host's architecture.
pub fn host_qemu_binary() -> String {
    format!("/usr/bin/qemu-system-{}", std::env::consts::ARCH)
}

/// The installed QEMU's version. `--version` costs a process start (about 50 ms), so
/// the answer is kept in /run/qemu-server/qemu-version, keyed by the binary's identity
/// (path, inode, size, mtime), and asked again only when the binary changed.
pub fn qemu_version_cached(paths: &NodePaths, binary: &str) -> Result<(u32, u32, u32), String> {
    use std::os::unix::fs::MetadataExt;
    let meta =
        std::fs::metadata(binary).map_err(|e| format!("unable to stat '{binary}' - {e}\n"))?;
    let key = format!("{binary} {} {} {}", meta.ino(), meta.size(), meta.mtime());
    let cache = paths.qemu_run_dir().join("qemu-version");
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Some((k, v)) = text.trim_end().rsplit_once(' ') {
            if k == key {
                if let Some(ver) =
                    super::stock::parse_version_output(&format!("QEMU emulator version {v}"))
                {
                    return Ok(ver);
                }
            }
        }
    }
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| format!("unable to run '{binary}' - {e}\n"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let ver = super::stock::parse_version_output(&text)
        .ok_or_else(|| format!("unable to parse the version of '{binary}'\n"))?;
    let _ = std::fs::create_dir_all(paths.qemu_run_dir());
    let tmp = cache.with_extension(format!("tmp.{}", std::process::id()));
    if std::fs::write(&tmp, format!("{key} {}.{}.{}\n", ver.0, ver.1, ver.2)).is_ok() {
        let _ = std::fs::rename(&tmp, &cache);
    }
    Ok(ver)
}

impl NodeHost {
    pub fn new(paths: &NodePaths, node: &str) -> Result<NodeHost, String> {
        let version = qemu_version_cached(paths, &host_qemu_binary())?;
        let storage = pve_storage::Storage::load(paths).ok().map(|s| s.cfg);
        Ok(NodeHost {
            node: node.to_string(),
            version,
            storage,
            paths: paths.clone(),
            live: false,
        })
    }

    /// The host as a VM start sees it: the probed binary's `version`, `storage` and
    /// the running host's bridges and vhost-net.
    pub fn for_start(
        paths: &NodePaths,
        node: &str,
        version: (u32, u32, u32),
        storage: pve_storage::StorageConfig,
    ) -> NodeHost {
        NodeHost {
            node: node.to_string(),
            version,
            storage: Some(storage),
            paths: paths.clone(),
            live: true,
        }
    }
}

impl HostFacts for NodeHost {
    fn node_name(&self) -> &str {
        &self.node
    }
    fn qemu_version(&self) -> (u32, u32, u32) {
        self.version
    }
    fn host_arch(&self) -> &str {
        std::env::consts::ARCH
    }
    fn iscsi_initiator_name(&self) -> Option<String> {
        let text =
            std::fs::read_to_string(self.paths.host("/etc/iscsi/initiatorname.iscsi")).ok()?;
        text.lines()
            .find_map(|l| l.trim().strip_prefix("InitiatorName="))
            .map(|v| v.trim().to_string())
    }
    fn bridge_mtu(&self, bridge: &str) -> u32 {
        if !self.live {
            return 1500;
        }
        std::fs::read_to_string(format!("/sys/class/net/{bridge}/mtu"))
            .ok()
            .and_then(|m| m.trim().parse().ok())
            .unwrap_or(1500)
    }
    fn vhost_net_available(&self) -> bool {
        !self.live || std::path::Path::new("/dev/vhost-net").exists()
    }
    fn storage_config(&self) -> Option<&pve_storage::StorageConfig> {
        self.storage.as_ref()
    }
    fn custom_cpu_models(&self) -> Option<String> {
        std::fs::read_to_string(self.paths.pve_file("virtual-guest/cpu-models.conf")).ok()
    }
    /// Sizes of firmware images: pve-edk2-firmware's, else Debian's `ovmf` image of the
    /// same name (the one a stock start uses).
    fn file_size(&self, path: &str) -> Option<u64> {
        std::fs::metadata(super::stock::firmware_file(path))
            .ok()
            .map(|m| m.len())
    }
}

/// `qm showcmd VMID [--pretty] [--snapshot NAME]`: the command line upstream's QEMU would
/// be started with, for this node's QEMU version; warnings go to stderr.
pub fn showcmd_vm(
    paths: &NodePaths,
    node: &str,
    vmid: u32,
    pretty: bool,
    snapshot: Option<&str>,
) -> Result<String, String> {
    let mut conf = crate::config_file::VmConfigFile::new(paths, node, vmid).load()?;
    if let Some(name) = snapshot {
        let snap = conf
            .snapshots
            .get(name)
            .cloned()
            .ok_or_else(|| format!("snapshot '{name}' does not exist\n"))?;
        conf.main = snap;
    }
    let host = NodeHost::new(paths, node)?;
    let (argv, warnings) = config_to_command(&host, vmid, &conf, &Target::Upstream)?;
    for w in warnings {
        eprintln!("{}", w.trim_end());
    }
    Ok(showcmd(&argv, pretty))
}
