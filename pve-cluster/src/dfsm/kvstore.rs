//! The kvstore (`pve_kvstore_v1`): node ips, per-node status keys, cluster log.

use std::sync::Arc;

use super::machine::{DeliverCtx, Dfsm, DfsmApp, LeaveGroup, Member, StateSender};
use super::wire::{self, kv_type};
use crate::status::{LogEntry, Status};

/// Size of the cluster log ring upstream exchanges as kvstore state.
pub const CLOG_DEFAULT_SIZE: u32 = 131072;
/// Fixed part of a cluster log entry as sent (C struct size incl. tail padding).
pub const CLOG_ENTRY_HEADER: usize = 48;
pub const CLOG_MAX_ENTRY_SIZE: usize = 4096;

pub struct Kvstore {
    status: Arc<Status>,
    /// This node's address, broadcast as `nodeip` once synced.
    ip: String,
}

/// An empty cluster log ring: header (size, position of newest entry = 0).
pub fn empty_clog() -> Vec<u8> {
    let mut v = vec![0u8; CLOG_DEFAULT_SIZE as usize];
    v[..4].copy_from_slice(&CLOG_DEFAULT_SIZE.to_le_bytes());
    v
}

/// 64-bit FNV-1a over the bytes (callers include the NUL).
pub fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Encodes one cluster log entry as a LOG message carries it.
pub fn encode_log_entry(e: &LogEntry, ident: &str) -> Vec<u8> {
    let field = |s: &str| {
        let mut v: Vec<u8> = s.bytes().take(254).collect();
        v.push(0);
        v
    };
    let node = field(&e.node);
    let ident = field(ident);
    let tag = field(&e.tag);
    let mut msg = e.msg.as_bytes().to_vec();
    msg.push(0);
    let max_msg = CLOG_MAX_ENTRY_SIZE - CLOG_ENTRY_HEADER - node.len() - ident.len() - tag.len();
    msg.truncate(max_msg);
    let mut out = Vec::new();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&e.uid.to_le_bytes());
    out.extend_from_slice(&e.time.to_le_bytes());
    out.extend_from_slice(&fnv1a64(&node).to_le_bytes());
    out.extend_from_slice(&fnv1a64(&ident).to_le_bytes());
    out.extend_from_slice(&e.pid.to_le_bytes());
    out.push(e.priority);
    out.push(node.len() as u8);
    out.push(ident.len() as u8);
    out.push(tag.len() as u8);
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(&node);
    out.extend_from_slice(&ident);
    out.extend_from_slice(&tag);
    out.extend_from_slice(&msg);
    out.extend_from_slice(&[0u8; 4]);
    out
}

fn cstr(b: &[u8]) -> Option<String> {
    let (last, s) = b.split_last()?;
    (*last == 0).then(|| String::from_utf8_lossy(s).into_owned())
}

/// Decodes a LOG message payload.
pub fn decode_log_entry(p: &[u8]) -> Option<LogEntry> {
    if p.len() < CLOG_ENTRY_HEADER || p.len() > CLOG_MAX_ENTRY_SIZE {
        return None;
    }
    let u32_at = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().expect("4 bytes"));
    let node_len = p[37] as usize;
    let ident_len = p[38] as usize;
    let tag_len = p[39] as usize;
    let msg_len = u32_at(40) as usize;
    if CLOG_ENTRY_HEADER + node_len + ident_len + tag_len + msg_len != p.len() {
        return None;
    }
    let mut off = 44;
    let mut take = |n: usize| {
        let s = &p[off..off + n];
        off += n;
        s
    };
    let node = cstr(take(node_len))?;
    let ident = cstr(take(ident_len))?;
    let tag = cstr(take(tag_len))?;
    let msg = cstr(take(msg_len))?;
    Some(LogEntry {
        uid: u32_at(8),
        time: u32_at(12),
        priority: p[36],
        tag,
        pid: u32_at(32),
        node,
        user: ident,
        msg,
    })
}

impl Kvstore {
    pub fn new(status: Arc<Status>, ip: String) -> Arc<Kvstore> {
        Arc::new(Kvstore { status, ip })
    }

    /// Sets a key of this node and broadcasts it.
    pub fn set_local(&self, dfsm: &Dfsm, key: &str, value: &[u8]) {
        self.store(&self.status.nodename, key, value);
        let _ = dfsm.send(kv_type::UPDATE, &wire::encode_kv_update(key, value));
    }

    fn store(&self, node: &str, key: &str, value: &[u8]) {
        if key == "nodeip" {
            let ip = String::from_utf8_lossy(value.split(|b| *b == 0).next().unwrap_or_default())
                .into_owned();
            self.status.set_node_ip(node, &ip);
        } else {
            self.status.set_kv(node, key, value);
        }
    }
}

impl DfsmApp for Kvstore {
    fn get_state(&self) -> Vec<u8> {
        empty_clog()
    }

    fn process_state(
        &self,
        members: &mut [Member],
        _local: usize,
        _out: &StateSender<'_>,
    ) -> Result<(), LeaveGroup> {
        for m in members.iter_mut() {
            m.synced = true;
        }
        Ok(())
    }

    fn process_update(&self, _nodeid: u32, _pid: u32, _payload: &[u8]) -> Result<(), LeaveGroup> {
        Err(LeaveGroup)
    }

    fn commit(&self) -> Result<(), LeaveGroup> {
        Ok(())
    }

    fn deliver(
        &self,
        ctx: &DeliverCtx<'_>,
        nodeid: u32,
        pid: u32,
        subtype: u16,
        _time: u32,
        payload: &[u8],
    ) -> Result<i32, LeaveGroup> {
        if ctx.is_local(nodeid, pid) {
            return Ok(0);
        }
        match subtype {
            kv_type::UPDATE => {
                if let Ok((key, value)) = wire::decode_kv_update(payload) {
                    if let Some(node) = self.status.node_name(nodeid) {
                        self.store(&node, &key, value);
                    }
                }
                Ok(0)
            }
            kv_type::LOG => {
                if let Some(e) = decode_log_entry(payload) {
                    self.status.insert_log(e);
                }
                Ok(0)
            }
            _ => Ok(-libc::EACCES),
        }
    }

    fn synced(&self, dfsm: &Dfsm) {
        // Re-broadcast everything this node has set, then its address.
        for (k, v) in self.status.local_kv() {
            let _ = dfsm.send(kv_type::UPDATE, &wire::encode_kv_update(&k, &v));
        }
        let mut ip = self.ip.clone().into_bytes();
        ip.push(0);
        self.set_local(dfsm, "nodeip", &ip);
    }

    fn confchg(&self, _dfsm: &Dfsm, members: &[(u32, u32)]) {
        self.status
            .set_online(members.iter().map(|m| m.0).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_entry_roundtrip() {
        let e = LogEntry {
            uid: 3,
            time: 1000,
            priority: 6,
            tag: "cluster".into(),
            pid: 42,
            node: "node1".into(),
            user: "root".into(),
            msg: "hello".into(),
        };
        let p = encode_log_entry(&e, "root");
        assert_eq!(p.len(), 48 + 6 + 5 + 8 + 6);
        let d = decode_log_entry(&p).unwrap();
        assert_eq!(d.msg, "hello");
        assert_eq!(d.node, "node1");
        assert_eq!(fnv1a64(b"\0"), 0xaf63bd4c8601b7df);
    }
}
