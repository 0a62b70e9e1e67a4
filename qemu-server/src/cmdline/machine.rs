//! Machine type and version resolution, as upstream's `PVE::QemuServer::Machine`.

/// Highest PVE machine revision per QEMU `major.minor` (all others are pve0).
const PVE_MACHINE_REVISIONS: &[((u32, u32), u32)] =
    &[((4, 1), 2), ((9, 2), 1), ((10, 0), 1), ((11, 0), 2)];

/// The highest `+pveN` revision known for a `major.minor`.
pub fn pve_revision(major: u32, minor: u32) -> u32 {
    PVE_MACHINE_REVISIONS
        .iter()
        .find(|(v, _)| *v == (major, minor))
        .map(|(_, r)| *r)
        .unwrap_or(0)
}

/// A `major.minor[+pveN]` machine version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineVersion {
    pub major: u32,
    pub minor: u32,
    pub pve: Option<u32>,
}

impl MachineVersion {
    /// Upstream's `min_version($ver, major, minor, pve)`.
    pub fn at_least(&self, major: u32, minor: u32, pve: Option<u32>) -> bool {
        if self.major != major {
            return self.major > major;
        }
        if self.minor != minor {
            return self.minor > minor;
        }
        match pve {
            None => true,
            Some(p) => self.pve.unwrap_or(0) >= p,
        }
    }
}

impl std::fmt::Display for MachineVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(p) = self.pve.filter(|p| *p > 0) {
            write!(f, "+pve{p}")?;
        }
        Ok(())
    }
}

/// `(major, minor, pve)` of a versioned machine type like `pc-i440fx-5.1+pve0.pxe`.
pub fn version_parts(machine: &str) -> Option<(u32, u32, Option<u32>)> {
    let rest = ["pc-i440fx-", "pc-q35-", "pc-", "virt-"]
        .iter()
        .find_map(|p| machine.strip_prefix(p))?;
    let (nums, tail) = match rest.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let nums = nums.trim_end_matches(".pxe").trim_end_matches('.');
    let mut it = nums.split('.');
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    let pve = tail
        .strip_prefix("+pve")
        .map(|t| t.trim_end_matches(".pxe"))
        .and_then(|t| t.parse().ok());
    Some((major, minor, pve))
}

/// Upstream's `extract_version`: the machine's own version, else the binary's newest.
pub fn extract_version(machine: &str, qemu: (u32, u32, u32)) -> MachineVersion {
    match version_parts(machine) {
        Some((major, minor, pve)) => MachineVersion {
            major,
            minor,
            pve: pve.filter(|p| *p > 0),
        },
        None => MachineVersion {
            major: qemu.0,
            minor: qemu.1,
            pve: Some(pve_revision(qemu.0, qemu.1)),
        },
    }
}

/// Upstream's `windows_version` for an `ostype`.
pub fn windows_version(ostype: Option<&str>) -> u32 {
    match ostype {
        Some("wxp" | "w2k3" | "w2k") => 5,
        Some("w2k8" | "wvista") => 6,
        Some(o) => o
            .strip_prefix("win")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        None => 0,
    }
}

/// Upstream's `get_vm_machine`: the configured type, with the version pinned for
/// Windows and a `+pveN` suffix always present.
pub fn vm_machine(
    machine_type: Option<&str>,
    arch: &str,
    ostype: Option<&str>,
    creation_qemu: Option<&str>,
    qemu: (u32, u32, u32),
) -> Result<String, String> {
    let mut machine = machine_type.unwrap_or("").to_string();
    if machine.is_empty() || ["pc", "q35", "virt"].contains(&machine.as_str()) {
        if machine.is_empty() {
            machine = match arch {
                "x86_64" => "pc".into(),
                "aarch64" => "virt".into(),
                other => return Err(format!("unsupported architecture '{other}'\n")),
            };
        }
        if windows_version(ostype) > 0 {
            let mut base: Option<(u32, u32)> = Some((5, 1));
            if let Some(v) = creation_qemu.and_then(parse_major_minor) {
                if v >= (9, 1) {
                    base = Some(v);
                }
            }
            let pin = match base {
                Some((ma, mi)) if (qemu.0, qemu.1) >= (ma, mi) => format!("{ma}.{mi}"),
                _ => latest_installed(qemu),
            };
            machine = match machine.as_str() {
                "pc" => format!("pc-i440fx-{pin}"),
                "q35" => format!("pc-q35-{pin}"),
                _ => format!("virt-{pin}"),
            };
        } else {
            machine = format!("{machine}+pve{}", pve_revision(qemu.0, qemu.1));
        }
    }
    let has_pve = {
        let base = machine.strip_suffix(".pxe").unwrap_or(&machine);
        base.rfind("+pve")
            .is_some_and(|i| base[i + 4..].bytes().all(|b| b.is_ascii_digit()))
    };
    if !has_pve {
        match machine.strip_suffix(".pxe") {
            Some(base) => machine = format!("{base}+pve0.pxe"),
            None => machine.push_str("+pve0"),
        }
    }
    Ok(machine)
}

fn latest_installed(qemu: (u32, u32, u32)) -> String {
    let rev = pve_revision(qemu.0, qemu.1);
    if rev > 0 {
        format!("{}.{}+pve{rev}", qemu.0, qemu.1)
    } else {
        format!("{}.{}", qemu.0, qemu.1)
    }
}

fn parse_major_minor(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(['.', '+']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// `i440fx`, `q35` or `virt`.
pub fn base_type(machine: &str) -> &'static str {
    if machine.contains("q35") {
        "q35"
    } else if machine.starts_with("pc") {
        "i440fx"
    } else {
        "virt"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution() {
        let q = (11, 0, 0);
        assert_eq!(
            vm_machine(None, "x86_64", None, None, q).unwrap(),
            "pc+pve2"
        );
        assert_eq!(
            vm_machine(Some("pc-i440fx-5.0.pxe"), "x86_64", None, None, q).unwrap(),
            "pc-i440fx-5.0+pve0.pxe"
        );
        assert_eq!(
            vm_machine(None, "x86_64", Some("win10"), None, q).unwrap(),
            "pc-i440fx-5.1+pve0"
        );
        assert_eq!(
            vm_machine(Some("q35"), "x86_64", Some("win11"), Some("9.2.0"), q).unwrap(),
            "pc-q35-9.2+pve0"
        );
        assert_eq!(version_parts("pc-q35-9.0+pve77"), Some((9, 0, Some(77))));
        let v = extract_version("pc+pve2", q);
        assert!(v.at_least(11, 0, Some(2)) && !v.at_least(11, 1, None));
    }
}
