//! The QEMU guest agent (upstream's `PVE::QemuServer::Agent` and the `qga` side of
//! `PVE::QMPClient`): commands go to the VM's agent socket `/run/qemu-server/VMID.qga`
//! (the `-chardev socket,…,id=qga0` of the command line), each preceded by
//! `guest-sync-delimited` with a fresh id; the agent answers the sync with a `0xFF`
//! byte and `{"return": ID}`, then the command's reply. Replies of earlier, abandoned
//! commands (smaller ids) are skipped.
//!
//! Timeouts are upstream's: `guest-fsfreeze-freeze` 1 h (the freeze helper uses 10 min
//! and then polls `guest-fsfreeze-status`), `guest-fsfreeze-thaw` 3 min,
//! `guest-fstrim`/`guest-shutdown` 10 min, `guest-ping` 3 s, other commands 5 s.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pve_common::NodePaths;
use serde_json::{json, Value};

/// A failed agent command: the text reads `VM N qga command 'CMD' failed - REASON`.
#[derive(Debug, Clone, PartialEq)]
pub struct QgaError {
    pub message: String,
    /// The agent did not answer in time.
    pub timeout: bool,
}

impl std::fmt::Display for QgaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Upstream's default timeout of a guest agent command.
pub fn default_timeout(execute: &str) -> Duration {
    Duration::from_secs(match execute {
        "guest-fsfreeze-freeze" => 60 * 60,
        "guest-fsfreeze-thaw" => 3 * 60,
        "guest-fstrim" | "guest-shutdown" => 10 * 60,
        _ => 5,
    })
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Upstream's qga command ids: the pid, a `0`, a per-process sequence number.
fn next_id() -> u64 {
    let seq = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    format!("{}0{seq}", std::process::id())
        .parse()
        .unwrap_or(seq)
}

/// Runs `execute` with `arguments` on the agent socket `socket`. `Ok` holds the
/// command's `return` value, or `{"error": …}` when the agent refused it (as
/// upstream's `mon_cmd` returns agent errors to the caller).
pub fn command_at(
    socket: &Path,
    vmid: u32,
    execute: &str,
    arguments: Value,
    timeout: Option<Duration>,
) -> Result<Value, QgaError> {
    let timeout = timeout.unwrap_or_else(|| default_timeout(execute));
    let fail = |reason: String, timeout: bool| QgaError {
        message: format!("VM {vmid} qga command '{execute}' failed - {reason}"),
        timeout,
    };
    let deadline = Instant::now() + timeout;
    let mut stream = connect(socket, vmid, deadline).map_err(|e| fail(e, false))?;
    let id = next_id();
    let request = format!(
        "{}\n{}\n",
        json!({"execute": "guest-sync-delimited", "arguments": {"id": id}}),
        json!({"execute": execute, "arguments": arguments}),
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| fail(format!("{e}\n"), false))?;
    let reply = read_reply(&mut stream, id, deadline).map_err(|(e, t)| fail(e, t))?;
    if let Some(r) = reply.get("return") {
        return Ok(r.clone());
    }
    match reply.get("error") {
        Some(e) => Ok(json!({ "error": e })),
        None => Err(fail("response without return value\n".into(), false)),
    }
}

/// [`command_at`] on the VM's agent socket.
pub fn command(
    paths: &NodePaths,
    vmid: u32,
    execute: &str,
    arguments: Value,
    timeout: Option<Duration>,
) -> Result<Value, QgaError> {
    command_at(
        &crate::helpers::qga_socket(paths, vmid),
        vmid,
        execute,
        arguments,
        timeout,
    )
}

fn connect(socket: &Path, vmid: u32, deadline: Instant) -> Result<UnixStream, String> {
    let mut count = 0;
    loop {
        count += 1;
        match UnixStream::connect(socket) {
            Ok(s) => return Ok(s),
            Err(e) => {
                let retry = matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound
                        | std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::WouldBlock
                );
                if !retry {
                    return Err(format!("unable to open qga socket - {e}\n"));
                }
                if Instant::now() >= deadline {
                    return Err(format!(
                        "unable to connect to VM {vmid} qga socket - timeout after {count} retries\n"
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Reads until the sync reply for `id` and the line after it. Errors carry whether they
/// are a timeout.
fn read_reply(
    stream: &mut UnixStream,
    id: u64,
    deadline: Instant,
) -> Result<Value, (String, bool)> {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(v) = parse_reply(&mut buf, id).map_err(|e| (e, false))? {
            return Ok(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(("got timeout\n".into(), true));
        }
        let _ = stream.set_read_timeout(Some(deadline - now));
        match stream.read(&mut chunk) {
            Ok(0) => return Err(("client closed connection\n".into(), false)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(("got timeout\n".into(), true))
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((format!("{e}\n"), false)),
        }
    }
}

/// The command reply in `buf` once complete: after the last `0xFF`, a sync reply line
/// `{"return": ID}` and the reply line. Sync replies of older ids drop what precedes
/// them; a newer id is an error (upstream: `got wrong command id`).
fn parse_reply(buf: &mut Vec<u8>, id: u64) -> Result<Option<Value>, String> {
    loop {
        let Some(start) = buf.iter().position(|b| *b == 0xff) else {
            // nothing before the delimiter counts
            buf.clear();
            return Ok(None);
        };
        let rest = &buf[start + 1..];
        let Some(nl1) = rest.iter().position(|b| *b == b'\n') else {
            return Ok(None);
        };
        let sync: Value = serde_json::from_slice(&rest[..nl1])
            .map_err(|e| format!("unable to parse agent reply - {e}\n"))?;
        let got = sync["return"]
            .as_u64()
            .ok_or("received response without command id\n")?;
        if got < id {
            // an abandoned command's sync; its reply (if any) precedes the next 0xFF
            buf.drain(..start + 1);
            continue;
        }
        if got != id {
            return Err(format!("got wrong command id '{got}' (expected {id})\n"));
        }
        let after = &rest[nl1 + 1..];
        let Some(nl2) = after.iter().position(|b| *b == b'\n') else {
            return Ok(None);
        };
        let line = String::from_utf8_lossy(&after[..nl2]).trim().to_string();
        if line.is_empty() {
            return Ok(None);
        }
        let reply: Value = serde_json::from_str(&line)
            .map_err(|e| format!("unable to parse agent reply - {e}\n"))?;
        return Ok(Some(reply));
    }
}

/// The `agent` option (upstream's `parse_guest_agent`): `enabled` (the default key),
/// `fstrim_cloned_disks`, `freeze-fs` (aliases `freeze-fs-on-backup`,
/// `guest-fsfreeze`), `type`. A disabled agent has no other properties.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AgentOptions {
    pub enabled: bool,
    pub fstrim_cloned_disks: bool,
    pub freeze_fs: Option<bool>,
    pub agent_type: Option<String>,
}

fn boolean(v: &str) -> bool {
    matches!(v, "1" | "on" | "yes" | "true")
}

pub fn parse_agent(value: Option<&str>) -> AgentOptions {
    let Some(value) = value else {
        return AgentOptions::default();
    };
    let mut o = AgentOptions::default();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            None | Some(("enabled", _)) => {
                o.enabled = boolean(part.split_once('=').map_or(part, |(_, v)| v))
            }
            Some(("fstrim_cloned_disks", v)) => o.fstrim_cloned_disks = boolean(v),
            Some(("freeze-fs" | "freeze-fs-on-backup" | "guest-fsfreeze", v)) => {
                o.freeze_fs = Some(boolean(v))
            }
            Some(("type", v)) => o.agent_type = Some(v.to_string()),
            Some(_) => {}
        }
    }
    if !o.enabled {
        return AgentOptions::default();
    }
    o
}

/// Upstream's `should_fs_freeze`: an enabled agent without `freeze-fs=0`.
pub fn should_fs_freeze(agent: Option<&str>) -> bool {
    let a = parse_agent(agent);
    a.enabled && a.freeze_fs.unwrap_or(true)
}

/// The agent answers `guest-ping` within 3 s.
pub fn check_running_at(socket: &Path, vmid: u32) -> bool {
    command_at(
        socket,
        vmid,
        "guest-ping",
        json!({}),
        Some(Duration::from_secs(3)),
    )
    .is_ok()
}

/// Upstream's `check_agent_error`: an agent error reply as `Agent error: DESC`.
fn agent_error(result: &Value) -> Option<String> {
    result["error"]["desc"]
        .as_str()
        .map(|d| format!("Agent error: {d}\n"))
}

/// Upstream's `guest_fs_is_frozen`.
pub fn is_frozen_at(socket: &Path, vmid: u32) -> Result<bool, String> {
    let status = command_at(socket, vmid, "guest-fsfreeze-status", json!({}), None)
        .map_err(|e| e.message)?;
    if let Some(e) = agent_error(&status) {
        return Err(e);
    }
    Ok(status.as_str() == Some("frozen"))
}

/// Upstream's `guest_fs_freeze`: `guest-fsfreeze-freeze` with `timeout` (10 min); when
/// that times out, up to five `guest-fsfreeze-status` queries of the same timeout wait
/// for the freeze to finish (the agent queues them behind it).
pub fn fs_freeze_at(
    socket: &Path,
    vmid: u32,
    timeout: Duration,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    match command_at(
        socket,
        vmid,
        "guest-fsfreeze-freeze",
        json!({}),
        Some(timeout),
    ) {
        Ok(r) => {
            if r.get("error").is_some() {
                let desc = r["error"]["desc"].as_str().unwrap_or("unknown");
                return Err(format!("unable to freeze guest fs - {desc}\n"));
            }
            return Ok(());
        }
        Err(e) if !e.timeout => {
            log(&e.message);
        }
        Err(_) => {}
    }
    let last = 5u64;
    let mut status: Option<Value> = None;
    let minutes = |n: u64| timeout.as_secs_f64() * n as f64 / 60.0;
    let mut i = 0;
    let polled = (|| {
        while i < last && status.is_none() {
            log(&format!(
                "still waiting on guest fs freeze - timeout in {} minutes",
                minutes(last - i)
            ));
            i += 1;
            match command_at(
                socket,
                vmid,
                "guest-fsfreeze-status",
                json!({}),
                Some(timeout),
            ) {
                Ok(v) => {
                    if let Some(e) = agent_error(&v) {
                        return Err(e);
                    }
                    status = Some(v);
                }
                Err(e) if e.timeout => {}
                Err(e) => return Err(format!("Agent error: {}", e.message)),
            }
        }
        if status.is_none() {
            return Err(format!("timeout after {} minutes\n", minutes(last + 1)));
        }
        Ok(())
    })();
    polled.map_err(|e| format!("querying status after freezing guest fs failed - {e}"))?;
    let status = status.unwrap_or_default();
    if status.as_str() != Some("frozen") {
        let shown = status
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string());
        return Err(format!(
            "unable to freeze guest fs - unexpected status '{shown}'\n"
        ));
    }
    Ok(())
}

/// Upstream's `guest_fs_thaw`.
pub fn fs_thaw_at(socket: &Path, vmid: u32) -> Result<(), String> {
    let r =
        command_at(socket, vmid, "guest-fsfreeze-thaw", json!({}), None).map_err(|e| e.message)?;
    match agent_error(&r) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Upstream's `guest_fs_freeze_applicable`: freezing is configured, the agent answers
/// and the file systems are not frozen already; each "no" is logged.
pub fn fs_freeze_applicable_at(
    agent: Option<&str>,
    socket: &Path,
    vmid: u32,
    log: &dyn Fn(&str),
) -> bool {
    if !should_fs_freeze(agent) {
        log("skipping guest filesystem freeze - disabled in VM options");
        return false;
    }
    if !check_running_at(socket, vmid) {
        log("skipping guest filesystem freeze - agent configured but not running?");
        return false;
    }
    match is_frozen_at(socket, vmid) {
        Ok(true) => {
            log("skipping guest filesystem freeze - already frozen");
            false
        }
        Ok(false) => true,
        Err(e) => {
            log(&format!("unable to check guest fs freeze status - {e}"));
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};

    /// A fake agent: answers each sync and then the command with `reply(execute)`
    /// (`None`: never answers that command). Records the commands it saw.
    struct FakeAgent {
        dir: std::path::PathBuf,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl Drop for FakeAgent {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    impl FakeAgent {
        fn socket(&self) -> std::path::PathBuf {
            self.dir.join("100.qga")
        }
    }

    fn fake_agent(tag: &str, reply: impl Fn(&str) -> Option<Value> + Send + 'static) -> FakeAgent {
        let dir = std::env::temp_dir().join(format!("qga-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("100.qga")).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let mut out = conn.try_clone().unwrap();
                let mut lines = BufReader::new(conn).lines();
                while let Some(Ok(line)) = lines.next() {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    let exec = v["execute"].as_str().unwrap_or_default().to_string();
                    if exec == "guest-sync-delimited" {
                        let id = v["arguments"]["id"].as_u64().unwrap();
                        // some noise of an earlier session first
                        out.write_all(b"garbage\xff{\"return\": 1}\n").unwrap();
                        out.write_all(b"\0\n").unwrap();
                        out.write_all(b"\xff").unwrap();
                        out.write_all(format!("{{\"return\": {id}}}\n").as_bytes())
                            .unwrap();
                        continue;
                    }
                    log.lock().unwrap().push(exec.clone());
                    if let Some(r) = reply(&exec) {
                        out.write_all(format!("{r}\n").as_bytes()).unwrap();
                    }
                }
            }
        });
        FakeAgent { dir, seen }
    }

    #[test]
    fn agent_option_parsing() {
        assert!(!should_fs_freeze(None));
        assert!(!should_fs_freeze(Some("0")));
        assert!(should_fs_freeze(Some("1")));
        assert!(should_fs_freeze(Some("enabled=1,fstrim_cloned_disks=1")));
        assert!(!should_fs_freeze(Some("1,freeze-fs=0")));
        assert!(!should_fs_freeze(Some("1,freeze-fs-on-backup=0")));
        assert!(!should_fs_freeze(Some("0,freeze-fs=1")));
        let a = parse_agent(Some("1,type=isa,fstrim_cloned_disks=1"));
        assert_eq!(a.agent_type.as_deref(), Some("isa"));
        assert!(a.fstrim_cloned_disks);
    }

    #[test]
    fn sync_delimited_protocol_and_freeze_thaw() {
        let frozen = Arc::new(Mutex::new(false));
        let f = frozen.clone();
        let agent = fake_agent("ok", move |exec| {
            Some(match exec {
                "guest-ping" => json!({"return": {}}),
                "guest-fsfreeze-status" => {
                    let s = if *f.lock().unwrap() {
                        "frozen"
                    } else {
                        "thawed"
                    };
                    json!({ "return": s })
                }
                "guest-fsfreeze-freeze" => {
                    *f.lock().unwrap() = true;
                    json!({"return": 2})
                }
                "guest-fsfreeze-thaw" => {
                    *f.lock().unwrap() = false;
                    json!({"return": 2})
                }
                _ => json!({"error": {"class": "CommandNotFound", "desc": "no such command"}}),
            })
        });
        let sock = agent.socket();
        let logged = Mutex::new(Vec::<String>::new());
        let log = |l: &str| logged.lock().unwrap().push(l.to_string());
        assert!(fs_freeze_applicable_at(Some("1"), &sock, 100, &log));
        fs_freeze_at(&sock, 100, Duration::from_secs(5), &log).unwrap();
        assert!(*frozen.lock().unwrap());
        // already frozen: skipped with upstream's line
        assert!(!fs_freeze_applicable_at(Some("1"), &sock, 100, &log));
        fs_thaw_at(&sock, 100).unwrap();
        assert!(!*frozen.lock().unwrap());
        assert!(!fs_freeze_applicable_at(
            Some("1,freeze-fs=0"),
            &sock,
            100,
            &log
        ));
        assert_eq!(
            *logged.lock().unwrap(),
            vec![
                "skipping guest filesystem freeze - already frozen",
                "skipping guest filesystem freeze - disabled in VM options",
            ]
        );
        // an agent error reply is returned, not a transport failure
        let r = command_at(&sock, 100, "guest-nope", json!({}), None).unwrap();
        assert_eq!(r["error"]["desc"], "no such command");
        assert_eq!(
            *agent.seen.lock().unwrap(),
            vec![
                "guest-ping",
                "guest-fsfreeze-status",
                "guest-fsfreeze-freeze",
                "guest-ping",
                "guest-fsfreeze-status",
                "guest-fsfreeze-thaw",
                "guest-nope",
            ]
        );
    }

    #[test]
    fn silent_agent_times_out_and_is_skipped() {
        let agent = fake_agent("silent", |_| None);
        let sock = agent.socket();
        let e = command_at(
            &sock,
            100,
            "guest-ping",
            json!({}),
            Some(Duration::from_millis(300)),
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "VM 100 qga command 'guest-ping' failed - got timeout\n"
        );
        assert!(e.timeout);
        let logged = Mutex::new(Vec::<String>::new());
        let log = |l: &str| logged.lock().unwrap().push(l.to_string());
        let start = Instant::now();
        assert!(!fs_freeze_applicable_at(Some("1"), &sock, 100, &log));
        assert!(start.elapsed() >= Duration::from_secs(3));
        assert_eq!(
            *logged.lock().unwrap(),
            vec!["skipping guest filesystem freeze - agent configured but not running?"]
        );
        // no socket at all
        let e = command_at(
            &agent.dir.join("nope.qga"),
            100,
            "guest-ping",
            json!({}),
            Some(Duration::from_millis(200)),
        )
        .unwrap_err();
        assert!(e
            .message
            .starts_with("VM 100 qga command 'guest-ping' failed - unable to connect to VM 100 qga socket - timeout after"));
    }

    #[test]
    fn freeze_that_outlasts_its_timeout_is_polled() {
        // the freeze itself is never answered in time; the status query says frozen
        let agent = fake_agent("slow", |exec| match exec {
            "guest-fsfreeze-freeze" => None,
            "guest-fsfreeze-status" => Some(json!({"return": "frozen"})),
            _ => Some(json!({"return": {}})),
        });
        let logged = Mutex::new(Vec::<String>::new());
        let log = |l: &str| logged.lock().unwrap().push(l.to_string());
        fs_freeze_at(&agent.socket(), 100, Duration::from_millis(300), &log).unwrap();
        assert_eq!(
            *logged.lock().unwrap(),
            vec!["still waiting on guest fs freeze - timeout in 0.025 minutes"]
        );
        // an agent refusing the freeze
        let agent = fake_agent("refuse", |_| {
            Some(json!({"error": {"class": "GenericError", "desc": "fsfreeze is disabled"}}))
        });
        assert_eq!(
            fs_freeze_at(&agent.socket(), 100, Duration::from_secs(1), &|_| {}).unwrap_err(),
            "unable to freeze guest fs - fsfreeze is disabled\n"
        );
    }
}
