//! storage.cfg: the SectionConfig with upstream's storage types, their options and the
//! defaults applied after parsing (the implicit `local` storage, default content,
//! always-shared types). Reads and writes go through pmxcfs (`Cfs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use pve_cluster::cfs::{Cfs, CfsError};
use pve_common::schema::Schema;
use pve_common::section_config::{OptionSpec, Plugin, SectionConfig, SectionConfigData};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Result, StorageError};

pub mod formats;
mod section;

pub use section::StorageSection;

/// The file name below /etc/pve.
pub const STORAGE_CFG: &str = "storage.cfg";

/// Types whose storages are always shared between nodes.
pub const SHARED_TYPES: [&str; 9] = [
    "iscsi",
    "nfs",
    "cifs",
    "rbd",
    "cephfs",
    "iscsidirect",
    "zfs",
    "drbd",
    "pbs",
];

/// Content of the implicit `local` storage.
pub const LOCAL_CONTENT: &str = "backup,images,iso,rootdir,snippets,vztmpl";

/// What upstream's `plugindata` says about a type.
#[derive(Clone, Debug, Deserialize)]
pub struct PluginData {
    #[serde(default)]
    pub options: BTreeMap<String, Map<String, Value>>,
    /// [valid content types, default content types]
    pub content: Option<(BTreeSet<String>, BTreeSet<String>)>,
    /// [valid formats, default format]
    pub format: Option<(BTreeSet<String>, String)>,
    /// Properties kept out of storage.cfg (secrets in priv/).
    pub sensitive: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct SchemaData {
    properties: BTreeMap<String, Value>,
    plugins: BTreeMap<String, PluginData>,
}

static DATA: LazyLock<SchemaData> = LazyLock::new(|| {
    serde_json::from_str(include_str!("storage_cfg_schema.json")).expect("valid storage schema")
});

/// The plugin data of a storage type.
pub fn plugin_data(storage_type: &str) -> Option<&'static PluginData> {
    DATA.plugins.get(storage_type)
}

/// Every storage property (the parameters of `POST /storage`, upstream's schema).
pub fn properties() -> &'static BTreeMap<String, Value> {
    &DATA.properties
}

/// The storage.cfg SectionConfig.
pub fn section_config() -> &'static SectionConfig {
    static CFG: LazyLock<SectionConfig> = LazyLock::new(|| {
        formats::register();
        let mut b = SectionConfig::builder().section_id_check(|id| {
            pve_common::schema::formats::verify_storage_id(id)
                .map_err(|e| format!("storage ID '{id}' contains illegal characters - {e}"))
        });
        for (name, schema) in &DATA.properties {
            if name == "storage" || name == "type" {
                continue;
            }
            b = b.base_property(name, Schema::literal(schema.clone()));
        }
        for (t, data) in &DATA.plugins {
            let mut p = Plugin::new(t);
            for (opt, spec) in &data.options {
                let flag = |k: &str| spec.get(k).is_some_and(pve_common::schema::perl_truthy);
                p = p.option(
                    opt,
                    OptionSpec {
                        optional: flag("optional"),
                        fixed: flag("fixed"),
                    },
                );
            }
            b = b.plugin(p);
        }
        b.build().expect("valid storage.cfg plugin set")
    });
    &CFG
}

/// A parsed storage.cfg with upstream's post-parse defaults applied. Values are kept
/// in their file form (`content` as a comma list) so that writing round-trips.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageConfig {
    pub data: SectionConfigData,
}

impl StorageConfig {
    /// Parses the text of storage.cfg. Unknown section types are kept untouched so a
    /// rewrite never loses them.
    pub fn parse(raw: &str) -> Self {
        let mut data = section_config().parse(STORAGE_CFG, raw, true);
        // header types are case-insensitive in storage.cfg
        for section in data.ids.values_mut() {
            if let Some(Value::String(t)) = section.get_mut("type") {
                *t = t.to_lowercase();
            }
        }
        let local_ok = data.ids.get("local").is_some_and(|l| {
            l.get("type").and_then(Value::as_str) == Some("dir")
                && l.get("path")
                    .and_then(Value::as_str)
                    .is_none_or(|p| p == pve_common::paths::LOCAL_STORAGE_PATH)
        });
        if !local_ok {
            let mut local = Map::new();
            local.insert("type".into(), "dir".into());
            local.insert("path".into(), pve_common::paths::LOCAL_STORAGE_PATH.into());
            local.insert("prune-backups".into(), "keep-all=1".into());
            local.insert("content".into(), LOCAL_CONTENT.into());
            data.ids.insert("local".into(), local);
            data.order.insert("local".into(), 0);
        }
        if let Some(local) = data.ids.get_mut("local") {
            local
                .entry("path")
                .or_insert_with(|| pve_common::paths::LOCAL_STORAGE_PATH.into());
            local.remove("nodes");
        }
        for section in data.ids.values_mut() {
            let t = section
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some((_, default)) = plugin_data(&t).and_then(|d| d.content.as_ref()) {
                if !section.contains_key("content") {
                    let list: Vec<&str> = default.iter().map(String::as_str).collect();
                    section.insert("content".into(), list.join(",").into());
                }
            }
            if SHARED_TYPES.contains(&t.as_str()) {
                section.insert("shared".into(), 1.into());
            }
        }
        StorageConfig { data }
    }

    /// The file text, in upstream's layout.
    pub fn to_text(&self) -> Result<String> {
        section_config()
            .write_allow_unknown(STORAGE_CFG, &self.data)
            .map_err(|e| StorageError::msg(e.to_string()))
    }

    /// Reads storage.cfg through pmxcfs; a missing file is the implicit `local` alone.
    pub fn read(cfs: &Cfs) -> Result<Self> {
        let file = cfs.read_file(STORAGE_CFG).map_err(cfs_err)?;
        let text = file
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default();
        Ok(Self::parse(&text))
    }

    /// Writes the config through pmxcfs (callers hold [`lock_config`]).
    pub fn write(&self, cfs: &Cfs) -> Result<()> {
        let text = self.to_text()?;
        cfs.write_file(STORAGE_CFG, text.as_bytes(), None)
            .map_err(cfs_err)
    }

    /// The digest of the text this config was parsed from.
    pub fn digest(&self) -> &str {
        &self.data.digest
    }

    /// Storage ids in file order.
    pub fn ids(&self) -> Vec<String> {
        self.data
            .ordered_ids()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// The raw section of `storeid`.
    pub fn raw(&self, storeid: &str) -> Option<&Map<String, Value>> {
        self.data.ids.get(storeid)
    }

    /// The typed section, or `storage 'x' does not exist`.
    pub fn storage(&self, storeid: &str) -> Result<StorageSection> {
        let raw = self
            .raw(storeid)
            .ok_or_else(|| StorageError::NoSuchStorage(storeid.to_string()))?;
        Ok(StorageSection::from_map(storeid, raw))
    }

    /// All storages, in file order.
    pub fn storages(&self) -> Vec<StorageSection> {
        self.ids()
            .iter()
            .filter_map(|id| self.storage(id).ok())
            .collect()
    }
}

/// Runs `code` holding the storage.cfg cfs lock.
pub fn lock_config<R>(cfs: &Cfs, code: impl FnOnce() -> Result<R>) -> Result<R> {
    cfs.lock_file(STORAGE_CFG, None, || code().map_err(LockedError::Inner))
        .map_err(|e| match e {
            LockedError::Inner(e) => e,
            LockedError::Cfs(e) => cfs_err(e),
        })
}

enum LockedError {
    Inner(StorageError),
    Cfs(CfsError),
}

impl From<CfsError> for LockedError {
    fn from(e: CfsError) -> Self {
        LockedError::Cfs(e)
    }
}

pub(crate) fn cfs_err(e: CfsError) -> StorageError {
    StorageError::msg(e.to_string())
}

#[cfg(test)]
mod tests;
