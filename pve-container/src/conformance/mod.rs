//! pve-container conformance suites (`../shared/conformance/pve-container/…`).

use pve_common::conformance::{Suite, SuiteKind};

mod distro_setup;
mod idmap;
mod snapshot;

pub fn suites() -> Vec<Suite> {
    vec![
        Suite {
            component: "pve-container",
            name: "distro_setup",
            kind: SuiteKind::Dir(distro_setup::run),
            in_progress: false,
        },
        Suite {
            component: "pve-container",
            name: "snapshot",
            kind: SuiteKind::Dir(snapshot::run),
            in_progress: false,
        },
        Suite {
            component: "pve-container",
            name: "idmap",
            kind: SuiteKind::CasesJson(idmap::check_case),
            in_progress: false,
        },
    ]
}
