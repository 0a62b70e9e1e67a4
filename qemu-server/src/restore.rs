//! Rewriting a VM config read from a backup archive (upstream's
//! `restore_update_config_line`): map lines, locks, unused disks and the snapshot parent
//! are dropped; mapped disks point at their restored volumes; disks excluded from the
//! backup are commented out; old `vlanN` settings become `netN`.

use std::collections::BTreeMap;

use crate::drive::Drive;

/// Per-restore state: the next `netN` index for converted `vlanN` lines.
#[derive(Debug, Default)]
pub struct RestoreCookie {
    pub netcount: u32,
}

/// What the rewriter needs from the environment.
pub struct RestoreEnv<'a> {
    /// Drive key → restored volume id.
    pub map: &'a BTreeMap<String, String>,
    /// New MAC addresses and smbios UUIDs for the restored VM.
    pub unique: bool,
    pub random_mac: &'a dyn Fn() -> String,
    pub new_uuid: &'a dyn Fn() -> String,
}

fn is_drive_key(key: &str) -> bool {
    ["ide", "scsi", "virtio", "sata", "efidisk", "tpmstate"]
        .iter()
        .any(|p| {
            key.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// `key: value` with a single non-blank value (upstream's `^(key):\s*(\S+)\s*$`).
fn single_value(line: &str, key_ok: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
    let (key, rest) = line.split_once(':')?;
    if !key_ok(key) {
        return None;
    }
    let value = rest.trim();
    (!value.is_empty() && !value.contains(char::is_whitespace)).then_some((key, value))
}

/// Rewrites one config line (with its newline) of a backed-up config.
pub fn restore_update_config_line(
    cookie: &mut RestoreCookie,
    env: &RestoreEnv<'_>,
    line: &str,
) -> String {
    if line.starts_with("#qmdump#")
        || line.starts_with("#vzdump#")
        || line.starts_with("lock:")
        || line.starts_with("parent:")
    {
        return String::new();
    }
    if let Some((k, _)) = line.split_once(':') {
        if k.strip_prefix("unused")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            return String::new();
        }
    }
    let numbered = |p: &'static str| {
        move |k: &str| {
            k.strip_prefix(p)
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        }
    };
    if let Some((key, ethcfg)) = single_value(line, numbered("vlan")) {
        let ind = &key[4..];
        let mut res = String::new();
        for dev in ethcfg
            .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let (model, mac) = match dev.split_once('=') {
                Some((m, mac)) => (m, Some(mac)),
                None => (dev, None),
            };
            let mac = match mac {
                Some(m) if !m.is_empty() && !env.unique => m.to_string(),
                _ => (env.random_mac)(),
            };
            res.push_str(&format!(
                "net{}: {model}={mac},bridge=vmbr{ind}\n",
                cookie.netcount
            ));
            cookie.netcount += 1;
        }
        return res;
    }
    if env.unique {
        if let Some((key, netstr)) = single_value(line, numbered("net")) {
            crate::schema::formats::register_formats();
            if let Ok(mut net) = pve_common::schema::property_string::parse_named_property_string(
                "pve-qm-net",
                netstr,
            ) {
                if net.get("macaddr").is_some() {
                    net.insert("macaddr".into(), (env.random_mac)().into());
                }
                if let Ok(s) = pve_common::schema::property_string::print_named_property_string(
                    &net,
                    "pve-qm-net",
                ) {
                    return format!("{key}: {s}\n");
                }
            }
        }
    }
    if let Some((key, value)) = single_value(line, is_drive_key) {
        let Ok(mut drive) = Drive::parse(key, value) else {
            return line.to_string();
        };
        if drive.flag("backup") == Some(false) {
            return format!("#{line}");
        }
        if let Some(volid) = env.map.get(key) {
            drive.props.remove("format");
            drive.props.insert("file".into(), volid.clone().into());
            if let Ok(v) = crate::disks::print_drive(&drive) {
                return format!("{key}: {v}\n");
            }
        }
        return line.to_string();
    }
    if let Some(v) = line.strip_prefix("vmgenid: ") {
        let v = v.trim_end_matches('\n');
        let v = if v != "0" {
            (env.new_uuid)()
        } else {
            v.to_string()
        };
        return format!("vmgenid: {v}\n");
    }
    if env.unique {
        if let Some(v) = line.strip_prefix("smbios1: ") {
            let rest: Vec<&str> = v
                .trim_end_matches('\n')
                .split(',')
                .filter(|p| !p.is_empty() && !p.starts_with("uuid="))
                .collect();
            let mut parts = vec![format!("uuid={}", (env.new_uuid)())];
            parts.extend(rest.iter().map(|s| s.to_string()));
            return format!("smbios1: {}\n", parts.join(","));
        }
    }
    line.to_string()
}
