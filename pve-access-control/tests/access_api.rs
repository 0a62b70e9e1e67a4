//! The `/access` routers called in process on a temp root, compared with upstream's
//! recorded answers where they apply.

use std::path::PathBuf;
use std::sync::Arc;

use pve_access_control::acl::UserConfigChecker;
use pve_access_control::secrets::encrypt_password;
use pve_access_control::store::ConfigFiles;
use pve_access_control::tickets::verify_ticket;
use pve_access_control::UserConfig;
use pve_common::api::{call_merged, AuthId, EnvKind, HttpMethod, RpcEnv};
use pve_common::NodePaths;
use serde_json::{json, Map, Value};

fn corpus() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
        })
}

fn recorded(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(corpus().join(format!("api/responses/{name}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

fn setup(name: &str) -> (PathBuf, RpcEnv) {
    let root = std::env::temp_dir().join(format!("pve-ac-api-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let paths = NodePaths::new(&root);
    let files = ConfigFiles::new(paths.clone());
    let user_cfg = std::fs::read_to_string(corpus().join("api/responses/state/etc-pve/user.cfg"))
        .unwrap_or_else(|_| "user:alice@pve:1:0::::::\n".into());
    files.write("user.cfg", user_cfg.as_bytes()).unwrap();
    let hash = encrypt_password("alicepw").unwrap();
    files
        .write("priv/shadow.cfg", format!("alice:{hash}:\n").as_bytes())
        .unwrap();
    let cfg = UserConfig::parse(&user_cfg);
    let env = RpcEnv {
        auth: AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind: EnvKind::Daemon,
        paths,
        permissions: Some(Arc::new(UserConfigChecker::new(Arc::new(cfg)))),
    };
    (root, env)
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[test]
fn login_and_failures() {
    let (root, env) = setup("ticket");
    let router = pve_access_control::api::router();
    let ok = call_merged(
        &router,
        &env,
        HttpMethod::Post,
        "/ticket",
        Map::new(),
        obj(json!({"username": "alice", "realm": "pve", "password": "alicepw"})),
    )
    .unwrap();
    let data = ok.data;
    assert_eq!(data["username"], "alice@pve");
    let ticket = data["ticket"].as_str().unwrap();
    let files = ConfigFiles::new(env.paths.clone());
    assert_eq!(verify_ticket(&files, ticket).unwrap().0, "alice@pve");
    assert!(data["CSRFPreventionToken"].as_str().unwrap().len() == 8 + 1 + 43);
    // alice: PVEVMUser on /vms/100 → VM privileges in the GUI caps, no node privileges
    assert_eq!(data["cap"]["vms"]["VM.PowerMgmt"], 1);
    assert_eq!(data["cap"]["nodes"], json!({}));
    // field names as recorded for root
    if let Some(rec) = recorded("access_ticket_root") {
        let mut want: Vec<&String> = rec["body"]["data"].as_object().unwrap().keys().collect();
        let mut have: Vec<&String> = data.as_object().unwrap().keys().collect();
        want.sort();
        have.sort();
        assert_eq!(have, want);
    }

    // renew with the ticket as password
    let renew = call_merged(
        &router,
        &env,
        HttpMethod::Post,
        "/ticket",
        Map::new(),
        obj(json!({"username": "alice@pve", "password": ticket})),
    );
    assert!(renew.is_ok());

    let bad = call_merged(
        &router,
        &env,
        HttpMethod::Post,
        "/ticket",
        Map::new(),
        obj(json!({"username": "alice@pve", "password": "wrong-password"})),
    )
    .unwrap_err();
    assert_eq!(bad.status, 401);
    if let Some(rec) = recorded("access_ticket_bad_password") {
        assert_eq!(json!(bad.status), rec["status"]);
        assert_eq!(json!(bad.message), rec["body"]["message"]);
    }
    let missing = call_merged(
        &router,
        &env,
        HttpMethod::Post,
        "/ticket",
        Map::new(),
        Map::new(),
    )
    .unwrap_err();
    assert_eq!(missing.status, 400);
    assert!(missing.errors.contains_key("username"));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn roles_index() {
    let (root, env) = setup("roles");
    let router = pve_access_control::api::router();
    let res = call_merged(
        &router,
        &env,
        HttpMethod::Get,
        "/roles",
        Map::new(),
        Map::new(),
    )
    .unwrap();
    let list = res.data.as_array().unwrap().clone();
    assert_eq!(list.len(), 18);
    if let Some(rec) = recorded("access_roles") {
        let want = rec["body"]["data"].as_array().unwrap();
        for w in want {
            let id = &w["roleid"];
            let have = list
                .iter()
                .find(|e| &e["roleid"] == id)
                .expect("role present");
            let set = |v: &Value| {
                let mut s: Vec<String> = v
                    .as_str()
                    .unwrap_or("")
                    .split(',')
                    .map(str::to_string)
                    .collect();
                s.sort();
                s
            };
            assert_eq!(set(&have["privs"]), set(&w["privs"]), "{id}");
            assert_eq!(have.get("special"), w.get("special"), "{id}");
        }
        assert_eq!(want.len(), list.len());
    }
    std::fs::remove_dir_all(root).unwrap();
}
