//! Drives: parsing of the drive property strings, `-blockdev` trees (QEMU machine
//! 10.0+ style) and the guest-visible `-device` of each drive, as upstream's
//! `PVE::QemuServer::{Drive, Blockdev, DriveDevice}`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// Config keys holding drives, in upstream's iteration order.
pub fn drive_keys() -> Vec<String> {
    let mut keys = Vec::new();
    keys.extend((0..4).map(|i| format!("ide{i}")));
    keys.extend((0..31).map(|i| format!("scsi{i}")));
    keys.extend((0..16).map(|i| format!("virtio{i}")));
    keys.extend((0..6).map(|i| format!("sata{i}")));
    keys.push("efidisk0".into());
    keys.push("tpmstate0".into());
    keys
}

/// One parsed drive.
#[derive(Clone, Debug)]
pub struct Drive {
    pub id: String,
    pub interface: String,
    pub index: u32,
    pub file: String,
    pub opts: BTreeMap<String, String>,
}

const DRIVE_OPTS: &[&str] = &[
    "file",
    "media",
    "discard",
    "cache",
    "aio",
    "iothread",
    "ssd",
    "serial",
    "size",
    "format",
    "detect_zeroes",
    "ro",
    "backup",
    "replicate",
    "wwn",
    "rerror",
    "werror",
    "mbps",
    "mbps_rd",
    "mbps_wr",
    "mbps_max",
    "mbps_rd_max",
    "mbps_wr_max",
    "iops",
    "iops_rd",
    "iops_wr",
    "iops_max",
    "iops_rd_max",
    "iops_wr_max",
    "bps_max_length",
    "bps_rd_max_length",
    "bps_wr_max_length",
    "iops_max_length",
    "iops_rd_max_length",
    "iops_wr_max_length",
    "model",
    "vendor",
    "product",
    "shared",
    "queues",
    "efitype",
    "pre-enrolled-keys",
    "ms-cert",
    "version",
];

impl Drive {
    pub fn parse(id: &str, value: &str) -> Result<Drive, String> {
        let split = id
            .find(|c: char| c.is_ascii_digit())
            .ok_or_else(|| format!("invalid drive key '{id}'"))?;
        let (interface, index) = id.split_at(split);
        let mut drive = Drive {
            id: id.to_string(),
            interface: interface.to_string(),
            index: index
                .parse()
                .map_err(|_| format!("invalid drive key '{id}'"))?,
            file: String::new(),
            opts: BTreeMap::new(),
        };
        for (i, part) in value.split(',').enumerate() {
            match part.split_once('=') {
                None if i == 0 => drive.file = part.to_string(),
                Some(("file", v)) => drive.file = v.to_string(),
                Some((k, v)) if DRIVE_OPTS.contains(&k) => {
                    drive.opts.insert(k.to_string(), v.to_string());
                }
                Some((k, _)) => {
                    return Err(format!("not implemented yet: drive option '{k}' ({id})"))
                }
                None => return Err(format!("unable to parse drive options '{value}'")),
            }
        }
        Ok(drive)
    }

    pub fn opt(&self, k: &str) -> Option<&str> {
        self.opts.get(k).map(String::as_str)
    }

    pub fn is_cdrom(&self) -> bool {
        self.opt("media") == Some("cdrom")
    }

    fn flag(&self, k: &str) -> bool {
        self.opt(k)
            .is_some_and(|v| v == "1" || v == "on" || v == "yes" || v == "true")
    }
}

/// One file of an external snapshot chain.
#[derive(Clone, Debug)]
pub struct SnapshotFile {
    pub name: String,
    pub file: String,
    pub parent: Option<String>,
}

/// Where and how a volume is reached.
pub struct VolumeInfo {
    /// `file`, `host_device` or `host_cdrom`.
    pub driver: &'static str,
    pub filename: String,
    pub format: String,
    /// Storage type (`dir`, `lvm`, …); `None` for plain paths.
    pub storage_type: Option<String>,
    pub nocow: bool,
    pub is_iso: bool,
    /// A network protocol node (librbd, libiscsi) instead of a host file/device.
    pub protocol: Option<serde_json::Map<String, Value>>,
    /// The storage keeps snapshots as a chain of qcow2 volumes.
    pub volume_chain: bool,
    /// The volume's snapshot chain (name, file, parent), `current` included.
    pub chain: Option<Vec<SnapshotFile>>,
    /// krbd mapping (affects the io_uring default).
    pub krbd: bool,
}

/// Resolves a volume id or path against storage.cfg (the storage types whose volumes
/// are plain files or block devices).
pub fn resolve_volume(
    drive: &Drive,
    storage: Option<&pve_storage::StorageConfig>,
    cdrom_path: &str,
    iscsi_lun: Option<u64>,
) -> Result<VolumeInfo, String> {
    let file = drive.file.as_str();
    if file == "cdrom" {
        return Ok(VolumeInfo {
            driver: "host_cdrom",
            filename: cdrom_path.to_string(),
            format: "raw".into(),
            storage_type: None,
            nocow: false,
            is_iso: false,
            protocol: None,
            krbd: false,
            volume_chain: false,
            chain: None,
        });
    }
    if file.starts_with('/') {
        let dev = file.contains("/dev/");
        return Ok(VolumeInfo {
            driver: match (dev, drive.is_cdrom()) {
                (true, true) => "host_cdrom",
                (true, false) => "host_device",
                _ => "file",
            },
            filename: file.to_string(),
            format: drive.opt("format").unwrap_or("raw").to_string(),
            storage_type: None,
            nocow: false,
            is_iso: false,
            protocol: None,
            krbd: false,
            volume_chain: false,
            chain: None,
        });
    }
    let (storeid, volname) = file
        .split_once(':')
        .ok_or_else(|| format!("unable to parse volume ID '{file}'"))?;
    let storage = storage.ok_or("no storage configuration")?;
    let scfg = storage
        .storage(storeid)
        .map_err(|_| format!("storage '{storeid}' does not exist\n"))?;
    let raw = |k: &str| {
        scfg.raw.get(k).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
    };
    let volume_chain = raw("snapshot-as-volume-chain").is_some_and(|v| v == "1" || v == "true");
    let stype = scfg.storage_type.clone();
    let ext_format = |name: &str| -> String {
        name.rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| ["raw", "qcow2", "vmdk", "subvol"].contains(e))
            .unwrap_or("raw")
            .to_string()
    };
    let (filename, format, is_iso, driver) = match stype.as_str() {
        "dir" | "cifs" | "nfs" | "btrfs" | "cephfs" | "glusterfs" => {
            let base = scfg.path.clone().unwrap_or_default();
            if let Some(iso) = volname.strip_prefix("iso/") {
                (
                    format!("{base}/template/iso/{iso}"),
                    "raw".to_string(),
                    true,
                    "file",
                )
            } else {
                // `VMID/NAME`, or a linked clone's `BASEVMID/BASENAME/VMID/NAME` (the
                // image lives with the clone)
                let (rest, name) = volname
                    .rsplit_once('/')
                    .ok_or_else(|| format!("unable to parse directory volume name '{volname}'"))?;
                let owner = rest.rsplit('/').next().unwrap_or(rest);
                let format = ext_format(name);
                let path = if stype == "btrfs" && format == "raw" {
                    let stem = name.strip_suffix(".raw").unwrap_or(name);
                    format!("{base}/images/{owner}/{stem}/disk.raw")
                } else {
                    format!("{base}/images/{owner}/{name}")
                };
                (path, format, false, "file")
            }
        }
        "lvm" | "lvmthin" => {
            let vg = raw("vgname").unwrap_or_default();
            (
                format!("/dev/{vg}/{volname}"),
                ext_format(volname),
                false,
                "host_device",
            )
        }
        "rbd" => {
            let pool = raw("pool").unwrap_or_else(|| "rbd".into());
            let krbd = raw("krbd").is_some_and(|v| v == "1" || v == "true");
            if krbd {
                let fsid = raw("fsid").unwrap_or_default();
                let ns = raw("namespace")
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default();
                return Ok(VolumeInfo {
                    driver: "host_device",
                    filename: format!("/dev/rbd-pve/{fsid}/{pool}/{ns}{volname}"),
                    format: "raw".into(),
                    storage_type: Some(stype),
                    nocow: false,
                    is_iso: false,
                    protocol: None,
                    krbd: true,
                    volume_chain: false,
                    chain: None,
                });
            }
            let mut m = serde_json::Map::new();
            m.insert("driver".into(), json!("rbd"));
            m.insert("pool".into(), json!(pool));
            m.insert("image".into(), json!(volname));
            if let Some(ns) = raw("namespace") {
                m.insert("namespace".into(), json!(ns));
            }
            let monhost = raw("monhost").unwrap_or_default();
            let servers: Vec<Value> = monhost
                .split([',', ';', ' '])
                .filter(|h| !h.is_empty())
                .map(|h| {
                    let (host, port) = split_mon(h);
                    json!({"host": host, "port": port.unwrap_or("3300")})
                })
                .collect();
            if !servers.is_empty() {
                m.insert("server".into(), Value::Array(servers));
            }
            // no keyring for the storage: cephx is off
            m.insert("auth-client-required".into(), json!(["none"]));
            return Ok(VolumeInfo {
                driver: "rbd",
                filename: String::new(),
                format: "raw".into(),
                storage_type: Some(stype),
                nocow: false,
                is_iso: false,
                protocol: Some(m),
                krbd: false,
                volume_chain: false,
                chain: None,
            });
        }
        "zfs" if raw("iscsiprovider").is_some() => {
            let lun = iscsi_lun.ok_or("not implemented yet: ZFS over iSCSI LUN lookup")?;
            let mut m = serde_json::Map::new();
            m.insert("driver".into(), json!("iscsi"));
            m.insert("transport".into(), json!("tcp"));
            m.insert("portal".into(), json!(raw("portal").unwrap_or_default()));
            m.insert("target".into(), json!(raw("target").unwrap_or_default()));
            m.insert("lun".into(), json!(lun));
            return Ok(VolumeInfo {
                driver: "iscsi",
                filename: format!(
                    "iscsi://{}/{}/{lun}",
                    raw("portal").unwrap_or_default(),
                    raw("target").unwrap_or_default()
                ),
                format: "raw".into(),
                storage_type: Some(stype),
                nocow: false,
                is_iso: false,
                protocol: Some(m),
                krbd: false,
                volume_chain: false,
                chain: None,
            });
        }
        other => return Err(format!("not implemented yet: '{other}' storage volumes")),
    };
    Ok(VolumeInfo {
        driver,
        filename,
        format,
        storage_type: Some(stype),
        nocow: raw("nocow").is_some_and(|v| v == "1"),
        is_iso,
        protocol: None,
        krbd: false,
        volume_chain,
        chain: None,
    })
}

/// `host[:port]` of a Ceph monitor (IPv6 in brackets when a port is given).
fn split_mon(h: &str) -> (&str, Option<&str>) {
    if let Some(rest) = h.strip_prefix('[') {
        if let Some((host, tail)) = rest.split_once(']') {
            return (host, tail.strip_prefix(':'));
        }
    }
    if h.matches(':').count() == 1 {
        let (host, port) = h.split_once(':').unwrap_or((h, ""));
        return (host, Some(port));
    }
    (h, None)
}

/// The 30-hex-digit node name of a block node.
#[cfg(test)]
pub fn node_name(prefix: char, drive_id: &str, volid: &str) -> String {
    node_name_snap(prefix, drive_id, None, volid)
}

/// Node name of a snapshot's node (`snap=NAME,` is part of the hashed info).
pub fn node_name_snap(prefix: char, drive_id: &str, snap: Option<&str>, volid: &str) -> String {
    let snap = snap.map(|s| format!("snap={s},")).unwrap_or_default();
    let info = format!("drive={drive_id},{snap}volid={volid}");
    let digest = pve_common::digest::sha256(info.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..30])
}

/// The `throttle-group` object of a drive.
pub fn throttle_group(drive: &Drive) -> Value {
    let mut limits = serde_json::Map::new();
    for (dir, qmp) in [("", "-total"), ("_rd", "-read"), ("_wr", "-write")] {
        let num = |k: String| {
            drive
                .opt(&k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v != 0.0)
        };
        if let Some(v) = num(format!("mbps{dir}")) {
            limits.insert(format!("bps{qmp}"), json!((v * 1024.0 * 1024.0) as i64));
        }
        if let Some(v) = num(format!("mbps{dir}_max")) {
            limits.insert(format!("bps{qmp}-max"), json!((v * 1024.0 * 1024.0) as i64));
        }
        if let Some(v) = num(format!("bps{dir}_max_length")) {
            limits.insert(format!("bps{qmp}-max-length"), json!(v as i64));
        }
        if let Some(v) = num(format!("iops{dir}")) {
            limits.insert(format!("iops{qmp}"), json!(v as i64));
        }
        if let Some(v) = num(format!("iops{dir}_max")) {
            limits.insert(format!("iops{qmp}-max"), json!(v as i64));
        }
        if let Some(v) = num(format!("iops{dir}_max_length")) {
            limits.insert(format!("iops{qmp}-max-length"), json!(v as i64));
        }
    }
    json!({
        "id": format!("throttle-drive-{}", drive.id),
        "limits": Value::Object(limits),
        "qom-type": "throttle-group",
    })
}

fn cache_direct(drive: &Drive, vol: &VolumeInfo) -> bool {
    match drive.opt("cache") {
        Some(c) => matches!(c, "off" | "none" | "directsync"),
        None => !drive.is_cdrom() && (vol.storage_type.as_deref() != Some("btrfs") || vol.nocow),
    }
}

fn aio(drive: &Drive, vol: &VolumeInfo, direct: bool) -> String {
    if let Some(a) = drive.opt("aio") {
        return a.to_string();
    }
    let st = vol.storage_type.as_deref();
    let uring = !matches!(st, Some("lvm") | Some("cifs")) && (!vol.krbd || direct);
    if uring {
        "io_uring".into()
    } else if direct {
        "native".into()
    } else {
        "threads".into()
    }
}

fn add_common(node: &mut serde_json::Map<String, Value>, drive: &Drive, read_only: bool) {
    if !drive.is_cdrom() {
        let discard = drive.opt("discard") == Some("on");
        node.insert(
            "discard".into(),
            json!(if discard { "unmap" } else { "ignore" }),
        );
        let dz = if drive.opt("detect_zeroes") == Some("0") {
            "off"
        } else if let Some(d) = drive.opt("discard") {
            if d == "on" {
                "unmap"
            } else {
                "on"
            }
        } else {
            "on"
        };
        node.insert("detect-zeroes".into(), json!(dz));
    }
    node.insert(
        "read-only".into(),
        json!(drive.flag("ro") || drive.is_cdrom() || read_only),
    );
}

/// The format node (with its file/protocol child) of a drive or one of its snapshots.
fn format_node(
    drive: &Drive,
    vol: &VolumeInfo,
    read_only: bool,
    snap: Option<&str>,
    filename: &str,
) -> serde_json::Map<String, Value> {
    let direct = cache_direct(drive, vol);
    let cache = json!({
        "direct": direct,
        "no-flush": drive.opt("cache") == Some("unsafe"),
    });
    let mut file = serde_json::Map::new();
    if let Some(node) = &vol.protocol {
        file.extend(node.clone());
        let cache = if drive.interface == "efidisk" {
            json!({"direct": false, "no-flush": false})
        } else {
            cache.clone()
        };
        file.insert("cache".into(), cache);
    } else {
        file.insert("driver".into(), json!(vol.driver));
        file.insert("filename".into(), json!(filename));
        file.insert("cache".into(), cache.clone());
        file.insert("aio".into(), json!(aio(drive, vol, direct)));
    }
    file.insert(
        "node-name".into(),
        json!(node_name_snap('e', &drive.id, snap, &drive.file)),
    );
    add_common(&mut file, drive, read_only);

    let mut fmt = serde_json::Map::new();
    fmt.insert(
        "node-name".into(),
        json!(node_name_snap('f', &drive.id, snap, &drive.file)),
    );
    fmt.insert("driver".into(), json!(vol.format));
    let file_cache = file["cache"].clone();
    fmt.insert("file".into(), Value::Object(file));
    fmt.insert("cache".into(), file_cache);
    add_common(&mut fmt, drive, read_only);
    if vol.volume_chain && vol.format == "qcow2" {
        fmt.insert("discard-no-unref".into(), json!(true));
    }
    fmt
}

/// The `-blockdev` tree of a drive: throttle → format → file.
pub fn drive_blockdev(
    drive: &Drive,
    vol: &VolumeInfo,
    read_only: bool,
    size: Option<u64>,
) -> Result<Value, String> {
    if let Some(f) = drive.opt("format") {
        if !drive.file.starts_with('/') && drive.file != "cdrom" && f != vol.format {
            return Err(format!(
                "drive '{}' - volume '{}' - 'format={f}' option different from storage format '{}'\n",
                drive.id, drive.file, vol.format
            ));
        }
    }
    if vol.is_iso && drive.opt("media").is_none() {
        return Err(format!(
            "{}: explicit media parameter is required for iso images\n",
            drive.id
        ));
    }
    let mut fmt = format_node(drive, vol, read_only, None, &vol.filename);
    if let Some(size) = size {
        fmt.insert("size".into(), json!(size));
    }
    // external snapshot chain: each snapshot file is the backing node of the next
    if let Some(chain) = &vol.chain {
        let mut parent = chain
            .iter()
            .find(|s| s.name == "current")
            .and_then(|s| s.parent.clone());
        let mut backings = Vec::new();
        while let Some(p) = parent {
            let snap = chain
                .iter()
                .find(|s| s.name == p)
                .ok_or_else(|| format!("snapshot '{p}' missing from the volume chain"))?;
            backings.push(format_node(
                drive,
                vol,
                read_only,
                Some(&snap.name),
                &snap.file,
            ));
            parent = snap.parent.clone();
        }
        let mut below: Option<serde_json::Map<String, Value>> = None;
        for mut node in backings.into_iter().rev() {
            if let Some(b) = below.take() {
                node.insert("backing".into(), Value::Object(b));
            }
            below = Some(node);
        }
        if let Some(b) = below {
            fmt.insert("backing".into(), Value::Object(b));
        }
    }

    let mut top = serde_json::Map::new();
    top.insert("driver".into(), json!("throttle"));
    top.insert("node-name".into(), json!(format!("drive-{}", drive.id)));
    top.insert(
        "throttle-group".into(),
        json!(format!("throttle-drive-{}", drive.id)),
    );
    top.insert("file".into(), Value::Object(fmt));
    add_common(&mut top, drive, read_only);
    Ok(Value::Object(top))
}

/// The legacy `-drive` argument (machines before 10.0).
pub fn drive_commandline(drive: &Drive, vol: Option<&VolumeInfo>) -> Result<String, String> {
    let mut opts = String::new();
    for o in ["media", "cache", "rerror", "werror", "discard"] {
        if let Some(v) = drive.opt(o) {
            opts.push_str(&format!(",{o}={v}"));
        }
    }
    if let Some(ro) = drive.opt("ro") {
        opts.push_str(&format!(
            ",readonly={}",
            if ro == "1" { "on" } else { "off" }
        ));
    }
    for (dir, qmp) in [("", "-total"), ("_rd", "-read"), ("_wr", "-write")] {
        let num = |k: String| {
            drive
                .opt(&k)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| *v != 0.0)
        };
        if let Some(v) = num(format!("mbps{dir}")) {
            opts.push_str(&format!(
                ",throttling.bps{qmp}={}",
                (v * 1024.0 * 1024.0) as i64
            ));
        }
        if let Some(v) = num(format!("mbps{dir}_max")) {
            opts.push_str(&format!(
                ",throttling.bps{qmp}-max={}",
                (v * 1024.0 * 1024.0) as i64
            ));
        }
        for (k, q) in [
            (
                format!("bps{dir}_max_length"),
                format!("bps{qmp}-max-length"),
            ),
            (format!("iops{dir}"), format!("iops{qmp}")),
            (format!("iops{dir}_max"), format!("iops{qmp}-max")),
            (
                format!("iops{dir}_max_length"),
                format!("iops{qmp}-max-length"),
            ),
        ] {
            if let Some(v) = drive.opt(&k).filter(|v| *v != "0") {
                opts.push_str(&format!(",throttling.{q}={v}"));
            }
        }
    }
    let format = match vol {
        Some(v) if v.storage_type.is_some() => Some(v.format.clone()),
        _ => drive.opt("format").map(str::to_string),
    };
    if let Some(f) = &format {
        opts.push_str(&format!(",format={f}"));
    }
    let empty = VolumeInfo {
        driver: "file",
        filename: String::new(),
        format: String::new(),
        storage_type: None,
        nocow: false,
        is_iso: false,
        protocol: None,
        krbd: false,
        volume_chain: false,
        chain: None,
    };
    let v = vol.unwrap_or(&empty);
    let direct = cache_direct(drive, v);
    if drive.opt("cache").is_none() && direct {
        opts.push_str(",cache=none");
    }
    opts.push_str(&format!(",aio={}", aio(drive, v, direct)));
    if v.is_iso && drive.opt("media").is_none() {
        return Err(format!(
            "{}: explicit media parameter is required for iso images\n",
            drive.id
        ));
    }
    if !drive.is_cdrom() {
        let dz = if drive.opt("detect_zeroes") == Some("0") {
            "off"
        } else {
            match drive.opt("discard") {
                Some("on") => "unmap",
                Some(_) => "on",
                None => "on",
            }
        };
        opts.push_str(&format!(",detect-zeroes={dz}"));
    }
    let pathinfo = match vol {
        Some(v) if !v.filename.is_empty() => format!("file={},", v.filename),
        _ => String::new(),
    };
    Ok(format!("{pathinfo}if=none,id=drive-{}{opts}", drive.id))
}

/// Compact JSON with object keys sorted (Perl's canonical `to_json`).
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", body.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// `(maxdev, controller, prefix)` of a SCSI drive index for a controller model.
pub fn scsihw_infos(scsihw: Option<&str>, index: u32) -> (u32, u32, &'static str) {
    let maxdev = match scsihw {
        None => 7,
        Some(s) if s.starts_with("lsi") => 7,
        Some("virtio-scsi-single") => 1,
        Some(_) => 256,
    };
    let prefix = if scsihw == Some("virtio-scsi-single") {
        "virtioscsi"
    } else {
        "scsihw"
    };
    (maxdev, index / maxdev, prefix)
}

/// The guest device of a drive (machine 10.0+ form).
pub fn drive_device(
    drive: &Drive,
    scsihw: Option<&str>,
    pciaddr: &str,
    bootindex: Option<u32>,
    q35: bool,
    blockdev: bool,
) -> Result<String, String> {
    let id = &drive.id;
    // machines before 10.0 (-drive) always reference the drive
    let none = drive.file == "none" && blockdev;
    let mut has_write_cache = true;
    let mut dev = match drive.interface.as_str() {
        "virtio" => {
            let mut d = "virtio-blk-pci".to_string();
            if !none {
                d.push_str(&format!(",drive=drive-{id}"));
            }
            d.push_str(&format!(",id={id}{pciaddr}"));
            if drive.flag("iothread") {
                d.push_str(&format!(",iothread=iothread-{id}"));
            }
            d
        }
        "scsi" => {
            let (maxdev, controller, prefix) = scsihw_infos(scsihw, drive.index);
            let unit = drive.index % maxdev;
            let dtype = if drive.is_cdrom() { "cd" } else { "hd" };
            let mut d = match scsihw {
                None => format!("scsi-{dtype},bus={prefix}{controller}.0,scsi-id={unit}"),
                Some(s) if s.starts_with("lsi") || s == "pvscsi" => {
                    format!("scsi-{dtype},bus={prefix}{controller}.0,scsi-id={unit}")
                }
                Some(_) => format!(
                    "scsi-{dtype},bus={prefix}{controller}.0,channel=0,scsi-id=0,lun={}",
                    drive.index
                ),
            };
            if !none {
                d.push_str(&format!(",drive=drive-{id}"));
            }
            d.push_str(&format!(",id={id}"));
            if blockdev {
                d.push_str(&format!(",device_id=drive-{id}"));
            }
            if drive.flag("ssd") {
                d.push_str(",rotation_rate=1");
            }
            if let Some(w) = drive.opt("wwn") {
                d.push_str(&format!(",wwn={w}"));
            }
            if let Some(v) = drive.opt("vendor") {
                d.push_str(&format!(",vendor={v}"));
            }
            if let Some(v) = drive.opt("product") {
                d.push_str(&format!(",product={v}"));
            }
            d
        }
        "ide" | "sata" => {
            let maxdev = if drive.interface == "sata" { 6 } else { 2 };
            let mut controller = drive.index / maxdev;
            let mut unit = drive.index % maxdev;
            if q35 && drive.interface == "ide" {
                controller += 2 * (unit % 2);
                unit = 0;
            }
            let dtype = if drive.is_cdrom() { "cd" } else { "hd" };
            let mut d = format!("ide-{dtype}");
            if drive.interface == "ide" {
                d.push_str(&format!(",bus=ide.{controller},unit={unit}"));
            } else {
                d.push_str(&format!(",bus=ahci{controller}.{unit}"));
            }
            if !none {
                d.push_str(&format!(",drive=drive-{id}"));
            }
            d.push_str(&format!(",id={id}"));
            if dtype == "hd" {
                if let Some(m) = drive.opt("model") {
                    d.push_str(&format!(",model={}", uri_unescape(m).replace(',', ",,")));
                }
                if drive.flag("ssd") {
                    d.push_str(",rotation_rate=1");
                }
            }
            if let Some(w) = drive.opt("wwn") {
                d.push_str(&format!(",wwn={w}"));
            }
            d
        }
        other => return Err(format!("unsupported interface type '{other}'")),
    };
    let _ = &mut has_write_cache;
    if let Some(b) = bootindex {
        dev.push_str(&format!(",bootindex={b}"));
    }
    if let Some(s) = drive.opt("serial") {
        dev.push_str(&format!(",serial={}", uri_unescape(s).replace(',', ",,")));
    }
    if blockdev && !drive.is_cdrom() && has_write_cache {
        let wc = match drive.opt("cache") {
            Some("writethrough" | "directsync") => "off",
            _ => "on",
        };
        dev.push_str(&format!(",write-cache={wc}"));
    }
    if blockdev {
        for o in ["rerror", "werror"] {
            if let Some(v) = drive.opt(o) {
                dev.push_str(&format!(",{o}={v}"));
            }
        }
    }
    Ok(dev)
}

fn uri_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_match_upstream() {
        assert_eq!(
            node_name('e', "scsi0", "local:8006/vm-8006-disk-0.qcow2"),
            "ecd04be4259153b8293415fefa2a84c"
        );
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": {"d": true, "c": "x"}})),
            r#"{"a":{"c":"x","d":true},"b":1}"#
        );
        assert_eq!(uri_unescape("a%2Cb"), "a,b");
    }
}
