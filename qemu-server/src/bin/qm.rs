//! qm: the Proxmox VE virtual machine manager.

use pve_common::api::RpcEnv;
use pve_common::cli::command::run_cli;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = RpcEnv::cli(pve_common::NodePaths::from_env());
    let def = qemu_server::cli::qm_cli_for_args(&env.node, &args);
    std::process::exit(run_cli(&def, "qm", args, env));
}
