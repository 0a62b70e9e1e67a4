//! What the task code needs from `/proc` and signals: a process' start time (stat
//! field 22, clock ticks since boot) and whether a (pid, start time) pair still lives.

use std::fs;

/// The fields of `/proc/<pid>/stat` that tell a task's process apart: its state letter
/// and its start time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub state: char,
    pub starttime: u64,
}

/// Parses the text of a `stat` file. The command name (field 2) may hold spaces and
/// parentheses, so the fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // `fields` starts at field 3 (state); the start time is field 22.
    let state = fields.next()?.chars().next()?;
    let starttime = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, starttime })
}

pub(crate) fn read_stat(pid: u32) -> Option<ProcStat> {
    if pid == 0 {
        return None;
    }
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// This process' start time, the PSTART of the UPIDs it creates.
pub(crate) fn self_pstart() -> Option<u64> {
    parse_stat(&fs::read_to_string("/proc/self/stat").ok()?).map(|s| s.starttime)
}

/// Whether `pid` runs and is not a zombie; with `pstart`, also that it is the same
/// process (a reused pid has another start time).
pub(crate) fn process_running(pid: u32, pstart: Option<u64>) -> bool {
    match read_stat(pid) {
        Some(st) => st.state != 'Z' && pstart.is_none_or(|p| p == st.starttime),
        None => false,
    }
}

/// Sends `sig` to the process group led by `pid`, or to `pid` alone when it leads none.
pub(crate) fn signal_group(pid: u32, sig: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a group.
    let rc = unsafe { libc::kill(-pid, sig) };
    if rc != 0 {
        // SAFETY: as above.
        unsafe { libc::kill(pid, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parsing() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 200 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                starttime: 987654
            })
        );
        assert_eq!(parse_stat(""), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
        let me = self_pstart().expect("own stat");
        assert!(process_running(std::process::id(), Some(me)));
        assert!(!process_running(std::process::id(), Some(me + 1)));
        assert!(!process_running(0, None));
    }
}
