//! User and group id maps of a container (`lxc.idmap` entries), as upstream's
//! `parse_id_maps`, `validate_id_maps` and `map_ct_id_to_host`.

use crate::config::CtSection;

/// One `lxc.idmap` entry: `u|g <container-id> <host-id> <count>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMapEntry {
    /// `u` or `g`.
    pub kind: char,
    pub ct: u64,
    pub host: u64,
    pub count: u64,
    /// The four fields as written (joined by single spaces), for messages.
    pub text: String,
}

impl std::fmt::Display for IdMapEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The id map of a config plus the host ids of container root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdMap {
    pub entries: Vec<IdMapEntry>,
    pub root_uid: u64,
    pub root_gid: u64,
}

/// The default map of an unprivileged container without `lxc.idmap` entries.
pub const DEFAULT_UNPRIVILEGED_BASE: u64 = 100000;

fn parse_entry(value: &str) -> Option<IdMapEntry> {
    let mut parts = value.split_whitespace();
    let kind = match parts.next()? {
        "u" => 'u',
        "g" => 'g',
        _ => return None,
    };
    // `\s+` between the fields: no leading whitespace allowed.
    if value.starts_with(char::is_whitespace) {
        return None;
    }
    let mut num = || -> Option<u64> {
        let p = parts.next()?;
        if p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().ok()
        } else {
            None
        }
    };
    let (ct, host, count) = (num()?, num()?, num()?);
    if parts.next().is_some() {
        return None;
    }
    Some(IdMapEntry {
        kind,
        ct,
        host,
        count,
        text: value.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// Upstream's `parse_id_maps`: the `lxc.idmap` entries of a section, or the default
/// map (`100000`, `65536` ids) for an unprivileged container without any.
pub fn parse_id_maps(lxc: &[(String, String)], unprivileged: bool) -> Result<IdMap, String> {
    let mut map = IdMap::default();
    for (key, value) in lxc {
        if key != "lxc.idmap" {
            continue;
        }
        let entry =
            parse_entry(value).ok_or_else(|| format!("failed to parse idmap: {value}\n"))?;
        if entry.ct == 0 {
            if entry.kind == 'u' {
                map.root_uid = entry.host;
            } else {
                map.root_gid = entry.host;
            }
        }
        map.entries.push(entry);
    }
    if map.entries.is_empty() && unprivileged {
        for kind in ['u', 'g'] {
            map.entries.push(IdMapEntry {
                kind,
                ct: 0,
                host: DEFAULT_UNPRIVILEGED_BASE,
                count: 65536,
                text: format!("{kind} 0 {DEFAULT_UNPRIVILEGED_BASE} 65536"),
            });
        }
        map.root_uid = DEFAULT_UNPRIVILEGED_BASE;
        map.root_gid = DEFAULT_UNPRIVILEGED_BASE;
    }
    Ok(map)
}

/// [`parse_id_maps`] for a config section (its `unprivileged` flag and `lxc` entries).
pub fn section_id_maps(section: &CtSection) -> Result<IdMap, String> {
    let unprivileged = section.get("unprivileged").is_some_and(|v| v == "1");
    parse_id_maps(&section.lxc, unprivileged)
}

/// Upstream's `validate_id_maps`: per type and side (container, host), entries sorted
/// by start (stably) must not overlap their predecessor. The first conflict is reported.
pub fn validate_id_maps(entries: &[IdMapEntry]) -> Result<(), String> {
    for kind in ['u', 'g'] {
        for side in ["container", "host"] {
            let mut list: Vec<(u64, u64, usize)> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.kind == kind)
                .map(|(i, e)| {
                    let start = if side == "container" { e.ct } else { e.host };
                    (start, e.count, i)
                })
                .collect();
            list.sort_by_key(|&(start, _, _)| start);
            for pair in list.windows(2) {
                let (prev_start, prev_count, prev_line) = pair[0];
                let (cur_start, _, cur_line) = pair[1];
                if prev_start.saturating_add(prev_count) > cur_start {
                    return Err(format!(
                        "invalid map entry '{}': {side} {kind}id {cur_start} is also mapped by entry '{}'\n",
                        entries[cur_line], entries[prev_line]
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Upstream's `map_ct_id_to_host`: the host id of a container id (unmapped ids stay).
pub fn map_ct_id_to_host(id: u64, entries: &[IdMapEntry], kind: char) -> u64 {
    entries
        .iter()
        .filter(|e| e.kind == kind)
        .find(|e| id >= e.ct && id < e.ct + e.count)
        .map_or(id, |e| e.host - e.ct + id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lxc(entries: &[&str]) -> Vec<(String, String)> {
        entries
            .iter()
            .map(|e| ("lxc.idmap".to_string(), e.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_errors() {
        let m = parse_id_maps(&[], true).unwrap();
        assert_eq!(m.entries.len(), 2);
        assert_eq!((m.root_uid, m.root_gid), (100000, 100000));
        assert!(parse_id_maps(&[], false).unwrap().entries.is_empty());
        assert_eq!(
            parse_id_maps(&lxc(&["x 0 1 2"]), false).unwrap_err(),
            "failed to parse idmap: x 0 1 2\n"
        );
        let m = parse_id_maps(&lxc(&["u 0 1000 10", "g 0 2000 10"]), true).unwrap();
        assert_eq!((m.root_uid, m.root_gid), (1000, 2000));
        assert_eq!(map_ct_id_to_host(5, &m.entries, 'u'), 1005);
        assert_eq!(map_ct_id_to_host(50, &m.entries, 'g'), 50);
    }

    #[test]
    fn host_side_overlap() {
        let m = parse_id_maps(&lxc(&["u 0 100 10", "u 10 105 10"]), false).unwrap();
        assert_eq!(
            validate_id_maps(&m.entries).unwrap_err(),
            "invalid map entry 'u 10 105 10': host uid 105 is also mapped by entry 'u 0 100 10'\n"
        );
    }
}
