//! Upstream's schemas of the container API methods that change things (create,
//! destroy, config update, snapshots, template), as published in the API schema. The
//! container options of create and update come from the option schema
//! (`crate::schema::ct_config_options`), not from here.

use serde_json::{json, Value};

pub(super) fn create_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"bwlimit": {"default": "restore limit from datacenter or storage config", "description": "Override I/O bandwidth limit (in KiB/s).", "minimum": "0", "optional": 1, "type": "number", "typetext": "<number> (0 - N)"}, "force": {"description": "Allow to overwrite existing container.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "ha-managed": {"default": 0, "description": "Add the CT as a HA resource after it was created.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "ignore-unpack-errors": {"description": "Ignore errors when extracting the template.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "ostemplate": {"description": "The OS template or backup file.", "maxLength": 255, "type": "string", "typetext": "<string>"}, "password": {"description": "Sets root password inside container.", "minLength": 5, "optional": 1, "type": "string", "typetext": "<string>"}, "pool": {"description": "Add the VM to the specified pool.", "format": "pve-poolid", "optional": 1, "type": "string", "typetext": "<string>"}, "restore": {"description": "Mark this as restore task.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "ssh-public-keys": {"description": "Setup public SSH keys (one key per line, OpenSSH format).", "optional": 1, "type": "string", "typetext": "<string>"}, "start": {"default": 0, "description": "Start the CT after its creation finished successfully.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "storage": {"default": "local", "description": "Default Storage.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string", "typetext": "<storage ID>"}, "unique": {"description": "Assign a unique random ethernet address.", "optional": 1, "requires": "restore", "type": "boolean", "typetext": "<boolean>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn create_vm_returns() -> Value {
    json!({"type": "string"})
}

pub(super) fn create_vm_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": "You need 'VM.Allocate' permission on /vms/{vmid} or on the VM pool /pool/{pool}. For restore, it is enough if the user has 'VM.Backup' permission and the VM already exists. You also need 'Datastore.AllocateSpace' permissions on the storage. For privileged containers, 'Sys.Modify' permissions on '/' are required.", "user": "all"}"#,
    )
}

pub(super) fn destroy_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"destroy-unreferenced-disks": {"description": "If set, destroy additionally all disks with the VMID from all enabled storages which are not referenced in the config.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "force": {"default": 0, "description": "Force destroy, even if running.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "purge": {"default": 0, "description": "Remove container from all related configurations. For example, backup jobs, replication jobs or HA. Related ACLs and Firewall entries will *always* be removed.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn destroy_vm_returns() -> Value {
    json!({"type": "string"})
}

pub(super) fn destroy_vm_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]]})
}

pub(super) fn update_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"delete": {"description": "A list of settings you want to delete.", "format": "pve-configid-list", "optional": 1, "type": "string", "typetext": "<string>"}, "digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string", "typetext": "<string>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "revert": {"description": "Revert a pending change.", "format": "pve-configid-list", "optional": 1, "type": "string", "typetext": "<string>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn update_vm_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn update_vm_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options"], "any", 1], "description": "non-volume mount points in rootfs and mp[n] are restricted to root@pam"}"#,
    )
}

pub(super) fn snapshot_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": {"description": "A textual description or comment.", "optional": 1, "type": "string", "typetext": "<string>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string", "typetext": "<string>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn snapshot_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn snapshot_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn delsnapshot_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"force": {"description": "For removal from config file, even if removing disk snapshots fails.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string", "typetext": "<string>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn delsnapshot_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn delsnapshot_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn rollback_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string", "typetext": "<string>"}, "start": {"default": 0, "description": "Whether the container should get started after rolling back successfully", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn rollback_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn rollback_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Snapshot", "VM.Snapshot.Rollback"], "any", 1]}"#,
    )
}

pub(super) fn update_snapshot_config_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": {"description": "A textual description or comment.", "optional": 1, "type": "string", "typetext": "<string>"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string", "typetext": "<string>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn update_snapshot_config_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn update_snapshot_config_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn template_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn template_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn template_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]], "description": "You need 'VM.Allocate' permissions on /vms/{vmid}"}"#,
    )
}
