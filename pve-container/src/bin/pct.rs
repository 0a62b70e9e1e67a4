//! pct: the Proxmox VE container tool.

use pve_common::api::RpcEnv;
use pve_common::cli::command::run_cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = RpcEnv::cli(pve_common::NodePaths::from_env());
    let def = pve_container::cli::pct_cli_for(&env.node);
    std::process::exit(run_cli(&def, "pct", args, env));
}
