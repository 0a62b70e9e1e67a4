//! Cluster mode wiring: the DCDB and kvstore DFSMs on their CPG groups, quorum,
//! the corosync.conf copy on the host, and the hourly verification round.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::apply::ChangeSink;
use crate::corosync;
use crate::dfsm::dcdb::{ClusterSink, Dcdb};
use crate::dfsm::kvstore::Kvstore;
use crate::dfsm::machine::Dfsm;
use crate::dfsm::wire::{
    DCDB_GROUP, DCDB_PROTOCOL_VERSION, KVSTORE_GROUP, KVSTORE_PROTOCOL_VERSION,
};
use crate::memdb::{Memdb, Op};
use crate::status::Status;

/// How often the lowest node id asks everyone to compare checksums.
const VERIFY_INTERVAL: Duration = Duration::from_secs(3600);

/// A new database takes the host's corosync.conf (writer 0), as upstream.
pub fn import_corosync_conf(memdb: &Memdb, data: &[u8]) -> Result<()> {
    let now = crate::memdb::now_secs();
    let path = "corosync.conf".to_string();
    memdb
        .apply(&Op::Create { path: path.clone() }, 0, now)
        .map_err(|e| anyhow!("importing corosync.conf: {e}"))?;
    memdb
        .apply(
            &Op::Write {
                path,
                offset: 0,
                data: data.to_vec(),
                truncate: true,
            },
            0,
            now,
        )
        .map_err(|e| anyhow!("importing corosync.conf: {e}"))?;
    Ok(())
}

/// `config_version: N` of a corosync.conf text.
pub fn config_version(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("config_version")?.trim_start();
        rest.strip_prefix(':')?.trim().parse().ok()
    })
}

/// Writes the DB's corosync.conf to the host copy unless that one is newer; after
/// a local change, corosync is told to reload (1 s later, as upstream).
pub fn sync_corosync_conf(memdb: &Memdb, host: &std::path::Path, notify: bool) {
    let Ok(data) = memdb.read_path("corosync.conf") else {
        return;
    };
    let new = String::from_utf8_lossy(&data);
    let old = std::fs::read_to_string(host).unwrap_or_default();
    if old == new {
        return;
    }
    let (Some(nv), ov) = (config_version(&new), config_version(&old)) else {
        return;
    };
    if ov.is_some_and(|ov| ov > nv) {
        eprintln!("pmxcfs: host corosync.conf has a newer config_version, not replacing it");
        return;
    }
    let tmp = host.with_extension("conf.tmp");
    let written = std::fs::write(&tmp, &data).and_then(|_| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
        std::fs::rename(&tmp, host)
    });
    if let Err(e) = written {
        eprintln!("pmxcfs: writing {} failed: {e}", host.display());
        return;
    }
    if notify {
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(1));
            let _ = std::process::Command::new("corosync-cfgtool")
                .arg("-R")
                .status();
        });
    }
}

pub struct Cluster {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    dcdb_dfsm: Arc<Dfsm>,
    dcdb: Arc<Dcdb>,
    status: Arc<Status>,
}

/// The address this node announces as `nodeip`: PVE_NODE_IP, else what the node
/// name resolves to.
fn local_ip(nodename: &str) -> String {
    if let Ok(ip) = std::env::var("PVE_NODE_IP") {
        if !ip.is_empty() {
            return ip;
        }
    }
    use std::net::ToSocketAddrs;
    (nodename, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.find(|a| !a.ip().is_loopback()))
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

impl Cluster {
    pub fn start(memdb: Arc<Memdb>, status: Arc<Status>, host_conf: PathBuf) -> Cluster {
        status.set_quorate(false);
        let stop = Arc::new(AtomicBool::new(false));
        let dcdb = Dcdb::new(memdb.clone(), status.clone());
        {
            let memdb = memdb.clone();
            let host_conf = host_conf.clone();
            dcdb.set_corosync_conf_hook(Box::new(move |local| {
                sync_corosync_conf(&memdb, &host_conf, local)
            }));
        }
        sync_corosync_conf(&memdb, &host_conf, false);
        let dcdb_dfsm = Dfsm::new(DCDB_GROUP, DCDB_PROTOCOL_VERSION, dcdb.clone());
        let kv = Kvstore::new(status.clone(), local_ip(&status.nodename));
        let kv_dfsm = Dfsm::new(KVSTORE_GROUP, KVSTORE_PROTOCOL_VERSION, kv);
        {
            let kv_dfsm = kv_dfsm.clone();
            status.set_log_sink(Some(Box::new(move |e| {
                let _ = kv_dfsm.send(crate::dfsm::wire::kv_type::LOG, e.bytes());
            })));
        }
        let mut threads = vec![
            corosync::spawn_quorum(status.clone(), stop.clone()),
            corosync::spawn_cpg(dcdb_dfsm.clone(), stop.clone()),
            corosync::spawn_cpg(kv_dfsm, stop.clone()),
        ];
        let (d, s) = (dcdb_dfsm.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut last = Instant::now();
            while !s.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= VERIFY_INTERVAL {
                    last = Instant::now();
                    let _ = d.verify_request();
                }
            }
        }));
        Cluster {
            stop,
            threads,
            dcdb_dfsm,
            dcdb,
            status,
        }
    }

    pub fn sink(&self) -> Arc<dyn ChangeSink> {
        Arc::new(ClusterSink {
            dfsm: self.dcdb_dfsm.clone(),
            dcdb: self.dcdb.clone(),
            status: self.status.clone(),
        })
    }

    pub fn stop(self) {
        self.status.set_log_sink(None);
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_version() {
        let t = "totem {\n  cluster_name: x\n  config_version: 12\n}\n";
        assert_eq!(config_version(t), Some(12));
        assert_eq!(config_version("nothing"), None);
    }
}
