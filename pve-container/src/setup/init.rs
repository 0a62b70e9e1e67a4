//! Init system tweaks: getty units, systemd presets and masked units, securetty, and
//! the systemd nesting check (upstream's `PVE::LXC::Setup::Base`).

use std::collections::BTreeMap;

use super::{Distro, Setup};

impl Setup {
    pub(super) fn systemd_unit_dir(&self) -> &'static str {
        if self.fs.is_executable("/lib/systemd/systemd") {
            "/lib/systemd/system"
        } else {
            "/usr/lib/systemd/system"
        }
    }

    pub(super) fn fixup_old_getty(&mut self) -> Result<(), String> {
        let dir = self.systemd_unit_dir();
        let getty = format!("{dir}/getty@.service");
        if !self.fs.file_exists(&getty) {
            return Ok(());
        }
        let raw = self.fs.get_contents(&getty)?;
        let container_getty = format!("{dir}/container-getty@.service");
        let (from, to) = if !self.fs.file_exists(&container_getty) {
            (
                "ConditionPathExists=/dev/tty0",
                "ConditionPathExists=/dev/tty",
            )
        } else {
            (
                "ConditionPathExists=/dev/tty",
                "ConditionPathExists=/dev/tty0",
            )
        };
        let mut lines: Vec<&str> = raw.split('\n').collect();
        if let Some(line) = lines.iter_mut().find(|l| **l == from) {
            *line = to;
            self.fs.set_contents(&getty, &lines.join("\n"), None)?;
        }
        Ok(())
    }

    pub(super) fn setup_container_getty_service(&mut self) -> Result<(), String> {
        let dir = self.systemd_unit_dir();
        let mut template_base = "container-getty@".to_string();
        let mut template_path = format!("{dir}/{template_base}.service");
        let mut instance_base = template_base.clone();
        if !self.fs.file_exists(&template_path) {
            template_base = "getty@".into();
            // Upstream drops the directory here (and its instance name keeps the braces).
            template_path = format!("{template_base}.service");
            instance_base = format!("{{{template_base}}}tty");
            if !self.fs.file_exists(&template_path) {
                return Ok(());
            }
        }
        let raw = self.fs.get_contents(&template_path)?;
        let ttyname = format!("{}tty%I", self.devttydir());
        let re = regex::Regex::new(r"pts/%I|lxc/tty%I").expect("valid regex");
        if re.is_match(&raw) {
            let new = re.replace_all(&raw, regex::NoExpand(&ttyname));
            self.fs.set_contents(&template_path, &new, None)?;
        }
        let wants = "/etc/systemd/system/getty.target.wants/";
        let ttycount = self.tty_count();
        for i in 1..7 {
            self.fs.unlink(&format!("{wants}/getty@tty{i}.service"));
            self.fs
                .unlink(&format!("{wants}/container-getty@{i}.service"));
            if i <= ttycount {
                self.fs.symlink(
                    &template_path,
                    &format!("{wants}/{instance_base}{i}.service"),
                );
            }
        }
        self.fs.unlink("/etc/systemd/system/getty.target");
        Ok(())
    }

    pub(super) fn setup_systemd_preset(&mut self, extra: &[(&str, bool)]) -> Result<(), String> {
        let mut preset: BTreeMap<&str, bool> = BTreeMap::from([
            ("sys-kernel-config.mount", false),
            ("sys-kernel-debug.mount", false),
            ("getty@.service", false),
            ("container-getty@.service", true),
        ]);
        for (k, v) in extra {
            preset.insert(k, *v);
        }
        let mut data = "# Added by PVE at create-time for first-boot configuration.\n".to_string();
        for (service, enable) in preset {
            data.push_str(&format!(
                "{} {service}\n",
                if enable { "enable" } else { "disable" }
            ));
        }
        self.fs.make_path("/etc/systemd/system-preset");
        self.fs
            .set_contents("/etc/systemd/system-preset/00-pve.preset", &data, None)
    }

    pub(super) fn setup_systemd_disable_static_units(&mut self) {
        for unit in ["sys-kernel-config.mount", "sys-kernel-debug.mount"] {
            let path = format!("/etc/systemd/system/{unit}");
            if !self.fs.file_exists(&path) {
                self.fs.symlink("/dev/null", &path);
            }
        }
    }

    pub(super) fn setup_securetty(&mut self, add: &[&str]) -> Result<(), String> {
        let file = "/etc/securetty";
        if !self.fs.file_exists(file) {
            return Ok(());
        }
        let dir = self.devttydir();
        let add: Vec<String> = if add.is_empty() {
            ["console", "tty1", "tty2", "tty3", "tty4"]
                .iter()
                .map(|d| format!("{dir}{d}"))
                .collect()
        } else {
            add.iter().map(|s| s.to_string()).collect()
        };
        let mut data = self.fs.get_contents(file)?;
        if data.ends_with('\n') {
            data.pop();
        }
        data.push('\n');
        for dev in add {
            let re = regex::Regex::new(&format!(r"(?m)^{}\s*$", regex::escape(&dev)))
                .expect("valid regex");
            if !re.is_match(&data) {
                data.push_str(&format!("{dev}\n"));
            }
        }
        self.fs.set_contents(file, &data, None)
    }

    /// The init binary (following /sbin/init links, at most 10).
    pub fn ct_init_path(&self) -> Result<String, String> {
        let mut path = "/sbin/init".to_string();
        let mut i = 0;
        while self.fs.is_symlink(&path) {
            if i >= 10 {
                return Err(
                    "maximal link depth of 10 for resolving '/sbin/init' reached, abort\n".into(),
                );
            }
            path = self.fs.abs_path(&path);
            i += 1;
        }
        Ok(path)
    }

    /// The systemd major version linked into an init binary (`libsystemd-shared-NNN`).
    pub fn systemd_version(&self, init: &str) -> Option<u32> {
        let data = std::fs::read(self.fs.resolve(init, true)).ok()?;
        let needle = b"libsystemd-shared-";
        let mut version = None;
        let mut start = 0;
        while let Some(pos) = data[start..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            let at = start + pos + needle.len();
            let digits: String = data[at..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .map(|b| *b as char)
                .collect();
            if let Ok(v) = digits.parse() {
                version = Some(v);
            }
            start = at;
        }
        version
    }

    pub(super) fn check_systemd_nesting(&mut self) {
        if self.distro == Distro::Unmanaged {
            return;
        }
        let nesting = self
            .conf
            .get("features")
            .and_then(|f| {
                let format = crate::schema::option_format("features")?;
                pve_common::schema::property_string::parse_property_string(&format, f).ok()
            })
            .and_then(|f| f.get("nesting").cloned())
            .is_some_and(|v| pve_common::schema::perl_truthy(&v));
        if nesting {
            return;
        }
        let Ok(init) = self.ct_init_path() else {
            return;
        };
        if !init.ends_with("/systemd") {
            return;
        }
        if let Some(v) = self.systemd_version(&init).filter(|v| *v > 241) {
            self.warnings.push(format!(
                "Systemd {v} detected. You may need to enable nesting.\n"
            ));
        }
    }
}
