//! File access inside a container's root file system with chroot semantics: every path
//! is resolved relative to the root, symlinks (absolute or relative) are followed inside
//! it and `..` never climbs above it, so a link in the template cannot make setup read
//! or write host files. These are upstream's `ct_*` helpers of `PVE::LXC::Setup::Base`.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The container root and the owner for files setup creates (unprivileged containers).
pub struct CtFs {
    root: PathBuf,
    /// Host uid/gid of container root when the container has an id map.
    pub owner: Option<(u32, u32)>,
}

const MAX_SYMLINKS: usize = 40;

impl CtFs {
    pub fn new(root: &Path, owner: Option<(u32, u32)>) -> Self {
        Self {
            root: root.to_path_buf(),
            owner,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path of a container path. Relative paths start at the container root
    /// (setup runs with `/` as working directory). With `follow_last`, a symlink in the
    /// last component is followed as well.
    pub fn resolve(&self, path: &str, follow_last: bool) -> PathBuf {
        let mut stack: Vec<OsString> = Vec::new();
        let mut queue: Vec<OsString> = components(path);
        queue.reverse();
        let mut links = 0;
        while let Some(comp) = queue.pop() {
            if comp == "." {
                continue;
            }
            if comp == ".." {
                stack.pop();
                continue;
            }
            stack.push(comp);
            let is_last = queue.is_empty();
            if is_last && !follow_last {
                break;
            }
            let host = self.host_of(&stack);
            let Ok(meta) = std::fs::symlink_metadata(&host) else {
                continue;
            };
            if !meta.file_type().is_symlink() || links >= MAX_SYMLINKS {
                continue;
            }
            links += 1;
            let Ok(target) = std::fs::read_link(&host) else {
                continue;
            };
            stack.pop();
            let target_str = target.as_os_str().as_bytes();
            if target_str.starts_with(b"/") {
                stack.clear();
            }
            let mut parts = components(&String::from_utf8_lossy(target_str));
            parts.reverse();
            queue.extend(parts);
        }
        self.host_of(&stack)
    }

    fn host_of(&self, stack: &[OsString]) -> PathBuf {
        let mut p = self.root.clone();
        for c in stack {
            p.push(c);
        }
        p
    }

    /// `-f`: a regular file (following symlinks).
    pub fn file_exists(&self, path: &str) -> bool {
        self.resolve(path, true).is_file()
    }

    /// `-e`
    pub fn exists(&self, path: &str) -> bool {
        self.resolve(path, true).exists()
    }

    /// `-d`
    pub fn is_directory(&self, path: &str) -> bool {
        self.resolve(path, true).is_dir()
    }

    /// `-l`
    pub fn is_symlink(&self, path: &str) -> bool {
        std::fs::symlink_metadata(self.resolve(path, false))
            .is_ok_and(|m| m.file_type().is_symlink())
    }

    /// `-x` (as root: any execute bit, or a directory).
    pub fn is_executable(&self, path: &str) -> bool {
        std::fs::metadata(self.resolve(path, true))
            .is_ok_and(|m| m.is_dir() || m.permissions().mode() & 0o111 != 0)
    }

    /// `.pve-ignore.<name>` next to the file means: leave it alone.
    pub fn is_ignored(&self, path: &str) -> bool {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => ("./", path),
        };
        self.file_exists(&format!("{dir}.pve-ignore.{name}"))
    }

    pub fn readlink(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.resolve(path, false))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// The container path a path finally resolves to (`abs_path` inside the chroot).
    pub fn abs_path(&self, path: &str) -> String {
        let host = self.resolve(path, true);
        let rel = host.strip_prefix(&self.root).unwrap_or(Path::new(""));
        format!("/{}", rel.to_string_lossy())
    }

    /// `file_get_contents` (dies when the file cannot be read).
    pub fn get_contents(&self, path: &str) -> Result<String, String> {
        std::fs::read(self.resolve(path, true))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("unable to open file '{path}' - {}\n", io_msg(&e)))
    }

    /// `file_read_firstline`: the first line without its newline.
    pub fn read_firstline(&self, path: &str) -> Option<String> {
        let data = std::fs::read(self.resolve(path, true)).ok()?;
        let text = String::from_utf8_lossy(&data);
        text.split('\n').next().map(str::to_string)
    }

    fn chown(&self, host: &Path, follow: bool) {
        if let Some((uid, gid)) = self.owner {
            // Upstream ignores the result, too.
            let _ = if follow {
                std::os::unix::fs::chown(host, Some(uid), Some(gid))
            } else {
                std::os::unix::fs::lchown(host, Some(uid), Some(gid))
            };
        }
    }

    /// `ct_file_set_contents`: atomic write (temporary file + rename, replacing a symlink
    /// rather than writing through it), default mode 0644.
    pub fn set_contents(&self, path: &str, data: &str, perms: Option<u32>) -> Result<(), String> {
        if self.is_ignored(path) {
            return Ok(());
        }
        let host = self.resolve(path, false);
        let mut tmp_name = host.as_os_str().to_owned();
        tmp_name.push(format!(".tmp.{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(perms.unwrap_or(0o644))
                .open(&tmp)?;
            f.write_all(data.as_bytes())?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!(
                "unable to open file '{path}.tmp' - {}\n",
                io_msg(&e)
            ));
        }
        if let Err(e) = std::fs::rename(&tmp, &host) {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!(
                "close (rename) atomic file '{path}' failed: {}\n",
                io_msg(&e)
            ));
        }
        self.chown(&host, false);
        Ok(())
    }

    pub fn unlink(&self, path: &str) {
        if self.is_ignored(path) {
            return;
        }
        let _ = std::fs::remove_file(self.resolve(path, false));
    }

    pub fn rename(&self, old: &str, new: &str) {
        if self.is_ignored(new) {
            return;
        }
        let _ = std::fs::rename(self.resolve(old, false), self.resolve(new, false));
    }

    pub fn symlink(&self, target: &str, link: &str) -> bool {
        if self.is_ignored(link) {
            return false;
        }
        let host = self.resolve(link, false);
        if std::os::unix::fs::symlink(target, &host).is_ok() {
            self.chown(&host, false);
            true
        } else {
            false
        }
    }

    pub fn mkdir(&self, path: &str, mode: u32) -> bool {
        let host = self.resolve(path, false);
        let ok = std::fs::DirBuilder::new().mode(mode).create(&host).is_ok();
        if ok {
            self.chown(&host, true);
        }
        ok
    }

    /// `File::Path::make_path` with the container root as owner of new directories.
    pub fn make_path(&self, path: &str) {
        let mut current = String::new();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            current.push('/');
            current.push_str(comp);
            if !self.is_directory(&current) {
                let host = self.resolve(&current, true);
                if std::fs::DirBuilder::new().mode(0o777).create(&host).is_ok() {
                    self.chown(&host, true);
                }
            }
        }
    }

    /// The owner and mode of a file (following links).
    pub fn stat(&self, path: &str) -> Option<(u32, u32, u32)> {
        std::fs::metadata(self.resolve(path, true))
            .ok()
            .map(|m| (m.uid(), m.gid(), m.mode() & 0o7777))
    }

    /// Names in a directory (following links to it).
    pub fn read_dir(&self, path: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.resolve(path, true))
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// `ct_modify_file`: replace (or add) the `# --- BEGIN PVE ---` … `# --- END PVE ---`
    /// section of a file.
    pub fn modify_file(&self, path: &str, data: &str, opts: ModifyOpts) -> Result<(), String> {
        if self.is_ignored(path) {
            return Ok(());
        }
        let head = "# --- BEGIN PVE ---\n";
        let tail = "# --- END PVE ---\n";
        let mut data = data.to_string();
        if !data.is_empty() && !data.ends_with('\n') {
            data.push('\n');
        }
        if !self.file_exists(path) {
            if !data.is_empty() {
                self.set_contents(path, &format!("{head}{data}{tail}"), opts.perms)?;
            }
            return Ok(());
        }
        let old = self.get_contents(path)?;
        let mut lines = perl_split_lines(&old);
        let begin_re = regex::Regex::new(r"^#\s*---\s*BEGIN\s*PVE\s*").expect("valid regex");
        let end_re = regex::Regex::new(r"(?i)^#\s*---\s*END\s*PVE\s*").expect("valid regex");
        let mut beg = None;
        let mut end = None;
        for (i, line) in lines.iter().enumerate() {
            if beg.is_none() && begin_re.is_match(line) {
                beg = Some(i);
            }
            if end.is_none() && beg.is_some() && end_re.is_match(line) {
                end = Some(i);
            }
            if beg.is_some() && end.is_some() {
                break;
            }
        }
        let tail_chomped = tail.trim_end_matches('\n');
        if let (Some(b), Some(e)) = (beg, end) {
            if data.is_empty() && b == 0 && e + 1 == lines.len() {
                if opts.delete {
                    self.unlink(path);
                }
                return Ok(());
            }
            lines.splice(b..=e, [format!("{head}{data}{tail_chomped}")]);
            self.set_contents(path, &(lines.join("\n") + "\n"), None)?;
        } else if !data.is_empty() {
            let mut content = lines.join("\n");
            if content.ends_with('\n') {
                content.pop();
            }
            content.push('\n');
            let section = format!("{head}{data}{tail}");
            let out = if opts.replace {
                section
            } else if opts.prepend {
                section + &content
            } else {
                content + &section
            };
            self.set_contents(path, &out, opts.perms)?;
        }
        Ok(())
    }
}

/// Options of [`CtFs::modify_file`].
#[derive(Clone, Copy, Default)]
pub struct ModifyOpts {
    pub perms: Option<u32>,
    pub delete: bool,
    pub replace: bool,
    pub prepend: bool,
}

/// Perl's `split(/\n/, $text)`: trailing empty fields dropped.
pub fn perl_split_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn components(path: &str) -> Vec<OsString> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            Component::CurDir => Some(".".into()),
            Component::RootDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn io_msg(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_inside_root() {
        let dir = std::env::temp_dir().join(format!("ctfs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(dir.join("outside.txt"), "secret").unwrap();
        std::os::unix::fs::symlink("../../outside.txt", root.join("etc/hosts")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc2")).unwrap();
        let fs = CtFs::new(&root, None);
        assert_eq!(fs.resolve("/etc/hosts", true), root.join("outside.txt"));
        assert!(!fs.file_exists("/etc/hosts"));
        assert_eq!(fs.resolve("/etc2/x", true), root.join("etc/x"));
        fs.set_contents("/etc/hosts", "new\n", None).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("outside.txt")).unwrap(),
            "secret"
        );
        assert_eq!(fs.get_contents("/etc/hosts").unwrap(), "new\n");
        fs.modify_file("/etc/hosts", "a\n", ModifyOpts::default())
            .unwrap();
        assert_eq!(
            fs.get_contents("/etc/hosts").unwrap(),
            "new\n# --- BEGIN PVE ---\na\n# --- END PVE ---\n"
        );
        fs.modify_file("/etc/hosts", "b", ModifyOpts::default())
            .unwrap();
        assert_eq!(
            fs.get_contents("/etc/hosts").unwrap(),
            "new\n# --- BEGIN PVE ---\nb\n# --- END PVE ---\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
