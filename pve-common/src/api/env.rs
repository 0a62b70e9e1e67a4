//! The environment a handler runs in: who calls, on which node, from where, and in
//! which process (CLI, pveproxy, pvedaemon).

use std::net::IpAddr;

use crate::NodePaths;

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
#[derive(Clone, Debug)]
pub struct RpcEnv {
    pub auth: AuthId,
    pub node: String,
    pub client_ip: Option<IpAddr>,
    pub kind: EnvKind,
    pub paths: NodePaths,
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
