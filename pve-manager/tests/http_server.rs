//! The API servers over real sockets: pvedaemon (plain HTTP) and pveproxy (TLS, handing
//! protected calls to pvedaemon), with upstream's status lines, envelopes and headers.
//! Credentials are checked by a small test authenticator; pve-access-control's real one
//! is tested on its own.

mod common;

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use pve_access_control::store::ConfigFiles;
use pve_common::NodePaths;
use serde_json::{json, Value};

/// The node's user.cfg: alice is PVEVMUser on /vms/100 and has a token there.
const USER_CFG: &str = "user:alice@pve:1:0:Alice:::::\ntoken:alice@pve!auto:0:1::\nuser:root@pam:1:0:::::::\n\nacl:1:/vms/100:alice@pve:PVEVMUser:\n";
const TOKEN_SECRET: &str = "6f1c9c0e-7bd0-4a39-9d4c-2f1e3b0c9a11";

struct Creds {
    root_cookie: String,
    root_csrf: String,
    alice_cookie: String,
}

fn setup_access(root: &std::path::Path) -> Creds {
    let pve = root.join("etc/pve");
    std::fs::create_dir_all(pve.join("priv")).unwrap();
    std::fs::write(pve.join("user.cfg"), USER_CFG).unwrap();
    std::fs::write(
        pve.join("priv/token.cfg"),
        format!("alice@pve!auto {TOKEN_SECRET}\n"),
    )
    .unwrap();
    let files = ConfigFiles::new(NodePaths::new(root));
    let ticket = |u: &str| {
        let t = pve_access_control::tickets::assemble_ticket(&files, u).unwrap();
        format!(
            "PVEAuthCookie={}",
            percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    Creds {
        root_cookie: ticket("root@pam"),
        root_csrf: pve_access_control::csrf::assemble_csrf_token(&files, "root@pam").unwrap(),
        alice_cookie: ticket("alice@pve"),
    }
}

struct Node {
    daemon: SocketAddr,
    proxy: SocketAddr,
    root: std::path::PathBuf,
}

async fn start() -> (Node, Creds, common::Servers) {
    let root = std::env::temp_dir().join(format!(
        "http-server-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let creds = setup_access(&root);
    let servers = common::start_servers(&root, "n1").await;
    let node = Node {
        daemon: servers.daemon,
        proxy: servers.proxy,
        root,
    };
    (node, creds, servers)
}

struct Answer {
    status: u16,
    reason: String,
    headers: hyper::HeaderMap,
    body: Option<Value>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr, tls: bool) -> Sender {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    if tls {
        let mut c = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
        c.set_verify(openssl::ssl::SslVerifyMode::NONE);
        let ssl = c
            .build()
            .configure()
            .unwrap()
            .into_ssl("localhost")
            .unwrap();
        let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut s).connect().await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    } else {
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender
    }
}

async fn send(
    s: &mut Sender,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut r = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if !body.is_empty() {
        r = r.header("content-type", "application/x-www-form-urlencoded");
    }
    // The connection must be ready for the next request (keep-alive).
    s.ready()
        .await
        .expect("connection ready for the next request");
    let resp = s
        .send_request(r.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| resp.status().canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        None
    } else {
        Some(serde_json::from_slice(&bytes).unwrap())
    };
    Answer {
        status,
        reason,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_and_proxy_answer_like_upstream() {
    let (node, creds, servers) = start().await;
    let root_cookie = creds.root_cookie.as_str();
    let alice_cookie = creds.alice_cookie.as_str();
    let root = ("cookie", root_cookie);
    let token = format!("PVEAPIToken=alice@pve!auto={TOKEN_SECRET}");
    for (addr, tls) in [(node.daemon, false), (node.proxy, true)] {
        let mut c = connect(addr, tls).await;
        let a = send(&mut c, "GET", "/api2/json/version", &[root], "").await;
        assert_eq!((a.status, a.reason.as_str()), (200, "OK"));
        assert_eq!(a.body.as_ref().unwrap()["data"]["release"], "9.2");
        assert_eq!(a.headers["content-type"], "application/json;charset=UTF-8");
        assert_eq!(a.headers["server"], "pve-api-daemon/3.0");
        assert_eq!(a.headers["connection"], "Keep-Alive");
        // Keep-alive: the same connection answers again.
        let a = send(&mut c, "GET", "/api2/json/version?foo=bar", &[root], "").await;
        assert_eq!(
            (a.status, a.reason.as_str()),
            (400, "Parameter verification failed.")
        );
        assert_eq!(
            a.body.unwrap(),
            json!({"data": null, "message": "Parameter verification failed.\n", "errors": {"foo": "property is not defined in schema and the schema does not allow additional properties"}})
        );
        assert_eq!(a.headers["connection"], "close");

        let mut c = connect(addr, tls).await;
        let a = send(&mut c, "GET", "/api2/json/nosuch", &[root], "").await;
        assert_eq!(
            (a.status, a.reason.as_str()),
            (501, "Method 'GET /nosuch' not implemented")
        );
        assert_eq!(
            a.body.unwrap(),
            json!({"data": null, "message": "Method 'GET /nosuch' not implemented"})
        );

        let mut c = connect(addr, tls).await;
        let a = send(&mut c, "GET", "/api2/extjs/nosuch", &[root], "").await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.body.unwrap(),
            json!({"data": null, "success": 0, "status": 501, "message": "Method 'GET /nosuch' not implemented"})
        );

        let a = send(
            &mut c,
            "GET",
            "/api2/extjs/version",
            &[("authorization", token.as_str())],
            "",
        )
        .await;
        assert_eq!(a.body.as_ref().unwrap()["success"], 1);

        let mut c = connect(addr, tls).await;
        let a = send(&mut c, "GET", "/api2/json/nosuch", &[], "").await;
        assert_eq!(
            (a.status, a.reason.as_str(), a.body.is_none()),
            (401, "No ticket", true)
        );

        let mut c = connect(addr, tls).await;
        let a = send(
            &mut c,
            "GET",
            "/api2/json/version",
            &[("cookie", "PVEAuthCookie=forged")],
            "",
        )
        .await;
        assert_eq!(
            (a.status, a.reason.as_str()),
            (401, "Authentication failed!")
        );

        let mut c = connect(addr, tls).await;
        let a = send(&mut c, "HEAD", "/api2/json/version", &[root], "").await;
        assert_eq!(
            (a.status, a.reason.as_str()),
            (501, "method 'HEAD' not available")
        );

        // Unknown node and ACL-denied calls.
        let mut c = connect(addr, tls).await;
        let a = send(
            &mut c,
            "GET",
            "/api2/json/nodes/n1/tasks",
            &[("cookie", alice_cookie)],
            "",
        )
        .await;
        assert_eq!(a.status, 200, "user 'all' method: {:?}", a.body);
        let a = send(
            &mut c,
            "GET",
            "/api2/json/nodes/n1/version",
            &[("cookie", alice_cookie)],
            "",
        )
        .await;
        assert_eq!(a.status, 200);
    }

    // pveproxy checks the CSRF token on writes; pvedaemon trusts pveproxy.
    let mut c = connect(node.proxy, true).await;
    let a = send(&mut c, "DELETE", "/api2/json/nodes/n1/tasks/x", &[root], "").await;
    assert_eq!(
        (a.status, a.reason.as_str()),
        (401, "Permission denied - invalid csrf token")
    );
    let mut c = connect(node.proxy, true).await;
    let a = send(
        &mut c,
        "DELETE",
        "/api2/json/nodes/n1/tasks/x",
        &[root, ("CSRFPreventionToken", creds.root_csrf.as_str())],
        "",
    )
    .await;
    // A protected method: answered by pvedaemon through pveproxy.
    assert_eq!(
        (a.status, a.reason.as_str()),
        (400, "Parameter verification failed.")
    );
    assert_eq!(
        a.body.unwrap()["errors"]["upid"],
        "unable to parse worker upid"
    );

    servers.shutdown().await;
    let _ = std::fs::remove_dir_all(&node.root);
}

/// Established TCP connections whose local port is `port` (the server's side).
fn established_on(port: u16) -> usize {
    let mut n = 0;
    for f in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for l in text.lines().skip(1) {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let local_port = cols[1].rsplit(':').next().unwrap();
            if u16::from_str_radix(local_port, 16) == Ok(port) && cols[3] == "01" {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test]
async fn forwarded_gets_reuse_a_connection_and_survive_a_daemon_restart() {
    let (node, creds, servers) = start().await;
    let root = ("cookie", creds.root_cookie.as_str());
    let mut c = connect(node.proxy, true).await;
    // A protected GET: pveproxy hands it to pvedaemon.
    let list = "/api2/json/nodes/n1/qemu";
    for _ in 0..3 {
        let a = send(&mut c, "GET", list, &[root], "").await;
        assert_eq!(a.status, 200, "{:?}", a.body);
        assert_eq!(a.headers["connection"], "Keep-Alive");
    }
    // The three calls went over one connection to pvedaemon, still open.
    assert_eq!(established_on(node.daemon.port()), 1);

    // pvedaemon restarts on the same address: the idle connection is gone, and the
    // next forwarded GET still gets its answer.
    servers.shutdown().await;
    let restarted = common::start_servers_at(&node.root, "n1", node.daemon).await;
    let mut c = connect(restarted.proxy, true).await;
    let a = send(&mut c, "GET", list, &[root], "").await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    restarted.shutdown().await;
    let _ = std::fs::remove_dir_all(&node.root);
}
