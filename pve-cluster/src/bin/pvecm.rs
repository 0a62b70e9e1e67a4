//! pvecm: Proxmox VE cluster manager (create, status, nodes, expected, delnode, add).
//!
//! `pvecm add HOST [--fingerprint FP] [--linkN ADDR]... [--nodeid N] [--votes N] [--force]`
//! joins through the API of HOST as upstream (root@pam's password from the terminal,
//! or from standard input when that is not one). `--local-root DIR` joins through the
//! root directory of a running node on this machine instead (tests). Either way
//! corosync and pmxcfs are then (re)started by the caller: there is no systemd here.

use pve_cluster::pvecm;

const USAGE: &str = "USAGE: pvecm <COMMAND> [ARGS] [OPTIONS]\n\n       pvecm create <clustername> [--link0 <addr>]\n       pvecm delnode <node>\n       pvecm expected <expected>\n       pvecm nodes\n       pvecm status\n       pvecm add <hostname> [--fingerprint <string>] [--link[n] <addr>] [--nodeid <integer>] [--votes <integer>] [--force <boolean>]\n       pvecm add <hostname> --local-root <dir> [--link0 <addr>]";

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
            (Some(host), None) => add_via_api(&paths, &node, host, &args),
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

fn is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// A line from the terminal without echo, or from standard input when it is not one.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    use std::io::BufRead;
    let tty = is_tty(0);
    let mut saved = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios on success (checked); it is only used then.
    let have = tty && unsafe { libc::tcgetattr(0, saved.as_mut_ptr()) } == 0;
    if tty {
        eprint!("{prompt}");
    }
    if have {
        // SAFETY: `saved` was initialised by tcgetattr above.
        let mut t = unsafe { saved.assume_init() };
        t.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for fd 0.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
    let mut line = String::new();
    let res = std::io::stdin().lock().read_line(&mut line);
    if have {
        // SAFETY: restoring the settings tcgetattr returned.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, saved.as_ptr()) };
        eprintln!();
    }
    res?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn add_via_api(
    paths: &pve_common::NodePaths,
    node: &str,
    host: &str,
    args: &[String],
) -> anyhow::Result<()> {
    if args.iter().any(|a| a == "--use_ssh") {
        anyhow::bail!("pvecm add: --use_ssh is not supported, join through the API");
    }
    let port: u16 = std::env::var("PVE_JOIN_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8006);
    let fingerprint = match option(args, "--fingerprint") {
        Some(fp) => fp.clone(),
        None => {
            let fp = pve_cluster::join::peer_fingerprint(host, port)?;
            if !is_tty(0) {
                anyhow::bail!("unable to verify the fingerprint of '{host}' ({fp}) without a terminal; pass --fingerprint");
            }
            eprintln!("The authenticity of host '{host}' can't be established.\nX509 SHA256 key fingerprint is {fp}.");
            let answer = read_secret("Are you sure you want to continue connecting (yes/no)? ")?;
            if answer != "yes" {
                anyhow::bail!("Certificate fingerprint verification failed.");
            }
            fp
        }
    };
    let password = read_secret(&format!(
        "Please enter superuser (root) password for '{host}': "
    ))?;
    let links: Vec<(u8, String)> = (0..8u8)
        .filter_map(|n| option(args, &format!("--link{n}")).map(|v| (n, v.clone())))
        .collect();
    let local_ip = std::env::var("PVE_NODE_IP")
        .ok()
        .filter(|ip| !ip.is_empty())
        .map(Ok)
        .unwrap_or_else(|| pve_cluster::cfs::remote_node_ip(paths, node).map(|ip| ip.to_string()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let req = pve_cluster::join::JoinRequest {
        host,
        port,
        fingerprint: &fingerprint,
        password: &password,
        node,
        links,
        local_ip: &local_ip,
        nodeid: option(args, "--nodeid").and_then(|v| v.parse().ok()),
        votes: option(args, "--votes").and_then(|v| v.parse().ok()),
        force: option(args, "--force").is_some_and(|v| v == "1" || v == "yes" || v == "true"),
    };
    pve_cluster::join::join(paths, &req)
}
