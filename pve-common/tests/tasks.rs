//! Worker tasks on temporary roots: the files they leave (in upstream's formats), the
//! list filters, log pages, status, stop, and concurrent finishing.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::bail;
use pve_common::api::env::{AuthId, EnvKind, RpcEnv};
use pve_common::tasks::files::ActiveLock;
use pve_common::tasks::{
    list_tasks, read_log, start_worker, stop_task, task_status, update_active, ActiveEntry,
    IndexEntry, LogLine, RunState, TaskError, TaskFilter, TaskSource, MAX_FINISHED,
};
use pve_common::upid::{status_from_log, Upid};
use pve_common::NodePaths;

struct TempRoot(PathBuf);

impl TempRoot {
    fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "pve-tasks-test-{}-{}-{name}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    fn paths(&self) -> NodePaths {
        NodePaths::new(&self.0)
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn env(root: &TempRoot, kind: EnvKind, user: &str) -> RpcEnv {
    RpcEnv {
        auth: AuthId::parse(user).unwrap(),
        node: "node1".into(),
        client_ip: None,
        kind,
        paths: root.paths(),
        permissions: None,
    }
}

fn read(path: impl AsRef<Path>) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn wait_stopped(paths: &NodePaths, upid: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st = task_status(paths, upid).unwrap();
        if st.status == RunState::Stopped {
            return st.exitstatus.unwrap();
        }
        assert!(Instant::now() < deadline, "task {upid} does not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_of(paths: &NodePaths, upid: &str) -> String {
    let u: Upid = upid.parse().unwrap();
    read(u.log_path(&paths.task_dir()))
}

#[test]
fn cli_task_files_match_upstream_formats() {
    let root = TempRoot::new("formats");
    let paths = root.paths();
    let upid = start_worker(
        &env(&root, EnvKind::Cli, "root@pam"),
        "qmstart",
        Some("100"),
        |t| {
            t.log("starting VM 100");
            t.log("done\n");
            Ok(())
        },
    )
    .unwrap();

    let u: Upid = upid.parse().unwrap();
    assert_eq!(u.to_string(), upid);
    assert_eq!(
        (u.node.as_str(), u.worker_type.as_str()),
        ("node1", "qmstart")
    );
    assert_eq!((u.id.as_str(), u.user.as_str()), ("100", "root@pam"));
    assert_eq!(u.pid, std::process::id());

    let task_dir = paths.task_dir();
    let log_path = u.log_path(&task_dir);
    let sub = format!("{:X}", u.starttime & 0xf);
    assert_eq!(log_path, task_dir.join(sub).join(&upid));
    let log = read(&log_path);
    assert_eq!(log, "starting VM 100\ndone\nTASK OK\n");
    assert_eq!(status_from_log(&log), "OK");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&log_path).unwrap().permissions().mode() & 0o777,
        0o640
    );

    let active = read(task_dir.join("active"));
    let index = read(task_dir.join("index"));
    let entry = ActiveEntry::parse(active.trim_end()).unwrap();
    let end = entry.endtime.unwrap();
    assert!(end >= u.starttime);
    assert_eq!(active, format!("{upid} 1 {end:08X} OK\n"));
    assert_eq!(index, format!("{upid} {end:08X} OK\n"));
    let ie = IndexEntry::parse(index.trim_end()).unwrap();
    assert_eq!(ie.task, u);
    assert_eq!(ie.status.as_deref(), Some("OK"));
    assert!(task_dir.join(".active.lock").exists());

    let st = task_status(&paths, &upid).unwrap();
    assert_eq!(st.status, RunState::Stopped);
    assert_eq!(st.exitstatus.as_deref(), Some("OK"));
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["type"], "qmstart");
    assert_eq!(json["status"], "stopped");
}

#[test]
fn warnings_errors_and_panics() {
    let root = TempRoot::new("status");
    let paths = root.paths();
    let e = env(&root, EnvKind::Cli, "root@pam");

    let warned = start_worker(&e, "vzdump", Some("101"), |t| {
        t.warn("disk is slow");
        t.log("working");
        t.warn("again\n");
        Ok(())
    })
    .unwrap();
    assert_eq!(
        log_of(&paths, &warned),
        "WARN: disk is slow\nworking\nWARN: again\nTASK WARNINGS: 2\n"
    );

    let failed = start_worker(&e, "vzdump", Some("102"), |t| {
        t.warn("ignored for the status");
        bail!("backup failed\nsecond line\n")
    })
    .unwrap();
    assert!(log_of(&paths, &failed).ends_with("TASK ERROR: backup failed second line\n"));

    let ctx = start_worker(&e, "vzdump", Some("103"), |_| {
        Err(anyhow::anyhow!("inner").context("outer"))
    })
    .unwrap();
    assert!(log_of(&paths, &ctx).ends_with("TASK ERROR: outer: inner\n"));

    let panicked = start_worker(&e, "vzdump", Some("104"), |_| panic!("oops")).unwrap();
    assert_eq!(
        log_of(&paths, &panicked),
        "TASK ERROR: worker panicked: oops\n"
    );

    let status = |u: &str| task_status(&paths, u).unwrap().exitstatus.unwrap();
    assert_eq!(status(&warned), "WARNINGS: 2");
    assert_eq!(status(&failed), "backup failed second line");
    assert_eq!(status(&panicked), "worker panicked: oops");

    let index = read(paths.task_dir().join("index"));
    let statuses: Vec<_> = index
        .lines()
        .map(|l| IndexEntry::parse(l).unwrap().status.unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "WARNINGS: 2",
            "backup failed second line",
            "outer: inner",
            "worker panicked: oops"
        ]
    );

    // Invalid UPID parts are refused, not panicked on.
    assert!(start_worker(&e, "bad:type", None, |_| Ok(())).is_err());
    assert!(start_worker(&e, "t", Some("a b"), |_| Ok(())).is_err());
    assert!(start_worker(&e, "", None, |_| Ok(())).is_err());
}

#[test]
fn active_keeps_running_plus_recent_finished() {
    let root = TempRoot::new("thirty");
    let paths = root.paths();
    let daemon = env(&root, EnvKind::Daemon, "root@pam");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let running = start_worker(&daemon, "vncproxy", Some("200"), move |_| {
        let _ = rx.recv_timeout(Duration::from_secs(60));
        Ok(())
    })
    .unwrap();

    let cli = env(&root, EnvKind::Cli, "root@pam");
    for i in 0..30 {
        start_worker(&cli, "qmstart", Some(&(300 + i).to_string()), |_| Ok(())).unwrap();
    }
    let task_dir = paths.task_dir();
    let active = read(task_dir.join("active"));
    let lines: Vec<_> = active.lines().collect();
    assert_eq!(lines.len(), MAX_FINISHED);
    assert_eq!(lines[0], format!("{running} 0"));
    for l in &lines[1..] {
        let e = ActiveEntry::parse(l).unwrap();
        assert!(e.saved && e.endtime.is_some() && e.status.as_deref() == Some("OK"));
    }
    // Newest first (same start second keeps the previous order).
    let starts: Vec<i64> = lines[1..]
        .iter()
        .map(|l| ActiveEntry::parse(l).unwrap().task.starttime)
        .collect();
    assert!(starts.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(read(task_dir.join("index")).lines().count(), 30);

    tx.send(()).unwrap();
    assert_eq!(wait_stopped(&paths, &running), "OK");
    // A task reads as stopped as soon as its worker is gone; like upstream's readers,
    // refresh the list before looking at it (the worker's own refresh may still run).
    update_active(&paths).unwrap();
    // The running task was archived at its end and now ranks among the 25 recent ones.
    let active = read(task_dir.join("active"));
    assert_eq!(active.lines().count(), MAX_FINISHED);
    assert!(active.lines().all(|l| ActiveEntry::parse(l).unwrap().saved));
    let index = read(task_dir.join("index"));
    assert_eq!(index.lines().count(), 31);
    assert!(index.lines().last().unwrap().starts_with(&running));
}

fn upid_at(start: i64, ty: &str, id: &str, user: &str) -> String {
    Upid {
        node: "node1".into(),
        pid: 0x1234,
        pstart: 0x5678,
        starttime: start,
        worker_type: ty.into(),
        id: id.into(),
        user: user.into(),
    }
    .to_string()
}

#[test]
fn list_filters_and_paging() {
    let root = TempRoot::new("filters");
    let paths = root.paths();
    let task_dir = paths.task_dir();
    fs::create_dir_all(&task_dir).unwrap();
    // index.1 holds the older tasks; lines are appended, so the newest is last.
    let old = [
        (1000, "vzdump", "100", "root@pam", "OK"),
        (1100, "qmstart", "101", "alice@pve", "WARNINGS: 1"),
    ];
    let new = [
        (2000, "qmstart", "100", "root@pam", "OK"),
        (2100, "qmstop", "100", "alice@pve!tok", "some failure"),
        (2200, "vzdump", "", "bob@pve", "unexpected status"),
        (2300, "qmstart", "101", "alice@pve", "OK"),
    ];
    let fmt = |rows: &[(i64, &str, &str, &str, &str)]| -> String {
        rows.iter()
            .map(|(s, t, i, u, st)| IndexEntry::format_line(&upid_at(*s, t, i, u), s + 5, st))
            .collect()
    };
    fs::write(task_dir.join("index.1"), fmt(&old)).unwrap();
    fs::write(
        task_dir.join("index"),
        format!("garbage line\n{}\n", fmt(&new)),
    )
    .unwrap();
    let running = upid_at(2400, "vncproxy", "100", "root@pam");
    let done_unsaved = upid_at(2350, "qmstart", "102", "root@pam");
    let saved = upid_at(2300, "qmstart", "101", "alice@pve");
    fs::write(
        task_dir.join("active"),
        format!("{running} 0\n{done_unsaved} 0 00000931 OK\n{saved} 1 000008FD OK\nnot a line\n"),
    )
    .unwrap();

    let starts = |f: &TaskFilter| -> (Vec<i64>, u64) {
        let l = list_tasks(&paths, f);
        (l.data.iter().map(|t| t.starttime).collect(), l.total)
    };
    let all = TaskFilter::default();
    assert_eq!(starts(&all), (vec![2300, 2200, 2100, 2000, 1100, 1000], 6));
    let f = TaskFilter {
        source: TaskSource::Active,
        ..Default::default()
    };
    let l = list_tasks(&paths, &f);
    assert_eq!(l.total, 2);
    assert_eq!(l.data[0].status.as_deref(), Some("RUNNING"));
    assert_eq!(l.data[0].endtime, None);
    assert_eq!(l.data[1].status.as_deref(), Some("OK"));
    assert_eq!(l.data[1].endtime, Some(0x931));
    let f = TaskFilter {
        source: TaskSource::All,
        ..Default::default()
    };
    assert_eq!(
        starts(&f).0,
        vec![2400, 2350, 2300, 2200, 2100, 2000, 1100, 1000]
    );

    let page = TaskFilter {
        start: 1,
        limit: 2,
        ..Default::default()
    };
    assert_eq!(starts(&page), (vec![2200, 2100], 6));
    let none = TaskFilter {
        limit: 0,
        ..Default::default()
    };
    assert_eq!(starts(&none), (vec![], 6));

    let typed = TaskFilter {
        typefilter: Some("qmstart".into()),
        ..Default::default()
    };
    assert_eq!(starts(&typed), (vec![2300, 2000, 1100], 3));
    let vm = TaskFilter {
        vmid: Some(100),
        ..Default::default()
    };
    assert_eq!(starts(&vm).0, vec![2100, 2000, 1000]);
    let user = TaskFilter {
        userfilter: Some("ALICE".into()),
        ..Default::default()
    };
    assert_eq!(starts(&user).0, vec![2300, 2100, 1100]);
    let errors = TaskFilter {
        errors: true,
        ..Default::default()
    };
    assert_eq!(starts(&errors).0, vec![2200, 2100, 1100]);
    let status = TaskFilter {
        statusfilter: Some(TaskFilter::parse_status_list("Error,unknown")),
        ..Default::default()
    };
    assert_eq!(starts(&status).0, vec![2200, 2100]);
    let warn = TaskFilter {
        statusfilter: Some(TaskFilter::parse_status_list("warning")),
        ..Default::default()
    };
    assert_eq!(starts(&warn).0, vec![1100]);
    let window = TaskFilter {
        since: Some(1100),
        until: Some(2100),
        ..Default::default()
    };
    assert_eq!(starts(&window).0, vec![2100, 2000, 1100]);

    // Ownership: a user sees its tokens' tasks, a token only its own.
    let mine = TaskFilter {
        visible_to: Some("alice@pve".into()),
        ..Default::default()
    };
    assert_eq!(starts(&mine).0, vec![2300, 2100, 1100]);
    let token = TaskFilter {
        visible_to: Some("alice@pve!tok".into()),
        ..Default::default()
    };
    let l = list_tasks(&paths, &token);
    assert_eq!(l.data.len(), 1);
    assert_eq!(l.data[0].user, "alice@pve");
    assert_eq!(l.data[0].tokenid.as_deref(), Some("tok"));
    let json = serde_json::to_value(&l.data[0]).unwrap();
    assert_eq!(json["tokenid"], "tok");
    assert_eq!(json["type"], "qmstop");
    assert_eq!(json["endtime"], 2105);

    assert!("bogus".parse::<TaskSource>().is_err());
    // A root without any task files lists nothing.
    let empty = TempRoot::new("empty");
    assert_eq!(list_tasks(&empty.paths(), &all).total, 0);
}

#[test]
fn index_rotates_past_50k() {
    let root = TempRoot::new("rotate");
    let paths = root.paths();
    let task_dir = paths.task_dir();
    fs::create_dir_all(&task_dir).unwrap();
    let line = IndexEntry::format_line(&upid_at(1000, "t", "", "root@pam"), 1001, "OK");
    fs::write(task_dir.join("index"), line.repeat(50_000 / line.len())).unwrap();
    start_worker(&env(&root, EnvKind::Cli, "root@pam"), "t", None, |_| Ok(())).unwrap();
    assert!(!task_dir.join("index").exists());
    assert!(fs::metadata(task_dir.join("index.1")).unwrap().len() > 50_000);
    start_worker(
        &env(&root, EnvKind::Cli, "root@pam"),
        "t",
        Some("1"),
        |_| Ok(()),
    )
    .unwrap();
    assert_eq!(read(task_dir.join("index")).lines().count(), 1);
}

#[test]
fn log_pages() {
    let root = TempRoot::new("log");
    let paths = root.paths();
    let upid = start_worker(&env(&root, EnvKind::Cli, "root@pam"), "t", None, |t| {
        for i in 1..=120 {
            t.log(format!("line {i}"));
        }
        Ok(())
    })
    .unwrap();
    let (lines, total) = read_log(&paths, &upid, 0, 50).unwrap();
    assert_eq!(total, 121);
    assert_eq!(lines.len(), 50);
    assert_eq!(
        lines[0],
        LogLine {
            n: 1,
            t: "line 1".into()
        }
    );
    let (lines, total) = read_log(&paths, &upid, 100, 50).unwrap();
    assert_eq!((lines.len(), total), (21, 121));
    assert_eq!(lines[0].n, 101);
    assert_eq!(lines.last().unwrap().t, "TASK OK");
    let (lines, _) = read_log(&paths, &upid, 0, 0).unwrap();
    assert_eq!(lines.len(), 121);
    let (lines, total) = read_log(&paths, &upid, 500, 10).unwrap();
    assert_eq!((lines.len(), total), (0, 121));

    // Empty log: upstream's single "no content" line.
    let u: Upid = upid.parse().unwrap();
    let empty = Upid {
        id: "empty".into(),
        ..u.clone()
    };
    fs::write(empty.log_path(&paths.task_dir()), "").unwrap();
    let (lines, total) = read_log(&paths, &empty.to_string(), 0, 50).unwrap();
    assert_eq!(total, 1);
    assert_eq!(
        lines,
        vec![LogLine {
            n: 1,
            t: "no content".into()
        }]
    );
    let missing = Upid {
        id: "missing".into(),
        ..u
    };
    let (lines, total) = read_log(&paths, &missing.to_string(), 0, 50).unwrap();
    assert_eq!(total, 1);
    assert_eq!(
        lines[0].t,
        "unable to open file - No such file or directory"
    );
    assert_eq!(read_log(&paths, "nope", 0, 50), Err(TaskError::InvalidUpid));
}

#[test]
fn thread_tasks_status_and_stop() {
    let root = TempRoot::new("stop");
    let paths = root.paths();
    let daemon = env(&root, EnvKind::Daemon, "alice@pve!tok");
    let upid = start_worker(&daemon, "vzdump", Some("100"), |t| {
        t.log("waiting");
        loop {
            t.fail_on_abort()?;
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .unwrap();
    let st = task_status(&paths, &upid).unwrap();
    assert_eq!(st.status, RunState::Running);
    assert_eq!(st.exitstatus, None);
    assert_eq!(
        (st.user.as_str(), st.tokenid.as_deref()),
        ("alice@pve", Some("tok"))
    );
    let active = list_tasks(
        &paths,
        &TaskFilter {
            source: TaskSource::Active,
            ..Default::default()
        },
    );
    assert_eq!(active.data[0].status.as_deref(), Some("RUNNING"));

    stop_task(&paths, &upid).unwrap();
    assert_eq!(wait_stopped(&paths, &upid), "received interrupt");
    assert_eq!(
        log_of(&paths, &upid),
        "waiting\nTASK ERROR: received interrupt\n"
    );
    // Stopping again is harmless.
    stop_task(&paths, &upid).unwrap();

    assert_eq!(
        task_status(&paths, "garbage").unwrap_err(),
        TaskError::InvalidUpid
    );
    let unknown = upid_at(1000, "t", "", "root@pam");
    assert_eq!(
        task_status(&paths, &unknown).unwrap_err(),
        TaskError::NoSuchTask
    );
    assert_eq!(
        stop_task(&paths, &unknown).unwrap_err(),
        TaskError::NoSuchTask
    );
}

#[test]
fn dead_foreign_process_is_finished_by_refresh() {
    let root = TempRoot::new("dead");
    let paths = root.paths();
    let task_dir = paths.task_dir();
    // A pid that ran and exited: its task never wrote a final line.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    let u = Upid {
        node: "node1".into(),
        pid,
        pstart: 1,
        starttime: 0x68D7279C,
        worker_type: "qmstart".into(),
        id: "100".into(),
        user: "root@pam".into(),
    };
    let log = u.log_path(&task_dir);
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    fs::write(&log, "half a task\n").unwrap();
    fs::write(task_dir.join("active"), format!("{u} 0\n")).unwrap();

    let st = task_status(&paths, &u.to_string()).unwrap();
    assert_eq!(st.status, RunState::Stopped);
    assert_eq!(st.exitstatus.as_deref(), Some("unexpected status"));
    update_active(&paths).unwrap();
    let active = read(task_dir.join("active"));
    let e = ActiveEntry::parse(active.trim_end()).unwrap();
    assert!(e.saved);
    assert_eq!(e.status.as_deref(), Some("unexpected status"));
    assert_eq!(
        read(task_dir.join("index")),
        format!("{u} {:08X} unexpected status\n", e.endtime.unwrap())
    );
}

#[test]
fn garbage_files_do_not_panic() {
    let root = TempRoot::new("garbage");
    let paths = root.paths();
    let task_dir = paths.task_dir();
    fs::create_dir_all(&task_dir).unwrap();
    fs::write(task_dir.join("active"), b"\xff\xfe\n UPID:\n\n0 0 0 0\n").unwrap();
    fs::write(task_dir.join("index"), b"\x00\x01 zz\nUPID:x 1\n").unwrap();
    let l = list_tasks(
        &paths,
        &TaskFilter {
            source: TaskSource::All,
            ..Default::default()
        },
    );
    assert_eq!(l.total, 0);
    update_active(&paths).unwrap();
    let upid = start_worker(&env(&root, EnvKind::Cli, "root@pam"), "t", None, |_| Ok(())).unwrap();
    assert!(read(task_dir.join("active")).starts_with(&upid));
    for bad in [
        "",
        "UPID:",
        "UPID:n:1:2:3:t::u:",
        "UPID:../../x:0:0:0:t::u:",
    ] {
        assert!(task_status(&paths, bad).is_err());
        assert!(read_log(&paths, bad, 0, 1).is_err());
        assert!(stop_task(&paths, bad).is_err());
    }
}

#[test]
fn same_type_and_id_in_one_second_get_distinct_upids() {
    let root = TempRoot::new("collide");
    let e = env(&root, EnvKind::Cli, "root@pam");
    let a = start_worker(&e, "qmstart", Some("100"), |_| Ok(())).unwrap();
    let b = start_worker(&e, "qmstart", Some("100"), |_| Ok(())).unwrap();
    assert_ne!(a, b);
    assert_eq!(
        read(root.paths().task_dir().join("index")).lines().count(),
        2
    );
}

#[test]
fn concurrent_tasks_keep_active_and_index_consistent() {
    let root = TempRoot::new("concurrent");
    let paths = root.paths();
    let daemon = env(&root, EnvKind::Daemon, "root@pam");
    const N: usize = 12;
    let barrier = Arc::new(Barrier::new(N));
    let upids: Vec<String> = (0..N)
        .map(|i| {
            let barrier = barrier.clone();
            start_worker(&daemon, "qmstart", Some(&(100 + i).to_string()), move |t| {
                t.log(format!("task {i}"));
                barrier.wait();
                if i % 3 == 0 {
                    bail!("failure {i}");
                }
                Ok(())
            })
            .unwrap()
        })
        .collect();
    for u in &upids {
        wait_stopped(&paths, u);
    }
    let task_dir = paths.task_dir();
    // The last finisher may still rewrite `active` after its status turned stopped.
    let deadline = Instant::now() + Duration::from_secs(10);
    let active = loop {
        let active = read(task_dir.join("active"));
        let done = active.lines().count() == N
            && active
                .lines()
                .all(|l| ActiveEntry::parse(l).is_some_and(|e| e.saved));
        if done || Instant::now() > deadline {
            break active;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut in_active: Vec<String> = active
        .lines()
        .map(|l| {
            let e = ActiveEntry::parse(l).unwrap();
            assert!(e.saved && e.endtime.is_some(), "{l}");
            e.upid
        })
        .collect();
    let index = read(task_dir.join("index"));
    let mut in_index: Vec<String> = index
        .lines()
        .map(|l| {
            let e = IndexEntry::parse(l).unwrap();
            let expect = if e.task.id.parse::<usize>().unwrap() % 3 == 1 {
                format!("failure {}", e.task.id.parse::<usize>().unwrap() - 100)
            } else {
                "OK".to_string()
            };
            assert_eq!(e.status.unwrap(), expect, "{l}");
            e.upid
        })
        .collect();
    let mut expected = upids.clone();
    expected.sort();
    in_active.sort();
    in_index.sort();
    assert_eq!(in_active, expected);
    assert_eq!(in_index, expected);
    // Under the lock no writer is half-way through replacing `active`.
    let _lock = ActiveLock::acquire(&task_dir, Duration::from_secs(10)).unwrap();
    let leftovers: Vec<_> = fs::read_dir(&task_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty());
}

/// Kills and reaps the child on every exit path of the test.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn proc_starttime(pid: u32) -> u64 {
    let stat = read(format!("/proc/{pid}/stat"));
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

#[test]
fn foreign_process_task_is_stopped_with_sigterm() {
    use std::os::unix::process::CommandExt;
    let root = TempRoot::new("foreign");
    let paths = root.paths();
    let task_dir = paths.task_dir();
    let child = match std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
    {
        Ok(c) => ChildGuard(c),
        Err(e) => {
            println!("SKIP: cannot run sleep: {e}");
            return;
        }
    };
    let pid = child.0.id();
    let u = Upid {
        node: "node1".into(),
        pid,
        pstart: proc_starttime(pid),
        starttime: 0x68D7279C,
        worker_type: "vzdump".into(),
        id: "100".into(),
        user: "root@pam".into(),
    };
    let log = u.log_path(&task_dir);
    fs::create_dir_all(log.parent().unwrap()).unwrap();
    fs::write(&log, "INFO: starting\n").unwrap();
    fs::write(task_dir.join("active"), format!("{u} 0\n")).unwrap();

    let upid = u.to_string();
    assert_eq!(
        task_status(&paths, &upid).unwrap().status,
        RunState::Running
    );
    update_active(&paths).unwrap();
    assert_eq!(read(task_dir.join("active")), format!("{upid} 0\n"));

    stop_task(&paths, &upid).unwrap();
    let mut child = child;
    let status = child.0.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "SIGTERM");
    assert_eq!(
        task_status(&paths, &upid).unwrap().status,
        RunState::Stopped
    );
}
