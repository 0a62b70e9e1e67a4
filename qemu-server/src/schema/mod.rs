//! The VM config option schema: upstream's option declarations (the parameters of
//! `POST /nodes/{node}/qemu`), the internal snapshot keys, and upstream's per-value
//! type check used when reading and writing config files.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use pve_common::schema::{Properties, Schema};

mod drive_options;
pub mod formats;
mod general_options;

fn declarations() -> impl Iterator<Item = (&'static str, u32, serde_json::Value)> {
    drive_options::drive_option_declarations()
        .into_iter()
        .chain(general_options::general_option_declarations())
}

/// The schemas declared for option families (`scsi`, `net`, `memory`, …), building the declarations once (the
/// format registration asks for a dozen: building them all for each was most of a
/// short `qm` command's time).
pub(crate) fn declared_options(families: &[&str]) -> Vec<Schema> {
    let all: Vec<(&'static str, serde_json::Value)> =
        declarations().map(|(n, _, v)| (n, v)).collect();
    families
        .iter()
        .map(|f| {
            all.iter()
                .find(|(name, _)| name == f)
                .map(|(_, v)| Schema::literal(v.clone()))
                .unwrap_or_default()
        })
        .collect()
}

/// Keys that only the config file has (snapshot bookkeeping, meta data).
fn internal_options() -> Vec<(&'static str, serde_json::Value)> {
    vec![
        (
            "parent",
            pve_common::schema::json_lit(
                r#"{"type": "string", "format": "pve-configid", "optional": 1,
            "description": "Parent snapshot name. This is used internally, and should not be modified."}"#,
            ),
        ),
        (
            "snaptime",
            pve_common::schema::json_lit(
                r#"{"type": "integer", "minimum": 0, "optional": 1,
            "description": "Timestamp for snapshots."}"#,
            ),
        ),
        (
            "vmstate",
            pve_common::schema::json_lit(
                r#"{"type": "string", "format": "pve-volume-id", "optional": 1,
            "description": "Reference to a volume which stores the VM state. This is used internally for snapshots."}"#,
            ),
        ),
        (
            "runningmachine",
            pve_common::schema::json_lit(
                r#"{"type": "string", "optional": 1,
            "description": "Specifies the QEMU machine type of the running vm. This is used internally for snapshots."}"#,
            ),
        ),
        (
            "runningcpu",
            pve_common::schema::json_lit(
                r#"{"type": "string", "optional": 1,
            "description": "Specifies the QEMU '-cpu' parameter of the running vm. This is used internally for snapshots."}"#,
            ),
        ),
        (
            "running-nets-host-mtu",
            pve_common::schema::json_lit(
                r#"{"type": "string", "optional": 1,
            "pattern": "net\\d+=\\d+(,net\\d+=\\d+)*",
            "description": "List of VirtIO network devices and their effective host_mtu setting."}"#,
            ),
        ),
        (
            "meta",
            pve_common::schema::json_lit(
                r#"{"type": "string", "format": "pve-qm-meta", "optional": 1,
            "description": "Some (read-only) meta-information about this guest."}"#,
            ),
        ),
    ]
}

/// The type texts upstream declares or publishes for options whose value follows a
/// named format or a pattern (the usage and the API dump show these instead of a
/// generic `<string>`).
const NAMED_FORMAT_TYPETEXTS: [(&str, &str); 13] = [
    ("startdate", "(now | YYYY-MM-DD | YYYY-MM-DDTHH:MM:SS)"),
    ("startup", "[[order=]\\d+] [,up=\\d+] [,down=\\d+] "),
    ("amd-sev", "[type=]<sev-type> [,allow-smt=<1|0>] [,kernel-hashes=<1|0>] [,no-debug=<1|0>] [,no-key-sharing=<1|0>]"),
    ("boot", "[[legacy=]<[acdn]{1,4}>] [,order=<device[;device...]>]"),
    ("cdrom", "<volume>"),
    ("cicustom", "[meta=<volume>] [,network=<volume>] [,user=<volume>] [,vendor=<volume>]"),
    ("cpu", "[[cputype=]<string>] [,flags=<+FLAG[;-FLAG...]>] [,guest-phys-bits=<integer>] [,hidden=<1|0>] [,hv-vendor-id=<vendor-id>] [,level=<integer>] [,phys-bits=<8-64|host>] [,reported-model=<enum>]"),
    ("hostpci", "[[host=]<HOSTPCIID[;HOSTPCIID2...]>] [,device-id=<hex id>] [,driver=<vfio|keep>] [,legacy-igd=<1|0>] [,mapping=<mapping-id>] [,mdev=<string>] [,pcie=<1|0>] [,rombar=<1|0>] [,romfile=<string>] [,sub-device-id=<hex id>] [,sub-vendor-id=<hex id>] [,vendor-id=<hex id>] [,x-vga=<1|0>]"),
    ("intel-tdx", "[type=]<tdx-type> ,attestation=<1|0> [,vsock-cid=<integer>] [,vsock-port=<integer>]"),
    ("ipconfig", "[gw=<GatewayIPv4>] [,gw6=<GatewayIPv6>] [,ip=<IPv4Format/CIDR>] [,ip6=<IPv6Format/CIDR>]"),
    ("rng0", "[source=]</dev/urandom|/dev/random|/dev/hwrng> [,max_bytes=<integer>] [,period=<integer>]"),
    ("smbios1", "[base64=<1|0>] [,family=<Base64 encoded string>] [,manufacturer=<Base64 encoded string>] [,product=<Base64 encoded string>] [,serial=<Base64 encoded string>] [,sku=<Base64 encoded string>] [,uuid=<UUID>] [,version=<Base64 encoded string>]"),
    ("watchdog", "[[model=]<i6300esb|ib700>] [,action=<enum>]"),
];

/// Every key a VM config section may hold, with its schema (`scsi0` … `scsi30` expanded).
/// The schemas are shared: `net0` … `net31` are one [`Schema`], and the API methods that
/// take the options as parameters hold references to these, not copies.
pub fn vm_config_options() -> &'static Properties {
    static OPTIONS: OnceLock<Properties> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        formats::register_formats();
        let mut map = BTreeMap::new();
        for (name, count, v) in declarations() {
            let mut schema = Schema::literal(v);
            if let Some((_, t)) = NAMED_FORMAT_TYPETEXTS.iter().find(|(f, _)| *f == name) {
                schema.typetext = Some(t.to_string());
            }
            let schema = Arc::new(schema);
            if count == 0 {
                map.insert(name.to_string(), schema);
            } else {
                for i in 0..count {
                    map.insert(format!("{name}{i}"), Arc::clone(&schema));
                }
            }
        }
        for (name, v) in internal_options() {
            map.insert(name.to_string(), Arc::new(Schema::literal(v)));
        }
        map
    })
}

/// Upstream's config-file type check for VM options (strings without a format lose one
/// pair of surrounding double quotes). `Err` ends with a newline.
pub fn check_option_value(options: &Properties, key: &str, value: &str) -> Result<String, String> {
    pve_guest_common::value_check::check_config_value(
        options,
        key,
        value,
        pve_guest_common::value_check::PlainString::Unquoted,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_expand_and_check() {
        let opts = vm_config_options();
        assert!(opts.contains_key("scsi30") && !opts.contains_key("scsi31"));
        assert!(opts.contains_key("net31") && opts.contains_key("unused255"));
        assert_eq!(check_option_value(opts, "numa", "yes").unwrap(), "1");
        assert_eq!(
            check_option_value(opts, "numa", "x").unwrap_err(),
            "type check ('boolean') failed - got 'x'\n"
        );
        check_option_value(opts, "scsi0", "local:100/vm-100-disk-0.qcow2,size=4G").unwrap();
        check_option_value(opts, "net0", "virtio=92:38:11:FD:ED:87,bridge=vmbr0").unwrap();
        check_option_value(opts, "cpu", "host,flags=+aes").unwrap();
        check_option_value(opts, "boot", "order=scsi0;ide2;net0").unwrap();
    }
}
