//! `cargo xtask …`: developer and CI automation.
//!
//! - `deps`: install the Debian packages the project needs (idempotent)
//! - `test`: deps, fmt check, clippy, every test, conformance
//! - `run`: deps, build, and the dev node
//! - `conformance [--corpus DIR] [COMPONENT[/SUITE] …]`: the data-driven suites
//! - `apidump [--pretty]`: the API tree as upstream's apidoc JSON
//! - `fuzz [TARGET …] [--seconds N]`: the cargo-fuzz targets
//! - `bench pmxcfs`: pmxcfs small-file rates vs. a plain directory (target/bench/pmxcfs.json)
//! - `bench cluster`: replicated writes and latency on 3 netns nodes vs. local mode
//!   (target/bench/cluster.json)
//! - `bench api`: API requests/s and latency via pveproxy and pvedaemon
//!   (target/bench/api.json)
//! - `bench lxc`: `pct start` vs. `lxc-start` by hand, `pct list` over 1,000 configs
//!   (target/bench/lxc.json)
//! - `cluster up [--nodes N] | status | down`: N nodes in network namespaces, each with
//!   its own corosync, pmxcfs and PVE_ROOT (runs the built `pve-testcluster`)
//! - `ct-template [--root DIR] [--debian] [--force]`: container templates from Debian
//!   packages into `local:vztmpl/` of the dev node
//!
//! xtask depends on no workspace crate, so it builds before any -dev package is there.

mod bench_api;
mod ct_template;
mod deps;
mod devnode;
mod guest_image;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

const USAGE: &str = "usage: cargo xtask <command>

commands:
  deps                      install the Debian packages the project needs
  test                      deps, fmt check, clippy -D warnings, all tests, conformance
  run [--root DIR] [--port N] [--daemon-port N] [--detach]
                            build and start the dev node (data under target/devnode)
  stop [--root DIR]         stop the dev node and everything it started
  conformance [--corpus DIR] [-v] [COMPONENT[/SUITE] ...]
                            run the conformance suites against ../shared/conformance
  apidump [--pretty]        print the API tree in upstream's apidoc JSON shape
  fuzz [TARGET ...] [--seconds N]
                            run the cargo-fuzz targets (default: all, 60 s each)
  bench pmxcfs [--files N] [--rounds N]
                            pmxcfs vs. plain directory (and C pmxcfs) rates, JSON in
                            target/bench/pmxcfs.json
  bench cluster [--files N] [--samples N] [--rounds N]
                            3-node replicated writes (rate, p50/p99 node1->node3) vs. local
                            mode, JSON in target/bench/cluster.json
  guest-image [--force]     build target/guest-image/guest.img (Debian kernel + busybox,
                            powers off on the ACPI power button) from Debian packages
  bench api [--seconds N]   API throughput/latency via pveproxy and pvedaemon, target/bench/api.json
  bench lxc [--samples N]   pct start vs. lxc-start by hand, pct list of 1,000 CTs, target/bench/lxc.json
  cluster up [--nodes N]    N nodes (default 3) in network namespaces: corosync + pmxcfs each
  cluster status            `pvecm status` of every node
  cluster down              stop every process, unmount, delete the namespaces
  ct-template [--root DIR] [--debian] [--force]
                            container templates from Debian packages (busybox; Debian
                            with debootstrap) into the dev node's local:vztmpl/
";

fn main() {
    if let Err(e) = run() {
        eprintln!("xtask: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().unwrap_or_default();
    let rest: Vec<String> = args.collect();
    match cmd.as_str() {
        "deps" => deps::install(),
        "test" => test(&rest),
        "run" => devnode::run(&rest),
        "guest-image" => guest_image::run(&rest),
        "stop" => devnode::stop(&rest),
        "conformance" => conformance(&rest),
        "apidump" => devtool("apidump", &rest),
        "fuzz" => fuzz(&rest),
        "bench" => bench(&rest),
        "cluster" => cluster(&rest),
        "ct-template" => ct_template::run(&rest),
        "" | "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n{USAGE}"),
    }
}

/// The workspace root (the parent of xtask/).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The conformance corpus: `$PVE_CONFORMANCE_DIR`, else `../shared/conformance`.
fn corpus_dir() -> PathBuf {
    match std::env::var_os("PVE_CONFORMANCE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("../shared/conformance"),
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command, failing with its name when it does not succeed.
pub fn status(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("+ {shown}");
    let st = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !st.success() {
        bail!("{shown} failed ({st})");
    }
    Ok(())
}

fn test(args: &[String]) -> Result<()> {
    if let Some(a) = args.first() {
        bail!("'test' takes no arguments (got '{a}')");
    }
    deps::install()?;
    // the real-QEMU tests boot it (made from Debian packages, cached under target/)
    guest_image::run(&[])?;
    // the real-LXC tests create containers from it (target/ct-templates/)
    ct_template::busybox_for_tests()?;
    status(cargo().args(["fmt", "--all", "--", "--check"]))?;
    status(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    status(
        cargo()
            .args(["test", "--workspace"])
            .env("PVE_CONFORMANCE_DIR", corpus_dir()),
    )?;
    conformance(&[])?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}

fn conformance(args: &[String]) -> Result<()> {
    devtool("conformance", args)
}

/// Runs a subcommand of pve-manager's `pve-devtool` binary.
fn devtool(cmd: &str, args: &[String]) -> Result<()> {
    status(
        cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "pve-manager",
                "--bin",
                "pve-devtool",
                "--",
                cmd,
            ])
            .args(args)
            .env("PVE_CONFORMANCE_DIR", corpus_dir()),
    )
}

/// The fuzz targets in fuzz/fuzz_targets (their file stems).
fn fuzz_targets() -> Result<Vec<String>> {
    let dir = workspace_root().join("fuzz/fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "rs").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    Ok(names)
}

fn fuzz(args: &[String]) -> Result<()> {
    let mut seconds = 60u32;
    let mut targets = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it.next().context("--seconds needs a number")?.parse()?;
            }
            t => targets.push(t.to_string()),
        }
    }
    if targets.is_empty() {
        targets = fuzz_targets()?;
    }
    let has_fuzz = Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_fuzz {
        status(Command::new("cargo").args(["install", "--locked", "cargo-fuzz"]))?;
    }
    let fuzz_dir = workspace_root().join("fuzz");
    for t in &targets {
        let corpus = fuzz_dir.join("corpus").join(t);
        std::fs::create_dir_all(&corpus)?;
        let seeds = fuzz_dir.join("seeds").join(t);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&fuzz_dir)
            .args(["+nightly", "fuzz", "run", t])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // The fuzz crate keeps its own target dir: its instrumented build must not
            // invalidate the workspace's.
            .env("CARGO_TARGET_DIR", fuzz_target_dir());
        status(&mut cmd)?;
    }
    Ok(())
}

fn fuzz_target_dir() -> PathBuf {
    std::env::var_os("PVE_FUZZ_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/pve-fuzz-target"))
}

/// `cluster up|status|down`: builds pve-cluster's binaries and runs `pve-testcluster`.
fn cluster(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("up" | "status" | "down") => {}
        _ => bail!("usage: cargo xtask cluster up [--nodes N] | status | down"),
    }
    status(cargo().args(["build", "-q", "-p", "pve-cluster", "--bins"]))?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "-q",
        "-p",
        "pve-cluster",
        "--bin",
        "pve-testcluster",
        "--",
    ])
    .args(args);
    status(&mut cmd)
}

/// `bench pmxcfs|cluster|api`: builds the release binaries and runs `pmxcfs-bench`
/// (root, /dev/fuse), `pmxcfs-cluster-bench` (also corosync and network namespaces) or
/// the API load test ([`bench_api`]).
/// `bench qemu`: VM start to QMP `running` against the same QEMU line started by hand,
/// plus `qm showcmd` and `qm list` with 1,000 configs (`showcmd_ms`, `qm_list_1000_ms`).
fn bench_qemu(args: &[String]) -> Result<()> {
    let out = workspace_root().join("target/bench/qemu.json");
    // `qm showcmd` and `qm list` are timed too: the `qm` binary beside the bench's
    status(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "qemu-server",
        "--bin",
        "qm",
    ]))?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-q",
        "-p",
        "qemu-server",
        "--bin",
        "qemu-start-bench",
        "--",
    ])
    .arg("--out")
    .arg(&out)
    .args(args);
    status(&mut cmd)
}

/// `bench lxc`: `pct start` to running against `lxc-start` of the generated config by
/// hand, and `pct list` over 1,000 configs (target/bench/lxc.json).
fn bench_lxc(args: &[String]) -> Result<()> {
    let out = workspace_root().join("target/bench/lxc.json");
    // the bench runs the `pct` binary beside it
    status(cargo().args(["build", "--release", "-q", "-p", "pve-container", "--bins"]))?;
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-q",
        "-p",
        "pve-container",
        "--bin",
        "lxc-start-bench",
        "--",
    ])
    .arg("--out")
    .arg(&out)
    .args(args);
    status(&mut cmd)
}

fn bench(args: &[String]) -> Result<()> {
    let (bin, json) = match args.first().map(String::as_str) {
        Some("pmxcfs") => ("pmxcfs-bench", "pmxcfs.json"),
        Some("cluster") => ("pmxcfs-cluster-bench", "cluster.json"),
        Some("api") => return bench_api::run(&args[1..]),
        Some("qemu") => return bench_qemu(&args[1..]),
        Some("lxc") => return bench_lxc(&args[1..]),
        _ => bail!(
            "usage: cargo xtask bench pmxcfs [--files N] [--rounds N] | cluster [--files N] [--samples N] [--rounds N] | api [--seconds N] | qemu [--samples N] | lxc [--samples N] [--template FILE]"
        ),
    };
    status(cargo().args(["build", "--release", "-p", "pve-cluster", "--bins"]))?;
    let out = workspace_root().join("target/bench").join(json);
    let mut cmd = cargo();
    cmd.args([
        "run",
        "--release",
        "-q",
        "-p",
        "pve-cluster",
        "--bin",
        bin,
        "--",
    ])
    .arg("--out")
    .arg(&out)
    .args(&args[1..]);
    status(&mut cmd)
}
