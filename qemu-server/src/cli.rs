//! `qm`: the VM manager CLI, built from the `/nodes/{node}/qemu` API methods plus the
//! few methods upstream's `PVE::CLI::qm` declares itself (`unlock`, `disk import`).
//! Output printers follow upstream's (`qm list`, `qm config`, `qm pending`,
//! `qm listsnapshot`); worker commands exit non-zero when their task failed.

use std::collections::BTreeMap;
use std::io::Write;

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use pve_common::cli::command::{CliDef, CliGroup, Command};
use pve_common::schema::Schema;
use pve_guest_common::config::encode_text;
use serde_json::{json, Value};

use crate::api::router;

const CLASS_QEMU: &str = "PVE::API2::Qemu";
const CLASS_QM: &str = "PVE::CLI::qm";

fn method_at(router: &Router, method: HttpMethod, path: &str) -> ApiMethod {
    router
        .find(method, path)
        .map(|(m, _)| m.clone())
        .unwrap_or_else(|| panic!("qemu router has no {method:?} {path}"))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `qm list`.
pub fn print_vm_list(out: &mut dyn Write, data: &Value) -> std::io::Result<()> {
    let mut list: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if list.is_empty() {
        return Ok(());
    }
    list.sort_by_key(|v| v["vmid"].as_u64().unwrap_or(0));
    writeln!(
        out,
        "{:>10} {:<20} {:<10} {:<10} {:>12} {:<10}",
        "VMID", "NAME", "STATUS", "MEM(MB)", "BOOTDISK(GB)", "PID"
    )?;
    for rec in list {
        let status = rec["qmpstatus"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or(rec["status"].as_str())
            .unwrap_or_default();
        let mem = rec["maxmem"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0);
        let disk = rec["maxdisk"].as_f64().unwrap_or(0.0) / (1024.0 * 1024.0 * 1024.0);
        // Perl's %s of a number prints it without a fraction when it has none.
        let mem = if mem.fract() == 0.0 {
            format!("{}", mem as i64)
        } else {
            format!("{mem}")
        };
        writeln!(
            out,
            "{:>10} {:<20} {:<10} {:<10} {:>12.2} {:<10}",
            text(&rec["vmid"]),
            text(&rec["name"]),
            status,
            mem,
            disk,
            rec["pid"].as_i64().unwrap_or(0)
        )?;
    }
    Ok(())
}

/// `qm config`: sorted `key: value` lines, the description encoded, no digest.
pub fn print_config(out: &mut dyn Write, data: &Value) -> std::io::Result<()> {
    let Some(obj) = data.as_object() else {
        return Ok(());
    };
    let sorted: BTreeMap<&String, &Value> = obj.iter().collect();
    for (k, v) in sorted {
        if k == "digest" {
            continue;
        }
        let mut v = text(v);
        if k == "description" {
            v = encode_text(&v);
        }
        writeln!(out, "{k}: {v}")?;
    }
    Ok(())
}

/// `qm pending` (upstream's `format_pending`).
pub fn print_pending(out: &mut dyn Write, data: &Value) -> std::io::Result<()> {
    let mut items: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    items.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
    for item in items {
        let k = item["key"].as_str().unwrap_or_default();
        if k == "digest" {
            continue;
        }
        let enc = |v: &Value| -> Option<String> {
            if v.is_null() {
                return None;
            }
            let t = text(v);
            Some(if k == "description" {
                encode_text(&t)
            } else {
                t
            })
        };
        let (v, p) = (enc(&item["value"]), enc(&item["pending"]));
        let delete = item["delete"].as_u64().unwrap_or(0) > 0;
        match (v, p) {
            (Some(v), _) if delete => writeln!(out, "del {k}: {v}")?,
            (Some(v), Some(p)) => {
                writeln!(out, "cur {k}: {v}")?;
                writeln!(out, "new {k}: {p}")?;
            }
            (Some(v), None) => writeln!(out, "cur {k}: {v}")?,
            (None, Some(p)) => writeln!(out, "new {k}: {p}")?,
            (None, None) => {}
        }
    }
    Ok(())
}

/// `qm listsnapshot` (upstream's `print_snapshot_tree`).
pub fn print_snapshot_tree(out: &mut dyn Write, data: &Value) -> std::io::Result<()> {
    let list: Vec<&Value> = data
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let by_name: BTreeMap<String, &Value> = list.iter().map(|e| (text(&e["name"]), *e)).collect();
    let mut children: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut roots = Vec::new();
    for e in &list {
        let name = text(&e["name"]);
        match e["parent"]
            .as_str()
            .filter(|p| !p.is_empty() && by_name.contains_key(*p))
        {
            Some(p) => children.entry(p.to_string()).or_default().push(name),
            None => roots.push(name),
        }
    }
    let snaptime = |n: &String| by_name.get(n).and_then(|e| e["snaptime"].as_i64());
    let sort = |v: &mut Vec<String>| {
        v.sort_by(|a, b| match (snaptime(a), snaptime(b)) {
            (None, _) => std::cmp::Ordering::Greater,
            (_, None) => std::cmp::Ordering::Less,
            (Some(x), Some(y)) => x.cmp(&y),
        })
    };
    fn walk(
        out: &mut dyn Write,
        prefix: &str,
        name: &String,
        by_name: &BTreeMap<String, &Value>,
        children: &BTreeMap<String, Vec<String>>,
        sort: &dyn Fn(&mut Vec<String>),
    ) -> std::io::Result<()> {
        let e = by_name[name];
        let descr = e["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .unwrap_or("no-description");
        // the last line of the description (Perl's m/(.*)$/m takes the first line end)
        let descr = descr.lines().next().unwrap_or_default();
        let time = e["snaptime"]
            .as_i64()
            .filter(|t| *t != 0 || e.get("snaptime").is_some_and(|v| !v.is_null()))
            .map(pve_common::units::render_timestamp)
            .unwrap_or_default();
        let time = if e.get("snaptime").is_none_or(Value::is_null) {
            String::new()
        } else {
            time
        };
        let len = 30usize.saturating_sub(prefix.len());
        writeln!(out, "{prefix} {name:<len$} {time:<23} {descr}")?;
        if let Some(kids) = children.get(name) {
            let mut kids = kids.clone();
            sort(&mut kids);
            let prefix = format!(" {prefix}");
            for k in &kids {
                walk(out, &prefix, k, by_name, children, sort)?;
            }
        }
        Ok(())
    }
    sort(&mut roots);
    for r in &roots {
        walk(out, "`->", r, &by_name, &children, &sort)?;
    }
    Ok(())
}

fn vmid_param() -> Schema {
    Schema::literal(
        json!({"type": "integer", "format": "pve-vmid", "minimum": 100,
        "maximum": 999_999_999, "description": "The (unique) ID of the VM."}),
    )
}

fn status_method() -> ApiMethod {
    ApiMethod::new("status", HttpMethod::Get, "Show VM status.", |env, p| {
        let vmid = p.i64("vmid").unwrap_or_default() as u32;
        let text = crate::api_status::qm_status(env, vmid, p.bool("verbose").unwrap_or(false))?;
        Ok(Value::String(text).into())
    })
    .param("vmid", vmid_param())
    .param(
        "verbose",
        Schema::literal(
            json!({"type": "boolean", "optional": 1, "description": "Verbose output format"}),
        ),
    )
}

fn monitor_method() -> ApiMethod {
    ApiMethod::new(
        "monitor",
        HttpMethod::Post,
        "Enter QEMU Monitor interface.",
        |env, p| {
            use std::io::BufRead;
            let vmid = p.i64("vmid").unwrap_or_default() as u32;
            println!("Entering QEMU Monitor for VM {vmid} - type 'help' for help");
            let stdin = std::io::stdin();
            loop {
                print!("qm> ");
                let _ = std::io::Write::flush(&mut std::io::stdout());
                let mut line = String::new();
                if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let cmd = line.trim();
                if cmd == "quit" || cmd == "q" {
                    break;
                }
                if cmd.is_empty() {
                    continue;
                }
                match crate::api_status::qm_monitor(env, vmid, cmd) {
                    Ok(out) => print!("{out}"),
                    Err(e) => eprint!("{}", e.message),
                }
            }
            Ok(Value::Null.into())
        },
    )
    .param("vmid", vmid_param())
}

fn terminal_method() -> ApiMethod {
    ApiMethod::new("terminal", HttpMethod::Post, "Open a terminal using a serial device (The VM need to have a serial device configured, for example 'serial0: socket')", |env, p| {
        let vmid = p.i64("vmid").unwrap_or_default() as u32;
        crate::api_status::qm_terminal(env, vmid, p.str("iface").as_deref())?;
        Ok(Value::Null.into())
    })
    .param("vmid", vmid_param())
    .param(
        "iface",
        Schema::literal(json!({"type": "string", "optional": 1, "enum": ["serial0", "serial1", "serial2", "serial3"], "description": "Select the serial device. By default we simply use the first suitable device."})),
    )
}

fn showcmd_method() -> ApiMethod {
    ApiMethod::new(
        "showcmd",
        HttpMethod::Get,
        "Show command line which is used to start the VM (debug info).",
        showcmd,
    )
    .param("vmid", vmid_param())
    .param(
        "pretty",
        Schema::literal(json!({"type": "boolean", "optional": 1, "default": 0,
        "description": "Puts each option on a new line to enhance human readability"})),
    )
    .param(
        "snapshot",
        Schema::literal(
            json!({"type": "string", "format": "pve-configid", "optional": 1,
        "maxLength": 40, "description": "Fetch config values from given snapshot."}),
        ),
    )
}

fn showcmd(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.i64("vmid").unwrap_or_default() as u32;
    let text = crate::cmdline::showcmd_vm(
        &env.paths,
        &env.node,
        vmid,
        p.bool("pretty").unwrap_or(false),
        p.str("snapshot").as_deref(),
    )
    .map_err(ApiError::internal)?;
    Ok(Value::String(text).into())
}

fn unlock_method() -> ApiMethod {
    ApiMethod::new("unlock", HttpMethod::Put, "Unlock the VM.", unlock).param("vmid", vmid_param())
}

fn unlock(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.i64("vmid").unwrap_or_default() as u32;
    let file = crate::config_file::VmConfigFile::new(&env.paths, &env.node, vmid);
    file.lock(|| {
        let mut conf = file.load()?;
        conf.main.values.remove("lock");
        conf.pending.values.remove("lock");
        file.write(&conf)
    })
    .map_err(ApiError::internal)?;
    Ok(Value::Null.into())
}

fn importdisk_method() -> ApiMethod {
    let mut targets: Vec<String> = crate::schema::vm_config_options()
        .keys()
        .filter(|k| {
            crate::drive::parse_drive_name(k).is_some()
                || k.strip_prefix("unused")
                    .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .cloned()
        .collect();
    targets.sort();
    ApiMethod::new(
        "importdisk",
        HttpMethod::Post,
        "Import an external disk image as an unused disk in a VM. The\n image format has to be supported by qemu-img(1).",
        importdisk,
    )
    .param("vmid", vmid_param())
    .param(
        "source",
        Schema::literal(json!({"type": "string", "description": "Path to the disk image to import"})),
    )
    .param(
        "storage",
        Schema::literal(json!({"type": "string", "format": "pve-storage-id", "description": "Target storage ID"})),
    )
    .param(
        "format",
        Schema::literal(json!({"type": "string", "enum": ["raw", "qcow2", "vmdk"], "optional": 1, "description": "Target format"})),
    )
    .param(
        "target-disk",
        Schema::literal(json!({"type": "string", "enum": targets, "optional": 1,
            "description": "The disk name where the volume will be imported to (e.g. scsi1)."})),
    )
}

fn importdisk(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let vmid = p.i64("vmid").unwrap_or_default() as u32;
    let source = p.required_str("source")?;
    let storeid = p.required_str("storage")?;
    let format = p.str("format");
    let target = p
        .str("target-disk")
        .filter(|t| crate::drive::parse_drive_name(t).is_some());
    let file = crate::config_file::VmConfigFile::new(&env.paths, &env.node, vmid);
    let conf = file.load().map_err(ApiError::internal)?;
    pve_guest_common::snapshot::check_lock("VM", &conf.main).map_err(ApiError::internal)?;
    if !std::path::Path::new(&source).is_file() {
        return Err(ApiError::internal(format!(
            "{source}: non-existent or non-regular file\n"
        )));
    }
    let storage =
        pve_storage::Storage::load(&env.paths).map_err(|e| ApiError::internal(format!("{e}\n")))?;
    let scfg = storage
        .cfg
        .storage(&storeid)
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    if scfg.disable {
        return Err(ApiError::internal(format!(
            "storage '{storeid}' is disabled\n"
        )));
    }
    if !scfg.has_content(pve_storage::Vtype::Images) {
        return Err(ApiError::internal(format!(
            "storage {storeid} does not support vm images\n"
        )));
    }
    println!("importing disk '{source}' to VM {vmid} ...");
    let key = target.clone().unwrap_or_else(|| "scsi0".into());
    let mut value = format!("{storeid}:0,import-from={source}");
    if let Some(f) = &format {
        value.push_str(&format!(",format={f}"));
    }
    let template = conf.main.get("template") == Some("1");
    let log = |l: &str| println!("{l}");
    let created = crate::disks::create_disks(
        &storage,
        vmid,
        &conf.main,
        &[(key.clone(), value)],
        None,
        template,
        &|_| {},
    )
    .map_err(|(made, e)| {
        crate::disks::free_volumes(&storage, &made.allocated, &log);
        ApiError::internal(e)
    })?;
    let volid = created.allocated.first().cloned().unwrap_or_default();
    let drive_value = created
        .values
        .into_iter()
        .find(|(k, _)| k == &key)
        .map(|(_, v)| v)
        .unwrap_or_default();
    let result = file.lock(|| {
        let mut conf = file.load()?;
        pve_guest_common::snapshot::check_lock("VM", &conf.main)?;
        let drive_id = match &target {
            Some(t) => {
                if conf.main.values.contains_key(t) {
                    return Err(format!(
                        "cowardly refusing to overwrite existing entry: {t}\n"
                    ));
                }
                conf.main.values.insert(t.clone(), drive_value.clone());
                t.clone()
            }
            None => pve_guest_common::snapshot::add_unused_volume(&mut conf.main, &volid, 256)
                .ok_or("To many unused volume - please delete them first.\n")?,
        };
        file.write(&conf)?;
        Ok((
            drive_id.clone(),
            conf.main.get(&drive_id).unwrap_or_default().to_string(),
        ))
    });
    match result {
        Ok((id, value)) => {
            println!("{id}: successfully imported disk '{value}'");
            Ok(Value::Null.into())
        }
        Err(e) => {
            crate::disks::free_volumes(&storage, &[volid], &log);
            Err(ApiError::internal(e))
        }
    }
}

fn rescan_method() -> ApiMethod {
    let mut vmid = vmid_param();
    vmid.optional = Some(true);
    ApiMethod::new(
        "rescan",
        HttpMethod::Post,
        "Rescan all storages and update disk sizes and unused disk images.",
        |env, p| {
            let dryrun = p.bool("dryrun").unwrap_or(false);
            if dryrun {
                println!("NOTE: running in dry-run mode, won't write changes out!");
            }
            let vmid = p.i64("vmid").map(|v| v as u32);
            crate::rescan::rescan(&env.paths, &env.node, vmid, dryrun, &|l| println!("{l}"))
                .map_err(ApiError::internal)?;
            Ok(Value::Null.into())
        },
    )
    .param("vmid", vmid)
    .param(
        "dryrun",
        Schema::literal(json!({"type": "boolean", "optional": 1, "default": 0,
            "description": "Do not actually write changes out to VM config(s)."})),
    )
}

/// The `qm` command tree for running `args`: a command that needs nothing of the API
/// router gets a tree with only itself (building the router and the VM option schemas
/// is most of a short command's time); anything else the whole tree.
pub fn qm_cli_for_args(node: &str, args: &[String]) -> CliDef {
    let only = match args.first().map(String::as_str) {
        Some("showcmd") => showcmd_command(),
        Some("list") => list_command(node),
        _ => return qm_cli_for(node),
    };
    CliDef::new(CliGroup::new().command(&args[0], only)).error_exit_code(error_exit_code)
}

fn showcmd_command() -> Command {
    Command::new(CLASS_QM, showcmd_method())
        .args(&["vmid"])
        .output(|out, data, _, _| write!(out, "{}", data.as_str().unwrap_or_default()))
}

fn list_command(node: &str) -> Command {
    Command::new(CLASS_QEMU, crate::api::vmlist_method())
        .fixed("node", node)
        .output(|out, data, _, _| print_vm_list(out, data))
}

/// The `qm` command tree; `node` is this node's name (the fixed `node` parameter).
pub fn qm_cli_for(node: &str) -> CliDef {
    let r = router();
    let api = |m: HttpMethod, path: &str| {
        Command::new(CLASS_QEMU, method_at(&r, m, path)).fixed("node", node)
    };
    let disk = CliGroup::new()
        .command(
            "import",
            Command::new(CLASS_QM, importdisk_method()).args(&["vmid", "source", "storage"]),
        )
        .command(
            "resize",
            api(HttpMethod::Put, "_/resize").args(&["vmid", "disk", "size"]),
        )
        .command("unlink", api(HttpMethod::Put, "_/unlink").args(&["vmid"]))
        .command(
            "move",
            api(HttpMethod::Post, "_/move_disk").args(&["vmid", "disk", "storage"]),
        )
        .command("rescan", Command::new(CLASS_QM, rescan_method()));
    let root = CliGroup::new()
        .command("list", list_command(node))
        .command(
            "create",
            api(HttpMethod::Post, "")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "destroy",
            api(HttpMethod::Delete, "_")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "clone",
            api(HttpMethod::Post, "_/clone")
                .args(&["vmid", "newid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command("set", api(HttpMethod::Put, "_/config").args(&["vmid"]))
        .command(
            "config",
            api(HttpMethod::Get, "_/config")
                .args(&["vmid"])
                .output(|out, data, _, _| print_config(out, data)),
        )
        .command(
            "pending",
            api(HttpMethod::Get, "_/pending")
                .args(&["vmid"])
                .output(|out, data, _, _| print_pending(out, data)),
        )
        .command(
            "snapshot",
            api(HttpMethod::Post, "_/snapshot")
                .args(&["vmid", "snapname"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "delsnapshot",
            api(HttpMethod::Delete, "_/snapshot/_")
                .args(&["vmid", "snapname"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "listsnapshot",
            api(HttpMethod::Get, "_/snapshot")
                .args(&["vmid"])
                .output(|out, data, _, _| print_snapshot_tree(out, data)),
        )
        .command(
            "rollback",
            api(HttpMethod::Post, "_/snapshot/_/rollback")
                .args(&["vmid", "snapname"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "template",
            api(HttpMethod::Post, "_/template").args(&["vmid"]),
        )
        .command(
            "unlock",
            Command::new(CLASS_QM, unlock_method()).args(&["vmid"]),
        )
        .command(
            "start",
            api(HttpMethod::Post, "_/status/start")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "stop",
            api(HttpMethod::Post, "_/status/stop")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "shutdown",
            api(HttpMethod::Post, "_/status/shutdown")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "reboot",
            api(HttpMethod::Post, "_/status/reboot")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "suspend",
            api(HttpMethod::Post, "_/status/suspend")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "resume",
            api(HttpMethod::Post, "_/status/resume")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "reset",
            api(HttpMethod::Post, "_/status/reset")
                .args(&["vmid"])
                .output(pve_common::cli::command::upid_exit),
        )
        .command(
            "sendkey",
            api(HttpMethod::Put, "_/sendkey").args(&["vmid", "key"]),
        )
        .command(
            "status",
            Command::new(CLASS_QM, status_method())
                .args(&["vmid"])
                .output(|out, data, _, _| write!(out, "{}", data.as_str().unwrap_or_default())),
        )
        .command(
            "monitor",
            Command::new(CLASS_QM, monitor_method()).args(&["vmid"]),
        )
        .command(
            "terminal",
            Command::new(CLASS_QM, terminal_method()).args(&["vmid"]),
        )
        .command("showcmd", showcmd_command())
        .group("disk", disk)
        .alias("importdisk", "disk import")
        .alias("rescan", "disk rescan")
        .alias("resize", "disk resize")
        .alias("move-disk", "disk move")
        .alias("move_disk", "disk move")
        .alias("unlink", "disk unlink");
    CliDef::new(root).error_exit_code(error_exit_code)
}

/// A failed read of a missing config file leaves ENOENT as Perl's exit code.
fn error_exit_code(e: &ApiError) -> i32 {
    if e.status == 500
        && e.message.starts_with("Configuration file '")
        && e.message.trim_end().ends_with("does not exist")
    {
        2
    } else {
        255
    }
}

/// The `qm` command tree for this node.
pub fn qm_cli() -> CliDef {
    qm_cli_for(&pve_common::api::env::local_node_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_format() {
        let data = json!([{"vmid": 100, "name": "web01", "status": "stopped", "maxmem": 2147483648u64, "maxdisk": 8589934592u64}]);
        let mut out = Vec::new();
        print_vm_list(&mut out, &data).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       \n       100 web01                stopped    2048               8.00 0         \n"
        );
    }
}
