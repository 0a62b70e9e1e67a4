//! Parses arbitrary text as a property string against a format that uses every feature
//! (default key, aliases, keyAlias, enums, booleans, numbers, nested named formats and
//! `-list` formats); whatever parses must print and parse back to the same data.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pve_common::conformance::check::perl_eq;
use pve_common::schema::property_string::{parse_property_string, print_property_string};
use pve_common::schema::{FormatSpec, Schema};
use pve_common::units::parse_size;

static FORMAT: LazyLock<BTreeMap<String, Schema>> = LazyLock::new(|| {
    let v = serde_json::json!({
        "model": {"type": "string", "default_key": 1, "enum": ["e1000", "virtio", "rtl8139", "vmxnet3"]},
        "macaddr": {"type": "string", "format": "mac-addr", "optional": 1},
        "virtio": {"alias": "macaddr", "keyAlias": "model", "optional": 1},
        "e1000": {"alias": "macaddr", "keyAlias": "model", "optional": 1},
        "bridge": {"type": "string", "format": "pve-bridge-id", "optional": 1},
        "firewall": {"type": "boolean", "optional": 1},
        "rate": {"type": "number", "minimum": 0, "optional": 1},
        "tag": {"type": "integer", "minimum": 1, "maximum": 4094, "optional": 1},
        "trunks": {"type": "string", "pattern": "\\d+(?:-\\d+)?(?:;\\d+(?:-\\d+)?)*", "optional": 1},
        "size": {"type": "string", "format": "disk-size", "optional": 1},
        "hosts": {"type": "string", "format": "dns-name-list", "optional": 1},
        "mode": {"type": "string", "format": "bwlimit", "optional": 1},
    });
    serde_json::from_value(v).expect("valid fuzz format")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(parsed) = parse_property_string(&FORMAT, text) {
        // Printing gives the canonical form (`size=02` prints as `size=2`): it must parse
        // back to the same values and print identically again.
        let printed = print_property_string(&parsed, &FORMAT).expect("parsed data prints");
        let again = parse_property_string(&FORMAT, &printed).expect("printed string parses");
        let reprinted = print_property_string(&again, &FORMAT).expect("reparsed data prints");
        assert_eq!(printed, reprinted, "printing {text:?} is not stable");
        let (a, b) = (serde_json::Value::Object(parsed), serde_json::Value::Object(again));
        for (k, v) in a.as_object().into_iter().flatten() {
            let w = &b[k];
            // Numbers compare by value (`rate=1.` prints as `rate=1`), disk sizes by bytes.
            let disk_size = FORMAT.get(k).is_some_and(|s| {
                matches!(&s.format, Some(FormatSpec::Named(n)) if n == "disk-size")
            });
            let same = perl_eq(v, w)
                || disk_size && v.as_str().and_then(parse_size) == w.as_str().and_then(parse_size);
            assert!(same, "round trip of {text:?} via {printed:?} changed {k}: {v} vs {w}");
        }
    }
});
