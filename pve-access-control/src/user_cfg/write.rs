//! user.cfg writer: users (each followed by its tokens), groups, pools, custom roles and
//! ACLs, each section followed by a blank line except the last, all sorted.

use std::collections::{BTreeMap, BTreeSet};

use super::text::encode_text;
use super::{RoleSet, UserConfig};
use crate::privileges::is_builtin_role;

fn enc(field: &Option<String>) -> String {
    field
        .as_deref()
        .filter(|f| crate::ids::perl_true(f))
        .map(encode_text)
        .unwrap_or_default()
}

pub(super) fn write(cfg: &UserConfig) -> String {
    let mut out = String::new();
    for (userid, u) in &cfg.users {
        out.push_str(&format!(
            "user:{userid}:{}:{}:{}:{}:{}:{}:{}:\n",
            u8::from(u.enable),
            u.expire,
            enc(&u.firstname),
            enc(&u.lastname),
            u.email.as_deref().unwrap_or(""),
            enc(&u.comment),
            u.keys.as_deref().unwrap_or(""),
        ));
        for (name, t) in &u.tokens {
            out.push_str(&format!(
                "token:{userid}!{name}:{}:{}:{}:\n",
                t.expire,
                u8::from(t.privsep),
                enc(&t.comment)
            ));
        }
    }
    out.push('\n');
    for (name, g) in &cfg.groups {
        let members: Vec<&str> = g.users.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "group:{name}:{}:{}:\n",
            members.join(","),
            enc(&g.comment)
        ));
    }
    out.push('\n');
    for (name, p) in &cfg.pools {
        // Perl sorts the vmids as strings.
        let vms: BTreeSet<String> = p.vms.iter().map(u32::to_string).collect();
        let vms: Vec<String> = vms.into_iter().collect();
        let storage: Vec<&str> = p.storage.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "pool:{name}:{}:{}:{}:\n",
            enc(&p.comment),
            vms.join(","),
            storage.join(",")
        ));
    }
    out.push('\n');
    for (name, privs) in &cfg.roles {
        if is_builtin_role(name) {
            continue;
        }
        let list: Vec<&str> = privs.iter().map(String::as_str).collect();
        out.push_str(&format!("role:{name}:{}:\n", list.join(",")));
    }
    out.push('\n');
    cfg.acl_root.walk(&mut |path, node| {
        // propagate flag → role list → members
        let mut lines: [BTreeMap<String, BTreeSet<String>>; 2] = Default::default();
        let mut collect =
            |members: &BTreeMap<String, RoleSet>, prefix: &str, skip: Option<&str>| {
                for (member, roles) in members {
                    if Some(member.as_str()) == skip {
                        continue;
                    }
                    for flag in [false, true] {
                        let list: Vec<&str> = roles
                            .iter()
                            .filter(|(_, p)| **p == flag)
                            .map(|(r, _)| r.as_str())
                            .collect();
                        if !list.is_empty() {
                            lines[usize::from(flag)]
                                .entry(list.join(","))
                                .or_default()
                                .insert(format!("{prefix}{member}"));
                        }
                    }
                }
            };
        collect(&node.groups, "@", None);
        // root@pam is always Administrator and never written.
        collect(&node.users, "", Some("root@pam"));
        collect(&node.tokens, "", None);
        for (flag, by_roles) in lines.iter().enumerate() {
            for (roles, members) in by_roles {
                let members: Vec<&str> = members.iter().map(String::as_str).collect();
                out.push_str(&format!(
                    "acl:{flag}:{path}:{}:{roles}:\n",
                    members.join(",")
                ));
            }
        }
    });
    out
}
