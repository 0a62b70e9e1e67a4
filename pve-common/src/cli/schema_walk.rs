//! Walking object-like parameter schemas (plain `properties`, `allOf`, `oneOf` with a
//! type property) the way the option parser and the usage generator see them.

use serde_json::{Map, Value};

use crate::schema::Schema;

/// Whether the schema describes an object: properties, or a composition of objects.
/// A method built without properties (but with `additionalProperties`) counts too, as
/// upstream writes such methods with an empty `properties` hash.
pub fn is_object_like(schema: &Schema) -> bool {
    schema.properties.is_some()
        || schema.all_of.is_some()
        || schema.one_of.is_some()
        || schema.additional_properties.is_some()
}

/// One property met by [`for_each_property`]: its name, schema and the
/// `(type-property, instance-type)` pairs of the `oneOf` variants it sits in.
pub struct PropertyVisit<'a> {
    pub name: &'a str,
    pub schema: &'a Schema,
    pub one_of: Vec<(String, String)>,
}

/// Every property of an object-like schema, in schema order (properties sorted).
/// The type property of a typed `oneOf` is visited once, with its own schema.
pub fn for_each_property(schema: &Schema) -> Vec<PropertyVisit<'_>> {
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), &mut out);
    out
}

fn walk<'a>(
    schema: &'a Schema,
    types: &mut Vec<(String, String)>,
    out: &mut Vec<PropertyVisit<'a>>,
) {
    if let Some(props) = &schema.properties {
        for (name, s) in props {
            out.push(PropertyVisit {
                name,
                schema: s,
                one_of: types.clone(),
            });
        }
        return;
    }
    if let Some(all_of) = &schema.all_of {
        for sub in all_of {
            walk(sub, types, out);
        }
        return;
    }
    if let Some(one_of) = &schema.one_of {
        let type_prop = schema.type_property.as_deref();
        if let (Some(tp), Some(ts)) = (type_prop, schema.type_property_schema.as_deref()) {
            out.push(PropertyVisit {
                name: tp,
                schema: ts,
                one_of: types.clone(),
            });
        }
        for sub in one_of {
            let pushed = match type_prop {
                Some(tp) => {
                    types.push((
                        tp.to_string(),
                        sub.instance_type.clone().unwrap_or_default(),
                    ));
                    true
                }
                None => false,
            };
            walk(sub, types, out);
            if pushed {
                types.pop();
            }
        }
    }
}

/// All schemas `key` has in the object-like schema (several when it appears in more
/// than one `oneOf` variant). With `data`, a typed `oneOf` only looks into the variant
/// of the type given there.
pub fn property_schemas<'a>(
    schema: &'a Schema,
    key: &str,
    data: Option<&Map<String, Value>>,
) -> Vec<&'a Schema> {
    if let Some(props) = &schema.properties {
        return props.get(key).into_iter().map(|s| &**s).collect();
    }
    if let Some(all_of) = &schema.all_of {
        for sub in all_of {
            let found = property_schemas(sub, key, data);
            if !found.is_empty() {
                return found;
            }
        }
        return Vec::new();
    }
    if let Some(one_of) = &schema.one_of {
        let mut wanted_type = None;
        if let Some(tp) = &schema.type_property {
            if key == tp {
                return schema.type_property_schema.as_deref().into_iter().collect();
            }
            wanted_type = data.and_then(|d| d.get(tp)).and_then(type_text);
        }
        let mut all = Vec::new();
        for sub in one_of {
            if let Some(t) = &wanted_type {
                if sub.instance_type.as_deref() != Some(t.as_str()) {
                    continue;
                }
                return property_schemas(sub, key, data);
            }
            all.extend(property_schemas(sub, key, data));
        }
        return all;
    }
    Vec::new()
}

/// The first schema of `key`, as upstream's scalar-context lookup.
pub fn property_schema<'a>(
    schema: &'a Schema,
    key: &str,
    data: Option<&Map<String, Value>>,
) -> Option<&'a Schema> {
    property_schemas(schema, key, data).into_iter().next()
}

fn type_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The format name of a schema when it is a named format.
pub fn format_name(schema: &Schema) -> Option<&str> {
    match &schema.format {
        Some(crate::schema::FormatSpec::Named(n)) => Some(n),
        _ => None,
    }
}

/// Whether the schema's format is a `-list` format (`pve-vmid-list`, …).
pub fn is_list_format(schema: &Schema) -> bool {
    format_name(schema).is_some_and(|f| f.contains("-list"))
}

/// The schema's single type name, `string` when none is given.
pub fn type_name(schema: &Schema) -> &'static str {
    use crate::schema::TypeSpec;
    match &schema.type_ {
        Some(TypeSpec::One(t)) => t.as_str(),
        Some(TypeSpec::Many(v)) if !v.is_empty() => v[0].as_str(),
        _ => "string",
    }
}

/// Whether the schema names a type explicitly and it is `t`.
pub fn has_type(schema: &Schema, t: crate::schema::JsonType) -> bool {
    use crate::schema::TypeSpec;
    match &schema.type_ {
        Some(TypeSpec::One(x)) => *x == t,
        Some(TypeSpec::Many(v)) => v.first() == Some(&t),
        _ => false,
    }
}
