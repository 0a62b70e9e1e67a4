//! Byte layouts of the DFSM protocol (host byte order = little-endian, C alignment).
//!
//! Everything here is pure encoding and decoding, so the decoders can be fuzzed.

use crate::memdb::Op;

/// CPG group of the file system, registered with its terminating NUL.
pub const DCDB_GROUP: &str = "pve_dcdb_v1\0";
/// CPG group of the status/kvstore service, registered with its terminating NUL.
pub const KVSTORE_GROUP: &str = "pve_kvstore_v1\0";
pub const DCDB_PROTOCOL_VERSION: u32 = 1;
pub const KVSTORE_PROTOCOL_VERSION: u32 = 0;

pub const BASE_HEADER_LEN: usize = 16;
pub const NORMAL_HEADER_LEN: usize = 24;
pub const STATE_HEADER_LEN: usize = 32;

/// `type` field of the base header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    Normal = 0,
    SyncStart = 1,
    State = 2,
    Update = 3,
    UpdateComplete = 4,
    VerifyRequest = 5,
    Verify = 6,
}

impl MsgType {
    pub fn from_u16(v: u16) -> Option<MsgType> {
        Some(match v {
            0 => MsgType::Normal,
            1 => MsgType::SyncStart,
            2 => MsgType::State,
            3 => MsgType::Update,
            4 => MsgType::UpdateComplete,
            5 => MsgType::VerifyRequest,
            6 => MsgType::Verify,
            _ => return None,
        })
    }
}

/// The sync epoch carried by state messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epoch {
    pub epoch: u32,
    pub time: u32,
    pub nodeid: u32,
    pub pid: u32,
}

/// 16-byte base header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseHeader {
    pub msg_type: u16,
    pub subtype: u16,
    pub protocol_version: u32,
    pub time: u32,
}

/// A decoded DFSM message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    Normal {
        header: BaseHeader,
        count: u64,
        payload: &'a [u8],
    },
    State {
        header: BaseHeader,
        kind: MsgType,
        epoch: Epoch,
        payload: &'a [u8],
    },
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("short message ({0} bytes)")]
    Short(usize),
    #[error("unknown message type {0}")]
    UnknownType(u16),
    #[error("malformed payload: {0}")]
    Malformed(&'static str),
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

pub fn decode_base(msg: &[u8]) -> Result<BaseHeader, DecodeError> {
    if msg.len() < BASE_HEADER_LEN {
        return Err(DecodeError::Short(msg.len()));
    }
    Ok(BaseHeader {
        msg_type: u16_at(msg, 0),
        subtype: u16_at(msg, 2),
        protocol_version: u32_at(msg, 4),
        time: u32_at(msg, 8),
    })
}

pub fn decode(msg: &[u8]) -> Result<Message<'_>, DecodeError> {
    let header = decode_base(msg)?;
    let kind =
        MsgType::from_u16(header.msg_type).ok_or(DecodeError::UnknownType(header.msg_type))?;
    if kind == MsgType::Normal {
        if msg.len() < NORMAL_HEADER_LEN {
            return Err(DecodeError::Short(msg.len()));
        }
        return Ok(Message::Normal {
            header,
            count: u64_at(msg, 16),
            payload: &msg[NORMAL_HEADER_LEN..],
        });
    }
    if msg.len() < STATE_HEADER_LEN {
        return Err(DecodeError::Short(msg.len()));
    }
    Ok(Message::State {
        header,
        kind,
        epoch: Epoch {
            epoch: u32_at(msg, 16),
            time: u32_at(msg, 20),
            nodeid: u32_at(msg, 24),
            pid: u32_at(msg, 28),
        },
        payload: &msg[STATE_HEADER_LEN..],
    })
}

fn put_base(out: &mut Vec<u8>, msg_type: u16, subtype: u16, version: u32, time: u32) {
    out.extend_from_slice(&msg_type.to_le_bytes());
    out.extend_from_slice(&subtype.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&time.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

pub fn encode_normal(subtype: u16, version: u32, time: u32, count: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(NORMAL_HEADER_LEN + payload.len());
    put_base(&mut out, MsgType::Normal as u16, subtype, version, time);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

pub fn encode_state(
    kind: MsgType,
    version: u32,
    time: u32,
    epoch: &Epoch,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(STATE_HEADER_LEN + payload.len());
    put_base(&mut out, kind as u16, 0, version, time);
    for v in [epoch.epoch, epoch.time, epoch.nodeid, epoch.pid] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// DCDB application message types (the `subtype` of normal messages).
pub mod dcdb_type {
    pub const WRITE: u16 = 1;
    pub const MKDIR: u16 = 2;
    pub const DELETE: u16 = 3;
    pub const RENAME: u16 = 4;
    pub const CREATE: u16 = 5;
    pub const MTIME: u16 = 6;
    pub const UNLOCK_REQUEST: u16 = 7;
    pub const UNLOCK: u16 = 8;
}

fn with_nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Payload of the file operations 1–6.
fn fuse_payload(path: &str, to: Option<&str>, data: &[u8], offset: u32, flags: u32) -> Vec<u8> {
    let path = with_nul(path);
    let to = to.map(with_nul).unwrap_or_default();
    let mut out = Vec::with_capacity(20 + path.len() + to.len() + data.len());
    for v in [
        data.len() as u32,
        offset,
        path.len() as u32,
        to.len() as u32,
        flags,
    ] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&path);
    out.extend_from_slice(&to);
    out.extend_from_slice(data);
    out
}

fn unlock_payload(path: &str, csum: &[u8; 32]) -> Vec<u8> {
    let mut out = csum.to_vec();
    out.extend_from_slice(&with_nul(path));
    out
}

/// Encodes a memdb op as `(subtype, payload)`. An unlock request is not an op;
/// see [`encode_unlock_request`].
pub fn encode_op(op: &Op) -> (u16, Vec<u8>) {
    match op {
        Op::Write {
            path,
            offset,
            data,
            truncate,
        } => (
            dcdb_type::WRITE,
            fuse_payload(path, None, data, *offset, u32::from(*truncate)),
        ),
        Op::Create { path } => (dcdb_type::CREATE, fuse_payload(path, None, &[], 0, 0)),
        Op::Mkdir { path } => (dcdb_type::MKDIR, fuse_payload(path, None, &[], 0, 0)),
        Op::Delete { path } => (dcdb_type::DELETE, fuse_payload(path, None, &[], 0, 0)),
        Op::Rename { from, to } => (dcdb_type::RENAME, fuse_payload(from, Some(to), &[], 0, 0)),
        Op::Mtime { path, mtime } => (dcdb_type::MTIME, fuse_payload(path, None, &[], *mtime, 0)),
        Op::Unlock { path, csum } => (dcdb_type::UNLOCK, unlock_payload(path, csum)),
    }
}

pub fn encode_unlock_request(path: &str, csum: &[u8; 32]) -> Vec<u8> {
    unlock_payload(path, csum)
}

/// A decoded DCDB normal message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcdbMsg {
    Op(Op),
    UnlockRequest { path: String, csum: [u8; 32] },
}

/// A NUL-terminated string of exactly `len` bytes (len includes the NUL).
fn cstr_field(b: &[u8]) -> Result<String, DecodeError> {
    match b.split_last() {
        Some((0, s)) if !s.contains(&0) => {
            String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Malformed("string is not UTF-8"))
        }
        _ => Err(DecodeError::Malformed("string not NUL-terminated")),
    }
}

pub fn decode_dcdb(subtype: u16, p: &[u8]) -> Result<DcdbMsg, DecodeError> {
    use dcdb_type::*;
    if subtype == UNLOCK_REQUEST || subtype == UNLOCK {
        if p.len() < 33 {
            return Err(DecodeError::Short(p.len()));
        }
        let csum: [u8; 32] = p[..32].try_into().expect("32 bytes");
        let path = cstr_field(&p[32..])?;
        return Ok(if subtype == UNLOCK {
            DcdbMsg::Op(Op::Unlock { path, csum })
        } else {
            DcdbMsg::UnlockRequest { path, csum }
        });
    }
    if !(WRITE..=MTIME).contains(&subtype) {
        return Err(DecodeError::UnknownType(subtype));
    }
    if p.len() < 20 {
        return Err(DecodeError::Short(p.len()));
    }
    let size = u32_at(p, 0) as usize;
    let offset = u32_at(p, 4);
    let pathlen = u32_at(p, 8) as usize;
    let tolen = u32_at(p, 12) as usize;
    let flags = u32_at(p, 16);
    let total = 20usize
        .checked_add(pathlen)
        .and_then(|v| v.checked_add(tolen))
        .and_then(|v| v.checked_add(size))
        .ok_or(DecodeError::Malformed("length overflow"))?;
    if total != p.len() {
        return Err(DecodeError::Malformed("length mismatch"));
    }
    let path = if pathlen > 0 {
        cstr_field(&p[20..20 + pathlen])?
    } else {
        return Err(DecodeError::Malformed("missing path"));
    };
    let to = (tolen > 0)
        .then(|| cstr_field(&p[20 + pathlen..20 + pathlen + tolen]))
        .transpose()?;
    let data = p[20 + pathlen + tolen..].to_vec();
    let op = match subtype {
        WRITE => Op::Write {
            path,
            offset,
            data,
            truncate: flags != 0,
        },
        CREATE => Op::Create { path },
        MKDIR => Op::Mkdir { path },
        DELETE => Op::Delete { path },
        RENAME => Op::Rename {
            from: path,
            to: to.ok_or(DecodeError::Malformed("rename without target"))?,
        },
        _ => Op::Mtime {
            path,
            mtime: offset,
        },
    };
    Ok(DcdbMsg::Op(op))
}

/// One entry sent during a state transfer (UPDATE payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateEntry {
    pub parent: u64,
    pub inode: u64,
    pub version: u64,
    pub writer: u32,
    pub mtime: u32,
    pub dtype: u8,
    pub name: String,
    pub data: Vec<u8>,
}

/// Fixed part of an UPDATE payload: 3×u64 + 4×u32 + u8.
const UPDATE_FIXED: usize = 41;

pub fn encode_update(e: &UpdateEntry) -> Vec<u8> {
    let name = with_nul(&e.name);
    let size = if e.dtype == crate::memdb::DT_REG {
        e.data.len() as u32
    } else {
        0
    };
    let mut out = Vec::with_capacity(UPDATE_FIXED + name.len() + e.data.len());
    out.extend_from_slice(&e.parent.to_le_bytes());
    out.extend_from_slice(&e.inode.to_le_bytes());
    out.extend_from_slice(&e.version.to_le_bytes());
    out.extend_from_slice(&e.writer.to_le_bytes());
    out.extend_from_slice(&e.mtime.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.push(e.dtype);
    out.extend_from_slice(&name);
    if size > 0 {
        out.extend_from_slice(&e.data);
    }
    out
}

pub fn decode_update(p: &[u8]) -> Result<UpdateEntry, DecodeError> {
    if p.len() < UPDATE_FIXED {
        return Err(DecodeError::Short(p.len()));
    }
    let size = u32_at(p, 32) as usize;
    let namelen = u32_at(p, 36) as usize;
    let dtype = p[40];
    if namelen == 0 || p.len() != UPDATE_FIXED + namelen + size {
        return Err(DecodeError::Malformed("update length mismatch"));
    }
    let name = cstr_field(&p[UPDATE_FIXED..UPDATE_FIXED + namelen])?;
    Ok(UpdateEntry {
        parent: u64_at(p, 0),
        inode: u64_at(p, 8),
        version: u64_at(p, 16),
        writer: u32_at(p, 24),
        mtime: u32_at(p, 28),
        dtype,
        name,
        data: p[UPDATE_FIXED + namelen..].to_vec(),
    })
}

/// The header of an encoded memdb index (state blob of the DCDB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexHeader {
    pub version: u64,
    pub last_inode: u64,
    pub writer: u32,
    pub mtime: u32,
    pub size: u32,
    pub bytes: u32,
}

pub const INDEX_HEADER_LEN: usize = 32;
pub const INDEX_RECORD_LEN: usize = 40;

/// Checks the index layout (length, records in strictly ascending inode order) and
/// returns its header.
pub fn decode_index_header(idx: &[u8]) -> Result<IndexHeader, DecodeError> {
    if idx.len() < INDEX_HEADER_LEN {
        return Err(DecodeError::Short(idx.len()));
    }
    let h = IndexHeader {
        version: u64_at(idx, 0),
        last_inode: u64_at(idx, 8),
        writer: u32_at(idx, 16),
        mtime: u32_at(idx, 20),
        size: u32_at(idx, 24),
        bytes: u32_at(idx, 28),
    };
    let expect = (h.size as usize)
        .checked_mul(INDEX_RECORD_LEN)
        .and_then(|v| v.checked_add(INDEX_HEADER_LEN));
    if h.bytes as usize != idx.len() || expect != Some(idx.len()) {
        return Err(DecodeError::Malformed("index length mismatch"));
    }
    // Records are sorted by inode (the comparison of indexes walks them in step).
    let mut last = None;
    for i in 0..h.size as usize {
        let inode = index_record(idx, i).0;
        if last.is_some_and(|l| inode <= l) {
            return Err(DecodeError::Malformed("index not sorted by inode"));
        }
        last = Some(inode);
    }
    Ok(h)
}

/// The `i`-th `(inode, record bytes)` of a checked index.
pub fn index_record(idx: &[u8], i: usize) -> (u64, &[u8]) {
    let off = INDEX_HEADER_LEN + i * INDEX_RECORD_LEN;
    (u64_at(idx, off), &idx[off..off + INDEX_RECORD_LEN])
}

/// kvstore normal message types.
pub mod kv_type {
    pub const UPDATE: u16 = 1;
    pub const UPDATE_COMPLETE: u16 = 2;
    pub const LOG: u16 = 3;
}

pub const KV_KEY_LEN: usize = 256;

pub fn encode_kv_update(key: &str, value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; KV_KEY_LEN];
    let k = key.as_bytes();
    let n = k.len().min(KV_KEY_LEN - 1);
    out[..n].copy_from_slice(&k[..n]);
    out.extend_from_slice(value);
    out
}

pub fn decode_kv_update(p: &[u8]) -> Result<(String, &[u8]), DecodeError> {
    if p.len() < KV_KEY_LEN {
        return Err(DecodeError::Short(p.len()));
    }
    let end = p[..KV_KEY_LEN]
        .iter()
        .position(|b| *b == 0)
        .ok_or(DecodeError::Malformed("key not NUL-terminated"))?;
    let key = String::from_utf8(p[..end].to_vec())
        .map_err(|_| DecodeError::Malformed("key is not UTF-8"))?;
    Ok((key, &p[KV_KEY_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_header_layout() {
        let m = encode_normal(5, 1, 0x11223344, 7, b"xy");
        assert_eq!(m.len(), 26);
        assert_eq!(&m[..4], &[0, 0, 5, 0]);
        assert_eq!(&m[4..8], &1u32.to_le_bytes());
        assert_eq!(&m[8..12], &0x11223344u32.to_le_bytes());
        assert_eq!(&m[16..24], &7u64.to_le_bytes());
        match decode(&m).unwrap() {
            Message::Normal { count, payload, .. } => {
                assert_eq!(count, 7);
                assert_eq!(payload, b"xy");
            }
            _ => panic!(),
        }
    }

    #[test]
    fn op_roundtrip() {
        let ops = [
            Op::Write {
                path: "a/b".into(),
                offset: 3,
                data: b"hello".to_vec(),
                truncate: true,
            },
            Op::Rename {
                from: "x".into(),
                to: "y".into(),
            },
            Op::Mtime {
                path: "priv/lock/z".into(),
                mtime: 0,
            },
            Op::Unlock {
                path: "priv/lock/z".into(),
                csum: [9; 32],
            },
        ];
        for op in ops {
            let (t, p) = encode_op(&op);
            assert_eq!(decode_dcdb(t, &p).unwrap(), DcdbMsg::Op(op));
        }
        let (_, p) = encode_op(&Op::Create { path: "f".into() });
        // size, offset, pathlen=2, tolen=0, flags, "f\0"
        assert_eq!(p.len(), 22);
        assert_eq!(&p[8..12], &2u32.to_le_bytes());
    }

    #[test]
    fn update_roundtrip() {
        let e = UpdateEntry {
            parent: 0,
            inode: 5,
            version: 9,
            writer: 2,
            mtime: 100,
            dtype: 8,
            name: "file".into(),
            data: b"abc".to_vec(),
        };
        let p = encode_update(&e);
        assert_eq!(p.len(), 41 + 5 + 3);
        assert_eq!(decode_update(&p).unwrap(), e);
    }

    fn index(inodes: &[u64]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&9u64.to_le_bytes());
        v.extend_from_slice(&inodes.iter().max().copied().unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&(inodes.len() as u32).to_le_bytes());
        v.extend_from_slice(&((32 + 40 * inodes.len()) as u32).to_le_bytes());
        for i in inodes {
            v.extend_from_slice(&i.to_le_bytes());
            v.extend_from_slice(&[1; 32]);
        }
        v
    }

    /// Fuzz crash: an index with records out of order (or repeated) made the
    /// comparison find differences between an index and itself.
    #[test]
    fn index_records_must_ascend() {
        assert!(decode_index_header(&index(&[0, 5, 7])).is_ok());
        assert!(decode_index_header(&index(&[])).is_ok());
        for bad in [&[0u64, 7, 5][..], &[0, 5, 5]] {
            assert_eq!(
                decode_index_header(&index(bad)),
                Err(DecodeError::Malformed("index not sorted by inode"))
            );
        }
        let idx = index(&[0, 5, 7]);
        assert!(crate::dfsm::dcdb::differing_inodes(&idx, &[&idx]).is_empty());
    }

    #[test]
    fn kv_roundtrip() {
        let p = encode_kv_update("nodeip", b"10.0.0.1\0");
        assert_eq!(p.len(), 256 + 9);
        let (k, v) = decode_kv_update(&p).unwrap();
        assert_eq!(k, "nodeip");
        assert_eq!(v, b"10.0.0.1\0");
    }
}
