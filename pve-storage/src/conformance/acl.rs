//! A small user.cfg reader and ACL evaluation for the volume_access suite (the real
//! one belongs to pve-access-control).

use std::collections::{BTreeMap, BTreeSet};

use crate::access::PrivilegeCheck;

#[derive(Default)]
pub struct UserCfg {
    roles: BTreeMap<String, BTreeSet<String>>,
    groups: BTreeMap<String, BTreeSet<String>>,
    /// path → [(propagate, ugid, role)]
    acl: BTreeMap<String, Vec<(bool, String, String)>>,
}

impl UserCfg {
    pub fn parse(text: &str) -> Self {
        let mut cfg = UserCfg::default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').map(str::trim).collect();
            match f.first().copied() {
                Some("role") if f.len() >= 3 => {
                    let privs = f[2]
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string);
                    cfg.roles.insert(f[1].to_string(), privs.collect());
                }
                Some("group") if f.len() >= 3 => {
                    let users = f[2]
                        .split(',')
                        .filter(|u| !u.is_empty())
                        .map(str::to_string);
                    cfg.groups.insert(f[1].to_string(), users.collect());
                }
                Some("acl") if f.len() >= 5 => {
                    let propagate = f[1] == "1";
                    for ugid in f[3].split(',').filter(|u| !u.is_empty()) {
                        for role in f[4].split(',').filter(|r| !r.is_empty()) {
                            cfg.acl.entry(f[2].to_string()).or_default().push((
                                propagate,
                                ugid.to_string(),
                                role.to_string(),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        cfg
    }

    fn applies(&self, user: &str, ugid: &str) -> bool {
        match ugid.strip_prefix('@') {
            Some(g) => self.groups.get(g).is_some_and(|m| m.contains(user)),
            None => ugid == user,
        }
    }

    /// The privileges of `user` on `path`: the deepest ACL level that names the user
    /// wins; levels above the path count only when they propagate.
    pub fn privileges(&self, user: &str, path: &str) -> BTreeSet<String> {
        let mut levels = vec!["/".to_string()];
        let mut cur = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            cur.push('/');
            cur.push_str(seg);
            levels.push(cur.clone());
        }
        let mut privs = BTreeSet::new();
        for (i, level) in levels.iter().enumerate() {
            let exact = i + 1 == levels.len();
            let Some(entries) = self.acl.get(level) else {
                continue;
            };
            let mine: Vec<_> = entries
                .iter()
                .filter(|(prop, ugid, _)| (exact || *prop) && self.applies(user, ugid))
                .collect();
            if mine.is_empty() {
                continue;
            }
            privs = mine
                .iter()
                .flat_map(|(_, _, role)| self.roles.get(role).cloned().unwrap_or_default())
                .collect();
        }
        privs
    }
}

pub struct User<'a> {
    pub cfg: &'a UserCfg,
    pub name: &'a str,
}

impl PrivilegeCheck for User<'_> {
    fn is_root(&self) -> bool {
        self.name == "root@pam"
    }
    fn has(&self, path: &str, privs: &[&str], any: bool) -> bool {
        if self.is_root() {
            return true;
        }
        let mine = self.cfg.privileges(self.name, path);
        match any {
            true => privs.iter().any(|p| mine.contains(*p)),
            false => privs.iter().all(|p| mine.contains(*p)),
        }
    }
}
