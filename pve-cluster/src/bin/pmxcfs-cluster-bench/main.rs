//! `cargo xtask bench cluster`: replicated small-file writes on a 3-node cluster in
//! network namespaces, against a local-mode pmxcfs measured in the same run.
//!
//! - create+write rate of 1 KiB files on node 1 (each write returns once it is
//!   applied on node 1, i.e. totally ordered through corosync), and the rate until
//!   the last file is readable on node 3;
//! - per-write latency from the start of the write on node 1 until node 3 reads the
//!   new contents (p50/p99);
//! - the create+write rate of a local-mode (`-l`) pmxcfs as the baseline;
//! - with `PVE_C_PMXCFS=/path/to/pmxcfs` (upstream's C daemon, built elsewhere) the
//!   same cluster measurements with the C daemon on all three nodes, same run.
//!
//! - the floor under both: a bare CPG client on the same cluster sending ~1 KiB
//!   messages one at a time (and 2, 4, 8 in flight) and timing their delivery
//!   (`cpg_floor`, see `cpg_floor.rs`).
//!
//! Usage: pmxcfs-cluster-bench [--out FILE] [--files N] [--samples N] [--rounds N]
//! (rounds, default 2: ours and the C daemon take turns that often). Needs root,
//! /dev/fuse, corosync and `ip netns`.

mod cpg_floor;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use pve_cluster::testcluster::{host_problem, TestCluster};
use serde_json::json;

const FILE_SIZE: usize = 1024;
/// Between two reads of the file on node 3 while waiting for it (the poller must not
/// eat a core of the two the nodes share).
const POLL_PAUSE: Duration = Duration::from_micros(50);

fn content(tag: &str, i: usize) -> Vec<u8> {
    let mut v = format!("{tag} {i}\n").into_bytes();
    v.resize(FILE_SIZE, b'x');
    v
}

/// Create+write rate of `files` files in `dir`.
/// Writers of the concurrent run.
const WRITERS: usize = 4;

fn create_write_rate(dir: &Path, files: usize) -> Result<f64> {
    let t = Instant::now();
    for i in 0..files {
        fs::write(dir.join(format!("f{i}.cfg")), content("rate", i))?;
    }
    Ok(files as f64 / t.elapsed().as_secs_f64())
}

/// `writers` threads write `files` files in all into `dir` at the same time (as
/// several API workers or CLI calls of one node do); files per second.
fn concurrent_create_write_rate(dir: &Path, files: usize, writers: usize) -> Result<f64> {
    let t = Instant::now();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                s.spawn(move || -> Result<()> {
                    for i in (w..files).step_by(writers) {
                        fs::write(dir.join(format!("c{i}.cfg")), content("conc", i))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| anyhow::anyhow!("writer panicked"))?)
    })?;
    Ok(files as f64 / t.elapsed().as_secs_f64())
}

fn wait_readable(p: &Path, want: &[u8], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if fs::read(p).is_ok_and(|d| d == want) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{} not readable in time", p.display());
        }
        std::thread::sleep(POLL_PAUSE);
    }
}

/// A local-mode pmxcfs, stopped on drop.
struct LocalPmxcfs {
    child: Child,
    base: PathBuf,
}

impl LocalPmxcfs {
    fn start(pmxcfs: &Path, base: &Path) -> Result<LocalPmxcfs> {
        let root = base.join("root");
        fs::create_dir_all(&root)?;
        let child = pve_cluster::benchutil::spawn_local_pmxcfs(pmxcfs, &root)
            .with_context(|| format!("starting {}", pmxcfs.display()))?;
        let d = LocalPmxcfs {
            child,
            base: base.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !d.mnt().join(".version").exists() {
            if Instant::now() > deadline {
                bail!("local pmxcfs did not come up");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(d)
    }

    fn mnt(&self) -> PathBuf {
        self.base.join("root/etc/pve")
    }
}

impl Drop for LocalPmxcfs {
    fn drop(&mut self) {
        pve_cluster::testcluster::kill_wait(self.child.id() as i32, Duration::from_secs(10));
        let _ = self.child.try_wait();
        pve_cluster::daemon::lazy_unmount(&self.mnt());
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The processes whose CPU time a run accounts: the daemon of each node and each
/// node's corosync.
struct Procs {
    daemons: Vec<u32>,
    corosync: Vec<u32>,
}

impl Procs {
    fn snapshot(&self) -> Vec<f64> {
        self.daemons
            .iter()
            .chain(&self.corosync)
            .map(|p| pve_cluster::benchutil::cpu_secs(*p))
            .collect()
    }

    /// CPU microseconds per file between two snapshots: each daemon, and all
    /// corosyncs together.
    fn per_file(&self, before: &[f64], after: &[f64], files: usize) -> serde_json::Value {
        let us = |i: usize| (after[i] - before[i]) * 1e6 / files as f64;
        let mut v = serde_json::Map::new();
        for i in 0..self.daemons.len() {
            v.insert(format!("daemon_node{}", i + 1), json!(us(i).round()));
        }
        let coro: f64 = (self.daemons.len()..before.len()).map(us).sum();
        v.insert("corosync_all_nodes".into(), json!(coro.round()));
        serde_json::Value::Object(v)
    }
}

/// What one cluster run measured.
struct ClusterRates {
    node1_rate: f64,
    replicated_rate: f64,
    concurrent_node1: f64,
    concurrent_replicated: f64,
    /// Sorted, seconds.
    lat: Vec<f64>,
    write_lat: Vec<f64>,
    /// CPU per file of the sequential and the concurrent run.
    cpu_sequential: serde_json::Value,
    cpu_concurrent: serde_json::Value,
}

impl ClusterRates {
    fn p(&self, q: f64) -> f64 {
        percentile(&self.lat, q)
    }

    /// Several rounds of one daemon as one result: the median of each rate,
    /// latencies pooled, the CPU figures of the round with the median rate.
    fn merge(mut rounds: Vec<ClusterRates>) -> ClusterRates {
        let median = |rs: &[ClusterRates], f: fn(&ClusterRates) -> f64| {
            pve_cluster::benchutil::median(rs.iter().map(f).collect())
        };
        let node1_rate = median(&rounds, |r| r.node1_rate);
        let replicated_rate = median(&rounds, |r| r.replicated_rate);
        let concurrent_node1 = median(&rounds, |r| r.concurrent_node1);
        let concurrent_replicated = median(&rounds, |r| r.concurrent_replicated);
        rounds.sort_by(|a, b| a.replicated_rate.total_cmp(&b.replicated_rate));
        let mid = rounds.len() / 2;
        let (cpu_sequential, cpu_concurrent) = (
            rounds[mid].cpu_sequential.clone(),
            rounds[mid].cpu_concurrent.clone(),
        );
        let mut lat: Vec<f64> = rounds.iter().flat_map(|r| r.lat.clone()).collect();
        let mut write_lat: Vec<f64> = rounds.iter().flat_map(|r| r.write_lat.clone()).collect();
        lat.sort_by(f64::total_cmp);
        write_lat.sort_by(f64::total_cmp);
        ClusterRates {
            node1_rate,
            replicated_rate,
            concurrent_node1,
            concurrent_replicated,
            lat,
            write_lat,
            cpu_sequential,
            cpu_concurrent,
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "create_write_per_s_node1": self.node1_rate.round(),
            "create_write_per_s_until_node3": self.replicated_rate.round(),
            "concurrent_writers": WRITERS,
            "concurrent_create_write_per_s_node1": self.concurrent_node1.round(),
            "concurrent_create_write_per_s_until_node3": self.concurrent_replicated.round(),
            "latency_node1_to_node3_ms": {
                "samples": self.lat.len(),
                "p50": ms(self.p(0.5)),
                "p99": ms(self.p(0.99)),
                "max": ms(self.lat[self.lat.len() - 1]),
            },
            "write_call_on_node1_ms": {
                "p50": ms(percentile(&self.write_lat, 0.5)),
                "p99": ms(percentile(&self.write_lat, 0.99)),
            },
            "cpu_us_per_file": {
                "sequential": self.cpu_sequential,
                "concurrent": self.cpu_concurrent,
            },
        })
    }
}

/// Writes on the node mounted at `m1`, reads on the one at `m3`.
/// Files go below `tag` (a new directory).
fn measure_cluster(
    tag: &str,
    m1: &Path,
    m3: &Path,
    files: usize,
    samples: usize,
    procs: &Procs,
) -> Result<ClusterRates> {
    let (m1, m3) = (m1.join(tag), m3.join(tag));
    fs::create_dir(&m1)?;
    for d in ["bench", "lat", "conc"] {
        fs::create_dir(m1.join(d))?;
    }
    fs::write(m1.join("ready"), b"1")?;
    wait_readable(&m3.join("ready"), b"1", Duration::from_secs(20))?;

    // Throughput: node 1 writes; then until node 3 has the last file.
    let cpu0 = procs.snapshot();
    let t = Instant::now();
    let node1_rate = create_write_rate(&m1.join("bench"), files)?;
    let last = files - 1;
    wait_readable(
        &m3.join(format!("bench/f{last}.cfg")),
        &content("rate", last),
        Duration::from_secs(60),
    )?;
    let replicated_rate = files as f64 / t.elapsed().as_secs_f64();
    let cpu1 = procs.snapshot();

    // The same with several writers on node 1 at once, until node 3 has them all.
    let t = Instant::now();
    let concurrent_node1 = concurrent_create_write_rate(&m1.join("conc"), files, WRITERS)?;
    for i in (0..files).rev().take(WRITERS) {
        wait_readable(
            &m3.join(format!("conc/c{i}.cfg")),
            &content("conc", i),
            Duration::from_secs(60),
        )?;
    }
    let concurrent_replicated = files as f64 / t.elapsed().as_secs_f64();
    let cpu2 = procs.snapshot();

    // Latency: one write at a time, timed until node 3 reads it.
    let mut lat = Vec::with_capacity(samples);
    let mut write_lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let data = content("lat", i);
        let rel = format!("lat/l{i}.cfg");
        let t = Instant::now();
        fs::write(m1.join(&rel), &data)?;
        write_lat.push(t.elapsed().as_secs_f64());
        wait_readable(&m3.join(&rel), &data, Duration::from_secs(20))?;
        lat.push(t.elapsed().as_secs_f64());
    }
    lat.sort_by(f64::total_cmp);
    write_lat.sort_by(f64::total_cmp);
    Ok(ClusterRates {
        node1_rate,
        replicated_rate,
        concurrent_node1,
        concurrent_replicated,
        lat,
        write_lat,
        cpu_sequential: procs.per_file(&cpu0, &cpu1, files),
        cpu_concurrent: procs.per_file(&cpu1, &cpu2, files),
    })
}

/// Upstream's C pmxcfs on every node of the test cluster, in place of ours. It
/// hard-codes /etc/pve, /var/lib/pve-cluster, /run and takes the host name as node
/// name, so each runs in the node's network namespace plus private mount and UTS
/// namespaces bound to the node's root; its mount is `/proc/<pid>/root/etc/pve`.
struct CNodes {
    children: Vec<Child>,
}

impl CNodes {
    fn start(c: &TestCluster, bin: &Path) -> Result<CNodes> {
        let mut nodes = CNodes {
            children: Vec::new(),
        };
        for d in ["/etc/pve", "/var/lib/pve-cluster"] {
            fs::create_dir_all(d)?;
        }
        for i in 1..=c.nodes {
            let r = c.root(i);
            fs::create_dir_all(r.join("run/pve-cluster"))?;
            let name = pve_cluster::testcluster::node_name(i);
            fs::write(
                r.join("hosts"),
                format!("127.0.0.1 localhost\n{} {name}\n", c.addr(i)),
            )?;
            let script = format!(
                "hostname {name} && mount --bind {r}/hosts /etc/hosts && \
                 mount --bind {r}/etc/corosync /etc/corosync && \
                 mount --bind {r}/var/lib/pve-cluster /var/lib/pve-cluster && \
                 mount --bind {r}/run /run && exec \"$0\" -f",
                r = r.display()
            );
            let child = Command::new("nsenter")
                .arg(format!("--net=/run/netns/{}", c.netns(i)))
                .args([
                    "unshare",
                    "-m",
                    "-u",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                ])
                .arg(&script)
                .arg(bin)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(r.join("var/log/c-pmxcfs.log"))?)
                .spawn()
                .context("starting the C pmxcfs")?;
            nodes.children.push(child);
        }
        for i in 1..=c.nodes {
            let members = nodes.mnt(i).join(".members");
            let deadline = Instant::now() + Duration::from_secs(30);
            while !fs::read_to_string(&members).is_ok_and(|m| m.contains("\"quorate\": 1")) {
                if Instant::now() > deadline {
                    bail!("the C pmxcfs on node{i} did not become quorate");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(nodes)
    }

    fn mnt(&self, i: usize) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root/etc/pve", self.children[i - 1].id()))
    }

    /// The daemons' pids (each child execs into pmxcfs).
    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for CNodes {
    fn drop(&mut self) {
        for ch in &mut self.children {
            pve_cluster::testcluster::kill_wait(ch.id() as i32, Duration::from_secs(10));
            let _ = ch.try_wait();
        }
    }
}

/// Waits until the daemon behind each mount reports quorum in `.members`.
fn wait_members_quorate(mounts: &[PathBuf]) -> Result<()> {
    for (i, m) in mounts.iter().enumerate() {
        let members = m.join(".members");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !fs::read_to_string(&members).is_ok_and(|m| m.contains("\"quorate\": 1")) {
            if Instant::now() > deadline {
                bail!("pmxcfs on node{} did not become quorate", i + 1);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

struct Down(TestCluster);

impl Drop for Down {
    fn drop(&mut self) {
        self.0.down_quiet();
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: f64) -> f64 {
    (d * 1e5).round() / 100.0
}

/// Message windows of the CPG floor: one in flight (one sequential writer), then
/// several (as several writers would have).
const FLOOR_WINDOWS: [usize; 4] = [1, 2, 4, 8];

/// The bare-CPG floor on cluster `c`: a sender on node 1, receivers on the others.
fn measure_cpg_floor(c: &TestCluster, messages: usize) -> Result<serde_json::Value> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_string_lossy();
    let mut receivers = Vec::new();
    for i in 2..=c.nodes {
        let child = c
            .in_node(i, &exe)
            .args(["--cpg-client", "recv"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting a CPG receiver")?;
        receivers.push((i, child));
    }
    let windows: Vec<String> = FLOOR_WINDOWS.iter().map(|w| w.to_string()).collect();
    let sender = c
        .in_node(1, &exe)
        .args(["--cpg-client", "send", "--members"])
        .arg(c.nodes.to_string())
        .arg("--messages")
        .arg(messages.to_string())
        .arg("--size")
        .arg(FILE_SIZE.to_string())
        .arg("--windows")
        .arg(windows.join(","))
        .stdin(Stdio::null())
        .output()
        .context("running the CPG sender")?;
    let parse = |out: &[u8]| -> Result<serde_json::Value> {
        let text = String::from_utf8_lossy(out);
        let line = text.lines().last().unwrap_or_default();
        serde_json::from_str(line).with_context(|| format!("CPG client printed {text:?}"))
    };
    if !sender.status.success() {
        for (_, mut r) in receivers {
            let _ = r.kill();
            let _ = r.wait();
        }
        bail!(
            "the CPG sender failed: {}",
            String::from_utf8_lossy(&sender.stderr)
        );
    }
    let sent = parse(&sender.stdout)?;
    let mut recv = serde_json::Map::new();
    for (i, r) in receivers {
        let o = r.wait_with_output()?;
        recv.insert(format!("node{i}"), parse(&o.stdout)?);
    }
    let mut phases = Vec::new();
    for (k, p) in sent["phases"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let mut p = p;
        let rate = p["messages_per_s"].as_f64().unwrap_or(0.0);
        // Two ordered messages (CREATE, WRITE) per new file.
        p["implied_create_write_per_s"] = json!((rate / 2.0).round());
        p["delivery_on_node3_ms"] = recv
            .get(&format!("node{}", c.nodes))
            .and_then(|r| r["phases"].get(k))
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        phases.push(p);
    }
    Ok(json!({
        "group": cpg_floor::GROUP,
        "members": c.nodes,
        "message_size": FILE_SIZE,
        "messages_per_phase": messages,
        "phases": phases,
    }))
}

/// `--cpg-client send|recv ...`: one end of the floor measurement (run by
/// [`measure_cpg_floor`] inside a node's network namespace).
fn cpg_client(mut args: impl Iterator<Item = String>) -> Result<()> {
    let role = args.next().context("--cpg-client send|recv")?;
    let mut plan = cpg_floor::Plan {
        members: 3,
        messages: 2000,
        size: FILE_SIZE,
        windows: vec![1],
        gap: Duration::ZERO,
    };
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--members" => plan.members = val()?.parse()?,
            "--messages" => plan.messages = val()?.parse()?,
            "--size" => plan.size = val()?.parse()?,
            "--gap-us" => plan.gap = Duration::from_micros(val()?.parse()?),
            "--windows" => {
                plan.windows = val()?
                    .split(',')
                    .map(|w| w.parse())
                    .collect::<Result<_, _>>()?
            }
            other => bail!("unknown argument {other}"),
        }
    }
    match role.as_str() {
        "send" => cpg_floor::run_sender(&plan),
        "recv" => cpg_floor::run_receiver(),
        other => bail!("unknown CPG client role {other}"),
    }
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--cpg-client") {
        args.next();
        return cpg_client(args);
    }
    let mut out = PathBuf::from("target/bench/cluster.json");
    let mut files = 2000usize;
    let mut samples = 1000usize;
    let mut rounds = 2usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().context("--out FILE")?.into(),
            "--files" => files = args.next().context("--files N")?.parse()?,
            "--samples" => samples = args.next().context("--samples N")?.parse()?,
            "--rounds" => rounds = args.next().context("--rounds N")?.parse()?,
            other => bail!("unknown argument {other}"),
        }
    }
    if files == 0 || samples == 0 || rounds == 0 {
        bail!("--files, --samples and --rounds must be positive");
    }
    if let Some(p) = host_problem() {
        bail!("cannot run a cluster here: {p}");
    }
    let pmxcfs = std::env::current_exe()?.with_file_name("pmxcfs");
    let base = PathBuf::from(format!("/var/tmp/pve-cluster-bench-{}", std::process::id()));

    // Baseline: local mode on the same disk, same binary.
    let local_rate = {
        let local = LocalPmxcfs::start(&pmxcfs, &base.join("local"))?;
        let dir = local.mnt().join("bench");
        fs::create_dir(&dir)?;
        create_write_rate(&dir, files)?
    };

    let c = TestCluster::new("pcb", 250, 3, &base.join("cluster"), &pmxcfs);
    let guard = Down(c.clone());
    c.up()?;
    c.wait_quorate(&[1, 2, 3], 3, Duration::from_secs(30))?;
    wait_members_quorate(&(1..=3).map(|i| c.mnt(i)).collect::<Vec<_>>())?;
    let floor = measure_cpg_floor(&c, files)?;
    let pid_of = |f: &str| -> Vec<u32> {
        (1..=3)
            .filter_map(|i| fs::read_to_string(c.root(i).join(f)).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    };
    let corosync = pid_of("corosync.pid");
    // Ours and (with PVE_C_PMXCFS) the C daemon take turns, `rounds` times, so
    // that a change in the machine's load hits both alike.
    let c_bin = std::env::var_os("PVE_C_PMXCFS");
    let (mut ours_rounds, mut c_rounds) = (Vec::new(), Vec::new());
    let measure = |tag: String, m1: &Path, m3: &Path, daemons: Vec<u32>| {
        let procs = Procs {
            daemons,
            corosync: corosync.clone(),
        };
        measure_cluster(&tag, m1, m3, files, samples, &procs)
    };
    for r in 0..rounds {
        if r > 0 {
            for i in 1..=3 {
                c.start_pmxcfs(i)?;
            }
            wait_members_quorate(&(1..=3).map(|i| c.mnt(i)).collect::<Vec<_>>())?;
        }
        ours_rounds.push(measure(
            format!("ours{r}"),
            &c.mnt(1),
            &c.mnt(3),
            pid_of("pmxcfs.pid"),
        )?);
        if let Some(bin) = &c_bin {
            for i in 1..=3 {
                c.stop_pmxcfs(i);
            }
            let nodes = CNodes::start(&c, Path::new(bin))?;
            c_rounds.push(measure(
                format!("c{r}"),
                &nodes.mnt(1),
                &nodes.mnt(3),
                nodes.pids(),
            )?);
        }
    }
    let per_round = |rs: &[ClusterRates]| {
        rs.iter()
            .map(|r| {
                json!({
                    "create_write_per_s_until_node3": r.replicated_rate.round(),
                    "concurrent_create_write_per_s_until_node3": r.concurrent_replicated.round(),
                })
            })
            .collect::<Vec<_>>()
    };
    let ours_per_round = per_round(&ours_rounds);
    let c_per_round = per_round(&c_rounds);
    let ours = ClusterRates::merge(ours_rounds);
    let upstream = (!c_rounds.is_empty()).then(|| ClusterRates::merge(c_rounds));
    drop(guard);
    let _ = fs::remove_dir_all(&base);

    let ratio = |a: f64, b: f64| (a / b * 1000.0).round() / 1000.0;
    let mut report = json!({
        "nodes": 3,
        "files": files,
        "file_size": FILE_SIZE,
        "local": { "create_write_per_s": local_rate.round() },
        "cpg_floor": floor,
        "rounds": rounds,
        "cluster": ours.json(),
        "ratio_cluster_to_local": {
            "create_write_node1": ratio(ours.node1_rate, local_rate),
            "create_write_until_node3": ratio(ours.replicated_rate, local_rate),
        },
    });
    // How close each daemon comes to what corosync allows: files/s against the
    // floor's messages/s halved, one writer against window 1, WRITERS against
    // window WRITERS.
    let implied = |w: usize| {
        floor["phases"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["window"] == json!(w)))
            .and_then(|p| p["implied_create_write_per_s"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let share = |r: &ClusterRates| {
        json!({
            "create_write_node1": ratio(r.node1_rate, implied(1)),
            "concurrent_create_write_node1": ratio(r.concurrent_node1, implied(WRITERS)),
        })
    };
    report["share_of_cpg_floor"] = json!({ "ours": share(&ours) });
    report["cluster"]["rounds"] = json!(ours_per_round);
    if let Some(u) = &upstream {
        report["share_of_cpg_floor"]["c_pmxcfs"] = share(u);
        report["c_pmxcfs_cluster"] = u.json();
        report["c_pmxcfs_cluster"]["rounds"] = json!(c_per_round);
        report["ratio_ours_to_c_pmxcfs"] = json!({
            "create_write_until_node3": ratio(ours.replicated_rate, u.replicated_rate),
            "concurrent_create_write_until_node3":
                ratio(ours.concurrent_replicated, u.concurrent_replicated),
            "latency_p50": ratio(ours.p(0.5), u.p(0.5)),
            "latency_p99": ratio(ours.p(0.99), u.p(0.99)),
        });
    }
    pve_cluster::benchutil::write_report(&out, &report)?;
    Ok(())
}
