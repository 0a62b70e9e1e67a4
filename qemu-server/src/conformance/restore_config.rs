//! `restore-config`: each `input/VMID.conf` (a config as stored in a backup, with
//! `#qmdump#map:` lines) rewritten line by line for a restore onto storage `target`
//! must equal `expected/VMID.conf`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;

use crate::restore::{restore_update_config_line, RestoreCookie, RestoreEnv};

fn rewrite(vmid: &str, input: &str) -> String {
    let mut map = BTreeMap::new();
    let mut n = 0;
    for line in input.lines() {
        let Some(rest) = line.strip_prefix("#qmdump#map:") else {
            continue;
        };
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() < 4 {
            continue;
        }
        let format = if parts[3].is_empty() { "raw" } else { parts[3] };
        map.insert(
            parts[0].to_string(),
            format!("target:{vmid}/vm-{vmid}-disk-{n}.{format}"),
        );
        n += 1;
    }
    let env = RestoreEnv {
        map: &map,
        unique: false,
        random_mac: &|| "00:00:00:00:00:00".into(),
        new_uuid: &|| "00000000-0000-0000-0000-000000000000".into(),
    };
    let mut cookie = RestoreCookie::default();
    input
        .split_inclusive('\n')
        .map(|l| restore_update_config_line(&mut cookie, &env, l))
        .collect()
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("input"))
        .context("reading input")?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let input = std::fs::read_to_string(dir.join("input").join(&name))?;
        let want = std::fs::read_to_string(dir.join("expected").join(&name))?;
        let got = rewrite(name.trim_end_matches(".conf"), &input);
        let result = if got == want {
            Ok(())
        } else {
            Err(format!("got\n{got}\nexpected\n{want}"))
        };
        out.push(CaseOutcome { name, result });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn shared_corpus() {
        super::super::assert_suite_passes("restore-config");
    }
}
