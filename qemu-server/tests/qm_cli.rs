//! Replays the recorded `qm` runs (`<corpus>/api/responses/cli/qm_*.json`,
//! `err_qm_*.json`) against our `qm` binary on a node built from the recorded state,
//! comparing exit code, stdout and stderr byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const NODE: &str = "pveo";

/// Recordings that need parts another crate provides, with why.
const DEVIATIONS: &[(&str, &str)] = &[(
    "err_qm_unknown_command",
    "the usage lists start/stop/showcmd/… which the QEMU runtime adds",
)];

fn corpus_dir() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"))
}

fn build_root(state: &Path, root: &Path) {
    let pve = root.join("etc/pve");
    let confs = pve.join("nodes").join(NODE).join("qemu-server");
    std::fs::create_dir_all(&confs).unwrap();
    for f in ["storage.cfg", "datacenter.cfg", "user.cfg"] {
        std::fs::copy(state.join("etc-pve").join(f), pve.join(f)).unwrap();
    }
    for e in std::fs::read_dir(state.join("etc-pve/qemu-server"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), confs.join(e.file_name())).unwrap();
    }
    std::fs::create_dir_all(root.join("var/lib/vz/images")).unwrap();
}

fn run(root: &Path, fx: &Value) -> (i32, String, String) {
    let argv: Vec<String> = fx["argv"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qm"));
    cmd.args(&argv)
        .env_clear()
        .env("PVE_ROOT", root)
        .env("PVE_NODE_NAME", NODE);
    if let Some(env) = fx["env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap_or_default());
        }
    }
    let out = cmd.output().expect("qm runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn recorded_qm_runs() {
    let dir = corpus_dir().join("api/responses");
    if !dir.join("cli").is_dir() {
        println!("SKIP: no corpus at {}", dir.display());
        return;
    }
    let root = std::env::temp_dir().join(format!("qm-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    build_root(&dir.join("state"), &root);
    let mut names: Vec<String> = std::fs::read_dir(dir.join("cli"))
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("qm_") || n.starts_with("err_qm_"))
        .collect();
    names.sort();
    let (mut passed, mut failures) = (0, Vec::new());
    for name in &names {
        let fx: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("cli").join(name)).unwrap())
                .unwrap();
        let case = name.trim_end_matches(".json");
        let (code, stdout, stderr) = run(&root, &fx);
        let mut diffs = Vec::new();
        if Some(i64::from(code)) != fx["exit"].as_i64() {
            diffs.push(format!("exit {code}, expected {}", fx["exit"]));
        }
        if fx["stdout"].as_str() != Some(stdout.as_str()) {
            diffs.push(format!("stdout {stdout:?}, expected {:?}", fx["stdout"]));
        }
        if fx["stderr"].as_str() != Some(stderr.as_str()) {
            diffs.push(format!("stderr {stderr:?}, expected {:?}", fx["stderr"]));
        }
        if diffs.is_empty() {
            passed += 1;
        } else if let Some((_, why)) = DEVIATIONS.iter().find(|(n, _)| *n == case) {
            println!("deviation {case}: {why}");
        } else {
            failures.push(format!("{case}: {}", diffs.join("; ")));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    for f in &failures {
        println!("FAIL {f}");
    }
    println!("qm cli replay: {passed}/{} match", names.len());
    assert!(failures.is_empty(), "{} qm runs differ", failures.len());
}
