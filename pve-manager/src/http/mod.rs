//! The API servers: pveproxy (TLS on :8006, untrusted, hands protected calls to
//! pvedaemon) and pvedaemon (plain HTTP on 127.0.0.1:85, root). Both serve the same
//! registry with upstream's URL layout, envelopes, status lines and error texts.

pub mod access;
mod answers;
pub mod auth;
pub mod envelope;
mod forward;
pub mod handler;
pub mod params;
mod proxy;
mod server;
pub mod upload;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pve_common::api::{EnvKind, Router};
use pve_common::NodePaths;

pub use access::AccessControl;
pub use auth::{Authenticator, Session};
pub use server::{serve, Listening, TlsFiles};

/// Everything a server needs to answer requests.
pub struct ServerContext {
    pub root: Arc<Router>,
    pub paths: NodePaths,
    pub node: String,
    /// `Proxy` (pveproxy) or `Daemon` (pvedaemon).
    pub kind: EnvKind,
    pub auth: Arc<dyn Authenticator>,
    /// Where pveproxy sends `protected` calls (pvedaemon).
    pub daemon: Option<SocketAddr>,
    /// How long a failed authentication waits before its 401 (upstream: 3 s).
    pub auth_failure_delay: Duration,
}
