//! Running worker tasks: the log, the final status line, registration in `active`, and
//! the per-process table of running tasks (their abort flags).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail};

use crate::api::env::{EnvKind, RpcEnv};
use crate::upid::Upid;

use super::active::{now_epoch, refresh_active};
use super::{files, procfs};

/// Tasks of this process that have not finished, by log path (unique even when tests
/// run several roots in one process), with their abort flags.
static LOCAL_TASKS: LazyLock<Mutex<HashMap<PathBuf, Arc<AtomicBool>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn local_tasks() -> std::sync::MutexGuard<'static, HashMap<PathBuf, Arc<AtomicBool>>> {
    LOCAL_TASKS.lock().unwrap_or_else(|e| e.into_inner())
}

fn own_pstart() -> Option<u64> {
    static PSTART: OnceLock<Option<u64>> = OnceLock::new();
    *PSTART.get_or_init(procfs::self_pstart)
}

/// Whether the UPID names this very process.
pub(crate) fn is_own_process(upid: &Upid) -> bool {
    upid.pid == std::process::id() && Some(upid.pstart) == own_pstart()
}

pub(crate) fn local_task_running(log: &Path) -> bool {
    local_tasks().contains_key(log)
}

/// Raises the abort flag of a running task of this process; false when there is none.
pub(crate) fn request_abort(log: &Path) -> bool {
    match local_tasks().get(log) {
        Some(flag) => {
            flag.store(true, Ordering::SeqCst);
            true
        }
        None => false,
    }
}

/// The handle a task function gets: it writes the task log and sees abort requests.
pub struct WorkerTask {
    upid: Upid,
    upid_text: String,
    log: Mutex<File>,
    warnings: AtomicU64,
    abort: Arc<AtomicBool>,
    /// CLI workers also show their log on stdout.
    echo: bool,
}

impl WorkerTask {
    pub fn upid(&self) -> &str {
        &self.upid_text
    }

    pub fn parsed_upid(&self) -> &Upid {
        &self.upid
    }

    /// Appends a line to the task log (plain text, no timestamp, as upstream).
    pub fn log(&self, line: impl AsRef<str>) {
        let line = line.as_ref();
        let mut text = String::with_capacity(line.len() + 1);
        text.push_str(line);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        self.write_raw(&text);
    }

    /// Logs `WARN: <line>` and counts it; a task that warned ends `TASK WARNINGS: <n>`.
    pub fn warn(&self, line: impl AsRef<str>) {
        let line = line.as_ref().trim_end_matches('\n');
        self.log(format!("WARN: {line}"));
        self.warnings.fetch_add(1, Ordering::SeqCst);
    }

    pub fn warning_count(&self) -> u64 {
        self.warnings.load(Ordering::SeqCst)
    }

    /// Whether `stop_task` asked this task to stop.
    pub fn abort_requested(&self) -> bool {
        self.abort.load(Ordering::SeqCst)
    }

    /// Fails with upstream's message once a stop was requested, for `?` in loops.
    pub fn fail_on_abort(&self) -> anyhow::Result<()> {
        if self.abort_requested() {
            bail!("received interrupt");
        }
        Ok(())
    }

    fn write_raw(&self, text: &str) {
        let mut file = self.log.lock().unwrap_or_else(|e| e.into_inner());
        // A full disk must not take the task down; upstream ignores failed log writes too.
        let _ = file.write_all(text.as_bytes());
        drop(file);
        if self.echo {
            let mut out = io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }

    /// Writes the final status line and, for CLI workers, the summary on stderr.
    fn finish(&self, result: Result<(), String>) {
        let line = match result {
            Err(msg) => {
                if self.echo {
                    eprintln!("{msg}");
                }
                format!("TASK ERROR: {msg}\n")
            }
            Ok(()) => match self.warning_count() {
                0 => "TASK OK\n".to_string(),
                n => {
                    if self.echo {
                        eprintln!("Task finished with {n} warning(s)!");
                    }
                    format!("TASK WARNINGS: {n}\n")
                }
            },
        };
        let mut file = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let _ = file.write_all(line.as_bytes());
        let _ = file.sync_data();
    }
}

/// An error as one line, the way the final status line needs it.
fn one_line(msg: &str) -> String {
    msg.trim_end_matches('\n').replace('\n', " ")
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("worker panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("worker panicked: {s}")
    } else {
        "worker panicked".into()
    }
}

type TaskFn = Box<dyn FnOnce(&WorkerTask) -> anyhow::Result<()> + Send + 'static>;

fn run_task(paths: &crate::NodePaths, task: &WorkerTask, f: TaskFn) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(task)));
    let result = match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(one_line(&format!("{e:#}"))),
        Err(payload) => Err(one_line(&panic_message(payload.as_ref()))),
    };
    // What upstream's cluster log says when the task ends: its status, at priority
    // err when it failed.
    let (priority, status) = match &result {
        Ok(()) => match task.warning_count() {
            0 => (6, "OK".to_string()),
            n => (6, format!("WARNINGS: {n}")),
        },
        Err(msg) => (3, msg.clone()),
    };
    task.finish(result);
    let task_dir = paths.task_dir();
    local_tasks().remove(&task.upid.log_path(&task_dir));
    // A failure here heals itself: the next refresh sees the task is no longer running.
    let _ = refresh_active(paths, Some(&task.upid));
    cluster_log(
        paths,
        priority,
        &task.upid.user,
        &format!("end task {} {status}", task.upid_text),
    );
}

/// A cluster log entry through pmxcfs, tagged with this program's name, as upstream's
/// task code logs task starts and ends. Best effort: without pmxcfs (or root) the
/// entry is dropped, as upstream ignores a failed log message.
fn cluster_log(paths: &crate::NodePaths, priority: u8, user: &str, msg: &str) {
    let tag = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .filter(|t| !t.is_empty() && !t.contains(char::is_whitespace))
        .unwrap_or_else(|| "pve".into());
    let _ = crate::cfs_ipc::log_msg(paths, priority, user, &tag, msg);
}

/// Creates the UPID and its log. Threads share the pid, so two tasks of one type and id
/// started in the same second would get the same UPID; the later one then waits for the
/// next second.
fn create_upid_and_log(env: &RpcEnv, worker_type: &str, id: &str) -> anyhow::Result<(Upid, File)> {
    let pstart = own_pstart().ok_or_else(|| anyhow!("unable to read process start time"))?;
    let task_dir = env.paths.task_dir();
    let mut attempt = 0;
    loop {
        let upid = Upid {
            node: env.node.clone(),
            pid: std::process::id(),
            pstart,
            starttime: now_epoch(),
            worker_type: worker_type.to_string(),
            id: id.to_string(),
            user: env.auth.full(),
        };
        if upid.to_string().parse::<Upid>().as_ref() != Ok(&upid) {
            bail!("unable to create worker upid '{upid}' - invalid node, type, id or user");
        }
        let path = upid.log_path(&task_dir);
        match files::create_log(&path) {
            Ok(file) => return Ok((upid, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 5 => {
                attempt += 1;
                let nanos = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let wait = 1_000_000_000u32.saturating_sub(nanos);
                std::thread::sleep(Duration::from_nanos(u64::from(wait) + 1_000_000));
            }
            Err(e) => bail!("unable to create file '{}' - {e}", path.display()),
        }
    }
}

/// Starts a worker task and returns its UPID.
///
/// The task gets its log and an `active` entry before `f` runs. In a CLI environment
/// `f` runs in the foreground and its log is echoed on stdout (the call returns once the
/// task finished, successful or not); otherwise `f` runs on a new thread and the call
/// returns at once. The log ends with `TASK OK`, `TASK WARNINGS: <n>` or
/// `TASK ERROR: <msg>` (a panic counts as an error), and `active`/`index` are updated.
pub fn start_worker(
    env: &RpcEnv,
    worker_type: &str,
    id: Option<&str>,
    f: impl FnOnce(&WorkerTask) -> anyhow::Result<()> + Send + 'static,
) -> anyhow::Result<String> {
    let (upid, file) = create_upid_and_log(env, worker_type, id.unwrap_or(""))?;
    let task_dir = env.paths.task_dir();
    let log_path = upid.log_path(&task_dir);
    let abort = Arc::new(AtomicBool::new(false));
    local_tasks().insert(log_path.clone(), abort.clone());

    let task = Arc::new(WorkerTask {
        upid_text: upid.to_string(),
        upid,
        log: Mutex::new(file),
        warnings: AtomicU64::new(0),
        abort,
        echo: env.kind == EnvKind::Cli,
    });

    let fail = |task: &WorkerTask, msg: String| {
        task.finish(Err(one_line(&msg)));
        local_tasks().remove(&log_path);
        let _ = refresh_active(&env.paths, Some(&task.upid));
    };

    if let Err(e) = refresh_active(&env.paths, Some(&task.upid)) {
        fail(&task, format!("unable to register worker - {e}"));
        return Err(e.into());
    }

    let upid_text = task.upid_text.clone();
    cluster_log(
        &env.paths,
        6,
        &task.upid.user,
        &format!("starting task {upid_text}"),
    );
    let f: TaskFn = Box::new(f);
    if env.kind == EnvKind::Cli {
        run_task(&env.paths, &task, f);
        return Ok(upid_text);
    }

    let paths = env.paths.clone();
    let thread_task = task.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("task {}", task.upid.worker_type))
        .spawn(move || run_task(&paths, &thread_task, f));
    if let Err(e) = spawned {
        let msg = format!("unable to start worker - {e}");
        fail(&task, msg.clone());
        bail!(msg);
    }
    Ok(upid_text)
}
