//! `pct`: the container CLI, built from the container API methods (so far the read
//! side: `list`, `config`, `pending`). Output printers follow upstream's.

use pve_common::api::{ApiError, ApiMethod, HttpMethod, Router};
use pve_common::cli::command::{CliDef, CliGroup, Command};
use serde_json::Value;

use crate::api::node_lxc_router;

const CLASS_LXC: &str = "PVE::API2::LXC";
const CLASS_CONFIG: &str = "PVE::API2::LXC::Config";

fn method_at(router: &Router, method: HttpMethod, path: &str) -> ApiMethod {
    router
        .find(method, path)
        .map(|(m, _)| m.clone())
        .unwrap_or_else(|| panic!("container router has no {method:?} {path}"))
}

/// A failed config read leaves ENOENT behind, which upstream's `die` turns into the
/// exit code; every other failure exits with 255.
fn exit_code(e: &ApiError) -> i32 {
    if e.message.starts_with("Configuration file '") && e.message.ends_with("' does not exist\n") {
        2
    } else {
        255
    }
}

fn as_object(data: &Value) -> serde_json::Map<String, Value> {
    data.as_object().cloned().unwrap_or_default()
}

/// The `pct` command tree; `node` is this node's name (the fixed `node` parameter).
pub fn pct_cli_for(node: &str) -> CliDef {
    let router = node_lxc_router();
    let root = CliGroup::new()
        .command(
            "list",
            Command::new(CLASS_LXC, method_at(&router, HttpMethod::Get, ""))
                .fixed("node", node)
                .output(|out, data, _, _| {
                    let list: Vec<serde_json::Map<String, Value>> = data
                        .as_array()
                        .map(|a| a.iter().map(as_object).collect())
                        .unwrap_or_default();
                    out.write_all(crate::status::format_pct_list(&list).as_bytes())
                }),
        )
        .command(
            "config",
            Command::new(
                CLASS_CONFIG,
                method_at(&router, HttpMethod::Get, "_/config"),
            )
            .args(&["vmid"])
            .fixed("node", node)
            .output(|out, data, _, _| {
                out.write_all(crate::config::format_pct_config(&as_object(data)).as_bytes())
            }),
        )
        .command(
            "pending",
            Command::new(CLASS_LXC, method_at(&router, HttpMethod::Get, "_/pending"))
                .args(&["vmid"])
                .fixed("node", node)
                .output(|out, data, _, _| {
                    let items: Vec<serde_json::Map<String, Value>> = data
                        .as_array()
                        .map(|a| a.iter().map(as_object).collect())
                        .unwrap_or_default();
                    out.write_all(crate::config::format_pending(&items).as_bytes())
                }),
        );
    CliDef::new(root).error_exit_code(exit_code)
}

/// `pct` for this node.
pub fn pct_cli() -> CliDef {
    pct_cli_for(&pve_common::api::env::local_node_name())
}
