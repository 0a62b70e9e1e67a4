//! The dir plugin on a real folder: allocate, resize, snapshot, base image, linked
//! clone, free; and refusals of names that would leave the storage.

use std::path::Path;

use pve_common::NodePaths;
use pve_storage::{Storage, StorageConfig};

struct Node(std::path::PathBuf);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(&self.0)
            .output();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn node(tag: &str) -> (Node, Storage) {
    let root = std::env::temp_dir().join(format!("pve-storage-it-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc/pve")).unwrap();
    let paths = NodePaths::new(&root);
    let cfg = StorageConfig::parse(
        "dir: local\n\tpath /var/lib/vz\n\tcontent images,rootdir,iso,backup,snippets,vztmpl\n\n",
    );
    (Node(root), Storage { paths, cfg })
}

fn skip_without_qemu_img() -> bool {
    if pve_storage::qemu_img::available() {
        return false;
    }
    assert!(
        std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() != Ok("1"),
        "qemu-img missing"
    );
    println!("SKIP: qemu-img not installed");
    true
}

#[test]
fn image_life_cycle() {
    if skip_without_qemu_img() {
        return;
    }
    let (node, st) = node("life");
    let volid = st
        .vdisk_alloc("local", 100, Some("qcow2"), None, 1024)
        .unwrap();
    assert_eq!(volid, "local:100/vm-100-disk-0.qcow2");
    let (path, owner, _) = st.path(&volid, None).unwrap();
    assert!(path.starts_with(&node.0) && path.is_file());
    assert_eq!(owner.as_deref(), Some("100"));
    assert_eq!(st.volume_size_info(&volid).unwrap().size, 1024 * 1024);
    st.volume_resize(&volid, 4 * 1024 * 1024).unwrap();
    assert_eq!(st.volume_size_info(&volid).unwrap().size, 4 * 1024 * 1024);

    st.volume_snapshot(&volid, "before").unwrap();
    assert_eq!(
        pve_storage::qemu_img::snapshot_names(&path).unwrap(),
        vec!["before".to_string()]
    );
    st.volume_snapshot_rollback(&volid, "before").unwrap();
    st.volume_snapshot_delete(&volid, "before").unwrap();

    let raw = st
        .vdisk_alloc("local", 100, Some("raw"), None, 1024)
        .unwrap();
    assert_eq!(raw, "local:100/vm-100-disk-1.raw");
    assert_eq!(
        st.volume_snapshot(&raw, "x").unwrap_err().to_string(),
        "can't snapshot this image format"
    );

    let base = st.vdisk_create_base(&volid).unwrap();
    assert_eq!(base, "local:100/base-100-disk-0.qcow2");
    let clone = st.vdisk_clone(&base, 101).unwrap();
    assert_eq!(
        clone,
        "local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2"
    );
    let listed = st
        .volume_list("local", Some(&["images"]), Some(101))
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].volid, clone);
    assert_eq!(
        listed[0].parent.clone().flatten().as_deref(),
        Some("../100/base-100-disk-0.qcow2")
    );

    st.vdisk_free(&clone).unwrap();
    st.vdisk_free(&base).unwrap();
    st.vdisk_free(&raw).unwrap();
    assert!(!node.0.join("var/lib/vz/images/100").exists());
}

/// `rename_volume`: an image goes to another owner under the next free name, a linked
/// clone keeps its base, base images cannot be renamed, names are not overwritten.
#[test]
fn rename_volume_to_another_guest() {
    if skip_without_qemu_img() {
        return;
    }
    let (node, st) = node("rename");
    let a = st
        .vdisk_alloc("local", 100, Some("qcow2"), None, 1024)
        .unwrap();
    let taken = st
        .vdisk_alloc("local", 101, Some("raw"), None, 1024)
        .unwrap();
    assert_eq!(taken, "local:101/vm-101-disk-0.raw");
    assert!(st.volume_can_rename(&a));
    let moved = st.rename_volume(&a, Some(101), None).unwrap();
    assert_eq!(moved, "local:101/vm-101-disk-1.qcow2");
    let images = node.0.join("var/lib/vz/images");
    assert!(images.join("101/vm-101-disk-1.qcow2").is_file());
    assert!(!images.join("100/vm-100-disk-0.qcow2").exists());
    assert_eq!(st.volume_size_info(&moved).unwrap().size, 1024 * 1024);
    // an explicit name that exists is refused
    let b = st
        .vdisk_alloc("local", 100, Some("raw"), None, 1024)
        .unwrap();
    assert_eq!(
        st.rename_volume(&b, Some(101), Some("vm-101-disk-0.raw"))
            .unwrap_err()
            .to_string(),
        "target volume 'vm-101-disk-0.raw' already exists"
    );
    assert_eq!(
        st.rename_volume(&b, None, None).unwrap_err().to_string(),
        "no target VMID or target volname provided"
    );
    // base images cannot, linked clones can (the base stays in the name)
    let base = st.vdisk_create_base(&b).unwrap();
    assert!(!st.volume_can_rename(&base));
    let clone = st.vdisk_clone(&base, 102).unwrap();
    assert!(st.volume_can_rename(&clone));
    let moved_clone = st.rename_volume(&clone, Some(103), None).unwrap();
    assert_eq!(
        moved_clone,
        "local:100/base-100-disk-0.raw/103/vm-103-disk-0.qcow2"
    );
    let (p, owner, _) = st.path(&moved_clone, None).unwrap();
    assert!(p.is_file());
    assert_eq!(owner.as_deref(), Some("103"));
    // still backed by the base (relative backing file)
    let info = pve_storage::qemu_img::info(&p, Some("qcow2")).unwrap();
    assert_eq!(info.parent.as_deref(), Some("../100/base-100-disk-0.raw"));
    assert!(!st.volume_can_rename("local:iso/x.iso"));
    st.vdisk_free(&moved_clone).unwrap();
    st.vdisk_free(&base).unwrap();
}

#[test]
fn names_leaving_the_storage_are_refused() {
    let (node, st) = node("escape");
    let outside = node.0.join("outside.raw");
    std::fs::write(&outside, b"keep me").unwrap();
    for volid in [
        "local:../outside.raw",
        "local:100/../../outside.raw",
        "local:/etc/passwd",
        "local:iso/../../outside.iso",
        "local:snippets/..",
    ] {
        let err = st.path(volid, None).unwrap_err().to_string();
        assert!(err.starts_with("unable to parse"), "{volid}: {err}");
        assert!(st.vdisk_free(volid).is_err(), "{volid}");
    }
    assert_eq!(
        st.path("nope:iso/x.iso", None).unwrap_err().to_string(),
        "storage 'nope' does not exist"
    );
    // a symlinked guest folder leading out of the storage
    let images = node.0.join("var/lib/vz/images");
    std::fs::create_dir_all(&images).unwrap();
    std::os::unix::fs::symlink(&node.0, images.join("100")).unwrap();
    let err = st
        .vdisk_free("local:100/outside.raw")
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside of the storage"), "{err}");
    assert!(st.path("local:100/outside.raw", None).is_err());
    assert!(Path::new(&outside).is_file());
    assert_eq!(std::fs::read(&outside).unwrap(), b"keep me");
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "{cmd} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A container root file system on a dir storage, the way pve-container uses it
/// (upstream: `PVE::LXC::format_disk` and its loop-device mount): a raw image formatted
/// ext4 (`-O mmp -E root_owner=UID:GID`, the root owner of an unprivileged container),
/// grown through the storage and the file system, loop-mounted.
#[test]
fn container_rootfs_raw_ext4_loop_mounted() {
    // SAFETY: geteuid has no preconditions.
    let missing = if unsafe { libc::geteuid() } != 0 {
        Some("not root".to_string())
    } else {
        ["mkfs.ext4", "losetup", "mount", "resize2fs", "df"]
            .into_iter()
            .find(|t| run("sh", &["-c", &format!("command -v {t}")]).is_err())
            .map(|t| format!("{t} not installed"))
    };
    if let Some(reason) = missing {
        assert!(
            std::env::var("PVE_TEST_REQUIRE_HOST").as_deref() != Ok("1"),
            "{reason}"
        );
        println!("SKIP: {reason}");
        return;
    }
    if skip_without_qemu_img() {
        return;
    }
    let (node, st) = node("ctfs");
    let volid = st
        .vdisk_alloc("local", 200, Some("raw"), None, 64 * 1024)
        .unwrap();
    assert_eq!(volid, "local:200/vm-200-disk-0.raw");
    let (path, _, _) = st.path(&volid, None).unwrap();
    let p = path.to_str().unwrap();
    // upstream's options; the short MMP interval only keeps the test's mounts quick
    // (a mount waits about twice the interval)
    run(
        "mkfs.ext4",
        &[
            "-q",
            "-O",
            "mmp",
            "-E",
            "root_owner=100000:100000,mmp_update_interval=1",
            p,
        ],
    )
    .unwrap();

    // `pct resize` of a stopped container: the storage grows the image, then the file
    // system follows offline (online resizing needs CAP_SYS_RESOURCE, which some hosts,
    // this test machine among them, do not grant even to root).
    st.volume_resize(&volid, 128 * 1024 * 1024).unwrap();
    assert_eq!(st.volume_size_info(&volid).unwrap().size, 128 * 1024 * 1024);
    run("resize2fs", &[p]).unwrap();

    struct Mounted {
        dev: String,
        dir: std::path::PathBuf,
        mounted: bool,
    }
    impl Drop for Mounted {
        fn drop(&mut self) {
            if self.mounted {
                let _ = run("umount", &[self.dir.to_str().unwrap()]);
            }
            let _ = run("losetup", &["-d", &self.dev]);
        }
    }
    let dev = run("losetup", &["--show", "-f", p]).unwrap();
    let dir = node.0.join("mnt");
    std::fs::create_dir_all(&dir).unwrap();
    let mut m = Mounted {
        dev: dev.clone(),
        dir: dir.clone(),
        mounted: false,
    };
    run("mount", &[&dev, dir.to_str().unwrap()]).unwrap();
    m.mounted = true;
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&dir).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (100000, 100000));
    std::fs::write(dir.join("hostname"), "ct200\n").unwrap();
    let df = run("df", &["-B1", "--output=size", dir.to_str().unwrap()]).unwrap();
    let size: u64 = df.lines().last().unwrap().trim().parse().unwrap();
    assert!(size > 100 * 1024 * 1024, "file system not grown: {size}");
    drop(m);
    st.vdisk_free(&volid).unwrap();
    assert!(!path.exists());
}
