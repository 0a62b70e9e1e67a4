//! `/nodes/{node}/storage/{storage}/upload` (upstream's `upload` method of
//! `PVE::API2::Storage::Status`): the file comes from the HTTP server's spool file
//! (`tmpfilename`); the copy streams through [`crate::upload::upload_volume`].

use pve_common::api::{ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Router, RpcEnv};
use serde_json::{json, Value};

use super::{declare, load};
use crate::upload::{
    check_upload_target, prepare_upload, upload_volume, UploadContent, UploadRequest,
};

fn upload(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let storage = load(env)?;
    let storeid = p.required_str("storage")?;
    let node = p.required_str("node")?;
    let content = UploadContent::parse(&p.required_str("content")?)?;
    let filename = p.required_str("filename")?;
    let checksum = match (p.str("checksum-algorithm"), p.str("checksum")) {
        (Some(a), Some(c)) => Some((a, c)),
        _ => None,
    };
    let req = UploadRequest {
        storeid: &storeid,
        node: &node,
        content,
        filename: &filename,
        checksum: checksum.as_ref().map(|(a, c)| (a.as_str(), c.as_str())),
        expected_size: None,
    };
    check_upload_target(&storage, &storeid, &node)?;
    let Some(tmpfilename) = p.str("tmpfilename") else {
        return Err(ApiError::internal("missing temporary file name\n"));
    };
    let tmp = env.paths.host(&tmpfilename);
    let size = std::fs::metadata(&tmp).map(|m| m.len()).map_err(|_| {
        ApiError::internal(format!("temporary file '{tmpfilename}' does not exist\n"))
    })?;
    prepare_upload(&storage, &req)?;
    let (storeid, node, filename) = (storeid.clone(), node.clone(), filename.clone());
    let checksum = checksum.clone();
    let upid = pve_common::tasks::start_worker(env, "imgcopy", None, move |task| {
        task.log(format!("starting file import from: {tmpfilename}"));
        let req = UploadRequest {
            storeid: &storeid,
            node: &node,
            content,
            filename: &filename,
            checksum: checksum.as_ref().map(|(a, c)| (a.as_str(), c.as_str())),
            expected_size: Some(size),
        };
        let result = std::fs::File::open(&tmp)
            .map_err(|e| anyhow::anyhow!("unable to open '{tmpfilename}' - {e}"))
            .and_then(|mut f| Ok(upload_volume(&storage, &req, &mut f)?));
        // the spool file is the HTTP server's: gone after the copy, whatever happened
        let _ = std::fs::remove_file(&tmp);
        let volid = result?;
        task.log(format!("target node: {node}"));
        task.log(format!("file size is: {size}"));
        task.log(format!("added volume '{volid}'"));
        Ok(())
    })?;
    Ok(json!(upid).into())
}

pub(super) fn router() -> Router {
    Router::new().method(declare(
        ApiMethod::new(
            "upload",
            HttpMethod::Post,
            "Upload templates, ISO images, OVAs and VM images.",
            upload,
        )
        .protected(),
        params(),
        json!({"type": "string"}),
        pve_common::schema::json_lit(
            r#"{"check": ["perm", "/storage/{storage}", ["Datastore.AllocateTemplate"]]}"#,
        ),
    ))
}

fn params() -> Value {
    json!({
        "node": {
            "description": "The cluster node name.",
            "format": "pve-node",
            "type": "string",
        },
        "storage": {
            "description": "The storage identifier.",
            "format": "pve-storage-id",
            "type": "string",
        },
        "content": {
            "description": "Content type.",
            "enum": ["iso", "vztmpl", "import"],
            "format": "pve-storage-content",
            "type": "string",
        },
        "filename": {
            "description": "The name of the file to create. Caution: This will be normalized!",
            "maxLength": 255,
            "type": "string",
        },
        "checksum": {
            "description": "The expected checksum of the file.",
            "optional": 1,
            "requires": "checksum-algorithm",
            "type": "string",
        },
        "checksum-algorithm": {
            "description": "The algorithm to calculate the checksum of the file.",
            "enum": crate::upload::CHECKSUM_ALGORITHMS,
            "optional": 1,
            "requires": "checksum",
            "type": "string",
        },
        "tmpfilename": {
            "description": "The source file name. This parameter is usually set by the REST handler. You can only overwrite it when connecting to the trusted port on localhost.",
            "optional": 1,
            "pattern": "/var/tmp/pveupload-[0-9a-f]+",
            "type": "string",
        },
    })
}
