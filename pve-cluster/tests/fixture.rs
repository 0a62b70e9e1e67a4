//! Conformance: the config.db written by the original C pmxcfs
//! (../shared/conformance/pve-cluster/local-mode), served and written by ours.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::{conformance_dir, host_ready, Node};
use pve_cluster::memdb::{Memdb, Op};
use serde_json::Value;

fn sha256_hex(data: &[u8]) -> String {
    openssl::sha::sha256(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn fixture_dir() -> PathBuf {
    conformance_dir().join("pve-cluster/local-mode")
}

fn expected() -> Value {
    let text = fs::read_to_string(fixture_dir().join("expected-tree.json")).expect("fixture");
    serde_json::from_str(&text).unwrap()
}

/// A private copy of the fixture DB (opening it in WAL mode creates side files).
fn copy_db(root: &Path) -> PathBuf {
    let dir = root.join("var/lib/pve-cluster");
    fs::create_dir_all(&dir).unwrap();
    let db = dir.join("config.db");
    fs::copy(fixture_dir().join("config.db"), &db).unwrap();
    db
}

struct Tally {
    passed: usize,
    failed: Vec<String>,
}

impl Tally {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(what());
        }
    }

    fn finish(self, suite: &str) {
        let total = self.passed + self.failed.len();
        println!("pve-cluster/{suite}: {}/{total} passed", self.passed);
        assert!(
            self.failed.is_empty(),
            "failures:\n{}",
            self.failed.join("\n")
        );
    }
}

#[test]
fn memdb_loads_fixture_rows_index_and_vmlist() {
    let exp = expected();
    let tmp = Node::new("fixture-memdb");
    let db = Memdb::open(&copy_db(&tmp.root)).unwrap();
    let mut t = Tally {
        passed: 0,
        failed: vec![],
    };
    for row in exp["tree"].as_array().unwrap() {
        let Some(path) = row["path"].as_str() else {
            let rs = db.root_state();
            t.check(rs.version == 312 && row["type"] == 8, || {
                format!("row 0: {rs:?}")
            });
            continue;
        };
        let Some(e) = db.getattr(path) else {
            t.failed.push(format!("{path} missing"));
            continue;
        };
        let want = (
            row["inode"].as_u64().unwrap(),
            row["parent"].as_u64().unwrap(),
            row["version"].as_u64().unwrap(),
            row["writer"].as_u64().unwrap() as u32,
            row["mtime"].as_u64().unwrap() as u32,
        );
        let got = (e.inode, e.parent, e.version, e.writer, e.mtime);
        t.check(got == want, || format!("{path}: {got:?} != {want:?}"));
        if row["type"] == 8 {
            let data = db.read_path(path).unwrap();
            let want_len = row["data_length"].as_u64().unwrap_or(0);
            let ok = data.len() as u64 == want_len
                && row["data_sha256"]
                    .as_str()
                    .is_none_or(|h| h == sha256_hex(&data));
            t.check(ok, || format!("{path}: content differs"));
        }
    }
    for gone in [
        "deleteme.txt",
        "tmpdir",
        "too-big-shell.bin",
        "vzdump.conf.tmp.4242",
    ] {
        t.check(db.getattr(gone).is_none(), || {
            format!("{gone} should be absent")
        });
    }
    let idx = db.encode_index();
    let want = &exp["index"];
    t.check(idx.len() as u64 == want["bytes"].as_u64().unwrap(), || {
        "index length".into()
    });
    t.check(sha256_hex(&idx) == want["sha256"].as_str().unwrap(), || {
        "index sha256".into()
    });
    let vl = db.vmlist();
    for (vmid, ty) in [(100, "qemu"), (101, "qemu"), (200, "lxc")] {
        let ok = vl
            .get(vmid)
            .is_some_and(|g| g.node == "pve1" && g.guest_type.as_str() == ty);
        t.check(ok, || format!("vmlist {vmid}"));
    }
    t.finish("memdb-load");
}

#[test]
fn memdb_index_digest_case() {
    let case: Value = serde_json::from_str(
        &fs::read_to_string(conformance_dir().join("pve-cluster/index-digest-case.json")).unwrap(),
    )
    .unwrap();
    let tmp = Node::new("indexcase");
    fs::create_dir_all(&tmp.root).unwrap();
    let db = Memdb::open(&tmp.root.join("test.db")).unwrap();
    let step = &case["steps"][0];
    let (from, to) = (
        step["repeat"]["from"].as_u64().unwrap(),
        step["repeat"]["to"].as_u64().unwrap(),
    );
    for i in from..=to {
        for op in step["do"].as_array().unwrap() {
            let path = op["path"].as_str().unwrap().replace("{i}", &i.to_string());
            let (writer, mtime) = (
                op["writer"].as_u64().unwrap() as u32,
                op["mtime"].as_u64().unwrap() as u32,
            );
            let o = match op["op"].as_str().unwrap() {
                "create" => Op::Create { path },
                "write" => Op::Write {
                    path,
                    offset: op["offset"].as_u64().unwrap() as u32,
                    data: vec![
                        op["data"]["fill_byte"].as_u64().unwrap() as u8;
                        op["data"]["length"].as_u64().unwrap() as usize
                    ],
                    truncate: op["truncate"].as_bool().unwrap(),
                },
                other => panic!("unknown op {other}"),
            };
            let res = db.apply(&o, writer, mtime).unwrap();
            assert_eq!(res.count as u64, op["expect_return"].as_u64().unwrap());
        }
    }
    let idx = db.encode_index();
    let exp = &case["expected_after_steps"];
    assert_eq!(
        idx.len() as u64,
        exp["index_header"]["bytes"].as_u64().unwrap()
    );
    assert_eq!(sha256_hex(&idx), exp["index_sha256"].as_str().unwrap());
    println!("pve-cluster/index-digest-case: 1/1 passed");
}

fn stat_entry(t: &mut Tally, n: &Node, e: &Value, gid: u32) {
    let path = e["path"].as_str().unwrap();
    let p = n.p(path);
    let md = match fs::symlink_metadata(&p) {
        Ok(m) => m,
        Err(err) => return t.failed.push(format!("{path}: {err}")),
    };
    let virtual_file = path.starts_with('.');
    let got = (
        md.mode() & 0o7777,
        md.uid(),
        md.gid(),
        md.nlink(),
        md.mtime(),
    );
    let want = (
        u32::from_str_radix(
            e["mode_octal"].as_str().unwrap().trim_start_matches("0o"),
            8,
        )
        .unwrap(),
        0,
        gid,
        e["nlink"].as_u64().unwrap(),
        e["mtime"].as_i64().unwrap(),
    );
    t.check(got == want, || format!("{path}: stat {got:?} != {want:?}"));
    if !virtual_file {
        let ok = md.size() == e["size"].as_u64().unwrap()
            && md.blocks() == e["blocks"].as_u64().unwrap();
        t.check(ok, || {
            format!("{path}: size/blocks {} {}", md.size(), md.blocks())
        });
    }
    match e["kind"].as_str().unwrap() {
        "symlink" => {
            let target = fs::read_link(&p).unwrap();
            t.check(target.to_str() == e["link_target"].as_str(), || {
                format!("{path}: link {target:?}")
            });
        }
        "file" if !virtual_file => {
            let data = fs::read(&p).unwrap();
            t.check(sha256_hex(&data) == e["sha256"].as_str().unwrap(), || {
                format!("{path}: content")
            });
        }
        _ => {}
    }
}

fn strip_run_dependent(name: &str, text: &str) -> String {
    match name {
        "version" => text
            .lines()
            .filter(|l| !l.starts_with("\"starttime\""))
            .collect::<Vec<_>>()
            .join("\n"),
        "clusterlog" => blank_time_and_pid(text),
        _ => text.to_string(),
    }
}

/// Blanks the time and pid values of cluster log lines.
fn blank_time_and_pid(text: &str) -> String {
    text.lines()
        .map(|l| {
            let mut out = String::new();
            let mut rest = l;
            for key in ["\"time\": ", "\"pid\": "] {
                if let Some(i) = rest.find(key) {
                    let (head, tail) = rest.split_at(i + key.len());
                    out.push_str(head);
                    out.push('N');
                    rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
                }
            }
            out.push_str(rest);
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn serves_fixture_and_keeps_upstream_rows() {
    if !host_ready() {
        return;
    }
    let exp = expected();
    let mut n = Node::new("fixture");
    let db_path = copy_db(&n.root);
    n.start();
    let gid = pve_cluster::daemon::www_data_gid();
    let mut t = Tally {
        passed: 0,
        failed: vec![],
    };
    let fv = &exp["fuse_view"];
    for e in fv["entries"].as_array().unwrap() {
        stat_entry(&mut t, &n, e, gid);
    }
    let root = fs::metadata(n.mnt()).unwrap();
    t.check(root.mode() & 0o7777 == 0o755 && root.mtime() == 0, || {
        "root stat".into()
    });
    // statfs
    let c = std::ffi::CString::new(n.mnt().to_str().unwrap()).unwrap();
    // SAFETY: statvfs is plain data filled in by the call.
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out pointer.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut sv) }, 0);
    let sf = &fv["statfs"];
    let got = (
        sv.f_bsize,
        sv.f_blocks,
        sv.f_bfree,
        sv.f_bavail,
        sv.f_files,
        sv.f_ffree,
        sv.f_namemax,
    );
    let want = (
        sf["f_bsize"].as_u64().unwrap(),
        sf["f_blocks"].as_u64().unwrap(),
        sf["f_bfree"].as_u64().unwrap(),
        sf["f_bavail"].as_u64().unwrap(),
        sf["f_files"].as_u64().unwrap(),
        sf["f_ffree"].as_u64().unwrap(),
        sf["f_namemax"].as_u64().unwrap(),
    );
    t.check(got == want, || format!("statfs {got:?} != {want:?}"));
    // virtual files after a fresh load of this DB
    let vdir = fixture_dir().join("virtual-files/after-restart");
    for name in ["version", "members", "clusterlog", "rrd", "debug"] {
        let want = fs::read_to_string(vdir.join(name)).unwrap();
        let got = fs::read_to_string(n.p(&format!(".{name}"))).unwrap();
        let (g, w) = (
            strip_run_dependent(name, &got),
            strip_run_dependent(name, &want),
        );
        t.check(g == w, || format!(".{name}:\n{got}\n!=\n{want}"));
    }
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
    let got_vl = parse(&fs::read_to_string(n.p(".vmlist")).unwrap());
    let want_vl = parse(&fs::read_to_string(vdir.join("vmlist")).unwrap());
    t.check(got_vl["version"] == want_vl["version"], || {
        format!("vmlist version {got_vl}")
    });
    for (id, g) in want_vl["ids"].as_object().unwrap() {
        let ok = got_vl["ids"][id]["node"] == g["node"] && got_vl["ids"][id]["type"] == g["type"];
        t.check(ok, || format!("vmlist {id}: {got_vl}"));
    }

    // write through our pmxcfs, then check the rows with SQLite
    let before_sql: String = rusqlite::Connection::open(&db_path)
        .unwrap()
        .query_row("SELECT group_concat(sql) FROM sqlite_master", [], |r| {
            r.get(0)
        })
        .unwrap();
    fs::write(n.p("new.cfg"), b"hello\n").unwrap(); // create 313, write 314
    fs::create_dir(n.p("newdir")).unwrap(); // 315
    fs::rename(n.p("new.cfg"), n.p("newdir/renamed.cfg")).unwrap(); // 316
    fs::remove_file(n.p("empty.cfg")).unwrap(); // 317
    fs::write(n.p("storage.cfg"), b"dir: local\n").unwrap(); // truncate 318, write 319
    n.stop();

    let conn = rusqlite::Connection::open(&db_path).unwrap();
    let sql: String = conn
        .query_row("SELECT group_concat(sql) FROM sqlite_master", [], |r| {
            r.get(0)
        })
        .unwrap();
    let want_sql = exp["sqlite_master"][0]["sql"].as_str().unwrap();
    t.check(sql == before_sql && sql == want_sql, || {
        format!("schema changed: {sql}")
    });
    let jm: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    t.check(jm == "wal", || format!("journal_mode {jm}"));
    let ic: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    t.check(ic == "ok", || format!("integrity {ic}"));
    type R = (i64, i64, i64, i64, i64, i64, String, Option<Vec<u8>>);
    let rows: Vec<R> = conn
        .prepare("SELECT inode,parent,version,writer,mtime,type,name,data FROM tree")
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let row0 = rows.iter().find(|r| r.0 == 0).unwrap();
    t.check(
        row0.2 == 319 && row0.3 == 0 && row0.5 == 8 && row0.6 == "__version__",
        || format!("row 0 {row0:?}"),
    );
    let find = |name: &str| rows.iter().find(|r| r.6 == name).cloned();
    let renamed = find("renamed.cfg").unwrap();
    let newdir = find("newdir").unwrap();
    t.check(
        renamed.0 == 313 && renamed.2 == 316 && renamed.1 == 315,
        || format!("renamed {renamed:?}"),
    );
    t.check(newdir.0 == 315 && newdir.7.is_none(), || {
        format!("newdir {newdir:?}")
    });
    t.check(find("empty.cfg").is_none(), || {
        "empty.cfg still there".into()
    });
    let st = find("storage.cfg").unwrap();
    t.check(
        st.0 == 7 && st.2 == 319 && st.7.as_deref() == Some(b"dir: local\n".as_slice()),
        || format!("storage {st:?}"),
    );
    // the C loader's checks
    for r in rows.iter().filter(|r| r.0 != 0) {
        let parent_ok = r.1 == 0 || rows.iter().any(|p| p.0 == r.1 && p.0 != 0 && p.5 == 4);
        let dup = rows
            .iter()
            .filter(|o| o.0 != 0 && o.1 == r.1 && o.6 == r.6)
            .count();
        let ok = parent_ok
            && (r.5 == 4 || r.5 == 8)
            && !r.6.is_empty()
            && dup == 1
            && (r.5 != 4 || r.7.is_none());
        t.check(ok, || format!("row fails loader checks: {r:?}"));
    }
    t.finish("local-mode");
}
