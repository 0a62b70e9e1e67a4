//! The btrfs plugin on a real btrfs: a loop-mounted image made by the test, below a temp
//! node root. Needs root, `mkfs.btrfs`, `losetup` and loop devices; prints `SKIP: reason`
//! without them, fails instead when `PVE_TEST_REQUIRE_HOST=1`. The guard unmounts and
//! detaches whatever happened.

use std::path::{Path, PathBuf};
use std::process::Command;

use pve_storage::Storage;

mod common;

use common::TempRoot;

const CFG: &str = "btrfs: bt\n\tpath /mnt/bt\n\tcontent images,rootdir\n";

fn skip(reason: &str) {
    if std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() == Ok("1") {
        panic!("host feature missing (PVE_TEST_REQUIRE_HOST=1): {reason}");
    }
    println!("SKIP: {reason}");
}

fn run(cmd: &str, args: &[&std::ffi::OsStr]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The loop device and mount of the test's btrfs; dropped last-in first-out.
struct LoopMount {
    device: Option<String>,
    mountpoint: Option<PathBuf>,
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if let Some(m) = self.mountpoint.take() {
            let _ = run("umount", &[m.as_os_str()]);
        }
        if let Some(d) = self.device.take() {
            let _ = run("losetup", &["-d".as_ref(), d.as_ref()]);
        }
    }
}

fn mount_btrfs(image: &Path, mountpoint: &Path) -> Result<LoopMount, String> {
    let f = std::fs::File::create(image).map_err(|e| e.to_string())?;
    f.set_len(256 * 1024 * 1024).map_err(|e| e.to_string())?;
    run("mkfs.btrfs", &["-q".as_ref(), image.as_os_str()])?;
    let mut guard = LoopMount {
        device: None,
        mountpoint: None,
    };
    let dev = run(
        "losetup",
        &["--find".as_ref(), "--show".as_ref(), image.as_os_str()],
    )?;
    guard.device = Some(dev.clone());
    std::fs::create_dir_all(mountpoint).map_err(|e| e.to_string())?;
    run("mount", &[dev.as_ref(), mountpoint.as_os_str()])?;
    guard.mountpoint = Some(mountpoint.to_path_buf());
    Ok(guard)
}

fn is_subvolume(path: &Path) -> bool {
    run(
        "btrfs",
        &["subvolume".as_ref(), "show".as_ref(), path.as_os_str()],
    )
    .is_ok()
}

#[test]
fn btrfs_volume_life_cycle() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root");
    }
    for tool in ["mkfs.btrfs", "losetup", "btrfs", "mount"] {
        if run(
            "sh",
            &["-c".as_ref(), format!("command -v {tool}").as_ref()],
        )
        .is_err()
        {
            return skip(&format!("{tool} not installed"));
        }
    }
    let root = TempRoot::with_storage_cfg("btrfs", CFG);
    let mnt = root.0.join("mnt/bt");
    let _mount = match mount_btrfs(&root.0.join("btrfs.img"), &mnt) {
        Ok(m) => m,
        Err(e) => return skip(&format!("no loop-mounted btrfs: {e}")),
    };
    let s = Storage::load(&pve_common::NodePaths::new(&root.0)).unwrap();

    let images = mnt.join("images");

    // a container root file system: an unsized subvolume (quotas are refused, as upstream)
    let err = s
        .vdisk_alloc("bt", 200, Some("subvol"), None, 64 * 1024)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("btrfs quotas are currently not supported"),
        "{err}"
    );
    let ct = s.vdisk_alloc("bt", 200, Some("subvol"), None, 0).unwrap();
    assert_eq!(ct, "bt:200/subvol-200-disk-0.subvol");
    let (ct_path, owner, _) = s.path(&ct, None).unwrap();
    assert_eq!(owner.as_deref(), Some("200"));
    assert_eq!(ct_path, images.join("200/subvol-200-disk-0.subvol"));
    assert!(is_subvolume(&ct_path));
    assert!(s.volume_resize(&ct, 128 * 1024 * 1024).is_err());
    std::fs::write(ct_path.join("etc-hostname"), "before").unwrap();
    s.volume_snapshot(&ct, "snap1").unwrap();
    let (snap_path, _, _) = s.path(&ct, Some("snap1")).unwrap();
    assert_eq!(snap_path, images.join("200/subvol-200-disk-0.subvol@snap1"));
    assert!(is_subvolume(&snap_path));
    std::fs::write(ct_path.join("etc-hostname"), "after").unwrap();
    s.volume_snapshot_rollback(&ct, "snap1").unwrap();
    assert_eq!(
        std::fs::read_to_string(ct_path.join("etc-hostname")).unwrap(),
        "before"
    );
    assert!(is_subvolume(&ct_path));
    s.volume_snapshot_delete(&ct, "snap1").unwrap();
    assert!(!snap_path.exists());

    // a VM disk: a raw image in a subvolume of its own
    let vm = s.vdisk_alloc("bt", 100, Some("raw"), None, 1024).unwrap();
    assert_eq!(vm, "bt:100/vm-100-disk-0.raw");
    let (vm_path, _, _) = s.path(&vm, None).unwrap();
    assert_eq!(vm_path, images.join("100/vm-100-disk-0/disk.raw"));
    assert!(is_subvolume(&images.join("100/vm-100-disk-0")));
    s.volume_resize(&vm, 4 * 1024 * 1024).unwrap();
    assert_eq!(s.volume_size_info(&vm).unwrap().size, 4 * 1024 * 1024);
    let listed: Vec<String> = s
        .volume_list("bt", Some(&["images"]), None)
        .unwrap()
        .into_iter()
        .map(|e| e.volid)
        .collect();
    assert!(listed.contains(&vm), "{listed:?}");

    // snapshot and rollback of the raw image
    write_at(&vm_path, b"first");
    s.volume_snapshot(&vm, "s1").unwrap();
    let (vm_snap, _, _) = s.path(&vm, Some("s1")).unwrap();
    assert_eq!(vm_snap, images.join("100/vm-100-disk-0@s1/disk.raw"));
    write_at(&vm_path, b"later");
    s.volume_snapshot_rollback(&vm, "s1").unwrap();
    assert_eq!(&std::fs::read(&vm_path).unwrap()[..5], b"first");
    // snapshots are not volumes
    let listed: Vec<String> = s
        .volume_list("bt", Some(&["images"]), Some(100))
        .unwrap()
        .into_iter()
        .map(|e| e.volid)
        .collect();
    assert_eq!(listed, vec![vm.clone()]);

    // template and linked clone (qemu-server refuses templates with snapshots)
    s.volume_snapshot_delete(&vm, "s1").unwrap();
    assert!(!vm_snap.exists());
    let base = s.vdisk_create_base(&vm).unwrap();
    assert_eq!(base, "bt:100/base-100-disk-0.raw");
    let (base_path, _, _) = s.path(&base, None).unwrap();
    assert!(!vm_path.exists());
    assert!(std::fs::OpenOptions::new()
        .write(true)
        .open(&base_path)
        .is_err());
    let clone = s.vdisk_clone(&base, 101).unwrap();
    assert_eq!(clone, "bt:101/vm-101-disk-0.raw");
    let (clone_path, _, _) = s.path(&clone, None).unwrap();
    assert_eq!(&std::fs::read(&clone_path).unwrap()[..5], b"first");
    write_at(&clone_path, b"clone");
    assert_eq!(&std::fs::read(&base_path).unwrap()[..5], b"first");
    // freeing removes the snapshots with the volume
    s.volume_snapshot(&clone, "c1").unwrap();
    let (clone_snap, _, _) = s.path(&clone, Some("c1")).unwrap();
    assert!(clone_snap.exists());
    s.vdisk_free(&clone).unwrap();
    assert!(!clone_snap.exists());
    assert!(!images.join("101").exists());

    // a raw image (a subvolume) given to another VM: the subvolume moves
    let r = s.vdisk_alloc("bt", 100, Some("raw"), None, 1024).unwrap();
    let (r_path, _, _) = s.path(&r, None).unwrap();
    write_at(&r_path, b"moved");
    assert!(s.volume_can_rename(&r));
    let given = s.rename_volume(&r, Some(104), None).unwrap();
    assert_eq!(given, "bt:104/vm-104-disk-0.raw");
    let (given_path, _, _) = s.path(&given, None).unwrap();
    assert_eq!(given_path, images.join("104/vm-104-disk-0/disk.raw"));
    assert!(is_subvolume(&images.join("104/vm-104-disk-0")));
    assert_eq!(&std::fs::read(&given_path).unwrap()[..5], b"moved");
    assert!(!r_path.exists());
    assert!(!s.volume_can_rename(&base));
    s.vdisk_free(&given).unwrap();
    assert!(!images.join("104").exists());

    s.vdisk_free(&base).unwrap();
    assert!(!base_path.exists());
    s.vdisk_free(&ct).unwrap();
    assert!(!ct_path.exists());
    let left: Vec<_> = std::fs::read_dir(&images)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn write_at(path: &Path, data: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(data).unwrap();
}
