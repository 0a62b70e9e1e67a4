//! The cluster log as upstream's pmxcfs keeps it: a ring buffer of packed entries whose
//! bytes are exchanged as the kvstore state on every membership change, so the layout
//! here is the wire format (a C node merges our ring and we merge its).
//!
//! Ring: `size: u32`, `cpos: u32` (offset of the newest entry, 0 = empty), then
//! entries at 8-byte aligned offsets. Entry: `prev: u32`, `next: u32`, `uid: u32`,
//! `time: u32`, `node_digest: u64`, `ident_digest: u64`, `pid: u32`, `priority: u8`,
//! `node_len: u8`, `ident_len: u8`, `tag_len: u8`, `msg_len: u32`, then node, ident,
//! tag and msg, each NUL terminated; its size counts a 48-byte head (the C struct's
//! size with tail padding) although the strings start at offset 44.

use std::collections::{BTreeMap, HashMap};

pub const CLOG_DEFAULT_SIZE: u32 = 131072;
pub const CLOG_MAX_ENTRY_SIZE: usize = 4096;
/// Size of an entry's fixed part as counted in entry sizes.
pub const ENTRY_HEAD: usize = 48;
/// Where an entry's strings start.
const DATA_OFFSET: usize = 44;
const BASE_HEAD: u32 = 8;

/// 64-bit FNV-1a over the bytes (callers include the NUL).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

fn rd32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}

fn rd64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Text as upstream stores log messages: `"` as `\"`, control characters as `#` and
/// three decimal digits, other non-ASCII as `\uXXXX` (beyond the BMP dropped); input
/// that is not UTF-8 keeps ASCII and turns other bytes into `?`.
pub fn utf8_to_ascii(msg: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len().min(max));
    let msg = msg.split(|b| *b == 0).next().unwrap_or_default();
    match std::str::from_utf8(msg) {
        Ok(s) => {
            for c in s.chars() {
                if out.len() >= max {
                    break;
                }
                let u = c as u32;
                match u {
                    34 => out.extend_from_slice(b"\\\""),
                    0..=31 | 127 => out.extend_from_slice(format!("#{u:03}").as_bytes()),
                    32..=126 => out.push(u as u8),
                    128..=0xffff => out.extend_from_slice(format!("\\u{u:04x}").as_bytes()),
                    _ => {}
                }
            }
        }
        Err(_) => {
            for &c in msg {
                if out.len() >= max {
                    break;
                }
                match c {
                    34 => out.extend_from_slice(b"\\\""),
                    0..=31 => out.extend_from_slice(format!("#0{c:02}").as_bytes()),
                    32..=126 => out.push(c),
                    _ => out.push(b'?'),
                }
            }
        }
    }
    out
}

/// What a new entry says.
pub struct LogMsg<'a> {
    pub node: &'a str,
    pub ident: &'a str,
    pub tag: &'a str,
    pub pid: u32,
    pub time: u32,
    pub priority: u8,
    pub msg: &'a str,
}

/// One packed entry (prev/next zero), as a LOG message carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry(Vec<u8>);

impl Entry {
    /// Packs an entry as upstream's `clog_pack` does (strings cut to 254 bytes, the
    /// message made ASCII and cut so the entry fits 4 KiB).
    pub fn pack(uid: u32, m: &LogMsg) -> Entry {
        let field = |s: &str| {
            let mut v: Vec<u8> = s.bytes().take_while(|b| *b != 0).take(254).collect();
            v.push(0);
            v
        };
        let (node, ident, tag) = (field(m.node), field(m.ident), field(m.tag));
        let room = CLOG_MAX_ENTRY_SIZE - DATA_OFFSET - node.len() - ident.len() - tag.len();
        let (pid, time, priority) = (m.pid, m.time, m.priority);
        let mut m = utf8_to_ascii(m.msg.as_bytes(), room.saturating_sub(7));
        m.push(0);
        let head_and_strings = ENTRY_HEAD + node.len() + ident.len() + tag.len();
        if head_and_strings + m.len() > CLOG_MAX_ENTRY_SIZE {
            m.truncate(CLOG_MAX_ENTRY_SIZE - head_and_strings);
        }
        let mut b = Vec::with_capacity(head_and_strings + m.len());
        b.extend_from_slice(&[0u8; 8]);
        b.extend_from_slice(&uid.to_le_bytes());
        b.extend_from_slice(&time.to_le_bytes());
        b.extend_from_slice(&fnv1a64(&node).to_le_bytes());
        b.extend_from_slice(&fnv1a64(&ident).to_le_bytes());
        b.extend_from_slice(&pid.to_le_bytes());
        b.push(priority);
        b.push(node.len() as u8);
        b.push(ident.len() as u8);
        b.push(tag.len() as u8);
        b.extend_from_slice(&(m.len() as u32).to_le_bytes());
        b.extend_from_slice(&node);
        b.extend_from_slice(&ident);
        b.extend_from_slice(&tag);
        b.extend_from_slice(&m);
        // the 48-byte head counts 4 bytes the strings already use: pad to the size
        b.extend_from_slice(&[0u8; ENTRY_HEAD - DATA_OFFSET]);
        Entry(b)
    }

    /// A LOG message payload, checked as upstream checks it (size, NUL-terminated
    /// strings).
    pub fn from_message(p: &[u8]) -> Option<Entry> {
        let e = Entry(p.to_vec());
        (p.len() >= ENTRY_HEAD && p.len() <= CLOG_MAX_ENTRY_SIZE && e.size() == p.len())
            .then_some(())?;
        let mut off = DATA_OFFSET;
        for len in [e.node_len(), e.ident_len(), e.tag_len(), e.msg_len()] {
            if len == 0 || p[off + len - 1] != 0 {
                return None;
            }
            off += len;
        }
        Some(e)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn uid(&self) -> u32 {
        rd32(&self.0, 8)
    }
    pub fn time(&self) -> u32 {
        rd32(&self.0, 12)
    }
    pub fn node_digest(&self) -> u64 {
        rd64(&self.0, 16)
    }
    pub fn ident_digest(&self) -> u64 {
        rd64(&self.0, 24)
    }
    pub fn pid(&self) -> u32 {
        rd32(&self.0, 32)
    }
    pub fn priority(&self) -> u8 {
        self.0[36]
    }
    fn node_len(&self) -> usize {
        self.0[37] as usize
    }
    fn ident_len(&self) -> usize {
        self.0[38] as usize
    }
    fn tag_len(&self) -> usize {
        self.0[39] as usize
    }
    fn msg_len(&self) -> usize {
        rd32(&self.0, 40) as usize
    }
    /// Size as upstream counts it.
    pub fn size(&self) -> usize {
        ENTRY_HEAD + self.node_len() + self.ident_len() + self.tag_len() + self.msg_len()
    }
    fn string(&self, n: usize) -> String {
        let lens = [
            self.node_len(),
            self.ident_len(),
            self.tag_len(),
            self.msg_len(),
        ];
        let start = DATA_OFFSET + lens[..n].iter().sum::<usize>();
        let s = &self.0[start..start + lens[n]];
        String::from_utf8_lossy(s.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
    }
    pub fn node(&self) -> String {
        self.string(0)
    }
    pub fn ident(&self) -> String {
        self.string(1)
    }
    pub fn tag(&self) -> String {
        self.string(2)
    }
    pub fn msg(&self) -> String {
        self.string(3)
    }

    /// Upstream's order of entries: time, then node digest, then uid.
    fn key(&self) -> (u32, u64, u32) {
        (self.time(), self.node_digest(), self.uid())
    }
}

/// A ring buffer laid out as upstream's `clog_base_t`.
#[derive(Clone)]
pub struct Ring {
    buf: Vec<u8>,
}

impl Ring {
    pub fn new(size: u32) -> Ring {
        let mut buf = vec![0u8; size as usize];
        buf[..4].copy_from_slice(&size.to_le_bytes());
        Ring { buf }
    }

    /// A ring received as a state blob; `None` unless its size field matches.
    pub fn from_state(b: &[u8]) -> Option<Ring> {
        (b.len() > BASE_HEAD as usize && rd32(b, 0) as usize == b.len())
            .then(|| Ring { buf: b.to_vec() })
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn size(&self) -> u32 {
        rd32(&self.buf, 0)
    }

    fn cpos(&self) -> u32 {
        rd32(&self.buf, 4)
    }

    fn at(&self, pos: u32) -> Option<(u32, u32)> {
        let p = pos as usize;
        (p + 8 <= self.buf.len()).then(|| (rd32(&self.buf, p), rd32(&self.buf, p + 4)))
    }

    /// The entry at `pos` (bounds checked: state blobs come from other nodes).
    fn entry_at(&self, pos: u32) -> Option<Entry> {
        let p = pos as usize;
        let head = self.buf.get(p..p + ENTRY_HEAD)?;
        let lens = head[37] as usize + head[38] as usize + head[39] as usize;
        let size = ENTRY_HEAD + lens + rd32(head, 40) as usize;
        if size > CLOG_MAX_ENTRY_SIZE {
            return None;
        }
        let mut b = self.buf.get(p..p + size)?.to_vec();
        b[..8].fill(0);
        Some(Entry(b))
    }

    /// Appends a copy of `e` (upstream's `clog_copy`), overwriting the oldest bytes.
    pub fn copy(&mut self, e: &Entry) {
        let size = e.size() as u32;
        let real = (size + 7) & !7;
        let cpos = self.cpos();
        let mut newpos = if cpos == 0 {
            BASE_HEAD
        } else {
            self.at(cpos).map(|(_, next)| next).unwrap_or(BASE_HEAD)
        };
        if newpos + real >= self.size() {
            newpos = BASE_HEAD;
        }
        let p = newpos as usize;
        let n = e.bytes().len().min(size as usize);
        self.buf[p + 8..p + n].copy_from_slice(&e.bytes()[8..n]);
        self.buf[p..p + 4].copy_from_slice(&cpos.to_le_bytes());
        self.buf[p + 4..p + 8].copy_from_slice(&(newpos + real).to_le_bytes());
        self.buf[4..8].copy_from_slice(&newpos.to_le_bytes());
    }

    /// Positions from the newest entry back, as upstream walks the ring; `json`
    /// selects the walk of its JSON dump, which stops before the wrap-around entry.
    fn walk(&self, json: bool) -> Vec<u32> {
        let top = self.cpos();
        let mut out = Vec::new();
        let mut cpos = top;
        while cpos != 0 && (cpos <= top || cpos > top + CLOG_MAX_ENTRY_SIZE as u32) {
            let Some((prev, _)) = self.at(cpos) else {
                break;
            };
            let wraps = cpos < prev && prev <= top;
            if json && wraps {
                break;
            }
            out.push(cpos);
            if wraps || out.len() > self.buf.len() / 8 {
                break;
            }
            cpos = prev;
        }
        out
    }

    pub fn entries_newest_first(&self, json: bool) -> Vec<Entry> {
        self.walk(json)
            .into_iter()
            .filter_map(|p| self.entry_at(p))
            .collect()
    }

    /// The same entries, sorted oldest first into a fresh ring (upstream's `clog_sort`,
    /// done before the ring is sent as state).
    pub fn sorted(&self) -> Ring {
        let mut tree = BTreeMap::new();
        for e in self.entries_newest_first(false) {
            tree.entry(e.key()).or_insert(e);
        }
        let mut r = Ring::new(self.size());
        for e in tree.values() {
            r.copy(e);
        }
        r
    }

    /// JSON dump as `.clusterlog` and the IPC show it: newest first, at most `max`
    /// entries, only those of `ident` when given.
    pub fn dump_json(&self, ident: Option<&str>, max: usize) -> String {
        let digest = ident.filter(|i| !i.is_empty()).map(|i| {
            let mut v = i.as_bytes().to_vec();
            v.push(0);
            fnv1a64(&v)
        });
        let mut items = Vec::new();
        for e in self.entries_newest_first(true) {
            if items.len() >= max {
                break;
            }
            if digest.is_some_and(|d| d != e.ident_digest()) {
                continue;
            }
            items.push(format!(
                "{{\"uid\": {}, \"time\": {}, \"pri\": {}, \"tag\": \"{}\", \"pid\": {}, \"node\": \"{}\", \"user\": \"{}\", \"msg\": \"{}\"}}",
                e.uid(),
                e.time(),
                e.priority(),
                e.tag(),
                e.pid(),
                e.node(),
                e.ident(),
                e.msg()
            ));
        }
        let mut s = String::from("{\n\"data\": [\n");
        s += &items.join(",\n");
        if !items.is_empty() {
            s += "\n";
        }
        s += "]\n}\n";
        s
    }
}

/// The node's cluster log: the ring plus, per node, the newest entry seen (so that a
/// LOG message that arrives twice is stored once).
pub struct ClusterLog {
    ring: Ring,
    dedup: HashMap<u64, (u32, u32)>,
    uid_counter: u32,
}

impl Default for ClusterLog {
    fn default() -> Self {
        ClusterLog {
            ring: Ring::new(CLOG_DEFAULT_SIZE),
            dedup: HashMap::new(),
            uid_counter: 0,
        }
    }
}

/// Records `e` as seen; false if an entry of its node as new or newer was seen.
fn dedup_record(dedup: &mut HashMap<u64, (u32, u32)>, e: &Entry) -> bool {
    match dedup.get_mut(&e.node_digest()) {
        None => {
            dedup.insert(e.node_digest(), (e.time(), e.uid()));
            true
        }
        Some(dd) if e.time() > dd.0 || (e.time() == dd.0 && e.uid() > dd.1) => {
            *dd = (e.time(), e.uid());
            true
        }
        Some(_) => false,
    }
}

impl ClusterLog {
    /// A new local entry (the next uid of this process).
    pub fn pack(&mut self, m: &LogMsg) -> Entry {
        self.uid_counter = self.uid_counter.wrapping_add(1);
        Entry::pack(self.uid_counter, m)
    }

    /// Stores an entry unless it is a duplicate; whether it was stored.
    pub fn insert(&mut self, e: &Entry) -> bool {
        if !dedup_record(&mut self.dedup, e) {
            return false;
        }
        self.ring.copy(e);
        true
    }

    /// The state blob sent on a membership change (the ring, sorted).
    pub fn state(&mut self) -> Vec<u8> {
        if self.ring.cpos() != 0 {
            self.ring = self.ring.sorted();
        }
        self.ring.bytes().to_vec()
    }

    /// Merges the members' rings (`None`: a malformed state; `local` is replaced by
    /// ours) as upstream's `clusterlog_merge`: newest entries first, from whichever
    /// member has the newest next one, until the ring is full.
    pub fn merge(&mut self, states: &[Option<Ring>], local: usize) {
        let rings: Vec<Option<&Ring>> = states
            .iter()
            .enumerate()
            .map(|(i, r)| {
                if i == local {
                    Some(&self.ring)
                } else {
                    r.as_ref()
                }
            })
            .collect();
        let walks: Vec<Vec<u32>> = rings
            .iter()
            .map(|r| r.map(|r| r.walk(false)).unwrap_or_default())
            .collect();
        let mut next: Vec<usize> = vec![0; rings.len()];
        let mut tree: BTreeMap<(u32, u64, u32), Entry> = BTreeMap::new();
        let mut dedup = HashMap::new();
        let limit = CLOG_DEFAULT_SIZE as usize - BASE_HEAD as usize - CLOG_MAX_ENTRY_SIZE;
        let mut logsize = 0usize;
        loop {
            let mut found = None;
            let mut last = 0u32;
            for (i, r) in rings.iter().enumerate() {
                let (Some(r), Some(&pos)) = (r, walks[i].get(next[i])) else {
                    continue;
                };
                if let Some(e) = r.entry_at(pos) {
                    if e.time() > last {
                        last = e.time();
                        found = Some((i, e));
                    }
                }
            }
            let Some((i, e)) = found else { break };
            next[i] += 1;
            if let std::collections::btree_map::Entry::Vacant(v) = tree.entry(e.key()) {
                dedup_record(&mut dedup, &e);
                logsize += (e.size() + 7) & !7;
                v.insert(e);
                if logsize >= limit {
                    break;
                }
            }
        }
        let mut ring = Ring::new(CLOG_DEFAULT_SIZE);
        for e in tree.values() {
            ring.copy(e);
        }
        self.ring = ring;
        self.dedup = dedup;
    }

    pub fn dump_json(&self, ident: Option<&str>, max: usize) -> String {
        self.ring.dump_json(ident, max)
    }

    pub fn ring(&self) -> &Ring {
        &self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(
        node: &'a str,
        ident: &'a str,
        tag: &'a str,
        time: u32,
        text: &'a str,
    ) -> LogMsg<'a> {
        LogMsg {
            node,
            ident,
            tag,
            pid: 42,
            time,
            priority: 6,
            msg: text,
        }
    }

    fn entry(log: &mut ClusterLog, node: &str, time: u32, text: &str) -> Entry {
        log.pack(&msg(node, "root@pam", "cluster", time, text))
    }

    #[test]
    fn pack_layout_and_message_checks() {
        let e = Entry::pack(3, &msg("node1", "root", "cluster", 1000, "hello"));
        assert_eq!(e.bytes().len(), 48 + 6 + 5 + 8 + 6);
        assert_eq!(e.size(), e.bytes().len());
        let d = Entry::from_message(e.bytes()).unwrap();
        assert_eq!(
            (d.node(), d.ident(), d.tag(), d.msg()),
            (
                "node1".into(),
                "root".into(),
                "cluster".into(),
                "hello".into()
            )
        );
        assert_eq!((d.uid(), d.time(), d.pid(), d.priority()), (3, 1000, 42, 6));
        assert_eq!(d.node_digest(), fnv1a64(b"node1\0"));
        assert_eq!(fnv1a64(b"\0"), 0xaf63bd4c8601b7df);
        assert!(Entry::from_message(&e.bytes()[..e.bytes().len() - 1]).is_none());
        let mut bad = e.bytes().to_vec();
        bad[44 + 5] = b'x'; // node string not terminated
        assert!(Entry::from_message(&bad).is_none());
        // the message is stored as upstream stores it
        let q = Entry::pack(1, &msg("n", "u", "t", 1, "say \"hi\"\n\u{e9}\u{1f600}"));
        assert_eq!(q.msg(), "say \\\"hi\\\"#010\\u00e9");
        // long messages are cut so that the entry fits
        let text = "x".repeat(10000);
        let long = Entry::pack(1, &msg("n", "u", "t", 1, &text));
        assert!(long.size() <= CLOG_MAX_ENTRY_SIZE);
        assert!(Entry::from_message(long.bytes()).is_some());
    }

    #[test]
    fn ring_wraps_and_dumps_newest_first() {
        let mut log = ClusterLog::default();
        for i in 0..2000 {
            let e = entry(
                &mut log,
                "node1",
                1000 + i,
                &format!("message {i} {}", "y".repeat(100)),
            );
            assert!(log.insert(&e));
        }
        let all = log.ring().entries_newest_first(true);
        assert_eq!(all[0].msg().split(' ').nth(1), Some("1999"));
        // the ring holds what fits in 128 KiB, newest first, without gaps
        assert!(all.len() > 500 && all.len() < 1000, "{}", all.len());
        for w in all.windows(2) {
            assert_eq!(w[0].time(), w[1].time() + 1);
        }
        let text = log.dump_json(None, 2);
        assert!(text.starts_with("{\n\"data\": [\n{\"uid\": 2000, \"time\": 2999, \"pri\": 6, \"tag\": \"cluster\", \"pid\": 42, \"node\": \"node1\", \"user\": \"root@pam\", \"msg\": \"message 1999 "));
        assert_eq!(text.matches("\"uid\"").count(), 2);
        assert_eq!(
            log.dump_json(Some("nobody@pve"), 50),
            "{\n\"data\": [\n]\n}\n"
        );
        // a duplicate (same node, not newer) is not stored again
        let again = all[0].clone();
        assert!(!log.insert(&again));
    }

    #[test]
    fn merge_takes_newest_of_all_members_once() {
        let mut a = ClusterLog::default();
        let mut b = ClusterLog::default();
        for t in 0..10u32 {
            let e = entry(&mut a, "node1", 100 + 2 * t, &format!("a{t}"));
            a.insert(&e);
            let e = entry(&mut b, "node2", 101 + 2 * t, &format!("b{t}"));
            b.insert(&e);
        }
        // b also has one of a's entries (it was broadcast to it)
        let shared = a.ring().entries_newest_first(false)[0].clone();
        b.insert(&shared);
        let state_b = Ring::from_state(&b.state()).unwrap();
        let state_a = Ring::from_state(&a.state()).unwrap();
        a.merge(&[None, Some(state_b)], 0);
        let merged = a.ring().entries_newest_first(true);
        assert_eq!(merged.len(), 20);
        let times: Vec<u32> = merged.iter().map(Entry::time).collect();
        let mut sorted = times.clone();
        sorted.sort_by(|x, y| y.cmp(x));
        assert_eq!(times, sorted);
        // the other side merges to the same ring
        b.merge(&[Some(state_a), None], 1);
        assert_eq!(a.ring().bytes(), b.ring().bytes());
        // malformed states are refused
        assert!(Ring::from_state(&[0u8; 16]).is_none());
    }

    #[test]
    fn garbage_rings_merge_without_panic() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for round in 0..50 {
            let mut buf = vec![0u8; CLOG_DEFAULT_SIZE as usize];
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[..4].copy_from_slice(&CLOG_DEFAULT_SIZE.to_le_bytes());
            // a plausible newest-entry position now and then
            if round % 2 == 0 {
                buf[4..8].copy_from_slice(&(8u32 + round * 8).to_le_bytes());
            }
            let ring = Ring::from_state(&buf).unwrap();
            let _ = ring.dump_json(None, 50);
            let mut log = ClusterLog::default();
            log.merge(&[Some(ring), None], 1);
            let _ = log.state();
        }
    }
}
