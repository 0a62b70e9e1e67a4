//! The container config option schema: upstream's `$confdesc` of `PVE::LXC::Config`
//! (the parameters of `POST /nodes/{node}/lxc` without the create-only ones, plus the
//! internal snapshot keys), its formats and upstream's per-value type check
//! (`check_type`) used when reading config files.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Once, OnceLock};

use pve_common::schema::formats::{check_format, register_format_checker};
use pve_common::schema::{Properties, Schema};

mod options;

/// How many of each indexed key upstream allows.
pub const MAX_LXC_NETWORKS: u32 = 32;
pub const MAX_MOUNT_POINTS: u32 = 256;
pub const MAX_UNUSED_DISKS: u32 = 256;
pub const MAX_DEVICES: u32 = 256;

/// `lxc-ip-with-ll-iface`: an IP address, or a link-local IPv6 address with `%iface`.
fn verify_ip_with_ll_iface(addr: &str) -> Result<(), String> {
    if let Some((ip, iface)) = addr.split_once('%') {
        if ip.starts_with("fe80:")
            && ip.parse::<std::net::Ipv6Addr>().is_ok()
            && pve_common::schema::formats::verify_iface(iface).is_ok()
        {
            return Ok(());
        }
    }
    if addr.parse::<IpAddr>().is_ok() {
        Ok(())
    } else {
        Err("value does not look like a valid IP address".to_string())
    }
}

/// `pve-ct-timezone`: `host` or a zone from the time zone table.
fn verify_ct_timezone(tz: &str) -> Result<(), String> {
    if tz == "host" {
        return Ok(());
    }
    check_format(
        &pve_common::schema::FormatSpec::Named("timezone".into()),
        tz,
    )
}

/// `pve-lxc-dev-string`: a path below `/dev/` without `.`/`..` components.
pub fn verify_lxc_dev_string(dev: &str) -> Result<(), String> {
    let dots = dev
        .match_indices('/')
        .any(|(i, _)| matches!(dev[i + 1..].split('/').next(), Some(".") | Some("..")));
    if dots || !dev.starts_with("/dev/") {
        return Err(format!("{dev} is not a valid device path"));
    }
    Ok(())
}

/// Registers the container formats with pve-common's format registry.
pub fn register_formats() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        register_format_checker("lxc-ip-with-ll-iface", verify_ip_with_ll_iface);
        register_format_checker("pve-ct-timezone", verify_ct_timezone);
        register_format_checker("pve-lxc-dev-string", verify_lxc_dev_string);
    });
}

/// The declared schema of an option family (`net`, `mp`, `rootfs`, `features`, …).
pub fn declared_option(family: &str) -> Option<Schema> {
    options::option_declarations()
        .into_iter()
        .find(|(name, _, _)| *name == family)
        .map(|(_, _, v)| Schema::literal(v))
}

/// The property-string keys of an option family (`net`, `mp`, `rootfs`, `dev`, …).
pub fn option_format(family: &str) -> Option<BTreeMap<String, Schema>> {
    register_formats();
    match declared_option(family)?.format? {
        pve_common::schema::FormatSpec::Inline(p) => Some((*p).clone()),
        pve_common::schema::FormatSpec::Named(_) => None,
    }
}

/// Every key a container config section may hold, with its schema (`net0` … `net31`,
/// `mp0` … `mp255`, … expanded), plus `parent` and `snaptime`.
pub fn ct_config_options() -> &'static Properties {
    static OPTIONS: OnceLock<Properties> = OnceLock::new();
    OPTIONS.get_or_init(|| {
        register_formats();
        let mut map = BTreeMap::new();
        for (name, count, v) in options::option_declarations() {
            let schema = Arc::new(Schema::literal(v));
            if count == 0 {
                map.insert(name.to_string(), schema);
            } else {
                for i in 0..count {
                    map.insert(format!("{name}{i}"), Arc::clone(&schema));
                }
            }
        }
        map.insert(
            "parent".into(),
            Arc::new(Schema::literal(pve_common::schema::json_lit(r#"{"type": "string", "format": "pve-configid", "optional": 1,
                "description": "Parent snapshot name. This is used internally, and should not be modified."}"#))),
        );
        map.insert(
            "snaptime".into(),
            Arc::new(Schema::literal(pve_common::schema::json_lit(r#"{"type": "integer", "optional": 1,
                "description": "Timestamp for snapshots."}"#))),
        );
        map
    })
}

/// Upstream's `check_type` for container options (strings without a format verbatim).
pub fn check_type(key: &str, value: &str) -> Result<String, String> {
    pve_guest_common::value_check::check_config_value(
        ct_config_options(),
        key,
        value,
        pve_guest_common::value_check::PlainString::Verbatim,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_expand_and_check() {
        let opts = ct_config_options();
        assert!(opts.contains_key("net31") && !opts.contains_key("net32"));
        assert!(opts.contains_key("mp255") && opts.contains_key("unused255"));
        assert!(opts.contains_key("dev255") && !opts.contains_key("dev256"));
        assert!(opts.contains_key("snaptime") && !opts.contains_key("ostemplate"));
        assert_eq!(check_type("onboot", "yes").unwrap(), "1");
        assert_eq!(check_type("memory", "0512").unwrap(), "512");
        assert_eq!(
            check_type("onboot", "x").unwrap_err(),
            "type check ('boolean') failed - got 'x'\n"
        );
        assert_eq!(
            check_type("foo", "1").unwrap_err(),
            "unknown setting 'foo'\n"
        );
        check_type("rootfs", "local:100/vm-100-disk-0.raw,size=8G").unwrap();
        check_type(
            "net0",
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,ip6=auto,type=veth",
        )
        .unwrap();
        check_type("mp0", "local:100/vm-100-disk-1.raw,mp=/data,backup=1").unwrap();
        assert!(check_type("mp0", "/x,mp=/a/../b").is_err());
        check_type("dev0", "/dev/ttyUSB0,mode=0660").unwrap();
        assert!(check_type("dev0", "/tmp/x").is_err());
        check_type("features", "nesting=1,keyctl=1").unwrap();
        check_type("nameserver", "8.8.8.8 fe80::1%eth0").unwrap();
        assert!(check_type("nameserver", "nonsense").is_err());
        check_type("timezone", "host").unwrap();
    }

    #[test]
    fn path_formats() {
        // pve-common's checker, as upstream's
        let mp = |v: &str| {
            check_format(
                &pve_common::schema::FormatSpec::Named("pve-lxc-mp-string".into()),
                v,
            )
        };
        assert!(mp("/mnt/a/./b").is_err());
        assert!(mp("../x").is_err());
        assert!(mp("/mnt/..").is_err());
        assert!(mp("/mnt/..x").is_ok());
        assert!(mp("..").is_ok());
        assert!(verify_lxc_dev_string("/dev/../etc").is_err());
        assert!(verify_lxc_dev_string("/dev/.").is_err());
        assert!(verify_lxc_dev_string("/dev/sda").is_ok());
    }
}
