//! Shared by the integration tests: the conformance corpus, the recorded node, the
//! API root and temp node roots.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use pve_common::api::{AuthId, EnvKind, Router, RpcEnv};
use pve_common::NodePaths;
use serde_json::{json, Map};

const GIB: u64 = 1024 * 1024 * 1024;

pub fn corpus() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance")
        })
}

pub fn responses() -> PathBuf {
    corpus().join("api/responses")
}

/// Rebuilds the recorded node below a fresh temp root.
pub fn build_node(root: &Path) {
    let state = responses().join("state");
    let etc = root.join("etc/pve");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::copy(state.join("etc-pve/storage.cfg"), etc.join("storage.cfg")).unwrap();
    let mut ids = Map::new();
    for (dir, kind) in [("qemu-server", "qemu"), ("lxc", "lxc")] {
        for e in std::fs::read_dir(state.join("etc-pve").join(dir)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let vmid = name.trim_end_matches(".conf");
            if vmid == "103" {
                continue; // created by a write case, absent for the read cases
            }
            ids.insert(
                vmid.into(),
                json!({"node": "pveo", "type": kind, "version": 1}),
            );
        }
    }
    std::fs::write(
        etc.join(".vmlist"),
        serde_json::to_vec(&json!({"version": 1, "ids": ids})).unwrap(),
    )
    .unwrap();
    let vz = root.join("var/lib/vz");
    let tsv = std::fs::read_to_string(state.join("var-lib-vz-files.tsv")).unwrap();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (size, rel) = (cols[0].parse::<u64>().unwrap(), cols[3]);
        let path = vz.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        if rel.ends_with(".qcow2") {
            // the listed size is the file's; the image's virtual size is whole GiB
            let vsize = size / GIB * GIB;
            let ok = std::process::Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2"])
                .arg(&path)
                .arg(vsize.to_string())
                .status()
                .unwrap()
                .success();
            assert!(ok, "qemu-img create {rel}");
        } else if rel == "dump/vzdump-qemu-100-2026_11_20-03_00_01.vma.zst.notes" {
            std::fs::write(&path, "nightly backup web01").unwrap();
        } else {
            let f = std::fs::File::create(&path).unwrap();
            f.set_len(size).unwrap();
        }
    }
    for sub in [
        "template/iso",
        "template/cache",
        "dump",
        "images",
        "private",
        "snippets",
    ] {
        std::fs::create_dir_all(vz.join(sub)).unwrap();
    }
}

/// The API root as pve-manager mounts the storage routers.
pub fn root_router() -> Router {
    Router::new()
        .subdir(
            "nodes",
            Router::new().match_param(
                "node",
                Router::new().subdir("storage", pve_storage::api::node_storage_router()),
            ),
        )
        .subdir("storage", pve_storage::api::storage_router())
}

/// A temp node root, removed on drop.
pub struct TempRoot(pub PathBuf);

impl TempRoot {
    /// An empty root below the temp dir, unique per process and `tag`.
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("pve-storage-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(path.join("etc/pve")).unwrap();
        TempRoot(path)
    }

    /// A root whose storage.cfg is `cfg`.
    pub fn with_storage_cfg(tag: &str, cfg: &str) -> Self {
        let root = Self::new(tag);
        std::fs::write(root.0.join("etc/pve/storage.cfg"), cfg).unwrap();
        root
    }

    /// root@pam on node `pveo` in this root; `kind` Cli runs workers in the foreground.
    pub fn env(&self, kind: EnvKind) -> RpcEnv {
        RpcEnv {
            auth: AuthId::root(),
            node: "pveo".into(),
            client_ip: None,
            kind,
            paths: NodePaths::new(&self.0),
            permissions: None,
        }
    }

    /// Every file and folder below the root, relative, sorted.
    pub fn tree(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if p.is_dir() && !p.is_symlink() {
                    walk(base, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &self.0, &mut out);
        out.sort();
        out
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
