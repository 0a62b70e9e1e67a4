//! Suites for the small tools: convert_size, upid, and the renderer part of format_render.

use jiff::tz::TimeZone;
use serde_json::Value;

use super::check::{expect_eq, scalar_string, str_field};
use super::Suite;
use crate::units;
use crate::upid::{status_from_log, Upid};

pub fn suites() -> Vec<Suite> {
    vec![
        Suite::cases_json("pve-common", "convert_size", convert_size_case),
        Suite::cases_json("pve-common", "upid", upid_case),
        Suite::cases_json("pve-common", "format_render", format_render_case),
    ]
}

/// The time zone upstream's test suite runs in (`TZ=UTC-1`, POSIX: UTC+01:00).
fn upstream_test_zone() -> TimeZone {
    TimeZone::posix("UTC-1").unwrap_or(TimeZone::UTC)
}

fn convert_size_case(case: &Value) -> Result<(), String> {
    let value = scalar_string(&case["input"]).unwrap_or_default();
    let from = scalar_string(&case["from"]).unwrap_or_default();
    let to = scalar_string(&case["to"]).unwrap_or_default();
    let no_round_up = crate::schema::perl_truthy(&case["no_round_up"]);
    let got = units::convert_size(&value, &from, &to, no_round_up);
    match (case.get("error_prefix").and_then(Value::as_str), got) {
        (Some(prefix), Err(e)) if e.starts_with(prefix) => Ok(()),
        (Some(prefix), other) => Err(format!("want error '{prefix}…', got {other:?}")),
        (None, Ok(n)) => expect_eq("result", &Value::from(n), &case["expected"]),
        (None, Err(e)) => Err(format!("unexpected error: {e}")),
    }
}

fn upid_case(case: &Value) -> Result<(), String> {
    match str_field(case, "kind")? {
        "decode_encode" => {
            let input = str_field(case, "input")?;
            let parsed = input.parse::<Upid>();
            if case
                .get("must_fail")
                .is_some_and(crate::schema::perl_truthy)
            {
                return match parsed {
                    Err(_) => Ok(()),
                    Ok(u) => Err(format!("decoded invalid UPID: {u:?}")),
                };
            }
            let u = parsed.map_err(|e| e.to_string())?;
            let got = serde_json::json!({
                "id": u.id, "node": u.node, "pid": u.pid, "pstart": u.pstart,
                "starttime": u.starttime, "type": u.worker_type, "user": u.user,
            });
            expect_eq("decoded", &got, &case["expected"])?;
            let encoded = u.to_string();
            if encoded != input {
                return Err(format!("re-encoded as {encoded}"));
            }
            Ok(())
        }
        "task_status" => {
            str_field(case, "upid")?
                .parse::<Upid>()
                .map_err(|e| e.to_string())?;
            let got = status_from_log(str_field(case, "log")?);
            expect_eq("status", &Value::from(got), &case["expected_status"])
        }
        other => Err(format!("unknown kind '{other}'")),
    }
}

fn format_render_case(case: &Value) -> Result<(), String> {
    match str_field(case, "kind")? {
        "pve-configid" => super::schema_suites::check_configid_case(case),
        "renderer" => {
            let value = case["value"].as_f64().ok_or("value is not a number")?;
            let got = match str_field(case, "renderer")? {
                "timestamp" => units::render_timestamp_in(value as i64, &upstream_test_zone()),
                "timestamp_gmt" => units::render_timestamp_gmt(value as i64),
                "duration" => units::render_duration(value),
                "fraction_as_percentage" => units::render_fraction_as_percentage(value),
                "bytes" => {
                    let precision = case["param"].as_u64().map(|p| p as usize);
                    units::render_bytes(value, precision)
                }
                other => return Err(format!("unknown renderer '{other}'")),
            };
            expect_eq("rendered", &Value::from(got), &case["expected"])
        }
        other => Err(format!("unknown kind '{other}'")),
    }
}
