//! The data-driven conformance harness.
//!
//! A corpus has the layout `<root>/<component>/<suite>/…` (see `../shared/conformance`).
//! Each crate contributes [`Suite`]s; the runner binary (`pve-devtool conformance`, driven by
//! `cargo xtask conformance`) collects the suites of every crate, filters them by
//! `COMPONENT[/SUITE]` and prints one line per suite.
//!
//! Most suites are a `cases.json` file of the shape `{suite, component, cases: [{name, …}]}`;
//! [`Suite::cases_json`] covers those with a function that checks one case.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

mod calendar_event;
mod schema_suites;
mod section_config;
mod tools;

/// How one suite checks its data.
pub enum SuiteKind {
    /// `cases.json` with a `cases` array; the function checks one case and returns a
    /// description of the mismatch on failure.
    CasesJson(fn(&Value) -> Result<(), String>),
    /// A suite with its own layout: the function gets the suite folder and returns the
    /// per-case outcomes.
    Dir(fn(&Path) -> Result<Vec<CaseOutcome>>),
}

pub struct Suite {
    pub component: &'static str,
    pub name: &'static str,
    pub kind: SuiteKind,
    /// A suite whose implementation is still being built: the default run (no filter)
    /// lists it without running it; naming it (`COMPONENT/SUITE`) runs it.
    pub in_progress: bool,
}

impl Suite {
    pub const fn cases_json(
        component: &'static str,
        name: &'static str,
        check: fn(&Value) -> Result<(), String>,
    ) -> Self {
        Self {
            component,
            name,
            kind: SuiteKind::CasesJson(check),
            in_progress: false,
        }
    }
}

/// A case whose reason starts with this could not be run because its corpus data is
/// malformed (e.g. a converter lost the data): it is reported as unusable, not as a
/// failure of our code, and the corpus needs fixing.
pub const CORPUS_DEFECT: &str = "corpus defect";

/// The outcome of one case: its name and `Err(reason)` when it failed.
pub struct CaseOutcome {
    pub name: String,
    pub result: Result<(), String>,
}

impl CaseOutcome {
    pub fn is_unusable(&self) -> bool {
        self.result
            .as_ref()
            .is_err_and(|e| e.starts_with(CORPUS_DEFECT))
    }
}

pub struct SuiteReport {
    pub component: &'static str,
    pub name: &'static str,
    pub cases: Vec<CaseOutcome>,
}

impl SuiteReport {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.result.is_ok()).count()
    }
    /// Cases whose corpus data is malformed ([`CORPUS_DEFECT`]).
    pub fn unusable(&self) -> usize {
        self.cases.iter().filter(|c| c.is_unusable()).count()
    }
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed() - self.unusable()
    }
}

/// The pve-common suites.
pub fn suites() -> Vec<Suite> {
    let mut all = Vec::new();
    all.extend(calendar_event::suites());
    all.extend(schema_suites::suites());
    all.extend(section_config::suites());
    all.extend(tools::suites());
    all
}

/// The corpus root: `$PVE_CONFORMANCE_DIR`, else `../shared/conformance` beside the
/// workspace root.
pub fn default_corpus_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PVE_CONFORMANCE_DIR") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    workspace.join("../shared/conformance")
}

/// Whether `suite` is selected by the filters (`COMPONENT` or `COMPONENT/SUITE`); no
/// filter selects everything.
pub fn selected(suite: &Suite, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| match f.split_once('/') {
            Some((c, s)) => c == suite.component && s == suite.name,
            None => f == suite.component,
        })
}

/// Runs one suite against the corpus at `root`. A missing suite folder is an error: the
/// harness must not pass silently on an empty corpus.
pub fn run_suite(suite: &Suite, root: &Path) -> Result<SuiteReport> {
    let dir = root.join(suite.component).join(suite.name);
    let cases = match &suite.kind {
        SuiteKind::CasesJson(check) => {
            let file = dir.join("cases.json");
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let doc: Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", file.display()))?;
            let cases = doc
                .get("cases")
                .and_then(Value::as_array)
                .with_context(|| format!("{}: no 'cases' array", file.display()))?;
            cases
                .iter()
                .enumerate()
                .map(|(i, case)| {
                    let name = case
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("#{i}"));
                    // A panic in a checker is a failed case, not a dead harness.
                    let result = std::panic::catch_unwind(|| check(case))
                        .unwrap_or_else(|_| Err("panicked".to_string()));
                    CaseOutcome { name, result }
                })
                .collect()
        }
        SuiteKind::Dir(run) => run(&dir)?,
    };
    Ok(SuiteReport {
        component: suite.component,
        name: suite.name,
        cases,
    })
}

/// Helpers shared by the case checkers.
pub mod check {
    use serde_json::Value;

    /// Perl's `is_deeply` view of a scalar: numbers and strings compare by their string
    /// form, `null` is undef.
    pub fn scalar_string(v: &Value) -> Option<String> {
        match v {
            Value::Null => None,
            Value::Bool(true) => Some("1".into()),
            Value::Bool(false) => Some(String::new()),
            Value::Number(n) => Some(number_string(n)),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn number_string(n: &serde_json::Number) -> String {
        crate::perl::json_number_to_string(n)
    }

    /// Deep comparison with `is_deeply` semantics for scalars.
    pub fn perl_eq(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| perl_eq(p, q))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| perl_eq(v, w)))
            }
            (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => {
                false
            }
            _ => scalar_string(a) == scalar_string(b),
        }
    }

    /// Fails with both values shown when they differ.
    pub fn expect_eq(what: &str, got: &Value, want: &Value) -> Result<(), String> {
        if perl_eq(got, want) {
            Ok(())
        } else {
            Err(format!("{what}: got {got}, want {want}"))
        }
    }

    /// A Perl regular expression as used by the corpora (`must_fail`, `*_patterns`),
    /// translated to the `regex` crate's syntax where the two differ.
    pub fn perl_regex(pattern: &str) -> Result<regex::Regex, String> {
        regex::Regex::new(&crate::schema::check::perl_pattern(pattern))
            .map_err(|e| format!("bad pattern {pattern:?}: {e}"))
    }

    pub fn str_field<'a>(case: &'a Value, key: &str) -> Result<&'a str, String> {
        case.get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("case has no string '{key}'"))
    }
}

/// The runner behind `cargo xtask conformance [--corpus DIR] [-v] [COMPONENT[/SUITE] …]`:
/// runs the selected suites, prints `COMPONENT/SUITE: P/T passed` per suite (and each
/// failed case's reason), then `N passed, N failed`. Returns the process exit code.
pub fn run_cli(suites: &[Suite], args: &[String]) -> i32 {
    let mut corpus = None;
    let mut filters = Vec::new();
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--corpus" => match it.next() {
                Some(dir) => corpus = Some(PathBuf::from(dir)),
                None => {
                    eprintln!("--corpus needs a directory");
                    return 2;
                }
            },
            "-v" | "--verbose" => verbose = true,
            s if s.starts_with('-') => {
                eprintln!("unknown option '{s}'");
                eprintln!("usage: conformance [--corpus DIR] [-v] [COMPONENT[/SUITE] ...]");
                return 2;
            }
            s => filters.push(s.trim_end_matches('/').to_string()),
        }
    }
    let root = corpus.unwrap_or_else(default_corpus_dir);
    for f in &filters {
        if !suites.iter().any(|s| selected(s, std::slice::from_ref(f))) {
            eprintln!("no supported suite matches '{f}'");
            return 2;
        }
    }
    let (mut passed, mut failed, mut unusable) = (0, 0, 0);
    for suite in suites.iter().filter(|s| selected(s, &filters)) {
        let named = filters
            .iter()
            .any(|f| f == &format!("{}/{}", suite.component, suite.name));
        if suite.in_progress && !named {
            println!(
                "{}/{}: in progress, not run (run it by name: {}/{})",
                suite.component, suite.name, suite.component, suite.name
            );
            continue;
        }
        match run_suite(suite, &root) {
            Ok(report) => {
                let note = match report.unusable() {
                    0 => String::new(),
                    n => format!(" ({n} unusable: corpus defect)"),
                };
                println!(
                    "{}/{}: {}/{} passed{note}",
                    report.component,
                    report.name,
                    report.passed(),
                    report.cases.len()
                );
                for case in &report.cases {
                    match &case.result {
                        Err(reason) if case.is_unusable() => {
                            println!("  UNUSABLE {}: {reason}", case.name)
                        }
                        Err(reason) => println!("  FAIL {}: {reason}", case.name),
                        Ok(()) if verbose => println!("  ok   {}", case.name),
                        Ok(()) => {}
                    }
                }
                passed += report.passed();
                failed += report.failed();
                unusable += report.unusable();
            }
            Err(e) => {
                println!("{}/{}: error: {e:#}", suite.component, suite.name);
                failed += 1;
            }
        }
    }
    if unusable > 0 {
        println!("{passed} passed, {failed} failed, {unusable} unusable (corpus defects)");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed > 0 {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::check::perl_eq;
    use serde_json::json;

    #[test]
    fn perl_scalar_comparison() {
        assert!(perl_eq(&json!(1), &json!("1")));
        assert!(perl_eq(&json!(1.0), &json!(1)));
        assert!(perl_eq(&json!({"a": [1, "x"]}), &json!({"a": ["1", "x"]})));
        assert!(!perl_eq(&json!(1), &json!(2)));
        assert!(!perl_eq(&json!(null), &json!("")));
        assert!(!perl_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }
}
