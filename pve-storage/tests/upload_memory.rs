//! A 200 MiB upload streams through constant memory: the peak resident set of this
//! process (VmHWM) grows by far less than the file. Alone in its test binary so that no
//! other test moves the peak.

use std::io::Read;

use openssl::hash::{Hasher, MessageDigest};
use pve_storage::upload::{upload_volume, UploadContent, UploadRequest};
use pve_storage::Storage;

mod common;

use common::TempRoot;

const MIB: u64 = 1024 * 1024;
const SIZE: u64 = 200 * MIB;

/// `len` bytes of a repeating pattern, made on the fly.
struct Pattern {
    left: u64,
    block: Vec<u8>,
    at: usize,
}

impl Pattern {
    fn new(len: u64) -> Self {
        let block: Vec<u8> = (0..4093u32).map(|i| (i * 7 + 3) as u8).collect();
        Pattern {
            left: len,
            block,
            at: 0,
        }
    }
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for b in &mut buf[..n] {
            *b = self.block[self.at];
            self.at = (self.at + 1) % self.block.len();
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn upload_of_200_mib_streams_in_constant_memory() {
    let root = TempRoot::with_storage_cfg(
        "upload-mem",
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl\n",
    );
    let mut hasher = Hasher::new(MessageDigest::sha256()).unwrap();
    let mut src = Pattern::new(SIZE);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]).unwrap();
    }
    let sum: String = hasher
        .finish()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let storage = Storage::load(&pve_common::NodePaths::new(&root.0)).unwrap();
    let before = vm_hwm_kib();
    let req = UploadRequest {
        storeid: "local",
        node: "pveo",
        content: UploadContent::Iso,
        filename: "big.iso",
        checksum: Some(("sha256", &sum)),
        expected_size: Some(SIZE),
    };
    let volid = upload_volume(&storage, &req, &mut Pattern::new(SIZE)).unwrap();
    let after = vm_hwm_kib();
    assert_eq!(volid, "local:iso/big.iso");
    let dest = root.0.join("var/lib/vz/template/iso/big.iso");
    assert_eq!(std::fs::metadata(&dest).unwrap().len(), SIZE);
    println!("VmHWM before {before} KiB, after {after} KiB");
    assert!(
        after < 64 * 1024,
        "peak resident memory {after} KiB is not under 64 MiB"
    );
    assert!(
        after - before < 16 * 1024,
        "the upload grew the peak resident memory by {} KiB",
        after - before
    );
}
