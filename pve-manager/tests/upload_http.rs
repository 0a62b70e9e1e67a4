//! File uploads through pveproxy (`POST /nodes/{node}/storage/{storage}/upload`,
//! multipart/form-data): a 200 MiB ISO is spooled and imported with the peak resident
//! memory of this process — client, pveproxy and pvedaemon together — growing by far
//! less than the file; an interrupted upload and a refused one leave no spool file and
//! no volume behind. Alone in its test binary so that no other test moves the peak.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use openssl::hash::{Hasher, MessageDigest};
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use pve_access_control::store::ConfigFiles;
use pve_common::NodePaths;

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 200 * MIB;
const BOUNDARY: &str = "----pveUploadTestBoundary7MA4YWxkTrZu0gW";
const USER_CFG: &str =
    "user:root@pam:1:0:::::::\nuser:alice@pve:1:0:::::::\n\nacl:1:/:alice@pve:PVEAuditor:\n";

/// The byte at offset `i` of the uploaded file.
fn pattern(i: u64) -> u8 {
    ((i % 4093) * 7 + 3) as u8
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

struct Node {
    root: PathBuf,
    root_cookie: String,
    root_csrf: String,
    alice_cookie: String,
    alice_csrf: String,
}

fn setup(tag: &str) -> Node {
    let root = std::env::temp_dir().join(format!("upload-http-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let pve = root.join("etc/pve");
    std::fs::create_dir_all(pve.join("priv")).unwrap();
    std::fs::write(pve.join("user.cfg"), USER_CFG).unwrap();
    std::fs::write(
        pve.join("storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl\n",
    )
    .unwrap();
    let files = ConfigFiles::new(NodePaths::new(&root));
    let cookie = |u: &str| {
        let t = pve_access_control::tickets::assemble_ticket(&files, u).unwrap();
        format!(
            "PVEAuthCookie={}",
            percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let csrf = |u: &str| pve_access_control::csrf::assemble_csrf_token(&files, u).unwrap();
    Node {
        root_cookie: cookie("root@pam"),
        root_csrf: csrf("root@pam"),
        alice_cookie: cookie("alice@pve"),
        alice_csrf: csrf("alice@pve"),
        root,
    }
}

fn connect(addr: SocketAddr) -> SslStream<TcpStream> {
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    b.build().connect("localhost", tcp).unwrap()
}

/// The multipart pieces around the file data.
fn envelope(checksum: Option<&str>) -> (String, String) {
    let mut head = String::new();
    let mut field = |k: &str, v: &str| {
        head.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ))
    };
    field("content", "iso");
    if let Some(sum) = checksum {
        field("checksum-algorithm", "sha256");
        field("checksum", sum);
    }
    head.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"big.iso\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    ));
    (head, format!("\r\n--{BOUNDARY}--\r\n"))
}

/// Sends an upload of `size` pattern bytes, stopping after `send` of them (closing the
/// connection) when `send < size`; returns the status line and body of the answer.
fn upload(
    addr: SocketAddr,
    cookie: &str,
    csrf: &str,
    size: u64,
    send: u64,
    checksum: Option<&str>,
) -> Option<(u16, String)> {
    let (head, tail) = envelope(checksum);
    let total = head.len() as u64 + size + tail.len() as u64;
    let mut s = connect(addr);
    let request = format!(
        "POST /api2/json/nodes/n1/storage/local/upload HTTP/1.1\r\nHost: localhost\r\nCookie: {cookie}\r\nCSRFPreventionToken: {csrf}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {total}\r\n\r\n{head}"
    );
    s.write_all(request.as_bytes()).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = 0u64;
    while at < send {
        let n = (send - at).min(buf.len() as u64) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(at + i as u64);
        }
        if s.write_all(&buf[..n]).is_err() {
            // The server answered early (a refusal) and closed: read what it said.
            break;
        }
        at += n as u64;
    }
    if send < size {
        let _ = s.shutdown();
        return None;
    }
    let _ = s.write_all(tail.as_bytes());
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
        let text = String::from_utf8_lossy(&answer);
        if let Some((h, b)) = text.split_once("\r\n\r\n") {
            let len: usize = h
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if b.len() >= len {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Some((status, body))
}

fn spool_files(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("var/tmp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("pveupload-"))
                .collect()
        })
        .unwrap_or_default()
}

fn iso_dir_entries(root: &Path) -> Vec<String> {
    std::fs::read_dir(root.join("var/lib/vz/template/iso"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `cond` holds (true) or 60 s passed (false).
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_pveproxy() {
    let node = setup("main");
    let servers = common::start_servers(&node.root, "n1").await;
    let proxy = servers.proxy;
    let root = node.root.clone();

    tokio::task::spawn_blocking(move || {
        // The checksum of the file, computed on the fly as the client will send it.
        let mut hasher = Hasher::new(MessageDigest::sha256()).unwrap();
        let mut block = vec![0u8; 64 * 1024];
        let mut at = 0u64;
        while at < SIZE {
            let n = (SIZE - at).min(block.len() as u64) as usize;
            for (i, b) in block[..n].iter_mut().enumerate() {
                *b = pattern(at + i as u64);
            }
            hasher.update(&block[..n]).unwrap();
            at += n as u64;
        }
        let sum: String = hasher
            .finish()
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();

        // A user without Datastore.AllocateTemplate is refused before the body is read.
        let refused = upload(
            proxy,
            &node.alice_cookie,
            &node.alice_csrf,
            1024,
            1024,
            None,
        );
        let (status, _) = refused.expect("an answer to the refused upload");
        assert_eq!(status, 403);
        assert!(
            spool_files(&root).is_empty(),
            "a refused upload spooled data"
        );

        // An upload cut off midway leaves neither a spool file nor a volume.
        upload(
            proxy,
            &node.root_cookie,
            &node.root_csrf,
            20 * MIB,
            5 * MIB,
            None,
        );
        assert!(
            wait_for(|| spool_files(&root).is_empty()),
            "spool file left after an interrupted upload: {:?}",
            spool_files(&root)
        );
        assert!(iso_dir_entries(&root).is_empty());

        // 200 MiB with its checksum.
        let before = vm_hwm_kib();
        let (status, body) = upload(
            proxy,
            &node.root_cookie,
            &node.root_csrf,
            SIZE,
            SIZE,
            Some(&sum),
        )
        .expect("an answer to the upload");
        assert_eq!(status, 200, "{body}");
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        let upid = answer["data"].as_str().unwrap();
        assert!(upid.starts_with("UPID:n1:"), "{upid}");
        assert!(upid.contains(":imgcopy:"), "{upid}");
        let dest = root.join("var/lib/vz/template/iso/big.iso");
        assert!(
            wait_for(|| std::fs::metadata(&dest).is_ok_and(|m| m.len() == SIZE)),
            "the volume did not appear"
        );
        assert!(
            wait_for(|| spool_files(&root).is_empty()),
            "spool file not removed"
        );
        let after = vm_hwm_kib();
        println!("VmHWM before {before} KiB, after {after} KiB");
        assert!(
            after - before < 64 * 1024,
            "the upload grew the peak resident memory by {} KiB",
            after - before
        );
        // The content arrived intact (the worker verified the sha256, too).
        let mut f = std::fs::File::open(&dest).unwrap();
        let mut at = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, pattern(at + i as u64), "byte {}", at + i as u64);
            }
            at += n as u64;
        }
        assert_eq!(at, SIZE);

        // A wrong checksum fails the import: the task errors, nothing stays behind.
        std::fs::remove_file(&dest).unwrap();
        let (status, _) = upload(
            proxy,
            &node.root_cookie,
            &node.root_csrf,
            MIB,
            MIB,
            Some(&"0".repeat(64)),
        )
        .unwrap();
        assert_eq!(status, 200);
        assert!(wait_for(|| spool_files(&root).is_empty()));
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            iso_dir_entries(&root).is_empty(),
            "{:?}",
            iso_dir_entries(&root)
        );
    })
    .await
    .unwrap();
    servers.shutdown().await;
    let _ = std::fs::remove_dir_all(&node.root);
}
