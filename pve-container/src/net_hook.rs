//! The network hook LXC runs for each veth (`lxcnetaddbr`).

use std::process::Command;

use pve_common::paths::NodePaths;

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "command 'ip {}' failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The node name as upstream's `nodename()`: the host name up to the first dot.
pub fn nodename() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates or truncates.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    name.split('.').next().unwrap_or_default().to_string()
}

/// `args`: `VMID net up veth IFACE`. Reads `netN` of the container (node from
/// `$PVE_NODENAME`, `$PVE_NODE_NAME`, else the host name; root from `$PVE_ROOT`) and enslaves IFACE to
/// its bridge.
pub fn add_to_bridge(args: Vec<String>) -> Result<(), String> {
    let [vmid, net, up, kind, iface] = args.as_slice() else {
        return Err("usage: lxcnetaddbr <vmid> net up veth <iface>\n".into());
    };
    if net != "net" || up != "up" {
        return Err("got unexpected hook type\n".into());
    }
    if kind != "veth" {
        return Err(format!("got unexpected network type '{kind}'\n"));
    }
    let vmid_num: u32 = vmid
        .parse()
        .map_err(|_| format!("got strange vmid '{vmid}'\n"))?;
    let netid = iface
        .strip_prefix(&format!("veth{vmid}i"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("got strange interface name '{iface}'\n"))?;
    let node = std::env::var("PVE_NODENAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(pve_common::api::env::local_node_name);
    let store = crate::store::CtConfigStore::new(&NodePaths::from_env(), &node);
    let conf = store.load_config(vmid_num, None)?;
    let key = format!("net{netid}");
    let value = conf
        .main
        .get(&key)
        .ok_or_else(|| format!("unable to get network config '{key}'\n"))?;
    let d = crate::setup::net::parse_lxc_network(value)?;
    let bridge = d
        .props
        .get("bridge")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("missing bridge configuration for '{key}'\n"))?;
    if d.props
        .get("link_down")
        .is_some_and(pve_common::schema::perl_truthy)
    {
        // a disconnected interface stays off the bridge (upstream's net_tap_plug)
        return ip(&["link", "set", "dev", iface, "down"]);
    }
    ip(&["link", "set", "dev", iface, "master", bridge])?;
    if let Some(tag) = d.props.get("tag").and_then(serde_json::Value::as_u64) {
        let tag = tag.to_string();
        let out = Command::new("bridge")
            .args(["vlan", "add", "dev", iface, "vid", &tag, "pvid", "untagged"])
            .output()
            .map_err(|e| format!("bridge: {e}\n"))?;
        if !out.status.success() {
            return Err(format!(
                "unable to set vlan tag {tag} on {iface}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let rate = d.props.get("rate").and_then(serde_json::Value::as_f64);
    tap_rate_limit(iface, rate)?;
    ip(&["link", "set", "dev", iface, "up"])
}

fn tc(args: &str) -> Result<(), String> {
    let argv: Vec<&str> = args.split_whitespace().collect();
    let out = Command::new("tc")
        .args(&argv)
        .output()
        .map_err(|e| format!("tc: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "command '/sbin/tc {args}' failed: exit code {}\n{}",
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The tc commands of upstream's `tap_rate_limit` for a rate in MB/s: any old limit
/// removed, then an htb class for what the interface sends and an ingress policer for
/// what it receives, both at the rate with a 1 MiB burst. Nothing is added without a
/// rate.
pub fn rate_limit_commands(iface: &str, rate_mbs: Option<f64>) -> (Vec<String>, Vec<String>) {
    let cleanup = vec![
        format!("class del dev {iface} parent 1: classid 1:1"),
        format!("filter del dev {iface} parent ffff: protocol all pref 50 u32"),
        format!("qdisc del dev {iface} ingress"),
        format!("qdisc del dev {iface} root"),
    ];
    let rate = rate_mbs.map_or(0, |r| (r * 1024.0 * 1024.0) as u64);
    if rate == 0 {
        return (cleanup, Vec::new());
    }
    let burst = 1024 * 1024;
    let setup = vec![
        format!("qdisc add dev {iface} root handle 1: htb default 1"),
        format!("class add dev {iface} parent 1: classid 1:1 htb rate {rate}bps burst {burst}b"),
        format!("qdisc add dev {iface} handle ffff: ingress"),
        format!(
            "filter add dev {iface} parent ffff: prio 50 basic police rate {rate}bps burst {burst}b mtu 64kb drop"
        ),
    ];
    (cleanup, setup)
}

/// Applies [`rate_limit_commands`]; failures of the cleanup are expected (no old
/// limit) and ignored.
pub fn tap_rate_limit(iface: &str, rate_mbs: Option<f64>) -> Result<(), String> {
    let (cleanup, setup) = rate_limit_commands(iface, rate_mbs);
    for c in cleanup {
        let _ = tc(&c);
    }
    for c in setup {
        tc(&c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn rate_limit() {
        let (cleanup, setup) = super::rate_limit_commands("veth100i0", Some(1.5));
        assert_eq!(cleanup.len(), 4);
        assert_eq!(
            setup[1],
            "class add dev veth100i0 parent 1: classid 1:1 htb rate 1572864bps burst 1048576b"
        );
        assert!(setup[3].contains("police rate 1572864bps burst 1048576b mtu 64kb drop"));
        assert!(super::rate_limit_commands("veth100i0", None).1.is_empty());
        assert!(super::rate_limit_commands("veth100i0", Some(0.0))
            .1
            .is_empty());
    }
}
