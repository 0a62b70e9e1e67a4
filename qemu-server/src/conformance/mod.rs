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

/// Runs one of this crate's suites on the shared corpus and fails on any failing case
/// (prints `SKIP` when there is no corpus).
#[cfg(test)]
pub(crate) fn assert_suite_passes(name: &str) {
    let root = pve_common::conformance::default_corpus_dir();
    let suite = suites()
        .into_iter()
        .find(|s| s.component == "qemu-server" && s.name == name)
        .expect("suite exists");
    let Ok(report) = pve_common::conformance::run_suite(&suite, &root) else {
        println!("SKIP: no corpus at {}", root.display());
        return;
    };
    let failed: Vec<String> = report
        .cases
        .iter()
        .filter_map(|c| c.result.as_ref().err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    println!("{name} {}/{}", report.passed(), report.cases.len());
    assert!(
        failed.is_empty(),
        "{name} cases failing:\n{}",
        failed.join("\n")
    );
}
