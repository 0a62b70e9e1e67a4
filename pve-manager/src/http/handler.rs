//! One API request, from the HTTP request to the response: upstream's order of
//! processing (method and size checks, authentication, routing, parameters, token gate,
//! permissions, forwarding of protected calls, the handler, the envelope).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use pve_common::api::{call_method, merge_params, ApiError, AuthId, EnvKind, HttpMethod, RpcEnv};
use serde_json::{Map, Value};

use super::auth::{needs_no_auth, Session};
use super::envelope::{envelope, Envelope, Format};
use super::params::{parse_body, parse_urlencoded, MAX_BODY};
use super::ServerContext;

/// An answer before it becomes an HTTP response.
pub struct Reply {
    pub status: u16,
    pub reason: String,
    /// The serialised JSON body (`None`: empty body). Forwarded answers pass through
    /// as they came; cached answers are shared, not copied.
    pub body: Option<Bytes>,
}

impl From<Envelope> for Reply {
    fn from(e: Envelope) -> Self {
        Reply {
            status: e.status,
            reason: e.reason,
            body: e
                .body
                .map(|v| Bytes::from(serde_json::to_vec(&v).unwrap_or_default())),
        }
    }
}

fn bare(status: u16, reason: impl Into<String>) -> Reply {
    Reply {
        status,
        reason: reason.into(),
        body: None,
    }
}

/// Handles one request; never fails (every error is an answer).
pub async fn handle(ctx: Arc<ServerContext>, peer: SocketAddr, req: Request<Incoming>) -> Reply {
    let method = req.method().clone();
    let http_method = match method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::DELETE => HttpMethod::Delete,
        ref other => return bare(501, format!("method '{other}' not available")),
    };
    let chunked = req
        .headers()
        .get(hyper::header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        return bare(501, "chunked transfer encoding not supported");
    }
    let length: usize = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if length > 0 && matches!(http_method, HttpMethod::Get | HttpMethod::Delete) {
        return bare(501, format!("Unexpected content for method '{method}'"));
    }

    let raw_path = req.uri().path().to_string();
    let Some(rest) = raw_path.strip_prefix("/api2/") else {
        return bare(501, "no such uri");
    };
    let (fmt, api_path) = rest.split_once('/').map_or((rest, ""), |(f, p)| (f, p));
    let valid_fmt = fmt.len() > 1
        && fmt.starts_with(|c: char| c.is_ascii_lowercase())
        && fmt
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !valid_fmt {
        return bare(501, "no such uri");
    }
    let Some(format) = Format::from_segment(fmt) else {
        return bare(501, format!("no formatter for uri {raw_path}"));
    };
    // Split first, decode each segment then: a parameter may hold an encoded `/`.
    let segments: Vec<String> = api_path
        .split('/')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    let api_path = format!("/{}", segments.join("/"));
    // pveproxy spools file uploads (multipart) instead of reading them into memory.
    let upload = ctx.kind == EnvKind::Proxy
        && http_method == HttpMethod::Post
        && super::upload::is_upload_path(&api_path);
    if length > MAX_BODY && !upload {
        return bare(501, "for data too large");
    }

    if http_method == HttpMethod::Get && !upload && length == 0 {
        if let Some(reply) = local_get(&ctx, peer, &req, format, fmt, &segments, &raw_path).await {
            return reply;
        }
    }

    // Authentication comes before routing: an unknown path without credentials is 401.
    // pvedaemon trusts pveproxy, which checked the CSRF token already.
    let session: Option<Box<dyn Session>> = if needs_no_auth(http_method, &api_path) {
        None
    } else {
        let auth = ctx.auth.clone();
        let headers = req.headers().clone();
        let check_csrf = ctx.kind == EnvKind::Proxy;
        let result = tokio::task::spawn_blocking(move || {
            auth.authenticate(&headers, http_method, check_csrf)
        })
        .await
        .unwrap_or_else(|_| Err("Authentication failed!".into()));
        match result {
            Ok(s) => Some(s),
            Err(reason) => {
                tokio::time::sleep(ctx.auth_failure_delay).await;
                return bare(401, reason);
            }
        }
    };

    let query = query_params(&req);
    let content_type = content_type(&req).map(str::to_string);
    let client_ip = client_ip(&ctx, &req, peer);
    let mut forward_headers = req.headers().clone();
    let disable_proxy = req.headers().contains_key("PVEDisableProxy");
    let uri = req.uri().clone();

    let segment_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let found = ctx.root.find_segments(http_method, &segment_refs);

    let mut spool = None;
    let (body, body_params) = if upload {
        let Some((api_method, resolved)) = &found else {
            let e = ApiError::new(501, format!("Method '{method} {api_path}' not implemented"));
            return envelope(format, Err(e)).into();
        };
        let received = receive_upload(
            &ctx,
            req,
            session.as_deref(),
            api_method,
            &resolved.path_params,
            &query,
            content_type.as_deref(),
        )
        .await;
        let (s, fields) = match received {
            Ok(r) => r,
            Err(e) => return envelope(format, Err(e)).into(),
        };
        // pvedaemon gets the form fields and the spool file's name as a plain form.
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                fields
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
            )
            .finish();
        forward_headers.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        spool = Some(s);
        (Bytes::from(encoded), fields)
    } else {
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return bare(501, "for data too large"),
        };
        let body_params = match parse_body(content_type.as_deref(), &body) {
            Ok(p) => p,
            Err(e) => return envelope(format, Err(e)).into(),
        };
        (body, body_params)
    };

    let Some((api_method, resolved)) = found else {
        let e = ApiError::new(501, format!("Method '{method} {api_path}' not implemented"));
        return envelope(format, Err(e)).into();
    };
    let params = match merge_params(&resolved.path_params, query, body_params) {
        Ok(p) => p,
        Err(e) => return envelope(format, Err(e)).into(),
    };

    let env = match admit(
        session.as_deref(),
        api_method,
        &params,
        &raw_path,
        format,
        (ctx.node.clone(), ctx.kind, ctx.paths.clone()),
        client_ip,
    ) {
        Ok(env) => env,
        Err(reply) => return reply,
    };

    if let Some(node) = proxy_target(api_method, &params, &ctx.node) {
        // The address lookup comes first: an unknown node fails the same way on
        // either server.
        let ip = match super::proxy::remote_node_ip(&ctx.paths, node) {
            Ok(ip) => ip,
            Err(e) => return envelope(format, Err(e)).into(),
        };
        if ctx.kind == EnvKind::Daemon {
            return bare(500, "proxy not allowed");
        }
        if disable_proxy {
            return bare(500, "proxy loop detected");
        }
        let remote = super::proxy::Remote {
            node: node.to_string(),
            ip,
            call: super::forward::Forward {
                method: method.clone(),
                uri,
                headers: forward_headers,
                body,
                client_ip: env.client_ip,
            },
        };
        return super::proxy::proxy(&ctx.paths, remote).await;
    }

    if api_method.protected && ctx.kind == EnvKind::Proxy {
        if let Some(daemon) = ctx.daemon {
            // pveproxy reuses a forwarded GET's answer under the same rules as the
            // server that runs the method (see `call_reusing`): the same caller,
            // parameters and format, and an unchanged fingerprint, taken here before
            // the call goes out. Only JSON answers: an ExtJS answer is a 200 even when
            // the call failed.
            let params = pve_common::api::Params(params);
            let reusable = method == Method::GET && spool.is_none() && format == Format::Json;
            let key = match &api_method.fingerprint {
                Some(f) if reusable => f(&env, &params).map(|fp| {
                    super::answers::key(env.paths.root(), fmt, api_method, &env.auth, &params, &fp)
                }),
                _ => None,
            };
            let cache = super::answers::global();
            if let Some(body) = key.as_deref().and_then(|k| cache.get(k)) {
                return Reply {
                    status: 200,
                    reason: "OK".into(),
                    body: Some(body),
                };
            }
            let fwd = super::forward::Forward {
                method: method.clone(),
                uri,
                headers: forward_headers,
                body,
                client_ip: env.client_ip,
            };
            let reply = super::forward::forward(daemon, fwd).await;
            if let (200, Some(k), Some(body)) = (reply.status, key, &reply.body) {
                cache.put(k, body.clone());
            }
            keep_spool_on_success(spool, reply.status);
            return reply;
        }
    }

    let m = api_method.clone();
    let fmt = fmt.to_string();
    let (reply, error) =
        tokio::task::spawn_blocking(move || call_reusing(&m, &env, params, format, &fmt))
            .await
            .unwrap_or_else(|_| {
                let e = ApiError::internal("handler panicked\n");
                (envelope(format, Err(e)).into(), Some(500))
            });
    keep_spool_on_success(spool, error.unwrap_or(200));
    // Every 401 is delayed, the handlers' too (failed logins).
    if error == Some(401) {
        tokio::time::sleep(ctx.auth_failure_delay).await;
    }
    reply
}

/// The token gate and the permission check (in one place, before any handler or
/// forwarding), then the call's environment; a refusal is the answer to send.
fn admit(
    session: Option<&dyn Session>,
    m: &pve_common::api::ApiMethod,
    params: &Map<String, Value>,
    raw_path: &str,
    format: Format,
    (node, kind, paths): (String, EnvKind, pve_common::NodePaths),
    client_ip: Option<std::net::IpAddr>,
) -> Result<RpcEnv, Reply> {
    if session.is_some_and(|s| s.via_token()) && !m.allowtoken {
        let e = ApiError::new(
            403,
            format!("URI {raw_path} not available with API token, need proper ticket.\n"),
        );
        return Err(envelope(format, Err(e)).into());
    }
    if let Some(s) = session {
        if let Err(e) = s.check_permissions(m.permissions.as_ref(), params) {
            return Err(envelope(format, Err(e)).into());
        }
    }
    Ok(RpcEnv {
        auth: session.map_or(
            AuthId {
                user: String::new(),
                token: None,
            },
            |s| s.auth().clone(),
        ),
        node,
        client_ip,
        kind,
        paths,
        permissions: session.and_then(|s| s.permission_checker()),
    })
}

/// A GET without a body of a method this server runs itself (not forwarded to
/// pvedaemon or another node), with credentials: authentication, the token gate, the
/// permission check and the handler run in one blocking call, one thread hand-off
/// instead of two. The checks and their order and answers are those of [`handle`];
/// `None` sends the request down the general path (no route, parameters that do not
/// merge, no authentication needed, a call to forward).
async fn local_get(
    ctx: &Arc<ServerContext>,
    peer: SocketAddr,
    req: &Request<Incoming>,
    format: Format,
    fmt: &str,
    segments: &[String],
    raw_path: &str,
) -> Option<Reply> {
    let api_path = format!("/{}", segments.join("/"));
    if needs_no_auth(HttpMethod::Get, &api_path) {
        return None;
    }
    let segment_refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (api_method, resolved) = ctx.root.find_segments(HttpMethod::Get, &segment_refs)?;
    if api_method.protected && ctx.kind == EnvKind::Proxy && ctx.daemon.is_some() {
        return None;
    }
    let query = query_params(req);
    let content_type = content_type(req);
    let body_params = parse_body(content_type, &Bytes::new()).ok()?;
    let params = merge_params(&resolved.path_params, query, body_params).ok()?;
    if proxy_target(api_method, &params, &ctx.node).is_some() {
        return None;
    }
    let m = api_method.clone();
    let auth = ctx.auth.clone();
    let headers = req.headers().clone();
    let check_csrf = ctx.kind == EnvKind::Proxy;
    let client_ip = client_ip(ctx, req, peer);
    let (node, kind, paths) = (ctx.node.clone(), ctx.kind, ctx.paths.clone());
    let fmt = fmt.to_string();
    let raw_path = raw_path.to_string();
    let outcome = tokio::task::spawn_blocking(move || {
        let session = auth.authenticate(&headers, HttpMethod::Get, check_csrf)?;
        // (as on the general path, refusals here are answered without the 401 delay)
        let env = match admit(
            Some(&*session),
            &m,
            &params,
            &raw_path,
            format,
            (node, kind, paths),
            client_ip,
        ) {
            Ok(env) => env,
            Err(reply) => return Ok::<_, String>((reply, None)),
        };
        Ok(call_reusing(&m, &env, params, format, &fmt))
    })
    .await
    .unwrap_or_else(|_| {
        let e = ApiError::internal("handler panicked\n");
        Ok((envelope(format, Err(e)).into(), Some(500)))
    });
    match outcome {
        Err(reason) => {
            tokio::time::sleep(ctx.auth_failure_delay).await;
            Some(bare(401, reason))
        }
        Ok((reply, error)) => {
            if error == Some(401) {
                tokio::time::sleep(ctx.auth_failure_delay).await;
            }
            Some(reply)
        }
    }
}

/// Runs the handler, or reuses the kept answer of an equal earlier call when the method
/// declares a fingerprint and it is unchanged (see [`super::answers`]). The fingerprint
/// is taken before the handler reads anything: a change meanwhile leaves the answer
/// under the older fingerprint, which the next call no longer matches.
fn call_reusing(
    m: &pve_common::api::ApiMethod,
    env: &RpcEnv,
    params: Map<String, Value>,
    format: Format,
    fmt: &str,
) -> (Reply, Option<u16>) {
    // The parameters as they came (not yet checked against the schema): only answers
    // of calls that passed are kept.
    let params = pve_common::api::Params(params);
    let key = m.fingerprint.as_ref().and_then(|f| {
        let fp = f(env, &params)?;
        Some(super::answers::key(
            env.paths.root(),
            fmt,
            m,
            &env.auth,
            &params,
            &fp,
        ))
    });
    let cache = super::answers::global();
    if let Some(body) = key.as_deref().and_then(|k| cache.get(k)) {
        let reply = Reply {
            status: 200,
            reason: "OK".into(),
            body: Some(body),
        };
        return (reply, None);
    }
    let result = call_method(m, env, params.0);
    let error = result.as_ref().err().map(|e| e.status);
    let reply: Reply = envelope(format, result).into();
    if let (None, Some(k), Some(body)) = (error, key, &reply.body) {
        cache.put(k, body.clone());
    }
    (reply, error)
}

/// A successful upload call hands the spool file to its worker; otherwise it goes.
fn keep_spool_on_success(spool: Option<super::upload::Spool>, status: u16) {
    if let Some(s) = spool {
        if status == 200 {
            s.keep();
        }
    }
}

/// The multipart body of an upload call, spooled to a file. The caller's permission is
/// checked from the URL and query before any of the body is read.
async fn receive_upload(
    ctx: &ServerContext,
    req: Request<Incoming>,
    session: Option<&dyn Session>,
    api_method: &pve_common::api::ApiMethod,
    path_params: &Map<String, Value>,
    query: &Map<String, Value>,
    content_type: Option<&str>,
) -> Result<(super::upload::Spool, Map<String, Value>), ApiError> {
    let ctype = content_type.unwrap_or("");
    let (ct, boundary) = super::upload::parse_content_type(ctype);
    let boundary = match boundary {
        Some(b) if ct.eq_ignore_ascii_case("multipart/form-data") => b,
        _ => {
            return Err(ApiError::internal(format!(
                "upload 'Content-Type '{ctype}' not implemented\n"
            )))
        }
    };
    if query.contains_key("tmpfilename") {
        return Err(ApiError::internal(
            "'tmpfilename' query parameter is not allowed for file uploads\n",
        ));
    }
    if let Some(s) = session {
        let known = merge_params(path_params, query.clone(), Map::new())?;
        s.check_permissions(api_method.permissions.as_ref(), &known)?;
    }
    let target = api_method
        .proxyto
        .as_ref()
        .and_then(|p| path_params.get(p))
        .and_then(Value::as_str);
    if target.is_some_and(|n| n != ctx.node && n != "localhost") {
        return Err(ApiError::internal("unable to proxy file uploads\n"));
    }
    let (spool, file) = super::upload::Spool::create(&ctx.paths).await?;
    let mut fields = super::upload::receive(req.into_body(), &boundary, file).await?;
    fields.insert("tmpfilename".into(), Value::String(spool.name.clone()));
    Ok((spool, fields))
}

/// The client's address; pvedaemon believes the `PVEClientIP` header of pveproxy.
fn client_ip(
    ctx: &ServerContext,
    req: &Request<Incoming>,
    peer: SocketAddr,
) -> Option<std::net::IpAddr> {
    if ctx.kind == EnvKind::Daemon {
        if let Some(ip) = req
            .headers()
            .get("PVEClientIP")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
        {
            return Some(ip);
        }
    }
    Some(peer.ip())
}

/// The other node a call must be proxied to: the value of the method's `proxyto`
/// parameter, unless that is this node or `localhost`.
fn proxy_target<'a>(
    m: &pve_common::api::ApiMethod,
    params: &'a Map<String, Value>,
    here: &str,
) -> Option<&'a str> {
    let node = params.get(m.proxyto.as_ref()?)?.as_str()?;
    (node != here && node != "localhost").then_some(node)
}

/// The parameters in the request's query string.
fn query_params<B>(req: &Request<B>) -> Map<String, Value> {
    req.uri()
        .query()
        .map(|q| parse_urlencoded(q.as_bytes()))
        .unwrap_or_default()
}

/// The request's `Content-Type`, if it is text.
fn content_type<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// The HTTP response of a reply, with upstream's headers; any status from 400 up closes
/// the connection.
pub fn into_response(reply: Reply, compression: Compression) -> Response<Full<Bytes>> {
    let mut body = reply.body.clone().unwrap_or_default();
    // Like upstream, bodies over 1 KiB are compressed when the client accepts it.
    let encoding = if body.len() > 1024 {
        compression.encode(&mut body)
    } else {
        None
    };
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(reply.reason.clone().into_bytes()) {
        resp.extensions_mut().insert(phrase);
    }
    let h = resp.headers_mut();
    let now = httpdate(std::time::SystemTime::now());
    h.insert(
        "Server",
        "pve-api-daemon/3.0".parse().expect("static header"),
    );
    h.insert("Cache-Control", "max-age=0".parse().expect("static header"));
    h.insert("Pragma", "no-cache".parse().expect("static header"));
    if let Ok(v) = now.parse() {
        h.insert("Expires", v);
    }
    if let Some(enc) = encoding {
        h.insert(
            hyper::header::CONTENT_ENCODING,
            enc.parse().expect("static header"),
        );
    }
    if reply.body.is_some() {
        h.insert(
            hyper::header::CONTENT_TYPE,
            "application/json;charset=UTF-8"
                .parse()
                .expect("static header"),
        );
    }
    // Upstream closes after every error. A forwarded answer from upstream's pveproxy also
    // carries pvedaemon's `Connection: close` (a hop-by-hop header a proxy must not pass
    // on) although pveproxy keeps the connection open; we leave it out, so that clients
    // keep the connection too (docs/api.md, "Differences from upstream").
    let value = if reply.status >= 400 {
        "close"
    } else {
        "Keep-Alive"
    };
    h.insert(
        hyper::header::CONNECTION,
        value.parse().expect("static header"),
    );
    resp
}

/// The response compression a client accepts (`Accept-Encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Deflate,
}

impl Compression {
    pub fn accepted(headers: &hyper::HeaderMap) -> Self {
        let accepts = |name: &str| {
            headers
                .get_all(hyper::header::ACCEPT_ENCODING)
                .iter()
                .any(|v| {
                    v.to_str().is_ok_and(|v| {
                        v.split(',').any(|e| {
                            let mut parts = e.split(';');
                            let enc = parts.next().unwrap_or("").trim();
                            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
                            enc.eq_ignore_ascii_case(name) && !refused
                        })
                    })
                })
        };
        if accepts("gzip") {
            Compression::Gzip
        } else if accepts("deflate") {
            Compression::Deflate
        } else {
            Compression::None
        }
    }

    /// Compresses `body` in place; the `Content-Encoding` to send, if any.
    fn encode(self, body: &mut Bytes) -> Option<&'static str> {
        use std::io::Write;
        let level = flate2::Compression::fast();
        let (data, name) = match self {
            Compression::None => return None,
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
                e.write_all(body).ok()?;
                (e.finish().ok()?, "gzip")
            }
            Compression::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(Vec::new(), level);
                e.write_all(body).ok()?;
                (e.finish().ok()?, "deflate")
            }
        };
        *body = Bytes::from(data);
        Some(name)
    }
}

/// An HTTP date (`Thu, 26 Nov 2026 16:00:00 GMT`).
fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    jiff::Timestamp::from_second(secs)
        .map(|ts| ts.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn headers(v: &str) -> hyper::HeaderMap {
        let mut h = hyper::HeaderMap::new();
        h.insert(hyper::header::ACCEPT_ENCODING, v.parse().unwrap());
        h
    }

    #[test]
    fn accepted_encodings() {
        assert_eq!(
            Compression::accepted(&headers("gzip, deflate")),
            Compression::Gzip
        );
        assert_eq!(
            Compression::accepted(&headers("deflate")),
            Compression::Deflate
        );
        assert_eq!(
            Compression::accepted(&headers("gzip;q=0, br")),
            Compression::None
        );
        assert_eq!(
            Compression::accepted(&hyper::HeaderMap::new()),
            Compression::None
        );
    }

    #[tokio::test]
    async fn large_bodies_are_compressed_small_ones_not() {
        let big = serde_json::json!({"data": "x".repeat(4000)});
        let reply = |body: Value| Reply {
            status: 200,
            reason: "OK".into(),
            body: Some(Bytes::from(serde_json::to_vec(&body).unwrap())),
        };
        let resp = into_response(reply(big.clone()), Compression::Gzip);
        assert_eq!(resp.headers()["content-encoding"], "gzip");
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert!(bytes.len() < 1000);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut text)
            .unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), big);
        let small = into_response(reply(serde_json::json!({"data": 1})), Compression::Gzip);
        assert!(small.headers().get("content-encoding").is_none());
    }
}
