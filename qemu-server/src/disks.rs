//! VM disks on storage: the allocation syntax of drive values (`local:4`,
//! `local:0,import-from=…`), freeing, copying and the volumes a config references.

use std::collections::BTreeSet;
use std::path::Path;

use pve_guest_common::{ConfigSection, GuestConfig};
use pve_storage::storage::Storage;
use pve_storage::volume::{split_volume_id, Vtype};
use regex::Regex;
use serde_json::Value;

use crate::drive::{parse_drive_name, Drive};

/// `[STORAGE:]SIZE_IN_GiB` (upstream's NEW_DISK_RE).
fn new_disk_re() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^(([^/:\s]+):)?(\d+(\.\d+)?)$").expect("valid regex"))
}

/// A drive value's properties printed back (file first, the rest sorted).
pub fn print_drive(drive: &Drive) -> Result<String, String> {
    let name = match drive.bus {
        crate::drive::DriveBus::Ide => "pve-qm-ide",
        crate::drive::DriveBus::Sata => "pve-qm-sata",
        crate::drive::DriveBus::Scsi => "pve-qm-scsi",
        crate::drive::DriveBus::Virtio => "pve-qm-virtio",
        crate::drive::DriveBus::EfiDisk => "pve-qm-efidisk",
        crate::drive::DriveBus::TpmState => "pve-qm-tpmstate",
    };
    pve_common::schema::property_string::print_named_property_string(&drive.props, name)
}

/// Upstream's drive order (`valid_drive_names`): ide, scsi, virtio, sata, efidisk0,
/// tpmstate0; numerically within a bus.
pub fn bus_rank(bus: crate::drive::DriveBus) -> u8 {
    use crate::drive::DriveBus::*;
    match bus {
        Ide => 0,
        Scsi => 1,
        Virtio => 2,
        Sata => 3,
        EfiDisk => 4,
        TpmState => 5,
    }
}

/// Whether the drive is a CD-ROM (or has no volume at all).
pub fn drive_is_cdrom(drive: &Drive) -> bool {
    drive.is_cdrom()
}

fn is_unused_key(k: &str) -> bool {
    k.strip_prefix("unused")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The storage volumes of a section: `(key, volid)` of every disk drive (CD-ROMs and
/// non-volume paths left out) and every `unusedN`.
pub fn section_volumes(section: &ConfigSection, with_unused: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut keys: Vec<&String> = section.values.keys().collect();
    keys.sort_by_key(|k| match parse_drive_name(k) {
        Some((bus, i)) => (0u8, bus_rank(bus), i, String::new()),
        None => (1, 0, 0, (*k).clone()),
    });
    for k in keys {
        let v = &section.values[k];
        if parse_drive_name(k).is_some() {
            let Ok(d) = Drive::parse(k, v) else { continue };
            let file = d.file();
            if drive_is_cdrom(&d) || split_volume_id(&file).is_none() {
                continue;
            }
            out.push((k.clone(), file));
        } else if with_unused && is_unused_key(k) {
            out.push((k.clone(), v.clone()));
        }
    }
    out
}

/// Every volume a config references (main, pending, snapshots, unused, vmstate).
pub fn all_volumes(conf: &GuestConfig) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for sec in std::iter::once(&conf.main)
        .chain(std::iter::once(&conf.pending))
        .chain(conf.snapshots.values())
    {
        set.extend(section_volumes(sec, true).into_iter().map(|(_, v)| v));
        if let Some(v) = sec.get("vmstate") {
            set.insert(v.to_string());
        }
    }
    set
}

/// Whether `volid` is referenced anywhere in the config except at `except_key` of the
/// main section.
pub fn volume_in_use(conf: &GuestConfig, volid: &str, except_key: Option<&str>) -> bool {
    let mut sections: Vec<&ConfigSection> = conf.snapshots.values().collect();
    sections.push(&conf.pending);
    let in_other = sections
        .iter()
        .any(|s| section_volumes(s, true).iter().any(|(_, v)| v == volid));
    in_other
        || section_volumes(&conf.main, true)
            .iter()
            .any(|(k, v)| v == volid && Some(k.as_str()) != except_key)
}

/// A drive leaves the config (upstream's `vmconfig_register_unused_drive`): a
/// cloud-init volume is freed, the volume of another disk owned by the VM becomes
/// `unusedN` (unless still used elsewhere); CD-ROMs and foreign volumes are left alone.
pub fn register_unused_drive(
    storage: &Storage,
    vmid: u32,
    conf: &mut GuestConfig,
    key: &str,
    drive: &Drive,
    warn: &dyn Fn(&str),
) {
    let file = drive.file();
    if split_volume_id(&file).is_none() {
        return;
    }
    if is_cloudinit_value(&file) {
        if let Err(e) = storage.vdisk_free(&file) {
            warn(&format!("{e}"));
        }
        conf.special.remove("cloudinit");
        return;
    }
    if drive_is_cdrom(drive) || !volume_owned_by(storage, &file, vmid) {
        return;
    }
    if volume_in_use(conf, &file, Some(key)) {
        return;
    }
    pve_guest_common::snapshot::add_unused_volume(&mut conf.main, &file, 256);
}

/// Whether a drive value is (or asks for) a cloud-init drive.
pub fn is_cloudinit_value(value: &str) -> bool {
    let file = value.split(',').next().unwrap_or_default();
    file == "cloudinit" || file.ends_with(":cloudinit") || file.contains("-cloudinit")
}

/// The key of a cloud-init drive among `values` other than `except`.
pub fn cloudinit_key<'a>(
    values: impl IntoIterator<Item = (&'a String, &'a String)>,
    except: &str,
) -> Option<String> {
    values
        .into_iter()
        .find(|(k, v)| {
            k.as_str() != except && parse_drive_name(k).is_some() && is_cloudinit_value(v)
        })
        .map(|(k, _)| k.clone())
}

/// Output of disk creation: the new drive values and the volumes allocated (freed again
/// by the caller when a later step fails).
#[derive(Default, Debug)]
pub struct CreatedDisks {
    pub values: Vec<(String, String)>,
    pub allocated: Vec<String>,
}

fn size_kib_from_gib(size: &str) -> u64 {
    let gib: f64 = size.parse().unwrap_or(0.0);
    (gib * 1024.0 * 1024.0).ceil() as u64
}

/// qemu-img convert of one image into an existing target; `bwlimit` (KiB/s) is
/// qemu-img's rate limit `-r NK`, as upstream's `QemuImage::convert`.
pub fn copy_image(
    src: &Path,
    src_fmt: &str,
    dst: &Path,
    dst_fmt: &str,
    bwlimit: Option<u64>,
) -> Result<(), String> {
    let out = std::process::Command::new("qemu-img")
        .args(convert_args(src_fmt, dst_fmt, bwlimit))
        .arg(src)
        .arg(dst)
        .output()
        .map_err(|e| format!("qemu-img convert failed: {e}\n"))?;
    if !out.status.success() {
        return Err(format!(
            "copy failed: {}\n",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// The options of `qemu-img convert` before the paths.
fn convert_args(src_fmt: &str, dst_fmt: &str, bwlimit: Option<u64>) -> Vec<String> {
    let mut args: Vec<String> = ["convert", "-p", "-n"].map(String::from).to_vec();
    if let Some(limit) = bwlimit {
        args.extend(["-r".to_string(), format!("{limit}K")]);
    }
    args.extend(["-f", src_fmt, "-O", dst_fmt].map(String::from));
    args
}

/// Upstream's `check_drive_param` for `import-from`: the drive must use the allocation
/// syntax with size 0, an EFI disk needs `efitype` and `pre-enrolled-keys`, a TPM state
/// `version`. Returns `(key, message)` of the first offending drive.
pub fn check_import_params<'a>(
    set: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), (String, String)> {
    for (key, value) in set {
        if parse_drive_name(key).is_none() {
            continue;
        }
        let Ok(drive) = Drive::parse(key, value) else {
            continue;
        };
        if drive.get("import-from").is_none() {
            continue;
        }
        let file = drive.file();
        let zero = new_disk_re()
            .captures(&file)
            .is_some_and(|c| c[3].parse::<f64>().is_ok_and(|n| n == 0.0));
        if !zero {
            return Err((
                key.clone(),
                "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"
                    .into(),
            ));
        }
        let required: &[&str] = match key.as_str() {
            "efidisk0" => &["efitype", "pre-enrolled-keys"],
            "tpmstate0" => &["version"],
            _ => &[],
        };
        if let Some(r) = required.iter().find(|r| drive.get(r).is_none()) {
            return Err((
                key.clone(),
                format!("need to specify '{r}' when using 'import-from'"),
            ));
        }
    }
    Ok(())
}

/// The host path and format of an `import-from` source (volume id or absolute path).
fn import_source(storage: &Storage, source: &str) -> Result<(std::path::PathBuf, String), String> {
    if source.starts_with('/') {
        let info = pve_storage::qemu_img::info(Path::new(source), None)
            .map_err(|e| format!("could not get file size of {source} - {e}\n"))?;
        return Ok((source.into(), info.format));
    }
    let vn = storage
        .parse_volname(source)
        .map_err(|e| format!("{e}\n"))?;
    if !matches!(vn.vtype, Vtype::Images | Vtype::Import | Vtype::Iso) {
        return Err(format!(
            "cannot import from '{source}' - content type needs to be 'images' or 'import'\n"
        ));
    }
    let (path, _, _) = storage.path(source, None).map_err(|e| format!("{e}\n"))?;
    Ok((path, vn.format))
}

/// Turns the allocation syntax of drive values into new volumes (upstream's
/// `create_disks`): `STORAGE:SIZE` allocates, `import-from` copies an existing image,
/// existing volumes are checked. `template` makes new volumes base images. `base` is the
/// VM config the settings go into (machine, arch, `amd-sev` choose an EFI disk's vars
/// template); settings override it.
pub fn create_disks(
    storage: &Storage,
    vmid: u32,
    base: &ConfigSection,
    settings: &[(String, String)],
    default_storage: Option<&str>,
    template: bool,
    log: &dyn Fn(&str),
) -> Result<CreatedDisks, (CreatedDisks, String)> {
    let mut res = CreatedDisks::default();
    let mut section = base.clone();
    for (k, v) in settings {
        section.values.insert(k.clone(), v.clone());
    }
    for (key, value) in settings {
        if parse_drive_name(key).is_none() {
            continue;
        }
        match create_one(
            storage,
            vmid,
            &section,
            key,
            value,
            default_storage,
            template,
            &mut res,
        ) {
            Ok(Some(v)) => {
                log(&format!("{key}: successfully created disk '{v}'"));
                res.values.push((key.clone(), v));
            }
            Ok(None) => {}
            Err(e) => return Err((res, e)),
        }
    }
    Ok(res)
}

#[allow(clippy::too_many_arguments)]
fn create_one(
    storage: &Storage,
    vmid: u32,
    section: &ConfigSection,
    key: &str,
    value: &str,
    default_storage: Option<&str>,
    template: bool,
    res: &mut CreatedDisks,
) -> Result<Option<String>, String> {
    let mut drive = Drive::parse(key, value).map_err(|e| format!("{e}\n"))?;
    let file = drive.file();
    if file.is_empty() || file == "none" || file == "cdrom" {
        drive.props.remove("size");
        let printed = print_drive(&drive)?;
        res.values.push((key.to_string(), printed));
        return Ok(None);
    }
    if is_cloudinit_value(value) {
        if let Some(k) = cloudinit_key(res.values.iter().map(|(k, v)| (k, v)), key) {
            return Err(format!(
                "{key} - cloud-init drive is already attached at '{k}'\n"
            ));
        }
    }
    if let Some(storeid) = file
        .strip_suffix(":cloudinit")
        .map(str::to_string)
        .or_else(|| (file == "cloudinit").then(|| default_storage.unwrap_or("").to_string()))
    {
        if storeid.is_empty() {
            return Err("no storage ID specified (and no default storage)\n".into());
        }
        let scfg = storage
            .cfg
            .storage(&storeid)
            .map_err(|e| format!("{e}\n"))?;
        let fmt = drive.get("format").unwrap_or_else(|| {
            if scfg.path.is_some() {
                "qcow2".to_string()
            } else {
                "raw".to_string()
            }
        });
        let mut name = format!("vm-{vmid}-cloudinit");
        if scfg.path.is_some() {
            name.push_str(&format!(".{fmt}"));
        }
        // upstream's CLOUDINIT_DISK_SIZE: 4 MiB
        let volid = storage
            .vdisk_alloc(&storeid, vmid, Some(&fmt), Some(&name), 4 * 1024)
            .map_err(|e| format!("{e}\n"))?;
        res.allocated.push(volid.clone());
        drive.props.insert("file".into(), Value::from(volid));
        drive.props.insert("media".into(), Value::from("cdrom"));
        drive.props.remove("format");
        return Ok(Some(print_drive(&drive)?));
    }
    let Some(c) = new_disk_re().captures(&file) else {
        // An existing volume: it must be an image or ISO of a known storage.
        if split_volume_id(&file).is_some() {
            let vn = storage.parse_volname(&file).map_err(|e| format!("{e}\n"))?;
            if !matches!(vn.vtype, Vtype::Images | Vtype::Iso) {
                return Err(format!(
                    "cannot use volume {file} - content type needs to be 'images' or 'iso'"
                ));
            }
            if let Some(fmt) = drive.get("format") {
                if fmt != vn.format && vn.vtype == Vtype::Images {
                    return Err(format!(
                        "drive '{key}' - volume '{file}' - 'format={fmt}' option different from storage format '{}'\n",
                        vn.format
                    ));
                }
            }
        }
        return Ok(None);
    };
    let storeid = c
        .get(2)
        .map(|m| m.as_str().to_string())
        .or_else(|| default_storage.map(str::to_string))
        .ok_or("no storage ID specified (and no default storage)\n")?;
    let mut size_kib = size_kib_from_gib(&c[3]);
    let scfg = storage
        .cfg
        .storage(&storeid)
        .map_err(|e| format!("{e}\n"))?;
    let (default_fmt, _) = scfg.formats();
    let fmt = drive.get("format").unwrap_or(default_fmt);
    let import = drive.props.remove("import-from").map(|v| match v {
        Value::String(s) => s,
        other => other.to_string(),
    });
    let mut source = None;
    // an EFI disk imported from a volume holds the vars template's size (upstream's
    // `efisize` of `clone_disk`)
    let mut efisize = None;
    if let Some(src) = &import {
        let (path, src_fmt) = import_source(storage, src)?;
        let info = pve_storage::qemu_img::info(&path, Some(&src_fmt))
            .map_err(|e| format!("cannot import from '{src}' - {e}\n"))?;
        size_kib = info.size.div_ceil(1024);
        if key == "efidisk0" && !src.starts_with('/') {
            let size = crate::ovmf::efivars_size_for(section, Some(&print_drive(&drive)?))
                .map_err(|e| format!("cannot import from '{src}' - {e}"))?;
            size_kib = size.div_ceil(1024);
            efisize = Some(size);
        }
        source = Some((path, src_fmt));
    } else if key == "tpmstate0" {
        size_kib = 4 * 1024;
    }
    let volid = if key == "efidisk0" && source.is_none() {
        // a copy of the firmware's vars template, of its size
        let (volid, size) = crate::ovmf::create_efidisk(
            storage,
            &storeid,
            vmid,
            &fmt,
            section,
            &mut drive,
            &mut res.allocated,
        )?;
        size_kib = size.div_ceil(1024);
        volid
    } else {
        let volid = storage
            .vdisk_alloc(&storeid, vmid, Some(&fmt), None, size_kib)
            .map_err(|e| format!("{e}\n"))?;
        res.allocated.push(volid.clone());
        volid
    };
    if let Some((src_path, src_fmt)) = source {
        let (dst, _, _) = storage.path(&volid, None).map_err(|e| format!("{e}\n"))?;
        // a volume is copied as upstream's clone_disk: the `clone` class limit of the
        // source and target storages (no override)
        let limit = match import.as_deref().and_then(split_volume_id) {
            Some((src_sid, _)) => crate::api::bwlimit::resolve_default(
                storage,
                "clone",
                &[Some(src_sid), Some(storeid.as_str())],
            )?,
            None => None,
        };
        match efisize {
            Some(size) => crate::ovmf::copy_efivars(&src_path, &src_fmt, &dst, &fmt, size),
            None => copy_image(&src_path, &src_fmt, &dst, &fmt, limit),
        }
        .map_err(|e| format!("cannot import from '{}' - {e}", import.unwrap_or_default()))?;
    }
    let volid = if template {
        let base = storage
            .vdisk_create_base(&volid)
            .map_err(|e| format!("{e}\n"))?;
        res.allocated.pop();
        res.allocated.push(base.clone());
        base
    } else {
        volid
    };
    drive.props.insert("file".into(), Value::from(volid));
    drive.props.remove("format");
    drive.props.insert(
        "size".into(),
        Value::from(pve_common::units::format_size(size_kib * 1024)),
    );
    Ok(Some(print_drive(&drive)?))
}

/// Frees volumes, reporting failures through `warn`.
pub fn free_volumes(storage: &Storage, volumes: &[String], warn: &dyn Fn(&str)) {
    for v in volumes {
        if let Err(e) = storage.vdisk_free(v) {
            warn(&format!("{e}"));
        }
    }
}

/// Whether a volume belongs to `vmid` (a base image of another VM is never freed on
/// behalf of a linked clone).
pub fn volume_owned_by(storage: &Storage, volid: &str, vmid: u32) -> bool {
    storage
        .parse_volname(volid)
        .ok()
        .and_then(|vn| vn.vmid)
        .is_some_and(|owner| owner == vmid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_disk_syntax() {
        assert!(new_disk_re().is_match("local:4"));
        assert!(new_disk_re().is_match("0.5"));
        assert!(!new_disk_re().is_match("local:100/vm-100-disk-0.qcow2"));
        assert_eq!(size_kib_from_gib("4"), 4 * 1024 * 1024);
    }

    #[test]
    fn import_from_needs_the_allocation_syntax() {
        let set = |k: &str, v: &str| [(k.to_string(), v.to_string())];
        let check = |k: &str, v: &str| {
            let s = set(k, v);
            check_import_params(s.iter().map(|(a, b)| (a, b)))
        };
        assert!(check("scsi0", "local:0,import-from=/x.qcow2").is_ok());
        assert_eq!(
            check("scsi0", "local:4,import-from=/x.qcow2")
                .unwrap_err()
                .1,
            "'import-from' requires special syntax - use <storage ID>:0,import-from=<source>"
        );
        assert_eq!(
            check("efidisk0", "local:0,import-from=/x.raw,efitype=4m")
                .unwrap_err()
                .1,
            "need to specify 'pre-enrolled-keys' when using 'import-from'"
        );
        assert!(check(
            "efidisk0",
            "local:0,import-from=/x.raw,efitype=4m,pre-enrolled-keys=0"
        )
        .is_ok());
        assert_eq!(
            check("tpmstate0", "local:0,import-from=/x.raw")
                .unwrap_err()
                .1,
            "need to specify 'version' when using 'import-from'"
        );
        assert!(check("scsi0", "local:4").is_ok());
    }

    #[test]
    fn convert_rate_limit() {
        assert_eq!(
            convert_args("raw", "qcow2", Some(2048)).join(" "),
            "convert -p -n -r 2048K -f raw -O qcow2"
        );
        assert_eq!(
            convert_args("qcow2", "raw", None).join(" "),
            "convert -p -n -f qcow2 -O raw"
        );
    }
}
