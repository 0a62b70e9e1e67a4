//! The kvstore (`pve_kvstore_v1`): node ips, per-node status keys, cluster log.

use std::sync::Arc;

use super::machine::{DeliverCtx, Dfsm, DfsmApp, LeaveGroup, Member, StateSender};
use super::wire::{self, kv_type};
use crate::clog::{Entry, Ring};
use crate::status::Status;

pub struct Kvstore {
    status: Arc<Status>,
    /// This node's address, broadcast as `nodeip` once synced.
    ip: String,
}

/// Decodes a LOG message payload (a packed cluster log entry).
pub fn decode_log_entry(p: &[u8]) -> Option<Entry> {
    Entry::from_message(p)
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
        self.status.log_state()
    }

    /// Everyone is synced at once; the cluster logs of all members are merged.
    fn process_state(
        &self,
        members: &mut [Member],
        local: usize,
        _out: &StateSender<'_>,
    ) -> Result<(), LeaveGroup> {
        let states: Vec<Option<Ring>> = members
            .iter()
            .map(|m| m.state.as_deref().and_then(Ring::from_state))
            .collect();
        for m in members.iter_mut() {
            m.synced = true;
        }
        self.status.merge_log(&states, local);
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
                    self.status.insert_log(&e);
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
