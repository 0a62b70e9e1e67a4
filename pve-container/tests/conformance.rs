//! Runs every pve-container conformance suite against ../shared/conformance.

use pve_common::conformance::{default_corpus_dir, run_suite};

#[test]
fn container_suites() {
    let root = default_corpus_dir();
    if !root.join("pve-container").is_dir() {
        if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
            panic!("no corpus at {}", root.display());
        }
        println!("SKIP: no corpus at {}", root.display());
        return;
    }
    let mut failed = 0;
    for suite in pve_container::conformance_suites() {
        let report = run_suite(&suite, &root).expect("corpus readable");
        println!(
            "pve-container/{}: {}/{} passed",
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
        failed += report.cases.len() - report.passed();
    }
    assert_eq!(failed, 0, "failures above");
}
