//! `/access/ticket`: log in (or renew, or verify privileges) and the dummy GET.

use std::collections::BTreeMap;

use pve_common::api::{ApiError, ApiMethod, HttpMethod, Permissions, Router};
use pve_common::schema::{split_list, Schema};
use serde_json::{json, Map, Value};

use super::files;
use crate::acl::permissions;
use crate::auth::{authenticate_user, check_user_enabled, load_user_config};
use crate::csrf::assemble_csrf_token;
use crate::tickets::{assemble_ticket, verify_ticket};
use crate::user_cfg::UserConfig;

pub fn router() -> Router {
    Router::new().method(get_ticket()).method(create_ticket())
}

fn get_ticket() -> ApiMethod {
    ApiMethod::new(
        "get_ticket",
        HttpMethod::Get,
        "Dummy. Useful for formatters which want to provide a login page.",
        |_, _| Ok(Value::Null.into()),
    )
    .permissions(Permissions::world())
}

fn auth_failure() -> ApiError {
    ApiError::new(401, "authentication failure\n")
}

/// The GUI's capability map (`cap`): privileges by top-level area.
pub fn compute_api_permission(cfg: &UserConfig, authid: &str) -> Value {
    let areas: [(&str, &[&str]); 7] = [
        ("vms", &["VM.", "Permissions.Modify"]),
        ("access", &["User.", "Group.", "Permissions.Modify"]),
        ("storage", &["Datastore.", "Permissions.Modify"]),
        ("nodes", &["Sys.", "Permissions.Modify"]),
        ("sdn", &["SDN.", "Permissions.Modify"]),
        ("dc", &["Sys.Audit", "Sys.Modify", "SDN."]),
        ("mapping", &["Mapping.", "Permissions.Modify"]),
    ];
    let mut res: BTreeMap<&str, Map<String, Value>> =
        areas.iter().map(|(a, _)| (*a, Map::new())).collect();
    let mut paths: Vec<String> = [
        "/",
        "/nodes",
        "/access/groups",
        "/vms",
        "/storage",
        "/sdn",
        "/mapping",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cfg.acl_root.walk(&mut |p, _| paths.push(p.to_string()));
    let mut seen = std::collections::BTreeSet::new();
    for path in paths {
        if !seen.insert(path.clone()) {
            continue;
        }
        let privs = permissions(cfg, authid, &path);
        let top = path
            .strip_prefix('/')
            .and_then(|p| p.split('/').next())
            .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .unwrap_or("dc");
        if top == "pool" {
            for p in privs.keys() {
                if p.starts_with("VM.") {
                    res.entry("vms").or_default().insert(p.clone(), json!(1));
                } else if p.starts_with("Datastore.") {
                    res.entry("storage")
                        .or_default()
                        .insert(p.clone(), json!(1));
                } else if p == "Permissions.Modify" {
                    res.entry("storage")
                        .or_default()
                        .insert(p.clone(), json!(1));
                    res.entry("vms").or_default().insert(p.clone(), json!(1));
                }
            }
            continue;
        }
        let Some((area, prefixes)) = areas.iter().find(|(a, _)| *a == top) else {
            continue;
        };
        for p in privs.keys() {
            if prefixes.iter().any(|x| p.starts_with(x)) {
                res.entry(area).or_default().insert(p.clone(), json!(1));
            }
        }
    }
    json!(res)
}

fn create_ticket() -> ApiMethod {
    ApiMethod::new(
        "create_ticket",
        HttpMethod::Post,
        "Create or verify authentication ticket.",
        |env, p| {
            let files = files(env);
            let mut username = p.required_str("username")?;
            let password = p.required_str("password")?;
            if let Some(realm) = p.str("realm") {
                username = format!("{username}@{realm}");
            }
            if p.str("tfa-challenge").is_some() || p.str("otp").is_some() {
                // No second factors are configured by this implementation yet.
                return Err(auth_failure());
            }
            let cfg = load_user_config(&files).map_err(|_| auth_failure())?;
            // A still-valid ticket works as the password (renewal); root@pam may mint
            // tickets for other users that way.
            let by_ticket = verify_ticket(&files, &password).ok().map(|(u, _)| u);
            match by_ticket {
                Some(owner) if owner == username || owner == "root@pam" => {
                    check_user_enabled(&cfg, &username).map_err(|_| auth_failure())?;
                }
                _ => authenticate_user(&files, &username, &password).map_err(|_| auth_failure())?,
            }
            if let (Some(path), Some(privs)) = (p.str("path"), p.str("privs")) {
                let privs: Vec<&str> = split_list(&privs);
                if !crate::acl::has_privs(&cfg, &username, &path, &privs, false) {
                    return Err(ApiError::permission(&path, &privs.join(",")));
                }
                return Ok(json!({ "username": username }).into());
            }
            let ticket = assemble_ticket(&files, &username).map_err(super::internal)?;
            let csrf = assemble_csrf_token(&files, &username).map_err(super::internal)?;
            Ok(json!({
                "username": username,
                "ticket": ticket,
                "CSRFPreventionToken": csrf,
                "cap": compute_api_permission(&cfg, &username),
            })
            .into())
        },
    )
    .param("new-format", Schema::literal(pve_common::schema::json_lit(r#"{"default": 1, "description": "This parameter is now ignored and assumed to be 1.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}"#)))
    .param("otp", Schema::literal(pve_common::schema::json_lit(r#"{"description": "One-time password for Two-factor authentication.", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("password", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The secret password. This can also be a valid ticket.", "type": "string", "typetext": "<string>"}"#)))
    .param("path", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Verify ticket, and check if user have access 'privs' on 'path'", "maxLength": 64, "optional": 1, "requires": "privs", "type": "string", "typetext": "<string>"}"#)))
    .param("privs", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Verify ticket, and check if user have access 'privs' on 'path'", "format": "pve-priv-list", "maxLength": 64, "optional": 1, "requires": "path", "type": "string", "typetext": "<string>"}"#)))
    .param("realm", Schema::literal(pve_common::schema::json_lit(r#"{"description": "You can optionally pass the realm using this parameter. Normally the realm is simply added to the username <username>@<realm>.", "format": "pve-realm", "maxLength": 32, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("tfa-challenge", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The signed TFA challenge string the user wants to respond to.", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("username", Schema::literal(pve_common::schema::json_lit(r#"{"description": "User name", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(Permissions::world().with_description("You need to pass valid credientials."))
    .protected()
    .no_token()
    .returns(Schema::literal(pve_common::schema::json_lit(r#"{"properties": {
        "CSRFPreventionToken": {"optional": 1, "type": "string"},
        "clustername": {"optional": 1, "type": "string"},
        "ticket": {"optional": 1, "type": "string"},
        "username": {"type": "string"}}, "type": "object"}"#)))
}
