//! `DELETE /nodes/{node}/lxc/{vmid}` (destroy, worker `vzdestroy`) and
//! `POST …/{vmid}/template` (`vztemplate`), as upstream's `PVE::API2::LXC`.

use std::path::Path;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use serde_json::{json, Value};

use super::checks::{check_lock, check_protection, err, storage_err};
use crate::config::CtConfig;
use crate::disks::destroy_container_volumes;
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;
use crate::volumes::{foreach_volume, MountType};

/// Upstream's `PVE::Firewall::remove_vmfw_conf`: the guest's `firewall/VMID.fw`.
pub(super) fn remove_vmfw_conf(env: &RpcEnv, vmid: u32) {
    let _ = std::fs::remove_file(env.paths.etc_pve().join(format!("firewall/{vmid}.fw")));
}

/// Removes `/var/lib/lxc/VMID` unless something is still mounted below it.
pub(super) fn remove_lxc_dir(dir: &Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|p| p == prefix || p.starts_with(&format!("{prefix}/")));
    if !mounted {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn ha_configured(env: &RpcEnv, vmid: u32) -> bool {
    let cfg =
        std::fs::read_to_string(env.paths.etc_pve().join("ha/resources.cfg")).unwrap_or_default();
    cfg.lines().any(|l| {
        let mut parts = l.splitn(2, ':');
        parts.next().map(str::trim) == Some("ct")
            && parts.next().map(str::trim) == Some(&vmid.to_string())
    })
}

pub(super) fn destroy_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let purge = p.bool("purge").unwrap_or(false);
    let force = p.bool("force").unwrap_or(false);
    let purge_unreferenced = p.bool("destroy-unreferenced-disks").unwrap_or(false);
    let store = CtConfigStore::new(&env.paths, &env.node);
    let early = move |env: &RpcEnv, conf: &CtConfig| -> Result<(), String> {
        check_protection(&conf.main, &format!("can't remove CT {vmid}"))?;
        check_lock(&conf.main)?;
        if !purge && ha_configured(env, vmid) {
            return Err(format!(
                "unable to remove CT {vmid} - used in HA resources and purge parameter not set.\n"
            ));
        }
        Ok(())
    };
    let conf = store.load_config(vmid, None).map_err(err)?;
    early(env, &conf).map_err(err)?;
    let running_msg = format!("unable to destroy CT {vmid} - container is running\n");
    let rt = LxcRuntime::new(&env.paths);
    if !force && rt.check_running(vmid) {
        return Err(err(running_msg));
    }
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "vzdestroy", Some(&vmid.to_string()), move |task| {
            let warn = |l: &str| task.warn(l.trim_end());
            let run = || -> Result<(), String> {
                let store = CtConfigStore::new(&wenv.paths, &wenv.node);
                let _lock = store.lock_config(vmid)?;
                let conf = store.load_config(vmid, None)?;
                early(&wenv, &conf)?;
                if rt.check_running(vmid) {
                    if !force {
                        return Err(running_msg.clone());
                    }
                    warn(&format!("forced to stop CT {vmid} before destroying!"));
                    rt.stop(vmid, false, None, true)
                        .map_err(|e| format!("{e}\n"))?;
                }
                let rootdir = rt.rootdir(vmid);
                crate::create::unmount_all(&rootdir)?;
                let storage =
                    pve_storage::Storage::load(&wenv.paths).map_err(|e| format!("{e}\n"))?;
                destroy_container_volumes(
                    &storage,
                    &wenv.node,
                    vmid,
                    &conf,
                    purge_unreferenced,
                    &mut |w| warn(w),
                )?;
                remove_lxc_dir(&rt.lxc_dir.join(vmid.to_string()));
                // a zombie config keeps the VMID reserved until the end
                let mut replacement = CtConfig::default();
                replacement.main.set("lock", "destroyed");
                store.write_config(vmid, &replacement)?;
                pve_access_control::api::remove_vm_access(&wenv, vmid).map_err(|e| e.message)?;
                remove_vmfw_conf(&wenv, vmid);
                if purge {
                    task.log(format!("purging CT {vmid} from related configurations.."));
                    super::purge::remove_vmid_from_backup_jobs(&wenv.paths, vmid)?;
                    if super::purge::remove_ha_resource(&wenv.paths, vmid)? {
                        task.log(format!(
                            "NOTE: removed CT {vmid} from HA resource configuration."
                        ));
                    }
                }
                store.remove_config(vmid)
            };
            run().map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
        })
        .map_err(|e| err(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

pub(super) fn template(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let store = CtConfigStore::new(&env.paths, &env.node);
    let rt = LxcRuntime::new(&env.paths);
    let lock = store.lock_config(vmid).map_err(err)?;
    let conf = store.load_config(vmid, None).map_err(err)?;
    check_lock(&conf.main).map_err(err)?;
    if !conf.snapshots.is_empty() {
        return Err(err(
            "unable to create template, because CT contains snapshots\n",
        ));
    }
    if conf.main.get("template") == Some("1") {
        return Err(err("you can't convert a template to a template\n"));
    }
    if rt.check_running(vmid) {
        return Err(err(
            "you can't convert a CT to template if the CT is running\n",
        ));
    }
    drop(lock);
    let wenv = env.clone();
    pve_common::tasks::start_worker(env, "vztemplate", Some(&vmid.to_string()), move |_task| {
        let run = || -> Result<(), String> {
            let store = CtConfigStore::new(&wenv.paths, &wenv.node);
            let _lock = store.lock_config(vmid)?;
            let mut conf = store.load_config(vmid, None)?;
            check_lock(&conf.main)?;
            let storage = pve_storage::Storage::load(&wenv.paths).map_err(|e| format!("{e}\n"))?;
            let vols = foreach_volume(&conf.main);
            for (_, mp) in &vols {
                let ok = mp.kind == MountType::Volume
                    && storage.parse_volname(&mp.volume).is_ok_and(|v| {
                        !v.is_base && matches!(v.format.as_str(), "raw" | "subvol" | "qcow2")
                    });
                if !ok {
                    return Err(format!(
                        "Template feature is not available for '{}'\n",
                        mp.volume
                    ));
                }
            }
            for (key, mp) in vols {
                let base = storage.vdisk_create_base(&mp.volume).map_err(storage_err)?;
                let value = conf.main.get(&key).unwrap_or_default().to_string();
                let rest = value.split_once(',').map(|(_, r)| r);
                let new = match rest {
                    Some(r) if !value.starts_with("volume=") => format!("{base},{r}"),
                    _ => {
                        let mut parts: Vec<String> = value
                            .split(',')
                            .filter(|s| !s.starts_with("volume="))
                            .map(str::to_string)
                            .collect();
                        parts.insert(0, base.clone());
                        parts.join(",")
                    }
                };
                conf.main.set(&key, new);
                store.write_config(vmid, &conf)?;
            }
            conf.main.set("template", "1");
            store.write_config(vmid, &conf)?;
            let _ = std::fs::remove_file(
                LxcRuntime::new(&wenv.paths)
                    .lxc_dir
                    .join(vmid.to_string())
                    .join("config"),
            );
            Ok(())
        };
        run().map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| err(format!("{e}\n")))
    .and_then(|upid| {
        // upstream returns nothing; on the command line the worker ran in the
        // foreground and its error is the command's
        if env.kind != pve_common::api::EnvKind::Cli {
            return Ok(());
        }
        let status = pve_common::tasks::task_status(&env.paths, &upid)
            .ok()
            .and_then(|s| s.exitstatus)
            .unwrap_or_default();
        if status == "OK" || status.starts_with("WARNINGS") {
            Ok(())
        } else {
            Err(err(format!("{status}\n")))
        }
    })?;
    Ok(Value::Null.into())
}

#[cfg(test)]
mod tests {
    use super::super::checks::test_node as node;
    use super::*;
    use pve_common::api::HttpMethod;

    #[test]
    fn destroy_with_purge() {
        let (root, env) = node("purge");
        let etc = root.join("etc/pve");
        std::fs::write(
            etc.join("nodes/n1/lxc/303.conf"),
            "memory: 512\nrootfs: /srv/ct303,size=0T\n",
        )
        .unwrap();
        std::fs::create_dir_all(etc.join("ha")).unwrap();
        std::fs::write(etc.join("ha/resources.cfg"), "ct: 303\n\tstate started\n").unwrap();
        std::fs::write(
            etc.join("jobs.cfg"),
            "vzdump: backup-1\n\tschedule daily\n\tvmid 303,304\n",
        )
        .unwrap();
        let router = super::super::node_lxc_router();
        let (m, _) = router.find(HttpMethod::Delete, "303").unwrap();
        let call = |purge: bool| {
            let mut p = serde_json::Map::new();
            p.insert("node".into(), json!("n1"));
            p.insert("vmid".into(), json!(303));
            if purge {
                p.insert("purge".into(), json!(1));
            }
            pve_common::api::call_method(m, &env, p)
        };
        let Err(e) = call(false) else {
            panic!("HA-managed without purge")
        };
        assert_eq!(
            e.message,
            "unable to remove CT 303 - used in HA resources and purge parameter not set.\n"
        );
        let upid = call(true).unwrap().data;
        let status = pve_common::tasks::task_status(&env.paths, upid.as_str().unwrap()).unwrap();
        assert_eq!(status.exitstatus.as_deref(), Some("OK"));
        assert!(!etc.join("nodes/n1/lxc/303.conf").exists());
        assert_eq!(
            std::fs::read_to_string(etc.join("ha/resources.cfg")).unwrap(),
            ""
        );
        assert_eq!(
            std::fs::read_to_string(etc.join("jobs.cfg")).unwrap(),
            "vzdump: backup-1\n\tschedule daily\n\tvmid 304\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn destroy_and_template_checks() {
        let (root, env) = node("destroy");
        let conf = root.join("etc/pve/nodes/n1/lxc/302.conf");
        std::fs::write(
            &conf,
            "memory: 512\nprotection: 1\nrootfs: local:302/vm-302-disk-0.raw\n",
        )
        .unwrap();
        let router = super::super::node_lxc_router();
        let call = |method, path: &str| {
            let (m, _) = router.find(method, path).unwrap();
            let mut p = serde_json::Map::new();
            p.insert("node".into(), json!("n1"));
            p.insert("vmid".into(), json!(302));
            pve_common::api::call_method(m, &env, p)
                .err()
                .unwrap()
                .message
        };
        assert_eq!(
            call(HttpMethod::Delete, "302"),
            "can't remove CT 302 - protection mode enabled\n"
        );
        std::fs::write(
            &conf,
            "memory: 512\nlock: backup\nrootfs: local:302/vm-302-disk-0.raw\n",
        )
        .unwrap();
        assert_eq!(call(HttpMethod::Delete, "302"), "CT is locked (backup)\n");
        assert_eq!(
            call(HttpMethod::Post, "302/template"),
            "CT is locked (backup)\n"
        );
        std::fs::write(
            &conf,
            "memory: 512\nrootfs: local:302/vm-302-disk-0.raw\n\n[s1]\nmemory: 512\n",
        )
        .unwrap();
        assert_eq!(
            call(HttpMethod::Post, "302/template"),
            "unable to create template, because CT contains snapshots\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
