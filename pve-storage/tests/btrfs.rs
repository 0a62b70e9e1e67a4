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

    // a container root file system: a subvolume with a quota
    let ct = s
        .vdisk_alloc("bt", 200, Some("subvol"), None, 64 * 1024)
        .unwrap();
    assert_eq!(ct, "bt:200/subvol-200-disk-0.subvol");
    let (ct_path, owner, _) = s.path(&ct, None).unwrap();
    assert_eq!(owner.as_deref(), Some("200"));
    assert_eq!(ct_path, mnt.join("images/200/subvol-200-disk-0.subvol"));
    assert!(is_subvolume(&ct_path));
    s.volume_resize(&ct, 128 * 1024 * 1024).unwrap();
    std::fs::write(ct_path.join("etc-hostname"), "before").unwrap();
    s.volume_snapshot(&ct, "snap1").unwrap();
    let (snap_path, _, _) = s.path(&ct, Some("snap1")).unwrap();
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

    // a VM disk: a raw image
    let vm = s.vdisk_alloc("bt", 100, Some("raw"), None, 1024).unwrap();
    let (vm_path, _, _) = s.path(&vm, None).unwrap();
    assert!(vm_path.starts_with(&mnt));
    s.volume_resize(&vm, 4 * 1024 * 1024).unwrap();
    assert_eq!(s.volume_size_info(&vm).unwrap().size, 4 * 1024 * 1024);

    s.vdisk_free(&vm).unwrap();
    assert!(!vm_path.exists());
    s.vdisk_free(&ct).unwrap();
    assert!(!ct_path.exists());
    let left: Vec<_> = std::fs::read_dir(mnt.join("images"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}
