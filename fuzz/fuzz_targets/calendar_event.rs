//! Parses arbitrary text as a calendar event; a parsed event must compute its next
//! occurrence without panicking, in UTC and in a zone with DST.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pve_common::calendar_event::CalendarEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(event) = CalendarEvent::parse(text) {
        let vienna = jiff::tz::TimeZone::get("Europe/Vienna").unwrap_or(jiff::tz::TimeZone::UTC);
        for last in [0i64, 1_540_677_600, 4_102_444_800] {
            let _ = event.compute_next_event(last, &jiff::tz::TimeZone::UTC);
            let _ = event.compute_next_event(last, &vienna);
        }
        // Printing and re-parsing the normalised form must work.
        let printed = event.to_string();
        CalendarEvent::parse(&printed).expect("printed calendar event parses again");
    }
});
