//! The CLI layer against recorded upstream runs (`api/responses/cli/*.json` of the
//! corpus at `$PVE_CONFORMANCE_DIR`, default `../shared/conformance`): usage texts and
//! error output, byte for byte, with methods built from the API schema dump.

use std::path::PathBuf;

use pve_common::api::{ApiMethod, HttpMethod, RpcEnv};
use pve_common::cli::command::{run_cli_with_io, CliDef, CliGroup, Command};
use pve_common::cli::getopt::ArgParam;
use pve_common::cli::usage::{getopt_usage, UsageFormat};
use pve_common::conformance::default_corpus_dir;
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

fn corpus() -> PathBuf {
    default_corpus_dir()
}

fn fixture(name: &str) -> Option<Value> {
    let path = corpus()
        .join("api/responses/cli")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).ok()?;
    serde_json::from_str(&text).ok()
}

fn api_schema() -> Option<Value> {
    let text = std::fs::read_to_string(corpus().join("api/pve-api-schema.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn find_info<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    for node in tree.as_array()? {
        if node["path"] == path {
            return Some(&node["info"]);
        }
        if let Some(found) = find_info(&node["children"], path) {
            return Some(found);
        }
    }
    None
}

/// Drops the dump's precomputed `typetext`s where the text is derived from the schema
/// alone. Named formats and patterns keep theirs: upstream often declares a typetext
/// there, and property formats of other crates (qemu-server's) are not registered here.
fn strip_typetext(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let foreign_format = m.get("format").and_then(Value::as_str).is_some();
            // Pattern-restricted strings carry a typetext declared upstream, not derived.
            if !foreign_format && !m.contains_key("pattern") {
                m.remove("typetext");
            }
            m.values_mut().for_each(strip_typetext);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_typetext),
        _ => {}
    }
}

/// An ApiMethod with the dump's schemas and a handler that returns null.
fn method_from_dump(info: &Value, with_typetext: bool) -> ApiMethod {
    let http: HttpMethod = info["method"].as_str().unwrap().parse().unwrap();
    let mut params = info["parameters"].clone();
    if !with_typetext {
        strip_typetext(&mut params);
    }
    let mut m = ApiMethod::new(
        info["name"].as_str().unwrap_or(""),
        http,
        info["description"].as_str().unwrap_or(""),
        |_, _| Ok(Value::Null.into()),
    );
    m.parameters = Schema::from_value(&params).expect("parameter schema parses");
    m
}

fn fixed_node(node: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("node".into(), json!(node));
    m
}

fn env() -> RpcEnv {
    RpcEnv::cli(pve_common::NodePaths::new("/nonexistent"))
}

fn run(def: &CliDef, argv: &[String]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_cli_with_io(
        def,
        &argv[0],
        argv[1..].to_vec(),
        &env(),
        &mut out,
        &mut err,
    );
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

fn argv(fx: &Value) -> Vec<String> {
    fx["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

macro_rules! require {
    ($e:expr, $what:expr) => {
        match $e {
            Some(v) => v,
            None => {
                println!("SKIP: {} not found in {}", $what, corpus().display());
                return;
            }
        }
    };
}

/// `pvesh usage <path> [--verbose]`: the usage of each method at the path, in
/// get/set/create/delete order, with the path parameters fixed.
fn pvesh_usage(
    tree: &Value,
    api_path: &str,
    template: &str,
    node: &str,
    verbose: bool,
    tt: bool,
) -> String {
    let info = find_info(tree, template).expect("path in dump");
    let mut out = String::new();
    for (cmd, http) in [
        ("get", "GET"),
        ("set", "PUT"),
        ("create", "POST"),
        ("delete", "DELETE"),
    ] {
        let Some(mi) = info.get(http) else { continue };
        let m = method_from_dump(mi, tt);
        let prefix = format!("pvesh {cmd} {api_path}");
        let fixed = fixed_node(node);
        if verbose {
            out.push_str(&getopt_usage(
                &m,
                &prefix,
                &ArgParam::None,
                &fixed,
                UsageFormat::Full,
                None,
            ));
        } else {
            out.push_str("USAGE: ");
            out.push_str(&getopt_usage(
                &m,
                &prefix,
                &ArgParam::None,
                &fixed,
                UsageFormat::Short,
                None,
            ));
        }
    }
    out
}

/// Options whose schema in the dump is older than the recorded run (the recording
/// knows `net[n]`'s `host-tunnel`, the dump does not); their description blocks are
/// left out of the comparison on both sides.
const DUMP_DRIFT: &[&str] = &["  --net[n] "];

fn without_drift(text: &str) -> String {
    text.split_inclusive("\n\n")
        .filter(|block| !DUMP_DRIFT.iter().any(|d| block.starts_with(d)))
        .collect()
}

#[test]
fn pvesh_usage_fixtures() {
    let tree = require!(api_schema(), "api/pve-api-schema.json");
    let mut passed = 0;
    let mut total = 0;
    for (name, verbose) in [
        ("pvesh_usage_qemu", false),
        ("pvesh_usage_qemu_verbose", true),
    ] {
        let fx = require!(fixture(name), name);
        let args = argv(&fx);
        let api_path = &args[2];
        let node = api_path.split('/').nth(2).unwrap();
        let template = api_path.replace(&format!("/nodes/{node}"), "/nodes/{node}");
        for tt in [true, false] {
            total += 1;
            let got = without_drift(&pvesh_usage(&tree, api_path, &template, node, verbose, tt));
            let want = without_drift(fx["stdout"].as_str().unwrap());
            if got == want {
                passed += 1;
            } else {
                if let Ok(dir) = std::env::var("CLI_TEST_DUMP") {
                    let _ = std::fs::write(format!("{dir}/{name}-{tt}.txt"), &got);
                }
                let line = got
                    .lines()
                    .zip(want.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                println!(
                    "{name} (typetext {tt}): first difference at line {line}:\n got: {:?}\nwant: {:?}",
                    got.lines().nth(line),
                    want.lines().nth(line)
                );
            }
        }
    }
    println!("cli/pvesh_usage: {passed}/{total}");
    assert_eq!(passed, total);
}

/// `qm config` and `qm set` from the dump, as qemu-server's CLI declares them.
fn qm_def(tree: &Value, node: &str) -> CliDef {
    let config = find_info(tree, "/nodes/{node}/qemu/{vmid}/config").expect("config path");
    let root = CliGroup::new()
        .command(
            "config",
            Command::new("PVE::API2::Qemu", method_from_dump(&config["GET"], true))
                .args(&["vmid"])
                .fixed("node", node),
        )
        .command(
            "set",
            Command::new("PVE::API2::Qemu", method_from_dump(&config["PUT"], true))
                .args(&["vmid"])
                .fixed("node", node),
        );
    CliDef::new(root)
}

/// `pvesh get <api_path>`: the target method's parameters plus pvesh's own and the
/// standard output options.
fn pvesh_def(tree: &Value, template: &str) -> CliDef {
    let info = find_info(tree, template).expect("path in dump");
    let mut m = method_from_dump(&info["GET"], true);
    let props = m.parameters.properties.get_or_insert_with(Default::default);
    props.insert(
        "api_path".into(),
        Schema::from_value(&json!({"type": "string", "description": "API path."}))
            .unwrap()
            .into(),
    );
    props.insert(
        "noproxy".into(),
        Schema::from_value(&json!({"type": "boolean", "optional": 1, "description": "Disable automatic proxying."}))
            .unwrap()
            .into(),
    );
    let get = Command::new("PVE::CLI::pvesh", m)
        .args(&["api_path"])
        .formatted(None);
    CliDef::new(CliGroup::new().command("get", get))
}

fn check_run(name: &str, def: &CliDef) -> bool {
    let Some(fx) = fixture(name) else {
        println!("SKIP: {name}");
        return true;
    };
    let (code, out, err) = run(def, &argv(&fx));
    let ok = code as i64 == fx["exit"].as_i64().unwrap()
        && out == fx["stdout"].as_str().unwrap()
        && err == fx["stderr"].as_str().unwrap();
    if !ok {
        println!(
            "{name}: got exit {code}, stdout {out:?}, stderr {err:?}\n want {}, {:?}, {:?}",
            fx["exit"], fx["stdout"], fx["stderr"]
        );
    }
    ok
}

#[test]
fn error_fixtures() {
    let tree = require!(api_schema(), "api/pve-api-schema.json");
    let qm = qm_def(&tree, "pveo");
    let pvesh = pvesh_def(&tree, "/cluster/resources");
    // A property-string error is one multi-line message under the property, ending in
    // a newline (`memory: invalid format - format error\nmemory.current: …\n`), hence
    // the blank line in err_qm_set_100_memory_abc.
    let cases = [
        ("err_qm_config_missing_vmid", &qm),
        ("err_qm_set_100_memory_abc", &qm),
        ("err_pvesh_get_bad_param", &pvesh),
    ];
    let passed = cases.iter().filter(|(n, d)| check_run(n, d)).count();
    println!("cli/errors: {passed}/{}", cases.len());
    assert_eq!(passed, cases.len());
}

/// The unknown-command listing: the header and the built-in `help` line as recorded;
/// the order and grouping rules on a small tree.
#[test]
fn unknown_command_listing() {
    let tree = require!(api_schema(), "api/pve-api-schema.json");
    let fx = require!(fixture("err_qm_unknown_command"), "err_qm_unknown_command");
    let qm = qm_def(&tree, "pveo");
    let (code, out, err) = run(&qm, &argv(&fx));
    let want = fx["stderr"].as_str().unwrap();
    assert_eq!(code as i64, fx["exit"].as_i64().unwrap());
    assert_eq!(out, "");
    let head: String = want.lines().take(3).map(|l| format!("{l}\n")).collect();
    assert!(err.starts_with(&head), "{err}");
    let tail = want.lines().last().unwrap();
    assert!(err.ends_with(&format!("\n\n{tail}\n")), "{err}");
    assert!(err.contains("       qm config <vmid> [OPTIONS]\n       qm set <vmid> [OPTIONS]\n"));
}

fn simple(name: &str, params: Value) -> ApiMethod {
    let mut m = ApiMethod::new(name, HttpMethod::Get, "Test.", |_, p| {
        Ok(Value::Object(p.0).into())
    });
    m.parameters =
        Schema::from_value(&json!({"additionalProperties": 0, "properties": params})).unwrap();
    m
}

fn toy() -> CliDef {
    let vmid = json!({"type": "integer", "description": "The VM id."});
    let disk = CliGroup::new()
        .command(
            "resize",
            Command::new(
                "A",
                simple("resize", json!({"vmid": vmid, "size": {"type": "string"}})),
            )
            .args(&["vmid", "size"]),
        )
        .command("rescan", Command::new("B", simple("rescan", json!({}))));
    let root = CliGroup::new()
        .group("disk", disk)
        .alias("resize", "disk resize")
        .command(
            "zap",
            Command::new("A", simple("zap", json!({"vmid": vmid}))).args(&["vmid"]),
        )
        .command(
            "list",
            Command::new(
                "B",
                simple("list", json!({"full": {"type": "boolean", "optional": 1}})),
            )
            .output(|out, data, _, _| writeln!(out, "{data}")),
        );
    CliDef::new(root)
}

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_string).collect()
}

#[test]
fn toy_tree_dispatch_and_listing() {
    let def = toy();
    let listing = "USAGE: t <COMMAND> [ARGS] [OPTIONS]\n\n       t disk resize <vmid> <size>\n       t disk rescan \n\n       t zap <vmid>\n\n       t list  [OPTIONS]\n\n       t help [<extra-args>] [OPTIONS]\n";
    let (code, out, err) = run(&def, &words("t frob"));
    assert_eq!((code, out.as_str()), (255, ""));
    assert_eq!(err, format!("ERROR: unknown command 't frob'\n{listing}"));

    let (code, out, _) = run(&def, &words("t li --full"));
    assert_eq!((code, out.as_str()), (0, "{\"full\":1}\n"));

    let (code, _, err) = run(&def, &words("t resize 1"));
    assert_eq!(code, 255);
    assert_eq!(
        err,
        "400 not enough arguments\nt disk resize <vmid> <size>\n"
    );

    let (code, _, err) = run(&def, &words("t disk"));
    assert_eq!(code, 255);
    assert!(err.starts_with("ERROR: incomplete command 't disk'\nUSAGE: t <COMMAND> [ARGS] [OPTIONS]\n\n       t disk resize"));

    let (code, out, _) = run(&def, &words("t help zap --verbose 0"));
    assert_eq!((code, out.as_str()), (0, "USAGE: t zap <vmid>\n\n"));
    let (code, out, _) = run(&def, &words("t help zap"));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "USAGE: t zap <vmid>\n\n  Test.\n\n  <vmid>     <integer>\n\t     The VM id.\n\n\n"
    );

    let (code, _, err) = run(&def, &words("t list --bogus"));
    assert_eq!(code, 255);
    assert_eq!(
        err,
        "Unknown option: bogus\n400 unable to parse option\nt list  [OPTIONS]\n"
    );
}
