//! The API root: mounts every crate's routers at upstream's paths.

mod nodes;
mod tasks;
mod version;

use pve_common::api::Router;

/// The whole API tree served below `/api2/<format>/`.
pub fn root() -> Router {
    Router::new()
        .subdir("nodes", nodes::router())
        .subdir("version", version::router())
}

#[cfg(test)]
mod tests;
