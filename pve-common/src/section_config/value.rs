//! Checking one config value against its property schema (upstream's `check_value`).

use serde_json::{Number, Value};

use super::SectionConfig;
use crate::schema::{check_prop, ErrorMap, JsonType, Schema};

impl SectionConfig {
    /// Checks the text `value` of `key` in a section of `type_name` and returns it typed:
    /// booleans, integers and numbers become JSON numbers, everything else stays a
    /// string. For array properties the item schema applies. `None` is a key without a
    /// value, which only booleans allow (it means true).
    pub(crate) fn check_value(
        &self,
        type_name: &str,
        key: &str,
        value: Option<&str>,
        _section_id: &str,
    ) -> Result<Value, String> {
        if key == "type" && value == Some(type_name) {
            return Ok(Value::String(type_name.to_string()));
        }
        let opts = self
            .options
            .get(type_name)
            .ok_or_else(|| format!("unknown section type '{type_name}'"))?;
        if !opts.contains_key(key) {
            return Err(format!("unexpected property '{key}'"));
        }
        let schema = self
            .property_schema(type_name, key)
            .ok_or_else(|| "unknown property type".to_string())?;
        let ct = schema.single_type();
        let value = match (value, ct) {
            (Some(v), _) => v,
            (None, Some(JsonType::Boolean)) => "1",
            (None, _) => return Err("got undefined value".to_string()),
        };
        if value.contains(['\n', '\r']) {
            return Err("property contains a line feed".to_string());
        }
        let check_schema = if ct == Some(JsonType::Array) {
            schema
                .items
                .as_deref()
                .ok_or_else(|| "no item schema for array".to_string())?
        } else {
            schema
        };
        check_text(key, value, check_schema)?;
        Ok(match ct {
            Some(JsonType::Boolean | JsonType::Integer | JsonType::Number) => {
                perl_numify(value).map_or_else(|| Value::String(value.to_string()), Value::Number)
            }
            _ => Value::String(value.to_string()),
        })
    }
}

/// Validates a config text against its (item) schema with the schema engine; the error
/// is the one upstream reports for the value (path `_root`).
fn check_text(key: &str, value: &str, schema: &Schema) -> Result<(), String> {
    let mut errors = ErrorMap::new();
    check_prop(&Value::String(value.to_string()), schema, "", &mut errors);
    if errors.is_empty() {
        return Ok(());
    }
    Err(errors
        .remove(key)
        .or_else(|| errors.remove("_root"))
        .unwrap_or_else(|| "unknown error".to_string()))
}

/// `$value + 0` for a value that passed the integer/number check.
fn perl_numify(v: &str) -> Option<Number> {
    let t = v.strip_prefix('+').unwrap_or(v);
    if let Ok(i) = t.parse::<i64>() {
        return Some(Number::from(i));
    }
    let f: f64 = t.parse().ok()?;
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        return Some(Number::from(f as i64));
    }
    Number::from_f64(f)
}

/// A number as Perl prints it (see [`crate::perl::json_number_to_string`]).
pub(crate) fn perl_number(n: &Number) -> String {
    crate::perl::json_number_to_string(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_number_checks() {
        assert_eq!(perl_numify("007"), Some(Number::from(7)));
        assert_eq!(perl_numify("+5"), Some(Number::from(5)));
        assert_eq!(perl_number(&perl_numify("1.5e3").unwrap()), "1500");
        assert_eq!(perl_number(&Number::from_f64(0.25).unwrap()), "0.25");
        assert_eq!(perl_number(&Number::from_f64(1e20).unwrap()), "1e+20");
    }
}
