//! The pve-storage conformance suites (`../shared/conformance/pve-storage`).

use std::path::Path;

use anyhow::Context;
use pve_common::conformance::{CaseOutcome, Suite, SuiteKind};
use serde_json::Value;

mod acl;
mod policy;

pub use policy::CORPUS_DEFECT;
mod volumes;

const COMPONENT: &str = "pve-storage";

/// A suite whose checker also sees the top level of `cases.json`.
fn with_top(name: &'static str, run: fn(&Path) -> anyhow::Result<Vec<CaseOutcome>>) -> Suite {
    Suite {
        component: COMPONENT,
        name,
        kind: SuiteKind::Dir(run),
        in_progress: false,
    }
}

/// Runs `check(top, case)` over every case of `<dir>/cases.json`.
fn run_cases(
    dir: &Path,
    check: fn(&Value, &Value) -> Result<(), String>,
) -> anyhow::Result<Vec<CaseOutcome>> {
    let file = dir.join("cases.json");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let top: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let cases = top
        .get("cases")
        .and_then(Value::as_array)
        .with_context(|| format!("{}: no 'cases' array", file.display()))?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let name = case
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{i}"), str::to_string);
            let result = std::panic::catch_unwind(|| check(&top, case))
                .unwrap_or_else(|_| Err("panicked".into()));
            CaseOutcome { name, result }
        })
        .collect())
}

/// The suites of this crate.
pub fn suites() -> Vec<Suite> {
    vec![
        Suite::cases_json(COMPONENT, "parse_volname", volumes::parse_volname_case),
        with_top("path_to_volume_id", |d| {
            run_cases(d, volumes::path_to_volume_id_case)
        }),
        Suite::cases_json(COMPONENT, "filesystem_path", volumes::filesystem_path_case),
        Suite::cases_json(COMPONENT, "get_subdir", volumes::get_subdir_case),
        Suite::cases_json(COMPONENT, "archive_info", volumes::archive_info_case),
        with_top("list_volumes", |d| run_cases(d, volumes::list_volumes_case)),
        with_top("prune_backups", |d| run_cases(d, policy::prune_case)),
        with_top("bwlimit", |d| run_cases(d, policy::bwlimit_case)),
        with_top("volume_access", |d| {
            run_cases(d, policy::volume_access_case)
        }),
    ]
}

/// Compares an error with the expected text (upstream's, with its trailing newline).
fn expect_error<T: std::fmt::Debug>(
    got: Result<T, crate::StorageError>,
    want: &str,
) -> Result<(), String> {
    match got {
        Err(e) if format!("{e}\n") == want || e.to_string() == want => Ok(()),
        Err(e) => Err(format!("error {:?}, want {want:?}", format!("{e}\n"))),
        Ok(v) => Err(format!("got {v:?}, want error {want:?}")),
    }
}
