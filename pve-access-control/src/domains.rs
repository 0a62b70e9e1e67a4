//! `/etc/pve/domains.cfg`: the authentication realms (section config). The `pam` and
//! `pve` realms always exist, with upstream's default comments.

use std::collections::BTreeMap;

use crate::user_cfg::text::decode_text;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Realm {
    /// `pam`, `pve`, `ldap`, `ad`, `openid`.
    pub realm_type: String,
    pub comment: Option<String>,
    pub default: bool,
    pub tfa: Option<String>,
    /// Other keys as written.
    pub options: BTreeMap<String, String>,
}

/// Parses domains.cfg (`<type>: <realm>` headers, tab-indented `key value` lines).
pub fn parse_domains(raw: &str) -> BTreeMap<String, Realm> {
    let mut realms: BTreeMap<String, Realm> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in raw.lines() {
        if line.trim().is_empty() {
            current = None;
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            let Some(r) = current.as_ref().and_then(|id| realms.get_mut(id)) else {
                continue;
            };
            let text = line.trim();
            let (key, value) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
            let value = value.trim().to_string();
            match key {
                "comment" => r.comment = Some(decode_text(&value)),
                "default" => r.default = crate::ids::perl_true(&value),
                "tfa" => r.tfa = Some(value),
                _ => {
                    r.options.insert(key.to_string(), value);
                }
            }
            continue;
        }
        current = None;
        if let Some((t, id)) = line.split_once(':') {
            let (t, id) = (t.trim().to_lowercase(), id.trim());
            if !t.contains(char::is_whitespace) && crate::ids::is_valid_realm(id) {
                realms.insert(
                    id.to_string(),
                    Realm {
                        realm_type: t,
                        ..Default::default()
                    },
                );
                current = Some(id.to_string());
            }
        }
    }
    // only one default realm
    let mut seen_default = false;
    for r in realms.values_mut() {
        if r.default && std::mem::replace(&mut seen_default, true) {
            r.default = false;
        }
    }
    for (id, comment) in [
        ("pve", "Proxmox VE authentication server"),
        ("pam", "Linux PAM standard authentication"),
    ] {
        let r = realms.entry(id.to_string()).or_default();
        r.realm_type = id.to_string();
        if r.comment.as_deref().is_none_or(str::is_empty) {
            r.comment = Some(comment.to_string());
        }
    }
    realms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_and_defaults() {
        let d = parse_domains(
            "pam: pam\n\tcomment Linux PAM standard authentication\n\n\
             pve: pve\n\tcomment Proxmox VE authentication server\n\n\
             ldap: corp\n\tcomment a%3Ab\n\tdefault 1\n\tserver1 ldap.example\n",
        );
        assert_eq!(d.len(), 3);
        assert_eq!(d["corp"].comment.as_deref(), Some("a:b"));
        assert!(d["corp"].default);
        assert_eq!(d["corp"].options["server1"], "ldap.example");
        let empty = parse_domains("");
        assert_eq!(empty["pam"].realm_type, "pam");
        assert_eq!(
            empty["pve"].comment.as_deref(),
            Some("Proxmox VE authentication server")
        );
    }
}
