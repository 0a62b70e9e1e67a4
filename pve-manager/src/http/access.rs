//! The servers' [`Authenticator`] over pve-access-control: tickets, API tokens, CSRF
//! tokens and ACLs from the node's user.cfg, token.cfg and keys.

use std::sync::Arc;

use hyper::HeaderMap;
use pve_access_control::acl::UserConfigChecker;
use pve_access_control::auth::{authenticate_request, extract_credential, Credential};
use pve_access_control::perm_check::check_api_permissions;
use pve_access_control::store::ConfigFiles;
use pve_access_control::user_cfg::UserConfig;
use pve_common::api::{ApiError, AuthId, HttpMethod, PermissionChecker, Permissions};
use pve_common::NodePaths;
use serde_json::{Map, Value};

use super::auth::{Authenticator, Session};

pub struct AccessControl {
    files: ConfigFiles,
    /// The last parsed user.cfg and its text: parsed again only when the text changes.
    user_cfg: std::sync::Mutex<Option<(String, Arc<UserConfig>)>>,
}

impl AccessControl {
    pub fn new(paths: NodePaths) -> Self {
        Self {
            files: ConfigFiles::new(paths),
            user_cfg: Default::default(),
        }
    }

    fn user_config(&self) -> std::io::Result<Arc<UserConfig>> {
        let text = self.files.read("user.cfg")?.unwrap_or_default();
        let mut cached = self.user_cfg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((raw, cfg)) = cached.as_ref() {
            if *raw == text {
                return Ok(cfg.clone());
            }
        }
        let cfg = Arc::new(UserConfig::parse(&text));
        *cached = Some((text, cfg.clone()));
        Ok(cfg)
    }
}

struct AclSession {
    cfg: Arc<UserConfig>,
    auth: AuthId,
    via_token: bool,
}

impl Session for AclSession {
    fn auth(&self) -> &AuthId {
        &self.auth
    }
    fn via_token(&self) -> bool {
        self.via_token
    }
    fn permission_checker(&self) -> Option<Arc<dyn PermissionChecker>> {
        Some(Arc::new(UserConfigChecker::new(self.cfg.clone())))
    }
    fn check_permissions(
        &self,
        perms: Option<&Permissions>,
        params: &Map<String, Value>,
    ) -> Result<(), ApiError> {
        check_api_permissions(&self.cfg, perms, Some(&self.auth), params)
    }
}

/// All values of a header, joined as one (cookies may come in several headers).
fn header_text(headers: &HeaderMap, name: hyper::header::HeaderName) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join("; "))
}

impl Authenticator for AccessControl {
    fn authenticate(
        &self,
        headers: &HeaderMap,
        method: HttpMethod,
        check_csrf: bool,
    ) -> Result<Box<dyn Session>, String> {
        // An unreadable user.cfg fails every login, as upstream.
        let cfg = self
            .user_config()
            .map_err(|_| "Authentication failed!".to_string())?;
        let cookie = header_text(headers, hyper::header::COOKIE);
        let authorization = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let credential = extract_credential(cookie.as_deref(), authorization);
        let via_token = matches!(credential, Some(Credential::ApiToken(_)));
        let csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok());
        let auth = authenticate_request(
            &self.files,
            &cfg,
            credential.as_ref(),
            method,
            csrf,
            !check_csrf,
        )
        .map_err(|f| f.reason.to_string())?;
        Ok(Box::new(AclSession {
            cfg,
            auth,
            via_token,
        }))
    }
}
