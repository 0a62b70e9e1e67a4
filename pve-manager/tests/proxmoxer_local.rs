//! proxmoxer's `local` backend (a real third-party client, from PyPI) drives our `pvesh`
//! from PATH: bare JSON on stdout, errors on stderr with the HTTP-like status line.
//! The client venv comes from `cargo xtask deps`; without it the test prints `SKIP`
//! (a failure with `PVE_TEST_REQUIRE_HOST=1`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn client_python() -> Option<PathBuf> {
    let venv = std::env::var_os("PVE_CLIENT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pve-client-venv"));
    let python = venv.join("bin/python3");
    let ok = Command::new(&python)
        .args(["-c", "import proxmoxer"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(python)
}

const SCRIPT: &str = r#"
from proxmoxer import ProxmoxAPI
from proxmoxer.core import ResourceException

p = ProxmoxAPI(backend="local", service="PVE")
v = p.version.get()
assert v["release"] == "9.2" and "version" in v and "repoid" in v, v
nodes = p.nodes.get()
assert [n["node"] for n in nodes] == ["testnode"], nodes
assert nodes[0]["status"] == "online"
assert p.nodes("testnode").tasks.get(limit=5) == []
try:
    p.nodes("testnode").tasks.get(limit="abc")
    raise SystemExit("a bad parameter was accepted")
except ResourceException as e:
    assert e.status_code == 400, e.status_code
    assert "limit" in str(e), str(e)
try:
    p.nodes("testnode").tasks("nope").status.get()
    raise SystemExit("a bad UPID was accepted")
except ResourceException as e:
    assert e.status_code == 400, e.status_code
print("proxmoxer local backend: ok")
"#;

#[test]
fn proxmoxer_local_backend() {
    let Some(python) = client_python() else {
        assert!(
            std::env::var_os("PVE_TEST_REQUIRE_HOST").is_none(),
            "proxmoxer venv missing (run `cargo xtask deps`)"
        );
        println!("SKIP: proxmoxer venv missing (run `cargo xtask deps`)");
        return;
    };
    let root = std::env::temp_dir().join(format!("proxmoxer-local-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_pvesh")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .env("PATH", path)
        .env("PVE_ROOT", &root)
        .env("PVE_NODE_NAME", "testnode")
        .output()
        .expect("python runs");
    let _ = std::fs::remove_dir_all(&root);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "proxmoxer failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("proxmoxer local backend: ok"), "{stdout}");
}
