//! Real-QEMU lifecycle tests: start, QMP status, suspend/resume, reset, monitor,
//! stop, ACPI shutdown of the guest image, and a failed start leaving nothing behind.
//! Needs root, qemu-system-x86_64 and qemu-img; KVM is used when /dev/kvm works.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pve_common::paths::NodePaths;
use qemu_server::helpers;
use qemu_server::qmp::QmpClient;
use qemu_server::run::{self, RunEnv, StartOptions, StopOptions};

const NODE: &str = "qmtest";

fn skip(reason: &str) -> bool {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("host lacks a feature: {reason}");
    }
    println!("SKIP: {reason}");
    true
}

fn host_ok() -> bool {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0 {
        return !skip("not root");
    }
    for bin in ["qemu-system-x86_64", "qemu-img", "ip"] {
        if Command::new(bin).arg("--version").output().is_err()
            && Command::new(bin).arg("-V").output().is_err()
        {
            return !skip(&format!("{bin} missing"));
        }
    }
    true
}

struct Node {
    root: PathBuf,
    env: RunEnv,
    bridge: Option<String>,
}

impl Drop for Node {
    fn drop(&mut self) {
        // a failed assertion must not leave a VM behind
        if let Ok(rd) = std::fs::read_dir(helpers::run_dir(&self.env.paths)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(vmid) = name.strip_suffix(".pid").and_then(|v| v.parse().ok()) {
                    if let Some(pid) = helpers::vm_running_locally(&self.env.paths, vmid) {
                        // SAFETY: plain kill(2) of the VM's own QEMU.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                    run::remove_taps(vmid);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        if let Some(b) = &self.bridge {
            let _ = Command::new("ip").args(["link", "del", b]).output();
        }
    }
}

fn node(tag: &str) -> Node {
    let root = std::env::temp_dir().join(format!("qs-run-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(format!("etc/pve/nodes/{NODE}/qemu-server"))).unwrap();
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,iso\n\n",
    )
    .unwrap();
    let paths = NodePaths::new(&root);
    Node {
        root,
        env: RunEnv::new(paths, NODE),
        bridge: None,
    }
}

impl Node {
    fn write_conf(&self, vmid: u32, conf: &str) {
        std::fs::write(self.env.config_path(vmid), conf).unwrap();
    }

    fn disk(&self, vmid: u32, size: &str) -> String {
        let dir = self.root.join(format!("var/lib/vz/images/{vmid}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("vm-{vmid}-disk-0.qcow2"));
        let st = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&file)
            .arg(size)
            .status()
            .unwrap();
        assert!(st.success());
        format!("local:{vmid}/vm-{vmid}-disk-0.qcow2")
    }

    /// A bridge without uplink or address, unique to this test.
    fn bridge(&mut self, name: &str) -> String {
        let _ = Command::new("ip").args(["link", "del", name]).output();
        let st = Command::new("ip")
            .args(["link", "add", name, "type", "bridge"])
            .status()
            .unwrap();
        assert!(st.success());
        let _ = Command::new("ip")
            .args(["link", "set", name, "up"])
            .status();
        self.bridge = Some(name.to_string());
        name.to_string()
    }

    fn paths(&self) -> &NodePaths {
        &self.env.paths
    }
}

fn qemu_processes_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn qmp_status(paths: &NodePaths, vmid: u32) -> String {
    rt().block_on(async {
        let c = QmpClient::open(&helpers::qmp_socket(paths, vmid))
            .await
            .unwrap();
        c.status_name().await.unwrap()
    })
}

#[test]
fn start_status_suspend_resume_stop() {
    if !host_ok() {
        return;
    }
    let mut n = node("basic");
    let vmid = 9301;
    let br = n.bridge("qsbr9301");
    let vol = n.disk(vmid, "64M");
    let conf = format!(
        "boot: order=scsi0\ncores: 1\nmemory: 128\nname: lifecycle\nnet0: virtio=BC:24:11:00:93:01,bridge={br}\nscsi0: {vol},size=64M\nserial0: socket\n"
    );
    n.write_conf(vmid, &conf);

    let pid = run::vm_start(&n.env, vmid, &StartOptions::default()).expect("start");
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), Some(pid));
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    // the tap exists and hangs on the bridge
    let master = std::fs::read_link(format!("/sys/class/net/tap{vmid}i0/master")).unwrap();
    assert_eq!(master.file_name().unwrap().to_string_lossy(), br);

    // second start refused
    let err = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), format!("VM {vmid} already running"));

    let st = run::vm_status(&n.env, vmid).unwrap();
    assert_eq!(st["status"], "running");
    assert_eq!(st["qmpstatus"], "running");
    assert_eq!(st["pid"], pid);
    assert_eq!(st["cpus"], 1);
    assert_eq!(st["maxmem"], 128u64 << 20);
    assert_eq!(st["maxdisk"], 64u64 << 20);
    assert_eq!(st["name"], "lifecycle");
    assert!(st["running-qemu"].as_str().unwrap().starts_with("10."));

    run::vm_suspend(&n.env, vmid, false).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "paused");
    assert_eq!(run::vm_status(&n.env, vmid).unwrap()["qmpstatus"], "paused");
    run::vm_resume(&n.env, vmid, false, false).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    run::vm_reset(&n.env, vmid, false).unwrap();

    let info = run::vm_monitor(&n.env, vmid, "info status").unwrap();
    assert!(info.contains("running"), "{info}");
    run::vm_sendkey(&n.env, vmid, "ctrl-alt-delete", false).unwrap();
    assert!(run::vm_sendkey(&n.env, vmid, "nosuchkey", false).is_err());

    // a lock in the config refuses stop without skiplock
    n.write_conf(vmid, &format!("{conf}lock: backup\n"));
    let err = run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap_err();
    assert_eq!(err.to_string(), "VM is locked (backup)");
    n.write_conf(vmid, &conf);

    let mut warnings = Vec::new();
    run::vm_stop(
        &n.env,
        vmid,
        &StopOptions {
            timeout: Some(5),
            force: true,
            ..Default::default()
        },
        &mut |w| warnings.push(w.to_string()),
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), None);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists()
            || qemu_processes_with(&format!("/{vmid}.pid")).is_empty()
    );
    assert!(!helpers::qmp_socket(n.paths(), vmid).exists());
    assert!(!helpers::pidfile_name(n.paths(), vmid).exists());
    assert!(!Path::new(&format!("/sys/class/net/tap{vmid}i0")).exists());
    assert_eq!(run::vm_status(&n.env, vmid).unwrap()["status"], "stopped");
}

#[test]
fn failed_start_leaves_nothing() {
    if !host_ok() {
        return;
    }
    let mut n = node("fail");
    let vmid = 9302;
    let br = n.bridge("qsbr9302");
    let vol = n.disk(vmid, "16M");
    // corrupt the image: QEMU refuses it after the tap has been created
    let file = n
        .root
        .join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.qcow2"));
    std::fs::write(&file, b"QFI\xfbgarbage").unwrap();
    let conf =
        format!("memory: 128\nnet0: virtio=BC:24:11:00:93:02,bridge={br}\nscsi0: {vol},size=16M\n");
    n.write_conf(vmid, &conf);
    let err = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("start failed: QEMU exited with code 1"),
        "{msg}"
    );
    assert!(qemu_processes_with(&format!("{vmid}.pid")).is_empty());
    assert!(!helpers::qmp_socket(n.paths(), vmid).exists());
    assert!(!helpers::pidfile_name(n.paths(), vmid).exists());
    assert!(!Path::new(&format!("/sys/class/net/tap{vmid}i0")).exists());
    assert_eq!(
        std::fs::read_to_string(n.env.config_path(vmid)).unwrap(),
        conf
    );
    // the config lock is free again
    drop(run::lock_config(n.paths(), vmid, Duration::from_millis(100)).unwrap());

    // a missing volume fails before anything starts
    std::fs::remove_file(&file).unwrap();
    let err = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    assert!(!Path::new(&format!("/sys/class/net/tap{vmid}i0")).exists());

    // a missing bridge
    n.disk(vmid, "16M");
    n.write_conf(
        vmid,
        "memory: 128\nnet0: virtio=BC:24:11:00:93:02,bridge=nosuchbr0\n",
    );
    let err = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "start failed: bridge 'nosuchbr0' does not exist"
    );
    assert!(qemu_processes_with(&format!("{vmid}.pid")).is_empty());
}

#[test]
fn qmp_client_events_and_errors() {
    if !host_ok() {
        return;
    }
    let n = node("qmp");
    let vmid = 9303;
    n.write_conf(vmid, "memory: 64\n");
    run::vm_start(
        &n.env,
        vmid,
        &StartOptions {
            paused: true,
            ..Default::default()
        },
    )
    .unwrap();
    let sock = helpers::qmp_socket(n.paths(), vmid);
    rt().block_on(async {
        let mut c = QmpClient::open(&sock).await.unwrap();
        assert_eq!(c.version.0, c.query_version().await.unwrap().qemu.major);
        assert_eq!(c.status_name().await.unwrap(), "prelaunch");
        let mut events = c.take_events().unwrap();
        c.cont().await.unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(qemu_server::qmp::event_name(&ev), "RESUME");
        let err = c.block_resize("nosuchdrive", 1 << 20).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with("VM qmp command 'block_resize' failed - "),
            "{err}"
        );
        assert!(c
            .human_monitor_command("info version")
            .await
            .unwrap()
            .starts_with("10."));
    });
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), None);
}

/// The image of `cargo xtask guest-image` ($PVE_GUEST_IMAGE overrides).
fn guest_image() -> Option<PathBuf> {
    let p = std::env::var_os("PVE_GUEST_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guest-image/guest.img")
        });
    p.exists().then_some(p)
}

/// Drains the serial socket on a thread (a serial console nobody reads stalls the
/// guest's writes) and counts the lines containing `needle`.
struct SerialWatch {
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl SerialWatch {
    fn connect(path: &Path) -> Self {
        use std::io::Read;
        let mut s = None;
        for _ in 0..100 {
            if let Ok(c) = std::os::unix::net::UnixStream::connect(path) {
                s = Some(c);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut s = s.expect("serial socket");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let out = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        SerialWatch { seen }
    }

    fn wait_count(&self, needle: &str, count: usize, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if self.seen.lock().unwrap().matches(needle).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

#[test]
fn acpi_shutdown_and_reboot_of_guest_image() {
    if !host_ok() {
        return;
    }
    let Some(image) = guest_image() else {
        skip("guest image missing (run `cargo xtask guest-image`)");
        return;
    };
    let n = node("acpi");
    let vmid = 9305;
    let dir = n.root.join(format!("var/lib/vz/images/{vmid}"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&image, dir.join(format!("vm-{vmid}-disk-0.raw"))).unwrap();
    // syslinux's real-mode code trips nested KVM here: the guest boots under TCG
    let conf = format!(
        "boot: order=ide0\nkvm: 0\nmemory: 256\nide0: local:{vmid}/vm-{vmid}-disk-0.raw,size=20M\nserial0: socket\n"
    );
    n.write_conf(vmid, &conf);
    let serial = helpers::run_dir(n.paths()).join(format!("{vmid}.serial0"));

    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let watch = SerialWatch::connect(&serial);
    assert!(
        watch.wait_count("pve-guest-image ready", 1, Duration::from_secs(120)),
        "guest did not boot"
    );

    // reboot: ACPI shutdown, then a fresh start
    let mut warnings = Vec::new();
    run::vm_reboot(&n.env, vmid, Some(60), &mut |w| {
        warnings.push(w.to_string())
    })
    .unwrap();
    assert!(
        warnings.is_empty(),
        "guest ignored the power button: {warnings:?}"
    );
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let watch = SerialWatch::connect(&serial);
    assert!(
        watch.wait_count("pve-guest-image ready", 1, Duration::from_secs(120)),
        "guest did not boot again"
    );

    // a plain shutdown without forceStop: the guest powers itself off
    let start = std::time::Instant::now();
    run::vm_stop(
        &n.env,
        vmid,
        &StopOptions {
            shutdown: true,
            timeout: Some(60),
            ..Default::default()
        },
        &mut |w| panic!("unexpected warning {w}"),
    )
    .unwrap();
    println!("ACPI shutdown took {:?}", start.elapsed());
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), None);
    assert!(!helpers::qmp_socket(n.paths(), vmid).exists());
    assert!(!serial.exists());
}

/// Snapshot names in a qcow2 file (read while QEMU has it open).
fn qcow2_snapshots(file: &Path) -> Vec<String> {
    let out = Command::new("qemu-img")
        .args(["snapshot", "-l", "-U"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn snapshot_with_ram_rollback_and_delete_of_running_vm() {
    use pve_guest_common::snapshot::{snapshot_create, snapshot_delete};
    use qemu_server::api::VmSnapshots;
    use qemu_server::config_file::VmConfigFile;

    if !host_ok() {
        return;
    }
    let Some(image) = guest_image() else {
        skip("guest image missing (run `cargo xtask guest-image`)");
        return;
    };
    let n = node("snap");
    let vmid = 9306;
    let dir = n.root.join(format!("var/lib/vz/images/{vmid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let disk = dir.join(format!("vm-{vmid}-disk-0.qcow2"));
    let st = Command::new("qemu-img")
        .args(["convert", "-q", "-O", "qcow2"])
        .arg(&image)
        .arg(&disk)
        .status()
        .unwrap();
    assert!(st.success());
    let conf = format!(
        "boot: order=ide0\nkvm: 0\nmemory: 256\nide0: local:{vmid}/vm-{vmid}-disk-0.qcow2,size=20M\nserial0: socket\n"
    );
    n.write_conf(vmid, &conf);
    let serial = helpers::run_dir(n.paths()).join(format!("{vmid}.serial0"));
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let watch = SerialWatch::connect(&serial);
    assert!(
        watch.wait_count("pve-guest-image ready", 1, Duration::from_secs(120)),
        "guest did not boot"
    );
    let pid_before = helpers::vm_running_locally(n.paths(), vmid).unwrap();

    let log = |l: &str| println!("{l}");
    let file = VmConfigFile::new(n.paths(), NODE, vmid);
    let g = VmSnapshots::for_file(file.clone(), &log).unwrap();

    // snapshot with RAM state of the running VM (POST …/snapshot vmstate=1, as `qm snapshot`)
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/snapshot"),
        serde_json::json!({"snapname": "ram1", "vmstate": 1, "description": "with RAM"}),
    )
    .unwrap();
    let c = file.load().unwrap();
    let snap = &c.snapshots["ram1"];
    let state_volid = format!("local:{vmid}/vm-{vmid}-state-ram1.raw");
    assert_eq!(snap.get("vmstate"), Some(state_volid.as_str()));
    assert!(snap
        .get("runningmachine")
        .is_some_and(|m| m.starts_with("pc-i440fx-")));
    assert!(snap.get("runningcpu").is_some());
    assert_eq!(c.main.get("parent"), Some("ram1"));
    assert_eq!(c.main.get("lock"), None);
    assert_eq!(snap.description.as_deref(), Some("with RAM"));
    let state_file = dir.join(format!("vm-{vmid}-state-ram1.raw"));
    let state_len = std::fs::metadata(&state_file).unwrap().len();
    assert!(state_len > 0);
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    assert_eq!(
        helpers::vm_running_locally(n.paths(), vmid),
        Some(pid_before)
    );
    assert_eq!(qcow2_snapshots(&disk), ["ram1"]);

    // online snapshot without RAM: the VM keeps running, no state volume
    snapshot_create(&g, "disk1", false, None).unwrap();
    let c = file.load().unwrap();
    assert_eq!(c.snapshots["disk1"].get("vmstate"), None);
    assert_eq!(c.snapshots["disk1"].get("parent"), Some("ram1"));
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    assert_eq!(qcow2_snapshots(&disk), ["ram1", "disk1"]);

    // rollback to the RAM snapshot: QEMU is restarted from the saved state
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/snapshot/ram1/rollback"),
        serde_json::json!({}),
    )
    .unwrap();
    let pid_after = helpers::vm_running_locally(n.paths(), vmid).expect("VM running again");
    assert_ne!(pid_after, pid_before);
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let watch = SerialWatch::connect(&serial);
    let c = file.load().unwrap();
    assert_eq!(c.main.get("parent"), Some("ram1"));
    assert_eq!(c.main.get("lock"), None);
    assert_eq!(c.main.get("runningmachine"), None);
    assert_eq!(c.main.get("vmstate"), None);

    // delete both snapshots while running: internal snapshots through QMP, state volume freed
    snapshot_delete(&g, "disk1", false).unwrap();
    snapshot_delete(&g, "ram1", false).unwrap();
    let c = file.load().unwrap();
    assert!(c.snapshots.is_empty());
    assert!(!state_file.exists());
    assert!(qcow2_snapshots(&disk).is_empty());
    assert_eq!(qmp_status(n.paths(), vmid), "running");

    // the restored guest was already waiting for the power button: it powers off at once
    // without booting (a booting guest prints the ready line before it listens)
    let start = std::time::Instant::now();
    run::vm_stop(
        &n.env,
        vmid,
        &StopOptions {
            shutdown: true,
            timeout: Some(30),
            ..Default::default()
        },
        &mut |w| panic!("restored guest ignored the power button: {w}"),
    )
    .unwrap();
    println!("restored guest powered off after {:?}", start.elapsed());
    assert!(!watch.wait_count("pve-guest-image ready", 1, Duration::from_millis(10)));
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), None);
}

fn api_env(n: &Node) -> pve_common::api::RpcEnv {
    pve_common::api::RpcEnv {
        auth: pve_common::api::AuthId::root(),
        node: NODE.into(),
        client_ip: None,
        kind: pve_common::api::EnvKind::Cli,
        paths: n.paths().clone(),
        permissions: None,
    }
}

/// `PUT /nodes/{node}/qemu/{vmid}/...` (or POST) through the VM router, as `qm` does.
fn api_call(
    n: &Node,
    method: pve_common::api::HttpMethod,
    path: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, String> {
    let serde_json::Value::Object(body) = body else {
        unreachable!()
    };
    let mut body = body;
    body.insert("node".into(), NODE.into());
    pve_common::api::call::call_merged(
        &qemu_server::api::router(),
        &api_env(n),
        method,
        path,
        Default::default(),
        body,
    )
    .map(|r| r.data)
    .map_err(|e| e.message)
}

fn virtual_size(file: &Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

#[test]
fn online_resize_through_qmp() {
    if !host_ok() {
        return;
    }
    let n = node("resize");
    let vmid = 9307;
    let vol = n.disk(vmid, "64M");
    n.write_conf(
        vmid,
        &format!("kvm: 0\nmemory: 64\nscsi0: {vol},size=64M\nscsihw: virtio-scsi-pci\n"),
    );
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let disk = n
        .root
        .join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.qcow2"));
    api_call(
        &n,
        pve_common::api::HttpMethod::Put,
        &format!("/{vmid}/resize"),
        serde_json::json!({"disk": "scsi0", "size": "+32M"}),
    )
    .unwrap();
    // QEMU grew the image it has open, the config records the new size
    assert_eq!(virtual_size(&disk), 96 << 20);
    let conf = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    assert!(conf.contains(",size=96M"), "{conf}");
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
}

#[test]
fn move_disk_online_and_offline_to_another_storage() {
    if !host_ok() {
        return;
    }
    let n = node("move");
    let vmid = 9308;
    let vol = n.disk(vmid, "32M");
    let mut cfg = std::fs::read_to_string(n.root.join("etc/pve/storage.cfg")).unwrap();
    cfg.push_str("dir: other\n\tpath /srv/other\n\tcontent images\n\n");
    std::fs::write(n.root.join("etc/pve/storage.cfg"), cfg).unwrap();
    n.write_conf(
        vmid,
        &format!("kvm: 0\nmemory: 64\nscsi0: {vol},cache=writeback,size=32M\n"),
    );
    // online: QEMU mirrors the disk onto the new volume and keeps running on it
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let pid = helpers::vm_running_locally(n.paths(), vmid).unwrap();
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "scsi0", "storage": "other", "format": "qcow2"}),
    )
    .unwrap();
    let conf = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    assert!(
        conf.contains(&format!(
            "scsi0: other:{vmid}/vm-{vmid}-disk-0.qcow2,cache=writeback,size=32M\n"
        )),
        "{conf}"
    );
    assert!(conf.contains(&format!("unused0: {vol}\n")), "{conf}");
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), Some(pid));
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let blocks = rt().block_on(async {
        let c = QmpClient::open(&helpers::qmp_socket(n.paths(), vmid))
            .await
            .unwrap();
        c.human_monitor_command("info block").await.unwrap()
    });
    assert!(
        blocks.contains(&format!("other/images/{vmid}/vm-{vmid}-disk-0.qcow2")),
        "{blocks}"
    );
    assert!(!blocks.contains(&format!("vz/images/{vmid}/")), "{blocks}");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
    // back on the first volume for the offline part
    let text = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    let text = text
        .replace(&format!("other:{vmid}/vm-{vmid}-disk-0.qcow2"), &vol)
        .replace(&format!("unused0: {vol}\n"), "");
    n.write_conf(vmid, &text);
    std::fs::remove_file(
        n.root
            .join(format!("srv/other/images/{vmid}/vm-{vmid}-disk-0.qcow2")),
    )
    .unwrap();

    let e = api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "scsi0", "storage": "local"}),
    )
    .unwrap_err();
    assert_eq!(e, "you can't move to the same storage with same format\n");

    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "scsi0", "storage": "other", "format": "raw"}),
    )
    .unwrap();
    let conf = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    assert!(
        conf.contains(&format!(
            "scsi0: other:{vmid}/vm-{vmid}-disk-0.raw,cache=writeback,size=32M\n"
        )),
        "{conf}"
    );
    assert!(conf.contains(&format!("unused0: {vol}\n")), "{conf}");
    let moved = n
        .root
        .join(format!("srv/other/images/{vmid}/vm-{vmid}-disk-0.raw"));
    assert_eq!(std::fs::metadata(&moved).unwrap().len(), 32 << 20);
    // and the VM starts from the moved disk
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();

    // back with delete: the source volume is freed, no unused entry
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "scsi0", "storage": "local", "format": "qcow2", "delete": 1}),
    )
    .unwrap();
    assert!(!moved.exists());
    let conf = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    assert!(
        conf.contains(&format!("scsi0: local:{vmid}/vm-{vmid}-disk-1.qcow2,")),
        "{conf}"
    );
}

#[test]
fn linked_clone_of_template_boots() {
    if !host_ok() {
        return;
    }
    let Some(image) = guest_image() else {
        skip("guest image missing (run `cargo xtask guest-image`)");
        return;
    };
    use pve_common::api::HttpMethod::Post;
    let n = node("linked");
    let (tid, cid) = (9309, 9310);
    let dir = n.root.join(format!("var/lib/vz/images/{tid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let st = Command::new("qemu-img")
        .args(["convert", "-q", "-O", "qcow2"])
        .arg(&image)
        .arg(dir.join(format!("vm-{tid}-disk-0.qcow2")))
        .status()
        .unwrap();
    assert!(st.success());
    n.write_conf(
        tid,
        &format!(
            "boot: order=ide0\nkvm: 0\nmemory: 256\nide0: local:{tid}/vm-{tid}-disk-0.qcow2,size=20M\nserial0: socket\n"
        ),
    );
    api_call(&n, Post, &format!("/{tid}/template"), serde_json::json!({})).unwrap();
    let e = run::vm_start(&n.env, tid, &StartOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "you can't start a vm if it's a template");
    api_call(
        &n,
        Post,
        &format!("/{tid}/clone"),
        serde_json::json!({"newid": cid, "name": "linked"}),
    )
    .unwrap();
    let conf = std::fs::read_to_string(n.env.config_path(cid)).unwrap();
    let linked = format!("local:{tid}/base-{tid}-disk-0.qcow2/{cid}/vm-{cid}-disk-0.qcow2");
    assert!(conf.contains(&format!("ide0: {linked}")), "{conf}");
    let clone_disk = n
        .root
        .join(format!("var/lib/vz/images/{cid}/vm-{cid}-disk-0.qcow2"));
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&clone_disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        info["backing-filename"]
            .as_str()
            .is_some_and(|b| b.ends_with(&format!("base-{tid}-disk-0.qcow2"))),
        "{info}"
    );

    // the clone boots the guest from its overlay on the template's base image
    run::vm_start(&n.env, cid, &StartOptions::default()).unwrap();
    let serial = helpers::run_dir(n.paths()).join(format!("{cid}.serial0"));
    let watch = SerialWatch::connect(&serial);
    assert!(
        watch.wait_count("pve-guest-image ready", 1, Duration::from_secs(120)),
        "linked clone did not boot"
    );
    assert_eq!(qmp_status(n.paths(), cid), "running");
    run::vm_stop(
        &n.env,
        cid,
        &StopOptions {
            shutdown: true,
            timeout: Some(60),
            ..Default::default()
        },
        &mut |w| panic!("unexpected warning {w}"),
    )
    .unwrap();
    assert_eq!(helpers::vm_running_locally(n.paths(), cid), None);
    // the base image is immutable (as upstream marks it): clear it so the root can go
    let _ = Command::new("chattr")
        .arg("-i")
        .arg(dir.join(format!("base-{tid}-disk-0.qcow2")))
        .status();
}

fn qemu_io(file: &Path, cmd: &str) -> bool {
    // -U (force-share) for reads of images a QEMU holds; writes need the image free
    let share: &[&str] = if cmd.starts_with("read") {
        &["-r", "-U"]
    } else {
        &[]
    };
    Command::new("qemu-io")
        .args(share)
        .args(["-f", "qcow2", "-c", cmd])
        .arg(file)
        .output()
        .is_ok_and(|o| {
            o.status.success()
                && !String::from_utf8_lossy(&o.stdout).contains("Pattern verification failed")
        })
}

#[test]
fn live_full_clone_of_running_vm() {
    if !host_ok() {
        return;
    }
    if Command::new("qemu-io").arg("--version").output().is_err() {
        skip("qemu-io missing");
        return;
    }
    use pve_common::api::HttpMethod::Post;
    let n = node("liveclone");
    let (vmid, newid) = (9311, 9312);
    let vol = n.disk(vmid, "32M");
    let src = n
        .root
        .join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.qcow2"));
    assert!(qemu_io(&src, "write -P 0x5a 1M 1M"));
    n.write_conf(
        vmid,
        &format!("kvm: 0\nmemory: 64\nname: src\nscsi0: {vol},size=32M\n"),
    );
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let pid = helpers::vm_running_locally(n.paths(), vmid).unwrap();
    let upid = api_call(
        &n,
        Post,
        &format!("/{vmid}/clone"),
        serde_json::json!({"newid": newid, "full": 1, "name": "copy", "bwlimit": 1000000}),
    )
    .unwrap();
    // no agent: the VM is paused around the end of the mirror, as upstream; the
    // override (root) is the job's speed
    let (lines, _) = pve_common::tasks::read_log(n.paths(), upid.as_str().unwrap(), 0, 0).unwrap();
    let log: Vec<String> = lines.into_iter().map(|l| l.t).collect();
    for want in [
        "drive mirror is starting for drive-scsi0 with bandwidth limit: 1000000 KiB/s",
        "skipping guest filesystem freeze - disabled in VM options",
        "suspend vm",
        "resume vm",
    ] {
        assert!(log.iter().any(|l| l == want), "{want}: {log:?}");
    }
    // the source keeps running in the same process, the clone has its own copy
    assert_eq!(helpers::vm_running_locally(n.paths(), vmid), Some(pid));
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let conf = std::fs::read_to_string(n.env.config_path(newid)).unwrap();
    assert!(
        conf.contains(&format!(
            "scsi0: local:{newid}/vm-{newid}-disk-0.qcow2,size=32M\n"
        )),
        "{conf}"
    );
    assert!(!conf.contains("lock:"), "{conf}");
    let copy = n
        .root
        .join(format!("var/lib/vz/images/{newid}/vm-{newid}-disk-0.qcow2"));
    assert!(qemu_io(&copy, "read -P 0x5a 1M 1M"), "data not copied");
    assert!(!qemu_io(&copy, "read -P 0x5a 0 1M"));
    run::vm_start(&n.env, newid, &StartOptions::default()).unwrap();
    assert_eq!(qmp_status(n.paths(), newid), "running");
    for id in [newid, vmid] {
        run::vm_stop(&n.env, id, &StopOptions::default(), &mut |_| {}).unwrap();
    }
}

/// `bios: ovmf` on the stock QEMU (i440fx: q35 needs qemu-server's pve-q35 readconfig
/// files): an EFI disk allocated through the API (a copy of the vars template) is the
/// VM's pflash vars, the firmware code is pve-edk2-firmware's or
/// Debian's ovmf image; a VM without EFI disk runs on a temporary copy of the vars.
#[test]
fn ovmf_vm_with_efidisk_starts() {
    if !host_ok() {
        return;
    }
    let code = ["/usr/share/pve-edk2-firmware", "/usr/share/OVMF"]
        .iter()
        .map(|d| Path::new(d).join("OVMF_CODE_4M.fd"))
        .find(|p| p.exists());
    let Some(code) = code else {
        skip("no OVMF firmware (Debian package ovmf, `cargo xtask deps`)");
        return;
    };
    let n = node("ovmf");
    let vmid = 9313;
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        "",
        serde_json::json!({"vmid": vmid, "kvm": 0, "memory": 128, "bios": "ovmf",
            "efidisk0": "local:1,efitype=4m,pre-enrolled-keys=1"}),
    )
    .unwrap();
    let conf = std::fs::read_to_string(n.env.config_path(vmid)).unwrap();
    let vol = format!("local:{vmid}/vm-{vmid}-disk-0.raw");
    assert!(
        conf.contains(&format!(
            "efidisk0: {vol},efitype=4m,pre-enrolled-keys=1,size=528K"
        )),
        "{conf}"
    );
    let pid = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let cmd = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    assert!(cmd.contains(&code.display().to_string()), "{cmd}");
    assert!(
        cmd.contains(&format!("images/{vmid}/vm-{vmid}-disk-0.raw")),
        "{cmd}"
    );
    assert!(cmd.contains("pflash1=drive-efidisk0"), "{cmd}");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();

    // without an EFI disk: a temporary vars copy below the run dir
    let vmid = 9314;
    n.write_conf(vmid, "kvm: 0\nmemory: 128\nbios: ovmf\n");
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let tmp = helpers::run_dir(n.paths()).join(format!("efidisk/{vmid}-ovmf.fd"));
    assert_eq!(std::fs::metadata(&tmp).unwrap().len(), 128 * 1024);
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();

    // q35 (upstream reads its chipset devices from qemu-server's pve-q35-4.0.cfg; the
    // stock start passes them as -device arguments when that file is not installed)
    let vmid = 9315;
    n.write_conf(vmid, "kvm: 0\nmemory: 128\nbios: ovmf\nmachine: q35\n");
    let pid = run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    let cmd = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap())
        .replace('\0', " ");
    if !Path::new("/usr/share/qemu-server/pve-q35-4.0.cfg").exists() {
        assert!(cmd.contains("pcie-root-port,id=ich9-pcie-port-1,"), "{cmd}");
        assert!(!cmd.contains("-readconfig"), "{cmd}");
    }
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
}

/// A disk-only snapshot of a running VM with `agent: 1` whose guest runs no agent: the
/// QGA socket (QEMU's chardev) never answers, so the freeze is skipped with upstream's
/// line after the 3 s ping, and the snapshot is taken anyway.
#[test]
fn snapshot_with_silent_guest_agent_skips_freeze() {
    if !host_ok() {
        return;
    }
    let n = node("qga");
    let vmid = 9315;
    let vol = n.disk(vmid, "16M");
    n.write_conf(
        vmid,
        &format!("kvm: 0\nmemory: 64\nagent: 1\nscsi0: {vol},size=16M\n"),
    );
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    assert!(helpers::qga_socket(n.paths(), vmid).exists());
    let upid = api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/snapshot"),
        serde_json::json!({"snapname": "s1"}),
    )
    .unwrap();
    let upid = upid.as_str().unwrap();
    let st = pve_common::tasks::task_status(n.paths(), upid).unwrap();
    assert_eq!(st.exitstatus.as_deref(), Some("OK"));
    let (lines, _) = pve_common::tasks::read_log(n.paths(), upid, 0, 0).unwrap();
    let log: Vec<String> = lines.into_iter().map(|l| l.t).collect();
    assert!(
        log.iter()
            .any(|l| l == "skipping guest filesystem freeze - agent configured but not running?"),
        "{log:?}"
    );
    let file = n
        .root
        .join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.qcow2"));
    let snaps = Command::new("qemu-img")
        .args(["snapshot", "-U", "-l"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&snaps.stdout).contains("s1"));
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
}

/// Reassigning a disk of a running VM is refused (upstream: detach first); its unused
/// volumes move.
#[test]
fn reassign_from_running_vm() {
    if !host_ok() {
        return;
    }
    let n = node("reassign");
    let (vmid, target) = (9316, 9317);
    let vol = n.disk(vmid, "16M");
    let spare = n
        .root
        .join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-1.raw"));
    std::fs::write(&spare, vec![0u8; 1 << 20]).unwrap();
    n.write_conf(
        vmid,
        &format!(
            "kvm: 0\nmemory: 64\nscsi0: {vol},size=16M\nunused0: local:{vmid}/vm-{vmid}-disk-1.raw\n"
        ),
    );
    n.write_conf(target, "memory: 64\n");
    run::vm_start(&n.env, vmid, &StartOptions::default()).unwrap();
    let e = api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "scsi0", "target-vmid": target}),
    )
    .unwrap_err();
    assert_eq!(
        e,
        "Cannot move disk to another VM while the source VM is running - detach first\n"
    );
    api_call(
        &n,
        pve_common::api::HttpMethod::Post,
        &format!("/{vmid}/move_disk"),
        serde_json::json!({"disk": "unused0", "target-vmid": target, "target-disk": "scsi0"}),
    )
    .unwrap();
    let conf = std::fs::read_to_string(n.env.config_path(target)).unwrap();
    assert!(
        conf.contains(&format!("scsi0: local:{target}/vm-{target}-disk-0.raw\n")),
        "{conf}"
    );
    assert!(!spare.exists());
    assert_eq!(qmp_status(n.paths(), vmid), "running");
    run::vm_stop(&n.env, vmid, &StopOptions::default(), &mut |_| {}).unwrap();
}
