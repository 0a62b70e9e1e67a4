//! Worker tasks, as upstream keeps them below `/var/log/pve/tasks`: each task's log in
//! `<X>/<UPID>` (X = last hex digit of the start time), the `active` list of running and
//! recent tasks, the `index` archive (rotated to `index.1`) and the `.active.lock` lock.
//!
//! - [`start_worker`] runs a task (foreground in the CLI, a thread elsewhere);
//! - [`list_tasks`], [`read_log`], [`task_status`] and [`stop_task`] serve
//!   `/nodes/{node}/tasks`.

use std::path::PathBuf;

mod active;
pub mod files;
mod procfs;
mod query;
mod worker;

pub use active::{refresh_active, MAX_FINISHED};
pub use files::{ActiveEntry, IndexEntry, INDEX_MAX_SIZE};
pub use query::{
    list_tasks, read_log, stop_task, task_running, task_status, task_visible_to, update_active,
    upid_read_status, LogLine, RunState, TaskFilter, TaskInfo, TaskList, TaskSource, TaskStatus,
};
pub use worker::{start_worker, WorkerTask};

/// What can go wrong reading or managing tasks; the API maps the first two to parameter
/// errors on `upid`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("unable to parse worker upid")]
    InvalidUpid,
    #[error("no such task")]
    NoSuchTask,
    #[error("{0}")]
    InvalidParameter(String),
    #[error("can't lock file '{}' - {msg}", path.display())]
    Lock { path: PathBuf, msg: String },
    #[error("{0}")]
    Io(String),
}
