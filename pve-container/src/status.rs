//! Container list entries derived from the configs (upstream's `vmstatus` for stopped
//! containers) and the `pct list` table.

use serde_json::{json, Map, Value};

use crate::config::CtSection;

const DEFAULT_MAXDISK: u64 = 4 * 1024 * 1024 * 1024;

/// The status entry of a stopped container: limits from its config, usage zero.
/// `cpucount` is the host's CPU count (the default for `cpus`).
pub fn stopped_status(vmid: u32, conf: &CtSection, cpucount: u32) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("type".into(), json!("lxc"));
    d.insert("vmid".into(), json!(vmid));
    d.insert("status".into(), json!("stopped"));
    let name: String = conf
        .get("hostname")
        .filter(|h| !h.is_empty())
        .map_or_else(|| format!("CT{vmid}"), str::to_string)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    d.insert("name".into(), json!(name));
    let cpus = conf
        .get("cores")
        .and_then(|c| c.parse::<u64>().ok())
        .filter(|c| *c > 0)
        .map(Value::from)
        .or_else(|| {
            conf.get("cpulimit")
                .and_then(|c| c.parse::<f64>().ok())
                .filter(|c| *c > 0.0)
                .map(Value::from)
        })
        .unwrap_or_else(|| Value::from(cpucount.max(1)));
    d.insert("cpus".into(), cpus);
    if let Some(tags) = conf.get("tags") {
        d.insert("tags".into(), json!(tags));
    }
    d.insert("disk".into(), json!(0));
    let maxdisk = conf
        .get("rootfs")
        .and_then(|r| crate::volumes::parse_volume("rootfs", r).ok())
        .and_then(|mp| {
            mp.props
                .get("size")
                .and_then(Value::as_str)
                .and_then(pve_common::units::parse_size)
        })
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_MAXDISK);
    d.insert("maxdisk".into(), json!(maxdisk));
    let mib = |key: &str, default: u64| {
        conf.get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(default)
            * 1024
            * 1024
    };
    let memory = conf
        .get("memory")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|m| *m > 0)
        .unwrap_or(512);
    d.insert("mem".into(), json!(0));
    d.insert("swap".into(), json!(0));
    d.insert("maxmem".into(), json!(memory * 1024 * 1024));
    d.insert("maxswap".into(), json!(mib("swap", 0)));
    for key in ["uptime", "cpu", "netout", "netin", "diskread", "diskwrite"] {
        d.insert(key.into(), json!(0));
    }
    if conf.get("template") == Some("1") {
        d.insert("template".into(), json!(1));
    }
    if let Some(lock) = conf.get("lock").filter(|l| !l.is_empty() && *l != "0") {
        d.insert("lock".into(), json!(lock));
    }
    d
}

/// `pct list`: a fixed-width table sorted by VMID (nothing at all for no containers).
pub fn format_pct_list(entries: &[Map<String, Value>]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let text = |d: &Map<String, Value>, k: &str| match d.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let mut sorted: Vec<&Map<String, Value>> = entries.iter().collect();
    sorted.sort_by_key(|d| d.get("vmid").and_then(Value::as_u64).unwrap_or(0));
    let mut out = format!(
        "{:<10} {:<10} {:<12} {:<20}\n",
        "VMID", "Status", "Lock", "Name"
    );
    for d in sorted {
        out.push_str(&format!(
            "{:<10} {:<10} {:<12} {:<20}\n",
            text(d, "vmid"),
            text(d, "status"),
            text(d, "lock"),
            text(d, "name")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopped_entry_and_table() {
        let conf = crate::config::parse_ct_config(
            105,
            "hostname: my ct\nmemory: 256\nrootfs: local:105/x.raw,size=2G\nlock: backup\n",
            // non-strict keeps the invalid host name, whose blanks the list drops
            false,
        )
        .unwrap()
        .config
        .main;
        let d = stopped_status(105, &conf, 8);
        assert_eq!(d["name"], json!("myct"));
        assert_eq!(d["cpus"], json!(8));
        assert_eq!(d["maxdisk"], json!(2u64 << 30));
        assert_eq!(d["maxmem"], json!(256u64 << 20));
        assert_eq!(d["maxswap"], json!(0));
        assert_eq!(d["lock"], json!("backup"));
        let empty = stopped_status(99, &CtSection::default(), 0);
        assert_eq!(empty["name"], json!("CT99"));
        assert_eq!(empty["maxdisk"], json!(4u64 << 30));
        assert_eq!(empty["cpus"], json!(1));
        assert_eq!(
            format_pct_list(&[d]),
            "VMID       Status     Lock         Name                \n105        stopped    backup       myct                \n"
        );
        assert_eq!(format_pct_list(&[]), "");
    }
}
