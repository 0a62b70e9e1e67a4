//! Property strings: `key=value,key=value` with an optional bare default-key value
//! (`virtio=…,bridge=vmbr0`, `local:32,cache=none`), as upstream's
//! `parse_property_string` / `print_property_string`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::check::{object, scalar_text, ErrorMap};
use super::formats::{format_size, parse_size};
use super::scalar::{parse_boolean, typed_value};
use super::{FormatSpec, JsonType, Schema};

fn format_error(errors: &ErrorMap) -> String {
    let mut msg = "format error".to_string();
    for (k, v) in errors {
        msg.push('\n');
        msg.push_str(k);
        msg.push_str(": ");
        msg.push_str(v);
    }
    msg
}

fn is_boolean(schema: &Schema) -> bool {
    schema.single_type() == Some(JsonType::Boolean)
}

fn bool_or_text(schema: &Schema, text: &str) -> Value {
    if is_boolean(schema) {
        if let Some(b) = parse_boolean(text) {
            return Value::from(u8::from(b));
        }
    }
    Value::String(text.to_string())
}

/// Parses a property string against a format (key → schema). Values come back typed
/// (integers and numbers as JSON numbers, booleans as JSON booleans). Unknown keys
/// fail the object check (as upstream's), and duplicate keys, a bare value without a
/// `default_key` and values failing their schema are errors with upstream's texts; a
/// schema failure reads
/// `format error\n<key>: <message>…`.
pub fn parse_property_string(
    format: &BTreeMap<String, Schema>,
    text: &str,
) -> Result<Map<String, Value>, String> {
    parse_property_string_at(format, text, "")
}

/// [`parse_property_string`] for a registered property-string format name.
pub fn parse_named_property_string(name: &str, text: &str) -> Result<Map<String, Value>, String> {
    let props = super::formats::get_property_format(name)
        .ok_or_else(|| format!("unknown format: {name}"))?;
    parse_property_string_at(&props, text, "")
}

pub(crate) fn parse_property_string_at(
    format: &BTreeMap<String, Schema>,
    text: &str,
    path: &str,
) -> Result<Map<String, Value>, String> {
    let mut res = Map::new();
    let defined = |res: &Map<String, Value>, k: &str| res.get(k).is_some_and(|v| !v.is_null());
    let mut default_key: Option<&str> = None;

    for part in text.split(',') {
        if part.trim().is_empty() {
            continue;
        }
        let key_value = part
            .split_once('=')
            .filter(|(k, v)| !k.is_empty() && !v.is_empty() && !v.contains('\n'));
        if let Some((key, value)) = key_value {
            if defined(&res, key) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {key}"
                ));
            }
            let mut key = key;
            let mut schema = format.get(key);
            if let Some(alias) = schema.and_then(|s| s.alias.as_deref()) {
                if let Some(key_alias) = schema.and_then(|s| s.key_alias.as_deref()) {
                    if defined(&res, key_alias) {
                        return Err(format!("key alias '{key_alias}' is already defined"));
                    }
                    res.insert(key_alias.to_string(), Value::String(key.to_string()));
                }
                key = alias;
                schema = format.get(key);
                if defined(&res, key) {
                    return Err(format!("key '{key}' is already defined (via alias)"));
                }
            }
            // Upstream's `$schema->{alias}` autovivifies a missing key's schema, so an
            // unknown key is kept here and reported by the object check below
            // ("property is not defined in schema …"), never as "invalid key".
            match schema {
                Some(schema) => res.insert(key.to_string(), bool_or_text(schema, value)),
                None => res.insert(key.to_string(), Value::String(value.to_string())),
            };
        } else if !part.contains('=') {
            if let Some(dk) = default_key {
                return Err(format!(
                    "duplicate key in comma-separated list property: {dk}"
                ));
            }
            let (key, schema) = format
                .iter()
                .find(|(_, s)| s.default_key)
                .ok_or("value without key, but schema does not define a default key")?;
            default_key = Some(key);
            if res.get(key).is_some_and(super::perl_truthy) {
                return Err(format!(
                    "duplicate key in comma-separated list property: {key}"
                ));
            }
            res.insert(key.clone(), bool_or_text(schema, part));
        } else {
            return Err("missing key in comma-separated list property".to_string());
        }
    }

    let mut errors = ErrorMap::new();
    object(
        path,
        format,
        &mut res,
        Some(&super::Additional::Bool(false)),
        &mut errors,
        None,
    );
    if !errors.is_empty() {
        return Err(format_error(&errors));
    }

    for (key, value) in res.iter_mut() {
        if let (Some(schema), Some(text)) = (format.get(key), value.as_str()) {
            *value = typed_value(schema, text);
        } else if let (Some(schema), Value::Number(n)) = (format.get(key), &*value) {
            if is_boolean(schema) {
                *value = Value::Bool(n.as_u64() == Some(1));
            }
        }
    }
    Ok(res)
}

/// The default key and the keyAlias → alias-target pairs of a format.
fn default_key_and_key_aliases(
    format: &BTreeMap<String, Schema>,
) -> Result<(Option<&str>, BTreeMap<&str, &str>), String> {
    let mut default_key: Option<&str> = None;
    let mut key_aliases = BTreeMap::new();
    for (key, schema) in format {
        if schema.default_key {
            if let Some(dk) = default_key {
                return Err(format!("multiple default keys in schema ({dk}, {key})"));
            }
            if schema.alias.is_some() {
                return Err(format!(
                    "default key '{key}' is an alias - this is not allowed"
                ));
            }
            if schema.key_alias.is_some() {
                return Err(format!(
                    "default key '{key}' with keyAlias attribute is not allowed"
                ));
            }
            default_key = Some(key);
        }
        if let Some(key_alias) = schema.key_alias.as_deref() {
            let Some(alias) = schema.alias.as_deref() else {
                return Err(format!(
                    "found keyAlias without 'alias definition for '{key}'"
                ));
            };
            if key_aliases.get(key_alias).is_some_and(|a| *a != alias) {
                return Err(format!("inconsistent keyAlias '{key_alias}' definition"));
            }
            key_aliases.insert(key_alias, alias);
        }
    }
    Ok((default_key, key_aliases))
}

fn value_text(key: &str, value: &Value, format: Option<&FormatSpec>) -> Result<String, String> {
    let text = scalar_text(value).ok_or_else(|| format!("invalid value for key '{key}'"))?;
    if matches!(format, Some(FormatSpec::Named(n)) if n == "disk-size") {
        let bytes = text
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
            .or_else(|| parse_size(&text))
            .ok_or_else(|| format!("value does not look like a valid disk size: {text}"))?;
        return Ok(format_size(bytes));
    }
    if text.contains(',') {
        return Err(format!("illegal value with commas for {key}"));
    }
    Ok(text)
}

/// Prints `data` as a property string: the default key's bare value first, then the
/// non-optional keys sorted, then the rest sorted; keyAlias pairs are combined back
/// into `key=value`. `disk-size` values are printed in the largest exact unit. The data
/// is checked against the format first (extra keys allowed, as upstream).
pub fn print_property_string(
    data: &Map<String, Value>,
    format: &BTreeMap<String, Schema>,
) -> Result<String, String> {
    let mut data = data.clone();
    let mut errors = ErrorMap::new();
    object("", format, &mut data, None, &mut errors, None);
    if !errors.is_empty() {
        return Err(format_error(&errors));
    }

    let (default_key, key_aliases) = default_key_and_key_aliases(format)?;
    let mut parts: Vec<String> = Vec::new();
    let mut done: BTreeSet<String> = BTreeSet::new();

    let mut add_key = |key: &str, is_default: bool| -> Result<(), String> {
        if !done.insert(key.to_string()) {
            return Ok(());
        }
        let Some(value) = data.get(key).filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let mut schema = format.get(key);
        if let Some(combine) = key_aliases.get(key) {
            if let Some(other) = data.get(*combine).filter(|v| !v.is_null()) {
                let own = value_text(key, value, schema.and_then(|s| s.format.as_ref()))?;
                let other_format = format.get(*combine).and_then(|s| s.format.as_ref());
                let other = value_text(combine, other, other_format)?;
                parts.push(format!("{own}={other}"));
                done.insert(combine.to_string());
                return Ok(());
            }
        }
        if let Some(alias) = schema.and_then(|s| s.alias.as_deref()) {
            schema = format.get(alias);
        }
        let schema = schema.ok_or_else(|| format!("invalid key '{key}'"))?;
        if schema.alias.is_some() {
            return Err("internal error".to_string());
        }
        let text = value_text(key, value, schema.format.as_ref())?;
        parts.push(if is_default {
            text
        } else {
            format!("{key}={text}")
        });
        Ok(())
    };

    // The map may keep insertion order; upstream prints keys sorted.
    let keys: BTreeSet<&String> = data.keys().collect();
    if let Some(dk) = default_key {
        add_key(dk, true)?;
    }
    for key in &keys {
        if format.get(*key).is_some_and(|s| !s.is_optional()) {
            add_key(key, false)?;
        }
    }
    for key in &keys {
        add_key(key, false)?;
    }
    Ok(parts.join(","))
}

/// [`print_property_string`] for a registered property-string format name.
pub fn print_named_property_string(
    data: &Map<String, Value>,
    name: &str,
) -> Result<String, String> {
    let props = super::formats::get_property_format(name)
        .ok_or_else(|| format!("not a valid format: {name}"))?;
    print_property_string(data, &props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fmt(v: Value) -> BTreeMap<String, Schema> {
        serde_json::from_value(v).unwrap()
    }

    fn net_format() -> BTreeMap<String, Schema> {
        fmt(json!({
            "model": {"type": "string", "enum": ["virtio", "e1000"], "default_key": 1},
            "bridge": {"type": "string", "optional": 1},
            "firewall": {"type": "boolean", "optional": 1},
            "tag": {"type": "integer", "minimum": 1, "maximum": 4094, "optional": 1},
            "rate": {"type": "number", "optional": 1},
            "size": {"type": "string", "format": "disk-size", "optional": 1},
        }))
    }

    #[test]
    fn parse_typed_and_round_trip() {
        let f = net_format();
        let parsed =
            parse_property_string(&f, "virtio,bridge=vmbr0,firewall=on,tag=5,rate=1.5").unwrap();
        assert_eq!(
            Value::Object(parsed.clone()),
            json!({"model": "virtio", "bridge": "vmbr0", "firewall": true, "tag": 5, "rate": 1.5})
        );
        assert_eq!(
            print_property_string(&parsed, &f).unwrap(),
            "virtio,bridge=vmbr0,firewall=1,rate=1.5,tag=5"
        );
    }

    #[test]
    fn parse_errors() {
        let f = net_format();
        let err = |t: &str| parse_property_string(&f, t).unwrap_err();
        assert_eq!(
            err("virtio,e1000"),
            "duplicate key in comma-separated list property: model"
        );
        assert_eq!(
            err("bridge=a,bridge=b"),
            "duplicate key in comma-separated list property: bridge"
        );
        assert_eq!(
            err("foo=1"),
            "format error\nfoo: property is not defined in schema and the schema does not allow additional properties\nmodel: property is missing and it is not optional"
        );
        assert_eq!(err("=x"), "missing key in comma-separated list property");
        assert_eq!(
            err("virtio,tag=0"),
            "format error\ntag: value must have a minimum value of 1"
        );
        assert_eq!(
            err("bridge=vmbr0"),
            "format error\nmodel: property is missing and it is not optional"
        );
        let no_default = fmt(json!({"a": {"type": "string"}}));
        assert_eq!(
            parse_property_string(&no_default, "x").unwrap_err(),
            "value without key, but schema does not define a default key"
        );
    }

    #[test]
    fn key_alias_round_trip() {
        let f = fmt(json!({
            "model": {"type": "string", "optional": 1},
            "macaddr": {"type": "string", "optional": 1},
            "virtio": {"alias": "macaddr", "keyAlias": "model"},
        }));
        let parsed = parse_property_string(&f, "virtio=02:00:00:00:00:01").unwrap();
        assert_eq!(
            Value::Object(parsed.clone()),
            json!({"model": "virtio", "macaddr": "02:00:00:00:00:01"})
        );
        // Sorted order reaches `macaddr` before the keyAlias `model`; upstream then
        // still combines the pair, printing the address twice.
        assert_eq!(
            print_property_string(&parsed, &f).unwrap(),
            "macaddr=02:00:00:00:00:01,virtio=02:00:00:00:00:01"
        );
        let only_model = json!({"model": "virtio", "zz": "02:00:00:00:00:01"});
        let f2 = fmt(json!({
            "model": {"type": "string", "optional": 1},
            "zz": {"type": "string", "optional": 1},
            "virtio": {"alias": "zz", "keyAlias": "model"},
        }));
        assert_eq!(
            print_property_string(only_model.as_object().unwrap(), &f2).unwrap(),
            "virtio=02:00:00:00:00:01"
        );
    }

    #[test]
    fn print_rules() {
        let f = net_format();
        let data = json!({"model": "virtio", "size": 34359738368u64, "bridge": "a,b"});
        assert_eq!(
            print_property_string(data.as_object().unwrap(), &f).unwrap_err(),
            "illegal value with commas for bridge"
        );
        let data = json!({"model": "virtio", "size": 34359738368u64});
        assert_eq!(
            print_property_string(data.as_object().unwrap(), &f).unwrap(),
            "virtio,size=32G"
        );
    }

    #[test]
    fn nested_named_format() {
        let f = fmt(json!({"bw": {"type": "string", "format": "bwlimit"}}));
        let mut errors = ErrorMap::new();
        let mut v = json!({"bw": "clone=10,move=x"});
        super::super::check::check_object(v.as_object_mut().unwrap(), &f, false, "", &mut errors);
        assert_eq!(
            errors["bw"],
            "invalid format - format error\nbw.move: type check ('number') failed - got 'x'\n"
        );
        assert!(parse_named_property_string("bwlimit", "default=5").is_ok());
    }

    #[test]
    fn odd_input_never_panics() {
        let f = net_format();
        let inputs = [
            "",
            ",",
            ",,,",
            "=",
            "==",
            "a=",
            "=b",
            "virtio,",
            "\0",
            "virtio,\0=1",
            "model=\u{1F600}",
            "tag=99999999999999999999999",
            "rate=1e400",
            "rate=.",
            "size=-1",
            "firewall=",
            "virtio,virtio",
            "ä=ö",
            "virtio,tag=+5",
            "\n=\n",
        ];
        for input in inputs {
            if let Ok(parsed) = parse_property_string(&f, input) {
                let _ = print_property_string(&parsed, &f);
            }
        }
        for name in [
            "pve-vmid-list",
            "bwlimit",
            "pve-startup-order",
            "pem-string",
            "disk-size",
        ] {
            for input in inputs {
                let _ = super::super::check_format(&FormatSpec::Named(name.into()), input);
            }
        }
    }
}
