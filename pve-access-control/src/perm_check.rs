//! Evaluation of a method's declared [`Permissions`] for a caller, with upstream's 403
//! texts. This is the one place the HTTP layer checks permissions.

use pve_common::api::permission::UserRequirement;
use pve_common::api::{ApiError, AuthId, Check, Permissions};
use pve_common::schema::split_list;
use serde_json::{Map, Value};

use crate::acl::{has_privs, permissions};
use crate::ids::{normalize_path, split_userid};
use crate::user_cfg::UserConfig;

fn perm_exc(what: Option<&str>) -> ApiError {
    match what {
        Some(w) => ApiError::new(403, format!("Permission check failed ({w})\n")),
        None => ApiError::new(403, "Permission check failed\n"),
    }
}

/// A parameter as text, as Perl sees it in a template (`false`/`0`/`""` count as unset).
fn param_text(params: &Map<String, Value>, name: &str) -> Option<String> {
    let text = match params.get(name)? {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(true) => "1".into(),
        _ => return None,
    };
    (!text.is_empty() && text != "0").then_some(text)
}

/// `/vms/{vmid}` with the parameters filled in; a missing one becomes `-`.
pub fn template_replace(template: &str, params: &Map<String, Value>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &rest[start + 1..start + len];
        out.push_str(&param_text(params, name).unwrap_or_else(|| "-".into()));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

/// Checks `privs` on `path` for `authid`: all of them (naming the first missing one in
/// the error), or any with `any` (naming them all joined by `|`).
pub fn check_privs(
    cfg: &UserConfig,
    authid: &str,
    path: &str,
    privs: &[&str],
    any: bool,
) -> Result<(), ApiError> {
    if any {
        if has_privs(cfg, authid, path, privs, true) {
            return Ok(());
        }
        return Err(perm_exc(Some(&format!("{path}, {}", privs.join("|")))));
    }
    let set = permissions(cfg, authid, path);
    match privs.iter().find(|p| !set.contains_key(**p)) {
        None => Ok(()),
        Some(missing) => Err(perm_exc(Some(&format!("{path}, {missing}")))),
    }
}

/// Checks a method's `permissions` for the caller (`None`: not logged in) with the
/// request parameters (path parameters merged in). `None` permissions: root@pam only.
pub fn check_api_permissions(
    cfg: &UserConfig,
    perms: Option<&Permissions>,
    auth: Option<&AuthId>,
    params: &Map<String, Value>,
) -> Result<(), ApiError> {
    let world = perms.and_then(|p| p.user) == Some(UserRequirement::World);
    let Some(auth) = auth else {
        return match world {
            true => Ok(()),
            false => Err(perm_exc(Some("user != null"))),
        };
    };
    if auth.is_root() {
        return Ok(());
    }
    let Some(perms) = perms else {
        return Err(perm_exc(Some("user != root@pam")));
    };
    if perms.user == Some(UserRequirement::All) {
        return Ok(());
    }
    match &perms.check {
        Some(check) => exec_check(cfg, check, &auth.full(), params, false).map(|_| ()),
        None => Err(perm_exc(None)),
    }
}

/// Upstream's `exec_api2_perm_check`: `Ok(false)` only when `noerr`.
fn exec_check(
    cfg: &UserConfig,
    check: &Check,
    authid: &str,
    params: &Map<String, Value>,
    noerr: bool,
) -> Result<bool, ApiError> {
    let fail = |what: Option<&str>| {
        if noerr {
            Ok(false)
        } else {
            Err(perm_exc(what))
        }
    };
    match check {
        Check::And(list) => {
            for c in list {
                exec_check(cfg, c, authid, params, false)?;
            }
            Ok(true)
        }
        Check::Or(list) => {
            for c in list {
                if exec_check(cfg, c, authid, params, true)? {
                    return Ok(true);
                }
            }
            fail(None)
        }
        Check::Perm {
            path,
            privs,
            any,
            require_param,
        } => {
            if let Some(p) = require_param {
                if params.get(p).is_none_or(Value::is_null) {
                    return fail(None);
                }
            }
            let path = template_replace(path, params);
            let Some(path) = normalize_path(&path) else {
                return fail(None);
            };
            let privs: Vec<&str> = privs.iter().map(String::as_str).collect();
            match check_privs(cfg, authid, &path, &privs, *any) {
                Ok(()) => Ok(true),
                Err(_) if noerr => Ok(false),
                Err(e) => Err(e),
            }
        }
        Check::UseridGroup {
            privs,
            groups_param,
        } => userid_group(cfg, authid, params, privs, groups_param.as_deref(), noerr),
        Check::UseridParam(what) => {
            let userid = param_text(params, "userid").unwrap_or_default();
            let Some((_, realm)) = split_userid(&userid) else {
                return Err(ApiError::internal(format!(
                    "value '{userid}' does not look like a valid user name\n"
                )));
            };
            match what.as_str() {
                "self" => {
                    if !cfg.users.contains_key(&userid) {
                        return match noerr {
                            true => Ok(false),
                            false => {
                                Err(ApiError::internal(format!("no such user ('{userid}')\n")))
                            }
                        };
                    }
                    if authid == userid {
                        Ok(true)
                    } else {
                        fail(None)
                    }
                }
                "Realm.AllocateUser" => {
                    let path = format!("/access/realm/{realm}");
                    match check_privs(cfg, authid, &path, &["Realm.AllocateUser"], false) {
                        Ok(()) => Ok(true),
                        Err(_) if noerr => Ok(false),
                        Err(e) => Err(e),
                    }
                }
                other => Err(ApiError::internal(format!(
                    "unknown userid-param test '{other}'\n"
                ))),
            }
        }
        Check::PermModify(template) => {
            let Some(path) = normalize_path(&template_replace(template, params)) else {
                return Ok(false);
            };
            match check_privs(cfg, authid, &path, &perm_modify_privs(&path), true) {
                Ok(()) => Ok(true),
                Err(_) if noerr => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// The privileges of which any allows changing the ACL of `path` (upstream's
/// `check_perm_modify`): Permissions.Modify, or the allocate privilege of the object.
pub fn perm_modify_privs(path: &str) -> Vec<&'static str> {
    let mut privs = vec!["Permissions.Modify"];
    if path.starts_with("/storage/") && path.len() > 9 {
        privs.push("Datastore.Allocate");
    } else if path.starts_with("/vms/") && path.len() > 5 {
        privs.push("VM.Allocate");
    } else if path.starts_with("/pool/") && path.len() > 6 {
        privs.push("Pool.Allocate");
    }
    privs
}

fn userid_group(
    cfg: &UserConfig,
    authid: &str,
    params: &Map<String, Value>,
    privs: &[String],
    groups_param: Option<&str>,
    noerr: bool,
) -> Result<bool, ApiError> {
    let privs: Vec<&str> = privs.iter().map(String::as_str).collect();
    let userid = param_text(params, "userid").unwrap_or_default();
    let check_existing = groups_param != Some("create");
    if check_existing && !cfg.users.contains_key(&userid) {
        return match noerr {
            true => Ok(false),
            false => Err(ApiError::internal(format!("no such user ('{userid}')\n"))),
        };
    }
    if has_privs(cfg, authid, "/access/groups", &privs, true) {
        return Ok(true);
    }
    let joined = privs.join("|");
    let allowed: Vec<&String> = cfg
        .groups
        .keys()
        .filter(|g| has_privs(cfg, authid, &format!("/access/groups/{g}"), &privs, true))
        .collect();
    if groups_param.is_some() {
        let wanted = param_text(params, "groups").unwrap_or_default();
        let wanted = split_list(&wanted);
        if wanted.is_empty() {
            return Err(perm_exc(Some(&format!("/access/groups, {joined}"))));
        }
        for g in wanted {
            if !allowed.iter().any(|a| a.as_str() == g) {
                return Err(perm_exc(Some(&format!("/access/groups/{g}, {joined}"))));
            }
        }
    }
    if check_existing {
        let member = allowed.iter().any(|g| {
            cfg.groups
                .get(g.as_str())
                .is_some_and(|g| g.users.contains(&userid))
        });
        if !member {
            return match noerr {
                true => Ok(false),
                false => Err(perm_exc(None)),
            };
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg() -> UserConfig {
        UserConfig::parse(
            "user:alice@pve:1:0::::::\nuser:bob@pve:1:0::::::\nuser:eve@pve:1:0::::::\n\
             group:ops:alice@pve::\n\
             acl:1:/:bob@pve:PVEAuditor:\nacl:1:/access/groups/ops:eve@pve:PVEUserAdmin:\n\
             acl:1:/vms/100:alice@pve:PVEVMUser:\n",
        )
    }

    fn run(p: &Permissions, who: &str, params: Value) -> Result<(), String> {
        let auth = AuthId::parse(who).unwrap();
        check_api_permissions(&cfg(), Some(p), Some(&auth), params.as_object().unwrap())
            .map_err(|e| e.message)
    }

    #[test]
    fn perm_with_params() {
        let p = Permissions::check(Check::perm("/vms/{vmid}", &["VM.Audit"]));
        assert_eq!(run(&p, "alice@pve", json!({"vmid": 100})), Ok(()));
        assert_eq!(
            run(&p, "alice@pve", json!({"vmid": "101"})),
            Err("Permission check failed (/vms/101, VM.Audit)\n".into())
        );
        let p = Permissions::check(Check::perm("/", &["Sys.Audit", "Sys.Modify"]));
        assert_eq!(
            run(&p, "bob@pve", json!({})),
            Err("Permission check failed (/, Sys.Modify)\n".into())
        );
        let p = Permissions::check(Check::perm_any("/", &["Sys.Modify", "Sys.Audit"]));
        assert_eq!(run(&p, "bob@pve", json!({})), Ok(()));
        assert_eq!(
            run(&p, "alice@pve", json!({})),
            Err("Permission check failed (/, Sys.Modify|Sys.Audit)\n".into())
        );
        assert_eq!(template_replace("/x/{a}/{b}", &Map::new()), "/x/-/-");
    }

    #[test]
    fn combinators_and_user_checks() {
        let or = Permissions::check(Check::Or(vec![
            Check::UseridParam("self".into()),
            Check::perm("/", &["Sys.Modify"]),
        ]));
        assert_eq!(
            run(&or, "alice@pve", json!({"userid": "alice@pve"})),
            Ok(())
        );
        assert_eq!(
            run(&or, "bob@pve", json!({"userid": "alice@pve"})),
            Err("Permission check failed\n".into())
        );
        let grp = Permissions::check(Check::UseridGroup {
            privs: vec!["User.Modify".into()],
            groups_param: None,
        });
        assert_eq!(run(&grp, "eve@pve", json!({"userid": "alice@pve"})), Ok(()));
        assert!(run(&grp, "eve@pve", json!({"userid": "bob@pve"})).is_err());
        let realm = Permissions::check(Check::UseridParam("Realm.AllocateUser".into()));
        assert_eq!(
            run(&realm, "bob@pve", json!({"userid": "carol@pve"})),
            Err("Permission check failed (/access/realm/pve, Realm.AllocateUser)\n".into())
        );
        let none = Permissions::default();
        assert_eq!(
            run(&none, "bob@pve", json!({})),
            Err("Permission check failed\n".into())
        );
        let auth = AuthId::parse("bob@pve").unwrap();
        assert_eq!(
            check_api_permissions(&cfg(), None, Some(&auth), &Map::new())
                .unwrap_err()
                .message,
            "Permission check failed (user != root@pam)\n"
        );
        assert!(run(&Permissions::all_users(), "bob@pve", json!({})).is_ok());
        assert!(
            check_api_permissions(&cfg(), Some(&Permissions::world()), None, &Map::new()).is_ok()
        );
    }
}
