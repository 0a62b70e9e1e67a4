//! Printing API results the way upstream's command line tools do (`pvesh`, `pveum`,
//! `pvesm`, …): `--output-format text|json|json-pretty|yaml`, `--noborder`,
//! `--noheader`, `--human-readable`.
//!
//! Text output is a table: objects as `key`/`value` rows, lists of objects with one
//! column per property, lists of scalars one value per row. Values go through the
//! schema's `renderer` when human-readable output is on.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::json::{to_canonical_json, to_canonical_json_pretty};
use super::table::{render_table, TableLayout};
use super::yaml::{dump_yaml, render_yaml};
use crate::perl::{numify, scalar_to_string};
use crate::schema::{perl_truthy, JsonType, Schema};
use crate::units;

/// `--output-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    JsonPretty,
    Yaml,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
            OutputFormat::JsonPretty => "json-pretty",
            OutputFormat::Yaml => "yaml",
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutputFormat {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(OutputFormat::Text),
            "json" => Ok(OutputFormat::Json),
            "json-pretty" => Ok(OutputFormat::JsonPretty),
            "yaml" => Ok(OutputFormat::Yaml),
            other => Err(FormatError::UnknownFormat(other.to_string())),
        }
    }
}

/// Which column orders the rows of a table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TableSort {
    /// The leftmost printed column (upstream's default).
    #[default]
    FirstColumn,
    /// A named property (it need not be printed).
    By(String),
    /// Keep the data's order (upstream's `sort_key => 0`).
    Unsorted,
}

/// How a result is printed: the command's format options plus what the terminal
/// allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatOptions {
    pub format: OutputFormat,
    /// `--noborder`: columns separated by spaces, no rules.
    pub noborder: bool,
    /// `--noheader`: no title row.
    pub noheader: bool,
    /// `--human-readable` (default on): apply the schema's renderers.
    pub human_readable: bool,
    /// Box-drawing borders instead of ASCII (the locale's codeset is UTF-8).
    pub utf8: bool,
    /// Table text goes out in a non-UTF-8 codeset: non-ASCII characters become `?`.
    pub ascii_only: bool,
    /// Cut table lines to this many characters (the terminal width; only when stdout
    /// is a terminal).
    pub columns: Option<usize>,
    pub sort: TableSort,
    /// `--quiet`: print nothing.
    pub quiet: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        Self {
            format: OutputFormat::Text,
            noborder: false,
            noheader: false,
            human_readable: true,
            utf8: true,
            ascii_only: false,
            columns: None,
            sort: TableSort::FirstColumn,
            quiet: false,
        }
    }
}

impl FormatOptions {
    /// Defaults with the terminal settings of this process: the locale from
    /// `LC_ALL`/`LC_CTYPE`/`LANG` and, when stdout is a terminal, its width.
    pub fn from_env() -> Self {
        let mut opts = Self::from_env_vars(|name| std::env::var(name).ok());
        opts.columns = stdout_terminal_width();
        opts
    }

    /// Defaults with the locale taken from the given environment lookup; no width limit.
    pub fn from_env_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let utf8 = locale_is_utf8(lookup);
        Self {
            utf8,
            ascii_only: !utf8,
            ..Self::default()
        }
    }

    /// Upstream's plain printing (`print_api_result_plain`): no header, no border, ASCII
    /// rules, no width limit, UTF-8 text.
    pub fn plain() -> Self {
        Self {
            noborder: true,
            noheader: true,
            utf8: false,
            ascii_only: false,
            ..Self::default()
        }
    }
}

/// The codeset of the effective `LC_CTYPE` locale is UTF-8 (what upstream asks
/// `langinfo(CODESET)`); `C`/`POSIX` and unset are not.
fn locale_is_utf8(lookup: impl Fn(&str) -> Option<String>) -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .filter_map(|name| lookup(name))
        .find(|value| !value.is_empty());
    let Some(locale) = locale else {
        return false;
    };
    let Some((_, codeset)) = locale.split_once('.') else {
        return false;
    };
    let codeset = codeset.split('@').next().unwrap_or("");
    let normalized: String = codeset
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    normalized == "utf8"
}

fn stdout_terminal_width() -> Option<usize> {
    // SAFETY: isatty only inspects the file descriptor.
    if unsafe { libc::isatty(libc::STDOUT_FILENO) } != 1 {
        return None;
    }
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) };
    (rc == 0 && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

/// Why a result could not be printed; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("unknown output format '{0}'")]
    UnknownFormat(String),
    #[error("internal error: unknown renderer '{0}'")]
    UnknownRenderer(String),
    #[error("got hash object, but result schema specified array!")]
    HashForArray,
    #[error("unable to detect list properties")]
    NoListProperties,
    #[error("result is not {0}")]
    TypeMismatch(&'static str),
}

/// A value as one table cell (upstream's `data_to_text`): null is empty; with
/// human-readable output booleans print as `1`/`0` and renderers apply; structures
/// print as canonical JSON.
pub fn data_to_text(
    data: Option<&Value>,
    schema: Option<&Schema>,
    opts: &FormatOptions,
) -> Result<String, FormatError> {
    let data = match data {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(data) => data,
    };
    if opts.human_readable {
        if let Some(schema) = schema {
            if schema.single_type() == Some(JsonType::Boolean) {
                return Ok(if perl_truthy(data) { "1" } else { "0" }.into());
            }
            if let Some(renderer) = &schema.renderer {
                return render(renderer, data);
            }
        }
    }
    Ok(match data {
        Value::Object(_) | Value::Array(_) | Value::Bool(_) => to_canonical_json(data),
        other => scalar_to_string(other),
    })
}

/// Applies one of upstream's registered renderers.
pub fn render(renderer: &str, data: &Value) -> Result<String, FormatError> {
    let number = || numify(data);
    let epoch = || {
        let n = number();
        if n.is_finite() {
            n.trunc() as i64
        } else {
            0
        }
    };
    Ok(match renderer {
        "timestamp" => units::render_timestamp(epoch()),
        "timestamp_gmt" => units::render_timestamp_gmt(epoch()),
        // Upstream hands the option hash as second argument, which turns on the
        // accuracy limit.
        "duration" => units::render_duration_limited(number(), true),
        "fraction_as_percentage" => units::render_fraction_as_percentage(number()),
        "bytes" => units::render_bytes(number(), None),
        "yaml" => render_yaml(data),
        other => return Err(FormatError::UnknownRenderer(other.to_string())),
    })
}

fn guess_type(data: &Value) -> JsonType {
    match data {
        Value::Null => JsonType::Null,
        Value::Object(_) => JsonType::Object,
        Value::Array(_) => JsonType::Array,
        _ => JsonType::String,
    }
}

/// The schema of property `key`. Schemas in API dumps fold numbered properties
/// (`net0`, `net1`, …) into one `net[n]` entry; such an entry stands for every
/// `net<digits>`.
pub fn property_schema<'a>(
    props: Option<&'a crate::schema::Properties>,
    key: &str,
) -> Option<&'a Schema> {
    let props = props?;
    if let Some(schema) = props.get(key) {
        return Some(schema);
    }
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.len() == key.len() || base.is_empty() {
        return None;
    }
    props.get(&format!("{base}[n]")).map(|s| &**s)
}

/// Upstream's column list for an object schema: required properties sorted, then
/// optional ones sorted. A folded `name[n]` property expands to the matching keys of
/// `data_keys`.
pub fn properties_to_print<'a>(
    schema: Option<&Schema>,
    data_keys: impl Iterator<Item = &'a String>,
) -> Vec<String> {
    let Some(props) = schema.and_then(|s| s.properties.as_ref()) else {
        return Vec::new();
    };
    let mut required = Vec::new();
    let mut optional = Vec::new();
    for (key, prop) in props {
        if key.ends_with("[n]") {
            continue;
        }
        if prop.is_optional() {
            optional.push(key.clone());
        } else {
            required.push(key.clone());
        }
    }
    let mut expanded: Vec<String> = data_keys
        .filter(|k| !props.contains_key(*k) && property_schema(Some(props), k).is_some())
        .cloned()
        .collect();
    expanded.sort();
    expanded.dedup();
    for key in expanded {
        match property_schema(Some(props), &key) {
            Some(prop) if !prop.is_optional() => required.push(key),
            _ => optional.push(key),
        }
    }
    required.sort();
    optional.sort();
    required.into_iter().chain(optional).collect()
}

/// Prints an API result like upstream's `print_api_result`, returning the text that
/// goes to stdout. On data the schema does not describe it prints nothing; use
/// [`try_format_api_result`] to see why.
pub fn format_api_result(
    data: &Value,
    returns: &Schema,
    props_to_print: Option<&[String]>,
    opts: &FormatOptions,
) -> String {
    try_format_api_result(data, returns, props_to_print, opts).unwrap_or_default()
}

/// [`format_api_result`] with its errors.
pub fn try_format_api_result(
    data: &Value,
    returns: &Schema,
    props_to_print: Option<&[String]>,
    opts: &FormatOptions,
) -> Result<String, FormatError> {
    if opts.quiet {
        return Ok(String::new());
    }
    let guessed;
    let (result_type, schema) = match returns.type_.as_ref() {
        Some(_) => {
            let ty = returns.single_type();
            if ty == Some(JsonType::Null) || (returns.is_optional() && data.is_null()) {
                return Ok(String::new());
            }
            (ty, returns)
        }
        None => {
            let ty = guess_type(data);
            let mut schema = Schema::of_type(ty);
            if ty == JsonType::Array {
                let first = data.get(0).unwrap_or(&Value::Null);
                schema.items = Some(Box::new(Schema::of_type(guess_type(first))));
            }
            guessed = schema;
            (Some(ty), &guessed)
        }
    };

    match opts.format {
        OutputFormat::Yaml => Ok(dump_yaml(data)),
        OutputFormat::Json => Ok(to_canonical_json(data) + "\n"),
        OutputFormat::JsonPretty => Ok(to_canonical_json_pretty(data)),
        OutputFormat::Text => match result_type {
            Some(JsonType::Object) => format_object(data, schema, props_to_print, opts),
            Some(JsonType::Array) => format_array(data, schema, props_to_print, opts),
            _ => Ok(format!("{}\n", scalar_to_string(data))),
        },
    }
}

fn format_object(
    data: &Value,
    schema: &Schema,
    props_to_print: Option<&[String]>,
    opts: &FormatOptions,
) -> Result<String, FormatError> {
    let Value::Object(map) = data else {
        return Err(FormatError::TypeMismatch("an object"));
    };
    let mut props = match props_to_print {
        Some(props) => props.to_vec(),
        None => properties_to_print(Some(schema), map.keys()),
    };
    if props.is_empty() {
        props = map.keys().cloned().collect();
        props.sort();
    }
    let mut kv_rows = Vec::new();
    for key in &props {
        let Some(value) = map.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let prop_schema = property_schema(schema.properties.as_ref(), key);
        let text = data_to_text(Some(value), prop_schema, opts)?;
        let mut row = Map::new();
        row.insert("key".into(), Value::String(key.clone()));
        row.insert("value".into(), Value::String(text));
        kv_rows.push(row);
    }
    let mut rows: Vec<&Map<String, Value>> = kv_rows.iter().collect();
    let columns = ["key".to_string(), "value".to_string()];
    let layout = TableLayout {
        opts,
        noheader: opts.noheader,
    };
    render_table(&mut rows, None, &columns, &layout)
}

fn format_array(
    data: &Value,
    schema: &Schema,
    props_to_print: Option<&[String]>,
    opts: &FormatOptions,
) -> Result<String, FormatError> {
    let items = match data {
        Value::Array(items) if items.is_empty() => return Ok(String::new()),
        Value::Array(items) => items,
        Value::Object(map) if map.is_empty() => return Ok(String::new()),
        Value::Object(_) => return Err(FormatError::HashForArray),
        _ => return Err(FormatError::TypeMismatch("an array")),
    };
    let item_schema = schema.items.as_deref();
    let item_type = item_schema.and_then(Schema::single_type);
    if item_type == Some(JsonType::Object) {
        let mut rows = Vec::with_capacity(items.len());
        for item in items {
            match item {
                Value::Object(map) => rows.push(map),
                _ => return Err(FormatError::TypeMismatch("a list of objects")),
            }
        }
        let returnprops = item_schema.and_then(|s| s.properties.as_ref());
        let mut props = match props_to_print {
            Some(props) => props.to_vec(),
            None => properties_to_print(item_schema, rows.iter().flat_map(|r| r.keys())),
        };
        if props.is_empty() {
            let mut all: Vec<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
            all.sort();
            all.dedup();
            props = all;
        }
        if props.is_empty() {
            return Err(FormatError::NoListProperties);
        }
        let layout = TableLayout {
            opts,
            noheader: opts.noheader,
        };
        render_table(&mut rows, returnprops, &props, &layout)
    } else {
        let value_rows: Vec<Map<String, Value>> = items
            .iter()
            .map(|v| {
                let mut row = Map::new();
                row.insert("value".into(), v.clone());
                row
            })
            .collect();
        let mut rows: Vec<&Map<String, Value>> = value_rows.iter().collect();
        let mut props = crate::schema::Properties::new();
        props.insert(
            "value".to_string(),
            std::sync::Arc::new(
                item_schema
                    .cloned()
                    .unwrap_or_else(|| Schema::of_type(JsonType::String)),
            ),
        );
        let layout = TableLayout {
            opts,
            noheader: true,
        };
        render_table(&mut rows, Some(&props), &["value".to_string()], &layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        Schema::from_value(&v).expect("valid schema")
    }

    fn list_schema() -> Schema {
        schema(
            json!({"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"},
                "size": {"type": "integer", "optional": 1, "renderer": "bytes"},
                "on": {"type": "boolean", "optional": 1},
            }}}),
        )
    }

    fn ascii() -> FormatOptions {
        FormatOptions {
            utf8: false,
            ..FormatOptions::default()
        }
    }

    #[test]
    fn list_table_sorted_right_aligned_rendered() {
        let data = json!([{"name": "b", "size": 2048, "on": true}, {"name": "a", "on": 0}]);
        let out = format_api_result(&data, &list_schema(), None, &ascii());
        assert_eq!(
            out,
            "+------+----+----------+\n\
             | name | on |     size |\n\
             +======+====+==========+\n\
             | a    | 0  |          |\n\
             +------+----+----------+\n\
             | b    | 1  | 2.00 KiB |\n\
             +------+----+----------+\n"
        );
        let raw = FormatOptions {
            human_readable: false,
            noborder: true,
            ..ascii()
        };
        let out = format_api_result(&data, &list_schema(), None, &raw);
        assert_eq!(out, "name on   size\na    0    \nb    true 2048\n");
    }

    #[test]
    fn noheader_and_explicit_columns() {
        let data = json!([{"name": "x", "size": 1}]);
        let opts = FormatOptions {
            noheader: true,
            ..FormatOptions::default()
        };
        let cols = ["size".to_string()];
        let out = format_api_result(&data, &list_schema(), Some(&cols), &opts);
        assert_eq!(out, "┌────────┐\n│ 1.00 B │\n└────────┘\n");
    }

    #[test]
    fn scalar_lists_and_scalars() {
        let s = schema(json!({"type": "array", "items": {"type": "integer"}}));
        let out = format_api_result(&json!([10, 9, 100]), &s, None, &ascii());
        assert_eq!(
            out,
            "+-------+\n|     9 |\n+-------+\n|    10 |\n+-------+\n|   100 |\n+-------+\n"
        );
        let s = schema(json!({"type": "string"}));
        assert_eq!(format_api_result(&json!("hi"), &s, None, &ascii()), "hi\n");
        let s = schema(json!({"type": "null"}));
        assert_eq!(format_api_result(&json!("hi"), &s, None, &ascii()), "");
        let s = schema(json!({"type": "array", "items": {"type": "string"}}));
        assert_eq!(format_api_result(&json!([]), &s, None, &ascii()), "");
    }

    #[test]
    fn one_column_ascii_header_rule_has_no_corner() {
        let data = json!([{"k": "v"}]);
        let s = schema(json!({"type": "array", "items": {"type": "object"}}));
        let out = format_api_result(&data, &s, None, &ascii());
        assert_eq!(out, "+---+\n| k |\n+===\n| v |\n+---+\n");
    }

    #[test]
    fn object_table_multiline_and_json_values() {
        let data = json!({"b": "one\ntwo\n", "a": {"x": [1, true]}, "c": null});
        let s = schema(json!({"type": "object"}));
        let opts = FormatOptions {
            noborder: true,
            ..FormatOptions::default()
        };
        let out = format_api_result(&data, &s, None, &opts);
        assert_eq!(out, "key value\na   {\"x\":[1,true]}\nb   one\n    two\n");
    }

    #[test]
    fn cutoff_and_terminal_width() {
        let data = json!([{"name": "abcdefgh"}]);
        let s = schema(
            json!({"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 3, "title": "Name"}}}}),
        );
        let out = format_api_result(&data, &s, None, &ascii());
        assert_eq!(out, "+-----+\n| Name |\n+=====\n| abc |\n+-----+\n");
        let opts = FormatOptions {
            columns: Some(4),
            ..ascii()
        };
        let out = format_api_result(&data, &s, None, &opts);
        assert_eq!(out, "+---\n| Na\n+===\n| ab\n+---\n");
    }

    #[test]
    fn non_utf8_codeset_replaces_non_ascii() {
        let data = json!({"k": "Grüße"});
        let opts = FormatOptions::from_env_vars(|n| (n == "LANG").then(|| "C".to_string()));
        let out = format_api_result(&data, &schema(json!({"type": "object"})), None, &opts);
        assert!(out.contains("| Gr??e |"), "{out}");
    }

    #[test]
    fn machine_formats() {
        let data = json!({"b": 0.5, "a": "2048"});
        let s = schema(json!({"type": "object"}));
        let mut opts = FormatOptions {
            format: OutputFormat::Json,
            ..FormatOptions::default()
        };
        assert_eq!(
            format_api_result(&data, &s, None, &opts),
            "{\"a\":\"2048\",\"b\":0.5}\n"
        );
        opts.format = OutputFormat::JsonPretty;
        assert_eq!(
            format_api_result(&data, &s, None, &opts),
            "{\n   \"a\" : \"2048\",\n   \"b\" : 0.5\n}\n"
        );
        opts.format = OutputFormat::Yaml;
        assert_eq!(
            format_api_result(&data, &s, None, &opts),
            "---\na: '2048'\nb: 0.5\n"
        );
    }

    #[test]
    fn errors_do_not_panic() {
        let arr = schema(json!({"type": "array", "items": {"type": "object"}}));
        let obj = schema(json!({"type": "object"}));
        let opts = FormatOptions::default();
        assert_eq!(
            try_format_api_result(&json!({"a": 1}), &arr, None, &opts),
            Err(FormatError::HashForArray)
        );
        assert_eq!(
            try_format_api_result(&json!([{}]), &arr, None, &opts),
            Err(FormatError::NoListProperties)
        );
        assert!(try_format_api_result(&json!([1]), &arr, None, &opts).is_err());
        assert!(try_format_api_result(&json!("x"), &obj, None, &opts).is_err());
        let bad = schema(json!({"type": "object", "properties": {"a": {"renderer": "nope"}}}));
        assert_eq!(
            try_format_api_result(&json!({"a": 1}), &bad, None, &opts),
            Err(FormatError::UnknownRenderer("nope".into()))
        );
        assert_eq!(format_api_result(&json!({"a": 1}), &bad, None, &opts), "");
        // No schema type: guessed from the data.
        let none = Schema::default();
        assert_eq!(format_api_result(&json!(null), &none, None, &opts), "\n");
        let out = format_api_result(&json!(["b", "a"]), &none, None, &ascii());
        // The hidden title `value` still counts for the width, as upstream.
        assert_eq!(
            out,
            "+-------+\n| a     |\n+-------+\n| b     |\n+-------+\n"
        );
    }

    #[test]
    fn renderers() {
        let r = |name: &str, v: Value| render(name, &v).unwrap();
        assert_eq!(r("duration", json!(4303)), "1h 11m 43s");
        assert_eq!(r("duration", json!(694861)), "1w 1d 1h");
        assert_eq!(
            r("fraction_as_percentage", json!(0.157894736842105)),
            "15.79%"
        );
        assert_eq!(r("bytes", json!("25276502016")), "23.54 GiB");
        assert_eq!(r("timestamp_gmt", json!(0)), "1970-01-01 00:00:00");
        assert_eq!(r("yaml", json!({"a": 1})), "a: 1\n");
    }

    #[test]
    fn locale_detection_and_format_names() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(FormatOptions::from_env_vars(env(&[("LANG", "C.UTF-8")])).utf8);
        assert!(FormatOptions::from_env_vars(env(&[("LANG", "de_AT.utf8@euro")])).utf8);
        assert!(!FormatOptions::from_env_vars(env(&[("LANG", "C")])).utf8);
        assert!(!FormatOptions::from_env_vars(env(&[])).utf8);
        assert!(!FormatOptions::from_env_vars(env(&[("LC_ALL", "C"), ("LANG", "C.UTF-8")])).utf8);
        for f in ["text", "json", "json-pretty", "yaml"] {
            assert_eq!(f.parse::<OutputFormat>().unwrap().as_str(), f);
        }
        assert!("xml".parse::<OutputFormat>().is_err());
    }

    #[test]
    fn folded_numbered_properties() {
        let s = schema(json!({"type": "object", "properties": {
            "net[n]": {"type": "string", "optional": 1},
            "name": {"type": "string", "optional": 1}}}));
        let data = json!({"net10": "b", "net2": "a", "name": "x", "other": "y"});
        let opts = FormatOptions {
            noborder: true,
            noheader: true,
            ..FormatOptions::default()
        };
        let out = format_api_result(&data, &s, None, &opts);
        assert_eq!(out, "name  x\nnet10 b\nnet2  a\n");
    }
}
