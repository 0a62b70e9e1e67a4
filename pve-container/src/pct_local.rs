//! `pct`'s own commands that are not API methods (upstream's `PVE::CLI::pct`): `exec`,
//! `enter`, `console` (they become `lxc-attach`/`lxc-console`), `push`/`pull` (worker
//! tasks `push_file`/`pull_file` copying through the container's namespaces), `mount`
//! and `unmount` (the volumes at the rootfs directory on the host under the `mounted`
//! lock).

use std::os::unix::process::CommandExt;
use std::path::Path;

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, RpcEnv};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::attach::{FileAttrs, Owner};
use crate::run::LxcRuntime;
use crate::store::CtConfigStore;

fn vmid_schema() -> Schema {
    Schema::literal(
        json!({"description": "The (unique) ID of the VM.", "type": "integer",
        "format": "pve-vmid", "minimum": 100, "maximum": 999_999_999}),
    )
}

fn keep_env_schema() -> Schema {
    Schema::literal(json!({"type": "boolean", "optional": 1, "default": 1,
        "description": "Keep the current environment. This option will disabled by default with PVE 9. If you rely on a preserved environment, please use this option to be future-proof."}))
}

fn string_schema(desc: &str, optional: bool) -> Schema {
    let mut s = json!({"type": "string", "description": desc});
    if optional {
        s["optional"] = json!(1);
    }
    Schema::literal(s)
}

fn store(env: &RpcEnv) -> CtConfigStore {
    CtConfigStore::new(&env.paths, &env.node)
}

fn runtime(env: &RpcEnv) -> LxcRuntime {
    LxcRuntime::new(&env.paths).with_node(&env.node)
}

fn load(env: &RpcEnv, vmid: u32) -> Result<crate::CtConfig, ApiError> {
    store(env)
        .load_config(vmid, None)
        .map_err(ApiError::internal)
}

/// Replaces this process with `cmd` (upstream `exec`s the LXC tool, so its exit status
/// is the command's).
fn exec(mut cmd: std::process::Command) -> ApiError {
    let prog = cmd.get_program().to_string_lossy().into_owned();
    let err = cmd.exec();
    ApiError::internal(format!("exec failed: {prog}: {err}\n"))
}

fn running_check(env: &RpcEnv, vmid: u32) -> Result<LxcRuntime, ApiError> {
    load(env, vmid)?;
    let rt = runtime(env);
    if !rt.check_running(vmid) {
        return Err(ApiError::internal(format!(
            "container '{vmid}' not running!\n"
        )));
    }
    Ok(rt)
}

fn exec_method() -> ApiMethod {
    let mut extra = Schema::literal(json!({"type": "array", "optional": 1,
        "description": "Extra arguments as array", "items": {"type": "string"}}));
    extra.optional = Some(true);
    ApiMethod::new(
        "exec",
        HttpMethod::Get,
        "Launch a command inside the specified container.",
        |env, p| {
            let vmid = p.vmid()?;
            let keep_env = p.bool("keep-env").unwrap_or(true);
            let rt = running_check(env, vmid)?;
            let args: Vec<String> = p
                .get("extra-args")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|v| v.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            if args.is_empty() {
                return Err(ApiError::internal("missing command\n"));
            }
            Err(exec(crate::attach::attach_command(
                &rt, vmid, keep_env, &args,
            )))
        },
    )
    .param("vmid", vmid_schema())
    .param("keep-env", keep_env_schema())
    .param("extra-args", extra)
    .returns(Schema::literal(json!({"type": "null"})))
}

fn enter_method() -> ApiMethod {
    ApiMethod::new(
        "enter",
        HttpMethod::Get,
        "Launch a shell for the specified container.",
        |env, p| {
            let vmid = p.vmid()?;
            let keep_env = p.bool("keep-env").unwrap_or(true);
            let rt = running_check(env, vmid)?;
            Err(exec(crate::attach::attach_command(
                &rt,
                vmid,
                keep_env,
                &[],
            )))
        },
    )
    .param("vmid", vmid_schema())
    .param("keep-env", keep_env_schema())
    .returns(Schema::literal(json!({"type": "null"})))
}

fn console_method() -> ApiMethod {
    ApiMethod::new(
        "console",
        HttpMethod::Get,
        "Launch a console for the specified container.",
        |env, p| {
            let vmid = p.vmid()?;
            let conf = load(env, vmid)?;
            let escape = p.str("escape");
            let cmd = crate::attach::console_command(
                &runtime(env),
                vmid,
                conf.main.get("cmode"),
                escape.as_deref(),
            )
            .map_err(ApiError::internal)?;
            Err(exec(cmd))
        },
    )
    .param("vmid", vmid_schema())
    .param(
        "escape",
        Schema::literal(json!({"type": "string", "optional": 1, "default": "^a",
            "pattern": "\\^?[a-z]",
            "description": "Escape sequence prefix. For example to use <Ctrl+b q> as the escape sequence pass '^b'."})),
    )
    .returns(Schema::literal(json!({"type": "null"})))
}

fn file_attrs(p: &Params) -> Result<FileAttrs, ApiError> {
    let perms = match p.str("perms") {
        Some(perms) => Some(crate::attach::parse_perms(&perms).map_err(ApiError::internal)?),
        None => None,
    };
    Ok(FileAttrs {
        user: p.str("user").map(|u| Owner::parse(&u)),
        group: p.str("group").map(|g| Owner::parse(&g)),
        perms,
    })
}

fn copy_params(m: ApiMethod, push: bool) -> ApiMethod {
    let (user, group) = if push {
        (
            "Owner user name or id. When using a name it must exist inside the container.",
            "Owner group name or id. When using a name it must exist inside the container.",
        )
    } else {
        ("Owner user name or id.", "Owner group name or id.")
    };
    m.param("vmid", vmid_schema())
        .param("user", string_schema(user, true))
        .param("group", string_schema(group, true))
        .param(
            "perms",
            string_schema(
                "File permissions to use (octal by default, prefix with '0x' for hexadecimal).",
                true,
            ),
        )
        .returns(Schema::literal(
            json!({"type": "string", "description": "the task ID."}),
        ))
}

/// push/pull: the config lock, the running check, then the copy as a worker task.
fn copy_task(
    env: &RpcEnv,
    vmid: u32,
    kind: &'static str,
    not_running: &'static str,
    copy: impl FnOnce(u32, bool) -> Result<(), String> + Send + 'static,
) -> Result<ApiResponse, ApiError> {
    let st = store(env);
    let _lock = st.lock_config(vmid).map_err(ApiError::internal)?;
    let rt = runtime(env);
    if !rt.check_running(vmid) {
        return Err(ApiError::internal(not_running));
    }
    let conf = load(env, vmid)?;
    let unprivileged = conf.main.get("unprivileged") == Some("1");
    let upid = pve_common::tasks::start_worker(env, kind, Some(&vmid.to_string()), move |_| {
        let pid = rt
            .running_pid(vmid)
            .ok_or_else(|| anyhow::anyhow!("CT {vmid} not running"))?;
        copy(pid, unprivileged).map_err(|e| anyhow::anyhow!("{}", e.trim_end()))
    })
    .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    Ok(json!(upid).into())
}

fn push_method() -> ApiMethod {
    let m = ApiMethod::new(
        "push",
        HttpMethod::Put,
        "Copy a local file to the container.",
        |env, p| {
            let vmid = p.vmid()?;
            let file = p.str("file").unwrap_or_default();
            let dest = p.str("destination").unwrap_or_default();
            let attrs = file_attrs(&p)?;
            copy_task(
                env,
                vmid,
                "push_file",
                "can only push files to a running CT\n",
                move |pid, unpriv| {
                    crate::attach::push_file(
                        pid,
                        unpriv,
                        Path::new(&file),
                        Path::new(&dest),
                        &attrs,
                    )
                },
            )
        },
    )
    .param("file", string_schema("Path to a local file.", false))
    .param(
        "destination",
        string_schema("Destination inside the container to write to.", false),
    );
    copy_params(m, true)
}

fn pull_method() -> ApiMethod {
    let m = ApiMethod::new(
        "pull",
        HttpMethod::Put,
        "Copy a file from the container to the local system.",
        |env, p| {
            let vmid = p.vmid()?;
            let path = p.str("path").unwrap_or_default();
            let dest = p.str("destination").unwrap_or_default();
            let attrs = file_attrs(&p)?;
            copy_task(
                env,
                vmid,
                "pull_file",
                "can only pull files from a running VM\n",
                move |pid, _| {
                    crate::attach::pull_file(pid, Path::new(&path), Path::new(&dest), &attrs)
                },
            )
        },
    )
    .param(
        "path",
        string_schema("Path to a file inside the container to pull.", false),
    )
    .param("destination", string_schema("Destination", false));
    copy_params(m, false)
}

/// Upstream's `set_lock` under an already held config lock: `CT is locked (…)` when
/// another lock is set.
pub fn set_lock(store: &CtConfigStore, vmid: u32, lock: &str) -> Result<crate::CtConfig, String> {
    let mut conf = store.load_config(vmid, None)?;
    if let Some(l) = conf.main.get("lock").filter(|l| !l.is_empty()) {
        return Err(format!("CT is locked ({l})\n"));
    }
    conf.main.set("lock", lock);
    store.write_config(vmid, &conf)?;
    Ok(conf)
}

/// Upstream's `remove_lock` under an already held config lock.
pub fn remove_lock(store: &CtConfigStore, vmid: u32, lock: &str) -> Result<(), String> {
    let mut conf = store.load_config(vmid, None)?;
    match conf.main.get("lock").filter(|l| !l.is_empty()) {
        None => return Err(format!("no lock found trying to remove '{lock}' lock\n")),
        Some(l) if l != lock => {
            return Err(format!("found lock '{l}' trying to remove '{lock}' lock\n"))
        }
        Some(_) => {}
    }
    conf.main.remove("lock");
    store.write_config(vmid, &conf)
}

fn mount_method() -> ApiMethod {
    ApiMethod::new(
        "mount",
        HttpMethod::Post,
        "Mount the container's filesystem on the host. This will hold a lock on the container and is meant for emergency maintenance only as it will prevent further operations on the container other than start and stop.",
        |env, p| {
            let vmid = p.vmid()?;
            let st = store(env);
            let rt = runtime(env);
            let rootdir = rt.rootdir(vmid);
            {
                let _lock = st.lock_config(vmid).map_err(ApiError::internal)?;
                let conf = set_lock(&st, vmid, "mounted").map_err(ApiError::internal)?;
                let storage = pve_storage::Storage::load(&env.paths)
                    .map_err(|e| ApiError::internal(format!("{e}\n")))?;
                match crate::create::mount_all(&storage, &conf.main, &rootdir) {
                    Ok(mounts) => {
                        for m in mounts {
                            m.keep();
                        }
                    }
                    Err(e) => {
                        eprintln!("mounting container failed");
                        return Err(ApiError::internal(e));
                    }
                }
            }
            Ok(json!(format!("mounted CT {vmid} in '{}'\n", rootdir.display())).into())
        },
    )
    .param("vmid", vmid_schema())
    .returns(Schema::literal(json!({"type": "null"})))
}

fn unmount_method() -> ApiMethod {
    ApiMethod::new(
        "unmount",
        HttpMethod::Post,
        "Unmount the container's filesystem.",
        |env, p| {
            let vmid = p.vmid()?;
            let st = store(env);
            let _lock = st.lock_config(vmid).map_err(ApiError::internal)?;
            st.load_config(vmid, None).map_err(ApiError::internal)?;
            crate::create::unmount_all(&runtime(env).rootdir(vmid)).map_err(ApiError::internal)?;
            remove_lock(&st, vmid, "mounted").map_err(ApiError::internal)?;
            Ok(Value::Null.into())
        },
    )
    .param("vmid", vmid_schema())
    .returns(Schema::literal(json!({"type": "null"})))
}

/// The commands, as (name, method, positional args, prints its text result, task).
pub fn commands() -> Vec<(&'static str, ApiMethod, &'static [&'static str], bool, bool)> {
    vec![
        ("console", console_method(), &["vmid"], false, false),
        ("enter", enter_method(), &["vmid"], false, false),
        ("exec", exec_method(), &["vmid", "extra-args"], false, false),
        ("mount", mount_method(), &["vmid"], true, false),
        (
            "pull",
            pull_method(),
            &["vmid", "path", "destination"],
            false,
            true,
        ),
        (
            "push",
            push_method(),
            &["vmid", "file", "destination"],
            false,
            true,
        ),
        ("unmount", unmount_method(), &["vmid"], false, false),
    ]
}
