//! Creating a container's root file system from a template archive (upstream's
//! `PVE::LXC::Create` and `PVE::LXC::format_disk` / `mountpoint_mount`): allocate the
//! volume, make the file system (raw images: ext4), mount it, unpack the archive
//! (through `lxc-usernsexec` with the container's id map when unprivileged), run the
//! distribution's post-create setup, unmount. A failure frees what was allocated.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pve_storage::storage::Storage;

use crate::config::CtSection;
use crate::idmap::IdMap;

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("command '{:?}' failed: {e}\n", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "command '{}' failed: exit code {}\n{}",
            describe(cmd),
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `format_disk`: ext4 with multi-mount protection, root directory owned by the
/// container's root (the mapped ids of an unprivileged container).
pub fn format_disk(path: &Path, root_uid: u64, root_gid: u64) -> Result<(), String> {
    run(Command::new("mkfs.ext4")
        .args(["-q", "-O", "mmp", "-E"])
        .arg(format!("root_owner={root_uid}:{root_gid}"))
        .arg(path))
}

/// A mounted volume; unmounts on drop (a loop device of a raw image goes with it).
pub struct MountedVolume {
    pub dir: PathBuf,
    mounted: bool,
}

impl MountedVolume {
    /// Mounts a raw image (loop) or binds a directory volume (subvolume) at `dir`.
    pub fn mount(source: &Path, dir: &Path) -> Result<Self, String> {
        Self::mount_opts(source, dir, false)
    }

    /// [`Self::mount`], read-only when `ro`; block devices are mounted as they are.
    pub fn mount_opts(source: &Path, dir: &Path, ro: bool) -> Result<Self, String> {
        use std::os::unix::fs::FileTypeExt;
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}\n", dir.display()))?;
        let meta = std::fs::metadata(source).map_err(|e| format!("{}: {e}\n", source.display()))?;
        let mut opts = if meta.is_dir() {
            "bind".to_string()
        } else if meta.file_type().is_block_device() {
            "defaults".to_string()
        } else {
            "loop".to_string()
        };
        if ro {
            opts.push_str(",ro");
        }
        run(Command::new("mount")
            .arg("-o")
            .arg(opts)
            .arg(source)
            .arg(dir))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            mounted: true,
        })
    }

    /// Leaves the volume mounted (the container runs on it).
    pub fn keep(mut self) -> PathBuf {
        self.mounted = false;
        self.dir.clone()
    }

    pub fn unmount(mut self) -> Result<(), String> {
        self.mounted = false;
        run(Command::new("umount").arg(&self.dir))
    }
}

impl Drop for MountedVolume {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(&self.dir).status();
        }
    }
}

/// The decompressor flag tar needs for an archive read from stdin.
pub fn decompressor_flag(archive: &Path) -> Result<&'static str, String> {
    let name = archive.to_string_lossy();
    Ok(if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        "--gzip"
    } else if name.ends_with(".tar.xz") {
        "--xz"
    } else if name.ends_with(".tar.zst") {
        "--zstd"
    } else if name.ends_with(".tar.bz2") {
        "--bzip2"
    } else if name.ends_with(".tar") {
        "--no-auto-compress"
    } else {
        return Err(format!(
            "unable to detect compression of archive '{name}'\n"
        ));
    })
}

/// Unpacks `archive` into `rootdir` as upstream's `restore_archive` does: numeric
/// owners, no device nodes, existing files kept; unprivileged containers unpack in a
/// user namespace with their id map so the files get the shifted owners.
pub fn extract_template(archive: &Path, rootdir: &Path, idmap: &IdMap) -> Result<(), String> {
    let input = std::fs::File::open(archive)
        .map_err(|e| format!("unable to open template '{}' - {e}\n", archive.display()))?;
    let mut cmd = if idmap.entries.is_empty() {
        Command::new("tar")
    } else {
        let mut c = Command::new("lxc-usernsexec");
        for e in &idmap.entries {
            c.arg("-m")
                .arg(format!("{}:{}:{}:{}", e.kind, e.ct, e.host, e.count));
        }
        c.args(["--", "tar"]);
        c
    };
    cmd.args(["xpf", "-", decompressor_flag(archive)?])
        .args([
            "--totals",
            "--one-file-system",
            "--sparse",
            "--numeric-owner",
            "--acls",
            "--xattrs",
            "--xattrs-include=user.*",
            "--xattrs-include=security.capability",
            "--warning=no-file-ignored",
            "--warning=no-xattr-write",
            "--skip-old-files",
            "--anchored",
            "--exclude",
            "./dev/*",
        ])
        .arg("-C")
        .arg(rootdir)
        .stdin(Stdio::from(input));
    run(&mut cmd).map_err(|e| format!("unable to restore template archive - {e}"))
}

/// What [`create_rootfs`] needs.
pub struct RootfsRequest<'a> {
    pub vmid: u32,
    pub storeid: &'a str,
    /// Size in GiB (the `STORAGE:SIZE` allocation syntax); 0 makes a subvolume.
    pub size_gib: u64,
    pub archive: &'a Path,
    /// The container config (arch, ostype, hostname, net*, unprivileged, lxc.idmap).
    pub conf: &'a CtSection,
    pub password: Option<&'a str>,
    pub ssh_keys: Option<&'a str>,
    pub setup: crate::setup::SetupOptions,
    /// Where to mount the new volume while filling it.
    pub mount_dir: &'a Path,
}

/// Allocates, formats and fills the root volume; returns its volume id and the
/// config as the distribution setup left it (detected `ostype`, `arch`). On error
/// nothing stays allocated or mounted.
pub fn create_rootfs(
    storage: &Storage,
    req: &RootfsRequest,
) -> Result<(String, CtSection), String> {
    let idmap = crate::idmap::section_id_maps(req.conf)?;
    let (uid, gid) = if idmap.entries.is_empty() {
        (0, 0)
    } else {
        (idmap.root_uid, idmap.root_gid)
    };
    let (format, size_kib) = if req.size_gib == 0 {
        ("subvol", 0)
    } else {
        ("raw", req.size_gib * 1024 * 1024)
    };
    let volid = storage
        .vdisk_alloc(req.storeid, req.vmid, Some(format), None, size_kib)
        .map_err(|e| format!("{e}\n"))?;
    let result = fill_rootfs(storage, &volid, req, &idmap, uid, gid);
    match result {
        Ok(conf) => Ok((volid, conf)),
        Err(e) => {
            let _ = storage.vdisk_free(&volid);
            Err(e)
        }
    }
}

fn fill_rootfs(
    storage: &Storage,
    volid: &str,
    req: &RootfsRequest,
    idmap: &IdMap,
    uid: u64,
    gid: u64,
) -> Result<CtSection, String> {
    let (path, _, _) = storage.path(volid, None).map_err(|e| format!("{e}\n"))?;
    if path.is_dir() {
        std::os::unix::fs::chown(&path, Some(uid as u32), Some(gid as u32))
            .map_err(|e| format!("chown {}: {e}\n", path.display()))?;
    } else {
        format_disk(&path, uid, gid)?;
    }
    let mounted = MountedVolume::mount(&path, req.mount_dir)?;
    extract_template(req.archive, &mounted.dir, idmap)?;
    let mut setup = crate::setup::Setup::new(req.conf, &mounted.dir, req.setup.clone())?;
    setup.post_create_hook(req.password, req.ssh_keys)?;
    let conf = setup.conf.clone();
    drop(setup);
    mounted.unmount()?;
    Ok(conf)
}

/// Mounts rootfs at `rootdir` and then every mount point below it, shallow paths first
/// (upstream's `foreach_volume` in path order): storage volumes at their host path, bind
/// mounts and devices as they are. On error the ones already mounted are unmounted.
pub fn mount_all(
    storage: &Storage,
    conf: &CtSection,
    rootdir: &Path,
) -> Result<Vec<MountedVolume>, String> {
    let mut vols = crate::volumes::foreach_volume(conf);
    vols.sort_by_key(|(key, mp)| {
        let path = mp.mp.clone().unwrap_or_default();
        (
            key != "rootfs",
            path.trim_end_matches('/').matches('/').count(),
            path,
        )
    });
    let mut mounted: Vec<MountedVolume> = Vec::new();
    for (key, mp) in vols {
        let source = match mp.kind {
            crate::volumes::MountType::Volume => {
                storage
                    .path(&mp.volume, None)
                    .map_err(|e| format!("{key}: {e}\n"))?
                    .0
            }
            _ => PathBuf::from(&mp.volume),
        };
        let rel = mp.mp.as_deref().unwrap_or("/").trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return Err(format!("{key}: mount point path contains '..'\n"));
        }
        let target = if rel.is_empty() {
            rootdir.to_path_buf()
        } else {
            rootdir.join(rel)
        };
        let m = MountedVolume::mount_opts(&source, &target, mp.flag("ro"))
            .map_err(|e| format!("{key}: {e}"))?;
        mounted.push(m);
    }
    Ok(mounted)
}

/// Unmounts everything at or below `rootdir` (deepest first), as the post-stop hook
/// does.
pub fn unmount_all(rootdir: &Path) -> Result<(), String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let root = rootdir.to_string_lossy().into_owned();
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| *p == root || p.starts_with(&format!("{root}/")))
        .map(str::to_string)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        run(Command::new("umount").arg(&p))?;
    }
    Ok(())
}

/// `rootdir` has something mounted on it.
pub fn is_mounted(rootdir: &Path) -> bool {
    let root = rootdir.to_string_lossy();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(&*root))
}
