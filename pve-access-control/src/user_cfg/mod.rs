//! `/etc/pve/user.cfg`: users (with their API tokens), groups, pools, roles and the
//! ACL tree, parsed and written exactly as upstream does (see `parse` and `write`).

mod parse;
pub mod text;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use crate::privileges::BUILTIN_ROLES;

/// role name → propagate flag.
pub type RoleSet = BTreeMap<String, bool>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    pub enable: bool,
    /// Epoch seconds; 0 = never.
    pub expire: i64,
    pub firstname: Option<String>,
    pub lastname: Option<String>,
    /// Stored verbatim (not percent-decoded), as upstream does.
    pub email: Option<String>,
    pub comment: Option<String>,
    /// Legacy second-factor keys.
    pub keys: Option<String>,
    pub groups: BTreeSet<String>,
    pub tokens: BTreeMap<String, Token>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Token {
    pub expire: i64,
    pub privsep: bool,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    pub users: BTreeSet<String>,
    pub comment: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pool {
    pub comment: Option<String>,
    pub vms: BTreeSet<u32>,
    pub storage: BTreeSet<String>,
    /// Direct child pools (`parent/child`).
    pub pools: BTreeSet<String>,
    pub parent: Option<String>,
}

/// One node of the ACL tree: who has which roles on this path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclNode {
    pub users: BTreeMap<String, RoleSet>,
    pub groups: BTreeMap<String, RoleSet>,
    pub tokens: BTreeMap<String, RoleSet>,
    pub children: BTreeMap<String, AclNode>,
}

impl AclNode {
    /// The node at `path`, if it exists.
    pub fn find(&self, path: &str) -> Option<&AclNode> {
        let mut node = self;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            node = node.children.get(seg)?;
        }
        Some(node)
    }

    /// The node at `path`, created with its parents when missing.
    pub fn find_mut(&mut self, path: &str) -> &mut AclNode {
        let mut node = self;
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            node = node.children.entry(seg.to_string()).or_default();
        }
        node
    }

    /// Visits every node depth first, children sorted, with its path (`/`, `/vms`, …).
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a AclNode)) {
        self.walk_from("/", visit);
    }

    fn walk_from<'a>(&'a self, path: &str, visit: &mut dyn FnMut(&str, &'a AclNode)) {
        visit(path, self);
        let prefix = if path == "/" { "" } else { path };
        for (name, child) in &self.children {
            child.walk_from(&format!("{prefix}/{name}"), visit);
        }
    }

    fn walk_mut(&mut self, visit: &mut dyn FnMut(&mut AclNode)) {
        visit(self);
        for child in self.children.values_mut() {
            child.walk_mut(visit);
        }
    }
}

/// The parsed user.cfg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserConfig {
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub pools: BTreeMap<String, Pool>,
    /// All roles, the built-in ones included.
    pub roles: BTreeMap<String, BTreeSet<String>>,
    pub acl_root: AclNode,
    /// vmid → the pool it belongs to.
    pub vms: BTreeMap<u32, String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        let mut cfg = UserConfig {
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            pools: BTreeMap::new(),
            roles: BTreeMap::new(),
            acl_root: AclNode::default(),
            vms: BTreeMap::new(),
        };
        cfg.force_defaults();
        cfg
    }
}

impl UserConfig {
    /// Built-in roles always present, root@pam always exists.
    fn force_defaults(&mut self) {
        for (name, privs) in BUILTIN_ROLES.iter() {
            self.roles.insert(name.clone(), privs.clone());
        }
        self.users.entry("root@pam".into()).or_insert_with(|| User {
            enable: true,
            ..Default::default()
        });
    }

    /// Parses user.cfg; invalid lines are skipped (see [`Self::parse_with_warnings`]).
    pub fn parse(raw: &str) -> Self {
        parse::parse(raw).0
    }

    /// Parses user.cfg and returns upstream's warnings about skipped entries.
    pub fn parse_with_warnings(raw: &str) -> (Self, Vec<String>) {
        parse::parse(raw)
    }

    /// Writes user.cfg in upstream's layout.
    pub fn write(&self) -> String {
        write::write(self)
    }

    pub fn token(&self, userid: &str, token: &str) -> Option<&Token> {
        self.users.get(userid)?.tokens.get(token)
    }

    /// Adds `user` to `group` (both sides of the relation).
    pub fn add_user_group(&mut self, user: &str, group: &str) {
        if let Some(u) = self.users.get_mut(user) {
            u.groups.insert(group.to_string());
        }
        self.groups
            .entry(group.to_string())
            .or_default()
            .users
            .insert(user.to_string());
    }

    /// Removes `user` from every group.
    pub fn delete_user_from_groups(&mut self, user: &str) {
        for g in self.groups.values_mut() {
            g.users.remove(user);
        }
        if let Some(u) = self.users.get_mut(user) {
            u.groups.clear();
        }
    }

    /// Removes every ACL entry of `user`.
    pub fn delete_user_acl(&mut self, user: &str) {
        self.acl_root.walk_mut(&mut |n| {
            n.users.remove(user);
        });
    }

    /// Removes every ACL entry of `group`.
    pub fn delete_group_acl(&mut self, group: &str) {
        self.acl_root.walk_mut(&mut |n| {
            n.groups.remove(group);
        });
    }

    /// Removes every ACL entry of the token `full` (`user@realm!name`).
    pub fn delete_token_acl(&mut self, full: &str) {
        self.acl_root.walk_mut(&mut |n| {
            n.tokens.remove(full);
        });
    }
}

#[cfg(test)]
mod tests;
