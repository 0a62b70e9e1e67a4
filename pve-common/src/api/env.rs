//! The environment a handler runs in: who calls, on which node, from where, and in
//! which process (CLI, pveproxy, pvedaemon).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::error::ApiError;
use crate::NodePaths;

/// Evaluates privileges on ACL paths; pve-access-control provides the real one (the
/// ACL tree of user.cfg). Kept behind a trait so the registry does not depend on it.
pub trait PermissionChecker: Send + Sync {
    /// Whether `auth` has `privs` on `path` (all of them, or any with `any`).
    fn has_privs(&self, auth: &AuthId, path: &str, privs: &[&str], any: bool) -> bool;
}

/// Who is calling: a user (`user@realm`) or an API token (`user@realm!tokenid`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthId {
    pub user: String,
    pub token: Option<String>,
}

impl AuthId {
    pub fn root() -> Self {
        Self {
            user: "root@pam".into(),
            token: None,
        }
    }

    /// Parses `user@realm` or `user@realm!tokenid`.
    pub fn parse(text: &str) -> Option<Self> {
        let (user, token) = match text.split_once('!') {
            Some((u, t)) if !t.is_empty() => (u, Some(t.to_string())),
            Some(_) => return None,
            None => (text, None),
        };
        let (name, realm) = user.rsplit_once('@')?;
        if name.is_empty() || realm.is_empty() {
            return None;
        }
        Some(Self {
            user: user.to_string(),
            token,
        })
    }

    pub fn is_root(&self) -> bool {
        self.user == "root@pam" && self.token.is_none()
    }

    /// The id as it appears in UPIDs and logs.
    pub fn full(&self) -> String {
        match &self.token {
            Some(t) => format!("{}!{t}", self.user),
            None => self.user.clone(),
        }
    }
}

/// Which program runs the handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvKind {
    /// `qm`, `pct`, `pvesh`, …: in-process as root@pam; workers run in the foreground.
    Cli,
    /// pveproxy (www-data, untrusted).
    Proxy,
    /// pvedaemon (root).
    Daemon,
}

/// The environment of one call.
#[derive(Clone)]
pub struct RpcEnv {
    pub auth: AuthId,
    pub node: String,
    pub client_ip: Option<IpAddr>,
    pub kind: EnvKind,
    pub paths: NodePaths,
    /// `None` grants nothing to anyone but root@pam.
    pub permissions: Option<Arc<dyn PermissionChecker>>,
}

impl fmt::Debug for RpcEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpcEnv")
            .field("auth", &self.auth)
            .field("node", &self.node)
            .field("client_ip", &self.client_ip)
            .field("kind", &self.kind)
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

impl RpcEnv {
    /// A CLI environment: root@pam on this node.
    pub fn cli(paths: NodePaths) -> Self {
        Self {
            auth: AuthId::root(),
            node: local_node_name(),
            client_ip: None,
            kind: EnvKind::Cli,
            paths,
            permissions: None,
        }
    }

    /// Whether the caller has `privs` on `path` (root@pam has everything).
    pub fn has_privs(&self, path: &str, privs: &[&str], any: bool) -> bool {
        self.auth.is_root()
            || self
                .permissions
                .as_ref()
                .is_some_and(|c| c.has_privs(&self.auth, path, privs, any))
    }

    /// [`Self::has_privs`], or upstream's 403: `Permission check failed (path, P)` naming
    /// the first missing privilege, or all of them joined by `|` with `any`.
    pub fn check_privs(&self, path: &str, privs: &[&str], any: bool) -> Result<(), ApiError> {
        if any {
            return match self.has_privs(path, privs, true) {
                true => Ok(()),
                false => Err(ApiError::permission(path, &privs.join("|"))),
            };
        }
        match privs.iter().find(|p| !self.has_privs(path, &[p], false)) {
            None => Ok(()),
            Some(missing) => Err(ApiError::permission(path, missing)),
        }
    }
}

/// This node's name: the short host name (`PVE_NODE_NAME` overrides it, so that several
/// simulated nodes can share one host).
pub fn local_node_name() -> String {
    if let Ok(name) = std::env::var("PVE_NODE_NAME") {
        if !name.is_empty() {
            return name;
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length, and gethostname NUL-terminates
    // within it on success (we pass one byte less to be sure).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let full = String::from_utf8_lossy(&buf[..end]).into_owned();
    full.split('.').next().unwrap_or("localhost").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_ids() {
        let t = AuthId::parse("alice@pve!automation").unwrap();
        assert_eq!(t.user, "alice@pve");
        assert_eq!(t.full(), "alice@pve!automation");
        assert!(AuthId::parse("root@pam").unwrap().is_root());
        assert!(AuthId::parse("nobody").is_none());
        assert!(AuthId::parse("a@b!").is_none());
    }
}
