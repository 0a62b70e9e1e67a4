//! What the tests against real sockets share: a node root, a self-signed certificate,
//! pvedaemon (plain HTTP) and pveproxy (TLS, handing protected calls to pvedaemon)
//! started in-process with pve-access-control's real authentication, and the
//! third-party client venv.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pve_common::api::EnvKind;
use pve_common::NodePaths;
use pve_manager::http::{serve, AccessControl, Listening, ServerContext, TlsFiles};

/// A fresh, empty node root under the temp dir, unique to this process and `name`.
pub fn node_root(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/pve/priv")).unwrap();
    root
}

pub fn tls_files(dir: &Path) -> TlsFiles {
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut b = openssl::x509::X509::builder().unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    let (cert, keyf) = (dir.join("proxy-ssl.pem"), dir.join("proxy-ssl.key"));
    std::fs::write(&cert, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(&keyf, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    TlsFiles { cert, key: keyf }
}

pub struct Servers {
    pub daemon: SocketAddr,
    pub proxy: SocketAddr,
    listening: Vec<Listening>,
}

impl Servers {
    pub async fn shutdown(self) {
        for s in self.listening {
            s.shutdown(Duration::from_secs(5)).await;
        }
    }
}

/// pvedaemon and pveproxy for node `node` on `root`, with a short delay on failed logins.
pub async fn start_servers(root: &Path, node: &str) -> Servers {
    start_servers_at(root, node, "127.0.0.1:0".parse().unwrap()).await
}

/// [`start_servers`] with pvedaemon on `daemon_addr`.
pub async fn start_servers_at(root: &Path, node: &str, daemon_addr: SocketAddr) -> Servers {
    let ctx = |kind, daemon| {
        Arc::new(ServerContext {
            root: Arc::new(pve_manager::api::root()),
            paths: NodePaths::new(root),
            node: node.into(),
            kind,
            auth: Arc::new(AccessControl::new(NodePaths::new(root))),
            daemon,
            auth_failure_delay: Duration::from_millis(20),
        })
    };
    let d = serve(ctx(EnvKind::Daemon, None), daemon_addr, None)
        .await
        .unwrap();
    let p = serve(
        ctx(EnvKind::Proxy, Some(d.addr)),
        "127.0.0.1:0".parse().unwrap(),
        Some(tls_files(root)),
    )
    .await
    .unwrap();
    Servers {
        daemon: d.addr,
        proxy: p.addr,
        listening: vec![p, d],
    }
}

/// The venv's python with proxmoxer, or `None` (the caller prints `SKIP`, or fails with
/// `PVE_TEST_REQUIRE_HOST=1`).
pub fn client_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PVE_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pve-client-venv"));
    let python = venv.join("bin/python3");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import proxmoxer, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

/// Skips (prints `SKIP: …` and returns true) unless the host must have the feature.
pub fn skip(reason: &str) -> bool {
    assert!(
        std::env::var_os("PVE_TEST_REQUIRE_HOST").is_none(),
        "{reason} (PVE_TEST_REQUIRE_HOST is set)"
    );
    println!("SKIP: {reason}");
    true
}
