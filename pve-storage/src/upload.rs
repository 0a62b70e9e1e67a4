//! Uploading ISO images and container templates into a storage (the storage side of
//! upstream's `POST /nodes/{node}/storage/{storage}/upload`).
//!
//! [`upload_volume`] reads the file from any [`Read`] in fixed-size chunks, so memory
//! stays constant whatever the file size. The data goes to a hidden temp file inside the
//! target folder (same file system, so the final rename is atomic and no other volume
//! ever sees a partial file); the optional checksum is computed on the way; only a
//! complete, verified file is renamed into place. On any error, and if the caller
//! panics or drops the reader midway, the temp file is removed.
//!
//! # Fed by the HTTP server
//!
//! pveproxy does what upstream's server does (pve-manager/src/http/upload.rs): it parses
//! the multipart body while it arrives, spools the file part to `/var/tmp/pveupload-*`
//! in constant memory and calls the method with `tmpfilename`; the method's `imgcopy`
//! worker streams that file through [`upload_volume`] and removes it. Permissions are
//! checked from the URL before the body is read.

use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use openssl::hash::{Hasher, MessageDigest};
use regex::Regex;

use crate::config::StorageSection;
use crate::storage::Storage;

/// The chunk size of the copy loop.
const CHUNK: usize = 64 * 1024;

/// Why an upload was refused or failed. Texts are upstream's.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// A refused parameter (upstream's `raise_param_exc`): HTTP 400.
    #[error("{param}: {message}")]
    Param { param: String, message: String },
    /// Any other failure (upstream's `die`).
    #[error("{0}")]
    Failed(String),
}

impl UploadError {
    fn param(param: &str, message: impl Into<String>) -> Self {
        UploadError::Param {
            param: param.to_string(),
            message: message.into(),
        }
    }
    fn failed(message: impl Into<String>) -> Self {
        UploadError::Failed(message.into())
    }
}

impl From<crate::StorageError> for UploadError {
    fn from(e: crate::StorageError) -> Self {
        UploadError::Failed(e.to_string())
    }
}

impl From<UploadError> for pve_common::api::ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Param { param, message } => {
                pve_common::api::ApiError::parameter(&param, message)
            }
            UploadError::Failed(m) => pve_common::api::ApiError::internal(format!("{m}\n")),
        }
    }
}

/// The content types an upload may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UploadContent {
    Iso,
    Vztmpl,
}

impl UploadContent {
    /// `iso` or `vztmpl`; anything else is refused as upstream refuses it (`import`
    /// needs the untrusted-image checks, which are not here yet).
    pub fn parse(content: &str) -> Result<Self, UploadError> {
        match content {
            "iso" => Ok(UploadContent::Iso),
            "vztmpl" => Ok(UploadContent::Vztmpl),
            other => Err(UploadError::param(
                "content",
                format!("upload content type '{other}' not allowed"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            UploadContent::Iso => "iso",
            UploadContent::Vztmpl => "vztmpl",
        }
    }

    fn name_ok(self, filename: &str) -> bool {
        static ISO: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^[^/]+\.(?i:iso|img)$").unwrap());
        static VZTMPL: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"^[^/]+\.(?i:tar|tar\.(?:gz|xz|zst|bz2))$").unwrap());
        match self {
            UploadContent::Iso => ISO.is_match(filename),
            UploadContent::Vztmpl => VZTMPL.is_match(filename),
        }
    }
}

/// The checksum algorithms upstream accepts.
pub const CHECKSUM_ALGORITHMS: [&str; 6] = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

fn digest(algorithm: &str) -> Result<MessageDigest, UploadError> {
    Ok(match algorithm {
        "md5" => MessageDigest::md5(),
        "sha1" => MessageDigest::sha1(),
        "sha224" => MessageDigest::sha224(),
        "sha256" => MessageDigest::sha256(),
        "sha384" => MessageDigest::sha384(),
        "sha512" => MessageDigest::sha512(),
        other => {
            return Err(UploadError::param(
                "checksum-algorithm",
                format!("value '{other}' does not have a value in the enumeration"),
            ))
        }
    })
}

/// What to upload where.
#[derive(Clone, Debug)]
pub struct UploadRequest<'a> {
    pub storeid: &'a str,
    /// The node the upload runs on (the storage must be enabled and available there).
    pub node: &'a str,
    pub content: UploadContent,
    /// As given by the client; normalised as upstream does.
    pub filename: &'a str,
    /// `(algorithm, expected hex digest)`.
    pub checksum: Option<(&'a str, &'a str)>,
    /// The size the client announced; a stream ending short of it is an interrupted
    /// upload.
    pub expected_size: Option<u64>,
}

/// Upstream's `normalize_content_filename`: the last path component (`/` or `\`), every
/// character outside `[a-zA-Z0-9_.-]` replaced by `_`.
pub fn normalize_content_filename(filename: &str) -> String {
    let name = filename.strip_suffix('\n').unwrap_or(filename);
    let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Upstream's first refusals: the storage exists, is enabled and available on `node`,
/// and is path-based.
pub fn check_upload_target(
    storage: &Storage,
    storeid: &str,
    node: &str,
) -> Result<StorageSection, UploadError> {
    let scfg = storage.cfg.storage(storeid)?;
    if scfg.disable {
        return Err(UploadError::failed(format!(
            "storage '{storeid}' is disabled"
        )));
    }
    if !scfg.available_on(node) {
        return Err(UploadError::failed(format!(
            "storage '{storeid}' is not available on node '{node}'"
        )));
    }
    if scfg.path.is_none() {
        return Err(UploadError::failed(format!(
            "can't upload to storage type '{}'",
            scfg.storage_type
        )));
    }
    Ok(scfg)
}

/// The checks upstream makes before any byte is read; returns the target folder on the
/// host and the normalised file name.
pub fn prepare_upload(
    storage: &Storage,
    req: &UploadRequest,
) -> Result<(PathBuf, String), UploadError> {
    let scfg = check_upload_target(storage, req.storeid, req.node)?;
    let filename = normalize_content_filename(req.filename);
    if !req.content.name_ok(&filename) {
        return Err(UploadError::param("filename", "wrong file extension"));
    }
    let content = req.content.as_str();
    if !scfg.content.contains(content) {
        return Err(UploadError::failed(format!(
            "storage '{}' does not support '{content}' content",
            req.storeid
        )));
    }
    if let Some((algorithm, _)) = req.checksum {
        digest(algorithm)?;
    }
    let dir = crate::layout::get_subdir(&scfg, content)?;
    Ok((storage.paths.host(&dir), filename))
}

/// Removes the temp file unless the upload completed.
struct TempFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn temp_path(dir: &Path, filename: &str) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    // hidden and without the content's extension: no listing ever shows it
    dir.join(format!(
        ".{filename}.upload-{}-{seq}.part",
        std::process::id()
    ))
}

fn io_failed(what: &str, path: &Path, e: std::io::Error) -> UploadError {
    UploadError::failed(format!("{what} '{}' failed - {e}", path.display()))
}

/// Streams `reader` into the storage as `<storage>:<content>/<filename>` (an existing
/// file of that name is replaced, as upstream does); returns the volume id.
pub fn upload_volume(
    storage: &Storage,
    req: &UploadRequest,
    reader: &mut dyn Read,
) -> Result<String, UploadError> {
    let (dir, filename) = prepare_upload(storage, req)?;
    storage.activate_storage(req.storeid)?;
    std::fs::create_dir_all(&dir).map_err(|e| io_failed("mkdir", &dir, e))?;
    let dest = dir.join(&filename);
    let mut tmp = TempFile {
        path: temp_path(&dir, &filename),
        keep: false,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp.path)
        .map_err(|e| io_failed("create", &tmp.path, e))?;
    let mut hasher = match req.checksum {
        Some((algorithm, _)) => Some(
            Hasher::new(digest(algorithm)?)
                .map_err(|e| UploadError::failed(format!("checksum setup failed - {e}")))?,
        ),
        None => None,
    };
    let mut buf = vec![0u8; CHUNK];
    let mut size: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(UploadError::failed(format!("upload interrupted - {e}"))),
        };
        file.write_all(&buf[..n])
            .map_err(|e| io_failed("write", &tmp.path, e))?;
        if let Some(h) = hasher.as_mut() {
            h.update(&buf[..n])
                .map_err(|e| UploadError::failed(format!("checksum failed - {e}")))?;
        }
        size += n as u64;
    }
    if let Some(expected) = req.expected_size.filter(|e| *e != size) {
        return Err(UploadError::failed(format!(
            "upload interrupted - got {size} of {expected} bytes"
        )));
    }
    if let (Some(h), Some((_, expected))) = (hasher.as_mut(), req.checksum) {
        let got: String = h
            .finish()
            .map_err(|e| UploadError::failed(format!("checksum failed - {e}")))?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !got.eq_ignore_ascii_case(expected) {
            return Err(UploadError::failed(format!(
                "checksum mismatch: got '{got}' != expect '{expected}'"
            )));
        }
    }
    file.sync_all()
        .map_err(|e| io_failed("fsync", &tmp.path, e))?;
    drop(file);
    if req.content == UploadContent::Iso {
        assert_iso_content(&tmp.path)?;
    }
    std::fs::rename(&tmp.path, &dest).map_err(|e| io_failed("rename", &dest, e))?;
    tmp.keep = true;
    Ok(format!(
        "{}:{}/{filename}",
        req.storeid,
        req.content.as_str()
    ))
}

/// Upstream's `assert_iso_content`: an image with a backing file is refused (qemu-img
/// would follow it when the ISO is attached).
fn assert_iso_content(path: &Path) -> Result<(), UploadError> {
    if !crate::qemu_img::available() {
        return Ok(());
    }
    match crate::qemu_img::info(path, None) {
        Ok(info) if info.parent.is_some() => Err(UploadError::failed(format!(
            "backing file not allowed for untrusted image '{}'!",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(_) => Err(UploadError::failed(
            "failed to query file information with qemu-img",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_normalised_as_upstream() {
        assert_eq!(normalize_content_filename("../../etc/x.iso"), "x.iso");
        assert_eq!(normalize_content_filename("a\\b c.iso\n"), "b_c.iso");
        assert_eq!(normalize_content_filename("/"), "");
        assert_eq!(normalize_content_filename(".."), "..");
        assert!(!UploadContent::Iso.name_ok(".."));
        assert!(!UploadContent::Iso.name_ok(""));
        assert!(UploadContent::Iso.name_ok("X.IMG"));
        assert!(UploadContent::Vztmpl.name_ok("d.tar.zst"));
        assert!(!UploadContent::Vztmpl.name_ok("d.tar.lz"));
    }
}
