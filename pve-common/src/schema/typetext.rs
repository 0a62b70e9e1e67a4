//! Type texts: the short human form of a schema (`<integer> (1 - N)`,
//! `[model=]<enum> [,bridge=<bridge>]`) shown in usage, man pages and the API dump.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{FormatSpec, JsonType, Schema, TypeSpec};

fn type_name(schema: &Schema) -> &'static str {
    match &schema.type_ {
        Some(TypeSpec::One(t)) => t.as_str(),
        Some(TypeSpec::Many(v)) if !v.is_empty() => v[0].as_str(),
        _ => "string",
    }
}

fn number_text(n: &serde_json::Number) -> String {
    super::check::number_text(n)
}

fn enum_texts(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// The type text of a schema, as upstream's `schema_get_type_text`. With `config_sub`
/// (man pages of config keys), enums of property-string formats are listed in full.
pub fn schema_type_text(schema: &Schema, config_sub: bool) -> String {
    let ty = type_name(schema);
    if let Some(t) = &schema.typetext {
        return t.clone();
    }
    if let Some(d) = &schema.format_description {
        return format!("<{d}>");
    }
    if let Some(values) = &schema.enum_ {
        let mut v = enum_texts(values);
        v.sort();
        return format!("<{}>", v.join(" | "));
    }
    if let Some(p) = &schema.pattern {
        return p.clone();
    }
    if let Some(a) = &schema.alias {
        return format!("<alias to '{a}'>");
    }
    if ty == "integer" || ty == "number" {
        match (&schema.minimum, &schema.maximum) {
            (Some(min), Some(max)) => {
                return format!("<{ty}> ({} - {})", number_text(min), number_text(max))
            }
            (Some(min), None) => return format!("<{ty}> ({} - N)", number_text(min)),
            (None, Some(max)) => return format!("<{ty}> (-N - {})", number_text(max)),
            (None, None) => {}
        }
    } else if ty == "string" {
        let props = match &schema.format {
            Some(FormatSpec::Inline(props)) => Some(props.clone()),
            Some(FormatSpec::Named(name)) => super::formats::get_property_format(name),
            None => None,
        };
        if let Some(props) = props {
            return format_type_text(&props, config_sub);
        }
    }
    format!("<{ty}>")
}

/// The type text of a property-string format, as upstream's `generate_typetext`: the
/// default key first, then the required keys, then the rest (each group sorted),
/// optional parts in brackets, then the keyAlias pairs.
pub fn format_type_text(format: &BTreeMap<String, Schema>, list_enums: bool) -> String {
    let default_key = format
        .iter()
        .find(|(_, s)| s.default_key)
        .map(|(k, _)| k.clone());
    let mut key_aliases: BTreeMap<String, String> = BTreeMap::new();
    for s in format.values() {
        if let (Some(ka), Some(alias)) = (&s.key_alias, &s.alias) {
            key_aliases.insert(ka.clone(), alias.clone());
        }
    }

    let mut out = String::new();
    let mut add = |text: String, optional: bool| {
        let mut text = text;
        if !out.is_empty() {
            text = format!(",{text}");
            out.push(' ');
        }
        if optional {
            text = format!("[{text}]");
        }
        out.push_str(&text);
    };

    let key_value = |key: &str, s: &Schema| -> String {
        let typetext = if let Some(d) = &s.format_description {
            format!("<{d}>")
        } else if let Some(t) = &s.typetext {
            t.clone()
        } else if let Some(values) = &s.enum_ {
            if list_enums || values.len() <= 3 {
                format!("<{}>", enum_texts(values).join("|"))
            } else {
                "<enum>".into()
            }
        } else {
            match s.single_type() {
                Some(JsonType::Boolean) => "<1|0>".into(),
                Some(JsonType::Integer) => "<integer>".into(),
                Some(JsonType::Number) => "<number>".into(),
                _ => "<string>".into(),
            }
        };
        if default_key.as_deref() == Some(key) {
            format!("[{key}=]{typetext}")
        } else {
            format!("{key}={typetext}")
        }
    };

    let mut done = std::collections::BTreeSet::new();
    let mut order: Vec<&String> = Vec::new();
    if let Some(k) = &default_key {
        if let Some((key, _)) = format.get_key_value(k) {
            order.push(key);
        }
    }
    order.extend(
        format
            .iter()
            .filter(|(_, s)| !s.is_optional())
            .map(|(k, _)| k),
    );
    order.extend(format.keys());
    for key in order {
        if !done.insert(key.clone()) {
            continue;
        }
        let s = &format[key];
        if s.alias.is_some() {
            continue;
        }
        add(key_value(key, s), s.is_optional());
    }
    for (ka, alias) in &key_aliases {
        add(format!("<{ka}>=<{alias}>"), true);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        Schema::from_value(&v).unwrap()
    }

    #[test]
    fn scalar_type_texts() {
        assert_eq!(
            schema_type_text(&schema(json!({"type": "integer", "minimum": 1})), false),
            "<integer> (1 - N)"
        );
        assert_eq!(
            schema_type_text(
                &schema(json!({"type": "number", "minimum": 0, "maximum": 1.5})),
                false
            ),
            "<number> (0 - 1.5)"
        );
        assert_eq!(
            schema_type_text(&schema(json!({"type": "boolean"})), false),
            "<boolean>"
        );
        assert_eq!(
            schema_type_text(&schema(json!({"enum": ["b", "a"]})), false),
            "<a | b>"
        );
        assert_eq!(
            schema_type_text(&schema(json!({"alias": "x"})), false),
            "<alias to 'x'>"
        );
    }

    #[test]
    fn property_string_type_text() {
        let s = schema(json!({"type": "string", "format": {
            "model": {"type": "string", "default_key": 1, "enum": ["e1000", "virtio", "rtl8139", "vmxnet3"]},
            "bridge": {"type": "string", "format_description": "bridge", "optional": 1},
            "macaddr": {"type": "string", "typetext": "<XX:XX:XX:XX:XX:XX>", "optional": 1},
            "firewall": {"type": "boolean", "optional": 1},
            "rate": {"type": "number", "optional": 1},
            "virtio": {"alias": "macaddr", "keyAlias": "model", "optional": 1},
        }}));
        assert_eq!(
            schema_type_text(&s, false),
            "[model=]<enum> [,bridge=<bridge>] [,firewall=<1|0>] [,macaddr=<XX:XX:XX:XX:XX:XX>] \
             [,rate=<number>] [,<model>=<macaddr>]"
        );
    }
}
