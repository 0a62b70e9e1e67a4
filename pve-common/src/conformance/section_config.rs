//! Suites `section_config` (parse/write round trips) and `section_config_schema` (the
//! generated create/update API schemas).

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::check::{expect_eq, str_field};
use super::{CaseOutcome, Suite, SuiteKind};
use crate::section_config::{config_digest_schema, SectionConfig};

pub fn suites() -> Vec<Suite> {
    vec![
        Suite::cases_json("pve-common", "section_config", check_section_config),
        Suite {
            component: "pve-common",
            name: "section_config_schema",
            kind: SuiteKind::Dir(run_schema_suite),
            in_progress: false,
        },
    ]
}

fn truthy(v: Option<&Value>) -> bool {
    v.is_some_and(crate::schema::perl_truthy)
}

/// The plugin set of a `section_config` case.
fn config_of(case: &Value) -> Result<SectionConfig, String> {
    let schema = case.get("schema").ok_or("case has no 'schema'")?;
    SectionConfig::from_json(schema, truthy(case.get("property_isolation")))
        .map_err(|e| format!("plugin set: {e}"))
}

/// `{ids, order}` of a parse result, the part upstream compares.
fn ids_and_order(data: &crate::section_config::SectionConfigData) -> Value {
    json!({"ids": data.ids, "order": data.order})
}

fn check_section_config(case: &Value) -> Result<(), String> {
    let cfg = config_of(case)?;
    let raw = str_field(case, "raw")?;
    let allow_unknown = truthy(case.get("allow_unknown"));
    let name = case
        .get("upstream_name")
        .and_then(Value::as_str)
        .unwrap_or("test");
    let data = cfg.parse(name, raw, allow_unknown);
    // upstream makes every warning fatal
    let warnings: Vec<String> = data
        .diagnostics
        .iter()
        .filter(|d| d.upstream_warns())
        .map(|d| d.to_string())
        .collect();
    match str_field(case, "expect")? {
        "error" if warnings.is_empty() => Err("parsed without a diagnostic".to_string()),
        "error" => Ok(()),
        "ok" => {
            if !warnings.is_empty() {
                return Err(format!("unexpected diagnostics: {}", warnings.join("; ")));
            }
            let expected = case.get("expected").ok_or("case has no 'expected'")?;
            let got = ids_and_order(&data);
            expect_eq("parse", &got, expected)?;
            let written = cfg
                .write_config(name, &data, allow_unknown)
                .map_err(|e| format!("write: {e}"))?;
            let again = cfg.parse(name, &written, allow_unknown);
            if let Some(d) = again.diagnostics.first() {
                return Err(format!("re-parse of written text: {d}"));
            }
            expect_eq("round trip", &ids_and_order(&again), &got)
        }
        other => Err(format!("unknown expectation '{other}'")),
    }
}

/// Reads `cases` of a `cases.json`.
fn read_cases(file: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    doc.get("cases")
        .and_then(Value::as_array)
        .cloned()
        .with_context(|| format!("{}: no 'cases' array", file.display()))
}

fn run_schema_suite(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let cases = read_cases(&dir.join("cases.json"))?;
    let configs = read_cases(&dir.join("../section_config/cases.json"))?;
    Ok(cases
        .iter()
        .enumerate()
        .map(|(i, case)| CaseOutcome {
            name: case
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| format!("#{i}"), str::to_string),
            result: std::panic::catch_unwind(|| check_schema_case(case, &configs))
                .unwrap_or_else(|_| Err("panicked".to_string())),
        })
        .collect())
}

/// The `section_config` case whose plugin set a schema case uses: the named one, or, when
/// the corpus does not hold it, the one plugin set shared by every case of the same mode
/// (upstream's test files define one plugin set per mode). Differing plugin sets in that
/// mode leave the choice open, which is a failure.
fn plugin_case<'a>(case: &Value, configs: &'a [Value]) -> Result<&'a Value, String> {
    let wanted = str_field(case, "plugins_from_case")?;
    if let Some(c) = configs
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str) == Some(wanted))
    {
        return Ok(c);
    }
    let isolated = match str_field(case, "mode")? {
        "isolated" => true,
        "unified" => false,
        other => return Err(format!("unknown mode '{other}'")),
    };
    let same_mode: Vec<&Value> = configs
        .iter()
        .filter(|c| truthy(c.get("property_isolation")) == isolated)
        .collect();
    let first = same_mode
        .first()
        .ok_or_else(|| format!("case '{wanted}' missing and no case of the same mode"))?;
    if same_mode
        .iter()
        .all(|c| c.get("schema") == first.get("schema"))
    {
        Ok(first)
    } else {
        Err(format!(
            "case '{wanted}' missing and the cases of its mode differ in their plugin sets"
        ))
    }
}

/// Replaces `{"$standard_option": "pve-config-digest"}` by the digest option.
fn resolve_standard_options(v: &mut Value) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            if let Some(name) = map.get("$standard_option") {
                return match name.as_str() {
                    Some("pve-config-digest") => {
                        *v = config_digest_schema().to_value();
                        Ok(())
                    }
                    _ => Err(format!("unknown standard option {name}")),
                };
            }
            map.values_mut().try_for_each(resolve_standard_options)
        }
        Value::Array(items) => items.iter_mut().try_for_each(resolve_standard_options),
        _ => Ok(()),
    }
}

fn check_schema_case(case: &Value, configs: &[Value]) -> Result<(), String> {
    let cfg = config_of(plugin_case(case, configs)?)?;
    let want_isolated = str_field(case, "mode")? == "isolated";
    if cfg.has_isolated_properties() != want_isolated {
        return Err("plugin set is not in the case's mode".to_string());
    }
    let schema = match str_field(case, "kind")? {
        "create" => cfg.create_schema(false, Default::default()),
        "update" => cfg.update_schema(None, Default::default()),
        other => return Err(format!("unknown kind '{other}'")),
    }
    .map_err(|e| e.to_string())?;
    let mut expected = case
        .get("expected_schema")
        .cloned()
        .ok_or("case has no 'expected_schema'")?;
    resolve_standard_options(&mut expected)?;
    expect_eq("schema", &schema.to_value(), &expected)
}
