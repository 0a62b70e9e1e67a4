//! Upstream's parameter, return and permission schemas of the storage API methods,
//! as published in the API schema (pve-storage 9.1.7).

use serde_json::{json, Value};

pub(super) fn storage_index_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "type": {
            "description": "Only list storage of specific type",
            "enum": [
                "btrfs",
                "cephfs",
                "cifs",
                "dir",
                "esxi",
                "iscsi",
                "iscsidirect",
                "lvm",
                "lvmthin",
                "nfs",
                "pbs",
                "rbd",
                "zfs",
                "zfspool"
            ],
            "optional": 1,
            "type": "string"
        }
    }"#,
    )
}

pub(super) fn storage_index_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "items": {
            "properties": {
                "storage": {
                    "type": "string"
                }
            },
            "type": "object"
        },
        "links": [
            {
                "href": "{storage}",
                "rel": "child"
            }
        ],
        "type": "array"
    }"#,
    )
}

pub(super) fn storage_index_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "Only list entries where you have 'Datastore.Audit' or 'Datastore.AllocateSpace' permissions on '/storage/<storage>'",
        "user": "all"
    }"#,
    )
}

pub(super) fn storage_read_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        }
    }"#,
    )
}

pub(super) fn storage_read_returns() -> Value {
    json!({
        "type": "object"
    })
}

pub(super) fn storage_read_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.Allocate"
            ]
        ]
    }"#,
    )
}

pub(super) fn storage_delete_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        }
    }"#,
    )
}

pub(super) fn storage_delete_returns() -> Value {
    json!({
        "type": "null"
    })
}

pub(super) fn storage_delete_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage",
            [
                "Datastore.Allocate"
            ]
        ]
    }"#,
    )
}

pub(super) fn storage_create_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "properties": {
            "config": {
                "additionalProperties": 1,
                "description": "Partial, possibly server generated, configuration properties.",
                "optional": 1,
                "properties": {
                    "encryption-key": {
                        "description": "The, possibly auto-generated, encryption-key.",
                        "optional": 1,
                        "type": "string"
                    }
                },
                "type": "object"
            },
            "storage": {
                "description": "The ID of the created storage.",
                "type": "string"
            },
            "type": {
                "description": "The type of the created storage.",
                "enum": [
                    "btrfs",
                    "cephfs",
                    "cifs",
                    "dir",
                    "esxi",
                    "iscsi",
                    "iscsidirect",
                    "lvm",
                    "lvmthin",
                    "nfs",
                    "pbs",
                    "rbd",
                    "zfs",
                    "zfspool"
                ],
                "type": "string"
            }
        },
        "type": "object"
    }"#,
    )
}

pub(super) fn storage_create_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage",
            [
                "Datastore.Allocate"
            ]
        ]
    }"#,
    )
}

pub(super) fn storage_update_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "properties": {
            "config": {
                "additionalProperties": 1,
                "description": "Partial, possibly server generated, configuration properties.",
                "optional": 1,
                "properties": {
                    "encryption-key": {
                        "description": "The, possibly auto-generated, encryption-key.",
                        "optional": 1,
                        "type": "string"
                    }
                },
                "type": "object"
            },
            "storage": {
                "description": "The ID of the created storage.",
                "type": "string"
            },
            "type": {
                "description": "The type of the created storage.",
                "enum": [
                    "btrfs",
                    "cephfs",
                    "cifs",
                    "dir",
                    "esxi",
                    "iscsi",
                    "iscsidirect",
                    "lvm",
                    "lvmthin",
                    "nfs",
                    "pbs",
                    "rbd",
                    "zfs",
                    "zfspool"
                ],
                "type": "string"
            }
        },
        "type": "object"
    }"#,
    )
}

pub(super) fn storage_update_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage",
            [
                "Datastore.Allocate"
            ]
        ]
    }"#,
    )
}

pub(super) fn status_index_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "content": {
            "description": "Only list stores which support this content type.",
            "format": "pve-storage-content-list",
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        },
        "enabled": {
            "default": 0,
            "description": "Only list stores which are enabled (not disabled in config).",
            "optional": 1,
            "type": "boolean",
            "typetext": "<boolean>"
        },
        "format": {
            "default": 0,
            "description": "Include information about formats",
            "optional": 1,
            "type": "boolean",
            "typetext": "<boolean>"
        },
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "Only list status for  specified storage",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "optional": 1,
            "type": "string",
            "typetext": "<storage ID>"
        },
        "target": {
            "description": "If target is different to 'node', we only lists shared storages which content is accessible on this 'node' and the specified 'target' node.",
            "format": "pve-node",
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        }
    }"#,
    )
}

pub(super) fn status_index_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "items": {
            "properties": {
                "active": {
                    "description": "Set when storage is accessible.",
                    "optional": 1,
                    "type": "boolean"
                },
                "avail": {
                    "description": "Available storage space in bytes.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "content": {
                    "description": "Allowed storage content types.",
                    "format": "pve-storage-content-list",
                    "type": "string"
                },
                "enabled": {
                    "description": "Set when storage is enabled (not disabled).",
                    "optional": 1,
                    "type": "boolean"
                },
                "formats": {
                    "description": "Lists the supported and default format. Use 'formats' instead. Only included if 'format' parameter is set.",
                    "optional": 1,
                    "properties": {
                        "default": {
                            "description": "The default format of the storage.",
                            "enum": [
                                "qcow2",
                                "raw",
                                "subvol",
                                "vmdk"
                            ],
                            "type": "string"
                        },
                        "supported": {
                            "description": "The list of supported formats",
                            "items": {
                                "enum": [
                                    "qcow2",
                                    "raw",
                                    "subvol",
                                    "vmdk"
                                ],
                                "type": "string"
                            },
                            "type": "array"
                        }
                    },
                    "type": "object"
                },
                "select_existing": {
                    "description": "Instead of creating new volumes, one must select one that is already existing. Only included if 'format' parameter is set.",
                    "optional": 1,
                    "type": "boolean"
                },
                "shared": {
                    "description": "Shared flag from storage configuration.",
                    "optional": 1,
                    "type": "boolean"
                },
                "storage": {
                    "description": "The storage identifier.",
                    "format": "pve-storage-id",
                    "format_description": "storage ID",
                    "type": "string"
                },
                "total": {
                    "description": "Total storage space in bytes.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "type": {
                    "description": "Storage type.",
                    "type": "string"
                },
                "used": {
                    "description": "Used storage space in bytes.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "used_fraction": {
                    "description": "Used fraction (used/total).",
                    "optional": 1,
                    "renderer": "fraction_as_percentage",
                    "type": "number"
                }
            },
            "type": "object"
        },
        "links": [
            {
                "href": "{storage}",
                "rel": "child"
            }
        ],
        "type": "array"
    }"#,
    )
}

pub(super) fn status_index_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "Only list entries where you have 'Datastore.Audit' or 'Datastore.AllocateSpace' permissions on '/storage/<storage>'",
        "user": "all"
    }"#,
    )
}

pub(super) fn storage_diridx_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        }
    }"#,
    )
}

pub(super) fn storage_diridx_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "items": {
            "properties": {
                "subdir": {
                    "type": "string"
                }
            },
            "type": "object"
        },
        "links": [
            {
                "href": "{subdir}",
                "rel": "child"
            }
        ],
        "type": "array"
    }"#,
    )
}

pub(super) fn storage_diridx_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.Audit",
                "Datastore.AllocateSpace"
            ],
            "any",
            1
        ]
    }"#,
    )
}

pub(super) fn storage_status_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        }
    }"#,
    )
}

pub(super) fn storage_status_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "properties": {
            "active": {
                "description": "Set when storage is accessible.",
                "optional": 1,
                "type": "boolean"
            },
            "avail": {
                "description": "Available storage space in bytes.",
                "optional": 1,
                "renderer": "bytes",
                "type": "integer"
            },
            "content": {
                "description": "Allowed storage content types.",
                "format": "pve-storage-content-list",
                "type": "string"
            },
            "enabled": {
                "description": "Set when storage is enabled (not disabled).",
                "optional": 1,
                "type": "boolean"
            },
            "shared": {
                "description": "Shared flag from storage configuration.",
                "optional": 1,
                "type": "boolean"
            },
            "total": {
                "description": "Total storage space in bytes.",
                "optional": 1,
                "renderer": "bytes",
                "type": "integer"
            },
            "type": {
                "description": "Storage type.",
                "type": "string"
            },
            "used": {
                "description": "Used storage space in bytes.",
                "optional": 1,
                "renderer": "bytes",
                "type": "integer"
            }
        },
        "type": "object"
    }"#,
    )
}

pub(super) fn storage_status_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.Audit",
                "Datastore.AllocateSpace"
            ],
            "any",
            1
        ]
    }"#,
    )
}

pub(super) fn content_index_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "content": {
            "description": "Only list content of this type.",
            "format": "pve-storage-content",
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        },
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        },
        "vmid": {
            "description": "Only list images for this VM",
            "format": "pve-vmid",
            "maximum": 999999999,
            "minimum": 100,
            "optional": 1,
            "type": "integer",
            "typetext": "<integer> (100 - 999999999)"
        }
    }"#,
    )
}

pub(super) fn content_index_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "items": {
            "properties": {
                "approximate-size": {
                    "description": "Approximate volume size in bytes. Present instead of 'size' for storages where determining the exact size has technical limitations. Will typically be an upper bound on the actual size, but the exact semantics depend on the storage plugin.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "ctime": {
                    "description": "Creation time (seconds since the UNIX Epoch).",
                    "minimum": 0,
                    "optional": 1,
                    "type": "integer"
                },
                "encrypted": {
                    "description": "If whole backup is encrypted, value is the fingerprint or '1'  if encrypted. Only useful for the Proxmox Backup Server storage type.",
                    "optional": 1,
                    "type": "string"
                },
                "format": {
                    "description": "Format identifier ('raw', 'qcow2', 'subvol', 'iso', 'tgz' ...)",
                    "type": "string"
                },
                "notes": {
                    "description": "Optional notes. If they contain multiple lines, only the first one is returned here.",
                    "optional": 1,
                    "type": "string"
                },
                "parent": {
                    "description": "Volume identifier of parent (for linked cloned).",
                    "optional": 1,
                    "type": "string"
                },
                "protected": {
                    "description": "Protection status. Currently only supported for backups.",
                    "optional": 1,
                    "type": "boolean"
                },
                "size": {
                    "description": "Volume size in bytes.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "used": {
                    "description": "Used space. Please note that most storage plugins do not report anything useful here.",
                    "optional": 1,
                    "renderer": "bytes",
                    "type": "integer"
                },
                "verification": {
                    "description": "Last backup verification result, only useful for PBS storages.",
                    "optional": 1,
                    "properties": {
                        "state": {
                            "description": "Last backup verification state.",
                            "type": "string"
                        },
                        "upid": {
                            "description": "Last backup verification UPID.",
                            "type": "string"
                        }
                    },
                    "type": "object"
                },
                "vmid": {
                    "description": "Associated Owner VMID.",
                    "optional": 1,
                    "type": "integer"
                },
                "volid": {
                    "description": "Volume identifier.",
                    "type": "string"
                }
            },
            "type": "object"
        },
        "links": [
            {
                "href": "{volid}",
                "rel": "child"
            }
        ],
        "type": "array"
    }"#,
    )
}

pub(super) fn content_index_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.Audit",
                "Datastore.AllocateSpace"
            ],
            "any",
            1
        ]
    }"#,
    )
}

pub(super) fn content_create_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "filename": {
            "description": "The name of the file to create.",
            "type": "string",
            "typetext": "<string>"
        },
        "format": {
            "description": "Format of the image.",
            "enum": [
                "raw",
                "qcow2",
                "subvol",
                "vmdk"
            ],
            "optional": 1,
            "requires": "size",
            "type": "string"
        },
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "size": {
            "description": "Size in kilobyte (1024 bytes). Optional suffixes 'M' (megabyte, 1024K) and 'G' (gigabyte, 1024M)",
            "pattern": "\\d+[MG]?",
            "type": "string"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        },
        "vmid": {
            "description": "Specify owner VM",
            "format": "pve-vmid",
            "maximum": 999999999,
            "minimum": 100,
            "type": "integer",
            "typetext": "<integer> (100 - 999999999)"
        }
    }"#,
    )
}

pub(super) fn content_create_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "Volume identifier",
        "type": "string"
    }"#,
    )
}

pub(super) fn content_create_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.AllocateSpace"
            ]
        ]
    }"#,
    )
}

pub(super) fn volume_info_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "optional": 1,
            "type": "string",
            "typetext": "<storage ID>"
        },
        "volume": {
            "description": "Volume identifier",
            "type": "string",
            "typetext": "<string>"
        }
    }"#,
    )
}

pub(super) fn volume_info_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "properties": {
            "format": {
                "description": "Format identifier ('raw', 'qcow2', 'subvol', 'iso', 'tgz' ...)",
                "type": "string"
            },
            "notes": {
                "description": "Optional notes.",
                "optional": 1,
                "type": "string"
            },
            "path": {
                "description": "The Path",
                "type": "string"
            },
            "protected": {
                "description": "Protection status. Currently only supported for backups.",
                "optional": 1,
                "type": "boolean"
            },
            "size": {
                "description": "Volume size in bytes.",
                "renderer": "bytes",
                "type": "integer"
            },
            "used": {
                "description": "Used space. Please note that most storage plugins do not report anything useful here.",
                "renderer": "bytes",
                "type": "integer"
            }
        },
        "type": "object"
    }"#,
    )
}

pub(super) fn volume_info_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "You need read access for the volume.",
        "user": "all"
    }"#,
    )
}

pub(super) fn volume_update_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "notes": {
            "description": "The new notes.",
            "optional": 1,
            "type": "string",
            "typetext": "<string>"
        },
        "protected": {
            "description": "Protection status. Currently only supported for backups.",
            "optional": 1,
            "type": "boolean",
            "typetext": "<boolean>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "optional": 1,
            "type": "string",
            "typetext": "<storage ID>"
        },
        "volume": {
            "description": "Volume identifier",
            "type": "string",
            "typetext": "<string>"
        }
    }"#,
    )
}

pub(super) fn volume_update_returns() -> Value {
    json!({
        "type": "null"
    })
}

pub(super) fn volume_update_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "You need read access for the volume.",
        "user": "all"
    }"#,
    )
}

pub(super) fn volume_delete_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "delay": {
            "description": "Time to wait for the task to finish. We return 'null' if the task finish within that time.",
            "maximum": 30,
            "minimum": 1,
            "optional": 1,
            "type": "integer",
            "typetext": "<integer> (1 - 30)"
        },
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "optional": 1,
            "type": "string",
            "typetext": "<storage ID>"
        },
        "volume": {
            "description": "Volume identifier",
            "type": "string",
            "typetext": "<string>"
        }
    }"#,
    )
}

pub(super) fn volume_delete_returns() -> Value {
    json!({
        "optional": 1,
        "type": "string"
    })
}

pub(super) fn volume_delete_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "You need 'Datastore.Allocate' privilege on the storage (or 'Datastore.AllocateSpace' for backup volumes if you have VM.Backup privilege on the VM).",
        "user": "all"
    }"#,
    )
}

pub(super) fn prune_dryrun_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "prune-backups": {
            "description": "Use these retention options instead of those from the storage configuration.",
            "format": "prune-backups",
            "optional": 1,
            "type": "string",
            "typetext": "[keep-all=<1|0>] [,keep-daily=<N>] [,keep-hourly=<N>] [,keep-last=<N>] [,keep-monthly=<N>] [,keep-weekly=<N>] [,keep-yearly=<N>]"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        },
        "type": {
            "description": "Either 'qemu' or 'lxc'. Only consider backups for guests of this type.",
            "enum": [
                "qemu",
                "lxc"
            ],
            "optional": 1,
            "type": "string"
        },
        "vmid": {
            "description": "Only consider backups for this guest.",
            "format": "pve-vmid",
            "maximum": 999999999,
            "minimum": 100,
            "optional": 1,
            "type": "integer",
            "typetext": "<integer> (100 - 999999999)"
        }
    }"#,
    )
}

pub(super) fn prune_dryrun_returns() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "items": {
            "properties": {
                "ctime": {
                    "description": "Creation time of the backup (seconds since the UNIX epoch).",
                    "type": "integer"
                },
                "mark": {
                    "description": "Whether the backup would be kept or removed. Backups that are protected or don't use the standard naming scheme are not removed.",
                    "enum": [
                        "keep",
                        "remove",
                        "protected",
                        "renamed"
                    ],
                    "type": "string"
                },
                "type": {
                    "description": "One of 'qemu', 'lxc', 'openvz' or 'unknown'.",
                    "type": "string"
                },
                "vmid": {
                    "description": "The VM the backup belongs to.",
                    "optional": 1,
                    "type": "integer"
                },
                "volid": {
                    "description": "Backup volume ID.",
                    "type": "string"
                }
            },
            "type": "object"
        },
        "type": "array"
    }"#,
    )
}

pub(super) fn prune_dryrun_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "check": [
            "perm",
            "/storage/{storage}",
            [
                "Datastore.Audit",
                "Datastore.AllocateSpace"
            ],
            "any",
            1
        ]
    }"#,
    )
}

pub(super) fn prune_delete_params() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
            "typetext": "<string>"
        },
        "prune-backups": {
            "description": "Use these retention options instead of those from the storage configuration.",
            "format": "prune-backups",
            "optional": 1,
            "type": "string",
            "typetext": "[keep-all=<1|0>] [,keep-daily=<N>] [,keep-hourly=<N>] [,keep-last=<N>] [,keep-monthly=<N>] [,keep-weekly=<N>] [,keep-yearly=<N>]"
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "format_description": "storage ID",
            "type": "string",
            "typetext": "<storage ID>"
        },
        "type": {
            "description": "Either 'qemu' or 'lxc'. Only consider backups for guests of this type.",
            "enum": [
                "qemu",
                "lxc"
            ],
            "optional": 1,
            "type": "string"
        },
        "vmid": {
            "description": "Only prune backups for this VM.",
            "format": "pve-vmid",
            "maximum": 999999999,
            "minimum": 100,
            "optional": 1,
            "type": "integer",
            "typetext": "<integer> (100 - 999999999)"
        }
    }"#,
    )
}

pub(super) fn prune_delete_returns() -> Value {
    json!({
        "type": "string"
    })
}

pub(super) fn prune_delete_permissions() -> Value {
    pve_common::schema::json_lit(
        r#"{
        "description": "You need the 'Datastore.Allocate' privilege on the storage (or if a VM ID is specified, 'Datastore.AllocateSpace' and 'VM.Backup' for the VM).",
        "user": "all"
    }"#,
    )
}
