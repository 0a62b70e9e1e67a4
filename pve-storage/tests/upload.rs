//! Uploads into a dir storage: through the API (spool file) and the streaming function;
//! interrupted streams, checksum mismatches, wrong content types and bad file names
//! leave nothing behind and are refused with upstream's messages.

use std::io::Read;

use pve_common::api::{call_merged, EnvKind, HttpMethod};
use pve_storage::upload::{upload_volume, UploadContent, UploadRequest};
use pve_storage::Storage;
use serde_json::{json, Map, Value};

mod common;

use common::{root_router, TempRoot};

const CFG: &str = "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,images\n\n\
                   dir: imgonly\n\tpath /srv/imgonly\n\tcontent images\n";

fn storage(root: &TempRoot) -> Storage {
    Storage::load(&pve_common::NodePaths::new(&root.0)).unwrap()
}

fn request<'a>(content: UploadContent, filename: &'a str) -> UploadRequest<'a> {
    UploadRequest {
        storeid: "local",
        node: "pveo",
        content,
        filename,
        checksum: None,
        expected_size: None,
    }
}

/// Yields `ok` bytes, then fails as a dropped connection does.
struct Broken {
    ok: usize,
}

impl Read for Broken {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset by peer",
            ));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(0x42);
        self.ok -= n;
        Ok(n)
    }
}

fn iso_dir(root: &TempRoot) -> std::path::PathBuf {
    root.0.join("var/lib/vz/template/iso")
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn streamed_upload_with_checksum() {
    let root = TempRoot::with_storage_cfg("upload-ok", CFG);
    let s = storage(&root);
    let data = b"hello world".to_vec();
    let mut req = request(UploadContent::Vztmpl, "debian 13.tar.zst");
    // sha1 of "hello world"
    req.checksum = Some(("sha1", "2AAE6C35C94FCFB415DBE95F408B9CE91EE846ED"));
    let volid = upload_volume(&s, &req, &mut data.as_slice()).unwrap();
    assert_eq!(volid, "local:vztmpl/debian_13.tar.zst");
    let dest = root.0.join("var/lib/vz/template/cache/debian_13.tar.zst");
    assert_eq!(std::fs::read(dest).unwrap(), data);
    assert_eq!(
        dir_entries(&root.0.join("var/lib/vz/template/cache")),
        ["debian_13.tar.zst"]
    );
}

#[test]
fn interrupted_or_mismatching_uploads_leave_nothing() {
    let root = TempRoot::with_storage_cfg("upload-broken", CFG);
    let s = storage(&root);
    let req = request(UploadContent::Iso, "x.iso");
    let err = upload_volume(&s, &req, &mut Broken { ok: 300_000 }).unwrap_err();
    assert!(err.to_string().starts_with("upload interrupted"), "{err}");
    assert_eq!(dir_entries(&iso_dir(&root)), Vec::<String>::new());

    let mut short = request(UploadContent::Iso, "x.iso");
    short.expected_size = Some(1000);
    let err = upload_volume(&s, &short, &mut [0u8; 10].as_slice()).unwrap_err();
    assert_eq!(err.to_string(), "upload interrupted - got 10 of 1000 bytes");
    assert_eq!(dir_entries(&iso_dir(&root)), Vec::<String>::new());

    let mut bad = request(UploadContent::Iso, "x.iso");
    bad.checksum = Some(("md5", "00"));
    let err = upload_volume(&s, &bad, &mut b"abc".as_slice()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "checksum mismatch: got '900150983cd24fb0d6963f7d28e17f72' != expect '00'"
    );
    assert_eq!(dir_entries(&iso_dir(&root)), Vec::<String>::new());

    // an existing volume survives a failed replacement
    upload_volume(&s, &req, &mut b"old".as_slice()).unwrap();
    upload_volume(&s, &req, &mut Broken { ok: 10 }).unwrap_err();
    assert_eq!(dir_entries(&iso_dir(&root)), ["x.iso"]);
    assert_eq!(std::fs::read(iso_dir(&root).join("x.iso")).unwrap(), b"old");
}

#[test]
fn bad_names_and_content_types_are_refused() {
    let root = TempRoot::with_storage_cfg("upload-refused", CFG);
    let s = storage(&root);
    let before = root.tree();
    for name in ["..", "/", "a/b", "x.iso/..", "x.txt", ""] {
        let err = upload_volume(&s, &request(UploadContent::Iso, name), &mut b"x".as_slice())
            .unwrap_err();
        assert_eq!(err.to_string(), "filename: wrong file extension", "{name}");
    }
    let mut img = request(UploadContent::Iso, "x.iso");
    img.storeid = "imgonly";
    let err = upload_volume(&s, &img, &mut b"x".as_slice()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "storage 'imgonly' does not support 'iso' content"
    );
    let mut unknown = request(UploadContent::Iso, "x.iso");
    unknown.storeid = "nosuch";
    let err = upload_volume(&s, &unknown, &mut b"x".as_slice()).unwrap_err();
    assert_eq!(err.to_string(), "storage 'nosuch' does not exist");
    assert_eq!(root.tree(), before);

    // a path in the name is cut off as upstream normalises it: the file stays inside
    let volid = upload_volume(
        &s,
        &request(UploadContent::Iso, "../../../../etc/evil.iso"),
        &mut b"x".as_slice(),
    )
    .unwrap();
    assert_eq!(volid, "local:iso/evil.iso");
    assert!(!root.0.join("etc/evil.iso").exists());
    assert_eq!(dir_entries(&iso_dir(&root)), ["evil.iso"]);
}

fn api_upload(root: &TempRoot, params: Value) -> Result<Value, (u16, String, Value)> {
    let body: Map<String, Value> = params.as_object().unwrap().clone();
    let storage = body["storage"].as_str().unwrap().to_string();
    call_merged(
        &root_router(),
        &root.env(EnvKind::Cli),
        HttpMethod::Post,
        &format!("nodes/pveo/storage/{storage}/upload"),
        Map::new(),
        body,
    )
    .map(|r| r.data)
    .map_err(|e| (e.status, e.message, json!(e.errors)))
}

#[test]
fn api_upload_from_spool_file() {
    let root = TempRoot::with_storage_cfg("upload-api", CFG);
    let spool = root.0.join("var/tmp/pveupload-0123abcd");
    std::fs::create_dir_all(spool.parent().unwrap()).unwrap();
    std::fs::write(&spool, b"iso data").unwrap();
    let upid = api_upload(
        &root,
        json!({"node": "pveo", "storage": "local", "content": "iso",
               "filename": "my.iso", "tmpfilename": "/var/tmp/pveupload-0123abcd"}),
    )
    .unwrap();
    assert!(upid.as_str().unwrap().contains(":imgcopy:"), "{upid}");
    assert_eq!(
        std::fs::read(iso_dir(&root).join("my.iso")).unwrap(),
        b"iso data"
    );
    assert!(!spool.exists(), "the spool file is removed");

    std::fs::write(&spool, b"iso data").unwrap();

    let (status, _, errors) = api_upload(
        &root,
        json!({"node": "pveo", "storage": "local", "content": "iso", "filename": "..",
               "tmpfilename": "/var/tmp/pveupload-0123abcd"}),
    )
    .unwrap_err();
    assert_eq!(
        (status, errors),
        (400, json!({"filename": "wrong file extension"}))
    );

    let (status, _, errors) = api_upload(
        &root,
        json!({"node": "pveo", "storage": "local", "content": "images", "filename": "a.raw"}),
    )
    .unwrap_err();
    assert_eq!(status, 400);
    assert!(errors["content"].is_string(), "{errors}");

    let (status, message, _) = api_upload(
        &root,
        json!({"node": "pveo", "storage": "local", "content": "iso", "filename": "a.iso"}),
    )
    .unwrap_err();
    assert_eq!(
        (status, message.as_str()),
        (500, "missing temporary file name\n")
    );
}
