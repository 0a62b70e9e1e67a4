//! Reading a section config file (upstream's `parse_config`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{SectionConfig, SectionConfigError};
use crate::schema::JsonType;

static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\S+):\s*(\S+)\s*$").expect("valid regex"));
static KEY_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+(\S+)(?:\s+(.*\S))?\s*$").expect("valid regex"));

/// A parsed file: the sections by id, their position in the file and the digest of the
/// text, plus what the parser had to complain about.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SectionConfigData {
    /// Section id → its keys, always including `type`.
    pub ids: BTreeMap<String, Map<String, Value>>,
    /// Section id → position, counting from 1 in file order.
    pub order: BTreeMap<String, u64>,
    /// SHA-1 hex digest of the parsed text (empty for data not read from a file).
    pub digest: String,
    /// Everything upstream warns about while parsing, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// What a diagnostic is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// A section header with an unknown type (without `allow_unknown`); the section is
    /// skipped.
    UnsupportedType,
    /// The section id check rejected the header; the section is skipped.
    InvalidSectionId,
    /// A key's value failed its check (upstream's `errors` list); the key is dropped.
    InvalidValue,
    /// A line that is neither a header nor a `key value` line.
    IgnoredLine,
    /// The section misses a required option; the section is dropped.
    SkippedSection,
    /// A section id seen before; the later section replaces the earlier one. Upstream
    /// replaces silently, so this is a notice of ours rather than an upstream warning.
    DuplicateSection,
}

/// One problem found while parsing, with upstream's wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub kind: DiagnosticKind,
    /// `file NAME line N`
    pub context: String,
    /// The 1-based line number.
    pub line: usize,
    pub section: Option<String>,
    pub key: Option<String>,
    /// The message without the context.
    pub message: String,
}

impl Diagnostic {
    /// Whether upstream warns here (and so its tests, which make warnings fatal, fail).
    pub fn upstream_warns(&self) -> bool {
        self.kind != DiagnosticKind::DuplicateSection
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ctx = &self.context;
        let section = self.section.as_deref().unwrap_or("");
        match self.kind {
            DiagnosticKind::UnsupportedType
            | DiagnosticKind::InvalidSectionId
            | DiagnosticKind::SkippedSection => {
                write!(f, "{ctx} (skip section '{section}'): {}", self.message)
            }
            DiagnosticKind::InvalidValue => write!(
                f,
                "{ctx} (section '{section}') - unable to parse value of '{}': {}",
                self.key.as_deref().unwrap_or(""),
                self.message
            ),
            DiagnosticKind::IgnoredLine if self.section.is_some() => {
                write!(f, "{ctx} (section '{section}') - {}", self.message)
            }
            DiagnosticKind::IgnoredLine => write!(f, "{ctx} - {}", self.message),
            DiagnosticKind::DuplicateSection => {
                write!(f, "{ctx} (section '{section}') - {}", self.message)
            }
        }
    }
}

impl SectionConfigData {
    /// Upstream's `errors` list: `{context, section, key, err}` for each rejected value.
    pub fn errors(&self) -> Vec<Value> {
        self.diagnostics
            .iter()
            .filter(|d| d.kind == DiagnosticKind::InvalidValue)
            .map(|d| {
                serde_json::json!({
                    "context": d.context,
                    "section": d.section,
                    "key": d.key,
                    "err": format!("{}\n", d.message),
                })
            })
            .collect()
    }

    /// The upstream hash: `{ids, order, digest, errors?}`.
    pub fn to_value(&self) -> Value {
        let mut v = serde_json::json!({
            "ids": self.ids,
            "order": self.order,
            "digest": self.digest,
        });
        let errors = self.errors();
        if !errors.is_empty() {
            v["errors"] = Value::Array(errors);
        }
        v
    }

    /// Section ids in file order (sections without a position last, by id).
    pub fn ordered_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.ids.keys().map(String::as_str).collect();
        ids.sort_by_key(|id| (self.order.get(*id).copied().unwrap_or(u64::MAX), *id));
        ids
    }

    /// The section `id` as a typed value (e.g. an enum tagged by `type`).
    pub fn lookup<T: DeserializeOwned>(&self, id: &str) -> Result<Option<T>, serde_json::Error> {
        self.ids
            .get(id)
            .map(|m| T::deserialize(Value::Object(m.clone())))
            .transpose()
    }

    /// Sets section `id` from its keys; a new section goes last.
    pub fn set(&mut self, id: &str, section: Map<String, Value>) {
        if !self.order.contains_key(id) {
            let next = self.order.values().max().copied().unwrap_or(0) + 1;
            self.order.insert(id.to_string(), next);
        }
        self.ids.insert(id.to_string(), section);
    }

    /// Sets section `id` from a typed value, which must serialize to an object with
    /// `type`.
    pub fn set_typed<T: Serialize>(&mut self, id: &str, section: &T) -> Result<(), String> {
        match serde_json::to_value(section).map_err(|e| e.to_string())? {
            Value::Object(m) if m.get("type").is_some_and(Value::is_string) => {
                self.set(id, m);
                Ok(())
            }
            _ => Err(format!("section '{id}' is not an object with a type")),
        }
    }

    /// Removes section `id`; returns it.
    pub fn remove(&mut self, id: &str) -> Option<Map<String, Value>> {
        self.order.remove(id);
        self.ids.remove(id)
    }

    /// Fails when the config changed since `digest` was handed out (upstream's
    /// `assert_if_modified`); no digest given means no check.
    pub fn assert_if_modified(&self, digest: Option<&str>) -> Result<(), String> {
        match digest {
            Some(d) if !d.eq_ignore_ascii_case(&self.digest) => Err(
                "detected modified configuration - file changed by other user? Try again."
                    .to_string(),
            ),
            _ => Ok(()),
        }
    }
}

/// SHA-1 hex of `raw`, the digest upstream hands out with every parsed config.
pub fn digest(raw: &str) -> String {
    crate::digest::sha1(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Perl's truth for a line: the empty string and `0` end a section.
fn line_is_false(line: &str) -> bool {
    line.is_empty() || line == "0"
}

/// The lines as Perl's `split /\n/` gives them, numbered, with comment lines dropped.
struct Lines<'a> {
    lines: Vec<&'a str>,
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(raw: &'a str) -> Self {
        let mut lines: Vec<&str> = raw.split('\n').collect();
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        Self { lines, pos: 0 }
    }

    fn has_more(&self) -> bool {
        self.pos < self.lines.len()
    }

    /// The next line that is not a comment, with its 1-based number.
    fn next_line(&mut self) -> Option<(usize, &'a str)> {
        while self.pos < self.lines.len() {
            let line = self.lines[self.pos];
            self.pos += 1;
            if !line.trim_start().starts_with('#') {
                return Some((self.pos, line));
            }
        }
        None
    }
}

impl SectionConfig {
    /// Parses `raw` (the content of `filename`, which only shows in messages). Bad
    /// sections, keys and lines are skipped and reported in `diagnostics`, as upstream
    /// warns and goes on. Sections of unknown type are kept only with `allow_unknown`
    /// (untyped; repeated keys become arrays).
    pub fn parse(&self, filename: &str, raw: &str, allow_unknown: bool) -> SectionConfigData {
        let mut data = SectionConfigData {
            digest: digest(raw),
            ..Default::default()
        };
        let mut diags = Vec::new();
        let mut pri = 1;
        let mut lines = Lines::new(raw);
        let ctx = |lineno: usize| format!("file {filename} line {lineno}");
        let diag =
            |kind, lineno, section: Option<&str>, key: Option<&str>, message: String| Diagnostic {
                kind,
                context: ctx(lineno),
                line: lineno,
                section: section.map(str::to_string),
                key: key.map(str::to_string),
                message,
            };

        while lines.has_more() {
            let Some((header_no, line)) = lines.next_line() else {
                break;
            };
            if line_is_false(line) {
                continue;
            }
            let Some(caps) = HEADER.captures(line) else {
                diags.push(diag(
                    DiagnosticKind::IgnoredLine,
                    header_no,
                    None,
                    None,
                    format!("ignore config line: {line}"),
                ));
                continue;
            };
            let (type_name, id) = (&caps[1], &caps[2]);
            let mut skip = false;
            let mut unknown = false;
            if let Some(Err(msg)) = self.id_check.map(|check| check(id)) {
                skip = true;
                diags.push(diag(
                    DiagnosticKind::InvalidSectionId,
                    header_no,
                    Some(id),
                    None,
                    msg.trim_end().to_string(),
                ));
            } else if !self.options.contains_key(type_name) {
                if allow_unknown {
                    unknown = true;
                } else {
                    skip = true;
                    diags.push(diag(
                        DiagnosticKind::UnsupportedType,
                        header_no,
                        Some(id),
                        None,
                        format!("unsupported type '{type_name}'"),
                    ));
                }
            }

            let mut config = Map::new();
            let mut last_no = header_no;
            while let Some((lineno, line)) = lines.next_line() {
                if line_is_false(line) {
                    break;
                }
                if skip {
                    continue;
                }
                last_no = lineno;
                let Some(kv) = KEY_LINE.captures(line) else {
                    diags.push(diag(
                        DiagnosticKind::IgnoredLine,
                        lineno,
                        Some(id),
                        None,
                        format!("ignore config line: {line}"),
                    ));
                    continue;
                };
                let key = &kv[1];
                let value = kv.get(2).map(|m| m.as_str());
                let result = if unknown {
                    add_unknown_key(&mut config, key, value);
                    Ok(())
                } else {
                    self.add_key(&mut config, type_name, id, key, value)
                };
                if let Err(message) = result {
                    diags.push(diag(
                        DiagnosticKind::InvalidValue,
                        lineno,
                        Some(id),
                        Some(key),
                        message,
                    ));
                }
            }
            if skip {
                continue;
            }

            config.insert("type".into(), Value::String(type_name.to_string()));
            if !unknown {
                if let Err(e) = self.check_required(type_name, &config) {
                    diags.push(diag(
                        DiagnosticKind::SkippedSection,
                        last_no,
                        Some(id),
                        None,
                        e,
                    ));
                    continue;
                }
            }
            if data.ids.contains_key(id) {
                diags.push(diag(
                    DiagnosticKind::DuplicateSection,
                    header_no,
                    Some(id),
                    None,
                    "duplicate section id, replacing the earlier section".to_string(),
                ));
            }
            data.ids.insert(id.to_string(), config);
            data.order.insert(id.to_string(), pri);
            pri += 1;
        }
        data.diagnostics = diags;
        data
    }

    /// Like [`parse`](Self::parse), but any diagnostic is an error.
    pub fn parse_strict(
        &self,
        filename: &str,
        raw: &str,
        allow_unknown: bool,
    ) -> Result<SectionConfigData, SectionConfigError> {
        let data = self.parse(filename, raw, allow_unknown);
        if data.diagnostics.is_empty() {
            Ok(data)
        } else {
            Err(SectionConfigError::Parse(data.diagnostics))
        }
    }

    fn add_key(
        &self,
        config: &mut Map<String, Value>,
        type_name: &str,
        id: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), String> {
        let schema = self
            .property_schema(type_name, key)
            .ok_or_else(|| "unknown property type".to_string())?;
        if schema.single_type() == Some(JsonType::Array) {
            let v = self.check_value(type_name, key, value, id)?;
            match config
                .entry(key.to_string())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(items) => items.push(v),
                other => *other = Value::Array(vec![v]),
            }
        } else {
            if config.contains_key(key) {
                return Err("duplicate attribute".to_string());
            }
            let v = self.check_value(type_name, key, value, id)?;
            config.insert(key.to_string(), v);
        }
        Ok(())
    }

    /// The part of upstream's `check_config` that can still fail after every key was
    /// checked: a required option without a value.
    fn check_required(&self, type_name: &str, config: &Map<String, Value>) -> Result<(), String> {
        let opts = self
            .options
            .get(type_name)
            .ok_or_else(|| format!("unknown section type '{type_name}'"))?;
        match opts
            .iter()
            .find(|(k, o)| !o.optional && config.get(*k).is_none_or(Value::is_null))
        {
            Some((k, _)) => Err(format!("missing value for required option '{k}'")),
            None => Ok(()),
        }
    }
}

/// Keys of a section of unknown type: kept as text, repeated keys become arrays.
fn add_unknown_key(config: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    let v = value.map_or(Value::Null, |s| Value::String(s.to_string()));
    match config.get_mut(key) {
        None | Some(Value::Null) => {
            config.insert(key.to_string(), v);
        }
        Some(Value::Array(items)) => items.push(v),
        Some(prev) => {
            let first = prev.take();
            *prev = Value::Array(vec![first, v]);
        }
    }
}
