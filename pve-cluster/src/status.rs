//! Node status behind the generated files: `.version`, `.members`, `.vmlist`,
//! `.clusterlog`, `.rrd` and `.debug`, in upstream's exact text layout.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::clog::{ClusterLog, Entry, LogMsg, Ring};
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

/// One node of the corosync nodelist.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterNode {
    pub name: String,
    pub nodeid: u32,
    pub votes: u32,
    pub ring0_addr: String,
}

/// The cluster as corosync's cmap describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterInfo {
    pub name: String,
    pub config_version: u64,
    pub nodes: Vec<ClusterNode>,
}

#[derive(Default)]
struct ClusterView {
    info: Option<ClusterInfo>,
    /// Node ids whose pmxcfs is in the kvstore group.
    online: Vec<u32>,
    clinfo_version: u32,
    /// `nodeip` broadcasts per node name.
    ips: BTreeMap<String, String>,
    /// Other kvstore keys per node name: key → (version, value).
    kv: BTreeMap<String, BTreeMap<String, (u32, Vec<u8>)>>,
}

/// Status of this node: cluster info, quorum, kvstore tables, cluster log.
pub struct Status {
    pub start_time: u32,
    pub nodename: String,
    debug: AtomicBool,
    quorate: AtomicBool,
    cluster: Mutex<ClusterView>,
    log: Mutex<ClusterLog>,
    /// Broadcasts a local cluster log entry (cluster mode, set by the kvstore).
    log_sink: Mutex<Option<LogSink>>,
}

/// Sends a local cluster log entry to the other nodes.
pub type LogSink = Box<dyn Fn(&Entry) + Send + Sync>;

impl Status {
    pub fn new(nodename: &str) -> Status {
        let st = Status {
            start_time: now_secs(),
            nodename: nodename.to_string(),
            debug: AtomicBool::new(false),
            quorate: AtomicBool::new(true),
            cluster: Mutex::new(ClusterView::default()),
            log: Mutex::new(ClusterLog::default()),
            log_sink: Mutex::new(None),
        };
        st.cluster_log(6, "root", "cluster", "starting cluster log");
        st
    }

    /// Whether writes are allowed (local mode: always).
    pub fn quorate(&self) -> bool {
        self.quorate.load(Ordering::SeqCst)
    }

    pub fn set_quorate(&self, q: bool) {
        self.quorate.store(q, Ordering::SeqCst);
    }

    fn view(&self) -> std::sync::MutexGuard<'_, ClusterView> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn cluster_info(&self) -> Option<ClusterInfo> {
        self.view().info.clone()
    }

    /// New cmap contents (bumps the clinfo counter only on a change).
    pub fn set_cluster_info(&self, info: ClusterInfo) {
        let mut v = self.view();
        if v.info.as_ref() != Some(&info) {
            v.info = Some(info);
            v.clinfo_version += 1;
        }
    }

    /// The node ids whose pmxcfs is in the kvstore group.
    pub fn set_online(&self, nodeids: Vec<u32>) {
        let mut v = self.view();
        v.online = nodeids;
        v.clinfo_version += 1;
    }

    pub fn node_name(&self, nodeid: u32) -> Option<String> {
        self.view()
            .info
            .as_ref()?
            .nodes
            .iter()
            .find(|n| n.nodeid == nodeid)
            .map(|n| n.name.clone())
    }

    pub fn set_node_ip(&self, node: &str, ip: &str) {
        self.view().ips.insert(node.to_string(), ip.to_string());
    }

    /// Stores a kvstore key of `node` (empty value: delete).
    pub fn set_kv(&self, node: &str, key: &str, value: &[u8]) {
        let mut v = self.view();
        let table = v.kv.entry(node.to_string()).or_default();
        if value.is_empty() {
            table.remove(key);
        } else {
            let version = table.get(key).map(|e| e.0 + 1).unwrap_or(1);
            table.insert(key.to_string(), (version, value.to_vec()));
        }
    }

    pub fn get_kv(&self, node: &str, key: &str) -> Option<Vec<u8>> {
        self.view().kv.get(node)?.get(key).map(|e| e.1.clone())
    }

    /// All keys this node has set (re-broadcast after a kvstore sync).
    pub fn local_kv(&self) -> Vec<(String, Vec<u8>)> {
        self.view()
            .kv
            .get(&self.nodename)
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.1.clone())).collect())
            .unwrap_or_default()
    }

    pub fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub fn set_debug(&self, on: bool) {
        self.debug.store(on, Ordering::Relaxed);
    }

    /// Adds an entry of this node to the cluster log and sends it to the others.
    pub fn cluster_log(&self, priority: u8, user: &str, tag: &str, msg: &str) {
        self.cluster_log_from(std::process::id(), priority, user, tag, msg);
    }

    /// [`Status::cluster_log`] for a message of process `pid` (IPC clients).
    pub fn cluster_log_from(&self, pid: u32, priority: u8, user: &str, tag: &str, msg: &str) {
        let entry = {
            let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
            let e = log.pack(&LogMsg {
                node: &self.nodename,
                ident: user,
                tag,
                pid,
                time: now_secs(),
                priority: priority.min(7),
                msg,
            });
            log.insert(&e);
            e
        };
        if let Some(sink) = self
            .log_sink
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            sink(&entry);
        }
    }

    /// Where local entries go besides this node's log (the kvstore in cluster mode).
    pub fn set_log_sink(&self, sink: Option<LogSink>) {
        *self.log_sink.lock().unwrap_or_else(|e| e.into_inner()) = sink;
    }

    /// Adds an entry received from another node (unless seen already).
    pub fn insert_log(&self, e: &Entry) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).insert(e);
    }

    /// The cluster log as the kvstore state.
    pub fn log_state(&self) -> Vec<u8> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).state()
    }

    /// Merges the members' logs after a membership change.
    pub fn merge_log(&self, states: &[Option<Ring>], local: usize) {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(states, local);
    }

    /// The log as upstream's JSON dump: newest first, at most `max`, only `user`'s
    /// entries when given.
    pub fn clusterlog_json(&self, user: Option<&str>, max: usize) -> String {
        self.log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dump_json(user, max)
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
        let v = self.view();
        s += &format!("\"clinfo\": {},\n", v.clinfo_version);
        s += &format!("\"vmlist\": {},\n", memdb.vmlist_version());
        for (path, count) in memdb.counters().iter() {
            s += &format!("\"{path}\": {count},\n");
        }
        s += "\"kvstore\": {\n";
        let mut nodes: Vec<&String> = v.kv.keys().collect();
        if !v.kv.contains_key(&self.nodename) {
            nodes.insert(0, &self.nodename);
        }
        let blocks: Vec<String> = nodes
            .iter()
            .map(|n| {
                let keys: Vec<String> =
                    v.kv.get(*n)
                        .map(|t| t.iter().map(|(k, e)| format!("\"{k}\": {}", e.0)).collect())
                        .unwrap_or_default();
                let mut b = format!("\"{n}\": {{\n");
                if !keys.is_empty() {
                    b += &keys.join(",\n");
                    b += "\n";
                }
                b += "}";
                b
            })
            .collect();
        s += &blocks.join(",\n");
        s += "\n}\n}\n";
        s
    }

    fn members_text(&self) -> String {
        let v = self.view();
        let Some(info) = v.info.as_ref().filter(|i| !i.nodes.is_empty()) else {
            return format!(
                "{{\n\"nodename\": \"{}\",\n\"version\": {}\n}}\n",
                self.nodename, v.clinfo_version
            );
        };
        let mut s = format!(
            "{{\n\"nodename\": \"{}\",\n\"version\": {},\n",
            self.nodename, v.clinfo_version
        );
        s += &format!(
            "\"cluster\": {{ \"name\": \"{}\", \"version\": {}, \"nodes\": {}, \"quorate\": {} }},\n",
            info.name,
            info.config_version,
            info.nodes.len(),
            u8::from(self.quorate())
        );
        s += "\"nodelist\": {\n";
        let lines: Vec<String> = info
            .nodes
            .iter()
            .map(|n| {
                let mut l = format!(
                    "  \"{}\": {{ \"id\": {}, \"online\": {}",
                    n.name,
                    n.nodeid,
                    u8::from(v.online.contains(&n.nodeid))
                );
                if let Some(ip) = v.ips.get(&n.name) {
                    l += &format!(", \"ip\": \"{ip}\"");
                }
                l += "}";
                l
            })
            .collect();
        s += &lines.join(",\n");
        s += "\n  }\n}\n";
        s
    }

    pub fn clusterlog_text(&self, max: usize) -> String {
        self.clusterlog_json(None, max)
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
    fn local_entries_are_stored_escaped_and_sent() {
        let st = Status::new("node1");
        let sent = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s2 = sent.clone();
        st.set_log_sink(Some(Box::new(move |e: &Entry| {
            s2.lock().unwrap().push(e.clone())
        })));
        st.cluster_log_from(77, 5, "root@pam", "tag", "a\"b\tc\u{e9}");
        let text = st.clusterlog_text(50);
        assert!(text.contains("\"pri\": 5, \"tag\": \"tag\", \"pid\": 77, \"node\": \"node1\", \"user\": \"root@pam\", \"msg\": \"a\\\"b#009c\\u00e9\"}"), "{text}");
        assert!(text.contains("starting cluster log"));
        assert_eq!(sent.lock().unwrap().len(), 1);
        assert_eq!(
            st.clusterlog_json(Some("root@pam"), 50)
                .matches("\"uid\"")
                .count(),
            1
        );
    }
}
