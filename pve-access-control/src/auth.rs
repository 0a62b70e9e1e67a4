//! Authentication: a user's password through its realm (`pam`, `pve`), and a request's
//! credentials (ticket cookie or API token, plus the CSRF token on writes) → [`AuthId`].

use pve_common::api::{ApiError, AuthId, HttpMethod};

use crate::csrf::verify_csrf_token;
use crate::domains::parse_domains;
use crate::ids::{split_tokenid, split_userid};
use crate::secrets::{parse_shadow_cfg, parse_token_cfg, token_secret_matches, verify_password};
use crate::store::ConfigFiles;
use crate::tickets::{now, verify_ticket};
use crate::user_cfg::UserConfig;

/// The PAM service name of the `pam` realm.
pub const PAM_SERVICE: &str = "proxmox-ve-auth";

/// Loads user.cfg (an absent file is the default config: root@pam only).
pub fn load_user_config(files: &ConfigFiles) -> std::io::Result<UserConfig> {
    Ok(UserConfig::parse(
        &files.read("user.cfg")?.unwrap_or_default(),
    ))
}

/// Upstream's `check_user_enabled`: exists, enabled, not expired.
pub fn check_user_enabled(cfg: &UserConfig, userid: &str) -> Result<(), String> {
    let Some(u) = cfg.users.get(userid) else {
        return Err(format!("no such user ('{userid}')"));
    };
    if !u.enable {
        return Err(format!("user '{userid}' is disabled"));
    }
    if u.expire != 0 && u.expire < now() {
        return Err(format!("user '{userid}' access expired"));
    }
    Ok(())
}

/// Checks `password` for `userid` through its realm; the error is the detail upstream
/// logs (callers answer a generic 401).
pub fn authenticate_user(files: &ConfigFiles, userid: &str, password: &str) -> Result<(), String> {
    let (name, realm) = split_userid(userid)
        .ok_or_else(|| format!("value '{userid}' does not look like a valid user name"))?;
    let cfg = load_user_config(files).map_err(|e| e.to_string())?;
    check_user_enabled(&cfg, userid)?;
    let domains = parse_domains(
        &files
            .read("domains.cfg")
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
    );
    let realm_cfg = domains
        .get(realm)
        .ok_or_else(|| format!("auth domain '{realm}' does not exist"))?;
    if password.is_empty() {
        return Err("no password".into());
    }
    match realm_cfg.realm_type.as_str() {
        "pve" => {
            let shadow = parse_shadow_cfg(
                &files
                    .read("priv/shadow.cfg")
                    .map_err(|e| e.to_string())?
                    .unwrap_or_default(),
            );
            let stored = shadow.get(name).ok_or("no password set")?;
            verify_password(password, stored)
                .then_some(())
                .ok_or_else(|| "invalid credentials".into())
        }
        "pam" => pam_authenticate(name, password),
        other => Err(format!("realm type '{other}' is not supported")),
    }
}

/// PAM authentication and account check with service `proxmox-ve-auth`.
pub fn pam_authenticate(user: &str, password: &str) -> Result<(), String> {
    let mut client = pam::Client::with_password(PAM_SERVICE)
        .map_err(|e| format!("error during PAM init: {e}"))?;
    client.conversation_mut().set_credentials(user, password);
    client.authenticate().map_err(|e| e.to_string())
}

/// Which credential a request carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// The `PVEAuthCookie` ticket (URL-decoded).
    Ticket(String),
    /// `user@realm!tokenid=secret` (URL-decoded).
    ApiToken(String),
}

/// `%XX` decoding only (`+` stays, as with Perl's `uri_unescape`).
fn url_decode(s: &str) -> String {
    crate::user_cfg::text::decode_text(s)
}

/// Finds the credential as upstream does: the `PVEAuthCookie` cookie, then an
/// `Authorization` header with `PVEAuthCookie=<ticket>`, then `PVEAPIToken=<id>=<secret>`
/// (or `PVEAPIToken <id>=<secret>`).
pub fn extract_credential(cookie: Option<&str>, authorization: Option<&str>) -> Option<Credential> {
    let from_pairs = |text: &str, sep: char| -> Option<String> {
        text.split(sep)
            .find_map(|p| p.trim().strip_prefix("PVEAuthCookie=").map(url_decode))
    };
    if let Some(t) = cookie
        .and_then(|c| from_pairs(c, ';'))
        .filter(|t| !t.is_empty())
    {
        return Some(Credential::Ticket(t));
    }
    let auth = authorization?.trim();
    if let Some(t) = from_pairs(auth, ';').filter(|t| !t.is_empty()) {
        return Some(Credential::Ticket(t));
    }
    let rest = auth.strip_prefix("PVEAPIToken")?;
    let rest = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' '))?;
    Some(Credential::ApiToken(url_decode(rest.trim())))
}

/// Checks an API token `user@realm!tokenid=secret` against user.cfg and token.cfg.
pub fn verify_api_token(
    files: &ConfigFiles,
    cfg: &UserConfig,
    value: &str,
) -> Result<AuthId, String> {
    let (full, secret) = value.rsplit_once('=').ok_or("no tokenid specified")?;
    let (user, token) = split_tokenid(full).ok_or_else(|| {
        format!("'{full}' is not a valid token ID - not able to split into user and token parts")
    })?;
    check_user_enabled(cfg, user)?;
    let info = cfg
        .token(user, token)
        .ok_or_else(|| format!("no such token '{token}' for user '{user}'"))?;
    if info.expire != 0 && info.expire < now() {
        return Err(format!("token '{token}' access expired"));
    }
    let stored = parse_token_cfg(
        &files
            .read("priv/token.cfg")
            .map_err(|e| e.to_string())?
            .unwrap_or_default(),
    );
    match stored.get(full) {
        Some(s) if token_secret_matches(s, secret) => Ok(AuthId {
            user: user.to_string(),
            token: Some(token.to_string()),
        }),
        _ => Err("invalid token value!".into()),
    }
}

/// The 401s of the authentication step (no body; the detail is only for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// `No ticket`, `Authentication failed!` or `Permission denied - invalid csrf token`.
    pub reason: &'static str,
    pub detail: String,
}

impl AuthFailure {
    fn new(reason: &'static str, detail: impl Into<String>) -> Self {
        Self {
            reason,
            detail: detail.into(),
        }
    }

    pub fn to_api_error(&self) -> ApiError {
        ApiError::new(401, self.reason)
    }
}

/// Authenticates a request: the ticket (signature, age, user enabled) or the API token;
/// with a ticket, a non-GET request needs a valid CSRF token unless `skip_csrf`
/// (pvedaemon behind pveproxy).
pub fn authenticate_request(
    files: &ConfigFiles,
    cfg: &UserConfig,
    credential: Option<&Credential>,
    method: HttpMethod,
    csrf_token: Option<&str>,
    skip_csrf: bool,
) -> Result<AuthId, AuthFailure> {
    let failed = |d: String| AuthFailure::new("Authentication failed!", d);
    match credential {
        None => Err(AuthFailure::new("No ticket", "no ticket")),
        Some(Credential::ApiToken(v)) => verify_api_token(files, cfg, v).map_err(failed),
        Some(Credential::Ticket(t)) => {
            let (userid, _) = verify_ticket(files, t).map_err(|e| failed(e.to_string()))?;
            if split_userid(&userid).is_none() {
                return Err(failed(format!("bad ticket data '{userid}'")));
            }
            check_user_enabled(cfg, &userid).map_err(failed)?;
            if method != HttpMethod::Get && !skip_csrf {
                let ok = csrf_token.is_some_and(|c| verify_csrf_token(files, &userid, c));
                if !ok {
                    return Err(AuthFailure::new(
                        "Permission denied - invalid csrf token",
                        "invalid csrf token",
                    ));
                }
            }
            Ok(AuthId {
                user: userid,
                token: None,
            })
        }
    }
}

#[cfg(test)]
mod tests;
