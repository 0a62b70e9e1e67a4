//! The FUSE file system at `<root>/etc/pve`.
//!
//! Reads come from the memdb (with the kernel's attribute and page cache kept warm);
//! every change becomes an [`Op`] submitted to the [`ChangeSink`].

mod spin;
mod view;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use fuser::{
    FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};

pub use view::{fuse_ino, memdb_inode, path_is_private, NodeLink, Special};

use crate::apply::{ChangeSink, Done};
use crate::memdb::{is_lock_dir_path, Applied, EntryInfo, Errno, Kind, Memdb, Op, MAX_FILE_SIZE};
use crate::status::{Status, VirtualFile};

/// Cluster mode: how long the kernel may cache names and attributes of stored
/// entries (other nodes change them behind this kernel's back).
const TTL: Duration = Duration::from_secs(1);
/// Local mode: every change passes through this kernel, which updates or drops its
/// caches itself (a rename drops the moved entry's attributes, so a mode that
/// follows the path is re-read; mkdir always revalidates the name), so names and
/// attributes stay cached until then: no LOOKUP or GETATTR to revalidate an
/// unchanged file. Lock directories, which an unlock request removes behind the
/// kernel's back, are never cached.
const LOCAL_TTL: Duration = Duration::from_secs(3600);
/// Generated files and lock directories are never cached.
const NO_TTL: Duration = Duration::ZERO;

const FOPEN_DIRECT_IO: u32 = 1 << 0;
const FOPEN_KEEP_CACHE: u32 = 1 << 1;
/// `init` capability: the kernel drops cached pages when mtime or size change.
const FUSE_AUTO_INVAL_DATA: u32 = 1 << 12;

/// Upstream's write chunk (libfuse 2 with big_writes): a write crossing the 1 MiB
/// limit ends as a short write at a 128 KiB boundary.
const MAX_WRITE: u32 = 128 * 1024;

const STATFS_BLOCKS: u64 = 32768;
const STATFS_FILES: u64 = 262144;

pub struct CfsFuse {
    core: Arc<Core>,
    /// Cluster mode: a change waits for its delivery through corosync on one of these
    /// threads, so that the FUSE loop goes on serving reads and other writers
    /// meanwhile (upstream runs libfuse's multi-threaded loop for the same reason).
    workers: Option<Workers>,
    /// Local mode answers OPEN with ENOSYS: the kernel then opens files without asking
    /// (no OPEN/RELEASE round trips) and keeps their pages cached. Generated files stay
    /// fresh through `auto_inval_data`: their attributes are never cached and their
    /// mtime changes with their content, which drops the stale pages on every read.
    no_open: bool,
    /// The listing of each open directory handle, taken when it is read from the
    /// start (as libfuse does for upstream), so that entries removed while a reader
    /// walks the directory (`rm -r`) do not shift the offsets of the others.
    open_dirs: HashMap<u64, Vec<DirEntry>>,
    next_dir_fh: u64,
    /// Local mode: polling between requests of a burst (see `spin`).
    spin: Option<Arc<spin::Spin>>,
}

/// One entry of a directory listing: inode, type and name.
type DirEntry = (u64, FileType, String);

/// What every request needs, shared with the worker threads.
pub struct Core {
    memdb: Arc<Memdb>,
    status: Arc<Status>,
    sink: Arc<dyn ChangeSink>,
    gid: u32,
    /// `open` flags of stored files: page cache kept in local mode (every change
    /// passes this kernel); direct I/O in cluster mode, as upstream, so that a change
    /// applied from another node is read at once.
    file_open_flags: u32,
    /// How long the kernel may cache names and attributes of stored entries.
    ttl: Duration,
}

impl std::ops::Deref for CfsFuse {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Threads that run changes (and send their replies) off the FUSE loop.
struct Workers {
    jobs: mpsc::Sender<Job>,
}

/// As many changes as libfuse's multi-threaded loop keeps threads for by default.
const WORKERS: usize = 10;

impl Workers {
    fn start() -> Workers {
        let (jobs, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..WORKERS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cfs-change-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        // The session ended.
                        Err(_) => return,
                    }
                });
            if spawned.is_err() && i == 0 {
                eprintln!("pmxcfs: no worker thread for changes; running them inline");
            }
        }
        Workers { jobs }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

impl CfsFuse {
    pub fn new(
        memdb: Arc<Memdb>,
        status: Arc<Status>,
        sink: Arc<dyn ChangeSink>,
        gid: u32,
    ) -> Self {
        let ahead_memdb = memdb.clone();
        let ahead: spin::Ahead = Box::new(move |begin| ahead_memdb.change_ahead(begin));
        CfsFuse {
            core: Arc::new(Core {
                memdb,
                status,
                sink,
                gid,
                file_open_flags: FOPEN_KEEP_CACHE,
                ttl: LOCAL_TTL,
            }),
            workers: None,
            no_open: true,
            open_dirs: HashMap::new(),
            next_dir_fh: 1,
            spin: Some(spin::Spin::with_ahead(ahead)),
        }
    }

    /// The polling state (local mode only); the mount code gives it the session's
    /// `/dev/fuse` descriptor.
    pub fn spin(&self) -> Option<Arc<spin::Spin>> {
        self.spin.clone()
    }

    /// Cluster mode: files are opened with `direct_io` (other nodes change them) and
    /// changes run on worker threads while they wait for corosync.
    pub fn with_direct_io(mut self) -> Self {
        if let Some(core) = Arc::get_mut(&mut self.core) {
            core.file_open_flags = FOPEN_DIRECT_IO;
            core.ttl = TTL;
        }
        self.no_open = false;
        self.workers = Some(Workers::start());
        // Changes are answered from other threads, after their round through
        // corosync; not measured with polling.
        self.spin = None;
        self
    }

    /// One change whose reply `then` sends. Local mode: right here. Cluster mode:
    /// the change is sent to corosync from this thread and `then` runs on the
    /// delivery thread once it is applied here, so no thread waits for the round
    /// trip and no worker is woken; only when corosync cannot take it now does a
    /// worker wait for that.
    fn submit_then(
        &self,
        op: Op,
        then: impl FnOnce(&Core, Result<&Applied, Errno>) + Send + 'static,
    ) {
        let core = self.core.clone();
        if self.workers.is_none() {
            // Answered as soon as the change is stored, which is before the commit
            // has finished: `then` must not use the memdb (it may be locked).
            return self
                .sink
                .submit_answering(op, Box::new(move |res| then(&core, res)));
        }
        let done: Done = Box::new(move |res| then(&core, res.as_ref().map_err(|e| *e)));
        if let Some((op, done)) = self.sink.start(op, done) {
            self.change(move |c| done(c.sink.submit(op)));
        }
    }

    /// Runs `f` (a change and its reply) on a worker thread if there are any, else
    /// right here.
    fn change(&self, f: impl FnOnce(&Core) + Send + 'static) {
        let core = self.core.clone();
        let job: Job = Box::new(move || f(&core));
        match &self.workers {
            Some(w) => {
                if let Err(mpsc::SendError(job)) = w.jobs.send(job) {
                    job()
                }
            }
            None => job(),
        }
    }
}

impl Core {
    /// How long the kernel may cache the name and attributes of the entry at `path`.
    fn ttl_for(&self, path: &str) -> Duration {
        if is_lock_dir_path(path) {
            NO_TTL
        } else {
            self.ttl
        }
    }

    fn resolve(&self, ino: u64) -> Result<(EntryInfo, String), Errno> {
        let inode = memdb_inode(ino).ok_or(Errno::ENOENT)?;
        let e = self.memdb.stat_inode(inode).ok_or(Errno::ENOENT)?;
        let path = self.memdb.path_of(inode).ok_or(Errno::ENOENT)?;
        Ok((e, path))
    }

    /// Path for a new entry `name` in directory `parent`.
    fn child_path(&self, parent: u64, name: &OsStr) -> Result<String, Errno> {
        let name = name.to_str().ok_or(Errno::EINVAL)?;
        if parent == fuser::FUSE_ROOT_ID && Special::from_name(name).is_some() {
            return Err(Errno::EEXIST);
        }
        let (dir, dir_path) = self.resolve(parent)?;
        if dir.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(join(&dir_path, name))
    }

    fn special_content(&self, s: Special) -> Vec<u8> {
        match s {
            Special::File(v) => self.status.render(v, &self.memdb),
            Special::Link(l) => l.target(&self.status.nodename).into_bytes(),
        }
    }

    fn special_attr(&self, s: Special) -> fuser::FileAttr {
        let content = self.special_content(s);
        let mut a = view::special_attr(s, content.len() as u64, self.gid);
        // The nanoseconds of the mtime follow the content, so that the kernel drops
        // cached pages of a generated file whenever it changed (auto_inval_data).
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        content.hash(&mut h);
        let nsec = (h.finish() % 1_000_000_000) as u32;
        let secs = a
            .mtime
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if s == Special::File(VirtualFile::Version) {
            // `.version` (never cached) carries the database version, bumped by every
            // change anywhere, as its ctime: one stat of it tells a reader whether
            // anything changed (`Cfs::change_stamp`). Its mtime stays upstream's 0.
            let version = self.memdb.stat_inode(0).map(|r| r.version).unwrap_or(0);
            a.ctime = std::time::UNIX_EPOCH + Duration::from_secs(version);
        }
        a.mtime = std::time::UNIX_EPOCH + Duration::new(secs, nsec);
        a
    }

    /// The entry a change left at `path`: the one in `applied` (an answer given
    /// while the memdb may be locked takes it from there), else looked up.
    fn entry_after(&self, path: &str, applied: &Applied) -> Option<EntryInfo> {
        applied.entry.clone().or_else(|| self.memdb.getattr(path))
    }

    fn reply_applied_entry(&self, path: &str, applied: &Applied, reply: ReplyEntry) {
        match self.entry_after(path, applied) {
            Some(e) => reply.entry(
                &self.ttl_for(path),
                &view::entry_attr(&e, path, self.gid, self.status.quorate()),
                0,
            ),
            None => reply.error(libc::EIO),
        }
    }

    fn write_special(&self, s: Special, data: &[u8]) -> Result<u32, Errno> {
        match s {
            Special::File(VirtualFile::Debug) => {
                match data.first() {
                    Some(b'1') => self.status.set_debug(true),
                    Some(b'0') => self.status.set_debug(false),
                    _ => return Err(Errno::EINVAL),
                }
                Ok(data.len() as u32)
            }
            _ => Err(Errno::EIO),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn setattr_reply(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        mtime: Option<TimeOrNow>,
        reply: ReplyAttr,
    ) {
        let before = self.resolve(ino).ok();
        if let Err(e) = self.setattr_inner(ino, mode, uid, gid, size, mtime) {
            return reply.error(e.0);
        }
        if let Some(s) = Special::from_ino(ino) {
            return reply.attr(&NO_TTL, &self.special_attr(s));
        }
        // After a successful unlock request the lock directory is gone: the call
        // still succeeds (as upstream), with the last attributes.
        match self.resolve(ino).ok().or(before) {
            Some((e, path)) => reply.attr(
                &self.ttl_for(&path),
                &view::entry_attr(&e, &path, self.gid, self.status.quorate()),
            ),
            None => reply.error(libc::ENOENT),
        }
    }

    fn setattr_inner(
        &self,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        mtime: Option<TimeOrNow>,
    ) -> Result<(), Errno> {
        if let Some(s) = Special::from_ino(ino) {
            return match (size, mode, uid, gid) {
                (Some(_), ..) if s == Special::File(VirtualFile::Debug) => Ok(()),
                (None, None, None, None) => Ok(()),
                _ => Err(Errno::EPERM),
            };
        }
        let (e, path) = self.resolve(ino)?;
        if let Some(mode) = mode {
            // Only the mode we show anyway may be "set"; it changes nothing.
            let allowed = if path_is_private(&path) { 0o600 } else { 0o640 };
            if mode & 0o7777 != allowed {
                return Err(Errno::EPERM);
            }
        }
        if uid.is_some_and(|u| u != 0) || gid.is_some_and(|g| g != self.gid) {
            return Err(Errno::EPERM);
        }
        if let Some(size) = size {
            if size > MAX_FILE_SIZE {
                return Err(Errno::EFBIG);
            }
            self.sink.submit(Op::Write {
                path: path.clone(),
                offset: size as u32,
                data: Vec::new(),
                truncate: true,
            })?;
        }
        if let Some(t) = mtime {
            let t = match t {
                TimeOrNow::Now => SystemTime::now(),
                TimeOrNow::SpecificTime(t) => t,
            };
            let secs = t
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as u32)
                .unwrap_or(0);
            if secs == 0 && e.kind == Kind::Dir && is_lock_dir_path(&path) {
                let csum = self.memdb.entry_csum(&path).ok_or(Errno::ENOENT)?;
                self.sink.unlock_request(&path, csum)?;
            } else {
                self.sink.submit(Op::Mtime { path, mtime: secs })?;
            }
        }
        Ok(())
    }
}

impl CfsFuse {
    /// LOOKUP of a name that does not exist. In local mode the kernel may remember
    /// that (a negative entry) for as long as it keeps names: an entry can only appear
    /// through this kernel, which then replaces what it remembered. So repeated tests
    /// for a missing file (`-e`, `stat`) cost no round trip. Not for lock paths, and
    /// not in cluster mode, where other nodes create entries.
    fn reply_missing(&self, dir: u64, name: &str, reply: ReplyEntry) {
        if self.ttl == TTL {
            return reply.error(libc::ENOENT);
        }
        let ttl = match self.memdb.path_of(dir) {
            Some(dir_path) => self.ttl_for(&join(&dir_path, name)),
            None => NO_TTL,
        };
        if ttl.is_zero() {
            return reply.error(libc::ENOENT);
        }
        // Node id 0: "no such entry", cached for `ttl`; the attributes are not used.
        let none = fuser::FileAttr {
            ino: 0,
            size: 0,
            blocks: 0,
            atime: std::time::UNIX_EPOCH,
            mtime: std::time::UNIX_EPOCH,
            ctime: std::time::UNIX_EPOCH,
            crtime: std::time::UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: 0,
            nlink: 0,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 0,
            flags: 0,
        };
        reply.entry(&ttl, &none, 0)
    }

    /// `.`, `..`, the generated entries (root only) and the children of a directory.
    fn dir_listing(&self, ino: u64) -> Result<Vec<DirEntry>, Errno> {
        let inode = memdb_inode(ino).ok_or(Errno::ENOTDIR)?;
        let children = self.memdb.readdir(inode)?;
        let parent = self
            .memdb
            .stat_inode(inode)
            .map(|e| fuse_ino(e.parent))
            .unwrap_or(fuser::FUSE_ROOT_ID);
        let mut list: Vec<DirEntry> = vec![
            (ino, FileType::Directory, ".".into()),
            (parent, FileType::Directory, "..".into()),
        ];
        if inode == 0 {
            for s in Special::all() {
                let kind = match s {
                    Special::File(_) => FileType::RegularFile,
                    Special::Link(_) => FileType::Symlink,
                };
                list.push((s.ino(), kind, s.name().to_string()));
            }
        }
        for c in children {
            let kind = match c.kind {
                Kind::Dir => FileType::Directory,
                Kind::File => FileType::RegularFile,
            };
            list.push((fuse_ino(c.inode), kind, c.name));
        }
        Ok(list)
    }
}

impl Filesystem for CfsFuse {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        let _ = config.set_max_write(MAX_WRITE);
        if self.no_open && config.add_capabilities(FUSE_AUTO_INVAL_DATA).is_err() {
            // Without it generated files could be read stale from the page cache.
            self.no_open = false;
        }
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        let Some(name) = name.to_str() else {
            return reply.error(libc::ENOENT);
        };
        if parent == fuser::FUSE_ROOT_ID {
            if let Some(s) = Special::from_name(name) {
                return reply.entry(&NO_TTL, &self.special_attr(s), 0);
            }
        }
        let Some(dir) = memdb_inode(parent) else {
            return reply.error(libc::ENOENT);
        };
        match self.memdb.lookup_child(dir, name) {
            Some(e) => {
                let path = self.memdb.path_of(e.inode).unwrap_or_default();
                reply.entry(
                    &self.ttl_for(&path),
                    &view::entry_attr(&e, &path, self.gid, self.status.quorate()),
                    0,
                )
            }
            None => self.reply_missing(dir, name, reply),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if let Some(s) = Special::from_ino(ino) {
            return reply.attr(&NO_TTL, &self.special_attr(s));
        }
        match self.resolve(ino) {
            Ok((e, path)) => reply.attr(
                &self.ttl_for(&path),
                &view::entry_attr(&e, &path, self.gid, self.status.quorate()),
            ),
            Err(e) => reply.error(e.0),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if Special::from_ino(ino).is_some() {
            return self
                .core
                .setattr_reply(ino, mode, uid, gid, size, mtime, reply);
        }
        self.change(move |c| c.setattr_reply(ino, mode, uid, gid, size, mtime, reply))
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        match Special::from_ino(ino) {
            Some(s @ Special::Link(_)) => reply.data(&self.special_content(s)),
            _ => reply.error(libc::EINVAL),
        }
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        let path = match self.child_path(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e.0),
        };
        let op = Op::Mkdir { path: path.clone() };
        self.submit_then(op, move |c, res| match res {
            Ok(a) => c.reply_applied_entry(&path, a, reply),
            Err(e) => reply.error(e.0),
        })
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        let path = match self.child_path(parent, name) {
            Ok(p) => p,
            Err(Errno::EEXIST) => return reply.error(libc::EACCES),
            Err(e) => return reply.error(e.0),
        };
        self.submit_then(Op::Delete { path }, move |_, res| match res {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e.0),
        })
    }

    fn rmdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        self.unlink(req, parent, name, reply)
    }

    fn symlink(
        &mut self,
        _req: &Request<'_>,
        _parent: u64,
        _name: &OsStr,
        _target: &std::path::Path,
        reply: ReplyEntry,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        reply.error(libc::ENOSYS)
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if flags != 0 {
            return reply.error(libc::EINVAL);
        }
        let from = self.child_path(parent, name);
        let to = self.child_path(newparent, newname);
        let (from, to) = match (from, to) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(Errno::EEXIST), _) | (_, Err(Errno::EEXIST)) => return reply.error(libc::EACCES),
            (Err(e), _) | (_, Err(e)) => return reply.error(e.0),
        };
        self.submit_then(Op::Rename { from, to }, move |_, res| match res {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e.0),
        })
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if self.no_open {
            // Writes to generated files then fail at write(2) with EIO instead.
            return reply.error(libc::ENOSYS);
        }
        if let Some(s) = Special::from_ino(ino) {
            let writing = flags & libc::O_ACCMODE != libc::O_RDONLY;
            if writing && s != Special::File(VirtualFile::Debug) {
                return reply.error(libc::EIO);
            }
            return reply.opened(0, FOPEN_DIRECT_IO);
        }
        match self.resolve(ino) {
            Ok(_) => reply.opened(0, self.file_open_flags),
            Err(e) => reply.error(e.0),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        let offset = offset.max(0) as usize;
        if let Some(s) = Special::from_ino(ino) {
            let data = self.special_content(s);
            let start = offset.min(data.len());
            let end = start.saturating_add(size as usize).min(data.len());
            return reply.data(&data[start..end]);
        }
        let Some(inode) = memdb_inode(ino) else {
            return reply.error(libc::ENOENT);
        };
        match self.memdb.read_inode(inode, offset as u64, size as usize) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(e.0),
        }
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if let Some(s) = Special::from_ino(ino) {
            return match self.write_special(s, data) {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e.0),
            };
        }
        if offset < 0 || offset as u64 + data.len() as u64 > MAX_FILE_SIZE {
            return reply.error(libc::EFBIG);
        }
        let path = match self.resolve(ino) {
            Ok((_, path)) => path,
            Err(e) => return reply.error(e.0),
        };
        let op = Op::Write {
            path,
            offset: offset as u32,
            data: data.to_vec(),
            truncate: false,
        };
        self.submit_then(op, move |_, res| match res {
            Ok(a) => reply.written(a.count as u32),
            Err(e) => reply.error(e.0),
        })
    }

    /// Nothing to flush (writes are applied when they arrive); ENOSYS makes the kernel
    /// stop sending FLUSH on every close, which saves a round trip per file access.
    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _lo: u64, reply: ReplyEmpty) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        reply.error(libc::ENOSYS)
    }

    fn fsync(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _ds: bool, reply: ReplyEmpty) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        reply.ok()
    }

    fn opendir(&mut self, _req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        match memdb_inode(ino).and_then(|i| self.memdb.stat_inode(i)) {
            Some(e) if e.kind == Kind::Dir => {
                let fh = self.next_dir_fh;
                self.next_dir_fh += 1;
                reply.opened(fh, 0)
            }
            Some(_) => reply.error(libc::ENOTDIR),
            None => reply.error(libc::ENOENT),
        }
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if offset == 0 || !self.open_dirs.contains_key(&fh) {
            match self.dir_listing(ino) {
                Ok(list) => {
                    self.open_dirs.insert(fh, list);
                }
                Err(e) => return reply.error(e.0),
            }
        }
        let list = &self.open_dirs[&fh];
        for (i, (ino, kind, name)) in list.iter().enumerate().skip(offset.max(0) as usize) {
            if reply.add(*ino, (i + 1) as i64, *kind, name) {
                break;
            }
        }
        reply.ok()
    }

    fn releasedir(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        reply: ReplyEmpty,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        self.open_dirs.remove(&fh);
        reply.ok()
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        let (files, size) = self.memdb.usage();
        let bfree = STATFS_BLOCKS.saturating_sub(size.div_ceil(4096));
        reply.statfs(
            STATFS_BLOCKS,
            bfree,
            bfree,
            STATFS_FILES,
            STATFS_FILES.saturating_sub(files),
            4096,
            256,
            4096,
        )
    }

    fn access(&mut self, _req: &Request<'_>, _ino: u64, _mask: i32, reply: ReplyEmpty) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        reply.ok()
    }

    /// Regular files only. In local mode this is how files are created: CREATE
    /// answers ENOSYS there, so the kernel sends MKNOD and then opens the file without
    /// asking (no OPEN, and no RELEASE on close) — two round trips fewer per new file.
    fn mknod(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if mode & libc::S_IFMT != libc::S_IFREG {
            return reply.error(libc::ENOSYS);
        }
        let path = match self.child_path(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e.0),
        };
        let op = Op::Create { path: path.clone() };
        self.submit_then(op, move |c, res| match res {
            Ok(a) => c.reply_applied_entry(&path, a, reply),
            Err(e) => reply.error(e.0),
        })
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let _spin = self.spin.as_ref().map(|s| s.guard());
        if self.no_open {
            return reply.error(libc::ENOSYS);
        }
        let path = match self.child_path(parent, name) {
            Ok(p) => p,
            Err(e) => return reply.error(e.0),
        };
        let op = Op::Create { path: path.clone() };
        self.submit_then(op, move |c, res| {
            let a = match res {
                Ok(a) => a,
                Err(e) => return reply.error(e.0),
            };
            match c.entry_after(&path, a) {
                Some(e) => reply.created(
                    &c.ttl_for(&path),
                    &view::entry_attr(&e, &path, c.gid, c.status.quorate()),
                    0,
                    0,
                    c.file_open_flags,
                ),
                None => reply.error(libc::EIO),
            }
        })
    }
}
