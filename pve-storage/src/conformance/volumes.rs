//! Suites about volume names, paths and listings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use serde_json::{json, Map, Value};

use super::expect_error;
use crate::config::{StorageConfig, StorageSection};
use crate::error::Result;
use crate::layout;
use crate::list::{self, FileProbe, FileStat};
use crate::qemu_img::ImageInfo;
use crate::volume::{parse_volname_dir, VolumeName};
use pve_common::conformance::check::{expect_eq, str_field};
use pve_common::section_config::SectionConfigData;

fn volname_value(v: &VolumeName) -> Value {
    json!({
        "vtype": v.vtype.as_str(), "name": v.name, "vmid": v.vmid, "basename": v.basename,
        "basevmid": v.basevmid, "isBase": if v.is_base { Some("base-") } else { None },
        "format": v.format,
    })
}

pub fn parse_volname_case(case: &Value) -> Result<(), String> {
    let volname = str_field(case, "volname")?;
    let got = parse_volname_dir(volname);
    match case.get("expected_error").and_then(Value::as_str) {
        Some(want) => expect_error(got, want),
        None => {
            let v = got.map_err(|e| format!("unexpected error: {e}"))?;
            expect_eq("parsed", &volname_value(&v), &case["expected"])
        }
    }
}

fn section(scfg: &Value) -> StorageSection {
    let map = scfg.as_object().cloned().unwrap_or_default();
    StorageSection::from_map("local", &map)
}

pub fn filesystem_path_case(case: &Value) -> Result<(), String> {
    let scfg = section(&case["scfg"]);
    let volname = str_field(case, "volname")?;
    let got = layout::filesystem_path(&scfg, volname, case["snapname"].as_str());
    match case.get("expected_error").and_then(Value::as_str) {
        Some(want) => expect_error(got, want),
        None => {
            let (path, vmid, vtype) = got.map_err(|e| format!("unexpected error: {e}"))?;
            let v = json!({"path": path, "vmid": vmid, "vtype": vtype.as_str()});
            expect_eq("path", &v, &case["expected"])
        }
    }
}

pub fn get_subdir_case(case: &Value) -> Result<(), String> {
    let scfg = section(&case["scfg"]);
    let got = layout::get_subdir(&scfg, str_field(case, "vtype")?);
    match case.get("expected_error").and_then(Value::as_str) {
        Some(want) => expect_error(got, want),
        None => {
            let p = got.map_err(|e| format!("unexpected error: {e}"))?;
            expect_eq("subdir", &Value::from(p), &case["expected"])
        }
    }
}

pub fn archive_info_case(case: &Value) -> Result<(), String> {
    let got = crate::archive::archive_info_in(str_field(case, "archive")?, &TimeZone::UTC);
    match case.get("expected_error").and_then(Value::as_str) {
        Some(want) => expect_error(got, want),
        None => {
            let info = got.map_err(|e| format!("unexpected error: {e}"))?;
            let v = serde_json::to_value(&info).map_err(|e| e.to_string())?;
            expect_eq("info", &v, &case["expected"])
        }
    }
}

/// Upstream's mocks: stat and qemu-img sizes are fixed, the backing file is real.
struct MockProbe {
    size: u64,
    ctime: i64,
    image_size: u64,
    image_used: u64,
}

impl FileProbe for MockProbe {
    fn stat(&self, path: &Path) -> Option<FileStat> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStat {
            size: if m.is_dir() { m.len() } else { self.size },
            ctime: self.ctime,
            is_dir: m.is_dir(),
        })
    }
    fn image_info(&self, path: &Path, format: &str) -> Result<Option<ImageInfo>> {
        let parent = crate::qemu_img::info(path, Some(format))
            .ok()
            .and_then(|i| i.parent);
        Ok(Some(ImageInfo {
            size: self.image_size,
            format: format.to_string(),
            used: self.image_used,
            parent,
        }))
    }
    fn time_zone(&self) -> TimeZone {
        TimeZone::UTC
    }
}

/// A fresh folder for one case, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Result<Self, String> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pve-storage-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(TempDir(dir))
    }
    fn fill(&self, text: &str) -> String {
        text.replace("{STORAGE_DIR}", &self.0.to_string_lossy())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Creates an empty file, or a folder when the path ends in `/`.
fn touch(path: &str) -> Result<(), String> {
    if path.ends_with('/') {
        return std::fs::create_dir_all(path).map_err(|e| e.to_string());
    }
    let p = Path::new(path);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(p, b"").map_err(|e| e.to_string())
}

fn mock_from(top: &Value) -> MockProbe {
    let m = &top["mocks"];
    let n = |k: &str, d: u64| m[k].as_u64().unwrap_or(d);
    MockProbe {
        size: n("stat_size", 131072),
        ctime: n("stat_ctime", 1234567890) as i64,
        image_size: n("image_size", 131072),
        image_used: n("image_used", 262144),
    }
}

pub fn path_to_volume_id_case(top: &Value, case: &Value) -> Result<(), String> {
    let tmp = TempDir::new("p2v")?;
    let ids = top["storage_cfg"]["ids"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut data = SectionConfigData::default();
    for (id, sec) in ids {
        let filled: Value =
            serde_json::from_str(&tmp.fill(&sec.to_string())).map_err(|e| e.to_string())?;
        data.set(&id, filled.as_object().cloned().unwrap_or_default());
    }
    let cfg = StorageConfig { data };
    let path = tmp.fill(str_field(case, "path")?);
    touch(&path)?;
    let probe = mock_from(top);
    let host = |p: &str| PathBuf::from(p);
    let lister = |scfg: &StorageSection, vmid: &str| -> Result<Vec<String>> {
        Ok(
            list::list_images(&scfg.storeid, scfg, Some(vmid), &host, &probe)?
                .into_iter()
                .map(|e| e.volid)
                .collect(),
        )
    };
    let got = layout::path_to_volume_id(&cfg, &path, &host, &lister)
        .map_err(|e| format!("unexpected error: {e}"))?;
    let v = match got {
        Some((vtype, volid)) => json!({"vtype": vtype.as_str(), "volid": volid}),
        None => Value::Null,
    };
    let want: Value = serde_json::from_str(&tmp.fill(&case["expected"].to_string()))
        .map_err(|e| e.to_string())?;
    expect_eq("volume id", &v, &want)
}

pub fn list_volumes_case(top: &Value, case: &Value) -> Result<(), String> {
    let tmp = TempDir::new("list")?;
    let scfg_v: Value =
        serde_json::from_str(&tmp.fill(&top["scfg"].to_string())).map_err(|e| e.to_string())?;
    let storeid = top["storeid"].as_str().unwrap_or("local");
    let scfg = StorageSection::from_map(storeid, scfg_v.as_object().unwrap_or(&Map::new()));
    let parents: Vec<&str> = case["parent"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut parent_iter = parents.iter();
    for f in case["files"].as_array().into_iter().flatten() {
        let path = tmp.fill(f.as_str().unwrap_or_default());
        let fmt = Path::new(&path)
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
            .filter(|e| {
                path.contains("/images/") && matches!(e.as_str(), "raw" | "qcow2" | "vmdk")
            });
        match fmt {
            Some(fmt) => {
                if let Some(dir) = Path::new(&path).parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                let mut cmd = std::process::Command::new("qemu-img");
                cmd.args(["create", "-f", &fmt, &path]);
                if let Some(p) = parent_iter.next() {
                    cmd.args(["-b", p, "-F", &fmt, "-u"]);
                }
                cmd.arg("1M");
                let out = cmd.output().map_err(|e| format!("qemu-img: {e}"))?;
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                }
            }
            None => touch(&path)?,
        }
    }
    let vmlist: BTreeMap<u32, String> = top["vmlist"]["ids"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.parse().ok()?, v["type"].as_str()?.to_string())))
        .collect();
    let cts: Vec<&str> = top["content_types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let vmid = case["vmid"]
        .as_str()
        .map(str::to_string)
        .or_else(|| case["vmid"].as_u64().map(|n| n.to_string()));
    let got = list::list_volumes(
        storeid,
        &scfg,
        vmid.as_deref(),
        &cts,
        &vmlist,
        &|p| PathBuf::from(p),
        &mock_from(top),
    )
    .map_err(|e| format!("unexpected error: {e}"))?;
    let got = Value::Array(got.iter().map(list::VolumeEntry::to_value).collect());
    let want: Value = serde_json::from_str(&tmp.fill(&case["expected"].to_string()))
        .map_err(|e| e.to_string())?;
    expect_eq("volumes", &got, &want)
}
