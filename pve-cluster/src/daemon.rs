//! The pmxcfs process: single-instance lock, database, mount, signal-driven shutdown.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fuser::MountOption;
use pve_common::NodePaths;

use crate::apply::{ChangeSink, LocalSink};
use crate::fuse::CfsFuse;
use crate::memdb::Memdb;
use crate::status::Status;

/// Command-line options, as upstream's.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `-f`: stay in the foreground.
    pub foreground: bool,
    /// `-d`: debug logging.
    pub debug: bool,
    /// `-l`: local mode (no corosync).
    pub local: bool,
}

/// How long shutdown waits for the FUSE loop to end before exiting anyway (the
/// kernel aborts the connection when our /dev/fuse descriptor closes).
const SESSION_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The gid of group www-data (33 on Debian).
pub fn www_data_gid() -> u32 {
    let name = CString::new("www-data").expect("no NUL");
    // SAFETY: getgrnam gets a valid NUL-terminated string; the returned record is
    // only read before any other call that could overwrite it.
    let gr = unsafe { libc::getgrnam(name.as_ptr()) };
    if gr.is_null() {
        33
    } else {
        // SAFETY: gr is non-null and points to libc's static group record.
        unsafe { (*gr).gr_gid }
    }
}

fn path_cstring(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).context("path contains NUL")
}

/// Lazily detaches whatever is mounted at `p` (a stale mount of a crashed daemon).
pub fn lazy_unmount(p: &Path) -> bool {
    let Ok(c) = path_cstring(p) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) == 0 }
}

/// Creates `p` with `mode`; missing parents get 0755 whatever the umask, so that the
/// www-data daemons can reach the mount and the IPC socket below a `PVE_ROOT`.
fn mkdir_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut missing = Vec::new();
    let mut cur = p.parent();
    while let Some(dir) = cur {
        if dir.as_os_str().is_empty() || dir.exists() {
            break;
        }
        missing.push(dir.to_path_buf());
        cur = dir.parent();
    }
    for dir in missing.iter().rev() {
        match std::fs::create_dir(dir) {
            Ok(()) => {
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("unable to create directory {}", dir.display()))
            }
        }
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(p)
        .with_context(|| format!("unable to create directory {}", p.display()))
}

/// Takes the single-instance flock (10 tries, 1 s apart, as upstream).
fn single_instance_lock(path: &Path) -> Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("unable to open lock file {}", path.display()))?;
    for _ in 0..10 {
        // SAFETY: f is an open file descriptor for the duration of the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(f);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    bail!("unable to acquire pmxcfs lock: {}", path.display())
}

fn termination_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        set
    }
}

/// Blocks the termination signals in this thread and every thread spawned after.
fn block_signals() {
    let set = termination_signals();
    // SAFETY: set is initialised; a null old-set pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
}

fn wait_for_signal() -> i32 {
    let set = termination_signals();
    let mut sig = 0;
    // SAFETY: set is initialised and sig is a valid out pointer.
    unsafe { libc::sigwait(&set, &mut sig) };
    sig
}

/// Forks into the background; the parent returns only to exit with the child's
/// startup result, reported through a pipe.
fn daemonize(pid_file: &Path) -> Result<Option<File>> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        bail!("pipe failed: {}", std::io::Error::last_os_error());
    }
    // SAFETY: called before any thread is started, so the child is a full copy.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        bail!("fork failed: {}", std::io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: both fds came from pipe() and are owned here exactly once.
        let (mut r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
        drop(w);
        let mut buf = [0u8; 1];
        let ok = matches!(r.read(&mut buf), Ok(1) if buf[0] == b'1');
        if !ok {
            std::process::exit(1);
        }
        if let Some(dir) = pid_file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(pid_file, format!("{pid}\n"));
        std::process::exit(0);
    }
    // SAFETY: as above; the child owns its copies.
    let (r, w) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    drop(r);
    // SAFETY: setsid has no memory-safety preconditions.
    unsafe { libc::setsid() };
    Ok(Some(w))
}

/// Everything the daemon needs to know about this node.
pub struct NodeSetup {
    pub paths: NodePaths,
    pub nodename: String,
    pub gid: u32,
}

/// Runs pmxcfs until SIGTERM/SIGINT/SIGHUP; returns after a clean unmount.
pub fn run(setup: NodeSetup, opts: Options) -> Result<()> {
    let paths = &setup.paths;
    // SAFETY: umask has no preconditions.
    unsafe { libc::umask(0o027) };
    let mountpoint = paths.etc_pve();
    mkdir_mode(&paths.cluster_lib_dir(), 0o750)?;
    let run_dir = paths.run_dir("pve-cluster");
    mkdir_mode(&run_dir, 0o750)?;
    // www-data reaches the IPC socket in there
    let _ = std::os::unix::fs::chown(&run_dir, Some(0), Some(setup.gid));
    let _lock = single_instance_lock(&paths.pmxcfs_lock_file())?;

    let mut ready_pipe = if opts.foreground {
        None
    } else {
        daemonize(&paths.pmxcfs_pid_file())?
    };
    block_signals();

    let new_db = !paths.config_db().exists();
    let memdb = Arc::new(
        Memdb::open(&paths.config_db())
            .with_context(|| format!("memdb_open failed - {}", paths.config_db().display()))?,
    );
    if let Some(secs) = std::env::var("PMXCFS_TEST_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        memdb.set_lock_timeout(secs);
    }
    let host_conf = paths.corosync_dir().join("corosync.conf");
    if new_db && !opts.local {
        if let Ok(data) = std::fs::read(&host_conf) {
            crate::cluster::import_corosync_conf(&memdb, &data)?;
        }
    }
    let status = Arc::new(Status::new(&setup.nodename));
    if let Err(e) = crate::ipc::start(paths, memdb.clone(), status.clone(), setup.gid) {
        eprintln!("pmxcfs: unable to start the IPC socket - {e}");
    }
    status.set_debug(opts.debug);
    let cluster_mode = !opts.local && memdb.getattr("corosync.conf").is_some();
    let _ = std::fs::remove_file(paths.cfs_restart_flag());

    if lazy_unmount(&mountpoint) {
        eprintln!("pmxcfs: cleaned up stale mount at {}", mountpoint.display());
    }
    mkdir_mode(&mountpoint, 0o750)?;
    let (sink, cluster): (Arc<dyn ChangeSink>, _) = if cluster_mode {
        let c = crate::cluster::Cluster::start(memdb.clone(), status.clone(), host_conf);
        (c.sink(), Some(c))
    } else {
        (Arc::new(LocalSink::new(memdb.clone())), None)
    };
    let fs = CfsFuse::new(memdb.clone(), status, sink, setup.gid);
    let fs = if cluster.is_some() {
        fs.with_direct_io()
    } else {
        fs
    };
    let options = [
        MountOption::FSName("pmxcfs".into()),
        MountOption::DefaultPermissions,
        MountOption::AllowOther,
        MountOption::NoSuid,
        MountOption::NoDev,
    ];
    let spin = fs.spin();
    let mut session = fuser::Session::new(fs, &mountpoint, &options)
        .with_context(|| format!("fuse mount of {} failed", mountpoint.display()))?;
    if let Some(s) = &spin {
        use std::os::fd::{AsFd, AsRawFd};
        s.set_fd(session.as_fd().as_raw_fd());
    }
    let (done_tx, done_rx) = mpsc::channel();
    let loop_thread = std::thread::Builder::new()
        .name("fuse".into())
        .spawn(move || {
            let res = session.run();
            let _ = done_tx.send(res);
        })?;

    match ready_pipe.as_mut() {
        Some(w) => {
            let _ = w.write_all(b"1");
        }
        None => {
            let pid_file = paths.pmxcfs_pid_file();
            if let Some(dir) = pid_file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(pid_file, format!("{}\n", std::process::id()));
        }
    }
    drop(ready_pipe);

    let sig = wait_for_signal();
    if opts.debug {
        eprintln!("pmxcfs: got signal {sig}, shutting down");
    }
    if let Some(c) = cluster {
        c.stop();
    }
    shutdown(paths, &mountpoint, &memdb, done_rx, loop_thread);
    Ok(())
}

fn shutdown(
    paths: &NodePaths,
    mountpoint: &Path,
    memdb: &Memdb,
    done: mpsc::Receiver<std::io::Result<()>>,
    loop_thread: std::thread::JoinHandle<()>,
) {
    let _ = File::create(paths.cfs_restart_flag());
    lazy_unmount(mountpoint);
    // Readers holding files open keep the detached mount alive; we stop waiting for
    // them after a while, and exiting closes /dev/fuse, which fails their calls.
    if done.recv_timeout(SESSION_STOP_TIMEOUT).is_ok() {
        let _ = loop_thread.join();
    }
    memdb.close();
    let _ = std::fs::remove_file(paths.pmxcfs_pid_file());
}
