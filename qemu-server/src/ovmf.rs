//! EFI disks (upstream's `PVE::QemuServer::OVMF`): a new `efidisk0` is a copy of the
//! OVMF vars template the VM's firmware uses, sized as that template
//! (`get_efivars_size`); moving or cloning one copies exactly that many bytes.
//!
//! The template is upstream's pve-edk2-firmware file, or Debian's `ovmf` image of the
//! same name on a node without it (`cmdline::stock::firmware_file`).

use std::path::Path;

use pve_guest_common::ConfigSection;
use pve_storage::Storage;

use crate::drive::Drive;

/// The host path of the vars template for `section` with the EFI disk value `efidisk`.
fn vars_template(section: &ConfigSection, efidisk: Option<&str>) -> Result<String, String> {
    let (_, vars) = crate::cmdline::ovmf_files_for(section, efidisk)?;
    let host = crate::cmdline::stock::firmware_file(&vars);
    if !Path::new(&host).exists() {
        return Err(format!("EFI vars image '{vars}' not found\n"));
    }
    Ok(host)
}

/// Upstream's `get_efivars_size`: bytes of the vars template of the VM's `efidisk0`.
pub fn efivars_size(section: &ConfigSection) -> Result<u64, String> {
    efivars_size_for(section, section.get("efidisk0"))
}

/// [`efivars_size`] for an EFI disk value that is not in the section (yet).
pub fn efivars_size_for(section: &ConfigSection, efidisk: Option<&str>) -> Result<u64, String> {
    let path = vars_template(section, efidisk)?;
    std::fs::metadata(&path)
        .map(|m| m.len())
        .map_err(|e| format!("unable to stat '{path}' - {e}\n"))
}

/// Whether a vars file has the Microsoft UEFI CA 2023 enrolled (upstream asks
/// `virt-fw-vars` for the `db` entries; the certificate's subject is stored verbatim in
/// the DER data, so its common name is looked for in the file).
fn ms_2023_cert_enrolled(path: &str) -> bool {
    const CN: &[u8] = b"Microsoft UEFI CA 2023";
    std::fs::read(path).is_ok_and(|data| data.windows(CN.len()).any(|w| w == CN))
}

/// Upstream's `create_efidisk`: allocates a volume of the template's size on `storeid`
/// and copies the template into it. Returns the volume and its size in bytes; with
/// `pre-enrolled-keys` and a template that has the 2023 Microsoft CA the drive is marked
/// `ms-cert=2023k`.
pub fn create_efidisk(
    storage: &Storage,
    storeid: &str,
    vmid: u32,
    fmt: &str,
    section: &ConfigSection,
    drive: &mut Drive,
    allocated: &mut Vec<String>,
) -> Result<(String, u64), String> {
    let value = crate::disks::print_drive(drive)?;
    let template = vars_template(section, Some(&value))?;
    let size = std::fs::metadata(&template)
        .map_err(|e| format!("unable to stat '{template}' - {e}\n"))?
        .len();
    let volid = storage
        .vdisk_alloc(storeid, vmid, Some(fmt), None, size.div_ceil(1024))
        .map_err(|e| format!("{e}\n"))?;
    allocated.push(volid.clone());
    let (dst, _, _) = storage.path(&volid, None).map_err(|e| format!("{e}\n"))?;
    crate::disks::copy_image(Path::new(&template), "raw", &dst, fmt, None)?;
    let size = storage
        .volume_size_info(&volid)
        .map(|i| i.size)
        .unwrap_or(size);
    if drive.get("pre-enrolled-keys").as_deref() == Some("1") && ms_2023_cert_enrolled(&template) {
        drive
            .props
            .insert("ms-cert".into(), serde_json::Value::from("2023k"));
    }
    Ok((volid, size))
}

/// The offline copy of an EFI disk (upstream's `qemu-img dd -n … osize=SIZE` in
/// `clone_disk`, options of Proxmox' qemu-img): only the template's `size` bytes, which
/// may be less than the source volume holds. Stock qemu-img has no `dd -n`/`osize`, so
/// the source is read through a `raw` node of `size` bytes over its format node.
pub fn copy_efivars(
    src: &Path,
    src_fmt: &str,
    dst: &Path,
    dst_fmt: &str,
    size: u64,
) -> Result<(), String> {
    let out = std::process::Command::new("qemu-img")
        .args(efivars_copy_args(src, src_fmt, dst_fmt, size))
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

fn efivars_copy_args(src: &Path, src_fmt: &str, dst_fmt: &str, size: u64) -> Vec<String> {
    // commas in the file name are doubled in QEMU's option syntax
    let file = src.display().to_string().replace(',', ",,");
    vec![
        "convert".into(),
        "-n".into(),
        "--image-opts".into(),
        format!("driver=raw,size={size},file.driver={src_fmt},file.file.filename={file}"),
        "-O".into(),
        dst_fmt.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn efivars_copy_limits_the_source() {
        assert_eq!(
            efivars_copy_args(Path::new("/a,b/x.qcow2"), "qcow2", "raw", 540672).join(" "),
            "convert -n --image-opts driver=raw,size=540672,file.driver=qcow2,file.file.filename=/a,,b/x.qcow2 -O raw"
        );
    }
}
