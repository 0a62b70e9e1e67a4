//! user.cfg parser: one record per line, fields separated by `:`. Entries that do not
//! check out are skipped with a warning, as upstream does; nothing here panics.

use pve_common::schema::split_list;

use super::text::decode_text;
use super::{User, UserConfig};
use crate::ids::{
    is_valid_groupname, is_valid_poolname, is_valid_rolename, is_valid_storeid, normalize_path,
    perl_true, split_tokenid, split_userid,
};
use crate::privileges::{is_builtin_role, is_valid_privilege};

/// Perl's `split(/:/)`: trailing empty fields are dropped; each field is trimmed.
fn fields(line: &str) -> Vec<&str> {
    let mut v: Vec<&str> = line.split(':').map(str::trim).collect();
    while v.last().is_some_and(|f| f.is_empty()) {
        v.pop();
    }
    v
}

fn decoded(field: Option<&&str>) -> Option<String> {
    field.filter(|f| perl_true(f)).map(|f| decode_text(f))
}

/// `expire`: empty means 0; anything but digits is invalid.
fn parse_expire(field: Option<&&str>) -> Option<i64> {
    let f = field.copied().unwrap_or("");
    if !perl_true(f) {
        return Some(0);
    }
    if !f.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(f.parse::<i64>().unwrap_or(i64::MAX))
}

pub(super) fn parse(raw: &str) -> (UserConfig, Vec<String>) {
    let mut cfg = UserConfig::default();
    let mut warnings = Vec::new();
    for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let data = fields(line);
        let get = |i: usize| data.get(i);
        let text = |i: usize| data.get(i).copied().unwrap_or("");
        match text(0) {
            "user" => parse_user(&mut cfg, &mut warnings, &data),
            "group" => {
                let group = text(1);
                if !is_valid_groupname(group) {
                    warnings.push(format!(
                        "user config - ignore group '{group}' - invalid characters in group name"
                    ));
                    continue;
                }
                let comment = decoded(get(3));
                let entry = cfg.groups.entry(group.to_string()).or_default();
                if comment.is_some() {
                    entry.comment = comment;
                }
                for user in split_list(text(2)) {
                    if split_userid(user).is_none() {
                        warnings.push(format!(
                            "user config - ignore invalid group member '{user}'"
                        ));
                        continue;
                    }
                    match cfg.users.get_mut(user) {
                        Some(u) => {
                            u.groups.insert(group.to_string());
                        }
                        None => warnings.push(format!(
                            "user config - ignore invalid group member '{user}'"
                        )),
                    }
                    if let Some(g) = cfg.groups.get_mut(group) {
                        g.users.insert(user.to_string());
                    }
                }
            }
            "role" => {
                let role = text(1);
                if !is_valid_rolename(role) {
                    warnings.push(format!(
                        "user config - ignore role '{role}' - invalid characters in role name"
                    ));
                    continue;
                }
                if is_builtin_role(role) {
                    continue;
                }
                let privs = cfg.roles.entry(role.to_string()).or_default();
                for p in split_list(text(2)) {
                    if is_valid_privilege(p) {
                        privs.insert(p.to_string());
                    } else {
                        warnings.push(format!("user config - ignore invalid privilege '{p}'"));
                    }
                }
            }
            "acl" => parse_acl(&mut cfg, &mut warnings, &data),
            "pool" => parse_pool(&mut cfg, &mut warnings, &data),
            "token" => {
                let full = text(1);
                let Some((user, token)) = split_tokenid(full) else {
                    warnings.push(format!("user config - ignore invalid tokenid '{full}'"));
                    continue;
                };
                let Some(expire) = parse_expire(get(2)) else {
                    warnings.push(format!(
                        "user config - ignore token '{full}' - (illegal characters in expire '{}')",
                        text(2)
                    ));
                    continue;
                };
                match cfg.users.get_mut(user) {
                    Some(u) => {
                        let t = u.tokens.entry(token.to_string()).or_default();
                        t.privsep = perl_true(text(3));
                        t.expire = expire;
                        if let Some(c) = decoded(get(4)) {
                            t.comment = Some(c);
                        }
                    }
                    None => warnings.push(format!(
                        "user config - ignore token '{full}' - user does not exist"
                    )),
                }
            }
            _ => warnings.push(format!("user config - ignore config line: {line}")),
        }
    }
    cfg.force_defaults();
    (cfg, warnings)
}

fn parse_user(cfg: &mut UserConfig, warnings: &mut Vec<String>, data: &[&str]) {
    let text = |i: usize| data.get(i).copied().unwrap_or("");
    let userid = text(1);
    if split_userid(userid).is_none() {
        warnings.push(format!(
            "user config - ignore user '{userid}' - invalid user name"
        ));
        return;
    }
    let Some(expire) = parse_expire(data.get(3)) else {
        warnings.push(format!(
            "user config - ignore user '{userid}' - (illegal characters in expire '{}')",
            text(3)
        ));
        return;
    };
    let user = User {
        enable: perl_true(text(2)),
        expire,
        firstname: decoded(data.get(4)),
        lastname: decoded(data.get(5)),
        email: data.get(6).map(|s| s.to_string()),
        comment: decoded(data.get(7)),
        keys: data.get(8).filter(|k| perl_true(k)).map(|k| k.to_string()),
        ..Default::default()
    };
    cfg.users.insert(userid.to_string(), user);
}

fn parse_acl(cfg: &mut UserConfig, warnings: &mut Vec<String>, data: &[&str]) {
    let text = |i: usize| data.get(i).copied().unwrap_or("");
    let propagate = perl_true(text(1));
    let Some(path) = normalize_path(text(2)) else {
        warnings.push(format!(
            "user config - ignore invalid path in acl '{}'",
            text(2)
        ));
        return;
    };
    for role in split_list(text(4)) {
        if !is_valid_rolename(role) {
            warnings.push(format!(
                "user config - ignore invalid role name '{role}' in acl"
            ));
            continue;
        }
        if !cfg.roles.contains_key(role) {
            warnings.push(format!("user config - ignore invalid acl role '{role}'"));
            continue;
        }
        for ug in split_list(text(3)) {
            let group = ug
                .strip_prefix('@')
                .filter(|g| !g.chars().any(char::is_whitespace));
            if let Some(group) = group.filter(|g| is_valid_groupname(g)) {
                if !cfg.groups.contains_key(group) {
                    warnings.push(format!("user config - ignore invalid acl group '{group}'"));
                }
                cfg.acl_root
                    .find_mut(&path)
                    .groups
                    .entry(group.to_string())
                    .or_default()
                    .insert(role.to_string(), propagate);
            } else if split_userid(ug).is_some() {
                if !cfg.users.contains_key(ug) {
                    warnings.push(format!("user config - ignore invalid acl member '{ug}'"));
                }
                cfg.acl_root
                    .find_mut(&path)
                    .users
                    .entry(ug.to_string())
                    .or_default()
                    .insert(role.to_string(), propagate);
            } else if let Some((user, token)) = split_tokenid(ug) {
                if cfg.token(user, token).is_some() {
                    cfg.acl_root
                        .find_mut(&path)
                        .tokens
                        .entry(ug.to_string())
                        .or_default()
                        .insert(role.to_string(), propagate);
                } else {
                    warnings.push(format!("user config - ignore invalid acl token '{ug}'"));
                }
            } else {
                warnings.push(format!("user config - invalid user/group '{ug}' in acl"));
            }
        }
    }
}

fn parse_pool(cfg: &mut UserConfig, warnings: &mut Vec<String>, data: &[&str]) {
    let text = |i: usize| data.get(i).copied().unwrap_or("");
    let pool = text(1);
    if !is_valid_poolname(pool) {
        warnings.push(format!(
            "user config - ignore pool '{pool}' - invalid characters in pool name"
        ));
        return;
    }
    cfg.pools.entry(pool.to_string()).or_default();
    // Parents of a nested pool exist implicitly.
    let mut curr = pool.to_string();
    while let Some((parent, _)) = curr.rsplit_once('/') {
        let parent = parent.to_string();
        if let Some(p) = cfg.pools.get_mut(&curr) {
            p.parent = Some(parent.clone());
        }
        cfg.pools
            .entry(parent.clone())
            .or_default()
            .pools
            .insert(curr.clone());
        curr = parent;
    }
    if let Some(c) = decoded(data.get(2)) {
        if let Some(p) = cfg.pools.get_mut(pool) {
            p.comment = Some(c);
        }
    }
    for vmid in split_list(text(3)) {
        let Some(id) = vmid
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| vmid.parse::<u32>().ok())
            .flatten()
        else {
            warnings.push(format!(
                "user config - ignore invalid vmid '{vmid}' in pool '{pool}'"
            ));
            continue;
        };
        if cfg.vms.contains_key(&id) {
            warnings.push(format!(
                "user config - ignore duplicate vmid '{id}' in pool '{pool}'"
            ));
            continue;
        }
        cfg.vms.insert(id, pool.to_string());
        if let Some(p) = cfg.pools.get_mut(pool) {
            p.vms.insert(id);
        }
    }
    for storeid in split_list(text(4)) {
        if !is_valid_storeid(storeid) {
            warnings.push(format!(
                "user config - ignore invalid storage '{storeid}' in pool '{pool}'"
            ));
            continue;
        }
        if let Some(p) = cfg.pools.get_mut(pool) {
            p.storage.insert(storeid.to_string());
        }
    }
}
