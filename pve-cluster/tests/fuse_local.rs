//! pmxcfs in local mode through a real FUSE mount.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::Duration;

use common::{errno_of, set_mtime, Node, NODE};
use pve_cluster::benchutil::cpu_secs;
use pve_cluster::cfs::{Cfs, CfsError};

fn mode(p: &std::path::Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn files_dirs_modes_symlinks_virtual_files_and_restart() {
    let Some(mut n) = Node::started("basic", &[]) else {
        return;
    };
    let m = n.mnt();

    // create, write, read
    fs::write(n.p("storage.cfg"), b"dir: local\n\tpath /var/lib/vz\n").unwrap();
    assert_eq!(
        fs::read(n.p("storage.cfg")).unwrap(),
        b"dir: local\n\tpath /var/lib/vz\n"
    );
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(n.p("storage.cfg"))
        .unwrap();
    f.write_all(b"\tcontent iso\n").unwrap();
    drop(f);
    assert!(fs::read_to_string(n.p("storage.cfg"))
        .unwrap()
        .ends_with("content iso\n"));
    // truncate
    fs::write(n.p("storage.cfg"), b"short\n").unwrap();
    assert_eq!(fs::read(n.p("storage.cfg")).unwrap(), b"short\n");
    // O_EXCL on an existing file
    let excl = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(n.p("storage.cfg"));
    assert_eq!(errno_of(excl), libc::EEXIST);
    // New files come through MKNOD in local mode; only regular files can be made.
    let fifo = std::ffi::CString::new(n.p("fifo").as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    let rc = unsafe { libc::mknod(fifo.as_ptr(), libc::S_IFIFO | 0o640, 0) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOSYS)
    );
    assert!(!n.p("fifo").exists());
    // SAFETY: as above.
    let rc = unsafe { libc::mknod(fifo.as_ptr(), libc::S_IFREG | 0o640, 0) };
    assert_eq!(rc, 0);
    assert_eq!(fs::read(n.p("fifo")).unwrap(), b"");
    fs::remove_file(n.p("fifo")).unwrap();

    // mkdir / rmdir
    fs::create_dir_all(n.p("nodes/pve1/qemu-server")).unwrap();
    fs::create_dir(n.p("nodes/pve1/lxc")).unwrap();
    fs::create_dir(n.p("nodes/pve1/priv")).unwrap();
    assert_eq!(errno_of(fs::create_dir(n.p("nodes"))), libc::EEXIST);
    assert_eq!(errno_of(fs::remove_dir(n.p("nodes"))), libc::ENOTEMPTY);
    fs::create_dir(n.p("tmpdir")).unwrap();
    fs::remove_dir(n.p("tmpdir")).unwrap();
    assert!(!n.p("tmpdir").exists());

    // rename (keeps the content; replaces a target)
    fs::write(n.p("vzdump.conf.tmp.1"), b"a\n").unwrap();
    fs::write(n.p("vzdump.conf"), b"old\n").unwrap();
    fs::rename(n.p("vzdump.conf.tmp.1"), n.p("vzdump.conf")).unwrap();
    assert_eq!(fs::read(n.p("vzdump.conf")).unwrap(), b"a\n");
    assert!(!n.p("vzdump.conf.tmp.1").exists());

    // delete
    fs::write(n.p("deleteme.txt"), b"x").unwrap();
    fs::remove_file(n.p("deleteme.txt")).unwrap();
    assert!(!n.p("deleteme.txt").exists());
    assert_eq!(errno_of(fs::remove_file(n.p("deleteme.txt"))), libc::ENOENT);

    // modes and owners
    fs::create_dir(n.p("priv")).unwrap();
    fs::write(n.p("priv/authkey.key"), b"secret\n").unwrap();
    fs::write(n.p("nodes/pve1/priv/x"), b"secret\n").unwrap();
    let gid = pve_cluster::daemon::www_data_gid();
    for (rel, want) in [
        ("", 0o755),
        ("storage.cfg", 0o640),
        ("nodes", 0o755),
        ("nodes/pve1/qemu-server", 0o755),
        ("priv", 0o700),
        ("priv/authkey.key", 0o600),
        ("nodes/pve1/priv", 0o700),
        ("nodes/pve1/priv/x", 0o600),
        (".version", 0o440),
        (".members", 0o440),
        (".vmlist", 0o440),
        (".clusterlog", 0o440),
        (".rrd", 0o440),
        (".debug", 0o640),
        ("local", 0o755),
    ] {
        let md = fs::symlink_metadata(n.p(rel)).unwrap();
        assert_eq!(md.mode() & 0o7777, want, "mode of '{rel}'");
        assert_eq!((md.uid(), md.gid()), (0, gid), "owner of '{rel}'");
    }
    assert_eq!(fs::metadata(&m).unwrap().mtime(), 0);
    assert_eq!(fs::symlink_metadata(n.p(".version")).unwrap().mtime(), 0);
    // chmod only to the mode shown; chown only to root:www-data
    let set =
        |rel: &str, mode: u32| fs::set_permissions(n.p(rel), fs::Permissions::from_mode(mode));
    assert_eq!(errno_of(set("storage.cfg", 0o644)), libc::EPERM);
    set("storage.cfg", 0o640).unwrap();
    assert_eq!(errno_of(set("priv/authkey.key", 0o640)), libc::EPERM);
    set("priv/authkey.key", 0o600).unwrap();
    assert_eq!(mode(&n.p("storage.cfg")), 0o640);
    assert_eq!(
        errno_of(std::os::unix::fs::chown(n.p("storage.cfg"), Some(1), None)),
        libc::EPERM
    );
    std::os::unix::fs::chown(n.p("storage.cfg"), Some(0), Some(gid)).unwrap();

    // symlinks
    for (name, target) in [
        ("local", "nodes/pve1".to_string()),
        ("qemu-server", format!("nodes/{NODE}/qemu-server")),
        ("lxc", format!("nodes/{NODE}/lxc")),
        ("openvz", format!("nodes/{NODE}/openvz")),
    ] {
        assert_eq!(fs::read_link(n.p(name)).unwrap().to_str().unwrap(), target);
    }
    assert_eq!(
        errno_of(std::os::unix::fs::symlink("storage.cfg", n.p("link-test"))),
        libc::ENOSYS
    );
    // A generated file read before a change shows the change at once (its pages are
    // cached, but dropped when its content changes).
    let before = fs::read_to_string(n.p(".vmlist")).unwrap();
    assert!(!before.contains("\"100\""), "{before}");
    fs::write(n.p("qemu-server/100.conf"), b"memory: 512\n").unwrap();
    assert!(n.p("nodes/pve1/qemu-server/100.conf").exists());
    let after = fs::read_to_string(n.p(".vmlist")).unwrap();
    assert!(after.contains("\"100\""), "{after}");
    // A stored file rewritten with the same size reads back new.
    fs::write(n.p("qemu-server/100.conf"), b"memory: 768\n").unwrap();
    assert_eq!(
        fs::read_to_string(n.p("qemu-server/100.conf")).unwrap(),
        "memory: 768\n"
    );
    fs::write(n.p("qemu-server/100.conf"), b"memory: 512\n").unwrap();

    // VMID uniqueness across nodes and types
    fs::create_dir_all(n.p("nodes/pve2/lxc")).unwrap();
    assert_eq!(
        errno_of(fs::write(n.p("nodes/pve2/lxc/100.conf"), b"")),
        libc::EEXIST
    );
    assert_eq!(
        errno_of(fs::write(n.p("nodes/pve1/lxc/100.conf"), b"")),
        libc::EEXIST
    );
    fs::write(n.p("nodes/pve2/lxc/200.conf"), b"arch: amd64\n").unwrap();

    // virtual files
    assert_eq!(
        fs::read_to_string(n.p(".members")).unwrap(),
        "{\n\"nodename\": \"pve1\",\n\"version\": 0\n}\n"
    );
    let cfs = Cfs::new(&n.paths());
    let vl = cfs.vmlist().unwrap();
    assert_eq!(vl.ids[&100].node, "pve1");
    assert_eq!(vl.ids[&100].guest_type, "qemu");
    assert_eq!(vl.ids[&200].node, "pve2");
    assert_eq!(cfs.members().unwrap().nodename, "pve1");
    let version = fs::read_to_string(n.p(".version")).unwrap();
    assert!(version.contains("\"storage.cfg\": "), "{version}");
    assert_eq!(fs::read_to_string(n.p(".debug")).unwrap(), "0\n");
    fs::write(n.p(".debug"), b"1\n").unwrap();
    assert_eq!(fs::read_to_string(n.p(".debug")).unwrap(), "1\n");
    fs::write(n.p(".debug"), b"0\n").unwrap();
    // Generated files cannot be written: EIO (at write(2): local mode opens files
    // without a round trip, so open(2) cannot refuse).
    let write_members = fs::OpenOptions::new()
        .write(true)
        .open(n.p(".members"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
    assert_eq!(errno_of(write_members), libc::EIO);
    assert_eq!(errno_of(fs::create_dir(n.p(".version"))), libc::EEXIST);
    assert_eq!(fs::read(n.p(".rrd")).unwrap(), b"");
    assert!(fs::read_to_string(n.p(".clusterlog"))
        .unwrap()
        .contains("starting cluster log"));
    let names: Vec<String> = fs::read_dir(&m)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for want in [
        ".version",
        ".vmlist",
        "local",
        "storage.cfg",
        "nodes",
        "priv",
    ] {
        assert!(
            names.iter().any(|x| x == want),
            "{want} missing in {names:?}"
        );
    }

    // size limit: a 1.1 MiB write is short at 1 MiB, the next one fails EFBIG
    let data: Vec<u8> = (0..1_153_434u32).map(|i| (i * 7) as u8).collect();
    let mut f = fs::File::create(n.p("too-big.bin")).unwrap();
    assert_eq!(f.write(&data).unwrap(), 1_048_576);
    assert_eq!(errno_of(f.write(&data[1_048_576..])), libc::EFBIG);
    drop(f);
    assert_eq!(fs::read(n.p("too-big.bin")).unwrap(), &data[..1_048_576]);

    // restart persistence
    let before: Vec<(String, Vec<u8>, u32)> = [
        "storage.cfg",
        "vzdump.conf",
        "priv/authkey.key",
        "too-big.bin",
        "qemu-server/100.conf",
    ]
    .iter()
    .map(|r| (r.to_string(), fs::read(n.p(r)).unwrap(), mode(&n.p(r))))
    .collect();
    let mtime = fs::metadata(n.p("storage.cfg")).unwrap().mtime();
    n.stop();
    n.start();
    for (r, data, md) in before {
        assert_eq!(fs::read(n.p(&r)).unwrap(), data, "{r} after restart");
        assert_eq!(mode(&n.p(&r)), md);
    }
    assert_eq!(fs::metadata(n.p("storage.cfg")).unwrap().mtime(), mtime);
    assert_eq!(cfs.vmlist().unwrap().ids.len(), 2);
    n.stop();
}

/// The change stamp (`.version`'s ctime: database version) and a file's attributes change with every
/// write, also same-size rewrites within one second: readers cache parsed configs by
/// them (qemu-server's guest list).
#[test]
fn change_stamp_and_file_versions_follow_every_write() {
    let Some(mut n) = Node::started("stamp", &[]) else {
        return;
    };
    let cfs = Cfs::new(&n.paths());
    fs::create_dir_all(n.p("nodes/pve1/qemu-server")).unwrap();
    let conf = n.p("nodes/pve1/qemu-server/100.conf");
    let key = |p: &std::path::Path| {
        let m = fs::metadata(p).unwrap();
        (m.ino(), m.size(), m.mtime(), m.mtime_nsec())
    };
    fs::write(&conf, b"name: aaaa\n").unwrap();
    let mut stamp = cfs.change_stamp().expect("pmxcfs mount has a change stamp");
    assert_eq!(cfs.change_stamp(), Some(stamp), "stable without writes");
    let mut attrs = key(&conf);
    for name in ["bbbb", "cccc", "dddd", "eeee"] {
        fs::write(&conf, format!("name: {name}\n")).unwrap();
        let now = cfs.change_stamp().unwrap();
        assert_ne!(now, stamp, "a write changes the stamp");
        let a = key(&conf);
        assert_ne!(
            a, attrs,
            "a same-size rewrite changes the file's attributes"
        );
        stamp = now;
        attrs = a;
    }
    // a plain directory has none
    assert_eq!(
        Cfs::new(&pve_common::NodePaths::new("/tmp")).change_stamp(),
        None
    );
    n.stop();
}

#[test]
fn locks_and_cfs_client() {
    let Some(mut n) = Node::started("locks", &[("PMXCFS_TEST_LOCK_TIMEOUT", "1")]) else {
        return;
    };
    fs::create_dir_all(n.p("priv/lock")).unwrap();
    let l = n.p("priv/lock/testlock");
    fs::create_dir(&l).unwrap();
    assert_eq!(mode(&l), 0o700);
    assert_eq!(errno_of(fs::create_dir(&l)), libc::EEXIST);
    // unlock request on a fresh lock is refused; the holder may refresh it
    assert_eq!(errno_of(set_mtime(&l, 0)), libc::EACCES);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    set_mtime(&l, now + 5).unwrap();
    assert_eq!(errno_of(set_mtime(&l, now)), libc::EACCES);
    assert_eq!(
        errno_of(fs::rename(&l, n.p("priv/lock/other"))),
        libc::EACCES
    );
    // after the (test-shortened) expiry the unlock request removes it
    std::thread::sleep(Duration::from_millis(2100));
    set_mtime(&l, 0).unwrap();
    assert!(!l.exists());
    fs::create_dir(&l).unwrap();

    let cfs = Cfs::new(&n.paths());
    // held lock: timeout with upstream's message
    fs::create_dir(n.p("priv/lock/file-storage_cfg")).unwrap();
    let t0 = std::time::Instant::now();
    let res: Result<(), CfsError> =
        cfs.lock_file("storage.cfg", Some(Duration::from_secs(1)), || Ok(()));
    let err = res.unwrap_err().to_string();
    assert_eq!(
        err,
        "cfs-lock 'file-storage_cfg' error: got lock request timeout"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
    // an expired lock is broken by the waiting client (utime 0)
    std::thread::sleep(Duration::from_millis(1100));
    let got: Result<u32, CfsError> =
        cfs.lock_file("storage.cfg", Some(Duration::from_secs(5)), || Ok(7));
    assert_eq!(got.unwrap(), 7);
    assert!(!n.p("priv/lock/file-storage_cfg").exists());

    // config files with digest checks
    assert!(cfs.read_file("storage.cfg").unwrap().is_none());
    cfs.write_file("storage.cfg", b"dir: local\n", None)
        .unwrap();
    let f = cfs.read_file("storage.cfg").unwrap().unwrap();
    assert_eq!(f.data, b"dir: local\n");
    let res = cfs.lock_domain("pve", None, || {
        cfs.write_file("storage.cfg", b"dir: x\n", Some(&f.digest))?;
        cfs.write_file("storage.cfg", b"dir: y\n", Some(&f.digest))
    });
    assert!(matches!(res, Err(CfsError::DigestMismatch)));
    assert_eq!(
        cfs.read_file("storage.cfg").unwrap().unwrap().data,
        b"dir: x\n"
    );
    assert!(matches!(
        cfs.read_file("foo.cfg"),
        Err(CfsError::UnknownFile(_))
    ));
    assert!(!n.p("priv/lock/domain-pve").exists());
    n.stop();
}

#[test]
fn cluster_log_through_ipc_and_tasks() {
    let Some(mut n) = Node::started("clog", &[]) else {
        return;
    };
    let paths = n.paths();
    pve_cluster::ipc::log_msg(&paths, 4, "alice@pve", "mytool", "first \"quoted\"").unwrap();
    pve_cluster::ipc::log_msg(&paths, 6, "root@pam", "mytool", "second").unwrap();
    // bad requests are refused
    assert!(pve_cluster::ipc::log_msg(&paths, 6, "has space", "t", "x").is_err());
    let all = String::from_utf8(pve_cluster::ipc::cluster_log(&paths, None, 0).unwrap()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&all).unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data[0]["msg"], "second");
    assert_eq!(data[1]["msg"], "first \"quoted\"");
    assert_eq!(data[1]["pri"], 4);
    assert_eq!(data[1]["user"], "alice@pve");
    assert_eq!(data[1]["tag"], "mytool");
    assert_eq!(data[1]["pid"], std::process::id());
    assert_eq!(data.last().unwrap()["msg"], "starting cluster log");
    // the virtual file shows the same
    assert_eq!(fs::read_to_string(n.p(".clusterlog")).unwrap(), all);
    // one user's entries, and a limit
    let alice = pve_cluster::ipc::cluster_log(&paths, Some("alice@pve"), 0).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&alice).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    let one = pve_cluster::ipc::cluster_log(&paths, None, 1).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);

    // worker tasks log their start and end, as upstream's
    let env = pve_common::api::RpcEnv::cli(paths.clone());
    let ok = pve_common::tasks::start_worker(&env, "testtask", None, |_| Ok(())).unwrap();
    let bad =
        pve_common::tasks::start_worker(&env, "testtask", Some("1"), |_| anyhow::bail!("it broke"));
    let bad = match bad {
        Ok(upid) => upid,
        Err(e) => panic!("{e}"),
    };
    let log = fs::read_to_string(n.p(".clusterlog")).unwrap();
    assert!(
        log.contains(&format!("\"msg\": \"starting task {ok}\"")),
        "{log}"
    );
    assert!(log.contains("\"pri\": 6, \"tag\": \"fuse_local"), "{log}");
    assert!(
        log.contains(&format!("\"msg\": \"end task {ok} OK\"")),
        "{log}"
    );
    assert!(log.contains("\"pri\": 3, \"tag\": \"fuse_local"), "{log}");
    assert!(
        log.contains(&format!("\"msg\": \"end task {bad} it broke\"")),
        "{log}"
    );
    n.stop();
}

/// uid and gid of www-data.
fn www_data_ids() -> Option<(u32, u32)> {
    let name = std::ffi::CString::new("www-data").unwrap();
    // SAFETY: a valid NUL-terminated name; the result is read at once.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    // SAFETY: a non-null result points to a valid passwd entry.
    (!pw.is_null()).then(|| unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// Local mode keeps names and attributes cached until a change passes the kernel. A
/// mode that follows the path after a rename, a directory renamed to a lock path and
/// then removed by an unlock request, and a directory emptied while it is being read
/// must still show correctly.
#[test]
fn kernel_caches_follow_changes_in_local_mode() {
    let Some(mut n) = Node::started("caches", &[("PMXCFS_TEST_LOCK_TIMEOUT", "1")]) else {
        return;
    };

    // Entries removed while a reader walks the directory do not hide others.
    fs::create_dir(n.p("many")).unwrap();
    for i in 0..300 {
        fs::write(n.p(&format!("many/f{i}.cfg")), b"x").unwrap();
    }
    let mut removed = 0;
    for e in fs::read_dir(n.p("many")).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
        removed += 1;
    }
    assert_eq!(removed, 300);
    assert_eq!(fs::read_dir(n.p("many")).unwrap().count(), 0);
    fs::remove_dir(n.p("many")).unwrap();

    // Names found missing (which the kernel may remember) appear once made, however
    // they are made, and go again when removed.
    for rel in ["missing.cfg", "missing.d", "renamed.cfg"] {
        assert!(!n.p(rel).exists());
        assert!(!n.p(rel).exists());
    }
    fs::write(n.p("missing.cfg"), b"here\n").unwrap();
    assert_eq!(fs::read(n.p("missing.cfg")).unwrap(), b"here\n");
    fs::create_dir(n.p("missing.d")).unwrap();
    assert!(n.p("missing.d").is_dir());
    fs::rename(n.p("missing.cfg"), n.p("renamed.cfg")).unwrap();
    assert!(!n.p("missing.cfg").exists());
    assert_eq!(fs::read(n.p("renamed.cfg")).unwrap(), b"here\n");
    fs::remove_file(n.p("renamed.cfg")).unwrap();
    fs::remove_dir(n.p("missing.d")).unwrap();
    assert!(!n.p("renamed.cfg").exists());
    assert!(!n.p("missing.d").exists());
    let excl = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(n.p("missing.d"));
    assert!(excl.is_ok());
    fs::remove_file(n.p("missing.d")).unwrap();

    // A file moved out of priv/ becomes readable for www-data at once, although
    // the kernel had its owner-only mode cached.
    fs::create_dir(n.p("priv")).unwrap();
    fs::write(n.p("priv/moved.cfg"), b"public now\n").unwrap();
    assert_eq!(mode(&n.p("priv/moved.cfg")), 0o600);
    assert_eq!(fs::read(n.p("priv/moved.cfg")).unwrap(), b"public now\n");
    fs::rename(n.p("priv/moved.cfg"), n.p("moved.cfg")).unwrap();
    match www_data_ids() {
        Some((uid, gid)) => {
            use std::os::unix::process::CommandExt;
            let out = std::process::Command::new("cat")
                .arg(n.p("moved.cfg"))
                .uid(uid)
                .gid(gid)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "www-data cannot read the moved file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(out.stdout, b"public now\n");
        }
        None => println!("SKIP: no www-data user for the read check"),
    }
    assert_eq!(mode(&n.p("moved.cfg")), 0o640);

    // A directory renamed to a lock path is not kept cached: once an unlock request
    // removed it, it is gone and the lock can be taken again.
    fs::create_dir_all(n.p("priv/lock")).unwrap();
    fs::create_dir(n.p("newlock")).unwrap();
    let l = n.p("priv/lock/renamed");
    fs::rename(n.p("newlock"), &l).unwrap();
    assert!(l.is_dir());
    // the first request starts the lock's timer
    assert_eq!(errno_of(set_mtime(&l, 0)), libc::EACCES);
    std::thread::sleep(Duration::from_millis(2100));
    set_mtime(&l, 0).unwrap();
    assert!(!l.exists());
    fs::create_dir(&l).unwrap();
    n.stop();
}

#[test]
fn the_daemon_polls_only_during_a_burst() {
    let Some(mut n) = Node::started("spin", &[]) else {
        return;
    };
    let pid = n.child().id();
    fs::create_dir(n.p("burst")).unwrap();
    // Back-to-back requests: the FUSE thread polls between them.
    for i in 0..500 {
        fs::write(n.p(&format!("burst/f{i}")), b"x").unwrap();
    }
    assert_eq!(fs::read(n.p("burst/f499")).unwrap(), b"x");
    // Let the checkpointer copy the burst into the database, then watch the
    // daemon do nothing: a poller that did not stop would take most of a CPU.
    std::thread::sleep(Duration::from_millis(1200));
    let before = cpu_secs(pid);
    assert!(before > 0.0, "no CPU time read for pid {pid}");
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_secs(pid) - before;
    assert!(used < 0.1, "the idle daemon used {used} s of CPU in 1 s");
    n.stop();
}
