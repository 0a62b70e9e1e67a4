#![recursion_limit = "512"]
//! pve-container: container configs (`/etc/pve/lxc/<vmid>.conf`), their option schema,
//! mount points, id maps, snapshots and distribution setup (see
//! ../shared/docs/ARCHITECTURE.md).

pub mod api;
pub mod attach;
pub mod cli;
pub mod config;
mod conformance;
pub mod create;
pub mod devtemplate;
pub mod disks;
pub mod hooks;
pub mod idmap;
pub mod lxc_config;
pub mod net_hook;
pub mod pct_local;
pub mod run;
pub mod schema;
pub mod setup;
pub mod snapshot;
pub mod snapshot_host;
pub mod status;
pub mod store;
pub mod volumes;

pub use config::{parse_ct_config, write_ct_config, CtConfig, CtSection};

/// The pve-container conformance suites.
pub fn conformance_suites() -> Vec<pve_common::conformance::Suite> {
    conformance::suites()
}
