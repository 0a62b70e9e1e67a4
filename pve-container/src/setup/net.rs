//! Network helpers for distribution setup: `parse_lxc_network`, `parse_ipv4_cidr`,
//! `is_ip_in_cidr` and `get_primary_ips` as upstream.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use crate::config::CtSection;

/// The fields of a `netN` value that setup uses.
#[derive(Clone, Debug, Default)]
pub struct NetConf {
    pub name: Option<String>,
    pub ip: Option<String>,
    pub gw: Option<String>,
    pub ip6: Option<String>,
    pub gw6: Option<String>,
    /// Every parsed property (for printing it back).
    pub props: serde_json::Map<String, Value>,
}

/// Upstream's `parse_lxc_network` (without the random MAC address, which setup does
/// not use).
pub fn parse_lxc_network(text: &str) -> Result<NetConf, String> {
    let format = crate::schema::option_format("net").unwrap_or_default();
    let props = pve_common::schema::property_string::parse_property_string(&format, text)?;
    let get = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(NetConf {
        name: get("name"),
        ip: get("ip"),
        gw: get("gw"),
        ip6: get("ip6"),
        gw6: get("gw6"),
        props,
    })
}

/// `netN` keys of a section in index order, parsed.
pub fn networks(conf: &CtSection) -> Result<Vec<(u32, NetConf)>, String> {
    let mut out = Vec::new();
    for (key, value) in &conf.values {
        let Some(idx) = key
            .strip_prefix("net")
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|i| i.parse::<u32>().ok())
        else {
            continue;
        };
        out.push((idx, parse_lxc_network(value)?));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// Upstream's `parse_ipv4_cidr`: address and dotted netmask for a prefix of 8…32.
pub fn parse_ipv4_cidr(cidr: &str) -> Result<(String, String), String> {
    let err = || "unable to parse ipv4 address/mask\n".to_string();
    let (addr, prefix) = cidr.split_once('/').ok_or_else(err)?;
    addr.parse::<Ipv4Addr>().map_err(|_| err())?;
    let prefix: u32 = prefix
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| prefix.parse().ok())
        .flatten()
        .ok_or_else(err)?;
    if !(8..=32).contains(&prefix) {
        return Err(err());
    }
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Ok((addr.to_string(), Ipv4Addr::from(mask).to_string()))
}

/// Upstream's `is_ip_in_cidr(ip, cidr, version)`.
pub fn is_ip_in_cidr(ip: &str, cidr: &str) -> bool {
    let Some((net, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u32>() else {
        return false;
    };
    match (ip.parse::<IpAddr>(), net.parse::<IpAddr>()) {
        (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(n))) if prefix <= 32 => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(n))) if prefix <= 128 => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// `^($IPV6RE)/(\d+)$`
pub fn split_ipv6_cidr(cidr: &str) -> Option<(String, String)> {
    let (addr, prefix) = cidr.split_once('/')?;
    addr.parse::<Ipv6Addr>().ok()?;
    (!prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (addr.to_string(), prefix.to_string()))
}

/// Upstream's `get_primary_ips`: the static addresses of `net0` (without prefix).
pub fn primary_ips(conf: &CtSection) -> (Option<String>, Option<String>) {
    let Some(net) = conf.get("net0").and_then(|n| parse_lxc_network(n).ok()) else {
        return (None, None);
    };
    let strip = |ip: Option<String>, skip: &[&str]| {
        ip.filter(|v| !v.is_empty() && !skip.contains(&v.as_str()))
            .map(|v| match v.rfind('/') {
                Some(i) if v[i + 1..].bytes().all(|b| b.is_ascii_digit()) && i + 1 < v.len() => {
                    v[..i].to_string()
                }
                _ => v,
            })
    };
    (
        strip(net.ip, &["dhcp", "manual"]),
        strip(net.ip6, &["auto", "dhcp", "manual"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_helpers() {
        assert_eq!(
            parse_ipv4_cidr("10.0.0.5/24").unwrap(),
            ("10.0.0.5".into(), "255.255.255.0".into())
        );
        assert!(parse_ipv4_cidr("10.0.0.5/7").is_err());
        assert!(is_ip_in_cidr("10.0.0.1", "10.0.0.5/24"));
        assert!(!is_ip_in_cidr("10.0.1.1", "10.0.0.5/24"));
        assert!(is_ip_in_cidr("fe80::1", "fe80::/10"));
        assert!(!is_ip_in_cidr("2001:db8::1", "fe80::/10"));
    }
}
