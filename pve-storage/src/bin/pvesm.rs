//! pvesm: the Proxmox VE storage manager.

use pve_common::api::RpcEnv;
use pve_common::cli::command::run_cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = RpcEnv::cli(pve_common::NodePaths::from_env());
    let def = pve_storage::cli::pvesm_cli();
    std::process::exit(run_cli(&def, "pvesm", args, env));
}
