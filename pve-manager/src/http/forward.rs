//! pveproxy hands `protected` calls to pvedaemon (plain HTTP on 127.0.0.1:85), with the
//! caller's credentials and address, as upstream does.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, Uri};
use hyper_util::rt::TokioIo;

use super::handler::Reply;

/// What goes to pvedaemon.
pub struct Forward {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub client_ip: Option<IpAddr>,
}

/// The headers that travel with a forwarded call.
const PASSED: [&str; 5] = [
    "cookie",
    "authorization",
    "csrfpreventiontoken",
    "content-type",
    "host",
];

/// Sends the call to pvedaemon and returns its answer; a daemon that cannot be reached
/// is a 500 with the reason, as upstream reports proxy errors.
pub async fn forward(daemon: SocketAddr, f: Forward) -> Reply {
    match send(daemon, f).await {
        Ok(r) => r,
        Err(e) => Reply {
            status: 500,
            reason: e.clone(),
            body: Some(Bytes::from(
                serde_json::json!({"data": null, "message": format!("{e}\n")}).to_string(),
            )),
            forwarded: false,
        },
    }
}

async fn send(daemon: SocketAddr, f: Forward) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(daemon)
        .await
        .map_err(|e| format!("proxy to pvedaemon failed - {e}"))?;
    let mut reply = exchange(stream, f)
        .await
        .map_err(|e| format!("proxy to pvedaemon failed - {e}"))?;
    reply.forwarded = true;
    Ok(reply)
}

/// Sends a call over an open connection (plain or TLS) with the caller's credentials,
/// address and `PVEDisableProxy`, and reads the answer.
pub(super) async fn exchange<S>(stream: S, f: Forward) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let path = f
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut req = Request::builder().method(f.method).uri(path);
    for name in PASSED {
        for v in f.headers.get_all(name) {
            req = req.header(name, v);
        }
    }
    if let Some(ip) = f.client_ip {
        req = req.header("PVEClientIP", ip.to_string());
    }
    req = req.header("PVEDisableProxy", "true");
    let req = req.body(Full::new(f.body)).map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| resp.status().canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    // Passed on as it came: parsing and writing 100s of KiB again would double the
    // cost of a forwarded list.
    let body = (!bytes.is_empty()).then_some(bytes);
    Ok(Reply {
        status,
        reason,
        body,
        forwarded: false,
    })
}
