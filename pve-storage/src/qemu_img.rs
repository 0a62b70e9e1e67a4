//! `qemu-img`: image creation, information, resize, snapshots. Arguments are passed as
//! argv, never through a shell.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::error::{Result, StorageError};

/// What `qemu-img info` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ImageInfo {
    #[serde(rename = "virtual-size")]
    pub size: u64,
    pub format: String,
    #[serde(rename = "actual-size", default)]
    pub used: u64,
    #[serde(rename = "backing-filename", default)]
    pub parent: Option<String>,
}

fn run(args: &[&std::ffi::OsStr]) -> Result<String> {
    run_in(None, args)
}

fn run_in(cwd: Option<&Path>, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut cmd = Command::new("qemu-img");
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let out = cmd
        .output()
        .map_err(|e| StorageError::msg(format!("unable to run qemu-img: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(StorageError::msg(err.trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

/// `qemu-img info -U --output=json [-f fmt] path`: `-U` (force-share) so the size of an
/// image a running QEMU holds open can be read (online resize, status of running VMs).
pub fn info(path: &Path, format: Option<&str>) -> Result<ImageInfo> {
    let mut args = vec![os("info"), os("-U"), os("--output=json")];
    if let Some(f) = format {
        args.extend([os("-f"), os(f)]);
    }
    args.push(path.as_os_str());
    let json = run(&args)?;
    serde_json::from_str(&json).map_err(|e| {
        StorageError::msg(format!(
            "could not parse qemu-img info command output for '{}' - {e}",
            path.display()
        ))
    })
}

/// `qemu-img create -f fmt [-o preallocation=..] path size`, size in KiB.
pub fn create(path: &Path, format: &str, size_kib: u64, prealloc: Option<&str>) -> Result<()> {
    let size = format!("{size_kib}K");
    let opt = prealloc.map(|p| format!("preallocation={p}"));
    let mut args = vec![os("create")];
    if let Some(o) = &opt {
        args.extend([os("-o"), os(o)]);
    }
    args.extend([os("-f"), os(format), path.as_os_str(), os(&size)]);
    run(&args).map(|_| ())
}

/// A linked clone: `qemu-img create -b <backing> -F <fmt> -f qcow2 path`, run in `cwd`
/// so that a relative backing path resolves as it will be stored.
pub fn create_linked(cwd: &Path, path: &Path, backing: &str, backing_format: &str) -> Result<()> {
    run_in(
        Some(cwd),
        &[
            os("create"),
            os("-b"),
            os(backing),
            os("-F"),
            os(backing_format),
            os("-f"),
            os("qcow2"),
            path.as_os_str(),
        ],
    )
    .map(|_| ())
}

/// `qemu-img resize -f fmt path size` (bytes).
pub fn resize(path: &Path, format: &str, size: u64) -> Result<()> {
    let size = size.to_string();
    run(&[
        os("resize"),
        os("-f"),
        os(format),
        path.as_os_str(),
        os(&size),
    ])
    .map(|_| ())
}

/// Internal qcow2 snapshots: `-c` create, `-a` apply, `-d` delete.
pub fn snapshot(path: &Path, op: SnapshotOp, name: &str) -> Result<()> {
    let flag = match op {
        SnapshotOp::Create => "-c",
        SnapshotOp::Apply => "-a",
        SnapshotOp::Delete => "-d",
    };
    run(&[os("snapshot"), os(flag), os(name), path.as_os_str()]).map(|_| ())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotOp {
    Create,
    Apply,
    Delete,
}

/// The names of a qcow2 file's internal snapshots.
pub fn snapshot_names(path: &Path) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Snap {
        name: String,
    }
    #[derive(Deserialize)]
    struct Info {
        #[serde(default)]
        snapshots: Vec<Snap>,
    }
    let json = run(&[
        os("info"),
        os("--output=json"),
        os("-f"),
        os("qcow2"),
        path.as_os_str(),
    ])?;
    let info: Info = serde_json::from_str(&json).map_err(|e| StorageError::msg(e.to_string()))?;
    Ok(info.snapshots.into_iter().map(|s| s.name).collect())
}

/// Whether qemu-img is installed.
pub fn available() -> bool {
    Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
