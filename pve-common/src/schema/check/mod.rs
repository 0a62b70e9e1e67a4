//! Validation of JSON values against a [`Schema`], with upstream's per-parameter error
//! texts (`PVE::JSONSchema::check_prop` / `check_object`).
//!
//! Errors are collected in an [`ErrorMap`] keyed by the parameter path (`net0`,
//! `list[2]`, `oneOf[two].first`); an empty path is reported as `_root`. Objects are
//! checked in place: keys that are an `alias` of another key are renamed to their target,
//! as upstream does, so the backend only sees canonical names.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use serde_json::{Map, Value};

use super::{formats, perl_truthy, Additional, FormatSpec, JsonType, Schema, TypeSpec};

/// Parameter path → error message.
pub type ErrorMap = BTreeMap<String, String>;

/// A failed [`validate`]: upstream's HTTP 400 `Parameter verification failed.` with the
/// per-parameter messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterError {
    pub errors: ErrorMap,
}

impl fmt::Display for ParameterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Parameter verification failed.")?;
        for (k, v) in &self.errors {
            write!(f, "\n{k}: {v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParameterError {}

const NOT_IN_SCHEMA: &str =
    "property is not defined in schema and the schema does not allow additional properties";

/// Adds an error for `path`; a second message for the same path is appended after a
/// literal `\n` (two characters), exactly as upstream joins them.
pub fn add_error(errors: &mut ErrorMap, path: &str, msg: impl Into<String>) {
    let key = if path.is_empty() { "_root" } else { path };
    let msg = msg.into();
    match errors.get_mut(key) {
        Some(old) => {
            old.push_str("\\n");
            old.push_str(&msg);
        }
        None => {
            errors.insert(key.to_string(), msg);
        }
    }
}

fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Perl's string form of a JSON number (see [`crate::perl::json_number_to_string`]).
pub fn number_text(n: &serde_json::Number) -> String {
    crate::perl::json_number_to_string(n)
}

/// The string a scalar stands for in Perl (`None` for null, arrays and objects;
/// booleans as `1`/`0`).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_text(n)),
        Value::Bool(b) => Some(if *b { "1" } else { "0" }.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// Upstream's `is_number` (decimal, optional fraction and exponent).
pub fn is_number(text: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[+-]?(?:[0-9]+\.[0-9]+|[0-9]+\.|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?$")
            .expect("number regex")
    });
    RE.is_match(text)
}

/// Upstream's `is_integer`.
pub fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A schema `pattern`, anchored as `^(?:…)$` and compiled once per distinct pattern.
/// A Perl pattern in the `regex` crate's syntax. Upstream's published patterns carry
/// Perl's stringified-regex groups `(?^:…)` / `(?^i:…)` ("default flags"), which are
/// plain `(?:…)` / `(?i:…)` groups.
pub fn perl_pattern(pattern: &str) -> String {
    pattern.replace("(?^", "(?")
}

fn pattern_matches(pattern: &str, text: &str) -> Result<bool, String> {
    static CACHE: LazyLock<Mutex<HashMap<String, Regex>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(re) = cache.get(pattern) {
        return Ok(re.is_match(text));
    }
    let re = Regex::new(&format!("^(?:{})$", perl_pattern(pattern)))
        .map_err(|e| format!("invalid regex pattern in schema: {e}"))?;
    let res = re.is_match(text);
    if cache.len() < 4096 {
        cache.insert(pattern.to_string(), re);
    }
    Ok(res)
}

fn is_type(schema: &Schema, t: JsonType) -> bool {
    matches!(&schema.type_, Some(TypeSpec::One(x)) if *x == t)
}

fn perl_ref_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) => "ARRAY",
        Value::Object(_) => "HASH",
        _ => "JSON::PP::Boolean",
    }
}

fn check_one_type(path: &str, t: JsonType, value: &Value, errors: &mut ErrorMap) -> bool {
    let name = t.as_str();
    match t {
        JsonType::Any => return true,
        JsonType::Null => {
            if !value.is_null() {
                add_error(
                    errors,
                    path,
                    format!("type check ('{name}') failed - value is not null"),
                );
                return false;
            }
            return true;
        }
        _ => {}
    }
    if value.is_null() {
        add_error(errors, path, format!("type check ('{name}') failed"));
        return false;
    }
    let ok = match t {
        JsonType::Array => value.is_array(),
        JsonType::Object => value.is_object(),
        JsonType::Coderef => false,
        _ => {
            if matches!(value, Value::Array(_) | Value::Object(_) | Value::Bool(_)) {
                if t == JsonType::Boolean && value.is_boolean() {
                    return true;
                }
                add_error(
                    errors,
                    path,
                    format!(
                        "type check ('{name}') failed - got {}",
                        perl_ref_name(value)
                    ),
                );
                return false;
            }
            let text = scalar_text(value).unwrap_or_default();
            let ok = match t {
                JsonType::Boolean => text == "1" || text == "0",
                JsonType::Integer => is_integer(&text),
                JsonType::Number => is_number(&text),
                _ => true,
            };
            if !ok {
                add_error(
                    errors,
                    path,
                    format!("type check ('{name}') failed - got '{text}'"),
                );
            }
            return ok;
        }
    };
    if !ok {
        add_error(errors, path, format!("type check ('{name}') failed"));
    }
    ok
}

fn check_type(path: &str, ty: Option<&TypeSpec>, value: &mut Value, errors: &mut ErrorMap) -> bool {
    match ty {
        None => true,
        Some(TypeSpec::One(t)) => check_one_type(path, *t, value, errors),
        Some(TypeSpec::Many(list)) => {
            for t in list {
                let mut tmp = ErrorMap::new();
                if check_one_type(path, *t, value, &mut tmp) {
                    return true;
                }
            }
            let names: Vec<&str> = list.iter().map(|t| t.as_str()).collect();
            add_error(
                errors,
                path,
                format!("type check ('{}') failed", names.join("|")),
            );
            false
        }
        Some(TypeSpec::Schema(inner)) => {
            let mut tmp = ErrorMap::new();
            prop(Some(value), inner, path, &mut tmp, None, None);
            if tmp.is_empty() {
                return true;
            }
            add_error(errors, path, "type check failed");
            false
        }
    }
}

/// Checks `value` against `schema`, adding errors under `path`. Works on a copy: alias
/// keys in nested objects are not rewritten in `value` (see [`check_prop_mut`]).
pub fn check_prop(value: &Value, schema: &Schema, path: &str, errors: &mut ErrorMap) {
    let mut copy = value.clone();
    check_prop_mut(&mut copy, schema, path, errors);
}

/// [`check_prop`] on the value itself: alias keys in (nested) objects are renamed to
/// their targets, as upstream does.
pub fn check_prop_mut(value: &mut Value, schema: &Schema, path: &str, errors: &mut ErrorMap) {
    prop(Some(value), schema, path, errors, None, None);
}

/// Checks an object against a map of property schemas. With `additional_properties`
/// false, keys not in `properties` are errors; otherwise they pass unchecked. Alias keys
/// are renamed to their target in place (both set is an error).
pub fn check_object<S: Borrow<Schema>>(
    value: &mut Map<String, Value>,
    properties: &BTreeMap<String, S>,
    additional_properties: bool,
    path: &str,
    errors: &mut ErrorMap,
) {
    let additional = Additional::Bool(additional_properties);
    object(path, properties, value, Some(&additional), errors, None);
}

/// Validates a whole value (e.g. a request's parameters) against its schema, renaming
/// alias keys in place.
pub fn validate(value: &mut Value, schema: &Schema) -> Result<(), ParameterError> {
    let mut errors = ErrorMap::new();
    check_prop_mut(value, schema, "", &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ParameterError { errors })
    }
}

fn instance_type_of<S: Borrow<Schema>>(
    properties: &BTreeMap<String, S>,
    key: &str,
    value: &Map<String, Value>,
) -> Option<String> {
    let tp = properties.get(key)?.borrow().type_property.as_deref()?;
    value.get(tp).and_then(scalar_text)
}

pub(crate) fn object<S: Borrow<Schema>>(
    path: &str,
    properties: &BTreeMap<String, S>,
    value: &mut Map<String, Value>,
    additional: Option<&Additional>,
    errors: &mut ErrorMap,
    mut collect_unknown: Option<&mut BTreeSet<String>>,
) {
    let keys: Vec<String> = value.keys().cloned().collect();
    for k in &keys {
        let Some(alias) = properties.get(k).and_then(|s| s.borrow().alias.as_deref()) else {
            continue;
        };
        if value.get(alias).is_some_and(|v| !v.is_null()) {
            add_error(
                errors,
                &join_path(path, k),
                format!("cannot set both '{k}' and its alias target '{alias}'"),
            );
        } else if let Some(v) = value.remove(k) {
            value.insert(alias.to_string(), v);
        }
    }

    for (k, sub) in properties {
        let sub: &Schema = sub.borrow();
        // An absent optional property without alternatives has nothing to check (what
        // `prop` would conclude, without building its path): most properties of a
        // property string are absent.
        if sub.one_of.is_none()
            && sub.type_property.is_none()
            && (sub.is_optional() || sub.alias.is_some())
            && value.get(k).is_none_or(Value::is_null)
        {
            continue;
        }
        let it = sub
            .type_property
            .as_deref()
            .and_then(|tp| value.get(tp))
            .and_then(scalar_text);
        prop(
            value.get_mut(k),
            sub,
            &join_path(path, k),
            errors,
            it.as_deref(),
            None,
        );
    }

    let keys: Vec<String> = value.keys().cloned().collect();
    for k in &keys {
        let newpath = join_path(path, k);
        if let Some(sub) = properties.get(k) {
            let sub: &Schema = sub.borrow();
            match &sub.requires {
                Some(Value::Object(_)) => {
                    if let Some(req) = sub
                        .requires
                        .as_ref()
                        .and_then(|r| Schema::from_value(r).ok())
                    {
                        let mut whole = Value::Object(std::mem::take(value));
                        prop(Some(&mut whole), &req, path, errors, None, None);
                        if let Value::Object(m) = whole {
                            *value = m;
                        }
                    }
                }
                Some(r) if !r.is_null() => {
                    let req = scalar_text(r).unwrap_or_default();
                    if value.get(&req).is_none_or(Value::is_null) {
                        add_error(
                            errors,
                            &join_path(path, &req),
                            format!("missing property required by '{newpath}'"),
                        );
                    }
                }
                _ => {}
            }

            let mut matched = true;
            if let Some(one_of) = &sub.one_of {
                let it = instance_type_of(properties, k, value).unwrap_or_default();
                matched = one_of.iter().any(|alt| {
                    alt.instance_types
                        .as_ref()
                        .is_none_or(|types| types.contains(&it))
                });
            }
            if matched {
                continue;
            }
        }

        match additional {
            Some(Additional::Bool(false)) => {
                if let Some(c) = collect_unknown.as_deref_mut() {
                    c.insert(k.clone());
                } else {
                    add_error(errors, &newpath, NOT_IN_SCHEMA);
                }
            }
            Some(Additional::Schema(s)) => {
                prop(value.get_mut(k), s, &newpath, errors, None, None);
            }
            _ => {}
        }
    }
}

fn propagate_unknown(
    path: &str,
    errors: &mut ErrorMap,
    collect_unknown: Option<&mut BTreeSet<String>>,
    unknown: BTreeSet<String>,
) {
    match collect_unknown {
        Some(c) => c.extend(unknown),
        None => {
            for k in unknown {
                add_error(errors, &join_path(path, &k), NOT_IN_SCHEMA);
            }
        }
    }
}

fn all_of(
    value: &mut Value,
    schemas: &[Schema],
    path: &str,
    errors: &mut ErrorMap,
    instance_type: Option<&str>,
    collect_unknown: Option<&mut BTreeSet<String>>,
) {
    let mut everywhere: Option<BTreeSet<String>> = None;
    for sub in schemas {
        let mut here = BTreeSet::new();
        prop(
            Some(value),
            sub,
            path,
            errors,
            instance_type,
            Some(&mut here),
        );
        everywhere = Some(match everywhere {
            None => here,
            Some(prev) => prev.intersection(&here).cloned().collect(),
        });
    }
    propagate_unknown(
        path,
        errors,
        collect_unknown,
        everywhere.unwrap_or_default(),
    );
}

fn one_of(
    value: &mut Value,
    schema: &Schema,
    variants: &[Schema],
    path: &str,
    errors: &mut ErrorMap,
    collect_unknown: Option<&mut BTreeSet<String>>,
) {
    let Some(type_schema) = schema.type_property_schema.as_deref() else {
        return;
    };
    let Some(tp) = schema.type_property.as_deref() else {
        add_error(errors, path, "missing 'type-property' in oneOf schema");
        return;
    };
    let tp_path = join_path(path, tp);
    let others = |v: &Value| -> BTreeSet<String> {
        v.as_object()
            .map(|m| m.keys().filter(|k| *k != tp).cloned().collect())
            .unwrap_or_default()
    };
    let mut type_value = value.get(tp).filter(|v| !v.is_null()).cloned();
    let Some(instance) = type_value.as_ref().and_then(scalar_text) else {
        if type_value.is_none() {
            propagate_unknown(path, errors, collect_unknown, others(value));
            if !schema.is_optional() {
                prop(None, type_schema, &tp_path, errors, None, None);
            }
        } else {
            add_error(errors, &tp_path, "type check ('string') failed");
        }
        return;
    };

    let mut tp_errors = ErrorMap::new();
    prop(
        type_value.as_mut(),
        type_schema,
        &tp_path,
        &mut tp_errors,
        None,
        None,
    );
    if !tp_errors.is_empty() {
        for msg in tp_errors.values() {
            add_error(errors, &tp_path, msg.clone());
        }
        propagate_unknown(path, errors, collect_unknown, others(value));
        return;
    }

    for variant in variants {
        let Some(name) = variant.instance_type.as_deref() else {
            add_error(errors, path, "missing 'instance-type' in oneOf variant");
            return;
        };
        if name == instance {
            let variant_path = join_path(path, &format!("oneOf[{name}]"));
            let mut unknown = BTreeSet::new();
            prop(
                Some(value),
                variant,
                &variant_path,
                errors,
                None,
                Some(&mut unknown),
            );
            unknown.remove(tp);
            propagate_unknown(&variant_path, errors, collect_unknown, unknown);
            return;
        }
    }
    add_error(
        errors,
        path,
        format!("'{instance}' is not a valid oneOf variant"),
    );
}

fn enum_text(values: &[Value]) -> String {
    values
        .iter()
        .map(|v| scalar_text(v).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(", ")
}

fn prop(
    mut value: Option<&mut Value>,
    schema: &Schema,
    path: &str,
    errors: &mut ErrorMap,
    instance_type: Option<&str>,
    collect_unknown: Option<&mut BTreeSet<String>>,
) {
    // Perl truthiness of the instance type: undef, "" and "0" mean none.
    let instance_type = instance_type.filter(|t| !t.is_empty() && *t != "0");
    let mut optional_for_type = false;

    if let (Some(alternatives), None) = (&schema.one_of, &schema.type_property_schema) {
        if schema.type_property.is_some() {
            optional_for_type = true;
            if let Some(it) = instance_type {
                for inner in alternatives {
                    let Some(types) = &inner.instance_types else {
                        add_error(
                            errors,
                            path,
                            "missing 'instance-types' in oneOf alternative",
                        );
                        return;
                    };
                    if !types.iter().any(|t| t == it) {
                        continue;
                    }
                    optional_for_type = inner.is_optional();
                    prop(value.as_deref_mut(), inner, path, errors, None, None);
                }
            }
        } else {
            let mut valid = false;
            let mut collected = ErrorMap::new();
            for (i, inner) in alternatives.iter().enumerate() {
                let mut inner_errors = ErrorMap::new();
                prop(
                    value.as_deref_mut(),
                    inner,
                    &format!("{path}.oneOf[{i}]"),
                    &mut inner_errors,
                    None,
                    None,
                );
                if inner_errors.is_empty() {
                    valid = true;
                    break;
                }
                for (p, m) in inner_errors {
                    add_error(&mut collected, &p, m);
                }
            }
            if !valid {
                for (p, m) in collected {
                    add_error(errors, &p, m);
                }
            }
        }
    } else if let Some(it) = instance_type {
        let Some(types) = &schema.instance_types else {
            add_error(errors, path, "missing 'instance-types'");
            return;
        };
        if !types.iter().any(|t| t == it) {
            optional_for_type = true;
        }
    }

    if schema.alias.is_some() {
        return;
    }

    let Some(value) = value.filter(|v| !v.is_null()) else {
        if is_type(schema, JsonType::Null) {
            return;
        }
        let group = schema.extra.get("group").is_some_and(perl_truthy);
        if !schema.is_optional() && !group && !optional_for_type {
            add_error(errors, path, "property is missing and it is not optional");
        }
        return;
    };

    if !check_type(path, schema.type_.as_ref(), value, errors) {
        return;
    }

    if let Value::Array(items) = value {
        if let Some(item_schema) = &schema.items {
            for (i, el) in items.iter_mut().enumerate() {
                prop(
                    Some(el),
                    item_schema,
                    &format!("{path}[{i}]"),
                    errors,
                    None,
                    None,
                );
            }
        }
    } else if value.is_object() {
        let additional_truthy = match &schema.additional_properties {
            Some(Additional::Bool(b)) => *b,
            Some(Additional::Schema(_)) => true,
            None => false,
        };
        if schema.properties.is_some() || additional_truthy {
            let empty = crate::schema::Properties::new();
            if let Value::Object(map) = value {
                object(
                    path,
                    schema.properties.as_ref().unwrap_or(&empty),
                    map,
                    schema.additional_properties.as_ref(),
                    errors,
                    collect_unknown,
                );
            }
        } else if let Some(subs) = &schema.all_of {
            all_of(value, subs, path, errors, instance_type, collect_unknown);
        } else if let Some(variants) = &schema.one_of {
            one_of(value, schema, variants, path, errors, collect_unknown);
        }
    } else if !value.is_boolean() {
        // A JSON boolean is a reference in Perl: none of the scalar checks apply to it.
        check_scalar(value, schema, path, errors);
    }
}

fn check_scalar(value: &Value, schema: &Schema, path: &str, errors: &mut ErrorMap) {
    let text = scalar_text(value).unwrap_or_default();

    if schema.all_of.is_some() || (schema.one_of.is_some() && schema.type_property_schema.is_some())
    {
        add_error(errors, path, "value must be an object");
        return;
    }

    if let Some(format) = &schema.format {
        let skip = matches!(format, FormatSpec::Named(n) if n.is_empty());
        if !skip {
            if let Err(e) = formats::check_format_at(format, &text, path) {
                // Upstream's format checks die with a message ending in a newline, and
                // that newline stays in the error (`errors.vmid` of a 400 shows it).
                add_error(errors, path, format!("invalid format - {e}\n"));
                return;
            }
        }
    }

    if let Some(pattern) = schema.pattern.as_deref().filter(|p| !p.is_empty()) {
        match pattern_matches(pattern, &text) {
            Ok(true) => {}
            Ok(false) => {
                add_error(errors, path, "value does not match the regex pattern");
                return;
            }
            Err(e) => {
                add_error(errors, path, e);
                return;
            }
        }
    }

    let len = text.chars().count() as u64;
    if let Some(max) = schema.max_length {
        if len > max {
            add_error(
                errors,
                path,
                format!("value may only be {max} characters long"),
            );
            return;
        }
    }
    if let Some(min) = schema.min_length {
        if len < min {
            add_error(
                errors,
                path,
                format!("value must be at least {min} characters long"),
            );
            return;
        }
    }

    if is_number(&text) {
        let v: f64 = text.parse().unwrap_or(f64::NAN);
        if let Some(max) = &schema.maximum {
            if v > max.as_f64().unwrap_or(f64::INFINITY) {
                add_error(
                    errors,
                    path,
                    format!("value must have a maximum value of {}", number_text(max)),
                );
                return;
            }
        }
        if let Some(min) = &schema.minimum {
            if v < min.as_f64().unwrap_or(f64::NEG_INFINITY) {
                add_error(
                    errors,
                    path,
                    format!("value must have a minimum value of {}", number_text(min)),
                );
                return;
            }
        }
    }

    if let Some(values) = &schema.enum_ {
        if !values
            .iter()
            .any(|v| scalar_text(v).as_deref() == Some(&text))
        {
            add_error(
                errors,
                path,
                format!(
                    "value '{text}' does not have a value in the enumeration '{}'",
                    enum_text(values)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests;
