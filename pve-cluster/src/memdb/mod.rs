//! memdb: the whole /etc/pve tree in memory, persisted to SQLite (`config.db`).
//!
//! Every change is an [`Op`] applied through [`Memdb::apply`]. In local mode the FUSE
//! layer applies ops directly; in cluster mode the DFSM delivers the same ops, in total
//! order, to every node's `apply`.

mod database;
mod index;
mod locks;
mod sync;
mod tree;
mod vmlist;
mod walvfs;

use std::path::Path;
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use database::{RootState, VERSION_ROW_NAME};
pub use index::{encode_index, entry_csum};
pub use locks::{is_lock_dir_path, LOCK_DIR, LOCK_TIMEOUT_SECS};
pub use sync::SyncEntry;
pub use tree::{split_path, EntryInfo, Kind, DT_DIR, DT_REG, MAX_FILE_SIZE};
pub use vmlist::{
    guest_path, GuestEntry, GuestPath, GuestType, PathCounters, VmList, OBSERVED_PATHS,
};

use database::Database;
use locks::LockTable;
use tree::{components, Entry, Row, Tree};

/// A POSIX error number, as returned to FUSE callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub const EPERM: Errno = Errno(libc::EPERM);
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    pub const EIO: Errno = Errno(libc::EIO);
    pub const EACCES: Errno = Errno(libc::EACCES);
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    pub const ENOTDIR: Errno = Errno(libc::ENOTDIR);
    pub const EISDIR: Errno = Errno(libc::EISDIR);
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    pub const EFBIG: Errno = Errno(libc::EFBIG);
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    pub const ENOTEMPTY: Errno = Errno(libc::ENOTEMPTY);
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

/// A change to the tree; the same set of operations the DCDB protocol replicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Create an empty file (EEXIST if present).
    Create {
        path: String,
    },
    Mkdir {
        path: String,
    },
    /// Write `data` at `offset`; with `truncate` the file ends after the written range.
    Write {
        path: String,
        offset: u32,
        data: Vec<u8>,
        truncate: bool,
    },
    /// unlink and rmdir.
    Delete {
        path: String,
    },
    Rename {
        from: String,
        to: String,
    },
    /// Set the mtime of an entry (lock refresh for lock directories).
    Mtime {
        path: String,
        mtime: u32,
    },
    /// Remove a lock directory if it is still the entry with checksum `csum`.
    Unlock {
        path: String,
        csum: [u8; 32],
    },
}

/// An entry an op touched, so caches (the kernel's) can be invalidated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Touched {
    pub inode: u64,
    pub parent: u64,
    pub name: String,
    /// The entry no longer exists under `parent/name`.
    pub removed: bool,
}

/// What an applied op did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Bytes written (writes), else 0.
    pub count: usize,
    pub touched: Vec<Touched>,
    /// The created or changed entry as it is afterwards (not for deletions).
    pub entry: Option<EntryInfo>,
}

/// Gets the result of a change once it is certain; see [`Memdb::apply_answering`].
pub type Answer = Box<dyn FnOnce(Result<&Applied, Errno>)>;

thread_local! {
    /// The answer of the change this thread is applying, until it is given.
    static ANSWER: std::cell::RefCell<Option<Answer>> = const { std::cell::RefCell::new(None) };
}

fn take_answer() -> Option<Answer> {
    ANSWER.with(|a| a.borrow_mut().take())
}

struct State {
    tree: Tree,
    /// A Mutex only to make the state Sync; writers hold the outer write lock anyway.
    db: Mutex<Option<Database>>,
    /// Sticky: after a backend failure every operation fails with EIO.
    errors: bool,
    locks: LockTable,
    vmlist: VmList,
    counters: PathCounters,
}

pub struct Memdb {
    state: RwLock<State>,
}

/// The current time in seconds, as stored in mtime fields.
pub fn now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

fn normalize(path: &str) -> String {
    components(path).collect::<Vec<_>>().join("/")
}

fn row_of(e: &Entry) -> Row {
    Row {
        inode: e.inode,
        parent: e.parent,
        version: e.version,
        writer: e.writer,
        mtime: e.mtime,
        dtype: e.kind.dtype(),
        name: e.name.clone(),
        data: (!e.data.is_empty()).then(|| e.data.clone()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("DB load failed: {0}")]
    Load(String),
}

impl Memdb {
    /// Opens (or creates) the database file and loads the tree.
    pub fn open(path: &Path) -> Result<Memdb, OpenError> {
        let mut db = Database::open(path)?;
        let loaded = db.load()?;
        let mut tree = Tree::from_rows(loaded.rows).map_err(OpenError::Load)?;
        let root = match loaded.root {
            Some(r) => r,
            None => {
                // A new database: version 1 on disk, the in-memory root mtime stays 0.
                let r = RootState {
                    version: 1,
                    writer: 0,
                    mtime: now_secs(),
                };
                db.commit(None, None, r)?;
                RootState { mtime: 0, ..r }
            }
        };
        let rootent = tree.root_mut();
        rootent.version = root.version;
        rootent.writer = root.writer;
        rootent.mtime = root.mtime;
        let mut state = State {
            tree,
            db: Mutex::new(Some(db)),
            errors: false,
            locks: LockTable::default(),
            vmlist: VmList::default(),
            counters: PathCounters::default(),
        };
        state.counters.record_reload();
        state.vmlist.rebuild(&state.tree);
        state.locks.rebuild(&state.tree);
        Ok(Memdb {
            state: RwLock::new(state),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes and closes the database; every later change fails with EIO.
    pub fn close(&self) {
        let mut st = self.write();
        *st.db.lock().unwrap_or_else(|e| e.into_inner()) = None;
        st.errors = true;
    }

    /// Whether a backend failure has stopped all changes.
    pub fn has_errors(&self) -> bool {
        self.read().errors
    }

    /// Sets how long a lock lives (upstream: 120 s); only tests change it.
    pub fn set_lock_timeout(&self, secs: u64) {
        self.write().locks.timeout = secs;
    }

    pub fn root_state(&self) -> RootState {
        let st = self.read();
        let r = st.tree.root();
        RootState {
            version: r.version,
            writer: r.writer,
            mtime: r.mtime,
        }
    }

    pub fn getattr(&self, path: &str) -> Option<EntryInfo> {
        self.read().tree.lookup(path).map(Entry::info)
    }

    pub fn stat_inode(&self, inode: u64) -> Option<EntryInfo> {
        self.read().tree.get(inode).map(Entry::info)
    }

    pub fn lookup_child(&self, dir: u64, name: &str) -> Option<EntryInfo> {
        self.read().tree.child(dir, name).map(Entry::info)
    }

    pub fn path_of(&self, inode: u64) -> Option<String> {
        self.read().tree.path_of(inode)
    }

    /// Reads up to `size` bytes at `offset` of a file.
    pub fn read_inode(&self, inode: u64, offset: u64, size: usize) -> Result<Vec<u8>, Errno> {
        let st = self.read();
        let e = st.tree.get(inode).ok_or(Errno::ENOENT)?;
        if e.kind == Kind::Dir {
            return Err(Errno::EISDIR);
        }
        let start = (offset as usize).min(e.data.len());
        let end = start.saturating_add(size).min(e.data.len());
        Ok(e.data[start..end].to_vec())
    }

    /// The whole content of a file.
    pub fn read_path(&self, path: &str) -> Result<Vec<u8>, Errno> {
        let st = self.read();
        let e = st.tree.lookup(path).ok_or(Errno::ENOENT)?;
        if e.kind == Kind::Dir {
            return Err(Errno::EISDIR);
        }
        Ok(e.data.clone())
    }

    /// The children of a directory, sorted by name.
    pub fn readdir(&self, inode: u64) -> Result<Vec<EntryInfo>, Errno> {
        let st = self.read();
        let e = st.tree.get(inode).ok_or(Errno::ENOENT)?;
        if e.kind != Kind::Dir {
            return Err(Errno::ENOTDIR);
        }
        Ok(e.children
            .values()
            .filter_map(|i| st.tree.get(*i).map(Entry::info))
            .collect())
    }

    /// Number of entries including the root, and the sum of all file sizes (statfs).
    pub fn usage(&self) -> (u64, u64) {
        let st = self.read();
        let size = st.tree.entries.values().map(|e| e.data.len() as u64).sum();
        (st.tree.entries.len() as u64, size)
    }

    pub fn vmlist(&self) -> VmList {
        self.read().vmlist.clone()
    }

    /// The version of the VM list alone (no copy of the list).
    pub fn vmlist_version(&self) -> u32 {
        self.read().vmlist.version
    }

    pub fn counters(&self) -> PathCounters {
        self.read().counters.clone()
    }

    /// The encoded DFSM index of the current tree.
    pub fn encode_index(&self) -> Vec<u8> {
        let st = self.read();
        encode_index(&st.tree, st.tree.root().version)
    }

    /// The checksum of the entry at `path` (lock identity).
    pub fn entry_csum(&self, path: &str) -> Option<[u8; 32]> {
        self.read().tree.lookup(path).map(entry_csum)
    }

    /// Local mode, while the FUSE thread waits for the next request of a burst:
    /// `begin` starts the database transaction of a change that may come next, so
    /// that the change does not wait for it (see `Database::begin_ahead`); `!begin`
    /// ends it if no change used it.
    pub fn change_ahead(&self, begin: bool) {
        let st = self.read();
        let mut db = st.db.lock().unwrap_or_else(|e| e.into_inner());
        match db.as_mut() {
            Some(db) if begin && !st.errors => db.begin_ahead(),
            Some(db) if !begin => db.end_ahead(),
            _ => {}
        }
    }

    /// Whether the lock at `path` with checksum `csum` is older than the lock timeout
    /// on this node's clock (starts the timer if the lock is new to us).
    pub fn lock_expired(&self, path: &str, csum: &[u8; 32]) -> bool {
        self.write().locks.expired(&normalize(path), csum)
    }

    /// [`apply`](Self::apply), handing the result to `answer` as soon as it is
    /// certain: for a change that is stored, right when its commit reached the WAL
    /// file (see `walvfs::after_commit_written`), while SQLite still finishes the
    /// commit; otherwise when `apply` returns. A caller waiting for the answer (a
    /// FUSE request) thus does not wait for the rest of the commit. `answer` may run
    /// with this memdb locked, so it must not use it. Should the commit fail after
    /// its bytes were written (they are then stored all the same), the caller has
    /// got success and the error is returned here.
    pub fn apply_answering(
        &self,
        op: &Op,
        writer: u32,
        mtime: u32,
        answer: Answer,
    ) -> Result<Applied, Errno> {
        ANSWER.with(|a| *a.borrow_mut() = Some(answer));
        let res = self.apply(op, writer, mtime);
        if let Some(answer) = take_answer() {
            answer(res.as_ref().map_err(|e| *e));
        }
        res
    }

    /// The one path through which every change is made.
    pub fn apply(&self, op: &Op, writer: u32, mtime: u32) -> Result<Applied, Errno> {
        let mut st = self.write();
        if st.errors {
            return Err(Errno::EIO);
        }
        match op {
            Op::Create { path } => st.pwrite(&normalize(path), writer, mtime, &[], 0, false, true),
            Op::Write {
                path,
                offset,
                data,
                truncate,
            } => st.pwrite(
                &normalize(path),
                writer,
                mtime,
                data,
                *offset,
                *truncate,
                false,
            ),
            Op::Mkdir { path } => st.mkdir(&normalize(path), writer, mtime),
            Op::Delete { path } => st.delete(&normalize(path), writer, mtime),
            Op::Rename { from, to } => st.rename(&normalize(from), &normalize(to), writer, mtime),
            Op::Mtime { path, mtime } => st.set_mtime(&normalize(path), writer, *mtime),
            Op::Unlock { path, csum } => {
                let path = normalize(path);
                let matches = st
                    .tree
                    .lookup(&path)
                    .is_some_and(|e| e.kind == Kind::Dir && entry_csum(e) == *csum);
                if !is_lock_dir_path(&path) || !matches {
                    return Err(Errno::EACCES);
                }
                st.delete(&path, writer, mtime)
            }
        }
    }
}

mod ops;

#[cfg(test)]
mod tests;
