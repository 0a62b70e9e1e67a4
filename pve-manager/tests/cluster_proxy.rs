//! `proxyto` across a real 2-node cluster: every node runs corosync, our pmxcfs,
//! pvedaemon and pveproxy in its own network namespace; and `pvecm add` joining a third
//! node through the API. A call to node 1's pveproxy for
//! `/nodes/<node2>/…` is answered by node 2 (its own /etc/network/interfaces), with the
//! caller's ticket and CSRF token travelling along; node 2's certificate is pinned.
//! Needs root, corosync, /dev/fuse, network namespaces, curl and the `pmxcfs` binary
//! (built by `cargo test --workspace`); prints `SKIP: reason` otherwise, or fails with
//! `PVE_TEST_REQUIRE_HOST=1`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pve_access_control::store::ConfigFiles;
use pve_cluster::testcluster::{host_problem, node_name, TestCluster};
use pve_common::NodePaths;
use serde_json::Value;

const TOKEN_SECRET: &str = "0f9a3c52-55c4-4b1e-9d1e-0c5d8c2f7e11";

fn skip(reason: &str) {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("host feature required but missing: {reason}");
    }
    println!("SKIP: {reason}");
}

/// Stops the daemons and the cluster, whatever happened.
struct Guard {
    cluster: TestCluster,
    daemons: Vec<Child>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            // SAFETY: SIGTERM to a child process we started.
            unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
        }
        for d in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = d.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
        self.cluster.down_quiet();
    }
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_pveproxy"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn start_daemon(c: &TestCluster, i: usize, name: &str) -> Child {
    start_daemon_with_shadow(c, i, name, None)
}

/// A daemon in node `i`'s namespace; with `shadow`, in a mount namespace of its own
/// where that file is /etc/shadow (PAM logins as root@pam with a password the test
/// knows, without touching the host's).
fn start_daemon_with_shadow(c: &TestCluster, i: usize, name: &str, shadow: Option<&Path>) -> Child {
    let root = c.root(i);
    let log = std::fs::File::create(root.join(format!("var/log/{name}.out"))).unwrap();
    let bin = bin_dir().join(name);
    let mut cmd = match shadow {
        None => {
            let mut cmd = c.in_node(i, &bin.to_string_lossy());
            cmd.args(["start", "--debug"]);
            cmd
        }
        Some(file) => {
            let mut cmd = c.in_node(i, "unshare");
            cmd.args(["-m", "--propagation", "private", "sh", "-c"])
                .arg(format!(
                    "mount --bind '{}' /etc/shadow && exec '{}' start --debug",
                    file.display(),
                    bin.display()
                ));
            cmd
        }
    };
    cmd.env("PVE_ROOT", &root)
        .env("PVE_NODE_NAME", node_name(i))
        .env("PVE_DAEMON_ADDR", "127.0.0.1:85")
        .env("PVE_PROXY_ADDR", format!("{}:8006", c.addr(i)))
        .env("PVE_AUTH_FAIL_DELAY_MS", "10")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .unwrap()
}

/// `curl` inside node `from`'s namespace: (HTTP status, JSON body).
fn curl(c: &TestCluster, from: usize, args: &[&str], url: &str) -> (u16, Value) {
    let out = c
        .in_node(from, "curl")
        .args(["-sk", "--max-time", "40", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (code.trim().parse().unwrap_or(0), json)
}

fn wait_listening(c: &TestCluster, i: usize) {
    let url = format!("https://{}:8006/api2/json/version", c.addr(i));
    let deadline = Instant::now() + Duration::from_secs(30);
    while curl(c, i, &[], &url).0 != 401 {
        assert!(
            Instant::now() < deadline,
            "pveproxy on node {i} did not come up: {}",
            std::fs::read_to_string(c.root(i).join("var/log/pveproxy.out")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn interfaces(i: usize) -> String {
    format!("auto lo\niface lo inet loopback\n\nauto vmbr{i}\niface vmbr{i} inet manual\n\tbridge-ports none\n")
}

fn iface_names(v: &Value) -> Vec<String> {
    let mut names: Vec<String> = v["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["iface"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn proxyto_reaches_the_named_node() {
    if let Some(reason) = host_problem() {
        return skip(&reason);
    }
    if !bin_dir().join("pmxcfs").exists() {
        return skip("pmxcfs is not built (cargo build -p pve-cluster)");
    }
    if Command::new("curl").arg("--version").output().is_err() {
        return skip("curl is missing");
    }
    let pid = std::process::id();
    let base = PathBuf::from(format!("/var/tmp/pve-proxy-test-{pid}"));
    let cluster = TestCluster::new(
        &format!("ppx{}", pid % 10000),
        (pid % 200 + 20) as u8,
        2,
        &base,
        &bin_dir().join("pmxcfs"),
    );
    let mut g = Guard {
        cluster: cluster.clone(),
        daemons: Vec::new(),
    };
    cluster.up().expect("cluster up");
    cluster
        .wait_quorate(&[1, 2], 2, Duration::from_secs(30))
        .expect("quorate");
    let c = &cluster;

    // Users and keys live in the cluster file system; host files are per node.
    std::fs::write(
        c.mnt(1).join("user.cfg"),
        "user:root@pam:1:0:::::::\ntoken:root@pam!t1:0:0::\n",
    )
    .unwrap();
    std::fs::create_dir_all(c.mnt(1).join("priv")).unwrap();
    std::fs::write(
        c.mnt(1).join("priv/token.cfg"),
        format!("root@pam!t1 {TOKEN_SECRET}\n"),
    )
    .unwrap();
    std::fs::write(
        c.mnt(1).join("storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,iso\n",
    )
    .unwrap();
    for i in 1..=2 {
        let etc = c.root(i).join("etc/network");
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(etc.join("interfaces"), interfaces(i)).unwrap();
    }
    let files = ConfigFiles::new(NodePaths::new(c.root(1)));
    let ticket = pve_access_control::tickets::assemble_ticket(&files, "root@pam").unwrap();
    let csrf = pve_access_control::csrf::assemble_csrf_token(&files, "root@pam").unwrap();
    let cookie = format!(
        "PVEAuthCookie={}",
        percent_encoding::utf8_percent_encode(&ticket, percent_encoding::NON_ALPHANUMERIC)
    );

    // One node at a time: the first pveproxy creates the cluster's CA.
    for i in 1..=2 {
        g.daemons.push(start_daemon(c, i, "pvedaemon"));
        g.daemons.push(start_daemon(c, i, "pveproxy"));
        wait_listening(c, i);
    }
    // pveproxy gave up root once it listened, as upstream (pvedaemon stays root).
    for (k, want) in [(1, 33u32), (0, 0u32)] {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", g.daemons[k].id())).unwrap();
        let uid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        let www_data = pve_cluster::daemon::www_data_gid();
        assert_eq!(uid, if want == 0 { 0 } else { www_data }, "daemon {k}");
    }
    let (n1, n2) = (node_name(1), node_name(2));
    let url = |node: &str, rest: &str| {
        format!("https://{}:8006/api2/json/nodes/{node}/{rest}", c.addr(1))
    };
    let auth = ["-b", cookie.as_str()];

    // Local and forwarded reads: each answer comes from the named node's host files.
    let (st, local) = curl(c, 1, &auth, &url(&n1, "network"));
    assert_eq!(st, 200, "{local}");
    assert!(
        iface_names(&local).contains(&"vmbr1".to_string()),
        "{local}"
    );
    let (st, remote) = curl(c, 1, &auth, &url(&n2, "network"));
    assert_eq!(st, 200, "{remote}");
    let names = iface_names(&remote);
    assert!(names.contains(&"vmbr2".to_string()), "{remote}");
    assert!(!names.contains(&"vmbr1".to_string()), "{remote}");

    // An API token works through both nodes' pveproxy, which read token.cfg (private)
    // through pmxcfs' IPC socket.
    let token = format!("Authorization: PVEAPIToken=root@pam!t1={TOKEN_SECRET}");
    let (st, body) = curl(c, 1, &["-H", token.as_str()], &url(&n2, "network"));
    assert_eq!(st, 200, "{body}");
    assert!(iface_names(&body).contains(&"vmbr2".to_string()), "{body}");
    let bad = "Authorization: PVEAPIToken=root@pam!t1=00000000-0000-0000-0000-000000000000";
    let (st, _) = curl(c, 1, &["-H", bad], &url(&n1, "network"));
    assert_eq!(st, 401);

    // Credentials travel: no ticket is refused by the target node too.
    let (st, _) = curl(c, 1, &[], &url(&n2, "network"));
    assert_eq!(st, 401);

    // A protected write with its CSRF token goes to node 2's pveproxy, which hands it
    // to node 2's pvedaemon: the image lands in node 2's storage folder only.
    let csrf_header = format!("CSRFPreventionToken: {csrf}");
    let (st, body) = curl(
        c,
        1,
        &[
            "-b",
            cookie.as_str(),
            "-H",
            csrf_header.as_str(),
            "-X",
            "POST",
            "--data",
            "vmid=100&filename=vm-100-disk-0.raw&size=1M",
        ],
        &url(&n2, "storage/local/content"),
    );
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"], "local:100/vm-100-disk-0.raw");
    let image = "var/lib/vz/images/100/vm-100-disk-0.raw";
    assert!(c.root(2).join(image).exists());
    assert!(!c.root(1).join(image).exists());
    // without the CSRF token the write is refused before it travels
    let (st, _) = curl(
        c,
        1,
        &[
            "-b",
            cookie.as_str(),
            "-X",
            "POST",
            "--data",
            "vmid=100&filename=vm-100-disk-1.raw&size=1M",
        ],
        &url(&n2, "storage/local/content"),
    );
    assert_eq!(st, 401);

    // A node that exists nowhere fails the address lookup, as upstream.
    let (st, body) = curl(c, 1, &auth, &url("nope", "network"));
    assert_eq!(st, 500, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("hostname lookup 'nope' failed"),
        "{body}"
    );

    // A node whose certificate does not match its pinned one is not talked to.
    let pem = c.mnt(1).join(format!("nodes/{n2}/pve-ssl.pem"));
    let saved = std::fs::read(&pem).unwrap();
    let other = std::fs::read(c.mnt(1).join(format!("nodes/{n1}/pve-ssl.pem"))).unwrap();
    std::fs::write(&pem, &other).unwrap();
    let (st, _) = curl(c, 1, &auth, &url(&n2, "network"));
    assert_eq!(st, 595);
    std::fs::write(&pem, &saved).unwrap();
    let (st, _) = curl(c, 1, &auth, &url(&n2, "network"));
    assert_eq!(st, 200);

    // The cluster log: an entry logged on node 2 is read through node 1's pveproxy
    // (www-data, which asks pmxcfs over its IPC socket), newest first, with `id`.
    pve_cluster::ipc::log_msg(
        &NodePaths::new(c.root(2)),
        5,
        "root@pam",
        "apitest",
        "logged on node 2",
    )
    .unwrap();
    let log_url = format!("https://{}:8006/api2/json/cluster/log?max=1", c.addr(1));
    let mut newest = Value::Null;
    for _ in 0..100 {
        let (st, body) = curl(c, 1, &auth, &log_url);
        assert_eq!(st, 200, "{body}");
        newest = body["data"][0].clone();
        if newest["msg"] == "logged on node 2" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(body_len(&newest), 9, "{newest}");
    assert_eq!(newest["node"], n2.as_str());
    assert_eq!(newest["user"], "root@pam");
    assert_eq!(newest["tag"], "apitest");
    assert_eq!(newest["pri"], 5);
    assert_eq!(
        newest["id"],
        format!("{}:{n2}", newest["uid"].as_u64().unwrap()).as_str()
    );

    reused_list_answers_follow_every_change(c, &auth);
}

/// The guest list is reused per caller while nothing it shows changed (pvedaemon's
/// answer cache): a rewritten config, a config written on the other node, another
/// caller and a changed ACL all show at once.
fn reused_list_answers_follow_every_change(c: &TestCluster, auth: &[&str]) {
    let n1 = node_name(1);
    let list_url = format!("https://{}:8006/api2/json/nodes/{n1}/qemu", c.addr(1));
    // `vmid:FIELD` of each listed guest, sorted.
    let listed = |args: &[&str], field: &str| -> Vec<String> {
        let (st, body) = curl(c, 1, args, &list_url);
        assert_eq!(st, 200, "{body}");
        let mut v: Vec<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}:{}", e["vmid"], e[field].as_str().unwrap_or("")))
            .collect();
        v.sort();
        v
    };
    let names = |args: &[&str]| listed(args, "name");
    let conf_dir = c.mnt(1).join(format!("nodes/{n1}/qemu-server"));
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("500.conf"), "name: first\nmemory: 512\n").unwrap();
    assert_eq!(names(auth), ["500:first"]);
    assert_eq!(names(auth), ["500:first"], "asked again, unchanged");
    // Same size, same second: still seen.
    std::fs::write(conf_dir.join("500.conf"), "name: secnd\nmemory: 512\n").unwrap();
    assert_eq!(names(auth), ["500:secnd"]);
    // Written through node 2's mount: replicated, and the list follows.
    let remote_dir = c.mnt(2).join(format!("nodes/{n1}/qemu-server"));
    std::fs::write(remote_dir.join("501.conf"), "name: other\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names(auth).len() != 2 {
        assert!(Instant::now() < deadline, "501 never showed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(names(auth), ["500:secnd", "501:other"]);

    // A VM that starts or stops shows at once, through pveproxy (which runs as www-data
    // and keeps answers of the calls it hands to pvedaemon) as through pvedaemon. The
    // "VM" is a process whose command line names the pid file, as QEMU's does.
    let statuses = || listed(auth, "status");
    assert_eq!(statuses(), ["500:stopped", "501:stopped"]);
    let run_dir = c.root(1).join("run/qemu-server");
    std::fs::create_dir_all(&run_dir).unwrap();
    let pidfile = run_dir.join("500.pid");
    let mut vm = Command::new("sh")
        .args(["-c", "sleep 60", "-pidfile"])
        .arg(&pidfile)
        .spawn()
        .unwrap();
    std::fs::write(&pidfile, format!("{}\n", vm.id())).unwrap();
    assert_eq!(statuses(), ["500:running", "501:stopped"]);
    assert_eq!(statuses(), ["500:running", "501:stopped"], "asked again");
    vm.kill().unwrap();
    vm.wait().unwrap();
    assert_eq!(
        statuses(),
        ["500:stopped", "501:stopped"],
        "pid file left behind"
    );
    std::fs::remove_file(&pidfile).unwrap();

    // A token with privilege separation and no ACL sees nothing; an ACL for it on
    // one VM shows that VM at once.
    let user_cfg = c.mnt(1).join("user.cfg");
    let base = std::fs::read_to_string(&user_cfg).unwrap();
    std::fs::write(&user_cfg, format!("{base}token:root@pam!sep:0:1::\n")).unwrap();
    let token_cfg = c.mnt(1).join("priv/token.cfg");
    let tokens = std::fs::read_to_string(&token_cfg).unwrap();
    std::fs::write(&token_cfg, format!("{tokens}root@pam!sep {TOKEN_SECRET}\n")).unwrap();
    let sep = format!("Authorization: PVEAPIToken=root@pam!sep={TOKEN_SECRET}");
    let sep_auth = ["-H", sep.as_str()];
    assert_eq!(names(&sep_auth), Vec::<String>::new());
    assert_eq!(names(auth).len(), 2, "root's answer is its own");
    std::fs::write(
        &user_cfg,
        format!("{base}token:root@pam!sep:0:1::\nacl:1:/vms/501:root@pam!sep:PVEAuditor:\n"),
    )
    .unwrap();
    assert_eq!(names(&sep_auth), ["501:other"]);
    std::fs::remove_file(conf_dir.join("500.conf")).unwrap();
    assert_eq!(names(auth), ["501:other"]);
}

fn body_len(v: &Value) -> usize {
    v.as_object().map(|o| o.len()).unwrap_or(0)
}

#[test]
fn pvecm_add_joins_through_the_api() {
    if let Some(reason) = host_problem() {
        return skip(&reason);
    }
    for b in ["pmxcfs", "pvecm"] {
        if !bin_dir().join(b).exists() {
            return skip(&format!("{b} is not built (cargo build -p pve-cluster)"));
        }
    }
    if Command::new("curl").arg("--version").output().is_err() {
        return skip("curl is missing");
    }
    let pid = std::process::id();
    let base = PathBuf::from(format!("/var/tmp/pve-join-test-{pid}"));
    let cluster = TestCluster::new(
        &format!("pjn{}", pid % 10000),
        (pid % 20 + 200) as u8,
        3,
        &base,
        &bin_dir().join("pmxcfs"),
    );
    let mut g = Guard {
        cluster: cluster.clone(),
        daemons: Vec::new(),
    };
    cluster.up_with(2).expect("2-node cluster up");
    cluster
        .wait_quorate(&[1, 2], 2, Duration::from_secs(30))
        .expect("quorate");
    let c = &cluster;
    std::fs::write(c.mnt(1).join("user.cfg"), "user:root@pam:1:0:::::::\n").unwrap();
    let wait = |what: &str, f: &mut dyn FnMut() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !f() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // every member must see user.cfg before logins are tried anywhere
    wait("user.cfg on node 2", &mut || {
        c.mnt(2).join("user.cfg").exists()
    });

    // root@pam's password, known only inside node 1's pvedaemon's mount namespace
    let password = "join-test-secret";
    let hash = Command::new("openssl")
        .args(["passwd", "-6", "-salt", "pvejointest", password])
        .output()
        .unwrap();
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    let shadow: String = std::fs::read_to_string("/etc/shadow")
        .unwrap()
        .lines()
        .map(|l| match l.split_once(':') {
            Some(("root", rest)) => {
                let tail = rest.split_once(':').map(|x| x.1).unwrap_or("");
                format!("root:{hash}:{tail}\n")
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let shadow_file = base.join("shadow");
    std::fs::write(&shadow_file, shadow).unwrap();
    g.daemons.push(start_daemon_with_shadow(
        c,
        1,
        "pvedaemon",
        Some(&shadow_file),
    ));
    g.daemons.push(start_daemon(c, 1, "pveproxy"));
    wait_listening(c, 1);
    let fp = {
        let pem =
            std::fs::read(c.mnt(1).join(format!("nodes/{}/pve-ssl.pem", node_name(1)))).unwrap();
        let cert = openssl::x509::X509::from_pem(&pem).unwrap();
        let d = cert.digest(openssl::hash::MessageDigest::sha256()).unwrap();
        d.iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    };

    let pvecm = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = c
            .in_node(3, &bin_dir().join("pvecm").to_string_lossy())
            .args(args)
            .env("PVE_ROOT", c.root(3))
            .env("PVE_NODE_NAME", node_name(3))
            .env("PVE_NODE_IP", c.addr(3))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let addr1 = c.addr(1);
    let addr3 = c.addr(3);
    // a wrong fingerprint is refused before any password travels
    let wrong = "00:".repeat(31) + "00";
    let out = pvecm(
        &["add", &addr1, "--fingerprint", &wrong, "--link0", &addr3],
        &format!("{password}\n"),
    );
    assert!(!out.status.success());
    // a wrong password fails the login
    let out = pvecm(
        &["add", &addr1, "--fingerprint", &fp, "--link0", &addr3],
        "nope\n",
    );
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!c.root(3).join("etc/corosync/corosync.conf").exists());

    let out = pvecm(
        &["add", &addr1, "--fingerprint", &fp, "--link0", &addr3],
        &format!("{password}\n"),
    );
    assert!(
        out.status.success(),
        "pvecm add: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let conf3 = std::fs::read_to_string(c.root(3).join("etc/corosync/corosync.conf")).unwrap();
    assert!(
        conf3.contains(&format!("name: {}", node_name(3))),
        "{conf3}"
    );
    assert_eq!(
        std::fs::read(c.root(3).join("etc/corosync/authkey")).unwrap(),
        std::fs::read(c.root(1).join("etc/corosync/authkey")).unwrap()
    );
    // the cluster's own copy has the node, and it reaches the members' host copies
    for i in 1..=2 {
        let host = c.root(i).join("etc/corosync/corosync.conf");
        wait("host corosync.conf with node3", &mut || {
            std::fs::read_to_string(&host)
                .is_ok_and(|t| t.contains(&format!("name: {}", node_name(3))))
        });
    }
    // a configured node is refused before it asks (upstream's pre-join checks)
    let out = pvecm(
        &["add", &addr1, "--fingerprint", &fp, "--link0", &addr3],
        &format!("{password}\n"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("* authentication key '/etc/corosync/authkey' already exists")
            && err.contains("Check if node may join a cluster failed!"),
        "{err}"
    );
    // a link address not on this node is refused too
    let key3 = std::fs::read(c.root(3).join("etc/corosync/authkey")).unwrap();
    std::fs::remove_file(c.root(3).join("etc/corosync/authkey")).unwrap();
    std::fs::remove_file(c.root(3).join("etc/corosync/corosync.conf")).unwrap();
    let out = pvecm(
        &["add", &addr1, "--fingerprint", &fp, "--link0", "192.0.2.77"],
        &format!("{password}\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("* link0: cannot use IP '192.0.2.77', not found on local node!"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the same node again is refused by the cluster
    let out = pvecm(
        &["add", &addr1, "--fingerprint", &fp, "--link0", &addr3],
        &format!("{password}\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("can't add existing node"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(c.root(3).join("etc/corosync/corosync.conf"), &conf3).unwrap();
    std::fs::write(c.root(3).join("etc/corosync/authkey"), &key3).unwrap();

    // node 3 comes up with the cluster's config and takes the cluster's data
    c.start_corosync(3).unwrap();
    c.start_pmxcfs(3).unwrap();
    c.wait_quorate(&[1, 2, 3], 3, Duration::from_secs(60))
        .expect("3 nodes quorate");
    wait("user.cfg on node 3", &mut || {
        c.mnt(3).join("user.cfg").exists()
    });
}
