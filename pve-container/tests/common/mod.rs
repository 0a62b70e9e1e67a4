//! What the container tests share: skipping on a host that lacks a feature, the
//! busybox template, running host tools, and taking a test container down.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pve_container::run::LxcRuntime;

/// Prints `SKIP: reason`; fails instead with `PVE_TEST_REQUIRE_HOST=1`.
pub fn skip(reason: &str) {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("SKIP not allowed (PVE_TEST_REQUIRE_HOST=1): {reason}");
    }
    println!("SKIP: {reason}");
}

/// The busybox template `cargo xtask deps` builds (or one in `PVE_CT_TEMPLATE_DIR`).
pub fn busybox_template() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs = vec![root.join("target/ct-templates")];
    if let Ok(d) = std::env::var("PVE_CT_TEMPLATE_DIR") {
        dirs.insert(0, PathBuf::from(d));
    }
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten())
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("busybox-") && n.ends_with(".tar.gz")
        })
}

/// Runs a host tool: its stdout, or its stderr when it fails.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stops container `vmid` if it runs and unmounts its root (for `Drop` of the tests'
/// guards, so it also runs after a failed assertion).
pub fn stop_and_unmount(rt: &LxcRuntime, vmid: u32) {
    if rt.check_running(vmid) {
        let _ = rt.stop(vmid, false, None, true);
    }
    let _ = pve_container::create::unmount_all(&rt.rootdir(vmid));
}
