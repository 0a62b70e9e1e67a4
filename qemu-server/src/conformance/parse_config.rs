//! `parse-config`: each `input/NAME.conf`, parsed as VM 8006 in strict and non-strict
//! mode, must fail with `expected/NAME.conf.<mode>.error` or write back byte-identical to
//! `expected/NAME.conf` (else the input).

use std::path::Path;

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;

use crate::config::{parse_vm_config, write_vm_config};

const VMID: u32 = 8006;

fn check_mode(dir: &Path, name: &str, input: &str, strict: bool) -> Result<(), String> {
    let mode = if strict { "strict" } else { "non-strict" };
    let expected = dir.join("expected");
    let error_file = expected.join(format!("{name}.{mode}.error"));
    let outcome = parse_vm_config(VMID, input, strict);
    if let Ok(want) = std::fs::read_to_string(&error_file) {
        return match outcome {
            Err(got) if got == want => Ok(()),
            Err(got) => Err(format!("{mode}: error {got:?}, expected {want:?}")),
            Ok(_) => Err(format!("{mode}: parsed, expected error {want:?}")),
        };
    }
    let parsed = outcome.map_err(|e| format!("{mode}: {e}"))?;
    let want = std::fs::read_to_string(expected.join(name)).unwrap_or_else(|_| input.to_string());
    let got = write_vm_config(VMID, &parsed.config);
    if got == want {
        Ok(())
    } else {
        Err(format!("{mode}: wrote\n{got}\nexpected\n{want}"))
    }
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let input_dir = dir.join("input");
    let mut names: Vec<String> = std::fs::read_dir(&input_dir)
        .with_context(|| format!("reading {}", input_dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let input = std::fs::read_to_string(input_dir.join(&name))?;
        let result = check_mode(dir, &name, &input, false)
            .and_then(|()| check_mode(dir, &name, &input, true));
        out.push(CaseOutcome { name, result });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_corpus() {
        super::super::assert_suite_passes("parse-config");
    }
}
