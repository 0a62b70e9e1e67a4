//! pve-manager: the API root, the daemons and the node-wide tools. Later issues fill the
//! HTTP servers, pvesh, the scheduler and the status daemon in here.

use pve_common::conformance::Suite;

/// The conformance suites of every crate, in dependency order.
pub fn conformance_suites() -> Vec<Suite> {
    pve_common::conformance::suites()
}
