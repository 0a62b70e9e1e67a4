//! Response envelopes of the API formats (`json`, `extjs`), as upstream's formatters
//! write them.

use pve_common::api::{ApiError, ApiResponse};
use serde_json::{json, Map, Value};

/// The output formats of `/api2/<format>/…` we serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    ExtJs,
}

impl Format {
    pub fn from_segment(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Format::Json),
            "extjs" => Some(Format::ExtJs),
            _ => None,
        }
    }
}

/// A finished answer: status, reason phrase and JSON body (`None`: empty body).
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub status: u16,
    pub reason: String,
    pub body: Option<Value>,
}

/// The standard reason phrase of a status.
pub fn reason_phrase(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown")
}

/// Wraps a handler's result. json: the real status, `data` always, `errors` when there
/// are any, `message` on errors, `total`/`changes` on success when set. extjs: always
/// 200 with `success`, and on errors `message` and the real `status`.
pub fn envelope(format: Format, result: Result<ApiResponse, ApiError>) -> Envelope {
    let mut body = Map::new();
    let (status, reason) = match &result {
        Ok(_) => (200, "OK".to_string()),
        Err(e) => {
            let reason = e.reason();
            let reason = if reason.is_empty() {
                reason_phrase(e.status).to_string()
            } else {
                reason.to_string()
            };
            (e.status, reason)
        }
    };
    match result {
        Ok(r) => {
            body.insert("data".into(), r.data);
            if let Some(t) = r.total {
                body.insert("total".into(), json!(t));
            }
            if let Some(c) = r.changes {
                body.insert("changes".into(), c);
            }
        }
        Err(e) => {
            body.insert("data".into(), Value::Null);
            let message = if e.message.is_empty() {
                reason_phrase(e.status).to_string()
            } else {
                e.message.clone()
            };
            body.insert("message".into(), json!(message));
            if !e.errors.is_empty() {
                body.insert("errors".into(), json!(e.errors));
            }
        }
    }
    match format {
        Format::Json => Envelope {
            status,
            reason,
            body: Some(Value::Object(body)),
        },
        Format::ExtJs => {
            let ok = status < 400;
            body.insert("success".into(), json!(u8::from(ok)));
            if !ok {
                // 4xx errors carry the status as a string, 500 and 501 as a number (as
                // recorded from the original daemons).
                let code = if status >= 500 {
                    json!(status)
                } else {
                    json!(status.to_string())
                };
                body.insert("status".into(), code);
            }
            Envelope {
                status: 200,
                reason: "OK".into(),
                body: Some(Value::Object(body)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn json_errors_and_success() {
        let ok = envelope(
            Format::Json,
            Ok(ApiResponse {
                data: json!([1]),
                total: Some(1),
                changes: None,
            }),
        );
        assert_eq!(
            (ok.status, ok.body.unwrap()),
            (200, json!({"data": [1], "total": 1}))
        );
        let e = ApiError::parameters(BTreeMap::from([("vmid".into(), "bad".into())]));
        let env = envelope(Format::Json, Err(e.clone()));
        assert_eq!(env.status, 400);
        assert_eq!(env.reason, "Parameter verification failed.");
        assert_eq!(
            env.body.unwrap(),
            json!({"data": null, "errors": {"vmid": "bad"}, "message": "Parameter verification failed.\n"})
        );
        let ext = envelope(Format::ExtJs, Err(e));
        assert_eq!(ext.status, 200);
        assert_eq!(ext.body.unwrap()["status"], json!("400"));
        let ni = envelope(
            Format::ExtJs,
            Err(ApiError::new(501, "Method 'GET /x' not implemented")),
        );
        assert_eq!(ni.body.unwrap()["status"], json!(501));
    }
}
