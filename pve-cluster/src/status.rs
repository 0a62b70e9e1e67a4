//! Node status behind the generated files: `.version`, `.members`, `.vmlist`,
//! `.clusterlog`, `.rrd` and `.debug`, in upstream's exact text layout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::memdb::{now_secs, Memdb};

/// The generated files in the root of the mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VirtualFile {
    Version,
    Members,
    Vmlist,
    Rrd,
    Clusterlog,
    Debug,
}

impl VirtualFile {
    pub const ALL: [VirtualFile; 6] = [
        VirtualFile::Version,
        VirtualFile::Members,
        VirtualFile::Vmlist,
        VirtualFile::Rrd,
        VirtualFile::Clusterlog,
        VirtualFile::Debug,
    ];

    pub fn name(self) -> &'static str {
        match self {
            VirtualFile::Version => ".version",
            VirtualFile::Members => ".members",
            VirtualFile::Vmlist => ".vmlist",
            VirtualFile::Rrd => ".rrd",
            VirtualFile::Clusterlog => ".clusterlog",
            VirtualFile::Debug => ".debug",
        }
    }

    pub fn from_name(name: &str) -> Option<VirtualFile> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// Permission bits before upstream's masking: only `.debug` is writable.
    pub fn mode(self) -> u32 {
        match self {
            VirtualFile::Debug => 0o640,
            _ => 0o440,
        }
    }
}

/// One cluster log entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub uid: u32,
    pub time: u32,
    pub priority: u8,
    pub tag: String,
    pub pid: u32,
    pub node: String,
    pub user: String,
    pub msg: String,
}

/// Status of this node (local mode: no cluster info, no kvstore peers).
pub struct Status {
    pub start_time: u32,
    pub nodename: String,
    debug: AtomicBool,
    clinfo_version: u32,
    log: Mutex<Vec<LogEntry>>,
}

/// Makes text safe for the JSON-ish log dump: control characters as `#` + three
/// digits, non-ASCII as `\uXXXX` (characters above the BMP dropped), `"` escaped.
fn log_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            c if (c as u32) < 32 || c as u32 == 127 => out.push_str(&format!("#{:03}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04x}", c as u32)),
            _ => {}
        }
    }
    out
}

impl Status {
    pub fn new(nodename: &str) -> Status {
        let st = Status {
            start_time: now_secs(),
            nodename: nodename.to_string(),
            debug: AtomicBool::new(false),
            clinfo_version: 0,
            log: Mutex::new(Vec::new()),
        };
        st.cluster_log(6, "root", "cluster", "starting cluster log");
        st
    }

    pub fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub fn set_debug(&self, on: bool) {
        self.debug.store(on, Ordering::Relaxed);
    }

    /// Adds an entry to the cluster log (newest last; the dump shows newest first).
    pub fn cluster_log(&self, priority: u8, user: &str, tag: &str, msg: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let uid = log.len() as u32 + 1;
        log.push(LogEntry {
            uid,
            time: now_secs(),
            priority,
            tag: tag.to_string(),
            pid: std::process::id(),
            node: self.nodename.clone(),
            user: user.to_string(),
            msg: msg.to_string(),
        });
        // Upstream keeps a 128 KiB ring; a bound on the entry count is enough here.
        if log.len() > 4096 {
            log.remove(0);
        }
    }

    pub fn render(&self, vf: VirtualFile, memdb: &Memdb) -> Vec<u8> {
        match vf {
            VirtualFile::Version => self.version_text(memdb),
            VirtualFile::Members => self.members_text(),
            VirtualFile::Vmlist => vmlist_text(memdb),
            VirtualFile::Rrd => String::new(),
            VirtualFile::Clusterlog => self.clusterlog_text(50),
            VirtualFile::Debug => format!("{}\n", u8::from(self.debug())),
        }
        .into_bytes()
    }

    fn version_text(&self, memdb: &Memdb) -> String {
        let mut s = String::from("{\n");
        s += &format!("\"starttime\": {},\n", self.start_time);
        s += &format!("\"clinfo\": {},\n", self.clinfo_version);
        s += &format!("\"vmlist\": {},\n", memdb.vmlist().version);
        for (path, count) in memdb.counters().iter() {
            s += &format!("\"{path}\": {count},\n");
        }
        s += "\"kvstore\": {\n";
        s += &format!("\"{}\": {{\n", self.nodename);
        s += "}\n}\n}\n";
        s
    }

    fn members_text(&self) -> String {
        format!(
            "{{\n\"nodename\": \"{}\",\n\"version\": {}\n}}\n",
            self.nodename, self.clinfo_version
        )
    }

    pub fn clusterlog_text(&self, max: usize) -> String {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let entries: Vec<String> = log
            .iter()
            .rev()
            .take(max)
            .map(|e| {
                format!(
                    "{{\"uid\": {}, \"time\": {}, \"pri\": {}, \"tag\": \"{}\", \"pid\": {}, \"node\": \"{}\", \"user\": \"{}\", \"msg\": \"{}\"}}",
                    e.uid,
                    e.time,
                    e.priority,
                    log_escape(&e.tag),
                    e.pid,
                    log_escape(&e.node),
                    log_escape(&e.user),
                    log_escape(&e.msg)
                )
            })
            .collect();
        let mut s = String::from("{\n\"data\": [\n");
        s += &entries.join(",\n");
        if !entries.is_empty() {
            s += "\n";
        }
        s += "]\n}\n";
        s
    }
}

/// `.vmlist`: the guest list with the list counter and per-guest counters.
pub fn vmlist_text(memdb: &Memdb) -> String {
    let vl = memdb.vmlist();
    let mut s = String::from("{\n");
    if vl.guests.is_empty() {
        s += &format!("\"version\": {}\n", vl.version);
    } else {
        s += &format!("\"version\": {},\n\"ids\": {{\n", vl.version);
        let lines: Vec<String> = vl
            .guests
            .iter()
            .map(|g| {
                format!(
                    "\"{}\": {{ \"node\": \"{}\", \"type\": \"{}\", \"version\": {} }}",
                    g.vmid,
                    g.node,
                    g.guest_type.as_str(),
                    g.version
                )
            })
            .collect();
        s += &lines.join(",\n");
        s += "}\n";
    }
    s += "\n}\n";
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape() {
        assert_eq!(log_escape("a\"b\tc\u{e9}"), "a\\\"b#009c\\u00e9");
    }
}
