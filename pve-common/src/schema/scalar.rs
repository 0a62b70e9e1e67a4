//! Turning the text of a config-file or command-line value into its typed JSON value.

use serde_json::Value;

use super::check::{is_integer, is_number};
use super::{JsonType, Schema};

/// Upstream's boolean spellings: `1|on|yes|true` and `0|off|no|false`, any case.
pub fn parse_boolean(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some(true),
        "0" | "off" | "no" | "false" => Some(false),
        _ => None,
    }
}

fn number_value(text: &str) -> Option<Value> {
    let trimmed = text.strip_prefix('+').unwrap_or(text);
    if is_integer(text) {
        if let Ok(i) = trimmed.parse::<i64>() {
            return Some(Value::from(i));
        }
    }
    let f: f64 = trimmed.parse().ok()?;
    serde_json::Number::from_f64(f).map(Value::Number)
}

/// The typed value of `text` for `schema`: booleans by their spellings, integers and
/// numbers as JSON numbers; everything else (and text that does not parse) stays a
/// string, so that the schema check reports it with upstream's message.
pub fn typed_value(schema: &Schema, text: &str) -> Value {
    match schema.single_type() {
        Some(JsonType::Boolean) => parse_boolean(text).map(Value::Bool),
        Some(JsonType::Integer) if is_integer(text) => number_value(text),
        Some(JsonType::Number) if is_number(text) => number_value(text),
        _ => None,
    }
    .unwrap_or_else(|| Value::String(text.to_string()))
}

/// Parses a value from a config file or the command line into the typed JSON value its
/// schema asks for. Booleans accept `1/0/true/false/yes/no/on/off` (any case) and become
/// JSON booleans; integers and numbers become JSON numbers; other types stay strings.
/// Only the type is checked here; use the schema check for the other constraints.
pub fn parse_value(schema: &Schema, text: &str) -> Result<Value, String> {
    let fail = |t: &str| format!("type check ('{t}') failed - got '{text}'");
    match schema.single_type() {
        Some(JsonType::Boolean) => parse_boolean(text)
            .map(Value::Bool)
            .ok_or_else(|| fail("boolean")),
        Some(JsonType::Integer) => {
            if is_integer(text) {
                number_value(text).ok_or_else(|| fail("integer"))
            } else {
                Err(fail("integer"))
            }
        }
        Some(JsonType::Number) => {
            if is_number(text) {
                number_value(text).ok_or_else(|| fail("number"))
            } else {
                Err(fail("number"))
            }
        }
        _ => Ok(Value::String(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_by_type() {
        let b = Schema::of_type(JsonType::Boolean);
        for t in ["1", "on", "YES", "true"] {
            assert_eq!(parse_value(&b, t).unwrap(), json!(true));
        }
        for t in ["0", "off", "no", "False"] {
            assert_eq!(parse_value(&b, t).unwrap(), json!(false));
        }
        assert_eq!(
            parse_value(&b, "maybe").unwrap_err(),
            "type check ('boolean') failed - got 'maybe'"
        );
        let i = Schema::of_type(JsonType::Integer);
        assert_eq!(parse_value(&i, "+42").unwrap(), json!(42));
        assert_eq!(
            parse_value(&i, "abc").unwrap_err(),
            "type check ('integer') failed - got 'abc'"
        );
        let n = Schema::of_type(JsonType::Number);
        assert_eq!(parse_value(&n, "1.5").unwrap(), json!(1.5));
        assert_eq!(parse_value(&n, "7").unwrap(), json!(7));
        let s = Schema::of_type(JsonType::String);
        assert_eq!(parse_value(&s, "x").unwrap(), json!("x"));
    }
}
