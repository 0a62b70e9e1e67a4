//! Guest config files (`/etc/pve/qemu-server/<vmid>.conf`, `/etc/pve/lxc/<vmid>.conf`):
//! the main section, `[PENDING]`, `[special:<name>]` sections and `[<snapshot>]` sections,
//! with descriptions kept as leading `#` comments and a digest of the raw text.
//!
//! Values are kept as their config-file text; the guest type decides through
//! [`GuestConfigSchema`] which keys exist and how a value is checked and normalised.

use std::collections::BTreeMap;

use pve_common::digest::sha1;

/// Where a key/value line was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind<'a> {
    Main,
    Pending,
    Special(&'a str),
    Snapshot(&'a str),
}

/// What the guest type (VM, container) knows about its keys.
pub trait GuestConfigSchema {
    /// Names of the `[special:<name>]` sections this guest type knows.
    fn special_sections(&self) -> &[&str];
    /// Checks one value of a section; `Ok` carries the value as it is stored (booleans
    /// normalised to `0`/`1`, drive paths turned into volume ids, …). `Err` is the
    /// message after `unable to parse value of '<key>' - `, with its final newline (empty:
    /// no detail).
    fn check_value(
        &self,
        section: SectionKind<'_>,
        key: &str,
        value: &str,
    ) -> Result<String, String>;
    /// Keys taken verbatim without any check (e.g. `args`).
    fn is_verbatim_key(&self, key: &str) -> bool {
        key == "args"
    }
    /// Whether a special section is written back (e.g. cloudinit only with a cloudinit drive).
    fn keep_special_section(&self, _name: &str, _config: &GuestConfig) -> bool {
        true
    }
}

/// One section of a config file: its description and its key/value pairs (sorted by key,
/// byte-wise, which is the order upstream writes them in).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigSection {
    pub description: Option<String>,
    pub values: BTreeMap<String, String>,
}

impl ConfigSection {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.description.is_none() && self.values.is_empty()
    }

    fn write(&self, out: &mut String, pending: bool) {
        match self.description.as_deref() {
            Some("") if pending => out.push_str("#\n"),
            Some("") | None => {}
            Some(descr) => {
                for line in descr.split('\n') {
                    out.push('#');
                    out.push_str(&encode_text(line));
                    out.push('\n');
                }
            }
        }
        for (key, value) in &self.values {
            out.push_str(key);
            out.push_str(": ");
            out.push_str(value);
            out.push('\n');
        }
    }
}

/// A parsed guest config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestConfig {
    pub main: ConfigSection,
    /// `[PENDING]`: changes not yet applied (with an optional `delete:` list).
    pub pending: ConfigSection,
    /// `[special:<name>]` sections by name.
    pub special: BTreeMap<String, ConfigSection>,
    /// Snapshot sections by snapshot name.
    pub snapshots: BTreeMap<String, ConfigSection>,
    /// SHA-1 (hex) of the raw text the config was parsed from.
    pub digest: String,
}

/// The outcome of a non-strict parse: the config plus the warnings for the dropped lines.
pub struct ParsedConfig {
    pub config: GuestConfig,
    pub warnings: Vec<String>,
}

/// Hex SHA-1 of a config file's raw text (the `digest` of the API).
pub fn config_digest(raw: &str) -> String {
    sha1(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

enum Target {
    Main,
    Pending,
    Special(String),
    Snapshot(String),
    Skip,
}

fn is_snapshot_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// `[a-z][a-z_-]*\d*` (case-sensitive, as upstream's key pattern).
fn is_config_key(key: &str) -> bool {
    let digits = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let mut chars = digits.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
}

/// Parses a guest config file. `what` prefixes error messages (`vm 100`, `CT 100`). In
/// strict mode the first bad line or section is an error; otherwise it is dropped and
/// reported in the warnings.
pub fn parse_guest_config(
    what: &str,
    raw: &str,
    strict: bool,
    schema: &dyn GuestConfigSchema,
) -> Result<ParsedConfig, String> {
    let mut config = GuestConfig {
        digest: config_digest(raw),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    let mut fail = |msg: String| -> Result<(), String> {
        if strict {
            Err(msg)
        } else {
            warnings.push(msg);
            Ok(())
        }
    };
    let mut have_pending = false;
    let mut target = Target::Main;
    let mut descr: Option<String> = None;

    fn section_of<'a>(
        config: &'a mut GuestConfig,
        target: &Target,
    ) -> Option<&'a mut ConfigSection> {
        match target {
            Target::Main => Some(&mut config.main),
            Target::Pending => Some(&mut config.pending),
            Target::Special(n) => config.special.get_mut(n),
            Target::Snapshot(n) => config.snapshots.get_mut(n),
            Target::Skip => None,
        }
    }
    fn finish(config: &mut GuestConfig, target: &Target, descr: &mut Option<String>) {
        if let Some(d) = descr.take() {
            if let Some(sec) = section_of(config, target) {
                sec.description = Some(d.trim_end().to_string());
            }
        }
    }

    for line in raw.split('\n') {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(header) = line
            .strip_prefix('[')
            .map(str::trim_end)
            .and_then(|l| l.strip_suffix(']'))
            .filter(|h| !h.contains(']'))
        {
            finish(&mut config, &target, &mut descr);
            if header.eq_ignore_ascii_case("PENDING") {
                if have_pending {
                    fail(format!("{what} - duplicate section: pending\n"))?;
                }
                have_pending = true;
                config.pending = ConfigSection::default();
                target = Target::Pending;
            } else if let Some(name) = header
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case("special:"))
                .and_then(|_| {
                    let name = &header[8..];
                    schema
                        .special_sections()
                        .iter()
                        .find(|s| s.eq_ignore_ascii_case(name))
                })
            {
                let name = name.to_string();
                if config.special.contains_key(&name) {
                    fail(format!("{what} - duplicate special section: {name}\n"))?;
                }
                config
                    .special
                    .insert(name.clone(), ConfigSection::default());
                target = Target::Special(name);
            } else if is_snapshot_name(header) {
                let name = header.to_string();
                if config.snapshots.contains_key(&name) {
                    fail(format!("{what} - duplicate snapshot section: {name}\n"))?;
                }
                config
                    .snapshots
                    .insert(name.clone(), ConfigSection::default());
                target = Target::Snapshot(name);
            } else {
                target = Target::Skip;
                fail(format!("{what} - skipping unknown section: '{header}'\n"))?;
            }
            continue;
        }
        if matches!(target, Target::Skip) {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let d = descr.get_or_insert_with(String::new);
            d.push_str(&decode_text(comment));
            d.push('\n');
            continue;
        }
        let kind = match &target {
            Target::Main => SectionKind::Main,
            Target::Pending => SectionKind::Pending,
            Target::Special(n) => SectionKind::Special(n),
            Target::Snapshot(n) => SectionKind::Snapshot(n),
            Target::Skip => unreachable!("skipped above"),
        };
        let Some((key, rest)) = line.split_once(':') else {
            fail(format!("{what} - unable to parse config: {line}\n"))?;
            continue;
        };
        // Upstream's line pattern `^KEY:\s*(.+?)\s*$` keeps one blank as the value of
        // a key followed by blanks only (`boot: `).
        let trimmed = rest.trim();
        let blank;
        let value = if trimmed.is_empty() && !rest.is_empty() {
            blank = rest.chars().last().map(String::from).unwrap_or_default();
            blank.as_str()
        } else {
            trimmed
        };
        let sec = section_of(&mut config, &target).expect("current section exists");
        if key == "description" && !value.is_empty() {
            descr
                .get_or_insert_with(String::new)
                .push_str(&decode_text(value));
        } else if key.ends_with("snapstate") && (value == "prepare" || value == "delete") {
            sec.values.insert("snapstate".into(), value.to_string());
        } else if schema.is_verbatim_key(key) && !value.is_empty() {
            sec.values.insert(key.to_string(), value.to_string());
        } else if key == "delete" && !value.is_empty() {
            if matches!(kind, SectionKind::Pending) {
                sec.values.insert(key.to_string(), value.to_string());
            } else {
                fail(format!(
                    "{what} - property 'delete' is only allowed in [PENDING]\n"
                ))?;
            }
        } else if is_config_key(key) && !value.is_empty() {
            match schema.check_value(kind, key, value) {
                Ok(v) => {
                    let sec = section_of(&mut config, &target).expect("current section exists");
                    sec.values.insert(key.to_string(), v);
                }
                Err(e) if e.is_empty() => {
                    fail(format!("{what} - unable to parse value of '{key}'\n"))?
                }
                Err(e) => fail(format!("{what} - unable to parse value of '{key}' - {e}"))?,
            }
        } else {
            fail(format!("{what} - unable to parse config: {line}\n"))?;
        }
    }
    finish(&mut config, &target, &mut descr);
    // Only the main section drops it (upstream: "just to be sure"); snapshots keep their
    // state while an operation runs.
    config.main.values.remove("snapstate");
    Ok(ParsedConfig { config, warnings })
}

/// Writes a guest config file in upstream's layout: main section, `[PENDING]` (when not
/// empty), special sections and snapshots, each sorted by name.
pub fn write_guest_config(config: &GuestConfig, schema: &dyn GuestConfigSchema) -> String {
    let mut out = String::new();
    config.main.write(&mut out, false);
    if !config.pending.values.is_empty() {
        out.push_str("\n[PENDING]\n");
        config.pending.write(&mut out, true);
    }
    for (name, sec) in &config.special {
        if !schema.keep_special_section(name, config) {
            continue;
        }
        out.push_str(&format!("\n[special:{name}]\n"));
        sec.write(&mut out, false);
    }
    for (name, sec) in &config.snapshots {
        out.push_str(&format!("\n[{name}]\n"));
        sec.write(&mut out, false);
    }
    out
}

/// Escapes control characters, non-ASCII bytes and `:` as `%XX` (description lines).
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b':' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undoes `%XX` escapes (invalid UTF-8 is replaced).
pub fn decode_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct AnySchema;
    impl GuestConfigSchema for AnySchema {
        fn special_sections(&self) -> &[&str] {
            &["cloudinit"]
        }
        fn check_value(&self, _: SectionKind<'_>, _: &str, v: &str) -> Result<String, String> {
            Ok(v.to_string())
        }
    }

    #[test]
    fn round_trip_with_sections() {
        let raw = "#hello%3A world\n#second\ncores: 2\nmemory: 512\n\n[PENDING]\nbios: ovmf\n\n[special:cloudinit]\nname: x\n\n[snap1]\ncores: 1\nsnaptime: 5\n";
        let parsed = parse_guest_config("vm 1", raw, true, &AnySchema).unwrap();
        assert_eq!(
            parsed.config.main.description.as_deref(),
            Some("hello: world\nsecond")
        );
        assert_eq!(write_guest_config(&parsed.config, &AnySchema), raw);
        assert_eq!(parsed.config.digest.len(), 40);
    }

    #[test]
    fn strict_errors() {
        let e = parse_guest_config("vm 1", "[foo:bar]\n", true, &AnySchema)
            .err()
            .unwrap();
        assert_eq!(e, "vm 1 - skipping unknown section: 'foo:bar'\n");
        let p = parse_guest_config("vm 1", "delete: x\n", false, &AnySchema).unwrap();
        assert_eq!(p.warnings.len(), 1);
    }
}
