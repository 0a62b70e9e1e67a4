//! The snapshot state machine VMs and containers share (upstream's
//! `PVE::AbstractConfig` snapshot_create/delete/rollback): prepare under the config
//! lock, snapshot the volumes, commit; delete and rollback in the same steps. The guest
//! type supplies its config store and its volume operations through [`SnapshotGuest`].

use std::collections::BTreeSet;

use crate::config::{ConfigSection, GuestConfig};

/// What the guest type provides to the snapshot machinery. Errors are upstream's
/// message texts (with their final newline).
pub trait SnapshotGuest {
    /// `VM` or `CT` (error texts: `VM is locked (backup)`).
    fn guest_type(&self) -> &'static str;
    fn vmid(&self) -> u32;
    fn load_config(&self) -> Result<GuestConfig, String>;
    fn write_config(&self, conf: &GuestConfig) -> Result<(), String>;
    /// Runs `f` holding the guest's config lock.
    fn lock_config(&self, f: &mut dyn FnMut() -> Result<(), String>) -> Result<(), String>;
    /// The snapshotable volumes of a section: key → volume id (CD-ROMs and
    /// non-volume entries left out).
    fn volumes(&self, section: &ConfigSection) -> Vec<(String, String)>;
    fn has_snapshot_feature(&self, conf: &GuestConfig, snapname: &str) -> bool;
    fn is_running(&self) -> bool;
    fn activate_storages(&self, _section: &ConfigSection) -> Result<(), String> {
        Ok(())
    }
    /// Saves the RAM state into `snap` (only called while running with `save_vmstate`).
    fn save_vmstate(
        &self,
        _conf: &GuestConfig,
        _snapname: &str,
        _snap: &mut ConfigSection,
    ) -> Result<(), String> {
        Err("saving the VM state is not supported\n".into())
    }
    fn delete_vmstate(&self, _snap: &ConfigSection, _force: bool) -> Result<(), String> {
        Ok(())
    }
    fn freeze_needed(&self, _conf: &GuestConfig, _vmstate: bool) -> (bool, bool) {
        (self.is_running(), false)
    }
    fn freeze(&self, _thaw: bool) {}
    fn create_vol_snapshots_hook(&self, _snap: &ConfigSection, _when: &str) -> Result<(), String> {
        Ok(())
    }
    /// Called once every volume snapshot of a running guest is taken, before the
    /// `after` hook; an error fails the snapshot (cleanup runs). Stock QEMU saves the
    /// RAM state here (disks first: the state save leaves the block nodes inactive).
    fn create_vol_snapshots_done(&self, _snap: &ConfigSection) -> Result<(), String> {
        Ok(())
    }
    fn volume_snapshot(&self, key: &str, volid: &str, snapname: &str) -> Result<(), String>;
    fn volume_snapshot_delete(&self, key: &str, volid: &str, snapname: &str) -> Result<(), String>;
    fn volume_rollback_is_possible(&self, volid: &str, snapname: &str) -> Result<(), String>;
    fn volume_snapshot_rollback(&self, volid: &str, snapname: &str) -> Result<(), String>;
    /// Stops the guest before a rollback.
    fn rollback_stop(&self) -> Result<(), String> {
        Ok(())
    }
    /// Adjusts the config during rollback (prepare: before the volumes, else after).
    fn rollback_hook(&self, _conf: &mut GuestConfig, _snap: &ConfigSection, _prepare: bool) {}
    fn rollback_start(&self, _vmstate: &str) -> Result<(), String> {
        Ok(())
    }
    /// Warnings (`warn` upstream): printed to the task log by default.
    fn warn(&self, msg: &str) {
        eprint!("{msg}");
    }
    /// Current time (seconds) for `snaptime`.
    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}

/// Whether a config section is a template.
pub fn is_template(section: &ConfigSection) -> bool {
    section.get("template").is_some_and(|t| t == "1")
}

/// Upstream's `check_lock`.
pub fn check_lock(guest_type: &str, section: &ConfigSection) -> Result<(), String> {
    match section.get("lock") {
        Some(lock) if !lock.is_empty() => Err(format!("{guest_type} is locked ({lock})\n")),
        _ => Ok(()),
    }
}

fn is_unused_key(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Copies a config section into a snapshot (upstream's `__snapshot_copy_config`).
pub fn snapshot_copy_config(source: &ConfigSection, dest: &mut ConfigSection) {
    for (k, v) in &source.values {
        if matches!(
            k.as_str(),
            "snapstate" | "snaptime" | "vmstate" | "lock" | "digest" | "description"
        ) || is_unused_key(k)
        {
            continue;
        }
        dest.values.insert(k.clone(), v.clone());
    }
}

/// The config after rollback: the snapshot's values with the current description and
/// unused disks (upstream's `__snapshot_apply_config`).
pub fn snapshot_apply_config(conf: &GuestConfig, snap: &ConfigSection) -> GuestConfig {
    let mut new = GuestConfig {
        snapshots: conf.snapshots.clone(),
        special: conf.special.clone(),
        digest: conf.digest.clone(),
        ..Default::default()
    };
    new.main.description = conf.main.description.clone();
    for (k, v) in &conf.main.values {
        if is_unused_key(k) {
            new.main.values.insert(k.clone(), v.clone());
        }
    }
    snapshot_copy_config(snap, &mut new.main);
    new
}

/// Adds `volid` as the first free `unusedN` unless some `unusedN` already names it.
pub fn add_unused_volume(section: &mut ConfigSection, volid: &str, max: u32) -> Option<String> {
    let mut free = None;
    for i in 0..max {
        let key = format!("unused{i}");
        match section.values.get(&key) {
            Some(v) if v == volid => return Some(key),
            Some(_) => {}
            None => {
                if free.is_none() {
                    free = Some(key);
                }
            }
        }
    }
    let key = free?;
    section.values.insert(key.clone(), volid.to_string());
    Some(key)
}

fn with_lock<G: SnapshotGuest + ?Sized>(
    guest: &G,
    mut f: impl FnMut(&mut GuestConfig) -> Result<bool, String>,
) -> Result<(), String> {
    guest.lock_config(&mut || {
        let mut conf = guest.load_config()?;
        if f(&mut conf)? {
            guest.write_config(&conf)?;
        }
        Ok(())
    })
}

/// Step one of a snapshot: checks, `lock: snapshot`, the new section in state
/// `prepare`. Returns the snapshot section as written.
pub fn snapshot_prepare<G: SnapshotGuest + ?Sized>(
    guest: &G,
    snapname: &str,
    save_vmstate: bool,
    comment: Option<&str>,
) -> Result<ConfigSection, String> {
    let mut out = ConfigSection::default();
    with_lock(guest, |conf| {
        if is_template(&conf.main) {
            return Err("you can't take a snapshot if it's a template\n".into());
        }
        check_lock(guest.guest_type(), &conf.main)?;
        conf.main.values.insert("lock".into(), "snapshot".into());
        if conf.snapshots.contains_key(snapname) {
            return Err(format!("snapshot name '{snapname}' already used\n"));
        }
        if !guest.has_snapshot_feature(conf, snapname) {
            return Err("snapshot feature is not available\n".into());
        }
        for (name, snap) in conf.snapshots.iter_mut() {
            if snap.get("parent") == Some(snapname) {
                guest.warn(&format!(
                    "deleting parent '{snapname}' reference from '{name}' to avoid bogus snapshot cycle.\n"
                ));
                snap.values.remove("parent");
            }
        }
        let mut snap = ConfigSection::default();
        if save_vmstate && guest.is_running() {
            guest.save_vmstate(conf, snapname, &mut snap)?;
        }
        snapshot_copy_config(&conf.main, &mut snap);
        snap.values.insert("snapstate".into(), "prepare".into());
        snap.values
            .insert("snaptime".into(), guest.now().to_string());
        if let Some(c) = comment.filter(|c| !c.is_empty()) {
            snap.description = Some(c.to_string());
        }
        conf.snapshots.insert(snapname.to_string(), snap.clone());
        out = snap;
        Ok(true)
    })?;
    Ok(out)
}

/// Last step of a snapshot: state and lock removed, `parent` set.
pub fn snapshot_commit<G: SnapshotGuest + ?Sized>(guest: &G, snapname: &str) -> Result<(), String> {
    with_lock(guest, |conf| {
        if conf.main.get("lock") != Some("snapshot") {
            return Err("missing snapshot lock\n".into());
        }
        let snap = conf
            .snapshots
            .get_mut(snapname)
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
        if snap.get("snapstate") != Some("prepare") {
            return Err("wrong snapshot state\n".into());
        }
        snap.values.remove("snapstate");
        conf.main.values.remove("lock");
        conf.main
            .values
            .insert("parent".into(), snapname.to_string());
        Ok(true)
    })
}

/// Creates a snapshot (prepare, volume snapshots, commit); a failure cleans up what was
/// made and fails with the error plus a newline, as upstream.
pub fn snapshot_create<G: SnapshotGuest + ?Sized>(
    guest: &G,
    snapname: &str,
    save_vmstate: bool,
    comment: Option<&str>,
) -> Result<(), String> {
    let snap = snapshot_prepare(guest, snapname, save_vmstate, comment)?;
    let vmstate = snap.get("vmstate").is_some();
    let conf = guest.load_config()?;
    let (running, freezefs) = guest.freeze_needed(&conf, vmstate);
    let mut done: BTreeSet<String> = BTreeSet::new();
    let result = (|| {
        guest.activate_storages(&snap)?;
        if freezefs {
            guest.freeze(false);
        }
        guest.create_vol_snapshots_hook(&snap, "before")?;
        for (key, volid) in guest.volumes(&snap) {
            guest.volume_snapshot(&key, &volid, snapname)?;
            done.insert(key);
        }
        if running {
            guest.create_vol_snapshots_done(&snap)?;
        }
        Ok::<(), String>(())
    })();
    if running {
        let _ = guest.create_vol_snapshots_hook(&snap, "after");
        if freezefs {
            guest.freeze(true);
        }
        let _ = guest.create_vol_snapshots_hook(&snap, "after-unfreeze");
    }
    if let Err(err) = result {
        guest.warn("snapshot create failed: starting cleanup\n");
        if let Err(e) = snapshot_delete_inner(guest, snapname, true, Some(&done)) {
            guest.warn(&e);
        }
        return Err(format!("{err}\n"));
    }
    snapshot_commit(guest, snapname)
}

/// Deletes a snapshot (with `force`, volume errors are warnings).
pub fn snapshot_delete<G: SnapshotGuest + ?Sized>(
    guest: &G,
    snapname: &str,
    force: bool,
) -> Result<(), String> {
    snapshot_delete_inner(guest, snapname, force, None)
}

fn snapshot_delete_inner<G: SnapshotGuest + ?Sized>(
    guest: &G,
    snapname: &str,
    force: bool,
    drivehash: Option<&BTreeSet<String>>,
) -> Result<(), String> {
    let conf = guest.load_config()?;
    let snap = conf
        .snapshots
        .get(snapname)
        .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?
        .clone();
    if drivehash.is_none() {
        guest.activate_storages(&snap)?;
        // set_lock
        with_lock(guest, |conf| {
            check_lock(guest.guest_type(), &conf.main)?;
            conf.main
                .values
                .insert("lock".into(), "snapshot-delete".into());
            Ok(true)
        })?;
    }
    let expected_lock = if drivehash.is_some() {
        "snapshot"
    } else {
        "snapshot-delete"
    };
    let ensure_lock = |conf: &GuestConfig| -> Result<(), String> {
        if conf.main.get("lock") != Some(expected_lock) {
            return Err(format!(
                "encountered invalid lock, expected '{expected_lock}'\n"
            ));
        }
        Ok(())
    };
    let mut snap = snap;
    with_lock(guest, |conf| {
        ensure_lock(conf)?;
        if is_template(&conf.main) {
            return Err("you can't delete a snapshot if vm is a template\n".into());
        }
        let s = conf
            .snapshots
            .get_mut(snapname)
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
        s.values.insert("snapstate".into(), "delete".into());
        snap = s.clone();
        Ok(true)
    })?;
    let remove_drive = |key: &str, unused_volid: Option<&str>| {
        with_lock(guest, |conf| {
            ensure_lock(conf)?;
            let s = conf
                .snapshots
                .get_mut(snapname)
                .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
            s.values.remove(key);
            if let Some(v) = unused_volid {
                add_unused_volume(s, v, 256);
            }
            Ok(true)
        })
    };
    if snap.get("vmstate").is_some() {
        guest.delete_vmstate(&snap, force)?;
        if !force {
            remove_drive("vmstate", None)?;
        }
    }
    let mut unused = Vec::new();
    for (key, volid) in guest.volumes(&snap) {
        if drivehash.is_none_or(|d| d.contains(&key)) {
            match guest.volume_snapshot_delete(&key, &volid, snapname) {
                Ok(()) => unused.push(volid.clone()),
                Err(e) if force => guest.warn(&e),
                Err(e) => return Err(e),
            }
        }
        if !force {
            remove_drive(&key, Some(&volid))?;
        }
    }
    with_lock(guest, |conf| {
        ensure_lock(conf)?;
        let s = conf
            .snapshots
            .get(snapname)
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
        let new_parent = s.get("parent").map(str::to_string);
        let unlink = |sec: &mut ConfigSection| {
            if sec.get("parent") == Some(snapname) {
                match &new_parent {
                    Some(p) => {
                        sec.values.insert("parent".into(), p.clone());
                    }
                    None => {
                        sec.values.remove("parent");
                    }
                }
            }
        };
        unlink(&mut conf.main);
        for (name, sec) in conf.snapshots.iter_mut() {
            if name != snapname {
                unlink(sec);
            }
        }
        conf.snapshots.remove(snapname);
        conf.main.values.remove("lock");
        for v in &unused {
            add_unused_volume(&mut conf.main, v, 256);
        }
        Ok(true)
    })
}

/// Rolls back to a snapshot: checks and `lock: rollback`, volume rollbacks, then the
/// snapshot's config becomes the current one.
pub fn snapshot_rollback<G: SnapshotGuest + ?Sized>(
    guest: &G,
    snapname: &str,
) -> Result<(), String> {
    let mut snap = ConfigSection::default();
    let get_snap = |conf: &GuestConfig| -> Result<ConfigSection, String> {
        if is_template(&conf.main) {
            return Err("you can't rollback if vm is a template\n".into());
        }
        conf.snapshots
            .get(snapname)
            .cloned()
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))
    };
    for prepare in [true, false] {
        with_lock(guest, |conf| {
            snap = get_snap(conf)?;
            if prepare {
                guest.activate_storages(&snap)?;
                for (_, volid) in guest.volumes(&snap) {
                    guest.volume_rollback_is_possible(&volid, snapname)?;
                }
            }
            if let Some(state) = snap.get("snapstate") {
                return Err(format!(
                    "unable to rollback to incomplete snapshot (snapstate = {state})\n"
                ));
            }
            if prepare {
                check_lock(guest.guest_type(), &conf.main)?;
                guest.rollback_stop()?;
            }
            if guest.is_running() {
                return Err(format!(
                    "unable to rollback vm {}: vm is running\n",
                    guest.vmid()
                ));
            }
            if prepare {
                conf.main.values.insert("lock".into(), "rollback".into());
            } else {
                if conf.main.get("lock") != Some("rollback") {
                    return Err("got wrong lock\n".into());
                }
                conf.main.values.remove("lock");
                let snap_vols: BTreeSet<String> =
                    guest.volumes(&snap).into_iter().map(|(_, v)| v).collect();
                let mut unused: Vec<String> = guest
                    .volumes(&conf.main)
                    .into_iter()
                    .map(|(_, v)| v)
                    .filter(|v| !snap_vols.contains(v))
                    .collect();
                unused.dedup();
                for v in &unused {
                    add_unused_volume(&mut conf.main, v, 256);
                }
                *conf = snapshot_apply_config(conf, &snap);
                conf.main
                    .values
                    .insert("parent".into(), snapname.to_string());
            }
            guest.rollback_hook(conf, &snap, prepare);
            Ok(true)
        })?;
        if !prepare {
            if let Some(state) = snap.get("vmstate") {
                guest.rollback_start(state)?;
            }
        } else {
            for (_, volid) in guest.volumes(&snap) {
                guest.volume_snapshot_rollback(&volid, snapname)?;
            }
        }
    }
    Ok(())
}

/// One entry of the snapshot list (`GET …/snapshot`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub name: String,
    pub description: String,
    pub snaptime: Option<i64>,
    pub parent: Option<String>,
    pub vmstate: bool,
}

/// The snapshots of a config (sorted by name).
pub fn snapshot_list(conf: &GuestConfig) -> Vec<SnapshotInfo> {
    conf.snapshots
        .iter()
        .map(|(name, s)| SnapshotInfo {
            name: name.clone(),
            description: s.description.clone().unwrap_or_default(),
            snaptime: s.get("snaptime").and_then(|t| t.parse().ok()),
            parent: s.get("parent").map(str::to_string),
            vmstate: s.get("vmstate").is_some(),
        })
        .collect()
}
