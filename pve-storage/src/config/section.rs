//! The typed view of one storage.cfg section.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::plugin_data;
use crate::volume::Vtype;

/// One storage, parsed at the edge. `raw` keeps every key as storage.cfg has it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageSection {
    pub storeid: String,
    pub storage_type: String,
    /// The path as configured (a host path; below `PVE_ROOT` on test nodes).
    pub path: Option<String>,
    /// Enabled content types (unsupported ones dropped, `none` → empty).
    pub content: BTreeSet<String>,
    pub nodes: Option<BTreeSet<String>>,
    pub disable: bool,
    pub shared: bool,
    /// content-dirs overrides, relative to `path`.
    pub content_dirs: BTreeMap<String, String>,
    pub prune_backups: Option<String>,
    pub max_protected_backups: Option<i64>,
    pub bwlimit: Option<String>,
    pub format: Option<String>,
    pub preallocation: Option<String>,
    pub mkdir: Option<bool>,
    pub create_base_path: Option<bool>,
    pub create_subdirs: Option<bool>,
    pub is_mountpoint: Option<String>,
    pub raw: Map<String, Value>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(u8::from(*b).to_string()),
        _ => None,
    }
}

fn truthy(v: Option<&Value>) -> Option<bool> {
    v.map(pve_common::schema::perl_truthy)
}

/// A list value: a comma/space list (file form) or a `{key: 1}` set (decoded form).
fn list(v: &Value) -> Vec<String> {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(_, on)| pve_common::schema::perl_truthy(on))
            .map(|(k, _)| k.clone())
            .collect(),
        Value::Array(a) => a.iter().filter_map(text).collect(),
        other => text(other)
            .map(|s| {
                pve_common::schema::formats::split_list(&s)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl StorageSection {
    /// From a section map (file form or upstream's decoded form).
    pub fn from_map(storeid: &str, raw: &Map<String, Value>) -> Self {
        let storage_type = raw
            .get("type")
            .and_then(text)
            .unwrap_or_else(|| "dir".into());
        let valid = plugin_data(&storage_type).and_then(|d| d.content.as_ref());
        let content = raw
            .get("content")
            .map(list)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c != "none" && valid.is_none_or(|(v, _)| v.contains(c)))
            .collect();
        let content_dirs = match raw.get("content-dirs") {
            Some(Value::Object(m)) => m
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                .collect(),
            Some(v) => list(v)
                .into_iter()
                .filter_map(|e| {
                    let (k, p) = e.split_once('=')?;
                    Some((k.to_string(), p.to_string()))
                })
                .collect(),
            None => BTreeMap::new(),
        };
        let get = |k: &str| raw.get(k).and_then(text);
        StorageSection {
            storeid: storeid.to_string(),
            storage_type,
            path: get("path"),
            content,
            nodes: raw.get("nodes").map(|v| list(v).into_iter().collect()),
            disable: truthy(raw.get("disable")).unwrap_or(false),
            shared: truthy(raw.get("shared")).unwrap_or(false),
            content_dirs,
            prune_backups: get("prune-backups"),
            max_protected_backups: get("max-protected-backups").and_then(|s| s.parse().ok()),
            bwlimit: get("bwlimit"),
            format: get("format"),
            preallocation: get("preallocation"),
            mkdir: truthy(raw.get("mkdir")),
            create_base_path: truthy(raw.get("create-base-path")),
            create_subdirs: truthy(raw.get("create-subdirs")),
            is_mountpoint: get("is_mountpoint"),
            raw: raw.clone(),
        }
    }

    pub fn has_content(&self, vtype: Vtype) -> bool {
        self.content.contains(vtype.as_str())
    }

    /// Whether the storage applies to `node` (no `nodes` list: every node).
    pub fn available_on(&self, node: &str) -> bool {
        self.nodes.as_ref().is_none_or(|n| n.contains(node))
    }

    /// The content list as the API prints it.
    pub fn content_string(&self) -> String {
        self.content.iter().cloned().collect::<Vec<_>>().join(",")
    }

    /// The default image format and the valid ones.
    pub fn formats(&self) -> (String, BTreeSet<String>) {
        match plugin_data(&self.storage_type).and_then(|d| d.format.as_ref()) {
            Some((valid, default)) => (
                self.format.clone().unwrap_or_else(|| default.clone()),
                valid.clone(),
            ),
            None => ("raw".into(), BTreeSet::from(["raw".to_string()])),
        }
    }
}
