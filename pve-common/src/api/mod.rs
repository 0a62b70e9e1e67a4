//! The REST handler registry: every API method declared once, as data plus a handler,
//! driving the HTTP servers, the CLIs, pvesh and the API dump.

pub mod call;
pub mod dump;
pub mod env;
pub mod error;
pub mod method;
pub mod permission;
pub mod router;

pub use call::{call_merged, call_method, merge_params};
pub use env::{AuthId, EnvKind, PermissionChecker, RpcEnv};
pub use error::ApiError;
pub use method::{ApiMethod, ApiResponse, Fingerprint, HttpMethod, Params};
pub use permission::{Check, Permissions};
pub use router::Router;
