//! pvesh: shell interface to the Proxmox VE API.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = pve_common::api::RpcEnv::cli(pve_common::NodePaths::from_env());
    std::process::exit(pve_manager::pvesh::main(args, env));
}
