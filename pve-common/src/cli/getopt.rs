//! Command-line options to API parameters, as upstream's `get_options`: Getopt::Long
//! with `--` or `-` as prefix, unique-prefix abbreviations, case-insensitive names and
//! permuted positional arguments, then the positional parameters and the per-type fixes
//! (booleans, `-list` formats, single-element arrays).

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value};

use super::schema_walk::{for_each_property, is_list_format, is_object_like, property_schema};
use crate::api::ApiError;
use crate::schema::{parse_boolean, JsonType, Schema};

/// How the positional arguments of a command map to parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ArgParam {
    /// No positional arguments.
    #[default]
    None,
    /// All positional arguments form the value of one `-list` format parameter.
    List(String),
    /// The positional arguments in order; `extra-args` (last) takes the rest.
    Positional(Vec<String>),
}

impl ArgParam {
    /// Positional parameters from names.
    pub fn positional(names: &[&str]) -> Self {
        ArgParam::Positional(names.iter().map(|s| s.to_string()).collect())
    }

    /// The parameter names, in order.
    pub fn names(&self) -> Vec<&str> {
        match self {
            ArgParam::None => Vec::new(),
            ArgParam::List(n) => vec![n.as_str()],
            ArgParam::Positional(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

fn bad_request(msg: &str) -> ApiError {
    ApiError::new(400, format!("{msg}\n"))
}

/// Parses `args` against the object-like `schema`, printing Getopt's warnings
/// (`Unknown option: x`) to stderr as upstream does.
pub fn get_options(
    schema: &Schema,
    args: &[String],
    arg_param: &ArgParam,
    fixed: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    get_options_with(schema, args, arg_param, fixed, &mut |w| eprint!("{w}"))
}

/// [`get_options`], handing each Getopt warning line to `warn` instead.
pub fn get_options_with(
    schema: &Schema,
    args: &[String],
    arg_param: &ArgParam,
    fixed: &Map<String, Value>,
    warn: &mut dyn FnMut(&str),
) -> Result<Map<String, Value>, ApiError> {
    if !is_object_like(schema) {
        if !args.is_empty() {
            return Err(bad_request("too many arguments"));
        }
        return Ok(Map::new());
    }

    let list_param = match arg_param {
        ArgParam::List(name) => {
            if !property_schema(schema, name, None).is_some_and(is_list_format) {
                return Err(ApiError::internal(format!(
                    "expected list format for '{name}'\n"
                )));
            }
            Some(name.as_str())
        }
        _ => None,
    };

    // name → (value optional, repeatable)
    let mut specs: BTreeMap<String, OptSpec> = BTreeMap::new();
    for visit in for_each_property(schema) {
        if list_param == Some(visit.name) || fixed.contains_key(visit.name) {
            continue;
        }
        let pd = visit.schema;
        let (optional, array) = if super::schema_walk::has_type(pd, JsonType::Boolean) {
            (true, false)
        } else if is_list_format(pd) || super::schema_walk::has_type(pd, JsonType::Array) {
            (false, true)
        } else {
            (false, false)
        };
        let spec = specs
            .entry(visit.name.to_lowercase())
            .or_insert_with(|| OptSpec {
                name: visit.name.to_string(),
                optional,
                array,
            });
        spec.optional |= optional;
        spec.array |= array;
    }

    let (ok, mut opts, mut rest) = getopt_long(&specs, args, warn);
    if !ok {
        return Err(bad_request("unable to parse option"));
    }

    match arg_param {
        ArgParam::List(name) if !rest.is_empty() => {
            let values = std::mem::take(&mut rest).into_iter().map(Value::from);
            opts.insert(name.clone(), Value::Array(values.collect()));
        }
        ArgParam::Positional(names) => {
            assign_positional(schema, names, &mut rest, &mut opts)?;
        }
        _ => {}
    }
    if !rest.is_empty() {
        return Err(bad_request("too many arguments"));
    }

    let keys: Vec<String> = opts.keys().cloned().collect();
    for p in keys {
        let Some(pd) = property_schema(schema, &p, Some(&opts)) else {
            continue;
        };
        let value = opts[&p].clone();
        if super::schema_walk::has_type(pd, JsonType::Boolean) {
            let parsed = match &value {
                Value::String(s) if s.is_empty() => Some(true),
                Value::String(s) => parse_boolean(s),
                _ => None,
            };
            match parsed {
                Some(b) => {
                    opts.insert(p, Value::from(u8::from(b)));
                }
                None => return Err(bad_request("unable to parse boolean option")),
            }
        } else if is_list_format(pd) {
            if let Value::Array(items) = &value {
                let joined: Vec<String> = items
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect();
                opts.insert(p, Value::from(joined.join(",")));
            }
        } else if specs.get(&p.to_lowercase()).is_some_and(|s| s.array)
            && !super::schema_walk::has_type(pd, JsonType::Array)
        {
            if let Value::Array(items) = &value {
                if items.len() == 1 {
                    let single = items[0].clone();
                    opts.insert(p, single);
                }
            }
        }
    }

    for (k, v) in fixed {
        opts.insert(k.clone(), v.clone());
    }
    Ok(opts)
}

fn assign_positional(
    schema: &Schema,
    names: &[String],
    rest: &mut Vec<String>,
    opts: &mut Map<String, Value>,
) -> Result<(), ApiError> {
    if rest.is_empty() {
        for name in names {
            if name == "extra-args" {
                opts.insert(name.clone(), Value::Array(Vec::new()));
            } else if property_schema(schema, name, Some(opts)).is_some_and(|s| !s.is_optional()) {
                return Err(bad_request("not enough arguments"));
            }
        }
        return Ok(());
    }
    let mut args: VecDeque<String> = std::mem::take(rest).into();
    for (i, name) in names.iter().enumerate() {
        if opts
            .get("extra-args")
            .is_some_and(crate::schema::perl_truthy)
        {
            return Err(bad_request(
                "internal error: extra-args must be the last argument",
            ));
        }
        if name == "extra-args" {
            let all = std::mem::take(&mut args).into_iter().map(Value::from);
            opts.insert(name.clone(), Value::Array(all.collect()));
            continue;
        }
        let Some(arg) = args.pop_front() else {
            // Left-over positional parameters must all be optional, else the mapping
            // would be ambiguous; one missing from the selected variant counts as such.
            for left in &names[i..] {
                if property_schema(schema, left, Some(opts)).is_some_and(|s| !s.is_optional()) {
                    return Err(bad_request("not enough arguments"));
                }
            }
            if names.last().is_some_and(|n| n == "extra-args") {
                opts.insert("extra-args".into(), Value::Array(Vec::new()));
            }
            break;
        };
        opts.insert(name.clone(), Value::from(arg));
    }
    *rest = args.into();
    Ok(())
}

#[derive(Debug)]
struct OptSpec {
    /// The property name (the option's canonical name).
    name: String,
    /// `name:s`: the value may be left out.
    optional: bool,
    /// `name=s@`: repeating the option collects the values.
    array: bool,
}

enum Found<'a> {
    NotAnOption,
    Error,
    Value(&'a OptSpec, String),
}

/// Getopt::Long in permute mode. Returns success, the option values (strings, or
/// arrays of strings for repeatable options) and the arguments left over.
fn getopt_long(
    specs: &BTreeMap<String, OptSpec>,
    args: &[String],
    warn: &mut dyn FnMut(&str),
) -> (bool, Map<String, Value>, Vec<String>) {
    let mut argv: VecDeque<String> = args.iter().cloned().collect();
    let mut kept = Vec::new();
    let mut errors = 0;
    let mut opts = Map::new();
    while let Some(arg) = argv.pop_front() {
        if arg == "--" {
            break;
        }
        match find_option(specs, &arg, &mut argv, warn) {
            Found::NotAnOption => kept.push(arg),
            Found::Error => errors += 1,
            Found::Value(spec, value) => {
                if spec.array {
                    let slot = opts
                        .entry(spec.name.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(items) = slot {
                        items.push(Value::from(value));
                    }
                } else {
                    opts.insert(spec.name.clone(), Value::from(value));
                }
            }
        }
    }
    kept.extend(argv);
    (errors == 0, opts, kept)
}

fn find_option<'a>(
    specs: &'a BTreeMap<String, OptSpec>,
    arg: &str,
    argv: &mut VecDeque<String>,
    warn: &mut dyn FnMut(&str),
) -> Found<'a> {
    let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
        return Found::NotAnOption;
    };
    if arg == "-" {
        return Found::NotAnOption;
    }
    // `--name=value` (and `-name=value`): the first `=` after the first character.
    let (name, inline_value) = match body.char_indices().skip(1).find(|(_, c)| *c == '=') {
        Some((pos, _)) => (&body[..pos], Some(body[pos + 1..].to_string())),
        None => (body, None),
    };
    let typed = name.to_lowercase();
    let mut key = typed.clone();
    if !typed.is_empty() && !specs.contains_key(&typed) {
        let hits: Vec<&String> = specs.keys().filter(|k| k.starts_with(&typed)).collect();
        if hits.len() > 1 {
            let list: Vec<&str> = hits.iter().map(|s| s.as_str()).collect();
            warn(&format!(
                "Option {typed} is ambiguous ({})\n",
                list.join(", ")
            ));
            return Found::Error;
        }
        if let Some(hit) = hits.first() {
            key = (*hit).clone();
        }
    }
    let Some(spec) = specs.get(&key) else {
        warn(&format!("Unknown option: {typed}\n"));
        return Found::Error;
    };

    let missing = match &inline_value {
        Some(v) => v.is_empty(),
        None => argv.is_empty(),
    };
    if missing {
        if !spec.optional {
            warn(&format!("Option {key} requires an argument\n"));
            return Found::Error;
        }
        return Found::Value(spec, inline_value.unwrap_or_default());
    }
    if let Some(v) = inline_value {
        return Found::Value(spec, v);
    }
    let Some(value) = argv.pop_front() else {
        return Found::Value(spec, String::new());
    };
    if spec.optional
        && value != "-"
        && (value == "--" || (value.starts_with('-') && value.len() > 1))
    {
        // An optional value is not taken from what looks like the next option.
        argv.push_front(value);
        return Found::Value(spec, String::new());
    }
    Found::Value(spec, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::from_value(&json!({"additionalProperties": 0, "properties": {
            "vmid": {"type": "integer"},
            "memory": {"type": "string", "optional": 1},
            "force": {"type": "boolean", "optional": 1},
            "foo": {"type": "array", "items": {"type": "string"}, "optional": 1},
            "vmids": {"type": "string", "format": "pve-vmid-list", "optional": 1},
            "fooname": {"type": "string", "optional": 1},
            "extra-args": {"type": "array", "items": {"type": "string"}, "optional": 1},
        }}))
        .unwrap()
    }

    fn parse(args: &str, arg_param: &ArgParam) -> (Result<Map<String, Value>, ApiError>, String) {
        let args: Vec<String> = args.split_whitespace().map(str::to_string).collect();
        let mut warnings = String::new();
        let r = get_options_with(&schema(), &args, arg_param, &Map::new(), &mut |w| {
            warnings.push_str(w)
        });
        (r, warnings)
    }

    fn ok(args: &str, arg_param: &ArgParam) -> Value {
        Value::Object(parse(args, arg_param).0.unwrap())
    }

    fn err(args: &str, arg_param: &ArgParam) -> (String, String) {
        let (r, w) = parse(args, arg_param);
        let e = r.unwrap_err();
        assert_eq!(e.status, 400);
        (e.message, w)
    }

    #[test]
    fn positional_and_permuted() {
        let p = ArgParam::positional(&["vmid"]);
        assert_eq!(
            ok("--memory 5 100", &p),
            json!({"vmid": "100", "memory": "5"})
        );
        assert_eq!(
            ok("100 --memory=5", &p),
            json!({"vmid": "100", "memory": "5"})
        );
        assert_eq!(err("", &p).0, "not enough arguments\n");
        assert_eq!(err("100 101", &p).0, "too many arguments\n");
        assert_eq!(err("100", &ArgParam::None).0, "too many arguments\n");
        // `--` ends the options; what follows is positional.
        let e = ArgParam::positional(&["vmid", "extra-args"]);
        assert_eq!(
            ok("100 -- --force x", &e),
            json!({"vmid": "100", "extra-args": ["--force", "x"]})
        );
        assert_eq!(ok("100", &e), json!({"vmid": "100", "extra-args": []}));
    }

    #[test]
    fn booleans() {
        let p = ArgParam::None;
        assert_eq!(ok("--force", &p), json!({"force": 1}));
        assert_eq!(ok("--force=", &p), json!({"force": 1}));
        assert_eq!(ok("-force no", &p), json!({"force": 0}));
        assert_eq!(
            ok("--force --memory 5", &p),
            json!({"force": 1, "memory": "5"})
        );
        assert_eq!(
            err("--force maybe", &p).0,
            "unable to parse boolean option\n"
        );
        // "-" is taken as the value, and is no boolean.
        assert_eq!(err("--force -", &p).0, "unable to parse boolean option\n");
    }

    #[test]
    fn lists_and_arrays() {
        let p = ArgParam::None;
        assert_eq!(ok("--vmids 1 --vmids 2,3", &p), json!({"vmids": "1,2,3"}));
        assert_eq!(ok("--foo a", &p), json!({"foo": ["a"]}));
        assert_eq!(ok("--foo a --foo b", &p), json!({"foo": ["a", "b"]}));
        let l = ArgParam::List("vmids".into());
        assert_eq!(ok("1 2 3", &l), json!({"vmids": "1,2,3"}));
    }

    #[test]
    fn getopt_errors_and_abbreviations() {
        let p = ArgParam::None;
        assert_eq!(ok("--mem 5", &p), json!({"memory": "5"}));
        assert_eq!(ok("--Foo=bar", &p), json!({"foo": ["bar"]}));
        let (m, w) = err("--bogus 1", &p);
        assert_eq!(
            (m.as_str(), w.as_str()),
            ("unable to parse option\n", "Unknown option: bogus\n")
        );
        let (_, w) = err("--fo 1", &p);
        assert_eq!(w, "Option fo is ambiguous (foo, fooname, force)\n");
        let (_, w) = err("--memory", &p);
        assert_eq!(w, "Option memory requires an argument\n");
        let (_, w) = err("--mem=", &p);
        assert_eq!(w, "Option memory requires an argument\n");
        // Every bad option is reported before the parse fails.
        let (_, w) = err("--x --y", &p);
        assert_eq!(w, "Unknown option: x\nUnknown option: y\n");
    }

    #[test]
    fn fixed_parameters_win_and_are_no_options() {
        let mut fixed = Map::new();
        fixed.insert("memory".into(), json!("7"));
        let args = vec!["--memory".to_string(), "1".to_string()];
        let mut w = String::new();
        let r = get_options_with(&schema(), &args, &ArgParam::None, &fixed, &mut |x| {
            w.push_str(x)
        });
        assert!(r.is_err());
        assert_eq!(w, "Unknown option: memory\n");
        let r = get_options_with(&schema(), &[], &ArgParam::None, &fixed, &mut |_| {}).unwrap();
        assert_eq!(Value::Object(r), json!({"memory": "7"}));
    }

    #[test]
    fn odd_input_never_panics() {
        for args in [
            "-",
            "--",
            "---",
            "-=",
            "--=x",
            "--é=ü",
            "-\u{0}",
            "--force=é",
        ] {
            let _ = parse(args, &ArgParam::positional(&["vmid", "extra-args"]));
        }
    }
}
