//! Where volumes live on directory-like storages: content folders, volume paths, and
//! the reverse mapping from a path to a volume id.

use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::config::{StorageConfig, StorageSection};
use crate::error::{Result, StorageError};
use crate::volume::{
    parse_volname_dir, Vtype, BACKUP_EXT, IMPORT_EXT, ISO_EXT, SAFE_CHAR, VZTMPL_EXT,
};

/// The folder of `vtype` (a content type name) on a storage: `<path>/<subdir>`, with
/// `content-dirs` overrides.
pub fn get_subdir(scfg: &StorageSection, vtype: &str) -> Result<String> {
    let path = scfg
        .path
        .as_deref()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| StorageError::msg("storage definition has no path"))?;
    let vt: Vtype = vtype.parse()?;
    let sub = scfg
        .content_dirs
        .get(vtype)
        .map(String::as_str)
        .unwrap_or(vt.default_subdir());
    Ok(format!("{path}/{sub}"))
}

/// A volume's path on a directory storage, its owner and content type. A snapshot name
/// is only valid for qcow2 images (internal snapshots: same file).
pub fn filesystem_path(
    scfg: &StorageSection,
    volname: &str,
    snapname: Option<&str>,
) -> Result<(String, Option<String>, Vtype)> {
    let v = parse_volname_dir(volname)?;
    if snapname.is_some() && !matches!(v.format.as_str(), "qcow2" | "qed") {
        return Err(StorageError::msg("can't snapshot this image format"));
    }
    let mut dir = get_subdir(scfg, v.vtype.as_str())?;
    if v.vtype == Vtype::Images {
        if let Some(vmid) = &v.vmid {
            dir = format!("{dir}/{vmid}");
        }
    }
    Ok((format!("{dir}/{}", v.name), v.vmid, v.vtype))
}

/// Whether `rel` (a name below a content folder) stays inside it: no `..`, no root.
pub fn is_contained(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_)))
}

fn re(p: &str) -> Regex {
    Regex::new(p).expect("valid path regex")
}

static IMAGE_FILE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+)/([^/\s]+)$"));
static ISO_FILE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^([^/]+{ISO_EXT})$")));
static VZTMPL_FILE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^([^/]+{VZTMPL_EXT})$")));
static BACKUP_FILE: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^([^/]+{BACKUP_EXT})$")));
static SNIPPET_FILE: LazyLock<Regex> = LazyLock::new(|| re(r"^([^/]+)$"));
static IMPORT_FILE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^({SAFE_CHAR}+{IMPORT_EXT})$")));

/// Maps a file system path to `(vtype, volid)` on one of the configured path-based
/// storages; `None` when no storage holds it. A volume id is checked and returned as is.
/// `host` maps a configured storage path to the host (identity on a real node).
pub fn path_to_volume_id(
    cfg: &StorageConfig,
    path: &str,
    host: &dyn Fn(&str) -> PathBuf,
    lister: &dyn Fn(&StorageSection, &str) -> Result<Vec<String>>,
) -> Result<Option<(Vtype, String)>> {
    if let Some((sid, volname)) = crate::volume::split_volume_id(path) {
        let Ok(scfg) = cfg.storage(sid) else {
            return Ok(None);
        };
        if scfg.path.is_none() {
            return Ok(None);
        }
        let v = parse_volname_dir(volname)?;
        return Ok(Some((v.vtype, path.to_string())));
    }
    let abs = std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string());
    for scfg in cfg.storages() {
        if scfg.path.is_none() {
            continue;
        }
        let sid = &scfg.storeid;
        let dir = |vt: &str| -> Result<String> {
            Ok(host(&get_subdir(&scfg, vt)?).to_string_lossy().into_owned())
        };
        let rest = |d: String| abs.strip_prefix(&format!("{d}/")).map(str::to_string);
        if let Some(c) =
            rest(dir("images")?).and_then(|r| IMAGE_FILE.captures(&r).map(|c| c[1].to_string()))
        {
            for volid in lister(&scfg, &c)? {
                let (_, volname) = crate::volume::parse_volume_id(&volid)?;
                let (p, _, _) = filesystem_path(&scfg, volname, None)?;
                if host(&p).to_string_lossy() == abs {
                    return Ok(Some((Vtype::Images, volid)));
                }
            }
            continue;
        }
        let checks: [(&str, &LazyLock<Regex>, Vtype, &str); 5] = [
            ("iso", &ISO_FILE, Vtype::Iso, "iso"),
            ("vztmpl", &VZTMPL_FILE, Vtype::Vztmpl, "vztmpl"),
            ("backup", &BACKUP_FILE, Vtype::Backup, "backup"),
            ("snippets", &SNIPPET_FILE, Vtype::Snippets, "snippets"),
            ("import", &IMPORT_FILE, Vtype::Import, "import"),
        ];
        for (vt, regex, vtype, prefix) in checks {
            if let Some(r) = rest(dir(vt)?) {
                if let Some(c) = regex.captures(&r) {
                    return Ok(Some((vtype, format!("{sid}:{prefix}/{}", &c[1]))));
                }
            }
        }
    }
    Ok(None)
}
