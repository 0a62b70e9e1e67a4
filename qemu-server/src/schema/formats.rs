//! The qemu-server property-string formats and string checks, registered with
//! pve-common's format registry (upstream registers them under the same names).

use std::collections::BTreeMap;
use std::sync::Once;

use pve_common::schema::formats::{get_format, register_format, register_format_checker};
use pve_common::schema::Schema;
use serde_json::{json, Value};

fn props(v: Value) -> BTreeMap<String, Schema> {
    let Value::Object(map) = v else {
        panic!("format literal must be an object")
    };
    map.into_iter()
        .map(|(k, v)| (k, Schema::literal(v)))
        .collect()
}

const B64: &str = "[A-Za-z0-9+\\/]+={0,2}";
fn optional_string() -> Value {
    json!({"type": "string", "optional": 1})
}

fn bool_opt() -> Value {
    json!({"type": "boolean", "optional": 1})
}

fn named_formats() -> Vec<(&'static str, Value)> {
    let volume = pve_common::schema::json_lit(
        r#"{"type": "string", "format": "pve-volume-id", "optional": 1}"#,
    );
    vec![
        (
            "pve-qm-smbios1",
            json!({
                "uuid": {"type": "string", "optional": 1,
                         "pattern": "[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}"},
                "version": {"type": "string", "pattern": B64, "optional": 1},
                "serial": {"type": "string", "pattern": B64, "optional": 1},
                "manufacturer": {"type": "string", "pattern": B64, "optional": 1},
                "product": {"type": "string", "pattern": B64, "optional": 1},
                "sku": {"type": "string", "pattern": B64, "optional": 1},
                "family": {"type": "string", "pattern": B64, "optional": 1},
                "base64": bool_opt(),
            }),
        ),
        (
            "pve-qm-boot",
            json!({
                "legacy": {"type": "string", "pattern": "[acdn]{1,4}", "default_key": 1, "optional": 1},
                "order": {"type": "string", "format": "pve-qm-bootdev-list", "optional": 1},
            }),
        ),
        (
            "pve-qm-watchdog",
            json!({
                "model": {"type": "string", "default_key": 1, "enum": ["i6300esb", "ib700"], "optional": 1},
                "action": {"type": "string", "optional": 1,
                           "enum": ["reset", "shutdown", "poweroff", "pause", "debug", "none"]},
            }),
        ),
        (
            "pve-qm-cicustom",
            json!({
                "meta": volume, "network": volume, "user": volume, "vendor": volume,
            }),
        ),
        (
            "pve-qemu-sev-fmt",
            json!({
                "type": {"type": "string", "default_key": 1, "enum": ["std", "es", "snp"]},
                "allow-smt": bool_opt(), "kernel-hashes": bool_opt(),
                "no-debug": bool_opt(), "no-key-sharing": bool_opt(),
            }),
        ),
        (
            "pve-qemu-tdx-fmt",
            json!({
                "type": {"type": "string", "default_key": 1, "enum": ["tdx"]},
                "attestation": {"type": "boolean"},
                "vsock-cid": {"type": "integer", "optional": 1},
                "vsock-port": {"type": "integer", "optional": 1},
            }),
        ),
        (
            "pve-vm-cpu-conf",
            json!({
                "cputype": {"type": "string", "default_key": 1, "optional": 1},
                "reported-model": optional_string(),
                "hidden": bool_opt(),
                "hv-vendor-id": {"type": "string", "pattern": "[a-zA-Z0-9]{1,12}", "optional": 1},
                "flags": {"type": "string", "optional": 1,
                          "pattern": "[+-][a-zA-Z0-9\\-_\\.]+(;[+-][a-zA-Z0-9\\-_\\.]+)*"},
                "guest-phys-bits": {"type": "integer", "optional": 1},
                "phys-bits": optional_string(),
                "level": {"type": "integer", "optional": 1},
            }),
        ),
        (
            "pve-qm-hostpci",
            json!({
                "host": {"type": "string", "default_key": 1, "optional": 1},
                "mapping": optional_string(),
                "rombar": bool_opt(), "romfile": optional_string(), "pcie": bool_opt(),
                "x-vga": bool_opt(), "legacy-igd": bool_opt(), "mdev": optional_string(),
                "driver": {"type": "string", "enum": ["vfio", "keep"], "optional": 1},
                "vendor-id": optional_string(), "device-id": optional_string(),
                "sub-vendor-id": optional_string(), "sub-device-id": optional_string(),
            }),
        ),
        (
            "pve-qm-rng",
            json!({
                "source": {"type": "string", "default_key": 1,
                           "enum": ["/dev/urandom", "/dev/random", "/dev/hwrng"]},
                "max_bytes": {"type": "integer", "optional": 1},
                "period": {"type": "integer", "optional": 1},
            }),
        ),
        (
            "pve-qm-ipconfig",
            json!({
                "ip": optional_string(), "gw": optional_string(),
                "ip6": optional_string(), "gw6": optional_string(),
            }),
        ),
        (
            "pve-qm-meta",
            json!({
                "ctime": {"type": "integer", "optional": 1},
                "creation-qemu": optional_string(),
            }),
        ),
    ]
}

fn verify_bootdisk(value: &str) -> Result<(), String> {
    crate::drive::parse_drive_name(value)
        .map(|_| ())
        .ok_or_else(|| format!("invalid drive name '{value}'"))
}

fn verify_bootdev(value: &str) -> Result<(), String> {
    if crate::drive::parse_drive_name(value).is_some()
        || value
            .strip_prefix("net")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 32)
        || value
            .strip_prefix("hostpci")
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n < 16)
    {
        Ok(())
    } else {
        Err(format!("invalid boot device '{value}'"))
    }
}

fn verify_hotplug(value: &str) -> Result<(), String> {
    if value == "0" || value == "1" {
        return Ok(());
    }
    for part in value.split(',') {
        if !["network", "disk", "cpu", "memory", "usb", "cloudinit"].contains(&part) {
            return Err(format!("invalid hotplug feature '{part}'"));
        }
    }
    Ok(())
}

fn verify_cpuset(value: &str) -> Result<(), String> {
    let ok = value.split(',').all(|part| {
        let mut bounds = part.splitn(2, '-');
        bounds.all(|b| !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()))
    });
    if ok {
        Ok(())
    } else {
        Err(format!("unable to parse cpuset '{value}'"))
    }
}

/// Registers every qemu-server format once (idempotent).
pub fn register_formats() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (name, v) in named_formats() {
            register_format(name, props(v));
        }
        // Inline formats of the option schema that upstream also registers by name.
        let named = [
            ("pve-qm-ide", "ide"),
            ("pve-qm-scsi", "scsi"),
            ("pve-qm-sata", "sata"),
            ("pve-qm-virtio", "virtio"),
            ("pve-qm-efidisk", "efidisk0"),
            ("pve-qm-tpmstate", "tpmstate0"),
            ("pve-qm-net", "net"),
            ("pve-qm-usb", "usb"),
            ("pve-qm-numanode", "numa"),
        ];
        let families: Vec<&str> = named.iter().map(|(_, f)| *f).collect();
        let schemas = super::declared_options(&families);
        for ((name, _), schema) in named.iter().zip(schemas) {
            if let Some(pve_common::schema::FormatSpec::Inline(p)) = schema.format {
                register_format(name, std::sync::Arc::unwrap_or_clone(p));
            }
        }
        register_format_checker("pve-qm-bootdisk", verify_bootdisk);
        register_format_checker("pve-qm-bootdev", verify_bootdev);
        register_format_checker("pve-hotplug-features", verify_hotplug);
        if get_format("pve-cpuset").is_none() {
            register_format_checker("pve-cpuset", verify_cpuset);
        }
    });
}
