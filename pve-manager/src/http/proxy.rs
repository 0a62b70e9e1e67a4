//! `proxyto`: a call for another cluster node goes to that node's pveproxy (HTTPS on
//! :8006), as upstream's server does. The node's address comes from the cluster's member
//! list (`.members`), else from a host name lookup; the peer's certificate is pinned to
//! the SHA-256 fingerprint of its `nodes/NODE/pve-ssl.pem` (or `pveproxy-ssl.pem`) in
//! the cluster file system. The caller's credentials and address travel along, with
//! `PVEDisableProxy` so that the other node never forwards again (the exchange itself is
//! [`super::forward::exchange`], shared with the hand-over to pvedaemon).

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::X509;
use pve_common::api::ApiError;
use pve_common::NodePaths;

use super::handler::Reply;

/// The port every node's pveproxy listens on (`PVE_REMOTE_PROXY_PORT` for tests that run
/// several nodes on one machine).
fn remote_port() -> u16 {
    std::env::var("PVE_REMOTE_PROXY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8006)
}

/// The address of cluster node `node` (upstream's `remote_node_ip`).
pub fn remote_node_ip(paths: &NodePaths, node: &str) -> Result<IpAddr, ApiError> {
    pve_cluster::cfs::remote_node_ip(paths, node).map_err(|e| ApiError::internal(format!("{e}\n")))
}

/// The fingerprints a node's pveproxy may present.
fn pinned_fingerprints(paths: &NodePaths, node: &str) -> Vec<Vec<u8>> {
    ["pve-ssl.pem", "pveproxy-ssl.pem"]
        .iter()
        .filter_map(|f| std::fs::read(paths.pve_file(&format!("nodes/{node}/{f}"))).ok())
        .filter_map(|pem| X509::from_pem(&pem).ok())
        .filter_map(|c| c.digest(MessageDigest::sha256()).ok())
        .map(|d| d.to_vec())
        .collect()
}

/// What goes to the other node: the call as pvedaemon would get it, and where to.
pub struct Remote {
    pub node: String,
    pub ip: IpAddr,
    pub call: super::forward::Forward,
}

/// Sends the call to the other node's pveproxy and returns its answer. A node that cannot
/// be reached answers 595 with the reason, as upstream's HTTP client reports it.
pub async fn proxy(paths: &NodePaths, r: Remote) -> Reply {
    let pins = pinned_fingerprints(paths, &r.node);
    let result = tokio::time::timeout(Duration::from_secs(30), send(pins, r)).await;
    match result {
        Ok(Ok(reply)) => reply,
        Ok(Err(e)) => Reply {
            status: 595,
            reason: e,
            body: None,
        },
        Err(_) => Reply {
            status: 595,
            reason: "Connection timed out".into(),
            body: None,
        },
    }
}

async fn send(pins: Vec<Vec<u8>>, r: Remote) -> Result<Reply, String> {
    let addr = SocketAddr::new(r.ip, remote_port());
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    // Only the node's own certificate is accepted, whatever signed it.
    b.set_verify_callback(SslVerifyMode::PEER, move |_preverified, ctx| {
        if ctx.error_depth() != 0 {
            return true;
        }
        ctx.current_cert()
            .and_then(|c| c.digest(MessageDigest::sha256()).ok())
            .is_some_and(|d| pins.iter().any(|p| p.as_slice() == &d[..]))
    });
    let connector = b.build();
    let ssl = connector
        .configure()
        .map_err(|e| e.to_string())?
        .verify_hostname(false)
        .into_ssl(&r.node)
        .map_err(|e| e.to_string())?;
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut tls)
        .connect()
        .await
        .map_err(|e| format!("TLS connection to {} failed - {e}", r.node))?;
    super::forward::exchange(tls, r.call).await
}
