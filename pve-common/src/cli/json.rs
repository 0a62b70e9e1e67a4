//! JSON as upstream's JSON::XS encoder writes it with `canonical` (sorted keys):
//! compact, or `pretty` (three-space indent, `"key" : value`).

use serde_json::Value;

use crate::perl::json_number_to_string;

/// Compact canonical JSON, no trailing newline.
pub fn to_canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, None);
    out
}

/// Pretty canonical JSON, ending in a newline.
pub fn to_canonical_json_pretty(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, Some(0));
    out.push('\n');
    out
}

const INDENT: usize = 3;

fn newline_indent(out: &mut String, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', level * INDENT));
}

/// `level` is `None` for compact output, else the nesting depth.
fn write_value(out: &mut String, value: &Value, level: Option<usize>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&json_number_to_string(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(level) = level {
                    newline_indent(out, level + 1);
                }
                write_value(out, item, level.map(|l| l + 1));
            }
            if let Some(level) = level {
                newline_indent(out, level);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(level) = level {
                    newline_indent(out, level + 1);
                }
                write_string(out, key);
                out.push_str(if level.is_some() { " : " } else { ":" });
                write_value(out, &map[key], level.map(|l| l + 1));
            }
            if let Some(level) = level {
                newline_indent(out, level);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorted() {
        let v = json!({"b": [1, 2.5, null], "a": "x\"\n\u{1}é", "c": {}, "d": []});
        assert_eq!(
            to_canonical_json(&v),
            r#"{"a":"x\"\n\u0001é","b":[1,2.5,null],"c":{},"d":[]}"#
        );
        assert_eq!(to_canonical_json(&json!("s")), r#""s""#);
    }

    #[test]
    fn pretty_like_json_xs() {
        let v = json!([{"b": true, "a": [1, {"x": 0.1}], "e": {}}]);
        let expected = "[\n   {\n      \"a\" : [\n         1,\n         {\n            \"x\" : 0.1\n         }\n      ],\n      \"b\" : true,\n      \"e\" : {}\n   }\n]\n";
        assert_eq!(to_canonical_json_pretty(&v), expected);
        assert_eq!(to_canonical_json_pretty(&json!(5)), "5\n");
    }
}
