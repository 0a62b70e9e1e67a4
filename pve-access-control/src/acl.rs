//! ACL evaluation: which roles and privileges a user or API token has on a path.
//!
//! Walking from `/` to the path, at each level a token's own entries replace what came
//! before; without them the user's entries do; without those the union of the user's
//! groups' entries does. Ancestors count only with `propagate`. `NoAccess` left at the
//! end wins. Roles on `/pool/<p>` also apply to `/vms/<id>` and `/storage/<id>` of the
//! pool's members. Privilege-separated tokens get the intersection with their user.

use std::collections::BTreeMap;
use std::sync::Arc;

use pve_common::api::{AuthId, PermissionChecker};

use crate::ids::{split_tokenid, split_userid};
use crate::user_cfg::{AclNode, RoleSet, UserConfig};

/// privilege → propagate flag (informational; a key present means the privilege is set).
pub type PrivSet = BTreeMap<String, bool>;

/// The roles `authid` (a user or `user@realm!token`) has on `path`, without pools.
pub fn roles(cfg: &UserConfig, authid: &str, path: &str) -> RoleSet {
    if authid == "root@pam" {
        return RoleSet::from([("Administrator".to_string(), true)]);
    }
    if let Some((user, token)) = split_tokenid(authid) {
        match cfg.token(user, token) {
            None => return RoleSet::new(),
            Some(t) if !t.privsep => return roles(cfg, user, path),
            Some(_) => {}
        }
    }
    let segments: Vec<&str> = if path == "/" {
        vec![""]
    } else {
        path.split('/').collect()
    };
    let mut current = RoleSet::new();
    let mut node: Option<&AclNode> = Some(&cfg.acl_root);
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if !seg.is_empty() {
            node = node.and_then(|n| n.children.get(*seg));
        }
        let Some(n) = node else { continue };
        let pick = |set: &RoleSet, into: &mut RoleSet| {
            for (role, propagate) in set {
                if last || *propagate {
                    into.insert(role.clone(), *propagate);
                }
            }
        };
        let mut new = RoleSet::new();
        if let Some(set) = n.tokens.get(authid) {
            pick(set, &mut new);
        }
        if new.is_empty() {
            if let Some(set) = n.users.get(authid) {
                pick(set, &mut new);
            }
        }
        if new.is_empty() {
            for (group, set) in &n.groups {
                if cfg
                    .groups
                    .get(group)
                    .is_some_and(|g| g.users.contains(authid))
                {
                    pick(set, &mut new);
                }
            }
        }
        if !new.is_empty() {
            current = new;
        }
    }
    if let Some(p) = current.get("NoAccess") {
        return RoleSet::from([("NoAccess".to_string(), *p)]);
    }
    current
}

/// The privileges `authid` has on `path` (pools and token privilege separation
/// included); root@pam has all.
pub fn permissions(cfg: &UserConfig, authid: &str, path: &str) -> PrivSet {
    if authid == "root@pam" {
        return all_privileges(cfg, true);
    }
    if let Some((user, token)) = split_tokenid(authid) {
        let Some(info) = cfg.token(user, token) else {
            return PrivSet::new();
        };
        let user_privs = permissions(cfg, user, path);
        if !info.privsep {
            return user_privs;
        }
        let own = compile(cfg, authid, path);
        if user == "root@pam" {
            return own;
        }
        return own
            .into_iter()
            .filter_map(|(p, prop)| user_privs.get(&p).map(|up| (p, prop && *up)))
            .collect();
    }
    if split_userid(authid).is_none() {
        return PrivSet::new();
    }
    compile(cfg, authid, path)
}

fn all_privileges(cfg: &UserConfig, flag: bool) -> PrivSet {
    cfg.roles
        .get("Administrator")
        .map(|r| r.iter().map(|p| (p.clone(), flag)).collect())
        .unwrap_or_default()
}

/// Roles from the path's ACLs plus the roles inherited from pools, as privileges.
fn compile(cfg: &UserConfig, authid: &str, path: &str) -> PrivSet {
    let roles = effective_roles(cfg, authid, path);
    let mut privs = PrivSet::new();
    for (role, propagate) in &roles {
        for p in cfg.roles.get(role).into_iter().flatten() {
            let e = privs.entry(p.clone()).or_insert(false);
            *e = *e || *propagate;
        }
    }
    privs
}

/// Roles from the path's ACLs plus the roles inherited from pools.
fn effective_roles(cfg: &UserConfig, authid: &str, path: &str) -> RoleSet {
    let mut roles = roles(cfg, authid, path);
    if !roles.contains_key("NoAccess") {
        let mut from_pools = RoleSet::new();
        for (name, pool) in &cfg.pools {
            let member = match path.strip_prefix("/vms/") {
                Some(id) => id.parse::<u32>().is_ok_and(|id| pool.vms.contains(&id)),
                None => path
                    .strip_prefix("/storage/")
                    .is_some_and(|s| pool.storage.contains(s)),
            };
            if member {
                for role in roles_on_pool(cfg, authid, name).into_keys() {
                    from_pools.insert(role, false);
                }
            }
        }
        if from_pools.contains_key("NoAccess") {
            roles = RoleSet::from([("NoAccess".to_string(), false)]);
        } else {
            for role in from_pools.into_keys() {
                roles.entry(role).or_insert(false);
            }
        }
    }
    roles
}

fn roles_on_pool(cfg: &UserConfig, authid: &str, pool: &str) -> RoleSet {
    roles(cfg, authid, &format!("/pool/{pool}"))
}

/// [`split_tokenid`] succeeds; without a `!` it cannot (no regex run per call).
fn is_tokenid(authid: &str) -> bool {
    authid.contains('!') && split_tokenid(authid).is_some()
}

/// [`split_userid`] succeeds; the last answer is kept per thread (a list method asks
/// for the same user once per entry).
fn is_userid(authid: &str) -> bool {
    thread_local! {
        static LAST: std::cell::RefCell<(String, bool)> = const { std::cell::RefCell::new((String::new(), false)) };
    }
    LAST.with(|l| {
        let mut l = l.borrow_mut();
        if l.0 != authid || l.0.is_empty() {
            *l = (authid.to_string(), split_userid(authid).is_some());
        }
        l.1
    })
}

/// Whether `authid` has `privs` (all, or any with `any`) on `path`.
pub fn has_privs(cfg: &UserConfig, authid: &str, path: &str, privs: &[&str], any: bool) -> bool {
    // A user (not root, not a token): look the privileges up in the roles instead of
    // building the whole privilege set (list methods ask once per guest).
    if authid != "root@pam" && !is_tokenid(authid) {
        if !is_userid(authid) {
            return false;
        }
        let roles = effective_roles(cfg, authid, path);
        let held = |p: &&str| {
            roles
                .keys()
                .any(|r| cfg.roles.get(r).is_some_and(|set| set.contains(*p)))
        };
        return if any {
            privs.iter().any(held)
        } else {
            privs.iter().all(held)
        };
    }
    let set = permissions(cfg, authid, path);
    if any {
        privs.iter().any(|p| set.contains_key(*p))
    } else {
        privs.iter().all(|p| set.contains_key(*p))
    }
}

/// A [`PermissionChecker`] over one loaded user.cfg (load it once per request).
#[derive(Clone, Debug)]
pub struct UserConfigChecker {
    pub cfg: Arc<UserConfig>,
}

impl UserConfigChecker {
    pub fn new(cfg: Arc<UserConfig>) -> Self {
        Self { cfg }
    }
}

impl PermissionChecker for UserConfigChecker {
    fn has_privs(&self, auth: &AuthId, path: &str, privs: &[&str], any: bool) -> bool {
        has_privs(&self.cfg, &auth.full(), path, privs, any)
    }
}

#[cfg(test)]
mod tests;
