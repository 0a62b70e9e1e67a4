//! A thin SQLite VFS over the default one that writes each WAL commit with one
//! `pwrite` instead of two per frame.
//!
//! SQLite appends a frame to the WAL as two writes, its 24-byte header and then the
//! page, so a change to one file (the entry's page and row 0's page) costs four
//! `pwrite`s. Here the WAL file's writes are collected while they are contiguous and
//! written at once after the page of the frame that commits the transaction (its
//! header carries the database size, non-zero only on a commit frame). SQLite
//! publishes a commit in the WAL index only after these writes have returned, so no
//! reader, in this process or another, can see a frame that is still held here, and
//! a change is answered only after its frames reached the file: a SIGKILL loses
//! nothing that was acknowledged. Anything else done with the WAL file (a read, a
//! sync, a truncation, its size, closing it) first writes what is held, and a write
//! that does not continue the held bytes (SQLite rewriting a frame of the open
//! transaction) does too, so the file always sees the same bytes at the same offsets
//! in the same order as without this layer. Every other file (the database, its
//! `-shm`) is the default VFS's own.
//!
//! The moment the commit frame has been written is also the earliest a change may be
//! answered: [`after_commit_written`] lets the committing thread answer its caller
//! right then, while SQLite goes on to publish the commit and release its locks.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name connections open with to use this VFS.
pub const NAME: &CStr = c"pmxcfs-wal";

/// Size of a WAL frame header; the commit marker is its second big-endian u32.
const FRAME_HEADER: usize = 24;
/// The WAL file header, at offset 0, is 32 bytes.
const WAL_HEADER: i64 = 32;
/// Held bytes beyond this are written at once (a large transaction).
const MAX_HELD: usize = 1 << 20;
/// Largest single write handed to the default VFS: SQLite's unix VFS takes at most
/// 128 KiB - 1 bytes per call (it never writes more than a page and a frame header
/// itself) and silently cuts larger ones.
const CHUNK: usize = 64 * 1024;

#[repr(C)]
struct WalFile {
    /// Must come first: SQLite sees this as a `sqlite3_file`.
    base: ffi::sqlite3_file,
    /// The default VFS's file, stored right after this struct.
    real: *mut ffi::sqlite3_file,
    held: Vec<u8>,
    held_at: i64,
    /// The next write is the page of a commit frame.
    commit_page_next: bool,
}

/// Where the default VFS's file starts inside the space SQLite allocates.
const REAL_OFFSET: usize = std::mem::size_of::<WalFile>().next_multiple_of(16);

/// Registers the VFS (once per process); false if SQLite has no default VFS to
/// wrap or refuses the registration, in which case callers use the default.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // rusqlite initializes SQLite (its threading mode first) with its first
        // connection; `sqlite3_vfs_find` does not in this build.
        drop(rusqlite::Connection::open_in_memory());
        // SAFETY: the default VFS lives as long as the process. The copy is leaked
        // on success, as SQLite keeps using a registered VFS for good.
        unsafe {
            let real = ffi::sqlite3_vfs_find(std::ptr::null());
            if real.is_null() {
                return false;
            }
            let mut vfs: ffi::sqlite3_vfs = *real;
            let Some(size) = (REAL_OFFSET as c_int).checked_add((*real).szOsFile) else {
                return false;
            };
            vfs.szOsFile = size;
            vfs.zName = NAME.as_ptr();
            vfs.pAppData = real.cast();
            vfs.pNext = std::ptr::null_mut();
            vfs.xOpen = Some(open);
            let vfs = Box::into_raw(Box::new(vfs));
            if ffi::sqlite3_vfs_register(vfs, 0) != ffi::SQLITE_OK {
                drop(Box::from_raw(vfs));
                return false;
            }
            true
        }
    })
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes the VFS registered in `register` (whose `pAppData` is the
    // default VFS) and `szOsFile` bytes at `file`, room for a `WalFile` followed by
    // the default VFS's file at `REAL_OFFSET`.
    unsafe {
        let real_vfs = (*vfs).pAppData as *mut ffi::sqlite3_vfs;
        let Some(real_open) = (*real_vfs).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // The default VFS's file in place: SQLite calls its methods directly.
            return real_open(real_vfs, name, file, flags, out_flags);
        }
        let real = file
            .cast::<u8>()
            .add(REAL_OFFSET)
            .cast::<ffi::sqlite3_file>();
        let rc = real_open(real_vfs, name, real, flags, out_flags);
        if rc != ffi::SQLITE_OK {
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        file.cast::<WalFile>().write(WalFile {
            base: ffi::sqlite3_file { pMethods: &METHODS },
            real,
            held: Vec::new(),
            held_at: 0,
            commit_page_next: false,
        });
    }
    ffi::SQLITE_OK
}

/// # Safety
/// `file` is a WAL file opened by `open` and not yet closed.
unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    // SAFETY: per the contract, `open` wrote a `WalFile` there; SQLite uses a file
    // from one thread at a time.
    unsafe { &mut *file.cast::<WalFile>() }
}

fn real_methods(w: &WalFile) -> &ffi::sqlite3_io_methods {
    // SAFETY: the default VFS opened `real` successfully, so its methods are set
    // until it is closed, which happens only in `close`.
    unsafe { &*(*w.real).pMethods }
}

/// Writes the held bytes: one call of the default VFS, or one per [`CHUNK`].
fn flush(w: &mut WalFile) -> c_int {
    let mut rc = ffi::SQLITE_OK;
    let mut at = w.held_at;
    for chunk in w.held.chunks(CHUNK) {
        #[cfg(test)]
        FLUSHES.with(|f| f.set(f.get() + 1));
        rc = match real_methods(w).xWrite {
            // SAFETY: `real` is open and the chunk is valid for its length.
            Some(f) => unsafe { f(w.real, chunk.as_ptr().cast(), chunk.len() as c_int, at) },
            None => ffi::SQLITE_IOERR_WRITE,
        };
        if rc != ffi::SQLITE_OK {
            break;
        }
        at += chunk.len() as i64;
    }
    w.held.clear();
    rc
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    // SAFETY: SQLite calls this only on a file `open` set these methods on.
    let w = unsafe { wal(file) };
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: SQLite passes `amount` readable bytes at `buf`.
    let data = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) };
    if !w.held.is_empty() && w.held_at + w.held.len() as i64 != offset {
        let rc = flush(w);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if w.held.is_empty() {
        w.held_at = offset;
    }
    w.held.extend_from_slice(data);
    let commit_page = std::mem::take(&mut w.commit_page_next);
    if len == FRAME_HEADER && offset >= WAL_HEADER {
        w.commit_page_next = data[4..8] != [0, 0, 0, 0];
    }
    if commit_page {
        let rc = flush(w);
        if rc == ffi::SQLITE_OK {
            committed_written();
        }
        return rc;
    }
    if w.held.len() > MAX_HELD {
        return flush(w);
    }
    ffi::SQLITE_OK
}

thread_local! {
    /// Set by [`after_commit_written`]; the thread that commits is the one SQLite
    /// calls the VFS on.
    static AFTER_COMMIT: std::cell::RefCell<Option<Box<dyn FnOnce()>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` on this thread as soon as the next commit made on this thread through
/// this VFS has reached the WAL file, i.e. once it would survive the death of the
/// process: SQLite recovers a WAL up to its last complete commit frame when it opens
/// the database. At that point SQLite has not yet published the commit in the
/// wal-index (no reader sees it yet) nor released its locks; `f` runs in between,
/// inside the VFS call, so it must not use SQLite or wait for anything that does.
/// The returned guard drops `f` if it has not run by then (the transaction failed
/// or was rolled back, or this VFS is not in use).
#[must_use]
pub fn after_commit_written(f: Box<dyn FnOnce()>) -> AfterCommit {
    AFTER_COMMIT.with(|h| *h.borrow_mut() = Some(f));
    AfterCommit(())
}

/// See [`after_commit_written`].
pub struct AfterCommit(());

impl Drop for AfterCommit {
    fn drop(&mut self) {
        // Dropped outside the borrow: `f` may own things with their own `Drop`.
        let f = AFTER_COMMIT.with(|h| h.borrow_mut().take());
        drop(f);
    }
}

fn committed_written() {
    let Some(f) = AFTER_COMMIT.with(|h| h.borrow_mut().take()) else {
        return;
    };
    // A panic must not unwind into SQLite; `f`'s own values are dropped either way.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls this only on a file `open` set these methods on, once.
    let w = unsafe { wal(file) };
    let flushed = flush(w);
    let rc = match real_methods(w).xClose {
        // SAFETY: `real` is open; it is not used after this.
        Some(f) => unsafe { f(w.real) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: `open` wrote the `WalFile`; nothing uses it after this call.
    unsafe {
        std::ptr::drop_in_place(file.cast::<WalFile>());
        (*file).pMethods = std::ptr::null();
    }
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        rc
    }
}

/// Forwards a call to the default VFS's file, after writing what is held if
/// `$flush`.
macro_rules! forward {
    ($name:ident, $method:ident, $flush:literal, ($($arg:ident: $ty:ty),*), $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> c_int {
            // SAFETY: SQLite calls this only on a file `open` set these methods on.
            let w = unsafe { wal(file) };
            if $flush {
                let rc = flush(w);
                if rc != ffi::SQLITE_OK {
                    return rc;
                }
            }
            match real_methods(w).$method {
                // SAFETY: `real` is open; the arguments are SQLite's, passed on.
                Some(f) => unsafe { f(w.real, $($arg),*) },
                None => $missing,
            }
        }
    };
}

forward!(read, xRead, true, (buf: *mut c_void, amount: c_int, offset: i64), ffi::SQLITE_IOERR_READ);
forward!(truncate, xTruncate, true, (size: i64), ffi::SQLITE_IOERR_TRUNCATE);
forward!(sync, xSync, true, (flags: c_int), ffi::SQLITE_IOERR_FSYNC);
forward!(file_size, xFileSize, true, (size: *mut i64), ffi::SQLITE_IOERR_FSTAT);
forward!(file_control, xFileControl, true, (op: c_int, arg: *mut c_void), ffi::SQLITE_NOTFOUND);
forward!(lock, xLock, false, (level: c_int), ffi::SQLITE_OK);
forward!(unlock, xUnlock, false, (level: c_int), ffi::SQLITE_OK);
forward!(check_reserved_lock, xCheckReservedLock, false, (out: *mut c_int), ffi::SQLITE_OK);
forward!(sector_size, xSectorSize, false, (), 4096);
forward!(device_characteristics, xDeviceCharacteristics, false, (), 0);

#[cfg(test)]
thread_local! {
    /// Writes handed to the default VFS by this thread (SQLite calls a VFS on the
    /// thread that uses the connection).
    static FLUSHES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{params, Connection, OpenFlags};

    /// A fresh directory `walvfs-NAME-PID` with database `x.db` opened on this VFS in
    /// WAL mode with 1 KiB pages and table `t (k INTEGER PRIMARY KEY, v BLOB)`.
    fn wal_db(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("walvfs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.db");
        assert!(register());
        let c = Connection::open_with_flags_and_vfs(
            &path,
            OpenFlags::default(),
            NAME.to_str().unwrap(),
        )
        .unwrap();
        c.execute_batch("PRAGMA page_size=1024").unwrap();
        c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .unwrap();
        c.execute_batch(
            "PRAGMA synchronous=NORMAL; CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)",
        )
        .unwrap();
        (dir, path, c)
    }

    #[test]
    fn each_commit_reaches_the_wal_in_one_write_that_others_read() {
        let (dir, path, c) = wal_db("frames");
        // On the default VFS; holding the database open keeps the WAL from being
        // checkpointed away when `c` closes.
        let other = Connection::open(&path).unwrap();
        let flushes = || FLUSHES.with(|f| f.get());
        for i in 1..=50i64 {
            let before = flushes();
            let tx = c.unchecked_transaction().unwrap();
            // Two pages change, as in a change of the tree: the entry's and row 0's.
            tx.execute("INSERT INTO t VALUES (?1, ?2)", params![i, vec![7u8; 600]])
                .unwrap();
            tx.execute("REPLACE INTO t VALUES (0, ?1)", params![i])
                .unwrap();
            tx.commit().unwrap();
            // Without this layer: two writes per frame, at least four.
            let writes = flushes() - before;
            assert!(
                writes == 1 || (i == 1 && writes == 2),
                "commit {i}: {writes} writes"
            );
            let seen: i64 = other
                .query_row("SELECT count(*) FROM t WHERE k > 0", [], |r| r.get(0))
                .unwrap();
            assert_eq!(seen, i);
        }
        // A transaction larger than the unix VFS takes in one write (about 1,500
        // frames, and a remainder that is a multiple of 128 KiB).
        let big: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7) as u8).collect();
        c.execute("INSERT INTO t VALUES (1000, ?1)", params![big])
            .unwrap();
        let back: Vec<u8> = other
            .query_row("SELECT v FROM t WHERE k = 1000", [], |r| r.get(0))
            .unwrap();
        assert!(back == big);
        drop(c);
        let ok: String = other
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        let last: i64 = other
            .query_row("SELECT v FROM t WHERE k = 0", [], |r| r.get(0))
            .unwrap();
        assert_eq!(last, 50);
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_hook_runs_when_a_commit_is_in_the_file_before_anyone_sees_it() {
        use std::cell::Cell;
        use std::rc::Rc;
        let (dir, path, c) = wal_db("hook");
        let other = Rc::new(Connection::open(&path).unwrap());
        let wal = dir.join("x.db-wal");
        let count = |o: &Connection| -> i64 {
            o.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        // (WAL file size, rows another connection sees) when the hook ran.
        let seen: Rc<Cell<Option<(u64, i64)>>> = Rc::default();
        for i in 1..=3i64 {
            let wal_before = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
            let (s, o, w) = (seen.clone(), other.clone(), wal.clone());
            let hook = after_commit_written(Box::new(move || {
                let size = std::fs::metadata(&w).unwrap().len();
                s.set(Some((size, count(&o))));
            }));
            c.execute("INSERT INTO t (k) VALUES (?1)", params![i])
                .unwrap();
            drop(hook);
            let (size, rows) = seen.take().expect("the hook ran");
            assert!(size > wal_before, "commit {i}: WAL {wal_before} -> {size}");
            assert_eq!(rows, i - 1, "commit {i} was visible to readers");
            assert_eq!(count(&other), i);
        }
        // Not for a transaction that is rolled back, nor, once its guard is gone,
        // for a later commit.
        let s = seen.clone();
        let hook = after_commit_written(Box::new(move || s.set(Some((0, 0)))));
        c.execute_batch("BEGIN; INSERT INTO t (k) VALUES (10); ROLLBACK")
            .unwrap();
        drop(hook);
        c.execute("INSERT INTO t (k) VALUES (11)", []).unwrap();
        assert_eq!(seen.take(), None);
        drop(c);
        drop(other);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
