//! pvecm: Proxmox VE cluster manager (create, status, nodes, expected, delnode, add).
//!
//! `pvecm add HOST` joins through the API of HOST upstream; until that endpoint
//! exists, `--local-root DIR` joins through the root directory of a running node on
//! this machine (tests), and corosync and pmxcfs are then started by the caller.

use pve_cluster::pvecm;

const USAGE: &str = "USAGE: pvecm <COMMAND> [ARGS] [OPTIONS]\n\n       pvecm create <clustername> [--link0 <addr>]\n       pvecm delnode <node>\n       pvecm expected <expected>\n       pvecm nodes\n       pvecm status\n       pvecm add <hostname> --local-root <dir> [--link0 <addr>]";

fn option<'a>(args: &'a [String], name: &str) -> Option<&'a String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
}

/// `--link0 [address=]ADDR`, else PVE_NODE_IP.
fn link0(args: &[String]) -> Option<String> {
    option(args, "--link0")
        .map(|a| a.trim_start_matches("address=").to_string())
        .or_else(|| std::env::var("PVE_NODE_IP").ok())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let paths = pve_common::NodePaths::from_env();
    let node = pve_common::api::env::local_node_name();
    let res = match args.first().map(String::as_str) {
        Some("status") => pvecm::status(&paths).map(|s| print!("{s}")),
        Some("nodes") => pvecm::nodes(&paths).map(|s| print!("{s}")),
        Some("expected") => match args.get(1).and_then(|v| v.parse().ok()) {
            Some(n) => pvecm::expected(n),
            None => Err(anyhow::anyhow!(
                "400 not enough arguments\npvecm expected <expected>"
            )),
        },
        Some("create") => match args.get(1) {
            Some(name) => {
                let addr = link0(&args).unwrap_or_else(|| node.clone());
                pvecm::create(&paths, name, &node, &addr)
            }
            None => Err(anyhow::anyhow!(
                "400 not enough arguments\npvecm create <clustername>"
            )),
        },
        Some("delnode") => match args.get(1) {
            Some(n) => pvecm::delnode(&paths, n),
            None => Err(anyhow::anyhow!(
                "400 not enough arguments\npvecm delnode <node>"
            )),
        },
        Some("add") => match (args.get(1), option(&args, "--local-root")) {
            (Some(_host), Some(root)) => {
                let existing = pve_common::NodePaths::new(root);
                let addr = link0(&args).unwrap_or_else(|| node.clone());
                pvecm::join_local(&paths, &existing, &node, &addr).map(|_| ())
            }
            (Some(_), None) => Err(anyhow::anyhow!(
                "pvecm add: joining through the API of another node is not available yet (use --local-root DIR of a node on this machine)"
            )),
            (None, _) => Err(anyhow::anyhow!(
                "400 not enough arguments\npvecm add <hostname>"
            )),
        },
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(255);
        }
    };
    if let Err(e) = res {
        eprintln!("{e:#}");
        std::process::exit(255);
    }
}
