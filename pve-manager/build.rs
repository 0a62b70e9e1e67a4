//! Records the git revision of the build as `PVE_REPOID` (`GET /version`'s `repoid`).

use std::process::Command;

fn main() {
    let repoid = Command::new("git")
        .args(["rev-parse", "--short=16", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "0000000000000000".into());
    println!("cargo:rustc-env=PVE_REPOID={repoid}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
}
