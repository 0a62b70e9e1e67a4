//! Digests of entries: the DFSM state index and the lock checksum.

use openssl::sha::Sha256;

use super::tree::{Entry, Kind, Tree};

/// SHA-256 over the fields the DFSM index uses for one entry (no inode).
pub fn index_digest(e: &Entry, root_version: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    let version = if e.inode == 0 {
        root_version
    } else {
        e.version
    };
    h.update(&version.to_le_bytes());
    h.update(&e.writer.to_le_bytes());
    h.update(&e.mtime.to_le_bytes());
    h.update(&(entry_size(e)).to_le_bytes());
    h.update(&[e.kind.dtype()]);
    h.update(&e.parent.to_le_bytes());
    h.update(e.name.as_bytes());
    if e.kind == Kind::File && !e.data.is_empty() {
        h.update(&e.data);
    }
    h.finish()
}

/// SHA-256 over one entry including its inode (lock identity, unlock messages).
pub fn entry_csum(e: &Entry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(&e.inode.to_le_bytes());
    h.update(&e.version.to_le_bytes());
    h.update(&e.writer.to_le_bytes());
    h.update(&e.mtime.to_le_bytes());
    h.update(&entry_size(e).to_le_bytes());
    h.update(&[e.kind.dtype()]);
    h.update(&e.parent.to_le_bytes());
    h.update(e.name.as_bytes());
    if e.kind == Kind::File && !e.data.is_empty() {
        h.update(&e.data);
    }
    h.finish()
}

fn entry_size(e: &Entry) -> u32 {
    match e.kind {
        Kind::File => e.data.len() as u32,
        Kind::Dir => 0,
    }
}

/// The encoded index: 32-byte header, then `inode + digest` per entry by inode.
pub fn encode_index(tree: &Tree, root_version: u64) -> Vec<u8> {
    let mut inodes: Vec<u64> = tree.entries.keys().copied().collect();
    inodes.sort_unstable();
    let root = tree.root();
    let count = inodes.len() as u32;
    let bytes = 32 + 40 * count;
    let mut out = Vec::with_capacity(bytes as usize);
    out.extend_from_slice(&root_version.to_le_bytes());
    out.extend_from_slice(&inodes.last().copied().unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&root.writer.to_le_bytes());
    out.extend_from_slice(&root.mtime.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&bytes.to_le_bytes());
    for inode in inodes {
        out.extend_from_slice(&inode.to_le_bytes());
        out.extend_from_slice(&index_digest(&tree.entries[&inode], root_version));
    }
    out
}
