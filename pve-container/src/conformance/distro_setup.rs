//! `distro_setup`: each `test-<distro>-NNN/` is copied to a scratch root next to a copy of
//! `bad-path.txt`, set up twice (idempotence) with the test-mode DNS defaults, a fixed
//! UUID and a re-seeded crontab randomiser, and every `<path>.exp` of upstream's checked
//! list must equal the produced file (see the corpus README).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pve_common::conformance::CaseOutcome;

use crate::config::parse_ct_config;
use crate::setup::{HostInfo, Setup, SetupOptions};

const CHECKED: &[&str] = &[
    "/etc/hostname",
    "/etc/hosts",
    "/etc/inittab",
    "/etc/locale.conf",
    "/etc/network/interfaces",
    "/etc/resolv.conf",
    "/etc/passwd",
    "/etc/shadow",
    "/etc/NetworkManager/system-connections/eth0.nmconnection",
    "/etc/NetworkManager/system-connections/eth1.nmconnection",
    "/etc/NetworkManager/system-connections/eth2.nmconnection",
    "/etc/NetworkManager/system-connections/eth3.nmconnection",
    "/etc/sysconfig/network",
    "/etc/sysconfig/network-scripts/ifcfg-eth0",
    "/etc/sysconfig/network-scripts/route-eth0",
    "/etc/sysconfig/network-scripts/route6-eth0",
    "/etc/sysconfig/network-scripts/ifcfg-eth1",
    "/etc/sysconfig/network-scripts/route-eth1",
    "/etc/sysconfig/network-scripts/route6-eth1",
    "/etc/sysconfig/network-scripts/ifcfg-eth2",
    "/etc/sysconfig/network-scripts/route-eth2",
    "/etc/sysconfig/network-scripts/route6-eth2",
    "/etc/sysconfig/network-scripts/ifcfg-eth3",
    "/etc/sysconfig/network-scripts/route-eth3",
    "/etc/sysconfig/network-scripts/route6-eth3",
    "/etc/sysconfig/network/ifcfg-eth0",
    "/etc/sysconfig/network/ifroute-eth0",
    "/etc/sysconfig/network/ifcfg-eth1",
    "/etc/sysconfig/network/ifroute-eth1",
    "/etc/sysconfig/network/ifcfg-eth2",
    "/etc/sysconfig/network/ifroute-eth2",
    "/etc/sysconfig/network/ifcfg-eth3",
    "/etc/sysconfig/network/ifroute-eth3",
    "/etc/systemd/system-preset/00-pve.preset",
    "/etc/systemd/network/eth0.network",
    "/etc/init/start-ttys.conf",
    "/etc/init/tty.conf",
    "/etc/init/power-status-changed.conf",
    "/etc/securetty",
    "/etc/crontab",
    "/root/.ssh/authorized_keys",
    "/roothome/.ssh/authorized_keys",
];

fn null_uuid() -> String {
    "00000000-0000-0000-0000-000000000000".into()
}

/// `cp -a` (symlinks kept as links), with owner write permission added so the copy can
/// be modified without privileges.
fn copy_tree(src: &Path, dst: &Path, case_root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(src)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
    } else if meta.is_dir() {
        std::fs::create_dir(dst)?;
        for entry in std::fs::read_dir(src)? {
            let entry = entry?;
            copy_tree(&entry.path(), &dst.join(entry.file_name()), case_root)?;
        }
        let mode = meta.permissions().mode() | 0o700;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))?;
    } else if let Some(target) = symlink_placeholder(src, &meta, case_root) {
        std::os::unix::fs::symlink(target, dst)?;
    } else {
        std::fs::copy(src, dst)?;
        let mode = meta.permissions().mode() | 0o600;
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

/// A checkout without symlink support (git's `core.symlinks=false`) stores a link as a
/// small file holding just its target. The corpus keeps its symlinks, so a file whose
/// whole content is one word naming an existing entry (relative to the file's folder,
/// or to the case root when absolute) is such a placeholder and is restored as the link
/// it stands for.
fn symlink_placeholder(src: &Path, meta: &std::fs::Metadata, case_root: &Path) -> Option<String> {
    if meta.len() == 0 || meta.len() > 255 || src.extension().is_some_and(|e| e == "exp") {
        return None;
    }
    let text = String::from_utf8(std::fs::read(src).ok()?).ok()?;
    if text.contains(char::is_whitespace) || text.contains('\0') {
        return None;
    }
    let target = match text.strip_prefix('/') {
        Some(abs) => case_root.join(abs),
        None => src.parent()?.join(&text),
    };
    std::fs::symlink_metadata(target).is_ok().then_some(text)
}

fn run_case(dir: &Path, case: &str, scratch: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let bad = scratch.join("bad-path.txt");
    let bad_before = std::fs::read(dir.join("bad-path.txt")).unwrap_or_default();
    std::fs::write(&bad, &bad_before).map_err(|e| e.to_string())?;
    let root = scratch.join("rootfs");
    let case_dir = dir.join(case);
    copy_tree(&case_dir, &root, &case_dir).map_err(|e| format!("copying case: {e}"))?;
    let raw = std::fs::read_to_string(root.join("config")).map_err(|e| e.to_string())?;
    let conf = parse_ct_config(100, &raw, false)?.config.main;
    let opts = SetupOptions {
        testmode: true,
        host: HostInfo {
            dns: Vec::new(),
            search: None,
            timezone: Some("Etc/UTC".into()),
            localtime: "/usr/share/zoneinfo/Etc/UTC".into(),
        },
        ssh_host_keys: true,
        uuid: null_uuid,
        seed: Some(0),
    };
    let mut setup = Setup::new(&conf, &root, opts).map_err(|e| format!("setup: {e}"))?;
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86400);
    for run in 1..=2 {
        setup.srand(0);
        setup
            .post_create_hook(Some("$5$SALT$PASS"), Some("ssh-rsa ABCDEFG ABC@DEF"))
            .map_err(|e| format!("run {run}: {e}"))?;
        for path in CHECKED {
            let exp = dir.join(format!("{case}{path}.exp"));
            let Ok(mut want) = std::fs::read_to_string(&exp) else {
                continue;
            };
            if path.ends_with("shadow") {
                want = want.replace("@DAYS@", &days.to_string());
            }
            let got = std::fs::read_to_string(root.join(&path[1..]))
                .map_err(|e| format!("run {run}: {path}: {e}"))?;
            if got != want {
                return Err(format!(
                    "run {run}: {path} differs:\n--- got\n{got}--- expected\n{want}"
                ));
            }
        }
    }
    if std::fs::read(&bad).unwrap_or_default() != bad_before {
        return Err("bad-path.txt outside the root was modified".into());
    }
    Ok(())
}

pub(super) fn run(dir: &Path) -> Result<Vec<CaseOutcome>> {
    let mut cases: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("test-"))
        .collect();
    cases.sort();
    let scratch_base: PathBuf =
        std::env::temp_dir().join(format!("pve-ct-setup-{}", std::process::id()));
    let mut out = Vec::new();
    for case in cases {
        let scratch = scratch_base.join(&case);
        let result = run_case(dir, &case, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        out.push(CaseOutcome { name: case, result });
    }
    let _ = std::fs::remove_dir_all(&scratch_base);
    Ok(out)
}
