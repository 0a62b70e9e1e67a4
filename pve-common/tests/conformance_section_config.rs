//! Runs the `section_config` and `section_config_schema` conformance suites.

use pve_common::conformance::{default_corpus_dir, run_suite, suites};

fn run(name: &str) {
    let suite = suites()
        .into_iter()
        .find(|s| s.component == "pve-common" && s.name == name)
        .unwrap_or_else(|| panic!("suite {name} not registered"));
    let report = run_suite(&suite, &default_corpus_dir()).expect("corpus readable");
    println!(
        "pve-common/{name}: {}/{} passed",
        report.passed(),
        report.cases.len()
    );
    for case in &report.cases {
        if let Err(why) = &case.result {
            println!("  FAIL {}: {why}", case.name);
        }
    }
    assert!(!report.cases.is_empty(), "{name}: no cases");
    assert_eq!(report.failed(), 0, "{name}: failures above");
}

#[test]
fn section_config() {
    run("section_config");
}

#[test]
fn section_config_schema() {
    run("section_config_schema");
}
