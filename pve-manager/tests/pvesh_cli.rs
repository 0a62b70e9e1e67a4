//! Runs the real `pvesh` binary against the recorded upstream pvesh runs
//! (`../shared/conformance/api/responses/cli/*pvesh*.json`) for every path we implement.
//! Values upstream marks volatile (host- and run-dependent) are compared by type; all
//! else byte for byte. Recordings of paths we do not implement yet are reported as such.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn corpus_dir() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
        })
}

/// A node root with this node's certificate, as pveproxy's setup leaves it.
fn node_root(node: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("pvesh-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = root.join(format!("etc/pve/nodes/{node}"));
    std::fs::create_dir_all(&dir).unwrap();
    let key = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    let mut b = openssl::x509::X509::builder().unwrap();
    let mut name = openssl::x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", node).unwrap();
    let name = name.build();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    b.sign(&key, openssl::hash::MessageDigest::sha256())
        .unwrap();
    std::fs::write(dir.join("pve-ssl.pem"), b.build().to_pem().unwrap()).unwrap();
    // the recorded guest configs and storages
    let state = corpus_dir().join("api/responses/state/etc-pve");
    if let Ok(files) = std::fs::read_dir(state.join("qemu-server")) {
        std::fs::create_dir_all(dir.join("qemu-server")).unwrap();
        for f in files.flatten() {
            std::fs::copy(f.path(), dir.join("qemu-server").join(f.file_name())).unwrap();
        }
    }
    if state.join("storage.cfg").exists() {
        std::fs::copy(state.join("storage.cfg"), root.join("etc/pve/storage.cfg")).unwrap();
    }
    root
}

/// Whether `value` fits a recorded value with placeholders (`<x>`, `<x:int>`,
/// `<x:number>`).
fn fits(value: &Value, recorded: &Value) -> bool {
    match (value, recorded) {
        (_, Value::String(p)) if p.starts_with('<') && p.ends_with('>') => {
            if p.ends_with(":int>") {
                value.is_i64() || value.is_u64()
            } else if p.ends_with(":number>") {
                value.is_number()
            } else {
                value.is_string()
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| fits(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| fits(v, w)))
        }
        _ => value == recorded,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(root: &Path, node: &str, fx: &Value) -> Run {
    let argv: Vec<String> = fx["argv"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pvesh"));
    cmd.args(&argv)
        .env_clear()
        .env("PVE_ROOT", root)
        .env("PVE_NODE_NAME", node);
    if let Some(env) = fx["env"].as_object() {
        for (k, v) in env {
            cmd.env(k, v.as_str().unwrap_or_default());
        }
    }
    let out = cmd.output().expect("pvesh runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Whether our API serves the recording's verb and path.
fn implemented(fx: &Value) -> bool {
    let argv: Vec<&str> = fx["argv"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let (Some(verb), Some(path)) = (argv.get(1), argv.get(2)) else {
        return false;
    };
    let method = match *verb {
        "get" | "ls" | "usage" => pve_common::api::HttpMethod::Get,
        "set" => pve_common::api::HttpMethod::Put,
        "create" => pve_common::api::HttpMethod::Post,
        "delete" => pve_common::api::HttpMethod::Delete,
        _ => return false,
    };
    let root = pve_manager::api::root();
    // An error recording about an unknown path is about us, too.
    fx["exit"] != 0
        && root.find(method, path).is_none()
        && fx["stderr"].as_str().unwrap_or("").starts_with("No '")
        || root.find(method, path).is_some()
}

fn check(name: &str, fx: &Value, root: &Path, node: &str) -> Result<(), String> {
    let got = run(root, node, fx);
    let want_code = fx["exit"].as_i64().unwrap_or(0) as i32;
    if got.code != want_code {
        return Err(format!(
            "exit {} (want {want_code}), stderr {:?}",
            got.code, got.stderr
        ));
    }
    if got.stderr != fx["stderr"].as_str().unwrap_or("") {
        return Err(format!("stderr {:?}, want {:?}", got.stderr, fx["stderr"]));
    }
    let want = fx["stdout"].as_str().unwrap_or("");
    if let Some(recorded) = fx.get("stdout_json") {
        let ours: Value =
            serde_json::from_str(&got.stdout).map_err(|e| format!("stdout is no JSON: {e}"))?;
        if !fits(&ours, recorded) {
            return Err(format!("JSON {ours} does not fit {recorded}"));
        }
        // The layout (compact or pretty) must be upstream's too.
        let lines = |s: &str| s.lines().count();
        if lines(&got.stdout) != lines(want) {
            return Err(format!("layout differs:\n{}\nwant\n{want}", got.stdout));
        }
        return Ok(());
    }
    if fx.get("volatile").is_some() {
        // Host-dependent column widths: same rows, same header.
        let header = |s: &str| {
            s.lines().nth(1).map(|l| {
                l.split_whitespace()
                    .filter(|w| w.chars().any(char::is_alphabetic))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        };
        if got.stdout.lines().count() != want.lines().count() || header(&got.stdout) != header(want)
        {
            return Err(format!("table differs:\n{}\nwant\n{want}", got.stdout));
        }
        return Ok(());
    }
    if name.starts_with("pvesh_ls") {
        // We implement a subset of the children and of their methods: each child we
        // list must be recorded, in the same layout, and every capability we show
        // (`D`, `r`, `w`, `c`, `d` at their positions) must be upstream's too.
        let recorded: Vec<&str> = want.lines().collect();
        for line in got.stdout.lines() {
            let (caps, child) = line.split_at(line.find(' ').unwrap_or(line.len()));
            let Some(theirs) = recorded.iter().find(|l| l.get(caps.len()..) == Some(child)) else {
                return Err(format!("ls line {line:?}: child not in the recording"));
            };
            let fits = caps
                .chars()
                .zip(theirs.chars())
                .all(|(o, t)| o == '-' || o == t);
            if !fits {
                return Err(format!(
                    "ls line {line:?} claims more than upstream's {theirs:?}"
                ));
            }
        }
        return if got.stdout.is_empty() {
            Err("ls printed nothing".into())
        } else {
            Ok(())
        };
    }
    // GET /version: our repoid is our own commit; everything else must be identical.
    let word_after = |text: &str, key: &str| {
        text.split_whitespace()
            .skip_while(|w| *w != key)
            .nth(2)
            .unwrap_or("")
            .to_string()
    };
    let ours = if fx["argv"][2] == "/version" && want.contains("repoid") {
        got.stdout.replace(
            &word_after(&got.stdout, "repoid"),
            &word_after(want, "repoid"),
        )
    } else {
        got.stdout.clone()
    };
    if ours != want {
        return Err(format!("stdout:\n{ours}\nwant:\n{want}"));
    }
    Ok(())
}

#[test]
fn recorded_pvesh_runs() {
    let dir = corpus_dir().join("api/responses/cli");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && n.contains("pvesh"))
        .collect();
    names.sort();
    let node = "pveo";
    let root = node_root(node);
    let (mut passed, mut failures, mut not_ours) = (0, Vec::new(), Vec::new());
    for name in &names {
        let fx: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        if !implemented(&fx) {
            not_ours.push(name.clone());
            continue;
        }
        match check(name, &fx, &root, node) {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "pvesh recordings: {passed} passed, {} failed; paths not implemented yet: {not_ours:?}",
        failures.len()
    );
    assert!(passed >= 5, "too few recordings checked");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn ls_root_and_version_json() {
    let root = std::env::temp_dir().join(format!("pvesh-ls-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let pvesh = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_pvesh"))
            .args(args)
            .env("PVE_ROOT", &root)
            .env("PVE_NODE_NAME", "n1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = pvesh(&["ls", "/"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
    assert!(out.lines().any(|l| l == "Dr---        nodes"), "{out}");
    assert!(out.lines().any(|l| l == "-r---        version"), "{out}");
    let (code, out, err) = pvesh(&["get", "/version", "--output-format", "json"]);
    assert_eq!((code, err.as_str()), (Some(0), ""));
    let v: Value = serde_json::from_str(&out).expect("bare JSON");
    assert_eq!(v["release"], "9.2");
    assert!(out.ends_with("}\n") && !out.contains("\"data\""), "{out}");
    let (code, _, err) = pvesh(&["get", "/nodes/n1/tasks", "--limit", "x"]);
    assert_eq!(code, Some(255));
    assert!(
        err.starts_with(
            "400 Parameter verification failed.\nlimit: type check ('integer') failed - got 'x'\n"
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
