//! Volume attributes (`notes`, `protected`) of file-based storages: side files next to
//! the backup archive (`<archive>.notes`, `<archive>.protected`), as upstream keeps them.

use std::path::PathBuf;

use crate::error::{Result, StorageError};
use crate::storage::Storage;
use crate::volume::Vtype;

/// A volume attribute the API can read and set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VolumeAttribute {
    Notes,
    Protected,
}

fn side_file(path: &std::path::Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(ext);
    PathBuf::from(p)
}

/// Writes a file through a temporary sibling and a rename.
fn write_atomic(path: &std::path::Path, data: &[u8]) -> Result<()> {
    let tmp = side_file(path, &format!(".tmp.{}", std::process::id()));
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StorageError::msg(format!("unable to write '{}' - {e}", path.display()))
        })
}

impl Storage {
    /// An attribute's value; `None` where the volume type has none (only backups do).
    pub fn volume_attribute(
        &self,
        volid: &str,
        attr: VolumeAttribute,
    ) -> Result<Option<serde_json::Value>> {
        let (path, _, vtype) = self.path(volid, None)?;
        if vtype != Vtype::Backup {
            return Ok(None);
        }
        Ok(Some(match attr {
            VolumeAttribute::Notes => {
                let notes = side_file(&path, ".notes");
                match std::fs::read(&notes) {
                    Ok(data) => String::from_utf8_lossy(&data).into_owned().into(),
                    Err(_) => "".into(),
                }
            }
            VolumeAttribute::Protected => u8::from(side_file(&path, ".protected").exists()).into(),
        }))
    }

    /// Whether a volume is a protected backup.
    pub fn is_protected(&self, volid: &str) -> Result<bool> {
        Ok(self
            .volume_attribute(volid, VolumeAttribute::Protected)?
            .is_some_and(|v| v == 1))
    }

    /// Sets notes (empty removes them) or protection. `max_protected` is the limit of
    /// protected backups per guest and type (`None`: unlimited).
    pub fn update_volume_attribute(
        &self,
        volid: &str,
        attr: VolumeAttribute,
        value: &str,
        max_protected: Option<u64>,
    ) -> Result<()> {
        let (sid, _) = crate::volume::parse_volume_id(volid)?;
        let vname = self.parse_volname(volid)?;
        let (path, _, vtype) = self.path(volid, None)?;
        match attr {
            VolumeAttribute::Notes => {
                if vtype != Vtype::Backup {
                    return Err(StorageError::msg("only backups can have notes"));
                }
                let notes = side_file(&path, ".notes");
                if value.is_empty() {
                    match std::fs::remove_file(&notes) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StorageError::msg(format!("could not delete notes - {e}")))
                        }
                        _ => {}
                    }
                } else {
                    write_atomic(&notes, value.as_bytes())?;
                }
                Ok(())
            }
            VolumeAttribute::Protected => {
                if vtype != Vtype::Backup {
                    return Err(StorageError::msg(
                        "only backups support attribute 'protected'",
                    ));
                }
                let want = pve_common::schema::perl_truthy(&value.into());
                let flag = side_file(&path, ".protected");
                if flag.exists() == want {
                    return Ok(());
                }
                if want {
                    if let (Some(max), Some(vmid)) = (max_protected, vname.vmid.as_deref()) {
                        let vmid: u32 = vmid.parse().unwrap_or(0);
                        let backups = self.volume_list(sid, Some(&["backup"]), Some(vmid))?;
                        let subtype = backups
                            .iter()
                            .find(|b| b.volid == volid)
                            .and_then(|b| b.subtype.clone());
                        let count = backups
                            .iter()
                            .filter(|b| {
                                b.protected
                                    && (subtype.is_none()
                                        || b.subtype.as_deref() == subtype.as_deref())
                            })
                            .count() as u64;
                        if max <= count {
                            return Err(StorageError::msg(format!(
                                "The number of protected backups per guest is limited to {max} on storage '{sid}'"
                            )));
                        }
                    }
                    std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&flag)
                        .map_err(|e| {
                            StorageError::msg(format!(
                                "unable to create protection file '{}' - {e}",
                                flag.display()
                            ))
                        })?;
                } else {
                    match std::fs::remove_file(&flag) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            return Err(StorageError::msg(format!(
                                "could not delete protection file '{}' - {e}",
                                flag.display()
                            )))
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
        }
    }

    /// Removes a volume as upstream's `vdisk_free` + the API's clean-up: protected
    /// volumes are refused; for backups the log and notes files go too.
    pub fn volume_free(&self, volid: &str) -> Result<()> {
        let (sid, volname) = crate::volume::parse_volume_id(volid)?;
        self.activate_storage(sid)?;
        if self.is_protected(volid)? {
            return Err(StorageError::msg(format!(
                "cannot remove protected volume '{volname}' on '{sid}'"
            )));
        }
        let (path, _, vtype) = self.path(volid, None)?;
        if vtype == Vtype::Images || vtype == Vtype::Rootdir {
            return self.vdisk_free(volid);
        }
        if !path.is_file() {
            eprintln!("disk image '{}' does not exist", self.node_path(&path));
            return Ok(());
        }
        std::fs::remove_file(&path).map_err(|e| {
            StorageError::msg(format!("unlink '{}' failed - {e}", self.node_path(&path)))
        })?;
        if vtype == Vtype::Backup {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if let Ok(info) = crate::archive::archive_info(name) {
                for aux in [info.logfilename, info.notesfilename].into_iter().flatten() {
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::remove_file(dir.join(aux));
                    }
                }
            }
        }
        Ok(())
    }

    /// A host path as the node sees it (without the test root).
    pub fn node_path(&self, host: &std::path::Path) -> String {
        match host.strip_prefix(self.paths.root()) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => host.display().to_string(),
        }
    }
}
