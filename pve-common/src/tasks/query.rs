//! Reading tasks back, as `GET /nodes/{node}/tasks[/{upid}/(log|status)]` and
//! `DELETE …/{upid}` do: the filtered task list, log pages, status, and stopping.

use std::fs;
use std::io::{self, BufRead};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::upid::{normalize_status_type, Upid};
use crate::NodePaths;

use super::files::{self, IndexEntry};
use super::{active, procfs, worker, TaskError};

/// Which lists `list_tasks` reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskSource {
    /// The index (and `index.1`): finished tasks.
    #[default]
    Archive,
    /// The running (and not yet archived) tasks of `active`.
    Active,
    All,
}

impl std::str::FromStr for TaskSource {
    type Err = TaskError;
    fn from_str(s: &str) -> Result<Self, TaskError> {
        match s {
            "archive" => Ok(Self::Archive),
            "active" => Ok(Self::Active),
            "all" => Ok(Self::All),
            _ => Err(TaskError::InvalidParameter(format!(
                "source: value '{s}' does not have a value in the enumeration 'archive, active, all'"
            ))),
        }
    }
}

/// The filters of the task list (the parameters of `GET /nodes/{node}/tasks`).
#[derive(Clone, Debug)]
pub struct TaskFilter {
    pub start: u64,
    pub limit: u64,
    /// Case-insensitive substring of the task's user (without token name).
    pub userfilter: Option<String>,
    pub typefilter: Option<String>,
    pub vmid: Option<u32>,
    /// Only failed tasks (anything but `ok`); overrides `statusfilter`.
    pub errors: bool,
    pub source: TaskSource,
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Any of `ok`, `warning`, `error`, `unknown` (case-insensitive); `None` is all.
    pub statusfilter: Option<Vec<String>>,
    /// `Some(auth id)` limits the list to tasks that caller may see without Sys.Audit
    /// (see [`task_visible_to`]); `None` lists every task.
    pub visible_to: Option<String>,
}

impl Default for TaskFilter {
    fn default() -> Self {
        Self {
            start: 0,
            limit: 50,
            userfilter: None,
            typefilter: None,
            vmid: None,
            errors: false,
            source: TaskSource::Archive,
            since: None,
            until: None,
            statusfilter: None,
            visible_to: None,
        }
    }
}

impl TaskFilter {
    /// Parses a `statusfilter` list as the API takes it (separated by commas,
    /// semicolons or white space).
    pub fn parse_status_list(text: &str) -> Vec<String> {
        text.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    fn status_allowed(&self, kind: &str) -> bool {
        if self.errors {
            return kind != "ok";
        }
        match &self.statusfilter {
            Some(list) => list.iter().any(|s| s.eq_ignore_ascii_case(kind)),
            None => true,
        }
    }
}

/// One task as the list returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskInfo {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    #[serde(rename = "type")]
    pub worker_type: String,
    pub id: String,
    /// The user; for a token's task the part before `!`.
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl TaskInfo {
    fn new(upid: &str, task: &Upid, endtime: Option<i64>, status: Option<String>) -> Self {
        let (user, tokenid) = split_token(&task.user);
        Self {
            upid: upid.to_string(),
            node: task.node.clone(),
            pid: task.pid,
            pstart: task.pstart,
            starttime: task.starttime,
            worker_type: task.worker_type.clone(),
            id: task.id.clone(),
            user,
            tokenid,
            endtime,
            status,
        }
    }
}

/// A page of the task list plus `total`, the number of tasks that passed the filters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TaskList {
    pub data: Vec<TaskInfo>,
    pub total: u64,
}

fn split_token(user: &str) -> (String, Option<String>) {
    match user.split_once('!') {
        Some((u, t)) if !u.is_empty() && !t.is_empty() => (u.to_string(), Some(t.to_string())),
        _ => (user.to_string(), None),
    }
}

/// Whether `auth_id` may see a task of `task_user` without Sys.Audit: a token sees only
/// its own tasks, a user its own and those of its tokens.
pub fn task_visible_to(task_user: &str, auth_id: &str) -> bool {
    match split_token(task_user) {
        (user, Some(_)) => auth_id == task_user || auth_id == user,
        (user, None) => auth_id == user,
    }
}

struct Lister<'a> {
    filter: &'a TaskFilter,
    count: u64,
    limit: u64,
    out: Vec<TaskInfo>,
}

impl Lister<'_> {
    /// Upstream's filter order: `total` counts every task that passes the filters,
    /// `start`/`limit` only pick the page.
    fn offer(&mut self, info: TaskInfo, full_user: &str) -> bool {
        let f = self.filter;
        if let Some(uf) = &f.userfilter {
            if !uf.is_empty() && !info.user.to_lowercase().contains(&uf.to_lowercase()) {
                return false;
            }
        }
        if let Some(auth) = &f.visible_to {
            if !task_visible_to(full_user, auth) {
                return false;
            }
        }
        if let Some(t) = &f.typefilter {
            if !t.is_empty() && info.worker_type != *t {
                return false;
            }
        }
        if let Some(vmid) = f.vmid {
            if vmid != 0 && info.id != vmid.to_string() {
                return false;
            }
        }
        if f.since.is_some_and(|s| info.starttime < s)
            || f.until.is_some_and(|u| info.starttime > u)
        {
            return false;
        }
        if !f.status_allowed(normalize_status_type(info.status.as_deref().unwrap_or(""))) {
            return false;
        }
        self.count += 1;
        if self.count <= f.start || self.limit == 0 {
            return false;
        }
        self.limit -= 1;
        self.out.push(info);
        true
    }
}

fn read_lines_lossy(path: &Path) -> Vec<String> {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The task list, newest first: unarchived `active` entries (running ones with status
/// `RUNNING`) when the source includes them, then the index and `index.1` read
/// backwards.
pub fn list_tasks(paths: &NodePaths, filter: &TaskFilter) -> TaskList {
    let task_dir = paths.task_dir();
    let mut lister = Lister {
        filter,
        count: 0,
        limit: filter.limit,
        out: Vec::new(),
    };
    if matches!(filter.source, TaskSource::Active | TaskSource::All) {
        for entry in files::read_active(&task_dir).unwrap_or_default() {
            if entry.saved {
                continue;
            }
            let info = TaskInfo::new(&entry.upid, &entry.task, entry.endtime, entry.status);
            if lister.offer(info, &entry.task.user) {
                if let Some(last) = lister.out.last_mut() {
                    last.status.get_or_insert_with(|| "RUNNING".into());
                }
            }
        }
    }
    if filter.source != TaskSource::Active {
        for path in [
            files::index_path(&task_dir),
            files::index_rotated_path(&task_dir),
        ] {
            for line in read_lines_lossy(&path).iter().rev() {
                if let Some(e) = IndexEntry::parse(line) {
                    let info = TaskInfo::new(&e.upid, &e.task, e.endtime, e.status);
                    lister.offer(info, &e.task.user);
                }
            }
        }
    }
    TaskList {
        data: lister.out,
        total: lister.count,
    }
}

/// One log line as `GET …/log` returns it; `n` counts from 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub n: u64,
    pub t: String,
}

fn parse_upid(upid: &str) -> Result<Upid, TaskError> {
    upid.parse().map_err(|_| TaskError::InvalidUpid)
}

/// A page of a task log and the number of lines: lines `start+1 ..= start+limit`
/// (`limit` 0 reads to the end). An empty log reads as one line `no content`, an
/// unreadable one as `unable to open file - <error>`, as upstream.
pub fn read_log(
    paths: &NodePaths,
    upid: &str,
    start: u64,
    limit: u64,
) -> Result<(Vec<LogLine>, u64), TaskError> {
    let task = parse_upid(upid)?;
    let file = match fs::File::open(task.log_path(&paths.task_dir())) {
        Ok(f) => f,
        Err(e) => {
            let t = format!("unable to open file - {}", io_error_text(&e));
            return Ok((vec![LogLine { n: 1, t }], 1));
        }
    };
    let mut reader = io::BufReader::new(file);
    let mut lines = Vec::new();
    let mut count = 0u64;
    let mut left = limit;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        count += 1;
        if count <= start {
            continue;
        }
        if limit != 0 {
            if left == 0 {
                continue;
            }
            left -= 1;
        }
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        lines.push(LogLine {
            n: count,
            t: String::from_utf8_lossy(text).into_owned(),
        });
    }
    if count == 0 {
        lines.push(LogLine {
            n: 1,
            t: "no content".into(),
        });
        count = 1;
    }
    Ok((lines, count))
}

fn io_error_text(e: &io::Error) -> String {
    // Perl's $! text, without Rust's " (os error N)" suffix.
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// `running` or `stopped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Running,
    Stopped,
}

/// What `GET …/{upid}/status` returns: the UPID's fields, the run state and, once
/// stopped, the exit status (`OK`, `WARNINGS: n` or the error).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskStatus {
    pub upid: String,
    pub node: String,
    pub pid: u32,
    pub pstart: u64,
    pub starttime: i64,
    #[serde(rename = "type")]
    pub worker_type: String,
    pub id: String,
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenid: Option<String>,
    pub status: RunState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exitstatus: Option<String>,
}

/// Whether a task still runs: a task of this process until its function returned; any
/// other while it is listed in `active` without end time and its (pid, pstart) process
/// lives.
pub fn task_running(paths: &NodePaths, task: &Upid) -> bool {
    let task_dir = paths.task_dir();
    if worker::is_own_process(task) {
        return worker::local_task_running(&task.log_path(&task_dir));
    }
    if !procfs::process_running(task.pid, Some(task.pstart)) {
        return false;
    }
    let text = task.to_string();
    files::read_active(&task_dir)
        .unwrap_or_default()
        .iter()
        .any(|e| e.task == *task && e.upid.eq_ignore_ascii_case(&text) && e.endtime.is_none())
}

/// The status of a task; fails for an unparsable UPID and a task without log.
pub fn task_status(paths: &NodePaths, upid: &str) -> Result<TaskStatus, TaskError> {
    let task = parse_upid(upid)?;
    let log = task.log_path(&paths.task_dir());
    if !log.is_file() {
        return Err(TaskError::NoSuchTask);
    }
    let running = task_running(paths, &task);
    let (user, tokenid) = split_token(&task.user);
    Ok(TaskStatus {
        upid: upid.to_string(),
        node: task.node,
        pid: task.pid,
        pstart: task.pstart,
        starttime: task.starttime,
        worker_type: task.worker_type,
        id: task.id,
        user,
        tokenid,
        status: if running {
            RunState::Running
        } else {
            RunState::Stopped
        },
        exitstatus: (!running).then(|| files::read_status(&log)),
    })
}

/// The exit status from a task's log (`OK`, `WARNINGS: n`, the error, or
/// `unexpected status` while it runs).
pub fn upid_read_status(paths: &NodePaths, upid: &Upid) -> String {
    files::read_status(&upid.log_path(&paths.task_dir()))
}

/// Stops a task: a task of this process gets its abort flag raised; another process'
/// task gets SIGTERM on its process group, then SIGKILL after 5 seconds, as upstream.
/// Stopping a finished task does nothing.
pub fn stop_task(paths: &NodePaths, upid: &str) -> Result<(), TaskError> {
    let task = parse_upid(upid)?;
    let log = task.log_path(&paths.task_dir());
    if !log.is_file() {
        return Err(TaskError::NoSuchTask);
    }
    if worker::is_own_process(&task) {
        worker::request_abort(&log);
        return Ok(());
    }
    if !task_running(paths, &task) {
        return Ok(());
    }
    procfs::signal_group(task.pid, libc::SIGTERM);
    for _ in 0..50 {
        if !procfs::process_running(task.pid, Some(task.pstart)) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if procfs::process_running(task.pid, Some(task.pstart)) {
        procfs::signal_group(task.pid, libc::SIGKILL);
    }
    Ok(())
}

/// Refreshes `active` (finishing the entries of stopped tasks); for daemons to call now
/// and then, as upstream's `active_workers`.
pub fn update_active(paths: &NodePaths) -> Result<(), TaskError> {
    active::refresh_active(paths, None).map(|_| ())
}
