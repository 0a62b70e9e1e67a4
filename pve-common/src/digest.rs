//! SHA-1 and SHA-256 in Rust. Config digests are computed by every short-lived command
//! (`qm showcmd`, `qm list`, `pvesh`); OpenSSL 3 loads its configuration and providers
//! on the first digest of a process, which costs more than the rest of such a command.

use sha1::Digest;

/// The SHA-1 of `data` (PVE's config `digest`).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(data).into()
}

/// The SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_as_openssl() {
        for data in [&b""[..], b"abc", &[7u8; 1000][..]] {
            assert_eq!(super::sha1(data), openssl::sha::sha1(data));
            assert_eq!(super::sha256(data), openssl::sha::sha256(data));
        }
    }
}
