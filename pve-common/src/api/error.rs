//! The one error type of the API layer: an HTTP status, a message and the
//! per-parameter errors (`errors` in the response body).

use std::collections::BTreeMap;
use std::fmt;

/// HTTP status codes the API layer uses by name.
pub mod status {
    pub const BAD_REQUEST: u16 = 400;
    pub const UNAUTHORIZED: u16 = 401;
    pub const FORBIDDEN: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const INTERNAL_SERVER_ERROR: u16 = 500;
    pub const NOT_IMPLEMENTED: u16 = 501;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// The message as upstream raises it (often ending in `\n`).
    pub message: String,
    /// Parameter name → message; empty unless this is a parameter error.
    pub errors: BTreeMap<String, String>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: BTreeMap::new(),
        }
    }

    /// `400 Parameter verification failed.` with one message per parameter.
    pub fn parameters(errors: BTreeMap<String, String>) -> Self {
        Self {
            status: status::BAD_REQUEST,
            message: "Parameter verification failed.\n".into(),
            errors,
        }
    }

    /// A single parameter error.
    pub fn parameter(name: &str, message: impl Into<String>) -> Self {
        Self::parameters(BTreeMap::from([(name.to_string(), message.into())]))
    }

    /// 403 for a failed permission check on `path` needing `privs`.
    pub fn permission(path: &str, privs: &str) -> Self {
        Self::new(
            status::FORBIDDEN,
            format!("Permission check failed ({path}, {privs})\n"),
        )
    }

    /// A plain failure (upstream's `die`): 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(status::INTERNAL_SERVER_ERROR, message)
    }

    /// The first line of the message: the HTTP reason phrase upstream sends.
    pub fn reason(&self) -> &str {
        self.message.lines().next().unwrap_or("")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message.trim_end_matches('\n'))?;
        for (k, v) in &self.errors {
            write!(f, "\n{k}: {v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<ApiError>() {
            Ok(api) => api,
            Err(e) => Self::internal(format!("{e:#}\n")),
        }
    }
}

impl From<crate::schema::ParameterError> for ApiError {
    fn from(e: crate::schema::ParameterError) -> Self {
        Self::parameters(e.errors)
    }
}
