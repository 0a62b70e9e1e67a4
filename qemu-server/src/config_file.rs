//! A VM's config file in /etc/pve (`nodes/<node>/qemu-server/<vmid>.conf`): load, write,
//! the per-VM flock, and the JSON view of a config section the API returns.

use std::time::Duration;

use pve_common::api::ApiError;
use pve_common::paths::NodePaths;
use pve_common::schema::JsonType;
use pve_guest_common::{ConfigSection, GuestConfig};
use serde_json::{Map, Value};

use crate::config::{parse_vm_config, write_vm_config};
use crate::schema::vm_config_options;

/// Where a VM's config lives (relative to /etc/pve).
pub fn config_rel_path(node: &str, vmid: u32) -> String {
    format!("nodes/{node}/qemu-server/{vmid}.conf")
}

/// The config file of a VM on a node.
#[derive(Clone, Debug)]
pub struct VmConfigFile {
    pub paths: NodePaths,
    pub node: String,
    pub vmid: u32,
}

impl VmConfigFile {
    pub fn new(paths: &NodePaths, node: &str, vmid: u32) -> Self {
        Self {
            paths: paths.clone(),
            node: node.to_string(),
            vmid,
        }
    }

    pub fn rel_path(&self) -> String {
        config_rel_path(&self.node, self.vmid)
    }

    fn cfs(&self) -> pve_cluster::cfs::Cfs {
        pve_cluster::cfs::Cfs::new(&self.paths)
    }

    pub fn exists(&self) -> bool {
        self.cfs().path(&self.rel_path()).exists()
    }

    /// Loads the config; a missing file is upstream's
    /// `Configuration file '…' does not exist`.
    pub fn load(&self) -> Result<GuestConfig, String> {
        let rel = self.rel_path();
        let file = self
            .cfs()
            .read_raw(&rel)
            .map_err(|e| format!("{e}\n"))?
            .ok_or_else(|| format!("Configuration file '{rel}' does not exist\n"))?;
        let text = String::from_utf8_lossy(&file.data);
        let parsed = parse_vm_config(self.vmid, &text, false)?;
        let mut conf = parsed.config;
        conf.digest = file.digest;
        Ok(conf)
    }

    pub fn write(&self, conf: &GuestConfig) -> Result<(), String> {
        let text = write_vm_config(self.vmid, conf);
        let cfs = self.cfs();
        let rel = self.rel_path();
        if let Some(dir) = cfs.path(&rel).parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{e}\n"))?;
        }
        cfs.write_raw(&rel, text.as_bytes())
            .map_err(|e| format!("{e}\n"))
    }

    pub fn remove(&self) -> Result<(), String> {
        std::fs::remove_file(self.cfs().path(&self.rel_path()))
            .map_err(|e| format!("failed to remove config file: {e}\n"))
    }

    /// `/var/lock/qemu-server/lock-<vmid>.conf`.
    pub fn lock_path(&self) -> std::path::PathBuf {
        self.paths
            .host(&format!("/var/lock/qemu-server/lock-{}.conf", self.vmid))
    }

    /// Runs `code` holding the VM's config lock (10 s, as upstream's `lock_config`).
    pub fn lock<R>(&self, code: impl FnOnce() -> Result<R, String>) -> Result<R, String> {
        self.lock_timeout(Duration::from_secs(10), code)
    }

    pub fn lock_timeout<R>(
        &self,
        timeout: Duration,
        code: impl FnOnce() -> Result<R, String>,
    ) -> Result<R, String> {
        pve_guest_common::lock::lock_file_full(&self.lock_path(), timeout, code)
    }
}

/// `ApiError` from an upstream error text.
pub fn api_err(msg: String) -> ApiError {
    ApiError::internal(msg)
}

/// A config value as the API returns it: integers, numbers and booleans of the option
/// schema as JSON numbers, everything else as the string from the file.
pub fn typed_value(key: &str, value: &str) -> Value {
    let schema = vm_config_options().get(key);
    match schema.and_then(|s| s.single_type()) {
        Some(JsonType::Integer) | Some(JsonType::Boolean) => value
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(value)),
        Some(JsonType::Number) => value
            .parse::<f64>()
            .ok()
            .and_then(|f| {
                if f.fract() == 0.0 && !value.contains('.') {
                    Some(Value::from(f as i64))
                } else {
                    serde_json::Number::from_f64(f).map(Value::Number)
                }
            })
            .unwrap_or_else(|| Value::from(value)),
        _ => Value::from(value),
    }
}

/// A config section as the API's JSON object (description included).
pub fn section_json(section: &ConfigSection) -> Map<String, Value> {
    let mut out: Map<String, Value> = section
        .values
        .iter()
        .map(|(k, v)| (k.clone(), typed_value(k, v)))
        .collect();
    if let Some(d) = section.description.as_deref() {
        out.insert("description".into(), Value::from(d));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_typed_by_schema() {
        assert_eq!(typed_value("cores", "2"), Value::from(2));
        assert_eq!(typed_value("memory", "2048"), Value::from("2048"));
        assert_eq!(typed_value("onboot", "1"), Value::from(1));
        assert_eq!(typed_value("agent", "1"), Value::from("1"));
        assert_eq!(typed_value("snaptime", "17"), Value::from(17));
    }
}
