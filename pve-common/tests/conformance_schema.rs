//! Runs the JSON-schema conformance suites against the corpus
//! (`$PVE_CONFORMANCE_DIR`, default `../shared/conformance`).

use pve_common::conformance::{default_corpus_dir, run_suite, suites};
use pve_common::schema::{check_format, perl_truthy, FormatSpec};
use serde_json::Value;

const SUITES: &[&str] = &["json_schema_check", "property_string", "api_list_params"];

#[test]
fn schema_suites_pass() {
    let root = default_corpus_dir();
    let mut failures = Vec::new();
    let mut ran = 0;
    for suite in suites()
        .iter()
        .filter(|s| s.component == "pve-common" && SUITES.contains(&s.name))
    {
        ran += 1;
        let report = run_suite(suite, &root).expect("suite runs");
        println!(
            "{}/{}: {}/{}",
            report.component,
            report.name,
            report.passed(),
            report.cases.len()
        );
        for case in &report.cases {
            if let Err(e) = &case.result {
                failures.push(format!("{}/{}: {e}", report.name, case.name));
            }
        }
    }
    assert_eq!(ran, SUITES.len(), "every schema suite is registered");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// The `pve-configid` cases of `format_render` (the suite itself is registered with the
/// renderer cases; this checks the same rule through the public format API).
#[test]
fn format_render_configid_cases_pass() {
    let file = default_corpus_dir().join("pve-common/format_render/cases.json");
    let text = std::fs::read_to_string(&file).expect("format_render corpus");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let cases: Vec<&Value> = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["kind"] == "pve-configid")
        .collect();
    assert!(!cases.is_empty());
    let format = FormatSpec::Named("pve-configid".into());
    let failures: Vec<String> = cases
        .iter()
        .filter(|c| {
            let input = c["input"].as_str().unwrap_or_default();
            check_format(&format, input).is_ok() != perl_truthy(&c["valid"])
        })
        .map(|c| c["name"].to_string())
        .collect();
    println!(
        "pve-common/format_render (pve-configid): {}/{}",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
