//! The cgroup of a running container, as upstream's `PVE::CGroup` changes it on a
//! config update: memory and swap limits, CPU quota and weight, on a v2 hierarchy or a
//! v1 controller (the limit files differ; v1 has no separate swap limit).

use std::collections::BTreeMap;

use crate::run::LxcRuntime;

/// The cgroup files of a running container: the version of a controller's hierarchy
/// (1 or 2) and reading/writing a value (`memory.max`, `cpu.shares`, …).
pub trait CgroupWriter {
    fn version(&self, controller: &str) -> u8;
    fn read(&mut self, key: &str) -> Result<String, String>;
    fn write(&mut self, key: &str, value: &str) -> Result<(), String>;
}

/// Upstream's `PVE::CGroup::change_memory_limit` (bytes; v1 has no separate swap
/// limit, so memory+swap and memory move together, growing or shrinking in order).
pub(super) fn change_memory_limit(
    cg: &mut dyn CgroupWriter,
    mem: Option<u64>,
    swap: Option<u64>,
    high: Option<u64>,
) -> Result<(), String> {
    if cg.version("memory") == 2 {
        if let Some(swap) = swap {
            cg.write("memory.swap.max", &swap.to_string())?;
        }
        if let Some(mem) = mem {
            let high = high.map_or_else(|| "max".to_string(), |h| h.to_string());
            cg.write("memory.high", &high)?;
            cg.write("memory.max", &mem.to_string())?;
        }
        return Ok(());
    }
    let num = |v: String| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| format!("unexpected cgroup value '{}'\n", v.trim()))
    };
    let old_mem = num(cg.read("memory.limit_in_bytes")?)?;
    let old_memsw = num(cg.read("memory.memsw.limit_in_bytes")?)?;
    let mem = mem.unwrap_or(old_mem);
    let swap = swap.unwrap_or(old_memsw.saturating_sub(old_mem));
    let memsw = mem + swap;
    if memsw > old_memsw {
        cg.write("memory.memsw.limit_in_bytes", &memsw.to_string())?;
        cg.write("memory.limit_in_bytes", &mem.to_string())
    } else {
        cg.write("memory.limit_in_bytes", &mem.to_string())?;
        cg.write("memory.memsw.limit_in_bytes", &memsw.to_string())
    }
}

/// Upstream's `change_cpu_quota`: `None` is unlimited.
pub(super) fn change_cpu_quota(
    cg: &mut dyn CgroupWriter,
    quota: Option<u64>,
) -> Result<(), String> {
    if cg.version("cpu") == 2 {
        match quota {
            Some(q) => cg.write("cpu.max", &format!("{q} 100000")),
            None => cg.write("cpu.max", "max"),
        }
    } else {
        cg.write("cpu.cfs_period_us", "100000")?;
        cg.write(
            "cpu.cfs_quota_us",
            &quota.map_or_else(|| "-1".to_string(), |q| q.to_string()),
        )
    }
}

/// Upstream's `change_cpu_shares`: `None` is the default weight.
pub(super) fn change_cpu_shares(
    cg: &mut dyn CgroupWriter,
    shares: Option<u64>,
) -> Result<(), String> {
    if cg.version("cpu") == 2 {
        let shares = shares.unwrap_or(100);
        if !(1..=10000).contains(&shares) {
            return Err("cpu weight (shares) must be in range [1, 10000]\n".into());
        }
        cg.write("cpu.weight", &shares.to_string())
    } else {
        cg.write("cpu.shares", &shares.unwrap_or(1024).to_string())
    }
}

/// The mount point of the cgroup v1 hierarchy that carries `controller`, if any.
fn v1_mount_point(controller: &str) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 3 && f[2] == "cgroup" && f[3].split(',').any(|o| o == controller))
            .then(|| f[1].to_string())
    })
}

/// The hierarchy version a controller is mounted with on this host: 1 when a cgroup
/// (v1) mount carries it, else 2.
pub fn host_cgroup_version(controller: &str) -> u8 {
    if v1_mount_point(controller).is_some() {
        1
    } else {
        2
    }
}

/// The file `key` (`memory.limit_in_bytes`, `cpu.max`, …) of a container's limiting
/// cgroup: `lxc/<vmid>` below the root of the hierarchy that carries the key's
/// controller (the generated config sets `lxc.cgroup.relative = 0` and
/// `lxc.cgroup.dir.container = lxc/<vmid>`). The container's processes live in the
/// inner `ns` cgroup below it, which is what `lxc-cgroup` reads and writes; limits belong
/// on the outer one, where LXC puts the configured limits and upstream changes them.
pub fn limit_cgroup_file(vmid: u32, key: &str) -> Option<std::path::PathBuf> {
    let controller = key.split('.').next()?;
    let base = match v1_mount_point(controller) {
        Some(b) => b,
        None => {
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
            mounts.lines().find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() > 2 && f[2] == "cgroup2").then(|| f[1].to_string())
            })?
        }
    };
    Some(std::path::Path::new(&base).join(format!("lxc/{vmid}/{key}")))
}

/// [`CgroupWriter`] on the running container's limiting cgroup ([`limit_cgroup_file`]).
pub struct LxcCgroup {
    pub rt: LxcRuntime,
    pub vmid: u32,
}

impl LxcCgroup {
    fn file(&self, key: &str) -> Result<std::path::PathBuf, String> {
        limit_cgroup_file(self.vmid, key)
            .ok_or_else(|| format!("no cgroup hierarchy for '{key}'\n"))
    }
}

impl CgroupWriter for LxcCgroup {
    fn version(&self, controller: &str) -> u8 {
        host_cgroup_version(controller)
    }

    fn read(&mut self, key: &str) -> Result<String, String> {
        let path = self.file(key)?;
        std::fs::read_to_string(&path)
            .map_err(|e| format!("unable to read {key} ({}): {e}\n", path.display()))
    }

    fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
        let path = self.file(key)?;
        std::fs::write(&path, value).map_err(|e| format!("unable to set {key} to '{value}': {e}\n"))
    }
}

/// Upstream's `clamp_cpu_shares`: `cpuunits` within 1..=10000 (cgroup v2) or
/// 2..=262144 (v1).
pub(super) fn clamp_cpuunits(set: &mut BTreeMap<String, String>) {
    if let Some(v) = set.get_mut("cpuunits") {
        if let Ok(n) = v.parse::<u64>() {
            let (lo, hi) = if host_cgroup_version("cpu") == 2 {
                (1, 10000)
            } else {
                (2, 262144)
            };
            *v = n.clamp(lo, hi).to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// cgroup v1: memory+swap grow before memory, shrink after it.
    #[test]
    fn cgroup_v1_memory_order() {
        struct V1(BTreeMap<String, String>, Vec<String>);
        impl CgroupWriter for V1 {
            fn version(&self, _c: &str) -> u8 {
                1
            }
            fn read(&mut self, key: &str) -> Result<String, String> {
                Ok(self.0[key].clone())
            }
            fn write(&mut self, key: &str, value: &str) -> Result<(), String> {
                self.1.push(format!("{key}={value}"));
                self.0.insert(key.into(), value.into());
                Ok(())
            }
        }
        let mut cg = V1(
            BTreeMap::from([
                ("memory.limit_in_bytes".into(), "100\n".into()),
                ("memory.memsw.limit_in_bytes".into(), "150\n".into()),
            ]),
            vec![],
        );
        change_memory_limit(&mut cg, Some(200), None, Some(190)).unwrap();
        assert_eq!(
            cg.1,
            [
                "memory.memsw.limit_in_bytes=250",
                "memory.limit_in_bytes=200"
            ]
        );
        cg.1.clear();
        change_memory_limit(&mut cg, Some(50), Some(0), None).unwrap();
        assert_eq!(
            cg.1,
            ["memory.limit_in_bytes=50", "memory.memsw.limit_in_bytes=50"]
        );
        cg.1.clear();
        change_cpu_quota(&mut cg, Some(150000)).unwrap();
        change_cpu_shares(&mut cg, None).unwrap();
        assert_eq!(
            cg.1,
            [
                "cpu.cfs_period_us=100000",
                "cpu.cfs_quota_us=150000",
                "cpu.shares=1024"
            ]
        );
    }
}
