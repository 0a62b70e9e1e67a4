//! pmxcfs: the Proxmox cluster file system daemon (`-f` foreground, `-d` debug, `-l` local).

use pve_cluster::daemon::{run, www_data_gid, NodeSetup, Options};

fn usage() -> ! {
    eprintln!("Usage: pmxcfs [-d|--debug] [-f|--foreground] [-l|--local]");
    std::process::exit(1);
}

fn main() {
    let mut opts = Options::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "-d" | "--debug" => opts.debug = true,
            "-f" | "--foreground" => opts.foreground = true,
            "-l" | "--local" => opts.local = true,
            "-h" | "--help" => usage(),
            s if s.starts_with('-') && !s.starts_with("--") && s.len() > 2 => {
                for c in s[1..].chars() {
                    match c {
                        'd' => opts.debug = true,
                        'f' => opts.foreground = true,
                        'l' => opts.local = true,
                        _ => usage(),
                    }
                }
            }
            _ => usage(),
        }
    }
    let setup = NodeSetup {
        paths: pve_common::NodePaths::from_env(),
        nodename: pve_common::api::env::local_node_name(),
        gid: www_data_gid(),
    };
    if let Err(e) = run(setup, opts) {
        eprintln!("pmxcfs: {e:#}");
        std::process::exit(255);
    }
}
