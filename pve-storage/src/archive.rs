//! vzdump archive names: type, format, compression, companion files and the time in
//! the name (upstream's `archive_info`).

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use regex::Regex;
use serde::Serialize;

use crate::error::{Result, StorageError};
use crate::volume::BACKUP_EXT;

/// Companion file suffixes.
pub const LOG_EXT: &str = ".log";
pub const NOTES_EXT: &str = ".notes";
pub const PROTECTED_EXT: &str = ".protected";

/// What a backup file name says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArchiveInfo {
    pub filename: String,
    /// qemu, lxc or openvz.
    #[serde(rename = "type")]
    pub guest_type: String,
    /// vma or tar.
    pub format: String,
    pub compression: Option<String>,
    /// The argv that decompresses the archive to stdout (tar: the tar flags).
    pub decompressor: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logfilename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notesfilename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vmid: Option<u32>,
    /// From the timestamp in the name, read as local time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctime: Option<i64>,
    #[serde(serialize_with = "perl_flag")]
    pub is_std_name: bool,
}

fn perl_flag<S: serde::Serializer>(b: &bool, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*b))
}

/// The decompressor argv for `format` (tar, vma, iso) and compression `comp`.
pub fn decompressor(format: &str, comp: &str) -> Option<Vec<String>> {
    let argv: &[&str] = match (format, comp) {
        ("tar", "gz") => &["tar", "-z"],
        ("tar", "lzo") => &["tar", "--lzop"],
        ("tar", "zst") => &["tar", "--zstd"],
        ("tar", "bz2") => &["tar", "--bzip2"],
        ("vma" | "iso", "gz") => &["zcat"],
        ("vma" | "iso", "lzo") => &["lzop", "-d", "-c"],
        ("vma" | "iso", "zst") => &["zstd", "-q", "-d", "-c"],
        ("vma" | "iso", "bz2") => &["bzcat", "-q"],
        _ => return None,
    };
    Some(argv.iter().map(|s| s.to_string()).collect())
}

static ARCHIVE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(vzdump-(lxc|openvz|qemu)-.+{BACKUP_EXT})$")).expect("regex")
});
static STD_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(vzdump-(lxc|openvz|qemu)-([1-9][0-9]{2,8})-(\d{4})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2}))\.(.+)$",
    )
    .expect("regex")
});

/// [`archive_info_in`] in the host's time zone.
pub fn archive_info(archive: &str) -> Result<ArchiveInfo> {
    archive_info_in(archive, &TimeZone::system())
}

/// Parses the backup file name at the end of `archive` (a name, volume name or path).
pub fn archive_info_in(archive: &str, tz: &TimeZone) -> Result<ArchiveInfo> {
    let base = archive.rsplit('/').next().unwrap_or(archive);
    let fail = || {
        StorageError::msg(format!(
            "ERROR: couldn't determine archive info from '{archive}'"
        ))
    };
    let caps = ARCHIVE.captures(base).ok_or_else(fail)?;
    let filename = caps[1].to_string();
    let guest_type = caps[2].to_string();
    let extension = caps[3].to_string();
    let mut compression = caps.get(4).map(|m| m.as_str().to_string());
    let mut format = extension.split('.').next().unwrap_or_default().to_string();
    if format == "tgz" && compression.is_none() {
        format = "tar".into();
        compression = Some("gz".into());
    }
    let decompressor = compression
        .as_deref()
        .and_then(|c| decompressor(&format, c));
    let mut info = ArchiveInfo {
        filename: filename.clone(),
        guest_type: guest_type.clone(),
        format,
        compression,
        decompressor,
        logfilename: None,
        notesfilename: None,
        vmid: None,
        ctime: None,
        is_std_name: false,
    };
    if let Some(c) = STD_NAME.captures(base) {
        if c[2] == guest_type && c[10] == extension {
            let num = |i: usize| c[i].parse::<i64>().unwrap_or(-1);
            if let Some(ctime) = local_time(tz, num(4), num(5), num(6), num(7), num(8), num(9)) {
                info.logfilename = Some(format!("{}{LOG_EXT}", &c[1]));
                info.notesfilename = Some(format!("{filename}{NOTES_EXT}"));
                info.vmid = c[3].parse().ok();
                info.ctime = Some(ctime);
                info.is_std_name = true;
            } else {
                return Err(StorageError::msg(format!(
                    "invalid timestamp in backup name '{base}'"
                )));
            }
        }
    }
    Ok(info)
}

/// Epoch seconds of a local wall-clock time.
fn local_time(tz: &TimeZone, y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    let dt = jiff::civil::DateTime::new(
        i16::try_from(y).ok()?,
        i8::try_from(mo).ok()?,
        i8::try_from(d).ok()?,
        i8::try_from(h).ok()?,
        i8::try_from(mi).ok()?,
        i8::try_from(s).ok()?,
        0,
    )
    .ok()?;
    Some(dt.to_zoned(tz.clone()).ok()?.timestamp().as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let i = archive_info_in(
            "vzdump-qemu-100-2024_01_01-00_00_00.vma.zst",
            &TimeZone::UTC,
        )
        .unwrap();
        assert_eq!(i.ctime, Some(1704067200));
        assert_eq!(
            i.logfilename.as_deref(),
            Some("vzdump-qemu-100-2024_01_01-00_00_00.log")
        );
        let r = archive_info_in("vzdump-qemu-renamed.vma", &TimeZone::UTC).unwrap();
        assert!(!r.is_std_name);
        assert!(archive_info_in("foo.vma", &TimeZone::UTC).is_err());
    }
}
