//! Real containers under Debian's LXC: start, exec, shutdown, stop. Root and the busybox
//! template (`cargo xtask ct-template`, found in the workspace's `target/ct-templates/`)
//! are needed; otherwise the test prints `SKIP:` (a failure with PVE_TEST_REQUIRE_HOST=1).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{busybox_template, run, skip};
use pve_container::lxc_config::LxcHost;
use pve_container::run::{LxcError, LxcRuntime};

/// The probed host with the hooks (`lxcnetaddbr`, `lxc-pve-*-hook`) taken from this
/// build; `PVE_LXC_HOOK_DIR` is set for the API methods, which probe the host
/// themselves.
fn test_host() -> LxcHost {
    let dir = Path::new(env!("CARGO_BIN_EXE_lxc-pve-prestart-hook"))
        .parent()
        .unwrap()
        .to_path_buf();
    // set once: the other test threads read the environment too
    static SET_ENV: std::sync::Once = std::sync::Once::new();
    SET_ENV.call_once(|| std::env::set_var("PVE_LXC_HOOK_DIR", &dir));
    let mut host = LxcHost::probe();
    host.hook_dir = dir.clone();
    host.lxc_hooks_dir = dir;
    host
}

/// Stops the container and removes the test root even when an assertion fails.
struct Cleanup {
    rt: LxcRuntime,
    vmid: u32,
    root: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::stop_and_unmount(&self.rt, self.vmid);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn privileged_busybox_start_exec_shutdown_stop() {
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root");
    }
    if Command::new("lxc-start").arg("--version").output().is_err() {
        return skip("lxc-start not installed");
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let root = std::env::temp_dir().join(format!("pve-ct-runtime-{}", std::process::id()));
    let paths = pve_common::paths::NodePaths::new(&root);
    let vmid = 9100 + (std::process::id() % 400);
    let rt = LxcRuntime::new(&paths);
    let guard = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
    };
    let rootfs = rt.lxc_dir.join(vmid.to_string()).join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    let st = Command::new("tar")
        .arg("xpf")
        .arg(&template)
        .arg("-C")
        .arg(&rootfs)
        .status()
        .unwrap();
    assert!(st.success());
    // The template's rcS names the host from /etc/hostname; `ostype: unmanaged` gets
    // no distro setup, so the test writes it.
    std::fs::write(rootfs.join("etc/hostname"), "bbtest\n").unwrap();

    let raw = "arch: amd64\nostype: unmanaged\nhostname: bbtest\nmemory: 128\nrootfs: local:9100/vm-9100-disk-0.raw,size=1G\n";
    let conf = pve_container::parse_ct_config(vmid, raw, true)
        .unwrap()
        .config
        .main;
    // no CT config in the root: the hooks have nothing to do (the root is a plain
    // directory)
    let host = test_host();

    assert!(!rt.check_running(vmid));
    assert!(matches!(
        rt.stop(vmid, false, None, true),
        Err(LxcError::NotRunning(_))
    ));
    rt.start(vmid, &conf, &host).expect("start");
    assert!(rt.check_running(vmid));
    let err = rt.start(vmid, &conf, &host).unwrap_err();
    assert_eq!(err.to_string(), format!("CT {vmid} already running"));

    // TERM comes from `lxc.environment` in the generated config.
    let out = rt
        .exec(vmid, &["/bin/sh", "-c", "hostname; echo $TERM-x"])
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bbtest\nlinux-x\n");

    // busybox init powers off on SIGPWR: a clean shutdown without the kill.
    rt.stop(vmid, true, Some(20), false).expect("shutdown");
    assert!(!rt.check_running(vmid));

    rt.start(vmid, &conf, &host).expect("second start");
    assert!(rt.check_running(vmid));
    rt.stop(vmid, false, None, true).expect("stop");
    assert!(!rt.check_running(vmid));
    drop(guard);
}

/// Removes the test bridge, stops the container, unmounts and removes the root.
struct NetCleanup {
    bridge: String,
    ct: Cleanup,
}

impl Drop for NetCleanup {
    fn drop(&mut self) {
        if self.ct.rt.check_running(self.ct.vmid) {
            let _ = self.ct.rt.stop(self.ct.vmid, false, None, true);
        }
        let _ = pve_container::create::unmount_all(&self.ct.rt.rootdir(self.ct.vmid));
        if !self.bridge.is_empty() {
            let _ = run("ip", &["link", "del", &self.bridge]);
        }
    }
}

/// An unprivileged container on dir storage (raw image, ext4, loop-mounted), created
/// from the busybox template: files owned by the shifted ids, veth on a bridge with
/// the configured address, `exec` output, stop; a create from a broken archive leaves
/// no volume and no mount behind.
#[test]
fn unprivileged_dir_storage_create_start_net_exec_stop() {
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root");
    }
    for tool in ["lxc-start", "lxc-usernsexec", "mkfs.ext4", "qemu-img", "ip"] {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            return skip(&format!("{tool} not installed"));
        }
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let pid = std::process::id();
    let root = std::env::temp_dir().join(format!("pve-ct-unpriv-{pid}"));
    std::fs::create_dir_all(root.join("etc/pve")).unwrap();
    let paths = pve_common::paths::NodePaths::new(&root);
    // the pre-start hook reads the storage config of the root
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
    )
    .unwrap();
    let storage = pve_storage::Storage::load(&paths).unwrap();
    let vmid = 9500 + (pid % 400);
    let rt = LxcRuntime::new(&paths);
    let bridge = format!("pvetbr{}", pid % 10000);
    let net = 10 + pid % 200;
    let guard = NetCleanup {
        bridge: bridge.clone(),
        ct: Cleanup {
            rt: rt.clone(),
            vmid,
            root: root.clone(),
        },
    };
    run("ip", &["link", "add", &bridge, "type", "bridge"]).unwrap();
    run(
        "ip",
        &["addr", "add", &format!("10.251.{net}.1/24"), "dev", &bridge],
    )
    .unwrap();
    run("ip", &["link", "set", &bridge, "up"]).unwrap();

    let raw = format!(
        "arch: amd64\nostype: unmanaged\nhostname: unpriv\nmemory: 128\nunprivileged: 1\n\
         net0: name=eth0,bridge={bridge},host-managed=1,ip=10.251.{net}.2/24,hwaddr=BC:24:11:00:00:01\n"
    );
    let mut conf = pve_container::parse_ct_config(vmid, &raw, true)
        .unwrap()
        .config;
    let mount_dir = rt.rootdir(vmid);
    // (the two tests use distinct VMIDs: LXC names cgroups and veths after them)

    // A broken archive: the create fails and frees its volume.
    let bad = root.join("bad.tar.gz");
    std::fs::write(&bad, b"not an archive").unwrap();
    fn req<'a>(
        vmid: u32,
        archive: &'a Path,
        conf: &'a pve_container::CtSection,
        mount_dir: &'a Path,
    ) -> pve_container::create::RootfsRequest<'a> {
        pve_container::create::RootfsRequest {
            vmid,
            storeid: "local",
            size_gib: 1,
            archive,
            conf,
            password: None,
            ssh_keys: None,
            setup: Default::default(),
            mount_dir,
        }
    }
    let err =
        pve_container::create::create_rootfs(&storage, &req(vmid, &bad, &conf.main, &mount_dir))
            .unwrap_err();
    assert!(err.contains("unable to restore template archive"), "{err}");
    let images = paths.var_lib_vz().join("images").join(vmid.to_string());
    let left: Vec<_> = std::fs::read_dir(&images)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "volumes left behind: {left:?}");
    assert!(!pve_container::create::is_mounted(&mount_dir));

    let (volid, setup_conf) = pve_container::create::create_rootfs(
        &storage,
        &req(vmid, &template, &conf.main, &mount_dir),
    )
    .expect("create");
    assert_eq!(volid, format!("local:{vmid}/vm-{vmid}-disk-0.raw"));
    assert!(!pve_container::create::is_mounted(&mount_dir));
    conf.main = setup_conf;
    conf.main.set("rootfs", format!("{volid},size=1G"));
    let node = pve_container::net_hook::nodename();
    let store = pve_container::store::CtConfigStore::new(&paths, &node);
    std::fs::create_dir_all(root.join(format!("etc/pve/nodes/{node}/lxc"))).unwrap();
    store.write_config(vmid, &conf).unwrap();

    let host = test_host();
    let rt = rt.with_node(&node);
    rt.start(vmid, &conf.main, &host).expect("start");
    assert!(rt.check_running(vmid));
    // The pre-start hook mounted the root in the container's namespace, not on the host.
    assert!(!pve_container::create::is_mounted(&mount_dir));
    // The files are owned by the container's mapped root on the host.
    use std::os::unix::fs::MetadataExt;
    let pid = rt.running_pid(vmid).unwrap();
    let meta = std::fs::metadata(format!("/proc/{pid}/root/bin/busybox")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));

    let out = rt
        .exec(vmid, &["/bin/sh", "-c", "id -u; ip -4 addr show eth0"])
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("0\n"), "{text}");
    assert!(text.contains(&format!("inet 10.251.{net}.2/24")), "{text}");
    // The veth is on the bridge: the bridge address answers from inside.
    let out = rt
        .exec(
            vmid,
            &[
                "/bin/ping",
                "-c",
                "1",
                "-W",
                "2",
                &format!("10.251.{net}.1"),
            ],
        )
        .unwrap();
    assert!(
        out.status.success(),
        "ping failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let master = run("ip", &["-o", "link", "show", &format!("veth{vmid}i0")]).unwrap();
    assert!(master.contains(&format!("master {bridge}")), "{master}");

    rt.stop(vmid, false, None, true).expect("stop");
    rt.unmount(vmid).unwrap();
    assert!(!pve_container::create::is_mounted(&mount_dir));
    storage.vdisk_free(&volid).unwrap();
    drop(guard);
}

fn api_call(
    env: &pve_common::api::RpcEnv,
    method: pve_common::api::HttpMethod,
    path: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, pve_common::api::ApiError> {
    let router = pve_container::api::node_lxc_router();
    let (m, _) = router.find(method, path).expect("method");
    let serde_json::Value::Object(mut p) = params else {
        unreachable!()
    };
    p.insert("node".into(), serde_json::json!(env.node));
    Ok(pve_common::api::call_method(m, env, p)?.data)
}

/// A privileged container on dir storage driven through the status API methods (as
/// `pct start/shutdown/stop` call them): each runs as a worker task, status/current
/// follows, and the errors before the worker are upstream's.
#[test]
fn status_methods_start_shutdown_stop() {
    use pve_common::api::HttpMethod::{Get, Post};
    use serde_json::json;
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root");
    }
    for tool in ["lxc-start", "mkfs.ext4", "qemu-img"] {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            return skip(&format!("{tool} not installed"));
        }
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let pid = std::process::id();
    let root = std::env::temp_dir().join(format!("pve-ct-api-{pid}"));
    std::fs::create_dir_all(root.join("etc/pve/nodes/pveo/lxc")).unwrap();
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
    )
    .unwrap();
    let paths = pve_common::paths::NodePaths::new(&root);
    let env = pve_common::api::RpcEnv {
        auth: pve_common::api::AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind: pve_common::api::EnvKind::Cli,
        paths: paths.clone(),
        permissions: None,
    };
    let storage = pve_storage::Storage::load(&paths).unwrap();
    test_host();
    let vmid = 9900 + (pid % 90);
    let rt = LxcRuntime::new(&paths);
    let _guard = NetCleanup {
        bridge: String::new(),
        ct: Cleanup {
            rt: rt.clone(),
            vmid,
            root: root.clone(),
        },
    };
    let raw = "arch: amd64\nostype: unmanaged\nhostname: apict\nmemory: 64\n";
    let mut conf = pve_container::parse_ct_config(vmid, raw, true)
        .unwrap()
        .config;
    let mount_dir = rt.rootdir(vmid);
    let (volid, main) = pve_container::create::create_rootfs(
        &storage,
        &pve_container::create::RootfsRequest {
            vmid,
            storeid: "local",
            size_gib: 1,
            archive: &template,
            conf: &conf.main,
            password: None,
            ssh_keys: None,
            setup: Default::default(),
            mount_dir: &mount_dir,
        },
    )
    .expect("create");
    conf.main = main;
    conf.main.set("rootfs", format!("{volid},size=1G"));
    let store = pve_container::store::CtConfigStore::new(&paths, "pveo");
    store.write_config(vmid, &conf).unwrap();
    let path = |s: &str| format!("{vmid}/status/{s}");

    let err = api_call(&env, Post, &path("stop"), json!({"vmid": vmid})).unwrap_err();
    assert_eq!(err.message, format!("CT {vmid} not running\n"));
    let st = api_call(&env, Get, &path("current"), json!({"vmid": vmid})).unwrap();
    assert_eq!(st["status"], json!("stopped"));

    let upid = api_call(&env, Post, &path("start"), json!({"vmid": vmid})).unwrap();
    let upid = upid.as_str().unwrap().to_string();
    assert!(upid.contains(":vzstart:"), "{upid}");
    let ts = pve_common::tasks::task_status(&paths, &upid).unwrap();
    assert_eq!(ts.exitstatus.as_deref(), Some("OK"), "{ts:?}");
    let st = api_call(&env, Get, &path("current"), json!({"vmid": vmid})).unwrap();
    assert_eq!(st["status"], json!("running"));
    let err = api_call(&env, Post, &path("start"), json!({"vmid": vmid})).unwrap_err();
    assert_eq!(err.message, format!("CT {vmid} already running\n"));
    let out = rt.exec(vmid, &["/bin/hostname"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "busybox");

    let upid = api_call(
        &env,
        Post,
        &path("shutdown"),
        json!({"vmid": vmid, "timeout": 20}),
    )
    .unwrap();
    let ts = pve_common::tasks::task_status(&paths, upid.as_str().unwrap()).unwrap();
    assert_eq!(ts.exitstatus.as_deref(), Some("OK"), "{ts:?}");
    let st = api_call(&env, Get, &path("current"), json!({"vmid": vmid})).unwrap();
    assert_eq!(st["status"], json!("stopped"));
    assert!(!pve_container::create::is_mounted(&mount_dir));

    // a locked config refuses the start inside the worker, which then fails
    conf.main.set("lock", "backup");
    store.write_config(vmid, &conf).unwrap();
    let upid = api_call(&env, Post, &path("start"), json!({"vmid": vmid})).unwrap();
    let ts = pve_common::tasks::task_status(&paths, upid.as_str().unwrap()).unwrap();
    assert_eq!(
        ts.exitstatus.as_deref(),
        Some("CT is locked (backup)"),
        "{ts:?}"
    );
    assert!(!rt.check_running(vmid));
    conf.main.remove("lock");
    store.write_config(vmid, &conf).unwrap();

    api_call(&env, Post, &path("start"), json!({"vmid": vmid})).unwrap();
    let upid = api_call(&env, Post, &path("stop"), json!({"vmid": vmid})).unwrap();
    let ts = pve_common::tasks::task_status(&paths, upid.as_str().unwrap()).unwrap();
    assert_eq!(ts.exitstatus.as_deref(), Some("OK"), "{ts:?}");
    assert!(!rt.check_running(vmid));
    storage.vdisk_free(&volid).unwrap();
}

/// Unmounts and detaches the test's loop-mounted btrfs.
struct BtrfsMount {
    dev: String,
    dir: PathBuf,
}

impl Drop for BtrfsMount {
    fn drop(&mut self) {
        let _ = run("umount", &[self.dir.to_str().unwrap()]);
        let _ = run("losetup", &["-d", &self.dev]);
        // the container cleanup could not remove the mount point while it was mounted
        if let Some(root) = self.dir.parent().and_then(Path::parent) {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

/// An unprivileged container on a btrfs subvolume (loop-mounted btrfs image): create
/// (id-shifted unpack into the subvolume), start, write inside, stop, snapshot the
/// volume, change, roll back, start again and read the old content.
#[test]
fn unprivileged_btrfs_subvolume_snapshot_rollback() {
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root");
    }
    for tool in [
        "lxc-start",
        "lxc-usernsexec",
        "mkfs.btrfs",
        "btrfs",
        "losetup",
    ] {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            return skip(&format!("{tool} not installed"));
        }
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let pid = std::process::id();
    let root = std::env::temp_dir().join(format!("pve-ct-btrfs-{pid}"));
    std::fs::create_dir_all(root.join("etc/pve/nodes/pveo/lxc")).unwrap();
    let vmid = 9990 + (pid % 9);
    let paths = pve_common::paths::NodePaths::new(&root);
    let rt = LxcRuntime::new(&paths);
    let image = root.join("btrfs.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(256 * 1024 * 1024)
        .unwrap();
    run("mkfs.btrfs", &["-q", image.to_str().unwrap()]).unwrap();
    let dev = run("losetup", &["--find", "--show", image.to_str().unwrap()]).unwrap();
    let mnt = root.join("mnt/bt");
    std::fs::create_dir_all(&mnt).unwrap();
    let _bt = BtrfsMount {
        dev: dev.trim().to_string(),
        dir: mnt.clone(),
    };
    // declared after the btrfs mount so it drops first: stop, unmount, then the btrfs
    let _ct = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
    };
    if let Err(e) = run("mount", &[dev.trim(), mnt.to_str().unwrap()]) {
        return skip(&format!("no loop-mounted btrfs: {e}"));
    }
    std::fs::write(
        root.join("etc/pve/storage.cfg"),
        "btrfs: bt\n\tpath /mnt/bt\n\tcontent images,rootdir\n",
    )
    .unwrap();
    let storage = pve_storage::Storage::load(&paths).unwrap();
    let raw = "arch: amd64\nostype: unmanaged\nhostname: btct\nmemory: 64\nunprivileged: 1\n";
    let mut conf = pve_container::parse_ct_config(vmid, raw, true)
        .unwrap()
        .config;
    let mount_dir = rt.rootdir(vmid);
    let (volid, main) = pve_container::create::create_rootfs(
        &storage,
        &pve_container::create::RootfsRequest {
            vmid,
            storeid: "bt",
            size_gib: 0,
            archive: &template,
            conf: &conf.main,
            password: None,
            ssh_keys: None,
            setup: Default::default(),
            mount_dir: &mount_dir,
        },
    )
    .expect("create");
    assert_eq!(volid, format!("bt:{vmid}/subvol-{vmid}-disk-0.subvol"));
    conf.main = main;
    conf.main.set("rootfs", format!("{volid},size=0T"));
    let store = pve_container::store::CtConfigStore::new(&paths, "pveo");
    store.write_config(vmid, &conf).unwrap();
    let rt = rt.with_node("pveo");
    let host = test_host();
    let start = |rt: &LxcRuntime| rt.start(vmid, &conf.main, &host).expect("start");
    let write = |rt: &LxcRuntime, text: &str| {
        let out = rt
            .exec(
                vmid,
                &[
                    "/bin/sh",
                    "-c",
                    &format!("echo {text} > /etc/pvetest-state"),
                ],
            )
            .unwrap();
        assert!(out.status.success());
    };
    start(&rt);
    write(&rt, "before");
    rt.stop(vmid, false, None, true).unwrap();
    rt.unmount(vmid).unwrap();
    storage.volume_snapshot(&volid, "snap1").unwrap();
    start(&rt);
    write(&rt, "after");
    rt.stop(vmid, false, None, true).unwrap();
    rt.unmount(vmid).unwrap();
    storage.volume_snapshot_rollback(&volid, "snap1").unwrap();
    start(&rt);
    let out = rt.exec(vmid, &["/bin/cat", "/etc/pvetest-state"]).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "before\n");
    rt.stop(vmid, false, None, true).unwrap();
    rt.unmount(vmid).unwrap();
}
