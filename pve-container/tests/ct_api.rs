//! The write side of the container API on real LXC: create (`vzcreate`) from the busybox
//! template with `STORAGE:SIZE` volumes, start, exec, config update, template,
//! destroy (`vzdestroy`); failed creates leave no config, volume, lock or lxc
//! directory; on a loop-mounted btrfs snapshot, rollback and snapshot delete through the
//! API. Root, the LXC tools and the busybox template (`cargo xtask ct-template`) are
//! needed, otherwise `SKIP:` (a failure with PVE_TEST_REQUIRE_HOST=1). VMIDs 9400-9499.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{busybox_template, run, skip};
use pve_common::api::HttpMethod::{self, Delete, Get, Post, Put};
use pve_common::api::{ApiError, RpcEnv};
use pve_container::run::LxcRuntime;
use serde_json::{json, Value};

/// What the host must have; `None` when the test can run.
fn host_missing(tools: &[&str]) -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in tools {
        if run("sh", &["-c", &format!("command -v {tool}")]).is_err() {
            return Some(format!("{tool} not installed"));
        }
    }
    None
}

/// Stops the container, unmounts its root and removes the test root, also after a
/// failed assertion.
struct Cleanup {
    rt: LxcRuntime,
    vmid: u32,
    root: PathBuf,
    /// A loop-mounted btrfs (mount point, loop device) to take down after the CT.
    btrfs: Option<(PathBuf, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        common::stop_and_unmount(&self.rt, self.vmid);
        if let Some((dir, dev)) = &self.btrfs {
            let _ = run("umount", &[dir.to_str().unwrap()]);
            let _ = run("losetup", &["-d", dev]);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A node root with `storage.cfg` and the busybox template in `local:vztmpl/`.
fn node_root(tag: &str, storage_cfg: &str, template: &Path) -> (PathBuf, RpcEnv) {
    // the hooks a start needs (`lxc-pve-*-hook`, `lxcnetaddbr`) come from this build;
    // set once: the other test threads read the environment too
    static SET_ENV: std::sync::Once = std::sync::Once::new();
    SET_ENV.call_once(|| {
        let dir = Path::new(env!("CARGO_BIN_EXE_lxc-pve-prestart-hook"))
            .parent()
            .unwrap()
            .to_path_buf();
        std::env::set_var("PVE_LXC_HOOK_DIR", dir);
    });
    let root = std::env::temp_dir().join(format!("pve-ct-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/pve/nodes/pveo/lxc")).unwrap();
    std::fs::write(root.join("etc/pve/storage.cfg"), storage_cfg).unwrap();
    let cache = root.join("var/lib/vz/template/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::copy(template, cache.join("busybox_amd64.tar.gz")).unwrap();
    std::fs::write(cache.join("broken_amd64.tar.gz"), b"not an archive").unwrap();
    let env = RpcEnv {
        auth: pve_common::api::AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind: pve_common::api::EnvKind::Cli,
        paths: pve_common::paths::NodePaths::new(&root),
        permissions: None,
    };
    (root, env)
}

fn api(env: &RpcEnv, method: HttpMethod, path: &str, params: Value) -> Result<Value, ApiError> {
    let router = pve_container::api::node_lxc_router();
    let (m, resolved) = router.find(method, path).expect("method");
    let Value::Object(mut p) = params else {
        unreachable!()
    };
    for (k, v) in resolved.path_params {
        p.entry(k).or_insert(v);
    }
    p.insert("node".into(), json!(env.node));
    Ok(pve_common::api::call_method(m, env, p)?.data)
}

/// Runs a task-returning method; returns the task's exit status.
fn task(env: &RpcEnv, method: HttpMethod, path: &str, params: Value, kind: &str) -> String {
    let upid = api(env, method, path, params).expect("task started");
    let upid = upid.as_str().expect("a UPID").to_string();
    assert!(upid.contains(&format!(":{kind}:")), "{upid}");
    pve_common::tasks::task_status(&env.paths, &upid)
        .unwrap()
        .exitstatus
        .unwrap_or_default()
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The running CT's memory limit (bytes) in its limiting cgroup, where the configured
/// limits go.
fn memory_limit(_rt: &LxcRuntime, vmid: u32) -> String {
    let file = if pve_container::api::host_cgroup_version("memory") == 1 {
        "memory.limit_in_bytes"
    } else {
        "memory.max"
    };
    let path = pve_container::api::limit_cgroup_file(vmid, file).unwrap();
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_string()
}

fn exec(rt: &LxcRuntime, vmid: u32, script: &str) -> String {
    let out = rt.exec(vmid, &["/bin/sh", "-c", script]).unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn api_create_start_update_template_destroy_on_dir() {
    if let Some(r) = host_missing(&["lxc-start", "lxc-usernsexec", "mkfs.ext4", "qemu-img"]) {
        return skip(&r);
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let (root, env) = node_root(
        "apicreate",
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
        &template,
    );
    let vmid = 9400 + std::process::id() % 40;
    let rt = LxcRuntime::new(&env.paths);
    let _guard = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
        btrfs: None,
    };
    let conf_path = root.join(format!("etc/pve/nodes/pveo/lxc/{vmid}.conf"));
    let images = root.join(format!("var/lib/vz/images/{vmid}"));
    let lxc_dir = rt.lxc_dir.join(vmid.to_string());
    let assert_nothing_left = |what: &str| {
        assert!(!conf_path.exists(), "{what}: config left behind");
        assert!(
            files_in(&images).is_empty(),
            "{what}: volumes left: {:?}",
            files_in(&images)
        );
        assert!(!lxc_dir.exists(), "{what}: {} left", lxc_dir.display());
        assert!(!pve_container::create::is_mounted(&rt.rootdir(vmid)));
    };

    // a broken archive: the task fails, nothing stays
    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/broken_amd64.tar.gz",
               "rootfs": "local:1", "ostype": "unmanaged"}),
        "vzcreate",
    );
    assert!(
        status.starts_with(&format!(
            "unable to create CT {vmid} - unable to restore template archive"
        )),
        "{status}"
    );
    assert_nothing_left("broken archive");

    // a template that does not exist (found out after the allocation, as upstream)
    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/missing_amd64.tar.gz",
               "rootfs": "local:1", "ostype": "unmanaged"}),
        "vzcreate",
    );
    assert_eq!(
        status,
        format!("unable to create CT {vmid} - can't find file 'local:vztmpl/missing_amd64.tar.gz'")
    );
    assert_nothing_left("missing template");

    // a failure after allocation and unpacking (busybox is no distribution setup
    // knows): both new volumes are freed again
    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz",
               "rootfs": "local:1", "mp0": "local:0.25,mp=/data"}),
        "vzcreate",
    );
    assert_eq!(
        status,
        format!("unable to create CT {vmid} - unable to detect OS distribution")
    );
    assert_nothing_left("failed setup");

    // checks before the worker
    let err = api(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz",
               "mp0": "local:1,mp=/data"}),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "mount points configured, but 'rootfs' not set - aborting\n"
    );
    let err = api(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz",
               "restore": 1}),
    )
    .unwrap_err();
    assert!(err.message.contains("not implemented"), "{}", err.message);
    assert!(!conf_path.exists());

    // the real create, started afterwards
    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz",
               "rootfs": "1", "mp0": "local:0.25,mp=/data,backup=1", "ostype": "unmanaged",
               "hostname": "apict", "memory": 128, "start": 1}),
        "vzcreate",
    );
    assert_eq!(status, "OK");
    let conf = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(
        conf["rootfs"],
        json!(format!("local:{vmid}/vm-{vmid}-disk-0.raw,size=1G"))
    );
    assert_eq!(
        conf["mp0"],
        json!(format!(
            "local:{vmid}/vm-{vmid}-disk-1.raw,mp=/data,backup=1,size=256M"
        ))
    );
    assert_eq!(conf["arch"], json!("amd64"));
    assert_eq!(conf["ostype"], json!("unmanaged"));
    assert_eq!(conf["unprivileged"], json!(1));
    assert_eq!(conf["memory"], json!(128));
    assert_eq!(conf["swap"], json!(512));
    assert_eq!(conf["hostname"], json!("apict"));
    assert!(conf.get("lock").is_none(), "{conf}");
    assert!(rt.check_running(vmid));
    let out = exec(
        &rt,
        vmid,
        "id -u; stat -c %u /bin/busybox; grep -c ' /data ' /proc/mounts",
    );
    assert_eq!(out, "0\n0\n1\n");
    // the memory limit of the generated config is in effect (cgroup v1 or v2 keys,
    // whichever hierarchy the host has)
    assert_eq!(memory_limit(&rt, vmid), (128u64 << 20).to_string());

    // the VMID is taken; a running CT is not destroyed
    let err = api(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz"}),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        format!("CT {vmid} already exists on node 'pveo'\n")
    );
    let err = api(&env, Delete, &vmid.to_string(), json!({"vmid": vmid})).unwrap_err();
    assert_eq!(
        err.message,
        format!("unable to destroy CT {vmid} - container is running\n")
    );

    // config updates: a running CT takes the host name at once and the memory through
    // its cgroup; tty stays pending
    let digest = conf["digest"].as_str().unwrap().to_string();
    api(
        &env,
        Put,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "memory": 256, "hostname": "renamed", "tty": 3, "digest": digest}),
    )
    .unwrap();
    let err = api(
        &env,
        Put,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "memory": 64, "digest": digest}),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "detected modified configuration - file changed by other user? Try again.\n"
    );
    let current = api(
        &env,
        Get,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "current": 1}),
    )
    .unwrap();
    assert_eq!(current["hostname"], json!("renamed"));
    assert_eq!(current["memory"], json!(256));
    assert!(current.get("tty").is_none(), "{current}");
    assert_eq!(memory_limit(&rt, vmid), (256u64 << 20).to_string());
    let pending = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(pending["tty"], json!(3));

    // snapshots of raw images on dir storage are refused as upstream does
    let status = task(
        &env,
        Post,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid, "snapname": "s1"}),
        "vzsnapshot",
    );
    assert_eq!(status, "snapshot feature is not available");

    let status = task(
        &env,
        Post,
        &format!("{vmid}/status/stop"),
        json!({"vmid": vmid}),
        "vzstop",
    );
    assert_eq!(status, "OK");

    // the next start applies the pending tty
    let pending = api(&env, Get, &format!("{vmid}/pending"), json!({"vmid": vmid})).unwrap();
    assert!(
        pending
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["key"] == "tty" && i["pending"] == 3),
        "{pending}"
    );
    let status = task(
        &env,
        Post,
        &format!("{vmid}/status/start"),
        json!({"vmid": vmid}),
        "vzstart",
    );
    assert_eq!(status, "OK");
    let current = api(
        &env,
        Get,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "current": 1}),
    )
    .unwrap();
    assert_eq!(current["tty"], json!(3));
    let status = task(
        &env,
        Post,
        &format!("{vmid}/status/stop"),
        json!({"vmid": vmid}),
        "vzstop",
    );
    assert_eq!(status, "OK");

    // stopped: a new mount point is
    // allocated, the old one becomes unused0, deleting unused0 frees it
    api(
        &env,
        Put,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "mp0": "local:0.25,mp=/data2", "swap": 0}),
    )
    .unwrap();
    let conf = api(
        &env,
        Get,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "current": 1}),
    )
    .unwrap();
    assert_eq!(
        conf["mp0"],
        json!(format!(
            "local:{vmid}/vm-{vmid}-disk-2.raw,mp=/data2,size=256M"
        ))
    );
    assert_eq!(
        conf["unused0"],
        json!(format!("local:{vmid}/vm-{vmid}-disk-1.raw"))
    );
    assert!(images.join(format!("vm-{vmid}-disk-1.raw")).exists());
    api(
        &env,
        Put,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "delete": "unused0"}),
    )
    .unwrap();
    assert!(!images.join(format!("vm-{vmid}-disk-1.raw")).exists());
    let err = api(
        &env,
        Put,
        &format!("{vmid}/config"),
        json!({"vmid": vmid, "delete": "rootfs"}),
    )
    .unwrap_err();
    assert_eq!(err.message, "unable to delete required option 'rootfs'\n");

    // template: the volumes become base volumes
    assert_eq!(
        api(
            &env,
            Post,
            &format!("{vmid}/template"),
            json!({"vmid": vmid})
        )
        .unwrap(),
        Value::Null
    );
    let conf = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(conf["template"], json!(1));
    assert_eq!(
        conf["rootfs"],
        json!(format!("local:{vmid}/base-{vmid}-disk-0.raw,size=1G"))
    );
    let err = api(
        &env,
        Post,
        &format!("{vmid}/template"),
        json!({"vmid": vmid}),
    )
    .unwrap_err();
    assert_eq!(err.message, "you can't convert a template to a template\n");

    // destroy: config, volumes, the lxc directory and the firewall config go
    let fw = root.join(format!("etc/pve/firewall/{vmid}.fw"));
    std::fs::create_dir_all(fw.parent().unwrap()).unwrap();
    std::fs::write(&fw, "[OPTIONS]\nenable: 1\n").unwrap();
    let status = task(
        &env,
        Delete,
        &vmid.to_string(),
        json!({"vmid": vmid}),
        "vzdestroy",
    );
    assert_eq!(status, "OK");
    assert_nothing_left("destroy");
    assert!(!fw.exists());
}

#[test]
fn api_snapshot_rollback_delete_on_btrfs() {
    if let Some(r) = host_missing(&[
        "lxc-start",
        "lxc-usernsexec",
        "mkfs.btrfs",
        "btrfs",
        "losetup",
    ]) {
        return skip(&r);
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let (root, env) = node_root(
        "apisnap",
        "dir: local\n\tpath /var/lib/vz\n\tcontent vztmpl\n\nbtrfs: bt\n\tpath /mnt/bt\n\tcontent images,rootdir\n",
        &template,
    );
    let vmid = 9450 + std::process::id() % 40;
    let rt = LxcRuntime::new(&env.paths);
    let image = root.join("btrfs.img");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(256 * 1024 * 1024)
        .unwrap();
    run("mkfs.btrfs", &["-q", image.to_str().unwrap()]).unwrap();
    let dev = run("losetup", &["--find", "--show", image.to_str().unwrap()])
        .unwrap()
        .trim()
        .to_string();
    let mnt = root.join("mnt/bt");
    std::fs::create_dir_all(&mnt).unwrap();
    let _guard = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
        btrfs: Some((mnt.clone(), dev.clone())),
    };
    if let Err(e) = run("mount", &[&dev, mnt.to_str().unwrap()]) {
        return skip(&format!("no loop-mounted btrfs: {e}"));
    }

    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/busybox_amd64.tar.gz",
               "storage": "bt", "rootfs": "bt:0", "mp0": "bt:0.125,mp=/data",
               "ostype": "unmanaged", "start": 1}),
        "vzcreate",
    );
    assert_eq!(status, "OK");
    let volid = format!("bt:{vmid}/subvol-{vmid}-disk-0.subvol");
    let conf = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(conf["rootfs"], json!(format!("{volid},size=0T")));
    // mp0 is a raw image (ext4) on btrfs, snapshotted with the subvolume
    assert_eq!(
        conf["mp0"],
        json!(format!("bt:{vmid}/vm-{vmid}-disk-1.raw,mp=/data,size=128M"))
    );
    exec(
        &rt,
        vmid,
        "echo before > /etc/pvetest-state; echo before > /data/state; sync",
    );

    // a snapshot of the running container (frozen while the subvolume is snapshotted)
    let status = task(
        &env,
        Post,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid, "snapname": "s1", "description": "first"}),
        "vzsnapshot",
    );
    assert_eq!(status, "OK");
    assert!(rt.check_running(vmid));
    let snaps = api(
        &env,
        Get,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid}),
    )
    .unwrap();
    assert_eq!(snaps[0]["name"], json!("s1"));
    // a description is stored as comment lines and read back with its newline
    assert_eq!(snaps[0]["description"], json!("first\n"));
    assert_eq!(snaps[1]["parent"], json!("s1"));
    assert_eq!(snaps[1]["running"], json!(1));
    api(
        &env,
        Put,
        &format!("{vmid}/snapshot/s1/config"),
        json!({"vmid": vmid, "snapname": "s1", "description": "renamed"}),
    )
    .unwrap();
    let err = api(
        &env,
        Post,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid, "snapname": "current"}),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "unable to use snapshot name 'current' (reserved name)\n"
    );
    let status = task(
        &env,
        Post,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid, "snapname": "s1"}),
        "vzsnapshot",
    );
    assert_eq!(status, "snapshot name 's1' already used");

    exec(
        &rt,
        vmid,
        "echo after > /etc/pvetest-state; echo after > /data/state",
    );
    // the rollback stops the container and starts it again
    let status = task(
        &env,
        Post,
        &format!("{vmid}/snapshot/s1/rollback"),
        json!({"vmid": vmid, "snapname": "s1", "start": 1}),
        "vzrollback",
    );
    assert_eq!(status, "OK");
    assert!(rt.check_running(vmid));
    assert_eq!(
        exec(&rt, vmid, "cat /etc/pvetest-state /data/state"),
        "before\nbefore\n"
    );
    let conf = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(conf["parent"], json!("s1"));
    assert!(conf.get("lock").is_none(), "{conf}");

    let status = task(
        &env,
        Delete,
        &format!("{vmid}/snapshot/s1"),
        json!({"vmid": vmid, "snapname": "s1"}),
        "vzdelsnapshot",
    );
    assert_eq!(status, "OK");
    let snaps = api(
        &env,
        Get,
        &format!("{vmid}/snapshot"),
        json!({"vmid": vmid}),
    )
    .unwrap();
    assert_eq!(snaps.as_array().unwrap().len(), 1, "{snaps}");
    assert!(snaps[0].get("parent").is_none(), "{snaps}");
    let snapdir = mnt.join(format!("images/{vmid}"));
    let mut left = files_in(&snapdir);
    left.sort();
    assert_eq!(
        left,
        vec![
            format!("subvol-{vmid}-disk-0.subvol"),
            format!("vm-{vmid}-disk-1")
        ],
        "the btrfs snapshots (NAME@s1) are gone"
    );

    // destroy with force stops it first (with upstream's warning)
    let status = task(
        &env,
        Delete,
        &vmid.to_string(),
        json!({"vmid": vmid, "force": 1}),
        "vzdestroy",
    );
    assert_eq!(status, "WARNINGS: 1");
    assert!(!rt.check_running(vmid));
    assert!(files_in(&snapdir).is_empty(), "{:?}", files_in(&snapdir));
    assert!(!root
        .join(format!("etc/pve/nodes/pveo/lxc/{vmid}.conf"))
        .exists());
}

/// `pct create/set/snapshot/template/destroy` as a user types them: the `pct` binary on
/// the test root, task-returning commands waiting for their task.
#[test]
fn pct_create_set_template_destroy() {
    if let Some(r) = host_missing(&["lxc-start", "lxc-usernsexec", "mkfs.ext4", "qemu-img"]) {
        return skip(&r);
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let (root, env) = node_root(
        "pctcli",
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
        &template,
    );
    let vmid = 9440 + std::process::id() % 10;
    let rt = LxcRuntime::new(&env.paths);
    let _guard = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
        btrfs: None,
    };
    let pct = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pct"))
            .args(args)
            .env(pve_common::paths::ROOT_ENV, &root)
            .env("PVE_NODE_NAME", "pveo")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let id = vmid.to_string();
    let (code, _, err) = pct(&[
        "create",
        &id,
        "local:vztmpl/broken_amd64.tar.gz",
        "--rootfs",
        "local:1",
        "--ostype",
        "unmanaged",
    ]);
    assert_eq!(code, 255, "{err}");
    assert!(
        err.contains(&format!(
            "unable to create CT {vmid} - unable to restore template archive"
        )),
        "{err}"
    );
    let (code, _, err) = pct(&[
        "create",
        &id,
        "local:vztmpl/busybox_amd64.tar.gz",
        "--rootfs",
        "local:1",
        "--ostype",
        "unmanaged",
        "--hostname",
        "clict",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = pct(&["set", &id, "--memory", "256", "--delete", "swap"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = pct(&["config", &id]);
    assert_eq!(code, 0);
    assert!(
        out.contains("memory: 256\n") && out.contains("hostname: clict\n"),
        "{out}"
    );
    assert!(!out.contains("swap:"), "{out}");
    let (code, _, err) = pct(&["set", &id, "--memory", "abc"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("memory: type check ('integer') failed - got 'abc'"),
        "{err}"
    );
    let (code, _, err) = pct(&["snapshot", &id, "s1"]);
    assert_eq!(code, 255);
    assert!(err.contains("snapshot feature is not available"), "{err}");
    let (code, _, err) = pct(&["template", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = pct(&["template", &id]);
    assert_eq!(
        (code, err.as_str()),
        (255, "you can't convert a template to a template\n")
    );
    // a config left locked (e.g. by a create that died) is unlocked by hand
    let conf_path = root.join(format!("etc/pve/nodes/pveo/lxc/{vmid}.conf"));
    let text = std::fs::read_to_string(&conf_path).unwrap();
    std::fs::write(&conf_path, format!("lock: create\n{text}")).unwrap();
    let (code, _, err) = pct(&["destroy", &id]);
    assert_eq!((code, err.as_str()), (255, "CT is locked (create)\n"));
    let (code, _, err) = pct(&["unlock", &id]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = pct(&["destroy", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(!root
        .join(format!("etc/pve/nodes/pveo/lxc/{vmid}.conf"))
        .exists());
    assert!(files_in(&root.join(format!("var/lib/vz/images/{vmid}"))).is_empty());
}

/// Unmounts a directory on drop.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = run("umount", &[self.0.to_str().unwrap()]);
    }
}

/// The post-create setup of a distribution through the create API: a Debian-like
/// template (the busybox template with Debian's os-release and `debian_version`) gets
/// the root password (SHA-512 crypt), the SSH keys, host name, hosts entry and the
/// network configuration of `net0`; the config gets the detected `ostype`/`arch` and a
/// generated MAC address.
#[test]
fn api_create_debian_setup_password_keys() {
    if let Some(r) = host_missing(&["lxc-usernsexec", "mkfs.ext4", "qemu-img", "tar"]) {
        return skip(&r);
    }
    let Some(template) = busybox_template() else {
        return skip("no busybox template (run `cargo xtask ct-template`)");
    };
    let (root, env) = node_root(
        "apideb",
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
        &template,
    );
    let vmid = 9490 + std::process::id() % 10;
    let rt = LxcRuntime::new(&env.paths);
    let _guard = Cleanup {
        rt: rt.clone(),
        vmid,
        root: root.clone(),
        btrfs: None,
    };
    let src = root.join("src");
    std::fs::create_dir_all(&src).unwrap();
    run(
        "tar",
        &[
            "xzpf",
            template.to_str().unwrap(),
            "--numeric-owner",
            "-C",
            src.to_str().unwrap(),
        ],
    )
    .unwrap();
    std::fs::write(
        src.join("etc/os-release"),
        "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n",
    )
    .unwrap();
    std::fs::write(src.join("etc/debian_version"), "12.5\n").unwrap();
    let shadow = std::fs::read_to_string(src.join("etc/shadow")).unwrap_or_default();
    if !shadow.lines().any(|l| l.starts_with("root:")) {
        std::fs::write(
            src.join("etc/shadow"),
            format!("{shadow}root:*:19000:0:99999:7:::\n"),
        )
        .unwrap();
    }
    let archive = root.join("var/lib/vz/template/cache/fakedeb_amd64.tar.gz");
    run(
        "tar",
        &[
            "czf",
            archive.to_str().unwrap(),
            "--numeric-owner",
            "-C",
            src.to_str().unwrap(),
            ".",
        ],
    )
    .unwrap();

    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPveTestKeyOnly user@host";
    let status = task(
        &env,
        Post,
        "",
        json!({"vmid": vmid, "ostemplate": "local:vztmpl/fakedeb_amd64.tar.gz",
               "rootfs": "local:1", "hostname": "deb1", "password": "secret123",
               "ssh-public-keys": key, "net0": "name=eth0,bridge=vmbr0,ip=dhcp"}),
        "vzcreate",
    );
    assert_eq!(status, "OK");
    let conf = api(&env, Get, &format!("{vmid}/config"), json!({"vmid": vmid})).unwrap();
    assert_eq!(conf["ostype"], json!("debian"));
    assert_eq!(conf["arch"], json!("amd64"));
    let net = conf["net0"].as_str().unwrap();
    assert!(
        net.starts_with("name=eth0,bridge=vmbr0,hwaddr=BC:24:11:")
            && net.ends_with(",ip=dhcp,type=veth"),
        "{net}"
    );
    assert!(conf.get("password").is_none() && conf.get("ssh-public-keys").is_none());

    let mnt = root.join("inspect");
    std::fs::create_dir_all(&mnt).unwrap();
    let image = root.join(format!("var/lib/vz/images/{vmid}/vm-{vmid}-disk-0.raw"));
    run(
        "mount",
        &[
            "-o",
            "loop,ro",
            image.to_str().unwrap(),
            mnt.to_str().unwrap(),
        ],
    )
    .unwrap();
    let unmount = Unmount(mnt.clone());
    let read = |p: &str| std::fs::read_to_string(mnt.join(p)).unwrap_or_default();
    let root_entry = read("etc/shadow")
        .lines()
        .find(|l| l.starts_with("root:"))
        .unwrap_or_default()
        .to_string();
    assert!(root_entry.starts_with("root:$6$"), "{root_entry}");
    assert!(read("root/.ssh/authorized_keys").contains(key));
    assert_eq!(read("etc/hostname").trim(), "deb1");
    assert!(
        read("etc/hosts").contains("127.0.1.1 deb1"),
        "{}",
        read("etc/hosts")
    );
    assert!(
        read("etc/network/interfaces").contains("auto eth0\niface eth0 inet dhcp"),
        "{}",
        read("etc/network/interfaces")
    );
    drop(unmount);

    let status = task(
        &env,
        Delete,
        &vmid.to_string(),
        json!({"vmid": vmid}),
        "vzdestroy",
    );
    assert_eq!(status, "OK");
    assert!(files_in(&root.join(format!("var/lib/vz/images/{vmid}"))).is_empty());
}
