//! UPIDs: the ids of worker tasks, `UPID:node:PID:PSTART:STARTTIME:type:id:user:`.
//!
//! PID, PSTART (process start in clock ticks since boot) and STARTTIME (epoch) are
//! upper-case hex, at least 8 digits (PSTART may take a 9th after long uptimes).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Upid {
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    pub worker_type: String,
    pub id: String,
    pub user: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse worker upid '{0}'")]
pub struct UpidParseError(pub String);

static UPID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):",
        r"([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
    ))
    .expect("valid UPID regex")
});

impl FromStr for Upid {
    type Err = UpidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UpidParseError(s.to_string());
        let c = UPID_RE.captures(s).ok_or_else(err)?;
        let hex = |i: usize| u64::from_str_radix(&c[i], 16).map_err(|_| err());
        Ok(Upid {
            node: c[1].to_string(),
            pid: u32::try_from(hex(2)?).map_err(|_| err())?,
            pstart: hex(3)?,
            starttime: i64::try_from(hex(4)?).map_err(|_| err())?,
            worker_type: c[5].to_string(),
            id: c[6].to_string(),
            user: c[7].to_string(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:",
            self.node, self.pid, self.pstart, self.starttime, self.worker_type, self.id, self.user
        )
    }
}

impl Upid {
    /// The task log below `task_dir` (`/var/log/pve/tasks`): upstream files each log in
    /// the subfolder named by the last hex digit of STARTTIME.
    pub fn log_path(&self, task_dir: &Path) -> PathBuf {
        let text = self.to_string();
        let start_hex = format!("{:08X}", self.starttime);
        let sub = &start_hex[start_hex.len() - 1..];
        task_dir.join(sub).join(text)
    }
}

/// The status of a finished task, from the last line of its log: `OK`, the error
/// message, `WARNINGS: n`, or `unexpected status`.
pub fn status_from_last_line(line: &str) -> String {
    let line = line.trim_end_matches('\n');
    if line == "TASK OK" {
        return "OK".into();
    }
    if let Some(msg) = line.strip_prefix("TASK ERROR: ") {
        if !msg.is_empty() {
            return msg.to_string();
        }
    }
    if let Some(rest) = line.strip_prefix("TASK WARNINGS: ") {
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            return format!("WARNINGS: {rest}");
        }
    }
    "unexpected status".into()
}

/// The status of a task whose whole log is `log`.
pub fn status_from_log(log: &str) -> String {
    let last = log.trim_end_matches('\n').rsplit('\n').next().unwrap_or("");
    status_from_last_line(last)
}

/// Whether a status string is an error (anything but `OK` and `WARNINGS: n`).
pub fn status_is_error(status: &str) -> bool {
    !(status == "OK" || normalize_status_type(status) == "warning")
}

/// `ok`, `warning`, `error` or `unknown`, as the task list filters use them.
pub fn normalize_status_type(status: &str) -> &'static str {
    match status {
        "" | "unexpected status" => "unknown",
        "OK" => "ok",
        s if s
            .strip_prefix("WARNINGS: ")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            "warning"
        }
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_log_path() {
        let s = "UPID:node1:0000C346:165A0CE4:68D7279C:qmstart:100:root@pam:";
        let u: Upid = s.parse().unwrap();
        assert_eq!(u.pid, 0xC346);
        assert_eq!(u.to_string(), s);
        assert_eq!(
            u.log_path(Path::new("/var/log/pve/tasks")),
            Path::new("/var/log/pve/tasks/C").join(s)
        );
        let nine = "UPID:n:00000001:123456789:68D7279C:t::u@pam:";
        assert_eq!(nine.parse::<Upid>().unwrap().to_string(), nine);
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "UPID:",
            "UPID:n:1:2:3:t::u:",
            "UPID:-n:0000C346:165A0CE4:68D7279C:t::u:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
        assert_eq!(
            "x".parse::<Upid>().unwrap_err().to_string(),
            "unable to parse worker upid 'x'"
        );
    }

    #[test]
    fn statuses() {
        assert_eq!(status_from_log("a\nTASK OK\n"), "OK");
        assert_eq!(status_from_log("TASK ERROR: boom\n"), "boom");
        assert_eq!(status_from_log("TASK WARNINGS: 3\n"), "WARNINGS: 3");
        assert_eq!(status_from_log("TASK WARNINGS: x\n"), "unexpected status");
        assert_eq!(status_from_log(""), "unexpected status");
        assert!(status_is_error("boom"));
        assert!(!status_is_error("WARNINGS: 2"));
    }
}
