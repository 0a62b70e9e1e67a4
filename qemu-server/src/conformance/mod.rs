//! qemu-server conformance suites (`../shared/conformance/qemu-server/…`).

use pve_common::conformance::Suite;

mod cfg2cmd;
mod parse_config;

pub fn suites() -> Vec<Suite> {
    vec![
        Suite {
            component: "qemu-server",
            name: "parse-config",
            kind: pve_common::conformance::SuiteKind::Dir(parse_config::run),
        },
        Suite {
            component: "qemu-server",
            name: "cfg2cmd",
            kind: pve_common::conformance::SuiteKind::Dir(cfg2cmd::run),
        },
    ]
}
