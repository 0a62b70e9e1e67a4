//! Test harness: a temp PVE_ROOT with the real pmxcfs binary mounted on it.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NODE: &str = "pve1";

/// Why real FUSE tests cannot run here, if they cannot.
fn host_problem() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is missing".into());
    }
    None
}

/// `true` when the test may run; prints `SKIP: …` otherwise (a failure when
/// PVE_TEST_REQUIRE_HOST=1).
pub fn host_ready() -> bool {
    match host_problem() {
        None => true,
        Some(reason) => {
            if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
                panic!("host feature required but missing: {reason}");
            }
            println!("SKIP: {reason}");
            false
        }
    }
}

pub fn is_mounted(p: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let p = p.to_string_lossy();
    info.lines()
        .any(|l| l.split(' ').nth(4).is_some_and(|m| m == p))
}

fn lazy_unmount(p: &Path) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill on the pid of a child we started and have not reaped.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// One temp root with (at most) one pmxcfs process.
pub struct Node {
    pub root: PathBuf,
    child: Option<Child>,
    pub env: Vec<(String, String)>,
}

impl Node {
    pub fn new(name: &str) -> Node {
        let root = std::env::temp_dir().join(format!(
            "pmxcfs-test-{name}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Node {
            root,
            child: None,
            env: Vec::new(),
        }
    }

    /// A node named `name` running with `env`, or `None` (the test is skipped)
    /// when the host lacks what these tests need.
    pub fn started(name: &str, env: &[(&str, &str)]) -> Option<Node> {
        if !host_ready() {
            return None;
        }
        let mut n = Node::new(name);
        n.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        n.start();
        Some(n)
    }

    pub fn mnt(&self) -> PathBuf {
        self.root.join("etc/pve")
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt().join(rel)
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("var/lib/pve-cluster/config.db")
    }

    pub fn paths(&self) -> pve_common::NodePaths {
        pve_common::NodePaths::new(&self.root)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pmxcfs"));
        cmd.args(["-f", "-l"])
            .env("PVE_ROOT", &self.root)
            .env("PVE_NODE_NAME", NODE)
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.child = Some(cmd.spawn().expect("start pmxcfs"));
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.p(".version").exists() {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("pmxcfs exited early: {st}");
            }
            assert!(Instant::now() < deadline, "pmxcfs did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn child(&self) -> &Child {
        self.child.as_ref().expect("running")
    }

    /// Waits for the process to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM; asserts a clean exit and that nothing stays mounted.
    pub fn stop(&mut self) {
        signal(self.child(), libc::SIGTERM);
        let st = self
            .wait_exit(Duration::from_secs(20))
            .expect("pmxcfs hangs on SIGTERM");
        assert!(st.success(), "pmxcfs exit status {st}");
        assert!(!is_mounted(&self.mnt()), "still mounted after SIGTERM");
    }

    /// SIGKILL, as in a crash: the mount stays behind (stale).
    pub fn kill(&mut self) {
        signal(self.child(), libc::SIGKILL);
        self.wait_exit(Duration::from_secs(20)).expect("SIGKILL");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mnt = self.mnt();
        for _ in 0..3 {
            if !is_mounted(&mnt) {
                break;
            }
            lazy_unmount(&mnt);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn errno_of(r: std::io::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

/// `utime(path, 0, mtime)`.
pub fn set_mtime(path: &Path, mtime: i64) -> std::io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let t = libc::utimbuf {
        actime: 0,
        modtime: mtime,
    };
    // SAFETY: valid path and utimbuf.
    if unsafe { libc::utime(c.as_ptr(), &t) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The corpus root: $PVE_CONFORMANCE_DIR or ../shared/conformance from the workspace.
pub fn conformance_dir() -> PathBuf {
    match std::env::var_os("PVE_CONFORMANCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
    }
}
