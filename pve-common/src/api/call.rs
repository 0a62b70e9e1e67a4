//! Calling a method: parameters from the path, the query and the body are merged,
//! normalised and validated against the method's schema before the handler runs.

use serde_json::{Map, Value};

use super::env::RpcEnv;
use super::error::ApiError;
use super::method::{ApiMethod, ApiResponse, HttpMethod, Params};
use super::router::Router;
use crate::schema::{normalize_param, validate};

/// Merges request parameters as upstream does: query values overwrite body values, and
/// a path parameter given again with another value is a 400.
pub fn merge_params(
    path_params: &Map<String, Value>,
    query: Map<String, Value>,
    body: Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let mut params = body;
    params.extend(query);
    // ExtJS' cache buster.
    params.remove("_dc");
    let mut errors = std::collections::BTreeMap::new();
    for (k, v) in path_params {
        match params.get(k) {
            Some(given)
                if given != v
                    && crate::schema::check::scalar_text(given)
                        != v.as_str().map(str::to_string) =>
            {
                errors.insert(
                    k.clone(),
                    "duplicate parameter (already defined in URI) with conflicting values!"
                        .to_string(),
                );
            }
            _ => {
                params.insert(k.clone(), v.clone());
            }
        }
    }
    if errors.is_empty() {
        Ok(params)
    } else {
        Err(ApiError::parameters(errors))
    }
}

/// Validates `params` against the method's schema and runs the handler.
pub fn call_method(
    method: &ApiMethod,
    env: &RpcEnv,
    params: Map<String, Value>,
) -> Result<ApiResponse, ApiError> {
    let mut value = normalize_param(Value::Object(params), &method.parameters);
    validate(&mut value, &method.parameters)?;
    let Value::Object(map) = value else {
        return Err(ApiError::internal("parameters are not an object\n"));
    };
    (method.handler)(env, Params(map))
}

/// Routes `method path` in `root`, merges the path parameters with `query` and `body`,
/// validates and runs the handler: the whole in-process request path shared by the HTTP
/// servers and the CLIs. An unknown path or method is upstream's 501.
pub fn call_merged(
    root: &Router,
    env: &RpcEnv,
    method: HttpMethod,
    path: &str,
    query: Map<String, Value>,
    body: Map<String, Value>,
) -> Result<ApiResponse, ApiError> {
    let Some((m, resolved)) = root.find(method, path) else {
        return Err(ApiError::new(
            super::error::status::NOT_IMPLEMENTED,
            format!("Method '{method} {path}' not implemented"),
        ));
    };
    let params = merge_params(&resolved.path_params, query, body)?;
    call_method(m, env, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{JsonType, Schema};
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn merge_rules() {
        let path = obj(json!({"vmid": "100"}));
        let merged = merge_params(
            &path,
            obj(json!({"a": "q", "_dc": "1"})),
            obj(json!({"a": "b", "c": 1})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({"a": "q", "c": 1, "vmid": "100"})
        );
        assert!(merge_params(&path, obj(json!({"vmid": 100})), Map::new()).is_ok());
        let err = merge_params(&path, obj(json!({"vmid": "101"})), Map::new()).unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.errors["vmid"].starts_with("duplicate parameter"));
    }

    #[test]
    fn validation_runs_before_the_handler() {
        let m = ApiMethod::new("t", HttpMethod::Get, "test", |_, p| {
            Ok(json!(p.i64("n")).into())
        })
        .param("n", Schema::of_type(JsonType::Integer));
        let env = RpcEnv::cli(crate::NodePaths::new("/nonexistent"));
        let ok = call_method(&m, &env, obj(json!({"n": "5"}))).unwrap();
        assert_eq!(ok.data, json!(5));
        let err = call_method(&m, &env, obj(json!({"n": "x", "y": 1}))).unwrap_err();
        assert_eq!(err.reason(), "Parameter verification failed.");
        assert_eq!(err.errors["n"], "type check ('integer') failed - got 'x'");
        assert!(err.errors.contains_key("y"));
        let missing = call_method(&m, &env, Map::new()).unwrap_err();
        assert_eq!(
            missing.errors["n"],
            "property is missing and it is not optional"
        );
    }
}
