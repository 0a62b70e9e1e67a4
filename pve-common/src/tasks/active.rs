//! Keeping the `active` list current: finished tasks get their end time and status,
//! are appended to the index, and only the running tasks plus the most recent finished
//! ones stay in the list.

use std::path::Path;

use crate::upid::Upid;
use crate::NodePaths;

use super::files::{self, ActiveEntry, ActiveLock, IndexEntry};
use super::{procfs, worker, TaskError};

/// How many finished tasks the `active` list keeps (minus the running ones).
pub const MAX_FINISHED: usize = 25;

/// Whether the task of an `active` entry still runs. An entry with an end time is done
/// (several tasks share one pid when they run as threads, so a live pid alone proves
/// nothing); a task of this process is asked about directly; any other runs while its
/// (pid, pstart) process lives.
pub(crate) fn entry_running(task_dir: &Path, entry: &ActiveEntry) -> bool {
    if entry.endtime.is_some() {
        return false;
    }
    if worker::is_own_process(&entry.task) {
        return worker::local_task_running(&entry.task.log_path(task_dir));
    }
    procfs::process_running(entry.task.pid, Some(entry.task.pstart))
}

/// Re-reads `active` under its lock, finishes the entries of tasks that stopped
/// (end time now, status from the log), archives them in the index, keeps the running
/// tasks and the [`MAX_FINISHED`] most recent finished ones, and writes the list back.
/// `new_task` is added when it is not listed yet. Returns the new list.
pub fn refresh_active(
    paths: &NodePaths,
    new_task: Option<&Upid>,
) -> Result<Vec<ActiveEntry>, TaskError> {
    let task_dir = paths.task_dir();
    let _lock = ActiveLock::acquire(&task_dir, files::LOCK_TIMEOUT)?;
    let io_err = |e: std::io::Error| TaskError::Io(format!("{}: {e}", task_dir.display()));

    let mut seen = std::collections::HashSet::new();
    let mut running = Vec::new();
    let mut finished = Vec::new();
    let mut save = new_task.is_some();

    let mut sort_in = |entry: ActiveEntry| {
        if entry_running(&task_dir, &entry) {
            running.push(entry);
        } else {
            finished.push(entry);
        }
    };
    for entry in files::read_active(&task_dir).map_err(io_err)? {
        if seen.insert(entry.upid.clone()) {
            sort_in(entry);
        }
    }
    if let Some(upid) = new_task {
        if seen.insert(upid.to_string()) {
            sort_in(ActiveEntry::new(upid));
        }
    }

    finished.sort_by_key(|e| std::cmp::Reverse(e.task.starttime));

    let now = now_epoch();
    for entry in finished.iter_mut().filter(|e| e.endtime.is_none()) {
        entry.endtime = Some(now);
        entry.status = Some(files::read_status(&entry.task.log_path(&task_dir)));
        save = true;
    }

    let mut archive = String::new();
    let mut archived = Vec::new();
    for (i, entry) in finished.iter_mut().enumerate() {
        if !entry.saved {
            archive.push_str(&IndexEntry::format_line(
                &entry.upid,
                entry.endtime.unwrap_or(now),
                entry.status.as_deref().unwrap_or("unexpected status"),
            ));
            entry.saved = true;
            archived.push(i);
            save = true;
        }
    }
    if !archive.is_empty() && files::append_index(&task_dir, &archive).is_err() {
        // Left unsaved, they are archived on the next pass.
        for i in archived {
            finished[i].saved = false;
        }
    }

    let keep = MAX_FINISHED.saturating_sub(running.len());
    let mut list = running;
    list.extend(finished.into_iter().take(keep));

    if save {
        files::write_active(&task_dir, &list).map_err(io_err)?;
    }
    Ok(list)
}

pub(crate) fn now_epoch() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
