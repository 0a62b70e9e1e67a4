//! Usage texts of API methods used as commands, as upstream's `getopt_usage`: the
//! one-line synopsis (`short`), plus option descriptions (`long`), plus the method's
//! description (`full`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::getopt::ArgParam;
use super::schema_walk::{for_each_property, is_list_format, property_schema, property_schemas};
use super::text_wrap::wrap;
use crate::api::ApiMethod;
use crate::schema::typetext::schema_type_text;
use crate::schema::{JsonType, Schema};

/// How much a usage text shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageFormat {
    /// The synopsis line only, without `USAGE: `.
    Short,
    /// `USAGE: ` synopsis and the option descriptions.
    Long,
    /// Like `Long`, with the method's description after the synopsis.
    Full,
}

/// The standard output options of formatted commands (`--output-format`, …).
pub fn standard_output_options() -> BTreeMap<String, Schema> {
    let boolean = |desc: &str, default: Option<u8>| {
        let mut s = Schema::of_type(JsonType::Boolean)
            .description(desc)
            .optional();
        s.default = default.map(Value::from);
        s
    };
    let mut format = Schema::of_type(JsonType::String)
        .description("Output format.")
        .optional();
    format.enum_ = Some(
        ["text", "json", "json-pretty", "yaml"]
            .iter()
            .map(|s| Value::from(*s))
            .collect(),
    );
    format.default = Some(Value::from("text"));
    BTreeMap::from([
        ("output-format".to_string(), format),
        (
            "noheader".to_string(),
            boolean("Do not show column headers (for 'text' format).", Some(0)),
        ),
        (
            "noborder".to_string(),
            boolean("Do not draw borders (for 'text' format).", Some(0)),
        ),
        (
            "quiet".to_string(),
            boolean("Suppress printing results.", None),
        ),
        (
            "human-readable".to_string(),
            boolean(
                "Call output rendering functions to produce human readable text.",
                Some(1),
            ),
        ),
    ])
}

/// Where a property is described: as an option (`--name`) or a positional (`<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyStyle {
    Arg,
    Fixed,
}

const DESC_INDENT: &str = "             ";

/// A scalar as Perl prints it.
fn perl_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::schema::check::number_text(n),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The description block of one property: name, type text and default, then the
/// wrapped description and the options it requires.
pub fn property_description(name: &str, style: PropertyStyle, schema: &Schema) -> String {
    let mut descr = match schema.description.as_deref() {
        Some(d) if !d.is_empty() && d != "0" => d.to_string(),
        _ => match &schema.alias {
            Some(a) => format!("alias for '{a}'"),
            None => "no description available".to_string(),
        },
    };
    if descr.ends_with('\n') {
        descr.pop();
    }
    let type_text = schema_type_text(schema, false);
    let default = match &schema.default {
        Some(v) if !v.is_null() => format!("   (default={})", perl_text(v)),
        _ => String::new(),
    };
    let display = match style {
        PropertyStyle::Arg => format!("--{name}"),
        PropertyStyle::Fixed => format!("<{name}>"),
    };
    let pad = 10usize.saturating_sub(display.chars().count());
    let header = format!("  {display}{} {type_text}{default}\n", " ".repeat(pad));
    let mut out = wrap("", DESC_INDENT, &header);
    if schema.alias.is_some() {
        out.push('\n');
    } else {
        out.push_str(&wrap(DESC_INDENT, DESC_INDENT, &descr));
        out.push_str("\n\n");
    }
    if let Some(req) = &schema.requires {
        let list = match req {
            Value::Array(items) => items.iter().map(perl_text).collect::<Vec<_>>().join(", "),
            other => perl_text(other),
        };
        out.push_str(&wrap(
            DESC_INDENT,
            DESC_INDENT,
            &format!("Requires option(s): {list}"),
        ));
        out.push_str("\n\n");
    }
    out
}

/// The usage text of `method` called as `prefix`.
pub fn getopt_usage(
    method: &ApiMethod,
    prefix: &str,
    arg_param: &ArgParam,
    fixed: &Map<String, Value>,
    format: UsageFormat,
    formatter_props: Option<&BTreeMap<String, Schema>>,
) -> String {
    getopt_usage_schema(
        &method.parameters,
        &method.description,
        prefix,
        arg_param,
        fixed,
        format,
        formatter_props,
    )
}

/// [`getopt_usage`] for a parameter schema and description.
pub fn getopt_usage_schema(
    parameters: &Schema,
    description: &str,
    prefix: &str,
    arg_param: &ArgParam,
    fixed: &Map<String, Value>,
    format: UsageFormat,
    formatter_props: Option<&BTreeMap<String, Schema>>,
) -> String {
    let standard = standard_output_options();
    let mut has_output_format = formatter_props.is_some_and(|f| f.contains_key("output-format"));

    // Formatter properties other than the standard output options are listed like
    // the method's own options.
    let extended;
    let mut schema = parameters;
    if let Some(fp) = formatter_props {
        let extra: BTreeMap<String, Schema> = fp
            .iter()
            .filter(|(k, _)| !standard.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !extra.is_empty() {
            extended = Schema {
                all_of: Some(vec![
                    parameters.clone(),
                    Schema {
                        properties: Some(crate::schema::shared_properties(extra)),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            };
            schema = &extended;
        }
    }

    // Methods with their own output-format (pvesh) list no standard output options.
    let ignore_standard = property_schema(schema, "output-format", None).is_some();
    if ignore_standard {
        has_output_format = true;
    }

    let mut args = String::new();
    let mut arg_names = std::collections::BTreeSet::new();
    let mut argdescr = String::new();
    for p in arg_param.names() {
        let Some(pd) = property_schemas(schema, p, None).into_iter().next() else {
            continue;
        };
        arg_names.insert(p.to_string());
        if !args.is_empty() {
            args.push(' ');
        }
        if is_list_format(pd) {
            args.push_str(&format!("{{<{p}>}}"));
        } else if pd.is_optional() {
            args.push_str(&format!("[<{p}>]"));
        } else {
            args.push_str(&format!("<{p}>"));
        }
        if !fixed.contains_key(p) && pd.alias.is_none() {
            argdescr.push_str(&property_description(p, PropertyStyle::Fixed, pd));
        }
    }

    let mut global = Vec::new();
    let mut conditional: BTreeMap<String, Vec<(&str, &Schema)>> = BTreeMap::new();
    for visit in for_each_property(schema) {
        if visit.one_of.is_empty() {
            global.push((visit.name, visit.schema));
        } else {
            let key: Vec<String> = visit
                .one_of
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            conditional
                .entry(key.join(" and "))
                .or_default()
                .push((visit.name, visit.schema));
        }
    }
    global.sort_by(|a, b| a.0.cmp(b.0));

    let mut state = OptionsState {
        schema,
        arg_names: &arg_names,
        fixed,
        ignore_standard,
        standard: &standard,
        indexed: Default::default(),
        opts: String::new(),
        type_specific: BTreeMap::new(),
        args: &mut args,
    };
    for (name, prop) in global {
        state.handle(name, prop, None);
    }
    for (key, mut props) in conditional {
        props.sort_by(|a, b| a.0.cmp(b.0));
        for (name, prop) in props {
            state.handle(name, prop, Some(&key));
        }
    }
    let opts = std::mem::take(&mut state.opts);
    let type_specific = std::mem::take(&mut state.type_specific);
    let has_options = !opts.is_empty() || !type_specific.is_empty();

    let mut out = String::new();
    if format != UsageFormat::Short {
        out.push_str("USAGE: ");
    }
    out.push_str(&format!("{prefix} {args}"));
    if has_options {
        out.push_str(" [OPTIONS]");
    }
    if has_output_format {
        out.push_str(" [FORMAT_OPTIONS]");
    }
    out.push('\n');
    if format == UsageFormat::Short {
        return out;
    }
    if format == UsageFormat::Full && !description.is_empty() && description != "0" {
        out.push_str(&format!("\n{}\n\n", wrap("  ", "  ", description)));
    }
    out.push_str(&argdescr);
    out.push_str(&opts);
    if !type_specific.is_empty() {
        out.push_str(" Conditional options:\n\n");
    }
    for (key, text) in &type_specific {
        out.push_str(&format!(" [{key}]\n\n"));
        out.push_str(text);
    }
    out
}

struct OptionsState<'a, 'b> {
    schema: &'a Schema,
    arg_names: &'b std::collections::BTreeSet<String>,
    fixed: &'b Map<String, Value>,
    ignore_standard: bool,
    standard: &'b BTreeMap<String, Schema>,
    /// Indexed property families (`net[n]`) already listed.
    indexed: std::collections::BTreeSet<String>,
    opts: String,
    type_specific: BTreeMap<String, String>,
    args: &'b mut String,
}

impl OptionsState<'_, '_> {
    fn handle(&mut self, k: &str, prop: &Schema, type_key: Option<&str>) {
        if self.arg_names.contains(k) || self.fixed.contains_key(k) {
            return;
        }
        if self.ignore_standard && self.standard.contains_key(k) {
            return;
        }
        let mut type_text = super::schema_walk::type_name(prop).to_string();
        if prop.one_of.is_some() {
            type_text = "multiple".into();
        } else if let Some(alias) = &prop.alias {
            type_text = format!("alias for '{alias}'");
        }
        let mut is_optional = prop.is_optional();

        let mut base = k.to_string();
        if let Some((family, idx)) = split_indexed(k) {
            if self.indexed.contains(family) {
                return;
            }
            if idx.parse::<u64>().is_ok_and(|i| i == 0)
                && property_schema(self.schema, &format!("{family}1"), None).is_some()
            {
                self.indexed.insert(family.to_string());
                base = format!("{family}[n]");
            }
        }

        if let Some(alias) = &prop.alias {
            is_optional =
                property_schema(self.schema, alias, None).is_some_and(|t| t.is_optional());
        }

        if let Some(key) = type_key {
            self.type_specific
                .entry(key.to_string())
                .or_default()
                .push_str(&property_description(&base, PropertyStyle::Arg, prop));
            return;
        }

        if let Some(tp) = &prop.type_property {
            let type_enum_len = property_schema(self.schema, tp, None)
                .and_then(|s| s.enum_.as_ref())
                .map_or(0, Vec::len);
            if let Some(variants) = &prop.one_of {
                if type_enum_len > variants.len() {
                    is_optional = true;
                }
                for alt in variants {
                    if alt.is_optional() {
                        is_optional = true;
                    }
                    for t in alt.instance_types.iter().flatten() {
                        self.type_specific
                            .entry(format!("{tp}={t}"))
                            .or_default()
                            .push_str(&property_description(&base, PropertyStyle::Arg, alt));
                    }
                }
            } else if let Some(types) = &prop.instance_types {
                if type_enum_len > types.len() {
                    is_optional = true;
                }
                for t in types {
                    self.type_specific
                        .entry(format!("{tp}={t}"))
                        .or_default()
                        .push_str(&property_description(&base, PropertyStyle::Arg, prop));
                }
            }
        } else if let Some(variants) = &prop.one_of {
            let mut parts = Vec::new();
            for alt in variants {
                if alt.is_optional() {
                    is_optional = true;
                }
                parts.push(property_description(&base, PropertyStyle::Arg, alt));
            }
            self.opts.push_str(&parts.join("  or\n\n"));
        } else {
            self.opts
                .push_str(&property_description(&base, PropertyStyle::Arg, prop));
        }

        if !is_optional && prop.alias.is_none() {
            if !self.args.is_empty() {
                self.args.push(' ');
            }
            self.args.push_str(&format!("--{base} <{type_text}>"));
        }
    }
}

/// `net0` → (`net`, `0`): lowercase letters followed by digits.
fn split_indexed(k: &str) -> Option<(&str, &str)> {
    let split = k.find(|c: char| c.is_ascii_digit())?;
    let (family, idx) = k.split_at(split);
    let ok = !family.is_empty()
        && family.chars().all(|c| c.is_ascii_lowercase())
        && idx.chars().all(|c| c.is_ascii_digit());
    ok.then_some((family, idx))
}
