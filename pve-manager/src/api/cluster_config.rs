//! `/cluster/config`: the corosync configuration as the API shows it (upstream's
//! `PVE::API2::ClusterConfig`, reading part): the index, the join API version, the node
//! list, the totem settings and the join information a new node needs.

use pve_common::api::{
    ApiError, ApiMethod, ApiResponse, HttpMethod, Params, Permissions, Router, RpcEnv,
};
use pve_common::schema::Schema;
use serde_json::{json, Map, Value};

/// Upstream's `PVE::Cluster::Setup::JOIN_API_VERSION`.
const JOIN_API_VERSION: u64 = 1;

fn perms(v: Value) -> Permissions {
    serde_json::from_value(v).expect("valid permissions literal")
}

fn audit() -> Permissions {
    perms(json!({"check": ["perm", "/", ["Sys.Audit"]]}))
}

pub fn router() -> Router {
    Router::new()
        .method(
            ApiMethod::new("index", HttpMethod::Get, "Directory index.", index)
                .permissions(audit())
                .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {}, "type": "object"}, "links": [{"href": "{name}", "rel": "child"}], "type": "array"}"#))),
        )
        .subdir(
            "apiversion",
            Router::new().method(
                ApiMethod::new(
                    "join_api_version",
                    HttpMethod::Get,
                    "Return the version of the cluster join API available on this node.",
                    |_, _| Ok(json!(JOIN_API_VERSION).into()),
                )
                .permissions(audit())
                .returns(Schema::literal(pve_common::schema::json_lit(r#"{"description": "Cluster Join API version, currently 1", "minimum": 0, "type": "integer"}"#))),
            ),
        )
        .subdir(
            "nodes",
            Router::new()
                .method(
                    ApiMethod::new("nodes", HttpMethod::Get, "Corosync node list.", nodes)
                        .permissions(audit())
                        .returns(Schema::literal(pve_common::schema::json_lit(r#"{"items": {"properties": {"node": {"type": "string"}}, "type": "object"}, "links": [{"href": "{node}", "rel": "child"}], "type": "array"}"#))),
                )
                .match_param("node", Router::new().method(addnode_method())),
        )
        .subdir(
            "totem",
            Router::new().method(
                ApiMethod::new("totem", HttpMethod::Get, "Get corosync totem protocol settings.", totem)
                    .permissions(audit())
                    .returns(Schema::literal(json!({"type": "object"}))),
            ),
        )
        .subdir(
            "join",
            Router::new().method(
                ApiMethod::new(
                    "join_info",
                    HttpMethod::Get,
                    "Get information needed to join this cluster over the connected node.",
                    join_info,
                )
                .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"default": "current connected node", "description": "The node for which the joinee gets the nodeinfo. ", "format": "pve-node", "optional": 1, "type": "string", "typetext": "<string>"}"#)))
                .permissions(audit())
                .returns(Schema::literal(pve_common::schema::json_lit(r#"{"additionalProperties": 0, "properties": {"config_digest": {"type": "string"}, "nodelist": {"items": {"additionalProperties": 1, "properties": {"name": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "nodeid": {"description": "Node id for this node.", "minimum": 1, "optional": 1, "type": "integer"}, "pve_addr": {"format": "ip", "type": "string"}, "pve_fp": {"description": "Certificate SHA 256 fingerprint.", "pattern": "([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}", "type": "string"}, "quorum_votes": {"minimum": 0, "type": "integer"}, "ring0_addr": {"description": "Address and priority information of a single corosync link. (up to 8 links supported; link0..link7)", "format": {"address": {"default_key": 1, "description": "Hostname (or IP) of this corosync link address.", "format": "address", "format_description": "IP", "type": "string"}, "priority": {"default": 0, "description": "The priority for the link when knet is used in 'passive' mode (default). Lower value means higher priority. Only valid for cluster create, ignored on node add.", "maximum": 255, "minimum": 0, "optional": 1, "type": "integer"}}, "optional": 1, "type": "string"}}, "type": "object"}, "type": "array"}, "preferred_node": {"description": "The cluster node name.", "format": "pve-node", "type": "string"}, "totem": {"type": "object"}}, "type": "object"}"#))),
            ),
        )
}

fn addnode_method() -> ApiMethod {
    let mut m = ApiMethod::new(
        "addnode",
        HttpMethod::Post,
        "Adds a node to the cluster configuration. This call is for internal use.",
        addnode,
    )
    .protected()
    .param("apiversion", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The JOIN_API_VERSION of the new node.", "optional": 1, "type": "integer"}"#)))
    .param("force", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Do not throw error if node already exists.", "optional": 1, "type": "boolean"}"#)))
    .param("new_node_ip", Schema::literal(pve_common::schema::json_lit(r#"{"description": "IP Address of node to add. Used as fallback if no links are given.", "format": "ip", "optional": 1, "type": "string"}"#)))
    .param("node", Schema::literal(pve_common::schema::json_lit(r#"{"description": "The cluster node name.", "format": "pve-node", "type": "string"}"#)))
    .param("nodeid", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Node id for this node.", "minimum": 1, "optional": 1, "type": "integer"}"#)))
    .param("votes", Schema::literal(pve_common::schema::json_lit(r#"{"description": "Number of votes for this node", "minimum": 0, "optional": 1, "type": "integer"}"#)));
    for i in 0..8 {
        m = m.param(
            &format!("link{i}"),
            Schema::literal(pve_common::schema::json_lit(r#"{"description": "Address and priority information of a single corosync link. (up to 8 links supported; link0..link7)", "format": {"address": {"default_key": 1, "description": "Hostname (or IP) of this corosync link address.", "format": "address", "format_description": "IP", "type": "string"}, "priority": {"default": 0, "description": "The priority for the link when knet is used in 'passive' mode (default). Lower value means higher priority. Only valid for cluster create, ignored on node add.", "maximum": 255, "minimum": 0, "optional": 1, "type": "integer"}}, "optional": 1, "type": "string"}"#)),
        );
    }
    m.returns(Schema::literal(pve_common::schema::json_lit(r#"{"properties": {"corosync_authkey": {"type": "string"}, "corosync_conf": {"type": "string"}, "warnings": {"items": {"type": "string"}, "type": "array"}}, "type": "object"}"#)))
}

/// The corosync links of a joining node `name` as upstream's `addnode` settles them:
/// no address of another node reused on any link, exactly the cluster's link numbers
/// when links are given, else `new_node_ip` on a single-link cluster's one link (a
/// lone link from an old joiner, API version 0, counts as `new_node_ip`).
fn join_links(
    nodelist: &Map<String, Value>,
    name: &str,
    mut given: std::collections::BTreeMap<u8, String>,
    mut new_node_ip: Option<String>,
    apiversion: i64,
) -> Result<Vec<(u8, String)>, String> {
    for addr in given.values() {
        for (k, v) in nodelist {
            if k == name {
                continue;
            }
            for n in 0..8 {
                let id = format!("ring{n}_addr");
                if v[&id].as_str() == Some(addr.as_str()) {
                    return Err(format!(
                        "corosync: address '{addr}' already used on link {id} by node '{k}'"
                    ));
                }
            }
        }
    }
    // Every node has the same links (the config is verified): take any.
    let cluster_links: std::collections::BTreeSet<u8> = nodelist
        .values()
        .next()
        .and_then(Value::as_object)
        .map(|o| {
            o.keys()
                .filter_map(|k| k.strip_prefix("ring")?.strip_suffix("_addr")?.parse().ok())
                .filter(|n: &u8| *n < 8)
                .collect()
        })
        .unwrap_or_default();
    let mut legacy = false;
    if new_node_ip.is_none() && given.len() == 1 && apiversion == 0 {
        new_node_ip = given.pop_first().map(|(_, a)| a);
        legacy = true;
    }
    if !given.is_empty() {
        for n in 0..8u8 {
            match (cluster_links.contains(&n), given.contains_key(&n)) {
                (true, false) => {
                    return Err(format!(
                    "corosync: link {n} exists in cluster config but wasn't specified for new node"
                ))
                }
                (false, true) => {
                    return Err(format!(
                        "corosync: link {n} specified for new node doesn't exist in cluster config"
                    ))
                }
                _ => {}
            }
        }
        return Ok(given.into_iter().collect());
    }
    let Some(ip) = new_node_ip else {
        return Err("no links and no fallback ip (new_node_ip) given, cannot join cluster".into());
    };
    match (cluster_links.len(), cluster_links.first()) {
        (1, Some(n)) => Ok(vec![(*n, ip)]),
        (count, _) if legacy => Err(format!("cluster has {count} links, but only 1 given")),
        _ => Err("no links given but multiple links found on other nodes, fallback only supported on single-link clusters".into()),
    }
}

/// Adds a joining node to corosync.conf (upstream's `addnode`) and hands back what it
/// needs: the cluster's corosync config and authkey.
fn addnode(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let internal = |m: String| ApiError::internal(format!("{m}\n"));
    let cfs = pve_cluster::cfs::Cfs::new(&env.paths);
    let quorate = cfs
        .members()
        .ok()
        .and_then(|m| m.cluster)
        .is_some_and(|c| c.quorate == 1);
    if !quorate {
        return Err(internal("cluster not ready - no quorum?".into()));
    }
    let name = p.required_str("node")?;
    // link number -> address of the links given for the new node
    let mut given = std::collections::BTreeMap::new();
    for i in 0..8u8 {
        if let Some(v) = p.str(&format!("link{i}")) {
            given.insert(i, pve_cluster::pvecm::link_address(&v));
        }
    }
    let new_node_ip = p.str("new_node_ip");
    let apiversion = p.i64("apiversion").unwrap_or(0);
    let force = p.bool("force").unwrap_or(false);
    let nodeid = p.i64("nodeid").map(|v| v as u32);
    let votes = p.i64("votes").map(|v| v as u32);
    let conf_path = env.paths.pve_file("corosync.conf");
    let new_conf = cfs.lock_file(
        "corosync.conf",
        Some(std::time::Duration::from_secs(10)),
        || {
            let raw = std::fs::read_to_string(&conf_path)
                .map_err(|e| internal(format!("unable to read corosync.conf - {e}")))?;
            let parsed = pve_cluster::corosync_conf::parse(&raw).map_err(internal)?;
            let nodelist = node_map(&parsed);
            let links = join_links(
                &nodelist,
                &name,
                given.clone(),
                new_node_ip.clone(),
                apiversion,
            )
            .map_err(internal)?;
            let mut base = raw.clone();
            if let Some(existing) = nodelist.get(&name) {
                let same_id =
                    nodeid.is_none_or(|id| existing["nodeid"].as_str() == Some(&id.to_string()));
                let same_votes =
                    votes.is_none_or(|v| existing["quorum_votes"].as_str() == Some(&v.to_string()));
                if !(force && same_id && same_votes) {
                    return Err(internal(format!("can't add existing node '{name}'")));
                }
                println!("forcing overwrite of configured node '{name}'");
                base = pve_cluster::pvecm::remove_node(&raw, &name)
                    .map_err(|e| internal(e.to_string()))?;
            }
            let (text, _id) =
                pve_cluster::pvecm::add_node_with(&base, &name, &links, nodeid, votes.unwrap_or(1))
                    .map_err(|e| internal(e.to_string()))?;
            // the new node's folders, as upstream's gen_local_dirs
            for sub in ["", "/qemu-server", "/lxc", "/openvz", "/priv"] {
                let _ = std::fs::create_dir(env.paths.pve_file(&format!("nodes/{name}{sub}")));
            }
            std::fs::write(&conf_path, &text)
                .map_err(|e| internal(format!("unable to write corosync.conf - {e}")))?;
            Ok::<_, ApiError>(text)
        },
    )?;
    let key = std::fs::read(env.paths.corosync_dir().join("authkey"))
        .map_err(|e| internal(format!("unable to read corosync authkey - {e}")))?;
    // The key's bytes as the characters U+0000…U+00FF, as upstream's JSON carries it.
    let key_text: String = key.iter().map(|&b| b as char).collect();
    Ok(json!({
        "corosync_authkey": key_text,
        "corosync_conf": new_conf,
        "warnings": [],
    })
    .into())
}

fn index(_env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let names = ["nodes", "totem", "join", "qdevice", "apiversion"];
    Ok(Value::Array(names.iter().map(|n| json!({ "name": n })).collect()).into())
}

/// The parsed corosync.conf of the cluster file system (`None`: not clustered).
fn read_conf(env: &RpcEnv) -> Result<Option<Value>, ApiError> {
    let path = env.paths.pve_file("corosync.conf");
    let raw = match std::fs::read_to_string(&path) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ApiError::internal(format!(
                "unable to read '{}' - {e}\n",
                path.display()
            )))
        }
    };
    if raw.trim().is_empty() {
        return Ok(None);
    }
    pve_cluster::corosync_conf::parse(&raw)
        .map(Some)
        .map_err(|e| ApiError::internal(format!("{e}\n")))
}

fn node_map(conf: &Value) -> Map<String, Value> {
    conf["main"]["nodelist"]["node"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn nodes(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let conf = read_conf(env)?.unwrap_or(Value::Null);
    let list: Vec<Value> = node_map(&conf)
        .into_iter()
        .map(|(name, mut n)| {
            n["node"] = Value::String(name);
            n
        })
        .collect();
    Ok(Value::Array(list).into())
}

fn totem(env: &RpcEnv, _p: Params) -> Result<ApiResponse, ApiError> {
    let conf = read_conf(env)?.unwrap_or(Value::Null);
    let totem = match &conf["main"]["totem"] {
        Value::Object(m) => Value::Object(m.clone()),
        _ => json!({}),
    };
    Ok(totem.into())
}

/// `AA:BB:…` (SHA-256 of the certificate, upper case) of a node's pve-ssl.pem.
fn node_fingerprint(env: &RpcEnv, node: &str) -> Result<String, ApiError> {
    let path = env.paths.pve_file(&format!("nodes/{node}/pve-ssl.pem"));
    let pem = std::fs::read(&path)
        .map_err(|e| ApiError::internal(format!("unable to read '{}' - {e}\n", path.display())))?;
    let cert = openssl::x509::X509::from_pem(&pem)
        .map_err(|e| ApiError::internal(format!("unable to parse '{}' - {e}\n", path.display())))?;
    let digest = cert
        .digest(openssl::hash::MessageDigest::sha256())
        .map_err(|e| ApiError::internal(format!("{e}\n")))?;
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

fn join_info(env: &RpcEnv, p: Params) -> Result<ApiResponse, ApiError> {
    let Some(conf) = read_conf(env)? else {
        return Err(ApiError::internal(
            "node is not in a cluster, no join info available!\n",
        ));
    };
    let wanted = p.str("node").unwrap_or_else(|| env.node.clone());
    let mut list = Vec::new();
    let mut preferred = None;
    for (name, mut n) in node_map(&conf) {
        n["pve_fp"] = Value::String(node_fingerprint(env, &name)?);
        let ip = pve_cluster::cfs::remote_node_ip(&env.paths, &name)
            .map_err(|e| ApiError::internal(format!("{e}\n")))?;
        n["pve_addr"] = Value::String(ip.to_string());
        if name == wanted {
            preferred = Some(name.clone());
        }
        list.push(n);
    }
    let Some(preferred) = preferred else {
        return Err(ApiError::internal(format!(
            "node '{wanted}' not found in nodelist\n"
        )));
    };
    Ok(json!({
        "nodelist": list,
        "preferred_node": preferred,
        "totem": conf["main"]["totem"].clone(),
        "config_digest": conf["digest"].clone(),
    })
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pve_common::api::{call_merged, AuthId, EnvKind};
    use pve_common::NodePaths;

    const CONF: &str = "nodelist {\n  node {\n    name: n1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 192.0.2.1\n  }\n  node {\n    name: n2\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 192.0.2.2\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: demo\n  config_version: 2\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n";

    fn env(root: &std::path::Path) -> RpcEnv {
        RpcEnv {
            auth: AuthId::root(),
            node: "n1".into(),
            client_ip: None,
            kind: EnvKind::Cli,
            paths: NodePaths::new(root),
            permissions: None,
        }
    }

    fn get(root: &std::path::Path, path: &str, query: Value) -> Result<Value, ApiError> {
        let r = Router::new().subdir("config", router());
        let q = query.as_object().cloned().unwrap_or_default();
        call_merged(&r, &env(root), HttpMethod::Get, path, q, Map::new()).map(|r| r.data)
    }

    #[test]
    fn config_views() {
        let root = std::env::temp_dir().join(format!("cluster-config-{}", std::process::id()));
        let pve = root.join("etc/pve");
        std::fs::create_dir_all(&pve).unwrap();
        // not clustered yet
        assert_eq!(get(&root, "/config/nodes", json!({})).unwrap(), json!([]));
        assert_eq!(
            get(&root, "/config/join", json!({})).unwrap_err().message,
            "node is not in a cluster, no join info available!\n"
        );
        assert_eq!(
            get(&root, "/config/apiversion", json!({})).unwrap(),
            json!(1)
        );

        std::fs::write(pve.join("corosync.conf"), CONF).unwrap();
        let nodes = get(&root, "/config/nodes", json!({})).unwrap();
        assert_eq!(nodes.as_array().unwrap().len(), 2);
        assert_eq!(nodes[1]["node"], "n2");
        assert_eq!(nodes[1]["ring0_addr"], "192.0.2.2");
        let totem = get(&root, "/config/totem", json!({})).unwrap();
        assert_eq!(totem["cluster_name"], "demo");
        assert_eq!(totem["interface"]["0"]["linknumber"], "0");

        // join info: fingerprints from the node certificates, addresses from .members
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        for n in ["n1", "n2"] {
            let mut b = openssl::x509::X509Builder::new().unwrap();
            b.set_pubkey(&key).unwrap();
            let now = openssl::asn1::Asn1Time::days_from_now(0).unwrap();
            let later = openssl::asn1::Asn1Time::days_from_now(30).unwrap();
            b.set_not_before(&now).unwrap();
            b.set_not_after(&later).unwrap();
            b.sign(&key, openssl::hash::MessageDigest::sha256())
                .unwrap();
            let dir = pve.join(format!("nodes/{n}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("pve-ssl.pem"), b.build().to_pem().unwrap()).unwrap();
        }
        std::fs::write(
            pve.join(".members"),
            r#"{"nodename": "n1", "version": 3, "cluster": {"name": "demo", "version": 2, "nodes": 2, "quorate": 1}, "nodelist": {"n1": {"id": 1, "online": 1, "ip": "192.0.2.1"}, "n2": {"id": 2, "online": 1, "ip": "192.0.2.2"}}}"#,
        )
        .unwrap();
        let info = get(&root, "/config/join", json!({"node": "n2"})).unwrap();
        assert_eq!(info["preferred_node"], "n2");
        assert_eq!(info["totem"]["cluster_name"], "demo");
        assert_eq!(info["config_digest"].as_str().unwrap().len(), 40);
        let list = info["nodelist"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1]["pve_addr"], "192.0.2.2");
        let fp = list[0]["pve_fp"].as_str().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert!(fp
            .chars()
            .all(|c| c == ':' || c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_eq!(
            get(&root, "/config/join", json!({"node": "n9"}))
                .unwrap_err()
                .message,
            "node 'n9' not found in nodelist\n"
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[cfg(test)]
mod link_tests {
    use super::*;
    use std::collections::BTreeMap;

    fn nodelist(two_links: bool) -> Map<String, Value> {
        let mut m = Map::new();
        for i in 1..=2 {
            let mut n = json!({"name": format!("n{i}"), "nodeid": i.to_string(),
                "ring0_addr": format!("10.0.0.{i}")});
            if two_links {
                n["ring1_addr"] = json!(format!("10.1.0.{i}"));
            }
            m.insert(format!("n{i}"), n);
        }
        m
    }

    fn given(links: &[(u8, &str)]) -> BTreeMap<u8, String> {
        links.iter().map(|(n, a)| (*n, a.to_string())).collect()
    }

    #[test]
    fn links_of_a_joining_node_as_upstream() {
        let one = nodelist(false);
        let two = nodelist(true);
        let ok = |l: &Map<String, Value>, g, ip: Option<&str>, v| {
            join_links(l, "n3", given(g), ip.map(str::to_string), v).unwrap()
        };
        let err = |l: &Map<String, Value>, g, ip: Option<&str>, v| {
            join_links(l, "n3", given(g), ip.map(str::to_string), v).unwrap_err()
        };
        assert_eq!(
            ok(&one, &[(0, "10.0.0.3")], None, 1),
            vec![(0, "10.0.0.3".to_string())]
        );
        assert_eq!(
            ok(&one, &[], Some("10.0.0.9"), 1),
            vec![(0, "10.0.0.9".to_string())]
        );
        assert_eq!(
            err(&one, &[(1, "10.1.0.3")], None, 1),
            "corosync: link 0 exists in cluster config but wasn't specified for new node"
        );
        assert_eq!(
            err(&one, &[(0, "10.0.0.3"), (1, "10.1.0.3")], None, 1),
            "corosync: link 1 specified for new node doesn't exist in cluster config"
        );
        // an old joiner (API version 0) with one link: its address goes on link 0
        assert_eq!(
            ok(&one, &[(1, "10.1.0.3")], None, 0),
            vec![(0, "10.1.0.3".to_string())]
        );
        assert_eq!(
            ok(&two, &[(0, "10.0.0.3"), (1, "10.1.0.3")], None, 1),
            vec![(0, "10.0.0.3".to_string()), (1, "10.1.0.3".to_string())]
        );
        assert_eq!(
            err(&two, &[(0, "10.0.0.3")], Some("10.0.0.3"), 1),
            "corosync: link 1 exists in cluster config but wasn't specified for new node"
        );
        assert_eq!(
            err(&two, &[], Some("10.0.0.3"), 1),
            "no links given but multiple links found on other nodes, fallback only supported on single-link clusters"
        );
        // an old joiner's lone link is its fallback address
        assert_eq!(
            err(&two, &[(0, "10.0.0.3")], None, 0),
            "cluster has 2 links, but only 1 given"
        );
        assert_eq!(
            err(&one, &[], None, 1),
            "no links and no fallback ip (new_node_ip) given, cannot join cluster"
        );
        // no address of another node on any link; the node itself may keep its own
        assert_eq!(
            err(&two, &[(0, "10.0.0.3"), (1, "10.1.0.2")], None, 1),
            "corosync: address '10.1.0.2' already used on link ring1_addr by node 'n2'"
        );
        assert!(join_links(
            &two,
            "n2",
            given(&[(0, "10.0.0.2"), (1, "10.1.0.2")]),
            None,
            1
        )
        .is_ok());
    }
}
