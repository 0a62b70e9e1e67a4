//! Who is calling. The server hands the request's headers to an [`Authenticator`]
//! (pve-access-control's, see [`super::access`]), which answers with a [`Session`]: the
//! caller's identity and the permission view of this one request.

use std::sync::Arc;

use hyper::HeaderMap;
use pve_common::api::{ApiError, AuthId, HttpMethod, PermissionChecker, Permissions};
use serde_json::{Map, Value};

/// One authenticated request.
pub trait Session: Send + Sync {
    fn auth(&self) -> &AuthId;
    /// Whether the caller used an API token (methods with `allowtoken: 0` refuse them).
    fn via_token(&self) -> bool;
    /// Privilege evaluation for handlers (`RpcEnv::check_privs`).
    fn permission_checker(&self) -> Option<Arc<dyn PermissionChecker>>;
    /// Evaluates a method's permission declaration (absent = root only) with the
    /// request's parameters; `Err` is upstream's 403.
    fn check_permissions(
        &self,
        permissions: Option<&Permissions>,
        params: &Map<String, Value>,
    ) -> Result<(), ApiError>;
}

/// Verifies the credentials of requests.
pub trait Authenticator: Send + Sync {
    /// The session of a request with valid credentials (ticket cookie or header, or API
    /// token; with a ticket, writes need a valid `CSRFPreventionToken` unless
    /// `check_csrf` is off), or the reason of the 401 (`No ticket`,
    /// `Authentication failed!`, `Permission denied - invalid csrf token`).
    fn authenticate(
        &self,
        headers: &HeaderMap,
        method: HttpMethod,
        check_csrf: bool,
    ) -> Result<Box<dyn Session>, String>;
}

/// The calls that need no credentials (upstream's list).
pub fn needs_no_auth(method: HttpMethod, api_path: &str) -> bool {
    let path = api_path.trim_end_matches('/');
    matches!(
        (method, path),
        (HttpMethod::Get, "/access/domains")
            | (HttpMethod::Get | HttpMethod::Post, "/access/ticket")
            | (HttpMethod::Post, "/access/vncticket")
            | (HttpMethod::Post, "/access/openid/login")
            | (HttpMethod::Post, "/access/openid/auth-url")
    )
}
