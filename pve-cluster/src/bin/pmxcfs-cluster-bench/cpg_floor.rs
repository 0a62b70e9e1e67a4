//! The floor under any pmxcfs on this cluster: a bare CPG client (rust-corosync,
//! as our DFSM uses it) that sends ~1 KiB totally ordered messages and waits for
//! their delivery, with nothing else between the sends (no FUSE, no memdb, no
//! thread hand-off: one thread sends, polls and dispatches).
//!
//! The bench runs one sender in node 1's network namespace and one receiver in
//! every other node's (`--cpg-client send|recv`), all in their own group
//! ([`GROUP`], not `pve_dcdb_v1`). The sender runs one phase per window size: it
//! keeps `window` messages in flight (1 = a sequential writer that waits for each
//! delivery, as a FUSE writer does; 4 = four such writers) and times each message
//! from `cpg_mcast_joined` until corosync delivers it back. Receivers time each
//! message from its send until its delivery there (CLOCK_MONOTONIC is shared by
//! all namespaces of this host). Each process prints one JSON line on stdout.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rust_corosync::{cpg, CsError, DispatchFlags, NodeId};
use serde_json::json;

/// Our own group: never the DCDB's.
pub const GROUP: &str = "pve_bench_cpg_floor";

const KIND_DATA: u64 = 0;
const KIND_PHASE_END: u64 = 1;
const KIND_END: u64 = 2;

/// What the sender does, as passed on its command line.
#[derive(Clone, Debug)]
pub struct Plan {
    pub members: usize,
    pub messages: usize,
    pub size: usize,
    pub windows: Vec<usize>,
    /// Pause after each delivery before the next send (models a writer doing
    /// other work between messages).
    pub gap: Duration,
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn encode(kind: u64, seq: u64, size: usize) -> Vec<u8> {
    let mut m = Vec::with_capacity(size.max(24));
    m.extend_from_slice(&kind.to_le_bytes());
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&mono_ns().to_le_bytes());
    m.resize(size.max(24), b'x');
    m
}

fn decode(m: &[u8]) -> Option<(u64, u64, u64)> {
    let u = |i: usize| Some(u64::from_le_bytes(m.get(i..i + 8)?.try_into().ok()?));
    Some((u(0)?, u(8)?, u(16)?))
}

/// Delivered messages and the member count, filled by the callbacks (which run
/// inside `cpg::dispatch` on this thread).
#[derive(Default)]
struct Seen {
    members: usize,
    /// (sender node id, kind, seq, send time, delivery time)
    delivered: Vec<(u32, u64, u64, u64, u64)>,
}

thread_local! {
    static SEEN: RefCell<Seen> = RefCell::new(Seen::default());
}

fn deliver_cb(_h: &cpg::Handle, _g: String, nodeid: NodeId, _pid: u32, msg: &[u8], _l: usize) {
    let now = mono_ns();
    if let Some((kind, seq, sent)) = decode(msg) {
        SEEN.with(|s| {
            s.borrow_mut()
                .delivered
                .push((u32::from(nodeid), kind, seq, sent, now))
        });
    }
}

fn confchg_cb(
    _h: &cpg::Handle,
    _g: &str,
    members: Vec<cpg::Address>,
    _left: Vec<cpg::Address>,
    _joined: Vec<cpg::Address>,
) {
    SEEN.with(|s| s.borrow_mut().members = members.len());
}

fn take_delivered() -> Vec<(u32, u64, u64, u64, u64)> {
    SEEN.with(|s| std::mem::take(&mut s.borrow_mut().delivered))
}

fn members() -> usize {
    SEEN.with(|s| s.borrow().members)
}

struct Client {
    handle: cpg::Handle,
    fd: i32,
    nodeid: u32,
}

impl Client {
    fn join() -> Result<Client> {
        let model = cpg::ModelData::ModelV1(cpg::Model1Data {
            flags: cpg::Model1Flags::None,
            deliver_fn: Some(deliver_cb),
            confchg_fn: Some(confchg_cb),
            totem_confchg_fn: None,
        });
        let handle = cpg::initialize(&model, 0).context("cpg_initialize")?;
        let fd = cpg::fd_get(&handle).context("cpg_fd_get")?;
        let nodeid = u32::from(cpg::local_get(&handle).context("cpg_local_get")?);
        for _ in 0..100 {
            match cpg::join(&handle, GROUP) {
                Ok(()) => {
                    return Ok(Client { handle, fd, nodeid });
                }
                Err(CsError::CsErrTryAgain) => std::thread::sleep(Duration::from_millis(100)),
                Err(e) => bail!("cpg_join: {e}"),
            }
        }
        bail!("cpg_join: try again")
    }

    /// Waits up to `ms` for something to dispatch, then dispatches it.
    fn dispatch(&self, ms: i32) -> Result<()> {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is a valid pollfd for the duration of the call.
        if unsafe { libc::poll(&mut p, 1, ms) } > 0 {
            cpg::dispatch(&self.handle, DispatchFlags::All).context("cpg_dispatch")?;
        }
        Ok(())
    }

    fn send(&self, msg: &[u8]) -> Result<()> {
        loop {
            match cpg::mcast_joined(&self.handle, cpg::Guarantee::TypeAgreed, msg) {
                Ok(()) => return Ok(()),
                // Flow control: let deliveries drain.
                Err(CsError::CsErrTryAgain) => self.dispatch(1)?,
                Err(e) => bail!("cpg_mcast_joined: {e}"),
            }
        }
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(ns: f64) -> f64 {
    (ns / 1e4).round() / 100.0
}

fn stats(mut lat_ns: Vec<f64>) -> serde_json::Value {
    lat_ns.sort_by(f64::total_cmp);
    json!({
        "samples": lat_ns.len(),
        "p50_ms": ms(pct(&lat_ns, 0.5)),
        "p99_ms": ms(pct(&lat_ns, 0.99)),
    })
}

/// The sender (node 1): one phase per window, JSON on stdout.
pub fn run_sender(plan: &Plan) -> Result<()> {
    let c = Client::join()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while members() < plan.members {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} members joined {GROUP}",
                members(),
                plan.members
            );
        }
        c.dispatch(100)?;
    }
    let mut phases = Vec::new();
    let mut seq = 0u64;
    for &window in &plan.windows {
        let mut sent_at: HashMap<u64, u64> = HashMap::new();
        let mut lat = Vec::with_capacity(plan.messages);
        let (mut sent, mut done) = (0usize, 0usize);
        let t = Instant::now();
        while done < plan.messages {
            while sent < plan.messages && sent - done < window {
                seq += 1;
                let m = encode(KIND_DATA, seq, plan.size);
                sent_at.insert(seq, decode(&m).map(|d| d.2).unwrap_or(0));
                c.send(&m)?;
                sent += 1;
            }
            c.dispatch(1000)?;
            for (node, kind, s, _, at) in take_delivered() {
                if node == c.nodeid && kind == KIND_DATA {
                    if let Some(t0) = sent_at.remove(&s) {
                        lat.push((at - t0) as f64);
                        done += 1;
                        if !plan.gap.is_zero() {
                            std::thread::sleep(plan.gap);
                        }
                    }
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        seq += 1;
        c.send(&encode(KIND_PHASE_END, seq, plan.size))?;
        let mut p = stats(lat);
        p["window"] = json!(window);
        p["messages_per_s"] = json!((plan.messages as f64 / secs).round());
        phases.push(p);
    }
    seq += 1;
    c.send(&encode(KIND_END, seq, plan.size))?;
    // Our own END back means everyone has had it (total order).
    let deadline = Instant::now() + Duration::from_secs(10);
    'wait: while Instant::now() < deadline {
        c.dispatch(100)?;
        for (node, kind, ..) in take_delivered() {
            if node == c.nodeid && kind == KIND_END {
                break 'wait;
            }
        }
    }
    println!("{}", json!({ "phases": phases }));
    let _ = cpg::leave(&c.handle, GROUP);
    Ok(())
}

/// A receiver: per sender phase, delivery latencies here; exits at END.
pub fn run_receiver() -> Result<()> {
    let c = Client::join()?;
    let mut phases = Vec::new();
    let mut lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        c.dispatch(200)?;
        for (node, kind, _, sent, at) in take_delivered() {
            if node == c.nodeid {
                continue;
            }
            match kind {
                KIND_DATA => lat.push(at.saturating_sub(sent) as f64),
                KIND_PHASE_END => phases.push(stats(std::mem::take(&mut lat))),
                _ => {
                    println!("{}", json!({ "nodeid": c.nodeid, "phases": phases }));
                    let _ = cpg::leave(&c.handle, GROUP);
                    return Ok(());
                }
            }
        }
    }
    bail!("no END from the sender")
}
