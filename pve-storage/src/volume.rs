//! Volume ids (`storeid:volname`), content types and the volume names of
//! directory-like storages (dir, nfs, cifs, btrfs, …).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::StorageError;

/// A content type (`vtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vtype {
    Images,
    Rootdir,
    Iso,
    Vztmpl,
    Backup,
    Snippets,
    Import,
}

impl Vtype {
    /// Every content type with a folder on directory storages.
    pub const ALL: [Vtype; 7] = [
        Vtype::Images,
        Vtype::Rootdir,
        Vtype::Iso,
        Vtype::Vztmpl,
        Vtype::Backup,
        Vtype::Snippets,
        Vtype::Import,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Vtype::Images => "images",
            Vtype::Rootdir => "rootdir",
            Vtype::Iso => "iso",
            Vtype::Vztmpl => "vztmpl",
            Vtype::Backup => "backup",
            Vtype::Snippets => "snippets",
            Vtype::Import => "import",
        }
    }

    /// The default folder below the storage path.
    pub fn default_subdir(self) -> &'static str {
        match self {
            Vtype::Images => "images",
            Vtype::Rootdir => "private",
            Vtype::Iso => "template/iso",
            Vtype::Vztmpl => "template/cache",
            Vtype::Backup => "dump",
            Vtype::Snippets => "snippets",
            Vtype::Import => "import",
        }
    }
}

impl fmt::Display for Vtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Vtype {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self, StorageError> {
        Vtype::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| StorageError::msg(format!("unknown vtype '{s}'")))
    }
}

static VOLID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?is)^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$").expect("regex"));

/// Splits `storeid:volname` at the first colon; `None` when `volid` is no volume id
/// (a path, for instance).
pub fn split_volume_id(volid: &str) -> Option<(&str, &str)> {
    let caps = VOLID_RE.captures(volid)?;
    let sid = caps.get(1)?.as_str();
    let name = caps.get(2)?.as_str();
    Some((sid, name))
}

/// [`split_volume_id`] with upstream's error.
pub fn parse_volume_id(volid: &str) -> Result<(&str, &str), StorageError> {
    split_volume_id(volid)
        .ok_or_else(|| StorageError::msg(format!("unable to parse volume ID '{volid}'")))
}

/// What a volume name says: upstream's `parse_volname` tuple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeName {
    pub vtype: Vtype,
    /// The file name (for images, without the vmid folder).
    pub name: String,
    /// The owner (images: the folder; backups: from the vzdump name).
    pub vmid: Option<String>,
    /// Linked clones: the base image name and its owner.
    pub basename: Option<String>,
    pub basevmid: Option<String>,
    /// The volume is a base image (template).
    pub is_base: bool,
    /// raw, qcow2, vmdk, subvol; `raw` for files; `ova`, `ovf`, `ova+<fmt>`, … for imports.
    pub format: String,
}

pub(crate) const ISO_EXT: &str = r"\.(?i:iso|img)";
/// vztmpl extension: capture 1 is `tar` for plain tar files, capture 2 the compression.
pub(crate) const VZTMPL_EXT: &str = r"\.(?i:(tar)|tar\.(gz|xz|zst|bz2))";
/// Backup extension: 1 = full extension, 2 = compression.
pub(crate) const BACKUP_EXT: &str = r"\.(tgz|(?:tar|vma)(?:\.(gz|lzo|zst|bz2))?)";
pub(crate) const IMPORT_EXT: &str = r"\.(ova|ovf|qcow2|raw|vmdk)";
pub(crate) const SAFE_CHAR: &str = r"[a-zA-Z0-9\-.+=_]";
pub(crate) const SAFE_CHAR_WS: &str = r"[ a-zA-Z0-9\-.+=_]";

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid volume regex")
}

static LINKED: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+)/(\S+)/(\d+)/(\S+)$"));
static IMAGE: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d+)/(\S+)$"));
static ISO: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^iso/([^/]+{ISO_EXT})$")));
static VZTMPL: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^vztmpl/([^/]+{VZTMPL_EXT})$")));
static BACKUP: LazyLock<Regex> = LazyLock::new(|| re(&format!(r"^backup/([^/]+{BACKUP_EXT})$")));
static BACKUP_OWNER: LazyLock<Regex> = LazyLock::new(|| re(r"^vzdump-(openvz|lxc|qemu)-(\d+)-."));
static SNIPPET: LazyLock<Regex> = LazyLock::new(|| re(r"^snippets/([^/]+)$"));
static IMPORT_OVA: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^import/({SAFE_CHAR_WS}+\.ova/{SAFE_CHAR_WS}+\.(qcow2|raw|vmdk))$"
    ))
});
static IMPORT: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"^import/({SAFE_CHAR_WS}+{IMPORT_EXT})$")));
static DISK_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^((vm-|base-|subvol-)(\d+)-[^/\s]+\.(raw|qcow2|vmdk|subvol))$"));
static SNAP_NAME: LazyLock<Regex> = LazyLock::new(|| re(r"^snap-.*\.qcow2$"));
static OTHER_NAME: LazyLock<Regex> =
    LazyLock::new(|| re(r"^((base-)?[^/\s]+\.(raw|qcow2|vmdk|subvol))$"));

/// An image file name: `(format, is_base)`.
pub fn parse_image_name(name: &str) -> Result<(String, bool), StorageError> {
    if let Some(c) = DISK_NAME.captures(name) {
        return Ok((c[4].to_string(), &c[2] == "base-"));
    }
    if SNAP_NAME.is_match(name) {
        return Err(StorageError::msg(format!(
            "'{name}' is a snapshot filename, not a volume!"
        )));
    }
    if let Some(c) = OTHER_NAME.captures(name) {
        return Ok((c[3].to_string(), c.get(2).is_some()));
    }
    Err(StorageError::msg(format!(
        "unable to parse volume filename '{name}'"
    )))
}

/// Parses the volume name of a directory-like storage (the part after `storeid:`).
pub fn parse_volname_dir(volname: &str) -> Result<VolumeName, StorageError> {
    let file = |vtype, name: &str, format: &str| VolumeName {
        vtype,
        name: name.to_string(),
        vmid: None,
        basename: None,
        basevmid: None,
        is_base: false,
        format: format.to_string(),
    };
    if let Some(c) = LINKED.captures(volname) {
        parse_image_name(&c[2])?;
        let (format, is_base) = parse_image_name(&c[4])?;
        return Ok(VolumeName {
            vtype: Vtype::Images,
            name: c[4].to_string(),
            vmid: Some(c[3].to_string()),
            basename: Some(c[2].to_string()),
            basevmid: Some(c[1].to_string()),
            is_base,
            format,
        });
    }
    if let Some(c) = IMAGE.captures(volname) {
        let (format, is_base) = parse_image_name(&c[2])?;
        return Ok(VolumeName {
            vmid: Some(c[1].to_string()),
            is_base,
            ..file(Vtype::Images, &c[2], &format)
        });
    }
    if let Some(c) = ISO.captures(volname) {
        return Ok(file(Vtype::Iso, &c[1], "raw"));
    }
    if let Some(c) = VZTMPL.captures(volname) {
        return Ok(file(Vtype::Vztmpl, &c[1], "raw"));
    }
    if let Some(c) = BACKUP.captures(volname) {
        let mut v = file(Vtype::Backup, &c[1], "raw");
        v.vmid = BACKUP_OWNER.captures(&c[1]).map(|o| o[2].to_string());
        return Ok(v);
    }
    if let Some(c) = SNIPPET.captures(volname) {
        // `.` and `..` would name the folder or its parent, never a snippet file
        if &c[1] != "." && &c[1] != ".." {
            return Ok(file(Vtype::Snippets, &c[1], "raw"));
        }
    }
    if let Some(c) = IMPORT_OVA.captures(volname) {
        return Ok(file(Vtype::Import, &c[1], &format!("ova+{}", &c[2])));
    }
    if let Some(c) = IMPORT.captures(volname) {
        return Ok(file(Vtype::Import, &c[1], &c[2]));
    }
    Err(StorageError::msg(format!(
        "unable to parse directory volume name '{volname}'"
    )))
}

/// Upstream's `parse_vmid`.
pub fn parse_vmid(vmid: &str) -> Result<u32, StorageError> {
    if vmid.is_empty() || !vmid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StorageError::msg(format!(
            "VMID '{vmid}' contains illegal characters"
        )));
    }
    vmid.parse()
        .map_err(|_| StorageError::msg(format!("VMID '{vmid}' contains illegal characters")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids() {
        assert_eq!(
            split_volume_id("local:iso/a:b.iso"),
            Some(("local", "iso/a:b.iso"))
        );
        assert_eq!(split_volume_id("/var/lib/vz/x"), None);
        assert_eq!(split_volume_id("a:x"), None);
        assert_eq!(
            parse_volume_id("x").unwrap_err().to_string(),
            "unable to parse volume ID 'x'"
        );
    }

    #[test]
    fn names() {
        let v = parse_volname_dir("100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2").unwrap();
        assert_eq!(v.basevmid.as_deref(), Some("100"));
        assert!(!v.is_base);
        assert!(parse_volname_dir("../etc/passwd").is_err());
        assert!(parse_volname_dir("iso/../../x.iso").is_err());
        assert!(parse_volname_dir("100/../../x.raw").is_err());
        assert_eq!(parse_volname_dir("iso/x.ISO").unwrap().vtype, Vtype::Iso);
    }
}
