//! Upstream's parameter, return and permission schemas of the `/nodes/{node}/qemu`
//! methods, as published in the API schema (qemu-server 9.2). The VM options of create
//! and config updates come from the option schema (`crate::schema`).

use serde_json::{json, Value};

pub(super) fn vmlist_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"full": {"description": "Determine the full status of active VMs.", "optional": 1, "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}}"#,
    )
}

pub(super) fn vmlist_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"items": {"properties": {"cpu": {"description": "Current CPU usage.", "optional": 1, "type": "number"}, "cpus": {"description": "Maximum usable CPUs.", "optional": 1, "type": "number"}, "diskread": {"description": "The amount of bytes the guest read from it's block devices since the guest was started. (Note: This info is not available for all storage types.)", "optional": 1, "renderer": "bytes", "type": "integer"}, "diskwrite": {"description": "The amount of bytes the guest wrote from it's block devices since the guest was started. (Note: This info is not available for all storage types.)", "optional": 1, "renderer": "bytes", "type": "integer"}, "lock": {"description": "The current config lock, if any.", "optional": 1, "type": "string"}, "maxdisk": {"description": "Root disk size in bytes.", "optional": 1, "renderer": "bytes", "type": "integer"}, "maxmem": {"description": "Maximum memory in bytes.", "optional": 1, "renderer": "bytes", "type": "integer"}, "mem": {"description": "Currently used memory in bytes. Does not take into account kernel same-page merging (KSM). Uses information from ballooning when available.", "optional": 1, "renderer": "bytes", "type": "integer"}, "memhost": {"description": "Current memory usage on the host. Does not take into account kernel same-page merging (KSM).", "optional": 1, "renderer": "bytes", "type": "integer"}, "name": {"description": "VM (host)name.", "optional": 1, "type": "string"}, "netin": {"description": "The amount of traffic in bytes that was sent to the guest over the network since it was started.", "optional": 1, "renderer": "bytes", "type": "integer"}, "netout": {"description": "The amount of traffic in bytes that was sent from the guest over the network since it was started.", "optional": 1, "renderer": "bytes", "type": "integer"}, "pid": {"description": "PID of the QEMU process, if the VM is running.", "optional": 1, "type": "integer"}, "pressurecpufull": {"description": "CPU Full pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "pressurecpusome": {"description": "CPU Some pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "pressureiofull": {"description": "IO Full pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "pressureiosome": {"description": "IO Some pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "pressurememoryfull": {"description": "Memory Full pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "pressurememorysome": {"description": "Memory Some pressure stall average over the last 10 seconds.", "optional": 1, "type": "number"}, "qmpstatus": {"description": "VM run state from the 'query-status' QMP monitor command.", "optional": 1, "type": "string"}, "running-machine": {"description": "The currently running machine type (if running).", "optional": 1, "type": "string"}, "running-qemu": {"description": "The QEMU version the VM is currently using (if running).", "optional": 1, "type": "string"}, "serial": {"description": "Guest has serial device configured.", "optional": 1, "type": "boolean"}, "status": {"description": "QEMU process status.", "enum": ["stopped", "running"], "type": "string"}, "tags": {"description": "The current configured tags, if any", "optional": 1, "type": "string"}, "template": {"default": 0, "description": "Determines if the guest is a template.", "optional": 1, "type": "boolean"}, "uptime": {"description": "Uptime in seconds.", "optional": 1, "renderer": "duration", "type": "integer"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}, "type": "object"}, "links": [{"href": "{vmid}", "rel": "child"}], "type": "array"}"#,
    )
}

pub(super) fn vmlist_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": "Only list VMs where you have VM.Audit permissions on /vms/<vmid>.", "user": "all"}"#,
    )
}

pub(super) fn vmlist_description() -> &'static str {
    "Virtual machine index (per node)."
}

pub(super) fn create_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"archive": {"description": "The backup archive. Either the file system path to a .tar or .vma file (use '-' to pipe data from stdin) or a proxmox storage backup volume identifier.", "maxLength": 255, "optional": 1, "type": "string"}, "bwlimit": {"default": "restore limit from datacenter or storage config", "description": "Override I/O bandwidth limit (in KiB/s).", "minimum": "0", "optional": 1, "type": "integer"}, "force": {"description": "Allow to overwrite existing VM.", "optional": 1, "requires": "archive", "type": "boolean"}, "ha-managed": {"default": 0, "description": "Add the VM as a HA resource after it was created.", "optional": 1, "type": "boolean"}, "import-working-storage": {"description": "A file-based storage with 'images' content-type enabled, which is used as an intermediary extraction storage during import. Defaults to the source storage.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string"}, "live-restore": {"description": "Start the VM immediately while importing or restoring in the background.", "optional": 1, "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "pool": {"description": "Add the VM to the specified pool.", "format": "pve-poolid", "optional": 1, "type": "string"}, "start": {"default": 0, "description": "Start VM after it was created successfully.", "optional": 1, "type": "boolean"}, "storage": {"description": "Default storage.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string"}, "unique": {"description": "Assign a unique random ethernet address.", "optional": 1, "requires": "archive", "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn create_vm_returns() -> Value {
    json!({"type": "string"})
}

pub(super) fn create_vm_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": "You need 'VM.Allocate' permissions on /vms/{vmid} or on the VM pool /pool/{pool}. For restore (option 'archive'), it is enough if the user has 'VM.Backup' permission and the VM already exists. If you create disks you need 'Datastore.AllocateSpace' on any used storage.If you use a bridge/vlan, you need 'SDN.Use' on any used bridge/vlan.", "user": "all"}"#,
    )
}

pub(super) fn create_vm_description() -> &'static str {
    "Create or restore a virtual machine."
}

pub(super) fn destroy_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"destroy-unreferenced-disks": {"default": 0, "description": "If set, destroy additionally all disks not referenced in the config but with a matching VMID from all enabled storages.", "optional": 1, "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "purge": {"description": "Remove VMID from configurations, like backup & replication jobs and HA.", "optional": 1, "type": "boolean"}, "skiplock": {"description": "Ignore locks - only root is allowed to use this option.", "optional": 1, "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn destroy_vm_returns() -> Value {
    json!({"type": "string"})
}

pub(super) fn destroy_vm_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]]})
}

pub(super) fn destroy_vm_description() -> &'static str {
    "Destroy the VM and  all used/owned volumes. Removes any VM specific permissions and firewall rules"
}

pub(super) fn vmdiridx_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn vmdiridx_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"items": {"properties": {"subdir": {"type": "string"}}, "type": "object"}, "links": [{"href": "{subdir}", "rel": "child"}], "type": "array"}"#,
    )
}

pub(super) fn vmdiridx_permissions() -> Value {
    json!({"user": "all"})
}

pub(super) fn vmdiridx_description() -> &'static str {
    "Directory index"
}

pub(super) fn vm_config_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"current": {"default": 0, "description": "Get current values (instead of pending values).", "optional": 1, "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapshot": {"description": "Fetch config values from given snapshot.", "format": "pve-configid", "maxLength": 40, "optional": 1, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn vm_config_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Audit"]]})
}

pub(super) fn vm_config_description() -> &'static str {
    "Get the virtual machine configuration with pending configuration changes applied. Set the 'current' parameter to get the current configuration instead."
}

pub(super) fn update_vm_async_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"background_delay": {"description": "Time to wait for the task to finish. We return 'null' if the task finish within that time.", "maximum": 30, "minimum": 1, "optional": 1, "type": "integer"}, "delete": {"description": "A list of settings you want to delete.", "format": "pve-configid-list", "optional": 1, "type": "string"}, "digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string"}, "force": {"description": "Force physical removal. Without this, we simple remove the disk from the config file and create an additional configuration entry called 'unused[n]', which contains the volume ID. Unlink of unused[n] always cause physical removal.", "optional": 1, "requires": "delete", "type": "boolean"}, "import-working-storage": {"description": "A file-based storage with 'images' content-type enabled, which is used as an intermediary extraction storage during import. Defaults to the source storage.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "revert": {"description": "Revert a pending change.", "format": "pve-configid-list", "optional": 1, "type": "string"}, "skiplock": {"description": "Ignore locks - only root is allowed to use this option.", "optional": 1, "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn update_vm_async_returns() -> Value {
    json!({"optional": 1, "type": "string"})
}

pub(super) fn update_vm_async_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"], "any", 1]}"#,
    )
}

pub(super) fn update_vm_async_description() -> &'static str {
    "Set virtual machine options (asynchronous API)."
}

pub(super) fn update_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"delete": {"description": "A list of settings you want to delete.", "format": "pve-configid-list", "optional": 1, "type": "string"}, "digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string"}, "force": {"description": "Force physical removal. Without this, we simple remove the disk from the config file and create an additional configuration entry called 'unused[n]', which contains the volume ID. Unlink of unused[n] always cause physical removal.", "optional": 1, "requires": "delete", "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "revert": {"description": "Revert a pending change.", "format": "pve-configid-list", "optional": 1, "type": "string"}, "skiplock": {"description": "Ignore locks - only root is allowed to use this option.", "optional": 1, "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn update_vm_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn update_vm_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network", "VM.Config.HWType", "VM.Config.Options", "VM.Config.Cloudinit"], "any", 1]}"#,
    )
}

pub(super) fn update_vm_description() -> &'static str {
    "Set virtual machine options (synchronous API) - You should consider using the POST method instead for any actions involving hotplug or storage allocation."
}

pub(super) fn vm_pending_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn vm_pending_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"items": {"properties": {"delete": {"description": "Indicates a pending delete request if present and not 0. The value 2 indicates a force-delete request.", "maximum": 2, "minimum": 0, "optional": 1, "type": "integer"}, "key": {"description": "Configuration option name.", "type": "string"}, "pending": {"description": "Pending value.", "optional": 1, "type": "string"}, "value": {"description": "Current value.", "optional": 1, "type": "string"}}, "type": "object"}, "type": "array"}"#,
    )
}

pub(super) fn vm_pending_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Audit"]]})
}

pub(super) fn vm_pending_description() -> &'static str {
    "Get the virtual machine configuration with both current and pending values."
}

pub(super) fn unlink_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"force": {"description": "Force physical removal. Without this, we simple remove the disk from the config file and create an additional configuration entry called 'unused[n]', which contains the volume ID. Unlink of unused[n] always cause physical removal.", "optional": 1, "type": "boolean"}, "idlist": {"description": "A list of disk IDs you want to delete.", "format": "pve-configid-list", "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn unlink_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn unlink_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk"]]})
}

pub(super) fn unlink_description() -> &'static str {
    "Unlink/delete disk images."
}

pub(super) fn resize_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string"}, "disk": {"description": "The disk you want to resize.", "enum": ["ide0", "ide1", "ide2", "ide3", "scsi0", "scsi1", "scsi2", "scsi3", "scsi4", "scsi5", "scsi6", "scsi7", "scsi8", "scsi9", "scsi10", "scsi11", "scsi12", "scsi13", "scsi14", "scsi15", "scsi16", "scsi17", "scsi18", "scsi19", "scsi20", "scsi21", "scsi22", "scsi23", "scsi24", "scsi25", "scsi26", "scsi27", "scsi28", "scsi29", "scsi30", "virtio0", "virtio1", "virtio2", "virtio3", "virtio4", "virtio5", "virtio6", "virtio7", "virtio8", "virtio9", "virtio10", "virtio11", "virtio12", "virtio13", "virtio14", "virtio15", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5", "efidisk0", "tpmstate0"], "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "size": {"description": "The new size. With the `+` sign the value is added to the actual size of the volume and without it, the value is taken as an absolute one. Shrinking disk size is not supported.", "pattern": "\\+?\\d+(\\.\\d+)?[KMGT]?", "type": "string"}, "skiplock": {"description": "Ignore locks - only root is allowed to use this option.", "optional": 1, "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn resize_vm_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn resize_vm_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk"]]})
}

pub(super) fn resize_vm_description() -> &'static str {
    "Extend volume size."
}

pub(super) fn snapshot_list_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn snapshot_list_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"items": {"properties": {"description": {"description": "Snapshot description.", "type": "string"}, "name": {"description": "Snapshot identifier. Value 'current' identifies the current VM.", "type": "string"}, "parent": {"description": "Parent snapshot identifier.", "optional": 1, "type": "string"}, "snaptime": {"description": "Snapshot creation time", "optional": 1, "renderer": "timestamp", "type": "integer"}, "vmstate": {"description": "Snapshot includes RAM.", "optional": 1, "type": "boolean"}}, "type": "object"}, "links": [{"href": "{name}", "rel": "child"}], "type": "array"}"#,
    )
}

pub(super) fn snapshot_list_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Audit"]]})
}

pub(super) fn snapshot_list_description() -> &'static str {
    "List all snapshots."
}

pub(super) fn snapshot_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": {"description": "A textual description or comment.", "optional": 1, "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}, "vmstate": {"description": "Save the vmstate", "optional": 1, "type": "boolean"}}"#,
    )
}

pub(super) fn snapshot_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn snapshot_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn snapshot_description() -> &'static str {
    "Snapshot a VM."
}

pub(super) fn delsnapshot_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"force": {"description": "For removal from config file, even if removing disk snapshots fails.", "optional": 1, "type": "boolean"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn delsnapshot_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn delsnapshot_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn delsnapshot_description() -> &'static str {
    "Delete a VM snapshot."
}

pub(super) fn snapshot_cmd_idx_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn snapshot_cmd_idx_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"items": {"properties": {}, "type": "object"}, "links": [{"href": "{cmd}", "rel": "child"}], "type": "array"}"#,
    )
}

pub(super) fn snapshot_cmd_idx_permissions() -> Value {
    json!({"user": "all"})
}

pub(super) fn snapshot_cmd_idx_description() -> &'static str {
    ""
}

pub(super) fn get_snapshot_config_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn get_snapshot_config_returns() -> Value {
    json!({"type": "object"})
}

pub(super) fn get_snapshot_config_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Snapshot", "VM.Snapshot.Rollback", "VM.Audit"], "any", 1]}"#,
    )
}

pub(super) fn get_snapshot_config_description() -> &'static str {
    "Get snapshot configuration"
}

pub(super) fn update_snapshot_config_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"description": {"description": "A textual description or comment.", "optional": 1, "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn update_snapshot_config_returns() -> Value {
    json!({"type": "null"})
}

pub(super) fn update_snapshot_config_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Snapshot"]]})
}

pub(super) fn update_snapshot_config_description() -> &'static str {
    "Update snapshot metadata."
}

pub(super) fn rollback_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "type": "string"}, "start": {"default": 0, "description": "Whether the VM should get started after rolling back successfully. (Note: VMs will be automatically started if the snapshot includes RAM.)", "optional": 1, "type": "boolean"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
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

pub(super) fn rollback_description() -> &'static str {
    "Rollback VM state to specified snapshot."
}

pub(super) fn template_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"disk": {"description": "If you want to convert only 1 disk to base image.", "enum": ["ide0", "ide1", "ide2", "ide3", "scsi0", "scsi1", "scsi2", "scsi3", "scsi4", "scsi5", "scsi6", "scsi7", "scsi8", "scsi9", "scsi10", "scsi11", "scsi12", "scsi13", "scsi14", "scsi15", "scsi16", "scsi17", "scsi18", "scsi19", "scsi20", "scsi21", "scsi22", "scsi23", "scsi24", "scsi25", "scsi26", "scsi27", "scsi28", "scsi29", "scsi30", "virtio0", "virtio1", "virtio2", "virtio3", "virtio4", "virtio5", "virtio6", "virtio7", "virtio8", "virtio9", "virtio10", "virtio11", "virtio12", "virtio13", "virtio14", "virtio15", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5", "efidisk0", "tpmstate0"], "optional": 1, "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn template_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn template_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Allocate"]], "description": "You need 'VM.Allocate' permissions on /vms/{vmid}"}"#,
    )
}

pub(super) fn template_description() -> &'static str {
    "Create a Template."
}

pub(super) fn clone_vm_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"bwlimit": {"default": "clone limit from datacenter or storage config", "description": "Override I/O bandwidth limit (in KiB/s).", "minimum": "0", "optional": 1, "type": "integer"}, "description": {"description": "Description for the new VM.", "optional": 1, "type": "string"}, "format": {"description": "Target format for file storage. Only valid for full clone.", "enum": ["raw", "qcow2", "vmdk"], "optional": 1, "type": "string"}, "full": {"description": "Create a full copy of all disks. This is always done when you clone a normal VM. For VM templates, we try to create a linked clone by default.", "optional": 1, "type": "boolean"}, "name": {"description": "Set a name for the new VM.", "format": "dns-name", "optional": 1, "type": "string"}, "newid": {"description": "VMID for the clone.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "pool": {"description": "Add the new VM to the specified pool.", "format": "pve-poolid", "optional": 1, "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "optional": 1, "type": "string"}, "storage": {"description": "Target storage for full clone.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string"}, "target": {"description": "Target node. Only allowed if the original VM is on shared storage.", "format": "pve-node", "optional": 1, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn clone_vm_returns() -> Value {
    json!({"type": "string"})
}

pub(super) fn clone_vm_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["and", ["perm", "/vms/{vmid}", ["VM.Clone"]], ["or", ["perm", "/vms/{newid}", ["VM.Allocate"]], ["perm", "/pool/{pool}", ["VM.Allocate"], "require_param", "pool"]]], "description": "You need 'VM.Clone' permissions on /vms/{vmid}, and 'VM.Allocate' permissions on /vms/{newid} (or on the VM pool /pool/{pool}). You also need 'Datastore.AllocateSpace' on any used storage and 'SDN.Use' on any used bridge/vnet"}"#,
    )
}

pub(super) fn clone_vm_description() -> &'static str {
    "Create a copy of virtual machine/template."
}

pub(super) fn vm_feature_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"feature": {"description": "Feature to check.", "enum": ["snapshot", "clone", "copy"], "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "snapname": {"description": "The name of the snapshot.", "format": "pve-configid", "maxLength": 40, "optional": 1, "type": "string"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer"}}"#,
    )
}

pub(super) fn vm_feature_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{"properties": {"hasFeature": {"type": "boolean"}, "nodes": {"items": {"type": "string"}, "type": "array"}}, "type": "object"}"#,
    )
}

pub(super) fn vm_feature_permissions() -> Value {
    json!({"check": ["perm", "/vms/{vmid}", ["VM.Audit"]]})
}

pub(super) fn vm_feature_description() -> &'static str {
    "Check if feature for virtual machine is available."
}

pub(super) fn move_vm_disk_params() -> Value {
    pve_common::schema::json_lit(
        r#"{"bwlimit": {"default": "move limit from datacenter or storage config", "description": "Override I/O bandwidth limit (in KiB/s).", "minimum": "0", "optional": 1, "type": "integer", "typetext": "<integer> (0 - N)"}, "delete": {"default": 0, "description": "Delete the original disk after successful copy. By default the original disk is kept as unused disk.", "optional": 1, "type": "boolean", "typetext": "<boolean>"}, "digest": {"description": "Prevent changes if current configuration file has different SHA1 digest. This can be used to prevent concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string", "typetext": "<string>"}, "disk": {"description": "The disk you want to move.", "enum": ["ide0", "ide1", "ide2", "ide3", "scsi0", "scsi1", "scsi2", "scsi3", "scsi4", "scsi5", "scsi6", "scsi7", "scsi8", "scsi9", "scsi10", "scsi11", "scsi12", "scsi13", "scsi14", "scsi15", "scsi16", "scsi17", "scsi18", "scsi19", "scsi20", "scsi21", "scsi22", "scsi23", "scsi24", "scsi25", "scsi26", "scsi27", "scsi28", "scsi29", "scsi30", "virtio0", "virtio1", "virtio2", "virtio3", "virtio4", "virtio5", "virtio6", "virtio7", "virtio8", "virtio9", "virtio10", "virtio11", "virtio12", "virtio13", "virtio14", "virtio15", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5", "efidisk0", "tpmstate0", "unused0", "unused1", "unused2", "unused3", "unused4", "unused5", "unused6", "unused7", "unused8", "unused9", "unused10", "unused11", "unused12", "unused13", "unused14", "unused15", "unused16", "unused17", "unused18", "unused19", "unused20", "unused21", "unused22", "unused23", "unused24", "unused25", "unused26", "unused27", "unused28", "unused29", "unused30", "unused31", "unused32", "unused33", "unused34", "unused35", "unused36", "unused37", "unused38", "unused39", "unused40", "unused41", "unused42", "unused43", "unused44", "unused45", "unused46", "unused47", "unused48", "unused49", "unused50", "unused51", "unused52", "unused53", "unused54", "unused55", "unused56", "unused57", "unused58", "unused59", "unused60", "unused61", "unused62", "unused63", "unused64", "unused65", "unused66", "unused67", "unused68", "unused69", "unused70", "unused71", "unused72", "unused73", "unused74", "unused75", "unused76", "unused77", "unused78", "unused79", "unused80", "unused81", "unused82", "unused83", "unused84", "unused85", "unused86", "unused87", "unused88", "unused89", "unused90", "unused91", "unused92", "unused93", "unused94", "unused95", "unused96", "unused97", "unused98", "unused99", "unused100", "unused101", "unused102", "unused103", "unused104", "unused105", "unused106", "unused107", "unused108", "unused109", "unused110", "unused111", "unused112", "unused113", "unused114", "unused115", "unused116", "unused117", "unused118", "unused119", "unused120", "unused121", "unused122", "unused123", "unused124", "unused125", "unused126", "unused127", "unused128", "unused129", "unused130", "unused131", "unused132", "unused133", "unused134", "unused135", "unused136", "unused137", "unused138", "unused139", "unused140", "unused141", "unused142", "unused143", "unused144", "unused145", "unused146", "unused147", "unused148", "unused149", "unused150", "unused151", "unused152", "unused153", "unused154", "unused155", "unused156", "unused157", "unused158", "unused159", "unused160", "unused161", "unused162", "unused163", "unused164", "unused165", "unused166", "unused167", "unused168", "unused169", "unused170", "unused171", "unused172", "unused173", "unused174", "unused175", "unused176", "unused177", "unused178", "unused179", "unused180", "unused181", "unused182", "unused183", "unused184", "unused185", "unused186", "unused187", "unused188", "unused189", "unused190", "unused191", "unused192", "unused193", "unused194", "unused195", "unused196", "unused197", "unused198", "unused199", "unused200", "unused201", "unused202", "unused203", "unused204", "unused205", "unused206", "unused207", "unused208", "unused209", "unused210", "unused211", "unused212", "unused213", "unused214", "unused215", "unused216", "unused217", "unused218", "unused219", "unused220", "unused221", "unused222", "unused223", "unused224", "unused225", "unused226", "unused227", "unused228", "unused229", "unused230", "unused231", "unused232", "unused233", "unused234", "unused235", "unused236", "unused237", "unused238", "unused239", "unused240", "unused241", "unused242", "unused243", "unused244", "unused245", "unused246", "unused247", "unused248", "unused249", "unused250", "unused251", "unused252", "unused253", "unused254", "unused255"], "type": "string"}, "format": {"description": "Target Format.", "enum": ["raw", "qcow2", "vmdk"], "optional": 1, "type": "string"}, "node": {"description": "The cluster node name.", "format": "pve-node", "type": "string", "typetext": "<string>"}, "storage": {"description": "Target storage.", "format": "pve-storage-id", "format_description": "storage ID", "optional": 1, "type": "string", "typetext": "<storage ID>"}, "target-digest": {"description": "Prevent changes if the current config file of the target VM has a different SHA1 digest. This can be used to detect concurrent modifications.", "maxLength": 40, "optional": 1, "type": "string", "typetext": "<string>"}, "target-disk": {"description": "The config key the disk will be moved to on the target VM (for example, ide0 or scsi1). Default is the source disk key.", "enum": ["ide0", "ide1", "ide2", "ide3", "scsi0", "scsi1", "scsi2", "scsi3", "scsi4", "scsi5", "scsi6", "scsi7", "scsi8", "scsi9", "scsi10", "scsi11", "scsi12", "scsi13", "scsi14", "scsi15", "scsi16", "scsi17", "scsi18", "scsi19", "scsi20", "scsi21", "scsi22", "scsi23", "scsi24", "scsi25", "scsi26", "scsi27", "scsi28", "scsi29", "scsi30", "virtio0", "virtio1", "virtio2", "virtio3", "virtio4", "virtio5", "virtio6", "virtio7", "virtio8", "virtio9", "virtio10", "virtio11", "virtio12", "virtio13", "virtio14", "virtio15", "sata0", "sata1", "sata2", "sata3", "sata4", "sata5", "efidisk0", "tpmstate0", "unused0", "unused1", "unused2", "unused3", "unused4", "unused5", "unused6", "unused7", "unused8", "unused9", "unused10", "unused11", "unused12", "unused13", "unused14", "unused15", "unused16", "unused17", "unused18", "unused19", "unused20", "unused21", "unused22", "unused23", "unused24", "unused25", "unused26", "unused27", "unused28", "unused29", "unused30", "unused31", "unused32", "unused33", "unused34", "unused35", "unused36", "unused37", "unused38", "unused39", "unused40", "unused41", "unused42", "unused43", "unused44", "unused45", "unused46", "unused47", "unused48", "unused49", "unused50", "unused51", "unused52", "unused53", "unused54", "unused55", "unused56", "unused57", "unused58", "unused59", "unused60", "unused61", "unused62", "unused63", "unused64", "unused65", "unused66", "unused67", "unused68", "unused69", "unused70", "unused71", "unused72", "unused73", "unused74", "unused75", "unused76", "unused77", "unused78", "unused79", "unused80", "unused81", "unused82", "unused83", "unused84", "unused85", "unused86", "unused87", "unused88", "unused89", "unused90", "unused91", "unused92", "unused93", "unused94", "unused95", "unused96", "unused97", "unused98", "unused99", "unused100", "unused101", "unused102", "unused103", "unused104", "unused105", "unused106", "unused107", "unused108", "unused109", "unused110", "unused111", "unused112", "unused113", "unused114", "unused115", "unused116", "unused117", "unused118", "unused119", "unused120", "unused121", "unused122", "unused123", "unused124", "unused125", "unused126", "unused127", "unused128", "unused129", "unused130", "unused131", "unused132", "unused133", "unused134", "unused135", "unused136", "unused137", "unused138", "unused139", "unused140", "unused141", "unused142", "unused143", "unused144", "unused145", "unused146", "unused147", "unused148", "unused149", "unused150", "unused151", "unused152", "unused153", "unused154", "unused155", "unused156", "unused157", "unused158", "unused159", "unused160", "unused161", "unused162", "unused163", "unused164", "unused165", "unused166", "unused167", "unused168", "unused169", "unused170", "unused171", "unused172", "unused173", "unused174", "unused175", "unused176", "unused177", "unused178", "unused179", "unused180", "unused181", "unused182", "unused183", "unused184", "unused185", "unused186", "unused187", "unused188", "unused189", "unused190", "unused191", "unused192", "unused193", "unused194", "unused195", "unused196", "unused197", "unused198", "unused199", "unused200", "unused201", "unused202", "unused203", "unused204", "unused205", "unused206", "unused207", "unused208", "unused209", "unused210", "unused211", "unused212", "unused213", "unused214", "unused215", "unused216", "unused217", "unused218", "unused219", "unused220", "unused221", "unused222", "unused223", "unused224", "unused225", "unused226", "unused227", "unused228", "unused229", "unused230", "unused231", "unused232", "unused233", "unused234", "unused235", "unused236", "unused237", "unused238", "unused239", "unused240", "unused241", "unused242", "unused243", "unused244", "unused245", "unused246", "unused247", "unused248", "unused249", "unused250", "unused251", "unused252", "unused253", "unused254", "unused255"], "optional": 1, "type": "string"}, "target-vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "optional": 1, "type": "integer", "typetext": "<integer> (100 - 999999999)"}, "vmid": {"description": "The (unique) ID of the VM.", "format": "pve-vmid", "maximum": 999999999, "minimum": 100, "type": "integer", "typetext": "<integer> (100 - 999999999)"}}"#,
    )
}

pub(super) fn move_vm_disk_returns() -> Value {
    json!({"description": "the task ID.", "type": "string"})
}

pub(super) fn move_vm_disk_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{"check": ["perm", "/vms/{vmid}", ["VM.Config.Disk"]], "description": "You need 'VM.Config.Disk' permissions on /vms/{vmid}, and 'Datastore.AllocateSpace' permissions on the storage. To move a disk to another VM, you need the permissions on the target VM as well."}"#,
    )
}

pub(super) fn move_vm_disk_description() -> &'static str {
    "Move volume to different storage or to a different VM."
}
