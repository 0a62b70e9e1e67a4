//! A worker task started through the registry's environment, then read back through the
//! `/nodes/{node}/tasks` methods, and its files checked against upstream's formats.

use std::time::{Duration, Instant};

use pve_common::api::{call_merged, AuthId, EnvKind, HttpMethod, RpcEnv};
use pve_common::upid::{status_from_log, Upid};
use pve_common::NodePaths;
use serde_json::{json, Map, Value};

fn temp_root(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("pve-api-tasks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn env(root: &std::path::Path, user: &str) -> RpcEnv {
    let mut env = RpcEnv::cli(NodePaths::new(root));
    env.kind = EnvKind::Daemon;
    env.node = "testnode".into();
    env.auth = AuthId::parse(user).unwrap();
    env
}

fn get(
    env: &RpcEnv,
    path: &str,
    query: Value,
) -> Result<pve_common::api::ApiResponse, pve_common::api::ApiError> {
    let root = pve_manager::api::root();
    let query: Map<String, Value> = query.as_object().cloned().unwrap_or_default();
    call_merged(&root, env, HttpMethod::Get, path, query, Map::new())
}

fn wait_stopped(env: &RpcEnv, upid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let st = get(
            env,
            &format!("/nodes/testnode/tasks/{upid}/status"),
            json!({}),
        )
        .unwrap()
        .data;
        if st["status"] == "stopped" || Instant::now() > deadline {
            return st;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn worker_task_round_trip() {
    let root = temp_root("roundtrip");
    let env = env(&root, "root@pam");

    let ok = pve_common::tasks::start_worker(&env, "qmstart", Some("100"), |task| {
        task.log("starting VM 100");
        Ok(())
    })
    .unwrap();
    let failed = pve_common::tasks::start_worker(&env, "qmstop", Some("101"), |task| {
        task.log("stopping");
        anyhow::bail!("VM 101 not running")
    })
    .unwrap();

    let st = wait_stopped(&env, &ok);
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(st["type"], "qmstart");
    assert_eq!(st["id"], "100");
    let st = wait_stopped(&env, &failed);
    assert_eq!(st["exitstatus"], "VM 101 not running");

    // The log through the API, paged.
    let log = get(
        &env,
        &format!("/nodes/testnode/tasks/{ok}/log"),
        json!({"start": 0, "limit": 1}),
    )
    .unwrap();
    assert_eq!(log.data, json!([{"n": 1, "t": "starting VM 100"}]));
    assert_eq!(log.total, Some(2));

    // The list (archive) has both, newest first, with total.
    let list = get(&env, "/nodes/testnode/tasks", json!({})).unwrap();
    assert_eq!(list.total, Some(2));
    let upids: Vec<&str> = list
        .data
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["upid"].as_str().unwrap())
        .collect();
    assert!(upids.contains(&ok.as_str()) && upids.contains(&failed.as_str()));
    let errors = get(&env, "/nodes/testnode/tasks", json!({"errors": 1})).unwrap();
    assert_eq!(errors.total, Some(1));
    assert_eq!(errors.data[0]["status"], "VM 101 not running");

    // The files as an upstream reader sees them.
    let task_dir = NodePaths::new(&root).task_dir();
    let upid: Upid = ok.parse().unwrap();
    let text = std::fs::read_to_string(upid.log_path(&task_dir)).unwrap();
    assert_eq!(status_from_log(&text), "OK");
    let index = std::fs::read_to_string(task_dir.join("index")).unwrap();
    for line in index.lines() {
        let mut parts = line.splitn(3, ' ');
        let (u, end, status) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        u.parse::<Upid>().expect("index line starts with a UPID");
        assert_eq!(end.len(), 8, "end time is 8 hex digits: {line}");
        assert!(u32::from_str_radix(end, 16).is_ok());
        assert!(status == "OK" || status == "VM 101 not running", "{line}");
    }

    // Bad UPIDs are parameter errors, as upstream answers them.
    let err = get(&env, "/nodes/testnode/tasks/nope/status", json!({})).unwrap_err();
    assert_eq!(
        (err.status, err.errors["upid"].as_str()),
        (400, "unable to parse worker upid")
    );
    let unknown = "UPID:testnode:00000001:00000001:6B000000:qmstart:100:root@pam:";
    let err = get(
        &env,
        &format!("/nodes/testnode/tasks/{unknown}/status"),
        json!({}),
    )
    .unwrap_err();
    assert_eq!(err.errors["upid"], "no such task");

    // Another user sees neither task and may not read their logs.
    let alice = self::env(&root, "alice@pve");
    assert_eq!(
        get(&alice, "/nodes/testnode/tasks", json!({}))
            .unwrap()
            .total,
        Some(0)
    );
    let err = get(
        &alice,
        &format!("/nodes/testnode/tasks/{ok}/log"),
        json!({}),
    )
    .unwrap_err();
    assert_eq!(err.status, 403);
    assert_eq!(
        err.reason(),
        "Permission check failed (/nodes/testnode, Sys.Audit)"
    );

    let _ = std::fs::remove_dir_all(&root);
}
