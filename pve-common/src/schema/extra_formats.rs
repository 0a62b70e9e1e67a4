//! Formats upstream registers outside pve-common (pve-storage, pve-access-control,
//! pve-firewall, qemu-server, pve-container) that every crate needs early, e.g. for
//! API parameter checks. The crates owning those configs may re-register a stricter
//! checker with [`super::register_format_checker`] (for `pve-priv` they should: the
//! privilege list here is the one known at the time of writing).

use std::sync::LazyLock;

use regex::Regex;

use super::formats::{self, FormatChecker, RegisteredFormat};

macro_rules! re {
    ($pat:expr) => {{
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).expect("static regex"));
        &*RE
    }};
}

const REALM_RE: &str = r"[A-Za-z][A-Za-z0-9.\-_]+";

fn userid_re() -> &'static Regex {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!(r"^[^\s:/]+@{REALM_RE}$")).expect("userid regex"));
    &RE
}

/// `pve-volume-id`: `<storage>:<volume name>`.
pub fn verify_volume_id(volid: &str) -> Result<(), String> {
    if re!(r"^(?i:[a-z][a-z0-9\-_.]*[a-z0-9]):.+$").is_match(volid) {
        Ok(())
    } else {
        Err(format!("unable to parse volume ID '{volid}'"))
    }
}

fn verify_volume_id_or_qm_path(volid: &str) -> Result<(), String> {
    if volid == "none" || volid == "cdrom" || volid.starts_with('/') {
        return Ok(());
    }
    verify_volume_id(volid)
}

fn verify_volume_id_or_absolute_path(volid: &str) -> Result<(), String> {
    if volid.starts_with('/') {
        return Ok(());
    }
    verify_volume_id(volid)
}

/// `pve-userid`: `<user>@<realm>`, 3 to 64 characters.
pub fn verify_userid(userid: &str) -> Result<(), String> {
    let len = userid.chars().count();
    if len < 3 {
        return Err(format!("user name '{userid}' is too short"));
    }
    if len > 64 {
        return Err(format!("user name '{userid}' is too long ({len} > 64)"));
    }
    if userid_re().is_match(userid) {
        Ok(())
    } else {
        Err(format!(
            "value '{userid}' does not look like a valid user name"
        ))
    }
}

fn verify_realm(realm: &str) -> Result<(), String> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(&format!("^{REALM_RE}$")).expect("realm regex"));
    if RE.is_match(realm) {
        Ok(())
    } else {
        Err("value does not look like a valid realm".to_string())
    }
}

fn verify_tokenid(tokenid: &str) -> Result<(), String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"^[^\s:/]+@{REALM_RE}![A-Za-z][A-Za-z0-9.\-_]+$"))
            .expect("tokenid regex")
    });
    if RE.is_match(tokenid) {
        Ok(())
    } else {
        Err(format!(
            "value '{tokenid}' does not look like a valid token ID"
        ))
    }
}

fn simple_name_ok(name: &str) -> bool {
    re!(r"^[A-Za-z0-9.\-_]+$").is_match(name)
}

fn verify_groupid(name: &str) -> Result<(), String> {
    if simple_name_ok(name) {
        Ok(())
    } else {
        Err(format!("group name '{name}' contains invalid characters"))
    }
}

fn verify_roleid(name: &str) -> Result<(), String> {
    if simple_name_ok(name) {
        Ok(())
    } else {
        Err(format!("role name '{name}' contains invalid characters"))
    }
}

fn verify_poolid(name: &str) -> Result<(), String> {
    // Upstream counts the levels first (Perl's split drops trailing empty fields).
    if name.trim_end_matches('/').split('/').count() > 3 {
        return Err(format!(
            "pool name '{name}' nested too deeply (max levels = 3)"
        ));
    }
    if !re!(r"^[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}$").is_match(name) {
        return Err(format!("pool name '{name}' contains invalid characters"));
    }
    Ok(())
}

const PRIVILEGES: &[&str] = &[
    "Datastore.Allocate",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "Datastore.Audit",
    "Group.Allocate",
    "Mapping.Audit",
    "Mapping.Modify",
    "Mapping.Use",
    "Permissions.Modify",
    "Pool.Allocate",
    "Pool.Audit",
    "Realm.Allocate",
    "Realm.AllocateUser",
    "SDN.Allocate",
    "SDN.Audit",
    "SDN.Use",
    "Sys.AccessNetwork",
    "Sys.Audit",
    "Sys.Console",
    "Sys.Incoming",
    "Sys.Modify",
    "Sys.PowerMgmt",
    "Sys.Syslog",
    "User.Modify",
    "VM.Allocate",
    "VM.Audit",
    "VM.Backup",
    "VM.Clone",
    "VM.Config.CDROM",
    "VM.Config.CPU",
    "VM.Config.Cloudinit",
    "VM.Config.Disk",
    "VM.Config.HWType",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
    "VM.Console",
    "VM.GuestAgent.Audit",
    "VM.GuestAgent.FileRead",
    "VM.GuestAgent.FileSystemMgmt",
    "VM.GuestAgent.FileWrite",
    "VM.GuestAgent.Unrestricted",
    "VM.Migrate",
    "VM.PowerMgmt",
    "VM.Replicate",
    "VM.Snapshot",
    "VM.Snapshot.Rollback",
];

fn verify_priv(name: &str) -> Result<(), String> {
    if PRIVILEGES.contains(&name) {
        Ok(())
    } else {
        Err(format!("invalid privilege '{name}'"))
    }
}

fn ip_or_cidr_ok(value: &str) -> bool {
    formats::verify_ip(value).is_ok() || formats::verify_cidr(value).is_ok()
}

fn verify_ip_or_cidr(value: &str) -> Result<(), String> {
    if ip_or_cidr_ok(value) {
        Ok(())
    } else {
        Err("value does not look like a valid IP address or CIDR network".to_string())
    }
}

fn verify_ip_or_cidr_or_alias(value: &str) -> Result<(), String> {
    if ip_or_cidr_ok(value) || re!(r"^(?:(?:dc|guest)/)?[A-Za-z][A-Za-z0-9\-_]+$").is_match(value) {
        Ok(())
    } else {
        Err("value does not look like a valid IP address, CIDR network or alias".to_string())
    }
}

fn verify_hotplug_features(value: &str) -> Result<(), String> {
    if value == "0" || value == "1" {
        return Ok(());
    }
    for feature in formats::split_list(value) {
        if !matches!(
            feature,
            "network" | "disk" | "cpu" | "memory" | "usb" | "cloudinit"
        ) {
            return Err(format!("invalid hotplug feature '{feature}'"));
        }
    }
    Ok(())
}

/// Upstream's rule: no `/./` or `/../`, no `/.` or `/..` at the end, no `../` at the
/// start (`.`, `..` and `./x` alone pass).
fn verify_lxc_mp_string(mp: &str) -> Result<(), String> {
    if re!(r"/\.\.?/").is_match(mp) || re!(r"/\.\.?$").is_match(mp) || mp.starts_with("../") {
        return Err(format!("{mp} contains illegal character sequences"));
    }
    Ok(())
}

pub(super) fn checkers() -> Vec<(String, RegisteredFormat)> {
    let list: &[(&str, FormatChecker)] = &[
        ("pve-volume-id", verify_volume_id),
        ("pve-volume-id-or-qm-path", verify_volume_id_or_qm_path),
        (
            "pve-volume-id-or-absolute-path",
            verify_volume_id_or_absolute_path,
        ),
        ("pve-userid", verify_userid),
        ("pve-realm", verify_realm),
        ("pve-tokenid", verify_tokenid),
        ("pve-groupid", verify_groupid),
        ("pve-roleid", verify_roleid),
        ("pve-poolid", verify_poolid),
        ("pve-priv", verify_priv),
        ("IPorCIDR", verify_ip_or_cidr),
        ("IPorCIDRorAlias", verify_ip_or_cidr_or_alias),
        ("cidr", formats::verify_cidr),
        ("pve-hotplug-features", verify_hotplug_features),
        ("pve-lxc-mp-string", verify_lxc_mp_string),
    ];
    list.iter()
        .map(|(n, c)| (n.to_string(), RegisteredFormat::Checker(*c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert!(verify_volume_id("local:100/vm-100-disk-0.qcow2").is_ok());
        assert_eq!(
            verify_volume_id("local").unwrap_err(),
            "unable to parse volume ID 'local'"
        );
        assert!(verify_volume_id_or_qm_path("/dev/sdb").is_ok());
        assert!(verify_volume_id_or_qm_path("cdrom").is_ok());
        assert!(verify_volume_id_or_absolute_path("/mnt/x").is_ok());
        assert!(verify_userid("root@pam").is_ok());
        assert_eq!(
            verify_userid("r@").unwrap_err(),
            "user name 'r@' is too short"
        );
        assert!(verify_userid("a:b@pam").is_err());
        assert!(verify_tokenid("root@pam!mytoken").is_ok());
        assert!(verify_tokenid("root@pam").is_err());
        assert!(verify_realm("pve").is_ok() && verify_realm("p").is_err());
        assert!(verify_groupid("admins").is_ok() && verify_groupid("a b").is_err());
        assert!(verify_poolid("a/b/c").is_ok() && verify_poolid("a/b/c/d").is_err());
        assert!(verify_priv("VM.Audit").is_ok() && verify_priv("VM.Nope").is_err());
        assert!(verify_ip_or_cidr("10.0.0.0/8").is_ok() && verify_ip_or_cidr("x").is_err());
        assert!(verify_ip_or_cidr_or_alias("dc/myalias").is_ok());
        assert!(verify_hotplug_features("disk,network,usb").is_ok());
        assert!(verify_hotplug_features("disk,foo").is_err());
        assert!(verify_lxc_mp_string("/mnt/data").is_ok());
        assert!(verify_lxc_mp_string("/mnt/../etc").is_err());
        assert!(verify_lxc_mp_string("../etc").is_err());
        assert!(verify_lxc_mp_string("/mnt/..").is_err());
        assert!(verify_lxc_mp_string("..").is_ok());
        assert!(verify_lxc_mp_string("./x").is_ok());
    }
}
