//! A VM's configuration life on a directory storage through the API methods, as `qm`
//! runs them (workers in the foreground): create with a new disk, config changes with
//! pending semantics, offline snapshot and rollback, template and linked clone,
//! destroy with purge. Failing operations leave config and disks as they were.

use std::path::PathBuf;

use pve_common::api::{call_method, ApiError, EnvKind, HttpMethod, RpcEnv};
use pve_common::NodePaths;
use serde_json::{json, Map, Value};

const NODE: &str = "testnode";

struct Node {
    root: PathBuf,
    env: RpcEnv,
    router: pve_common::api::Router,
}

impl Node {
    fn new(tag: &str) -> Self {
        let root = std::env::temp_dir().join(format!("qm-life-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let pve = root.join("etc/pve");
        std::fs::create_dir_all(pve.join("nodes").join(NODE).join("qemu-server")).unwrap();
        std::fs::create_dir_all(pve.join("priv")).unwrap();
        let vz = root.join("var/lib/vz");
        std::fs::create_dir_all(vz.join("images")).unwrap();
        std::fs::write(
            pve.join("storage.cfg"),
            format!(
                "dir: local\n\tpath {}\n\tcontent images,iso,rootdir\n\n",
                vz.display()
            ),
        )
        .unwrap();
        let mut env = RpcEnv::cli(NodePaths::new(&root));
        env.node = NODE.into();
        env.kind = EnvKind::Cli;
        Node {
            root,
            env,
            router: qemu_server::api::router(),
        }
    }

    fn call(&self, m: HttpMethod, path: &str, params: Value) -> Result<Value, ApiError> {
        let (method, resolved) = self
            .router
            .find(m, path)
            .unwrap_or_else(|| panic!("no {m:?} {path}"));
        let mut map: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
        for (k, v) in resolved.path_params {
            map.insert(k, v);
        }
        map.insert("node".into(), json!(NODE));
        call_method(method, &self.env, map).map(|r| r.data)
    }

    /// A worker call: the task must end `OK`.
    fn task(&self, m: HttpMethod, path: &str, params: Value) -> Result<(), String> {
        let upid = self.call(m, path, params).map_err(|e| e.to_string())?;
        let upid = upid.as_str().expect("a UPID");
        let st = pve_common::tasks::task_status(&self.env.paths, upid).unwrap();
        match st.exitstatus.as_deref() {
            Some("OK") => Ok(()),
            other => Err(other.unwrap_or("running").to_string()),
        }
    }

    fn conf_text(&self, vmid: u32) -> String {
        std::fs::read_to_string(
            self.root
                .join(format!("etc/pve/nodes/{NODE}/qemu-server/{vmid}.conf")),
        )
        .unwrap_or_default()
    }

    fn images(&self, vmid: u32) -> Vec<String> {
        let dir = self.root.join(format!("var/lib/vz/images/{vmid}"));
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn qemu_img_available() -> bool {
    std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn require_host(what: &str) -> bool {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("host lacks {what}");
    }
    println!("SKIP: {what}");
    false
}

#[test]
fn vm_config_life_on_dir_storage() {
    if !qemu_img_available() && !require_host("qemu-img") {
        return;
    }
    let n = Node::new("life");
    use HttpMethod::*;

    // create with a new 1 GiB qcow2 disk
    n.task(
        Post,
        "",
        json!({"vmid": 100, "name": "vm1", "memory": "512", "scsi0": "local:1,format=qcow2",
               "net0": "virtio,bridge=vmbr0", "ostype": "l26"}),
    )
    .unwrap();
    let text = n.conf_text(100);
    assert!(
        text.contains("scsi0: local:100/vm-100-disk-0.qcow2,size=1G\n"),
        "{text}"
    );
    assert!(text.contains("boot: order=scsi0;net0\n"), "{text}");
    assert!(text.contains("net0: virtio=BC:24:11:"), "{text}");
    assert!(!text.contains("lock:"), "{text}");
    assert_eq!(n.images(100), vec!["vm-100-disk-0.qcow2"]);

    // an existing VMID is refused
    let e = n
        .call(Post, "", json!({"vmid": 100, "memory": "256"}))
        .unwrap_err();
    assert_eq!(
        e.message,
        format!("unable to create VM 100 - VM 100 already exists on node '{NODE}'\n")
    );

    // config changes of a stopped VM apply at once; digest mismatch is refused
    n.call(
        Put,
        "100/config",
        json!({"cores": 2, "description": "first line"}),
    )
    .unwrap();
    let conf = n.call(Get, "100/config", json!({})).unwrap();
    assert_eq!(conf["cores"], json!(2));
    assert_eq!(conf["description"], json!("first line"));
    let before = n.conf_text(100);
    let e = n
        .call(
            Put,
            "100/config",
            json!({"cores": 4, "digest": "0000000000000000000000000000000000000000"}),
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "checksum mismatch (file change by other user?)\n"
    );
    assert_eq!(n.conf_text(100), before);
    let e = n
        .call(Put, "100/config", json!({"delete": "nosuch"}))
        .unwrap_err();
    assert_eq!(e.errors["delete"], "unknown option 'nosuch'");

    // a failed disk allocation leaves config and disks unchanged
    let e = n
        .call(Put, "100/config", json!({"scsi1": "nostore:1"}))
        .unwrap_err();
    assert!(!e.message.is_empty());
    assert_eq!(n.conf_text(100), before);
    assert_eq!(n.images(100), vec!["vm-100-disk-0.qcow2"]);

    // a cloud-init drive, only one of them
    n.call(Put, "100/config", json!({"ide2": "local:cloudinit"}))
        .unwrap();
    assert!(n
        .conf_text(100)
        .contains("ide2: local:100/vm-100-cloudinit.qcow2,media=cdrom\n"));
    let e = n
        .call(Put, "100/config", json!({"ide0": "local:cloudinit"}))
        .unwrap_err();
    assert_eq!(
        e.message,
        "ide0 - cloud-init drive is already attached at 'ide2'\n"
    );
    n.call(Put, "100/config", json!({"delete": "ide2"}))
        .unwrap();
    assert_eq!(n.images(100), vec!["vm-100-disk-0.qcow2"]);

    // add a second disk, then detach it: it becomes unused0
    n.call(Put, "100/config", json!({"scsi1": "local:1,format=qcow2"}))
        .unwrap();
    assert_eq!(n.images(100).len(), 2);
    n.call(Put, "100/config", json!({"delete": "scsi1"}))
        .unwrap();
    let conf = n.call(Get, "100/config", json!({})).unwrap();
    assert_eq!(conf["unused0"], json!("local:100/vm-100-disk-1.qcow2"));
    assert!(conf.get("scsi1").is_none());
    n.call(Put, "100/unlink", json!({"idlist": "unused0"}))
        .unwrap();
    assert_eq!(n.images(100), vec!["vm-100-disk-0.qcow2"]);

    // resize offline
    n.task(Put, "100/resize", json!({"disk": "scsi0", "size": "+1G"}))
        .unwrap();
    assert!(n.conf_text(100).contains("vm-100-disk-0.qcow2,size=2G"));
    let err = n
        .task(Put, "100/resize", json!({"disk": "scsi0", "size": "1G"}))
        .unwrap_err();
    assert_eq!(err, "shrinking disks is not supported");
    assert!(n.conf_text(100).contains("size=2G"));

    // offline snapshot, change, rollback
    n.task(
        Post,
        "100/snapshot",
        json!({"snapname": "snap1", "description": "before"}),
    )
    .unwrap();
    let list = n.call(Get, "100/snapshot", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(n.conf_text(100).contains("parent: snap1\n"));
    let err = n
        .task(Post, "100/snapshot", json!({"snapname": "snap1"}))
        .unwrap_err();
    assert!(err.contains("snapshot name 'snap1' already used"), "{err}");
    n.call(Put, "100/config", json!({"cores": 3})).unwrap();
    n.task(Post, "100/snapshot/snap1/rollback", json!({}))
        .unwrap();
    let conf = n.call(Get, "100/config", json!({})).unwrap();
    assert_eq!(conf["cores"], json!(2));
    assert_eq!(conf["parent"], json!("snap1"));
    let snapconf = n.call(Get, "100/snapshot/snap1/config", json!({})).unwrap();
    assert_eq!(snapconf["description"], json!("before"));
    n.task(Delete, "100/snapshot/snap1", json!({})).unwrap();
    let text = n.conf_text(100);
    assert!(
        !text.contains("[snap1]") && !text.contains("parent:"),
        "{text}"
    );

    // template and linked clone
    n.task(Post, "100/template", json!({})).unwrap();
    let text = n.conf_text(100);
    assert!(text.contains("template: 1\n"), "{text}");
    assert!(
        text.contains("scsi0: local:100/base-100-disk-0.qcow2"),
        "{text}"
    );
    n.task(Post, "100/clone", json!({"newid": 101, "name": "linked"}))
        .unwrap();
    let text = n.conf_text(101);
    assert!(
        text.contains("scsi0: local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2"),
        "{text}"
    );
    assert!(text.contains("name: linked\n"), "{text}");
    // the template cannot go while its clone uses the base
    let err = n.task(Delete, "100", json!({})).unwrap_err();
    assert!(err.contains("is still in use by linked cloned"), "{err}");
    assert!(n.conf_text(100).contains("template: 1\n"));

    // full clone of the template
    n.task(Post, "100/clone", json!({"newid": 102, "full": 1}))
        .unwrap();
    assert_eq!(n.images(102), vec!["vm-102-disk-0.qcow2"]);

    // destroy with purge
    for vmid in [101, 102, 100] {
        n.task(Delete, &vmid.to_string(), json!({"purge": 1}))
            .unwrap();
        assert_eq!(n.conf_text(vmid), "");
    }
    assert!(n.images(101).is_empty());
    assert!(n.images(100).is_empty());
    assert!(n
        .call(Get, "", json!({}))
        .unwrap()
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn pending_changes_of_a_config() {
    let n = Node::new("pending");
    let dir = n.root.join(format!("etc/pve/nodes/{NODE}/qemu-server"));
    std::fs::write(
        dir.join("200.conf"),
        "cores: 4\ncpu: host\nmemory: 4096\nname: db\n\n[PENDING]\ncores: 8\ndelete: cpu\n",
    )
    .unwrap();
    use HttpMethod::*;
    let pending = n.call(Get, "200/pending", json!({})).unwrap();
    let find = |k: &str| {
        pending
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == k)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        find("cores"),
        json!({"key": "cores", "value": 4, "pending": 8})
    );
    assert_eq!(
        find("cpu"),
        json!({"key": "cpu", "value": "host", "delete": 1})
    );
    let cur = n.call(Get, "200/config", json!({"current": 1})).unwrap();
    assert_eq!(cur["cores"], json!(4));
    let new = n.call(Get, "200/config", json!({})).unwrap();
    assert_eq!(new["cores"], json!(8));
    assert!(new.get("cpu").is_none());
    // revert the pending cores; a set applies everything pending on a stopped VM
    n.call(Put, "200/config", json!({"revert": "cores"}))
        .unwrap();
    let cur = n.call(Get, "200/config", json!({"current": 1})).unwrap();
    assert_eq!(cur["cores"], json!(4));
    assert!(cur.get("cpu").is_none());
    let text = std::fs::read_to_string(dir.join("200.conf")).unwrap();
    assert!(!text.contains("[PENDING]"), "{text}");
    // the asynchronous variant runs the same update in a qmconfig task
    n.task(Post, "200/config", json!({"name": "db2", "cdrom": "none"}))
        .unwrap();
    let cur = n.call(Get, "200/config", json!({"current": 1})).unwrap();
    assert_eq!(cur["name"], json!("db2"));
    assert_eq!(cur["ide2"], json!("none,media=cdrom"));
    // locked configs refuse changes
    std::fs::write(dir.join("200.conf"), "cores: 4\nlock: backup\n").unwrap();
    let e = n.call(Put, "200/config", json!({"cores": 2})).unwrap_err();
    assert_eq!(e.message, "VM is locked (backup)\n");
    let def = qemu_server::cli::qm_cli_for(NODE);
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    let args = vec!["unlock".to_string(), "200".to_string()];
    let code =
        pve_common::cli::command::run_cli_with_io(&def, "qm", args, &n.env, &mut out, &mut errs);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&errs));
    n.call(Put, "200/config", json!({"cores": 2})).unwrap();
    let text = std::fs::read_to_string(dir.join("200.conf")).unwrap();
    assert_eq!(text, "cores: 2\n");
}

#[test]
fn create_imports_and_fails_cleanly() {
    if !qemu_img_available() && !require_host("qemu-img") {
        return;
    }
    let n = Node::new("import");
    use HttpMethod::*;
    // a source image outside any storage
    let src = n.root.join("source.raw");
    let out = std::process::Command::new("qemu-img")
        .args(["create", "-f", "raw"])
        .arg(&src)
        .arg("64M")
        .output()
        .unwrap();
    assert!(out.status.success());
    n.task(
        Post,
        "",
        json!({"vmid": 300, "scsi0": format!("local:0,import-from={},format=raw", src.display())}),
    )
    .unwrap();
    let text = n.conf_text(300);
    assert!(
        text.contains("scsi0: local:300/vm-300-disk-0.raw,size=64M\n"),
        "{text}"
    );
    assert_eq!(n.images(300), vec!["vm-300-disk-0.raw"]);

    // the second disk cannot be made: no config and no disk stay behind
    let err = n
        .task(
            Post,
            "",
            json!({"vmid": 301, "scsi0": "local:1,format=qcow2", "scsi1": "nostore:1"}),
        )
        .unwrap_err();
    assert!(err.starts_with("unable to create VM 301 - "), "{err}");
    assert_eq!(n.conf_text(301), "");
    assert!(n.images(301).is_empty());

    // pool membership comes with create and goes with destroy, as do the VM's ACLs
    let ucfg = n.root.join("etc/pve/user.cfg");
    std::fs::write(
        &ucfg,
        "user:root@pam:1:0:::root@localhost::\n\npool:prod:Production::\n\nacl:1:/vms/302:root@pam:PVEVMAdmin:\n",
    )
    .unwrap();
    let e = n
        .call(Post, "", json!({"vmid": 302, "pool": "nosuch"}))
        .unwrap_err();
    assert_eq!(e.status, 403);
    n.task(Post, "", json!({"vmid": 302, "pool": "prod"}))
        .unwrap();
    let text = std::fs::read_to_string(&ucfg).unwrap();
    assert!(text.contains("pool:prod:Production:302::"), "{text}");
    n.task(Delete, "302", json!({"purge": 1})).unwrap();
    let text = std::fs::read_to_string(&ucfg).unwrap();
    assert!(text.contains("pool:prod:Production:::"), "{text}");
    assert!(!text.contains("/vms/302"), "{text}");

    // qm disk import adds an unused disk
    let def = qemu_server::cli::qm_cli_for(NODE);
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let args: Vec<String> = ["disk", "import", "300"]
        .iter()
        .map(|s| s.to_string())
        .chain([src.display().to_string(), "local".to_string()])
        .chain(["--format".to_string(), "qcow2".to_string()])
        .collect();
    let code =
        pve_common::cli::command::run_cli_with_io(&def, "qm", args, &n.env, &mut out, &mut errs);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&errs));
    assert!(n
        .conf_text(300)
        .contains("unused0: local:300/vm-300-disk-1.qcow2\n"));
    // rescan: a grown image updates its size, an unreferenced image becomes unusedN
    let img = n.root.join("var/lib/vz/images/300/vm-300-disk-0.raw");
    let out = std::process::Command::new("qemu-img")
        .args(["resize", "-f", "raw"])
        .arg(&img)
        .arg("128M")
        .output()
        .unwrap();
    assert!(out.status.success());
    n.call(Put, "300/unlink", json!({"idlist": "unused0"}))
        .unwrap();
    let extra = n.root.join("var/lib/vz/images/300/vm-300-disk-5.raw");
    std::fs::copy(&img, &extra).unwrap();
    let args: Vec<String> = ["disk", "rescan", "--vmid", "300"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (mut out, mut errs) = (Vec::new(), Vec::new());
    let code =
        pve_common::cli::command::run_cli_with_io(&def, "qm", args, &n.env, &mut out, &mut errs);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&errs));
    let text = n.conf_text(300);
    assert!(
        text.contains("scsi0: local:300/vm-300-disk-0.raw,size=128M\n"),
        "{text}"
    );
    assert!(
        text.contains("unused0: local:300/vm-300-disk-5.raw\n"),
        "{text}"
    );
}

#[test]
fn running_vm_keeps_changes_pending() {
    let n = Node::new("running");
    use HttpMethod::*;
    let dir = n.root.join(format!("etc/pve/nodes/{NODE}/qemu-server"));
    std::fs::write(dir.join("400.conf"), "cores: 1\nmemory: 512\nname: a\n").unwrap();
    // a process started with the VM's pid file stands in for its QEMU
    let run = n.root.join("run/qemu-server");
    std::fs::create_dir_all(&run).unwrap();
    let pidfile = run.join("400.pid");
    let mut child = std::process::Command::new("sh")
        .args(["-c", "sleep 30; true", "-pidfile"])
        .arg(&pidfile)
        .spawn()
        .unwrap();
    std::fs::write(&pidfile, format!("{}\n", child.id())).unwrap();
    let pid = child.id() as i32;
    for _ in 0..200 {
        if qemu_server::helpers::vm_running_locally(&n.env.paths, 400) == Some(pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        n.call(Put, "400/config", json!({"cores": 2, "name": "b"}))
            .unwrap();
        let cur = n.call(Get, "400/config", json!({"current": 1})).unwrap();
        assert_eq!(cur["cores"], json!(1));
        assert_eq!(cur["name"], json!("b"));
        let pending = n.call(Get, "400/config", json!({})).unwrap();
        assert_eq!(pending["cores"], json!(2));
        let list = n.call(Get, "", json!({})).unwrap();
        assert_eq!(list[0]["status"], json!("running"));
        assert_eq!(list[0]["pid"], json!(pid));
        let e = n.call(Delete, "400", json!({})).unwrap_err();
        assert_eq!(e.message, "VM 400 is running - destroy failed\n");
    }));
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

/// `move_disk` with `target-vmid` (upstream's disk reassign): the volume is renamed to
/// the target VM, the source key and its boot order entry go, the target key gets the
/// volume; upstream's refusals leave both configs and the volumes alone.
#[test]
fn move_disk_to_another_vm() {
    if !qemu_img_available() && !require_host("qemu-img") {
        return;
    }
    let n = Node::new("reassign");
    use HttpMethod::*;
    n.task(
        Post,
        "",
        json!({"vmid": 100, "memory": "512", "scsi0": "local:1,format=qcow2,ssd=1",
               "scsi1": "local:1,format=raw", "ide2": "none,media=cdrom",
               "net0": "virtio,bridge=vmbr0", "boot": "order=scsi0;ide2;scsi1;net0"}),
    )
    .unwrap();
    n.task(
        Post,
        "",
        json!({"vmid": 101, "memory": "256", "virtio0": "local:1"}),
    )
    .unwrap();
    let before100 = n.conf_text(100);
    let before101 = n.conf_text(101);
    assert!(
        before100.contains("boot: order=scsi0;ide2;scsi1;net0\n"),
        "{before100}"
    );

    // parameter refusals
    let e = n
        .call(Post, "100/move_disk", json!({"disk": "scsi0"}))
        .unwrap_err();
    assert_eq!(
        e.errors["target-vmid"],
        "both 'storage' and 'target-vmid' missing, either needs to be set"
    );
    let e = n
        .call(
            Post,
            "100/move_disk",
            json!({"disk": "scsi0", "storage": "local", "target-vmid": 101}),
        )
        .unwrap_err();
    assert_eq!(
        e.errors["storage"],
        "either set 'storage' or 'target-vmid', but not both"
    );
    let e = n
        .call(
            Post,
            "100/move_disk",
            json!({"disk": "scsi0", "target-vmid": 100}),
        )
        .unwrap_err();
    assert_eq!(
        e.errors["target-vmid"],
        "must be different than source VMID to reassign disk"
    );
    // checks in upstream's words
    let refused = |params: Value, msg: &str| {
        let e = n.call(Post, "100/move_disk", params).unwrap_err();
        assert_eq!(e.message, msg);
    };
    refused(
        json!({"disk": "scsi0", "target-vmid": 101, "target-disk": "virtio0"}),
        "Target disk key 'virtio0' is already in use for VM '101'\n",
    );
    refused(
        json!({"disk": "scsi5", "target-vmid": 101}),
        "Disk 'scsi5' for VM '100' does not exist\n",
    );
    refused(
        json!({"disk": "ide2", "target-vmid": 101}),
        "CD drive contents can't be moved to another VM\n",
    );
    refused(
        json!({"disk": "scsi0", "target-vmid": 999}),
        "could not find target VM 999\n",
    );
    refused(
        json!({"disk": "scsi0", "target-vmid": 101,
               "digest": "0000000000000000000000000000000000000000"}),
        "VM 100: detected modified configuration - file changed by other user? Try again.\n",
    );
    refused(
        json!({"disk": "scsi0", "target-vmid": 101,
               "target-digest": "0000000000000000000000000000000000000000"}),
        "VM 101: detected modified configuration - file changed by other user? Try again.\n",
    );
    // a disk option the target bus lacks
    let e = n
        .call(
            Post,
            "100/move_disk",
            json!({"disk": "scsi0", "target-vmid": 101, "target-disk": "virtio1"}),
        )
        .unwrap_err();
    assert!(
        e.message
            .starts_with("failed to parse source disk for target disk format - "),
        "{}",
        e.message
    );
    // a VM on another node
    let other = n.root.join("etc/pve/nodes/othernode/qemu-server");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("150.conf"), "memory: 128\n").unwrap();
    refused(
        json!({"disk": "scsi0", "target-vmid": 150}),
        &format!("Both VMs need to be on the same node ({NODE} != othernode)\n"),
    );
    assert_eq!(n.conf_text(100), before100);
    assert_eq!(n.conf_text(101), before101);

    // the reassign: 100's scsi0 becomes 101's scsi3 under 101's next free name
    let digest101 = n.call(Get, "101/config", json!({})).unwrap()["digest"].clone();
    n.task(
        Post,
        "100/move_disk",
        json!({"disk": "scsi0", "target-vmid": 101, "target-disk": "scsi3",
               "target-digest": digest101}),
    )
    .unwrap();
    let c100 = n.conf_text(100);
    let c101 = n.conf_text(101);
    assert!(!c100.contains("scsi0:"), "{c100}");
    assert!(c100.contains("boot: order=ide2;scsi1;net0\n"), "{c100}");
    assert!(
        c101.contains("scsi3: local:101/vm-101-disk-1.qcow2,size=1G,ssd=1\n"),
        "{c101}"
    );
    assert!(!c101.contains("[PENDING]"), "{c101}");
    assert_eq!(n.images(100), vec!["vm-100-disk-1.raw"]);
    assert_eq!(
        n.images(101),
        vec!["vm-101-disk-0.raw", "vm-101-disk-1.qcow2"]
    );

    // unusedN keys on either side
    n.call(Put, "100/config", json!({"delete": "scsi1"}))
        .unwrap();
    assert!(n
        .conf_text(100)
        .contains("unused0: local:100/vm-100-disk-1.raw\n"));
    n.task(
        Post,
        "100/move_disk",
        json!({"disk": "unused0", "target-vmid": 101, "target-disk": "unused4"}),
    )
    .unwrap();
    assert!(!n.conf_text(100).contains("unused0"));
    assert!(n
        .conf_text(101)
        .contains("unused4: local:101/vm-101-disk-2.raw\n"));
    // an unused volume moves between storages too (a bare volume, no size), here
    // rate-limited (qemu-img convert -r)
    n.task(
        Post,
        "101/move_disk",
        json!({"disk": "unused4", "storage": "local", "format": "qcow2", "delete": 1,
               "bwlimit": 102400}),
    )
    .unwrap();
    let c101 = n.conf_text(101);
    assert!(
        c101.contains("unused4: local:101/vm-101-disk-3.qcow2\n"),
        "{c101}"
    );
    assert!(!c101.contains("disk-2.raw"), "{c101}");
    assert!(!n.images(101).contains(&"vm-101-disk-2.raw".to_string()));
    n.task(
        Post,
        "101/move_disk",
        json!({"disk": "unused4", "target-vmid": 100, "target-disk": "sata1"}),
    )
    .unwrap();
    assert!(!n.conf_text(101).contains("unused4"));
    assert!(n
        .conf_text(100)
        .contains("sata1: local:100/vm-100-disk-0.qcow2\n"));

    // a disk a snapshot uses stays
    let conf101 = n
        .root
        .join(format!("etc/pve/nodes/{NODE}/qemu-server/101.conf"));
    let mut c = n.conf_text(101);
    c.push_str("\n[s1]\nscsi3: local:101/vm-101-disk-1.qcow2,size=1G,ssd=1\nsnaptime: 1\n");
    std::fs::write(&conf101, c).unwrap();
    let e = n
        .call(
            Post,
            "101/move_disk",
            json!({"disk": "scsi3", "target-vmid": 100}),
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "Can't move disk used by a snapshot to another VM\n"
    );
    let e = n
        .call(
            Post,
            "101/move_disk",
            json!({"disk": "scsi3", "storage": "local", "format": "raw", "delete": 1}),
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "you can't move a disk with snapshots and delete the source\n"
    );

    // templates and base volumes
    n.task(
        Post,
        "",
        json!({"vmid": 102, "memory": "256", "scsi0": "local:1"}),
    )
    .unwrap();
    n.task(Post, "102/template", json!({})).unwrap();
    let e = n
        .call(
            Post,
            "102/move_disk",
            json!({"disk": "scsi0", "target-vmid": 100}),
        )
        .unwrap_err();
    assert_eq!(e.message, "Can't move disks from or to template VMs\n");
    let e = n
        .call(
            Post,
            "100/move_disk",
            json!({"disk": "sata1", "target-vmid": 102}),
        )
        .unwrap_err();
    assert_eq!(e.message, "Can't move disks from or to template VMs\n");
    // a linked clone's disk moves and keeps its base
    n.task(Post, "102/clone", json!({"newid": 103})).unwrap();
    let c103 = n.conf_text(103);
    assert!(
        c103.contains("scsi0: local:102/base-102-disk-0.raw/103/vm-103-disk-0.qcow2"),
        "{c103}"
    );
    n.task(Post, "", json!({"vmid": 104, "memory": "256"}))
        .unwrap();
    n.task(
        Post,
        "103/move_disk",
        json!({"disk": "scsi0", "target-vmid": 104}),
    )
    .unwrap();
    let c104 = n.conf_text(104);
    assert!(
        c104.contains("scsi0: local:102/base-102-disk-0.raw/104/vm-104-disk-0.qcow2,size=1G\n"),
        "{c104}"
    );
    // a base volume used directly by a VM cannot be renamed
    let mut c = n.conf_text(104);
    c.push_str("scsi1: local:102/base-102-disk-0.raw\n");
    std::fs::write(
        n.root
            .join(format!("etc/pve/nodes/{NODE}/qemu-server/104.conf")),
        c,
    )
    .unwrap();
    let e = n
        .call(
            Post,
            "104/move_disk",
            json!({"disk": "scsi1", "target-vmid": 100}),
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "Storage does not support moving of this disk to another VM\n"
    );
}

/// An `efidisk0` allocation copies the OVMF vars template of the VM's firmware into a
/// volume of the template's size (`efitype=4m`: 528 KiB; the 2m default: 128 KiB).
#[test]
fn efidisk_is_a_copy_of_the_vars_template() {
    if !qemu_img_available() && !require_host("qemu-img") {
        return;
    }
    let template = ["/usr/share/pve-edk2-firmware", "/usr/share/OVMF"]
        .iter()
        .map(|d| PathBuf::from(d).join("OVMF_VARS_4M.ms.fd"))
        .find(|p| p.exists());
    let Some(template) = template else {
        require_host("OVMF vars templates (Debian package ovmf)");
        return;
    };
    let n = Node::new("efidisk");
    use HttpMethod::*;
    n.task(
        Post,
        "",
        json!({"vmid": 110, "bios": "ovmf", "machine": "q35",
               "efidisk0": "local:1,efitype=4m,pre-enrolled-keys=1,format=raw"}),
    )
    .unwrap();
    let text = n.conf_text(110);
    assert!(
        text.contains(
            "efidisk0: local:110/vm-110-disk-0.raw,efitype=4m,pre-enrolled-keys=1,size=528K\n"
        ),
        "{text}"
    );
    let vol = n.root.join("var/lib/vz/images/110/vm-110-disk-0.raw");
    assert_eq!(
        std::fs::read(&vol).unwrap(),
        std::fs::read(&template).unwrap()
    );
    // the legacy 2m vars, qcow2 on a config update
    n.call(
        Put,
        "110/config",
        json!({"efidisk0": "local:1,format=qcow2"}),
    )
    .unwrap();
    let text = n.conf_text(110);
    assert!(
        text.contains("efidisk0: local:110/vm-110-disk-1.qcow2,size=128K\n"),
        "{text}"
    );
    // an EFI disk imported from a bigger volume keeps the template's size
    let big = n.root.join("var/lib/vz/images/111/vm-111-disk-0.raw");
    std::fs::create_dir_all(big.parent().unwrap()).unwrap();
    let mut data = std::fs::read(&template).unwrap();
    data.resize(4 << 20, 0);
    std::fs::write(&big, &data).unwrap();
    n.task(
        Post,
        "",
        json!({"vmid": 112, "bios": "ovmf",
               "efidisk0": "local:0,import-from=local:111/vm-111-disk-0.raw,efitype=4m,pre-enrolled-keys=1,format=raw"}),
    )
    .unwrap();
    let text = n.conf_text(112);
    assert!(
        text.contains(
            "efidisk0: local:112/vm-112-disk-0.raw,efitype=4m,pre-enrolled-keys=1,size=528K\n"
        ),
        "{text}"
    );
    let imported = n.root.join("var/lib/vz/images/112/vm-112-disk-0.raw");
    assert_eq!(
        std::fs::read(&imported).unwrap(),
        std::fs::read(&template).unwrap()
    );
    let e = n
        .call(
            Post,
            "",
            json!({"vmid": 113, "efidisk0": "local:0,import-from=local:111/vm-111-disk-0.raw"}),
        )
        .unwrap_err();
    assert_eq!(
        e.errors["efidisk0"],
        "need to specify 'efitype' when using 'import-from'"
    );

    // moving it copies the template's size, not more
    n.task(
        Post,
        "110/move_disk",
        json!({"disk": "efidisk0", "storage": "local", "format": "raw", "bwlimit": 10240}),
    )
    .unwrap();
    let text = n.conf_text(110);
    assert!(
        text.contains("efidisk0: local:110/vm-110-disk-2.raw,size=128K\n"),
        "{text}"
    );
}
