//! The real proxmoxer client (PyPI, from the client venv) against our in-process
//! pveproxy (TLS) and, where upstream allows it, directly against pvedaemon (plain HTTP
//! on loopback), with pve-access-control's real authentication: password and API-token
//! logins, a wrong password, no ticket, a write without the CSRF header, a missing
//! parameter and an ACL-denied call.
//!
//! pvedaemon does not check CSRF tokens (upstream skips the check when running as root,
//! as pvedaemon does; pveproxy checked already), so directly against pvedaemon a write
//! without the header succeeds.

mod common;

use std::process::Command;

use pve_access_control::secrets::encrypt_password;

const NODE: &str = "n1";
const ADMIN_PASSWORD: &str = "admin-proxmoxer-pw";
const CAROL_PASSWORD: &str = "carol-proxmoxer-pw";
const TOKEN_SECRET: &str = "0b5a9c7e-2f3d-4e1a-8b6c-9d0e1f2a3b4c";

/// admin is Administrator on /, carol only PVEVMUser on /vms/100; admin's token `ci`
/// has no privilege separation.
const USER_CFG: &str = "\
user:admin@pve:1:0:::::::
token:admin@pve!ci:0:0::
user:carol@pve:1:0:::::::
user:target@pve:1:0:::::::
user:dave@pve:0:0:::::::
user:root@pam:1:0:::::::

acl:1:/:admin@pve:Administrator:
acl:1:/vms/100:carol@pve:PVEVMUser:
";

const SCRIPT: &str = r#"
import os, sys
import requests, urllib3
import proxmoxer.backends.https as https_backend
from proxmoxer import ProxmoxAPI, AuthenticationError
from proxmoxer.core import ResourceException

urllib3.disable_warnings()
host, port, scheme = os.environ["HOST"], os.environ["PORT"], os.environ["SCHEME"]
node = os.environ["NODE"]
base = f"{scheme}://{host}:{port}/api2/json"

def api(**kw):
    """proxmoxer 2.3 only builds https:// URLs (no protocol option); for pvedaemon's
    plain HTTP the login and the session get the http:// base URL instead."""
    if scheme == "https":
        return ProxmoxAPI(host, port=port, verify_ssl=False, service="PVE", **kw)
    orig = https_backend.ProxmoxHTTPAuth
    class PlainHTTPAuth(orig):
        def __init__(self, *a, base_url="", **k):
            super().__init__(*a, base_url=base_url.replace("https://", "http://", 1), **k)
    https_backend.ProxmoxHTTPAuth = PlainHTTPAuth
    try:
        p = ProxmoxAPI(host, port=port, verify_ssl=False, service="PVE", **kw)
    finally:
        https_backend.ProxmoxHTTPAuth = orig
    p._backend.base_url = base
    p._store["base_url"] = base
    return p

def expect_error(status, call):
    try:
        call()
    except ResourceException as e:
        assert e.status_code == status, (status, e.status_code, str(e))
        return e
    raise SystemExit(f"expected HTTP {status}, the call succeeded")

# Password login (pve realm, shadow.cfg), a read and a write with the CSRF token.
admin = api(user="admin@pve", password=os.environ["ADMIN_PASSWORD"])
ticket, csrf = admin.get_tokens()
assert ticket.startswith("PVE:admin@pve:") and csrf, (ticket, csrf)
v = admin.version.get()
assert v["release"] == "9.2", v
assert [n["node"] for n in admin.nodes.get()] == [node]
assert admin.access.acl.put(path="/vms/100", roles="PVEVMUser", users="target@pve") is None
assert any(e["ugid"] == "target@pve" and e["path"] == "/vms/100" for e in admin.access.acl.get())

# A missing parameter: 400 with the per-parameter errors.
e = expect_error(400, lambda: admin.access.acl.put(path="/vms/100", users="target@pve"))
assert e.errors == {"roles": "property is missing and it is not optional"}, e.errors
assert "Parameter verification failed." in str(e), str(e)
e = expect_error(400, lambda: admin.nodes(node).tasks.get(limit="many"))
assert "limit" in e.errors, e.errors

# API token login (no cookie, no CSRF header needed for writes).
tok = api(user="admin@pve", token_name="ci", token_value=os.environ["TOKEN_SECRET"])
assert tok.version.get()["release"] == "9.2"
assert tok.access.acl.put(path="/vms/101", roles="PVEAuditor", users="target@pve") is None
bad_tok = api(user="admin@pve", token_name="ci", token_value="00000000-0000-0000-0000-000000000000")
e = expect_error(401, lambda: bad_tok.version.get())
assert "Authentication failed!" in str(e), str(e)

# A wrong password: the login fails with 401.
try:
    api(user="admin@pve", password="wrong")
    raise SystemExit("a wrong password logged in")
except AuthenticationError as e:
    assert "code: 401" in str(e), str(e)
try:
    api(user="nobody@pve", password="wrong")
    raise SystemExit("an unknown user logged in")
except AuthenticationError as e:
    assert "code: 401" in str(e), str(e)

try:
    api(user="dave@pve", password=os.environ["CAROL_PASSWORD"])
    raise SystemExit("a disabled user logged in")
except AuthenticationError as e:
    assert "code: 401" in str(e), str(e)

# Renewal: the ticket as the password; the realm as its own parameter; the ticket in
# the Authorization header instead of the cookie.
renewed = admin.access.ticket.post(username="admin@pve", password=ticket)
assert renewed["ticket"].startswith("PVE:admin@pve:") and renewed["username"] == "admin@pve", renewed
r = requests.post(f"{base}/access/ticket", data={"username": "admin", "realm": "pve",
                  "password": os.environ["ADMIN_PASSWORD"]}, verify=False, timeout=5)
assert r.status_code == 200 and r.json()["data"]["username"] == "admin@pve", (r.status_code, r.text)
r = requests.get(f"{base}/version", headers={"Authorization": f"PVEAuthCookie={ticket}"}, verify=False, timeout=5)
assert r.status_code == 200, (r.status_code, r.reason)

# No ticket: 401 "No ticket".
r = requests.get(f"{base}/version", verify=False, timeout=5)
assert (r.status_code, r.reason) == (401, "No ticket"), (r.status_code, r.reason)

# A write with the cookie but without the CSRF header (raw requests).
cookies = {"PVEAuthCookie": ticket}
r = requests.put(f"{base}/access/acl", data={"path": "/vms/102", "roles": "PVEAuditor", "users": "target@pve"},
                 cookies=cookies, verify=False, timeout=5)
if scheme == "https":
    assert (r.status_code, r.reason) == (401, "Permission denied - invalid csrf token"), (r.status_code, r.reason)
else:
    assert r.status_code == 200, (r.status_code, r.reason)
r = requests.put(f"{base}/access/acl", data={"path": "/vms/102", "roles": "PVEAuditor", "users": "target@pve"},
                 cookies=cookies, headers={"CSRFPreventionToken": "4EEC61E2:forged"}, verify=False, timeout=5)
if scheme == "https":
    assert (r.status_code, r.reason) == (401, "Permission denied - invalid csrf token"), (r.status_code, r.reason)
# The same request with the token passes.
r = requests.put(f"{base}/access/acl", data={"path": "/vms/102", "roles": "PVEAuditor", "users": "target@pve"},
                 cookies=cookies, headers={"CSRFPreventionToken": csrf}, verify=False, timeout=5)
assert r.status_code == 200, (r.status_code, r.reason)

# An ACL-denied call: 403 with upstream's text.
carol = api(user="carol@pve", password=os.environ["CAROL_PASSWORD"])
e = expect_error(403, lambda: carol.nodes(node).status.get())
assert "Permission check failed (/nodes/" + node + ", Sys.Audit)" in str(e), str(e)
e = expect_error(403, lambda: carol.access.acl.put(path="/", roles="PVEAuditor", users="carol@pve"))
assert "Permission check failed" in str(e), str(e)
assert carol.nodes(node).tasks.get() == []
print(f"proxmoxer over {scheme}: ok")
"#;

fn setup(root: &std::path::Path) {
    let pve = root.join("etc/pve");
    std::fs::write(pve.join("user.cfg"), USER_CFG).unwrap();
    std::fs::write(
        pve.join("priv/token.cfg"),
        format!("admin@pve!ci {TOKEN_SECRET}\n"),
    )
    .unwrap();
    let shadow: String = [
        ("admin", ADMIN_PASSWORD),
        ("carol", CAROL_PASSWORD),
        ("dave", CAROL_PASSWORD),
    ]
    .iter()
    .map(|(u, pw)| format!("{u}:{}:\n", encrypt_password(pw).unwrap()))
    .collect();
    std::fs::write(pve.join("priv/shadow.cfg"), shadow).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxmoxer_against_pveproxy_and_pvedaemon() {
    let Some(python) = common::client_python() else {
        common::skip("proxmoxer venv missing (run `cargo xtask deps`)");
        return;
    };
    let root = common::node_root("proxmoxer-http");
    setup(&root);
    let servers = common::start_servers(&root, NODE).await;
    let mut failures = Vec::new();
    for (scheme, addr) in [("https", servers.proxy), ("http", servers.daemon)] {
        let python = python.clone();
        let out = tokio::task::spawn_blocking(move || {
            Command::new(python)
                .args(["-c", SCRIPT])
                .env("HOST", addr.ip().to_string())
                .env("PORT", addr.port().to_string())
                .env("SCHEME", scheme)
                .env("NODE", NODE)
                .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
                .env("CAROL_PASSWORD", CAROL_PASSWORD)
                .env("TOKEN_SECRET", TOKEN_SECRET)
                .output()
                .expect("python runs")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stdout.contains("ok") {
            failures.push(format!("{scheme} ({addr}):\n{stdout}\n{stderr}"));
        } else {
            print!("{stdout}");
        }
    }
    servers.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
    assert!(
        failures.is_empty(),
        "proxmoxer failed:\n{}",
        failures.join("\n")
    );
}
