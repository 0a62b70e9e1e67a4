//! `pvecm`: cluster create/status/nodes/expected/delnode, as upstream's command
//! prints them (status and nodes wrap `corosync-quorumtool` like upstream does).

use std::process::Command;

use anyhow::{bail, Context, Result};
use pve_common::NodePaths;

use crate::cluster::config_version;

fn quorumtool(args: &[&str]) -> Result<String> {
    let out = Command::new("corosync-quorumtool")
        .args(args)
        .output()
        .context("running corosync-quorumtool")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if text.is_empty() && !out.status.success() {
        bail!(
            "corosync-quorumtool failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(text)
}

/// The cluster's corosync.conf: the /etc/pve copy, else the host one.
fn read_conf(paths: &NodePaths) -> Result<String> {
    let pve = paths.pve_file("corosync.conf");
    let host = paths.corosync_dir().join("corosync.conf");
    std::fs::read_to_string(&pve)
        .or_else(|_| std::fs::read_to_string(&host))
        .context("Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?")
}

fn conf_value(conf: &str, key: &str) -> Option<String> {
    conf.lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix(key)?.trim_start().strip_prefix(':')?;
        Some(rest.trim().to_string())
    })
}

pub fn status(paths: &NodePaths) -> Result<String> {
    let conf = read_conf(paths)?;
    let mut s = String::from("Cluster information\n-------------------\n");
    s += &format!(
        "Name:             {}\n",
        conf_value(&conf, "cluster_name").unwrap_or_default()
    );
    s += &format!("Config Version:   {}\n", config_version(&conf).unwrap_or(0));
    s += &format!(
        "Transport:        {}\n",
        conf_value(&conf, "transport").unwrap_or_else(|| "knet".into())
    );
    s += &format!(
        "Secure auth:      {}\n\n",
        conf_value(&conf, "secauth").unwrap_or_else(|| "on".into())
    );
    s += &quorumtool(&["-siH"])?;
    Ok(s)
}

pub fn nodes(paths: &NodePaths) -> Result<String> {
    read_conf(paths)?;
    let mut s = String::from("\nMembership information\n----------------------\n");
    let list = quorumtool(&["-l"])?;
    // corosync-quorumtool -l prints its own title block; keep only the table.
    let table: Vec<&str> = list
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("Nodeid"))
        .collect();
    s += &table.join("\n");
    s += "\n";
    Ok(s)
}

pub fn expected(votes: u32) -> Result<()> {
    quorumtool(&["-e", &votes.to_string()])?;
    Ok(())
}

/// A corosync.conf for a new one-node cluster, in upstream's layout.
pub fn new_cluster_conf(name: &str, node: &str, addr: &str) -> String {
    format!(
        "logging {{\n  debug: off\n  to_syslog: yes\n}}\n\nnodelist {{\n  node {{\n    name: {node}\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: {addr}\n  }}\n}}\n\nquorum {{\n  provider: corosync_votequorum\n}}\n\ntotem {{\n  cluster_name: {name}\n  config_version: 1\n  interface {{\n    linknumber: 0\n  }}\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}}\n"
    )
}

fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub fn create(paths: &NodePaths, name: &str, node: &str, addr: &str) -> Result<()> {
    if !valid_cluster_name(name) {
        bail!("400 Parameter verification failed.\nclustername: invalid format - value does not look like a valid cluster name");
    }
    let authkey = paths.corosync_dir().join("authkey");
    let host = paths.corosync_dir().join("corosync.conf");
    if host.exists() || paths.pve_file("corosync.conf").exists() {
        bail!("cluster config '/etc/pve/corosync.conf' already exists");
    }
    std::fs::create_dir_all(paths.corosync_dir())?;
    let mut key = vec![0u8; 256];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut key)?;
    std::fs::write(&authkey, &key)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&authkey, std::fs::Permissions::from_mode(0o400))?;
    let conf = new_cluster_conf(name, node, addr);
    std::fs::write(&host, &conf)?;
    if paths.pve_file(".version").exists() {
        std::fs::write(paths.pve_file("corosync.conf"), &conf)
            .context("writing /etc/pve/corosync.conf")?;
    }
    println!("Writing corosync key to /etc/corosync/authkey.");
    println!("Writing corosync config to /etc/pve/corosync.conf");
    Ok(())
}

/// Removes a node block from a corosync.conf text and bumps config_version.
pub fn remove_node(conf: &str, node: &str) -> Result<String> {
    let lines: Vec<&str> = conf.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut found = false;
    while i < lines.len() {
        if lines[i].trim() == "node {" {
            let end = (i..lines.len())
                .find(|&j| lines[j].trim() == "}")
                .unwrap_or(lines.len() - 1);
            let block = &lines[i..=end];
            if block.iter().any(|l| {
                let t = l.trim();
                t == format!("name: {node}") || t == format!("ring0_addr: {node}")
            }) {
                found = true;
                i = end + 1;
                continue;
            }
        }
        out.push(lines[i].to_string());
        i += 1;
    }
    if !found {
        bail!("Node/IP: {node} is not a known host of the cluster.");
    }
    let v = config_version(conf).unwrap_or(0);
    let text = out.join("\n") + "\n";
    Ok(text.replacen(
        &format!("config_version: {v}"),
        &format!("config_version: {}", v + 1),
        1,
    ))
}

/// Adds a node block (the lowest free node id) to a corosync.conf text and bumps
/// config_version; returns the new text and the node id.
pub fn add_node(conf: &str, node: &str, addr: &str) -> Result<(String, u32)> {
    add_node_with(conf, node, &[(0, addr.to_string())], None, 1)
}

/// [`add_node`] with a chosen node id and vote count (upstream's `addnode`).
pub fn add_node_with(
    conf: &str,
    node: &str,
    links: &[(u8, String)],
    nodeid: Option<u32>,
    votes: u32,
) -> Result<(String, u32)> {
    let addr = links.first().map(|(_, a)| a.as_str()).unwrap_or_default();
    let mut ids = std::collections::BTreeSet::new();
    let mut nodelist_end = None;
    let mut in_nodelist = false;
    let mut depth = 0i32;
    for (i, l) in conf.lines().enumerate() {
        let t = l.trim();
        if depth == 0 && t == "nodelist {" {
            in_nodelist = true;
        }
        if in_nodelist {
            if let Some(v) = t.strip_prefix("nodeid:") {
                ids.insert(v.trim().parse::<u32>().unwrap_or(0));
            }
            let addr_taken = links.iter().any(|(n, a)| t == format!("ring{n}_addr: {a}"));
            if t == format!("name: {node}") || addr_taken {
                bail!("unable to add node: node name or address '{node}/{addr}' already used in the cluster");
            }
        }
        depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
        if in_nodelist && depth == 0 {
            nodelist_end = Some(i);
            in_nodelist = false;
        }
    }
    let end = nodelist_end.context("corosync.conf has no nodelist")?;
    let id = match nodeid {
        Some(id) if ids.contains(&id) => bail!("Node ID {id} already used"),
        Some(id) => id,
        None => (1..).find(|i| !ids.contains(i)).expect("a free id"),
    };
    let mut lines: Vec<String> = conf.lines().map(str::to_string).collect();
    let mut block =
        format!("  node {{\n    name: {node}\n    nodeid: {id}\n    quorum_votes: {votes}\n");
    let mut sorted = links.to_vec();
    sorted.sort();
    for (n, a) in sorted {
        block.push_str(&format!("    ring{n}_addr: {a}\n"));
    }
    block.push_str("  }");
    lines.insert(end, block);
    let v = config_version(conf).context("corosync.conf has no config_version")?;
    let text = lines.join("\n") + "\n";
    let text = text.replacen(
        &format!("config_version: {v}"),
        &format!("config_version: {}", v + 1),
        1,
    );
    Ok((text, id))
}

/// Whether this node's services are systemd units (the real root on a booted
/// system): then `pvecm add` stops and starts them as upstream does. A node under
/// `PVE_ROOT` (tests, the dev node) starts its daemons itself.
fn services_under_systemd(paths: &NodePaths) -> bool {
    paths.root() == std::path::Path::new("/")
        && std::path::Path::new("/run/systemd/system").exists()
}

fn systemctl(args: &[&str], errmsg: &str) -> Result<()> {
    let st = std::process::Command::new("systemctl")
        .args(args)
        .status()
        .with_context(|| errmsg.to_string())?;
    if !st.success() {
        bail!("{errmsg}: systemctl {} failed", args.join(" "));
    }
    Ok(())
}

/// The joining node's side of `pvecm add` once the cluster accepted it, as upstream's
/// `finish_join`: the cluster's corosync config and authkey go to this node's
/// /etc/corosync and its old config.db goes, so that it takes the cluster's data on
/// its first sync. Under systemd pve-cluster is stopped first and corosync and
/// pve-cluster are started after, waiting for quorum, then pvedaemon and pveproxy are
/// reloaded; otherwise starting corosync and pmxcfs is left to the caller.
pub fn finish_join(paths: &NodePaths, conf: &str, authkey: &[u8]) -> Result<()> {
    std::fs::create_dir_all(paths.corosync_dir())?;
    let key_path = paths.corosync_dir().join("authkey");
    println!("Writing corosync key to /etc/corosync/authkey");
    std::fs::write(&key_path, authkey)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o400))?;
    println!("Writing corosync config to /etc/pve/corosync.conf");
    std::fs::write(paths.corosync_dir().join("corosync.conf"), conf)?;
    let systemd = services_under_systemd(paths);
    if systemd {
        println!("stopping pve-cluster service");
        systemctl(&["stop", "pve-cluster"], "can't stop pve-cluster service")?;
    }
    let db = paths.config_db();
    for suffix in ["", "-wal", "-shm"] {
        let mut p = db.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", db.display()))
            }
            _ => {}
        }
    }
    if !systemd {
        println!("no systemd here: start corosync and pmxcfs on this node now");
        return Ok(());
    }
    systemctl(
        &["start", "corosync", "pve-cluster"],
        "starting pve-cluster failed",
    )?;
    let members = paths.pve_file(".members");
    let quorate = || std::fs::read_to_string(&members).is_ok_and(|m| m.contains("\"quorate\": 1"));
    if !quorate() {
        use std::io::Write;
        print!("waiting for quorum...");
        let _ = std::io::stdout().flush();
        while !quorate() {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        println!("OK");
    }
    println!("generated new node certificate, restart pveproxy and pvedaemon services");
    let _ = systemctl(
        &["reload-or-restart", "pvedaemon", "pveproxy"],
        "restarting pvedaemon and pveproxy failed",
    );
    Ok(())
}

/// The addresses configured on this host's interfaces.
fn local_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we walk read-only and free once below.
    if unsafe { libc::getifaddrs(&mut ifa) } != 0 {
        return out;
    }
    let mut cur = ifa;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let entry = unsafe { &*cur };
        if !entry.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr of the family it names.
            let family = unsafe { (*entry.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
                out.push(std::net::IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sin6 = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in6) };
                out.push(std::net::IpAddr::from(sin6.sin6_addr.s6_addr));
            }
        }
        cur = entry.ifa_next;
    }
    // SAFETY: the list came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(ifa) };
    out
}

/// Upstream's pre-join checks, in its words: no corosync key or cluster config yet,
/// no guests, corosync not running, and the node's address and every link address
/// configured on a local interface. With `force` the findings are warnings.
pub fn assert_joinable(
    paths: &NodePaths,
    local_addr: &str,
    links: &[(u8, String)],
    force: bool,
) -> Result<()> {
    if !services_under_systemd(paths) && paths.pve_file(".version").exists() {
        // Nothing would stop it before its database goes.
        bail!("pmxcfs is running on this node; stop it before joining");
    }
    let mut errors = String::new();
    if paths.corosync_dir().join("authkey").is_file() {
        errors.push_str("* authentication key '/etc/corosync/authkey' already exists\n");
    }
    if paths.pve_file("corosync.conf").is_file()
        || paths.corosync_dir().join("corosync.conf").is_file()
    {
        errors.push_str("* cluster config '/etc/pve/corosync.conf' already exists\n");
    }
    if let Ok(vmlist) = std::fs::read_to_string(paths.pve_file(".vmlist")) {
        let has_guests = serde_json::from_str::<serde_json::Value>(&vmlist)
            .ok()
            .and_then(|v| v["ids"].as_object().map(|ids| !ids.is_empty()))
            .unwrap_or(false);
        if has_guests {
            errors.push_str("* this host already contains virtual guests\n");
        }
    }
    let corosync_up = std::process::Command::new("corosync-quorumtool")
        .arg("-l")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if corosync_up {
        errors.push_str("* corosync is already running, is this node already in a cluster?!\n");
    }
    let configured = local_addresses();
    let mut check_ip = |addr: &str, logid: &str| {
        let ip = match addr.parse::<std::net::IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                use std::net::ToSocketAddrs;
                match (addr, 0).to_socket_addrs().ok().and_then(|mut a| a.next()) {
                    Some(a) => a.ip(),
                    None => {
                        errors.push_str(&format!(
                            "* {logid}: cannot use '{addr}': hostname lookup '{addr}' failed\n\n"
                        ));
                        return;
                    }
                }
            }
        };
        if !configured.contains(&ip) {
            errors.push_str(&format!(
                "* {logid}: cannot use IP '{ip}', not found on local node!\n\n"
            ));
        }
    };
    check_ip(local_addr, "local node address");
    for (n, link) in links {
        check_ip(&link_address(link), &format!("link{n}"));
    }
    if errors.is_empty() {
        return Ok(());
    }
    eprint!("detected the following error(s):\n{errors}");
    if !force {
        bail!("Check if node may join a cluster failed!");
    }
    eprintln!("\nWARNING : detected error but forced to continue!\n");
    Ok(())
}

/// The address of a `linkN` property string (`[address=]ADDR[,priority=N]`).
pub fn link_address(v: &str) -> String {
    v.split(',')
        .find_map(|part| match part.split_once('=') {
            Some(("address", a)) => Some(a.to_string()),
            Some(_) => None,
            None => Some(part.to_string()),
        })
        .unwrap_or_default()
}

/// `pvecm add` without the API (tests, one machine): `existing` is the root of a
/// running cluster node. Its /etc/pve/corosync.conf gets this node (the change
/// reaches every node's host copy and corosync reloads it), and this node gets the
/// new config and the authkey in its /etc/corosync, and loses its old config.db so
/// that it takes the cluster's data on first sync, as upstream's join does. Starting
/// corosync and pmxcfs is left to the caller. Returns the new node id.
pub fn join_local(paths: &NodePaths, existing: &NodePaths, node: &str, addr: &str) -> Result<u32> {
    assert_joinable(paths, addr, &[], false)?;
    let cluster_conf = existing.pve_file("corosync.conf");
    let conf = std::fs::read_to_string(&cluster_conf)
        .with_context(|| format!("reading {}", cluster_conf.display()))?;
    let (new_conf, id) = add_node(&conf, node, addr)?;
    let key = std::fs::read(existing.corosync_dir().join("authkey"))
        .context("reading the cluster's corosync authkey")?;
    std::fs::write(&cluster_conf, &new_conf)
        .with_context(|| format!("writing {}", cluster_conf.display()))?;
    finish_join(paths, &new_conf, &key)?;
    println!("node id {id}");
    Ok(id)
}

pub fn delnode(paths: &NodePaths, node: &str) -> Result<()> {
    let path = paths.pve_file("corosync.conf");
    let conf = std::fs::read_to_string(&path).context("reading /etc/pve/corosync.conf")?;
    let new = remove_node(&conf, node)?;
    std::fs::write(&path, new).context("writing /etc/pve/corosync.conf")?;
    println!("Killing node {node}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_node_bumps_version() {
        let conf = crate::testcluster::TestCluster::new(
            "x",
            0,
            3,
            std::path::Path::new("/nonexistent"),
            std::path::Path::new("/bin/true"),
        )
        .corosync_conf();
        let out = remove_node(&conf, "node2").unwrap();
        assert!(!out.contains("node2"));
        assert!(out.contains("node3"));
        assert_eq!(config_version(&out), Some(2));
        assert!(remove_node(&conf, "node9").is_err());
    }

    #[test]
    fn add_node_appends_and_bumps_version() {
        let conf = crate::testcluster::TestCluster::new(
            "x",
            0,
            2,
            std::path::Path::new("/nonexistent"),
            std::path::Path::new("/bin/true"),
        )
        .corosync_conf();
        let (out, id) = add_node(&conf, "node3", "10.123.0.3").unwrap();
        assert_eq!(id, 3);
        assert_eq!(config_version(&out), Some(2));
        let nodelist_end = out.find("\n}\n\nquorum").unwrap();
        let added = out.find("name: node3").unwrap();
        assert!(added < nodelist_end, "{out}");
        assert!(
            out.contains("    nodeid: 3\n    quorum_votes: 1\n    ring0_addr: 10.123.0.3\n  }\n}")
        );
        assert!(add_node(&out, "node3", "10.123.0.9").is_err());
        assert!(add_node(&out, "node4", "10.123.0.1").is_err());
        let links = [(1, "10.124.0.4".to_string()), (0, "10.123.0.4".to_string())];
        let (two, id) = add_node_with(&out, "node4", &links, Some(7), 2).unwrap();
        assert_eq!(id, 7);
        assert!(two.contains(
            "    name: node4\n    nodeid: 7\n    quorum_votes: 2\n    ring0_addr: 10.123.0.4\n    ring1_addr: 10.124.0.4\n  }"
        ));
        let (back, _) = (remove_node(&out, "node3").unwrap(), 0);
        assert_eq!(config_version(&back), Some(3));
    }
}
