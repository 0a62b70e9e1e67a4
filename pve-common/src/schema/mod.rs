//! The JSON-schema dialect of Proxmox VE.
//!
//! Upstream describes every API parameter, return value and config-file key with a
//! JSON-schema-like hash (`PVE::JSONSchema`). [`Schema`] is that hash as a typed value: it
//! deserializes from the JSON form found in the API dump and the conformance corpora and
//! serializes back to the same shape (Perl booleans as `1`/`0`).

//!
//! Built on it:
//! - [`check`]: validation with upstream's error texts ([`check_prop`], [`check_object`],
//!   [`validate`])
//! - [`formats`]: the format registry ([`check_format`], [`register_format`],
//!   [`register_format_checker`])
//! - [`property_string`]: [`parse_property_string`] / [`print_property_string`]
//! - [`scalar`]: [`parse_value`], typed values from config-file or CLI text
//! - [`normalize`]: [`normalize_param`], the REST handler's legacy list handling

pub mod check;
mod extra_formats;
pub mod formats;
mod net_formats;
pub mod normalize;
pub mod property_string;
pub mod scalar;
pub mod typetext;

pub use check::{check_object, check_prop, check_prop_mut, validate, ErrorMap, ParameterError};
pub use formats::{check_format, get_format, register_format, register_format_checker, split_list};
pub use normalize::{normalize_param, normalize_property};
pub use property_string::{
    parse_named_property_string, parse_property_string, print_named_property_string,
    print_property_string,
};
pub use scalar::{parse_boolean, parse_value};

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The JSON types a schema can name. `type` may name several (`["string", "array"]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JsonType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
    Null,
    Any,
    /// A Perl code reference; only the meta schema uses it.
    Coderef,
}

impl JsonType {
    pub fn as_str(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::Boolean => "boolean",
            JsonType::Object => "object",
            JsonType::Array => "array",
            JsonType::Null => "null",
            JsonType::Any => "any",
            JsonType::Coderef => "coderef",
        }
    }
}

/// `type`: one type, or a list of allowed types.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TypeSpec {
    One(JsonType),
    Many(Vec<JsonType>),
    /// Legacy: a whole schema in place of a type name (seen in a few upstream return
    /// schemas, e.g. `type => { type => 'string', enum => [...] }`).
    Schema(Box<Schema>),
}

/// `format`: the name of a registered format, or an inline property-string format.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FormatSpec {
    Named(String),
    /// Shared: the indexed options of a guest config (`net0`…`net31`, `mp0`…`mp255`)
    /// and every API method that takes them use one copy.
    Inline(std::sync::Arc<BTreeMap<String, Schema>>),
}

/// The `properties` of an object schema; the schemas are shared ([`Arc`]), so that a
/// method's parameter map can reuse a guest's option schemas without copying them.
pub type Properties = BTreeMap<String, std::sync::Arc<Schema>>;

/// [`Properties`] from owned schemas.
pub fn shared_properties(map: BTreeMap<String, Schema>) -> Properties {
    map.into_iter()
        .map(|(k, v)| (k, std::sync::Arc::new(v)))
        .collect()
}

/// `additionalProperties`: allowed or not, or a schema the extra keys must match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Additional {
    Bool(#[serde(with = "perl_bool")] bool),
    Schema(Box<Schema>),
}

/// One PVE JSON schema. Field names follow upstream's keys; keys this struct does not
/// know are kept in `extra` so that a schema round-trips unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<TypeSpec>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_perl_bool"
    )]
    pub optional: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub enum_: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "perl_number"
    )]
    pub minimum: Option<serde_json::Number>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "perl_number"
    )]
    pub maximum: Option<serde_json::Number>,
    #[serde(
        rename = "minLength",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "perl_count"
    )]
    pub min_length: Option<u64>,
    #[serde(
        rename = "maxLength",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "perl_count"
    )]
    pub max_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FormatSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Shared: a property schema (e.g. a VM option) is one allocation however many
    /// methods take it as a parameter.
    pub properties: Option<Properties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<Schema>>,
    #[serde(
        rename = "additionalProperties",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub additional_properties: Option<Additional>,
    #[serde(rename = "oneOf", default, skip_serializing_if = "Option::is_none")]
    pub one_of: Option<Vec<Schema>>,
    #[serde(rename = "allOf", default, skip_serializing_if = "Option::is_none")]
    pub all_of: Option<Vec<Schema>>,
    #[serde(
        rename = "type-property",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub type_property: Option<String>,
    #[serde(
        rename = "type-property-schema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub type_property_schema: Option<Box<Schema>>,
    #[serde(
        rename = "instance-type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_type: Option<String>,
    #[serde(
        rename = "instance-types",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub instance_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(rename = "keyAlias", default, skip_serializing_if = "Option::is_none")]
    pub key_alias: Option<String>,
    /// Another key (string) that must be set too, or a schema (object) for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<Value>,
    #[serde(default, skip_serializing_if = "is_false", with = "perl_bool")]
    pub default_key: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub typetext: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub verbose_description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub format_description: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub title: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_text"
    )]
    pub renderer: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "doc_value"
    )]
    pub links: Option<Value>,
    /// Keys not modelled above (kept verbatim).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

static KEEP_DOCS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Makes every schema and API method built from now on leave out its documentation
/// (descriptions, titles, type texts, renderers, links). The daemons call it before
/// they build the API tree: they never show documentation (that is the apidoc's and the
/// CLIs' job), and the texts are about a third of the tree's memory.
pub fn drop_docs() {
    KEEP_DOCS.store(false, std::sync::atomic::Ordering::Relaxed);
}

/// Whether documentation is kept (see [`drop_docs`]).
pub fn docs_kept() -> bool {
    KEEP_DOCS.load(std::sync::atomic::Ordering::Relaxed)
}

/// A documentation text: read, and kept unless [`drop_docs`] was called.
fn doc_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    if docs_kept() {
        Option::<String>::deserialize(d)
    } else {
        serde::de::IgnoredAny::deserialize(d).map(|_| None)
    }
}

/// Like [`doc_text`], for documentation that is not a string (`links`).
fn doc_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    if docs_kept() {
        Option::<Value>::deserialize(d)
    } else {
        serde::de::IgnoredAny::deserialize(d).map(|_| None)
    }
}

/// A number as Perl leaves it in a schema: a JSON number or a numeric string (the
/// published API dump has `"minimum": "0"` in places).
fn perl_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Number>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(Some(n)),
        Value::String(s) => {
            let t = s.trim();
            let n = t
                .parse::<i64>()
                .map(serde_json::Number::from)
                .ok()
                .or_else(|| t.parse::<f64>().ok().and_then(serde_json::Number::from_f64));
            n.map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("not a number: '{s}'")))
        }
        other => Err(serde::de::Error::custom(format!("not a number: {other}"))),
    }
}

/// A length limit: a non-negative integer, also as a numeric string.
fn perl_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match perl_number(d)? {
        None => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a length: {n}"))),
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Perl's truth for the JSON forms a boolean flag takes in schemas: `1`, `"1"`, `true`
/// are true; `0`, `"0"`, `""`, `false`, `null` are false.
pub fn perl_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !(s.is_empty() || s == "0"),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// (De)serializes a Perl boolean flag: read from any truthy form, written as `1`/`0`.
pub mod perl_bool {
    use super::*;

    pub fn serialize<S: Serializer>(b: &bool, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(u8::from(*b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(perl_truthy(&Value::deserialize(d)?))
    }
}

mod opt_perl_bool {
    use super::*;

    pub fn serialize<S: Serializer>(b: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(b) => s.serialize_u8(u8::from(*b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        Ok(Some(perl_truthy(&Value::deserialize(d)?)))
    }
}

impl Schema {
    /// A schema of one type and nothing else.
    pub fn of_type(t: JsonType) -> Self {
        Self {
            type_: Some(TypeSpec::One(t)),
            ..Default::default()
        }
    }

    /// Builder: sets `description`.
    pub fn description(mut self, text: &str) -> Self {
        self.description = docs_kept().then(|| text.to_string());
        self
    }

    /// Builder: marks the schema optional.
    pub fn optional(mut self) -> Self {
        self.optional = Some(true);
        self
    }

    /// Whether the property may be absent.
    pub fn is_optional(&self) -> bool {
        self.optional.unwrap_or(false)
    }

    /// The single type, when exactly one is named.
    pub fn single_type(&self) -> Option<JsonType> {
        match &self.type_ {
            Some(TypeSpec::One(t)) => Some(*t),
            Some(TypeSpec::Many(v)) if v.len() == 1 => Some(v[0]),
            _ => None,
        }
    }

    /// A schema written as a JSON literal in the code (`schema(json!({...}))`), the
    /// compact way to declare API schemas like upstream's Perl hashes. An invalid literal
    /// is a programming error and panics at start-up (the API tree-walk test builds them
    /// all).
    pub fn literal(v: Value) -> Self {
        match Schema::deserialize(&v) {
            Ok(s) => s,
            Err(e) => panic!("invalid schema literal {v}: {e}"),
        }
    }

    /// Parses a schema from its JSON form.
    pub fn from_value(v: &Value) -> Result<Self, serde_json::Error> {
        Schema::deserialize(v)
    }

    /// The JSON form of the schema.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A JSON literal of the source (an upstream schema), parsed at run time. Kept as text,
/// a literal costs its bytes in the binary; `serde_json::json!` would compile each one
/// into code many times its size, which every daemon maps and runs once at start.
pub fn json_lit(text: &'static str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON literal in the source: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_round_trips_through_json() {
        let v = json!({
            "type": "object",
            "additionalProperties": 0,
            "properties": {
                "vmid": {"type": "integer", "format": "pve-vmid", "minimum": 100, "optional": "1"},
                "net": {"type": "string", "format": {"model": {"type": "string", "default_key": 1}}},
                "kind": {"type": ["string", "array"], "x-unknown": 5},
            }
        });
        let s = Schema::from_value(&v).unwrap();
        let props = s.properties.as_ref().unwrap();
        assert!(props["vmid"].is_optional());
        assert_eq!(props["kind"].extra["x-unknown"], json!(5));
        assert!(matches!(
            s.additional_properties,
            Some(Additional::Bool(false))
        ));
        let back = s.to_value();
        assert_eq!(back["properties"]["vmid"]["optional"], json!(1));
        assert_eq!(
            back["properties"]["net"]["format"]["model"]["default_key"],
            json!(1)
        );
        assert_eq!(back["additionalProperties"], json!(0));
    }

    #[test]
    fn perl_string_numbers_are_accepted() {
        let s = Schema::from_value(&json!({"type": "integer", "minimum": "0", "maxLength": "64"}))
            .unwrap();
        assert_eq!(s.minimum, Some(0.into()));
        assert_eq!(s.max_length, Some(64));
        assert!(Schema::from_value(&json!({"minimum": "x"})).is_err());
    }
}
