//! Request parameters: the query string and the body (form-encoded or JSON) as one map.

use pve_common::api::ApiError;
use serde_json::{Map, Value};

/// The largest request body upstream accepts.
pub const MAX_BODY: usize = 512 * 1024;

/// `a=1&b=2&b=3` → `{a: "1", b: ["2", "3"]}` (a repeated key becomes an array).
pub fn parse_urlencoded(text: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in form_urlencoded::parse(text) {
        let v = Value::String(v.into_owned());
        match map.get_mut(k.as_ref()) {
            Some(Value::Array(list)) => list.push(v),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, v]);
            }
            None => {
                map.insert(k.into_owned(), v);
            }
        }
    }
    map
}

/// The parameters a body carries, by its content type. Upstream answers 415-like
/// content types it cannot read with 506 ("unsupported content type").
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    let ct = content_type.unwrap_or("application/x-www-form-urlencoded");
    let base = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "application/x-www-form-urlencoded" | "" => Ok(parse_urlencoded(body)),
        "application/json" => match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(ApiError::new(400, "JSON body is not an object\n")),
            Err(e) => Err(ApiError::new(
                400,
                format!("unable to parse JSON body - {e}\n"),
            )),
        },
        other => Err(ApiError::new(
            506,
            format!("unsupported content type '{other}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_keys_become_arrays() {
        let m = parse_urlencoded(b"a=1&b=x%20y&b=3&b=4&c=");
        assert_eq!(
            Value::Object(m),
            json!({"a": "1", "b": ["x y", "3", "4"], "c": ""})
        );
    }

    #[test]
    fn bodies_by_content_type() {
        let j = parse_body(Some("application/json; charset=utf-8"), br#"{"n": 5}"#).unwrap();
        assert_eq!(j["n"], json!(5));
        assert_eq!(parse_body(None, b"x=1").unwrap()["x"], json!("1"));
        assert_eq!(
            parse_body(Some("text/plain"), b"x").unwrap_err().status,
            506
        );
        assert_eq!(
            parse_body(Some("application/json"), b"[1]")
                .unwrap_err()
                .status,
            400
        );
        assert!(parse_body(Some("application/json"), b"")
            .unwrap()
            .is_empty());
    }
}
