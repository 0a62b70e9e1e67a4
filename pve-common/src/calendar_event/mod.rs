//! Calendar events: the systemd-like schedule syntax of vzdump and replication jobs.
//!
//! A spec has up to three parts, each optional but at least one must be present:
//!
//! ```text
//! [WEEKDAYS] [[YEAR-]MONTH-DAY] [[HOUR:]MINUTE[:SECOND]] [UTC]
//! ```
//!
//! * weekdays: `mon`, `monday`, … (any case), comma lists and ranges `mon..fri`;
//! * every numeric component takes `*`, `*/STEP`, and comma lists of `N`, `A..B`, `N/STEP`
//!   and `A..B/STEP`;
//! * a missing time part means midnight, a missing second means second 0;
//! * the words `minutely`, `hourly`, `daily`, `weekly`, `monthly`, `yearly`/`annually`,
//!   `quarterly` and `semiannually`/`semi-annually` stand for the obvious specs;
//! * a trailing `UTC` makes the event be worked out in UTC instead of the node's zone.
//!
//! [`CalendarEvent::compute_next_event`] walks forward field by field on local wall-clock
//! time, the way PVE does it: each step sets some fields, lets overflowing ones carry
//! (minute 60 is the next hour, day 32 the next month), and reads the fields back after
//! mapping the wall-clock time into the zone. A wall-clock time in a DST gap is moved
//! forward by the length of the gap (so an event inside the skipped hour does not fire that
//! day); a time in the repeated hour maps to its first occurrence unless that lies before
//! the point already reached.

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{Span, Timestamp};

/// Why a spec was rejected, or why no next event could be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarEventError {
    #[error("unable to parse calendar event - event is empty")]
    Empty,
    #[error("unable to parse calendar event - unused parts")]
    UnusedParts,
    #[error("unable to parse calendar event - expected date or time specification at '{0}'")]
    NoSpec(String),
    #[error("unable to parse weekday specification '{0}'")]
    Weekday(String),
    /// Both weekday and numeric ranges must go upwards (`sat..sun` and `sun..tue` are
    /// fine, `fri..mon` is not).
    #[error("wrong order in range '{0}'")]
    WrongOrder(String),
    #[error("value '{0}' out of range")]
    Value(String),
    #[error("repetition '{0}' out of range")]
    Repetition(String),
    #[error("range end '{0}' out of range")]
    RangeEnd(String),
    /// The search left the range of representable times (roughly years 0 to 9999).
    #[error("unable to compute next calendar event - time out of range")]
    TimeOutOfRange,
}

/// One item of a numeric component list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueSpec {
    Single(u32),
    Range(u32, u32),
    /// `start`, `start + step`, … up to `end` (inclusive) if given. A step of 0 means just
    /// `start`.
    Step {
        start: u32,
        step: u32,
        end: Option<u32>,
    },
}

impl ValueSpec {
    fn contains(self, v: u32) -> bool {
        match self {
            ValueSpec::Single(s) => s == v,
            ValueSpec::Range(a, b) => (a..=b).contains(&v),
            ValueSpec::Step { start, step, end } => {
                if v < start || end.is_some_and(|e| v > e) {
                    false
                } else if step == 0 {
                    v == start
                } else {
                    (v - start) % step == 0
                }
            }
        }
    }

    /// The smallest matching value greater than `v`.
    fn next_after(self, v: u32) -> Option<u32> {
        match self {
            ValueSpec::Single(s) => (s > v).then_some(s),
            ValueSpec::Range(a, b) => {
                if v < a {
                    Some(a)
                } else {
                    v.checked_add(1).filter(|n| *n <= b)
                }
            }
            ValueSpec::Step { start, step, end } => {
                let n = if v < start {
                    start
                } else {
                    // A step of 0 has no value after `start`.
                    let k = (v - start).checked_div(step)? + 1;
                    start.checked_add(k.checked_mul(step)?)?
                };
                (end.is_none_or(|e| n <= e)).then_some(n)
            }
        }
    }
}

/// A component: empty means "any value".
type ValueList = Vec<ValueSpec>;

fn list_contains(list: &[ValueSpec], v: u32) -> bool {
    list.is_empty() || list.iter().any(|s| s.contains(v))
}

fn list_next_after(list: &[ValueSpec], v: u32) -> Option<u32> {
    list.iter().filter_map(|s| s.next_after(v)).min()
}

const WEEKDAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];
const ALL_WEEKDAYS: u8 = 0x7f;

/// A parsed calendar event. Build it with [`CalendarEvent::parse`] (or `str::parse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEvent {
    /// The trimmed spec as given, for display.
    spec: String,
    utc: bool,
    /// Bit `n` set: weekday `n` (Monday = 0) matches; 0 means every day.
    weekdays: u8,
    year: ValueList,
    month: ValueList,
    day: ValueList,
    hour: ValueList,
    minute: ValueList,
    second: ValueList,
}

impl CalendarEvent {
    /// Parses a spec; surrounding whitespace is ignored.
    pub fn parse(spec: &str) -> Result<Self, CalendarEventError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(CalendarEventError::Empty);
        }
        let (body, utc) = match spec.strip_suffix("UTC") {
            Some(rest) => (rest.trim_end(), true),
            None => (spec, false),
        };
        let mut event = match special_word(body) {
            Some(event) => event,
            None => Parser::new(body).parse_event()?,
        };
        event.spec = spec.to_string();
        event.utc = utc;
        Ok(event)
    }

    /// Whether the spec ends in `UTC`, i.e. ignores the zone passed to
    /// [`compute_next_event`](Self::compute_next_event).
    pub fn is_utc(&self) -> bool {
        self.utc
    }

    /// The first event strictly after `last` (Unix epoch seconds), worked out on the wall
    /// clock of `tz` (or of UTC if the spec ends in `UTC`). `Ok(None)` when the spec has no
    /// further event (e.g. a year in the past) or none turned up within the search limit.
    pub fn compute_next_event(
        &self,
        last: i64,
        tz: &TimeZone,
    ) -> Result<Option<i64>, CalendarEventError> {
        let tz = if self.utc { &TimeZone::UTC } else { tz };
        let start = last
            .checked_add(1)
            .ok_or(CalendarEventError::TimeOutOfRange)?;
        let mut t = Cursor::at(tz, start)?;
        let every_day = self.weekdays == 0 || self.weekdays == ALL_WEEKDAYS;

        // Each round moves the cursor forward to the next candidate of one field; PVE gives
        // up after about a thousand rounds.
        for _ in 0..=1000 {
            if !self.year.is_empty() {
                let year =
                    u32::try_from(t.dt.year()).map_err(|_| CalendarEventError::TimeOutOfRange)?;
                if !list_contains(&self.year, year) {
                    match list_next_after(&self.year, year) {
                        Some(n) => t.add_years(i64::from(n - year))?,
                        None => return Ok(None),
                    }
                    continue;
                }
            }

            let month = t.dt.month() as u32;
            if !list_contains(&self.month, month) {
                match list_next_after(&self.month, month) {
                    Some(n) => t.add_months(i64::from(n - month))?,
                    None => t.add_years(1)?,
                }
                continue;
            }

            let day = t.dt.day() as u32;
            if !list_contains(&self.day, day) {
                match list_next_after(&self.day, day) {
                    Some(n) => t.add_days(i64::from(n - day))?,
                    None => t.add_months(1)?,
                }
                continue;
            }

            if !every_day {
                let wday = t.dt.weekday().to_monday_zero_offset() as u32;
                if self.weekdays & (1 << wday) == 0 {
                    let next = (wday + 1..7).find(|d| self.weekdays & (1 << d) != 0);
                    t.add_days(i64::from(next.unwrap_or(7) - wday))?;
                    continue;
                }
            }

            let hour = t.dt.hour() as u32;
            if !list_contains(&self.hour, hour) {
                match list_next_after(&self.hour, hour) {
                    Some(n) => t.set_time(i64::from(n), 0, 0)?,
                    None => t.add_days(1)?,
                }
                continue;
            }

            let minute = t.dt.minute() as u32;
            if !list_contains(&self.minute, minute) {
                match list_next_after(&self.minute, minute) {
                    Some(n) => t.set_time(i64::from(hour), i64::from(n), 0)?,
                    None => t.set_time(i64::from(hour) + 1, 0, 0)?,
                }
                continue;
            }

            let second = t.dt.second() as u32;
            if !list_contains(&self.second, second) {
                match list_next_after(&self.second, second) {
                    Some(n) => t.set_time(i64::from(hour), i64::from(minute), i64::from(n))?,
                    None => t.set_time(i64::from(hour), i64::from(minute) + 1, 0)?,
                }
                continue;
            }

            return Ok(Some(t.ts.as_second()));
        }
        Ok(None)
    }

    /// [`compute_next_event`](Self::compute_next_event) in the node's zone (`TZ`, else
    /// `/etc/localtime`). jiff caches that zone for a few minutes, so a change of `TZ`
    /// inside a running process is not seen at once.
    pub fn compute_next_event_local(&self, last: i64) -> Result<Option<i64>, CalendarEventError> {
        self.compute_next_event(last, &TimeZone::system())
    }
}

impl FromStr for CalendarEvent {
    type Err = CalendarEventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CalendarEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.spec)
    }
}

fn empty_event() -> CalendarEvent {
    CalendarEvent {
        spec: String::new(),
        utc: false,
        weekdays: 0,
        year: Vec::new(),
        month: Vec::new(),
        day: Vec::new(),
        hour: Vec::new(),
        minute: Vec::new(),
        second: Vec::new(),
    }
}

fn special_word(word: &str) -> Option<CalendarEvent> {
    let zero = || vec![ValueSpec::Single(0)];
    let months = |list: &[u32]| {
        list.iter()
            .map(|m| ValueSpec::Single(*m))
            .collect::<Vec<_>>()
    };
    let mut ev = empty_event();
    ev.second = zero();
    // Each word fixes every field below its own unit.
    let (minute, hour, day, month): (bool, bool, bool, Option<&[u32]>) = match word {
        "minutely" => (false, false, false, None),
        "hourly" => (true, false, false, None),
        "daily" | "weekly" => (true, true, false, None),
        "monthly" => (true, true, true, None),
        "yearly" | "annually" => (true, true, true, Some(&[1])),
        "quarterly" => (true, true, true, Some(&[1, 4, 7, 10])),
        "semiannually" | "semi-annually" => (true, true, true, Some(&[1, 7])),
        _ => return None,
    };
    if minute {
        ev.minute = zero();
    }
    if hour {
        ev.hour = zero();
    }
    if day {
        ev.day = vec![ValueSpec::Single(1)];
    }
    if let Some(list) = month {
        ev.month = months(list);
    }
    if word == "weekly" {
        ev.weekdays = 1;
    }
    Some(ev)
}

/// A backtracking parser over the spec body (without the `UTC` suffix).
///
/// Alternatives that fail are dropped silently, as the grammar is ambiguous (`12-24` is a
/// date, `12` a minute); the most advanced specific complaint is kept to explain the
/// failure of the whole spec.
struct Parser<'a> {
    s: &'a str,
    complaint: Option<(usize, CalendarEventError)>,
}

type Parsed<T> = Option<(usize, T)>;

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Self { s, complaint: None }
    }

    fn complain(&mut self, pos: usize, err: CalendarEventError) {
        if self.complaint.as_ref().is_none_or(|(p, _)| pos > *p) {
            self.complaint = Some((pos, err));
        }
    }

    fn rest(&self, pos: usize) -> &'a str {
        self.s.get(pos..).unwrap_or("")
    }

    fn skip_blanks(&self, pos: usize) -> usize {
        let rest = self.rest(pos);
        pos + (rest.len() - rest.trim_start_matches([' ', '\t']).len())
    }

    fn parse_event(mut self) -> Result<CalendarEvent, CalendarEventError> {
        let mut ev = empty_event();
        let mut pos = 0;
        let mut found = false;

        if self.s.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let (p, days) = self.weekday_list(0).ok_or_else(|| self.failure(0))?;
            ev.weekdays = days;
            pos = self.skip_blanks(p);
            found = true;
        }
        if let Some((p, (year, month, day))) = self.date(pos) {
            (ev.year, ev.month, ev.day) = (year, month, day);
            pos = self.skip_blanks(p);
            found = true;
        }
        match self.time(pos) {
            Some((p, (hour, minute, second))) => {
                (ev.hour, ev.minute, ev.second) = (hour, minute, second);
                pos = p;
                found = true;
            }
            None => {
                let zero = vec![ValueSpec::Single(0)];
                (ev.hour, ev.minute, ev.second) = (zero.clone(), zero.clone(), zero);
            }
        }
        if !found || pos < self.s.len() {
            return Err(self.failure(pos));
        }
        Ok(ev)
    }

    /// The error for a parse that stopped at `pos`.
    fn failure(&mut self, pos: usize) -> CalendarEventError {
        match self.complaint.take() {
            Some((p, err)) if p >= pos => err,
            _ if pos == 0 => CalendarEventError::NoSpec(self.s.to_string()),
            _ => CalendarEventError::UnusedParts,
        }
    }

    fn weekday_list(&mut self, pos: usize) -> Parsed<u8> {
        let (mut pos, mut days) = self.weekday_range(pos)?;
        while self.rest(pos).starts_with(',') {
            let Some((p, more)) = self.weekday_range(pos + 1) else {
                break;
            };
            days |= more;
            pos = p;
        }
        Some((pos, days))
    }

    fn weekday_range(&mut self, pos: usize) -> Parsed<u8> {
        let (p, first) = self.weekday(pos)?;
        if self.rest(p).starts_with("..") {
            if let Some((end, last)) = self.weekday(p + 2) {
                // Sunday is both the start and the end of a week: `sun..tue` and `sat..sun`.
                if last < first && first != 6 {
                    let range = &self.s[pos..end];
                    self.complain(pos, CalendarEventError::WrongOrder(range.to_string()));
                    return None;
                }
                let mut mask = 0u8;
                let mut d = first;
                loop {
                    mask |= 1 << d;
                    if d == last {
                        break;
                    }
                    d = (d + 1) % 7;
                }
                return Some((end, mask));
            }
        }
        Some((p, 1 << first))
    }

    /// A weekday name, as its Monday-based number.
    fn weekday(&mut self, pos: usize) -> Parsed<u8> {
        let rest = self.rest(pos);
        let len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let word = &rest[..len];
        if word.is_empty() {
            return None;
        }
        let lower = word.to_ascii_lowercase();
        match WEEKDAY_NAMES
            .iter()
            .position(|(short, long)| lower == *short || lower == *long)
        {
            Some(n) => Some((pos + len, n as u8)),
            None => {
                self.complain(pos, CalendarEventError::Weekday(word.to_string()));
                None
            }
        }
    }

    /// `YEAR-MONTH-DAY` or `MONTH-DAY`.
    fn date(&mut self, pos: usize) -> Parsed<(ValueList, ValueList, ValueList)> {
        let full = self.value_list(pos, 0, 2200).and_then(|(p, year)| {
            let (p, month) = self.dash_then(p, 1, 13)?;
            let (p, day) = self.dash_then(p, 1, 32)?;
            Some((p, (year, month, day)))
        });
        full.or_else(|| {
            let (p, month) = self.value_list(pos, 1, 13)?;
            let (p, day) = self.dash_then(p, 1, 32)?;
            Some((p, (Vec::new(), month, day)))
        })
    }

    fn dash_then(&mut self, pos: usize, first: u32, max: u32) -> Parsed<ValueList> {
        if self.rest(pos).starts_with('-') {
            self.value_list(pos + 1, first, max)
        } else {
            None
        }
    }

    /// `[HOUR:]MINUTE[:SECOND]`; the second defaults to 0, the hour to any.
    fn time(&mut self, pos: usize) -> Parsed<(ValueList, ValueList, ValueList)> {
        let (pos, hour) = match self.value_list(pos, 0, 24) {
            Some((p, hour)) if self.rest(p).starts_with(':') => (p + 1, hour),
            _ => (pos, Vec::new()),
        };
        let (pos, minute) = self.value_list(pos, 0, 60)?;
        if self.rest(pos).starts_with(':') {
            if let Some((p, second)) = self.value_list(pos + 1, 0, 60) {
                return Some((p, (hour, minute, second)));
            }
        }
        Some((pos, (hour, minute, vec![ValueSpec::Single(0)])))
    }

    /// `*`, `*/STEP` (from `first`), or a comma list of values, ranges and steps; every
    /// number must be below `max`.
    fn value_list(&mut self, pos: usize, first: u32, max: u32) -> Parsed<ValueList> {
        if self.rest(pos).starts_with('*') {
            let p = pos + 1;
            if self.rest(p).starts_with('/') {
                let (end, step) = self.number(p + 1, max, CalendarEventError::Repetition)?;
                if step > 0 {
                    return Some((
                        end,
                        vec![ValueSpec::Step {
                            start: first,
                            step,
                            end: None,
                        }],
                    ));
                }
                self.complain(p + 1, CalendarEventError::Repetition("0".into()));
            }
            return Some((p, Vec::new()));
        }
        let (mut pos, item) = self.value_item(pos, max)?;
        let mut list = vec![item];
        while self.rest(pos).starts_with(',') {
            let Some((p, item)) = self.value_item(pos + 1, max) else {
                break;
            };
            list.push(item);
            pos = p;
        }
        Some((pos, list))
    }

    fn value_item(&mut self, pos: usize, max: u32) -> Parsed<ValueSpec> {
        let (p, start) = self.number(pos, max, CalendarEventError::Value)?;
        if self.rest(p).starts_with("..") {
            if let Some((q, end)) = self.number(p + 2, max, CalendarEventError::RangeEnd) {
                if start > end {
                    let range = &self.s[pos..q];
                    self.complain(pos, CalendarEventError::WrongOrder(range.to_string()));
                    return None;
                }
                if self.rest(q).starts_with('/') {
                    let (r, step) = self.number(q + 1, max, CalendarEventError::Repetition)?;
                    return Some((
                        r,
                        ValueSpec::Step {
                            start,
                            step,
                            end: Some(end),
                        },
                    ));
                }
                return Some((q, ValueSpec::Range(start, end)));
            }
        }
        if self.rest(p).starts_with('/') {
            let (q, step) = self.number(p + 1, max, CalendarEventError::Repetition)?;
            return Some((
                q,
                ValueSpec::Step {
                    start,
                    step,
                    end: None,
                },
            ));
        }
        Some((p, ValueSpec::Single(start)))
    }

    /// Decimal digits whose value is below `max`; `too_big` builds the complaint otherwise.
    fn number(
        &mut self,
        pos: usize,
        max: u32,
        too_big: fn(String) -> CalendarEventError,
    ) -> Parsed<u32> {
        let rest = self.rest(pos);
        let len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let digits = &rest[..len];
        if digits.is_empty() {
            return None;
        }
        match digits.parse::<u32>() {
            Ok(v) if v < max => Some((pos + len, v)),
            _ => {
                let shown = digits.trim_start_matches('0');
                let shown = if shown.is_empty() { "0" } else { shown };
                self.complain(pos, too_big(shown.to_string()));
                None
            }
        }
    }
}

/// A wall-clock position in a zone, edited field-wise like a C `struct tm`.
struct Cursor<'a> {
    tz: &'a TimeZone,
    ts: Timestamp,
    dt: DateTime,
}

impl<'a> Cursor<'a> {
    fn at(tz: &'a TimeZone, epoch: i64) -> Result<Self, CalendarEventError> {
        let ts = Timestamp::from_second(epoch).map_err(|_| CalendarEventError::TimeOutOfRange)?;
        Ok(Self {
            tz,
            ts,
            dt: tz.to_datetime(ts),
        })
    }

    fn add_years(&mut self, n: i64) -> Result<(), CalendarEventError> {
        self.set(i64::from(self.dt.year()) + n, 1, 1, 0, 0, 0)
    }

    fn add_months(&mut self, n: i64) -> Result<(), CalendarEventError> {
        self.set(
            i64::from(self.dt.year()),
            i64::from(self.dt.month()) + n,
            1,
            0,
            0,
            0,
        )
    }

    fn add_days(&mut self, n: i64) -> Result<(), CalendarEventError> {
        let (y, m, d) = (self.dt.year(), self.dt.month(), self.dt.day());
        self.set(i64::from(y), i64::from(m), i64::from(d) + n, 0, 0, 0)
    }

    fn set_time(&mut self, hour: i64, minute: i64, second: i64) -> Result<(), CalendarEventError> {
        let (y, m, d) = (self.dt.year(), self.dt.month(), self.dt.day());
        self.set(
            i64::from(y),
            i64::from(m),
            i64::from(d),
            hour,
            minute,
            second,
        )
    }

    /// Moves to the given wall-clock fields, carrying overflow upwards (day 32 of January
    /// is February 1st), then re-reads the fields from the resulting instant.
    fn set(
        &mut self,
        year: i64,
        month: i64,
        day: i64,
        hour: i64,
        minute: i64,
        second: i64,
    ) -> Result<(), CalendarEventError> {
        let out = |_| CalendarEventError::TimeOutOfRange;
        let secs = hour * 3600 + minute * 60 + second;
        let days = day - 1 + secs.div_euclid(86400);
        let secs = secs.rem_euclid(86400);
        let year = year + (month - 1).div_euclid(12);
        let month = (month - 1).rem_euclid(12) + 1;

        let year = i16::try_from(year).map_err(|_| CalendarEventError::TimeOutOfRange)?;
        let date = Date::new(year, month as i8, 1).map_err(out)?;
        let date = date
            .checked_add(Span::new().try_days(days).map_err(out)?)
            .map_err(out)?;
        let time = Time::new(
            (secs / 3600) as i8,
            (secs / 60 % 60) as i8,
            (secs % 60) as i8,
            0,
        )
        .map_err(out)?;
        let wall = DateTime::from_parts(date, time);

        let ts = match self.tz.to_ambiguous_timestamp(wall).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(wall),
            // Keep the old offset: the wall time moves forward by the gap.
            AmbiguousOffset::Gap { before, .. } => before.to_timestamp(wall),
            AmbiguousOffset::Fold { before, after } => match before.to_timestamp(wall) {
                Ok(first) if first >= self.ts => Ok(first),
                _ => after.to_timestamp(wall),
            },
        }
        .map_err(out)?;
        self.ts = ts;
        self.dt = self.tz.to_datetime(ts);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
