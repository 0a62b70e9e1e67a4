//! The storage formats of the schema registry (`pve-storage-content`, …).

use std::collections::BTreeMap;
use std::sync::Once;

use pve_common::schema::formats::{register_format, register_format_checker};
use pve_common::schema::Schema;
use serde_json::json;

use crate::volume::split_volume_id;

/// Content types a storage may list (dir supports them all).
pub const CONTENT_TYPES: [&str; 8] = [
    "images", "rootdir", "vztmpl", "iso", "backup", "snippets", "none", "import",
];

fn verify_content(ct: &str) -> Result<(), String> {
    match CONTENT_TYPES.contains(&ct) {
        true => Ok(()),
        false => Err(format!("invalid content type '{ct}'")),
    }
}

fn verify_path(p: &str) -> Result<(), String> {
    let ok = p.starts_with('/') && p.len() > 1 && !p[1..2].contains([';', '(', ')']);
    match ok {
        true => Ok(()),
        false => Err("value does not look like a valid absolute path".into()),
    }
}

fn verify_server(s: &str) -> Result<(), String> {
    let ok = pve_common::schema::formats::verify_address(s).is_ok()
        || pve_common::schema::formats::verify_dns_name(s).is_ok();
    match ok {
        true => Ok(()),
        false => Err("value does not look like a valid server name or IP address".into()),
    }
}

fn verify_vgname(n: &str) -> Result<(), String> {
    let b = n.as_bytes();
    let inner = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(inner);
    match ok {
        true => Ok(()),
        false => Err(format!("lvm name '{n}' contains illegal characters")),
    }
}

fn verify_portal(p: &str) -> Result<(), String> {
    let host = match p.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => p.rsplit_once(':').map_or(p, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                p
            }
        }),
    };
    verify_server(host).map_err(|_| "value does not look like a valid portal address".into())
}

fn verify_format(f: &str) -> Result<(), String> {
    match matches!(f, "raw" | "qcow2" | "vmdk" | "subvol") {
        true => Ok(()),
        false => Err(format!("invalid format '{f}'")),
    }
}

fn verify_options(v: &str) -> Result<(), String> {
    match !v.is_empty() && !v.chars().any(char::is_whitespace) {
        true => Ok(()),
        false => Err(format!("invalid options '{v}'")),
    }
}

/// `content=relative/path`: a known content type and a path without `..`.
fn verify_dir_override(v: &str) -> Result<(), String> {
    let bad = || format!("invalid override '{v}'");
    let (ct, rel) = v.split_once('=').ok_or_else(bad)?;
    if ct.is_empty() || !ct.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(bad());
    }
    if ct != "import" && verify_content(ct).is_err() {
        return Err(bad());
    }
    let ok = !rel.is_empty()
        && !rel.contains("..")
        && !rel.ends_with('.')
        && rel.len() < 1023
        && rel.split('/').all(|c| c.len() < 255);
    match ok {
        true => Ok(()),
        false => Err(bad()),
    }
}

fn verify_zfs_blocksize(v: &str) -> Result<(), String> {
    let digits = v.trim_end_matches(['k', 'K', 'm', 'M']);
    let ok =
        digits.parse::<u64>().is_ok_and(|n| n.is_power_of_two()) && v.len() - digits.len() <= 1;
    match ok {
        true => Ok(()),
        false => Err("invalid block size".into()),
    }
}

fn verify_volume_id(v: &str) -> Result<(), String> {
    split_volume_id(v)
        .map(|_| ())
        .ok_or_else(|| format!("unable to parse volume ID '{v}'"))
}

/// Registers the storage formats once per process.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_format_checker("pve-storage-content", verify_content);
        register_format_checker("pve-storage-path", verify_path);
        register_format_checker("pve-storage-server", verify_server);
        register_format_checker("pve-storage-vgname", verify_vgname);
        register_format_checker("pve-storage-portal-dns", verify_portal);
        register_format_checker("pve-storage-format", verify_format);
        register_format_checker("pve-storage-options", verify_options);
        register_format_checker("pve-dir-override", verify_dir_override);
        register_format_checker("pve-storage-zfs-blocksize", verify_zfs_blocksize);
        if pve_common::schema::formats::get_format("pve-volume-id").is_none() {
            register_format_checker("pve-volume-id", verify_volume_id);
        }
        let keep = |d: &str| {
            json!({"optional": 1, "type": "integer", "minimum": "0", "format_description": "N",
                   "description": d})
        };
        let props: BTreeMap<String, Schema> = [
            (
                "keep-all",
                json!({"type": "boolean", "optional": 1,
                "description": "Keep all backups. Conflicts with the other options when true."}),
            ),
            ("keep-last", keep("Keep the last <N> backups.")),
            (
                "keep-hourly",
                keep("Keep backups for the last <N> different hours."),
            ),
            (
                "keep-daily",
                keep("Keep backups for the last <N> different days."),
            ),
            (
                "keep-weekly",
                keep("Keep backups for the last <N> different weeks."),
            ),
            (
                "keep-monthly",
                keep("Keep backups for the last <N> different months."),
            ),
            (
                "keep-yearly",
                keep("Keep backups for the last <N> different years."),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Schema::literal(v)))
        .collect();
        if pve_common::schema::formats::get_format("prune-backups").is_none() {
            register_format("prune-backups", props);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(verify_dir_override("images=myimgs").is_ok());
        assert!(verify_dir_override("images=../x").is_err());
        assert!(verify_dir_override("bogus=x").is_err());
        assert!(verify_path("/var/lib/vz").is_ok());
        assert!(verify_path("relative").is_err());
        assert!(verify_zfs_blocksize("8k").is_ok());
        assert!(verify_zfs_blocksize("7k").is_err());
    }
}
