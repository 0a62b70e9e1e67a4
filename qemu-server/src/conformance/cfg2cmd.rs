//! `cfg2cmd`: each `NAME.conf`, loaded as VM 8006 on node `localhost` with the
//! environment of `cfg2cmd-env/`, must give `NAME.conf.cmd` (compared in the README's
//! normalised form) or fail with its `EXPECT_ERROR` header.

use std::path::Path;

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;
use serde_json::Value;

use crate::cmdline::{
    config_to_command_detailed, normalize_pretty, pretty_command, HostFacts, Target,
};
use crate::config::parse_vm_config;

const VMID: u32 = 8006;

struct CorpusHost {
    qemu_version: (u32, u32, u32),
    arch: String,
    iscsi: Option<String>,
    bridge_mtu: Value,
    storage: Option<pve_storage::StorageConfig>,
    phys_bits: Option<u32>,
    cpu_vendor: String,
    cpu_models: Option<String>,
    vars_sizes: Vec<(String, u64)>,
    hw_caps: Value,
    zfs_lun: Option<u64>,
    chains: Value,
    pci: Vec<String>,
    pci_mappings: Value,
}

impl HostFacts for CorpusHost {
    fn node_name(&self) -> &str {
        "localhost"
    }
    fn qemu_version(&self) -> (u32, u32, u32) {
        self.qemu_version
    }
    fn host_arch(&self) -> &str {
        &self.arch
    }
    fn iscsi_initiator_name(&self) -> Option<String> {
        self.iscsi.clone()
    }
    fn file_size(&self, path: &str) -> Option<u64> {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.vars_sizes.iter().find_map(|(pat, size)| {
            regex::Regex::new(pat)
                .ok()
                .filter(|re| re.is_match(name))
                .map(|_| *size)
        })
    }
    fn volume_snapshot_chain(&self, volid: &str) -> Option<Vec<crate::cmdline::SnapshotFile>> {
        let list = self.chains.get(volid)?.as_array()?;
        Some(
            list.iter()
                .map(|s| crate::cmdline::SnapshotFile {
                    name: s["name"].as_str().unwrap_or_default().to_string(),
                    file: s["file"].as_str().unwrap_or_default().to_string(),
                    parent: s["parent"].as_str().map(str::to_string),
                })
                .collect(),
        )
    }
    fn pci_mapping(&self, name: &str) -> Option<Vec<String>> {
        let map = self.pci_mappings.get(name)?["map"].as_array()?;
        Some(
            map.iter()
                .filter(|e| e["node"].as_str() == Some("localhost"))
                .filter_map(|e| e["path"].as_str().map(str::to_string))
                .collect(),
        )
    }
    fn host_pci_devices(&self) -> Vec<String> {
        self.pci.clone()
    }
    fn zfs_iscsi_lun(&self, _volid: &str) -> Option<u64> {
        self.zfs_lun
    }
    fn hw_capabilities(&self) -> Value {
        self.hw_caps.clone()
    }
    fn host_cpu_vendor(&self) -> String {
        self.cpu_vendor.clone()
    }
    fn custom_cpu_models(&self) -> Option<String> {
        self.cpu_models.clone()
    }
    fn host_phys_bits(&self) -> Option<u32> {
        self.phys_bits
    }
    fn storage_config(&self) -> Option<&pve_storage::StorageConfig> {
        self.storage.as_ref()
    }
    fn bridge_mtu(&self, bridge: &str) -> u32 {
        let mtu = self
            .bridge_mtu
            .get(bridge)
            .or(self.bridge_mtu.get("default"));
        mtu.and_then(Value::as_u64).unwrap_or(1500) as u32
    }
}

fn parse_version(text: &str) -> (u32, u32, u32) {
    let mut it = text.split('.').map(|p| p.parse().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// storage.cfg as upstream's harness hands it over: every section with its values
/// verbatim (no schema checks, no defaults), whatever the storage type.
fn verbatim_storage_config(raw: &str) -> pve_storage::StorageConfig {
    let mut cfg = pve_storage::StorageConfig::parse(raw);
    let mut current: Option<String> = None;
    for line in raw.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            if let Some((t, id)) = line.split_once(':') {
                let id = id.trim().to_string();
                let mut map = serde_json::Map::new();
                map.insert("type".into(), Value::String(t.trim().to_string()));
                cfg.data.ids.insert(id.clone(), map);
                current = Some(id);
            }
        } else if let Some(id) = &current {
            let t = line.trim();
            let (k, v) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
            if let Some(map) = cfg.data.ids.get_mut(id) {
                map.insert(k.to_string(), Value::String(v.trim().to_string()));
            }
        }
    }
    cfg
}

/// `KEY: value` header lines of the description.
fn headers(description: &str) -> Vec<(String, String)> {
    description
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| k.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect()
}

fn run_case(dir: &Path, env: &Value, name: &str) -> Result<(), String> {
    let raw = std::fs::read_to_string(dir.join(name)).map_err(|e| e.to_string())?;
    let parsed = parse_vm_config(VMID, &raw, false)?;
    let hdr = headers(parsed.config.main.description.as_deref().unwrap_or(""));
    let get = |k: &str| hdr.iter().find(|(h, _)| h == k).map(|(_, v)| v.clone());
    let defaults = &env["defaults"];
    let host = CorpusHost {
        qemu_version: parse_version(
            &get("QEMU_VERSION")
                .unwrap_or_else(|| defaults["qemu_version"].as_str().unwrap_or("").into()),
        ),
        arch: get("HOST_ARCH")
            .unwrap_or_else(|| defaults["host_arch"].as_str().unwrap_or("x86_64").into()),
        iscsi: env["iscsi_initiator_name"].as_str().map(str::to_string),
        bridge_mtu: env["bridge_mtu"].clone(),
        cpu_vendor: get("HOST_CPU_VENDOR").unwrap_or_else(|| {
            defaults["host_cpu_vendor"]
                .as_str()
                .unwrap_or("GenuineIntel")
                .into()
        }),
        zfs_lun: env["zfs_over_iscsi"]["lun_number"].as_u64(),
        chains: env["volume_snapshot_chains"].clone(),
        pci_mappings: env["pci_mappings"].clone(),
        pci: env["host_pci_devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        hw_caps: match get("HW_CAPABILITIES") {
            Some(h) if h.trim_start().starts_with('{') => {
                serde_json::from_str(&h).map_err(|e| format!("HW_CAPABILITIES: {e}"))?
            }
            Some(h) => env["hw_capability_presets"]
                .as_object()
                .and_then(|m| {
                    m.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(&h))
                        .map(|(_, v)| v.clone())
                })
                .ok_or_else(|| format!("unknown HW_CAPABILITIES preset '{h}'"))?,
            None => defaults["hw_capabilities"].clone(),
        },
        vars_sizes: env["ovmf"]["vars_file_size_bytes_by_pattern"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| Some((p[0].as_str()?.to_string(), p[1].as_u64()?)))
                    .collect()
            })
            .unwrap_or_default(),
        cpu_models: std::fs::read_to_string(dir.join("../cfg2cmd-env/cpu-models.conf")).ok(),
        phys_bits: env["host_phys_address_bits"].as_u64().map(|b| b as u32),
        storage: std::fs::read_to_string(dir.join("../cfg2cmd-env/storage.cfg"))
            .ok()
            .map(|raw| verbatim_storage_config(&raw)),
    };
    let expect_error = get("EXPECT_ERROR");
    let expect_warn = get("EXPECT_WARN").or_else(|| get("EXPECT_WARNING"));
    if let Some(w) = parsed
        .warnings
        .iter()
        .find(|w| Some(w.trim_end()) != expect_warn.as_deref())
    {
        return Err(format!("unexpected warning: {w}"));
    }
    // Upstream's harness sees what goes to stderr (`warn`), not task-log warnings.
    let generated = config_to_command_detailed(&host, VMID, &parsed.config, &Target::Upstream);
    if let Ok((_, msgs)) = &generated {
        if let Some(w) = msgs
            .warnings
            .iter()
            .find(|w| Some(w.trim_end()) != expect_warn.as_deref())
        {
            return Err(format!("unexpected warning: {w}"));
        }
    }
    match (generated, expect_error) {
        (Err(e), Some(want)) if e.trim_end_matches('\n') == want => Ok(()),
        (Err(e), _) => Err(e),
        (Ok(_), Some(want)) => Err(format!("generated a command, expected error {want:?}")),
        (Ok((argv, _)), None) => {
            let want = std::fs::read_to_string(dir.join(format!("{name}.cmd")))
                .map_err(|e| format!("{name}.cmd: {e}"))?;
            let got = normalize_pretty(&pretty_command(&argv));
            let want = normalize_pretty(&want);
            if got == want {
                Ok(())
            } else {
                Err(format!("got\n{got}\nexpected\n{want}"))
            }
        }
    }
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let env_file = dir.join("../cfg2cmd-env/env.json");
    let env: Value = serde_json::from_str(
        &std::fs::read_to_string(&env_file)
            .with_context(|| format!("reading {}", env_file.display()))?,
    )?;
    // Cases live in the suite directory and one level of subdirectories (`aarch64/`).
    let mut names: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            for sub in std::fs::read_dir(entry.path())?.filter_map(|e| e.ok()) {
                let sub = sub.file_name().to_string_lossy().into_owned();
                if sub.ends_with(".conf") {
                    names.push(format!("{name}/{sub}"));
                }
            }
        } else if name.ends_with(".conf") {
            names.push(name);
        }
    }
    names.sort();
    Ok(names
        .into_iter()
        .map(|name| {
            let result = run_case(dir, &env, &name);
            CaseOutcome { name, result }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_corpus() {
        super::super::assert_suite_passes("cfg2cmd");
    }
}
