//! What the container tests share: skipping on a host that lacks a feature, the
//! busybox template, running host tools, and taking a test container down.

#![allow(dead_code)]

use std::process::Command;

use pve_container::run::LxcRuntime;

/// Prints `SKIP: reason`; fails instead with `PVE_TEST_REQUIRE_HOST=1`.
pub fn skip(reason: &str) {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("SKIP not allowed (PVE_TEST_REQUIRE_HOST=1): {reason}");
    }
    println!("SKIP: {reason}");
}

pub use pve_container::devtemplate::busybox_template;

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
