//! VM config files: upstream's `qemu-server/<vmid>.conf` on top of pve-guest-common's
//! guest-config machinery, with the VM option schema.

use pve_guest_common::{
    parse_guest_config, write_guest_config, GuestConfig, GuestConfigSchema, SectionKind,
};

use crate::drive::parse_drive_name;
use crate::schema::{check_option_value, vm_config_options};

const FLEECING_KEY: &str = "fleecing-images";

/// The VM flavour of the guest-config schema.
pub struct VmConfigSchema {
    vmid: u32,
}

impl VmConfigSchema {
    pub fn new(vmid: u32) -> Self {
        Self { vmid }
    }

    /// A bare file name in a drive line means a volume on `local` (`local:iso/<file>` for
    /// CD-ROMs); absolute paths (devices, files) stay as they are, as upstream keeps
    /// them; a relative path with `/` is refused.
    fn drive_volume(&self, value: &str) -> Option<String> {
        let (file, rest) = match value.split_once(',') {
            Some((f, r)) => (f, Some(r)),
            None => (value, None),
        };
        let file = file
            .strip_prefix("file=")
            .or(file.strip_prefix("volume="))
            .unwrap_or(file);
        if file == "none"
            || file == "cdrom"
            || file.starts_with('/') && file.len() > 1
            || file
                .split_once(':')
                .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
            || file.contains('=')
        {
            return Some(value.to_string());
        }
        if file.contains('/') {
            return None;
        }
        let cdrom = rest.is_some_and(|r| r.split(',').any(|p| p == "media=cdrom"));
        let volid = if cdrom {
            format!("local:iso/{file}")
        } else {
            format!("local:{}/{file}", self.vmid)
        };
        Some(match rest {
            Some(r) => format!("{volid},{r}"),
            None => volid,
        })
    }
}

impl GuestConfigSchema for VmConfigSchema {
    fn special_sections(&self) -> &[&str] {
        &["cloudinit", "fleecing"]
    }

    fn check_value(
        &self,
        section: SectionKind<'_>,
        key: &str,
        value: &str,
    ) -> Result<String, String> {
        match section {
            // Informative only: taken as is.
            SectionKind::Special("cloudinit") => return Ok(value.to_string()),
            SectionKind::Special(_) => {
                if key != FLEECING_KEY {
                    return Err(format!("unknown setting '{key}'\n"));
                }
                pve_common::schema::formats::check_format(
                    &pve_common::schema::FormatSpec::Named("pve-volume-id-list".into()),
                    value,
                )
                .map_err(|e| format!("{e}\n"))?;
                return Ok(value.to_string());
            }
            _ => {}
        }
        let value = check_option_value(vm_config_options(), key, value)?;
        if parse_drive_name(key).is_some()
            && !key.starts_with("efidisk")
            && !key.starts_with("tpmstate")
        {
            return self.drive_volume(&value).ok_or_else(String::new);
        }
        Ok(value)
    }

    fn keep_special_section(&self, name: &str, config: &GuestConfig) -> bool {
        name != "cloudinit" || has_cloudinit_drive(config)
    }
}

/// Whether the main section has a cloud-init drive (`…vm-<id>-cloudinit…`).
pub fn has_cloudinit_drive(config: &GuestConfig) -> bool {
    config.main.values.iter().any(|(k, v)| {
        parse_drive_name(k).is_some()
            && v.split(',').next().is_some_and(|f| f.contains("cloudinit"))
    })
}

/// Parses a VM config file (`vm <vmid> - …` errors). Non-strict mode drops bad lines and
/// returns the warnings.
pub fn parse_vm_config(
    vmid: u32,
    raw: &str,
    strict: bool,
) -> Result<pve_guest_common::ParsedConfig, String> {
    let schema = VmConfigSchema::new(vmid);
    parse_guest_config(&format!("vm {vmid}"), raw, strict, &schema)
}

/// Writes a VM config file in upstream's layout.
/// Writes a VM config file in upstream's layout. An `unusedN` of the main section whose
/// volume a drive of the main or pending section uses again is dropped, as upstream does.
pub fn write_vm_config(vmid: u32, config: &GuestConfig) -> String {
    let drive_file = |k: &str, v: &str| {
        parse_drive_name(k)?;
        crate::drive::Drive::parse(k, v).ok().map(|d| d.file())
    };
    let used: std::collections::BTreeSet<String> = config
        .main
        .values
        .iter()
        .chain(config.pending.values.iter())
        .filter_map(|(k, v)| drive_file(k, v))
        .filter(|f| !f.is_empty())
        .collect();
    let stale = config.main.values.iter().any(|(k, v)| {
        k.strip_prefix("unused")
            .is_some_and(|n| n.parse::<u32>().is_ok())
            && used.contains(v)
    });
    if !stale {
        return write_guest_config(config, &VmConfigSchema::new(vmid));
    }
    let mut config = config.clone();
    config.main.values.retain(|k, v| {
        !(k.strip_prefix("unused")
            .is_some_and(|n| n.parse::<u32>().is_ok())
            && used.contains(v))
    });
    write_guest_config(&config, &VmConfigSchema::new(vmid))
}
