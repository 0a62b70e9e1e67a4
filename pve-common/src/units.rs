//! Sizes and durations: conversion between units, the `disk-size` notation, and the
//! value renderers the CLI output formatter uses (`timestamp`, `duration`, `bytes`, …).

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// The size units `convert_size` knows, as powers of 1024.
fn unit_exponent(unit: &str) -> Option<i32> {
    Some(match unit {
        "b" => 0,
        "kb" => 1,
        "mb" => 2,
        "gb" => 3,
        "tb" => 4,
        "pb" => 5,
        _ => return None,
    })
}

/// Converts `value` (a non-negative decimal as text) between the units b, kb, mb, gb, tb
/// and pb (base 1024, case-insensitive). The result is rounded up unless `no_round_up`,
/// then it is truncated. Errors carry upstream's texts.
pub fn convert_size(value: &str, from: &str, to: &str, no_round_up: bool) -> Result<u64, String> {
    if value.is_empty() {
        return Err("no value given".into());
    }
    let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    let (Some(f), Some(t)) = (unit_exponent(&from), unit_exponent(&to)) else {
        return Err(format!("unknown 'from' and/or 'to' units ({from} => {to})"));
    };
    if !is_positive_decimal(value) {
        return Err(format!("value '{value}' is not a valid, positive number"));
    }
    let number: f64 = if value == "." {
        0.0
    } else {
        // "1." and ".5" are valid decimals for us but not for Rust's parser in every form.
        let normalized = if value.ends_with('.') {
            format!("{value}0")
        } else {
            value.to_string()
        };
        normalized
            .parse()
            .map_err(|_| format!("value '{value}' is not a valid, positive number"))?
    };
    let scaled = number * 2f64.powi((f - t) * 10);
    let result = if !no_round_up && scaled.fract() > 0.0 {
        scaled.trunc() + 1.0
    } else {
        scaled
    };
    if !result.is_finite() || result >= u64::MAX as f64 {
        return Err(format!("value '{value}' is too large"));
    }
    Ok(result.trunc() as u64)
}

/// `[0-9]+\.?[0-9]*` or `[0-9]*\.[0-9]+`.
fn is_positive_decimal(s: &str) -> bool {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return false;
    }
    match frac {
        None => !int.is_empty(),
        Some(f) => !int.is_empty() || !f.is_empty(),
    }
}

/// Parses the `disk-size` notation: a decimal number with an optional unit K, M, G, T
/// (or KiB, MiB, GiB, TiB), base 1024. Returns bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let exp = match unit {
        "" => 0,
        "K" | "KiB" => 1,
        "M" | "MiB" => 2,
        "G" | "GiB" => 3,
        "T" | "TiB" => 4,
        _ => return None,
    };
    let value: f64 = num.parse().ok()?;
    let bytes = (value * 1024f64.powi(exp)).trunc();
    (bytes.is_finite() && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Prints a byte count in the shortest exact unit (`4G`, `512M`, `1536K`, `100`), as
/// upstream writes disk sizes into configs.
pub fn format_size(size: u64) -> String {
    const UNITS: [&str; 5] = ["", "K", "M", "G", "T"];
    let (mut value, mut unit) = (size, 0);
    while unit < UNITS.len() - 1 && value != 0 && value % 1024 == 0 {
        value /= 1024;
        unit += 1;
    }
    format!("{value}{}", UNITS[unit])
}

/// `YYYY-MM-DD HH:MM:SS` in the node's local time zone (`TZ`, else /etc/localtime).
pub fn render_timestamp(epoch: i64) -> String {
    render_timestamp_in(epoch, &TimeZone::system())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn render_timestamp_gmt(epoch: i64) -> String {
    render_timestamp_in(epoch, &TimeZone::UTC)
}

/// `YYYY-MM-DD HH:MM:SS` in the given zone.
pub fn render_timestamp_in(epoch: i64, tz: &TimeZone) -> String {
    match Timestamp::from_second(epoch) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => epoch.to_string(),
    }
}

/// A duration as `2w 1d 3h 4m 5s` (rounded to whole seconds, zero parts left out, `0s`
/// for nothing).
pub fn render_duration(seconds: f64) -> String {
    render_duration_limited(seconds, false)
}

/// Like [`render_duration`]; with `auto_limit_accuracy`, minutes are left out from a
/// week on and seconds from a day on.
pub fn render_duration_limited(seconds: f64, auto_limit_accuracy: bool) -> String {
    let mut rest = if seconds.is_finite() {
        seconds.round() as i64
    } else {
        0
    };
    if rest == 0 {
        return "0s".into();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut step = |unit: &str, len: i64| {
        let v = rest / len;
        if v > 0 {
            parts.push(format!("{v}{unit}"));
            rest -= v * len;
            true
        } else {
            false
        }
    };
    let weeks = step("w", 7 * 24 * 3600);
    let days = step("d", 24 * 3600) || weeks;
    step("h", 3600);
    if !auto_limit_accuracy || !weeks {
        step("m", 60);
    }
    if !auto_limit_accuracy || !days {
        step("s", 1);
    }
    parts.join(" ")
}

/// A fraction as a percentage with two decimals: `0.412` → `41.20%`.
pub fn render_fraction_as_percentage(fraction: f64) -> String {
    format!("{:.2}%", fraction * 100.0)
}

/// A byte count in binary units with `precision` decimals (default 2): `1.00 KiB`.
pub fn render_bytes(value: f64, precision: Option<usize>) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = value;
    let mut unit = 0usize;
    if value > 1023.0 {
        unit = ((value.ln() / 1024f64.ln()) as usize).min(UNITS.len() - 1);
        value /= 1024f64.powi(unit as i32);
    }
    // Upstream treats a precision of 0 like none.
    let precision = precision.filter(|p| *p > 0).unwrap_or(2);
    format!("{value:.precision$} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("32"), Some(32));
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        for bad in ["", "G", "1.G", "1X", "-1", ".5K", "1 G"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
        assert_eq!(format_size(4 << 30), "4G");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(1536 << 10), "1536K");
        assert_eq!(format_size(2 << 40), "2T");
        assert_eq!(format_size(0), "0");
    }

    #[test]
    fn conversions() {
        assert_eq!(convert_size("1", "gb", "kb", false), Ok(1048576));
        assert_eq!(convert_size("131071", "b", "kb", false), Ok(128));
        assert_eq!(convert_size("131071", "b", "kb", true), Ok(127));
        assert_eq!(convert_size("1.", "GB", "kb", false), Ok(1048576));
        assert!(convert_size(".", "gb", "kb", false).is_err());
        assert!(convert_size("1e3", "gb", "kb", false).is_err());
        assert!(convert_size("99999999999999999999", "pb", "b", false).is_err());
    }

    #[test]
    fn renderers() {
        assert_eq!(render_duration(0.3), "0s");
        assert_eq!(render_duration(110.0), "1m 50s");
        assert_eq!(render_duration_limited(8.0 * 86400.0 + 65.0, true), "1w 1d");
        assert_eq!(render_bytes(1023.0, Some(4)), "1023.0000 B");
        assert_eq!(render_bytes(1024.0, None), "1.00 KiB");
        assert_eq!(render_bytes(f64::MAX, None).split(' ').nth(1), Some("PiB"));
        assert_eq!(render_timestamp_gmt(0), "1970-01-01 00:00:00");
    }
}
