//! `pending_changes`: upstream's pending-delete helpers on plain config maps.

use pve_common::conformance::check::{expect_eq, str_field};
use serde_json::{json, Map, Value};

use crate::config::GuestConfig;
use crate::pending::{
    add_to_pending_delete, cleanup_pending, parse_pending_delete, print_pending_delete,
    remove_from_pending_delete, PendingDelete,
};

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn to_config(v: &Value) -> Result<GuestConfig, String> {
    let obj = v.as_object().ok_or("config is not an object")?;
    let mut conf = GuestConfig::default();
    for (k, v) in obj {
        if k == "pending" {
            for (pk, pv) in v.as_object().ok_or("pending is not an object")? {
                conf.pending.values.insert(pk.clone(), text(pv));
            }
        } else {
            conf.main.values.insert(k.clone(), text(v));
        }
    }
    Ok(conf)
}

fn from_config(conf: &GuestConfig) -> Value {
    let mut obj: Map<String, Value> = conf
        .main
        .values
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let pending: Map<String, Value> = conf
        .pending
        .values
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    obj.insert("pending".into(), Value::Object(pending));
    Value::Object(obj)
}

fn delete_map(v: &Value) -> Result<PendingDelete, String> {
    let obj = v.as_object().ok_or("delete map is not an object")?;
    Ok(obj
        .iter()
        .map(|(k, f)| (k.clone(), pve_common::schema::perl_truthy(&f["force"])))
        .collect())
}

fn delete_value(map: &PendingDelete) -> Value {
    map.iter()
        .map(|(k, f)| (k.clone(), json!({"force": u8::from(*f)})))
        .collect::<Map<_, _>>()
        .into()
}

pub(super) fn check(case: &Value) -> Result<(), String> {
    let method = str_field(case, "method")?;
    let params = case["params"].as_array().ok_or("params missing")?;
    let param = |i: usize| params.get(i).cloned().unwrap_or(Value::Null);
    let force = pve_common::schema::perl_truthy(&param(2));
    let got = match method {
        "parse_pending_delete" => delete_value(&parse_pending_delete(&text(&param(0)))),
        "print_pending_delete" => json!(print_pending_delete(&delete_map(&param(0))?)),
        "add_to_pending_delete" => {
            let mut conf = to_config(&param(0))?;
            add_to_pending_delete(&mut conf, &text(&param(1)), force);
            from_config(&conf)
        }
        "remove_from_pending_delete" => {
            let mut conf = to_config(&param(0))?;
            remove_from_pending_delete(&mut conf, &text(&param(1)));
            from_config(&conf)
        }
        "cleanup_pending" => {
            let mut conf = to_config(&param(0))?;
            cleanup_pending(&mut conf);
            from_config(&conf)
        }
        other => return Err(format!("unknown method {other}")),
    };
    expect_eq(method, &got, &case["expect"])
}
