//! `GET /version` (and `GET /nodes/{node}/version`).

use pve_common::api::{ApiMethod, ApiResponse, HttpMethod, Permissions, Router, RpcEnv};
use pve_common::schema::{JsonType, Schema};
use serde_json::{json, Map, Value};

/// The Proxmox VE release whose API this build implements. Clients (Terraform
/// providers, Ansible) switch features on it, so it names the upstream release we are
/// compatible with, not our own package version.
pub const COMPAT_RELEASE: &str = "9.2";
pub const COMPAT_VERSION: &str = "9.2.11";

fn string(desc: &str) -> Schema {
    Schema::of_type(JsonType::String).description(desc)
}

fn returns() -> Schema {
    let mut console = string("The default console viewer to use.").optional();
    console.enum_ = Some(
        ["applet", "vv", "html5", "xtermjs"]
            .map(Value::from)
            .to_vec(),
    );
    let mut repoid = string("The short git revision from which this version was build.");
    repoid.pattern = Some("[0-9a-fA-F]{8,64}".into());
    let mut s = Schema::of_type(JsonType::Object);
    s.properties = Some(
        [
            ("console".to_string(), console),
            (
                "release".to_string(),
                string("The current Proxmox VE point release in `x.y` format."),
            ),
            ("repoid".to_string(), repoid),
            (
                "version".to_string(),
                string("The full pve-manager package version of this node."),
            ),
        ]
        .map(|(k, v)| (k, v.into()))
        .into(),
    );
    s
}

/// The `console` key of datacenter.cfg, if set.
fn datacenter_console(env: &RpcEnv) -> Option<String> {
    let text = std::fs::read_to_string(env.paths.pve_file("datacenter.cfg")).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "console").then(|| v.trim().to_string())
    })
}

fn version(env: &RpcEnv) -> Value {
    let mut data = Map::new();
    data.insert("release".into(), json!(COMPAT_RELEASE));
    data.insert("repoid".into(), json!(env!("PVE_REPOID")));
    data.insert("version".into(), json!(COMPAT_VERSION));
    if let Some(c) = datacenter_console(env) {
        data.insert("console".into(), json!(c));
    }
    Value::Object(data)
}

/// `GET /version`.
pub fn router() -> Router {
    Router::new().method(
        ApiMethod::new(
            "version",
            HttpMethod::Get,
            "API version details, including some parts of the global datacenter config.",
            |env, _| Ok(ApiResponse::from(version(env))),
        )
        .permissions(Permissions::all_users())
        .returns(returns()),
    )
}

/// `GET /nodes/{node}/version`.
pub fn node_router() -> Router {
    let mut returns = returns();
    if let Some(p) = returns.properties.as_mut() {
        p.remove("console");
    }
    Router::new().method(
        ApiMethod::new(
            "version",
            HttpMethod::Get,
            "API version details",
            |env, _| {
                let mut v = version(env);
                if let Some(o) = v.as_object_mut() {
                    o.remove("console");
                }
                Ok(ApiResponse::from(v))
            },
        )
        .param("node", crate::api::nodes::node_param())
        .permissions(Permissions::all_users())
        .proxyto("node")
        .returns(returns),
    )
}
