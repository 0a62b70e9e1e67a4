//! Runs the `pve-common/calendar_event` conformance suite against the corpus
//! (`$PVE_CONFORMANCE_DIR`, default `../shared/conformance`).

use pve_common::conformance::{default_corpus_dir, run_suite, suites};

#[test]
fn calendar_event_corpus() {
    let suite = suites()
        .into_iter()
        .find(|s| s.component == "pve-common" && s.name == "calendar_event")
        .expect("calendar_event suite is registered");
    let report = run_suite(&suite, &default_corpus_dir()).expect("corpus readable");
    for case in &report.cases {
        if let Err(why) = &case.result {
            println!("FAIL {}: {why}", case.name);
        }
    }
    println!(
        "pve-common/calendar_event: {}/{}",
        report.passed(),
        report.cases.len()
    );
    assert!(!report.cases.is_empty(), "empty corpus");
    assert_eq!(report.failed(), 0, "calendar_event cases failed");
}
