//! Accounts and keys: root password, authorized SSH keys, SSH host keys, and the
//! crontab minute randomiser (upstream's `PVE::LXC::Setup::Base` and `Setup`).

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use super::{ctfs, Distro, ModifyOpts, Setup};

impl Setup {
    pub(super) fn randomize_crontab(&mut self) -> Result<(), String> {
        let name_re = regex::Regex::new(r"^[A-Z\-_a-z0-9]+$").expect("valid regex");
        let mut files: Vec<String> = self
            .fs
            .read_dir("/etc/cron.d")
            .into_iter()
            .filter(|n| name_re.is_match(n))
            .map(|n| format!("/etc/cron.d/{n}"))
            .collect();
        if self.fs.file_exists("/etc/crontab") {
            files.insert(0, "/etc/crontab".into());
        }
        let line_re = regex::Regex::new(r"^\d+(\s+\S+\s+\S+\s+\S+\s+\S+\s+root\s+\S.*)$")
            .expect("valid regex");
        for file in files {
            let data = self.fs.get_contents(&file)?;
            let mut new = String::new();
            for line in ctfs::perl_split_lines(&data) {
                if let Some(c) = line_re.captures(&line) {
                    let min = (self.rng.next_f64() * 59.0) as u32;
                    new.push_str(&format!("{min}{}\n", &c[1]));
                } else {
                    new.push_str(&line);
                    new.push('\n');
                }
            }
            self.fs.set_contents(&file, &new, None)?;
        }
        Ok(())
    }

    pub(super) fn replace_pw(&mut self, file: &str, user: &str, epw: &str, shadow: bool) {
        let tmp = format!("{file}.{}", std::process::id());
        let result = (|| -> Result<(), String> {
            let data = self.fs.get_contents(file)?;
            let days = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() / 86400);
            let prefix = format!("{user}:");
            let mut out = String::new();
            for line in data.split_inclusive('\n') {
                let replaced = line.strip_prefix(&prefix).and_then(|rest| {
                    let fields = if shadow { 2 } else { 1 };
                    let mut idx = 0;
                    for _ in 0..fields {
                        idx += rest[idx..].find(':')? + 1;
                    }
                    Some(if shadow {
                        format!("{user}:{epw}:{days}:{}", &rest[idx..])
                    } else {
                        format!("{user}:{epw}:{}", &rest[idx..])
                    })
                });
                out.push_str(replaced.as_deref().unwrap_or(line));
            }
            let (uid, gid, mode) = self.fs.stat(file).unwrap_or((0, 0, 0o644));
            self.fs.set_contents(&tmp, &out, Some(mode))?;
            let host_tmp = self.fs.resolve(&tmp, false);
            let _ = std::fs::set_permissions(&host_tmp, std::fs::Permissions::from_mode(mode));
            let _ = std::os::unix::fs::chown(&host_tmp, Some(uid), Some(gid));
            Ok(())
        })();
        if result.is_err() {
            self.fs.unlink(&tmp);
        } else {
            self.fs.rename(&tmp, file);
            self.fs.unlink(&tmp);
        }
    }

    pub(super) fn set_user_password(
        &mut self,
        user: &str,
        password: Option<&str>,
    ) -> Result<(), String> {
        if !self.fs.file_exists("/etc/passwd") {
            return Ok(());
        }
        let hash_re =
            regex::Regex::new(r"^\$(?:1|2[axy]?|5|6)\$[a-zA-Z0-9./]{1,16}\$[a-zA-Z0-9./]+$")
                .expect("valid regex");
        let epw = match password {
            Some(pw) if hash_re.is_match(pw) => pw.to_string(),
            Some(pw) => hash_password(pw)?,
            None => "*".to_string(),
        };
        if self.fs.file_exists("/etc/shadow") {
            self.replace_pw("/etc/shadow", user, &epw, true);
            self.replace_pw("/etc/passwd", user, "x", false);
        } else {
            self.replace_pw("/etc/passwd", user, &epw, false);
        }
        Ok(())
    }

    pub(super) fn set_user_authorized_ssh_keys(
        &mut self,
        user: &str,
        keys: &str,
    ) -> Result<(), String> {
        let mut home = if user == "root" {
            "/root/".to_string()
        } else {
            format!("/home/{user}/")
        };
        if self.fs.file_exists("/etc/passwd") {
            let data = self.fs.get_contents("/etc/passwd")?;
            let re = regex::Regex::new(&format!(r"^{}:([^:]*:){{4}}([^:]*):", regex::escape(user)))
                .expect("valid regex");
            home = data
                .split_inclusive('\n')
                .find_map(|l| re.captures(l).map(|c| c[2].to_string()))
                .unwrap_or_default();
        }
        if !(self.fs.is_directory(&home) || self.fs.is_symlink(&home)) {
            return Err(format!("home directory '{home}' of {user} does not exist!"));
        }
        let ssh_dir = format!("{home}/.ssh");
        if !self.fs.is_directory(&ssh_dir) {
            self.fs.mkdir(&ssh_dir, 0o700);
        }
        self.fs.modify_file(
            &format!("{home}/.ssh/authorized_keys"),
            keys,
            ModifyOpts {
                perms: Some(0o700),
                ..Default::default()
            },
        )
    }

    pub(super) fn ssh_host_key_types(&self) -> &'static [(&'static str, &'static str)] {
        match self.distro {
            Distro::Unmanaged => &[],
            _ => &[
                ("rsa", "ssh_host_rsa_key"),
                ("ecdsa", "ssh_host_ecdsa_key"),
                ("ed25519", "ssh_host_ed25519_key"),
            ],
        }
    }

    /// New SSH host keys for the container, generated on the host with `ssh-keygen`.
    pub(super) fn rewrite_ssh_host_keys(&mut self) -> Result<(), String> {
        let types = self.ssh_host_key_types();
        if !self.fs.is_directory("/etc/ssh") || types.is_empty() {
            return Ok(());
        }
        let hostname = self
            .conf
            .get("hostname")
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost");
        let hostname = hostname.split('.').next().unwrap_or_default().to_string();
        let tmpdir = std::env::temp_dir().join(format!(".pve-ct-keys.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmpdir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmpdir)
            .map_err(|e| format!("mkdir {} failed: {e}\n", tmpdir.display()))?;
        let result = (|| -> Result<(), String> {
            let mut files = Vec::new();
            for (kind, basename) in types {
                self.messages.push(format!(
                    "Creating SSH host key '{basename}' - this may take some time ...\n"
                ));
                let file = tmpdir.join(kind);
                let out = std::process::Command::new("ssh-keygen")
                    .arg("-f")
                    .arg(&file)
                    .args(["-t", kind, "-N", "", "-E", "sha256", "-C"])
                    .arg(format!("root@{hostname}"))
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| format!("failed to execute ssh-keygen: {e}\n"))?;
                if !out.status.success() {
                    return Err(format!(
                        "command 'ssh-keygen' failed: {}\n",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
                let private = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
                let mut pub_name = file.as_os_str().to_owned();
                pub_name.push(".pub");
                let public = std::fs::read_to_string(&pub_name).map_err(|e| e.to_string())?;
                files.push((format!("/etc/ssh/{basename}"), private, 0o600));
                files.push((format!("/etc/ssh/{basename}.pub"), public, 0o644));
            }
            for (path, data, mode) in files {
                self.fs.set_contents(&path, &data, Some(mode))?;
            }
            Ok(())
        })();
        let _ = std::fs::remove_dir_all(&tmpdir);
        result
    }
}

/// A SHA-512 crypt hash with upstream's salt (first 8 characters of the base64 SHA-1
/// of the current time).
fn hash_password(password: &str) -> Result<String, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let digest = openssl::sha::sha1(now.to_string().as_bytes());
    let b64 = openssl::base64::encode_block(&digest);
    let salt: String = b64.chars().take(8).collect();
    pve_access_control::secrets::crypt(password, &format!("$6${salt}$"))
        .or_else(|| {
            let safe: String = salt
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '.' })
                .collect();
            pve_access_control::secrets::crypt(password, &format!("$6${safe}$"))
        })
        .ok_or_else(|| "unable to hash password\n".to_string())
}
