//! The corosync side of cluster mode: one thread per CPG group (DCDB, kvstore) and
//! one for quorum + cmap, each polling its library descriptor.
//!
//! rust-corosync calls back through plain `fn` pointers, so the callbacks find
//! their DFSM in a process-wide registry keyed by group name.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rust_corosync::{cmap, cpg, quorum, CsError, DispatchFlags, NodeId, TrackFlags};

use crate::dfsm::machine::{Dfsm, Transport, TRY_AGAIN};
use crate::memdb::Errno;
use crate::status::{ClusterInfo, ClusterNode, Status};

fn registry() -> &'static Mutex<HashMap<String, Arc<Dfsm>>> {
    static R: OnceLock<Mutex<HashMap<String, Arc<Dfsm>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lookup(group: &str) -> Option<Arc<Dfsm>> {
    let key = group.trim_end_matches('\0');
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
}

fn deliver_cb(_h: &cpg::Handle, group: String, nodeid: NodeId, pid: u32, msg: &[u8], _len: usize) {
    if let Some(d) = lookup(&group) {
        d.on_deliver(u32::from(nodeid), pid, msg);
    }
}

fn confchg_cb(
    _h: &cpg::Handle,
    group: &str,
    members: Vec<cpg::Address>,
    _left: Vec<cpg::Address>,
    joined: Vec<cpg::Address>,
) {
    if let Some(d) = lookup(group) {
        let list: Vec<(u32, u32)> = members
            .iter()
            .map(|a| (u32::from(a.nodeid), a.pid))
            .collect();
        d.on_confchg(&list, joined.len());
    }
}

struct CpgTransport {
    handle: cpg::Handle,
    lock: Mutex<()>,
}

impl Transport for CpgTransport {
    fn mcast_once(&self, msg: &[u8]) -> Result<(), Errno> {
        let res = {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            cpg::mcast_joined(&self.handle, cpg::Guarantee::TypeAgreed, msg)
        };
        match res {
            Ok(()) => Ok(()),
            Err(CsError::CsErrTryAgain) => Err(TRY_AGAIN),
            Err(e) => {
                eprintln!("pmxcfs: cpg_send_message failed: {e}");
                Err(Errno::EACCES)
            }
        }
    }
}

/// Waits up to `ms` for the descriptor to become readable.
fn poll_fd(fd: i32, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: p is a valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Runs the DFSM's group connection until `stop` is set: join, dispatch, and after
/// a LEAVE or an error, reconnect after a pause.
pub fn spawn_cpg(dfsm: Arc<Dfsm>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(dfsm.group.trim_end_matches('\0').to_string(), dfsm.clone());
    std::thread::Builder::new()
        .name(format!("cpg-{}", dfsm.group.trim_end_matches('\0')))
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = run_group(&dfsm, &stop) {
                    eprintln!("pmxcfs: {}: {e}", dfsm.group.trim_end_matches('\0'));
                }
                dfsm.disconnected();
                if dfsm.mode().is_error() && dfsm.mode() != crate::dfsm::machine::Mode::Leave {
                    return;
                }
                for _ in 0..10 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        })
        .expect("spawn cpg thread")
}

fn run_group(dfsm: &Arc<Dfsm>, stop: &AtomicBool) -> Result<(), String> {
    let model = cpg::ModelData::ModelV1(cpg::Model1Data {
        flags: cpg::Model1Flags::None,
        deliver_fn: Some(deliver_cb),
        confchg_fn: Some(confchg_cb),
        totem_confchg_fn: None,
    });
    let handle = cpg::initialize(&model, 0).map_err(|e| format!("cpg_initialize failed: {e}"))?;
    let nodeid = cpg::local_get(&handle).map_err(|e| format!("cpg_local_get failed: {e}"))?;
    let fd = cpg::fd_get(&handle).map_err(|e| format!("cpg_fd_get failed: {e}"))?;
    dfsm.connected(
        u32::from(nodeid),
        Arc::new(CpgTransport {
            handle: handle.clone(),
            lock: Mutex::new(()),
        }),
    );
    let mut joined = false;
    for _ in 0..100 {
        match cpg::join(&handle, dfsm.group) {
            Ok(()) => {
                joined = true;
                break;
            }
            Err(CsError::CsErrTryAgain) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("cpg_join failed: {e}")),
        }
    }
    if !joined {
        return Err("cpg_join failed: try again".into());
    }
    while !stop.load(Ordering::SeqCst) {
        if dfsm.mode().is_error() {
            let _ = cpg::leave(&handle, dfsm.group);
            break;
        }
        if poll_fd(fd, 200) {
            if let Err(e) = cpg::dispatch(&handle, DispatchFlags::All) {
                return Err(format!("cpg_dispatch failed: {e}"));
            }
        }
    }
    if stop.load(Ordering::SeqCst) {
        let _ = cpg::leave(&handle, dfsm.group);
    }
    drop(handle);
    Ok(())
}

fn status_slot() -> &'static OnceLock<Arc<Status>> {
    static S: OnceLock<Arc<Status>> = OnceLock::new();
    &S
}

fn quorum_cb(_h: &quorum::Handle, quorate: bool, _ring: quorum::RingId, _m: Vec<NodeId>) {
    if let Some(s) = status_slot().get() {
        s.set_quorate(quorate);
    }
}

/// Reads cluster name, config version and the nodelist from cmap.
pub fn read_cmap(h: &cmap::Handle) -> Option<ClusterInfo> {
    let text = |d: &cmap::Data| match d {
        cmap::Data::String(s) => Some(s.clone()),
        _ => None,
    };
    let num = |d: &cmap::Data| -> Option<u64> {
        Some(match *d {
            cmap::Data::UInt8(v) => v as u64,
            cmap::Data::UInt16(v) => v as u64,
            cmap::Data::UInt32(v) => v as u64,
            cmap::Data::UInt64(v) => v,
            cmap::Data::Int32(v) => v as u64,
            cmap::Data::String(ref s) => s.parse().ok()?,
            _ => return None,
        })
    };
    let name = cmap::get(h, "totem.cluster_name")
        .ok()
        .as_ref()
        .and_then(text)?;
    let config_version = cmap::get(h, "totem.config_version")
        .ok()
        .as_ref()
        .and_then(num)
        .unwrap_or(0);
    let mut nodes: std::collections::BTreeMap<String, ClusterNode> = Default::default();
    for item in cmap::CmapIterStart::new(h, "nodelist.node.").ok()? {
        let key = item.key_name().to_string();
        let mut parts = key.splitn(4, '.');
        let (Some(_), Some(_), Some(idx), Some(field)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let n = nodes.entry(idx.to_string()).or_default();
        let data = item.data();
        match field {
            "nodeid" => n.nodeid = num(data).unwrap_or(0) as u32,
            "quorum_votes" => n.votes = num(data).unwrap_or(1) as u32,
            "name" => n.name = text(data).unwrap_or_default(),
            "ring0_addr" => n.ring0_addr = text(data).unwrap_or_default(),
            _ => {}
        }
    }
    let mut nodes: Vec<ClusterNode> = nodes
        .into_values()
        .map(|mut n| {
            if n.name.is_empty() {
                n.name = n.ring0_addr.clone();
            }
            n
        })
        .collect();
    nodes.sort_by_key(|n| n.nodeid);
    Some(ClusterInfo {
        name,
        config_version,
        nodes,
    })
}

/// Tracks quorum (callback) and the cmap cluster info (re-read every second).
pub fn spawn_quorum(status: Arc<Status>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let _ = status_slot().set(status.clone());
    std::thread::Builder::new()
        .name("quorum".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = run_quorum(&status, &stop) {
                    eprintln!("pmxcfs: quorum: {e}");
                }
                status.set_quorate(false);
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .expect("spawn quorum thread")
}

fn run_quorum(status: &Status, stop: &AtomicBool) -> Result<(), String> {
    let model = quorum::ModelData::ModelV1(quorum::Model1Data {
        flags: quorum::Model1Flags::None,
        quorum_notification_fn: Some(quorum_cb),
        nodelist_notification_fn: None,
    });
    let (qh, _qtype) =
        quorum::initialize(&model, 0).map_err(|e| format!("quorum_initialize failed: {e}"))?;
    let q = quorum::getquorate(&qh).map_err(|e| format!("quorum_getquorate failed: {e}"))?;
    status.set_quorate(q);
    quorum::trackstart(&qh, TrackFlags::Changes)
        .map_err(|e| format!("quorum_trackstart failed: {e}"))?;
    let qfd = quorum::fd_get(&qh).map_err(|e| format!("quorum_fd_get failed: {e}"))?;
    let ch = cmap::initialize(cmap::Map::Icmap).map_err(|e| format!("cmap_initialize: {e}"))?;
    let mut ticks = 0;
    while !stop.load(Ordering::SeqCst) {
        if poll_fd(qfd, 200) {
            quorum::dispatch(&qh, DispatchFlags::All)
                .map_err(|e| format!("quorum_dispatch failed: {e}"))?;
        }
        if ticks % 5 == 0 {
            match read_cmap(&ch) {
                Some(info) => status.set_cluster_info(info),
                None => return Err("reading cmap failed".into()),
            }
        }
        ticks += 1;
    }
    Ok(())
}
