//! Bandwidth limits of disk copies (`bwlimit` of move_disk and clone), resolved as
//! upstream's `PVE::Storage::get_bandwidth_limit`: the caller's override, capped by the
//! storages' `bwlimit` option for the operation class (`move`, `clone`, `restore`,
//! `migration`, else `default`), and by datacenter.cfg's `bwlimit` when no storage
//! limit applied. Users with `Datastore.Allocate` on the storages (or on `/storage`)
//! keep their override above the storage limits, users with `Sys.Modify` on `/` above
//! the datacenter limit; the caller's privileges count only when an override is given.

use pve_common::api::RpcEnv;

/// datacenter.cfg's `bwlimit` property string.
pub(crate) fn datacenter_bwlimit(paths: &pve_common::NodePaths) -> Option<String> {
    let text = pve_cluster::cfs::Cfs::new(paths)
        .read_raw("datacenter.cfg")
        .ok()
        .flatten()
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())?;
    text.lines()
        .find_map(|l| l.strip_prefix("bwlimit:"))
        .map(|v| v.trim().to_string())
}

/// The limit in KiB/s for `operation` on `storages` (`None`: unlimited; a resolved 0
/// is unlimited too, as QEMU's `speed` 0).
pub(crate) fn resolve(
    env: &RpcEnv,
    operation: &str,
    storages: &[Option<&str>],
    override_: Option<i64>,
) -> Result<Option<u64>, String> {
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let dc = datacenter_bwlimit(&env.paths);
    let check = |path: &str, privilege: &str| env.has_privs(path, &[privilege], true);
    let limit = pve_storage::bwlimit::get_bandwidth_limit(
        operation,
        storages,
        override_.map(|v| v as f64),
        &storage.cfg,
        dc.as_deref(),
        Some(&check),
    )
    .map_err(|e| format!("{e}\n"))?;
    Ok(limit.filter(|l| *l > 0.0).map(|l| l.ceil() as u64))
}

/// The limit of a copy nobody overrides (no privileges consulted), e.g. the `clone`
/// class of an `import-from` volume.
pub(crate) fn resolve_default(
    storage: &pve_storage::Storage,
    operation: &str,
    storages: &[Option<&str>],
) -> Result<Option<u64>, String> {
    let dc = datacenter_bwlimit(&storage.paths);
    let limit = pve_storage::bwlimit::get_bandwidth_limit(
        operation,
        storages,
        None,
        &storage.cfg,
        dc.as_deref(),
        None,
    )
    .map_err(|e| format!("{e}\n"))?;
    Ok(limit.filter(|l| *l > 0.0).map(|l| l.ceil() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pve_common::api::{AuthId, EnvKind, PermissionChecker};
    use pve_common::NodePaths;

    /// Grants the listed `(path, privilege)` pairs.
    struct Grants(Vec<(&'static str, &'static str)>);
    impl PermissionChecker for Grants {
        fn has_privs(&self, _auth: &AuthId, path: &str, privs: &[&str], _any: bool) -> bool {
            privs
                .iter()
                .all(|p| self.0.iter().any(|(gp, gv)| *gp == path && gv == p))
        }
    }

    struct Root(std::path::PathBuf);
    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env_with(
        tag: &str,
        storage_cfg: &str,
        dc: &str,
        grants: Vec<(&'static str, &'static str)>,
        auth: AuthId,
    ) -> (Root, RpcEnv) {
        let root = std::env::temp_dir().join(format!("qm-bwlimit-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/pve")).unwrap();
        std::fs::write(root.join("etc/pve/storage.cfg"), storage_cfg).unwrap();
        std::fs::write(root.join("etc/pve/datacenter.cfg"), dc).unwrap();
        let mut env = RpcEnv::cli(NodePaths::new(&root));
        env.kind = EnvKind::Daemon;
        env.auth = auth;
        env.permissions = Some(std::sync::Arc::new(Grants(grants)));
        (Root(root), env)
    }

    const STORAGES: &str =
        "dir: sa\n\tpath /a\n\tcontent images\n\tbwlimit move=100,default=500\n\n\
                            dir: sb\n\tpath /b\n\tcontent images\n\tbwlimit clone=300\n\n\
                            dir: sc\n\tpath /c\n\tcontent images\n\n";

    #[test]
    fn resolution_order_and_override_rules() {
        let alice = AuthId::parse("alice@pve").unwrap();
        let grants = vec![("/storage/sa", "Datastore.Allocate")];
        let (_r, env) = env_with(
            "user",
            STORAGES,
            "bwlimit: default=1000,move=50\n",
            grants,
            alice,
        );
        // the operation class of the storage, the smallest one of several storages
        assert_eq!(
            resolve(&env, "move", &[Some("sa")], None).unwrap(),
            Some(100)
        );
        assert_eq!(
            resolve(&env, "clone", &[Some("sa")], None).unwrap(),
            Some(500)
        );
        assert_eq!(
            resolve(&env, "clone", &[Some("sa"), Some("sb")], None).unwrap(),
            Some(300)
        );
        // a storage without a limit for the class: datacenter.cfg applies as well
        assert_eq!(
            resolve(&env, "move", &[Some("sc")], None).unwrap(),
            Some(50)
        );
        assert_eq!(
            resolve(&env, "clone", &[Some("sc")], None).unwrap(),
            Some(1000)
        );
        assert_eq!(resolve(&env, "move", &[None], None).unwrap(), Some(50));
        // an override below every limit stands; above, the limits cap it
        assert_eq!(
            resolve(&env, "move", &[Some("sc")], Some(10)).unwrap(),
            Some(10)
        );
        assert_eq!(
            resolve(&env, "clone", &[Some("sb")], Some(9999)).unwrap(),
            Some(300)
        );
        // the default of an import (no override, privileges not consulted)
        let st = pve_storage::Storage::load(&env.paths).unwrap();
        assert_eq!(
            resolve_default(&st, "clone", &[Some("sa"), Some("sc")]).unwrap(),
            Some(500)
        );
        assert_eq!(
            resolve_default(&st, "clone", &[Some("sc")]).unwrap(),
            Some(1000)
        );
        // Datastore.Allocate on the storage lifts its limit for an override (and a
        // storage skipped that way does not bring in the datacenter limit)
        assert_eq!(
            resolve(&env, "move", &[Some("sa")], Some(9999)).unwrap(),
            Some(9999)
        );
        assert_eq!(
            resolve(&env, "move", &[Some("sa"), Some("sc")], Some(9999)).unwrap(),
            Some(50)
        );
    }

    #[test]
    fn root_overrides_everything() {
        let (_r, env) = env_with(
            "root",
            STORAGES,
            "bwlimit: default=1000\n",
            vec![],
            AuthId::root(),
        );
        assert_eq!(
            resolve(&env, "move", &[Some("sa")], Some(9999)).unwrap(),
            Some(9999)
        );
        // without an override the limits apply to root as well
        assert_eq!(
            resolve(&env, "move", &[Some("sa")], None).unwrap(),
            Some(100)
        );
        // an override of 0 is unlimited for root
        assert_eq!(resolve(&env, "move", &[Some("sc")], Some(0)).unwrap(), None);
        let (_r2, env) = env_with(
            "none",
            "dir: sc\n\tpath /c\n\tcontent images\n\n",
            "",
            vec![],
            AuthId::root(),
        );
        assert_eq!(resolve(&env, "move", &[Some("sc")], None).unwrap(), None);
    }
}
