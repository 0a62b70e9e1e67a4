//! Random values guests are given: MAC addresses and UUIDs' bytes.

/// `n` random bytes from OpenSSL's generator (a time-derived fill if that ever fails:
/// these are MAC addresses and ids, not secrets).
pub fn bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    if openssl::rand::rand_bytes(&mut buf).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> (i * 8 % 120)) as u8;
        }
    }
    buf
}

/// The `mac_prefix` of datacenter.cfg's text, or upstream's default `BC:24:11`.
pub fn mac_prefix(datacenter_cfg: &str) -> String {
    datacenter_cfg
        .lines()
        .find_map(|l| l.strip_prefix("mac_prefix:").map(|v| v.trim().to_string()))
        .unwrap_or_else(|| "BC:24:11".into())
}

/// A random MAC address starting with `prefix` (datacenter.cfg `mac_prefix`), as
/// upstream's `random_ether_addr`; without a prefix a locally administered unicast one.
pub fn ether_addr(prefix: &str) -> String {
    let bytes = bytes(6);
    let mut parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let pre: Vec<&str> = prefix.split(':').filter(|s| !s.is_empty()).collect();
    if pre.is_empty() {
        parts[0] = format!("{:02X}", (bytes[0] & 0xfe) | 0x02);
    }
    for (i, p) in pre.iter().take(6).enumerate() {
        parts[i] = p.to_uppercase();
    }
    parts.join(":")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ether_addr_keeps_the_prefix() {
        let m = super::ether_addr("bc:24:11");
        assert!(m.starts_with("BC:24:11:") && m.len() == 17, "{m}");
        let first = u8::from_str_radix(&super::ether_addr("")[..2], 16).unwrap();
        assert_eq!(first & 0x03, 0x02, "locally administered unicast");
        assert_eq!(
            super::mac_prefix("keyboard: de\nmac_prefix: 02:00\n"),
            "02:00"
        );
        assert_eq!(super::mac_prefix(""), "BC:24:11");
    }
}
