//! Mount points of a container config (`rootfs`, `mpN`, `unusedN`) as upstream's
//! `parse_volume`, `classify_mountpoint`, `foreach_volume` and `get_vm_volumes`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use pve_common::schema::property_string::parse_property_string;
use pve_common::schema::Schema;
use serde_json::{Map, Value};

use crate::config::CtSection;
use crate::schema::{option_format, MAX_MOUNT_POINTS, MAX_UNUSED_DISKS};

/// What a mount point's volume is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountType {
    /// A storage volume (`storage:name`).
    Volume,
    /// A bind mount of a host directory (absolute path).
    Bind,
    /// A host block device (`/dev/…`).
    Device,
}

/// Upstream's `classify_mountpoint`.
pub fn classify_mountpoint(volume: &str) -> MountType {
    if volume.starts_with('/') {
        if volume.starts_with("/dev/") {
            MountType::Device
        } else {
            MountType::Bind
        }
    } else {
        MountType::Volume
    }
}

/// A parsed mount point (or unused volume).
#[derive(Clone, Debug, PartialEq)]
pub struct MountPoint {
    pub volume: String,
    pub kind: MountType,
    /// The path in the container (`/` for rootfs; `None` for unused volumes).
    pub mp: Option<String>,
    /// All parsed properties (`acl`, `backup`, `ro`, `size`, …).
    pub props: Map<String, Value>,
}

impl MountPoint {
    pub fn flag(&self, key: &str) -> bool {
        self.props
            .get(key)
            .is_some_and(pve_common::schema::perl_truthy)
    }
}

fn formats() -> &'static [BTreeMap<String, Schema>; 3] {
    static F: OnceLock<[BTreeMap<String, Schema>; 3]> = OnceLock::new();
    F.get_or_init(|| {
        [
            option_format("rootfs").unwrap_or_default(),
            option_format("mp").unwrap_or_default(),
            option_format("unused").unwrap_or_default(),
        ]
    })
}

/// Upstream's `parse_volume($key, $text)`.
pub fn parse_volume(key: &str, text: &str) -> Result<MountPoint, String> {
    let [rootfs, mp, unused] = formats();
    let format = if key == "rootfs" {
        rootfs
    } else if key.strip_prefix("mp").is_some_and(is_index) {
        mp
    } else if key.strip_prefix("unused").is_some_and(is_index) {
        unused
    } else {
        return Err(format!("parse_volume - unknown type: {key}\n"));
    };
    let props = parse_property_string(format, text)?;
    let volume = props
        .get("volume")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mp = if key == "rootfs" {
        Some("/".to_string())
    } else {
        props.get("mp").and_then(Value::as_str).map(str::to_string)
    };
    Ok(MountPoint {
        kind: classify_mountpoint(&volume),
        volume,
        mp,
        props,
    })
}

fn is_index(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// `rootfs`, `mp0` … `mp255` (upstream's `valid_volume_keys`).
pub fn valid_volume_keys() -> impl DoubleEndedIterator<Item = String> {
    std::iter::once("rootfs".to_string()).chain((0..MAX_MOUNT_POINTS).map(|i| format!("mp{i}")))
}

/// Upstream's `foreach_volume`: rootfs and mount points in key order, skipping values
/// that do not parse.
pub fn foreach_volume(section: &CtSection) -> Vec<(String, MountPoint)> {
    valid_volume_keys()
        .filter_map(|key| {
            let text = section.get(&key)?;
            let mp = parse_volume(&key, text).ok()?;
            Some((key, mp))
        })
        .collect()
}

/// Upstream's `get_vm_volumes`: the storage volume ids used by rootfs and mount points.
pub fn vm_volumes(section: &CtSection) -> Vec<String> {
    foreach_volume(section)
        .into_iter()
        .filter(|(_, mp)| {
            mp.kind == MountType::Volume
                && !mp.volume.is_empty()
                && pve_storage::volume::parse_volume_id(&mp.volume).is_ok()
        })
        .map(|(_, mp)| mp.volume)
        .collect()
}

/// Upstream's `add_unused_volume`: the lowest free `unusedN`, no duplicates.
pub fn add_unused_volume(section: &mut CtSection, volid: &str) -> Result<Option<String>, String> {
    let mut free = None;
    for i in (0..MAX_UNUSED_DISKS).rev() {
        let key = format!("unused{i}");
        match section.get(&key) {
            Some(v) if !v.is_empty() => {
                if v == volid {
                    return Ok(None);
                }
            }
            _ => free = Some(key),
        }
    }
    let key = free.ok_or("Too many unused volumes - please delete them first.\n")?;
    section.set(&key, volid);
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_classify() {
        let mp = parse_volume("mp0", "/srv/data,mp=/data,ro=1").unwrap();
        assert_eq!(mp.kind, MountType::Bind);
        assert_eq!(mp.mp.as_deref(), Some("/data"));
        assert!(mp.flag("ro"));
        let root = parse_volume("rootfs", "local:100/vm-100-disk-0.raw,size=8G").unwrap();
        assert_eq!(root.kind, MountType::Volume);
        assert_eq!(root.mp.as_deref(), Some("/"));
        assert_eq!(
            parse_volume("mp1", "/dev/sdb,mp=/x").unwrap().kind,
            MountType::Device
        );
        assert!(parse_volume("mp0", "local:1/x").is_err(), "mp is required");
        assert!(parse_volume("net0", "x").is_err());
    }

    #[test]
    fn unused_slots() {
        let mut s = CtSection::default();
        s.set("unused0", "local:1/a");
        assert_eq!(add_unused_volume(&mut s, "local:1/a").unwrap(), None);
        assert_eq!(
            add_unused_volume(&mut s, "local:1/b").unwrap().as_deref(),
            Some("unused1")
        );
    }
}
