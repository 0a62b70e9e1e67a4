//! Helpers for the dev node that `cargo xtask run` starts.

use anyhow::{bail, Context, Result};
use pve_access_control::secrets::{encrypt_password, parse_shadow_cfg, write_shadow_cfg};
use pve_access_control::store::ConfigFiles;
use pve_access_control::user_cfg::{User, UserConfig};
use pve_common::NodePaths;

/// Creates (or updates) a `pve`-realm user with `password` and `role` on `/`.
pub fn add_admin(paths: &NodePaths, userid: &str, password: &str, role: &str) -> Result<()> {
    let Some((name, "pve")) = userid.rsplit_once('@') else {
        bail!("'{userid}' is not a user of the pve realm");
    };
    let files = ConfigFiles::new(paths.clone());
    let _lock = files.lock("user.cfg").context("locking user.cfg")?;
    let mut cfg = UserConfig::parse(&files.read("user.cfg")?.unwrap_or_default());
    if !cfg.roles.contains_key(role) {
        bail!("role '{role}' does not exist");
    }
    cfg.users
        .entry(userid.to_string())
        .or_insert_with(|| User {
            enable: true,
            ..Default::default()
        })
        .enable = true;
    cfg.acl_root
        .users
        .entry(userid.to_string())
        .or_default()
        .insert(role.to_string(), true);
    files.write("user.cfg", cfg.write().as_bytes())?;

    let mut shadow = parse_shadow_cfg(&files.read("priv/shadow.cfg")?.unwrap_or_default());
    let hash = encrypt_password(password).context("unable to hash the password")?;
    shadow.insert(name.to_string(), hash);
    files.write("priv/shadow.cfg", write_shadow_cfg(&shadow).as_bytes())?;
    Ok(())
}
