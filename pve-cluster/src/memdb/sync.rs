//! State transfer support for the DCDB: entries to send, the all-or-nothing commit
//! of received entries, and the full-tree checksum of verify rounds.

use openssl::sha::Sha256;

use super::database::VERSION_ROW_NAME;
use super::index::encode_index;
use super::tree::{Kind, Row, Tree, DT_REG};
use super::Memdb;

/// One entry as the state transfer carries it (the root is inode 0, name "").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncEntry {
    pub parent: u64,
    pub inode: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    pub dtype: u8,
    pub name: String,
    pub data: Vec<u8>,
}

fn checksum_tree(tree: &Tree) -> [u8; 32] {
    let mut inodes: Vec<u64> = tree.entries.keys().copied().collect();
    inodes.sort_unstable();
    let mut h = Sha256::new();
    for i in inodes {
        let e = &tree.entries[&i];
        let size = match e.kind {
            Kind::File => e.data.len() as u32,
            Kind::Dir => 0,
        };
        h.update(&e.inode.to_le_bytes());
        h.update(&e.version.to_le_bytes());
        h.update(&e.writer.to_le_bytes());
        h.update(&e.mtime.to_le_bytes());
        h.update(&size.to_le_bytes());
        h.update(&[e.kind.dtype()]);
        h.update(&e.parent.to_le_bytes());
        h.update(e.name.as_bytes());
        if e.kind == Kind::File && !e.data.is_empty() {
            h.update(&e.data);
        }
    }
    h.finish()
}

fn inodes_of_index(idx: &[u8]) -> Vec<u64> {
    idx.get(32..)
        .unwrap_or_default()
        .chunks_exact(40)
        .map(|r| u64::from_le_bytes(r[..8].try_into().expect("8 bytes")))
        .collect()
}

impl Memdb {
    /// The checksum a VERIFY message carries.
    pub fn checksum(&self) -> [u8; 32] {
        checksum_tree(&self.read().tree)
    }

    /// The entries with these inodes, as UPDATE messages send them.
    pub fn sync_entries(&self, inodes: &[u64]) -> Option<Vec<SyncEntry>> {
        let st = self.read();
        inodes
            .iter()
            .map(|i| {
                let e = st.tree.get(*i)?;
                Some(SyncEntry {
                    parent: e.parent,
                    inode: e.inode,
                    version: e.version,
                    writer: e.writer,
                    mtime: e.mtime,
                    dtype: e.kind.dtype(),
                    name: e.name.clone(),
                    data: if e.kind == Kind::File {
                        e.data.clone()
                    } else {
                        Vec::new()
                    },
                })
            })
            .collect()
    }

    /// Replaces the local tree by the leader's: deletes what the leader's index
    /// lacks, stores the received entries, reloads, and commits only if the new
    /// index is byte-identical to the leader's. Any failure leaves the DB as it was.
    pub fn commit_sync(&self, leader_index: &[u8], updates: &[SyncEntry]) -> Result<(), String> {
        let mut st = self.write();
        if st.errors {
            return Err("database in error state".into());
        }
        let keep: std::collections::HashSet<u64> =
            inodes_of_index(leader_index).into_iter().collect();
        let obsolete: Vec<u64> = st
            .tree
            .entries
            .keys()
            .copied()
            .filter(|i| *i != 0 && !keep.contains(i))
            .collect();
        let rows: Vec<Row> = updates
            .iter()
            .map(|u| Row {
                inode: u.inode,
                parent: u.parent,
                version: u.version,
                writer: u.writer,
                mtime: u.mtime,
                dtype: u.dtype,
                name: if u.inode == 0 {
                    VERSION_ROW_NAME.to_string()
                } else {
                    u.name.clone()
                },
                data: (u.dtype == DT_REG && !u.data.is_empty()).then(|| u.data.clone()),
            })
            .collect();
        let mut guard = st.db.lock().unwrap_or_else(|e| e.into_inner());
        let db = guard.as_mut().ok_or("database closed")?;
        let result = db.replace_all(&obsolete, &rows, |loaded| {
            let mut tree = Tree::from_rows(loaded.rows.clone())?;
            let root = loaded.root.ok_or("no version row")?;
            let r = tree.root_mut();
            r.version = root.version;
            r.writer = root.writer;
            r.mtime = root.mtime;
            if root.version == 0 {
                return Err("new index has version 0".into());
            }
            let idx = encode_index(&tree, root.version);
            if idx != leader_index {
                return Err("new index does not match master index".into());
            }
            Ok(tree)
        });
        drop(guard);
        let tree = result?;
        let s: &mut super::State = &mut st;
        s.tree = tree;
        s.counters.record_reload();
        s.vmlist.rebuild(&s.tree);
        s.locks.rebuild(&s.tree);
        Ok(())
    }
}
