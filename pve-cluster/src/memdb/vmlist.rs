//! The guest list (vmid → node, type) and the per-path change counters.

use super::tree::{components, Kind, Tree};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestType {
    Qemu,
    OpenVz,
    Lxc,
}

impl GuestType {
    pub fn as_str(self) -> &'static str {
        match self {
            GuestType::Qemu => "qemu",
            GuestType::OpenVz => "openvz",
            GuestType::Lxc => "lxc",
        }
    }

    fn from_dir(dir: &str) -> Option<GuestType> {
        match dir {
            "qemu-server" => Some(GuestType::Qemu),
            "openvz" => Some(GuestType::OpenVz),
            "lxc" => Some(GuestType::Lxc),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestEntry {
    pub vmid: u32,
    pub node: String,
    pub guest_type: GuestType,
    /// Value of the list-wide registration counter when this entry was (re)registered.
    pub version: u32,
}

/// Where a guest config lives: `nodes/<node>/<qemu-server|lxc|openvz>/<vmid>.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestPath {
    pub vmid: u32,
    pub node: String,
    pub guest_type: GuestType,
}

/// LDH rule: letters, digits, and '-' except first and last.
pub fn valid_node_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.iter()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (*c == b'-' && i != 0 && i != b.len() - 1))
}

fn vmid_of_config_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".conf")?;
    if !digits.starts_with(|c: char| ('1'..='9').contains(&c))
        || !digits.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    digits.parse::<u32>().ok()
}

/// Parses a guest config path (relative to the mount).
pub fn guest_path(path: &str) -> Option<GuestPath> {
    let parts: Vec<&str> = components(path).collect();
    match parts.as_slice() {
        ["nodes", node, dir, file] if valid_node_name(node) => Some(GuestPath {
            vmid: vmid_of_config_name(file)?,
            node: node.to_string(),
            guest_type: GuestType::from_dir(dir)?,
        }),
        _ => None,
    }
}

/// Paths whose changes are counted for `.version` (and PVE's config cache).
pub const OBSERVED_PATHS: &[&str] = &[
    "corosync.conf",
    "corosync.conf.new",
    "storage.cfg",
    "user.cfg",
    "domains.cfg",
    "notifications.cfg",
    "priv/notifications.cfg",
    "priv/shadow.cfg",
    "priv/acme/plugins.cfg",
    "priv/tfa.cfg",
    "priv/token.cfg",
    "priv/wg-keys.cfg",
    "datacenter.cfg",
    "vzdump.cron",
    "vzdump.conf",
    "jobs.cfg",
    "ha/crm_commands",
    "ha/manager_status",
    "ha/resources.cfg",
    "ha/rules.cfg",
    "ha/groups.cfg",
    "ha/fence.cfg",
    "status.cfg",
    "replication.cfg",
    "ceph.conf",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/mac-cache.json",
    "sdn/pve-ipam-state.json",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "sdn/.running-config",
    "virtual-guest/cpu-models.conf",
    "virtual-guest/profiles.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
];

/// Change counters per observed path, in `OBSERVED_PATHS` order.
#[derive(Clone, Debug)]
pub struct PathCounters {
    counts: Vec<u32>,
}

impl Default for PathCounters {
    fn default() -> Self {
        PathCounters {
            counts: vec![0; OBSERVED_PATHS.len()],
        }
    }
}

impl PathCounters {
    /// Counts a change of `path` (exact match, leading '/' ignored).
    pub fn record_change(&mut self, path: &str) {
        let path = path.trim_start_matches('/');
        if let Some(i) = OBSERVED_PATHS.iter().position(|p| *p == path) {
            self.counts[i] += 1;
        }
    }

    /// Every counter goes up when the whole database is (re)loaded.
    pub fn record_reload(&mut self) {
        self.counts.iter_mut().for_each(|c| *c += 1);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        OBSERVED_PATHS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
    }

    pub fn get(&self, path: &str) -> Option<u32> {
        let i = OBSERVED_PATHS.iter().position(|p| *p == path)?;
        Some(self.counts[i])
    }
}

/// The guest list with its change counter.
#[derive(Clone, Debug, Default)]
pub struct VmList {
    /// Bumped on every registration, deletion and rebuild.
    pub version: u32,
    /// Bumped per inserted entry; never reset (upstream keeps it process-wide).
    entry_counter: u32,
    /// Insertion order is kept so the text output is stable.
    pub guests: Vec<GuestEntry>,
}

impl VmList {
    pub fn get(&self, vmid: u32) -> Option<&GuestEntry> {
        self.guests.iter().find(|g| g.vmid == vmid)
    }

    /// Whether `vmid` is listed for another node or another type.
    pub fn different_exists(&self, p: &GuestPath) -> bool {
        self.get(p.vmid)
            .is_some_and(|g| !(g.guest_type == p.guest_type && g.node == p.node))
    }

    fn insert(&mut self, p: &GuestPath, replace: bool) -> bool {
        if !replace && self.get(p.vmid).is_some() {
            return false;
        }
        self.entry_counter += 1;
        let entry = GuestEntry {
            vmid: p.vmid,
            node: p.node.clone(),
            guest_type: p.guest_type,
            version: self.entry_counter,
        };
        match self.guests.iter_mut().find(|g| g.vmid == p.vmid) {
            Some(g) => *g = entry,
            None => self.guests.push(entry),
        }
        true
    }

    pub fn register(&mut self, p: &GuestPath) {
        self.version += 1;
        self.insert(p, true);
    }

    pub fn delete(&mut self, vmid: u32) {
        self.version += 1;
        self.guests.retain(|g| g.vmid != vmid);
    }

    /// Rebuilds the list from the tree. Without a `nodes` directory nothing changes
    /// (not even the counter), as upstream. Returns the duplicate vmids found.
    pub fn rebuild(&mut self, tree: &Tree) -> Vec<u32> {
        let Some(nodes) = tree.lookup("nodes").filter(|e| e.kind == Kind::Dir) else {
            return Vec::new();
        };
        let old_counter = self.entry_counter;
        let mut fresh = VmList {
            entry_counter: old_counter,
            ..Default::default()
        };
        let mut duplicates = Vec::new();
        for (node, &node_ino) in &nodes.children {
            let Some(node_e) = tree.get(node_ino) else {
                continue;
            };
            if node_e.kind != Kind::Dir || !valid_node_name(node) {
                continue;
            }
            for dir in ["qemu-server", "openvz", "lxc"] {
                let Some(d) = tree.child(node_ino, dir).filter(|d| d.kind == Kind::Dir) else {
                    continue;
                };
                for (name, &ino) in &d.children {
                    let is_file = tree.get(ino).is_some_and(|e| e.kind == Kind::File);
                    let Some(vmid) = vmid_of_config_name(name).filter(|_| is_file) else {
                        continue;
                    };
                    let p = GuestPath {
                        vmid,
                        node: node.clone(),
                        guest_type: GuestType::from_dir(dir).expect("known dir"),
                    };
                    if !fresh.insert(&p, false) {
                        duplicates.push(vmid);
                    }
                }
            }
        }
        self.entry_counter = fresh.entry_counter;
        self.guests = fresh.guests;
        self.version += 1;
        duplicates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths() {
        let p = guest_path("nodes/pve1/qemu-server/100.conf").unwrap();
        assert_eq!((p.vmid, p.node.as_str()), (100, "pve1"));
        assert_eq!(p.guest_type, GuestType::Qemu);
        assert!(guest_path("/nodes/pve1/lxc/200.conf").is_some());
        assert!(guest_path("nodes/pve1/lxc/0200.conf").is_none());
        assert!(guest_path("nodes/-x/lxc/200.conf").is_none());
        assert!(guest_path("nodes/pve1/lxc/200.conf.tmp").is_none());
        assert!(guest_path("nodes/pve1/lxc/4294967296.conf").is_none());
        assert!(guest_path("nodes/pve1/foo/200.conf").is_none());
    }

    #[test]
    fn counters() {
        let mut c = PathCounters::default();
        c.record_reload();
        c.record_change("/storage.cfg");
        c.record_change("other.cfg");
        assert_eq!(c.get("storage.cfg"), Some(2));
        assert_eq!(c.get("user.cfg"), Some(1));
        assert_eq!(OBSERVED_PATHS.len(), 43);
    }
}
