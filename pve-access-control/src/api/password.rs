//! `PUT /access/password` and the realms' password stores (`pve`: priv/shadow.cfg,
//! `pam`: the system's shadow file through `usermod`).

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use super::{files, internal, load_cfg, no_such_user, perms};
use crate::auth::{authenticate_user, check_user_enabled};
use crate::domains::parse_domains;
use crate::ids::split_userid;
use crate::secrets::{encrypt_password, parse_shadow_cfg, write_shadow_cfg};

pub fn router() -> Router {
    Router::new().method(change_password_method())
}

/// Changes the shadow.cfg entries of the `pve` realm under its lock.
fn edit_pve_shadow(
    env: &RpcEnv,
    f: impl FnOnce(&mut std::collections::BTreeMap<String, String>),
) -> Result<(), ApiError> {
    let files = files(env);
    let _lock = files
        .lock("shadow.cfg")
        .map_err(|e| internal(format!("can't lock file 'priv/shadow.cfg' - {e}")))?;
    let mut shadow = parse_shadow_cfg(
        &files
            .read("priv/shadow.cfg")
            .map_err(internal)?
            .unwrap_or_default(),
    );
    f(&mut shadow);
    files
        .write("priv/shadow.cfg", write_shadow_cfg(&shadow).as_bytes())
        .map_err(internal)
}

/// Upstream's `domain_set_password`: stores `password` for `name` in `realm`.
pub(super) fn set_password(
    env: &RpcEnv,
    realm: &str,
    name: &str,
    password: &str,
) -> Result<(), ApiError> {
    let domains = parse_domains(
        &files(env)
            .read("domains.cfg")
            .map_err(internal)?
            .unwrap_or_default(),
    );
    let cfg = domains
        .get(realm)
        .ok_or_else(|| ApiError::internal(format!("auth domain '{realm}' does not exist\n")))?;
    let hash = encrypt_password(password).ok_or_else(|| internal("unable to encrypt password"))?;
    match cfg.realm_type.as_str() {
        "pve" => edit_pve_shadow(env, |s| {
            s.insert(name.to_string(), hash);
        }),
        "pam" => {
            let out = std::process::Command::new("usermod")
                .args(["-p", &hash, name])
                .output()
                .map_err(|e| internal(format!("change password failed: {e}")))?;
            if !out.status.success() {
                return Err(internal(format!(
                    "change password failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            Ok(())
        }
        other => Err(ApiError::internal(format!(
            "can't set password on auth type '{other}'\n"
        ))),
    }
}

/// The `pve` realm's `delete_user`: drops the shadow entry.
pub(super) fn remove_pve_password(env: &RpcEnv, name: &str) -> Result<(), ApiError> {
    edit_pve_shadow(env, |s| {
        s.remove(name);
    })
}

fn perm_denied() -> ApiError {
    ApiError::new(403, "Permission check failed\n")
}

fn change_password(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let userid = p.required_str("userid")?;
    let password = p.required_str("password")?;
    let authuser = env.auth.full();
    let (name, realm) = split_userid(&userid).ok_or_else(|| {
        ApiError::internal(format!(
            "value '{userid}' does not look like a valid user name\n"
        ))
    })?;
    let cfg = load_cfg(env)?;
    if !cfg.users.contains_key(&userid) {
        return Err(no_such_user(&userid));
    }
    if authuser != "root@pam" {
        if userid == "root@pam" {
            return Err(perm_denied());
        }
        // everyone but root confirms the change with their own password
        let Some(confirm) = p.str("confirmation-password") else {
            return Err(ApiError::parameter(
                "confirmation-password",
                "password is required to modify user",
            ));
        };
        authenticate_user(&files(env), &authuser, &confirm)
            .map_err(|e| ApiError::internal(format!("{e}\n")))?;
        if authuser == userid {
            check_user_enabled(&cfg, &userid).map_err(|e| ApiError::internal(format!("{e}\n")))?;
        } else if realm == "pam" {
            return Err(perm_denied());
        }
    }
    set_password(env, realm, name, &password)?;
    Ok(Value::Null.into())
}

fn change_password_method() -> ApiMethod {
    ApiMethod::new("change_password", HttpMethod::Put, "Change user password.", change_password)
    .param("confirmation-password", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The current password of the user performing the change.", "maxLength": 64, "minLength": 5, "optional": 1, "type": "string", "typetext": "<string>"}"#)))
    .param("password", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The new password.", "maxLength": 64, "minLength": 8, "type": "string", "typetext": "<string>"}"#)))
    .param("userid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Full User ID, in the `name@realm` format.", "format": "pve-userid", "maxLength": 64, "type": "string", "typetext": "<string>"}"#)))
    .permissions(perms(pve_common::schema::json_lit(r#"{"check": ["or", ["userid-param", "self"], ["and", ["userid-param", "Realm.AllocateUser"], ["userid-group", ["User.Modify"]]]], "description": "Each user is allowed to change their own password. A user can change the password of another user if they have 'Realm.AllocateUser' (on the realm of user <userid>) and 'User.Modify' permission on /access/groups/<group> on a group where user <userid> is member of. For the PAM realm, a password change does not take  effect cluster-wide, but only applies to the local node."}"#)))
    .protected()
    .no_token()
    .returns(Schema::literal(json!({"type": "null"})))
}
