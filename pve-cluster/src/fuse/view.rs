//! What the mount shows besides the memdb: inode numbers, modes, symlinks, virtual files.

use std::time::{Duration, UNIX_EPOCH};

use fuser::{FileAttr, FileType};

use crate::memdb::{EntryInfo, Kind};
use crate::status::VirtualFile;

/// FUSE node ids: memdb inode + 1 (the root, memdb inode 0, is FUSE's 1); the
/// generated entries live at the very top of the number space.
pub fn fuse_ino(memdb_inode: u64) -> u64 {
    memdb_inode + 1
}

pub fn memdb_inode(ino: u64) -> Option<u64> {
    (ino < SPECIAL_BASE).then(|| ino - 1)
}

const SPECIAL_BASE: u64 = u64::MAX - 64;

/// The symlinks in the root, pointing into this node's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeLink {
    Local,
    QemuServer,
    Lxc,
    OpenVz,
}

impl NodeLink {
    pub const ALL: [NodeLink; 4] = [
        NodeLink::Local,
        NodeLink::QemuServer,
        NodeLink::Lxc,
        NodeLink::OpenVz,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NodeLink::Local => "local",
            NodeLink::QemuServer => "qemu-server",
            NodeLink::Lxc => "lxc",
            NodeLink::OpenVz => "openvz",
        }
    }

    pub fn target(self, node: &str) -> String {
        match self {
            NodeLink::Local => format!("nodes/{node}"),
            other => format!("nodes/{node}/{}", other.name()),
        }
    }
}

/// An entry of the root that is not stored in the memdb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    File(VirtualFile),
    Link(NodeLink),
}

impl Special {
    pub fn all() -> impl Iterator<Item = Special> {
        VirtualFile::ALL
            .into_iter()
            .map(Special::File)
            .chain(NodeLink::ALL.into_iter().map(Special::Link))
    }

    pub fn from_name(name: &str) -> Option<Special> {
        Special::all().find(|s| s.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Special::File(v) => v.name(),
            Special::Link(l) => l.name(),
        }
    }

    pub fn ino(self) -> u64 {
        let idx = Special::all().position(|s| s == self).unwrap_or(0) as u64;
        SPECIAL_BASE + 1 + idx
    }

    pub fn from_ino(ino: u64) -> Option<Special> {
        let idx = ino.checked_sub(SPECIAL_BASE + 1)?;
        Special::all().nth(idx as usize)
    }
}

/// `priv/…` and `nodes/<node>/priv/…` are owner-only.
pub fn path_is_private(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    let under = |p: &str| p == "priv" || p.starts_with("priv/");
    if under(path) {
        return true;
    }
    match path.strip_prefix("nodes/") {
        Some(rest) => match rest.find('/') {
            Some(i) => under(&rest[i + 1..]),
            None => false,
        },
        None => false,
    }
}

/// Permission bits as upstream shows them: 0777/0666 when quorate, 0555/0444 when
/// not, then masked to 0700/0600 (private) or 0755/0640.
pub fn mode_for(path: &str, kind: Kind, quorate: bool) -> u16 {
    let base = match (kind, quorate) {
        (Kind::Dir, true) => 0o777,
        (Kind::File, true) => 0o666,
        (Kind::Dir, false) => 0o555,
        (Kind::File, false) => 0o444,
    };
    let mask = match (path_is_private(path), kind) {
        (true, Kind::Dir) => 0o700,
        (true, Kind::File) => 0o600,
        (false, Kind::Dir) => 0o755,
        (false, Kind::File) => 0o640,
    };
    base & mask
}

fn attr(ino: u64, kind: FileType, perm: u16, size: u64, mtime: u32, gid: u32) -> FileAttr {
    let t = UNIX_EPOCH + Duration::from_secs(mtime as u64);
    FileAttr {
        ino,
        size,
        blocks: size.div_ceil(4096),
        atime: t,
        mtime: t,
        ctime: t,
        crtime: t,
        kind,
        perm,
        nlink: if kind == FileType::Directory { 2 } else { 1 },
        uid: 0,
        gid,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

pub fn entry_attr(e: &EntryInfo, path: &str, gid: u32, quorate: bool) -> FileAttr {
    let kind = match e.kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
    };
    // The root shows mtime 0 like upstream's plugin directory.
    let mtime = if e.inode == 0 { 0 } else { e.mtime };
    let mut a = attr(
        fuse_ino(e.inode),
        kind,
        mode_for(path, e.kind, quorate),
        e.size,
        mtime,
        gid,
    );
    // Upstream's mtime has whole seconds. The nanoseconds carry the entry's version,
    // so that a reader can tell a changed file by its attributes, also when it changed
    // twice in one second with the same size (the guest list cache; the database
    // version itself is `.version`'s ctime, see `Cfs::change_stamp`).
    a.mtime = UNIX_EPOCH + Duration::new(mtime as u64, version_nsec(e.version));
    a
}

/// The nanoseconds of an entry's mtime for `version`.
pub fn version_nsec(version: u64) -> u32 {
    (version % 1_000_000_000) as u32
}

pub fn special_attr(s: Special, size: u64, gid: u32) -> FileAttr {
    // Generated entries report no blocks, as upstream.
    let mut a = match s {
        Special::File(v) => attr(
            s.ino(),
            FileType::RegularFile,
            v.mode() as u16,
            size,
            0,
            gid,
        ),
        Special::Link(_) => attr(s.ino(), FileType::Symlink, 0o755, size, 0, gid),
    };
    a.blocks = 0;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_paths() {
        assert!(path_is_private("priv"));
        assert!(path_is_private("/priv/lock/x"));
        assert!(path_is_private("nodes/pve1/priv"));
        assert!(path_is_private("nodes/pve1/priv/a"));
        assert!(!path_is_private("private"));
        assert!(!path_is_private("nodes/pve1/private"));
        assert!(!path_is_private("nodes/pve1"));
        assert!(!path_is_private("nodes"));
    }

    #[test]
    fn special_inos_round_trip() {
        for s in Special::all() {
            assert_eq!(Special::from_ino(s.ino()), Some(s));
            assert_eq!(memdb_inode(s.ino()), None);
        }
        assert_eq!(memdb_inode(fuse_ino(0)), Some(0));
    }
}
