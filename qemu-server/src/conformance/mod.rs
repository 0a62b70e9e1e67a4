//! qemu-server conformance suites (`../shared/conformance/qemu-server/…`).

use pve_common::conformance::Suite;

mod cfg2cmd;
mod parse_config;
mod restore_config;
mod snapshot;

pub fn suites() -> Vec<Suite> {
    let mut all = vec![
        Suite {
            component: "qemu-server",
            name: "parse-config",
            kind: pve_common::conformance::SuiteKind::Dir(parse_config::run),
            in_progress: false,
        },
        Suite {
            component: "qemu-server",
            name: "cfg2cmd",
            kind: pve_common::conformance::SuiteKind::Dir(cfg2cmd::run),
            in_progress: false,
        },
        Suite {
            component: "qemu-server",
            name: "restore-config",
            kind: pve_common::conformance::SuiteKind::Dir(restore_config::run),
            in_progress: false,
        },
        Suite {
            component: "qemu-server",
            name: "snapshot",
            kind: pve_common::conformance::SuiteKind::Dir(snapshot::run),
            in_progress: false,
        },
    ];
    // The shared guest suites run with the VM crate (pve-manager collects per crate).
    all.extend(pve_guest_common::conformance_suites());
    all
}
