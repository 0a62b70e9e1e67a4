//! Getting into a running container from the host: the `lxc-attach`/`lxc-console`
//! command lines of `pct enter/exec/console`, and `pct push`/`pct pull`, which copy a
//! file through the container's namespaces as upstream does: the container-side path is
//! opened after `setns` into the container's mount namespace (and, for a push into an
//! unprivileged container, its user namespace as its root), so a symlink inside the
//! container cannot point at a host file.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use crate::run::LxcRuntime;

/// `lxc-attach` for `pct enter` (no `argv`) and `pct exec`; `keep_env` is upstream's
/// `--keep-env` (default) versus `--clear-env`.
pub fn attach_command(rt: &LxcRuntime, vmid: u32, keep_env: bool, argv: &[String]) -> Command {
    let mut cmd = rt.tool_command("lxc-attach", vmid);
    cmd.arg(if keep_env {
        "--keep-env"
    } else {
        "--clear-env"
    });
    if !argv.is_empty() {
        cmd.arg("--").args(argv);
    }
    // upstream's clean_environment: these break TLS inside the container
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    cmd
}

/// Upstream's `get_console_command` for the config's `cmode` (default `tty`).
pub fn console_command(
    rt: &LxcRuntime,
    vmid: u32,
    cmode: Option<&str>,
    escape: Option<&str>,
) -> Result<Command, String> {
    let mut cmd = match cmode.unwrap_or("tty") {
        "console" => {
            let mut c = rt.tool_command("lxc-console", vmid);
            c.args(["-t", "0"]);
            c
        }
        "tty" => rt.tool_command("lxc-console", vmid),
        "shell" => {
            let mut c = rt.tool_command("lxc-attach", vmid);
            c.arg("--clear-env");
            return Ok(c);
        }
        _ => return Err("internal error\n".into()),
    };
    if let Some(e) = escape.filter(|e| !e.is_empty()) {
        cmd.arg("-e").arg(e);
    }
    Ok(cmd)
}

/// Upstream's mode argument of push/pull: octal unless `0x` (the CLI prefixes a `0`
/// when missing), as `strtoul(…, 0)`.
pub fn parse_perms(perms: &str) -> Result<u32, String> {
    let text = if perms.starts_with('0') {
        perms.to_string()
    } else {
        format!("0{perms}")
    };
    let invalid = || format!("invalid mode: '{text}'\n");
    let parsed = if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16)
    } else if text == "0" {
        Ok(0)
    } else {
        u32::from_str_radix(&text[1..], 8)
    };
    parsed.map_err(|_| invalid())
}

/// An owner given as a decimal id or a name (looked up in the passwd/group file of
/// the side the file is created on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Id(u32),
    Name(String),
}

impl Owner {
    pub fn parse(s: &str) -> Self {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse().map_or_else(|_| Owner::Name(s.into()), Owner::Id)
        } else {
            Owner::Name(s.into())
        }
    }
}

/// Owner and mode for the created file (`--user`, `--group`, `--perms`).
#[derive(Clone, Debug, Default)]
pub struct FileAttrs {
    pub user: Option<Owner>,
    pub group: Option<Owner>,
    pub perms: Option<u32>,
}

// Failure stages the forked child reports (with errno) through a pipe; the parent
// turns them into upstream's messages.
const E_MNTNS: u8 = 1;
const E_CHDIR: u8 = 2;
const E_USERNS: u8 = 3;
const E_SETGID: u8 = 4;
const E_SETUID: u8 = 5;
const E_OPEN_SRC: u8 = 6;
const E_CREATE: u8 = 7;
const E_CHOWN: u8 = 8;
const E_USER: u8 = 9;
const E_GROUP: u8 = 10;
const E_COPY: u8 = 11;
const E_CHMOD: u8 = 12;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cstring(p: &Path) -> Result<CString, String> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| format!("invalid path '{}'\n", p.display()))
}

fn open_ro(path: &str) -> Option<OwnedFd> {
    let c = CString::new(path).ok()?;
    // SAFETY: a valid NUL-terminated path; the returned fd is owned by the OwnedFd.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: fd was just returned by open and is not owned elsewhere.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The id of `name` in a passwd/group style file (`name:x:id:…`), read with plain
/// syscalls into a fixed buffer (it runs in the forked child).
fn lookup_id(file: &std::ffi::CStr, name: &[u8]) -> Option<u32> {
    let mut buf = [0u8; 65536];
    // SAFETY: valid path; the fd is closed below.
    let fd = unsafe { libc::open(file.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let mut len = 0usize;
    while len < buf.len() {
        // SAFETY: writes stay within buf[len..].
        let n = unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) };
        if n <= 0 {
            break;
        }
        len += n as usize;
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    for line in buf[..len].split(|b| *b == b'\n') {
        let mut fields = line.split(|b| *b == b':');
        if fields.next() != Some(name) {
            continue;
        }
        let id = fields.nth(1)?;
        let mut v: u32 = 0;
        for d in id {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
        }
        return (!id.is_empty()).then_some(v);
    }
    None
}

/// What the child needs to create the destination with upstream's `create_file`.
struct CreateSpec {
    path: CString,
    perms: Option<u32>,
    user: Option<(Option<u32>, Vec<u8>)>,
    group: Option<(Option<u32>, Vec<u8>)>,
    umask: u32,
}

impl CreateSpec {
    fn new(path: &Path, attrs: &FileAttrs) -> Result<Self, String> {
        let split = |o: &Owner| match o {
            Owner::Id(i) => (Some(*i), Vec::new()),
            Owner::Name(n) => (None, n.as_bytes().to_vec()),
        };
        // SAFETY: umask only swaps the process mask; it is restored at once.
        let umask = unsafe {
            let old = libc::umask(0o022);
            libc::umask(old);
            old
        };
        Ok(Self {
            path: cstring(path)?,
            perms: attrs.perms,
            user: attrs.user.as_ref().map(split),
            group: attrs.group.as_ref().map(split),
            umask: umask as u32,
        })
    }

    /// `create_file`: a new file gets `perms` (or 0666 & ~umask), an existing one is
    /// truncated and only changed when asked; owner names are looked up where the
    /// file is created. Returns the fd or (stage, errno).
    fn create(&self) -> Result<i32, (u8, i32)> {
        let uid = match &self.user {
            None => None,
            Some((Some(id), _)) => Some(*id),
            Some((None, name)) => Some(lookup_id(c"/etc/passwd", name).ok_or((E_USER, 0))?),
        };
        let gid = match &self.group {
            None => None,
            Some((Some(id), _)) => Some(*id),
            Some((None, name)) => Some(lookup_id(c"/etc/group", name).ok_or((E_GROUP, 0))?),
        };
        let mut perms = self.perms;
        // SAFETY: valid path; flags and mode are plain integers.
        let mut fd = unsafe {
            libc::open(
                self.path.as_ptr(),
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
                0,
            )
        };
        if fd >= 0 {
            perms.get_or_insert(0o666 & !self.umask);
        } else {
            // SAFETY: as above.
            fd = unsafe {
                libc::open(
                    self.path.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
                    0o666,
                )
            };
            if fd < 0 {
                return Err((E_CREATE, errno()));
            }
        }
        if let Some(mode) = perms {
            // SAFETY: fd is open.
            if unsafe { libc::fchmod(fd, mode as libc::mode_t) } != 0 {
                return Err((E_CHMOD, errno()));
            }
        }
        if uid.is_some() || gid.is_some() {
            // -1 leaves that id as it is (upstream fills it in from the file)
            let u = uid.map_or(u32::MAX, |u| u);
            let g = gid.map_or(u32::MAX, |g| g);
            // SAFETY: fd is open.
            if unsafe { libc::fchown(fd, u, g) } != 0 {
                return Err((E_CHOWN, errno()));
            }
        }
        Ok(fd)
    }
}

fn copy_fd(src: i32, dst: i32) -> Result<(), (u8, i32)> {
    let mut buf = [0u8; 65536];
    loop {
        // SAFETY: reads into buf within its length.
        let n = unsafe { libc::read(src, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return Err((E_COPY, errno()));
        }
        if n == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        while off < n as usize {
            // SAFETY: writes from buf[off..n].
            let w = unsafe { libc::write(dst, buf[off..].as_ptr().cast(), n as usize - off) };
            if w < 0 {
                if errno() == libc::EINTR {
                    continue;
                }
                return Err((E_COPY, errno()));
            }
            off += w as usize;
        }
    }
}

/// Runs `f` in a forked child (setns needs a single-threaded process) and waits; the
/// child reports a failure as (stage, errno) through a pipe.
fn in_child(f: impl FnOnce() -> Result<(), (u8, i32)>) -> Result<(), (u8, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err((0, errno()));
    }
    // SAFETY: the child only makes system calls on memory prepared before the fork and
    // leaves through _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err((0, errno()));
    }
    if pid == 0 {
        // SAFETY: the child's end of the pipe; _exit never returns.
        unsafe {
            libc::close(fds[0]);
            let code = match f() {
                Ok(()) => 0,
                Err((stage, err)) => {
                    let mut msg = [0u8; 5];
                    msg[0] = stage;
                    msg[1..].copy_from_slice(&err.to_ne_bytes());
                    libc::write(fds[1], msg.as_ptr().cast(), msg.len());
                    1
                }
            };
            libc::_exit(code);
        }
    }
    // SAFETY: the parent's copy of the write end is closed; read end owned below.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is open and owned from here on.
    let rd = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    let mut msg = [0u8; 5];
    // SAFETY: reads at most msg.len() bytes into msg.
    let n = unsafe { libc::read(rd.as_raw_fd(), msg.as_mut_ptr().cast(), msg.len()) };
    let mut status = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0 && errno() == libc::EINTR {}
    if n == 5 {
        return Err((msg[0], i32::from_ne_bytes([msg[1], msg[2], msg[3], msg[4]])));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err((0, 0));
    }
    Ok(())
}

fn os_error(err: i32) -> String {
    std::io::Error::from_raw_os_error(err).to_string()
}

fn enter_mntns(mntns: i32) -> Result<(), (u8, i32)> {
    // SAFETY: mntns is an open namespace fd.
    if unsafe { libc::setns(mntns, libc::CLONE_NEWNS) } != 0 {
        return Err((E_MNTNS, errno()));
    }
    // SAFETY: a static NUL-terminated path.
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        return Err((E_CHDIR, errno()));
    }
    Ok(())
}

fn ns_fd(pid: u32, ns: &str, what: &str) -> Result<OwnedFd, String> {
    open_ro(&format!("/proc/{pid}/ns/{ns}"))
        .ok_or_else(|| format!("failed to open the container's {what} namespace\n"))
}

/// `pct push`: copies the host file `file` to `dest` in the container running as
/// `pid`, created inside its namespaces (as its root when `unprivileged`).
pub fn push_file(
    pid: u32,
    unprivileged: bool,
    file: &Path,
    dest: &Path,
    attrs: &FileAttrs,
) -> Result<(), String> {
    let src = open_ro(&file.to_string_lossy())
        .filter(|_| file.as_os_str().as_bytes().iter().all(|b| *b != 0))
        .ok_or_else(|| format!("failed to open {} for reading\n", file.display()))?;
    let mntns = ns_fd(pid, "mnt", "mount")?;
    let userns = if unprivileged {
        Some(ns_fd(pid, "user", "user")?)
    } else {
        None
    };
    let spec = CreateSpec::new(dest, attrs)?;
    let result = in_child(|| {
        enter_mntns(mntns.as_raw_fd())?;
        if let Some(u) = &userns {
            // SAFETY: plain system calls on open fds and integers.
            unsafe {
                if libc::setns(u.as_raw_fd(), libc::CLONE_NEWUSER) != 0 {
                    return Err((E_USERNS, errno()));
                }
                if libc::setgid(0) != 0 {
                    return Err((E_SETGID, errno()));
                }
                if libc::setuid(0) != 0 {
                    return Err((E_SETUID, errno()));
                }
            }
        }
        let dst = spec.create()?;
        copy_fd(src.as_raw_fd(), dst)
    });
    result.map_err(|(stage, err)| stage_message(stage, err, dest, attrs))
}

/// `pct pull`: copies `path` of the container running as `pid` to the host file
/// `dest` (created on the host first, names looked up on the host); the source is
/// opened inside the container's mount namespace.
pub fn pull_file(pid: u32, path: &Path, dest: &Path, attrs: &FileAttrs) -> Result<(), String> {
    let spec = CreateSpec::new(dest, attrs)?;
    let dst = spec
        .create()
        .map_err(|(stage, err)| stage_message(stage, err, dest, attrs))?;
    // SAFETY: create returned a fresh fd that nothing else owns.
    let dst = unsafe { OwnedFd::from_raw_fd(dst) };
    let mntns = ns_fd(pid, "mnt", "mount")?;
    let src_path = cstring(path)?;
    let result = in_child(|| {
        enter_mntns(mntns.as_raw_fd())?;
        // SAFETY: a valid NUL-terminated path.
        let src = unsafe { libc::open(src_path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if src < 0 {
            return Err((E_OPEN_SRC, errno()));
        }
        copy_fd(src, dst.as_raw_fd())
    });
    result.map_err(|(stage, err)| stage_message(stage, err, path, attrs))
}

fn stage_message(stage: u8, err: i32, path: &Path, attrs: &FileAttrs) -> String {
    let name = |o: &Option<Owner>| match o {
        Some(Owner::Name(n)) => n.clone(),
        Some(Owner::Id(i)) => i.to_string(),
        None => String::new(),
    };
    match stage {
        E_MNTNS => "failed to enter the container's mount namespace\n".into(),
        E_CHDIR => "failed to change to container root directory\n".into(),
        E_USERNS => "failed to enter the container's user namespace\n".into(),
        E_SETGID => format!("setgid failed: {}\n", os_error(err)),
        E_SETUID => format!("setuid failed: {}\n", os_error(err)),
        E_OPEN_SRC => format!("failed to open {}: {}\n", path.display(), os_error(err)),
        E_CREATE => format!(
            "failed to create file: {}: {}\n",
            path.display(),
            os_error(err)
        ),
        E_CHMOD => format!("failed to change file mode: {}\n", os_error(err)),
        E_CHOWN => format!("failed to change file owner: {}\n", os_error(err)),
        E_USER => format!("failed to get uid for: {}\n", name(&attrs.user)),
        E_GROUP => format!("failed to get gid for: {}\n", name(&attrs.group)),
        E_COPY => format!("failed to copy file data: {}\n", os_error(err)),
        _ if err != 0 => format!("copying the file failed: {}\n", os_error(err)),
        _ => "copying the file failed\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perms_and_owners() {
        assert_eq!(parse_perms("644").unwrap(), 0o644);
        assert_eq!(parse_perms("0600").unwrap(), 0o600);
        assert_eq!(parse_perms("0x1ed").unwrap(), 0o755);
        assert_eq!(parse_perms("").unwrap(), 0);
        assert_eq!(parse_perms("9").unwrap_err(), "invalid mode: '09'\n");
        assert_eq!(parse_perms("rw").unwrap_err(), "invalid mode: '0rw'\n");
        assert_eq!(Owner::parse("33"), Owner::Id(33));
        assert_eq!(Owner::parse("www-data"), Owner::Name("www-data".into()));
    }

    #[test]
    fn id_lookup() {
        let f = std::env::temp_dir().join(format!("passwd-{}", std::process::id()));
        std::fs::write(
            &f,
            "root:x:0:0:root:/root:/bin/sh\nbob:x:1001:1002::/home/bob:/bin/sh\n",
        )
        .unwrap();
        let c = cstring(&f).unwrap();
        assert_eq!(lookup_id(&c, b"bob"), Some(1001));
        assert_eq!(lookup_id(&c, b"root"), Some(0));
        assert_eq!(lookup_id(&c, b"bo"), None);
        std::fs::remove_file(&f).unwrap();
    }

    #[test]
    fn create_file_modes() {
        let dir = std::env::temp_dir().join(format!("create-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let attrs = FileAttrs {
            perms: Some(0o640),
            ..Default::default()
        };
        let fd = CreateSpec::new(&path, &attrs).unwrap().create().unwrap();
        // SAFETY: fd from create.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        // an existing file keeps its mode without --perms
        let fd = CreateSpec::new(&path, &FileAttrs::default())
            .unwrap()
            .create()
            .unwrap();
        // SAFETY: fd from create.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o640);
        let bad = FileAttrs {
            user: Some(Owner::Name("no-such-user-xyz".into())),
            ..Default::default()
        };
        let err = CreateSpec::new(&dir.join("g"), &bad)
            .unwrap()
            .create()
            .unwrap_err();
        assert_eq!(
            stage_message(err.0, err.1, &path, &bad),
            "failed to get uid for: no-such-user-xyz\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
