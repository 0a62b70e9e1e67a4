//! `cargo xtask bench pmxcfs`: small-file operations per second through a pmxcfs
//! mount and on a plain directory of the same disk, measured in the same run.
//!
//! Usage: pmxcfs-bench [--out FILE] [--files N] [--rounds N]. Needs root and /dev/fuse.
//!
//! Each round runs every operation on every target (pmxcfs, the plain directory and,
//! if given, the C daemon) in a fresh directory that is removed afterwards; the
//! targets take turns in a rotating order. The reported rates are the medians over
//! the rounds, the same statistic for every target: a single 0.2 s phase on a shared
//! machine is easily halved by another process, for any target. Resident memory is
//! read after the first round (one round's files in the tree) and after the last.
//!
//! Every FUSE round trip wakes the daemon and then the caller; where the scheduler
//! puts the two decides its cost (on a virtual machine a wake-up of an idle CPU is
//! several times dearer than a switch on the same one), so the same run's rates of a
//! daemon can differ by 3x from one round to the next. The rounds therefore run
//! three times: left to the scheduler (the headline figures), and with the measuring
//! thread on CPU 0 and every daemon thread pinned to the same CPU, or to CPU 1
//! (`pinned`; with fewer than two CPUs only the first). The plain directory runs with
//! the same pinning of the measuring thread.
//!
//! With `PVE_C_PMXCFS=/path/to/pmxcfs` (upstream's C daemon, built elsewhere; it is
//! not part of this project) the same operations are also measured on it, in local
//! mode, in the same run. It hard-codes /etc/pve, /var/lib/pve-cluster and /run, so it
//! runs in private mount and UTS namespaces whose paths are bound to a scratch root;
//! its mount is reached as `/proc/<pid>/root/etc/pve`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

const FILE_SIZE: usize = 1024;
const READ_ROUNDS: usize = 5;
const READDIR_ENTRIES: usize = 100;
const READDIR_LOOPS: usize = 2000;

#[derive(Clone, Copy)]
struct Rates {
    create_write: f64,
    /// The first read of each file after it was written (nothing cached yet).
    read_first: f64,
    /// Reads of unchanged files (what the kernel may serve from its caches).
    read: f64,
    readdir: f64,
    rename: f64,
}

fn per_sec(count: usize, f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    f()?;
    Ok(count as f64 / t.elapsed().as_secs_f64())
}

fn measure(dir: &Path, files: usize) -> Result<Rates> {
    let data = vec![b'x'; FILE_SIZE];
    let name = |i: usize| dir.join(format!("f{i}.cfg"));
    let create_write = per_sec(files, || {
        for i in 0..files {
            fs::write(name(i), &data)?;
        }
        Ok(())
    })?;
    let read_round = || {
        for i in 0..files {
            if fs::read(name(i))?.len() != FILE_SIZE {
                bail!("short read");
            }
        }
        Ok(())
    };
    let read_first = per_sec(files, read_round)?;
    let read = per_sec(files * READ_ROUNDS, || {
        for _ in 0..READ_ROUNDS {
            for i in 0..files {
                if fs::read(name(i))?.len() != FILE_SIZE {
                    bail!("short read");
                }
            }
        }
        Ok(())
    })?;
    let small = dir.join("readdir");
    fs::create_dir(&small)?;
    for i in 0..READDIR_ENTRIES {
        fs::write(small.join(format!("e{i}")), b"x")?;
    }
    let readdir = per_sec(READDIR_LOOPS, || {
        for _ in 0..READDIR_LOOPS {
            if fs::read_dir(&small)?.count() != READDIR_ENTRIES {
                bail!("readdir count");
            }
        }
        Ok(())
    })?;
    let rename = per_sec(files, || {
        for i in 0..files {
            fs::rename(name(i), dir.join(format!("r{i}.cfg")))?;
        }
        Ok(())
    })?;
    Ok(Rates {
        create_write,
        read_first,
        read,
        readdir,
        rename,
    })
}

/// The median of each rate over the rounds.
fn median(samples: &[Rates]) -> Rates {
    let med =
        |f: fn(&Rates) -> f64| pve_cluster::benchutil::median(samples.iter().map(f).collect());
    Rates {
        create_write: med(|r| r.create_write),
        read_first: med(|r| r.read_first),
        read: med(|r| r.read),
        readdir: med(|r| r.readdir),
        rename: med(|r| r.rename),
    }
}

/// Where the measuring thread and the daemons run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Wherever the scheduler puts them.
    Free,
    /// Measuring thread and daemon threads on CPU 0.
    SameCpu,
    /// Measuring thread on CPU 0, daemon threads on CPU 1.
    OtherCpu,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Free => "free",
            Placement::SameCpu => "same_cpu",
            Placement::OtherCpu => "other_cpu",
        }
    }

    /// (CPUs of the measuring thread, CPUs of the daemons); `None`: all.
    fn cpus(self) -> (Option<usize>, Option<usize>) {
        match self {
            Placement::Free => (None, None),
            Placement::SameCpu => (Some(0), Some(0)),
            Placement::OtherCpu => (Some(0), Some(1)),
        }
    }
}

/// Binds thread `tid` (0: the calling one) to `cpu`, or lets it run anywhere.
fn set_affinity(tid: i32, cpu: Option<usize>) -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the CPU_* helpers stay
    // within it and sched_setaffinity reads it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let online = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        for c in 0..online {
            if cpu.is_none_or(|want| want == c) {
                libc::CPU_SET(c, &mut set);
            }
        }
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            bail!("sched_setaffinity: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Binds every thread of process `pid`.
fn set_process_affinity(pid: u32, cpu: Option<usize>) -> Result<()> {
    for task in fs::read_dir(format!("/proc/{pid}/task"))? {
        if let Some(tid) = task?.file_name().to_str().and_then(|t| t.parse().ok()) {
            set_affinity(tid, cpu)?;
        }
    }
    Ok(())
}

/// One file system under test.
struct Target {
    /// Where the rounds' directories are made.
    dir: PathBuf,
    /// The daemon serving it (resident memory, pinning).
    pid: Option<u32>,
    /// Per placement (in [`PLACEMENTS`] order), one sample per round.
    samples: Vec<Vec<Rates>>,
    rss: Option<u64>,
    /// After the last round.
    rss_end: Option<u64>,
}

const PLACEMENTS: [Placement; 3] = [Placement::Free, Placement::SameCpu, Placement::OtherCpu];

impl Target {
    fn new(dir: PathBuf, pid: Option<u32>) -> Target {
        Target {
            dir,
            pid,
            samples: vec![Vec::new(); PLACEMENTS.len()],
            rss: None,
            rss_end: None,
        }
    }

    fn round(&mut self, placement: usize, round: usize, files: usize) -> Result<()> {
        let dir = self.dir.join(format!("round{placement}-{round}"));
        fs::create_dir(&dir)?;
        settle();
        self.samples[placement].push(measure(&dir, files)?);
        self.rss_end = self.pid.and_then(rss_kib);
        if self.rss.is_none() {
            self.rss = self.rss_end;
        }
        fs::remove_dir_all(&dir)?;
        Ok(())
    }
}

/// Lets the previous phase's writes reach the disk before the next phase starts: the
/// targets share one file system, and a daemon's checkpoint (ours runs one every
/// 0.5 s) or dirty pages flushed during another target's phase would slow that target
/// (concurrent fsyncs cut plain-directory creates here from 28k/s to 10k/s).
fn settle() {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::thread::sleep(std::time::Duration::from_secs(1));
    // SAFETY: as above.
    unsafe { libc::sync() };
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Daemon {
    child: Child,
    mnt: PathBuf,
}

impl Daemon {
    /// Waits until the daemon `what` (already started as `child`) serves `mnt`.
    fn up(child: Child, mnt: &Path, what: &str) -> Result<Daemon> {
        let daemon = Daemon {
            child,
            mnt: mnt.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !mnt.join(".version").exists() {
            if Instant::now() > deadline {
                bail!("{what} did not come up");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        pve_cluster::daemon::lazy_unmount(&self.mnt);
    }
}

/// Upstream's C pmxcfs in local mode under `root`, in its own mount namespace.
fn start_c_pmxcfs(bin: &Path, root: &Path) -> Result<(Daemon, PathBuf)> {
    for d in [
        "etc/pve",
        "etc/corosync",
        "var/lib/pve-cluster",
        "run/pve-cluster",
    ] {
        fs::create_dir_all(root.join(d))?;
    }
    // Mount points on the host side; empty directories, created if missing.
    for d in ["/etc/pve", "/var/lib/pve-cluster"] {
        fs::create_dir_all(d)?;
    }
    // It wants its node name to resolve to a non-loopback address.
    fs::write(
        root.join("hosts"),
        "127.0.0.1 localhost\n192.0.2.1 cbench\n",
    )?;
    let r = root.display();
    let script = format!(
        "hostname cbench && mount --bind {r}/hosts /etc/hosts && \
         mount --bind {r}/etc/corosync /etc/corosync && \
         mount --bind {r}/var/lib/pve-cluster /var/lib/pve-cluster && \
         mount --bind {r}/run /run && exec \"$0\" -f -l"
    );
    let child = Command::new("unshare")
        .args(["-m", "-u", "--propagation", "private", "sh", "-c", &script])
        .arg(bin)
        .stdin(Stdio::null())
        .spawn()
        .context("starting the C pmxcfs")?;
    let mnt = PathBuf::from(format!("/proc/{}/root/etc/pve", child.id()));
    Ok((Daemon::up(child, &mnt, "the C pmxcfs")?, mnt))
}

fn main() -> Result<()> {
    let mut out = PathBuf::from("target/bench/pmxcfs.json");
    let mut files = 2000usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().context("--out FILE")?.into(),
            "--files" => files = args.next().context("--files N")?.parse()?,
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !Path::new("/dev/fuse").exists() {
        bail!("needs root and /dev/fuse");
    }
    let exe = std::env::current_exe()?;
    let pmxcfs = exe.with_file_name("pmxcfs");
    let base = std::env::temp_dir().join(format!("pmxcfs-bench-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let root = base.join("root");
    // The same depth below `base` as the mount (root/etc/pve), so that both paths
    // take the same number of lookups.
    let plain = base.join("plain/etc/pve");
    fs::create_dir_all(&root)?;
    fs::create_dir_all(&plain)?;
    let mnt = root.join("etc/pve");

    let child = pve_cluster::benchutil::spawn_local_pmxcfs(&pmxcfs, &root)
        .with_context(|| format!("starting {}", pmxcfs.display()))?;
    let daemon = Daemon::up(child, &mnt, "pmxcfs")?;
    let c_daemon = match std::env::var_os("PVE_C_PMXCFS") {
        Some(bin) => Some(start_c_pmxcfs(Path::new(&bin), &base.join("c-root"))?),
        None => None,
    };
    let mut targets = vec![
        Target::new(mnt.join("bench"), Some(daemon.child.id())),
        Target::new(plain.join("bench"), None),
    ];
    if let Some((d, c_mnt)) = &c_daemon {
        targets.push(Target::new(c_mnt.join("bench"), Some(d.child.id())));
    }
    for t in &targets {
        fs::create_dir(&t.dir)?;
    }
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let placements = if cpus >= 2 { PLACEMENTS.len() } else { 1 };
    for (p, placement) in PLACEMENTS.iter().enumerate().take(placements) {
        let (me, daemons) = placement.cpus();
        set_affinity(0, me)?;
        for t in &targets {
            if let Some(pid) = t.pid {
                set_process_affinity(pid, daemons)?;
            }
        }
        for round in 0..rounds {
            let n = targets.len();
            for k in 0..n {
                targets[(round + k) % n].round(p, round, files)?;
            }
        }
    }
    set_affinity(0, None)?;
    drop(c_daemon);
    drop(daemon);
    let _ = fs::remove_dir_all(&base);

    let rates = |r: &Rates| {
        json!({
            "create_write_per_s": r.create_write.round(),
            "read_first_per_s": r.read_first.round(),
            "read_per_s": r.read.round(),
            "readdir_per_s": r.readdir.round(),
            "rename_per_s": r.rename.round(),
        })
    };
    let samples = |t: &Target, p: usize| {
        let col = |f: fn(&Rates) -> f64| {
            t.samples[p]
                .iter()
                .map(|r| f(r).round())
                .collect::<Vec<_>>()
        };
        json!({
            "create_write_per_s": col(|r| r.create_write),
            "read_first_per_s": col(|r| r.read_first),
            "read_per_s": col(|r| r.read),
            "readdir_per_s": col(|r| r.readdir),
            "rename_per_s": col(|r| r.rename),
        })
    };
    let ratio = |a: f64, b: f64| (a / b * 1000.0).round() / 1000.0;
    let ratios = |a: &Rates, b: &Rates| {
        json!({
            "create_write": ratio(a.create_write, b.create_write),
            "read_first": ratio(a.read_first, b.read_first),
            "read": ratio(a.read, b.read),
            "readdir": ratio(a.readdir, b.readdir),
            "rename": ratio(a.rename, b.rename),
        })
    };
    // Figures of one placement: rates, ratios, samples.
    let section = |p: usize| {
        let cfs = median(&targets[0].samples[p]);
        let pln = median(&targets[1].samples[p]);
        let mut v = json!({
            "pmxcfs": rates(&cfs),
            "plain_dir": rates(&pln),
            "ratio_pmxcfs_to_plain": ratios(&cfs, &pln),
            "samples": {
                "pmxcfs": samples(&targets[0], p),
                "plain_dir": samples(&targets[1], p),
            },
        });
        if let Some(t) = targets.get(2) {
            let c = median(&t.samples[p]);
            v["c_pmxcfs"] = rates(&c);
            v["ratio_pmxcfs_to_c_pmxcfs"] = ratios(&cfs, &c);
            v["samples"]["c_pmxcfs"] = samples(t, p);
        }
        v
    };
    let mut report = json!({
        "files": files,
        "file_size": FILE_SIZE,
        "read_rounds": READ_ROUNDS,
        "readdir_entries": READDIR_ENTRIES,
        "rounds": rounds,
        "statistic": "median over rounds",
        "placement": "free",
        "pmxcfs_rss_kib": targets[0].rss,
        "pmxcfs_rss_kib_after_all_rounds": targets[0].rss_end,
    });
    if let (Some(r), Some(f)) = (report.as_object_mut(), section(0).as_object()) {
        r.extend(f.clone());
    }
    if let Some(t) = targets.get(2) {
        report["c_pmxcfs_rss_kib"] = json!(t.rss);
        report["c_pmxcfs_rss_kib_after_all_rounds"] = json!(t.rss_end);
    }
    let pinned: serde_json::Map<String, serde_json::Value> = (1..placements)
        .map(|p| (PLACEMENTS[p].name().to_string(), section(p)))
        .collect();
    report["pinned"] = serde_json::Value::Object(pinned);
    pve_cluster::benchutil::write_report(&out, &report)?;
    Ok(())
}
