//! Replays the recorded upstream CLI runs of `api/responses/cli/` (corpus from
//! `$PVE_CONFORMANCE_DIR`, default `../shared/conformance`) through the result
//! formatter: every run that prints an API result with upstream's CLI formatter
//! (`pvesh get`, `pveum … list`) must come out byte for byte.
//!
//! The data of a run comes from its `--output-format json` sibling run, else from the
//! recorded API answer of the same GET request; the return schema from
//! `api/pve-api-schema.json`.

use std::fs;
use std::path::{Path, PathBuf};

use pve_common::cli::format::{format_api_result, FormatOptions, OutputFormat};
use pve_common::conformance::default_corpus_dir;
use pve_common::schema::Schema;
use serde_json::Value;

/// Upstream CLI list commands that print one API GET result with the default columns.
const LIST_COMMANDS: &[(&[&str], &str)] = &[
    (&["pveum", "user", "list"], "/access/users"),
    (&["pveum", "acl", "list"], "/access/acl"),
    (&["pveum", "group", "list"], "/access/groups"),
    (&["pveum", "role", "list"], "/access/roles"),
    (&["pveum", "realm", "list"], "/access/domains"),
    (&["pveum", "pool", "list"], "/pools"),
];

struct Corpus {
    api_dir: PathBuf,
    schema_tree: Value,
    cli_runs: Vec<Value>,
    responses: Vec<Value>,
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(dir: &Path) -> Vec<Value> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "json"));
    paths.sort();
    paths.iter().map(|p| read_json(p)).collect()
}

impl Corpus {
    fn load() -> Self {
        let api_dir = default_corpus_dir().join("api");
        let schema_tree = read_json(&api_dir.join("pve-api-schema.json"));
        let cli_runs = json_files(&api_dir.join("responses/cli"));
        let responses = json_files(&api_dir.join("responses"));
        Self {
            api_dir,
            schema_tree,
            cli_runs,
            responses,
        }
    }

    /// The GET return schema of a concrete path, matching `{param}` segments.
    fn returns_schema(&self, path: &str) -> Option<Schema> {
        let mut nodes: &Value = &self.schema_tree;
        let mut current: Option<&Value> = None;
        for segment in path.split('/').filter(|s| !s.is_empty()) {
            let children = nodes.as_array()?;
            let name = |n: &Value| {
                n["path"]
                    .as_str()
                    .and_then(|p| p.rsplit('/').next())
                    .unwrap_or("")
                    .to_string()
            };
            let found = children
                .iter()
                .find(|n| name(n) == segment)
                .or_else(|| children.iter().find(|n| name(n).starts_with('{')))?;
            current = Some(found);
            nodes = &found["children"];
        }
        let returns = &current?["info"]["GET"]["returns"];
        Schema::from_value(returns).ok()
    }

    /// The result data of `GET path`: from a json-format CLI run, else an API answer
    /// without placeholders.
    fn data_for(&self, argv_prefix: &[String], path: &str) -> Option<Value> {
        for run in &self.cli_runs {
            let argv = string_list(&run["argv"]);
            if !argv_prefix.is_empty()
                && argv.len() >= argv_prefix.len()
                && argv[..argv_prefix.len()] == *argv_prefix
                && output_format(&argv) == OutputFormat::Json
                && run["exit"] == 0
            {
                if let Ok(data) = serde_json::from_str(run["stdout"].as_str()?) {
                    return Some(data);
                }
            }
        }
        let api_path = format!("/api2/json{path}");
        self.responses
            .iter()
            .filter(|r| {
                r["method"] == "GET"
                    && r["path"] == api_path.as_str()
                    && r["status"] == 200
                    && r["params"].as_object().is_none_or(|p| p.is_empty())
            })
            .map(|r| r["body"]["data"].clone())
            .find(|data| !has_placeholder(data))
    }
}

fn has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('<') && s.contains('>'),
        Value::Array(items) => items.iter().any(has_placeholder),
        Value::Object(map) => map.values().any(has_placeholder),
        _ => false,
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn output_format(argv: &[String]) -> OutputFormat {
    argv.iter()
        .position(|a| a == "--output-format")
        .and_then(|i| argv.get(i + 1))
        .and_then(|f| f.parse().ok())
        .unwrap_or(OutputFormat::Text)
}

fn flag(argv: &[String], name: &str) -> Option<bool> {
    let i = argv.iter().position(|a| a == name)?;
    match argv.get(i + 1).map(String::as_str) {
        Some("0") => Some(false),
        _ => Some(true),
    }
}

/// What a recorded run asks for: the API path, the argv part naming the command, the
/// options.
fn run_request(run: &Value) -> Option<(String, Vec<String>, FormatOptions)> {
    let argv = string_list(&run["argv"]);
    let (path, prefix_len) = if argv.len() >= 3 && argv[0] == "pvesh" && argv[1] == "get" {
        (argv[2].clone(), 3)
    } else {
        let (cmd, path) = LIST_COMMANDS
            .iter()
            .find(|(cmd, _)| argv.len() >= cmd.len() && argv[..cmd.len()] == **cmd)?;
        (path.to_string(), cmd.len())
    };
    let env = &run["env"];
    let mut opts = FormatOptions::from_env_vars(|name| env[name].as_str().map(String::from));
    if run["stdout_is_tty"] == true {
        return None;
    }
    opts.format = output_format(&argv);
    opts.noborder = flag(&argv, "--noborder").unwrap_or(false);
    opts.noheader = flag(&argv, "--noheader").unwrap_or(false);
    opts.human_readable = flag(&argv, "--human-readable").unwrap_or(true);
    Some((path, argv[..prefix_len].to_vec(), opts))
}

fn first_difference(expected: &str, got: &str) -> String {
    for (i, (e, g)) in expected.lines().zip(got.lines()).enumerate() {
        if e != g {
            return format!("line {}:\n  expected {e:?}\n  got      {g:?}", i + 1);
        }
    }
    format!(
        "line counts differ: expected {}, got {}",
        expected.lines().count(),
        got.lines().count()
    )
}

#[test]
fn cli_result_formatting_matches_upstream() {
    let corpus = Corpus::load();
    assert!(
        !corpus.cli_runs.is_empty(),
        "no CLI runs under {}",
        corpus.api_dir.display()
    );
    let (mut passed, mut total) = (0, 0);
    for run in &corpus.cli_runs {
        let name = run["name"].as_str().unwrap_or("?");
        if run["exit"] != 0 {
            continue;
        }
        let Some((path, prefix, opts)) = run_request(run) else {
            continue;
        };
        total += 1;
        let Some(schema) = corpus.returns_schema(&path) else {
            println!("FAIL {name}: no GET schema for {path}");
            continue;
        };
        let Some(data) = corpus.data_for(&prefix, &path) else {
            println!("FAIL {name}: no recorded data for {path}");
            continue;
        };
        let expected = run["stdout"].as_str().unwrap_or("");
        let got = format_api_result(&data, &schema, None, &opts);
        if got == expected {
            passed += 1;
        } else {
            println!("FAIL {name}: {}", first_difference(expected, &got));
        }
    }
    println!("pve-common/cli_format: {passed}/{total}");
    assert!(total > 0, "no formatter runs in the corpus");
    assert_eq!(passed, total, "CLI formatting cases failed");
}
