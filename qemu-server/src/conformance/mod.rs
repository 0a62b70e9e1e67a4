//! qemu-server conformance suites (`../shared/conformance/qemu-server/…`).

use pve_common::conformance::Suite;

mod parse_config;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        component: "qemu-server",
        name: "parse-config",
        kind: pve_common::conformance::SuiteKind::Dir(parse_config::run),
    }]
}
