//! Debian, Devuan and Alpine: versions, inittab, and /etc/network/interfaces (upstream's
//! `PVE::LXC::Setup::Debian`, `Devuan`, `Alpine`).

use std::collections::{BTreeMap, BTreeSet};

use super::ctfs::CtFs;
use super::net::{is_ip_in_cidr, networks, parse_ipv4_cidr, split_ipv6_cidr};
use super::{Distro, Setup};
use crate::config::CtSection;

const DEBIAN_MINIMUM_RELEASE: u32 = 4;
const DEBIAN_MAXIMUM_RELEASE: u32 = 14;

/// The Debian major version from /etc/debian_version.
pub(super) fn debian_version(fs: &CtFs, warnings: &mut Vec<String>) -> Result<String, String> {
    let raw = fs
        .read_firstline("/etc/debian_version")
        .ok_or("unable to read version info\n")?;
    let mapped = match raw.as_str() {
        "stretch/sid" => "9.1",
        "buster/sid" => "10",
        "bullseye/sid" => "11",
        "bookworm/sid" => "12",
        "trixie/sid" => "13",
        "forky/sid" => "14",
        "duke/sid" => "15",
        "kali-rolling" => "12",
        other => other,
    };
    let digits: String = mapped.chars().take_while(|c| c.is_ascii_digit()).collect();
    let version: u32 = digits
        .parse()
        .map_err(|_| format!("unable to parse version info '{mapped}'\n"))?;
    if version < DEBIAN_MINIMUM_RELEASE {
        return Err(format!("Container Debian version '{version}' is too old\n"));
    }
    if version > DEBIAN_MAXIMUM_RELEASE {
        warnings.push(format!(
            "The container's Debian version '{version}' is newer than the tested version '{DEBIAN_MAXIMUM_RELEASE}'. While everything may work fine, full compatibility cannot be guaranteed. Please check for PVE system updates.\n"
        ));
    }
    Ok(version.to_string())
}

/// The Debian-equivalent major version of a Devuan release name.
pub(super) fn devuan_version(fs: &CtFs) -> Result<String, String> {
    let raw = fs
        .read_firstline("/etc/devuan_version")
        .ok_or("unable to read version info\n")?
        .to_lowercase();
    let v = match raw.as_str() {
        "jessie" => 8,
        "ascii" | "ascii/ceres" => 9,
        "beowulf" | "beowulf/ceres" => 10,
        "chimaera" | "chimaera/ceres" => 11,
        "daedalus" | "daedalus/ceres" => 12,
        "excalibur" | "excalibur/ceres" => 13,
        _ => return Err(format!("unsupported Devuan version '{raw}'\n")),
    };
    Ok(v.to_string())
}

/// `at_least($version, $maj, $min)` on a `MAJOR[.MINOR…]` string.
pub(super) fn at_least(version: Option<&str>, want_maj: u64, want_min: u64) -> bool {
    let Some(v) = version else { return false };
    let re = regex::Regex::new(r"^(\d+)(?:\.(\d+))?").expect("valid regex");
    let Some(c) = re.captures(v) else {
        return false;
    };
    let Ok(maj) = c[1].parse::<u64>() else {
        return false;
    };
    let min = c.get(2).and_then(|m| m.as_str().parse::<u64>().ok());
    want_maj < maj
        || want_maj == maj
            && ((min.is_none() && want_min == 0) || min.is_some_and(|m| want_min <= m))
}

fn setup_inittab(s: &mut Setup) -> Result<(), String> {
    let file = "/etc/inittab";
    if !s.fs.file_exists(file) {
        return Ok(());
    }
    let ttycount = s.tty_count();
    let data = s.fs.get_contents(file)?;
    let getty = regex::Regex::new(r"^\s*\d+:\d*:[^:]*:.*getty").expect("valid regex");
    let power = regex::Regex::new(r"^\s*p[fno0]:").expect("valid regex");
    let lines: Vec<String> = super::ctfs::perl_split_lines(&data)
        .into_iter()
        .filter(|l| !getty.is_match(l) && !power.is_match(l))
        .collect();
    let mut inittab = lines.join("\n") + "\n";
    inittab.push_str("p0::powerfail:/sbin/init 0\n");
    let version: u32 = s
        .version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for id in 1..=ttycount {
        if id == 7 {
            continue;
        }
        let levels = if id == 1 { "2345" } else { "23" };
        if version < 7 {
            inittab.push_str(&format!(
                "{id}:{levels}:respawn:/sbin/getty -L 38400 tty{id}\n"
            ));
        } else {
            inittab.push_str(&format!(
                "{id}:{levels}:respawn:/sbin/getty --noclear 38400 tty{id}\n"
            ));
        }
    }
    s.fs.set_contents(file, &inittab, None)
}

pub(super) fn setup_init(s: &mut Setup) -> Result<(), String> {
    if s.uses_systemd_init() {
        s.setup_container_getty_service()?;
        if at_least(s.version.as_deref(), 12, 0) {
            s.setup_systemd_preset(&[("systemd-networkd.service", false)])?;
        }
    }
    setup_inittab(s)
}

pub(super) fn alpine_setup_init(s: &mut Setup) -> Result<(), String> {
    let file = "/etc/inittab";
    if !s.fs.file_exists(file) {
        return Ok(());
    }
    let ttycount = s.tty_count();
    let data = s.fs.get_contents(file)?;
    let getty = regex::Regex::new(r"^\s*tty\d+:\d*:[^:]*:.*getty").expect("valid regex");
    let lines: Vec<String> = super::ctfs::perl_split_lines(&data)
        .into_iter()
        .filter(|l| !getty.is_match(l))
        .collect();
    let mut inittab = lines.join("\n") + "\n";
    for id in 1..=ttycount {
        if id == 7 {
            continue;
        }
        inittab.push_str(&format!("tty{id}::respawn:/sbin/getty 38400 tty{id}\n"));
    }
    s.fs.set_contents(file, &inittab, None)
}

/// Alpine: DHCPv6/SLAAC are handled by the system, so `ip6=dhcp|auto` become `manual`.
pub(super) fn alpine_setup_network(s: &mut Setup) -> Result<(), String> {
    let mut conf = s.conf.clone();
    let net_format = crate::schema::option_format("net").unwrap_or_default();
    for (idx, net) in networks(&s.conf)? {
        if matches!(net.ip6.as_deref(), Some("dhcp") | Some("auto")) {
            let mut props = net.props.clone();
            props.insert("ip6".into(), serde_json::Value::String("manual".into()));
            let text =
                pve_common::schema::property_string::print_property_string(&props, &net_format)?;
            conf.set(&format!("net{idx}"), text);
        }
    }
    setup_network(s, &conf)
}

#[derive(Default, Clone)]
struct Net {
    address: Option<String>,
    netmask: Option<String>,
    cidr: Option<String>,
    gateway: Option<String>,
    needsroute: bool,
    address6: Option<String>,
    netmask6: Option<String>,
    cidr6: Option<String>,
    gateway6: Option<String>,
    needsroute6: bool,
}

struct Section {
    v6: bool,
    ifname: String,
    attr: Vec<String>,
}

/// `remove_gateway_scripts`: drop our old PVE block (or, without one, the four
/// post-up/pre-down route lines older versions wrote).
fn remove_gateway_scripts(attr: &mut Vec<String>) {
    let mut found_section = false;
    let mut keep = true;
    attr.retain(|l| {
        if l == "# --- BEGIN PVE ---" {
            found_section = true;
            keep = false;
            false
        } else if l == "# --- END PVE ---" {
            found_section = true;
            keep = true;
            false
        } else {
            keep
        }
    });
    if found_section {
        return;
    }
    let re = |p: &str| regex::Regex::new(p).expect("valid regex");
    let r0 = re(r"^\s*post-up\s+ip\s+route\s+add\s+(\S+)\s+dev\s+(\S+)$");
    let r1 = re(r"^\s*post-up\s+ip\s+route\s+add\s+default\s+via\s+(\S+)\s+dev\s+(\S+)$");
    let r2 = re(r"^\s*pre-down\s+ip\s+route\s+del\s+default\s+via\s+(\S+)\s+dev\s+(\S+)$");
    let r3 = re(r"^\s*pre-down\s+ip\s+route\s+del\s+(\S+)\s+dev\s+(\S+)$");
    let mut i: isize = 0;
    while (i as usize) + 3 < attr.len() {
        let iu = i as usize;
        let Some(c0) = r0.captures(&attr[iu]) else {
            i += 1;
            continue;
        };
        let (ip, dev) = (c0[1].to_string(), c0[2].to_string());
        let same = |r: &regex::Regex, l: &str| {
            r.captures(l)
                .is_some_and(|c| c[1] == *ip.as_str() && c[2] == *dev.as_str())
        };
        if same(&r1, &attr[iu + 1]) && same(&r2, &attr[iu + 2]) && same(&r3, &attr[iu + 3]) {
            attr.drain(iu..iu + 4);
            i -= 1;
            if i < 0 {
                i = 0;
                continue;
            }
        }
        i += 1;
    }
}

fn gateway_scripts(ifname: &str, gw: &str) -> String {
    format!(
        "# --- BEGIN PVE ---\n\tpost-up ip route add {gw} dev {ifname}\n\tpost-up ip route add default via {gw} dev {ifname}\n\tpre-down ip route del default via {gw} dev {ifname}\n\tpre-down ip route del {gw} dev {ifname}\n# --- END PVE ---\n"
    )
}

#[derive(Default)]
struct State {
    out: String,
    done_auto: BTreeSet<String>,
    done_v4: BTreeSet<String>,
    done_v6: BTreeSet<String>,
}

fn print_section(
    st: &mut State,
    nets: &BTreeMap<String, Net>,
    cidr_style: bool,
    section: &mut Option<Section>,
) {
    let out = &mut st.out;
    let done_auto = &mut st.done_auto;
    let done_v4 = &mut st.done_v4;
    let done_v6 = &mut st.done_v6;
    let Some(mut sec) = section.take() else {
        return;
    };
    let ifname = sec.ifname.clone();
    let net = nets.get(&ifname).cloned().unwrap_or_default();
    if done_auto.insert(ifname.clone()) {
        out.push_str(&format!("auto {ifname}\n"));
    }
    let (address, netmask, cidr, gateway, needsroute, family, methods): (
        _,
        _,
        _,
        _,
        _,
        _,
        &[&str],
    ) = if sec.v6 {
        done_v6.insert(ifname.clone());
        (
            net.address6,
            net.netmask6,
            net.cidr6,
            net.gateway6,
            net.needsroute6,
            "inet6",
            &["auto", "dhcp", "manual"],
        )
    } else {
        done_v4.insert(ifname.clone());
        (
            net.address,
            net.netmask,
            net.cidr,
            net.gateway,
            net.needsroute,
            "inet",
            &["dhcp", "manual"],
        )
    };
    let Some(address) = address else { return };
    if methods.contains(&address.as_str()) {
        out.push_str(&format!("iface {ifname} {family} {address}\n\n"));
        return;
    }
    out.push_str(&format!("iface {ifname} {family} static\n"));
    if cidr_style {
        if let Some(c) = &cidr {
            out.push_str(&format!("\taddress {c}\n"));
        }
    } else {
        out.push_str(&format!("\taddress {address}\n"));
        if let Some(m) = &netmask {
            out.push_str(&format!("\tnetmask {m}\n"));
        }
    }
    remove_gateway_scripts(&mut sec.attr);
    if let Some(gw) = &gateway {
        if needsroute {
            out.push_str(&gateway_scripts(&ifname, gw));
        } else {
            out.push_str(&format!("\tgateway {gw}\n"));
        }
    }
    for a in &sec.attr {
        out.push_str(&format!("\t{a}\n"));
    }
    out.push('\n');
}

/// Debian's `setup_network` (also used by Devuan and Alpine): rewrite the stanzas of
/// configured interfaces in /etc/network/interfaces, keeping everything else.
pub(super) fn setup_network(s: &mut Setup, conf: &CtSection) -> Result<(), String> {
    let mut nets: BTreeMap<String, Net> = BTreeMap::new();
    for (_, d) in networks(conf)? {
        let Some(name) = d.name.clone().filter(|n| !n.is_empty()) else {
            continue;
        };
        let mut net = Net::default();
        let mut has_any = false;
        let mut cidr = None;
        if let Some(ip) = &d.ip {
            has_any = true;
            if ip == "dhcp" || ip == "manual" {
                net.address = Some(ip.clone());
            } else {
                let (addr, mask) = parse_ipv4_cidr(ip)?;
                net.address = Some(addr);
                net.netmask = Some(mask);
                net.cidr = Some(ip.clone());
                cidr = Some(ip.clone());
            }
        }
        if let Some(gw) = &d.gw {
            has_any = true;
            net.gateway = Some(gw.clone());
            if cidr.as_deref().is_some_and(|c| !is_ip_in_cidr(gw, c)) {
                net.needsroute = true;
            }
        }
        let mut cidr6 = None;
        if let Some(ip6) = &d.ip6 {
            has_any = true;
            if ip6 == "auto" || ip6 == "dhcp" || ip6 == "manual" {
                net.address6 = Some(ip6.clone());
            } else {
                let (addr, prefix) =
                    split_ipv6_cidr(ip6).ok_or("unable to parse ipv6 address/prefix\n")?;
                net.address6 = Some(addr);
                net.netmask6 = Some(prefix);
                net.cidr6 = Some(ip6.clone());
                cidr6 = Some(ip6.clone());
            }
        }
        if let Some(gw6) = &d.gw6 {
            has_any = true;
            net.gateway6 = Some(gw6.clone());
            if cidr6
                .as_deref()
                .is_some_and(|c| !is_ip_in_cidr(gw6, c) && !is_ip_in_cidr(gw6, "fe80::/10"))
            {
                net.needsroute6 = true;
            }
        }
        if has_any {
            nets.insert(name, net);
        }
    }
    if nets.is_empty() {
        return Ok(());
    }

    let file = "/etc/network/interfaces";
    let os = s.distro;
    let version = s.version.clone();
    let cidr_style = (os == Distro::Debian && at_least(version.as_deref(), 10, 0))
        || (os == Distro::Alpine && at_least(version.as_deref(), 3, 13));
    let mut st = State::default();
    let mut section: Option<Section> = None;
    if s.fs.file_exists(file) || s.fs.exists(file) {
        let data = s.fs.get_contents(file).unwrap_or_default();
        let re = |p: &str| regex::Regex::new(p).expect("valid regex");
        let marker = re(r"^# --- (?:BEGIN|END) PVE ---");
        let iface4 = re(r"^\s*iface\s+(\S+)\s+inet\s+(\S+)\s*$");
        let iface6 = re(r"^\s*iface\s+(\S+)\s+inet6\s+(\S+)\s*$");
        let auto = re(r"^\s*auto\s*(.*)$");
        let other = re(r"^\s*(?:mapping\s|allow-|source\s|source-directory\s)");
        let attr_re = re(r"^\s*((\S+)\s(.*))$");
        for line in data.split_inclusive('\n') {
            let line = line.strip_suffix('\n').unwrap_or(line);
            if marker.is_match(line) {
                if let Some(sec) = section.as_mut() {
                    sec.attr.push(line.to_string());
                }
                continue;
            }
            if line.starts_with('#') {
                st.out.push_str(line);
                st.out.push('\n');
                continue;
            }
            if line.trim().is_empty() {
                if section.is_some() {
                    print_section(&mut st, &nets, cidr_style, &mut section);
                } else {
                    st.out.push_str(line);
                    st.out.push('\n');
                }
                continue;
            }
            let iface = iface4
                .captures(line)
                .map(|c| (c[1].to_string(), false))
                .or_else(|| iface6.captures(line).map(|c| (c[1].to_string(), true)));
            if let Some((ifname, v6)) = iface {
                print_section(&mut st, &nets, cidr_style, &mut section);
                if !nets.contains_key(&ifname) {
                    st.out.push_str(line);
                    st.out.push('\n');
                    continue;
                }
                section = Some(Section {
                    v6,
                    ifname,
                    attr: Vec::new(),
                });
                continue;
            }
            if let Some(c) = auto.captures(line) {
                for iface in c[1].split_whitespace() {
                    st.done_auto.insert(iface.to_string());
                }
                print_section(&mut st, &nets, cidr_style, &mut section);
                st.out.push_str(line);
                st.out.push('\n');
                continue;
            }
            if other.is_match(line) {
                print_section(&mut st, &nets, cidr_style, &mut section);
                st.out.push_str(line);
                st.out.push('\n');
                continue;
            }
            if let Some(sec) = section.as_mut() {
                if let Some(c) = attr_re.captures(line) {
                    let name = &c[2];
                    if !matches!(name, "address" | "netmask" | "gateway" | "broadcast") {
                        sec.attr.push(c[1].to_string());
                    }
                    continue;
                }
            }
            st.out.push_str(line);
            st.out.push('\n');
        }
        print_section(&mut st, &nets, cidr_style, &mut section);
    }

    let mut need_separator = !st.out.is_empty() && !st.out.ends_with("\n\n");
    let names: Vec<String> = nets.keys().cloned().collect();
    for ifname in names {
        let net = nets[&ifname].clone();
        if !st.done_v4.contains(&ifname) && net.address.is_some() {
            if need_separator {
                st.out.push('\n');
                need_separator = false;
            }
            let mut sec = Some(Section {
                v6: false,
                ifname: ifname.clone(),
                attr: Vec::new(),
            });
            print_section(&mut st, &nets, cidr_style, &mut sec);
        }
        if !st.done_v6.contains(&ifname) && net.address6.is_some() {
            if need_separator {
                st.out.push('\n');
                need_separator = false;
            }
            let mut sec = Some(Section {
                v6: true,
                ifname: ifname.clone(),
                attr: Vec::new(),
            });
            print_section(&mut st, &nets, cidr_style, &mut sec);
        }
    }
    if !st.done_auto.contains("lo") {
        st.out = format!(
            "auto lo\niface lo inet loopback\niface lo inet6 loopback\n\n{}",
            st.out
        );
    }
    s.fs.make_path("/etc/network");
    s.fs.set_contents(file, &st.out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compare() {
        assert!(at_least(Some("12"), 12, 0));
        assert!(!at_least(Some("11"), 12, 0));
        assert!(at_least(Some("3.13.0"), 3, 13));
        assert!(!at_least(Some("3.12.1"), 3, 13));
        assert!(!at_least(Some("3"), 3, 13));
        assert!(!at_least(None, 3, 0));
    }

    #[test]
    fn old_gateway_lines_removed() {
        let mut attr: Vec<String> = [
            "post-up ip route add 1.2.3.4 dev eth0",
            "post-up ip route add default via 1.2.3.4 dev eth0",
            "pre-down ip route del default via 1.2.3.4 dev eth0",
            "pre-down ip route del 1.2.3.4 dev eth0",
            "mtu 1400",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        remove_gateway_scripts(&mut attr);
        assert_eq!(attr, ["mtu 1400"]);
    }
}
