//! Replays upstream's recorded answers for `/storage` and `/nodes/{node}/storage/…`
//! (`../shared/conformance/api/responses/{storage,node_storage}*.json`) against our
//! routers, on a temp node root rebuilt from the recorded node state (storage.cfg and
//! the file list of `local`: dummies of the listed sizes, real qcow2 images).

use pve_common::api::{
    call_merged, call_method, merge_params, AuthId, EnvKind, HttpMethod, Router, RpcEnv,
};
use pve_common::NodePaths;
use serde_json::{json, Map, Value};

mod common;

use common::{build_node, responses, root_router};

/// `<name>`, `<name:int>`, `<name:number>` and patterns with tokens.
fn matches_placeholder(want: &str, have: &Value) -> Option<bool> {
    let token = regex::Regex::new(r"<[a-z_.]+(:[a-z0-9]+)?>").unwrap();
    if !token.is_match(want) {
        return None;
    }
    if let Some(caps) = token.captures(want).filter(|c| c[0].len() == want.len()) {
        return Some(match caps.get(1).map(|m| m.as_str()) {
            Some(":int") => have.is_i64() || have.is_u64(),
            Some(":number") => have.is_number(),
            _ => have.is_string(),
        });
    }
    let mut pattern = String::from("^");
    let mut last = 0;
    for m in token.find_iter(want) {
        pattern.push_str(&regex::escape(&want[last..m.start()]));
        pattern.push_str(if m.as_str().ends_with(":hex8>") {
            "[0-9A-F]{8}"
        } else {
            ".*"
        });
        last = m.end();
    }
    pattern.push_str(&regex::escape(&want[last..]));
    pattern.push('$');
    Some(
        have.as_str()
            .is_some_and(|h| regex::Regex::new(&pattern).unwrap().is_match(h)),
    )
}

fn sorted_set(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    s.sort();
    s
}

/// Compares `have` with the recorded `want` below JSON pointer `at`.
fn compare(at: &str, want: &Value, have: &Value, comma_sets: &[String], out: &mut Vec<String>) {
    let is_comma_set = comma_sets.iter().any(|p| pointer_matches(p, at));
    match (want, have) {
        (Value::String(w), h) if matches_placeholder(w, h).is_some() => {
            if matches_placeholder(w, h) != Some(true) {
                out.push(format!("{at}: {h} does not match {w}"));
            }
        }
        (Value::String(_), Value::String(_)) if is_comma_set => {
            if sorted_set(want) != sorted_set(have) {
                out.push(format!("{at}: {have} != {want} (as sets)"));
            }
        }
        (Value::Object(w), Value::Object(h)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(h.keys()).collect();
            for k in keys {
                match (w.get(k), h.get(k)) {
                    (Some(wv), Some(hv)) => compare(&format!("{at}/{k}"), wv, hv, comma_sets, out),
                    (Some(_), None) => out.push(format!("{at}/{k}: missing")),
                    (None, Some(_)) => out.push(format!("{at}/{k}: not upstream")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(w), Value::Array(h)) => {
            if w.len() != h.len() {
                out.push(format!("{at}: {} entries, upstream {}", h.len(), w.len()));
            }
            for (i, (wv, hv)) in w.iter().zip(h).enumerate() {
                compare(&format!("{at}/{i}"), wv, hv, comma_sets, out);
            }
        }
        (w, h) => {
            if w != h {
                out.push(format!("{at}: {h} != {w}"));
            }
        }
    }
}

/// A `comma_sets` pattern (`*` = any key or index) against a concrete pointer.
fn pointer_matches(pattern: &str, at: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let a: Vec<&str> = at.split('/').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Calls `method path` as upstream routes it: segments are decoded one by one, so a
/// `{volume}` may hold an encoded `/` (our router splits a decoded path on every `/`,
/// see the report of issue 7).
fn call(
    router: &Router,
    env: &RpcEnv,
    method: HttpMethod,
    raw_path: &str,
    query: Map<String, Value>,
    body: Map<String, Value>,
) -> Result<pve_common::api::ApiResponse, pve_common::api::ApiError> {
    let segments: Vec<String> = raw_path.split('/').map(percent_decode).collect();
    let routed: Vec<String> = segments
        .iter()
        .map(|s| {
            if s.contains('/') {
                "_".to_string()
            } else {
                s.clone()
            }
        })
        .collect();
    let routed = routed.join("/");
    let Some((m, resolved)) = router.find(method, &routed) else {
        return call_merged(router, env, method, &routed, query, body);
    };
    let mut path_params = resolved.path_params.clone();
    let names: Vec<&str> = resolved.template.split('/').collect();
    for (name, value) in names.iter().zip(&segments) {
        if let Some(param) = name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
            path_params.insert(param.to_string(), json!(value));
        }
    }
    let params = merge_params(&path_params, query, body)?;
    call_method(m, env, params)
}

/// Runs one recorded case; returns the differences.
fn replay(router: &Router, env: &RpcEnv, case: &Value) -> Vec<String> {
    let method: HttpMethod = case["method"].as_str().unwrap().parse().unwrap();
    let path = case["path"].as_str().unwrap();
    let path = path.trim_start_matches("/api2/json");
    let params = case["params"].as_object().cloned().unwrap_or_default();
    let (query, body) = match method {
        HttpMethod::Get | HttpMethod::Delete => (params, Map::new()),
        _ => (Map::new(), params),
    };
    let comma_sets: Vec<String> = case["comma_sets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let (status, body) = match call(router, env, method, path, query, body) {
        Ok(r) => (200, json!({ "data": r.data })),
        Err(e) => {
            let mut b = json!({"data": null, "message": e.message});
            if !e.errors.is_empty() {
                b["errors"] = json!(e.errors);
            }
            (e.status, b)
        }
    };
    let mut out = Vec::new();
    if json!(status) != case["status"] {
        out.push(format!("status {status}, upstream {}", case["status"]));
    }
    compare("", &case["body"], &body, &comma_sets, &mut out);
    out
}

#[test]
fn recorded_storage_answers() {
    let dir = responses();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("SKIP: no recorded responses at {}", dir.display());
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            (n.starts_with("storage") || n.starts_with("node_storage")) && n.ends_with(".json")
        })
        .collect();
    names.sort();
    let root = std::env::temp_dir().join(format!("pve-storage-api-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    build_node(&root);
    let env = RpcEnv {
        auth: AuthId::root(),
        node: "pveo".into(),
        client_ip: None,
        kind: EnvKind::Daemon,
        paths: NodePaths::new(&root),
        permissions: None,
    };
    let router = root_router();
    let mut failed = Vec::new();
    for name in &names {
        let case: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap();
        let diffs = replay(&router, &env, &case);
        if !diffs.is_empty() {
            failed.push(format!("{name}:\n  {}", diffs.join("\n  ")));
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "recorded storage answers: {}/{} passed",
        names.len() - failed.len(),
        names.len()
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
