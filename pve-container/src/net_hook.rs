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
/// `$PVE_NODENAME`, else the host name; root from `$PVE_ROOT`) and enslaves IFACE to
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
        .unwrap_or_else(nodename);
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
    ip(&["link", "set", "dev", iface, "up"])
}
