//! Container config files (`/etc/pve/lxc/<vmid>.conf`) as upstream's
//! `PVE::LXC::Config::parse_pct_config` / `write_pct_config`: the main section,
//! `[pve:pending]`, snapshot sections, descriptions as leading `#` comments, raw `lxc.*`
//! keys (kept in file order) and `lxc.environment.runtime` entries (the `env` option).

use std::collections::BTreeMap;

use pve_guest_common::config::{config_digest, decode_text, encode_text};

use crate::schema::check_type;

/// One section of a container config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtSection {
    /// The description (comment lines, decoded, each with its newline; or the
    /// `description:` value).
    pub description: Option<String>,
    /// Options by key, sorted byte-wise as upstream writes them. `env` holds the
    /// NUL-separated runtime environment; `snapstate` may appear in snapshots.
    pub values: BTreeMap<String, String>,
    /// Raw `lxc.*` entries in file order.
    pub lxc: Vec<(String, String)>,
}

impl CtSection {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_string(), value.into());
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.values.remove(key)
    }

    /// Whether the section holds anything at all (upstream: `scalar(keys %$section)`).
    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.values.is_empty() && self.lxc.is_empty()
    }

    /// Whether an `lxc.*` entry with this key exists.
    pub fn has_lxc_entry(&self, key: &str) -> bool {
        self.lxc.iter().any(|(k, _)| k == key)
    }

    fn write(&self, out: &mut String) -> Result<(), String> {
        if let Some(descr) = self.description.as_deref() {
            // Perl's split drops trailing empty fields.
            let lines: Vec<&str> = descr.split('\n').collect();
            let end = lines
                .iter()
                .rposition(|l| !l.is_empty())
                .map_or(0, |i| i + 1);
            for line in &lines[..end] {
                out.push('#');
                out.push_str(&encode_text(line));
                out.push('\n');
            }
        }
        for (key, value) in &self.values {
            if key == "env" || key == "description" || key == "digest" || key == "snapname" {
                continue;
            }
            if value.contains('\n') {
                return Err(format!(
                    "detected invalid newline inside property '{key}'\n"
                ));
            }
            out.push_str(&format!("{key}: {value}\n"));
        }
        if let Some(env) = self
            .values
            .get("env")
            .filter(|e| !e.is_empty() && *e != "0")
        {
            for var in env.split('\0').filter(|v| !v.is_empty()) {
                out.push_str(&format!("lxc.environment.runtime: {var}\n"));
            }
        }
        for (key, value) in &self.lxc {
            if key == "lxc.environment.runtime" {
                continue;
            }
            out.push_str(&format!("{key}: {value}\n"));
        }
        Ok(())
    }
}

/// A parsed container config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CtConfig {
    pub main: CtSection,
    /// `[pve:pending]`: changes not applied yet (with an optional `delete:` list).
    pub pending: CtSection,
    /// Snapshot sections by name.
    pub snapshots: BTreeMap<String, CtSection>,
    /// SHA-1 (hex) of the raw text.
    pub digest: String,
}

/// A parse result with the warnings upstream prints (non-strict errors, deprecated
/// `lxc.*` keys).
#[derive(Debug)]
pub struct ParsedCtConfig {
    pub config: CtConfig,
    pub warnings: Vec<String>,
}

/// Raw `lxc.*` keys upstream accepts in a config (`1`), or refuses with a message.
fn lxc_key_validity(key: &str) -> Option<Result<(), &'static str>> {
    const VALID: &[&str] = &[
        "lxc.apparmor.profile",
        "lxc.apparmor.allow_incomplete",
        "lxc.apparmor.allow_nesting",
        "lxc.apparmor.raw",
        "lxc.selinux.context",
        "lxc.include",
        "lxc.arch",
        "lxc.uts.name",
        "lxc.signal.halt",
        "lxc.signal.reboot",
        "lxc.signal.stop",
        "lxc.init.cmd",
        "lxc.init.cwd",
        "lxc.init.uid",
        "lxc.init.gid",
        "lxc.init.groups",
        "lxc.pty.max",
        "lxc.console.logfile",
        "lxc.console.path",
        "lxc.tty.max",
        "lxc.devtty.dir",
        "lxc.hook.autodev",
        "lxc.autodev",
        "lxc.kmsg",
        "lxc.mount.fstab",
        "lxc.mount.entry",
        "lxc.mount.auto",
        "lxc.rootfs.mount",
        "lxc.cap.drop",
        "lxc.cap.keep",
        "lxc.seccomp.profile",
        "lxc.seccomp.notify.proxy",
        "lxc.seccomp.notify.cookie",
        "lxc.idmap",
        "lxc.hook.pre-start",
        "lxc.hook.pre-mount",
        "lxc.hook.mount",
        "lxc.hook.start",
        "lxc.hook.stop",
        "lxc.hook.post-stop",
        "lxc.hook.clone",
        "lxc.hook.destroy",
        "lxc.hook.version",
        "lxc.log.level",
        "lxc.log.file",
        "lxc.start.auto",
        "lxc.start.delay",
        "lxc.start.order",
        "lxc.group",
        "lxc.environment",
        "lxc.environment.runtime",
        "lxc.environment.hooks",
        "lxc.sysctl.fs.mqueue",
        "lxc.sysctl.kernel.msgmax",
        "lxc.sysctl.kernel.msgmnb",
        "lxc.sysctl.kernel.msgmni",
        "lxc.sysctl.kernel.sem",
        "lxc.sysctl.kernel.shmall",
        "lxc.sysctl.kernel.shmmax",
        "lxc.sysctl.kernel.shmmni",
        "lxc.sysctl.kernel.shm_rmid_forced",
    ];
    match key {
        "lxc.rootfs.path" => Some(Err("lxc.rootfs.path is auto generated from rootfs")),
        "lxc.rootfs.options" => Some(Err(
            "lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key",
        )),
        _ if VALID.contains(&key) => Some(Ok(())),
        _ => None,
    }
}

/// Upstream's deprecated `lxc.*` names and their replacements.
fn deprecated_lxc_key(key: &str) -> Option<&'static str> {
    Some(match key {
        "lxc.aa_profile" => "lxc.apparmor.profile",
        "lxc.aa_allow_incomplete" => "lxc.apparmor.allow_incomplete",
        "lxc.console" => "lxc.console.path",
        "lxc.devttydir" => "lxc.tty.dir",
        "lxc.haltsignal" => "lxc.signal.halt",
        "lxc.rebootsignal" => "lxc.signal.reboot",
        "lxc.stopsignal" => "lxc.signal.stop",
        "lxc.id_map" => "lxc.idmap",
        "lxc.init_cmd" => "lxc.init.cmd",
        "lxc.loglevel" => "lxc.log.level",
        "lxc.logfile" => "lxc.log.file",
        "lxc.mount" => "lxc.mount.fstab",
        "lxc.network.type" => "lxc.net.INDEX.type",
        "lxc.network.flags" => "lxc.net.INDEX.flags",
        "lxc.network.link" => "lxc.net.INDEX.link",
        "lxc.network.mtu" => "lxc.net.INDEX.mtu",
        "lxc.network.name" => "lxc.net.INDEX.name",
        "lxc.network.hwaddr" => "lxc.net.INDEX.hwaddr",
        "lxc.network.ipv4" => "lxc.net.INDEX.ipv4.address",
        "lxc.network.ipv4.gateway" => "lxc.net.INDEX.ipv4.gateway",
        "lxc.network.ipv6" => "lxc.net.INDEX.ipv6.address",
        "lxc.network.ipv6.gateway" => "lxc.net.INDEX.ipv6.gateway",
        "lxc.network.script.up" => "lxc.net.INDEX.script.up",
        "lxc.network.script.down" => "lxc.net.INDEX.script.down",
        "lxc.pts" => "lxc.pty.max",
        "lxc.se_context" => "lxc.selinux.context",
        "lxc.seccomp" => "lxc.seccomp.profile",
        "lxc.tty" => "lxc.tty.max",
        "lxc.utsname" => "lxc.uts.name",
        _ => return None,
    })
}

/// Upstream's `is_valid_lxc_conf_key`: `Ok(true)` valid, `Ok(false)` unknown,
/// `Err(msg)` refused; warnings are pushed for renamed or deprecated keys.
pub fn check_lxc_key(vmid: u32, key: &str, warnings: &mut Vec<String>) -> Result<bool, String> {
    if key.starts_with("lxc.limit.") {
        warnings.push(format!(
            "vm {vmid} - {key}: lxc.limit.* was renamed to lxc.prlimit.*\n"
        ));
        return Ok(true);
    }
    if let Some(new) = deprecated_lxc_key(key) {
        warnings.push(format!(
            "vm {vmid} - {key} is deprecated and was renamed to {new}\n"
        ));
        return Ok(true);
    }
    match lxc_key_validity(key) {
        Some(Ok(())) => return Ok(true),
        Some(Err(msg)) => return Err(msg.to_string()),
        None => {}
    }
    if key.starts_with("lxc.cgroup.") {
        warnings.push(format!(
            "vm {vmid} - {key} is deprecated, this will be a hard error in the future!\n"
        ));
        return Ok(true);
    }
    Ok(key.starts_with("lxc.cgroup2.")
        || key.starts_with("lxc.prlimit.")
        || key.starts_with("lxc.net."))
}

/// `^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$`
fn split_lxc_line(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("lxc.")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c)))
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let key = &line[..4 + end];
    let after = &line[4 + end..];
    let value = if let Some(v) = after.strip_prefix(':') {
        v
    } else {
        after.trim_start().strip_prefix('=')?
    };
    Some((key, value.trim()))
}

/// `^([a-z][a-z_]*\d*):\s*(.+?)\s*$`
fn split_key_line(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = line.split_once(':')?;
    let letters = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let mut chars = letters.chars();
    if !chars.next().is_some_and(|c| c.is_ascii_lowercase())
        || !chars.all(|c| c.is_ascii_lowercase() || c == '_')
    {
        return None;
    }
    let value = rest.trim();
    (!value.is_empty()).then_some((key, value))
}

fn is_section_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn fail_or_warn(strict: bool, msg: String, warnings: &mut Vec<String>) -> Result<(), String> {
    if strict {
        Err(msg)
    } else {
        warnings.push(msg);
        Ok(())
    }
}

/// Parses a container config. In strict mode the first bad line is an error (the
/// message ends with a newline); otherwise it is reported in the warnings.
pub fn parse_ct_config(vmid: u32, raw: &str, strict: bool) -> Result<ParsedCtConfig, String> {
    let mut config = CtConfig {
        digest: config_digest(raw),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    enum Target {
        Main,
        Pending,
        Snapshot(String),
    }
    let mut target = Target::Main;
    let mut descr = String::new();
    let mut key_warnings = Vec::new();

    fn section<'a>(config: &'a mut CtConfig, target: &Target) -> &'a mut CtSection {
        match target {
            Target::Main => &mut config.main,
            Target::Pending => &mut config.pending,
            Target::Snapshot(n) => config.snapshots.entry(n.clone()).or_default(),
        }
    }
    fn finish(config: &mut CtConfig, target: &Target, descr: &mut String) {
        // Perl truthiness: "" and "0" do not count as a description.
        if !descr.is_empty() && descr != "0" {
            section(config, target).description = Some(std::mem::take(descr));
        }
        descr.clear();
    }

    for line in raw.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        let header = line
            .strip_prefix('[')
            .and_then(|l| l.trim_end().strip_suffix(']'));
        if let Some(header) = header {
            if header.eq_ignore_ascii_case("pve:pending") {
                finish(&mut config, &target, &mut descr);
                config.pending = CtSection::default();
                target = Target::Pending;
                continue;
            } else if is_section_name(header) {
                finish(&mut config, &target, &mut descr);
                config
                    .snapshots
                    .insert(header.to_string(), CtSection::default());
                target = Target::Snapshot(header.to_string());
                continue;
            }
        }
        let mut fail = |msg: String| fail_or_warn(strict, msg, &mut warnings);
        if let Some(comment) = line.strip_prefix('#') {
            descr.push_str(&decode_text(comment));
            descr.push('\n');
            continue;
        }
        if let Some((key, value)) = split_lxc_line(line) {
            let validity = check_lxc_key(vmid, key, &mut key_warnings);
            let sec = section(&mut config, &target);
            match validity {
                _ if key == "lxc.environment.runtime" => {
                    let env = sec.values.entry("env".into()).or_default();
                    if !env.is_empty() {
                        env.push('\0');
                    }
                    env.push_str(value);
                }
                Ok(true) => sec.lxc.push((key.to_string(), value.to_string())),
                Err(msg) => fail(format!("vm {vmid} - {key}: {msg}\n"))?,
                Ok(false) => fail(format!("vm {vmid} - unable to parse config: {line}\n"))?,
            }
            continue;
        }
        if let Some(value) = line
            .strip_prefix("description:")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            descr.push_str(&decode_text(value));
            continue;
        }
        if let Some(state) = line
            .find("snapstate:")
            .map(|i| line[i + 10..].trim())
            .filter(|s| *s == "prepare" || *s == "delete")
        {
            section(&mut config, &target).set("snapstate", state);
            continue;
        }
        if let Some(value) = line
            .strip_prefix("delete:")
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            if matches!(target, Target::Pending) {
                config.pending.set("delete", value);
            } else {
                fail(format!(
                    "vm {vmid} - property 'delete' is only allowed in [pve:pending]\n"
                ))?;
            }
            continue;
        }
        if let Some((key, value)) = split_key_line(line) {
            let stored = match check_type(key, value) {
                Ok(v) => v,
                Err(e) => {
                    fail(format!(
                        "vm {vmid} - unable to parse value of '{key}' - {e}"
                    ))?;
                    value.to_string()
                }
            };
            section(&mut config, &target).set(key, stored);
            continue;
        }
        fail(format!("vm {vmid} - unable to parse config: {line}\n"))?;
    }
    finish(&mut config, &target, &mut descr);
    config.main.remove("snapstate");
    warnings.append(&mut key_warnings);
    Ok(ParsedCtConfig { config, warnings })
}

/// Writes a container config as upstream: unused entries whose volume is in use by the
/// main section are dropped; main section, `[pve:pending]` (when not empty), snapshots.
pub fn write_ct_config(config: &CtConfig) -> Result<String, String> {
    let mut main = config.main.clone();
    main.remove("snapstate");
    let used: Vec<String> = crate::volumes::vm_volumes(&main);
    main.values
        .retain(|k, v| !(k.starts_with("unused") && used.contains(v)));
    let mut out = String::new();
    main.write(&mut out)?;
    if !config.pending.is_empty() {
        out.push_str("\n[pve:pending]\n");
        config.pending.write(&mut out)?;
    }
    for (name, snap) in &config.snapshots {
        out.push_str(&format!("\n[{name}]\n"));
        snap.write(&mut out)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = "#my%3A ct\n#second\narch: amd64\nhostname: ct1\nmemory: 512\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\nrootfs: local:100/vm-100-disk-0.raw,size=8G\nlxc.environment.runtime: A=1\nlxc.environment.runtime: B=2\nlxc.idmap: u 0 100000 65536\nlxc.mount.entry: /a b none bind 0 0\n\n[pve:pending]\nmemory: 1024\ndelete: swap\n\n[snap1]\n#snap descr\nhostname: ct1\nsnapstate: prepare\nsnaptime: 1234\n";
        let parsed = parse_ct_config(100, raw, true).unwrap();
        let c = &parsed.config;
        assert_eq!(c.main.description.as_deref(), Some("my: ct\nsecond\n"));
        assert_eq!(c.main.get("env"), Some("A=1\0B=2"));
        assert_eq!(c.main.lxc.len(), 2);
        assert_eq!(c.pending.get("delete"), Some("swap"));
        assert_eq!(c.snapshots["snap1"].get("snapstate"), Some("prepare"));
        let written = write_ct_config(c).unwrap();
        let want = raw.replace(
            "memory: 1024\ndelete: swap\n",
            "delete: swap\nmemory: 1024\n",
        );
        assert_eq!(written, want);
    }

    #[test]
    fn errors() {
        let e = parse_ct_config(100, "lxc.rootfs.path: /x\n", true).unwrap_err();
        assert_eq!(
            e,
            "vm 100 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs\n"
        );
        let e = parse_ct_config(100, "lxc.foo: 1\n", true).unwrap_err();
        assert_eq!(e, "vm 100 - unable to parse config: lxc.foo: 1\n");
        let e = parse_ct_config(100, "delete: memory\n", true).unwrap_err();
        assert_eq!(
            e,
            "vm 100 - property 'delete' is only allowed in [pve:pending]\n"
        );
        let e = parse_ct_config(100, "memory: lots\n", true).unwrap_err();
        assert_eq!(
            e,
            "vm 100 - unable to parse value of 'memory' - type check ('integer') failed - got 'lots'\n"
        );
        let p = parse_ct_config(100, "memory: lots\nlxc.network.type: veth\n", false).unwrap();
        assert_eq!(p.warnings.len(), 2);
        assert_eq!(p.config.main.get("memory"), Some("lots"));
        assert_eq!(p.config.main.lxc.len(), 1);
    }

    #[test]
    fn unused_in_use_dropped() {
        let raw = "rootfs: local:100/a.raw\nunused0: local:100/a.raw\nunused1: local:100/b.raw\n";
        let p = parse_ct_config(100, raw, true).unwrap();
        assert_eq!(
            write_ct_config(&p.config).unwrap(),
            "rootfs: local:100/a.raw\nunused1: local:100/b.raw\n"
        );
    }
}

/// Upstream's `assert_if_modified`: a digest given by the client must match the
/// config's current one.
pub fn assert_if_modified(config: &CtConfig, digest: Option<&str>) -> Result<(), String> {
    match digest {
        Some(d) if !d.is_empty() && d != config.digest => {
            Err("detected modified configuration - file changed by other user? Try again.\n".into())
        }
        _ => Ok(()),
    }
}

/// Upstream's `parse_pending_delete`: the keys of a `delete:` list, with their force
/// flag (`!key`).
pub fn parse_pending_delete(data: &str) -> BTreeMap<String, bool> {
    data.replace([',', ';'], " ")
        .split_whitespace()
        .map(|entry| match entry.strip_prefix('!') {
            Some(key) => (key.to_string(), true),
            None => (entry.to_string(), false),
        })
        .collect()
}

/// Upstream's `load_current_config`: the main section with the pending changes applied
/// (unless `current`), without snapshots and pending data.
pub fn current_config(config: &CtConfig, current: bool) -> CtSection {
    let mut section = config.main.clone();
    if !current {
        for (k, v) in &config.pending.values {
            if k != "delete" {
                section.values.insert(k.clone(), v.clone());
            }
        }
        if config.pending.description.is_some() {
            section.description = config.pending.description.clone();
        }
        if !config.pending.lxc.is_empty() {
            section.lxc = config.pending.lxc.clone();
        }
        for key in parse_pending_delete(config.pending.get("delete").unwrap_or_default()).keys() {
            if key == "description" {
                section.description = None;
            } else {
                section.values.remove(key);
            }
        }
    }
    section
}

/// A config section as the API returns it (`GET /nodes/{node}/lxc/{vmid}/config`):
/// integers and booleans as JSON numbers (upstream's `check_type` made them numeric),
/// everything else as the file's text, `lxc` as `[key, value]` pairs, plus the digest.
pub fn section_to_json(
    section: &CtSection,
    digest: &str,
) -> serde_json::Map<String, serde_json::Value> {
    use pve_common::schema::JsonType;
    use serde_json::Value;
    let options = crate::schema::ct_config_options();
    let mut out = serde_json::Map::new();
    for (key, value) in &section.values {
        let typed = match options.get(key).and_then(|s| s.single_type()) {
            Some(JsonType::Integer) | Some(JsonType::Boolean) => value
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(value.clone())),
            _ => Value::String(value.clone()),
        };
        out.insert(key.clone(), typed);
    }
    if let Some(d) = &section.description {
        out.insert("description".into(), Value::String(d.clone()));
    }
    if !section.lxc.is_empty() {
        let pairs = section
            .lxc
            .iter()
            .map(|(k, v)| Value::Array(vec![Value::String(k.clone()), Value::String(v.clone())]))
            .collect();
        out.insert("lxc".into(), Value::Array(pairs));
    }
    out.insert("digest".into(), Value::String(digest.to_string()));
    out
}

fn typed_value(key: &str, value: &str) -> serde_json::Value {
    use pve_common::schema::JsonType;
    match crate::schema::ct_config_options()
        .get(key)
        .and_then(|s| s.single_type())
    {
        Some(JsonType::Integer) | Some(JsonType::Boolean) => value
            .parse::<i64>()
            .map(serde_json::Value::from)
            .unwrap_or_else(|_| serde_json::Value::String(value.to_string())),
        _ => serde_json::Value::String(value.to_string()),
    }
}

/// Upstream's `config_with_pending_array` (`GET …/pending`): one item per key with its
/// current `value`, its `pending` value and a `delete` mark (2: forced). Sorted by key.
pub fn pending_array(config: &CtConfig) -> Vec<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value;
    let mut deletes = parse_pending_delete(config.pending.get("delete").unwrap_or_default());
    let mut pending: BTreeMap<String, String> = config
        .pending
        .values
        .iter()
        .filter(|(k, _)| k.as_str() != "delete")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(d) = &config.pending.description {
        pending.insert("description".into(), d.clone());
    }
    let mut current: BTreeMap<String, String> = config.main.values.clone();
    if let Some(d) = &config.main.description {
        current.insert("description".into(), d.clone());
    }
    current.insert("digest".into(), config.digest.clone());
    let mut out = Vec::new();
    for (key, value) in &current {
        let mut item = serde_json::Map::new();
        item.insert("key".into(), Value::String(key.clone()));
        item.insert("value".into(), typed_value(key, value));
        if let Some(p) = pending.remove(key) {
            item.insert("pending".into(), typed_value(key, &p));
        }
        if let Some(force) = deletes.remove(key) {
            item.insert("delete".into(), Value::from(if force { 2 } else { 1 }));
        }
        out.push(item);
    }
    for (key, p) in pending {
        let mut item = serde_json::Map::new();
        item.insert("key".into(), Value::String(key.clone()));
        item.insert("pending".into(), typed_value(&key, &p));
        out.push(item);
    }
    // Upstream iterates the remaining deletions as (key, {force}) pairs, so the mark is
    // always 2 here.
    for key in deletes.into_keys() {
        let mut item = serde_json::Map::new();
        item.insert("key".into(), Value::String(key));
        item.insert("delete".into(), Value::from(2));
        out.push(item);
    }
    out.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    out
}

/// `pct pending` output (upstream's `format_pending`).
pub fn format_pending(items: &[serde_json::Map<String, serde_json::Value>]) -> String {
    let text = |v: Option<&serde_json::Value>| -> Option<String> {
        match v? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    };
    let mut sorted: Vec<&serde_json::Map<String, serde_json::Value>> = items.iter().collect();
    sorted.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    let mut out = String::new();
    for item in sorted {
        let key = item["key"].as_str().unwrap_or_default();
        if key == "digest" {
            continue;
        }
        let mut v = text(item.get("value"));
        let mut p = text(item.get("pending"));
        if key == "description" {
            v = v.map(|t| encode_text(&t));
            p = p.map(|t| encode_text(&t));
        }
        let delete = item
            .get("delete")
            .is_some_and(pve_common::schema::perl_truthy);
        match (v, p) {
            (Some(v), _) if delete => out.push_str(&format!("del {key}: {v}\n")),
            (Some(v), Some(p)) => out.push_str(&format!("cur {key}: {v}\nnew {key}: {p}\n")),
            (Some(v), None) => out.push_str(&format!("cur {key}: {v}\n")),
            (None, Some(p)) => out.push_str(&format!("new {key}: {p}\n")),
            (None, None) => {}
        }
    }
    out
}

/// `pct config` output of an API config object: keys sorted (without `digest` and
/// `lxc`), the description `%XX`-encoded, then the raw `lxc.*` entries.
pub fn format_pct_config(config: &serde_json::Map<String, serde_json::Value>) -> String {
    let mut out = String::new();
    let mut keys: Vec<&String> = config.keys().collect();
    keys.sort();
    for key in keys {
        if key == "digest" || key == "lxc" {
            continue;
        }
        let value = match &config[key] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let value = if key == "description" {
            encode_text(&value)
        } else {
            value
        };
        out.push_str(&format!("{key}: {value}\n"));
    }
    for pair in config
        .get("lxc")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        let k = pair[0].as_str().unwrap_or_default();
        let v = pair[1].as_str().unwrap_or_default();
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

#[cfg(test)]
mod api_tests {
    use super::*;

    #[test]
    fn current_config_and_json() {
        let raw = "#web server\narch: amd64\nonboot: 1\nmemory: 512\ncpulimit: 1.5\nhostname: web\nlxc.apparmor.profile: unconfined\n\n[pve:pending]\nmemory: 2048\nswap: 0\ndelete: hostname,!onboot\n";
        let parsed = parse_ct_config(100, raw, true).unwrap().config;
        let cur = current_config(&parsed, false);
        assert_eq!(cur.get("memory"), Some("2048"));
        assert_eq!(cur.get("hostname"), None);
        assert_eq!(cur.get("onboot"), None);
        assert_eq!(cur.get("delete"), None);
        let json = section_to_json(&current_config(&parsed, true), &parsed.digest);
        assert_eq!(json["memory"], serde_json::json!(512));
        assert_eq!(json["onboot"], serde_json::json!(1));
        assert_eq!(json["cpulimit"], serde_json::json!("1.5"));
        assert_eq!(json["description"], serde_json::json!("web server\n"));
        assert_eq!(
            json["lxc"],
            serde_json::json!([["lxc.apparmor.profile", "unconfined"]])
        );
        assert_eq!(json["digest"].as_str().unwrap().len(), 40);
        let items = pending_array(&parsed);
        let text = format_pending(&items);
        assert!(text.starts_with("cur arch: amd64\ncur cpulimit: 1.5\ncur description: web server%0A\ndel hostname: web\ncur memory: 512\nnew memory: 2048\n"), "{text}");
        assert!(text.ends_with("del onboot: 1\nnew swap: 0\n"), "{text}");
        let onboot = items.iter().find(|i| i["key"] == "onboot").unwrap();
        assert_eq!(onboot["delete"], serde_json::json!(2));
        assert_eq!(onboot["value"], serde_json::json!(1));
        assert!(assert_if_modified(&parsed, None).is_ok());
        assert!(assert_if_modified(&parsed, Some(&parsed.digest.clone())).is_ok());
        assert_eq!(
            assert_if_modified(&parsed, Some("0000")).unwrap_err(),
            "detected modified configuration - file changed by other user? Try again.\n"
        );
        let del = parse_pending_delete("a, !b;c");
        assert_eq!(del.get("b"), Some(&true));
        assert_eq!(del.len(), 3);
    }
}
