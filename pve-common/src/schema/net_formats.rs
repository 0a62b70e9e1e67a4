//! Network formats: IP addresses, netmasks, CIDR networks, MAC addresses.

use std::sync::LazyLock;

use regex::Regex;

use super::formats::fail;

const IPV4_OCTET: &str = "(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])";

/// The IPv4 address pattern (unanchored), as upstream's `$IPV4RE`.
pub fn ipv4_re_text() -> String {
    format!("(?:(?:{IPV4_OCTET}\\.){{3}}{IPV4_OCTET})")
}

/// The IPv6 address pattern (unanchored), as upstream's `$IPV6RE`.
pub fn ipv6_re_text() -> String {
    let h16 = "(?:[0-9a-fA-F]{1,4})";
    let ls32 = format!("(?:(?:{}|{h16}:{h16}))", ipv4_re_text());
    let alternatives = [
        format!("(?:(?:(?:{h16}:){{6}}){ls32})"),
        format!("(?:(?:::(?:{h16}:){{5}}){ls32})"),
        format!("(?:(?:(?:{h16})?::(?:{h16}:){{4}}){ls32})"),
        format!("(?:(?:(?:(?:{h16}:){{0,1}}{h16})?::(?:{h16}:){{3}}){ls32})"),
        format!("(?:(?:(?:(?:{h16}:){{0,2}}{h16})?::(?:{h16}:){{2}}){ls32})"),
        format!("(?:(?:(?:(?:{h16}:){{0,3}}{h16})?::(?:{h16}:){{1}}){ls32})"),
        format!("(?:(?:(?:(?:{h16}:){{0,4}}{h16})?::){ls32})"),
        format!("(?:(?:(?:(?:{h16}:){{0,5}}{h16})?::){h16})"),
        format!("(?:(?:(?:(?:{h16}:){{0,6}}{h16})?::))"),
    ];
    format!("(?:{})", alternatives.join("|"))
}

fn ipv4_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("^{}$", ipv4_re_text())).expect("ipv4 regex"));
    &RE
}

fn ipv6_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("^{}$", ipv6_re_text())).expect("ipv6 regex"));
    &RE
}

/// `mac-addr`: a unicast MAC address (I/G bit clear).
pub fn verify_mac_addr(mac: &str) -> Result<(), String> {
    fail(mac_re().is_match(mac), || {
        "value does not look like a valid unicast MAC address".to_string()
    })
}

/// `ipv4`.
pub fn verify_ipv4(ip: &str) -> Result<(), String> {
    fail(ipv4_re().is_match(ip), || {
        "value does not look like a valid IPv4 address".to_string()
    })
}

/// `ipv6`.
pub fn verify_ipv6(ip: &str) -> Result<(), String> {
    fail(ipv6_re().is_match(ip), || {
        "value does not look like a valid IPv6 address".to_string()
    })
}

/// `ip`: IPv4 or IPv6.
pub fn verify_ip(ip: &str) -> Result<(), String> {
    fail(ipv4_re().is_match(ip) || ipv6_re().is_match(ip), || {
        "value does not look like a valid IP address".to_string()
    })
}

/// The prefix length of a dotted IPv4 netmask (`255.255.255.0` → 24).
pub fn netmask_bits(mask: &str) -> Option<u8> {
    let octets: Vec<u8> = mask
        .split('.')
        .map(|o| o.parse::<u8>().ok().filter(|_| !o.starts_with('+')))
        .collect::<Option<_>>()?;
    if octets.len() != 4 || mask.split('.').any(|o| o.len() > 1 && o.starts_with('0')) {
        return None;
    }
    let bits = u32::from_be_bytes([octets[0], octets[1], octets[2], octets[3]]);
    let ones = bits.leading_ones();
    (bits.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

pub(super) fn verify_ipv4mask(mask: &str) -> Result<(), String> {
    fail(netmask_bits(mask).is_some(), || {
        "value does not look like a valid IP netmask".to_string()
    })
}

fn cidr_ok(cidr: &str, ip_re: &Regex, max: u32) -> bool {
    let Some((ip, bits)) = cidr.rsplit_once('/') else {
        return false;
    };
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || !ip_re.is_match(ip) {
        return false;
    }
    bits.parse::<u32>().is_ok_and(|b| b > 7 && b <= max)
}

/// `CIDRv4`: an IPv4 network with a prefix length from 8 to 32.
pub fn verify_cidrv4(cidr: &str) -> Result<(), String> {
    fail(cidr_ok(cidr, ipv4_re(), 32), || {
        "value does not look like a valid IPv4 CIDR network".to_string()
    })
}

/// `CIDRv6`: an IPv6 network with a prefix length from 8 to 128.
pub fn verify_cidrv6(cidr: &str) -> Result<(), String> {
    fail(cidr_ok(cidr, ipv6_re(), 128), || {
        "value does not look like a valid IPv6 CIDR network".to_string()
    })
}

/// `CIDR`: either kind.
pub fn verify_cidr(cidr: &str) -> Result<(), String> {
    fail(
        cidr_ok(cidr, ipv4_re(), 32) || cidr_ok(cidr, ipv6_re(), 128),
        || "value does not look like a valid CIDR network".to_string(),
    )
}

pub(super) fn verify_ipv4_config(config: &str) -> Result<(), String> {
    fail(
        matches!(config, "dhcp" | "manual") || cidr_ok(config, ipv4_re(), 32),
        || "value does not look like a valid ipv4 network configuration".to_string(),
    )
}

pub(super) fn verify_ipv6_config(config: &str) -> Result<(), String> {
    fail(
        matches!(config, "auto" | "dhcp" | "manual") || cidr_ok(config, ipv6_re(), 128),
        || "value does not look like a valid ipv6 network configuration".to_string(),
    )
}

fn mac_re() -> &'static Regex {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^(?i:[a-f0-9][02468ace](?::[a-f0-9]{2}){5})$").expect("mac regex")
    });
    &RE
}
