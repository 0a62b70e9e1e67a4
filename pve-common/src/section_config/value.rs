//! Checking one config value against its property schema (upstream's `check_value`).

use serde_json::{Number, Value};

use super::SectionConfig;
use crate::schema::{JsonType, Schema};

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
        check_text(value, check_schema)?;
        Ok(match ct {
            Some(JsonType::Boolean | JsonType::Integer | JsonType::Number) => {
                perl_numify(value).map_or_else(|| Value::String(value.to_string()), Value::Number)
            }
            _ => Value::String(value.to_string()),
        })
    }
}

/// Validates a config text against a scalar schema.
// TODO(schema branch): switch to crate::schema::check_prop once it lands.
fn check_text(value: &str, schema: &Schema) -> Result<(), String> {
    let ty = schema.single_type();
    let type_err = |t: &str| format!("type check ('{t}') failed - got '{value}'");
    match ty {
        Some(JsonType::Boolean) if value != "1" && value != "0" => return Err(type_err("boolean")),
        Some(JsonType::Integer) if !is_integer(value) => return Err(type_err("integer")),
        Some(JsonType::Number) if !is_number(value) => return Err(type_err("number")),
        Some(JsonType::Array) => return Err("type check ('array') failed".to_string()),
        Some(JsonType::Object) => return Err("type check ('object') failed".to_string()),
        _ => {}
    }
    if let Some(pattern) = &schema.pattern {
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|_| "value does not match the regex pattern".to_string())?;
        if !re.is_match(value) {
            return Err("value does not match the regex pattern".to_string());
        }
    }
    let len = value.chars().count() as u64;
    if let Some(max) = schema.max_length {
        if len > max {
            return Err(format!("value may only be {max} characters long"));
        }
    }
    if let Some(min) = schema.min_length {
        if len < min {
            return Err(format!("value must be at least {min} characters long"));
        }
    }
    if is_number(value) {
        let v: f64 = value.parse().unwrap_or(f64::NAN);
        if let Some(max) = &schema.maximum {
            if v > max.as_f64().unwrap_or(f64::INFINITY) {
                return Err(format!("value must have a maximum value of {max}"));
            }
        }
        if let Some(min) = &schema.minimum {
            if v < min.as_f64().unwrap_or(f64::NEG_INFINITY) {
                return Err(format!("value must have a minimum value of {min}"));
            }
        }
    }
    if let Some(list) = &schema.enum_ {
        if !list.iter().any(|e| scalar_text(e) == value) {
            let all: Vec<String> = list.iter().map(scalar_text).collect();
            return Err(format!(
                "value '{value}' does not have a value in the enumeration '{}'",
                all.join(", ")
            ));
        }
    }
    Ok(())
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => perl_number(n),
        Value::Bool(b) => u8::from(*b).to_string(),
        other => other.to_string(),
    }
}

fn is_integer(v: &str) -> bool {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Perl's `is_number`: optional sign, digits with an optional dot, optional exponent.
pub(crate) fn is_number(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (mantissa, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => (!int.is_empty() || !f.is_empty()) && digits(int) && digits(f),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exp_ok
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

/// A number as Perl prints it (integers plainly, 15 significant digits otherwise).
pub(crate) fn perl_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let s = format!("{:.14e}", f);
    // back to a plain decimal when Perl would print one (%.15g)
    let exp: i32 = s
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if (-5..15).contains(&exp) {
        let prec = (14 - exp).max(0) as usize;
        let fixed = format!("{f:.prec$}");
        let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
        trimmed.to_string()
    } else {
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_number_checks() {
        for ok in ["1", "-1", "+2", "1.", ".5", "1.5e3", "2E-2"] {
            assert!(is_number(ok), "{ok}");
        }
        for bad in ["", ".", "e5", "1e", "1.2.3", "abc", "0x10", " 1"] {
            assert!(!is_number(bad), "{bad}");
        }
        assert!(is_integer("007") && !is_integer("1.0") && !is_integer("-"));
        assert_eq!(perl_numify("007"), Some(Number::from(7)));
        assert_eq!(perl_number(&perl_numify("1.5e3").unwrap()), "1500");
        assert_eq!(perl_number(&Number::from_f64(0.25).unwrap()), "0.25");
    }
}
