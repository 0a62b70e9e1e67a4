//! Names of users, realms, tokens, groups, roles and pools, and ACL paths, checked as
//! upstream checks them (the same regexes as the `pve-userid`, `pve-realm`, … formats).

use std::sync::LazyLock;

use regex::Regex;

macro_rules! re {
    ($pat:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("static regex"));
        &*RE
    }};
}

/// Splits `user@realm` into name and realm when it is a valid user id (3 to 64
/// characters, name `[^\s:/]+`, realm `[A-Za-z][A-Za-z0-9.\-_]+`).
pub fn split_userid(userid: &str) -> Option<(&str, &str)> {
    let len = userid.chars().count();
    if !(3..=64).contains(&len) {
        return None;
    }
    let caps = re!(r"^([^\s:/]+)@([A-Za-z][A-Za-z0-9.\-_]+)$").captures(userid)?;
    Some((caps.get(1)?.as_str(), caps.get(2)?.as_str()))
}

/// Upstream's error for an invalid user id.
pub fn verify_userid(userid: &str) -> Result<(), String> {
    let len = userid.chars().count();
    if len < 3 {
        return Err(format!("user name '{userid}' is too short\n"));
    }
    if len > 64 {
        return Err(format!("user name '{userid}' is too long ({len} > 64)\n"));
    }
    match split_userid(userid) {
        Some(_) => Ok(()),
        None => Err(format!(
            "value '{userid}' does not look like a valid user name\n"
        )),
    }
}

pub fn is_valid_realm(realm: &str) -> bool {
    re!(r"^[A-Za-z][A-Za-z0-9.\-_]+$").is_match(realm)
}

/// Splits `user@realm!tokenid` into the user id and the token name.
pub fn split_tokenid(full: &str) -> Option<(&str, &str)> {
    let caps =
        re!(r"^([^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+)!([A-Za-z][A-Za-z0-9.\-_]+)$").captures(full)?;
    Some((caps.get(1)?.as_str(), caps.get(2)?.as_str()))
}

pub fn is_valid_token_name(name: &str) -> bool {
    re!(r"^[A-Za-z][A-Za-z0-9.\-_]+$").is_match(name)
}

pub fn is_valid_groupname(name: &str) -> bool {
    re!(r"^[A-Za-z0-9.\-_]+$").is_match(name)
}

pub fn is_valid_rolename(name: &str) -> bool {
    re!(r"^[A-Za-z0-9.\-_]+$").is_match(name)
}

/// Pool names nest up to three levels (`a/b/c`).
pub fn is_valid_poolname(name: &str) -> bool {
    re!(r"^[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}$").is_match(name)
}

pub fn is_valid_storeid(name: &str) -> bool {
    re!(r"^(?i:[a-z][a-z0-9\-_.]*[a-z0-9])$").is_match(name)
}

/// Normalizes an ACL path: repeated slashes collapsed, no trailing slash, a leading
/// slash; `None` for an empty path or one with characters outside `[A-Za-z0-9.\-_/]`.
pub fn normalize_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(path.len() + 1);
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.ends_with('/') {
        out.pop();
    }
    if out.is_empty() {
        out.push('/');
    }
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    re!(r"^[A-Za-z0-9.\-_/]+$").is_match(&out).then_some(out)
}

/// Whether `path` is one of the ACL paths upstream accepts (`PUT /access/acl`).
pub fn is_valid_acl_path(path: &str) -> bool {
    re!(concat!(
        r"^(?:/|/access|/access/groups|/access/groups/[A-Za-z0-9.\-_]+",
        r"|/access/realm|/access/realm/[A-Za-z0-9.\-_]+",
        r"|/nodes|/nodes/[A-Za-z0-9.\-_]+",
        r"|/pool|/pool/[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}",
        r"|/sdn|/sdn/controllers|/sdn/controllers/[A-Za-z0-9_\-]+",
        r"|/sdn/dns|/sdn/dns/[A-Za-z0-9]+|/sdn/fabrics|/sdn/fabrics/[A-Za-z0-9]+",
        r"|/sdn/ipams|/sdn/ipams/[A-Za-z0-9]+",
        r"|/sdn/prefix-lists|/sdn/prefix-lists/[A-Za-z0-9]+",
        r"|/sdn/route-maps|/sdn/route-maps/[A-Za-z0-9]+",
        r"|/sdn/zones|/sdn/zones/[A-Za-z0-9.\-_]+|/sdn/zones/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+",
        r"|/sdn/zones/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+/[1-9][0-9]{0,3}",
        r"|/storage|/storage/[A-Za-z0-9.\-_]+",
        r"|/vms|/vms/[1-9][0-9]{2,}",
        r"|/mapping|/mapping/[A-Za-z0-9.\-_]+|/mapping/[A-Za-z0-9.\-_]+/[A-Za-z0-9.\-_]+)$"
    ))
    .is_match(path)
}

/// Perl truth of a config field: empty and `0` are false.
pub fn perl_true(s: &str) -> bool {
    !s.is_empty() && s != "0"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(split_userid("alice@pve"), Some(("alice", "pve")));
        assert!(split_userid("a@b").is_none());
        assert!(split_userid("a b@pve").is_none());
        assert_eq!(
            split_tokenid("alice@pve!automation"),
            Some(("alice@pve", "automation"))
        );
        assert!(split_tokenid("alice@pve!1x").is_none());
        assert!(is_valid_poolname("a/b/c"));
        assert!(!is_valid_poolname("a/b/c/d"));
        assert_eq!(
            verify_userid("x").unwrap_err(),
            "user name 'x' is too short\n"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(normalize_path("//vms//100/").as_deref(), Some("/vms/100"));
        assert_eq!(normalize_path("/").as_deref(), Some("/"));
        assert_eq!(normalize_path("vms").as_deref(), Some("/vms"));
        assert_eq!(normalize_path(""), None);
        assert_eq!(normalize_path("/vms/{vmid}"), None);
        assert!(is_valid_acl_path("/vms/100"));
        assert!(!is_valid_acl_path("/vms/99"));
        assert!(is_valid_acl_path("/pool/a/b"));
        assert!(is_valid_acl_path("/sdn/zones/z/v/10"));
    }
}
