//! The API root: mounts every crate's routers at upstream's paths.

mod cluster;
mod cluster_config;
mod node_system;
mod nodes;
mod pools;
mod resources;
mod tasks;
mod version;

use pve_common::api::router::Children;
use pve_common::api::{ApiMethod, HttpMethod, Permissions, Router};
use pve_common::schema::Schema;
use serde_json::{json, Value};

/// The whole API tree served below `/api2/<format>/`.
pub fn root() -> Router {
    let tree = Router::new()
        .subdir("access", pve_access_control::api::router())
        .subdir("cluster", cluster::router())
        .subdir("nodes", nodes::router())
        .subdir("pools", pools::router())
        .subdir("storage", pve_storage::api::storage_router())
        .subdir("version", version::router());
    // `GET /` lists the top-level directories (upstream's API2 index; the apidoc leaves
    // it out, and so does our dump).
    let names: Vec<String> = match tree.children() {
        Children::Dirs(d) => d.keys().cloned().collect(),
        _ => Vec::new(),
    };
    tree.method(
        ApiMethod::new("index", HttpMethod::Get, "Directory index.", move |_, _| {
            let list: Vec<Value> = names.iter().map(|n| json!({ "subdir": n })).collect();
            Ok(Value::Array(list).into())
        })
        .permissions(Permissions::all_users())
        .returns(Schema::literal(json!({
            "type": "array",
            "items": {"type": "object", "properties": {"subdir": {"type": "string"}}},
            "links": [{"rel": "child", "href": "{subdir}"}],
        }))),
    )
}

#[cfg(test)]
mod tests;
