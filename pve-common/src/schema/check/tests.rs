use super::*;
use serde_json::json;

fn schema(v: Value) -> Schema {
    Schema::from_value(&v).unwrap()
}

fn errors_of(value: Value, s: Value) -> ErrorMap {
    let mut errors = ErrorMap::new();
    check_prop(&value, &schema(s), "", &mut errors);
    errors
}

#[test]
fn type_errors() {
    let e = errors_of(json!("abc"), json!({"type": "integer"}));
    assert_eq!(e["_root"], "type check ('integer') failed - got 'abc'");
    let e = errors_of(json!("yes"), json!({"type": "boolean"}));
    assert_eq!(e["_root"], "type check ('boolean') failed - got 'yes'");
    assert!(errors_of(json!("1"), json!({"type": "boolean"})).is_empty());
    assert!(errors_of(json!(true), json!({"type": "boolean"})).is_empty());
    assert!(errors_of(json!("-1.5e3"), json!({"type": "number"})).is_empty());
    let e = errors_of(json!([1]), json!({"type": "string"}));
    assert_eq!(e["_root"], "type check ('string') failed - got ARRAY");
    let e = errors_of(json!(1), json!({"type": ["array", "object"]}));
    assert_eq!(e["_root"], "type check ('array|object') failed");
}

#[test]
fn scalar_constraints() {
    let e = errors_of(json!(99), json!({"type": "integer", "minimum": 100}));
    assert_eq!(e["_root"], "value must have a minimum value of 100");
    let e = errors_of(json!(11), json!({"type": "integer", "maximum": 10}));
    assert_eq!(e["_root"], "value must have a maximum value of 10");
    let e = errors_of(json!("ab"), json!({"type": "string", "pattern": "a|b"}));
    assert_eq!(e["_root"], "value does not match the regex pattern");
    let e = errors_of(json!("abc"), json!({"maxLength": 2}));
    assert_eq!(e["_root"], "value may only be 2 characters long");
    let e = errors_of(json!("a"), json!({"minLength": 2}));
    assert_eq!(e["_root"], "value must be at least 2 characters long");
    let e = errors_of(json!("c"), json!({"enum": ["a", "b"]}));
    assert_eq!(
        e["_root"],
        "value 'c' does not have a value in the enumeration 'a, b'"
    );
    let e = errors_of(json!("1"), json!({"format": "pve-vmid"}));
    assert_eq!(
        e["_root"],
        "invalid format - value does not look like a valid VM ID\n"
    );
    let e = errors_of(json!("x"), json!({"format": "nope"}));
    assert_eq!(e["_root"], "invalid format - undefined format 'nope'\n");
    // A broken pattern in a schema is an error, not a panic.
    assert!(!errors_of(json!("x"), json!({"pattern": "("})).is_empty());
}

#[test]
fn object_errors_and_alias() {
    let props: BTreeMap<String, Schema> = serde_json::from_value(json!({
        "a": {"type": "integer"},
        "old": {"alias": "b"},
        "b": {"type": "string", "optional": 1, "requires": "a"},
    }))
    .unwrap();
    let mut v = json!({"old": "x", "zz": 1});
    let mut errors = ErrorMap::new();
    check_object(v.as_object_mut().unwrap(), &props, false, "", &mut errors);
    assert_eq!(v, json!({"b": "x", "zz": 1}));
    assert_eq!(
        errors["a"],
        "property is missing and it is not optional\\nmissing property required by 'b'"
    );
    assert_eq!(errors["zz"], NOT_IN_SCHEMA);
}

#[test]
fn items_and_nested_paths() {
    let e = errors_of(
        json!({"list": [1, "x"]}),
        json!({"type": "object", "properties": {"list": {"type": "array", "items": {"type": "integer"}}}}),
    );
    assert_eq!(e["list[1]"], "type check ('integer') failed - got 'x'");
}

#[test]
fn validate_reports_parameter_error() {
    let mut v = json!({"vmid": "abc"});
    let err = validate(
        &mut v,
        &schema(json!({"type": "object", "properties": {"vmid": {"type": "integer"}}})),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Parameter verification failed.\nvmid: type check ('integer') failed - got 'abc'"
    );
}

#[test]
fn perl_stringified_patterns_work() {
    let s = Schema::literal(
        serde_json::json!({"type": "string", "pattern": "(?^:[A-Za-z][A-Za-z0-9\\.\\-_]+)"}),
    );
    let mut errors = ErrorMap::new();
    check_prop(&serde_json::json!("auto-1"), &s, "t", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
    check_prop(&serde_json::json!("1bad"), &s, "t", &mut errors);
    assert_eq!(errors["t"], "value does not match the regex pattern");
    let ci = Schema::literal(serde_json::json!({"type": "string", "pattern": "(?^i:abc)"}));
    let mut errors = ErrorMap::new();
    check_prop(&serde_json::json!("ABC"), &ci, "t", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");
}
