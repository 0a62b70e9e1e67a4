//! `idmap`: `parse_id_maps` + `validate_id_maps` on a config's `lxc` entries.

use regex::Regex;
use serde_json::Value;

use crate::idmap::{parse_id_maps, validate_id_maps};

pub(super) fn check_case(case: &Value) -> Result<(), String> {
    let conf = &case["conf"];
    let unprivileged = conf
        .get("unprivileged")
        .is_some_and(pve_common::schema::perl_truthy);
    let lxc: Vec<(String, String)> = conf["lxc"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e[0].as_str().unwrap_or_default().to_string(),
                        e[1].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let outcome = parse_id_maps(&lxc, unprivileged).and_then(|m| validate_id_maps(&m.entries));
    match (case["expect"].as_str(), outcome) {
        (Some("ok"), Ok(())) => Ok(()),
        (Some("ok"), Err(e)) => Err(format!("expected success, got error {e:?}")),
        (_, Ok(())) => Err("expected an error, validation passed".into()),
        (_, Err(e)) => {
            for pattern in case["error_patterns"].as_array().into_iter().flatten() {
                let p = pattern.as_str().unwrap_or_default();
                let re = Regex::new(p).map_err(|err| format!("bad pattern {p:?}: {err}"))?;
                if !re.is_match(&e) {
                    return Err(format!("error {e:?} does not match {p:?}"));
                }
            }
            Ok(())
        }
    }
}
