//! Drive keys (`ide0`, `scsi3`, `efidisk0`, …) and drive property strings.

use pve_common::schema::property_string::parse_named_property_string;
use serde_json::{Map, Value};

/// The bus a drive key belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveBus {
    Ide,
    Sata,
    Scsi,
    Virtio,
    EfiDisk,
    TpmState,
}

impl DriveBus {
    pub fn as_str(self) -> &'static str {
        match self {
            DriveBus::Ide => "ide",
            DriveBus::Sata => "sata",
            DriveBus::Scsi => "scsi",
            DriveBus::Virtio => "virtio",
            DriveBus::EfiDisk => "efidisk",
            DriveBus::TpmState => "tpmstate",
        }
    }

    /// How many drives the bus takes (`ide0`–`ide3`, …).
    pub fn max_drives(self) -> u32 {
        match self {
            DriveBus::Ide => 4,
            DriveBus::Sata => 6,
            DriveBus::Scsi => 31,
            DriveBus::Virtio => 16,
            DriveBus::EfiDisk | DriveBus::TpmState => 1,
        }
    }

    fn format_name(self) -> &'static str {
        match self {
            DriveBus::Ide => "pve-qm-ide",
            DriveBus::Sata => "pve-qm-sata",
            DriveBus::Scsi => "pve-qm-scsi",
            DriveBus::Virtio => "pve-qm-virtio",
            DriveBus::EfiDisk => "pve-qm-efidisk",
            DriveBus::TpmState => "pve-qm-tpmstate",
        }
    }
}

/// Splits a drive key into its bus and index; `None` for anything else.
pub fn parse_drive_name(key: &str) -> Option<(DriveBus, u32)> {
    let digits = key.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let prefix = &key[..key.len() - digits.len()];
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let index: u32 = digits.parse().ok()?;
    let bus = match prefix {
        "ide" => DriveBus::Ide,
        "sata" => DriveBus::Sata,
        "scsi" => DriveBus::Scsi,
        "virtio" => DriveBus::Virtio,
        "efidisk" => DriveBus::EfiDisk,
        "tpmstate" => DriveBus::TpmState,
        _ => return None,
    };
    (index < bus.max_drives()).then_some((bus, index))
}

/// A parsed drive value: its key and its properties (`file`, `media`, `cache`, …).
#[derive(Clone, Debug)]
pub struct Drive {
    pub key: String,
    pub bus: DriveBus,
    pub index: u32,
    pub props: Map<String, Value>,
}

impl Drive {
    pub fn parse(key: &str, value: &str) -> Result<Drive, String> {
        crate::schema::formats::register_formats();
        let (bus, index) =
            parse_drive_name(key).ok_or_else(|| format!("invalid drive key {key}"))?;
        let props = parse_named_property_string(bus.format_name(), value)?;
        Ok(Drive {
            key: key.to_string(),
            bus,
            index,
            props,
        })
    }

    /// A property as text (`None` when not set).
    pub fn get(&self, key: &str) -> Option<String> {
        self.props.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => u8::from(*b).to_string(),
            other => other.to_string(),
        })
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        self.props.get(key).map(pve_common::schema::perl_truthy)
    }

    pub fn file(&self) -> String {
        self.get("file").unwrap_or_default()
    }

    pub fn is_cdrom(&self) -> bool {
        self.get("media").as_deref() == Some("cdrom")
    }
}
