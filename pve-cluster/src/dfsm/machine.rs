//! The distributed state machine shared by the DCDB and the kvstore: membership
//! changes, the state exchange, message queues and synchronous local sends.
//!
//! It knows nothing about corosync: messages come in through [`Dfsm::on_deliver`]
//! and [`Dfsm::on_confchg`] and go out through a [`Transport`].

use std::collections::BTreeMap;
use std::sync::{mpsc, Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use super::wire::{self, Epoch, Message, MsgType};
use crate::memdb::{now_secs, Errno};

/// Returned by the application when the node must leave the group and resync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaveGroup;

/// Sends one totally ordered message to the group.
pub trait Transport: Send + Sync {
    /// One attempt: `Err(TRY_AGAIN)` when corosync asks to try again.
    fn mcast_once(&self, msg: &[u8]) -> Result<(), Errno>;

    /// Sends, waiting while corosync asks to try again (upstream: every 100 ms, up
    /// to 100 times).
    fn mcast(&self, msg: &[u8]) -> Result<(), Errno> {
        for _ in 0..SEND_ATTEMPTS {
            match self.mcast_once(msg) {
                Err(e) if e == TRY_AGAIN => std::thread::sleep(SEND_RETRY_PAUSE),
                res => return res,
            }
        }
        Err(Errno::EACCES)
    }
}

/// What [`Transport::mcast_once`] and [`Dfsm::send_then`] fail with when corosync
/// cannot take the message now.
pub const TRY_AGAIN: Errno = Errno(libc::EAGAIN);

/// How often and how long a sender waits for corosync to take a message.
const SEND_ATTEMPTS: usize = 100;
const SEND_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Told the local result of a message sent with [`Dfsm::send_then`]: its sender
/// counter and the result code (`None`: the message was lost, e.g. the group was
/// left). Runs on the thread that learns the result (corosync delivery).
pub trait Completion: Send + 'static {
    fn complete(self: Box<Self>, count: u64, result: Option<i32>);
}

/// [`Dfsm::send_sync`]'s completion: hands the result to the waiting thread.
struct WakeWaiter(mpsc::SyncSender<(u64, Option<i32>)>);

impl Completion for WakeWaiter {
    fn complete(self: Box<Self>, count: u64, result: Option<i32>) {
        let _ = self.0.send((count, result));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Start = 0,
    StartSync = 1,
    Synced = 2,
    Update = 3,
    Leave = 253,
    VersionError = 254,
    Error = 255,
}

impl Mode {
    pub fn is_error(self) -> bool {
        self >= Mode::Leave
    }
}

/// One member of the current configuration during a sync.
#[derive(Clone, Debug)]
pub struct Member {
    pub nodeid: u32,
    pub pid: u32,
    pub state: Option<Vec<u8>>,
    pub synced: bool,
}

/// What the application callbacks may use to send state messages in the current epoch.
pub struct StateSender<'a> {
    dfsm: &'a Dfsm,
    epoch: Epoch,
}

impl StateSender<'_> {
    pub fn send(&self, kind: MsgType, payload: &[u8]) -> Result<(), Errno> {
        let msg = wire::encode_state(kind, self.dfsm.version, now_secs(), &self.epoch, payload);
        self.dfsm.mcast(&msg)
    }
}

/// Facts about the local node handed to the application on delivery.
pub struct DeliverCtx<'a> {
    pub dfsm: &'a Dfsm,
    pub lowest_nodeid: u32,
    /// Sender counter of a local message.
    pub count: Option<u64>,
}

impl DeliverCtx<'_> {
    pub fn is_local(&self, nodeid: u32, pid: u32) -> bool {
        nodeid == self.dfsm.nodeid() && pid == self.dfsm.pid
    }

    pub fn we_are_lowest(&self) -> bool {
        self.lowest_nodeid == self.dfsm.nodeid()
    }
}

/// The application on top of the DFSM (DCDB or kvstore). `Err(LeaveGroup)` makes the node
/// leave the group (and rejoin later).
pub trait DfsmApp: Send + Sync {
    fn get_state(&self) -> Vec<u8>;
    /// All states are in: mark synced members; the leader sends its updates.
    fn process_state(
        &self,
        members: &mut [Member],
        local: usize,
        out: &StateSender<'_>,
    ) -> Result<(), LeaveGroup>;
    fn process_update(&self, nodeid: u32, pid: u32, payload: &[u8]) -> Result<(), LeaveGroup>;
    fn commit(&self) -> Result<(), LeaveGroup>;
    fn cleanup(&self) {}
    /// Applies a normal message; returns the result code for a local sender.
    fn deliver(
        &self,
        ctx: &DeliverCtx<'_>,
        nodeid: u32,
        pid: u32,
        subtype: u16,
        time: u32,
        payload: &[u8],
    ) -> Result<i32, LeaveGroup>;
    fn checksum(&self) -> Option<[u8; 32]> {
        None
    }
    fn synced(&self, _dfsm: &Dfsm) {}
    fn confchg(&self, _dfsm: &Dfsm, _members: &[(u32, u32)]) {}
    /// An error that must stop the service for good (e.g. database failure).
    fn fatal(&self) -> bool {
        false
    }
}

struct Queued {
    nodeid: u32,
    pid: u32,
    count: u64,
    msg: Vec<u8>,
}

struct Inner {
    mode: Mode,
    epoch_counter: u32,
    sync_epoch: Epoch,
    lowest_nodeid: u32,
    members: Vec<Member>,
    local: Option<usize>,
    /// Normal messages held back until synced, ordered by sender counter.
    queue: Vec<Queued>,
    /// Messages of synced senders received while we wait for updates.
    sync_queue: Vec<Queued>,
    csum_counter: u64,
    csum: Option<(u64, Epoch, [u8; 32])>,
}

/// Local messages sent and not yet applied, by sender counter.
#[derive(Default)]
struct Results {
    pending: BTreeMap<u64, Box<dyn Completion>>,
}

pub struct Dfsm {
    pub group: &'static str,
    pub version: u32,
    nodeid: Mutex<u32>,
    pub pid: u32,
    app: Arc<dyn DfsmApp>,
    transport: Mutex<Option<Arc<dyn Transport>>>,
    inner: Mutex<Inner>,
    send_count: Mutex<u64>,
    results: Mutex<Results>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Leave = LeaveGroup;

impl Dfsm {
    pub fn new(group: &'static str, version: u32, app: Arc<dyn DfsmApp>) -> Arc<Dfsm> {
        Arc::new(Dfsm {
            group,
            version,
            nodeid: Mutex::new(0),
            pid: std::process::id(),
            app,
            transport: Mutex::new(None),
            inner: Mutex::new(Inner {
                mode: Mode::Start,
                epoch_counter: 0,
                sync_epoch: Epoch::default(),
                lowest_nodeid: 0,
                members: Vec::new(),
                local: None,
                queue: Vec::new(),
                sync_queue: Vec::new(),
                csum_counter: 0,
                csum: None,
            }),
            send_count: Mutex::new(0),
            results: Mutex::new(Results::default()),
        })
    }

    pub fn nodeid(&self) -> u32 {
        *lock(&self.nodeid)
    }

    pub fn mode(&self) -> Mode {
        lock(&self.inner).mode
    }

    pub fn is_synced(&self) -> bool {
        self.mode() == Mode::Synced
    }

    pub fn lowest_nodeid(&self) -> u32 {
        lock(&self.inner).lowest_nodeid
    }

    /// Current members as `(nodeid, pid)`.
    pub fn members(&self) -> Vec<(u32, u32)> {
        lock(&self.inner)
            .members
            .iter()
            .map(|m| (m.nodeid, m.pid))
            .collect()
    }

    /// A (re)connected group handle: start over in START mode.
    pub fn connected(&self, nodeid: u32, transport: Arc<dyn Transport>) {
        *lock(&self.nodeid) = nodeid;
        *lock(&self.transport) = Some(transport);
        let mut inner = lock(&self.inner);
        if !inner.mode.is_error() || inner.mode == Mode::Leave {
            inner.mode = Mode::Start;
        }
    }

    /// The group was left or the connection lost: drop queues, fail local waiters.
    pub fn disconnected(&self) {
        *lock(&self.transport) = None;
        {
            let mut inner = lock(&self.inner);
            inner.queue.clear();
            inner.sync_queue.clear();
            inner.members.clear();
            inner.local = None;
            if !inner.mode.is_error() {
                inner.mode = Mode::Leave;
            }
        }
        self.app.cleanup();
        // Waiting local senders fail (their messages are lost with the group).
        let lost = std::mem::take(&mut lock(&self.results).pending);
        for (count, c) in lost {
            c.complete(count, None);
        }
    }

    fn mcast(&self, msg: &[u8]) -> Result<(), Errno> {
        let t = lock(&self.transport).clone().ok_or(Errno::EACCES)?;
        t.mcast(msg)
    }

    /// Sends a normal message without waiting for it.
    pub fn send(&self, subtype: u16, payload: &[u8]) -> Result<(), Errno> {
        let mut count = lock(&self.send_count);
        *count += 1;
        let msg = wire::encode_normal(subtype, self.version, now_secs(), *count, payload);
        self.mcast(&msg)
    }

    /// Sends a normal message and waits until it has been applied locally; returns
    /// its counter and the local result code (>= 0 or a negative errno).
    pub fn send_sync(&self, subtype: u16, payload: &[u8]) -> Result<(u64, i32), Errno> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send_then(subtype, payload, true, WakeWaiter(tx))
            .map_err(|(e, _)| e)?;
        match rx.recv() {
            Ok((count, Some(res))) => Ok((count, res)),
            _ => Err(Errno::EIO),
        }
    }

    /// Sends a normal message; `done` learns the local result once the message has
    /// been applied here (on the delivering thread), so no thread has to wait for the
    /// round trip. Nothing was sent if this fails; `done` is then handed back. With
    /// `wait` false it never blocks: when corosync asks to try again, or another
    /// sender is waiting for that, it fails with [`TRY_AGAIN`] at once.
    pub fn send_then<C: Completion>(
        &self,
        subtype: u16,
        payload: &[u8],
        wait: bool,
        done: C,
    ) -> Result<(), (Errno, C)> {
        let Some(t) = lock(&self.transport).clone() else {
            return Err((Errno::EACCES, done));
        };
        // Held until the message is out, so that counters go out in order.
        let mut count = if wait {
            lock(&self.send_count)
        } else {
            match self.send_count.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => return Err((TRY_AGAIN, done)),
            }
        };
        let next = *count + 1;
        let msg = wire::encode_normal(subtype, self.version, now_secs(), next, payload);
        for _ in 0..SEND_ATTEMPTS {
            {
                // Held across the send: the delivery thread records the result
                // only once `done` is in place.
                let mut r = lock(&self.results);
                match t.mcast_once(&msg) {
                    Ok(()) => {
                        *count = next;
                        r.pending.insert(next, Box::new(done));
                        return Ok(());
                    }
                    Err(e) if e == TRY_AGAIN && wait => {}
                    Err(e) => return Err((e, done)),
                }
            }
            std::thread::sleep(SEND_RETRY_PAUSE);
        }
        Err((Errno::EACCES, done))
    }

    /// Our message `count` has been applied: its sender learns `result`; earlier
    /// ones still waiting were lost.
    fn record_local_result(&self, count: u64, result: Option<i32>) {
        let ready = {
            let mut r = lock(&self.results);
            let later = r.pending.split_off(&(count + 1));
            std::mem::replace(&mut r.pending, later)
        };
        for (c, done) in ready {
            done.complete(c, if c == count { result } else { None });
        }
    }

    fn set_mode(&self, inner: &mut Inner, mode: Mode) {
        if inner.mode == mode {
            return;
        }
        if !mode.is_error() && inner.mode.is_error() {
            return;
        }
        if mode.is_error() && inner.mode.is_error() && mode < inner.mode {
            return;
        }
        inner.mode = mode;
        if mode == Mode::Synced {
            self.app.synced(self);
        }
    }

    fn reset_sync(&self, inner: &mut Inner, members: Option<&[(u32, u32)]>) {
        for m in inner.members.iter_mut() {
            m.state = None;
        }
        if let Some(list) = members {
            let mut ms: Vec<Member> = list
                .iter()
                .map(|&(nodeid, pid)| Member {
                    nodeid,
                    pid,
                    state: None,
                    synced: false,
                })
                .collect();
            ms.sort_by_key(|m| (m.nodeid, m.pid));
            let me = (self.nodeid(), self.pid);
            inner.local = ms.iter().position(|m| (m.nodeid, m.pid) == me);
            inner.members = ms;
        }
        self.app.cleanup();
    }

    fn member_idx(inner: &Inner, nodeid: u32, pid: u32) -> Option<usize> {
        inner
            .members
            .iter()
            .position(|m| m.nodeid == nodeid && m.pid == pid)
    }

    /// A configuration change of the group (all current members).
    pub fn on_confchg(&self, members: &[(u32, u32)], joined: usize) {
        let mut inner = lock(&self.inner);
        inner.epoch_counter = inner.epoch_counter.wrapping_add(1);
        inner.sync_epoch = Epoch {
            epoch: inner.epoch_counter,
            time: now_secs(),
            nodeid: self.nodeid(),
            pid: self.pid,
        };
        inner.csum = None;
        inner.sync_queue.clear();
        let mode = inner.mode;
        if mode.is_error() {
            return;
        }
        inner.lowest_nodeid = members.iter().map(|m| m.0).min().unwrap_or(0);
        let me = (self.nodeid(), self.pid);
        let we_are_member = members.contains(&me);
        self.reset_sync(&mut inner, Some(members));
        if !we_are_member {
            if mode != Mode::Start {
                self.set_mode(&mut inner, Mode::Leave);
            }
            return;
        }
        if members.len() > 1 {
            if joined > 0 && !inner.queue.is_empty() && self.resend_queue(&mut inner).is_err() {
                self.set_mode(&mut inner, Mode::Leave);
                return;
            }
            self.set_mode(&mut inner, Mode::StartSync);
            if inner.lowest_nodeid == self.nodeid() {
                let msg = wire::encode_state(
                    MsgType::SyncStart,
                    self.version,
                    now_secs(),
                    &inner.sync_epoch,
                    &[],
                );
                if self.mcast(&msg).is_err() {
                    self.set_mode(&mut inner, Mode::Leave);
                    return;
                }
            }
        } else {
            if let Some(l) = inner.local {
                inner.members[l].synced = true;
            }
            self.set_mode(&mut inner, Mode::Synced);
            if self.deliver_queue(&mut inner).is_err() {
                self.set_mode(&mut inner, Mode::Leave);
                return;
            }
        }
        drop(inner);
        self.app.confchg(self, members);
    }

    /// Our own queued messages go out again so every member holds the same queue.
    fn resend_queue(&self, inner: &mut Inner) -> Result<(), Leave> {
        let me = (self.nodeid(), self.pid);
        let mine: Vec<Vec<u8>> = inner
            .queue
            .iter()
            .filter(|q| (q.nodeid, q.pid) == me)
            .map(|q| q.msg.clone())
            .collect();
        inner.queue.clear();
        for m in mine {
            self.mcast(&m).map_err(|_| LeaveGroup)?;
        }
        Ok(())
    }

    fn deliver_queue(&self, inner: &mut Inner) -> Result<(), Leave> {
        let queue = std::mem::take(&mut inner.queue);
        let mut keep = Vec::new();
        let mut res = Ok(());
        for q in queue {
            if res.is_err() {
                keep.push(q);
                continue;
            }
            let Some(i) = Self::member_idx(inner, q.nodeid, q.pid) else {
                continue;
            };
            let synced = inner.members[i].synced;
            match inner.mode {
                Mode::Synced if synced => {
                    res = self.handle(inner, q.nodeid, q.pid, &q.msg);
                }
                Mode::Update if synced => inner.sync_queue.push(q),
                Mode::Synced | Mode::Update => keep.push(q),
                _ => {
                    keep.push(q);
                    res = Err(LeaveGroup);
                }
            }
        }
        keep.append(&mut inner.queue);
        keep.sort_by_key(|q| q.count);
        inner.queue = keep;
        res
    }

    fn deliver_sync_queue(&self, inner: &mut Inner) -> Result<(), Leave> {
        let queue = std::mem::take(&mut inner.sync_queue);
        for q in queue {
            if inner.mode == Mode::Synced {
                self.handle(inner, q.nodeid, q.pid, &q.msg)?;
            }
        }
        Ok(())
    }

    /// A message delivered by the group, in total order.
    pub fn on_deliver(&self, nodeid: u32, pid: u32, msg: &[u8]) {
        let mut inner = lock(&self.inner);
        if self.handle(&mut inner, nodeid, pid, msg).is_err() {
            self.set_mode(&mut inner, Mode::Leave);
            self.reset_sync(&mut inner, None);
        }
        if self.app.fatal() {
            self.set_mode(&mut inner, Mode::Error);
        }
    }

    fn handle(&self, inner: &mut Inner, nodeid: u32, pid: u32, msg: &[u8]) -> Result<(), Leave> {
        let mode = inner.mode;
        if mode.is_error() {
            return Ok(());
        }
        let Ok(base) = wire::decode_base(msg) else {
            eprintln!(
                "{}: received short message ({} bytes)",
                self.group,
                msg.len()
            );
            return Err(LeaveGroup);
        };
        if base.protocol_version > self.version {
            eprintln!(
                "{}: received message with protocol version {}",
                self.group, base.protocol_version
            );
            self.set_mode(inner, Mode::VersionError);
            return Ok(());
        }
        if base.protocol_version < self.version {
            return Ok(());
        }
        let decoded = wire::decode(msg).map_err(|e| {
            eprintln!("{}: {e}", self.group);
            LeaveGroup
        })?;
        match decoded {
            Message::Normal {
                header,
                count,
                payload,
            } => {
                if mode != Mode::Synced {
                    let i = Self::member_idx(inner, nodeid, pid).ok_or(LeaveGroup)?;
                    let q = Queued {
                        nodeid,
                        pid,
                        count,
                        msg: msg.to_vec(),
                    };
                    if mode == Mode::Update && inner.members[i].synced {
                        inner.sync_queue.push(q);
                    } else {
                        let pos = inner.queue.partition_point(|x| x.count <= count);
                        inner.queue.insert(pos, q);
                    }
                    return Ok(());
                }
                let local = nodeid == self.nodeid() && pid == self.pid;
                let ctx = DeliverCtx {
                    dfsm: self,
                    lowest_nodeid: inner.lowest_nodeid,
                    count: local.then_some(count),
                };
                let res = self
                    .app
                    .deliver(&ctx, nodeid, pid, header.subtype, header.time, payload);
                if local {
                    self.record_local_result(count, res.ok());
                }
                res.map(|_| ())
            }
            Message::State {
                kind,
                epoch,
                payload,
                ..
            } => self.handle_state(inner, nodeid, pid, kind, epoch, payload),
        }
    }

    fn handle_state(
        &self,
        inner: &mut Inner,
        nodeid: u32,
        pid: u32,
        kind: MsgType,
        epoch: Epoch,
        payload: &[u8],
    ) -> Result<(), Leave> {
        if kind != MsgType::SyncStart && epoch != inner.sync_epoch {
            return Ok(());
        }
        match (inner.mode, kind) {
            (Mode::Synced, MsgType::UpdateComplete) => {
                for m in inner.members.iter_mut() {
                    m.synced = true;
                }
                self.deliver_queue(inner)
            }
            (Mode::Synced, MsgType::VerifyRequest) => {
                let id = u64::from_le_bytes(payload.try_into().map_err(|_| LeaveGroup)?);
                if let Some(csum) = self.app.checksum() {
                    inner.csum = Some((id, epoch, csum));
                    if nodeid == self.nodeid() && pid == self.pid {
                        let mut p = id.to_le_bytes().to_vec();
                        p.extend_from_slice(&csum);
                        let out = StateSender { dfsm: self, epoch };
                        out.send(MsgType::Verify, &p).map_err(|_| LeaveGroup)?;
                    }
                }
                Ok(())
            }
            (Mode::Synced, MsgType::Verify) => {
                if payload.len() != 40 {
                    return Err(LeaveGroup);
                }
                let id = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
                match inner.csum {
                    Some((cid, cep, csum))
                        if cid == id && cep == epoch && csum[..] != payload[8..] =>
                    {
                        eprintln!("{}: wrong checksum - restarting", self.group);
                        return Err(LeaveGroup);
                    }
                    _ => {}
                }
                inner.csum = None;
                Ok(())
            }
            (Mode::Synced, _) => Ok(()),
            (Mode::StartSync, MsgType::SyncStart) => {
                inner.sync_epoch = epoch;
                self.reset_sync(inner, None);
                let state = self.app.get_state();
                if state.is_empty() {
                    return Err(LeaveGroup);
                }
                let out = StateSender { dfsm: self, epoch };
                out.send(MsgType::State, &state).map_err(|_| LeaveGroup)
            }
            (Mode::StartSync, MsgType::State) => {
                let i = Self::member_idx(inner, nodeid, pid).ok_or(LeaveGroup)?;
                if inner.members[i].state.is_some() {
                    return Err(LeaveGroup);
                }
                inner.members[i].state = Some(payload.to_vec());
                if inner.members.iter().any(|m| m.state.is_none()) {
                    return Ok(());
                }
                let local = inner.local.ok_or(LeaveGroup)?;
                let out = StateSender {
                    dfsm: self,
                    epoch: inner.sync_epoch,
                };
                for m in inner.members.iter_mut() {
                    m.synced = false;
                }
                self.app.process_state(&mut inner.members, local, &out)?;
                if inner.members[local].synced {
                    self.set_mode(inner, Mode::Synced);
                    self.reset_sync(inner, None);
                } else {
                    self.set_mode(inner, Mode::Update);
                }
                self.deliver_queue(inner)
            }
            (Mode::Update, MsgType::Update) => self.app.process_update(nodeid, pid, payload),
            (Mode::Update, MsgType::UpdateComplete) => {
                self.app.commit()?;
                for m in inner.members.iter_mut() {
                    m.synced = true;
                }
                self.set_mode(inner, Mode::Synced);
                self.deliver_sync_queue(inner)?;
                self.deliver_queue(inner)?;
                self.reset_sync(inner, None);
                Ok(())
            }
            (_, MsgType::VerifyRequest | MsgType::Verify) => Ok(()),
            _ => Err(LeaveGroup),
        }
    }

    /// Starts a verification round (lowest node id only, when synced).
    pub fn verify_request(&self) -> Result<(), Errno> {
        let (epoch, id) = {
            let mut inner = lock(&self.inner);
            if inner.mode != Mode::Synced
                || inner.lowest_nodeid != self.nodeid()
                || inner.csum.is_some()
            {
                return Ok(());
            }
            inner.csum_counter += 1;
            (inner.sync_epoch, inner.csum_counter)
        };
        let out = StateSender { dfsm: self, epoch };
        out.send(MsgType::VerifyRequest, &id.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Keeps what is sent; answers TRY_AGAIN while `full` is set.
    #[derive(Default)]
    struct Loop {
        sent: Mutex<Vec<Vec<u8>>>,
        full: AtomicBool,
    }

    impl Transport for Loop {
        fn mcast_once(&self, msg: &[u8]) -> Result<(), Errno> {
            if self.full.load(Ordering::SeqCst) {
                return Err(TRY_AGAIN);
            }
            lock(&self.sent).push(msg.to_vec());
            Ok(())
        }
    }

    /// Applies a normal message by answering its payload length.
    struct Echo;

    impl DfsmApp for Echo {
        fn get_state(&self) -> Vec<u8> {
            vec![1]
        }
        fn process_state(
            &self,
            _: &mut [Member],
            _: usize,
            _: &StateSender<'_>,
        ) -> Result<(), LeaveGroup> {
            Ok(())
        }
        fn process_update(&self, _: u32, _: u32, _: &[u8]) -> Result<(), LeaveGroup> {
            Ok(())
        }
        fn commit(&self) -> Result<(), LeaveGroup> {
            Ok(())
        }
        fn deliver(
            &self,
            _: &DeliverCtx<'_>,
            _: u32,
            _: u32,
            _: u16,
            _: u32,
            payload: &[u8],
        ) -> Result<i32, LeaveGroup> {
            Ok(payload.len() as i32)
        }
    }

    type Log = Arc<Mutex<Vec<(u64, Option<i32>)>>>;

    struct Rec(Log);

    impl Completion for Rec {
        fn complete(self: Box<Self>, count: u64, result: Option<i32>) {
            lock(&self.0).push((count, result));
        }
    }

    fn synced_alone() -> (Arc<Dfsm>, Arc<Loop>) {
        let d = Dfsm::new("test", 1, Arc::new(Echo));
        let t = Arc::new(Loop::default());
        d.connected(1, t.clone());
        d.on_confchg(&[(1, d.pid)], 1);
        assert!(d.is_synced());
        (d, t)
    }

    #[test]
    fn completions_follow_local_delivery() {
        let (d, t) = synced_alone();
        let log: Log = Default::default();
        d.send_then(1, b"abc", false, Rec(log.clone()))
            .map_err(|(e, _)| e)
            .unwrap();
        d.send_then(1, b"hello", false, Rec(log.clone()))
            .map_err(|(e, _)| e)
            .unwrap();
        assert!(lock(&log).is_empty(), "nothing applied yet");
        // The first message is lost; the second is applied.
        let second = lock(&t.sent)[1].clone();
        d.on_deliver(1, d.pid, &second);
        assert_eq!(*lock(&log), vec![(1, None), (2, Some(5))]);

        // corosync full: nothing sent, the completion comes back unused.
        t.full.store(true, Ordering::SeqCst);
        let (e, _) = d.send_then(1, b"x", false, Rec(log.clone())).unwrap_err();
        assert_eq!(e, TRY_AGAIN);
        t.full.store(false, Ordering::SeqCst);
        assert_eq!(lock(&t.sent).len(), 2);

        // Leaving the group fails what is still in flight.
        d.send_then(1, b"y", false, Rec(log.clone()))
            .map_err(|(e, _)| e)
            .unwrap();
        d.disconnected();
        assert_eq!(lock(&log).last(), Some(&(3, None)));
        assert_eq!(lock(&log).len(), 3);
    }

    #[test]
    fn send_sync_waits_for_its_delivery() {
        let (d, t) = synced_alone();
        let d2 = d.clone();
        let waiter = std::thread::spawn(move || d2.send_sync(1, b"four"));
        let msg = loop {
            if let Some(m) = lock(&t.sent).first().cloned() {
                break m;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        d.on_deliver(1, d.pid, &msg);
        assert_eq!(waiter.join().unwrap(), Ok((1, 4)));
    }
}
