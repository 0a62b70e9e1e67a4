//! Perl scalar conversions the upstream output depends on.

use serde_json::Value;

/// A floating point number as Perl stringifies it (`%.15g`): `0.157894736842105`,
/// `2`, `1e+20`, `-0.5`.
pub fn number_to_string(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Inf" } else { "-Inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    const DIGITS: i32 = 15;
    // `{:e}` with DIGITS-1 decimals rounds like printf's %e; its exponent decides the form.
    let sci = format!("{:.*e}", (DIGITS - 1) as usize, value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..DIGITS).contains(&exp) {
        let mantissa = trim_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (DIGITS - 1 - exp).max(0) as usize;
        trim_fraction_zeros(&format!("{value:.decimals$}")).to_string()
    }
}

fn trim_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// A JSON number as Perl prints it: integers exactly, fractions with `%.15g`.
pub fn json_number_to_string(number: &serde_json::Number) -> String {
    if number.is_i64() || number.is_u64() {
        number.to_string()
    } else {
        number_to_string(number.as_f64().unwrap_or(0.0))
    }
}

/// Perl's `looks_like_number` for a string: optional surrounding white space, sign,
/// decimal digits with an optional fraction and exponent, or `Inf`/`Infinity`/`NaN`.
pub fn looks_like_number(text: &str) -> bool {
    let trimmed = text
        .trim_start_matches(is_perl_space)
        .trim_end_matches(is_perl_space);
    if trimmed.is_empty() {
        return false;
    }
    let unsigned = trimmed
        .strip_prefix(['+', '-'])
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    if matches!(unsigned.as_str(), "inf" | "infinity" | "nan") {
        return true;
    }
    let (len, _) = numeric_prefix(trimmed);
    len == trimmed.len()
}

fn is_perl_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Length of the longest decimal number at the start of `text` and its value.
fn numeric_prefix(text: &str) -> (usize, f64) {
    let bytes = text.as_bytes();
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if i < bytes.len() && bytes[i] == b'.' {
        let frac_start = i + 1;
        let mut j = frac_start;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if digits > 0 || j > frac_start {
            digits += j - frac_start;
            i = j;
        }
    }
    if digits == 0 {
        return (0, 0.0);
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mut j = i + 1;
        if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        let exp_start = j;
        while j < bytes.len() && bytes[j].is_ascii_digit() {
            j += 1;
        }
        if j > exp_start {
            i = j;
        }
    }
    (i, text[..i].parse().unwrap_or(0.0))
}

/// A value used as a number the way Perl numifies it: strings by their numeric prefix
/// (else 0), booleans as 1/0, null as 0.
pub fn numify(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => {
            let s = s.trim_start_matches(is_perl_space);
            let lower = s.to_ascii_lowercase();
            let unsigned = lower.trim_start_matches(['+', '-']);
            if unsigned.starts_with("inf") || unsigned.starts_with("nan") {
                let v = if unsigned.starts_with("nan") {
                    f64::NAN
                } else {
                    f64::INFINITY
                };
                return if lower.starts_with('-') { -v } else { v };
            }
            numeric_prefix(s).1
        }
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

/// A scalar as Perl interpolates it into a string (`"$data"`); booleans as Perl's
/// JSON booleans do (`1`/`0`), structures as canonical JSON.
pub fn scalar_to_string(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Number(n) => json_number_to_string(n),
        Value::String(s) => s.clone(),
        _ => crate::cli::json::to_canonical_json(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_number_strings() {
        assert_eq!(number_to_string(0.157894736842105), "0.157894736842105");
        assert_eq!(number_to_string(0.15789473684210525), "0.157894736842105");
        assert_eq!(number_to_string(2.0), "2");
        assert_eq!(number_to_string(-0.5), "-0.5");
        assert_eq!(number_to_string(1e20), "1e+20");
        assert_eq!(number_to_string(1.5e-7), "1.5e-07");
        assert_eq!(number_to_string(123456789012345.0), "123456789012345");
        assert_eq!(number_to_string(1234567890123456.0), "1.23456789012346e+15");
        assert_eq!(number_to_string(0.0001), "0.0001");
        assert_eq!(number_to_string(f64::INFINITY), "Inf");
    }

    #[test]
    fn number_detection() {
        for yes in [
            "1", "2048", "-3.5", " 12 ", "1e5", ".5", "5.", "Inf", "nan", "+7",
        ] {
            assert!(looks_like_number(yes), "{yes}");
        }
        for no in ["", "abc", "1a", "0x10", "1e", "-", ".", "1.2.3", "e5"] {
            assert!(!looks_like_number(no), "{no}");
        }
    }

    #[test]
    fn numification() {
        assert_eq!(numify(&Value::from("12abc")), 12.0);
        assert_eq!(numify(&Value::from("abc")), 0.0);
        assert_eq!(numify(&Value::from(" -1.5e2x")), -150.0);
        assert_eq!(numify(&Value::Bool(true)), 1.0);
        assert_eq!(numify(&Value::Null), 0.0);
    }
}
