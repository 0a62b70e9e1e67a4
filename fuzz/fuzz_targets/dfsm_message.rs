//! DFSM and kvstore messages as they come off corosync: the header decoder, then the
//! payload decoders of both groups (DCDB ops, unlock requests, state-transfer updates,
//! memdb indexes; kvstore updates and cluster log entries). Whatever decodes must
//! encode and decode back to the same value. Finally the same bytes are delivered to
//! a state machine in the middle of a sync, which must not panic either.
#![no_main]

use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use pve_cluster::dfsm::dcdb::{differing_inodes, select_leader};
use pve_cluster::dfsm::kvstore::decode_log_entry;
use pve_cluster::dfsm::machine::{
    DeliverCtx, Dfsm, DfsmApp, LeaveGroup, Member, StateSender, Transport,
};
use pve_cluster::dfsm::wire::{self, DcdbMsg, Message, MsgType};
use pve_cluster::memdb::{Errno, DT_REG};

/// A kvstore state blob (a cluster log ring) from another node: the bytes laid into a
/// ring of the announced size must merge and dump without panicking.
fn check_clog_state(payload: &[u8]) {
    use pve_cluster::clog::{ClusterLog, Ring, CLOG_DEFAULT_SIZE};
    let mut buf = vec![0u8; CLOG_DEFAULT_SIZE as usize];
    let n = payload.len().min(buf.len());
    buf[..n].copy_from_slice(&payload[..n]);
    buf[..4].copy_from_slice(&CLOG_DEFAULT_SIZE.to_le_bytes());
    if let Some(ring) = Ring::from_state(&buf) {
        let _ = ring.dump_json(None, 50);
        let mut log = ClusterLog::default();
        log.merge(&[Some(ring), None], 1);
        let _ = log.state();
    }
}

fn check_dcdb(subtype: u16, payload: &[u8]) {
    match wire::decode_dcdb(subtype, payload) {
        Ok(DcdbMsg::Op(op)) => {
            let (t, p) = wire::encode_op(&op);
            assert_eq!(t, subtype);
            assert_eq!(wire::decode_dcdb(t, &p), Ok(DcdbMsg::Op(op)));
        }
        Ok(DcdbMsg::UnlockRequest { path, csum }) => {
            let p = wire::encode_unlock_request(&path, &csum);
            assert_eq!(
                wire::decode_dcdb(subtype, &p),
                Ok(DcdbMsg::UnlockRequest { path, csum })
            );
        }
        Err(_) => {}
    }
}

fn check_kv(payload: &[u8]) {
    if let Ok((key, value)) = wire::decode_kv_update(payload) {
        let p = wire::encode_kv_update(&key, value);
        assert_eq!(wire::decode_kv_update(&p), Ok((key, value)));
    }
    let _ = decode_log_entry(payload);
    check_clog_state(payload);
}

fn check_update(payload: &[u8]) {
    if let Ok(u) = wire::decode_update(payload) {
        // Only regular files carry data on the wire.
        if u.dtype == DT_REG || u.data.is_empty() {
            assert_eq!(wire::decode_update(&wire::encode_update(&u)), Ok(u));
        }
    }
}

fn check_index(payload: &[u8]) {
    if let Ok(h) = wire::decode_index_header(payload) {
        for i in 0..h.size as usize {
            let _ = wire::index_record(payload, i);
        }
        assert_eq!(select_leader(&[h, h]), 0);
        assert!(differing_inodes(payload, &[payload]).is_empty());
        let _ = differing_inodes(payload, &[&payload[..payload.len() / 2]]);
    }
}

struct NullTransport;

impl Transport for NullTransport {
    fn mcast(&self, _msg: &[u8]) -> Result<(), Errno> {
        Ok(())
    }
}

/// Takes what a DCDB would take, decodes what it would decode, stores nothing.
struct ProbeApp {
    updates: Mutex<usize>,
}

impl DfsmApp for ProbeApp {
    fn get_state(&self) -> Vec<u8> {
        vec![0; 8]
    }

    fn process_state(
        &self,
        members: &mut [Member],
        _local: usize,
        _out: &StateSender<'_>,
    ) -> Result<(), LeaveGroup> {
        // Member 1/1 (not us) is the leader and we wait for its updates.
        for m in members.iter_mut() {
            m.synced = m.nodeid == 1;
        }
        Ok(())
    }

    fn process_update(&self, _nodeid: u32, _pid: u32, payload: &[u8]) -> Result<(), LeaveGroup> {
        wire::decode_update(payload).map_err(|_| LeaveGroup)?;
        *self.updates.lock().unwrap() += 1;
        Ok(())
    }

    fn commit(&self) -> Result<(), LeaveGroup> {
        Ok(())
    }

    fn deliver(
        &self,
        _ctx: &DeliverCtx<'_>,
        _nodeid: u32,
        _pid: u32,
        subtype: u16,
        _time: u32,
        payload: &[u8],
    ) -> Result<i32, LeaveGroup> {
        wire::decode_dcdb(subtype, payload).map_err(|_| LeaveGroup)?;
        Ok(0)
    }

    fn checksum(&self) -> Option<[u8; 32]> {
        Some([7; 32])
    }
}

/// Feeds `data` as messages (each behind a u16 LE length) from members 1/1 and
/// 2/`pid`, alternating, to a node (2) that just joined a 2-node group.
fn drive_machine(data: &[u8]) {
    let app = Arc::new(ProbeApp {
        updates: Mutex::new(0),
    });
    let dfsm = Dfsm::new(wire::DCDB_GROUP, wire::DCDB_PROTOCOL_VERSION, app);
    dfsm.connected(2, Arc::new(NullTransport));
    let members = [(1, 1), (2, dfsm.pid)];
    dfsm.on_confchg(&members, 1);
    let mut from_leader = true;
    let mut rest = data;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let (msg, tail) = rest[2..].split_at(len);
        let (nodeid, pid) = if from_leader { members[0] } else { members[1] };
        dfsm.on_deliver(nodeid, pid, msg);
        from_leader = !from_leader;
        rest = tail;
    }
    let _ = dfsm.verify_request();
    dfsm.disconnected();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = wire::decode(data) {
        match msg {
            Message::Normal {
                header, payload, ..
            } => {
                check_dcdb(header.subtype, payload);
                check_kv(payload);
            }
            Message::State { kind, payload, .. } => match kind {
                MsgType::Update => check_update(payload),
                MsgType::State => check_index(payload),
                _ => {}
            },
        }
    }
    // Payload decoders straight on the input as well (no header to get past).
    if let Some((&t, rest)) = data.split_first() {
        check_dcdb(u16::from(t % 10), rest);
    }
    check_kv(data);
    check_update(data);
    check_index(data);
    drive_machine(data);
});
