//! The format registry: named string formats (`format => 'pve-vmid'`) and named
//! property-string formats (`format => 'bwlimit'`).
//!
//! Every format pve-common registers upstream is built in, with upstream's error texts.
//! Other crates add theirs with [`register_format`] (property-string formats) and
//! [`register_format_checker`] (plain string checks). A name ending in `-list` checks each
//! element of the list as split by [`split_list`]; a name ending in `-opt` checks only a
//! non-empty value. Both suffixes need a checker, not a property-string format.
//!
//! `pve-calendar-event` is a hook: until the calendar module calls
//! `register_format_checker("pve-calendar-event", …)` any non-empty string passes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, OnceLock, RwLock};

use regex::Regex;

pub use super::net_formats::{
    ipv4_re_text, ipv6_re_text, netmask_bits, verify_cidr, verify_cidrv4, verify_cidrv6, verify_ip,
    verify_ipv4, verify_ipv6, verify_mac_addr,
};
use super::net_formats::{verify_ipv4_config, verify_ipv4mask, verify_ipv6_config};
use super::{FormatSpec, Schema};

/// A plain string check: `Err` holds upstream's message (without trailing newline).
pub type FormatChecker = fn(&str) -> Result<(), String>;

/// What a format name stands for.
#[derive(Clone)]
pub enum RegisteredFormat {
    /// A check on the whole string.
    Checker(FormatChecker),
    /// A property-string format: the string is `key=value,…` checked against these keys.
    Properties(Arc<BTreeMap<String, Schema>>),
}

fn registry() -> &'static RwLock<HashMap<String, RegisteredFormat>> {
    static REGISTRY: OnceLock<RwLock<HashMap<String, RegisteredFormat>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(builtin_formats()))
}

/// Registers (or replaces) a named property-string format, like upstream's
/// `register_format($name, { … })`.
pub fn register_format(name: &'static str, props: BTreeMap<String, Schema>) {
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    reg.insert(
        name.to_string(),
        RegisteredFormat::Properties(Arc::new(props)),
    );
}

/// Registers (or replaces) a named string check, like upstream's
/// `register_format($name, \&verify_sub)`.
pub fn register_format_checker(name: &'static str, checker: FormatChecker) {
    let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
    reg.insert(name.to_string(), RegisteredFormat::Checker(checker));
}

/// Looks a registered format up by its exact name (without `-list`/`-opt`).
pub fn get_format(name: &str) -> Option<RegisteredFormat> {
    let reg = registry().read().unwrap_or_else(|e| e.into_inner());
    reg.get(name).cloned()
}

/// The keys of a named property-string format, if `name` is one.
pub fn get_property_format(name: &str) -> Option<Arc<BTreeMap<String, Schema>>> {
    match get_format(name)? {
        RegisteredFormat::Properties(p) => Some(p),
        RegisteredFormat::Checker(_) => None,
    }
}

/// Splits a list value as upstream's `split_list` does: on NUL if the text has one,
/// else on commas, semicolons and whitespace (empty elements dropped).
pub fn split_list(text: &str) -> Vec<&str> {
    if text.contains('\0') {
        let mut parts: Vec<&str> = text.split('\0').collect();
        // Perl's split drops trailing empty fields.
        while parts.last().is_some_and(|p| p.is_empty()) {
            parts.pop();
        }
        return parts;
    }
    text.split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Checks `value` against a format: a registered name (with optional `-list`/`-opt`
/// suffix) or an inline property-string format.
pub fn check_format(format: &FormatSpec, value: &str) -> Result<(), String> {
    check_format_at(format, value, "")
}

/// [`check_format`] with the parameter path used for nested property-string errors.
pub(crate) fn check_format_at(format: &FormatSpec, value: &str, path: &str) -> Result<(), String> {
    match format {
        FormatSpec::Inline(props) => {
            super::property_string::parse_property_string_at(props, value, path).map(|_| ())
        }
        FormatSpec::Named(name) => check_named_format(name, value, path),
    }
}

fn check_named_format(format: &str, value: &str, path: &str) -> Result<(), String> {
    if format == "regex" {
        return Ok(());
    }
    let (name, kind) = if let Some(n) = format.strip_suffix("-list") {
        (n, "list")
    } else if let Some(n) = format.strip_suffix("-opt") {
        (n, "opt")
    } else {
        (format, "none")
    };
    let registered = get_format(name).ok_or_else(|| format!("undefined format '{format}'"))?;
    match (registered, kind) {
        (RegisteredFormat::Properties(_), "list" | "opt") => {
            Err(format!("'-{kind}' format must have code ref, not hash"))
        }
        (RegisteredFormat::Checker(check), "list") => {
            split_list(value).into_iter().try_for_each(check)
        }
        (RegisteredFormat::Checker(check), "opt") => {
            if value.is_empty() || value == "0" {
                Ok(())
            } else {
                check(value)
            }
        }
        (RegisteredFormat::Checker(check), _) => check(value),
        (RegisteredFormat::Properties(props), _) => {
            super::property_string::parse_property_string_at(&props, value, path).map(|_| ())
        }
    }
}

/// A regex compiled once on first use.
macro_rules! re {
    ($pat:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("static regex"));
        &*RE
    }};
}

const EMAIL_USER_RE: &str = r"[\w\+\-\~]+(?:\.[\w\+\-\~]+)*";

fn email_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r"^{EMAIL_USER_RE}@[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)*$"
        ))
        .expect("email regex")
    });
    &RE
}

fn email_user_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("^{EMAIL_USER_RE}$")).expect("email user regex"));
    &RE
}

pub(super) fn fail(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

/// `pve-configid`: `^[a-z][a-z0-9_-]+$`, case-insensitive.
pub fn verify_configid(id: &str) -> Result<(), String> {
    fail(re!(r"^(?i:[a-z][a-z0-9_-]+)$").is_match(id), || {
        format!("invalid configuration ID '{id}'")
    })
}

fn verify_urlencoded(text: &str) -> Result<(), String> {
    fail(re!(r"^[-%a-zA-Z0-9_.!~*'()]*$").is_match(text), || {
        format!("invalid urlencoded string: {text}")
    })
}

fn verify_id(id: &str, kind: &str) -> Result<(), String> {
    if id.chars().count() < 2 {
        return Err(format!(
            "{kind} ID '{id}' cannot be shorter than 2 characters"
        ));
    }
    fail(
        re!(r"^(?i:[a-z][a-z0-9\-_.]*[a-z0-9])$").is_match(id),
        || format!("{kind} ID '{id}' contains illegal characters"),
    )
}

/// `pve-storage-id`.
pub fn verify_storage_id(id: &str) -> Result<(), String> {
    verify_id(id, "storage")
}

fn verify_acme_plugin_id(id: &str) -> Result<(), String> {
    verify_id(id, "ACME plugin")
}

/// `pve-bridge-id`.
pub fn verify_bridge_id(id: &str) -> Result<(), String> {
    fail(re!(r"^[-_.\w\d]+$").is_match(id), || {
        format!("invalid bridge ID '{id}'")
    })
}

/// `pve-vmid`: 100 to 999999999 without leading zeros.
pub fn verify_vmid(vmid: &str) -> Result<(), String> {
    fail(re!(r"^[1-9][0-9]{2,8}$").is_match(vmid), || {
        "value does not look like a valid VM ID".to_string()
    })
}

/// `pve-node`.
pub fn verify_node_name(node: &str) -> Result<(), String> {
    fail(
        re!(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)$").is_match(node),
        || "value does not look like a valid node name".to_string(),
    )
}

/// An id mapping as `storage-pair-list` / `bridge-pair-list` hold it: `1` (identity),
/// `source:target` entries and at most one bare default target.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    pub identity: bool,
    pub entries: BTreeMap<String, String>,
    pub default: Option<String>,
}

/// Parses an id mapping; every id must pass `check`.
pub fn parse_idmap(text: &str, check: FormatChecker) -> Result<IdMap, String> {
    let mut map = IdMap::default();
    for entry in split_list(text) {
        if entry == "1" {
            map.identity = true;
        } else if let Some((source, target)) = entry
            .split_once(':')
            .filter(|(s, t)| !s.is_empty() && !t.is_empty() && !t.contains(':'))
        {
            check(source)
                .and_then(|_| check(target))
                .map_err(|e| format!("entry '{entry}' contains invalid ID - {e}"))?;
            if map.entries.contains_key(source) {
                return Err(format!("duplicate mapping for source '{source}'"));
            }
            map.entries.insert(source.to_string(), target.to_string());
        } else {
            check(entry).map_err(|e| format!("entry '{entry}' contains invalid ID - {e}"))?;
            if map.default.is_some() {
                return Err("default target ID can only be provided once".to_string());
            }
            map.default = Some(entry.to_string());
        }
    }
    if map.identity && (map.default.is_some() || !map.entries.is_empty()) {
        return Err("identity mapping cannot be combined with other mappings".to_string());
    }
    Ok(map)
}

fn verify_storage_pair(text: &str) -> Result<(), String> {
    parse_idmap(text, verify_storage_id).map(|_| ())
}

fn verify_bridge_pair(text: &str) -> Result<(), String> {
    parse_idmap(text, verify_bridge_id).map(|_| ())
}

fn verify_ldap_simple_attr(attr: &str) -> Result<(), String> {
    fail(re!(r"^[a-zA-Z0-9]+$").is_match(attr), || {
        format!("value '{attr}' does not look like a simple ldap attribute name")
    })
}

/// `email`.
pub fn verify_email(email: &str) -> Result<(), String> {
    fail(email_re().is_match(email), || {
        "value does not look like a valid email address".to_string()
    })
}

fn verify_email_or_username(text: &str) -> Result<(), String> {
    fail(
        email_re().is_match(text) || email_user_re().is_match(text),
        || "value does not look like a valid email address or user name".to_string(),
    )
}

fn dns_name_ok(name: &str) -> bool {
    re!(r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)\.)*(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)$")
        .is_match(name)
}

/// `dns-name`.
pub fn verify_dns_name(name: &str) -> Result<(), String> {
    fail(dns_name_ok(name), || {
        "value does not look like a valid DNS name".to_string()
    })
}

fn verify_timezone(tz: &str) -> Result<(), String> {
    if tz == "UTC" {
        return Ok(());
    }
    let table = std::fs::read_to_string("/usr/share/zoneinfo/zone.tab").unwrap_or_default();
    let known = table
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.split('\t').nth(2) == Some(tz));
    fail(known, || format!("invalid time zone '{tz}'"))
}

/// `pve-iface`: a network interface name, optionally with `:alias` or `.vlan`.
pub fn verify_iface(id: &str) -> Result<(), String> {
    fail(
        re!(r"^(?i:[a-z][a-z0-9_]{1,20}(?:[:.][0-9]+)?)$").is_match(id),
        || format!("invalid network interface name '{id}'"),
    )
}

fn verify_vlan_id_or_range(vlan: &str) -> Result<(), String> {
    let caps = re!(r"^([0-9]+)(?:-([0-9]+))?$")
        .captures(vlan)
        .ok_or_else(|| format!("invalid VLAN configuration '{vlan}'"))?;
    let tag = |t: &str| -> Result<u64, String> {
        let n = t.parse::<u64>().unwrap_or(u64::MAX);
        if !(2..=4094).contains(&n) {
            return Err(format!("invalid VLAN tag '{t}'"));
        }
        Ok(n)
    };
    let start = tag(&caps[1])?;
    if let Some(end) = caps.get(2).map(|m| m.as_str()) {
        // A zero end tag counts as absent (Perl truthiness of "0").
        if end.bytes().any(|b| b != b'0') {
            let end_n = tag(end)?;
            if start >= end_n {
                return Err(format!(
                    "VLAN range must go from lower to higher tag '{vlan}'"
                ));
            }
        }
    }
    Ok(())
}

/// `address`: an IP address or a DNS name.
pub fn verify_address(addr: &str) -> Result<(), String> {
    fail(verify_ip(addr).is_ok() || dns_name_ok(addr), || {
        format!("value does not look like a valid address: {addr}")
    })
}

/// Upstream's `parse_size`: `<n>[.<frac>][K|M|G|T][iB]` to bytes (truncated).
pub fn parse_size(value: &str) -> Option<u64> {
    let caps = re!(r"^([0-9]+(?:\.[0-9]+)?)([KMGT](?:iB)?)?$").captures(value)?;
    let num: f64 = caps[1].parse().ok()?;
    let factor = match caps.get(2).map(|m| &m.as_str()[..1]) {
        None => 1.0,
        Some("K") => 1024.0,
        Some("M") => 1024.0 * 1024.0,
        Some("G") => 1024.0 * 1024.0 * 1024.0,
        _ => 1024.0 * 1024.0 * 1024.0 * 1024.0,
    };
    Some((num * factor) as u64)
}

/// Upstream's `format_size`: bytes to the largest exact unit (`1024` → `1K`).
pub fn format_size(size: u64) -> String {
    let units = ["", "K", "M", "G", "T"];
    let mut v = size;
    let mut i = 0;
    while i + 1 < units.len() && v != 0 && v % 1024 == 0 {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", units[i])
}

fn verify_disk_size(size: &str) -> Result<(), String> {
    fail(parse_size(size).is_some(), || {
        format!("value does not look like a valid disk size: {size}")
    })
}

/// The parts of a `pve-startup-order` value.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StartupOrder {
    pub order: Option<u64>,
    pub up: Option<u64>,
    pub down: Option<u64>,
}

/// Parses `[[order=]N][,up=N][,down=N]`; `None` when anything else is in it.
pub fn parse_startup_order(value: &str) -> Option<StartupOrder> {
    if value.is_empty() || value == "0" {
        return None;
    }
    let mut res = StartupOrder::default();
    for part in value.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let num = |t: &str| -> Option<u64> {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse().unwrap_or(u64::MAX))
        };
        if let Some(n) = num(part.strip_prefix("order=").unwrap_or(part)) {
            res.order = Some(n);
        } else if let Some(n) = part.strip_prefix("up=").and_then(num) {
            res.up = Some(n);
        } else if let Some(n) = part.strip_prefix("down=").and_then(num) {
            res.down = Some(n);
        } else {
            return None;
        }
    }
    Some(res)
}

fn verify_startup_order(value: &str) -> Result<(), String> {
    fail(parse_startup_order(value).is_some(), || {
        "unable to parse startup options".to_string()
    })
}

fn verify_tag(tag: &str) -> Result<(), String> {
    fail(re!(r"^(?i:[a-z0-9_][a-z0-9_\-+.]*)$").is_match(tag), || {
        "invalid characters in tag".to_string()
    })
}

fn verify_tfa_secret(key: &str) -> Result<(), String> {
    fail(
        re!(r"^v2-0x[0-9a-fA-F]{16,128}$").is_match(key)
            || re!(r"^v2-[A-Z2-7=]{16,128}$").is_match(key)
            || re!(r"^(?:[A-Z2-7=]{16}|[A-Fa-f0-9]{40})$").is_match(key),
        || "unable to decode TFA secret".to_string(),
    )
}

fn verify_task_status_type(value: &str) -> Result<(), String> {
    fail(
        re!(r"^(?i:ok|error|warning|unknown)$").is_match(value),
        || format!("invalid status '{value}'"),
    )
}

fn verify_calendar_event_placeholder(value: &str) -> Result<(), String> {
    fail(!value.trim().is_empty(), || {
        format!("invalid calendar event '{value}' - event is empty")
    })
}

fn pem_ok(content: &str, label: Option<&str>, multiple: bool) -> bool {
    let start = re!(r"-----BEGIN [^\n]*?-----")
        .find(content)
        .map_or(0, |m| m.start());
    let content = &content[start..];
    let label = label.map_or_else(|| ".*?".to_string(), regex::escape);
    let one = format!(
        r"-----BEGIN {label}-----\s*(?:[0-9A-Za-z+/]+[ \t\r\f\v]*\n)*[0-9A-Za-z+/]*(?:=[ \t\r\f\v]*\n=|={{0,2}})?\s*\n-----END {label}-----\s*"
    );
    let pattern = if multiple {
        format!("^(?:(?:{one}\n+)*{one})$")
    } else {
        format!("^(?:{one})$")
    };
    Regex::new(&pattern).is_ok_and(|re| re.is_match(content))
}

fn verify_pem_certificate(content: &str) -> Result<(), String> {
    fail(pem_ok(content, Some("CERTIFICATE"), false), || {
        "not a valid PEM-formatted string.".to_string()
    })
}

fn verify_pem_certificate_chain(content: &str) -> Result<(), String> {
    fail(pem_ok(content, Some("CERTIFICATE"), true), || {
        "not a valid PEM-formatted string.".to_string()
    })
}

fn verify_pem_string(content: &str) -> Result<(), String> {
    fail(pem_ok(content, None, false), || {
        "not a valid PEM-formatted string.".to_string()
    })
}

fn any_string(_: &str) -> Result<(), String> {
    Ok(())
}

fn schema_from(v: serde_json::Value) -> BTreeMap<String, Schema> {
    serde_json::from_value(v).unwrap_or_default()
}

fn builtin_formats() -> HashMap<String, RegisteredFormat> {
    use serde_json::json;

    let checkers: &[(&str, FormatChecker)] = &[
        ("string", any_string),
        ("urlencoded", verify_urlencoded),
        ("pve-configid", verify_configid),
        ("pve-storage-id", verify_storage_id),
        ("pve-bridge-id", verify_bridge_id),
        ("acme-plugin-id", verify_acme_plugin_id),
        ("pve-vmid", verify_vmid),
        ("pve-node", verify_node_name),
        ("storage-pair", verify_storage_pair),
        ("bridge-pair", verify_bridge_pair),
        ("mac-addr", verify_mac_addr),
        ("ipv4", verify_ipv4),
        ("ipv6", verify_ipv6),
        ("ip", verify_ip),
        ("ldap-simple-attr", verify_ldap_simple_attr),
        ("ipv4mask", verify_ipv4mask),
        ("CIDRv6", verify_cidrv6),
        ("CIDRv4", verify_cidrv4),
        ("CIDR", verify_cidr),
        ("pve-ipv4-config", verify_ipv4_config),
        ("pve-ipv6-config", verify_ipv6_config),
        ("email", verify_email),
        ("email-or-username", verify_email_or_username),
        ("dns-name", verify_dns_name),
        ("timezone", verify_timezone),
        ("pve-iface", verify_iface),
        ("pve-vlan-id-or-range", verify_vlan_id_or_range),
        ("address", verify_address),
        ("disk-size", verify_disk_size),
        ("pve-startup-order", verify_startup_order),
        ("pve-tag", verify_tag),
        ("pve-tfa-secret", verify_tfa_secret),
        ("pve-task-status-type", verify_task_status_type),
        ("pve-calendar-event", verify_calendar_event_placeholder),
        ("pem-certificate", verify_pem_certificate),
        ("pem-certificate-chain", verify_pem_certificate_chain),
        ("pem-string", verify_pem_string),
    ];
    let mut map: HashMap<String, RegisteredFormat> = checkers
        .iter()
        .map(|(n, c)| (n.to_string(), RegisteredFormat::Checker(*c)))
        .collect();
    map.extend(super::extra_formats::checkers());

    let node_location = schema_from(json!({
        "name": {"type": "string", "description": "The name of the location of this node",
                 "typetext": "<name>", "optional": 1, "maxLength": 128},
        "latitude": {"type": "number", "description": "The latitude of the nodes location in degrees.",
                     "minimum": -90, "maximum": 90},
        "longitude": {"type": "number", "description": "The longitude of the nodes location in degrees.",
                      "minimum": -180, "maximum": 180},
    }));
    let bw = |d: &str| {
        json!({"optional": 1, "type": "number", "minimum": 0, "format_description": "LIMIT",
               "description": d})
    };
    let bwlimit = schema_from(json!({
        "default": bw("default bandwidth limit in KiB/s"),
        "restore": bw("bandwidth limit in KiB/s for restoring guests from backups"),
        "migration": bw("bandwidth limit in KiB/s for migrating guests (including moving local disks)"),
        "clone": bw("bandwidth limit in KiB/s for cloning disks"),
        "move": bw("bandwidth limit in KiB/s for moving disks"),
    }));
    let remote = schema_from(json!({
        "host": {"type": "string", "description": "Remote Proxmox hostname or IP",
                 "format_description": "ADDRESS"},
        "port": {"type": "integer", "optional": 1, "description": "Port to connect to",
                 "format_description": "PORT"},
        "apitoken": {"type": "string",
                     "description": "A full Proxmox API token including the secret value.",
                     "format_description": "PVEAPIToken=user@realm!token=SECRET"},
        "fingerprint": {"type": "string", "pattern": "([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}",
                        "optional": 1,
                        "description": "Remote host's certificate fingerprint, if not trusted by system store.",
                        "format_description": "FINGERPRINT"},
    }));
    for (name, props) in [
        ("pve-node-location", node_location),
        ("bwlimit", bwlimit),
        ("proxmox-remote", remote),
    ] {
        map.insert(
            name.to_string(),
            RegisteredFormat::Properties(Arc::new(props)),
        );
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(name: &str, v: &str) -> bool {
        check_format(&FormatSpec::Named(name.to_string()), v).is_ok()
    }

    #[test]
    fn split_list_like_upstream() {
        assert_eq!(split_list("a, b;c  d"), vec!["a", "b", "c", "d"]);
        assert_eq!(split_list("a b\0c"), vec!["a b", "c"]);
        assert!(split_list("").is_empty());
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn simple_formats() {
        assert!(ok("pve-vmid", "100") && !ok("pve-vmid", "99") && !ok("pve-vmid", "0100"));
        assert!(ok("pve-configid", "aa") && !ok("pve-configid", "a") && !ok("pve-configid", "1a"));
        assert!(ok("pve-storage-id", "local-lvm") && !ok("pve-storage-id", "local-"));
        assert!(ok("pve-node", "node1") && !ok("pve-node", "node_1"));
        assert!(ok("mac-addr", "02:00:00:00:00:01") && !ok("mac-addr", "01:00:00:00:00:01"));
        assert!(ok("ipv4", "192.168.0.1") && !ok("ipv4", "256.1.1.1"));
        assert!(ok("ipv6", "fe80::1") && ok("ipv6", "::ffff:1.2.3.4") && !ok("ipv6", "fe80:::1"));
        assert!(ok("ip", "::") && ok("ip", "10.0.0.1") && !ok("ip", "foo"));
        assert!(ok("CIDR", "10.0.0.0/8") && !ok("CIDR", "10.0.0.0/7"));
        assert!(ok("CIDRv6", "fd00::/64") && !ok("CIDRv6", "fd00::/129"));
        assert!(ok("ipv4mask", "255.255.255.0") && !ok("ipv4mask", "255.0.255.0"));
        assert!(ok("dns-name", "a.b-c.d") && !ok("dns-name", "-a.b"));
        assert!(ok("address", "pve.example.com") && !ok("address", "a_b"));
        assert!(ok("email", "root@example.com") && !ok("email", "root"));
        assert!(ok("email-or-username", "root"));
        assert!(ok("disk-size", "32G") && ok("disk-size", "1.5TiB") && !ok("disk-size", "1X"));
        assert!(ok("pve-startup-order", "order=1,up=5") && !ok("pve-startup-order", "x=1"));
        assert!(ok("pve-vlan-id-or-range", "2-100") && !ok("pve-vlan-id-or-range", "100-2"));
        assert!(ok("pve-iface", "vmbr0.100") && !ok("pve-iface", "0eth"));
        assert!(ok("pve-tfa-secret", "JBSWY3DPEHPK3PXP") && !ok("pve-tfa-secret", "x"));
        assert!(ok("pve-task-status-type", "OK") && !ok("pve-task-status-type", "fine"));
        assert!(ok("storage-pair", "a1:b2") && !ok("storage-pair", "a1:b"));
        assert!(ok("pve-calendar-event", "daily") && !ok("pve-calendar-event", ""));
    }

    #[test]
    fn list_and_opt_suffixes() {
        assert!(ok("pve-vmid-list", "100,101;102 103"));
        assert!(ok("pve-vmid-list", ""));
        assert!(!ok("pve-vmid-list", "100,1"));
        assert!(ok("string-list", "anything, at all"));
        assert!(ok("pve-vmid-opt", ""));
        assert!(!ok("pve-vmid-opt", "1"));
        assert_eq!(
            check_format(&FormatSpec::Named("no-such".into()), "x").unwrap_err(),
            "undefined format 'no-such'"
        );
        assert_eq!(
            check_format(&FormatSpec::Named("bwlimit-list".into()), "x").unwrap_err(),
            "'-list' format must have code ref, not hash"
        );
    }

    #[test]
    fn error_texts() {
        let err = |n: &str, v: &str| check_format(&FormatSpec::Named(n.into()), v).unwrap_err();
        assert_eq!(
            err("pve-vmid", "1"),
            "value does not look like a valid VM ID"
        );
        assert_eq!(err("pve-configid", "1"), "invalid configuration ID '1'");
        assert_eq!(
            err("pve-storage-id", "a"),
            "storage ID 'a' cannot be shorter than 2 characters"
        );
        assert_eq!(
            err("pve-storage-id", "a+b"),
            "storage ID 'a+b' contains illegal characters"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1K"), Some(1024));
        assert_eq!(parse_size("1.5KiB"), Some(1536));
        assert_eq!(format_size(1024 * 1024 * 3), "3M");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn registry_extension() {
        register_format_checker("test-always-bad", |_| Err("bad".into()));
        assert!(!ok("test-always-bad", "x"));
        assert!(!ok("test-always-bad-list", "x,y"));
        assert!(ok("test-always-bad-list", ""));
    }
}
