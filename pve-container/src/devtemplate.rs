//! The small template the tests and benches create containers from.

use std::path::{Path, PathBuf};

/// The busybox template `cargo xtask deps` builds under `target/ct-templates` (or one
/// in `PVE_CT_TEMPLATE_DIR`, looked at first).
pub fn busybox_template() -> Option<PathBuf> {
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ct-templates")];
    if let Ok(d) = std::env::var("PVE_CT_TEMPLATE_DIR") {
        dirs.insert(0, PathBuf::from(d));
    }
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|rd| rd.flatten())
        .map(|e| e.path())
        .find(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("busybox-") && n.ends_with(".tar.gz")
        })
}
