//! Real containers under Debian's LXC: start, exec, shutdown, stop. Root and the busybox
//! template (`cargo xtask ct-template`, found in the workspace's `target/ct-templates/`)
//! are needed; otherwise the test prints `SKIP:` (a failure with PVE_TEST_REQUIRE_HOST=1).

use std::path::{Path, PathBuf};
use std::process::Command;

use pve_container::lxc_config::LxcHost;
use pve_container::run::{LxcError, LxcRuntime};

fn skip(reason: &str) {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("SKIP not allowed (PVE_TEST_REQUIRE_HOST=1): {reason}");
    }
    println!("SKIP: {reason}");
}

fn busybox_template() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("target/ct-templates")];
    if let Ok(d) = std::env::var("PVE_CT_TEMPLATE_DIR") {
        dirs.insert(0, PathBuf::from(d));
    }
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("busybox-") && name.ends_with(".tar.gz") {
                return Some(e.path());
            }
        }
    }
    None
}

/// Stops the container and removes the test root even when an assertion fails.
struct Cleanup {
    rt: LxcRuntime,
    vmid: u32,
    root: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if self.rt.check_running(self.vmid) {
            let _ = self.rt.stop(self.vmid, false, None, true);
        }
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
    let vmid = 9100 + (std::process::id() % 800);
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
    let host = LxcHost::probe();

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
