//! The running VM's side of snapshots on stock QEMU: upstream's patched QEMU has
//! `savevm-start`/`savevm-end`; here the VM is paused, its qcow2 disks get internal
//! snapshots through QMP, the RAM state is written into the state volume with a
//! migration to `file:PATH`, and the VM is resumed. A rollback starts QEMU with
//! `-incoming defer` and loads that file (`vm_start` with `statefile`).

use std::path::Path;
use std::time::Duration;

use anyhow::{format_err, Error};

use super::{with_qmp, RunEnv};
use crate::helpers;

/// The arguments of the VM's running QEMU process.
fn process_args(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn arg_value(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// The `-cpu` value of the running QEMU (upstream's `get_cpu_from_running_vm`).
pub fn current_cpu(pid: i32) -> Option<String> {
    arg_value(&process_args(pid), "-cpu")
}

/// The machine type the VM runs with, an alias (`pc`, `q35`) resolved to the versioned
/// type through `query-machines` (upstream's `get_current_qemu_machine`; stock QEMU
/// has no `+pveN` revision to append).
pub fn current_machine(env: &RunEnv, vmid: u32, pid: i32) -> Result<String, Error> {
    let machine = arg_value(&process_args(pid), "-machine").unwrap_or_default();
    let ty = machine
        .split(',')
        .find_map(|p| {
            p.strip_prefix("type=")
                .or((!p.contains('=') && !p.is_empty()).then_some(p))
        })
        .unwrap_or("pc")
        .to_string();
    let list = with_qmp(&env.paths, vmid, |c| Box::pin(c.machines()))?;
    Ok(list
        .into_iter()
        .find(|(_, alias)| alias.as_deref() == Some(ty.as_str()))
        .map(|(name, _)| name)
        .unwrap_or(ty))
}

/// Pauses the VM for consistent snapshots; true when it was running (and must be
/// resumed afterwards).
pub fn pause(env: &RunEnv, vmid: u32) -> Result<bool, Error> {
    with_qmp(&env.paths, vmid, |c| {
        Box::pin(async move {
            if c.status_name().await? == "running" {
                c.stop().await?;
                Ok(true)
            } else {
                Ok(false)
            }
        })
    })
}

/// Resumes the VM after [`pause`].
pub fn resume(env: &RunEnv, vmid: u32) -> Result<(), Error> {
    with_qmp(&env.paths, vmid, |c| Box::pin(c.cont()))
}

/// Writes the (paused) VM's RAM and device state into `path`.
pub fn save_state(env: &RunEnv, vmid: u32, path: &Path) -> Result<(), Error> {
    let uri = format!("file:{}", path.display());
    with_qmp(&env.paths, vmid, |c| {
        Box::pin(async move {
            c.migrate(&uri).await?;
            c.wait_migration(Duration::from_secs(3600)).await
        })
    })
    .map_err(|e| format_err!("saving the VM state failed - {e}"))
}

/// Internal snapshot of the drive `key` (its block node `drive-KEY`).
pub fn drive_snapshot(env: &RunEnv, vmid: u32, key: &str, name: &str) -> Result<(), Error> {
    let node = format!("drive-{key}");
    let name = name.to_string();
    with_qmp(&env.paths, vmid, move |c| {
        Box::pin(async move { c.blockdev_snapshot_internal_sync(&node, &name).await })
    })
}

/// Deletes the internal snapshot `name` of the drive `key`.
pub fn drive_snapshot_delete(env: &RunEnv, vmid: u32, key: &str, name: &str) -> Result<(), Error> {
    let node = format!("drive-{key}");
    let name = name.to_string();
    with_qmp(&env.paths, vmid, move |c| {
        Box::pin(async move { c.blockdev_snapshot_delete_internal_sync(&node, &name).await })
    })
}

/// Whether the VM runs here (its pid).
pub fn running(env: &RunEnv, vmid: u32) -> Option<i32> {
    helpers::vm_running_locally(&env.paths, vmid)
}

/// Grows the drive `key` of the running VM to `size` bytes (upstream's
/// `qemu_block_resize`: rounded up to a multiple of 1 KiB, `block_resize` on the
/// drive's block node).
pub fn drive_resize(env: &RunEnv, vmid: u32, key: &str, size: u64) -> Result<(), Error> {
    let size = size + (1024 - size % 1024) % 1024;
    let node = format!("drive-{key}");
    with_qmp(&env.paths, vmid, move |c| {
        Box::pin(async move { c.block_resize_node(&node, size as i64).await })
    })
}

/// Moves the running VM's drive onto the (already allocated) image `dst` with a
/// `drive-mirror` of its root node `drive-KEY` that `replaces` the format node (mode
/// `existing`, sync `full`), completes the job once it is ready (QEMU then swaps the
/// new node in under the throttle filter) and drops the old nodes. Stock QEMU's
/// counterpart of upstream's mirror in `clone_disk`. `bwlimit` (KiB/s) becomes the
/// job's `speed` in bytes/s, as upstream's `common_mirror_qmp_options`.
#[allow(clippy::too_many_arguments)]
pub fn drive_mirror_move(
    env: &RunEnv,
    vmid: u32,
    key: &str,
    src: &Path,
    dst: &Path,
    format: &str,
    bwlimit: Option<u64>,
) -> Result<(), Error> {
    drive_mirror(env, vmid, key, src, dst, format, true, bwlimit, None).map(|_| ())
}

/// Copies the running VM's drive into the (already allocated) image `dst` for a live
/// full clone: `drive-mirror` of `drive-KEY`, and once the job is ready
/// `block-job-cancel`, which ends a ready mirror with a consistent copy without
/// switching the VM over. `bwlimit` as for [`drive_mirror_move`]. Around the cancel
/// the guest's file systems are frozen through the agent when `agent` (the VM's
/// option) allows it and the agent answers, else the VM is paused (upstream's
/// `BlockJob::monitor` for a clone to another VM). Returns the lines to log.
#[allow(clippy::too_many_arguments)]
pub fn drive_mirror_copy(
    env: &RunEnv,
    vmid: u32,
    key: &str,
    src: &Path,
    dst: &Path,
    format: &str,
    bwlimit: Option<u64>,
    agent: Option<&str>,
) -> Result<Vec<String>, Error> {
    drive_mirror(
        env,
        vmid,
        key,
        src,
        dst,
        format,
        false,
        bwlimit,
        Some(agent.map(str::to_string)),
    )
}

/// The `drive-mirror` arguments (`speed` in bytes/s from a KiB/s limit).
fn mirror_spec(
    job: &str,
    key: &str,
    dst: &str,
    format: &str,
    bwlimit: Option<u64>,
) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "job-id": job,
        "device": format!("drive-{key}"),
        "target": dst,
        "format": format,
        "mode": "existing",
        "sync": "full",
    });
    if let Some(limit) = bwlimit {
        spec["speed"] = serde_json::json!(limit * 1024);
    }
    spec
}

#[allow(clippy::too_many_arguments)]
fn drive_mirror(
    env: &RunEnv,
    vmid: u32,
    key: &str,
    src: &Path,
    dst: &Path,
    format: &str,
    pivot: bool,
    bwlimit: Option<u64>,
    // a copy: the VM's agent option (freeze or pause around the cancel)
    copy_agent: Option<Option<String>>,
) -> Result<Vec<String>, Error> {
    use qapi::qmp;
    let qga = helpers::qga_socket(&env.paths, vmid);
    let (src, dst) = (src.display().to_string(), dst.display().to_string());
    let (job, format, key) = (format!("mirror-{key}"), format.to_string(), key.to_string());
    with_qmp(&env.paths, vmid, move |c| {
        Box::pin(async move {
            let nodes = c
                .execute(qmp::query_named_block_nodes { flat: Some(true) })
                .await?;
            let fmt_node = nodes
                .iter()
                .find(|n| {
                    n.file == src && !["file", "host_device", "throttle"].contains(&n.drv.as_str())
                })
                .and_then(|n| n.node_name.clone())
                .ok_or_else(|| format_err!("no block node for '{src}' in VM {vmid}"))?;
            let file_node = nodes
                .iter()
                .find(|n| n.file == src && ["file", "host_device"].contains(&n.drv.as_str()))
                .and_then(|n| n.node_name.clone());
            // from the drive's root node (the throttle filter); a move replaces its
            // format node with the copy
            let mut spec = mirror_spec(&job, &key, &dst, &format, bwlimit);
            if pivot {
                spec["replaces"] = serde_json::json!(fmt_node);
                spec["node-name"] = serde_json::json!(format!(
                    "mv-{key}-{}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() % 1_000_000_000)
                ));
            }
            let args: qmp::DriveMirror = serde_json::from_value(spec)?;
            c.execute(qmp::drive_mirror(args)).await?;
            let job_state = |jobs: Vec<qmp::BlockJobInfo>| {
                jobs.into_iter()
                    .filter_map(|j| serde_json::to_value(j).ok())
                    .find(|j| j["device"] == serde_json::json!(job))
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
            loop {
                let Some(j) = job_state(c.execute(qmp::query_block_jobs {}).await?) else {
                    anyhow::bail!("mirror job '{job}' vanished before it was ready");
                };
                if let Some(e) = j["error"].as_str() {
                    anyhow::bail!("mirroring failed: {e}");
                }
                if j["ready"] == serde_json::json!(true) {
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    anyhow::bail!("mirror job '{job}' not ready in time");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !pivot {
                let lines = std::cell::RefCell::new(Vec::<String>::new());
                let log = |l: &str| lines.borrow_mut().push(l.to_string());
                let agent = copy_agent.flatten();
                let freeze =
                    crate::qga::fs_freeze_applicable_at(agent.as_deref(), &qga, vmid, &log);
                if freeze {
                    log("issuing guest agent 'guest-fsfreeze-freeze' command");
                    if let Err(e) =
                        crate::qga::fs_freeze_at(&qga, vmid, Duration::from_secs(600), &log)
                    {
                        log(e.trim_end());
                    }
                } else {
                    log("suspend vm");
                    if let Err(e) = c.stop().await {
                        log(&format!("{e}"));
                    }
                }
                let cancelled = async {
                    c.execute(qmp::block_job_cancel {
                        device: job.clone(),
                        force: None,
                    })
                    .await?;
                    while job_state(c.execute(qmp::query_block_jobs {}).await?).is_some() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok::<(), Error>(())
                }
                .await;
                if freeze {
                    log("issuing guest agent 'guest-fsfreeze-thaw' command");
                    if let Err(e) = crate::qga::fs_thaw_at(&qga, vmid) {
                        log(e.trim_end());
                    }
                } else {
                    log("resume vm");
                    if let Err(e) = c.cont().await {
                        log(&format!("{e}"));
                    }
                }
                cancelled?;
                return Ok(lines.into_inner());
            }
            c.execute(qmp::block_job_complete {
                device: job.clone(),
            })
            .await?;
            while job_state(c.execute(qmp::query_block_jobs {}).await?).is_some() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // inline nodes of -blockdev go with their parent; monitor-owned ones are deleted
            let _ = c
                .execute(qmp::blockdev_del {
                    node_name: fmt_node,
                })
                .await;
            if let Some(f) = file_node {
                let _ = c.execute(qmp::blockdev_del { node_name: f }).await;
            }
            // the drive now reads the new image
            let nodes = c
                .execute(qmp::query_named_block_nodes { flat: Some(true) })
                .await?;
            if !nodes.iter().any(|n| n.file == dst) {
                anyhow::bail!("mirror completed but '{dst}' is not in use");
            }
            Ok(Vec::new())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_speed_is_bytes_per_second() {
        let spec = mirror_spec("mirror-scsi0", "scsi0", "/x.raw", "raw", Some(1024));
        assert_eq!(spec["speed"], serde_json::json!(1024 * 1024));
        assert_eq!(spec["device"], "drive-scsi0");
        // the typed QMP arguments take it
        let args: qapi::qmp::DriveMirror = serde_json::from_value(spec).unwrap();
        assert_eq!(args.speed, Some(1024 * 1024));
        let spec = mirror_spec("mirror-scsi0", "scsi0", "/x.raw", "raw", None);
        assert!(spec.get("speed").is_none());
    }
}
