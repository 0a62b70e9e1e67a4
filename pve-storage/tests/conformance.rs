//! Runs every pve-storage conformance suite against ../shared/conformance.

use pve_common::conformance::{default_corpus_dir, run_suite};

#[test]
fn storage_suites() {
    let root = default_corpus_dir();
    let mut failed = 0;
    for suite in pve_storage::conformance_suites() {
        let report = run_suite(&suite, &root).expect("corpus readable");
        println!(
            "pve-storage/{}: {}/{} passed",
            report.name,
            report.passed(),
            report.cases.len()
        );
        for case in &report.cases {
            if let Err(why) = &case.result {
                println!("  FAIL {}: {why}", case.name);
            }
        }
        assert!(!report.cases.is_empty(), "{}: no cases", report.name);
        // cases the corpus itself cannot express are reported, not counted
        failed += report
            .cases
            .iter()
            .filter(|c| {
                c.result
                    .as_ref()
                    .is_err_and(|e| !e.starts_with(pve_storage::conformance::CORPUS_DEFECT))
            })
            .count();
    }
    assert_eq!(failed, 0, "failures above");
}
