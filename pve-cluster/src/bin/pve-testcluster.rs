//! pve-testcluster: N nodes in network namespaces on this machine (behind
//! `cargo xtask cluster up|status|down`).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use pve_cluster::testcluster::{node_name, TestCluster};

const BASE: &str = "/var/tmp/pve-testcluster";
const NODES_FILE: &str = "/var/tmp/pve-testcluster.nodes";

fn cluster(nodes: usize) -> Result<TestCluster> {
    let me = std::env::current_exe()?;
    let pmxcfs = me.with_file_name("pmxcfs");
    if !pmxcfs.exists() {
        bail!("{} not found (build pve-cluster first)", pmxcfs.display());
    }
    Ok(TestCluster::new(
        "pvec",
        0,
        nodes,
        &PathBuf::from(BASE),
        &pmxcfs,
    ))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nodes = args
        .iter()
        .position(|a| a == "--nodes")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse::<usize>().context("--nodes needs a number"))
        .transpose()?;
    let saved = std::fs::read_to_string(NODES_FILE)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    match args.first().map(String::as_str) {
        Some("up") => {
            let n = nodes.unwrap_or(3);
            if !(1..=16).contains(&n) {
                bail!("--nodes must be between 1 and 16");
            }
            if let Some(p) = pve_cluster::testcluster::host_problem() {
                bail!("cannot run a cluster here: {p}");
            }
            let c = cluster(n)?;
            std::fs::write(NODES_FILE, format!("{n}\n"))?;
            if let Err(e) = c.up() {
                c.down_quiet();
                return Err(e);
            }
            let all: Vec<usize> = (1..=n).collect();
            c.wait_quorate(&all, n, std::time::Duration::from_secs(30))?;
            for i in 1..=n {
                println!(
                    "{}: {} netns {} PVE_ROOT={}",
                    node_name(i),
                    c.addr(i),
                    c.netns(i),
                    c.root(i).display()
                );
            }
        }
        Some("status") => {
            let n = saved.context("no cluster is up")?;
            let c = cluster(n)?;
            let pvecm = std::env::current_exe()?.with_file_name("pvecm");
            for i in 1..=n {
                println!("=== {} ===", node_name(i));
                let out = c
                    .in_node(i, &pvecm.to_string_lossy())
                    .arg("status")
                    .env("PVE_ROOT", c.root(i))
                    .env("PVE_NODE_NAME", node_name(i))
                    .output()?;
                print!("{}", String::from_utf8_lossy(&out.stdout));
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Some("down") => {
            let c = cluster(saved.unwrap_or(16))?;
            c.down_quiet();
            let _ = std::fs::remove_file(NODES_FILE);
        }
        _ => bail!("usage: pve-testcluster up [--nodes N] | status | down"),
    }
    Ok(())
}
