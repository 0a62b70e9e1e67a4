//! `PUT /nodes/{node}/lxc/{vmid}/resize` (upstream's `resize_vm`): grows a rootfs or
//! mount point volume through pve-storage, records the new size in the config and
//! grows the ext4 file system of a raw image (offline: `e2fsck` + `resize2fs`; running:
//! `losetup --set-capacity` and an online `resize2fs`). A file system that cannot be
//! grown is a task warning, as upstream.

use std::process::Command;

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::{json, Value};

use super::declare;
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;

fn params() -> Value {
    let disks: Vec<String> = crate::volumes::valid_volume_keys().collect();
    json!({
        "digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string", "typetext": "<string>"},
        "disk": {"description": "The disk you want to resize.", "enum": disks, "type": "string"},
        "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"},
        "size": {"description": "The new size. With the '+' sign the value is added to the actual size of the volume and without it, the value is taken as an absolute one. Shrinking disk size is not supported.", "pattern": "\\+?\\d+(\\.\\d+)?[KMGT]?", "type": "string"},
        "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999_999_999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}
    })
}

/// What the checks before and inside the worker found.
struct Checked {
    conf: crate::CtConfig,
    mp: crate::volumes::MountPoint,
    volid: String,
    format: String,
    newsize: u64,
}

struct Request {
    vmid: u32,
    disk: String,
    digest: Option<String>,
    grow: bool,
    size: u64,
}

/// Upstream's `$load_and_check`, run before the worker and again under the lock.
fn load_and_check(env: &RpcEnv, req: &Request) -> Result<Checked, ApiError> {
    let store = CtConfigStore::new(&env.paths, &env.node);
    let conf = store
        .load_config(req.vmid, None)
        .map_err(ApiError::internal)?;
    if let Some(lock) = conf.main.get("lock").filter(|l| !l.is_empty()) {
        return Err(ApiError::internal(format!("CT is locked ({lock})\n")));
    }
    // check_ct_modify_config_perm: `disk` and `size` are no config options, so they
    // need VM.Config.Options
    env.check_privs(&format!("/vms/{}", req.vmid), &["VM.Config.Options"], false)?;
    crate::config::assert_if_modified(&conf, req.digest.as_deref()).map_err(ApiError::internal)?;
    let text = conf.main.get(&req.disk).unwrap_or_default();
    let mp = crate::volumes::parse_volume(&req.disk, text).map_err(ApiError::internal)?;
    let volid = mp.volume.clone();
    let storage =
        pve_storage::Storage::load(&env.paths).map_err(|e| ApiError::internal(format!("{e}\n")))?;
    let name = storage
        .parse_volname(&volid)
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    let owner = name.vmid.clone().unwrap_or_default();
    if owner != req.vmid.to_string() {
        return Err(ApiError::internal(format!(
            "can't resize mount point owned by another container ({owner})\n"
        )));
    }
    let (storeid, _) = pve_storage::volume::parse_volume_id(&volid)
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    env.check_privs(
        &format!("/storage/{storeid}"),
        &["Datastore.AllocateSpace"],
        false,
    )?;
    let size = storage
        .volume_size_info(&volid)
        .map_err(|_| {
            ApiError::internal(format!(
                "Could not determine current size of volume '{volid}'\n"
            ))
        })?
        .size;
    let newsize = if req.grow { size + req.size } else { req.size };
    if newsize < size {
        return Err(ApiError::internal("unable to shrink disk size\n"));
    }
    if newsize == size {
        return Err(ApiError::internal("disk is already at specified size\n"));
    }
    Ok(Checked {
        conf,
        mp,
        volid,
        format: name.format,
        newsize,
    })
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{e}"))?;
    if !out.status.success() {
        let args: Vec<String> = std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return Err(format!(
            "command '{}' failed: exit code {}\n{}",
            args.join(" "),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ));
    }
    Ok(())
}

/// The loop device a file is attached to (`losetup -j`), as upstream's `query_loopdev`.
fn query_loopdev(path: &std::path::Path) -> Option<String> {
    let out = Command::new("losetup").arg("-j").arg(path).output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.split_once(':').map(|(dev, _)| dev.to_string()))
}

/// Grows the file system of a raw volume after the volume grew.
fn grow_filesystem(path: &std::path::Path, running: bool) -> Result<(), String> {
    if running {
        let dev = query_loopdev(path)
            .ok_or("internal error: CT running but mount point not attached to a loop device\n")?;
        run(Command::new("losetup").args(["--set-capacity", &dev]))?;
        // resize2fs resizes a mounted ext4 online; it finds the mount in its own mount
        // namespace, so mount it privately there
        let script = format!("mount --make-rprivate / && mount '{dev}' /tmp && resize2fs '{dev}'");
        run(Command::new("unshare").args(["-m", "--", "sh", "-c", &script]))
    } else {
        run(Command::new("e2fsck").arg("-f").arg("-y").arg(path))?;
        run(Command::new("resize2fs").arg(path))
    }
}

fn resize_vm(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.vmid()?;
    let disk = p.str("disk").unwrap_or_default();
    let sizestr = p.str("size").unwrap_or_default();
    let (grow, plain) = match sizestr.strip_prefix('+') {
        Some(rest) => (true, rest.to_string()),
        None => (false, sizestr.clone()),
    };
    let size = pve_common::schema::formats::parse_size(&plain)
        .ok_or_else(|| ApiError::internal("invalid size string\n"))?;
    let req = Request {
        vmid,
        disk,
        digest: p.str("digest"),
        grow,
        size,
    };
    load_and_check(env, &req)?;
    let wenv = env.clone();
    let upid =
        pve_common::tasks::start_worker(env, "resize", Some(&vmid.to_string()), move |task| {
            let store = CtConfigStore::new(&wenv.paths, &wenv.node);
            let _lock = store.lock_config(vmid).map_err(anyhow::Error::msg)?;
            let Checked {
                mut conf,
                mut mp,
                volid,
                format,
                newsize,
            } = load_and_check(&wenv, &req).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let running = LxcRuntime::new(&wenv.paths)
                .with_node(&wenv.node)
                .check_running(vmid);
            let storage = pve_storage::Storage::load(&wenv.paths)?;
            storage.volume_resize(&volid, newsize)?;
            mp.props.insert("size".into(), json!(newsize));
            let family = if req.disk == "rootfs" { "rootfs" } else { "mp" };
            let format_desc = crate::schema::option_format(family).unwrap_or_default();
            let text =
                pve_common::schema::property_string::print_property_string(&mp.props, &format_desc)
                    .map_err(anyhow::Error::msg)?;
            conf.main.set(&req.disk, text);
            store
                .write_config(vmid, &conf)
                .map_err(anyhow::Error::msg)?;
            if format == "raw" {
                let (path, _, _) = storage.path(&volid, None)?;
                if let Err(e) = grow_filesystem(&path, running) {
                    task.warn(format!(
                        "Failed to update the container's filesystem: {}",
                        e.trim_end()
                    ));
                }
            }
            Ok(())
        })
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

/// Adds `resize` to the container's router.
pub(super) fn mount_resize(item: Router) -> Router {
    item.subdir(
        "resize",
        Router::new().method(
            declare(
                ApiMethod::new(
                    "resize_vm",
                    HttpMethod::Put,
                    "Resize a container mount point.",
                    resize_vm,
                ),
                params(),
                json!({"description": "the task ID.", "type": "string"}),
                pve_common::schema::json_lit(
                    r#"{"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk"], "any", 1]}"#,
                ),
            )
            .protected(),
        ),
    )
}
