//! pve-manager: the API root, the daemons and the node-wide tools (pvesh; later the HTTP
//! servers, the scheduler and the status daemon).
// Upstream's schemas are written as `json!` literals; the largest nest deeply.
#![recursion_limit = "256"]

pub mod api;
pub mod certs;
pub mod daemon;
pub mod devnode;
pub mod http;
pub mod pvesh;

use pve_common::conformance::Suite;

/// The conformance suites of every crate, in dependency order.
pub fn conformance_suites() -> Vec<Suite> {
    let mut all = pve_common::conformance::suites();
    all.extend(pve_storage::conformance_suites());
    all.extend(qemu_server::conformance_suites());
    all.extend(pve_container::conformance_suites());
    all
}
