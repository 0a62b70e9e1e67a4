//! Runs every pve-container conformance suite against ../shared/conformance.

use pve_common::conformance::{default_corpus_dir, run_suite};

#[test]
fn container_suites() {
    let root = default_corpus_dir();
    if !root.join("pve-container").is_dir() {
        if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
            panic!("no corpus at {}", root.display());
        }
        println!("SKIP: no corpus at {}", root.display());
        return;
    }
    let mut failed = 0;
    for suite in pve_container::conformance_suites() {
        let report = run_suite(&suite, &root).expect("corpus readable");
        println!(
            "pve-container/{}: {}/{} passed",
            report.name,
            report.passed(),
            report.cases.len()
        );
        for case in &report.cases {
            if let Err(why) = &case.result {
                println!("  FAIL {}: {why}", case.name);
            }
        }
        assert!(!report.cases.is_empty(), "{}: no cases", report.name);
        failed += report.cases.len() - report.passed();
    }
    assert_eq!(failed, 0, "failures above");
}

/// The recorded `GET /nodes/{node}/lxc/{vmid}/config` bodies equal our JSON of the
/// recorded config files.
#[test]
fn recorded_config_responses() {
    let root = default_corpus_dir().join("api/responses");
    let Ok(entries) = std::fs::read_dir(root.join("state/etc-pve/lxc")) else {
        println!("SKIP: no recorded CT configs below {}", root.display());
        return;
    };
    let mut checked = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name.strip_suffix(".conf") else {
            continue;
        };
        let Ok(resp) = std::fs::read_to_string(root.join(format!("lxc_{vmid}_config.json"))) else {
            continue;
        };
        let resp: serde_json::Value = serde_json::from_str(&resp).unwrap();
        let raw = std::fs::read_to_string(entry.path()).unwrap();
        let vmid: u32 = vmid.parse().unwrap();
        let parsed = pve_container::parse_ct_config(vmid, &raw, false)
            .unwrap()
            .config;
        let ours = pve_container::config::section_to_json(
            &pve_container::config::current_config(&parsed, false),
            &parsed.digest,
        );
        if let Ok(cli) = std::fs::read_to_string(root.join(format!("cli/pct_config_{vmid}.json"))) {
            let cli: serde_json::Value = serde_json::from_str(&cli).unwrap();
            assert_eq!(
                pve_container::config::format_pct_config(&ours),
                cli["stdout"].as_str().unwrap(),
                "pct config {vmid}"
            );
            checked += 1;
        }
        assert_eq!(
            serde_json::Value::Object(ours),
            resp["body"]["data"],
            "CT {vmid}"
        );
        checked += 1;
    }
    println!("{checked} recorded config responses and pct outputs match");
    assert!(checked > 0);
}

/// The recorded `GET /nodes/{node}/lxc` list and `pct list` output (all containers
/// stopped) equal ours for the recorded configs.
#[test]
fn recorded_list_responses() {
    let root = default_corpus_dir().join("api/responses");
    let (Ok(list), Ok(entries)) = (
        std::fs::read_to_string(root.join("lxc_list.json")),
        std::fs::read_dir(root.join("state/etc-pve/lxc")),
    ) else {
        println!("SKIP: no recorded CT list below {}", root.display());
        return;
    };
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let mut ours = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(vmid) = name
            .strip_suffix(".conf")
            .and_then(|v| v.parse::<u32>().ok())
        else {
            continue;
        };
        let raw = std::fs::read_to_string(entry.path()).unwrap();
        let conf = pve_container::parse_ct_config(vmid, &raw, false)
            .unwrap()
            .config
            .main;
        ours.push(pve_container::status::stopped_status(vmid, &conf, 1));
    }
    ours.sort_by_key(|d| d["vmid"].as_u64());
    let mut want: Vec<serde_json::Value> = list["body"]["data"].as_array().unwrap().clone();
    want.sort_by_key(|d| d["vmid"].as_u64());
    let got: Vec<serde_json::Value> = ours
        .iter()
        .cloned()
        .map(serde_json::Value::Object)
        .collect();
    assert_eq!(got, want);
    if let Ok(cli) = std::fs::read_to_string(root.join("cli/pct_list.json")) {
        let cli: serde_json::Value = serde_json::from_str(&cli).unwrap();
        assert_eq!(
            pve_container::status::format_pct_list(&ours),
            cli["stdout"].as_str().unwrap()
        );
    }
}

/// Writing a parsed config and parsing it again is stable, for every CT config in the
/// corpus.
#[test]
fn corpus_configs_round_trip() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "conf")
                && p.parent().is_some_and(|d| d.ends_with("lxc"))
            {
                out.push(p);
            }
        }
    }
    let root = default_corpus_dir();
    let mut files = Vec::new();
    walk(&root.join("pve-container/snapshot"), &mut files);
    walk(&root.join("api/responses/state"), &mut files);
    if files.is_empty() {
        println!("SKIP: no CT configs below {}", root.display());
        return;
    }
    for file in &files {
        let raw = std::fs::read_to_string(file).unwrap();
        let first = pve_container::parse_ct_config(100, &raw, false).unwrap();
        let written = pve_container::write_ct_config(&first.config).unwrap();
        // Non-strict both times: a few snapshot fixtures hold keys CTs do not know
        // (`vmstate`), which upstream keeps with a warning, too.
        let second = pve_container::parse_ct_config(100, &written, false).unwrap();
        assert_eq!(first.warnings, second.warnings, "{}", file.display());
        let (first, second) = (first.config, second.config);
        assert_eq!(first.main, second.main, "{}", file.display());
        assert_eq!(first.snapshots, second.snapshots, "{}", file.display());
        assert_eq!(
            pve_container::write_ct_config(&second).unwrap(),
            written,
            "{}",
            file.display()
        );
    }
    println!("{} CT configs round-trip", files.len());
}

/// The recorded `/nodes/{node}/lxc…` GET responses, replayed through our router on a
/// scratch node holding the recorded CT configs.
#[test]
fn recorded_api_responses_through_router() {
    use pve_common::api::{call::call_merged, HttpMethod, Router, RpcEnv};
    let responses = default_corpus_dir().join("api/responses");
    let Ok(entries) = std::fs::read_dir(responses.join("state/etc-pve/lxc")) else {
        println!("SKIP: no recorded CT configs");
        return;
    };
    let scratch = std::env::temp_dir().join(format!("ct-api-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut checked = 0;
    let mut cases: Vec<serde_json::Value> = std::fs::read_dir(&responses)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("lxc_"))
        .map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap())
        .filter(|c: &serde_json::Value| c["method"] == "GET")
        .collect();
    cases.sort_by_key(|c| c["name"].as_str().map(str::to_string));
    let node = cases
        .iter()
        .find_map(|c| c["path"].as_str()?.split('/').nth(4).map(str::to_string))
        .unwrap_or_default();
    let dir = scratch.join(format!("etc/pve/nodes/{node}/lxc"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in entries.flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let mut env = RpcEnv::cli(pve_common::paths::NodePaths::new(&scratch));
    env.node = node.clone();
    let router = Router::new().subdir(
        "nodes",
        Router::new().match_param(
            "node",
            Router::new().subdir("lxc", pve_container::api::node_lxc_router()),
        ),
    );
    for case in cases {
        let path = case["path"]
            .as_str()
            .unwrap()
            .trim_start_matches("/api2/json");
        // only what this router serves: the list, config, pending and current status
        let tail = path.rsplit('/').next().unwrap_or_default();
        if !(path.ends_with("/lxc") || ["config", "pending", "current"].contains(&tail)) {
            continue;
        }
        let query = case["params"].as_object().cloned().unwrap_or_default();
        let got = call_merged(
            &router,
            &env,
            HttpMethod::Get,
            path,
            query,
            Default::default(),
        );
        let status = case["status"].as_u64().unwrap();
        match got {
            Ok(resp) if status == 200 => {
                let mut want = case["body"]["data"].clone();
                let mut have = resp.data;
                for v in [&mut want, &mut have] {
                    if let Some(a) = v.as_array_mut() {
                        a.sort_by_key(|e| e["vmid"].as_u64());
                    }
                }
                assert_eq!(have, want, "{}", case["name"]);
            }
            Err(e) if e.status as u64 == status => {
                assert_eq!(
                    e.message,
                    case["body"]["message"].as_str().unwrap_or_default(),
                    "{}",
                    case["name"]
                );
            }
            other => panic!("{}: {other:?}", case["name"]),
        }
        checked += 1;
    }
    std::fs::remove_dir_all(&scratch).unwrap();
    println!("{checked} recorded CT API responses replayed");
    assert!(checked > 0);
}

/// The recorded `pct list|config|pending` runs replayed through our `pct` on a scratch
/// node holding the recorded CT configs: stdout, stderr and exit code.
#[test]
fn recorded_pct_runs() {
    let responses = default_corpus_dir().join("api/responses");
    let Ok(entries) = std::fs::read_dir(responses.join("state/etc-pve/lxc")) else {
        println!("SKIP: no recorded CT configs");
        return;
    };
    let runs: Vec<serde_json::Value> = std::fs::read_dir(responses.join("cli"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| serde_json::from_str(&std::fs::read_to_string(e.path()).ok()?).ok())
        .filter(|r: &serde_json::Value| {
            r["argv"][0] == "pct"
                && ["list", "config", "pending"].contains(&r["argv"][1].as_str().unwrap_or(""))
        })
        .collect();
    // the node the recorded errors name
    let node = runs
        .iter()
        .find_map(|r| {
            let e = r["stderr"].as_str()?;
            Some(e.split("nodes/").nth(1)?.split('/').next()?.to_string())
        })
        .unwrap_or_else(|| "pveo".into());
    let scratch = std::env::temp_dir().join(format!("ct-pct-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dir = scratch.join(format!("etc/pve/nodes/{node}/lxc"));
    std::fs::create_dir_all(&dir).unwrap();
    for entry in entries.flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let mut env = pve_common::api::RpcEnv::cli(pve_common::paths::NodePaths::new(&scratch));
    env.node = node.clone();
    let def = pve_container::cli::pct_cli_for(&node);
    let mut checked = 0;
    for run in &runs {
        let args: Vec<String> = run["argv"].as_array().unwrap()[1..]
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code =
            pve_common::cli::command::run_cli_with_io(&def, "pct", args, &env, &mut out, &mut err);
        assert_eq!(
            String::from_utf8_lossy(&out),
            run["stdout"].as_str().unwrap(),
            "{}",
            run["name"]
        );
        assert_eq!(
            String::from_utf8_lossy(&err),
            run["stderr"].as_str().unwrap(),
            "{}",
            run["name"]
        );
        assert_eq!(
            i64::from(code),
            run["exit"].as_i64().unwrap(),
            "{}",
            run["name"]
        );
        checked += 1;
    }
    std::fs::remove_dir_all(&scratch).unwrap();
    println!("{checked} recorded pct runs replayed");
    assert!(checked > 0);
}

/// Every method of the container router matches upstream's published description: same
/// name, parameters and return schema at the same path.
#[test]
fn router_matches_published_schema() {
    use pve_common::api::Router;
    let Ok(text) = std::fs::read_to_string(default_corpus_dir().join("api/pve-api-schema.json"))
    else {
        println!("SKIP: no published API schema");
        return;
    };
    let published: serde_json::Value = serde_json::from_str(&text).unwrap();
    fn find<'a>(nodes: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
        for n in nodes.as_array()? {
            if n["path"] == path {
                return Some(n);
            }
            if let Some(r) = find(&n["children"], path) {
                return Some(r);
            }
        }
        None
    }
    let router = Router::new().subdir(
        "nodes",
        Router::new().match_param(
            "node",
            Router::new().subdir("lxc", pve_container::api::node_lxc_router()),
        ),
    );
    let mut checked = 0;
    router.walk(&mut |path, r| {
        for m in r.methods() {
            let node = find(&published, path).unwrap_or_else(|| panic!("{path} not published"));
            let info = &node["info"][m.method.as_str()];
            assert_eq!(info["name"], m.name, "{path}");
            // as the API dump shows them: `mp0`…`mp255` collapse into `mp[n]`
            let ours: serde_json::Value = m.dump()["parameters"]["properties"].clone();
            let theirs = &info["parameters"]["properties"];
            let keys = |v: &serde_json::Value| -> Vec<String> {
                v.as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            assert_eq!(keys(&ours), keys(theirs), "{path} parameters");
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    ours.get(name).is_some(),
                    "{path}: path parameter {name} undeclared"
                );
            }
            checked += 1;
        }
    });
    println!("{checked} container API methods match the published schema");
    assert!(checked >= 8);
}
