//! One API method: data (name, HTTP method, schemas, permissions, flags) plus a handler.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::env::RpcEnv;
use super::error::ApiError;
use super::permission::Permissions;
use crate::schema::{JsonType, Schema};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
}

impl HttpMethod {
    pub const ALL: [HttpMethod; 4] = [
        HttpMethod::Get,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HttpMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            other => return Err(format!("method '{other}' not available")),
        })
    }
}

/// The validated parameters of a call (path, query and body merged).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// A string parameter (numbers are given as their text).
    pub fn str(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(u8::from(*b).to_string()),
            _ => None,
        }
    }

    /// A required string parameter; the schema already checked it is there.
    pub fn required_str(&self, name: &str) -> Result<String, ApiError> {
        self.str(name)
            .ok_or_else(|| ApiError::parameter(name, "property is missing and it is not optional"))
    }

    /// The required `vmid` parameter (a guest id); the schema already checked it.
    pub fn vmid(&self) -> Result<u32, ApiError> {
        self.i64("vmid")
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                ApiError::parameter("vmid", "property is missing and it is not optional")
            })
    }

    pub fn i64(&self, name: &str) -> Option<i64> {
        match self.0.get(name)? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// Perl truth of a boolean parameter; `None` when absent.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.0.get(name).map(crate::schema::perl_truthy)
    }

    /// All parameters as a typed struct (parsed at the edge).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_value(Value::Object(self.0.clone()))
            .map_err(|e| ApiError::internal(format!("{e}\n")))
    }
}

/// What a handler returns: the data, and optionally `total`/`changes` for the envelope.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiResponse {
    pub data: Value,
    pub total: Option<u64>,
    pub changes: Option<Value>,
}

impl From<Value> for ApiResponse {
    fn from(data: Value) -> Self {
        Self {
            data,
            ..Default::default()
        }
    }
}

pub type Handler = Arc<dyn Fn(&RpcEnv, Params) -> Result<ApiResponse, ApiError> + Send + Sync>;

/// What a method's answer depends on besides the caller and the parameters, as a
/// string that changes whenever that state changes (see [`ApiMethod::fingerprint`]).
/// `None`: the answer can't be reused now.
pub type Fingerprint = Arc<dyn Fn(&RpcEnv, &Params) -> Option<String> + Send + Sync>;

/// One API method.
#[derive(Clone)]
pub struct ApiMethod {
    pub name: String,
    pub method: HttpMethod,
    pub description: String,
    /// Always an object schema (`properties`, `additionalProperties`).
    pub parameters: Schema,
    pub returns: Schema,
    /// `None`: root@pam only.
    pub permissions: Option<Permissions>,
    /// Must run as root in pvedaemon.
    pub protected: bool,
    /// The parameter naming the node that must execute the call.
    pub proxyto: Option<String>,
    /// Whether API tokens may call it (upstream default: yes).
    pub allowtoken: bool,
    /// The method may stream a file instead of the envelope.
    pub download_allowed: bool,
    pub handler: Handler,
    /// Lets a server reuse the serialised answer of an earlier call with the same
    /// caller, parameters and fingerprint instead of running the handler again.
    pub fingerprint: Option<Fingerprint>,
}

impl fmt::Debug for ApiMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiMethod")
            .field("name", &self.name)
            .field("method", &self.method)
            .field("protected", &self.protected)
            .field("proxyto", &self.proxyto)
            .finish_non_exhaustive()
    }
}

impl ApiMethod {
    /// A method with upstream's defaults: no parameters, `null` return, root only,
    /// tokens allowed.
    pub fn new<F>(name: &str, method: HttpMethod, description: &str, handler: F) -> Self
    where
        F: Fn(&RpcEnv, Params) -> Result<ApiResponse, ApiError> + Send + Sync + 'static,
    {
        // Upstream's parameter schemas carry no `type`, only the (possibly empty)
        // properties, which makes them objects to the validator.
        let parameters = Schema {
            additional_properties: Some(crate::schema::Additional::Bool(false)),
            properties: Some(Default::default()),
            ..Default::default()
        };
        ApiMethod {
            name: name.to_string(),
            method,
            description: if crate::schema::docs_kept() {
                description.to_string()
            } else {
                String::new()
            },
            parameters,
            returns: Schema::of_type(JsonType::Null),
            permissions: None,
            protected: false,
            proxyto: None,
            allowtoken: true,
            download_allowed: false,
            handler: Arc::new(handler),
            fingerprint: None,
        }
    }

    /// Adds a parameter.
    /// Adds a parameter; an `Arc<Schema>` is shared, not copied.
    pub fn param(mut self, name: &str, schema: impl Into<std::sync::Arc<Schema>>) -> Self {
        self.parameters
            .properties
            .get_or_insert_with(Default::default)
            .insert(name.into(), schema.into());
        self
    }

    pub fn returns(mut self, schema: Schema) -> Self {
        self.returns = schema;
        self
    }

    pub fn permissions(mut self, p: Permissions) -> Self {
        self.permissions = Some(p);
        self
    }

    pub fn protected(mut self) -> Self {
        self.protected = true;
        self
    }

    pub fn proxyto(mut self, param: &str) -> Self {
        self.proxyto = Some(param.to_string());
        self
    }

    pub fn no_token(mut self) -> Self {
        self.allowtoken = false;
        self
    }

    pub fn download_allowed(mut self) -> Self {
        self.download_allowed = true;
        self
    }

    /// Declares the answer reusable while `f` returns the same string for the same
    /// caller and parameters. `f` must cover everything the handler reads (the pmxcfs
    /// change stamp covers every file under /etc/pve, including users and ACLs); it
    /// runs on every call, so it must be much cheaper than the handler.
    pub fn fingerprint<F>(mut self, f: F) -> Self
    where
        F: Fn(&RpcEnv, &Params) -> Option<String> + Send + Sync + 'static,
    {
        self.fingerprint = Some(Arc::new(f));
        self
    }

    /// The parameter schema of one property.
    pub fn param_schema(&self, name: &str) -> Option<&Schema> {
        self.parameters.properties.as_ref()?.get(name).map(|s| &**s)
    }

    /// The method's entry in the API dump (`info.<METHOD>`), in upstream's shape.
    pub fn dump(&self) -> Value {
        let mut info = Map::new();
        info.insert("allowtoken".into(), Value::from(u8::from(self.allowtoken)));
        info.insert("description".into(), Value::from(self.description.clone()));
        if self.download_allowed {
            info.insert("download_allowed".into(), Value::from(1));
        }
        info.insert("method".into(), Value::from(self.method.as_str()));
        info.insert("name".into(), Value::from(self.name.clone()));
        info.insert(
            "parameters".into(),
            super::dump::clone_schema(&self.parameters, true),
        );
        if let Some(p) = &self.permissions {
            info.insert(
                "permissions".into(),
                serde_json::to_value(p).unwrap_or(Value::Null),
            );
        }
        if self.protected {
            info.insert("protected".into(), Value::from(1));
        }
        if let Some(p) = &self.proxyto {
            info.insert("proxyto".into(), Value::from(p.clone()));
        }
        info.insert(
            "returns".into(),
            super::dump::clone_schema(&self.returns, false),
        );
        Value::Object(info)
    }
}
