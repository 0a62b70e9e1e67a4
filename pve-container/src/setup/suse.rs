//! openSUSE / SLES: upstream's `PVE::LXC::Setup::SUSE` (ifcfg/ifroute files in
//! /etc/sysconfig/network, plus systemd-networkd when the template has it).

use std::collections::BTreeMap;

use super::ctfs::ModifyOpts;
use super::net::{is_ip_in_cidr, networks};
use super::Setup;

pub(super) fn suse_version(os_release: &BTreeMap<String, String>) -> Result<String, String> {
    let version = os_release.get("VERSION_ID").cloned().unwrap_or_default();
    let ostype = os_release.get("ID").map(String::as_str).unwrap_or_default();
    let ver = regex::Regex::new(r"^(\d+)\.(\d+)$").expect("valid regex");
    let date = regex::Regex::new(r"^(\d{4})(\d{2})(\d{2})$").expect("valid regex");
    if let Some(c) = ver.captures(&version) {
        let major: u64 = c[1].parse().unwrap_or(0);
        let minor: u64 = c[2].parse().unwrap_or(0);
        let ok = major >= 42
            || (major == 13 && minor <= 2)
            || (ostype == "sles" && major == 12)
            || major == 15
            || major == 16;
        if !ok {
            return Err(format!("unsupported suse release '{version}'\n"));
        }
    } else if let Some(c) = date.captures(&version) {
        let year: u64 = c[1].parse().unwrap_or(0);
        let month: u64 = c[2].parse().unwrap_or(99);
        let day: u64 = c[3].parse().unwrap_or(99);
        if !(year >= 2017 && month <= 12 && day <= 31) {
            return Err(format!("unsupported suse tumbleweed release '{version}'\n"));
        }
    } else {
        return Err("unrecognized suse release".into());
    }
    Ok(version)
}

pub(super) fn template_fixup(s: &mut Setup) -> Result<(), String> {
    s.setup_securetty(&[])?;
    if !s.fs.file_exists("/etc/locale.conf") {
        s.fs.set_contents("/etc/locale.conf", "LANG=C.utf8", None)?;
    }
    if !s.fs.file_exists("/etc/localtime") {
        s.fs.symlink("/usr/share/zoneinfo/UTC", "/etc/localtime");
    }
    s.remove_lxc_name_from_etc_hosts()
}

pub(super) fn setup_network(s: &mut Setup) -> Result<(), String> {
    s.fs.make_path("/etc/sysconfig/network");
    for (_, d) in networks(&s.conf.clone())? {
        let Some(name) = d.name.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let file = format!("/etc/sysconfig/network/ifcfg-{name}");
        let routefile = format!("/etc/sysconfig/network/ifroute-{name}");
        let mut routes = String::new();
        const MODES: [&str; 4] = ["static", "dhcp4", "dhcp6", "dhcp"];
        let mut dhcp = 0usize;
        let mut addrs: Vec<String> = Vec::new();
        let mut configured = false;
        if let Some(ip) = d.ip.as_deref().filter(|i| !i.is_empty() && *i != "manual") {
            configured = true;
            if ip == "dhcp" {
                dhcp |= 1;
            } else {
                addrs.push(ip.to_string());
                if let Some(gw) = &d.gw {
                    if !is_ip_in_cidr(gw, ip) {
                        routes.push_str(&format!("{gw} 0.0.0.0 255.255.255.255 {name}\n"));
                    }
                    routes.push_str(&format!("default {gw} 0.0.0.0 {name}\n"));
                }
            }
        }
        if let Some(ip6) = d.ip6.as_deref().filter(|i| !i.is_empty() && *i != "manual") {
            configured = true;
            if ip6 == "auto" {
                // SLAAC is the default.
            } else if ip6 == "dhcp" {
                dhcp |= 2;
            } else {
                addrs.push(ip6.to_string());
                if let Some(gw6) = &d.gw6 {
                    if !is_ip_in_cidr(gw6, ip6) && !is_ip_in_cidr(gw6, "fe80::/10") {
                        routes.push_str(&format!("{gw6}/128 - - {name}\n"));
                    }
                    routes.push_str(&format!("default {gw6} - {name}\n"));
                }
            }
        }
        let mut data = String::new();
        if addrs.len() > 1 {
            for (i, a) in addrs.iter().enumerate() {
                data.push_str(&format!("IPADDR_{}={a}\n", i + 1));
            }
        } else if let Some(a) = addrs.first() {
            data.push_str(&format!("IPADDR={a}\n"));
        } else if configured && dhcp == 0 {
            continue;
        }
        let data = format!(
            "STARTMODE={}\nBOOTPROTO={}\n{data}",
            if configured { "onboot" } else { "manual" },
            MODES[dhcp]
        );
        s.fs.set_contents(&file, &data, None)?;
        s.fs.modify_file(
            &routefile,
            &routes,
            ModifyOpts {
                delete: true,
                prepend: true,
                ..Default::default()
            },
        )?;
    }
    if s.fs.file_exists("/usr/lib/systemd/systemd-networkd") {
        super::redhat::setup_systemd_networkd(s)?;
    }
    Ok(())
}
