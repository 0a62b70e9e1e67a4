//! Volume access checks (upstream's `check_volume_access`).

use pve_common::api::RpcEnv;

use crate::config::StorageConfig;
use crate::error::{Result, StorageError};
use crate::volume::{split_volume_id, Vtype};

/// The caller's privileges as the check needs them.
pub trait PrivilegeCheck {
    fn is_root(&self) -> bool;
    /// All of `privs` (or any, with `any`) on `path`.
    fn has(&self, path: &str, privs: &[&str], any: bool) -> bool;
}

impl PrivilegeCheck for RpcEnv {
    fn is_root(&self) -> bool {
        self.auth.is_root()
    }
    fn has(&self, path: &str, privs: &[&str], any: bool) -> bool {
        self.has_privs(path, privs, any)
    }
}

fn require(who: &dyn PrivilegeCheck, path: &str, privs: &[&str], any: bool) -> Result<()> {
    if who.has(path, privs, any) {
        return Ok(());
    }
    let missing = if any {
        privs.join("|")
    } else {
        privs
            .iter()
            .find(|p| !who.has(path, &[p], false))
            .map(|p| p.to_string())
            .unwrap_or_default()
    };
    Err(StorageError::msg(format!(
        "Permission check failed ({path}, {missing})"
    )))
}

/// Fails unless the caller may use `volid` (read access); `vmid` is the guest the
/// volume is used for, `content` the content type the caller expects.
pub fn check_volume_access(
    who: &dyn PrivilegeCheck,
    cfg: &StorageConfig,
    vmid: Option<u32>,
    volid: &str,
    content: Option<&str>,
) -> Result<()> {
    let Some((sid, volname)) = split_volume_id(volid) else {
        if !who.is_root() {
            return Err(StorageError::msg(
                "Only root can pass arbitrary filesystem paths.",
            ));
        }
        return Ok(());
    };
    let scfg = cfg.storage(sid)?;
    let v = crate::plugin::parse_volname(&scfg, volname)?;
    if let Some(want) = content {
        let vt = v.vtype.as_str();
        if vt != want && (want != "rootdir" || v.vtype != Vtype::Images) {
            return Err(StorageError::msg(format!(
                "unable to use volume {volid} - content type needs to be '{want}'"
            )));
        }
    }
    let storage_path = format!("/storage/{sid}");
    if who.has(&storage_path, &["Datastore.Allocate"], true) {
        return Ok(());
    }
    let owner: Option<u32> = v.vmid.as_deref().and_then(|o| o.parse().ok());
    match v.vtype {
        Vtype::Iso | Vtype::Vztmpl | Vtype::Import => require(
            who,
            &storage_path,
            &["Datastore.AllocateSpace", "Datastore.Audit"],
            true,
        ),
        _ if owner.is_some() && vmid.is_some() && owner == vmid => Ok(()),
        Vtype::Backup if owner.is_some_and(|o| o != 0) => {
            require(who, &storage_path, &["Datastore.AllocateSpace"], false)?;
            require(
                who,
                &format!("/vms/{}", owner.unwrap_or_default()),
                &["VM.Backup"],
                false,
            )
        }
        Vtype::Images | Vtype::Rootdir if owner.is_some_and(|o| o != 0) => {
            require(who, &storage_path, &["Datastore.Audit"], false)?;
            require(
                who,
                &format!("/vms/{}", owner.unwrap_or_default()),
                &["VM.Config.Disk"],
                false,
            )
        }
        _ => Err(StorageError::msg(format!(
            "missing privileges to access {volid}"
        ))),
    }
}
