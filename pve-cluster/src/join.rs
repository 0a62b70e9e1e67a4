//! `pvecm add HOST`: joining a cluster through the API of one of its nodes, as upstream
//! (`PVE::Cluster::Setup::join`): log in as root@pam on HOST's pveproxy (its certificate
//! pinned to the fingerprint the user confirmed), ask it to add this node
//! (`POST /cluster/config/nodes/NODE`), then write the corosync config and key it
//! answers with and drop the local config.db ([`crate::pvecm::finish_join`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use openssl::hash::MessageDigest;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use pve_common::NodePaths;
use serde_json::Value;

/// What the joining node asks for.
pub struct JoinRequest<'a> {
    pub host: &'a str,
    pub port: u16,
    /// `AA:BB:…` SHA-256 of HOST's certificate.
    pub fingerprint: &'a str,
    pub password: &'a str,
    pub node: &'a str,
    /// `(N, linkN property string)` as given on the command line.
    pub links: Vec<(u8, String)>,
    /// This node's address: sent as `new_node_ip` when no link is given.
    pub local_ip: &'a str,
    pub nodeid: Option<u32>,
    pub votes: Option<u32>,
    pub force: bool,
}

fn normalize_fp(fp: &str) -> String {
    fp.chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn connect(host: &str, port: u16, fingerprint: &str) -> Result<SslStream<TcpStream>> {
    let want = normalize_fp(fingerprint);
    let tcp = TcpStream::connect((host, port))
        .with_context(|| format!("unable to connect to {host}:{port}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify_callback(SslVerifyMode::PEER, move |_, ctx| {
        if ctx.error_depth() != 0 {
            return true;
        }
        ctx.current_cert()
            .and_then(|c| c.digest(MessageDigest::sha256()).ok())
            .is_some_and(|d| d.iter().map(|b| format!("{b:02x}")).collect::<String>() == want)
    });
    let ssl = b.build().configure()?.verify_hostname(false);
    ssl.connect(host, tcp)
        .map_err(|e| anyhow::anyhow!("unable to establish a pinned TLS connection to {host} - {e}"))
}

fn form(pairs: &[(&str, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())))
        .finish()
}

/// One HTTP/1.1 POST on a fresh pinned connection; the JSON answer's `data`.
fn post(req: &JoinRequest, path: &str, headers: &[(&str, String)], body: &str) -> Result<Value> {
    let mut s = connect(req.host, req.port, req.fingerprint)?;
    let mut head = format!(
        "POST /api2/json{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
        req.host,
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut r = BufReader::new(s);
    let mut status_line = String::new();
    r.read_line(&mut status_line)?;
    let mut length = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut data = Vec::new();
    match length {
        Some(n) => {
            data.resize(n, 0);
            r.read_exact(&mut data)?;
        }
        None => {
            // the peer closes after the answer; a TLS close without notify is fine here
            let _ = r.read_to_end(&mut data);
        }
    }
    let mut parts = status_line.splitn(3, ' ');
    let _ = parts.next();
    let code: u16 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
    let reason = parts.next().unwrap_or("").trim().to_string();
    if code != 200 {
        let msg = serde_json::from_slice::<Value>(&data)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or(reason);
        bail!("{code} {}", msg.trim_end());
    }
    let v: Value = serde_json::from_slice(&data).context("unable to parse the API answer")?;
    Ok(v["data"].clone())
}

/// Asks HOST to add this node and finishes the join locally.
pub fn join(paths: &NodePaths, req: &JoinRequest) -> Result<()> {
    crate::pvecm::assert_joinable(paths, req.local_ip, &req.links, req.force)?;
    println!("Establishing API connection with host '{}'", req.host);
    let login = post(
        req,
        "/access/ticket",
        &[],
        &form(&[
            ("username", "root@pam".into()),
            ("password", req.password.into()),
        ]),
    )
    .context("unable to log in")?;
    println!("Login succeeded.");
    let ticket = login["ticket"]
        .as_str()
        .context("no ticket in the answer")?;
    let csrf = login["CSRFPreventionToken"]
        .as_str()
        .context("no CSRF token in the answer")?;
    let cookie: String = ticket
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    println!("check cluster join API version");
    let mut args = vec![("apiversion", "1".to_string())];
    let link_keys: Vec<String> = req.links.iter().map(|(n, _)| format!("link{n}")).collect();
    for (key, (_, value)) in link_keys.iter().zip(&req.links) {
        args.push((key.as_str(), value.clone()));
    }
    if req.links.is_empty() {
        args.push(("new_node_ip", req.local_ip.to_string()));
        println!(
            "No cluster network links passed explicitly, fallback to local node IP '{}'",
            req.local_ip
        );
    }
    if let Some(id) = req.nodeid {
        args.push(("nodeid", id.to_string()));
    }
    if let Some(v) = req.votes {
        args.push(("votes", v.to_string()));
    }
    if req.force {
        args.push(("force", "1".into()));
    }
    println!("Request addition of this node");
    let answer = post(
        req,
        &format!("/cluster/config/nodes/{}", req.node),
        &[
            ("Cookie", format!("PVEAuthCookie={cookie}")),
            ("CSRFPreventionToken", csrf.to_string()),
        ],
        &form(&args),
    )?;
    let conf = answer["corosync_conf"]
        .as_str()
        .context("no corosync_conf in the answer")?;
    let key_text = answer["corosync_authkey"]
        .as_str()
        .context("no corosync_authkey in the answer")?;
    // the key travels as the characters U+0000…U+00FF, one per byte
    let key: Vec<u8> = key_text
        .chars()
        .map(|c| u8::try_from(u32::from(c)))
        .collect::<Result<_, _>>()
        .context("corosync_authkey is not a byte string")?;
    if let Some(w) = answer["warnings"].as_array() {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("warning: {w}");
        }
    }
    println!("Join request OK, finishing setup locally");
    crate::pvecm::finish_join(paths, conf, &key)?;
    println!("successfully added node '{}' to cluster.", req.node);
    Ok(())
}

/// HOST's certificate fingerprint as the user is asked to confirm it (`AA:BB:…`).
pub fn peer_fingerprint(host: &str, port: u16) -> Result<String> {
    let tcp = TcpStream::connect((host, port))
        .with_context(|| format!("unable to connect to {host}:{port}"))?;
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_verify(SslVerifyMode::NONE);
    let s = b
        .build()
        .configure()?
        .verify_hostname(false)
        .connect(host, tcp)
        .map_err(|e| anyhow::anyhow!("TLS connection to {host} failed - {e}"))?;
    let cert = s.ssl().peer_certificate().context("no peer certificate")?;
    let d = cert.digest(MessageDigest::sha256())?;
    Ok(d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}
