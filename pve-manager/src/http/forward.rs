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
        },
    }
}

/// Idle connections to pvedaemon, reused for GETs: the same choice as upstream's proxy
/// to other nodes (GETs are idempotent, so a GET that meets a connection pvedaemon has
/// just closed can be sent again). Other methods get a new connection each.
static IDLE: std::sync::Mutex<Vec<(SocketAddr, Sender)>> = std::sync::Mutex::new(Vec::new());

/// At most this many idle connections are kept.
const IDLE_MAX: usize = 32;

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn send(daemon: SocketAddr, f: Forward) -> Result<Reply, String> {
    let fail = |e: String| format!("proxy to pvedaemon failed - {e}");
    if f.method != Method::GET {
        let sender = connect(daemon).await.map_err(fail)?;
        return exchange_on(sender, f).await.map(|(r, _)| r).map_err(fail);
    }
    // A GET has no body worth keeping apart: it can be sent twice.
    let idle = {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|(_, s)| !s.is_closed());
        let mine = idle.iter().rposition(|(a, _)| *a == daemon);
        mine.map(|i| idle.swap_remove(i).1)
    };
    let copy = || Forward {
        method: f.method.clone(),
        uri: f.uri.clone(),
        headers: f.headers.clone(),
        body: f.body.clone(),
        client_ip: f.client_ip,
    };
    let reused = match idle {
        Some(sender) => exchange_on(sender, copy()).await.ok(),
        None => None,
    };
    // Without an idle connection, or when pvedaemon closed it meanwhile (restart,
    // shutdown): on a new one.
    let (reply, sender) = match reused {
        Some(r) => r,
        None => {
            let sender = connect(daemon).await.map_err(fail)?;
            exchange_on(sender, f).await.map_err(fail)?
        }
    };
    if !sender.is_closed() {
        let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < IDLE_MAX {
            idle.push((daemon, sender));
        }
    }
    Ok(reply)
}

async fn connect(daemon: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(daemon)
        .await
        .map_err(|e| e.to_string())?;
    handshake(stream).await
}

async fn handshake<S>(stream: S) -> Result<Sender, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends a call over an open connection (plain or TLS) with the caller's credentials,
/// address and `PVEDisableProxy`, and reads the answer.
pub(super) async fn exchange<S>(stream: S, f: Forward) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let sender = handshake(stream).await?;
    exchange_on(sender, f).await.map(|(r, _)| r)
}

/// [`exchange`] on a connection already set up; gives the connection back with the
/// answer.
async fn exchange_on(mut sender: Sender, f: Forward) -> Result<(Reply, Sender), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
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
    Ok((
        Reply {
            status,
            reason,
            body,
        },
        sender,
    ))
}
