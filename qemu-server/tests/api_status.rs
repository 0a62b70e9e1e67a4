//! The status/*, monitor and sendkey API methods: recorded upstream responses for a
//! stopped VM, and a real start/shutdown/stop through the methods as `qm` calls them.

use std::path::PathBuf;
use std::process::Command;

use pve_common::api::{AuthId, EnvKind, RpcEnv};
use pve_common::paths::NodePaths;
use qemu_server::api_status;
use serde_json::{json, Map, Value};

fn conformance_dir() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
        })
}

struct Root(PathBuf);
impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn root(tag: &str) -> Root {
    let r = std::env::temp_dir().join(format!("qs-api-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&r);
    std::fs::create_dir_all(r.join("etc/pve/nodes/pveo/qemu-server")).unwrap();
    std::fs::write(
        r.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,iso\n\n",
    )
    .unwrap();
    Root(r)
}

fn env(root: &Root, kind: EnvKind) -> RpcEnv {
    RpcEnv {
        auth: AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind,
        paths: NodePaths::new(&root.0),
        permissions: None,
    }
}

fn params(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn recorded(name: &str) -> Option<Value> {
    let path = conformance_dir().join(format!("api/responses/{name}.json"));
    let text = std::fs::read_to_string(path).ok()?;
    let v: Value = serde_json::from_str(&text).unwrap();
    Some(v["body"]["data"].clone())
}

#[test]
fn stopped_status_matches_recorded_responses() {
    let state = conformance_dir().join("api/responses/state/etc-pve/qemu-server");
    let Ok(rd) = std::fs::read_dir(&state) else {
        println!("SKIP: conformance data missing");
        return;
    };
    let r = root("rec");
    let e = env(&r, EnvKind::Cli);
    let mut checked = 0;
    for entry in rd.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name.strip_suffix(".conf") else {
            continue;
        };
        let Some(want) = recorded(&format!("qemu_{vmid}_status_current")) else {
            continue;
        };
        std::fs::copy(
            entry.path(),
            r.0.join(format!("etc/pve/nodes/pveo/qemu-server/{name}")),
        )
        .unwrap();
        let got = api_status::call(&e, "status/current", params(json!({ "vmid": vmid }))).unwrap();
        assert_eq!(got, want, "VM {vmid}");
        checked += 1;
        if let Some(idx) = recorded(&format!("qemu_{vmid}_status_index")) {
            let got = api_status::call(&e, "status", params(json!({ "vmid": vmid }))).unwrap();
            assert_eq!(got, idx);
        }
    }
    assert!(checked >= 1);
    // a missing config: upstream's message
    let err =
        api_status::call(&e, "status/current", params(json!({ "vmid": "4242" }))).unwrap_err();
    assert!(
        err.to_string()
            .contains("Configuration file 'nodes/pveo/qemu-server/4242.conf' does not exist"),
        "{err}"
    );
    // the router carries every method under its path
    let router = api_status::mount_vm_runtime(pve_common::api::Router::new());
    for p in [
        "status",
        "status/current",
        "status/start",
        "status/stop",
        "status/shutdown",
        "status/reboot",
        "status/suspend",
        "status/resume",
        "status/reset",
        "monitor",
        "sendkey",
    ] {
        assert!(router.resolve(p).is_some(), "{p}");
    }
}

#[test]
fn start_shutdown_stop_through_methods() {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } != 0
        || Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_err()
    {
        assert!(
            std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() != Ok("1"),
            "host lacks root/QEMU"
        );
        println!("SKIP: needs root and qemu-system-x86_64");
        return;
    }
    let r = root("run");
    let e = env(&r, EnvKind::Cli);
    let vmid = 9304;
    std::fs::write(
        r.0.join(format!("etc/pve/nodes/pveo/qemu-server/{vmid}.conf")),
        "memory: 64\nname: apitest\n",
    )
    .unwrap();
    let err = api_status::call(&e, "status/reboot", params(json!({ "vmid": vmid }))).unwrap_err();
    assert_eq!(err.to_string().trim(), format!("VM {vmid} not running"));

    let upid = api_status::call(&e, "status/start", params(json!({ "vmid": vmid }))).unwrap();
    let upid = upid.as_str().unwrap().to_string();
    assert!(
        upid.contains(&format!(":qmstart:{vmid}:root@pam:")),
        "{upid}"
    );
    let st = api_status::call(&e, "status/current", params(json!({ "vmid": vmid }))).unwrap();
    assert_eq!(st["status"], "running");
    assert_eq!(st["qmpstatus"], "running");

    let out = api_status::call(
        &e,
        "monitor",
        params(json!({ "vmid": vmid, "command": "info status" })),
    )
    .unwrap();
    assert!(out.as_str().unwrap().contains("running"), "{out}");
    api_status::call(
        &e,
        "sendkey",
        params(json!({ "vmid": vmid, "key": "ctrl-alt-delete" })),
    )
    .unwrap();

    // suspend, then shutdown refuses a paused VM unless forced
    api_status::call(&e, "status/suspend", params(json!({ "vmid": vmid }))).unwrap();
    let err = api_status::call(&e, "status/shutdown", params(json!({ "vmid": vmid }))).unwrap_err();
    assert_eq!(err.to_string().trim(), "VM is paused - cannot shutdown");
    api_status::call(&e, "status/resume", params(json!({ "vmid": vmid }))).unwrap();

    // no guest OS answers ACPI: shutdown with forceStop kills after the timeout
    let upid = api_status::call(
        &e,
        "status/shutdown",
        params(json!({ "vmid": vmid, "timeout": 1, "forceStop": 1 })),
    )
    .unwrap();
    assert!(upid.as_str().unwrap().contains(":qmshutdown:"));
    let st = api_status::call(&e, "status/current", params(json!({ "vmid": vmid }))).unwrap();
    assert_eq!(st["status"], "stopped");
    assert!(!r.0.join(format!("run/qemu-server/{vmid}.qmp")).exists());

    // stop of a stopped VM is a no-op task
    api_status::call(&e, "status/stop", params(json!({ "vmid": vmid }))).unwrap();

    // bad parameter: upstream's validation
    assert!(api_status::call(
        &e,
        "status/shutdown",
        params(json!({ "vmid": vmid, "timeout": "x" }))
    )
    .is_err());
}
