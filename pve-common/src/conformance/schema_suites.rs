//! Conformance suites for the JSON schema: `json_schema_check`, `property_string`,
//! `api_list_params`, and the `pve-configid` cases of `format_render` (that suite is
//! registered by the renderer side, which calls [`check_configid_case`]).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::check::{expect_eq, perl_regex, str_field};
use super::Suite;
use crate::schema::{self, ErrorMap, FormatSpec, Schema};

pub fn suites() -> Vec<Suite> {
    vec![
        Suite::cases_json("pve-common", "json_schema_check", check_json_schema_case),
        Suite::cases_json("pve-common", "property_string", check_property_string_case),
        Suite::cases_json("pve-common", "api_list_params", check_api_list_params_case),
    ]
}

fn field<'a>(case: &'a Value, key: &str) -> Result<&'a Value, String> {
    case.get(key).ok_or_else(|| format!("case has no '{key}'"))
}

fn schema_of(v: &Value) -> Result<Schema, String> {
    Schema::from_value(v).map_err(|e| format!("bad schema: {e}"))
}

/// The error map as one text: `key: message` lines sorted by key.
fn error_text(errors: &ErrorMap) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn expect_match(what: &str, pattern: &str, text: &str) -> Result<(), String> {
    if perl_regex(pattern)?.is_match(text) {
        Ok(())
    } else {
        Err(format!("{what}: {text:?} does not match {pattern:?}"))
    }
}

fn check_json_schema_case(case: &Value) -> Result<(), String> {
    let mut input = field(case, "input")?.clone();
    let mut errors = ErrorMap::new();
    match str_field(case, "function")? {
        "check_object" => {
            let props: BTreeMap<String, Schema> =
                serde_json::from_value(field(case, "schema")?.clone())
                    .map_err(|e| format!("bad schema: {e}"))?;
            let map = input
                .as_object_mut()
                .ok_or("check_object input is not an object")?;
            schema::check_object(map, &props, false, "", &mut errors);
        }
        "check_prop" => {
            let s = schema_of(field(case, "schema")?)?;
            schema::check_prop_mut(&mut input, &s, "", &mut errors);
        }
        other => return Err(format!("unknown function '{other}'")),
    }

    if let Some(by_key) = case.get("must_fail_by_key").and_then(Value::as_object) {
        for (key, pattern) in by_key {
            let pattern = pattern.as_str().ok_or("must_fail_by_key: not a string")?;
            let msg = errors
                .remove(key)
                .ok_or_else(|| format!("no error for '{key}'; errors: {errors:?}"))?;
            expect_match(key, pattern, &msg)?;
        }
    }
    let text = error_text(&errors);
    if let Some(pattern) = case.get("must_fail").and_then(Value::as_str) {
        expect_match("errors", pattern, &text)?;
    } else if !text.is_empty() {
        return Err(format!("unexpected errors: {text}"));
    }
    if let Some(expected) = case.get("expected") {
        expect_eq("value after check", &input, expected)?;
    }
    Ok(())
}

fn check_property_string_case(case: &Value) -> Result<(), String> {
    let format: BTreeMap<String, Schema> = serde_json::from_value(field(case, "format")?.clone())
        .map_err(|e| format!("bad format: {e}"))?;
    let input = str_field(case, "input")?;
    let result = schema::parse_property_string(&format, input);
    match (case.get("must_fail").and_then(Value::as_str), result) {
        (Some(pattern), Err(e)) => expect_match("error", pattern, &e),
        (Some(_), Ok(v)) => Err(format!("expected failure, got {}", Value::Object(v))),
        (None, Err(e)) => Err(format!("unexpected error: {e}")),
        (None, Ok(v)) => expect_eq("parsed", &Value::Object(v), field(case, "expected")?),
    }
}

fn check_api_list_params_case(case: &Value) -> Result<(), String> {
    let parameter = field(case, "parameter")?;
    let method_schema = schema_of(&json!({
        "type": "object",
        "additionalProperties": 0,
        "properties": {"param": parameter},
    }))?;
    let params = json!({"param": field(case, "value")?});
    let mut normalized = schema::normalize_param(params, &method_schema);
    schema::validate(&mut normalized, &method_schema).map_err(|e| e.to_string())?;
    expect_eq("param", &normalized["param"], field(case, "expected")?)
}

/// Checks one `format_render` case of kind `pve-configid`: `{input, valid}`.
// The format_render suite (registered with the renderer cases) dispatches here.
#[allow(dead_code)]
pub fn check_configid_case(case: &Value) -> Result<(), String> {
    let input = str_field(case, "input")?;
    let valid = case
        .get("valid")
        .map(crate::schema::perl_truthy)
        .ok_or("case has no 'valid'")?;
    let result = schema::check_format(&FormatSpec::Named("pve-configid".into()), input);
    match (valid, result) {
        (true, Ok(())) | (false, Err(_)) => Ok(()),
        (true, Err(e)) => Err(format!("'{input}' rejected: {e}")),
        (false, Ok(())) => Err(format!("'{input}' accepted")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configid_cases() {
        assert!(check_configid_case(&json!({"input": "aa", "valid": true})).is_ok());
        assert!(check_configid_case(&json!({"input": "a", "valid": false})).is_ok());
        assert!(check_configid_case(&json!({"input": "1a", "valid": true})).is_err());
        assert!(check_configid_case(&json!({"input": "Aa", "valid": 0})).is_err());
    }
}
