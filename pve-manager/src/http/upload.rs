//! File uploads through pveproxy (`POST /nodes/{node}/storage/{storage}/upload`), as
//! upstream's server handles them: the `multipart/form-data` body is parsed while it
//! arrives, the form fields before the file (`content`, `checksum-algorithm`,
//! `checksum`) become parameters, the file part is written to a spool file
//! `/var/tmp/pveupload-<hex>` (0600) chunk by chunk, and the call then goes on with
//! `tmpfilename` naming that file. Memory stays constant whatever the file size.
//!
//! Unlike upstream, the caller's permission on the target is checked from the URL before
//! a single byte of the body is read or spooled. The spool file is removed when the body
//! ends early, when parsing fails, and when the call does not succeed; after a
//! successful call the upload method's worker owns (and removes) it.

use std::path::{Path, PathBuf};

use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use pve_common::api::ApiError;
use pve_common::NodePaths;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

/// Whether `api_path` (decoded, without `/api2/FMT`) is the storage upload call.
pub fn is_upload_path(api_path: &str) -> bool {
    let parts: Vec<&str> = api_path.trim_start_matches('/').split('/').collect();
    matches!(parts.as_slice(), ["nodes", n, "storage", s, "upload"] if !n.is_empty() && !s.is_empty())
}

/// Splits a `Content-Type` value into the media type and its `boundary`, as upstream's
/// `parse_content_type`.
pub fn parse_content_type(ctype: &str) -> (String, Option<String>) {
    let mut items = ctype.split([';', ',']).map(str::trim);
    let ct = items.next().unwrap_or("").to_string();
    let boundary = items.find_map(|v| {
        let (k, val) = v.split_once('=')?;
        (k.trim() == "boundary" && !val.trim().is_empty()).then(|| val.trim().to_string())
    });
    (ct, boundary)
}

/// The spool file of one upload; removed on drop unless [`Spool::keep`] was called.
pub struct Spool {
    /// The name the API sees (`/var/tmp/pveupload-…`, relative to `PVE_ROOT`).
    pub name: String,
    file: PathBuf,
    keep: bool,
}

impl Spool {
    /// Creates a new, unpredictably named spool file (O_EXCL, mode 0600).
    pub async fn create(paths: &NodePaths) -> Result<(Spool, tokio::fs::File), ApiError> {
        let mut raw = [0u8; 16];
        openssl::rand::rand_bytes(&mut raw)
            .map_err(|e| ApiError::internal(format!("unable to create upload file name - {e}")))?;
        let name = format!("/var/tmp/pveupload-{}", hex(&raw));
        let file = paths.host(&name);
        if let Some(dir) = file.parent() {
            let _ = tokio::fs::create_dir_all(dir).await;
        }
        let fh = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)
            .await
            .map_err(|_| {
                ApiError::internal(format!("unable to create temporary upload file '{name}'"))
            })?;
        Ok((
            Spool {
                name,
                file,
                keep: false,
            },
            fh,
        ))
    }

    /// The call succeeded: its worker removes the file.
    pub fn keep(mut self) {
        self.keep = true;
    }

    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.file);
        }
    }
}

fn hex(raw: &[u8]) -> String {
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The form fields taken from before the file part (upstream reads only these).
const FIELDS: [&str; 3] = ["content", "checksum-algorithm", "checksum"];
/// Part headers larger than this are refused.
const MAX_PART_HEADER: usize = 16 * 1024;
/// Form field values larger than this are refused.
const MAX_FIELD: usize = 64 * 1024;

fn failed(msg: impl Into<String>) -> ApiError {
    ApiError::internal(msg)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug, PartialEq)]
enum Phase {
    /// Before the first delimiter line.
    Preamble,
    /// Reading the headers of a part.
    Headers,
    /// Reading a form field's value.
    Field(String),
    /// Copying the file part to the spool file.
    File,
    /// After the file part or the closing delimiter: the rest is drained.
    Done,
}

/// The incremental multipart parser. [`Parser::feed`] takes the body's chunks; file data
/// is handed to the sink as soon as it cannot be the start of a delimiter.
pub struct Parser {
    /// `\n--BOUNDARY`: every delimiter after the first starts with it (the `\r` before the
    /// `\n` is part of it when present).
    delim: Vec<u8>,
    buf: BytesMut,
    phase: Phase,
    pub params: Map<String, Value>,
    pub file_bytes: u64,
}

impl Parser {
    pub fn new(boundary: &str) -> Parser {
        Parser {
            delim: format!("\n--{boundary}").into_bytes(),
            buf: BytesMut::new(),
            phase: Phase::Preamble,
            params: Map::new(),
            file_bytes: 0,
        }
    }

    /// Whether the file part was read completely.
    pub fn complete(&self) -> bool {
        self.phase == Phase::Done && self.params.contains_key("filename")
    }

    /// Consumes a chunk; `sink` receives file data in order.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        if self.phase == Phase::Done {
            return Ok(());
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let progressed = match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Preamble => self.preamble(),
                Phase::Headers => self.headers()?,
                Phase::Field(name) => self.field(name)?,
                Phase::File => self.file(sink)?,
                Phase::Done => {
                    self.buf.clear();
                    false
                }
            };
            if !progressed {
                return Ok(());
            }
        }
    }

    /// Skips to the line after the first delimiter (which may start the body).
    fn preamble(&mut self) -> bool {
        let first = &self.delim[1..];
        if self.buf.starts_with(first) {
            return self.after_delimiter(first.len());
        }
        match find(&self.buf, &self.delim) {
            Some(pos) => self.after_delimiter(pos + self.delim.len()),
            None => {
                let keep = self.delim.len().min(self.buf.len());
                let drop = self.buf.len() - keep;
                self.buf.advance(drop);
                self.phase = Phase::Preamble;
                false
            }
        }
    }

    /// `at` points just past `--BOUNDARY`: `--` closes the body, a line end starts the
    /// next part's headers.
    fn after_delimiter(&mut self, at: usize) -> bool {
        let rest = &self.buf[at..];
        if rest.len() < 2 {
            // Not enough to decide yet: keep the delimiter for the next round.
            self.phase = Phase::Preamble; // finds the kept delimiter again
            return false;
        }
        if rest.starts_with(b"--") {
            self.buf.clear();
            self.phase = Phase::Done;
            return false;
        }
        match rest.iter().position(|b| *b == b'\n') {
            Some(nl) => {
                self.buf.advance(at + nl + 1);
                self.phase = Phase::Headers;
                true
            }
            None => {
                self.phase = Phase::Preamble; // finds the kept delimiter again
                false
            }
        }
    }

    fn headers(&mut self) -> Result<bool, ApiError> {
        let end = find(&self.buf, b"\r\n\r\n")
            .map(|p| (p, 4))
            .or_else(|| find(&self.buf, b"\n\n").map(|p| (p, 2)));
        let Some((pos, len)) = end else {
            if self.buf.len() > MAX_PART_HEADER {
                return Err(failed("multipart part header too large\n"));
            }
            self.phase = Phase::Headers;
            return Ok(false);
        };
        let text = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
        self.buf.advance(pos + len);
        let mut disposition = None;
        for line in text.lines() {
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-disposition") {
                    disposition = Some(v.trim().to_string());
                }
            }
        }
        let Some(disposition) = disposition else {
            return Err(failed("multipart part without Content-Disposition\n"));
        };
        let (kind, name, filename) = parse_disposition(&disposition);
        if kind != "form-data" {
            return Err(failed(format!(
                "wrong Content-Disposition '{kind}' in multipart, expected 'form-data'\n"
            )));
        }
        match filename {
            Some(filename) => {
                if name != "filename" {
                    return Err(failed(format!(
                        "wrong field name '{name}' for file upload, expected 'filename'\n"
                    )));
                }
                self.params.insert(
                    "filename".into(),
                    Value::String(filename.trim().to_string()),
                );
                self.phase = Phase::File;
            }
            None => self.phase = Phase::Field(name),
        }
        Ok(true)
    }

    fn field(&mut self, name: String) -> Result<bool, ApiError> {
        let Some(pos) = find(&self.buf, &self.delim) else {
            if self.buf.len() > MAX_FIELD {
                return Err(failed(format!("multipart field '{name}' too large\n")));
            }
            self.phase = Phase::Field(name);
            return Ok(false);
        };
        let value = String::from_utf8_lossy(&self.buf[..pos]).trim().to_string();
        // The file's parameters come from the file part only.
        if FIELDS.contains(&name.as_str()) && !self.params.contains_key("filename") {
            self.params.insert(name, Value::String(value));
        }
        self.buf.advance(pos);
        let len = self.delim.len();
        Ok(self.after_delimiter(len))
    }

    fn file(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), ApiError>,
    ) -> Result<bool, ApiError> {
        match find(&self.buf, &self.delim) {
            Some(pos) => {
                let data_end = if pos > 0 && self.buf[pos - 1] == b'\r' {
                    pos - 1
                } else {
                    pos
                };
                if data_end > 0 {
                    sink(&self.buf[..data_end])?;
                    self.file_bytes += data_end as u64;
                }
                self.buf.advance(pos);
                // Whatever follows the file (a closing delimiter, more parts) is ignored.
                self.buf.clear();
                self.phase = Phase::Done;
                Ok(false)
            }
            None => {
                // Hold back what could be the start of a delimiter (`\r` + `\n--BOUNDARY`).
                let hold = self.delim.len() + 1;
                if self.buf.len() > hold {
                    let n = self.buf.len() - hold;
                    sink(&self.buf[..n])?;
                    self.file_bytes += n as u64;
                    self.buf.advance(n);
                }
                self.phase = Phase::File;
                Ok(false)
            }
        }
    }
}

/// `form-data; name="x"; filename="y"` → ("form-data", "x", Some("y")).
fn parse_disposition(v: &str) -> (String, String, Option<String>) {
    let mut items = v.split(';').map(str::trim);
    let kind = items.next().unwrap_or("").to_ascii_lowercase();
    let (mut name, mut filename) = (String::new(), None);
    for item in items {
        if let Some((k, val)) = item.split_once('=') {
            let val = val.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = val,
                "filename" => filename = Some(val),
                _ => {}
            }
        }
    }
    (kind, name, filename)
}

/// Reads the whole multipart body into `file` and returns the form's parameters
/// (`filename` and the fields before it). A body that ends before the file part is
/// complete fails with upstream's "upload failed".
pub async fn receive(
    mut body: Incoming,
    boundary: &str,
    mut file: tokio::fs::File,
) -> Result<Map<String, Value>, ApiError> {
    let mut parser = Parser::new(boundary);
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| failed("upload failed"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        parser.feed(&data, &mut |d| {
            pending.extend_from_slice(d);
            Ok(())
        })?;
        if !pending.is_empty() {
            file.write_all(&pending)
                .await
                .map_err(|e| failed(format!("write to temporary file failed - {e}\n")))?;
            pending.clear();
        }
        if pending.capacity() > 1024 * 1024 {
            pending = Vec::new();
        }
    }
    file.flush()
        .await
        .map_err(|e| failed(format!("write to temporary file failed - {e}\n")))?;
    if !parser.complete() {
        return Err(failed("upload failed"));
    }
    Ok(parser.params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(boundary: &str, fields: &[(&str, &str)], file: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        for (k, v) in fields {
            b.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                )
                .as_bytes(),
            );
        }
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"filename\"; filename=\"a.iso\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        b.extend_from_slice(file);
        b.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    }

    type Parsed = (Map<String, Value>, Vec<u8>, bool);

    fn run(input: &[u8], boundary: &str, chunk: usize) -> Result<Parsed, ApiError> {
        let mut p = Parser::new(boundary);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            p.feed(c, &mut |d| {
                out.extend_from_slice(d);
                Ok(())
            })?;
        }
        let done = p.complete();
        Ok((p.params, out, done))
    }

    #[test]
    fn fields_and_file_at_every_chunk_size() {
        // File data that contains near-delimiters must pass through untouched.
        let data: Vec<u8> = b"x\r\n--XY not quite\r\n-XYZ--XYZ\r\r\n\n--Xyz".repeat(40);
        let input = body("XYZ", &[("content", "iso"), ("checksum", " abc ")], &data);
        for chunk in [1, 2, 3, 7, 16, 64, 1000, input.len()] {
            let (params, out, done) = run(&input, "XYZ", chunk).unwrap();
            assert!(done, "chunk {chunk}");
            assert_eq!(out, data, "chunk {chunk}");
            assert_eq!(params["content"], "iso");
            assert_eq!(params["checksum"], "abc");
            assert_eq!(params["filename"], "a.iso");
        }
    }

    #[test]
    fn truncated_bodies_are_incomplete() {
        let input = body("b0undary", &[("content", "iso")], &[7u8; 5000]);
        for cut in [10, 100, 200, 3000, input.len() - 12] {
            let (_, _, done) = run(&input[..cut], "b0undary", 100).unwrap();
            assert!(!done, "cut at {cut}");
        }
    }

    #[test]
    fn wrong_parts_are_refused() {
        let bad = b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\ndata\r\n--B--\r\n";
        let e = run(bad, "B", 5).unwrap_err();
        assert_eq!(
            e.message,
            "wrong field name 'file' for file upload, expected 'filename'\n"
        );
        let bad =
            b"--B\r\nContent-Disposition: attachment; name=\"content\"\r\n\r\niso\r\n--B--\r\n";
        let e = run(bad, "B", 5).unwrap_err();
        assert_eq!(
            e.message,
            "wrong Content-Disposition 'attachment' in multipart, expected 'form-data'\n"
        );
    }

    #[test]
    fn unknown_fields_and_tmpfilename_are_ignored() {
        let input = body(
            "B",
            &[("tmpfilename", "/etc/shadow"), ("content", "vztmpl")],
            b"z",
        );
        let (params, out, done) = run(&input, "B", 3).unwrap();
        assert!(done);
        assert_eq!(out, b"z");
        assert!(!params.contains_key("tmpfilename"));
        assert_eq!(params["content"], "vztmpl");
    }

    #[test]
    fn paths_and_content_types() {
        assert!(is_upload_path("/nodes/n1/storage/local/upload"));
        assert!(!is_upload_path("/nodes/n1/storage/local/content"));
        assert!(!is_upload_path("/nodes/n1/storage//upload"));
        assert_eq!(
            parse_content_type("multipart/form-data; boundary=----abc"),
            ("multipart/form-data".into(), Some("----abc".into()))
        );
        assert_eq!(
            parse_content_type("application/json"),
            ("application/json".into(), None)
        );
    }
}
