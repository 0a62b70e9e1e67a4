//! Writing a section config file (upstream's `write_config`).

use serde_json::{Map, Value};

use super::value::perl_number;
use super::{truthy, SectionConfig, SectionConfigData, SectionConfigError};
use crate::schema::{JsonType, Schema};

fn write_err(msg: String) -> SectionConfigError {
    SectionConfigError::Write(msg)
}

/// A scalar as upstream prints it into the file.
fn scalar_text(key: &str, v: &Value) -> Result<String, SectionConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(perl_number(n)),
        Value::Bool(b) => Ok(u8::from(*b).to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(write_err(format!(
            "property '{key}' has a value that is not a scalar"
        ))),
    }
}

fn check_line_feed(key: &str, text: &str) -> Result<(), SectionConfigError> {
    if key.contains(['\n', '\r']) || text.contains(['\n', '\r']) {
        return Err(write_err(format!("property '{key}' contains a line feed")));
    }
    Ok(())
}

/// One key's lines: booleans as 1/0, arrays as one line per item, empty strings left out.
fn format_line(
    out: &mut String,
    schema: Option<&Schema>,
    key: &str,
    value: &Value,
) -> Result<(), SectionConfigError> {
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err(write_err(format!("invalid property name '{key}'")));
    }
    match schema.and_then(Schema::single_type) {
        Some(JsonType::Boolean) => {
            if !value.is_null() {
                let text = scalar_text(key, value)?;
                check_line_feed(key, &text)?;
                let bit = if truthy(value) { 1 } else { 0 };
                out.push_str(&format!("\t{key} {bit}\n"));
            }
        }
        Some(JsonType::Array) => {
            let Value::Array(items) = value else {
                return Err(write_err(format!("property '{key}' is not an array")));
            };
            for item in items {
                let text = scalar_text(key, item)?;
                check_line_feed(key, &text)?;
                out.push_str(&format!("\t{key} {text}\n"));
            }
        }
        _ => {
            let text = scalar_text(key, value)?;
            check_line_feed(key, &text)?;
            if !text.is_empty() {
                out.push_str(&format!("\t{key} {text}\n"));
            }
        }
    }
    Ok(())
}

fn check_header_part(what: &str, text: &str) -> Result<(), SectionConfigError> {
    if text.is_empty() || text.chars().any(char::is_whitespace) || text.ends_with(':') {
        return Err(write_err(format!("invalid section {what} '{text}'")));
    }
    Ok(())
}

impl SectionConfig {
    /// Writes `data` in upstream's layout; sections of unknown type are an error.
    pub fn write(
        &self,
        filename: &str,
        data: &SectionConfigData,
    ) -> Result<String, SectionConfigError> {
        self.write_config(filename, data, false)
    }

    /// Writes `data`; sections of unknown type are written as they are (`comment` first,
    /// then the other keys sorted).
    pub fn write_allow_unknown(
        &self,
        filename: &str,
        data: &SectionConfigData,
    ) -> Result<String, SectionConfigError> {
        self.write_config(filename, data, true)
    }

    /// Sections go in `order` (sections without a position after all others, by id).
    /// Within a section: `comment`, then `disable` (as a bare key), then the required
    /// options sorted, then the optional ones sorted. Keys that are no option of the type
    /// are not written.
    pub fn write_config(
        &self,
        _filename: &str,
        data: &SectionConfigData,
        allow_unknown: bool,
    ) -> Result<String, SectionConfigError> {
        let mut out = String::new();
        for id in data.ordered_ids() {
            let section = &data.ids[id];
            let type_name = match section.get("type") {
                Some(Value::String(t)) => t.as_str(),
                _ => return Err(write_err(format!("section '{id}' has no type"))),
            };
            let opts = self.options.get(type_name);
            if opts.is_none() && !allow_unknown {
                return Err(write_err(format!("unknown section type '{type_name}'")));
            }
            check_header_part("type", type_name)?;
            check_header_part("id", id)?;
            out.push_str(&format!("{type_name}: {id}\n"));
            match opts {
                None => write_unknown(&mut out, section)?,
                Some(opts) => {
                    self.write_known(&mut out, type_name, id, section, opts)?;
                }
            }
            out.push('\n');
        }
        Ok(out)
    }

    fn write_known(
        &self,
        out: &mut String,
        type_name: &str,
        id: &str,
        section: &Map<String, Value>,
        opts: &std::collections::BTreeMap<String, super::OptionSpec>,
    ) -> Result<(), SectionConfigError> {
        if let Some(comment) = section.get("comment").filter(|v| truthy(v)) {
            format_line(
                out,
                self.property_schema(type_name, "comment"),
                "comment",
                comment,
            )?;
        }
        if section.get("disable").is_some_and(truthy) {
            out.push_str("\tdisable\n");
        }
        let done = |k: &str| k == "comment" || k == "disable";
        for (k, spec) in opts {
            if done(k) || spec.optional {
                continue;
            }
            let v = section.get(k).filter(|v| !v.is_null()).ok_or_else(|| {
                write_err(format!(
                    "section '{id}' - missing value for required option '{k}'"
                ))
            })?;
            format_line(out, self.property_schema(type_name, k), k, v)?;
        }
        for (k, spec) in opts {
            if done(k) || !spec.optional {
                continue;
            }
            if let Some(v) = section.get(k).filter(|v| !v.is_null()) {
                format_line(out, self.property_schema(type_name, k), k, v)?;
            }
        }
        Ok(())
    }
}

fn write_unknown(out: &mut String, section: &Map<String, Value>) -> Result<(), SectionConfigError> {
    let mut keys: Vec<&String> = section.keys().filter(|k| *k != "type").collect();
    keys.sort_by_key(|k| (*k != "comment", *k));
    for k in keys {
        let items = match &section[k] {
            Value::Array(items) => items.iter().collect(),
            v => vec![v],
        };
        for v in items {
            let text = scalar_text(k, v)?;
            check_line_feed(k, &text)?;
            if k.is_empty() || k.chars().any(char::is_whitespace) {
                return Err(write_err(format!("invalid property name '{k}'")));
            }
            if text.is_empty() {
                out.push_str(&format!("\t{k}\n"));
            } else {
                out.push_str(&format!("\t{k} {text}\n"));
            }
        }
    }
    Ok(())
}
