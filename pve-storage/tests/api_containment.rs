//! Bad volume names through the API: `..`, absolute paths, unknown storages and wrong
//! content types are refused, and nothing outside the storage's folder is read,
//! written or deleted (decoy files next to and above the storage stay as they were).

use pve_common::api::{call_method, merge_params, ApiError, EnvKind, HttpMethod, RpcEnv};
use serde_json::{json, Map, Value};

mod common;

use common::{root_router, TempRoot};

const STORAGE_CFG: &str =
    "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,images,rootdir,snippets\n";

/// Calls `method` on the path given as decoded segments (a volume id may hold `/`).
fn call(
    env: &RpcEnv,
    method: HttpMethod,
    segments: &[&str],
    query: Value,
) -> Result<Value, ApiError> {
    let router = root_router();
    let (m, resolved) = router
        .find_segments(method, segments)
        .unwrap_or_else(|| panic!("no route for {method} {segments:?}"));
    let query: Map<String, Value> = query.as_object().cloned().unwrap_or_default();
    let params = merge_params(&resolved.path_params, query, Map::new())?;
    call_method(m, env, params).map(|r| r.data)
}

fn volume_path(vol: &str) -> [&str; 6] {
    ["nodes", "pveo", "storage", "local", "content", vol]
}

#[test]
fn bad_volume_names_touch_nothing_outside() {
    let root = TempRoot::with_storage_cfg("containment", STORAGE_CFG);
    let env = root.env(EnvKind::Cli);
    let vz = root.0.join("var/lib/vz");
    std::fs::create_dir_all(vz.join("images/100")).unwrap();
    std::fs::write(vz.join("images/100/vm-100-disk-0.raw"), b"disk").unwrap();
    // Decoys beside and above the storage folder.
    let decoys = [
        root.0.join("var/lib/decoy.raw"),
        root.0.join("etc/secret.raw"),
        root.0.join("decoy.raw"),
    ];
    for d in &decoys {
        std::fs::write(d, b"decoy").unwrap();
    }
    // Activation may create the storage's own sub-folders; everything outside the
    // storage folder must stay exactly as it is.
    let outside = |tree: Vec<String>| -> Vec<String> {
        tree.into_iter()
            .filter(|p| !p.starts_with("var/lib/vz/"))
            .collect()
    };
    let before = outside(root.tree());

    let bad = [
        "local:../decoy.raw",
        "local:100/../../decoy.raw",
        "local:100/../../../decoy.raw",
        "local:../../../etc/secret.raw",
        "local:/etc/secret.raw",
        "/etc/secret.raw",
        "local:images/../../decoy.raw",
        "local:iso/../../decoy.raw",
        "local:snippets/../../../decoy.raw",
    ];
    for vol in bad {
        for method in [HttpMethod::Get, HttpMethod::Delete] {
            let r = call(&env, method, &volume_path(vol), json!({}));
            assert!(r.is_err(), "{method} {vol} was accepted: {r:?}");
        }
        let r = call(
            &env,
            HttpMethod::Put,
            &volume_path(vol),
            json!({"notes": "x"}),
        );
        assert!(r.is_err(), "PUT {vol} was accepted: {r:?}");
    }
    // A name with `..` is refused with upstream's parse error.
    let e = call(
        &env,
        HttpMethod::Get,
        &volume_path("local:../decoy.raw"),
        json!({}),
    )
    .unwrap_err();
    assert!(e.message.contains("unable to parse"), "{e}");

    // Unknown storages.
    let e = call(
        &env,
        HttpMethod::Get,
        &["nodes", "pveo", "storage", "nosuch", "content"],
        json!({}),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("storage 'nosuch' does not exist"),
        "{e}"
    );

    // Allocation with a name that leaves the folder, or of a wrong kind.
    for (vmid, filename) in [
        ("100", "../../decoy.raw"),
        ("100", "/etc/secret.raw"),
        ("100", "vm-101-disk-1.raw"),
    ] {
        let r = call(
            &env,
            HttpMethod::Post,
            &["nodes", "pveo", "storage", "local", "content"],
            json!({"vmid": vmid, "filename": filename, "size": "1M"}),
        );
        assert!(r.is_err(), "alloc {filename} was accepted: {r:?}");
    }

    // Nothing changed outside the storage, decoys intact, and no new volume inside.
    assert_eq!(outside(root.tree()), before);
    let images: Vec<String> = root
        .tree()
        .into_iter()
        .filter(|p| p.starts_with("var/lib/vz/images/"))
        .collect();
    assert_eq!(
        images,
        [
            "var/lib/vz/images/100",
            "var/lib/vz/images/100/vm-100-disk-0.raw"
        ]
    );
    for d in &decoys {
        assert_eq!(
            std::fs::read(d).unwrap(),
            b"decoy",
            "{} changed",
            d.display()
        );
    }
    assert_eq!(
        std::fs::read(vz.join("images/100/vm-100-disk-0.raw")).unwrap(),
        b"disk"
    );
}
