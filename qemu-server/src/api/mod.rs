//! `/nodes/{node}/qemu`: the VM configuration side of upstream's `PVE::API2::Qemu`
//! (list, create, config, pending, snapshots, disks, templates, clones, destroy).
//! Starting and stopping VMs, QMP and status live elsewhere.

use pve_common::api::{ApiError, ApiMethod, HttpMethod, Permissions, Router, RpcEnv};
use pve_common::schema::Schema;
use serde_json::Value;

use crate::config_file::VmConfigFile;

pub(crate) mod bwlimit;
mod config;
mod create;
mod disk;
mod list;
mod schemas;
mod snapshot;

pub use config::{update_vm, UpdateRequest};
pub use list::{vm_status_list, VmStatus};
pub use snapshot::{rollback_machine_hook, VmSnapshots};

/// Adds upstream's parameter properties, return schema and permissions to a method.
fn declare(mut m: ApiMethod, params: Value, returns: Value, perms: Value) -> ApiMethod {
    if let Value::Object(props) = params {
        for (name, schema) in props {
            m = m.param(&name, Schema::literal(schema));
        }
    }
    if !returns.is_null() {
        m = m.returns(Schema::literal(returns));
    }
    if !perms.is_null() {
        let p: Permissions = serde_json::from_value(perms).expect("upstream permission literal");
        m = m.permissions(p);
    }
    m
}

/// The VM options as parameters (create and config updates), `name0`… expanded; the
/// internal snapshot keys are left out.
fn with_vm_options(mut m: ApiMethod) -> ApiMethod {
    let create = m.name == "create_vm";
    const INTERNAL: [&str; 7] = [
        "parent",
        "snaptime",
        "vmstate",
        "runningmachine",
        "runningcpu",
        "running-nets-host-mtu",
        "meta",
    ];
    for (name, schema) in crate::schema::vm_config_options() {
        // `ha-managed` is a create parameter, not a config option.
        if INTERNAL.contains(&name.as_str()) || (!create && name == "ha-managed") {
            continue;
        }
        m = m.param(name, std::sync::Arc::clone(schema));
    }
    m
}

fn conf_file(env: &RpcEnv, vmid: u32) -> VmConfigFile {
    VmConfigFile::new(&env.paths, &env.node, vmid)
}

fn err(msg: impl Into<String>) -> ApiError {
    ApiError::internal(msg)
}

fn storage(env: &RpcEnv) -> Result<pve_storage::Storage, ApiError> {
    pve_storage::Storage::load(&env.paths).map_err(|e| err(format!("{e}\n")))
}

fn running(env: &RpcEnv, vmid: u32) -> bool {
    crate::helpers::vm_running_locally(&env.paths, vmid).is_some()
}

/// `GET /nodes/{node}/qemu` alone (`qm list` needs no more of the router).
pub fn vmlist_method() -> ApiMethod {
    use schemas as s;
    declare(
        ApiMethod::new(
            "vmlist",
            HttpMethod::Get,
            s::vmlist_description(),
            list::vmlist,
        )
        .protected()
        .proxyto("node")
        .fingerprint(list::vmlist_fingerprint),
        s::vmlist_params(),
        s::vmlist_returns(),
        s::vmlist_permissions(),
    )
}

/// `/nodes/{node}/qemu`.
pub fn router() -> Router {
    use schemas as s;
    let snapshot_item = Router::new()
        .method(declare(
            ApiMethod::new(
                "snapshot_cmd_idx",
                HttpMethod::Get,
                s::snapshot_cmd_idx_description(),
                snapshot::cmd_idx,
            ),
            s::snapshot_cmd_idx_params(),
            s::snapshot_cmd_idx_returns(),
            s::snapshot_cmd_idx_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "delsnapshot",
                HttpMethod::Delete,
                s::delsnapshot_description(),
                snapshot::delete,
            )
            .protected()
            .proxyto("node"),
            s::delsnapshot_params(),
            s::delsnapshot_returns(),
            s::delsnapshot_permissions(),
        ))
        .subdir(
            "config",
            Router::new()
                .method(declare(
                    ApiMethod::new(
                        "get_snapshot_config",
                        HttpMethod::Get,
                        s::get_snapshot_config_description(),
                        snapshot::get_config,
                    )
                    .proxyto("node"),
                    s::get_snapshot_config_params(),
                    s::get_snapshot_config_returns(),
                    s::get_snapshot_config_permissions(),
                ))
                .method(declare(
                    ApiMethod::new(
                        "update_snapshot_config",
                        HttpMethod::Put,
                        s::update_snapshot_config_description(),
                        snapshot::update_config,
                    )
                    .protected()
                    .proxyto("node"),
                    s::update_snapshot_config_params(),
                    s::update_snapshot_config_returns(),
                    s::update_snapshot_config_permissions(),
                )),
        )
        .subdir(
            "rollback",
            Router::new().method(declare(
                ApiMethod::new(
                    "rollback",
                    HttpMethod::Post,
                    s::rollback_description(),
                    snapshot::rollback,
                )
                .protected()
                .proxyto("node"),
                s::rollback_params(),
                s::rollback_returns(),
                s::rollback_permissions(),
            )),
        );
    let snapshot = Router::new()
        .method(declare(
            ApiMethod::new(
                "snapshot_list",
                HttpMethod::Get,
                s::snapshot_list_description(),
                snapshot::list,
            )
            .protected()
            .proxyto("node"),
            s::snapshot_list_params(),
            s::snapshot_list_returns(),
            s::snapshot_list_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "snapshot",
                HttpMethod::Post,
                s::snapshot_description(),
                snapshot::create,
            )
            .protected()
            .proxyto("node"),
            s::snapshot_params(),
            s::snapshot_returns(),
            s::snapshot_permissions(),
        ))
        .match_param("snapname", snapshot_item);

    let config = Router::new()
        .method(
            declare(
                ApiMethod::new(
                    "vm_config",
                    HttpMethod::Get,
                    s::vm_config_description(),
                    config::get_config,
                )
                .proxyto("node"),
                s::vm_config_params(),
                Value::Null,
                s::vm_config_permissions(),
            )
            .returns(config::config_returns()),
        )
        .method(with_vm_options(declare(
            ApiMethod::new(
                "update_vm_async",
                HttpMethod::Post,
                s::update_vm_async_description(),
                config::update_async,
            )
            .protected()
            .proxyto("node"),
            s::update_vm_async_params(),
            s::update_vm_async_returns(),
            s::update_vm_async_permissions(),
        )))
        .method(with_vm_options(declare(
            ApiMethod::new(
                "update_vm",
                HttpMethod::Put,
                s::update_vm_description(),
                config::update_sync,
            )
            .protected()
            .proxyto("node"),
            s::update_vm_params(),
            s::update_vm_returns(),
            s::update_vm_permissions(),
        )));

    let vm = Router::new()
        .method(declare(
            ApiMethod::new(
                "vmdiridx",
                HttpMethod::Get,
                s::vmdiridx_description(),
                list::diridx,
            )
            .proxyto("node"),
            s::vmdiridx_params(),
            s::vmdiridx_returns(),
            s::vmdiridx_permissions(),
        ))
        .method(declare(
            ApiMethod::new(
                "destroy_vm",
                HttpMethod::Delete,
                s::destroy_vm_description(),
                create::destroy,
            )
            .protected()
            .proxyto("node"),
            s::destroy_vm_params(),
            s::destroy_vm_returns(),
            s::destroy_vm_permissions(),
        ))
        .subdir(
            "clone",
            Router::new().method(declare(
                ApiMethod::new(
                    "clone_vm",
                    HttpMethod::Post,
                    s::clone_vm_description(),
                    disk::clone,
                )
                .protected()
                .proxyto("node"),
                s::clone_vm_params(),
                s::clone_vm_returns(),
                s::clone_vm_permissions(),
            )),
        )
        .subdir("config", config)
        .subdir(
            "feature",
            Router::new().method(declare(
                ApiMethod::new(
                    "vm_feature",
                    HttpMethod::Get,
                    s::vm_feature_description(),
                    disk::feature,
                )
                .protected()
                .proxyto("node"),
                s::vm_feature_params(),
                s::vm_feature_returns(),
                s::vm_feature_permissions(),
            )),
        )
        .subdir(
            "pending",
            Router::new().method(declare(
                ApiMethod::new(
                    "vm_pending",
                    HttpMethod::Get,
                    s::vm_pending_description(),
                    config::pending,
                )
                .proxyto("node"),
                s::vm_pending_params(),
                s::vm_pending_returns(),
                s::vm_pending_permissions(),
            )),
        )
        .subdir(
            "resize",
            Router::new().method(declare(
                ApiMethod::new(
                    "resize_vm",
                    HttpMethod::Put,
                    s::resize_vm_description(),
                    disk::resize,
                )
                .protected()
                .proxyto("node"),
                s::resize_vm_params(),
                s::resize_vm_returns(),
                s::resize_vm_permissions(),
            )),
        )
        .subdir(
            "move_disk",
            Router::new().method(declare(
                ApiMethod::new(
                    "move_vm_disk",
                    HttpMethod::Post,
                    s::move_vm_disk_description(),
                    disk::move_disk,
                )
                .protected()
                .proxyto("node"),
                s::move_vm_disk_params(),
                s::move_vm_disk_returns(),
                s::move_vm_disk_permissions(),
            )),
        )
        .subdir("snapshot", snapshot)
        .subdir(
            "template",
            Router::new().method(declare(
                ApiMethod::new(
                    "template",
                    HttpMethod::Post,
                    s::template_description(),
                    disk::template,
                )
                .protected()
                .proxyto("node"),
                s::template_params(),
                s::template_returns(),
                s::template_permissions(),
            )),
        )
        .subdir(
            "unlink",
            Router::new().method(declare(
                ApiMethod::new(
                    "unlink",
                    HttpMethod::Put,
                    s::unlink_description(),
                    config::unlink,
                )
                .protected()
                .proxyto("node"),
                s::unlink_params(),
                s::unlink_returns(),
                s::unlink_permissions(),
            )),
        );

    Router::new()
        .method(vmlist_method())
        .method(with_vm_options(declare(
            ApiMethod::new(
                "create_vm",
                HttpMethod::Post,
                s::create_vm_description(),
                create::create,
            )
            .protected()
            .proxyto("node"),
            s::create_vm_params(),
            s::create_vm_returns(),
            s::create_vm_permissions(),
        )))
        .match_param("vmid", crate::api_status::mount_vm_runtime(vm))
}
