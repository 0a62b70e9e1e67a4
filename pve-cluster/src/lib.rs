//! pve-cluster: pmxcfs (the /etc/pve cluster file system) and its client side.
//!
//! - [`memdb`]: the tree in memory over SQLite (`config.db`), the single apply path
//! - [`status`]: the generated files (`.version`, `.members`, `.vmlist`, …); [`clog`]: the
//!   cluster log ring, in upstream's byte layout
//! - [`fuse`]: the FUSE view of the tree at `<root>/etc/pve`
//! - [`daemon`]: startup, mount, shutdown of the `pmxcfs` process
//! - [`dfsm`]: the DFSM protocol (DCDB, kvstore); [`corosync`]: CPG, quorum, cmap
//! - [`cfs`]: what other crates use: config files with digests, cfs locks, guest list

pub mod apply;
pub mod benchutil;
pub mod cfs;
pub mod clog;
pub mod cluster;
pub mod corosync;
pub mod corosync_conf;
pub mod daemon;
pub mod dfsm;
pub mod fuse;
pub mod ipc;
pub mod join;
pub mod memdb;
pub mod pvecm;
pub mod status;
pub mod testcluster;
