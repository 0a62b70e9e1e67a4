//! `pve-common/calendar_event`: parsing and next-event computation of calendar events.

use jiff::tz::TimeZone;
use serde_json::Value;

use super::check::{expect_eq, str_field};
use super::Suite;
use crate::calendar_event::CalendarEvent;

/// The zone upstream's test runs in unless a case names one (POSIX, i.e. UTC+01:00).
const DEFAULT_TZ: &str = "UTC-1";

pub fn suites() -> Vec<Suite> {
    vec![Suite::cases_json(
        "pve-common",
        "calendar_event",
        check_case,
    )]
}

/// The zone of a case; `UTC` also forces the spec to UTC, as upstream's test does.
fn case_zone(case: &Value) -> Result<TimeZone, String> {
    match case.get("timezone").and_then(Value::as_str) {
        None => TimeZone::posix(DEFAULT_TZ).map_err(|e| e.to_string()),
        Some("UTC") => Ok(TimeZone::UTC),
        Some(name) => TimeZone::get(name)
            .or_else(|_| TimeZone::posix(name))
            .map_err(|e| format!("unknown time zone '{name}': {e}")),
    }
}

fn check_case(case: &Value) -> Result<(), String> {
    let input = str_field(case, "input")?;
    let parsed = CalendarEvent::parse(input);
    match str_field(case, "expect")? {
        "error" => match parsed {
            Ok(_) => Err(format!("'{input}' parsed, but should have failed")),
            Err(_) => Ok(()),
        },
        "ok" => {
            let event = parsed.map_err(|e| format!("'{input}' failed to parse: {e}"))?;
            let tz = case_zone(case)?;
            let steps = case
                .get("next")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for step in steps {
                let last = step
                    .get("last")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| format!("'next' item without integer 'last': {step}"))?;
                let want = step.get("expected").cloned().unwrap_or(Value::Null);
                let got = event
                    .compute_next_event(last, &tz)
                    .map_err(|e| format!("'{input}' after {last}: {e}"))?;
                expect_eq(&format!("'{input}' after {last}"), &Value::from(got), &want)?;
            }
            Ok(())
        }
        other => Err(format!("unknown 'expect' value '{other}'")),
    }
}
