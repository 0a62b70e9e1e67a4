//! The DCDB: the file system replicated through the DFSM (`pve_dcdb_v1`).

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::machine::{
    Completion, DeliverCtx, Dfsm, DfsmApp, LeaveGroup, Member, StateSender, TRY_AGAIN,
};
use super::wire::{self, dcdb_type, DcdbMsg, MsgType, UpdateEntry};
use crate::apply::{ChangeSink, Done};
use crate::memdb::{Applied, Errno, Memdb, Op, SyncEntry};
use crate::status::Status;

/// Called after `corosync.conf` changed in the tree (`true`: by a local write).
pub type CorosyncConfHook = Box<dyn Fn(bool) + Send + Sync>;

struct SyncData {
    leader_index: Vec<u8>,
    updates: Vec<SyncEntry>,
}

pub struct Dcdb {
    memdb: Arc<Memdb>,
    status: Arc<Status>,
    sync: Mutex<Option<SyncData>>,
    /// What local messages did, by sender counter, for the waiting FUSE caller.
    applied: Mutex<HashMap<u64, Applied>>,
    fatal: AtomicBool,
    conf_hook: OnceLock<CorosyncConfHook>,
}

fn to_update(e: &SyncEntry) -> UpdateEntry {
    UpdateEntry {
        parent: e.parent,
        inode: e.inode,
        version: e.version,
        writer: e.writer,
        mtime: e.mtime,
        dtype: e.dtype,
        name: e.name.clone(),
        data: e.data.clone(),
    }
}

/// Index of the member whose data is newest: higher version, or equal version and
/// newer mtime; members are in (nodeid, pid) order, the first wins ties.
pub fn select_leader(headers: &[wire::IndexHeader]) -> usize {
    let mut leader = 0;
    for (i, h) in headers.iter().enumerate().skip(1) {
        let l = &headers[leader];
        if h.version > l.version || (h.version == l.version && h.mtime > l.mtime) {
            leader = i;
        }
    }
    leader
}

/// Inodes of the leader's index whose record differs in any other index (a
/// record past the end of a shorter index counts as different).
pub fn differing_inodes(leader: &[u8], others: &[&[u8]]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let Ok(lh) = wire::decode_index_header(leader) else {
        return out;
    };
    for other in others {
        let Ok(oh) = wire::decode_index_header(other) else {
            continue;
        };
        let mut j = 0usize;
        for i in 0..lh.size as usize {
            let (inode, rec) = wire::index_record(leader, i);
            while j < oh.size as usize && wire::index_record(other, j).0 < inode {
                j += 1;
            }
            if j < oh.size as usize && wire::index_record(other, j).1 == rec {
                continue;
            }
            out.insert(inode);
        }
    }
    out
}

impl Dcdb {
    pub fn new(memdb: Arc<Memdb>, status: Arc<Status>) -> Arc<Dcdb> {
        Arc::new(Dcdb {
            memdb,
            status,
            sync: Mutex::new(None),
            applied: Mutex::new(HashMap::new()),
            fatal: AtomicBool::new(false),
            conf_hook: OnceLock::new(),
        })
    }

    pub fn set_corosync_conf_hook(&self, hook: CorosyncConfHook) {
        let _ = self.conf_hook.set(hook);
    }

    fn conf_changed(&self, local: bool) {
        if let Some(h) = self.conf_hook.get() {
            h(local);
        }
    }

    fn apply(&self, op: &Op, nodeid: u32, time: u32) -> Result<Applied, Errno> {
        let res = self.memdb.apply(op, nodeid, time);
        if res.is_err() && self.memdb.has_errors() {
            self.fatal.store(true, Ordering::SeqCst);
        }
        res
    }
}

fn touches_corosync_conf(op: &Op) -> bool {
    let is = |p: &str| p.trim_start_matches('/') == "corosync.conf";
    match op {
        Op::Write { path, .. } | Op::Create { path } => is(path),
        Op::Rename { to, .. } => is(to),
        _ => false,
    }
}

impl DfsmApp for Dcdb {
    fn get_state(&self) -> Vec<u8> {
        self.memdb.encode_index()
    }

    fn process_state(
        &self,
        members: &mut [Member],
        local: usize,
        out: &StateSender<'_>,
    ) -> Result<(), LeaveGroup> {
        let owned: Vec<Vec<u8>> = members
            .iter()
            .map(|m| m.state.clone().unwrap_or_default())
            .collect();
        let states: Vec<&[u8]> = owned.iter().map(|s| s.as_slice()).collect();
        let headers = states
            .iter()
            .map(|s| wire::decode_index_header(s))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                eprintln!("pmxcfs: received malformed memdb index: {e}");
                LeaveGroup
            })?;
        let leader = select_leader(&headers);
        let leader_index = states[leader].to_vec();
        for (i, m) in members.iter_mut().enumerate() {
            m.synced = i == leader || states[i] == leader_index.as_slice();
        }
        eprintln!(
            "pmxcfs: dcdb leader is {}/{}",
            members[leader].nodeid, members[leader].pid
        );
        *self.sync.lock().unwrap_or_else(|e| e.into_inner()) = Some(SyncData {
            leader_index: leader_index.clone(),
            updates: Vec::new(),
        });
        if leader == local {
            let others: Vec<&[u8]> = states
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != leader)
                .map(|(_, s)| *s)
                .collect();
            let inodes: Vec<u64> = differing_inodes(&leader_index, &others)
                .into_iter()
                .collect();
            let entries = self.memdb.sync_entries(&inodes).ok_or(LeaveGroup)?;
            for e in &entries {
                if out
                    .send(MsgType::Update, &wire::encode_update(&to_update(e)))
                    .is_err()
                {
                    eprintln!("pmxcfs: sending update inode {} failed", e.inode);
                }
            }
            out.send(MsgType::UpdateComplete, &[])
                .map_err(|_| LeaveGroup)?;
        }
        Ok(())
    }

    fn process_update(&self, _nodeid: u32, _pid: u32, payload: &[u8]) -> Result<(), LeaveGroup> {
        let u = wire::decode_update(payload).map_err(|e| {
            eprintln!("pmxcfs: {e}");
            LeaveGroup
        })?;
        let mut sync = self.sync.lock().unwrap_or_else(|e| e.into_inner());
        let sd = sync.as_mut().ok_or(LeaveGroup)?;
        sd.updates.push(SyncEntry {
            parent: u.parent,
            inode: u.inode,
            version: u.version,
            writer: u.writer,
            mtime: u.mtime,
            dtype: u.dtype,
            name: u.name,
            data: u.data,
        });
        Ok(())
    }

    fn commit(&self) -> Result<(), LeaveGroup> {
        let sd = self
            .sync
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(LeaveGroup)?;
        eprintln!(
            "pmxcfs: update complete - trying to commit (got {} inode updates)",
            sd.updates.len()
        );
        if let Err(e) = self.memdb.commit_sync(&sd.leader_index, &sd.updates) {
            eprintln!("pmxcfs: commit of state transfer failed: {e}");
            self.fatal.store(true, Ordering::SeqCst);
            return Err(LeaveGroup);
        }
        self.conf_changed(false);
        Ok(())
    }

    fn cleanup(&self) {
        *self.sync.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    fn deliver(
        &self,
        ctx: &DeliverCtx<'_>,
        nodeid: u32,
        pid: u32,
        subtype: u16,
        time: u32,
        payload: &[u8],
    ) -> Result<i32, LeaveGroup> {
        if !self.status.quorate() {
            eprintln!("pmxcfs: received write while not quorate - trigger resync");
            return Err(LeaveGroup);
        }
        let msg = wire::decode_dcdb(subtype, payload).map_err(|e| {
            eprintln!("pmxcfs: {e}");
            LeaveGroup
        })?;
        let local = ctx.is_local(nodeid, pid);
        let result = match msg {
            DcdbMsg::UnlockRequest { path, csum } => {
                let valid = self.memdb.entry_csum(&path) == Some(csum)
                    && crate::memdb::is_lock_dir_path(&path);
                if valid && ctx.we_are_lowest() && self.memdb.lock_expired(&path, &csum) {
                    let (t, p) = wire::encode_op(&Op::Unlock { path, csum });
                    let _ = ctx.dfsm.send(t, &p);
                }
                0
            }
            DcdbMsg::Op(op) => {
                let conf = touches_corosync_conf(&op);
                let unlock = matches!(op, Op::Unlock { .. });
                match self.apply(&op, nodeid, time) {
                    Ok(applied) => {
                        if conf {
                            self.conf_changed(local);
                        }
                        let n = applied.count as i32;
                        if local {
                            if let Some(count) = ctx.count {
                                self.applied
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(count, applied);
                            }
                        }
                        n
                    }
                    Err(_) if unlock => 0,
                    Err(e) => -e.0,
                }
            }
        };
        if self.fatal.load(Ordering::SeqCst) {
            return Err(LeaveGroup);
        }
        Ok(result)
    }

    fn checksum(&self) -> Option<[u8; 32]> {
        Some(self.memdb.checksum())
    }

    fn fatal(&self) -> bool {
        self.fatal.load(Ordering::SeqCst)
    }
}

/// Cluster mode: every change goes through the DCDB group and is applied on
/// delivery, on every node in the same order.
pub struct ClusterSink {
    pub dfsm: Arc<Dfsm>,
    pub dcdb: Arc<Dcdb>,
    pub status: Arc<Status>,
}

/// What the local sender of message `count` learns: its result code (`None`: lost)
/// and what the change did.
fn local_outcome(dcdb: &Dcdb, count: u64, result: Option<i32>) -> Result<Applied, Errno> {
    let applied = dcdb
        .applied
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&count);
    match result {
        None => Err(Errno::EIO),
        Some(res) if res < 0 => Err(Errno(-res)),
        Some(_) => Ok(applied.unwrap_or_default()),
    }
}

/// A local change on its way through corosync; answers its caller from the
/// delivery thread once applied here.
struct InFlight {
    dcdb: Arc<Dcdb>,
    op: Op,
    done: Done,
}

impl Completion for InFlight {
    fn complete(self: Box<Self>, count: u64, result: Option<i32>) {
        (self.done)(local_outcome(&self.dcdb, count, result))
    }
}

impl ClusterSink {
    fn send_op(&self, subtype: u16, payload: &[u8]) -> Result<Applied, Errno> {
        if !self.status.quorate() {
            return Err(Errno::EACCES);
        }
        let (count, res) = self.dfsm.send_sync(subtype, payload)?;
        local_outcome(&self.dcdb, count, Some(res))
    }
}

impl ChangeSink for ClusterSink {
    fn submit(&self, op: Op) -> Result<Applied, Errno> {
        let (t, p) = wire::encode_op(&op);
        self.send_op(t, &p)
    }

    fn start(&self, op: Op, done: Done) -> Option<(Op, Done)> {
        if !self.status.quorate() {
            done(Err(Errno::EACCES));
            return None;
        }
        let (t, p) = wire::encode_op(&op);
        let flight = InFlight {
            dcdb: self.dcdb.clone(),
            op,
            done,
        };
        match self.dfsm.send_then(t, &p, false, flight) {
            Ok(()) => None,
            Err((e, f)) if e == TRY_AGAIN => Some((f.op, f.done)),
            Err((e, f)) => {
                (f.done)(Err(e));
                None
            }
        }
    }

    fn unlock_request(&self, path: &str, csum: [u8; 32]) -> Result<Applied, Errno> {
        if !self.status.quorate() {
            return Err(Errno::EACCES);
        }
        let _ = self.dfsm.send(
            dcdb_type::UNLOCK_REQUEST,
            &wire::encode_unlock_request(path, &csum),
        );
        self.submit(Op::Mtime {
            path: path.to_string(),
            mtime: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(version: u64, mtime: u32, recs: &[(u64, u8)]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&version.to_le_bytes());
        v.extend_from_slice(&recs.last().map(|r| r.0).unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&mtime.to_le_bytes());
        v.extend_from_slice(&(recs.len() as u32).to_le_bytes());
        v.extend_from_slice(&((32 + 40 * recs.len()) as u32).to_le_bytes());
        for (i, d) in recs {
            v.extend_from_slice(&i.to_le_bytes());
            v.extend_from_slice(&[*d; 32]);
        }
        v
    }

    #[test]
    fn leader_and_diff() {
        let a = idx(5, 10, &[(0, 1), (2, 1)]);
        let b = idx(7, 5, &[(0, 2), (2, 1), (6, 3)]);
        let c = idx(7, 9, &[(0, 4), (2, 1), (6, 3), (7, 1)]);
        let hs: Vec<_> = [&a, &b, &c]
            .iter()
            .map(|x| wire::decode_index_header(x).unwrap())
            .collect();
        assert_eq!(select_leader(&hs), 2);
        let d = differing_inodes(&c, &[&a, &b]);
        assert_eq!(d.into_iter().collect::<Vec<_>>(), vec![0, 6, 7]);
    }
}
