//! `distro_setup`: the post-create hook per distribution (filled below).

use std::path::Path;

use anyhow::Result;
use pve_common::conformance::CaseOutcome;

pub(super) fn run(_dir: &Path) -> Result<Vec<CaseOutcome>> {
    anyhow::bail!("distro setup not implemented yet")
}
