//! pve-guest-common conformance suites (`../shared/conformance/pve-guest-common/…`).

use pve_common::conformance::Suite;

mod pending_changes;

pub fn suites() -> Vec<Suite> {
    vec![Suite::cases_json(
        "pve-guest-common",
        "pending_changes",
        pending_changes::check,
    )]
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_corpus() {
        let root = pve_common::conformance::default_corpus_dir();
        for suite in super::suites() {
            let Ok(report) = pve_common::conformance::run_suite(&suite, &root) else {
                println!("SKIP: no corpus at {}", root.display());
                return;
            };
            for case in &report.cases {
                if let Err(e) = &case.result {
                    println!("FAIL {}: {e}", case.name);
                }
            }
            println!("{} {}/{}", suite.name, report.passed(), report.cases.len());
            assert_eq!(report.passed(), report.cases.len());
        }
    }
}
