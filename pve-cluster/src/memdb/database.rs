//! The SQLite backend: upstream's `config.db` schema, one transaction per change.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use super::tree::{Row, DT_REG};

/// Exactly upstream's statement, so `sqlite_master` holds the same text.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS tree (  inode INTEGER PRIMARY KEY NOT NULL,  parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),  version INTEGER NOT NULL CHECK(typeof(version)=='integer'),  writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),  mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),  type INTEGER NOT NULL CHECK(typeof(type)=='integer'),  name TEXT NOT NULL,  data BLOB);";

const REPLACE: &str = "REPLACE INTO tree (inode, parent, version, writer, mtime, type, name, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
const DELETE: &str = "DELETE FROM tree WHERE inode = ?1";
const SELECT_ALL: &str = "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree";

/// Name of row 0, which carries the global version, writer and mtime.
pub const VERSION_ROW_NAME: &str = "__version__";

/// Global state stored in row 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RootState {
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Page size of a database this daemon creates.
const NEW_DB_PAGE_SIZE: u32 = 1024;

/// WAL size (16 MB of pages) after which the committing connection checkpoints
/// itself, as SQLite does by default after 1000 pages: the checkpointer thread's PASSIVE checkpoints
/// never catch up with a writer that does not pause, and only a complete checkpoint
/// lets the next commit start the WAL over, so under sustained writes the WAL grew
/// without bound (945 MB after 12 rounds of 2,000 new files, its index mapped into
/// the daemon: RSS 15.2 MB). Bursts shorter than this stay off the change path.
const WRITER_CHECKPOINT_BYTES: u64 = 16 * 1024 * 1024;
/// What a WAL file is cut back to when it starts over.
const WAL_SIZE_LIMIT: u64 = 32 * 1024 * 1024;

pub struct Database {
    conn: Connection,
    checkpointer: Option<Checkpointer>,
    /// A transaction begun ahead of the next change (see [`Database::begin_ahead`]).
    ahead: bool,
}

/// How long SQLite retries for a lock another process holds.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL checkpoints on their own connection and thread, so that the fsync of a
/// checkpoint never runs inside a change (in cluster mode: on the delivery path,
/// where it would stall every following message). Durability is unchanged: commits
/// are not synced either way (`synchronous=NORMAL`), checkpoints are.
struct Checkpointer {
    /// Dropping it stops the thread at once.
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    /// `None` if no second connection or thread can be had (SQLite's automatic
    /// checkpoints then stay on).
    fn start(path: &Path) -> Option<Checkpointer> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(Duration::from_secs(10)).ok()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("wal-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer { stop, thread })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        self.end_ahead();
        // The checkpointer's connection closes first, so ours is the last one and
        // SQLite checkpoints and removes the WAL on close.
        if let Some(c) = self.checkpointer.take() {
            drop(c.stop);
            let _ = c.thread.join();
        }
    }
}

/// What a load found: the entry rows and row 0 (if any).
pub struct Loaded {
    pub rows: Vec<Row>,
    pub root: Option<RootState>,
}

impl Database {
    pub fn open(path: &Path) -> rusqlite::Result<Database> {
        // Each commit reaches the WAL in one write (see `walvfs`); the checkpointer's
        // connection, which never writes the WAL, stays on the default VFS.
        let conn = if super::walvfs::register() {
            let vfs = super::walvfs::NAME.to_str().unwrap_or_default();
            Connection::open_with_flags_and_vfs(path, OpenFlags::default(), vfs)?
        } else {
            Connection::open(path)?
        };
        // Secrets live in this file.
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        // A new database gets 1 KiB pages (an existing one keeps its own; SQLite's
        // default, and upstream's, is 4 KiB): every change writes the entry's page
        // and row 0's page to the WAL, so a new 1 KiB file (MKNOD, then WRITE) is
        // 6.5 KiB of WAL instead of 20 KiB. Rows larger than a page continue in
        // overflow pages, the same bytes either way. Any SQLite reads the file.
        conn.execute_batch(&format!("PRAGMA page_size={NEW_DB_PAGE_SIZE}"))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous=NORMAL")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(CREATE_TABLE)?;
        let checkpointer = Checkpointer::start(path);
        if checkpointer.is_some() {
            let page_size: u64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
            let frames = WRITER_CHECKPOINT_BYTES / page_size.max(512);
            conn.execute_batch(&format!("PRAGMA wal_autocheckpoint={frames}"))?;
            conn.query_row(
                &format!("PRAGMA journal_size_limit={WAL_SIZE_LIMIT}"),
                [],
                |_| Ok(()),
            )?;
        }
        Ok(Database {
            conn,
            checkpointer,
            ahead: false,
        })
    }

    pub fn load(&self) -> rusqlite::Result<Loaded> {
        load_from(&self.conn)
    }

    /// One transaction for a state transfer: delete `obsolete`, store `rows` (inode 0
    /// is row 0), then let `check` judge the reloaded table; commit only if it agrees.
    pub fn replace_all<T>(
        &mut self,
        obsolete: &[u64],
        rows: &[Row],
        check: impl FnOnce(&Loaded) -> Result<T, String>,
    ) -> Result<T, String> {
        let err = |e: rusqlite::Error| e.to_string();
        self.end_ahead();
        let tx = self.conn.transaction().map_err(err)?;
        for inode in obsolete {
            tx.prepare_cached(DELETE)
                .and_then(|mut s| s.execute(params![*inode as i64]))
                .map_err(err)?;
        }
        for row in rows {
            let data = row.data.as_deref().filter(|d| !d.is_empty());
            tx.prepare_cached(REPLACE)
                .and_then(|mut s| {
                    s.execute(params![
                        row.inode as i64,
                        row.parent as i64,
                        row.version as i64,
                        row.writer as i64,
                        row.mtime as i64,
                        row.dtype as i64,
                        row.name,
                        data,
                    ])
                })
                .map_err(err)?;
        }
        let loaded = load_from(&tx).map_err(err)?;
        let out = check(&loaded)?;
        tx.commit().map_err(err)?;
        Ok(out)
    }
}

fn load_from(conn: &Connection) -> rusqlite::Result<Loaded> {
    {
        let mut stmt = conn.prepare_cached(SELECT_ALL)?;
        let mut rows = Vec::new();
        let mut root = None;
        let mut q = stmt.query([])?;
        while let Some(r) = q.next()? {
            let inode: i64 = r.get(0)?;
            let version: i64 = r.get(2)?;
            // Upstream reads writer and mtime as 32 bit and the type as 8 bit.
            let writer = r.get::<_, i64>(3)? as u32;
            let mtime = r.get::<_, i64>(4)? as u32;
            if inode == 0 {
                root = Some(RootState {
                    version: version as u64,
                    writer,
                    mtime,
                });
                continue;
            }
            rows.push(Row {
                inode: inode as u64,
                parent: r.get::<_, i64>(1)? as u64,
                version: version as u64,
                writer,
                mtime,
                dtype: r.get::<_, i64>(5)? as u8,
                name: r.get(6)?,
                data: r.get(7)?,
            });
        }
        Ok(Loaded { rows, root })
    }
}

impl Database {
    /// One change as one transaction: optionally delete `delete_inode`, store `row`
    /// (if any), then update row 0.
    pub fn commit(
        &mut self,
        row: Option<&Row>,
        delete_inode: Option<u64>,
        root: RootState,
    ) -> rusqlite::Result<()> {
        // BEGIN and COMMIT as cached statements: rusqlite's `transaction()` parses
        // both anew for every change.
        if !std::mem::take(&mut self.ahead) || self.conn.is_autocommit() {
            self.conn.prepare_cached("BEGIN")?.execute([])?;
        }
        let res = self.change(row, delete_inode, root);
        let res = res.and_then(|()| self.conn.prepare_cached("COMMIT")?.execute([]).map(drop));
        if res.is_err() && !self.conn.is_autocommit() {
            let _ = self
                .conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut s| s.execute([]));
        }
        res
    }

    /// Begins the transaction of the next change now (`BEGIN IMMEDIATE`: SQLite's
    /// read snapshot and write lock, about a third of what a change costs in SQLite),
    /// for the FUSE thread to call while it waits for the next request of a burst;
    /// [`commit`](Self::commit) then continues it. Only this connection writes, so
    /// the snapshot cannot go stale. Readers, in this process or another, are not
    /// held up by it; another writer would be, so [`end_ahead`](Self::end_ahead)
    /// must follow as soon as no change is coming. Gives up at once if another
    /// process holds the write lock; does nothing if one is begun already.
    pub fn begin_ahead(&mut self) {
        if self.ahead || !self.conn.is_autocommit() {
            return;
        }
        if self.conn.busy_timeout(Duration::ZERO).is_err() {
            return;
        }
        self.ahead = self
            .conn
            .prepare_cached("BEGIN IMMEDIATE")
            .and_then(|mut s| s.execute([]))
            .is_ok();
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
    }

    /// Ends a transaction begun by [`begin_ahead`](Self::begin_ahead) that no
    /// change used (it wrote nothing).
    pub fn end_ahead(&mut self) {
        if std::mem::take(&mut self.ahead) && !self.conn.is_autocommit() {
            let _ = self
                .conn
                .prepare_cached("ROLLBACK")
                .and_then(|mut s| s.execute([]));
        }
    }

    /// The statements of [`Database::commit`], inside its transaction.
    fn change(
        &self,
        row: Option<&Row>,
        delete_inode: Option<u64>,
        root: RootState,
    ) -> rusqlite::Result<()> {
        let tx = &self.conn;
        if let Some(inode) = delete_inode {
            tx.prepare_cached(DELETE)?.execute(params![inode as i64])?;
        }
        if let Some(row) = row {
            let data = row.data.as_deref().filter(|d| !d.is_empty());
            let changed = tx.prepare_cached(REPLACE)?.execute(params![
                row.inode as i64,
                row.parent as i64,
                row.version as i64,
                row.writer as i64,
                row.mtime as i64,
                row.dtype as i64,
                row.name,
                data,
            ])?;
            if changed != 1 {
                return Err(rusqlite::Error::StatementChangedRows(changed));
            }
        }
        tx.prepare_cached(REPLACE)?.execute(params![
            0i64,
            0i64,
            root.version as i64,
            root.writer as i64,
            root.mtime as i64,
            DT_REG as i64,
            VERSION_ROW_NAME,
            Option::<Vec<u8>>::None,
        ])?;
        Ok(())
    }
}
