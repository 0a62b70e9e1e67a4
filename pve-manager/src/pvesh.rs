//! `pvesh`: the whole API tree on the command line, run in-process as root@pam.
//!
//! Like upstream, the verbs `get`, `set`, `create` and `delete` take the parameter schema
//! of the method at the given path (less its path parameters), so options are parsed and
//! checked as the method itself declares them; `ls` lists child links with their
//! capabilities and `usage` prints the methods' usage.

use std::sync::Arc;

use pve_common::api::router::Resolved;
use pve_common::api::{
    call_method, ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv,
};
use pve_common::cli::command::{
    format_options, print_api_result, run_cli, standard_formatter, CliDef, CliGroup, Command,
    OutputOpts,
};
use pve_common::cli::format::TableSort;
use pve_common::cli::getopt::ArgParam;
use pve_common::cli::usage::{getopt_usage, standard_output_options, UsageFormat};
use pve_common::schema::{Additional, Schema};
use serde_json::{json, Map, Value};

const CLASS: &str = "PVE::CLI::pvesh";
const VERBS: [(&str, HttpMethod); 4] = [
    ("get", HttpMethod::Get),
    ("set", HttpMethod::Put),
    ("create", HttpMethod::Post),
    ("delete", HttpMethod::Delete),
];

fn http_method(verb: &str) -> Option<HttpMethod> {
    VERBS.iter().find(|(v, _)| *v == verb).map(|(_, m)| *m)
}

/// Process-wide switches given before the verb.
#[derive(Clone, Copy, Default)]
struct PreOptions {
    noproxy: bool,
    nooutput: bool,
}

/// Runs pvesh with `args` (without the program name); returns the exit code.
pub fn main(mut args: Vec<String>, env: RpcEnv) -> i32 {
    let mut pre = PreOptions::default();
    loop {
        match args.first().map(String::as_str) {
            Some("--noproxy") => pre.noproxy = true,
            Some("--nooutput") => pre.nooutput = true,
            _ => break,
        }
        args.remove(0);
    }
    let root = Arc::new(crate::api::root());

    // The schema of the target method decides which options the verb takes.
    let mut target: Option<(ApiMethod, Map<String, Value>)> = None;
    if let (Some(verb), Some(path)) = (args.first(), args.get(1)) {
        if let Some(m) = http_method(verb) {
            match root.find(m, path) {
                Some((method, resolved)) => target = Some((method.clone(), resolved.path_params)),
                None => {
                    eprintln!("No '{verb}' handler defined for '{path}'");
                    return 1;
                }
            }
        }
    }
    let def = cli_def(root, target, pre);
    run_cli(&def, "pvesh", args, env)
}

fn api_path_param() -> Schema {
    Schema::literal(json!({"description": "API path.", "type": "string"}))
}

/// The target's parameters less the path parameters, plus `api_path` and `noproxy`.
fn verb_parameters(target: &Option<(ApiMethod, Map<String, Value>)>) -> Schema {
    let mut schema = match target {
        Some((m, path_params)) => {
            let mut s = m.parameters.clone();
            remove_properties(&mut s, path_params.keys());
            s
        }
        None => Schema {
            additional_properties: Some(Additional::Bool(false)),
            properties: Some(Default::default()),
            ..Default::default()
        },
    };
    let ours = [
        ("api_path".to_string(), api_path_param()),
        (
            "noproxy".to_string(),
            Schema::literal(
                json!({"description": "Disable automatic proxying.", "optional": 1, "type": "boolean"}),
            ),
        ),
    ];
    match schema.properties.as_mut() {
        Some(props) => props.extend(ours.map(|(k, v)| (k, v.into()))),
        None => {
            let extra = Schema {
                additional_properties: Some(Additional::Bool(false)),
                properties: Some(ours.into_iter().map(|(k, v)| (k, v.into())).collect()),
                ..Default::default()
            };
            match schema.all_of.as_mut() {
                Some(list) => list.push(extra),
                None => {
                    schema = Schema {
                        all_of: Some(vec![schema, extra]),
                        ..Default::default()
                    }
                }
            }
        }
    }
    schema
}

fn remove_properties<'a>(schema: &mut Schema, keys: impl Iterator<Item = &'a String> + Clone) {
    if let Some(props) = schema.properties.as_mut() {
        for k in keys {
            props.remove(k);
        }
    } else if let Some(list) = schema.all_of.as_mut().or(schema.one_of.as_mut()) {
        for s in list {
            remove_properties(s, keys.clone());
        }
    }
}

/// The standard output options the target does not define itself.
fn output_options(parameters: &Schema) -> std::collections::BTreeMap<String, Schema> {
    let own = parameters.properties.as_ref();
    standard_output_options()
        .into_iter()
        .filter(|(k, _)| !own.is_some_and(|p| p.contains_key(k)))
        .collect()
}

fn cli_def(
    root: Arc<Router>,
    target: Option<(ApiMethod, Map<String, Value>)>,
    pre: PreOptions,
) -> CliDef {
    let parameters = verb_parameters(&target);
    let returns = target
        .as_ref()
        .map(|(m, _)| m.returns.clone())
        .unwrap_or_default();
    let mut group = CliGroup::new();
    for (verb, http) in VERBS {
        let description = format!("Call API {http} on <api_path>.");
        let r = root.clone();
        let mut method = ApiMethod::new(verb, http, &description, move |env, p| {
            call_api_method(&r, env, http, p, pre)
        });
        method.parameters = parameters.clone();
        let returns = returns.clone();
        let cmd = Command::new(CLASS, method)
            .args(&["api_path"])
            .formatter_props(output_options(&parameters))
            .output(move |w, data, _, opts| {
                if pre.nooutput {
                    return Ok(());
                }
                standard_formatter(w, data, &returns, None, opts)
            });
        group = group.command(verb, cmd);
    }
    group = group
        .command("ls", ls_command(root.clone(), &parameters, pre))
        .command("usage", usage_command(root));
    CliDef::new(group)
}

/// Calls the method at `api_path` with the path parameters merged in.
fn call_api_method(
    root: &Router,
    env: &RpcEnv,
    http: HttpMethod,
    p: Params,
    pre: PreOptions,
) -> Result<ApiResponse, ApiError> {
    let mut params = p.0;
    let path = take_path(&mut params)?;
    params.remove("noproxy");
    let Some((method, resolved)) = root.find(http, &path) else {
        let verb = VERBS
            .iter()
            .find(|(_, m)| *m == http)
            .map_or("get", |(v, _)| *v);
        return Err(ApiError::internal(format!(
            "no '{verb}' handler for '{path}'\n"
        )));
    };
    check_proxyto(env, method, &resolved, &params, pre)?;
    params.extend(resolved.path_params);
    call_method(method, env, params)
}

fn take_path(params: &mut Map<String, Value>) -> Result<String, ApiError> {
    match params.remove("api_path") {
        Some(Value::String(s)) => Ok(s),
        _ => Err(ApiError::internal("missing API path\n")),
    }
}

/// A `proxyto` method aimed at another node would run there (upstream: over SSH). This
/// node is not part of a cluster yet, so any other node is unknown.
fn check_proxyto(
    env: &RpcEnv,
    method: &ApiMethod,
    resolved: &Resolved<'_>,
    params: &Map<String, Value>,
    pre: PreOptions,
) -> Result<(), ApiError> {
    let Some(param) = &method.proxyto else {
        return Ok(());
    };
    let node = resolved
        .path_params
        .get(param)
        .or_else(|| params.get(param))
        .and_then(Value::as_str);
    match node {
        Some(n) if n != "localhost" && n != env.node => {
            if pre.noproxy {
                Err(ApiError::internal("proxy loop detected - aborting\n"))
            } else {
                Err(ApiError::internal(format!("no such cluster node '{n}'\n")))
            }
        }
        _ => Ok(()),
    }
}

/// The `href` of a method's child link (`{node}`), if it has one.
fn child_link(method: &ApiMethod) -> Option<String> {
    let links = method.returns.links.as_ref()?.as_array()?;
    links
        .iter()
        .find(|l| l["rel"] == "child")
        .and_then(|l| l["href"].as_str())
        .map(str::to_string)
}

/// `D` for child links plus `r`, `w`, `c`, `d` for the methods on `path`.
fn capabilities(root: &Router, path: &str) -> String {
    let mut caps = String::new();
    match root.find(HttpMethod::Get, path) {
        None => caps.push_str("--"),
        Some((m, _)) => caps.push_str(if child_link(m).is_some() { "Dr" } else { "-r" }),
    }
    for (m, c) in [
        (HttpMethod::Put, 'w'),
        (HttpMethod::Post, 'c'),
        (HttpMethod::Delete, 'd'),
    ] {
        caps.push(if root.find(m, path).is_some() { c } else { '-' });
    }
    caps
}

fn ls_command(root: Arc<Router>, parameters: &Schema, pre: PreOptions) -> Command {
    let r = root.clone();
    let mut method = ApiMethod::new(
        "ls",
        HttpMethod::Get,
        "List child objects on <api_path>.",
        move |env, p| {
            let mut params = p.0;
            let path = take_path(&mut params)?;
            params.remove("noproxy");
            let Some((method, resolved)) = r.find(HttpMethod::Get, &path) else {
                return Err(ApiError::internal(format!("no such resource '{path}'\n")));
            };
            let Some(href) = child_link(method) else {
                return Err(ApiError::internal(format!(
                    "resource '{path}' does not define child links\n"
                )));
            };
            check_proxyto(env, method, &resolved, &params, pre)?;
            params.extend(resolved.path_params.clone());
            let data = call_method(method, env, params)?.data;
            let prop = href.trim_start_matches('{').trim_end_matches('}');
            let mut names: Vec<String> = data
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.get(prop))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            names.sort();
            let base = path.trim_end_matches('/');
            let list: Vec<Value> = names
            .iter()
            .map(|n| json!({"name": n, "capabilities": capabilities(&r, &format!("{base}/{n}"))}))
            .collect();
            Ok(Value::Array(list).into())
        },
    );
    method.parameters = parameters.clone();
    Command::new(CLASS, method)
        .args(&["api_path"])
        .formatter_props(output_options(parameters))
        .output(|w, data, _, opts| {
            // Upstream prints `ls` sorted by name, without border and header unless
            // asked otherwise.
            let mut params = opts.params.clone();
            params.entry("noborder").or_insert(json!(1));
            params.entry("noheader").or_insert(json!(1));
            let mut fo = format_options(&OutputOpts { params })?;
            fo.sort = TableSort::By("name".into());
            let schema = Schema::literal(json!({"type": "array", "items": {"type": "object"}}));
            let props = ["capabilities".to_string(), "name".to_string()];
            print_api_result(w, data, &schema, Some(&props), &fo)
        })
}

fn usage_command(root: Arc<Router>) -> Command {
    let method = ApiMethod::new("usage", HttpMethod::Get, "print API usage information for <api_path>.", move |_, p| {
        let path = p.required_str("api_path")?;
        let verbose = p.bool("verbose").unwrap_or(false);
        let returns = p.bool("returns").unwrap_or(false);
        let only = p.str("command");
        let mut text = String::new();
        let mut found = false;
        for (verb, http) in VERBS {
            if only.as_deref().is_some_and(|c| c != verb) {
                continue;
            }
            let Some((m, resolved)) = root.find(http, &path) else { continue };
            found = true;
            let prefix = format!("pvesh {verb} {path}");
            if verbose {
                text.push_str(&getopt_usage(m, &prefix, &ArgParam::None, &resolved.path_params, UsageFormat::Full, None));
            } else {
                text.push_str("USAGE: ");
                text.push_str(&getopt_usage(m, &prefix, &ArgParam::None, &resolved.path_params, UsageFormat::Short, None));
            }
            if returns {
                let schema = pve_common::cli::json::to_canonical_json_pretty(&m.returns.to_value());
                text.push_str(&format!("RETURNS: {}\n", schema.trim_end()));
            }
        }
        if !found {
            return Err(ApiError::internal(match only {
                Some(c) => format!("no '{c}' handler for '{path}'\n"),
                None => format!("no such resource '{path}'\n"),
            }));
        }
        Ok(Value::String(text).into())
    })
    .param("api_path", api_path_param())
    .param("verbose", Schema::literal(json!({"description": "Verbose output format.", "optional": 1, "type": "boolean"})))
    .param("returns", Schema::literal(json!({"description": "Including schema for returned data.", "optional": 1, "type": "boolean"})))
    .param("command", Schema::literal(json!({"description": "API command.", "enum": ["create", "delete", "get", "set"], "optional": 1, "type": "string"})));
    Command::new(CLASS, method)
        .args(&["api_path"])
        .output(|w, data, _, _| {
            w.write_all(data.as_str().unwrap_or_default().as_bytes())?;
            w.flush()
        })
}
