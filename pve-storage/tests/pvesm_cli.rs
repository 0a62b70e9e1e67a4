//! Runs the built `pvesm` on the recorded node and compares with upstream's recorded
//! output (`../shared/conformance/api/responses/cli/pvesm_*.json`). Columns the
//! recording names as volatile (host file system usage) are compared by shape, the
//! rest byte for byte.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;

use common::{build_node, responses, TempRoot};

fn run_case(root: &Path, case: &Value) -> (i32, String, String) {
    let argv: Vec<&str> = case["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pvesm"));
    cmd.args(&argv[1..])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PVE_ROOT", root)
        .env("PVE_NODE_NAME", "pveo");
    if let Some(env) = case["env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap());
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The recorded volatile column names (`"columns A, B, % (why)"`).
fn volatile_columns(case: &Value) -> Vec<String> {
    let Some(text) = case["volatile"].as_str() else {
        return Vec::new();
    };
    let text = text.trim_start_matches("columns ");
    // a trailing "(why)" is no column
    let text = match text.rsplit_once(" (") {
        Some((cols, why)) if !why.starts_with("KiB") => cols,
        _ => text,
    };
    text.split(", ").map(str::to_string).collect()
}

/// Column spans of a right- or left-aligned table, from the header: each column ends
/// where its header title ends (right-aligned) and the next starts after it.
fn header_spans(header: &str, titles: &[&str]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    for t in titles {
        let at = header[from..].find(t).unwrap() + from;
        spans.push((from, at + t.len()));
        from = at + t.len();
    }
    spans
}

fn compare_volatile(want: &str, have: &str, volatile: &[String], diffs: &mut Vec<String>) {
    let want_lines: Vec<&str> = want.lines().collect();
    let have_lines: Vec<&str> = have.lines().collect();
    if want_lines.len() != have_lines.len() || want_lines.first() != have_lines.first() {
        diffs.push(format!("want:\n{want}\nhave:\n{have}"));
        return;
    }
    let header = want_lines[0];
    let titles = [
        "Name",
        "Type",
        "Status",
        "Total (KiB)",
        "Used (KiB)",
        "Available (KiB)",
        "%",
    ];
    let spans = header_spans(header, &titles);
    let percent = regex::Regex::new(r"^ *\d+\.\d\d%$").unwrap();
    let integer = regex::Regex::new(r"^ *\d+$").unwrap();
    for (w, h) in want_lines.iter().zip(&have_lines).skip(1) {
        if w.len() != h.len() {
            diffs.push(format!("line shape differs:\n  want {w:?}\n  have {h:?}"));
            continue;
        }
        for (title, (a, b)) in titles.iter().zip(&spans) {
            let b = if *title == "%" { h.len() } else { *b };
            let (wc, hc) = (&w[*a..b], &h[*a..b]);
            if volatile.iter().any(|v| v == title) {
                let ok = match *title {
                    "%" => percent.is_match(hc),
                    _ => integer.is_match(hc),
                };
                if !ok {
                    diffs.push(format!(
                        "column {title}: {hc:?} is not of the shape of {wc:?}"
                    ));
                }
            } else if wc != hc {
                diffs.push(format!("column {title}: {hc:?} != {wc:?}"));
            }
        }
    }
}

#[test]
fn recorded_pvesm_output() {
    let dir = responses().join("cli");
    if !dir.is_dir() {
        println!("SKIP: no recorded CLI output at {}", dir.display());
        return;
    }
    let root = TempRoot::new("pvesm-cli");
    build_node(&root.0);
    let names = ["pvesm_status.json", "pvesm_list_local.json"];
    let mut failed = Vec::new();
    for name in names {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let (code, stdout, stderr) = run_case(&root.0, &case);
        let mut diffs = Vec::new();
        if Some(i64::from(code)) != case["exit"].as_i64() {
            diffs.push(format!("exit {code}, upstream {}", case["exit"]));
        }
        if stderr != case["stderr"].as_str().unwrap() {
            diffs.push(format!("stderr {stderr:?}, upstream {:?}", case["stderr"]));
        }
        let want = case["stdout"].as_str().unwrap();
        let volatile = volatile_columns(&case);
        if volatile.is_empty() {
            if stdout != want {
                diffs.push(format!("stdout:\n{stdout}upstream:\n{want}"));
            }
        } else {
            compare_volatile(want, &stdout, &volatile, &mut diffs);
        }
        if !diffs.is_empty() {
            failed.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    println!(
        "recorded pvesm output: {}/{} passed",
        names.len() - failed.len(),
        names.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn alloc_path_free_round_trip() {
    let root = TempRoot::new("pvesm-rt");
    build_node(&root.0);
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pvesm"))
            .args(args)
            .env("PVE_ROOT", &root.0)
            .env("PVE_NODE_NAME", "pveo")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["alloc", "local", "150", "vm-150-disk-0.raw", "1M"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "successfully created 'local:150/vm-150-disk-0.raw'\n");
    let (code, out, _) = run(&["path", "local:150/vm-150-disk-0.raw"]);
    assert_eq!(code, 0);
    assert_eq!(out, "/var/lib/vz/images/150/vm-150-disk-0.raw\n");
    assert!(root
        .0
        .join("var/lib/vz/images/150/vm-150-disk-0.raw")
        .exists());
    let (code, _, err) = run(&["free", "local:150/vm-150-disk-0.raw"]);
    assert_eq!(code, 0, "{err}");
    assert!(!root
        .0
        .join("var/lib/vz/images/150/vm-150-disk-0.raw")
        .exists());
    let (code, out, _) = run(&["apiinfo"]);
    assert_eq!((code, out.as_str()), (0, "APIVER 15\nAPIAGE 6\n"));
    let (code, out, err) = run(&["prune-backups", "local", "--dry-run", "--keep-last", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Prune-Mark"), "{out}");
}
