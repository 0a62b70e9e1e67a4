//! `pct exec/push/pull/mount/unmount/resize` and mount points (bind and volume) on real
//! containers, through the `pct` binary of this build (root, LXC, the busybox template
//! from `cargo xtask ct-template`; otherwise `SKIP:`, a failure with
//! PVE_TEST_REQUIRE_HOST=1). VMIDs 8600-8699.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{busybox_template, run, skip};
use pve_container::run::LxcRuntime;

const NODE: &str = "pveo";

fn host_ready() -> Option<PathBuf> {
    if unsafe { libc::geteuid() } != 0 {
        skip("not root");
        return None;
    }
    for tool in [
        "lxc-start",
        "lxc-usernsexec",
        "mkfs.ext4",
        "resize2fs",
        "qemu-img",
    ] {
        let found = Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {tool}"))
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            skip(&format!("{tool} not installed"));
            return None;
        }
    }
    let t = busybox_template();
    if t.is_none() {
        skip("no busybox template (run `cargo xtask ct-template`)");
    }
    t
}

/// A test root with dir storage `local` and one unprivileged busybox container on a
/// raw ext4 root volume; stops, unmounts and removes everything on drop.
struct TestCt {
    root: PathBuf,
    vmid: u32,
    rt: LxcRuntime,
    store: pve_container::store::CtConfigStore,
    storage: pve_storage::Storage,
}

impl TestCt {
    fn new(template: &Path, tag: &str, vmid: u32, extra: &str) -> Self {
        let root = std::env::temp_dir().join(format!("pve-ct-tools-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join(format!("etc/pve/nodes/{NODE}/lxc"))).unwrap();
        std::fs::write(
            root.join("etc/pve/storage.cfg"),
            "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,vztmpl\n\n",
        )
        .unwrap();
        let paths = pve_common::paths::NodePaths::new(&root);
        let storage = pve_storage::Storage::load(&paths).unwrap();
        let rt = LxcRuntime::new(&paths).with_node(NODE);
        let store = pve_container::store::CtConfigStore::new(&paths, NODE);
        let ct = TestCt {
            root,
            vmid,
            rt,
            store,
            storage,
        };
        let raw = format!(
            "arch: amd64\nostype: unmanaged\nhostname: tools\nmemory: 64\nunprivileged: 1\n{extra}"
        );
        let mut conf = pve_container::parse_ct_config(vmid, &raw, true)
            .unwrap()
            .config;
        let (volid, main) = pve_container::create::create_rootfs(
            &ct.storage,
            &pve_container::create::RootfsRequest {
                vmid,
                storeid: "local",
                size_gib: 1,
                archive: template,
                conf: &conf.main,
                password: None,
                ssh_keys: None,
                setup: Default::default(),
                mount_dir: &ct.rt.rootdir(vmid),
            },
        )
        .expect("create");
        conf.main = main;
        conf.main.set("rootfs", format!("{volid},size=1G"));
        ct.store.write_config(vmid, &conf).unwrap();
        ct
    }

    fn pct(&self, args: &[&str]) -> (i32, String, String) {
        self.pct_env(args, &[])
    }

    /// `sh -c CMD` under script(1) (a pseudo terminal), the `inputs` written one after
    /// the other with a pause between them.
    fn pct_script(&self, cmd: &str, inputs: &[&str]) -> (i32, String, String) {
        use std::io::Write;
        let hooks = Path::new(env!("CARGO_BIN_EXE_lxc-pve-prestart-hook"))
            .parent()
            .unwrap();
        let mut child = Command::new("script")
            .args(["-qec", cmd, "/dev/null"])
            .env("PVE_ROOT", &self.root)
            .env("PVE_NODE_NAME", NODE)
            .env("PVE_LXC_HOOK_DIR", hooks)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for input in inputs {
            std::thread::sleep(std::time::Duration::from_millis(700));
            stdin.write_all(input.as_bytes()).unwrap();
            stdin.flush().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `pct` with `input` on its stdin.
    fn pct_stdin(&self, args: &[&str], input: &str) -> (i32, String, String) {
        use std::io::Write;
        let hooks = Path::new(env!("CARGO_BIN_EXE_lxc-pve-prestart-hook"))
            .parent()
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pct"))
            .args(args)
            .env("PVE_ROOT", &self.root)
            .env("PVE_NODE_NAME", NODE)
            .env("PVE_LXC_HOOK_DIR", hooks)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn pct_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let hooks = Path::new(env!("CARGO_BIN_EXE_lxc-pve-prestart-hook"))
            .parent()
            .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pct"))
            .args(args)
            .env("PVE_ROOT", &self.root)
            .env("PVE_NODE_NAME", NODE)
            .env("PVE_LXC_HOOK_DIR", hooks)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `pct exec VMID -- /bin/sh -c SCRIPT`, which must succeed; its stdout.
    fn sh(&self, script: &str) -> String {
        let v = self.vmid.to_string();
        let (code, out, err) = self.pct(&["exec", &v, "--", "/bin/sh", "-c", script]);
        assert_eq!(code, 0, "{script}: {out}{err}");
        out
    }

    fn conf(&self) -> pve_container::CtConfig {
        self.store.load_config(self.vmid, None).unwrap()
    }
}

impl Drop for TestCt {
    fn drop(&mut self) {
        common::stop_and_unmount(&self.rt, self.vmid);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A running container with a bind mount point and a volume mount point: `pct exec`
/// passes the command's exit status and output, `--keep-env 0` clears the
/// environment; `pct push` creates files as the container's users with the given mode;
/// `pct pull` resolves paths inside the container (a symlink to /etc/passwd gives the
/// container's file); errors and exit codes of a stopped container.
#[test]
fn exec_push_pull_and_mount_points() {
    let Some(template) = host_ready() else {
        return;
    };
    let vmid = 8600 + std::process::id() % 40;
    let tmp = std::env::temp_dir().join(format!("pve-ct-tools-share-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    std::fs::write(tmp.join("hello"), "hello-from-host\n").unwrap();
    let ct = TestCt::new(&template, "exec", vmid, "");
    // mp0: a bind mount of a host directory; mp1: a second raw ext4 volume
    let size_kib = 64 * 1024;
    let volid = ct
        .storage
        .vdisk_alloc("local", vmid, Some("raw"), None, size_kib)
        .unwrap();
    let (path, _, _) = ct.storage.path(&volid, None).unwrap();
    pve_container::create::format_disk(&path, 100000, 100000).unwrap();
    // dev0: a host device node (a second /dev/null, 1:3) passed through with a mode
    let devnode = format!("/dev/pvetest-null-{}", std::process::id());
    let c = std::ffi::CString::new(devnode.clone()).unwrap();
    // SAFETY: a valid path; makedev(1, 3) is the null device.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
    assert_eq!(rc, 0, "mknod {devnode}");
    struct RemoveNode(String);
    impl Drop for RemoveNode {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _node = RemoveNode(devnode.clone());
    let mut conf = ct.conf();
    conf.main.set("dev0", format!("{devnode},mode=0666"));
    conf.main
        .set("mp0", format!("{},mp=/mnt/shared,ro=1", tmp.display()));
    conf.main
        .set("mp1", format!("{volid},mp=/mnt/vol,size=64M"));
    ct.store.write_config(vmid, &conf).unwrap();
    let v = vmid.to_string();

    let (code, out, err) = ct.pct(&["start", &v]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(ct.rt.check_running(vmid));

    // exit status and output of the command
    let (code, out, err) = ct.pct(&[
        "exec",
        &v,
        "--",
        "/bin/sh",
        "-c",
        "cat /mnt/shared/hello; echo oops >&2; exit 7",
    ]);
    assert_eq!(code, 7);
    assert_eq!(out, "hello-from-host\n");
    assert!(err.contains("oops"), "{err}");
    // the mount points are there: the bind read-only, the volume writable
    let mounts = ct.sh("grep -E ' /mnt/(shared|vol) ' /proc/mounts | cut -d' ' -f2,4");
    assert!(mounts.contains("/mnt/shared ro"), "{mounts}");
    assert!(mounts.contains("/mnt/vol rw"), "{mounts}");
    assert_eq!(
        ct.sh("echo x > /mnt/shared/y 2>/dev/null && echo writable || echo refused"),
        "refused\n"
    );
    ct.sh("echo on-the-volume > /mnt/vol/data");
    // the passthrough device is in the container's /dev with the configured mode
    assert_eq!(
        ct.sh(&format!(
            "stat -c '%t:%T %a %u' {devnode}; echo data > {devnode} && echo written"
        )),
        "1:3 666 0\nwritten\n"
    );
    // the host does not see the container's mounts
    assert!(!pve_container::create::is_mounted(&ct.rt.rootdir(vmid)));

    // --keep-env (default 1) passes the caller's environment through
    let script = ["/bin/sh", "-c", "echo ${PCT_TEST_VAR:-unset}"];
    let mut args = vec!["exec", &v, "--"];
    args.extend(script);
    let (_, out, _) = ct.pct_env(&args, &[("PCT_TEST_VAR", "kept")]);
    assert_eq!(out, "kept\n");
    let mut args = vec!["exec", &v, "--keep-env", "0", "--"];
    args.extend(script);
    let (_, out, _) = ct.pct_env(&args, &[("PCT_TEST_VAR", "kept")]);
    assert_eq!(out, "unset\n");
    let (code, _, err) = ct.pct(&["exec", &v]);
    assert_eq!((code, err.as_str()), (255, "missing command\n"));
    // console (cmode console: the shell busybox init runs on /dev/console), through a
    // pseudo terminal from script(1); Ctrl-b q (`--escape ^b`) leaves it
    if run("sh", &["-c", "command -v script"]).is_ok() {
        let mut conf = ct.conf();
        conf.main.set("cmode", "console");
        ct.store.write_config(vmid, &conf).unwrap();
        let cmd = format!("{} console {v} --escape ^b", env!("CARGO_BIN_EXE_pct"));
        let (code, out, err) = ct.pct_script(&cmd, &["\necho CONSOLE-$((6*7))\n", "\x02q"]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("CONSOLE-42"), "{out}{err}");
    }
    // enter: the container's shell reads the commands (here from a pipe)
    let (code, out, err) = ct.pct_stdin(&["enter", &v], "echo entered $(id -u)\nexit 4\n");
    assert_eq!(code, 4, "{out}{err}");
    assert!(out.contains("entered 0"), "{out}{err}");

    // push: owner and mode inside the (unprivileged) container
    let src = ct.root.join("push-src");
    std::fs::write(&src, "pushed content\n").unwrap();
    let srcs = src.to_str().unwrap();
    let (code, out, err) = ct.pct(&[
        "push",
        &v,
        srcs,
        "/root/pushed.txt",
        "--perms",
        "640",
        "--user",
        "1000",
        "--group",
        "1001",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        ct.sh("stat -c '%u %g %a' /root/pushed.txt; cat /root/pushed.txt"),
        "1000 1001 640\npushed content\n"
    );
    // owner names are looked up in the container
    let (code, out, err) = ct.pct(&["push", &v, srcs, "/root/by-name", "--user", "root"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ct.sh("stat -c '%u' /root/by-name"), "0\n");
    let (code, _, err) = ct.pct(&["push", &v, srcs, "/root/x", "--user", "nobody-here"]);
    assert_eq!(code, 255);
    assert!(err.contains("failed to get uid for: nobody-here"), "{err}");
    let (code, _, err) = ct.pct(&["push", &v, srcs, "/no/such/dir/file"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("failed to create file: /no/such/dir/file"),
        "{err}"
    );
    let (code, _, err) = ct.pct(&["push", &v, "/nonexistent-src", "/root/x"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("failed to open /nonexistent-src for reading"),
        "{err}"
    );

    // pull: a symlink inside the container resolves inside it
    ct.sh("ln -sf /etc/passwd /tmp/lnk");
    let inside = ct.sh("cat /etc/passwd");
    let dest = ct.root.join("pulled");
    let dests = dest.to_str().unwrap();
    let (code, out, err) = ct.pct(&["pull", &v, "/tmp/lnk", dests, "--perms", "600"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), inside);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&dest).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    let (code, _, err) = ct.pct(&["pull", &v, "/no-such-file", dests]);
    assert_eq!(code, 255);
    assert!(err.contains("failed to open /no-such-file"), "{err}");
    let (code, _, err) = ct.pct(&["push", &v, srcs, "/root/x", "--perms", "9"]);
    assert_eq!((code, err.as_str()), (255, "invalid mode: '09'\n"));

    let (code, out, err) = ct.pct(&["stop", &v]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!ct.rt.check_running(vmid));
    let (code, _, err) = ct.pct(&["exec", &v, "--", "/bin/true"]);
    assert_eq!(
        (code, err.as_str()),
        (255, format!("container '{v}' not running!\n").as_str())
    );
    let (code, _, err) = ct.pct(&["enter", &v]);
    assert_eq!(code, 255, "{err}");
    let (code, _, err) = ct.pct(&["push", &v, srcs, "/root/x"]);
    assert_eq!(
        (code, err.as_str()),
        (255, "can only push files to a running CT\n")
    );
    let (code, _, err) = ct.pct(&["pull", &v, "/etc/hostname", dests]);
    assert_eq!(
        (code, err.as_str()),
        (255, "can only pull files from a running VM\n")
    );

    // what the container wrote to its volume mount point is on the volume
    let (code, out, err) = ct.pct(&["mount", &v]);
    assert_eq!(code, 0, "{out}{err}");
    let data = ct.rt.rootdir(vmid).join("mnt/vol/data");
    assert_eq!(std::fs::read_to_string(data).unwrap(), "on-the-volume\n");
    let (code, out, err) = ct.pct(&["unmount", &v]);
    assert_eq!(code, 0, "{out}{err}");
    let _ = std::fs::remove_dir_all(&tmp);
}

/// `pct mount`/`unmount` of a stopped container with the `mounted` lock and its
/// errors; offline `pct resize` grows the volume, the config and the ext4 (seen with
/// `df` inside after a start); shrinking is refused; a start is allowed while
/// `mounted`.
#[test]
fn mount_unmount_and_resize() {
    let Some(template) = host_ready() else {
        return;
    };
    let vmid = 8640 + std::process::id() % 40;
    let ct = TestCt::new(&template, "resize", vmid, "");
    let v = vmid.to_string();
    let rootdir = ct.rt.rootdir(vmid);

    let (code, out, err) = ct.pct(&["mount", &v]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        format!("mounted CT {vmid} in '{}'\n", rootdir.display())
    );
    assert_eq!(ct.conf().main.get("lock"), Some("mounted"));
    assert!(pve_container::create::is_mounted(&rootdir));
    assert!(rootdir.join("bin/busybox").exists());
    let (code, _, err) = ct.pct(&["mount", &v]);
    assert_eq!((code, err.as_str()), (255, "CT is locked (mounted)\n"));
    // resize refuses a locked container before the task
    let (code, _, err) = ct.pct(&["resize", &v, "rootfs", "+1G"]);
    assert_eq!((code, err.as_str()), (255, "CT is locked (mounted)\n"));
    let (code, out, err) = ct.pct(&["unmount", &v]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ct.conf().main.get("lock"), None);
    assert!(!pve_container::create::is_mounted(&rootdir));
    let (code, _, err) = ct.pct(&["unmount", &v]);
    assert_eq!(
        (code, err.as_str()),
        (255, "no lock found trying to remove 'mounted' lock\n")
    );

    // offline resize
    let (code, _, err) = ct.pct(&["resize", &v, "rootfs", "512M"]);
    assert_eq!((code, err.as_str()), (255, "unable to shrink disk size\n"));
    let (code, _, err) = ct.pct(&["resize", &v, "rootfs", "1G"]);
    assert_eq!(
        (code, err.as_str()),
        (255, "disk is already at specified size\n")
    );
    let (code, _, err) = ct.pct(&["resize", &v, "mp3", "+1G"]);
    assert_eq!(code, 255, "{err}");
    let (code, _, err) = ct.pct(&["resize", &v, "rootfs", "+1G", "--digest", "0123abcd"]);
    assert_eq!(
        (code, err.as_str()),
        (
            255,
            "detected modified configuration - file changed by other user? Try again.\n"
        )
    );
    let (code, _, err) = ct.pct(&["resize", &v, "rootfs", "+1X"]);
    assert_eq!(code, 255);
    assert!(
        err.starts_with(
            "400 Parameter verification failed.\nsize: value does not match the regex pattern\n"
        ),
        "{err}"
    );
    let (code, out, err) = ct.pct(&["resize", &v, "rootfs", "+512M"]);
    assert_eq!(code, 0, "{out}{err}");
    let resize_log = format!("{out}{err}");
    let rootfs = ct.conf().main.get("rootfs").unwrap().to_string();
    assert_eq!(
        rootfs,
        format!("local:{vmid}/vm-{vmid}-disk-0.raw,size=1536M")
    );
    let (path, _, _) = ct
        .storage
        .path(&format!("local:{vmid}/vm-{vmid}-disk-0.raw"), None)
        .unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 1536 * 1024 * 1024);

    // a `mounted` container may still be started (the hook unmounts it first); the
    // start leaves the lock alone, unmount removes it
    let (code, _, err) = ct.pct(&["mount", &v]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = ct.pct(&["start", &v]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ct.sh("cat /etc/hostname"), "busybox\n");
    let (code, out, err) = ct.pct(&["stop", &v]);
    assert_eq!(code, 0, "{out}{err}");
    // the host-side mount and the lock survive start and stop
    assert_eq!(ct.conf().main.get("lock"), Some("mounted"));
    assert!(pve_container::create::is_mounted(&rootdir));
    let (code, _, err) = ct.pct(&["unmount", &v]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = ct.pct(&["start", &v]);
    assert_eq!(code, 0, "{out}{err}");
    let df = ct.sh("df -k / | tail -1");
    let total: u64 = df
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    assert!(
        total > 1400 * 1024,
        "root not grown: {df} (resize: {resize_log})"
    );

    // online: the volume and config grow; the file system grows where the host lets
    // resize2fs do it online, else the task warns (never silently)
    let (code, out, err) = ct.pct(&["resize", &v, "rootfs", "+256M"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(ct
        .conf()
        .main
        .get("rootfs")
        .unwrap()
        .ends_with(",size=1792M"));
    let df = ct.sh("df -k / | tail -1");
    let grown: u64 = df
        .split_whitespace()
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let text = format!("{out}{err}");
    println!("online resize: file system {total} KiB -> {grown} KiB; pct said: {text}");
    assert!(
        grown > 1600 * 1024 || text.contains("Failed to update the container's filesystem"),
        "online resize neither grew the fs nor warned: {df} {text}"
    );
    let (code, out, err) = ct.pct(&["stop", &v]);
    assert_eq!(code, 0, "{out}{err}");
}

/// Deletes the test's bridge and veth probe pair.
struct Links(Vec<String>);

impl Drop for Links {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = run("ip", &["link", "del", l]);
        }
    }
}

/// Whether the kernel can police ingress traffic as upstream's rate limit does
/// (`basic` classifier with the `police` action).
fn kernel_can_police(probe: &str) -> bool {
    let peer = format!("{probe}p");
    if run(
        "ip",
        &["link", "add", probe, "type", "veth", "peer", "name", &peer],
    )
    .is_err()
    {
        return false;
    }
    let ok = run(
        "tc",
        &["qdisc", "add", "dev", probe, "handle", "ffff:", "ingress"],
    )
    .is_ok()
        && run(
            "tc",
            &[
                "filter", "add", "dev", probe, "parent", "ffff:", "prio", "50", "basic", "police",
                "rate", "1000bps", "burst", "1000b", "mtu", "64kb", "drop",
            ],
        )
        .is_ok();
    let _ = run("ip", &["link", "del", probe]);
    ok
}

/// `rate` on a network device: the veth gets upstream's tc setup (htb class for what
/// it sends, ingress policer for what it receives) from the network hook; a kernel
/// without the police action makes the start fail with tc's error, as upstream.
#[test]
fn net_rate_limit() {
    let Some(template) = host_ready() else {
        return;
    };
    if run("sh", &["-c", "command -v tc"]).is_err() {
        return skip("tc not installed");
    }
    let pid = std::process::id();
    let vmid = 8680 + pid % 20;
    let bridge = format!("pvetrb{}", pid % 10000);
    let probe = format!("pvetq{}", pid % 10000);
    let _links = Links(vec![bridge.clone(), probe.clone()]);
    run("ip", &["link", "add", &bridge, "type", "bridge"]).unwrap();
    run("ip", &["link", "set", &bridge, "up"]).unwrap();
    let police = kernel_can_police(&probe);
    let net = format!("net0: name=eth0,bridge={bridge},hwaddr=BC:24:11:00:00:02,rate=5\n");
    let ct = TestCt::new(&template, "rate", vmid, &net);
    let v = vmid.to_string();
    let (code, out, err) = ct.pct(&["start", &v]);
    if !police {
        println!("kernel without the tc police action: start must fail");
        assert_eq!(code, 255, "{out}{err}");
        let failed = format!(
            "command '/sbin/tc filter add dev veth{vmid}i0 parent ffff: prio 50 basic police"
        );
        assert!(format!("{out}{err}").contains(&failed), "{out}{err}");
        assert!(!ct.rt.check_running(vmid));
        return;
    }
    assert_eq!(code, 0, "{out}{err}");
    let veth = format!("veth{vmid}i0");
    let classes = run("tc", &["class", "show", "dev", &veth]).unwrap();
    // 5 MB/s = 5242880 bytes/s
    assert!(
        classes.contains("htb 1:1") && classes.contains("rate 41943Kbit"),
        "{classes}"
    );
    let filters = run("tc", &["filter", "show", "dev", &veth, "parent", "ffff:"]).unwrap();
    assert!(filters.contains("police"), "{filters}");
    let (code, out, err) = ct.pct(&["stop", &v]);
    assert_eq!(code, 0, "{out}{err}");
}
