//! Where changes go: every FUSE change is submitted as an [`Op`] to a [`ChangeSink`].
//!
//! Local mode applies ops straight to the memdb (writer 0, local clock). The cluster
//! mode will send them through the DFSM, whose delivery calls the same
//! [`Memdb::apply`] on every node.

use std::sync::Arc;

use crate::memdb::{now_secs, Answer, Applied, Errno, Memdb, Op};

/// Gets the local result of a change started with [`ChangeSink::start`].
pub type Done = Box<dyn FnOnce(Result<Applied, Errno>) + Send>;

pub trait ChangeSink: Send + Sync {
    /// Applies (or replicates and waits for) one change; the result is the local one.
    fn submit(&self, op: Op) -> Result<Applied, Errno>;

    /// [`submit`](Self::submit), handing the result to `answer` as soon as it is
    /// certain, which may be before this returns (see `Memdb::apply_answering`);
    /// `answer` must not use the memdb. By default, when `submit` returns.
    fn submit_answering(&self, op: Op, answer: Answer) {
        let res = self.submit(op);
        answer(res.as_ref().map_err(|e| *e));
    }

    /// Starts one change without waiting for it: `done` gets the local result,
    /// possibly on another thread (cluster mode: the one corosync delivers on, once
    /// the change is applied here). The change comes back when starting it would
    /// block; then [`submit`](Self::submit) it on a thread that may wait.
    fn start(&self, op: Op, done: Done) -> Option<(Op, Done)> {
        done(self.submit(op));
        None
    }

    /// `utime(lockdir, 0)`: ask for removal of an expired lock whose entry has
    /// checksum `csum`. Returns what happened to the local caller.
    fn unlock_request(&self, path: &str, csum: [u8; 32]) -> Result<Applied, Errno>;
}

/// Local mode (`-l`, or no corosync.conf): no replication, always quorate.
pub struct LocalSink {
    memdb: Arc<Memdb>,
}

impl LocalSink {
    pub fn new(memdb: Arc<Memdb>) -> Self {
        LocalSink { memdb }
    }
}

/// Node id used as writer in local mode.
const LOCAL_WRITER: u32 = 0;

impl ChangeSink for LocalSink {
    fn submit(&self, op: Op) -> Result<Applied, Errno> {
        self.memdb.apply(&op, LOCAL_WRITER, now_secs())
    }

    fn submit_answering(&self, op: Op, answer: Answer) {
        // `answer` got the result (a failed database write is logged by the memdb).
        let _ = self
            .memdb
            .apply_answering(&op, LOCAL_WRITER, now_secs(), answer);
    }

    fn unlock_request(&self, path: &str, csum: [u8; 32]) -> Result<Applied, Errno> {
        if self.memdb.lock_expired(path, &csum) {
            let op = Op::Unlock {
                path: path.to_string(),
                csum,
            };
            self.memdb.apply(&op, LOCAL_WRITER, now_secs())
        } else {
            // Not expired: the mtime-0 update is refused like any older mtime.
            let op = Op::Mtime {
                path: path.to_string(),
                mtime: 0,
            };
            self.memdb.apply(&op, LOCAL_WRITER, now_secs())
        }
    }
}
