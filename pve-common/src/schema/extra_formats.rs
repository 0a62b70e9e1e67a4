//! Formats upstream registers outside pve-common (pve-storage, pve-access-control,
//! pve-firewall, qemu-server, pve-container) that the brief asks this crate to know.

use super::formats::{FormatChecker, RegisteredFormat};

pub(super) fn checkers() -> Vec<(String, RegisteredFormat)> {
    let list: &[(&str, FormatChecker)] = &[];
    list.iter()
        .map(|(n, c)| (n.to_string(), RegisteredFormat::Checker(*c)))
        .collect()
}
