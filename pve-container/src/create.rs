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
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}\n", dir.display()))?;
        let opts = if ro {
            vec!["ro".to_string()]
        } else {
            Vec::new()
        };
        Self::mount_at(source, dir, dir, &opts)
    }

    /// Mounts `source` on `via` (the directory itself or a `/proc/PID/fd/N` path to
    /// it) with extra `opts`; `dir` is where it shows up, for the unmount.
    pub fn mount_at(
        source: &Path,
        via: &Path,
        dir: &Path,
        opts: &[String],
    ) -> Result<Self, String> {
        use std::os::unix::fs::FileTypeExt;
        let meta = std::fs::metadata(source).map_err(|e| format!("{}: {e}\n", source.display()))?;
        let kind = if meta.is_dir() {
            "bind"
        } else if meta.file_type().is_block_device() {
            "defaults"
        } else {
            "loop"
        };
        let opts = std::iter::once(kind.to_string())
            .chain(opts.iter().cloned())
            .collect::<Vec<_>>()
            .join(",");
        run(Command::new("mount")
            .arg("-o")
            .arg(opts)
            .arg(source)
            .arg(via))?;
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

/// Upstream's `walk_tree_nofollow`: opens `rel` below `start` one component at a time
/// without following symlinks (a container could have replaced a mount point's
/// directory with a symlink to a host path), creating missing directories owned by
/// the container's root when `mkdir`. Returns an `O_PATH` descriptor of the last one.
pub fn walk_tree_nofollow(
    start: &Path,
    rel: &str,
    mkdir: bool,
    owner: (u32, u32),
) -> Result<std::os::fd::OwnedFd, String> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    let open_at = |dir: i32, name: &CString| {
        // SAFETY: a valid NUL-terminated name relative to an open directory fd.
        let fd = unsafe {
            libc::openat(
                dir,
                name.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        // SAFETY: a new descriptor nobody else owns.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let start_c = CString::new(start.as_os_str().as_bytes())
        .map_err(|_| format!("invalid path {}\n", start.display()))?;
    let mut fd = open_at(libc::AT_FDCWD, &start_c).ok_or_else(|| {
        format!(
            "failed to open start directory {}: {}\n",
            start.display(),
            std::io::Error::last_os_error()
        )
    })?;
    let mut dir = start.display().to_string();
    for comp in rel.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if comp == ".." {
            return Err(format!("mount point path contains '..': {rel}\n"));
        }
        dir.push('/');
        dir.push_str(comp);
        let name = CString::new(comp).map_err(|_| format!("invalid path {dir}\n"))?;
        let next = match open_at(fd.as_raw_fd(), &name) {
            Some(n) => n,
            None => {
                let err = std::io::Error::last_os_error();
                if matches!(err.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) {
                    return Err(format!("symlink encountered at: {dir}\n"));
                }
                if !mkdir {
                    return Err(format!("cannot open directory {dir}: {err}\n"));
                }
                // SAFETY: as above; an EEXIST race is caught by the O_NOFOLLOW open.
                unsafe { libc::mkdirat(fd.as_raw_fd(), name.as_ptr(), 0o755) };
                let n = open_at(fd.as_raw_fd(), &name).ok_or_else(|| {
                    format!(
                        "failed to create path: {dir}: {}\n",
                        std::io::Error::last_os_error()
                    )
                })?;
                // SAFETY: fchownat on the new directory's own descriptor.
                unsafe {
                    libc::fchownat(
                        n.as_raw_fd(),
                        c"".as_ptr(),
                        owner.0,
                        owner.1,
                        libc::AT_EMPTY_PATH,
                    )
                };
                n
            }
        };
        fd = next;
    }
    Ok(fd)
}

/// The mount options of a volume mount point (upstream: `mountoptions` and `acl`; not
/// for bind mounts, which take only `ro`).
fn volume_mount_options(mp: &crate::volumes::MountPoint) -> Vec<String> {
    let mut opts: Vec<String> = mp
        .props
        .get("mountoptions")
        .and_then(serde_json::Value::as_str)
        .map(|o| {
            o.split(';')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    match mp.props.get("acl").map(pve_common::schema::perl_truthy) {
        Some(true) => opts.push("acl".into()),
        Some(false) => opts.push("noacl".into()),
        None => {}
    }
    opts
}

/// Mounts rootfs at `rootdir` and then every mount point below it, shallow paths first
/// (upstream's `foreach_volume` in path order): storage volumes at their host path, bind
/// mounts and devices as they are. Mount point directories are walked without following
/// symlinks and created (owned by the container's root) when missing. On error the
/// ones already mounted are unmounted.
pub fn mount_all(
    storage: &Storage,
    conf: &CtSection,
    rootdir: &Path,
) -> Result<Vec<MountedVolume>, String> {
    use std::os::fd::AsRawFd;
    let idmap = crate::idmap::section_id_maps(conf)?;
    let owner = if idmap.entries.is_empty() {
        (0, 0)
    } else {
        (idmap.root_uid as u32, idmap.root_gid as u32)
    };
    let mut vols = crate::volumes::foreach_volume(conf);
    vols.sort_by_key(|(key, mp)| {
        let path = mp.mp.clone().unwrap_or_default();
        (
            key != "rootfs",
            path.trim_end_matches('/').matches('/').count(),
            path,
        )
    });
    std::fs::create_dir_all(rootdir).map_err(|e| format!("mkdir {}: {e}\n", rootdir.display()))?;
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
        let target = if rel.is_empty() {
            rootdir.to_path_buf()
        } else {
            rootdir.join(rel)
        };
        let dirfd =
            walk_tree_nofollow(rootdir, rel, true, owner).map_err(|e| format!("{key}: {e}"))?;
        let via = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            dirfd.as_raw_fd()
        ));
        let mut opts = if mp.kind == crate::volumes::MountType::Bind {
            Vec::new()
        } else {
            volume_mount_options(&mp)
        };
        if mp.flag("ro") {
            opts.push("ro".into());
        }
        let m = MountedVolume::mount_at(&source, &via, &target, &opts)
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
