//! The LXC hooks the generated config names (upstream's `lxc-pve-prestart-hook`,
//! `lxc-pve-autodev-hook`, `lxc-pve-poststop-hook`).
//!
//! - pre-start runs in the monitor's private mount namespace (`lxc.monitor.unshare`):
//!   it mounts rootfs and the mount points at `lxc.rootfs.path` (so the mounts exist
//!   only for the container, not on the host), prepares passthrough device nodes on a
//!   small tmpfs and runs the distribution's pre-start setup.
//! - autodev runs in the container's mount namespace before `pivot_root` and binds the
//!   prepared device nodes into its `/dev`.
//! - post-stop unmounts what is left and removes stale veth devices.
//!
//! The node root comes from `$PVE_ROOT`, the node name from `$PVE_NODE_NAME` (both set
//! by [`crate::run::LxcRuntime`] for `lxc-start`).

use std::path::{Path, PathBuf};
use std::process::Command;

use pve_common::paths::NodePaths;
use serde_json::Value;

use crate::store::CtConfigStore;

/// What LXC hands a hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookContext {
    pub vmid: u32,
    /// `LXC_ROOTFS_MOUNT`: where the root is mounted while the container is set up.
    pub rootfs_mount: PathBuf,
    /// `LXC_ROOTFS_PATH`: `lxc.rootfs.path` (`/var/lib/lxc/VMID/rootfs`).
    pub rootfs_path: PathBuf,
    /// `LXC_TARGET` of a post-stop hook: `stop` or `reboot`.
    pub target: Option<String>,
}

/// Upstream's `lxc_hook`: the container name, section and type from the arguments
/// (`lxc.hook.version = 0`) or the environment (`1`); `None` when the call is not for
/// this hook (another section or type, a container not named by a VMID).
pub fn hook_context(
    expected_type: &str,
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<HookContext>, String> {
    let version = env("LXC_HOOK_VERSION").unwrap_or_else(|| "0".into());
    let (name, section, kind) = match version.as_str() {
        "0" => match args {
            [name, section, kind, ..] => (name.clone(), section.clone(), kind.clone()),
            _ => {
                return Err(
                    "missing hook parameters, expected to be called by lxc as hook\n".into(),
                )
            }
        },
        "1" => (
            env("LXC_NAME").ok_or("missing LXC_NAME environment variable\n")?,
            env("LXC_HOOK_SECTION").ok_or("missing LXC_HOOK_SECTION environment variable\n")?,
            env("LXC_HOOK_TYPE").ok_or("missing LXC_HOOK_TYPE environment variable\n")?,
        ),
        v => return Err(format!("lxc.hook.version {v} not supported!\n")),
    };
    let Some(vmid) = name
        .parse::<u32>()
        .ok()
        .filter(|_| name.bytes().all(|b| b.is_ascii_digit()))
    else {
        return Ok(None);
    };
    if section != "lxc" || kind != expected_type {
        return Ok(None);
    }
    let var = |k: &str| env(k).ok_or_else(|| format!("missing {k} env var\n"));
    Ok(Some(HookContext {
        vmid,
        rootfs_mount: var("LXC_ROOTFS_MOUNT")?.into(),
        rootfs_path: var("LXC_ROOTFS_PATH")?.into(),
        target: env("LXC_TARGET"),
    }))
}

/// Runs `hook` for the process's arguments and environment; the exit code for `main`.
pub fn hook_main(expected_type: &str, hook: fn(&HookContext) -> Result<(), String>) -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let result = hook_context(expected_type, &args, &env).and_then(|ctx| match ctx {
        Some(ctx) => hook(&ctx),
        None => Ok(()),
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            report_hook_error(&e);
            1
        }
    }
}

/// A hook's error on stderr and, because LXC logs what a hook prints on stdout (its
/// stderr is lost when `lxc-start` daemonizes), on stdout for the start log.
pub fn report_hook_error(e: &str) {
    let line = e.trim_end();
    eprintln!("{line}");
    println!("{line}");
}

fn paths_and_store() -> (NodePaths, CtConfigStore) {
    let paths = NodePaths::from_env();
    let node = pve_common::api::env::local_node_name();
    let store = CtConfigStore::new(&paths, &node);
    (paths, store)
}

fn lxc_dir(paths: &NodePaths, vmid: u32) -> PathBuf {
    paths.lxc_dir().join(vmid.to_string())
}

/// `/run/lxc/skiplock-VMID`: the start was asked to skip the lock check.
pub fn skiplock_flag(paths: &NodePaths, vmid: u32) -> PathBuf {
    paths.host(&format!("/run/lxc/skiplock-{vmid}"))
}

/// `/run/pve/ct-VMID.warnings`: the pre-start hook's warnings for the start task.
pub fn warnings_file(paths: &NodePaths, vmid: u32) -> PathBuf {
    paths.host(&format!("/run/pve/ct-{vmid}.warnings"))
}

fn is_mounted(path: &Path) -> bool {
    crate::create::is_mounted(path)
}

/// Leftover cgroups keep LXC from starting; remove them (best effort: a cgroup still
/// in use stays). cgroup v2: `lxc/VMID` and `lxc.monitor/VMID` below the root; v1 and
/// hybrid layouts: the same below every controller hierarchy.
fn cleanup_cgroups(vmid: u32) {
    fn rmdir_recursive(path: &Path) {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rmdir_recursive(&e.path());
                }
            }
            let _ = std::fs::remove_dir(path);
        }
    }
    let root = Path::new("/sys/fs/cgroup");
    let mut hierarchies = vec![root.to_path_buf()];
    if !root.join("cgroup.controllers").exists() {
        if let Ok(rd) = std::fs::read_dir(root) {
            hierarchies.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    for h in hierarchies {
        for base in ["lxc", "lxc.monitor"] {
            rmdir_recursive(&h.join(base).join(vmid.to_string()));
        }
    }
}

/// A `devN` entry: the device path and its node attributes.
struct Passthrough {
    path: String,
    mode: u32,
    uid: u64,
    gid: u64,
}

fn passthrough_devices(conf: &crate::CtSection) -> Result<Vec<Passthrough>, String> {
    let format = crate::schema::option_format("dev").unwrap_or_default();
    let mut devs: Vec<(u32, &str)> = conf
        .values
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("dev")?.parse().ok()?, v.as_str())))
        .collect();
    devs.sort();
    let mut out = Vec::new();
    for (idx, text) in devs {
        let d = pve_common::schema::property_string::parse_property_string(&format, text)?;
        let path = d
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("Path is not defined for passthrough device dev{idx}\n"))?;
        let mode = match d.get("mode").and_then(Value::as_str) {
            Some(m) => u32::from_str_radix(m, 8).map_err(|_| format!("invalid mode '{m}'\n"))?,
            None => 0o660,
        };
        let num = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
        out.push(Passthrough {
            path: path.to_string(),
            mode,
            uid: num("uid"),
            gid: num("gid"),
        });
    }
    Ok(out)
}

/// Device nodes of `devN` on a tmpfs at `/var/lib/lxc/VMID/passthrough` (owned by the
/// mapped ids), listed in its `devices` file for the autodev hook.
fn setup_passthrough(
    dir: &Path,
    devs: &[Passthrough],
    idmap: &crate::idmap::IdMap,
) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}\n", dir.display()))?;
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k", "none"])
        .arg(dir))
    .map_err(|e| {
        format!(
            "Could not mount tmpfs for device passthrough at {}: {e}",
            dir.display()
        )
    })?;
    let mut list = String::new();
    for dev in devs {
        let meta = std::fs::metadata(&dev.path)
            .map_err(|_| format!("Could not get mode or device ID of {}\n", dev.path))?;
        let ft = meta.file_type();
        if !ft.is_block_device() && !ft.is_char_device() {
            return Err(format!("{} is not a device\n", dev.path));
        }
        let node = PathBuf::from(format!("{}{}", dir.display(), dev.path));
        if let Some(parent) = node.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("mkdir: {e}\n"))?;
        }
        let c = std::ffi::CString::new(node.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("invalid device path {}\n", dev.path))?;
        // SAFETY: valid path; mode and rdev come from stat of the host device.
        if unsafe { libc::mknod(c.as_ptr(), meta.mode() as libc::mode_t, meta.rdev()) } != 0 {
            return Err(format!(
                "failed to mknod {}: {}\n",
                node.display(),
                std::io::Error::last_os_error()
            ));
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(dev.mode))
            .map_err(|e| format!("failed to chmod {:o} {}: {e}\n", dev.mode, node.display()))?;
        let uid = crate::idmap::map_ct_id_to_host(dev.uid, &idmap.entries, 'u');
        let gid = crate::idmap::map_ct_id_to_host(dev.gid, &idmap.entries, 'g');
        std::os::unix::fs::chown(&node, Some(uid as u32), Some(gid as u32))
            .map_err(|e| format!("failed to chown {uid}:{gid} {}: {e}\n", node.display()))?;
        let rdev = meta.rdev();
        let (major, minor) = (libc::major(rdev), libc::minor(rdev));
        let kind = if ft.is_block_device() { 'b' } else { 'c' };
        list.push_str(&format!("{kind}:{major}:{minor}:{}\n", dev.path));
    }
    if !list.is_empty() {
        std::fs::write(dir.join("devices"), list)
            .map_err(|e| format!("unable to write device list: {e}\n"))?;
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "command '{:?}' failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Detaches, in the monitor's private mount namespace (`lxc.monitor.unshare`), the
/// copies of other containers' mounts (`…/lxc/<vmid>/rootfs` of a `pct mount` or a
/// create in progress, `…/lxc/<vmid>/passthrough`). Where the host's `/` is not a
/// shared mount (no systemd as PID 1) the host's later unmount does not reach such a
/// copy, and it would keep that file system mounted (its ext4 MMP block busy) for as
/// long as this container runs. Never done in the host's namespace.
fn detach_foreign_mounts(own_ctdir: &Path) {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
    if ns("self").is_none() || ns("self") == ns("1") {
        return;
    }
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let own = own_ctdir.to_string_lossy().into_owned();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| foreign_container_mount(p, &own))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            // SAFETY: a valid path; MNT_DETACH only affects this namespace's copy.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// `path` is at or below `…/lxc/<vmid>/rootfs` or `…/passthrough` of a container
/// directory other than `own`.
fn foreign_container_mount(path: &str, own: &str) -> bool {
    let comps: Vec<&str> = path.split('/').collect();
    (0..comps.len().saturating_sub(2)).any(|i| {
        comps[i] == "lxc"
            && !comps[i + 1].is_empty()
            && comps[i + 1].bytes().all(|b| b.is_ascii_digit())
            && (comps[i + 2] == "rootfs" || comps[i + 2] == "passthrough")
            && comps[..i + 2].join("/") != own
    })
}

/// The pre-start hook.
pub fn prestart(ctx: &HookContext) -> Result<(), String> {
    let (paths, store) = paths_and_store();
    let vmid = ctx.vmid;
    let flag = skiplock_flag(&paths, vmid);
    let skiplock = flag.exists();
    if skiplock {
        let _ = std::fs::remove_file(&flag);
    }
    let warn_path = warnings_file(&paths, vmid);
    if let Some(dir) = warn_path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut warnings: Vec<String> = Vec::new();
    if !paths.pve_file(&store.cfs_config_path(vmid, None)).is_file() {
        return Ok(());
    }
    let conf = store.load_config(vmid, None)?;
    let lock = conf.main.get("lock").filter(|l| !l.is_empty());
    if !skiplock && lock != Some("mounted") {
        if let Some(l) = lock {
            return Err(format!("CT is locked ({l})\n"));
        }
    }
    cleanup_cgroups(vmid);
    let storage = pve_storage::Storage::load(&paths).map_err(|e| format!("{e}\n"))?;
    let rootdir = &ctx.rootfs_path;
    let ctdir = lxc_dir(&paths, vmid);
    let _ = std::fs::remove_file(ctdir.join("reboot"));
    let _ = std::fs::remove_file(ctdir.join("devices"));
    let idmap = crate::idmap::section_id_maps(&conf.main)?;

    detach_foreign_mounts(&ctdir);
    // `pct mount` mounts are copied into this namespace; unmount them here
    if is_mounted(rootdir) {
        let _ = Command::new("umount")
            .arg("--recursive")
            .arg(rootdir)
            .output();
    }
    for m in crate::create::mount_all(&storage, &conf.main, rootdir)? {
        m.keep();
    }

    // (upstream mounts the tmpfs also without devices; nothing reads it then)
    let devs = passthrough_devices(&conf.main)?;
    if !devs.is_empty() {
        setup_passthrough(&ctdir.join("passthrough"), &devs, &idmap)?;
    }

    let mut setup = crate::setup::Setup::new(&conf.main, rootdir, Default::default())?;
    setup.pre_start_hook()?;
    warnings.append(&mut setup.warnings);

    let text: String = warnings
        .iter()
        .map(|w| format!("{}\n", w.trim_end()))
        .collect();
    std::fs::write(&warn_path, text)
        .map_err(|e| format!("Failed to open {}: {e}\n", warn_path.display()))?;
    Ok(())
}

/// The autodev hook: the passthrough device nodes prepared by pre-start, bound into the
/// container's `/dev`.
pub fn autodev(ctx: &HookContext) -> Result<(), String> {
    let (paths, _) = paths_and_store();
    let pass = lxc_dir(&paths, ctx.vmid).join("passthrough");
    let list = match std::fs::read_to_string(pass.join("devices")) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("failed to open device list: {e}\n")),
    };
    for line in list.lines() {
        let mut f = line.splitn(4, ':');
        let (Some(kind), Some(major), Some(minor), Some(path)) =
            (f.next(), f.next(), f.next(), f.next())
        else {
            eprintln!("invalid {} entry: {line}", pass.join("devices").display());
            continue;
        };
        let Some(dev) = path.strip_prefix("/dev/").filter(|_| {
            (kind == "b" || kind == "c")
                && major.parse::<u32>().is_ok()
                && minor.parse::<u32>().is_ok()
        }) else {
            eprintln!("invalid {} entry: {line}", pass.join("devices").display());
            continue;
        };
        if dev.contains("..") {
            eprintln!("skipping illegal device node entry: {dev}");
            continue;
        }
        if major == "10" && minor == "237" {
            eprintln!("skipping illegal device entry (loop-control) for: {dev}");
            continue;
        }
        let target = ctx.rootfs_mount.join("dev").join(dev);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("mkdir: {e}\n"))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&target)
            .map_err(|e| format!("Could not mknod {}: {e}\n", target.display()))?;
        run(Command::new("mount")
            .arg("--bind")
            .arg(pass.join("dev").join(dev))
            .arg(&target))
        .map_err(|_| format!("Bind mount of device {dev} into container failed\n"))?;
    }
    Ok(())
}

/// The post-stop hook: unmount the volumes, drop the passthrough tmpfs and veth devices
/// LXC may have left behind.
pub fn poststop(ctx: &HookContext) -> Result<(), String> {
    let (paths, store) = paths_and_store();
    let vmid = ctx.vmid;
    if !paths.pve_file(&store.cfs_config_path(vmid, None)).is_file() {
        return Ok(());
    }
    let conf = store.load_config(vmid, None)?;
    if is_mounted(&ctx.rootfs_path) {
        run(Command::new("umount")
            .arg("--recursive")
            .arg("--")
            .arg(&ctx.rootfs_path))?;
    }
    let pass = lxc_dir(&paths, vmid).join("passthrough");
    if is_mounted(&pass) {
        run(Command::new("umount").arg(&pass))?;
    }
    for key in conf.main.values.keys() {
        let Some(idx) = key
            .strip_prefix("net")
            .filter(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let veth = format!("veth{vmid}i{idx}");
        if Path::new("/sys/class/net").join(&veth).exists() {
            let _ = Command::new("ip").args(["link", "delete", &veth]).output();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn foreign_mounts() {
        let own = "/var/lib/lxc/100";
        assert!(foreign_container_mount("/var/lib/lxc/101/rootfs", own));
        assert!(foreign_container_mount(
            "/var/lib/lxc/101/rootfs/mnt/data",
            own
        ));
        assert!(foreign_container_mount("/var/lib/lxc/101/passthrough", own));
        assert!(foreign_container_mount(
            "/tmp/t1/var/lib/lxc/100/rootfs",
            own
        ));
        assert!(!foreign_container_mount("/var/lib/lxc/100/rootfs", own));
        assert!(!foreign_container_mount("/var/lib/lxc/100/rootfs/mnt", own));
        assert!(!foreign_container_mount("/var/lib/lxc/101", own));
        assert!(!foreign_container_mount("/var/lib/lxc/web/rootfs", own));
        assert!(!foreign_container_mount("/mnt/pve/nfs", own));
    }

    #[test]
    fn hook_arguments() {
        let vars = [
            ("LXC_ROOTFS_MOUNT", "/usr/lib/x86_64-linux-gnu/lxc/rootfs"),
            ("LXC_ROOTFS_PATH", "/var/lib/lxc/100/rootfs"),
        ];
        let env = env_of(&vars);
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ctx = hook_context("pre-start", &args(&["100", "lxc", "pre-start"]), &env)
            .unwrap()
            .unwrap();
        assert_eq!(ctx.vmid, 100);
        assert_eq!(ctx.rootfs_path, PathBuf::from("/var/lib/lxc/100/rootfs"));
        assert_eq!(
            hook_context("pre-start", &args(&["100", "lxc", "post-stop"]), &env).unwrap(),
            None
        );
        assert_eq!(
            hook_context("pre-start", &args(&["web", "lxc", "pre-start"]), &env).unwrap(),
            None
        );
        assert_eq!(
            hook_context("pre-start", &args(&["100"]), &env).unwrap_err(),
            "missing hook parameters, expected to be called by lxc as hook\n"
        );
        let v1 = env_of(&[
            ("LXC_HOOK_VERSION", "1"),
            ("LXC_NAME", "101"),
            ("LXC_HOOK_SECTION", "lxc"),
            ("LXC_HOOK_TYPE", "post-stop"),
            ("LXC_ROOTFS_MOUNT", "/m"),
            ("LXC_ROOTFS_PATH", "/p"),
            ("LXC_TARGET", "reboot"),
        ]);
        let ctx = hook_context("post-stop", &[], &v1).unwrap().unwrap();
        assert_eq!((ctx.vmid, ctx.target.as_deref()), (101, Some("reboot")));
        let v1 = env_of(&[("LXC_HOOK_VERSION", "1"), ("LXC_NAME", "101")]);
        assert_eq!(
            hook_context("post-stop", &[], &v1).unwrap_err(),
            "missing LXC_HOOK_SECTION environment variable\n"
        );
        let missing = env_of(&[]);
        assert_eq!(
            hook_context("autodev", &args(&["100", "lxc", "autodev"]), &missing).unwrap_err(),
            "missing LXC_ROOTFS_MOUNT env var\n"
        );
    }
}
