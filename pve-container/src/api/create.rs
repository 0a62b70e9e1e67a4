//! `POST /nodes/{node}/lxc` (create, worker `vzcreate`) as upstream's
//! `PVE::API2::LXC::create_vm`: checks before the worker with upstream's texts, the VMID
//! reserved by a config with `lock: create`, and a failed create frees its volumes and
//! removes that config again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pve_common::api::{ApiError, ApiResponse, Params, RpcEnv};
use serde_json::json;

use super::checks::{
    check_lock, check_modify_perm, check_vmid_unused, err, is_indexed, normalize_net,
    normalize_option, param_text, storage_err, tag_style,
};
use super::destroy::{remove_lxc_dir, remove_vmfw_conf};
use crate::config::{CtConfig, CtSection};
use crate::disks::{create_disks, destroy_disks};
use crate::lxc_config::LxcHost;
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;
use crate::volumes::{parse_volume, MountType};

/// Upstream's `validate_ssh_public_keys`: every non-comment line must look like an
/// OpenSSH public key.
fn validate_ssh_public_keys(keys: &str) -> Result<(), String> {
    for line in keys.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let ok = fields
            .iter()
            .position(|f| f.starts_with("ssh-") || f.starts_with("ecdsa-") || f.starts_with("sk-"))
            .and_then(|i| fields.get(i + 1))
            .is_some_and(|b64| {
                b64.len() >= 4
                    && b64
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
            });
        if !ok {
            return Err("SSH public key validation error\n".to_string());
        }
    }
    Ok(())
}

/// `8` or `0.5` (upstream's `^\d+(\.\d+)?$` for a size without storage).
fn is_size_number(v: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match v.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(v),
    }
}

/// Parameters of create that are not container options.
const CREATE_ONLY: [&str; 14] = [
    "node",
    "vmid",
    "ostemplate",
    "password",
    "storage",
    "force",
    "restore",
    "unique",
    "pool",
    "ignore-unpack-errors",
    "ssh-public-keys",
    "bwlimit",
    "start",
    "ha-managed",
];

/// Checks and normalizes the non-disk options (upstream's `update_pct_config` on an
/// empty config) into `section`.
pub(super) fn apply_plain_options(
    section: &mut CtSection,
    opts: &BTreeMap<String, String>,
    tag_style: &pve_guest_common::tags::TagStyle,
) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (k, v) in opts {
        if k == "description" {
            section.description = Some(v.clone());
            continue;
        }
        match normalize_option(k, v, tag_style) {
            Ok(n) => section.set(k, n),
            Err(e) => {
                errors.insert(k.clone(), e.trim_end().to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::parameters(errors));
    }
    Ok(())
}

fn ostemplate_path(
    env: &RpcEnv,
    storage: &pve_storage::Storage,
    vmid: u32,
    ostemplate: &str,
) -> Result<PathBuf, ApiError> {
    pve_storage::access::check_volume_access(
        env,
        &storage.cfg,
        Some(vmid),
        ostemplate,
        Some("vztmpl"),
    )
    .map_err(|e| {
        let m = e.to_string();
        if m.starts_with("Permission check failed") {
            ApiError::new(403, format!("{m}\n"))
        } else {
            err(format!("{m}\n"))
        }
    })?;
    if pve_storage::volume::split_volume_id(ostemplate).is_none() {
        return Ok(PathBuf::from(ostemplate));
    }
    let (path, _, _) = storage
        .path(ostemplate, None)
        .map_err(|e| err(storage_err(e)))?;
    Ok(path)
}

/// What the create worker needs.
struct CreateJob {
    vmid: u32,
    conf: CtConfig,
    /// `rootfs`/`mpN` → mount point string (maybe with `STORAGE:SIZE`), rootfs first.
    mp_param: Vec<(String, String)>,
    archive: PathBuf,
    /// As given (`local:vztmpl/…` or a path), for messages.
    ostemplate: String,
    password: Option<String>,
    ssh_keys: Option<String>,
    pool: Option<String>,
    start: bool,
    ignore_unpack_errors: bool,
}

pub(super) fn create_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    if p.bool("restore").unwrap_or(false) {
        return Err(err(
            "restoring a container from a backup archive is not implemented\n",
        ));
    }
    if p.bool("unique").unwrap_or(false) {
        return Err(ApiError::parameter(
            "unique",
            "parameter requires 'restore'",
        ));
    }
    if p.bool("ha-managed").unwrap_or(false) {
        env.check_privs("/", &["Sys.Console"], false)?;
        return Err(err(
            "adding a container as HA resource is not implemented\n",
        ));
    }
    let unprivileged = p.bool("unprivileged").unwrap_or(true);
    if !unprivileged {
        env.check_privs("/", &["Sys.Modify"], false)?;
    }
    check_vmid_unused(env, vmid).map_err(err)?;
    let password = p.str("password");
    let ssh_keys = p.str("ssh-public-keys");
    if let Some(keys) = &ssh_keys {
        validate_ssh_public_keys(keys).map_err(err)?;
    }
    let pool = p.str("pool");
    if let Some(pl) = &pool {
        pve_access_control::api::check_pool_exist(env, pl)?;
    }
    let allowed = env.has_privs(&format!("/vms/{vmid}"), &["VM.Allocate"], false)
        || pool
            .as_ref()
            .is_some_and(|pl| env.has_privs(&format!("/pool/{pl}"), &["VM.Allocate"], false));
    if !allowed {
        return Err(ApiError::new(403, "Permission check failed\n"));
    }
    let ostemplate = p.required_str("ostemplate")?;

    let default_storage = p.str("storage").unwrap_or_else(|| "local".into());
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in &p.0 {
        if CREATE_ONLY.contains(&k.as_str()) || k == "unprivileged" {
            continue;
        }
        let mut v = param_text(v);
        // a bare size allocates on the default storage
        if (k == "rootfs" || is_indexed(k, "mp")) && is_size_number(&v) {
            v = format!("{default_storage}:{v}");
        }
        params.insert(k.clone(), v);
    }
    check_modify_perm(env, vmid, pool.as_deref(), None, &params, &[], unprivileged)?;

    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| err(format!("{e}\n")))?;
    if ostemplate == "-" {
        return Err(err("pipe can only be used with restore tasks\n"));
    }
    let archive = ostemplate_path(env, &storage, vmid, &ostemplate)?;

    let mut mp_param: BTreeMap<String, String> = BTreeMap::new();
    let mut plain: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (k, v) in params {
        if k == "rootfs" || is_indexed(&k, "mp") {
            mp_param.insert(k, v);
        } else if is_indexed(&k, "unused") {
            warnings.push(format!(
                "ignoring '{k}', cannot create/restore with unused volume"
            ));
        } else {
            plain.insert(k, v);
        }
    }
    if !mp_param.is_empty() && !mp_param.contains_key("rootfs") {
        return Err(err(
            "mount points configured, but 'rootfs' not set - aborting\n",
        ));
    }
    let check_and_activate = |sid: &str| -> Result<(), ApiError> {
        let scfg = storage.cfg.storage(sid).map_err(|e| err(storage_err(e)))?;
        if scfg.disable {
            return Err(err(format!("storage '{sid}' is disabled\n")));
        }
        if !scfg.available_on(&env.node) {
            return Err(err(format!(
                "storage '{sid}' is not available on node '{}'\n",
                env.node
            )));
        }
        if !scfg.content.contains("rootdir") {
            return Err(ApiError::parameter(
                "storage",
                format!("storage '{sid}' does not support container directories"),
            ));
        }
        env.check_privs(
            &format!("/storage/{sid}"),
            &["Datastore.AllocateSpace"],
            false,
        )?;
        storage
            .activate_storage(sid)
            .map_err(|e| err(storage_err(e)))
    };
    for (key, value) in &mp_param {
        let mp = parse_volume(key, value).map_err(|e| ApiError::parameter(key, e.trim_end()))?;
        if mp.kind != MountType::Volume {
            if !env.auth.is_root() {
                return Err(err("Only root can pass arbitrary filesystem paths.\n"));
            }
        } else {
            let (sid, _) = pve_storage::volume::parse_volume_id(&mp.volume)
                .map_err(|e| ApiError::parameter(key, e.to_string()))?;
            check_and_activate(sid)?;
        }
    }
    if !mp_param.contains_key("rootfs") {
        check_and_activate(&default_storage)?;
        mp_param.insert("rootfs".into(), format!("{default_storage}:4"));
    }

    super::cgroup::clamp_cpuunits(&mut plain);
    let mut conf = CtConfig::default();
    apply_plain_options(&mut conf.main, &plain, &tag_style(env))?;
    let nets: Vec<(String, String)> = conf
        .main
        .values
        .iter()
        .filter(|(k, _)| is_indexed(k, "net"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in nets {
        let n = normalize_net(&env.paths, &v).map_err(|e| ApiError::parameter(&k, e.trim_end()))?;
        conf.main.set(&k, n);
    }
    if unprivileged {
        conf.main.set("unprivileged", "1");
    }
    let mut mp_list: Vec<(String, String)> = Vec::new();
    if let Some(r) = mp_param.remove("rootfs") {
        mp_list.push(("rootfs".into(), r));
    }
    mp_list.extend(mp_param);

    // create_and_lock_config: reserve the VMID
    let emsg = format!("unable to create CT {vmid} -");
    let store = CtConfigStore::new(&env.paths, &env.node);
    {
        let reserve = || -> Result<(), String> {
            let _lock = store.lock_config_full(vmid, std::time::Duration::from_secs(5))?;
            check_vmid_unused(env, vmid)?;
            let mut locked = CtConfig::default();
            locked.main.set("lock", "create");
            store.write_config(vmid, &locked)
        };
        reserve().map_err(|e| err(format!("{emsg} {e}")))?;
    }

    let job = CreateJob {
        vmid,
        conf,
        mp_param: mp_list,
        archive,
        ostemplate,
        password,
        ssh_keys,
        pool,
        start: p.bool("start").unwrap_or(false),
        ignore_unpack_errors: p.bool("ignore-unpack-errors").unwrap_or(false),
    };
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "vzcreate", Some(&vmid.to_string()), move |task| {
            for w in &warnings {
                task.warn(w);
            }
            let log = |l: &str| task.log(l.trim_end());
            let warn = |l: &str| task.warn(l.trim_end());
            let result = run_create(&wenv, &job, &log, &warn);
            if let Err(e) = result {
                anyhow::bail!("{emsg} {}", e.trim_end());
            }
            if let Some(pl) = &job.pool {
                pve_access_control::api::add_vm_to_pool(&wenv, vmid, pl)
                    .map_err(|e| anyhow::anyhow!("{}", e.message.trim_end()))?;
            }
            if job.start {
                start_container(&wenv, vmid, &warn)
                    .map_err(|e| anyhow::anyhow!("{}", e.trim_end()))?;
            }
            Ok(())
        })
        .map_err(|e| {
            // no worker will use the reserved config
            let _ = store.remove_config(vmid);
            err(format!("{e}\n"))
        })?;
    Ok(json!(upid).into())
}

/// Mounts, unpacks and sets up the new volumes; writes the final config.
fn run_create(
    env: &RpcEnv,
    job: &CreateJob,
    log: &dyn Fn(&str),
    warn: &dyn Fn(&str),
) -> Result<(), String> {
    let vmid = job.vmid;
    let store = CtConfigStore::new(&env.paths, &env.node);
    let rt = LxcRuntime::new(&env.paths);
    let _lock = store.lock_config(vmid)?;
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let mut conf = job.conf.clone();
    let mut vollist = Vec::new();
    let lxc_dir = rt.lxc_dir.join(vmid.to_string());
    let had_lxc_dir = lxc_dir.exists();
    let result = (|| -> Result<(), String> {
        vollist = create_disks(&storage, vmid, &job.mp_param, &mut conf, false)?;
        // the volumes are referenced by the (still locked) config from here on
        let mut locked = conf.clone();
        locked.main.set("lock", "create");
        store.write_config(vmid, &locked)?;

        let rootdir = rt.rootdir(vmid);
        if crate::create::is_mounted(&rootdir) {
            crate::create::unmount_all(&rootdir)?;
        }
        let mounts = crate::create::mount_all(&storage, &conf.main, &rootdir)?;
        let filled = (|| -> Result<CtSection, String> {
            let idmap = crate::idmap::section_id_maps(&conf.main)?;
            // upstream's abs_filesystem_path
            if !job.archive.is_file() {
                return Err(format!("can't find file '{}'\n", job.ostemplate));
            }
            log(&format!("extracting archive '{}'", job.archive.display()));
            if let Err(e) = crate::create::extract_template(&job.archive, &rootdir, &idmap) {
                if !job.ignore_unpack_errors {
                    return Err(e);
                }
                warn(&format!("ignored unpack errors: {}", e.trim_end()));
            }
            let mut setup = crate::setup::Setup::new(
                &conf.main,
                &rootdir,
                crate::setup::SetupOptions::default(),
            )?;
            for m in &setup.messages {
                log(m);
            }
            let detected = setup.conf.clone();
            // save the config after OS detection, as upstream
            let mut locked = conf.clone();
            locked.main = detected.clone();
            locked.main.set("lock", "create");
            store.write_config(vmid, &locked)?;
            setup.post_create_hook(job.password.as_deref(), job.ssh_keys.as_deref())?;
            for w in &setup.warnings {
                warn(w);
            }
            Ok(detected)
        })();
        drop(mounts.into_iter().rev().collect::<Vec<_>>());
        let unmounted = crate::create::unmount_all(&rootdir);
        conf.main = filled?;
        unmounted?;
        if conf.main.get("hostname").is_none_or(str::is_empty) {
            conf.main.set("hostname", format!("CT{vmid}"));
        }
        if conf
            .main
            .get("memory")
            .is_none_or(|m| m.is_empty() || m == "0")
        {
            conf.main.set("memory", "512");
        }
        if conf.main.get("swap").is_none() {
            conf.main.set("swap", "512");
        }
        conf.main.remove("lock");
        store.write_config(vmid, &conf)
    })();
    if let Err(e) = result {
        let rootdir = rt.rootdir(vmid);
        let _ = crate::create::unmount_all(&rootdir);
        destroy_disks(&storage, &vollist, &mut |w| warn(w));
        if let Err(re) = store.remove_config(vmid) {
            warn(&re);
        }
        remove_vmfw_conf(env, vmid);
        if !had_lxc_dir {
            remove_lxc_dir(&lxc_dir);
        }
        return Err(e);
    }
    Ok(())
}

/// Starts a container as the `vzstart` worker does (config lock, lock check, pending
/// changes, start; the pre-start hook mounts the volumes).
pub(super) fn start_container(env: &RpcEnv, vmid: u32, warn: &dyn Fn(&str)) -> Result<(), String> {
    let store = CtConfigStore::new(&env.paths, &env.node);
    let _lock = store.lock_config(vmid)?;
    let conf = store.load_config(vmid, None)?;
    check_lock(&conf.main)?;
    let storage = pve_storage::Storage::load(&env.paths).map_err(|e| format!("{e}\n"))?;
    let conf = super::apply_pending_before_start(&store, &storage, vmid, conf, &mut |w| warn(w))?;
    let rt = LxcRuntime::new(&env.paths).with_node(&env.node);
    let warnings = rt
        .start(vmid, &conf.main, &LxcHost::probe())
        .map_err(|e| format!("{e}\n"))?;
    for w in warnings {
        warn(&w);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::checks::test_node as node;
    use super::*;
    use pve_common::api::HttpMethod;
    use serde_json::Value;

    fn create(env: &RpcEnv, params: Value) -> Result<ApiResponse, ApiError> {
        let router = super::super::node_lxc_router();
        let (m, _) = router.find(HttpMethod::Post, "").unwrap();
        let Value::Object(mut p) = params else {
            unreachable!()
        };
        p.insert("node".into(), json!(env.node));
        pve_common::api::call_method(m, env, p)
    }
    #[test]
    fn create_checks_before_the_worker() {
        let (root, env) = node("checks");
        let tmpl = "local:vztmpl/t.tar.gz";
        let msg = |r: Result<ApiResponse, ApiError>| {
            let Err(e) = r else {
                panic!("expected an error")
            };
            (e.message, e.errors)
        };
        assert_eq!(
            msg(create(&env, json!({"vmid": 300, "ostemplate": tmpl}))).0,
            "VM 300 already exists on node 'n2'\n"
        );
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": tmpl, "mp0": "local:1,mp=/x"})
            ))
            .0,
            "mount points configured, but 'rootfs' not set - aborting\n"
        );
        let (m, errors) = msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "storage": "isos"}),
        ));
        assert_eq!(m, "Parameter verification failed.\n");
        assert_eq!(
            errors.get("storage").map(String::as_str),
            Some("storage 'isos' does not support container directories")
        );
        assert!(msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "restore": 1})
        ))
        .0
        .contains("not implemented"));
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": "local:iso/x.iso"})
            ))
            .0,
            "unable to use volume local:iso/x.iso - content type needs to be 'vztmpl'\n"
        );
        let (m, errors) = msg(create(
            &env,
            json!({"vmid": 301, "ostemplate": tmpl, "memory": "lots"}),
        ));
        assert_eq!(m, "Parameter verification failed.\n");
        assert!(errors.contains_key("memory"), "{errors:?}");
        assert_eq!(
            msg(create(
                &env,
                json!({"vmid": 301, "ostemplate": tmpl, "ssh-public-keys": "not a key"})
            ))
            .0,
            "SSH public key validation error\n"
        );
        // none of these left a config behind
        assert!(!root.join("etc/pve/nodes/n1/lxc/301.conf").exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A user with a fixed set of (path, privilege) grants.
    struct Grants(Vec<(&'static str, &'static str)>);

    impl pve_common::api::env::PermissionChecker for Grants {
        fn has_privs(
            &self,
            _auth: &pve_common::api::AuthId,
            path: &str,
            privs: &[&str],
            any: bool,
        ) -> bool {
            let has = |p: &&str| self.0.iter().any(|(gp, gv)| *gp == path && gv == p);
            if any {
                privs.iter().any(has)
            } else {
                privs.iter().all(has)
            }
        }
    }

    #[test]
    fn create_permissions_of_a_user() {
        let (root, mut env) = node("perms");
        env.auth = pve_common::api::AuthId::parse("alice@pve").unwrap();
        let with = |grants: Vec<(&'static str, &'static str)>| {
            let mut e = env.clone();
            e.permissions = Some(std::sync::Arc::new(Grants(grants)));
            e
        };
        let tmpl = "local:vztmpl/t.tar.gz";
        let base = vec![
            ("/vms/310", "VM.Allocate"),
            ("/vms/310", "VM.Config.Disk"),
            ("/vms/310", "VM.Config.Memory"),
            ("/storage/local", "Datastore.AllocateSpace"),
        ];
        let fail = |e: &RpcEnv, params: Value| {
            let Err(e) = create(e, params) else {
                panic!("expected an error")
            };
            (e.status, e.message)
        };
        assert_eq!(
            fail(&with(vec![]), json!({"vmid": 310, "ostemplate": tmpl})),
            (403, "Permission check failed\n".to_string())
        );
        // privileged containers need Sys.Modify on /
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "unprivileged": 0})
            ),
            (403, "Permission check failed (/, Sys.Modify)\n".to_string())
        );
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "cores": 2})
            ),
            (
                403,
                "Permission check failed (/vms/310, VM.Config.CPU)\n".to_string()
            )
        );
        assert_eq!(
            fail(
                &with(base.clone()),
                json!({"vmid": 310, "ostemplate": tmpl, "mp0": "/srv,mp=/srv", "rootfs": "1"})
            ),
            (
                403,
                "mount point type bind is only allowed for root@pam\n".to_string()
            )
        );
        let mut no_space = base.clone();
        no_space.retain(|(p, _)| *p != "/storage/local");
        assert_eq!(
            fail(
                &with(no_space),
                json!({"vmid": 310, "ostemplate": tmpl, "rootfs": "2"})
            ),
            (
                403,
                "Permission check failed (/storage/local, Datastore.AllocateSpace)\n".to_string()
            )
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
