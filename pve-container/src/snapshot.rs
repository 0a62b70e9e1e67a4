//! Container snapshots as upstream's `PVE::AbstractConfig` snapshot life cycle with the
//! `PVE::LXC::Config` hooks: prepare, commit, create (with cleanup on failure), delete
//! and rollback. Side effects (config I/O, storage, freezing, stopping) go through
//! [`SnapshotBackend`], so the same code runs on a host and under the conformance mocks.

use std::collections::BTreeSet;

use crate::config::{CtConfig, CtSection};
use crate::volumes::{add_unused_volume, foreach_volume, MountPoint, MountType};

/// What the snapshot operations need from the outside world.
pub trait SnapshotBackend {
    /// Takes the config lock of a container; the guard is dropped to release it.
    fn lock_config(&mut self, vmid: u32) -> Result<Box<dyn std::any::Any>, String>;
    fn load_config(&mut self, vmid: u32) -> Result<CtConfig, String>;
    fn write_config(&mut self, vmid: u32, config: &CtConfig) -> Result<(), String>;
    /// Upstream's `has_feature('snapshot', $conf, …, $backup_only)`.
    fn has_snapshot_feature(&mut self, section: &CtSection, backup_only: bool) -> bool;
    fn check_running(&mut self, vmid: u32) -> bool;
    /// `vm_stop($vmid, 1)`: kill the container.
    fn stop_kill(&mut self, vmid: u32) -> Result<(), String>;
    fn freeze(&mut self, vmid: u32) -> Result<(), String>;
    fn thaw(&mut self, vmid: u32) -> Result<(), String>;
    fn sync_container_namespace(&mut self, vmid: u32) -> Result<(), String>;
    /// FIFREEZE/FITHAW on a mount point of the running container.
    fn fsfreeze_mountpoint(&mut self, vmid: u32, mp: &str, thaw: bool) -> Result<(), String>;
    fn activate_storage(&mut self, storeid: &str) -> Result<(), String>;
    fn volume_snapshot_needs_fsfreeze(&mut self, volid: &str) -> bool;
    fn volume_snapshot(&mut self, volid: &str, snap: &str) -> Result<(), String>;
    fn volume_snapshot_delete(&mut self, volid: &str, snap: &str) -> Result<(), String>;
    fn volume_snapshot_rollback(&mut self, volid: &str, snap: &str) -> Result<(), String>;
    fn volume_rollback_is_possible(
        &mut self,
        volid: &str,
        snap: &str,
        blockers: &mut Vec<String>,
    ) -> Result<(), String>;
    /// Whether local replication jobs exist for the guest.
    fn replication_jobs_exist(&mut self, _vmid: u32) -> bool {
        false
    }
    /// With replication jobs: refuse to delete a snapshot a job still needs.
    fn assert_not_needed_by_replication(
        &mut self,
        _vmid: u32,
        _config: &CtConfig,
        _snapname: &str,
    ) -> Result<(), String> {
        Ok(())
    }
    /// With replication jobs: remove replication snapshots blocking a rollback.
    fn remove_replication_snapshots(
        &mut self,
        _vmid: u32,
        _snap: &CtSection,
        _snapname: &str,
    ) -> Result<(), String> {
        Ok(())
    }
    /// Seconds since the epoch (`snaptime`).
    fn now(&mut self) -> i64;
    /// A warning upstream prints to stderr.
    fn warn(&mut self, msg: &str);
}

fn is_template(section: &CtSection) -> bool {
    section.get("template") == Some("1")
}

fn check_lock(section: &CtSection) -> Result<(), String> {
    match section.get("lock") {
        Some(lock) if !lock.is_empty() && lock != "0" => Err(format!("CT is locked ({lock})\n")),
        _ => Ok(()),
    }
}

fn has_lock(section: &CtSection, lock: &str) -> bool {
    section.get("lock") == Some(lock)
}

/// Upstream's `mountpoint_backup_enabled`.
fn backup_enabled(key: &str, mp: &MountPoint) -> bool {
    key == "rootfs" || (mp.kind == MountType::Volume && mp.flag("backup"))
}

/// `__snapshot_copy_config`: everything but bookkeeping, description and unused volumes.
fn copy_config(source: &CtSection, dest: &mut CtSection) {
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
    dest.lxc = source.lxc.clone();
}

fn is_unused_key(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

/// `__snapshot_apply_config`: the snapshot's settings plus the current description and
/// unused volumes (and the snapshot list).
fn apply_config(conf: &CtConfig, snap: &CtSection) -> CtConfig {
    let mut main = CtSection {
        description: conf.main.description.clone(),
        ..Default::default()
    };
    for (k, v) in &conf.main.values {
        if is_unused_key(k) {
            main.values.insert(k.clone(), v.clone());
        }
    }
    copy_config(snap, &mut main);
    CtConfig {
        main,
        pending: CtSection::default(),
        snapshots: conf.snapshots.clone(),
        digest: conf.digest.clone(),
    }
}

fn activate_storages(b: &mut dyn SnapshotBackend, section: &CtSection) -> Result<(), String> {
    let mut storages = BTreeSet::new();
    for (_, mp) in foreach_volume(section) {
        if mp.kind != MountType::Volume {
            continue;
        }
        let (sid, _) =
            pve_storage::volume::parse_volume_id(&mp.volume).map_err(|e| format!("{e}\n"))?;
        storages.insert(sid.to_string());
    }
    for sid in storages {
        b.activate_storage(&sid)?;
    }
    Ok(())
}

fn get_snapshot<'a>(conf: &'a CtConfig, snapname: &str) -> Result<&'a CtSection, String> {
    conf.snapshots
        .get(snapname)
        .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))
}

/// `__snapshot_prepare`: checks, copies the current config into `[snapname]` with
/// `snapstate: prepare` and sets `lock: snapshot`. Returns the new snapshot section.
pub fn snapshot_prepare(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
    save_vmstate: bool,
    comment: Option<&str>,
) -> Result<CtSection, String> {
    let _lock = b.lock_config(vmid)?;
    let mut conf = b.load_config(vmid)?;
    if is_template(&conf.main) {
        return Err("you can't take a snapshot if it's a template\n".into());
    }
    check_lock(&conf.main)?;
    conf.main.set("lock", "snapshot");
    if conf.snapshots.contains_key(snapname) {
        return Err(format!("snapshot name '{snapname}' already used\n"));
    }
    if !b.has_snapshot_feature(&conf.main, snapname == "vzdump") {
        return Err("snapshot feature is not available\n".into());
    }
    for (name, snap) in conf.snapshots.iter_mut() {
        if snap.get("parent") == Some(snapname) {
            b.warn(&format!(
                "deleting parent '{snapname}' reference from '{name}' to avoid bogus snapshot cycle.\n"
            ));
            snap.remove("parent");
        }
    }
    if save_vmstate && b.check_running(vmid) {
        return Err("implement me - snapshot_save_vmstate\n".into());
    }
    let mut snap = CtSection::default();
    copy_config(&conf.main, &mut snap);
    snap.set("snapstate", "prepare");
    snap.set("snaptime", b.now().to_string());
    if let Some(c) = comment.filter(|c| !c.is_empty() && *c != "0") {
        snap.description = Some(c.to_string());
    }
    conf.snapshots.insert(snapname.to_string(), snap.clone());
    b.write_config(vmid, &conf)?;
    Ok(snap)
}

/// `__snapshot_commit`: drops `snapstate` and the lock, sets `parent`.
pub fn snapshot_commit(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
) -> Result<(), String> {
    let _lock = b.lock_config(vmid)?;
    let mut conf = b.load_config(vmid)?;
    if !has_lock(&conf.main, "snapshot") {
        return Err("missing snapshot lock\n".into());
    }
    let snap = conf
        .snapshots
        .get_mut(snapname)
        .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
    if snap.get("snapstate") != Some("prepare") {
        return Err("wrong snapshot state\n".into());
    }
    snap.remove("snapstate");
    conf.main.remove("lock");
    conf.main.set("parent", snapname);
    b.write_config(vmid, &conf)
}

/// `__snapshot_freeze` of the LXC config class: freeze (or thaw) the container and
/// fsfreeze the mount points whose storage needs it.
fn snapshot_freeze(b: &mut dyn SnapshotBackend, vmid: u32, unfreeze: bool) -> Result<(), String> {
    let conf = b.load_config(vmid)?;
    let mut mps = Vec::new();
    for (_, mp) in foreach_volume(&conf.main) {
        if mp.kind == MountType::Volume && b.volume_snapshot_needs_fsfreeze(&mp.volume) {
            if let Some(path) = mp.mp {
                mps.push(path);
            }
        }
    }
    let freeze_mps = |b: &mut dyn SnapshotBackend, thaw: bool| {
        for mp in &mps {
            if let Err(e) = b.fsfreeze_mountpoint(vmid, mp, thaw) {
                b.warn(&e);
            }
        }
    };
    if unfreeze {
        if let Err(e) = b.thaw(vmid) {
            b.warn(&e);
        }
        freeze_mps(b, true);
    } else {
        b.freeze(vmid)?;
        b.sync_container_namespace(vmid)?;
        freeze_mps(b, false);
    }
    Ok(())
}

/// `snapshot_create`: prepare, freeze when running, snapshot every volume, thaw, commit.
/// On failure the volume snapshots taken so far are deleted and the snapshot section is
/// removed again; the error then ends in an extra newline, as upstream's.
pub fn snapshot_create(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
    save_vmstate: bool,
    comment: Option<&str>,
) -> Result<(), String> {
    let snap = snapshot_prepare(b, vmid, snapname, save_vmstate, comment)?;
    let conf = b.load_config(vmid)?;
    let running = b.check_running(vmid);
    let freezefs = running;
    let mut drives = BTreeSet::new();
    let result = (|| -> Result<(), String> {
        activate_storages(b, &conf.main)?;
        if freezefs {
            snapshot_freeze(b, vmid, false)?;
        }
        for (key, mp) in foreach_volume(&snap) {
            if snapname != "vzdump" || backup_enabled(&key, &mp) {
                b.volume_snapshot(&mp.volume, snapname)?;
            }
            drives.insert(key);
        }
        Ok(())
    })();
    if running && freezefs {
        snapshot_freeze(b, vmid, true)?;
    }
    if let Err(err) = result {
        b.warn("snapshot create failed: starting cleanup\n");
        if let Err(e) = snapshot_delete_inner(b, vmid, snapname, true, Some(&drives)) {
            b.warn(&e);
        }
        return Err(format!("{err}\n"));
    }
    snapshot_commit(b, vmid, snapname)
}

/// `snapshot_delete`: removes the volume snapshots and the section, re-parenting
/// children. With `force`, volume errors only warn.
pub fn snapshot_delete(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
    force: bool,
) -> Result<(), String> {
    snapshot_delete_inner(b, vmid, snapname, force, None)
}

fn snapshot_delete_inner(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
    force: bool,
    drives: Option<&BTreeSet<String>>,
) -> Result<(), String> {
    let mut unused: Vec<String> = Vec::new();
    let conf = b.load_config(vmid)?;
    let snap = get_snapshot(&conf, snapname)?.clone();
    if drives.is_none() {
        activate_storages(b, &snap)?;
        if !force && b.replication_jobs_exist(vmid) {
            b.assert_not_needed_by_replication(vmid, &conf, snapname)?;
        }
        // set_lock
        let _lock = b.lock_config(vmid)?;
        let mut conf = b.load_config(vmid)?;
        check_lock(&conf.main)?;
        conf.main.set("lock", "snapshot-delete");
        b.write_config(vmid, &conf)?;
    }
    let expected_lock = if drives.is_some() {
        "snapshot"
    } else {
        "snapshot-delete"
    };
    let ensure_lock = |conf: &CtConfig| -> Result<(), String> {
        if has_lock(&conf.main, expected_lock) {
            Ok(())
        } else {
            Err(format!(
                "encountered invalid lock, expected '{expected_lock}'\n"
            ))
        }
    };

    // prepare
    let snap = {
        let _lock = b.lock_config(vmid)?;
        let mut conf = b.load_config(vmid)?;
        ensure_lock(&conf)?;
        if is_template(&conf.main) {
            return Err("you can't delete a snapshot if vm is a template\n".into());
        }
        let snap = conf
            .snapshots
            .get_mut(snapname)
            .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
        snap.set("snapstate", "delete");
        let snap = snap.clone();
        b.write_config(vmid, &conf)?;
        snap
    };

    if snap.get("vmstate").is_some_and(|v| !v.is_empty()) {
        return Err("implement me - saving vmstate\n".into());
    }

    for (key, mp) in foreach_volume(&snap) {
        if snapname == "vzdump" && key != "rootfs" && !mp.flag("backup") {
            continue;
        }
        if drives.is_none_or(|d| d.contains(&key)) {
            let res = if snapname == "vzdump" && !backup_enabled(&key, &mp) {
                Ok(())
            } else {
                b.volume_snapshot_delete(&mp.volume, snapname)
                    .map(|()| unused.push(mp.volume.clone()))
            };
            if let Err(e) = res {
                if !force {
                    return Err(e);
                }
                b.warn(&e);
            }
        }
        if !force {
            // remove the drive from the snapshot
            let _lock = b.lock_config(vmid)?;
            let mut conf = b.load_config(vmid)?;
            ensure_lock(&conf)?;
            let snap = conf
                .snapshots
                .get_mut(snapname)
                .ok_or_else(|| format!("snapshot '{snapname}' does not exist\n"))?;
            if let Some(value) = snap.remove(&key) {
                if let Ok(mp) = crate::volumes::parse_volume(&key, &value) {
                    if mp.kind == MountType::Volume {
                        add_unused_volume(snap, &mp.volume)?;
                    }
                }
            }
            b.write_config(vmid, &conf)?;
        }
    }

    // cleanup
    let _lock = b.lock_config(vmid)?;
    let mut conf = b.load_config(vmid)?;
    ensure_lock(&conf)?;
    let parent = get_snapshot(&conf, snapname)?
        .get("parent")
        .map(str::to_string);
    let unlink = |section: &mut CtSection| {
        if section.get("parent") == Some(snapname) {
            match parent.as_deref().filter(|p| !p.is_empty()) {
                Some(p) => section.set("parent", p),
                None => {
                    section.remove("parent");
                }
            }
        }
    };
    unlink(&mut conf.main);
    for (name, section) in conf.snapshots.iter_mut() {
        if name != snapname {
            unlink(section);
        }
    }
    conf.snapshots.remove(snapname);
    conf.main.remove("lock");
    for volid in &unused {
        add_unused_volume(&mut conf.main, volid)?;
    }
    b.write_config(vmid, &conf)
}

/// `__snapshot_rollback_get_unused`: current volumes the snapshot does not have.
fn rollback_unused(conf: &CtSection, snap: &CtSection) -> Vec<String> {
    let snap_vols: Vec<String> = foreach_volume(snap)
        .into_iter()
        .filter(|(_, mp)| mp.kind == MountType::Volume && !mp.volume.is_empty())
        .map(|(_, mp)| mp.volume)
        .collect();
    foreach_volume(conf)
        .into_iter()
        .filter(|(_, mp)| mp.kind == MountType::Volume && !snap_vols.contains(&mp.volume))
        .map(|(_, mp)| mp.volume)
        .collect()
}

/// `snapshot_rollback`: stop the container, roll every volume back, then make the
/// snapshot's config the current one (keeping description and unused volumes).
pub fn snapshot_rollback(
    b: &mut dyn SnapshotBackend,
    vmid: u32,
    snapname: &str,
) -> Result<(), String> {
    let snapshot_of = |conf: &CtConfig| -> Result<CtSection, String> {
        if is_template(&conf.main) {
            return Err("you can't rollback if vm is a template\n".into());
        }
        get_snapshot(conf, snapname).cloned()
    };
    let check_state = |snap: &CtSection| -> Result<(), String> {
        match snap.get("snapstate") {
            Some(state) if !state.is_empty() => Err(format!(
                "unable to rollback to incomplete snapshot (snapstate = {state})\n"
            )),
            _ => Ok(()),
        }
    };

    // prepare
    let snap = {
        let _lock = b.lock_config(vmid)?;
        let mut conf = b.load_config(vmid)?;
        let snap = snapshot_of(&conf)?;
        activate_storages(b, &snap)?;
        if b.replication_jobs_exist(vmid) {
            b.remove_replication_snapshots(vmid, &snap, snapname)?;
        }
        for (_, mp) in foreach_volume(&snap) {
            let mut blockers = Vec::new();
            b.volume_rollback_is_possible(&mp.volume, snapname, &mut blockers)?;
        }
        check_state(&snap)?;
        check_lock(&conf.main)?;
        if b.check_running(vmid) {
            b.stop_kill(vmid)?;
        }
        if b.check_running(vmid) {
            return Err(format!("unable to rollback vm {vmid}: vm is running\n"));
        }
        conf.main.set("lock", "rollback");
        b.write_config(vmid, &conf)?;
        snap
    };

    for (_, mp) in foreach_volume(&snap) {
        b.volume_snapshot_rollback(&mp.volume, snapname)?;
    }

    // apply
    let _lock = b.lock_config(vmid)?;
    let mut conf = b.load_config(vmid)?;
    let snap = snapshot_of(&conf)?;
    check_state(&snap)?;
    if b.check_running(vmid) {
        return Err(format!("unable to rollback vm {vmid}: vm is running\n"));
    }
    if !has_lock(&conf.main, "rollback") {
        return Err("got wrong lock\n".into());
    }
    conf.main.remove("lock");
    for volid in rollback_unused(&conf.main, &snap) {
        add_unused_volume(&mut conf.main, &volid)?;
    }
    let mut conf = apply_config(&conf, &snap);
    conf.main.set("parent", snapname);
    b.write_config(vmid, &conf)?;
    if snap.get("vmstate").is_some_and(|v| !v.is_empty()) {
        return Err("implement me - save vmstate\n".into());
    }
    Ok(())
}
