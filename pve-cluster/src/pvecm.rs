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
}
