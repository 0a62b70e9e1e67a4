//! Where a VM's runtime files live and whether it runs on this node (upstream's
//! `PVE::QemuServer::Helpers`): the pid file, the QMP sockets and the running check.
//!
//! A VM counts as running when its pid file names a live process whose command line
//! carries `-pidfile` with exactly that pid file — a recycled pid of some other process
//! does not count.

use std::path::PathBuf;

use pve_common::paths::NodePaths;

/// `/run/qemu-server` (under `PVE_ROOT` when set).
pub fn run_dir(paths: &NodePaths) -> PathBuf {
    paths.qemu_run_dir()
}

/// `/run/qemu-server/VMID.pid`.
pub fn pidfile_name(paths: &NodePaths, vmid: u32) -> PathBuf {
    run_dir(paths).join(format!("{vmid}.pid"))
}

/// `/run/qemu-server/VMID.qmp` (the QMP socket qemu-server talks to).
pub fn qmp_socket(paths: &NodePaths, vmid: u32) -> PathBuf {
    run_dir(paths).join(format!("{vmid}.qmp"))
}

/// `/run/qemu-server/VMID.qga` (the guest agent socket).
pub fn qga_socket(paths: &NodePaths, vmid: u32) -> PathBuf {
    run_dir(paths).join(format!("{vmid}.qga"))
}

/// `/run/qemu-server/VMID.vnc`.
pub fn vnc_socket(paths: &NodePaths, vmid: u32) -> PathBuf {
    run_dir(paths).join(format!("{vmid}.vnc"))
}

/// The `-pidfile` value of a process's command line, if it has one.
fn cmdline_pidfile(pid: i32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = raw.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a));
    while let Some(arg) = args.next() {
        // QEMU accepts both `-pidfile` and `--pidfile`.
        if arg == "-pidfile" || arg == "--pidfile" {
            return args.next().map(|v| v.into_owned());
        }
    }
    None
}

/// Whether the process is alive and not a zombie.
fn process_running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised comm, which may itself contain spaces.
        Ok(stat) => match stat.rfind(')') {
            Some(end) => !matches!(stat[end + 1..].trim_start().chars().next(), Some('Z' | 'X')),
            None => false,
        },
        Err(_) => false,
    }
}

/// The pid of VM `vmid` when it runs on this node (upstream's `check_running` without the
/// config existence check).
pub fn vm_running_locally(paths: &NodePaths, vmid: u32) -> Option<i32> {
    let pidfile = pidfile_name(paths, vmid);
    let content = std::fs::read_to_string(&pidfile).ok()?;
    let pid: i32 = content.trim_end_matches('\n').parse().ok()?;
    if pid <= 0 {
        return None;
    }
    let named = cmdline_pidfile(pid)?;
    if std::path::Path::new(&named) != pidfile {
        return None;
    }
    process_running(pid).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_the_root() {
        let paths = NodePaths::new("/tmp/x");
        assert_eq!(
            pidfile_name(&paths, 100),
            PathBuf::from("/tmp/x/run/qemu-server/100.pid")
        );
        assert_eq!(
            qmp_socket(&paths, 100),
            PathBuf::from("/tmp/x/run/qemu-server/100.qmp")
        );
    }

    #[test]
    fn running_check_needs_matching_pidfile_argument() {
        let dir = std::env::temp_dir().join(format!("qs-helpers-{}", std::process::id()));
        let paths = NodePaths::new(&dir);
        std::fs::create_dir_all(run_dir(&paths)).unwrap();
        // No pid file.
        assert_eq!(vm_running_locally(&paths, 7), None);
        // Our own pid is alive, but its command line has no -pidfile: not a VM.
        std::fs::write(pidfile_name(&paths, 7), format!("{}\n", std::process::id())).unwrap();
        assert_eq!(vm_running_locally(&paths, 7), None);
        // A process started with the right -pidfile counts while it lives.
        let pf = pidfile_name(&paths, 8);
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30; true", "-pidfile"])
            .arg(&pf)
            .spawn()
            .unwrap();
        std::fs::write(&pf, format!("{}\n", child.id())).unwrap();
        // spawn() may return before the child's exec shows in /proc: wait for it.
        let pid = child.id() as i32;
        for _ in 0..200 {
            if cmdline_pidfile(pid).is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(vm_running_locally(&paths, 8), Some(pid));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(vm_running_locally(&paths, 8), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
