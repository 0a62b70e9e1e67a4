//! `pct`: the container CLI, built from the container API methods (so far the read
//! side: `list`, `config`, `pending`, `status`, `listsnapshot`). Output printers follow
//! upstream's.

use pve_common::api::{ApiError, ApiMethod, HttpMethod, Router};
use pve_common::cli::command::{CliDef, CliGroup, Command};
use pve_common::schema::Schema;
use serde_json::{json, Value};

use crate::api::node_lxc_router;

const CLASS_LXC: &str = "PVE::API2::LXC";
const CLASS_CONFIG: &str = "PVE::API2::LXC::Config";
const CLASS_SNAPSHOT: &str = "PVE::API2::LXC::Snapshot";
const CLASS_PCT: &str = "PVE::CLI::pct";
const CLASS_STATUS: &str = "PVE::API2::LXC::Status";

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

/// `pct status`: upstream's CLI-own method (`status: <state>`, or every field with
/// `--verbose`).
fn status_method() -> ApiMethod {
    ApiMethod::new("status", HttpMethod::Get, "Show CT status.", |env, p| {
        let vmid = p.vmid()?;
        let conf = crate::store::CtConfigStore::new(&env.paths, &env.node)
            .load_config(vmid, None)
            .map_err(ApiError::internal)?;
        let cpucount = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let mut stat = crate::status::stopped_status(vmid, &conf.main, cpucount);
        if crate::api::active_containers().contains(&vmid) {
            stat.insert("status".into(), json!("running"));
        }
        let mut text = String::new();
        if p.bool("verbose").unwrap_or(false) {
            let mut keys: Vec<&String> = stat.keys().collect();
            keys.sort();
            for k in keys {
                if k == "cpu" || stat[k].is_null() {
                    continue;
                }
                let v = match &stat[k] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text.push_str(&format!("{k}: {v}\n"));
            }
        } else {
            let status = stat
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            text.push_str(&format!("status: {status}\n"));
        }
        Ok(json!(text).into())
    })
    .param(
        "vmid",
        Schema::literal(
            json!({"description": "The (unique) ID of the VM.", "type": "integer",
            "format": "pve-vmid", "minimum": 100, "maximum": 999_999_999}),
        ),
    )
    .param(
        "verbose",
        Schema::literal(
            json!({"description": "Verbose output format", "type": "boolean", "optional": 1}),
        ),
    )
    .returns(Schema::literal(json!({"type": "null"})))
}

/// Upstream's `print_snapshot_tree`: snapshots as a tree below their parents, ordered
/// by time (`current` last), with local times and the first description line.
pub fn format_snapshot_tree(list: &[serde_json::Map<String, Value>]) -> String {
    use std::collections::BTreeMap;
    let name_of = |e: &serde_json::Map<String, Value>| {
        e.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let by_name: BTreeMap<String, &serde_json::Map<String, Value>> =
        list.iter().map(|e| (name_of(e), e)).collect();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut roots = Vec::new();
    for e in list {
        match e
            .get("parent")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        {
            Some(parent) if by_name.contains_key(parent) => children
                .entry(parent.to_string())
                .or_default()
                .push(name_of(e)),
            _ => roots.push(name_of(e)),
        }
    }
    let snaptime = |n: &str| {
        by_name
            .get(n)
            .and_then(|e| e.get("snaptime"))
            .and_then(Value::as_i64)
    };
    // stable, and entries without a snaptime ("current") last
    let sort = |names: &mut Vec<String>| {
        names.sort_by(|a, b| match (snaptime(a), snaptime(b)) {
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        })
    };
    let tz = jiff::tz::TimeZone::system();
    let mut out = String::new();
    fn walk(
        out: &mut String,
        prefix: &str,
        name: &str,
        by_name: &BTreeMap<String, &serde_json::Map<String, Value>>,
        children: &BTreeMap<String, Vec<String>>,
        sort: &dyn Fn(&mut Vec<String>),
        tz: &jiff::tz::TimeZone,
    ) {
        let e = by_name.get(name);
        let description = e
            .and_then(|e| e.get("description"))
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && *d != "0")
            .unwrap_or("no-description");
        let first_line = description.split('\n').next().unwrap_or_default();
        let time = e
            .and_then(|e| e.get("snaptime"))
            .and_then(Value::as_i64)
            .and_then(|t| jiff::Timestamp::from_second(t).ok())
            .map(|t| t.to_zoned(tz.clone()).strftime("%F %H:%M:%S").to_string())
            .unwrap_or_default();
        let width = 30usize.saturating_sub(prefix.len());
        out.push_str(&format!(
            "{prefix} {name:<width$} {time:<23} {first_line}\n"
        ));
        if let Some(kids) = children.get(name) {
            let mut kids = kids.clone();
            sort(&mut kids);
            let prefix = format!(" {prefix}");
            for kid in kids {
                walk(out, &prefix, &kid, by_name, children, sort, tz);
            }
        }
    }
    sort(&mut roots);
    for root in roots {
        walk(&mut out, "`->", &root, &by_name, &children, &sort, &tz);
    }
    out
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
    let root = root
        .command(
            "status",
            Command::new(CLASS_PCT, status_method())
                .args(&["vmid"])
                .output(|out, data, _, _| {
                    out.write_all(data.as_str().unwrap_or_default().as_bytes())
                }),
        )
        .command(
            "listsnapshot",
            Command::new(
                CLASS_SNAPSHOT,
                method_at(&router, HttpMethod::Get, "_/snapshot"),
            )
            .args(&["vmid"])
            .fixed("node", node)
            .output(|out, data, _, _| {
                let list: Vec<serde_json::Map<String, Value>> = data
                    .as_array()
                    .map(|a| a.iter().map(as_object).collect())
                    .unwrap_or_default();
                out.write_all(format_snapshot_tree(&list).as_bytes())
            }),
        );
    let mut root = root;
    for cmd in ["reboot", "shutdown", "start", "stop"] {
        root = root.command(
            cmd,
            Command::new(
                CLASS_STATUS,
                method_at(&router, HttpMethod::Post, &format!("_/status/{cmd}")),
            )
            .args(&["vmid"])
            .fixed("node", node)
            .output(pve_common::cli::command::upid_exit),
        );
    }
    // pct's own runtime commands (exec, enter, console, push, pull, mount, unmount) and
    // resize (lxcpct)
    for (name, method, args, prints, task) in crate::pct_local::commands() {
        let mut cmd = Command::new(CLASS_PCT, method).args(args);
        if prints {
            cmd = cmd.output(|out, data, _, _| {
                out.write_all(data.as_str().unwrap_or_default().as_bytes())
            });
        } else if task {
            cmd = cmd.output(pve_common::cli::command::upid_exit);
        }
        root = root.command(name, cmd);
    }
    root = root.command(
        "resize",
        Command::new(CLASS_LXC, method_at(&router, HttpMethod::Put, "_/resize"))
            .args(&["vmid", "disk", "size"])
            .fixed("node", node)
            .output(pve_common::cli::command::upid_exit),
    );
    let root = write_commands(root, &router, node);
    CliDef::new(root).error_exit_code(exit_code)
}

/// `pct create/set/destroy/template` and the snapshot writes, from the write methods
/// of the container API; task-returning ones wait for the task and exit 255 when it
/// failed (upstream's `$upid_exit`).
fn write_commands(mut root: CliGroup, router: &Router, node: &str) -> CliGroup {
    let upid_cmd = |class: &str, method: HttpMethod, path: &str, args: &[&str]| {
        Command::new(class, method_at(router, method, path))
            .args(args)
            .fixed("node", node)
            .output(pve_common::cli::command::upid_exit)
    };
    root = root
        .command(
            "create",
            upid_cmd(CLASS_LXC, HttpMethod::Post, "", &["vmid", "ostemplate"]),
        )
        .command(
            "destroy",
            upid_cmd(CLASS_LXC, HttpMethod::Delete, "_", &["vmid"]),
        )
        .command(
            "snapshot",
            upid_cmd(
                CLASS_SNAPSHOT,
                HttpMethod::Post,
                "_/snapshot",
                &["vmid", "snapname"],
            ),
        )
        .command(
            "delsnapshot",
            upid_cmd(
                CLASS_SNAPSHOT,
                HttpMethod::Delete,
                "_/snapshot/_",
                &["vmid", "snapname"],
            ),
        )
        .command(
            "rollback",
            upid_cmd(
                CLASS_SNAPSHOT,
                HttpMethod::Post,
                "_/snapshot/_/rollback",
                &["vmid", "snapname"],
            ),
        )
        .command(
            "set",
            Command::new(CLASS_CONFIG, method_at(router, HttpMethod::Put, "_/config"))
                .args(&["vmid"])
                .fixed("node", node),
        )
        .command(
            "template",
            Command::new(CLASS_LXC, method_at(router, HttpMethod::Post, "_/template"))
                .args(&["vmid"])
                .fixed("node", node),
        )
        .command(
            "unlock",
            Command::new(CLASS_PCT, unlock_method()).args(&["vmid"]),
        );
    root
}

/// `pct unlock`: upstream's CLI-own method (`remove_lock`), e.g. after a create or
/// backup that died with the config locked.
fn unlock_method() -> ApiMethod {
    ApiMethod::new("unlock", HttpMethod::Put, "Unlock the VM.", |env, p| {
        let vmid = p.vmid()?;
        let store = crate::store::CtConfigStore::new(&env.paths, &env.node);
        let _lock = store.lock_config(vmid).map_err(ApiError::internal)?;
        let mut conf = store.load_config(vmid, None).map_err(ApiError::internal)?;
        conf.main.remove("lock");
        store
            .write_config(vmid, &conf)
            .map_err(ApiError::internal)?;
        Ok(Value::Null.into())
    })
    .param(
        "vmid",
        Schema::literal(
            json!({"description": "The (unique) ID of the VM.", "type": "integer",
            "format": "pve-vmid", "minimum": 100, "maximum": 999_999_999}),
        ),
    )
    .returns(Schema::literal(json!({"type": "null"})))
}

/// `pct` for this node.
pub fn pct_cli() -> CliDef {
    pct_cli_for(&pve_common::api::env::local_node_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_tree() {
        let list: Vec<serde_json::Map<String, Value>> = serde_json::from_value(json!([
            {"name": "b", "snaptime": 200, "parent": "a", "description": "second\nmore"},
            {"name": "a", "snaptime": 100, "description": ""},
            {"name": "current", "parent": "b", "description": "You are here!", "running": 0},
        ]))
        .unwrap();
        let text = format_snapshot_tree(&list);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(&format!("`-> {:<27} ", "a")), "{text}");
        assert!(lines[0].ends_with(" no-description"));
        assert!(lines[1].starts_with(" `-> b "));
        assert!(lines[1].ends_with(" second"));
        assert_eq!(
            lines[2],
            format!("  `-> {:<25} {:<23} You are here!", "current", "")
        );
    }
}
