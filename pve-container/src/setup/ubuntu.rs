//! Ubuntu: upstream's `PVE::LXC::Setup::Ubuntu` (a Debian flavour with systemd-networkd
//! from 17.10 on, netplan's LXC default removed, upstart ttys for 12.04/14.04).

use super::ctfs::CtFs;
use super::Setup;

const KNOWN_VERSIONS: &[&str] = &[
    "26.10", "26.04", "25.10", "25.04", "24.10", "24.04", "23.10", "23.04", "22.10", "22.04",
    "21.10", "21.04", "20.10", "20.04", "19.10", "19.04", "18.10", "18.04", "17.10", "17.04",
    "16.10", "16.04", "15.10", "15.04", "14.04", "12.04",
];

/// The release from /etc/lsb-release (`DISTRIB_RELEASE=NN.NN`).
pub(super) fn ubuntu_version(fs: &CtFs, warnings: &mut Vec<String>) -> Result<String, String> {
    let lsb = fs.get_contents("/etc/lsb-release")?;
    let id = regex::Regex::new(r"(?mi)^DISTRIB_ID=Ubuntu$").expect("valid regex");
    if !id.is_match(&lsb) {
        return Err("got unknown DISTRIB_ID\n".into());
    }
    let rel = regex::Regex::new(r"(?mi)^DISTRIB_RELEASE=(\d+\.\d+)$").expect("valid regex");
    let version = rel
        .captures(&lsb)
        .map(|c| c[1].to_string())
        .ok_or("unable to read version info\n")?;
    if !KNOWN_VERSIONS.contains(&version.as_str()) {
        let major: u32 = version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0);
        if major < 17 {
            return Err(format!("unsupported ancient Ubuntu version '{version}'\n"));
        }
        warnings.push(format!(
            "The container's Ubuntu version '{version}' is not in the known version list. As it's newer than the minimum supported version it's likely to work OK, but full compatibility cannot be guaranteed. Please check for PVE system updates.\n"
        ));
    }
    Ok(version)
}

fn num(s: &Setup) -> f64 {
    s.version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub(super) fn template_fixup(s: &mut Setup) -> Result<(), String> {
    let v = num(s);
    let version = s.version.clone().unwrap_or_default();
    if (17.10..23.04).contains(&v) {
        s.fs.mkdir("/etc/systemd/system/multi-user.target.wants", 0o777);
        s.fs.mkdir("/etc/systemd/system/socket.target.wants", 0o777);
        s.fs.symlink(
            "/lib/systemd/system/systemd-networkd.service",
            "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service",
        );
        s.fs.symlink(
            "/lib/systemd/system/systemd-networkd.socket",
            "/etc/systemd/system/socket.target.wants/systemd-networkd.socket",
        );
    }
    if v >= 17.10 {
        s.fs.unlink("/etc/netplan/10-lxc.yaml");
    }
    if matches!(version.as_str(), "15.04" | "15.10" | "16.04") {
        s.setup_securetty(&["pts/0"])?;
    }
    if version == "12.04" {
        let file = "/etc/udev/udev.conf";
        let data = s.fs.get_contents(file)?;
        let data = data.replacen("=\"err\"", "=0", 1);
        s.fs.set_contents(file, &data, None)?;
    }
    Ok(())
}

pub(super) fn setup_init(s: &mut Setup) -> Result<(), String> {
    let v = num(s);
    let version = s.version.clone().unwrap_or_default();
    if v >= 23.04 {
        s.setup_systemd_preset(&[("systemd-networkd.service", true)])?;
    }
    if v >= 16.10 {
        s.setup_container_getty_service()?;
    }
    if version == "12.04" || version == "14.04" {
        let ttycount = s.tty_count();
        for i in 1..7 {
            let file = format!("/etc/init/tty{i}.conf");
            if i <= ttycount {
                let conf = format!(
                    "# tty{i} - getty\n#\n# This service maintains a getty on tty{i} from the point the system is\n# started until it is shut down again.\n\nstart on stopped rc RUNLEVEL=[2345] and (\n            not-container or\n            container CONTAINER=lxc or\n            container CONTAINER=lxc-libvirt)\n\nstop on runlevel [!2345]\n\nrespawn\nexec /sbin/getty -8 38400 tty{i}\n"
                );
                s.fs.set_contents(&file, &conf, None)?;
            } else {
                s.fs.unlink(&file);
            }
        }
    }
    Ok(())
}

pub(super) fn setup_network(s: &mut Setup) -> Result<(), String> {
    if num(s) >= 17.10 {
        super::redhat::setup_systemd_networkd(s)
    } else {
        let conf = s.conf.clone();
        super::debian::setup_network(s, &conf)
    }
}
