//! The API description dump: the same tree shape as upstream's apidoc
//! (`[{path, text, leaf, children?, info?: {GET: {...}}}]`).

use serde_json::{Map, Value};

use super::router::{Children, Router};
use crate::schema::{typetext::schema_type_text, Schema, TypeSpec};

/// The whole tree below `root` (the root path itself has no entry, as upstream).
pub fn api_dump(root: &Router) -> Value {
    Value::Array(children_of(root, ""))
}

fn children_of(router: &Router, prefix: &str) -> Vec<Value> {
    match router.children() {
        Children::None => Vec::new(),
        Children::Dirs(dirs) => dirs
            .iter()
            .filter_map(|(name, r)| node(r, &format!("{prefix}/{name}"), name))
            .collect(),
        Children::Param { name, router } => {
            let text = format!("{{{name}}}");
            node(router, &format!("{prefix}/{text}"), &text)
                .into_iter()
                .collect()
        }
    }
}

fn node(router: &Router, path: &str, text: &str) -> Option<Value> {
    let children = children_of(router, path);
    let mut info = Map::new();
    for m in router.methods() {
        info.insert(m.method.as_str().to_string(), m.dump());
    }
    if children.is_empty() && info.is_empty() {
        return None;
    }
    let mut rec = Map::new();
    rec.insert("leaf".into(), Value::from(u8::from(children.is_empty())));
    if !children.is_empty() {
        rec.insert("children".into(), Value::Array(children));
    }
    if !info.is_empty() {
        rec.insert("info".into(), Value::Object(info));
    }
    rec.insert("path".into(), Value::from(path));
    rec.insert("text".into(), Value::from(text));
    Some(Value::Object(rec))
}

/// A schema as the dump shows it (upstream's `api_clone_schema`): indexed properties
/// `net0`…`netN` collapse into `net[n]`, and with `typetext` every property whose type
/// text says more than its type gets a `typetext` (not for enums and patterns).
pub fn clone_schema(schema: &Schema, typetext: bool) -> Value {
    for list in [&schema.all_of, &schema.one_of] {
        if list.is_some() {
            let mut v = schema.to_value();
            let key = if schema.all_of.is_some() {
                "allOf"
            } else {
                "oneOf"
            };
            let subs = list
                .iter()
                .flatten()
                .map(|s| clone_schema(s, typetext))
                .collect();
            v[key] = Value::Array(subs);
            return v;
        }
    }
    let mut v = schema.to_value();
    let Some(props) = &schema.properties else {
        return v;
    };
    let mut out = Map::new();
    for (name, p) in props {
        let mut name = name.clone();
        if let Some((base, idx)) = split_index(&name) {
            if idx == 0 && props.contains_key(&format!("{base}1")) {
                name = format!("{base}[n]");
            } else if idx > 0 && props.contains_key(&format!("{base}0")) {
                continue;
            }
        }
        let mut pv = p.to_value();
        if typetext && p.enum_.is_none() && p.pattern.is_none() {
            let text = schema_type_text(p, false);
            let differs = match &p.type_ {
                Some(TypeSpec::One(t)) => t.as_str() != text,
                Some(_) => true,
                None => false,
            };
            if differs {
                pv["typetext"] = Value::from(text);
            }
        }
        out.insert(name, pv);
    }
    v["properties"] = Value::Object(out);
    v
}

/// `net12` → (`net`, 12); names must be lower-case letters then digits.
fn split_index(name: &str) -> Option<(&str, u64)> {
    let pos = name.find(|c: char| c.is_ascii_digit())?;
    let (base, digits) = name.split_at(pos);
    if base.is_empty() || !base.bytes().all(|b| b.is_ascii_lowercase()) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, digits.parse().ok()?))
}
