use super::*;

fn next_in(spec: &str, tz: &TimeZone, last: i64) -> Option<i64> {
    let event = CalendarEvent::parse(spec).unwrap_or_else(|e| panic!("'{spec}': {e}"));
    event
        .compute_next_event(last, tz)
        .unwrap_or_else(|e| panic!("'{spec}' after {last}: {e}"))
}

fn next_utc(spec: &str, last: i64) -> Option<i64> {
    next_in(spec, &TimeZone::UTC, last)
}

fn vienna() -> TimeZone {
    TimeZone::get("Europe/Vienna").expect("zoneinfo has Europe/Vienna")
}

fn parse_err(spec: &str) -> String {
    match CalendarEvent::parse(spec) {
        Ok(ev) => panic!("'{spec}' parsed as {ev:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors_use_upstream_texts() {
    assert_eq!(
        parse_err(""),
        "unable to parse calendar event - event is empty"
    );
    assert_eq!(
        parse_err("  \t "),
        "unable to parse calendar event - event is empty"
    );
    assert_eq!(
        parse_err(" mon 0 0"),
        "unable to parse calendar event - unused parts"
    );
    assert_eq!(
        parse_err(" mon 0 0 0"),
        "unable to parse calendar event - unused parts"
    );
    assert_eq!(parse_err("Fri..Mon"), "wrong order in range 'Fri..Mon'");
    assert_eq!(parse_err("mon,fri..tue"), "wrong order in range 'fri..tue'");
    assert_eq!(parse_err("61"), "value '61' out of range");
    assert_eq!(parse_err("*/61"), "repetition '61' out of range");
    assert_eq!(parse_err("0..80"), "range end '80' out of range");
    assert_eq!(parse_err("5..3"), "wrong order in range '5..3'");
    assert_eq!(parse_err("2024-13-01"), "value '13' out of range");
    assert_eq!(
        parse_err("99999999999999"),
        "value '99999999999999' out of range"
    );
    assert_eq!(
        parse_err("foo"),
        "unable to parse weekday specification 'foo'"
    );
    assert!(parse_err("UTC").starts_with("unable to parse calendar event"));
    for bad in [
        "mon,",
        "1,",
        "1..",
        "*/0",
        "2200-01-01",
        "mon 12:00 x",
        "-5",
        "12:",
        "mon..foo",
    ] {
        assert!(CalendarEvent::parse(bad).is_err(), "'{bad}' must fail");
    }
}

#[test]
fn accepted_specs() {
    for ok in [
        "*",
        "sun..sat",
        "sat..sun",
        "sun..tue",
        "wed,mon..tue,fri",
        "mon */15",
        "Monday 12:00",
        "2024-02-29",
        "*-12-24 18:00",
        "12-24",
        "2020..2030/2-*-1",
        "*:*:*",
        "0..59/5:0",
        "daily UTC",
        "  hourly  ",
        "semi-annually",
    ] {
        CalendarEvent::parse(ok).unwrap_or_else(|e| panic!("'{ok}': {e}"));
    }
    let ev = CalendarEvent::parse("  mon..fri 02:30 UTC ").expect("valid");
    assert!(ev.is_utc());
    assert_eq!(ev.to_string(), "mon..fri 02:30 UTC");
}

#[test]
fn minute_resolution_and_lists() {
    assert_eq!(next_utc("*", 0), Some(60));
    assert_eq!(next_utc("*", 59), Some(60));
    assert_eq!(next_utc("*/10", 599), Some(600));
    assert_eq!(next_utc("1,4,6", 360), Some(3660));
    assert_eq!(next_utc("1/12:0/15", 3600 + 45 * 60), Some(13 * 3600));
    assert_eq!(
        next_utc("20..22:*/30", 22 * 3600 + 30 * 60),
        Some(44 * 3600)
    );
    assert_eq!(
        next_utc("2,4:0,1,3..5", 2 * 3600 + 60),
        Some(2 * 3600 + 180)
    );
    // Epoch 0 is a Thursday.
    assert_eq!(next_utc("Mon", 0), Some(4 * 86400));
    assert_eq!(next_utc("sat..sun", 2 * 86400), Some(3 * 86400));
    assert_eq!(next_utc("weekly", 0), Some(4 * 86400));
    assert_eq!(next_utc("monthly", 0), Some(31 * 86400));
    assert_eq!(next_utc("quarterly", 0), Some(90 * 86400));
}

#[test]
fn seconds() {
    assert_eq!(next_utc("*:*:30", 0), Some(30));
    assert_eq!(next_utc("*:*:30", 30), Some(90));
    assert_eq!(next_utc("*:*:*", 0), Some(1));
    assert_eq!(next_utc("*:0:15,45", 15), Some(45));
    assert_eq!(next_utc("*:0:15,45", 45), Some(3600 + 15));
    assert_eq!(next_utc("minutely", 0), Some(60));
}

#[test]
fn leap_years_and_feb_29() {
    assert_eq!(next_utc("*-02-29", 1546300800), Some(1582934400)); // 2019 -> 2020-02-29
    assert_eq!(next_utc("*-02-29", 3981398400), Some(4233686400)); // 2096 -> 2104, not 2100
    assert_eq!(next_utc("2100-02-29", 0), None);
    assert_eq!(next_utc("2019-*-*", 1546300800), Some(1546300800 + 86400));
    assert_eq!(next_utc("2018-*-*", 1546300800), None);
    // Feb 30 never exists: the search gives up instead of looping forever.
    assert_eq!(next_utc("*-02-30", 0), None);
    // February has no 31st: 2019-02-01 -> 2019-03-31.
    assert_eq!(next_utc("*-*-31", 1548979200), Some(1553990400));
}

#[test]
fn utc_suffix_ignores_the_zone() {
    let plus_one = TimeZone::posix("UTC-1").expect("posix zone");
    assert_eq!(next_in("daily", &plus_one, 0), Some(23 * 3600));
    assert_eq!(next_in("daily UTC", &plus_one, 0), Some(86400));
    // 2018-10-28 00:00 local in Vienna (CEST); Monday 00:00 CET vs. 00:00 UTC.
    assert_eq!(next_in("mon..fri", &vienna(), 1540677600), Some(1540767600));
    assert_eq!(
        next_in("mon..fri UTC", &vienna(), 1540677600),
        Some(1540771200)
    );
}

#[test]
fn dst_spring_forward_vienna() {
    let tz = vienna();
    // 02:30 does not exist on 2018-03-25, so that day has no event.
    assert_eq!(next_in("02:30", &tz, 1521889200), Some(1522024200));
    // From 01:45 CET the next half hour is 03:00 CEST (01:00Z).
    assert_eq!(next_in("*:0/30", &tz, 1521938700), Some(1521939600));
    assert_eq!(next_in("hourly", &tz, 1521938700), Some(1521939600));
}

#[test]
fn dst_fall_back_vienna() {
    let tz = vienna();
    // 02:30 on 2018-10-28 is the first (CEST) one.
    assert_eq!(next_in("02:30", &tz, 1540677600), Some(1540686600));
    // Inside the repeated hour (02:05 CET) the result never goes backwards.
    assert_eq!(next_in("*:0/30", &tz, 1540688700), Some(1540690200));
    // Wall-clock stepping from 02:45 CEST goes on at 03:00 CET, like upstream.
    assert_eq!(next_in("*:0/30", &tz, 1540687500), Some(1540692000));
}

#[test]
fn edges_never_panic() {
    let ev = CalendarEvent::parse("*").expect("valid");
    assert!(ev.compute_next_event(i64::MAX, &TimeZone::UTC).is_err());
    assert!(ev.compute_next_event(i64::MIN, &TimeZone::UTC).is_err());
    let late = 253402300799 - 30; // 9999-12-31T23:59:29Z
    assert!(ev.compute_next_event(late, &TimeZone::UTC).is_err());
    let ev = CalendarEvent::parse("*-02-30").expect("valid");
    assert!(ev
        .compute_next_event(late - 86400 * 365, &TimeZone::UTC)
        .is_err());

    // Every short string over the spec alphabet parses or fails cleanly.
    let alphabet: Vec<char> = "0129*/.,:- monUTCsa".chars().collect();
    let n = alphabet.len();
    for i in 0..n.pow(4) {
        let s: String = (0..4).map(|k| alphabet[i / n.pow(k) % n]).collect();
        if let Ok(ev) = CalendarEvent::parse(&s) {
            let _ = ev.compute_next_event(1_700_000_000, &TimeZone::UTC);
        }
    }
}
