//! Listing the volumes of a directory-like storage (upstream's `list_images` and
//! `list_volumes`). Host access (stat, qemu-img) is behind [`FileProbe`].

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::archive::{archive_info_in, NOTES_EXT, PROTECTED_EXT};
use crate::config::StorageSection;
use crate::error::Result;
use crate::layout::get_subdir;
use crate::qemu_img::ImageInfo;
use crate::volume::{parse_image_name, BACKUP_EXT, IMPORT_EXT, ISO_EXT, SAFE_CHAR, VZTMPL_EXT};

/// File metadata as the lister needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStat {
    pub size: u64,
    pub ctime: i64,
    pub is_dir: bool,
}

/// Host access of the lister (real: `stat` and `qemu-img info`).
pub trait FileProbe {
    fn stat(&self, path: &Path) -> Option<FileStat>;
    /// Image information; `Ok(None)` when qemu-img cannot read it.
    fn image_info(&self, path: &Path, format: &str) -> Result<Option<ImageInfo>>;
    /// The zone backup names are read in (the host's local time).
    fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::system()
    }
}

/// The real host.
pub struct HostProbe;

impl FileProbe for HostProbe {
    fn stat(&self, path: &Path) -> Option<FileStat> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStat {
            size: m.len(),
            ctime: m.ctime(),
            is_dir: m.is_dir(),
        })
    }
    fn image_info(&self, path: &Path, format: &str) -> Result<Option<ImageInfo>> {
        Ok(crate::qemu_img::info(path, Some(format)).ok())
    }
}

/// One listed volume, in upstream's shape (`to_value`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VolumeEntry {
    pub volid: String,
    pub content: String,
    pub format: String,
    pub size: u64,
    pub ctime: Option<i64>,
    pub vmid: Option<u32>,
    /// images only (always present there, `null` without a backing file)
    pub used: Option<u64>,
    pub parent: Option<Option<String>>,
    pub subtype: Option<String>,
    pub notes: Option<String>,
    pub protected: bool,
}

impl VolumeEntry {
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("volid".into(), self.volid.clone().into());
        m.insert("content".into(), self.content.clone().into());
        m.insert("format".into(), self.format.clone().into());
        m.insert("size".into(), self.size.into());
        if let Some(c) = self.ctime {
            m.insert("ctime".into(), c.into());
        }
        if let Some(v) = self.vmid {
            m.insert("vmid".into(), v.into());
        }
        if let Some(u) = self.used {
            m.insert("used".into(), u.into());
        }
        if let Some(p) = &self.parent {
            m.insert("parent".into(), p.clone().map_or(Value::Null, Value::from));
        }
        if let Some(s) = &self.subtype {
            m.insert("subtype".into(), s.clone().into());
        }
        if let Some(n) = &self.notes {
            m.insert("notes".into(), n.clone().into());
        }
        if self.protected {
            m.insert("protected".into(), 1.into());
        }
        Value::Object(m)
    }
}

/// Sorted names in `dir` (no dot files, as a shell glob).
fn glob(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `path` is a symlink leading outside `base` (never followed by the lister).
fn escapes(path: &Path, base: &Path) -> bool {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return false;
    }
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    std::fs::canonicalize(path).map_or(true, |t| !t.starts_with(base))
}

static PARENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\.\./(\d+)/([^/]+)\.([a-z0-9]+)$").expect("regex"));

/// The images of a storage (all owners, or `vmid`'s). `host` maps configured paths.
pub fn list_images(
    storeid: &str,
    scfg: &StorageSection,
    vmid: Option<&str>,
    host: &dyn Fn(&str) -> PathBuf,
    probe: &dyn FileProbe,
) -> Result<Vec<VolumeEntry>> {
    let imagedir = host(&get_subdir(scfg, "images")?);
    let (_, valid) = scfg.formats();
    let mut res = Vec::new();
    for owner in glob(&imagedir) {
        if owner.is_empty() || !owner.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if vmid.is_some_and(|v| v != owner) {
            continue;
        }
        let ownerdir = imagedir.join(&owner);
        if escapes(&ownerdir, &imagedir) {
            continue;
        }
        for name in glob(&ownerdir) {
            let Some((_, ext)) = name.rsplit_once('.') else {
                continue;
            };
            if !valid.contains(ext) || parse_image_name(&name).is_err() {
                continue;
            }
            let path = ownerdir.join(&name);
            if escapes(&path, &imagedir) {
                continue;
            }
            let Some(st) = probe.stat(&path) else {
                continue;
            };
            let mut format = ext.to_string();
            let (size, used, parent) = if st.is_dir {
                if format != "subvol" {
                    continue;
                }
                (0, 0, None)
            } else if format == "subvol" {
                continue;
            } else {
                match probe.image_info(&path, &format)? {
                    Some(i) => (i.size, i.used, i.parent),
                    None => match probe.image_info(&path, "raw")? {
                        Some(i) => {
                            format = "invalid".into();
                            (i.size, i.used, i.parent)
                        }
                        None => continue,
                    },
                }
            };
            let volid = match parent.as_deref().and_then(|p| PARENT.captures(p)) {
                Some(c) if valid.contains(&c[3]) => {
                    format!("{storeid}:{}/{}.{}/{owner}/{name}", &c[1], &c[2], &c[3])
                }
                _ => format!("{storeid}:{owner}/{name}"),
            };
            res.push(VolumeEntry {
                volid,
                content: "images".into(),
                format,
                size,
                ctime: Some(st.ctime).filter(|c| *c != 0),
                vmid: owner.parse().ok(),
                used: Some(used),
                parent: Some(parent),
                ..Default::default()
            });
        }
    }
    Ok(res)
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("valid list regex")
}
static ISO_NAME: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"(?i)^([^/]+{ISO_EXT})$")));
static VZTMPL_NAME: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^([^/]+{VZTMPL_EXT})$")));
static BACKUP_NAME: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^([^/]+{BACKUP_EXT})$")));
static IMPORT_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)^({SAFE_CHAR}+{IMPORT_EXT})$")));

/// The files of one content folder.
fn list_files(
    storeid: &str,
    dir: &Path,
    vtype: &str,
    vmid: Option<&str>,
    probe: &dyn FileProbe,
) -> Vec<VolumeEntry> {
    let mut res = Vec::new();
    for name in glob(dir) {
        let path = dir.join(&name);
        if escapes(&path, dir) {
            continue;
        }
        let Some(st) = probe.stat(&path).filter(|s| !s.is_dir) else {
            continue;
        };
        let mut e = VolumeEntry {
            content: vtype.into(),
            size: st.size,
            ..Default::default()
        };
        match vtype {
            "iso" => {
                let Some(c) = ISO_NAME.captures(&name) else {
                    continue;
                };
                e.volid = format!("{storeid}:iso/{}", &c[1]);
                e.format = "iso".into();
            }
            "vztmpl" => {
                let Some(c) = VZTMPL_NAME.captures(&name) else {
                    continue;
                };
                e.volid = format!("{storeid}:vztmpl/{}", &c[1]);
                e.format = match c.get(3) {
                    Some(comp) => format!("t{}", comp.as_str()),
                    None => "tar".into(),
                };
            }
            "backup" => {
                let Some(c) = BACKUP_NAME.captures(&name) else {
                    continue;
                };
                let format = c[2].to_string();
                if let Some(v) = vmid {
                    let owner = Regex::new(&format!(r"\S+-{}-\S+", regex::escape(v)));
                    if !owner.is_ok_and(|r| r.is_match(&name)) {
                        continue;
                    }
                }
                e.volid = format!("{storeid}:backup/{name}");
                let info = archive_info_in(&name, &probe.time_zone()).ok();
                e.ctime = info.as_ref().and_then(|i| i.ctime);
                e.subtype = Some(info.map_or("unknown".into(), |i| i.guest_type));
                // the extension is used as a pattern, as upstream does
                let owner = Regex::new(&format!(r"-([1-9][0-9]{{2,8}})-[^/]+\.{format}$"));
                e.vmid = match vmid {
                    Some(v) => v.parse().ok(),
                    None => owner
                        .ok()
                        .and_then(|r| r.captures(&name).and_then(|c| c[1].parse().ok())),
                };
                e.format = format;
                let notes = dir.join(format!("{name}{NOTES_EXT}"));
                if notes.is_file() && !escapes(&notes, dir) {
                    if let Ok(bytes) = std::fs::read(&notes) {
                        let text = String::from_utf8_lossy(&bytes);
                        e.notes = Some(text.lines().next().unwrap_or_default().to_string());
                    }
                }
                e.protected = dir.join(format!("{name}{PROTECTED_EXT}")).exists();
            }
            "snippets" => {
                e.volid = format!("{storeid}:snippets/{name}");
                e.format = "snippet".into();
            }
            "import" => {
                let Some(c) = IMPORT_NAME.captures(&name) else {
                    continue;
                };
                e.volid = format!("{storeid}:import/{}", &c[1]);
                e.format = c[2].to_string();
            }
            _ => continue,
        }
        e.ctime = e.ctime.or(Some(st.ctime));
        res.push(e);
    }
    res
}

/// The images that are of content `ct`: images of containers (by `vmlist`) are
/// `rootdir`, all others `images`.
pub fn images_of_content<'a>(
    images: Vec<VolumeEntry>,
    vmlist: &'a BTreeMap<u32, String>,
    ct: &'a str,
) -> impl Iterator<Item = VolumeEntry> + 'a {
    images.into_iter().filter_map(move |mut item| {
        let lxc = item
            .vmid
            .and_then(|v| vmlist.get(&v))
            .is_some_and(|t| t == "lxc");
        item.content = if lxc { "rootdir" } else { "images" }.into();
        (item.content == ct).then_some(item)
    })
}

/// The volumes of `content_types` on a storage (upstream's `list_volumes`). `vmlist`
/// maps vmids to guest types: images of containers are `rootdir`.
pub fn list_volumes(
    storeid: &str,
    scfg: &StorageSection,
    vmid: Option<&str>,
    content_types: &[&str],
    vmlist: &BTreeMap<u32, String>,
    host: &dyn Fn(&str) -> PathBuf,
    probe: &dyn FileProbe,
) -> Result<Vec<VolumeEntry>> {
    let mut res = Vec::new();
    for ct in content_types {
        match *ct {
            "images" | "rootdir" => {
                let images = list_images(storeid, scfg, vmid, host, probe)?;
                res.extend(images_of_content(images, vmlist, ct));
            }
            "iso" | "vztmpl" if vmid.is_some() => {}
            "iso" | "vztmpl" | "backup" | "snippets" | "import" if scfg.path.is_some() => {
                let dir = host(&get_subdir(scfg, ct)?);
                res.extend(list_files(storeid, &dir, ct, vmid, probe));
            }
            _ => {}
        }
    }
    Ok(res)
}
