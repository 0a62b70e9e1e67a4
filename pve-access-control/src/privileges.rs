//! The privileges of current upstream (9.x) and the built-in roles derived from them.
//!
//! Upstream groups the privileges of each category into `root` (only root@pam and
//! Administrator), `admin`, `user` and `audit` tiers and derives the `PVE<cat>Admin`,
//! `PVE<cat>User`, `PVEAdmin` and `PVEAuditor` roles from those tiers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

struct Category {
    name: &'static str,
    root: &'static [&'static str],
    admin: &'static [&'static str],
    user: &'static [&'static str],
    audit: &'static [&'static str],
}

const CATEGORIES: &[Category] = &[
    Category {
        name: "VM",
        root: &[],
        admin: &[
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.HWType",
            "VM.Config.Options",
            "VM.Allocate",
            "VM.Clone",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ],
        user: &[
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.Backup",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ],
        audit: &["VM.Audit", "VM.GuestAgent.Audit"],
    },
    Category {
        name: "Sys",
        root: &[
            "Sys.PowerMgmt",
            "Sys.Modify",
            "Sys.Incoming",
            "Sys.AccessNetwork",
        ],
        admin: &["Sys.Console", "Sys.Syslog"],
        user: &[],
        audit: &["Sys.Audit"],
    },
    Category {
        name: "Datastore",
        root: &[],
        admin: &["Datastore.Allocate", "Datastore.AllocateTemplate"],
        user: &["Datastore.AllocateSpace"],
        audit: &["Datastore.Audit"],
    },
    Category {
        name: "SDN",
        root: &[],
        admin: &["SDN.Allocate", "SDN.Audit"],
        user: &["SDN.Use"],
        audit: &["SDN.Audit"],
    },
    Category {
        name: "User",
        root: &["Realm.Allocate"],
        admin: &["User.Modify", "Group.Allocate", "Realm.AllocateUser"],
        user: &[],
        audit: &[],
    },
    Category {
        name: "Pool",
        root: &[],
        admin: &["Pool.Allocate"],
        user: &["Pool.Audit"],
        audit: &["Pool.Audit"],
    },
    Category {
        name: "Mapping",
        root: &[],
        admin: &["Mapping.Modify"],
        user: &["Mapping.Use"],
        audit: &["Mapping.Audit"],
    },
];

/// A privilege that belongs to no category.
const PERMISSIONS_MODIFY: &str = "Permissions.Modify";

/// All valid privilege names, sorted.
pub static PRIVILEGES: LazyLock<BTreeSet<&'static str>> = LazyLock::new(|| {
    let mut all = BTreeSet::from([PERMISSIONS_MODIFY]);
    for c in CATEGORIES {
        for tier in [c.root, c.admin, c.user, c.audit] {
            all.extend(tier.iter().copied());
        }
    }
    all
});

/// The built-in ("special") roles: name → privileges. Never written to user.cfg.
pub static BUILTIN_ROLES: LazyLock<BTreeMap<String, BTreeSet<String>>> = LazyLock::new(|| {
    let mut roles: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut add = |role: String, privs: &[&str]| {
        roles
            .entry(role)
            .or_default()
            .extend(privs.iter().map(|p| p.to_string()));
    };
    add("NoAccess".into(), &[]);
    let all: Vec<&str> = PRIVILEGES.iter().copied().collect();
    add("Administrator".into(), &all);
    for c in CATEGORIES {
        for tier in [c.admin, c.user, c.audit] {
            add(format!("PVE{}Admin", c.name), tier);
            add("PVEAdmin".into(), tier);
        }
        if !c.user.is_empty() {
            add(format!("PVE{}User", c.name), c.user);
            add(format!("PVE{}User", c.name), c.audit);
        }
        add("PVEAuditor".into(), c.audit);
    }
    add("PVETemplateUser".into(), &["VM.Clone", "VM.Audit"]);
    // Mapping.Modify is for Administrator and PVEMappingAdmin only.
    if let Some(r) = roles.get_mut("PVEAdmin") {
        r.remove("Mapping.Modify");
    }
    roles
});

pub fn is_valid_privilege(name: &str) -> bool {
    PRIVILEGES.contains(name)
}

/// Whether `role` is built in (`special` in the API).
pub fn is_builtin_role(role: &str) -> bool {
    BUILTIN_ROLES.contains_key(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn privs(role: &str) -> Vec<&str> {
        BUILTIN_ROLES[role].iter().map(String::as_str).collect()
    }

    #[test]
    fn counts_and_roles_of_upstream_9() {
        assert_eq!(PRIVILEGES.len(), 47);
        assert!(!is_valid_privilege("VM.Monitor"));
        assert_eq!(BUILTIN_ROLES.len(), 17);
        assert_eq!(privs("Administrator").len(), 47);
        assert!(privs("NoAccess").is_empty());
        assert_eq!(privs("PVEVMAdmin").len(), 23);
        assert_eq!(privs("PVETemplateUser"), ["VM.Audit", "VM.Clone"]);
        assert_eq!(
            privs("PVEAuditor"),
            [
                "Datastore.Audit",
                "Mapping.Audit",
                "Pool.Audit",
                "SDN.Audit",
                "Sys.Audit",
                "VM.Audit",
                "VM.GuestAgent.Audit"
            ]
        );
        assert_eq!(
            privs("PVESysAdmin"),
            ["Sys.Audit", "Sys.Console", "Sys.Syslog"]
        );
        assert_eq!(
            privs("PVEUserAdmin"),
            ["Group.Allocate", "Realm.AllocateUser", "User.Modify"]
        );
        assert_eq!(privs("PVEPoolUser"), ["Pool.Audit"]);
        assert_eq!(
            privs("PVEDatastoreUser"),
            ["Datastore.AllocateSpace", "Datastore.Audit"]
        );
        let admin = privs("PVEAdmin");
        for missing in [
            "Sys.PowerMgmt",
            "Sys.Modify",
            "Sys.Incoming",
            "Sys.AccessNetwork",
            "Realm.Allocate",
            "Permissions.Modify",
            "Mapping.Modify",
        ] {
            assert!(!admin.contains(&missing), "{missing}");
        }
        assert_eq!(admin.len(), 47 - 7);
        assert_eq!(privs("PVEVMUser").len(), 10);
    }
}
