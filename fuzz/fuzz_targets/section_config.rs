//! Parses arbitrary text as a SectionConfig file (a storage.cfg-like plugin set, unknown
//! sections allowed). A file that parses without diagnostics must write out and parse
//! back to the same sections.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use pve_common::section_config::SectionConfig;

static CONFIG: LazyLock<SectionConfig> = LazyLock::new(|| {
    let def = serde_json::json!({
        "base": {"propertyList": {
            "type": {"description": "Section type."},
            "id": {"type": "string", "format": "pve-configid", "maxLength": 64},
            "content": {"type": "string", "format": "pve-configid-list", "optional": 1},
            "disable": {"type": "boolean", "optional": 1},
            "comment": {"type": "string", "maxLength": 512, "optional": 1},
        }},
        "plugins": {
            "dir": {
                "properties": {
                    "path": {"type": "string", "pattern": "/.*"},
                    "shared": {"type": "boolean", "optional": 1},
                    "prune-backups": {"type": "string", "format": {
                        "keep-last": {"type": "integer", "minimum": 1, "optional": 1},
                        "keep-all": {"type": "boolean", "optional": 1},
                    }, "optional": 1},
                },
                "options": {"path": {}, "content": {"optional": 1}, "shared": {"optional": 1},
                    "disable": {"optional": 1}, "comment": {"optional": 1}, "prune-backups": {"optional": 1}},
            },
            "nfs": {
                "properties": {
                    "server": {"type": "string", "format": "address"},
                    "export": {"type": "string"},
                    "options": {"type": "array", "items": {"type": "string"}, "optional": 1},
                    "port": {"type": "integer", "minimum": 1, "maximum": 65535, "optional": 1},
                },
                "options": {"server": {}, "export": {}, "options": {"optional": 1},
                    "port": {"optional": 1}, "content": {"optional": 1}, "comment": {"optional": 1}},
            },
        },
    });
    SectionConfig::from_json(&def, false).expect("valid fuzz plugin set")
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = CONFIG.parse("fuzz.cfg", text, true);
    let written = match CONFIG.write_allow_unknown("fuzz.cfg", &parsed) {
        Ok(w) => w,
        Err(_) => return,
    };
    if parsed.errors().is_empty() {
        let again = CONFIG.parse("fuzz.cfg", &written, true);
        assert_eq!(parsed.to_value()["ids"], again.to_value()["ids"], "round trip via {written:?}");
    }
});
