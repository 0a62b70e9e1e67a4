//! Pending changes of a guest config (upstream's `PVE::AbstractConfig` pending helpers):
//! the `delete:` list of `[PENDING]`, cleanup of pending values that are no-ops, and
//! applying pending changes to the main section.

use std::collections::BTreeMap;

use crate::config::GuestConfig;

/// The keys of a pending `delete:` list, each with its force flag.
pub type PendingDelete = BTreeMap<String, bool>;

/// Parses a `delete:` value: items split by commas, semicolons and white space; one
/// leading `!` marks a forced delete.
pub fn parse_pending_delete(text: &str) -> PendingDelete {
    let mut map = PendingDelete::new();
    for item in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        match item.strip_prefix('!') {
            Some(key) => map.insert(key.to_string(), true),
            None => map.insert(item.to_string(), false),
        };
    }
    map
}

/// The reverse of [`parse_pending_delete`]: sorted keys, forced ones with `!`.
pub fn print_pending_delete(map: &PendingDelete) -> String {
    map.iter()
        .map(|(k, force)| if *force { format!("!{k}") } else { k.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

/// The pending delete list of a config.
pub fn pending_delete(conf: &GuestConfig) -> PendingDelete {
    conf.pending
        .get("delete")
        .map(parse_pending_delete)
        .unwrap_or_default()
}

fn set_pending_delete(conf: &mut GuestConfig, map: &PendingDelete) {
    if map.is_empty() {
        conf.pending.values.remove("delete");
    } else {
        conf.pending
            .values
            .insert("delete".into(), print_pending_delete(map));
    }
}

/// Adds `key` to the pending deletes with the given force flag (an entry already
/// there is replaced).
pub fn add_to_pending_delete(conf: &mut GuestConfig, key: &str, force: bool) {
    let mut map = pending_delete(conf);
    map.insert(key.to_string(), force);
    set_pending_delete(conf, &map);
}

/// Removes `key` from the pending deletes (and `delete` itself once empty); a key that
/// is not listed leaves the list as it is.
pub fn remove_from_pending_delete(conf: &mut GuestConfig, key: &str) {
    let mut map = pending_delete(conf);
    if map.remove(key).is_some() {
        set_pending_delete(conf, &map);
    }
}

/// Drops pending values equal to the current ones and pending deletes of keys the
/// config does not have; true when something was dropped.
pub fn cleanup_pending(conf: &mut GuestConfig) -> bool {
    let mut changed = false;
    let same: Vec<String> = conf
        .pending
        .values
        .iter()
        .filter(|(k, v)| *k != "delete" && conf.main.values.get(*k) == Some(*v))
        .map(|(k, _)| k.clone())
        .collect();
    for k in same {
        conf.pending.values.remove(&k);
        changed = true;
    }
    let map = pending_delete(conf);
    let kept: PendingDelete = map
        .iter()
        .filter(|(k, _)| {
            conf.main.values.contains_key(*k)
                || (k.as_str() == "description" && conf.main.description.is_some())
        })
        .map(|(k, f)| (k.clone(), *f))
        .collect();
    if kept.len() != map.len() {
        changed = true;
    }
    set_pending_delete(conf, &kept);
    changed
}

/// One entry of upstream's pending list (`GET …/pending`): the current value, the
/// pending value and whether the key is to be deleted (with its force flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    pub key: String,
    pub value: Option<String>,
    pub pending: Option<String>,
    /// `Some(force)` when the key is in the pending delete list.
    pub delete: Option<bool>,
}

/// The pending list (upstream's `get_pending_config`-based listing): every current key,
/// every pending key and every pending delete, sorted by key.
pub fn pending_entries(conf: &GuestConfig) -> Vec<PendingEntry> {
    let deletes = pending_delete(conf);
    let mut keys: Vec<&String> = conf
        .main
        .values
        .keys()
        .chain(conf.pending.values.keys().filter(|k| *k != "delete"))
        .chain(deletes.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|k| PendingEntry {
            key: k.clone(),
            value: conf.main.values.get(k).cloned(),
            pending: conf
                .pending
                .values
                .get(k)
                .filter(|_| k != "delete")
                .cloned(),
            delete: deletes.get(k).copied(),
        })
        .collect()
}

/// The config as it will be once the pending changes are applied (pending values over
/// the current ones, pending deletes left out); the description too.
pub fn config_with_pending(conf: &GuestConfig) -> GuestConfig {
    let mut out = conf.clone();
    for (k, v) in &conf.pending.values {
        if k != "delete" {
            out.main.values.insert(k.clone(), v.clone());
        }
    }
    if conf.pending.description.is_some() {
        out.main.description = conf.pending.description.clone();
    }
    for k in pending_delete(conf).keys() {
        if k == "description" {
            out.main.description = None;
        }
        out.main.values.remove(k);
    }
    out.pending = Default::default();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_list_round_trip() {
        let map = parse_pending_delete(" memory ; cpu, !mp0");
        assert_eq!(print_pending_delete(&map), "cpu,memory,!mp0");
        let mut conf = GuestConfig::default();
        add_to_pending_delete(&mut conf, "cpu", false);
        add_to_pending_delete(&mut conf, "cpu", true);
        assert_eq!(conf.pending.get("delete"), Some("!cpu"));
        conf.pending
            .values
            .insert("delete".into(), "cpu;!mem".into());
        remove_from_pending_delete(&mut conf, "other");
        assert_eq!(conf.pending.get("delete"), Some("cpu;!mem"));
        remove_from_pending_delete(&mut conf, "mem");
        remove_from_pending_delete(&mut conf, "cpu");
        assert!(conf.pending.values.is_empty());
    }

    #[test]
    fn cleanup_and_apply() {
        let mut conf = GuestConfig::default();
        conf.main.values.insert("memory".into(), "128".into());
        conf.main.values.insert("cores".into(), "2".into());
        conf.pending.values.insert("memory".into(), "128".into());
        conf.pending.values.insert("cores".into(), "4".into());
        conf.pending
            .values
            .insert("delete".into(), "name,memory".into());
        assert!(cleanup_pending(&mut conf));
        assert_eq!(conf.pending.get("delete"), Some("memory"));
        assert_eq!(conf.pending.get("memory"), None);
        let applied = config_with_pending(&conf);
        assert_eq!(applied.main.get("cores"), Some("4"));
        assert_eq!(applied.main.get("memory"), None);
    }
}
