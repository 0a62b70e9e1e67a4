//! Who is calling: the credentials of a request (ticket cookie, API token, CSRF header)
//! and the seam to pve-access-control, which verifies them and evaluates permissions.

use std::sync::Arc;

use hyper::HeaderMap;
use pve_common::api::{ApiError, AuthId, PermissionChecker, Permissions, RpcEnv};
use serde_json::{Map, Value};

/// The credentials found in a request, in upstream's order of precedence.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// From `Cookie: PVEAuthCookie=…` or `Authorization: PVEAuthCookie=…`.
    pub ticket: Option<String>,
    /// From `Authorization: PVEAPIToken=user@realm!id=secret` (or with a space).
    pub api_token: Option<String>,
    /// The `CSRFPreventionToken` header.
    pub csrf: Option<String>,
}

fn url_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl Credentials {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut c = Credentials::default();
        for cookie in headers.get_all(hyper::header::COOKIE) {
            let Ok(text) = cookie.to_str() else { continue };
            for part in text.split(';') {
                if let Some(v) = part.trim().strip_prefix("PVEAuthCookie=") {
                    if c.ticket.is_none() && !v.is_empty() {
                        c.ticket = Some(url_decode(v));
                    }
                }
            }
        }
        if let Some(auth) = headers
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(v) = auth.strip_prefix("PVEAuthCookie=") {
                if c.ticket.is_none() {
                    c.ticket = Some(url_decode(v));
                }
            } else if let Some(rest) = auth.strip_prefix("PVEAPIToken") {
                if let Some(v) = rest.strip_prefix('=').or_else(|| rest.strip_prefix(' ')) {
                    c.api_token = Some(url_decode(v.trim()));
                }
            }
        }
        c.csrf = headers
            .get("CSRFPreventionToken")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        c
    }
}

/// How the caller authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKind {
    Ticket(String),
    ApiToken(String),
}

/// Verifies credentials and evaluates permissions; implemented over pve-access-control.
pub trait Authenticator: Send + Sync {
    /// The user of a valid ticket, or the 401 reason (`Authentication failed!`).
    fn verify_ticket(&self, ticket: &str) -> Result<AuthId, String>;
    /// Whether `token` is a valid CSRF prevention token of `userid`.
    fn verify_csrf(&self, token: &str, userid: &str) -> bool;
    /// The token id of a valid `user@realm!id=secret`, or the 401 reason.
    fn verify_api_token(&self, value: &str) -> Result<AuthId, String>;
    /// Privilege evaluation for handlers (`RpcEnv::check_privs`).
    fn permission_checker(&self) -> Option<Arc<dyn PermissionChecker>>;
    /// Evaluates a method's permission declaration (absent = root only) for the caller
    /// with the request's parameters; `Err` is upstream's 403.
    fn check_permissions(
        &self,
        env: &RpcEnv,
        permissions: Option<&Permissions>,
        params: &Map<String, Value>,
    ) -> Result<(), ApiError>;
}

/// The calls that need no credentials (upstream's list).
pub fn needs_no_auth(method: &hyper::Method, api_path: &str) -> bool {
    use hyper::Method;
    let path = api_path.trim_end_matches('/');
    matches!(
        (method, path),
        (&Method::GET, "/access/domains")
            | (&Method::GET | &Method::POST, "/access/ticket")
            | (&Method::POST, "/access/vncticket")
            | (&Method::POST, "/access/openid/login")
            | (&Method::POST, "/access/openid/auth-url")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn credentials_in_upstream_order() {
        let c = Credentials::from_headers(&headers(&[
            (
                "cookie",
                "a=b; PVEAuthCookie=PVE%3Aroot%40pam%3A6B000000%3A%3Asig",
            ),
            ("authorization", "PVEAuthCookie=other"),
            ("CSRFPreventionToken", "6B000000:abc"),
        ]));
        assert_eq!(c.ticket.as_deref(), Some("PVE:root@pam:6B000000::sig"));
        assert_eq!(c.csrf.as_deref(), Some("6B000000:abc"));
        let t =
            Credentials::from_headers(&headers(&[("authorization", "PVEAPIToken=a@pve!t=00-11")]));
        assert_eq!(t.api_token.as_deref(), Some("a@pve!t=00-11"));
        let s =
            Credentials::from_headers(&headers(&[("authorization", "PVEAPIToken a@pve!t=00-11")]));
        assert_eq!(s.api_token, t.api_token);
        assert_eq!(
            Credentials::from_headers(&HeaderMap::new()),
            Credentials::default()
        );
    }
}
