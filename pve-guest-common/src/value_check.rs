//! Upstream's `check_type` for guest config values (VMs and containers): booleans
//! normalised to `0`/`1`, integers and numbers by pattern, strings checked against
//! their format. Errors end with a newline, as upstream's `die` texts.

use pve_common::schema::formats::check_format;
use pve_common::schema::JsonType;

/// How a string without a format is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainString {
    /// As it is (containers).
    Verbatim,
    /// With one pair of surrounding double quotes removed (VMs).
    Unquoted,
}

/// Checks and normalises `value` for `key` of `options`.
pub fn check_config_value(
    options: &pve_common::schema::Properties,
    key: &str,
    value: &str,
    plain: PlainString,
) -> Result<String, String> {
    let schema = options
        .get(key)
        .ok_or_else(|| format!("unknown setting '{key}'\n"))?;
    if value.contains(['\n', '\r']) {
        return Err("property contains a line feed\n".into());
    }
    match schema.single_type() {
        Some(JsonType::Boolean) => {
            let lower = value.to_ascii_lowercase();
            if value == "1" || ["on", "yes", "true"].contains(&lower.as_str()) {
                Ok("1".into())
            } else if value == "0" || ["off", "no", "false"].contains(&lower.as_str()) {
                Ok("0".into())
            } else {
                Err(format!("type check ('boolean') failed - got '{value}'\n"))
            }
        }
        Some(JsonType::Integer) => {
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                let trimmed = value.trim_start_matches('0');
                Ok(if trimmed.is_empty() { "0" } else { trimmed }.to_string())
            } else {
                Err(format!("type check ('integer') failed - got '{value}'\n"))
            }
        }
        Some(JsonType::Number) => {
            let (int, frac) = value.split_once('.').unwrap_or((value, "1"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if digits(int) && digits(frac) {
                Ok(value.to_string())
            } else {
                Err(format!("type check ('number') failed - got '{value}'\n"))
            }
        }
        _ => match &schema.format {
            Some(format) => {
                check_format(format, value).map_err(|e| format!("{e}\n"))?;
                Ok(value.to_string())
            }
            None if plain == PlainString::Unquoted => Ok(value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value)
                .to_string()),
            None => Ok(value.to_string()),
        },
    }
}
