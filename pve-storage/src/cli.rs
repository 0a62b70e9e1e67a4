//! `pvesm`: the storage manager CLI, built from the API methods of `/storage` and
//! `/nodes/{node}/storage` plus the few methods upstream's `PVE::CLI::pvesm` declares
//! itself (`path`, `apiinfo`, `prune-backups`). Output printers follow upstream's.

use std::io::{self, Write};

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::cli::command::{CliDef, CliGroup, Command};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

use crate::api::{node_storage_router, storage_router};

const CLASS_CONFIG: &str = "PVE::API2::Storage::Config";
const CLASS_STATUS: &str = "PVE::API2::Storage::Status";
const CLASS_CONTENT: &str = "PVE::API2::Storage::Content";
const CLASS_PVESM: &str = "PVE::CLI::pvesm";

/// Upstream's storage plugin API version and age (`PVE::Storage::APIVER`/`APIAGE`).
pub const APIVER: u32 = 15;
pub const APIAGE: u32 = 6;

/// The keep options of upstream's `prune_backups_format`.
const KEEP_OPTIONS: [&str; 7] = [
    "keep-all",
    "keep-daily",
    "keep-hourly",
    "keep-last",
    "keep-monthly",
    "keep-weekly",
    "keep-yearly",
];

fn method_at(router: &Router, method: HttpMethod, path: &str) -> ApiMethod {
    router
        .find(method, path)
        .map(|(m, _)| m.clone())
        .unwrap_or_else(|| panic!("storage router has no {method:?} {path}"))
}

/// The `pvesm` command tree; `node` is this node's name (the fixed `node` parameter).
pub fn pvesm_cli_for(node: &str) -> CliDef {
    let config = storage_router();
    let status = node_storage_router();
    let content = |m| method_at(&status, m, "_/content");
    let root = CliGroup::new()
        .command(
            "add",
            Command::new(CLASS_CONFIG, method_at(&config, HttpMethod::Post, ""))
                .args(&["type", "storage"]),
        )
        .command(
            "set",
            Command::new(CLASS_CONFIG, method_at(&config, HttpMethod::Put, "_")).args(&["storage"]),
        )
        .command(
            "remove",
            Command::new(CLASS_CONFIG, method_at(&config, HttpMethod::Delete, "_"))
                .args(&["storage"]),
        )
        .command(
            "status",
            Command::new(CLASS_STATUS, method_at(&status, HttpMethod::Get, ""))
                .fixed("node", node)
                .output(|out, data, _, _| print_status(out, data)),
        )
        .command(
            "list",
            Command::new(CLASS_CONTENT, content(HttpMethod::Get))
                .args(&["storage"])
                .fixed("node", node)
                .output(|out, data, _, _| print_content(out, data)),
        )
        .command(
            "alloc",
            Command::new(CLASS_CONTENT, content(HttpMethod::Post))
                .args(&["storage", "vmid", "filename", "size"])
                .fixed("node", node)
                .output(|out, data, _, _| {
                    writeln!(
                        out,
                        "successfully created '{}'",
                        data.as_str().unwrap_or_default()
                    )
                }),
        )
        .command(
            "free",
            Command::new(
                CLASS_CONTENT,
                method_at(&status, HttpMethod::Delete, "_/content/_"),
            )
            .args(&["volume"])
            .fixed("node", node),
        )
        .command(
            "path",
            Command::new(CLASS_PVESM, path_method())
                .args(&["volume"])
                .output(|out, data, _, _| writeln!(out, "{}", data.as_str().unwrap_or_default())),
        )
        .command(
            "apiinfo",
            Command::new(CLASS_PVESM, apiinfo_method()).output(|out, data, _, _| {
                writeln!(out, "APIVER {}", data["apiver"])?;
                writeln!(out, "APIAGE {}", data["apiage"])
            }),
        )
        .command(
            "prune-backups",
            Command::new(CLASS_PVESM, prunebackups_method())
                .args(&["storage"])
                .fixed("node", node)
                .output(|out, data, _, _| print_prune(out, data)),
        );
    CliDef::new(root)
}

/// The `pvesm` command tree for this node.
pub fn pvesm_cli() -> CliDef {
    pvesm_cli_for(&pve_common::api::env::local_node_name())
}

fn path_method() -> ApiMethod {
    ApiMethod::new(
        "path",
        HttpMethod::Get,
        "Get filesystem path for specified volume",
        |env, p| {
            let volid = p.required_str("volume")?;
            let storage = crate::storage::Storage::load(&env.paths)?;
            let (path, _, _) = storage.path(&volid, None)?;
            Ok(json!(storage.node_path(&path)).into())
        },
    )
    .param(
        "volume",
        Schema::literal(json!({
            "description": "Volume identifier",
            "type": "string",
            "format": "pve-volume-id",
        })),
    )
    .returns(Schema::literal(json!({"type": "null"})))
}

fn apiinfo_method() -> ApiMethod {
    ApiMethod::new(
        "apiinfo",
        HttpMethod::Get,
        "Returns APIVER and APIAGE.",
        |_, _| Ok(json!({"apiver": APIVER, "apiage": APIAGE}).into()),
    )
    .returns(Schema::literal(json!({
        "type": "object",
        "properties": {"apiver": {"type": "integer"}, "apiage": {"type": "integer"}},
    })))
}

fn keep_option_schema(name: &str) -> Schema {
    let unit = name.trim_start_matches("keep-").trim_end_matches("ly");
    let unit = match unit {
        "dai" => "day",
        "hour" | "week" | "month" | "year" => unit,
        _ => "",
    };
    let v = match name {
        "keep-all" => json!({
            "type": "boolean",
            "optional": 1,
            "description": "Keep all backups. Conflicts with the other options when true.",
        }),
        "keep-last" => json!({
            "type": "integer", "minimum": 1, "optional": 1,
            "description": "Keep the last <N> backups.",
        }),
        _ => json!({
            "type": "integer", "minimum": 1, "optional": 1,
            "description": format!(
                "Keep backups for the last <N> different {unit}s. If there is morethan one \
                 backup for a single {unit}, only the latest one is kept."
            ),
        }),
    };
    Schema::literal(v)
}

fn prunebackups_method() -> ApiMethod {
    let mut m = ApiMethod::new(
        "prunebackups",
        HttpMethod::Get,
        "Prune backups. Only those using the standard naming scheme are considered. If no keep \
         options are specified, those from the storage configuration are used.",
        prunebackups,
    )
    .protected()
    .proxyto("node")
    .param(
        "dry-run",
        Schema::literal(json!({
            "description": "Only show what would be pruned, don't delete anything.",
            "type": "boolean",
            "optional": 1,
        })),
    )
    .param(
        "node",
        Schema::literal(json!({
            "description": "The cluster node name.",
            "type": "string",
            "format": "pve-node",
        })),
    )
    .param(
        "storage",
        Schema::literal(json!({
            "description": "The storage identifier.",
            "type": "string",
            "format": "pve-storage-id",
        })),
    )
    .param(
        "type",
        Schema::literal(json!({
            "description": "Either 'qemu' or 'lxc'. Only consider backups for guests of this type.",
            "type": "string",
            "optional": 1,
            "enum": ["qemu", "lxc"],
        })),
    )
    .param(
        "vmid",
        Schema::literal(json!({
            "description": "Only consider backups for this guest.",
            "type": "integer",
            "format": "pve-vmid",
            "minimum": 100,
            "maximum": 999_999_999,
            "optional": 1,
        })),
    );
    for name in KEEP_OPTIONS {
        m = m.param(name, keep_option_schema(name));
    }
    m.returns(Schema::literal(json!({
        "type": "object",
        "properties": {
            "dryrun": {"type": "boolean"},
            "list": {"type": "array", "items": {"type": "object"}},
        },
    })))
}

/// Upstream's pvesm `prunebackups`: the keep options become one `prune-backups`
/// property string for the API's dry run or delete.
fn prunebackups(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let dryrun = p.bool("dry-run").unwrap_or(false);
    let mut params: Map<String, Value> =
        p.0.iter()
            .filter(|(k, _)| k.as_str() != "dry-run" && !KEEP_OPTIONS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    let keep: Vec<String> = KEEP_OPTIONS
        .iter()
        .filter_map(|k| {
            p.get(k).map(|v| match v {
                Value::Bool(b) => format!("{k}={}", u8::from(*b)),
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
        })
        .collect();
    if !keep.is_empty() {
        params.insert("prune-backups".into(), json!(keep.join(",")));
    }
    let list = if dryrun {
        crate::api::prune_dryrun(env, Params(params))?.data
    } else {
        crate::api::prune_delete(env, Params(params))?;
        json!([])
    };
    Ok(json!({"dryrun": u8::from(dryrun), "list": list}).into())
}

fn str_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn num_of(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0.0),
        other => other.as_f64().unwrap_or(0.0),
    }
}

fn truthy(v: &Value) -> bool {
    pve_common::schema::perl_truthy(v)
}

/// Upstream's `$print_status`.
pub fn print_status(out: &mut dyn Write, data: &Value) -> io::Result<()> {
    let mut list: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let maxlen = list
        .iter()
        .map(|r| str_of(&r["storage"]).len())
        .max()
        .unwrap_or(0)
        + 1;
    writeln!(
        out,
        "{:<maxlen$} {:>10} {:>10} {:>15} {:>15} {:>15} {:>8}",
        "Name", "Type", "Status", "Total (KiB)", "Used (KiB)", "Available (KiB)", "%"
    )?;
    list.sort_by_key(|r| str_of(&r["storage"]));
    for r in list {
        let total = num_of(&r["total"]);
        let (active, per) = if !truthy(&r["enabled"]) {
            ("disabled", format!("{:>8}", "N/A"))
        } else {
            let per = if total > 0.0 {
                num_of(&r["used"]) * 100.0 / total
            } else {
                0.0
            };
            let active = if truthy(&r["active"]) {
                "active"
            } else {
                "inactive"
            };
            // Perl's "% 7.2f": a blank before a non-negative number
            (active, format!("{:>7}%", format!(" {per:.2}")))
        };
        writeln!(
            out,
            "{:<maxlen$} {:>10} {:>10} {:>15} {:>15} {:>15} {per}",
            str_of(&r["storage"]),
            str_of(&r["type"]),
            active,
            (total / 1024.0) as i64,
            (num_of(&r["used"]) / 1024.0) as i64,
            (num_of(&r["avail"]) / 1024.0) as i64,
        )?;
    }
    Ok(())
}

/// Upstream's `$print_content`: guest volumes in API order, then the rest by format.
pub fn print_content(out: &mut dyn Write, data: &Value) -> io::Result<()> {
    struct Row {
        volid: String,
        format: String,
        content: String,
        size: String,
        vmid: Option<String>,
    }
    let rows: Vec<Row> = data
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|info| {
            let size = match (&info["size"], &info["approximate-size"]) {
                (Value::Null, Value::Null) => "-".to_string(),
                (Value::Null, approx) => format!("~{}", str_of(approx)),
                (size, _) => str_of(size),
            };
            Row {
                volid: str_of(&info["volid"]),
                format: str_of(&info["format"]),
                content: str_of(&info["content"]),
                size,
                vmid: Some(&info["vmid"])
                    .filter(|v| truthy(v))
                    .map(|v| format!("{}", num_of(v) as i64)),
            }
        })
        .collect();
    let namelen = rows.iter().map(|r| r.volid.len()).max().unwrap_or(0);
    let maxsize = rows
        .iter()
        .filter_map(|r| {
            r.size
                .parse::<u64>()
                .ok()
                .or_else(|| r.size.strip_prefix('~')?.parse().ok())
        })
        .max()
        .unwrap_or(0);
    let approx = rows.iter().any(|r| r.size.starts_with('~'));
    let sizelen = maxsize.to_string().len() + usize::from(approx);
    let base = |volid: &str, format: &str, content: &str, size: &str| {
        format!("{volid:<namelen$} {format:<7} {content:<9} {size:>sizelen$}")
    };
    writeln!(out, "{} VMID", base("Volid", "Format", "Type", "Size"))?;
    for r in rows.iter().filter(|r| r.vmid.is_some()) {
        let vmid = r.vmid.as_deref().unwrap_or_default();
        writeln!(
            out,
            "{} {vmid}",
            base(&r.volid, &r.format, &r.content, &r.size)
        )?;
    }
    let mut rest: Vec<&Row> = rows.iter().filter(|r| r.vmid.is_none()).collect();
    rest.sort_by(|a, b| a.format.cmp(&b.format));
    for r in rest {
        writeln!(out, "{}", base(&r.volid, &r.format, &r.content, &r.size))?;
    }
    Ok(())
}

/// Upstream's printer of `pvesm prune-backups`: the preview of a dry run.
pub fn print_prune(out: &mut dyn Write, data: &Value) -> io::Result<()> {
    if !truthy(&data["dryrun"]) {
        return Ok(());
    }
    let mut list: Vec<&Value> = data["list"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if list.is_empty() {
        return writeln!(out, "No backups found");
    }
    write!(
        out,
        "NOTE: this is only a preview and might not be what a subsequent\n\
         prune call does if backups are removed/added in the meantime.\n\n"
    )?;
    // upstream's safe_compare: entries without vmid sort before those with one
    list.sort_by(|a, b| {
        let vmid = |v: &Value| v["vmid"].as_i64();
        vmid(a)
            .cmp(&vmid(b))
            .then_with(|| num_of(&a["ctime"]).total_cmp(&num_of(&b["ctime"])))
    });
    let maxlen = list
        .iter()
        .map(|b| str_of(&b["volid"]).len())
        .max()
        .unwrap_or(0)
        + 1;
    writeln!(
        out,
        "{:<maxlen$} {:>15} {:>10}",
        "Backup", "Backup-ID", "Prune-Mark"
    )?;
    for b in list {
        let ty = str_of(&b["type"]);
        let id = match &b["vmid"] {
            Value::Null => ty,
            v => format!("{ty}/{}", str_of(v)),
        };
        writeln!(
            out,
            "{:<maxlen$} {:>15} {:>10}",
            str_of(&b["volid"]),
            id,
            str_of(&b["mark"])
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: fn(&mut dyn Write, &Value) -> io::Result<()>, data: Value) -> String {
        let mut out = Vec::new();
        f(&mut out, &data).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_of_disabled_and_inactive_storages() {
        let t = text(
            print_status,
            json!([
                {"storage": "zz", "type": "dir", "enabled": 0, "active": 0, "total": 0, "used": 0, "avail": 0},
                {"storage": "a", "type": "btrfs", "enabled": 1, "active": 0, "total": 0, "used": 0, "avail": 0},
            ]),
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[1],
            format!(
                "a   {:>10} {:>10} {:>15} {:>15} {:>15}    0.00%",
                "btrfs", "inactive", 0, 0, 0
            )
        );
        assert_eq!(
            lines[2],
            format!(
                "zz  {:>10} {:>10} {:>15} {:>15} {:>15}      N/A",
                "dir", "disabled", 0, 0, 0
            )
        );
    }

    #[test]
    fn content_with_missing_and_approximate_sizes() {
        let t = text(
            print_content,
            json!([
                {"volid": "s:a", "format": "raw", "content": "images", "vmid": 100, "approximate-size": 5},
                {"volid": "s:iso/x.iso", "format": "iso", "content": "iso"},
            ]),
        );
        assert_eq!(
            t,
            "Volid       Format  Type      Size VMID\n\
             s:a         raw     images    ~5 100\n\
             s:iso/x.iso iso     iso        -\n"
        );
    }

    #[test]
    fn prune_preview_sorted_by_guest_then_time() {
        let t = text(
            print_prune,
            json!({"dryrun": 1, "list": [
                {"volid": "s:backup/b", "type": "qemu", "vmid": 101, "ctime": 1, "mark": "keep"},
                {"volid": "s:backup/a", "type": "lxc", "vmid": 100, "ctime": 2, "mark": "remove"},
                {"volid": "s:backup/c", "type": "unknown", "ctime": 3, "mark": "protected"},
            ]}),
        );
        let lines: Vec<&str> = t.lines().skip(3).collect();
        assert_eq!(lines[0], "Backup            Backup-ID Prune-Mark");
        assert_eq!(lines[1], "s:backup/c          unknown  protected");
        assert_eq!(lines[2], "s:backup/a          lxc/100     remove");
        assert_eq!(lines[3], "s:backup/b         qemu/101       keep");
        assert_eq!(
            text(print_prune, json!({"dryrun": 1, "list": []})),
            "No backups found\n"
        );
        assert_eq!(text(print_prune, json!({"dryrun": 0, "list": []})), "");
    }

    #[test]
    fn every_command_resolves() {
        let def = pvesm_cli_for("n1");
        for name in [
            "add",
            "set",
            "remove",
            "status",
            "list",
            "alloc",
            "free",
            "path",
            "apiinfo",
            "prune-backups",
        ] {
            assert!(def.root.entries.contains_key(name), "{name}");
        }
    }
}
