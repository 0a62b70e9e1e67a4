//! The legacy parameter normalisation of upstream's REST handler: form-encoded requests
//! cannot carry arrays, and older clients send lists where strings are expected.

use serde_json::Value;

use super::{FormatSpec, JsonType, Schema};

fn is_list_format(schema: &Schema) -> bool {
    matches!(&schema.format, Some(FormatSpec::Named(n)) if n.ends_with("-list"))
}

/// Normalises one property value: an array given for a `string` with a `*-list`
/// format is joined with `,`; a scalar given for an `array` becomes a one-element
/// array. Falsy values (null, `""`, `"0"`, `0`) are left alone, as upstream does.
pub fn normalize_property(value: Value, schema: &Schema) -> Value {
    if !super::perl_truthy(&value) {
        return value;
    }
    match (&value, schema.single_type()) {
        (Value::Array(items), Some(JsonType::String)) if is_list_format(schema) => {
            let parts: Vec<String> = items
                .iter()
                .map(|v| super::check::scalar_text(v).unwrap_or_default())
                .collect();
            Value::String(parts.join(","))
        }
        (Value::Array(_) | Value::Object(_), _) => value,
        (_, Some(JsonType::Array)) => Value::Array(vec![value]),
        _ => value,
    }
}

/// The schema of property `key` of an object-like schema, looking through `allOf`
/// and the `oneOf` variant selected by the type property.
fn property_schema<'a>(
    schema: &'a Schema,
    key: &str,
    params: &serde_json::Map<String, Value>,
) -> Option<&'a Schema> {
    if let Some(s) = schema.properties.as_ref().and_then(|p| p.get(key)) {
        return Some(s);
    }
    if let Some(subs) = &schema.all_of {
        if let Some(s) = subs.iter().find_map(|s| property_schema(s, key, params)) {
            return Some(s);
        }
    }
    if let (Some(variants), Some(tp)) = (&schema.one_of, &schema.type_property) {
        let instance = params.get(tp).and_then(Value::as_str)?;
        let variant = variants
            .iter()
            .find(|v| v.instance_type.as_deref() == Some(instance))?;
        return property_schema(variant, key, params);
    }
    None
}

/// Upstream's normalisation of API parameters (top level only). With an object-like
/// `schema` and an object `value`, each parameter is normalised by its property schema
/// (see [`normalize_property`]); otherwise `value` itself is normalised by `schema`.
pub fn normalize_param(value: Value, schema: &Schema) -> Value {
    let object_like = schema.properties.is_some()
        || schema.all_of.is_some()
        || (schema.one_of.is_some() && schema.type_property_schema.is_some());
    match value {
        Value::Object(mut params) if object_like => {
            let keys: Vec<String> = params.keys().cloned().collect();
            for key in keys {
                let Some(prop) = property_schema(schema, &key, &params) else {
                    continue;
                };
                let prop = prop.clone();
                if let Some(v) = params.remove(&key) {
                    params.insert(key, normalize_property(v, &prop));
                }
            }
            Value::Object(params)
        }
        other => normalize_property(other, schema),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: Value) -> Schema {
        Schema::from_value(&v).unwrap()
    }

    #[test]
    fn joins_lists_and_wraps_scalars() {
        let list = s(json!({"type": "string", "format": "pve-configid-list"}));
        assert_eq!(normalize_param(json!(["a", "b"]), &list), json!("a,b"));
        assert_eq!(normalize_param(json!("a\0b"), &list), json!("a\0b"));
        let arr = s(json!({"type": "array", "items": {"type": "string"}}));
        assert_eq!(normalize_param(json!("a"), &arr), json!(["a"]));
        assert_eq!(normalize_param(json!(["a"]), &arr), json!(["a"]));
        let obj = s(
            json!({"type": "object", "properties": {"ids": list.to_value(), "l": arr.to_value()}}),
        );
        assert_eq!(
            normalize_param(json!({"ids": ["x", "y"], "l": "z", "other": 1}), &obj),
            json!({"ids": "x,y", "l": ["z"], "other": 1})
        );
    }
}
