//! The permission matrix: users with PVEAuditor, PVEVMUser and PVEVMAdmin on `/vms/100`,
//! on a pool holding VM 100 and storage `local`, and on `/`, plus API tokens with and
//! without privilege separation, call a set of methods through pveproxy (which hands
//! protected calls to pvedaemon). Each answer must be upstream's allow or deny.
//!
//! The expectation is computed here, independently of pve-access-control: the roles'
//! privileges as api-conventions.md §4 lists them, ACL evaluation by §4's rules, and each
//! method's permission declaration read from the upstream schema
//! (`<corpus>/api/pve-api-schema.json`) at test time. Methods open to every user
//! (`user: all`) must answer 200 and show only what upstream's handlers show.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use pve_access_control::store::ConfigFiles;
use pve_common::NodePaths;
use serde_json::Value;

const NODE: &str = "n1";

/// The built-in roles of the matrix and the custom role granted by the ACL writes, with
/// their privileges as api-conventions.md §4 lists them.
fn role_privs(role: &str) -> &'static [&'static str] {
    match role {
        "PVEAuditor" => &[
            "Datastore.Audit",
            "Mapping.Audit",
            "Pool.Audit",
            "SDN.Audit",
            "Sys.Audit",
            "VM.Audit",
            "VM.GuestAgent.Audit",
        ],
        "PVEVMUser" => &[
            "VM.Audit",
            "VM.Backup",
            "VM.Config.CDROM",
            "VM.Config.Cloudinit",
            "VM.Console",
            "VM.GuestAgent.Audit",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.PowerMgmt",
        ],
        "PVEVMAdmin" => &[
            "VM.Allocate",
            "VM.Audit",
            "VM.Backup",
            "VM.Clone",
            "VM.Config.CDROM",
            "VM.Config.CPU",
            "VM.Config.Cloudinit",
            "VM.Config.Disk",
            "VM.Config.HWType",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.Options",
            "VM.Console",
            "VM.GuestAgent.Audit",
            "VM.GuestAgent.FileRead",
            "VM.GuestAgent.FileSystemMgmt",
            "VM.GuestAgent.FileWrite",
            "VM.GuestAgent.Unrestricted",
            "VM.Migrate",
            "VM.PowerMgmt",
            "VM.Replicate",
            "VM.Snapshot",
            "VM.Snapshot.Rollback",
        ],
        "VMObserver" => &["VM.Audit"],
        "NoAccess" => &[],
        other => panic!("role {other} not in the matrix"),
    }
}

const ROLES: [(&str, &str); 3] = [
    ("aud", "PVEAuditor"),
    ("vmuser", "PVEVMUser"),
    ("vmadmin", "PVEVMAdmin"),
];
const SCOPES: [(&str, &str); 3] = [("vm", "/vms/100"), ("pool", "/pool/prod"), ("root", "/")];
const POOL: (&str, &[u32], &[&str]) = ("prod", &[100], &["local"]);
/// A group and its members; ACL entries name it as `@vmops`.
const GROUP: (&str, &[&str]) = ("vmops", &["grp-vmuser@pve", "grp-own@pve"]);

struct Acl {
    propagate: bool,
    path: String,
    who: String,
    role: &'static str,
}

struct Token {
    id: String,
    privsep: bool,
    secret: String,
}

/// The node's users, tokens and ACLs; user.cfg is written from it.
struct Model {
    users: Vec<String>,
    tokens: Vec<Token>,
    acls: Vec<Acl>,
}

impl Model {
    fn new() -> Self {
        let mut m = Model {
            users: vec!["target@pve".into()],
            tokens: Vec::new(),
            acls: Vec::new(),
        };
        for (rname, role) in ROLES {
            for (sname, path) in SCOPES {
                let user = format!("{rname}-{sname}@pve");
                m.users.push(user.clone());
                m.acl(true, path, &user, role);
            }
        }
        // Tokens of the users with a role on `/`.
        let mut token = |id: &str, privsep: bool, acl: Option<(&str, &'static str)>| {
            let n = m.tokens.len();
            m.tokens.push(Token {
                id: id.into(),
                privsep,
                secret: format!("1e0c4b7a-3d2f-4c1e-9a8b-{n:012x}"),
            });
            if let Some((path, role)) = acl {
                m.acl(true, path, id, role);
            }
        };
        token("vmadmin-root@pve!full", false, None);
        token("vmadmin-root@pve!sep", true, Some(("/", "PVEAuditor")));
        token("aud-root@pve!full", false, None);
        token("aud-root@pve!sep", true, Some(("/vms/100", "PVEVMAdmin")));
        token("aud-root@pve!noacl", true, None);
        token(
            "vmadmin-root@pve!pool",
            true,
            Some(("/pool/prod", "PVEVMUser")),
        );
        // NoAccess on the path wins over the propagated role from `/`.
        m.users.push("aud-novm@pve".into());
        m.acl(true, "/", "aud-novm@pve", "PVEAuditor");
        m.acl(true, "/vms/100", "aud-novm@pve", "NoAccess");
        // A group's roles, and a user entry that replaces the group's on the same level.
        m.users.push("grp-vmuser@pve".into());
        m.users.push("grp-own@pve".into());
        m.acl(true, "/vms/100", "@vmops", "PVEVMUser");
        m.acl(true, "/", "@vmops", "PVEAuditor");
        m.acl(true, "/", "grp-own@pve", "PVEVMAdmin");
        // What the ACL writes of the matrix set (so they change nothing).
        m.acl(false, "/vms/100", "target@pve", "VMObserver");
        m
    }

    fn acl(&mut self, propagate: bool, path: &str, who: &str, role: &'static str) {
        self.acls.push(Acl {
            propagate,
            path: path.into(),
            who: who.into(),
            role,
        });
    }

    fn user_cfg(&self) -> String {
        let mut out = String::new();
        for u in &self.users {
            out += &format!("user:{u}:1:0:::::::\n");
            for t in self
                .tokens
                .iter()
                .filter(|t| t.id.starts_with(&format!("{u}!")))
            {
                out += &format!("token:{}:0:{}::\n", t.id, u8::from(t.privsep));
            }
        }
        out += "user:root@pam:1:0:::::::\n\n";
        let (name, vms, stores) = POOL;
        let vms: Vec<String> = vms.iter().map(u32::to_string).collect();
        out += &format!("pool:{name}::{}:{}:\n\n", vms.join(","), stores.join(","));
        let (group, members) = GROUP;
        out += &format!("group:{group}:{}::\n\n", members.join(","));
        out += "role:VMObserver:VM.Audit:\n\n";
        for a in &self.acls {
            out += &format!(
                "acl:{}:{}:{}:{}:\n",
                u8::from(a.propagate),
                a.path,
                a.who,
                a.role
            );
        }
        out
    }

    /// §4: walk from `/` to `path`; at each level the entries for `authid` replace what
    /// came before; an ancestor's entry counts only with propagate.
    fn roles(&self, authid: &str, path: &str) -> BTreeSet<&'static str> {
        let mut levels = vec!["/".to_string()];
        let mut acc = String::new();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            acc = format!("{acc}/{seg}");
            levels.push(acc.clone());
        }
        let mut current = BTreeSet::new();
        for (i, level) in levels.iter().enumerate() {
            let last = i + 1 == levels.len();
            let entries = |who: &dyn Fn(&str) -> bool| -> BTreeSet<&'static str> {
                self.acls
                    .iter()
                    .filter(|a| &a.path == level && who(&a.who) && (last || a.propagate))
                    .map(|a| a.role)
                    .collect()
            };
            let mut here = entries(&|who| who == authid);
            if here.is_empty() {
                let (group, members) = GROUP;
                if members.contains(&authid) {
                    here = entries(&|who| who.strip_prefix('@') == Some(group));
                }
            }
            if !here.is_empty() {
                current = here;
            }
        }
        current
    }

    /// §4: the path's roles plus the roles on the pools holding the guest or storage;
    /// tokens with privilege separation get the intersection with their user.
    fn privs(&self, authid: &str, path: &str) -> BTreeSet<&'static str> {
        if let Some((user, _)) = authid.split_once('!') {
            let Some(token) = self.tokens.iter().find(|t| t.id == authid) else {
                return BTreeSet::new();
            };
            let user_privs = self.privs(user, path);
            if !token.privsep {
                return user_privs;
            }
            let own = self.compile(authid, path);
            return own.intersection(&user_privs).copied().collect();
        }
        self.compile(authid, path)
    }

    fn compile(&self, authid: &str, path: &str) -> BTreeSet<&'static str> {
        let mut roles = self.roles(authid, path);
        if roles.contains("NoAccess") {
            return BTreeSet::new();
        }
        let (pool, vms, stores) = POOL;
        let member = match (path.strip_prefix("/vms/"), path.strip_prefix("/storage/")) {
            (Some(id), _) => vms.iter().any(|v| v.to_string() == id),
            (_, Some(s)) => stores.contains(&s),
            _ => false,
        };
        if member {
            roles.extend(self.roles(authid, &format!("/pool/{pool}")));
        }
        roles
            .into_iter()
            .flat_map(|r| role_privs(r).iter().copied())
            .collect()
    }

    fn has(&self, authid: &str, path: &str, privs: &[&str], any: bool) -> bool {
        let set = self.privs(authid, path);
        if any {
            privs.iter().any(|p| set.contains(p))
        } else {
            privs.iter().all(|p| set.contains(p))
        }
    }

    /// Upstream's `check_perm_modify`: Permissions.Modify, or the Allocate privilege of
    /// the object kind, on the path.
    fn can_modify_acl(&self, authid: &str, path: &str) -> bool {
        let mut privs = vec!["Permissions.Modify"];
        if path.starts_with("/storage/") {
            privs.push("Datastore.Allocate");
        } else if path.starts_with("/vms/") {
            privs.push("VM.Allocate");
        } else if path.starts_with("/pool/") {
            privs.push("Pool.Allocate");
        }
        self.has(authid, path, &privs, true)
    }

    /// A method's `permissions` declaration from the schema, evaluated for `authid`.
    fn allows(
        &self,
        perms: Option<&Value>,
        authid: &str,
        params: &BTreeMap<String, String>,
    ) -> bool {
        let Some(perms) = perms else {
            return false; // root@pam only
        };
        match perms.get("user").and_then(Value::as_str) {
            Some("all" | "world") => return true,
            Some(other) => panic!("unknown permissions user {other}"),
            None => {}
        }
        self.check(&perms["check"], authid, params)
    }

    fn check(&self, c: &Value, authid: &str, params: &BTreeMap<String, String>) -> bool {
        let items = c.as_array().expect("check is a list");
        let options = |from: usize| -> BTreeMap<String, Value> {
            items[from..]
                .chunks(2)
                .map(|kv| (kv[0].as_str().unwrap().to_string(), kv[1].clone()))
                .collect()
        };
        let privs = |v: &Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect()
        };
        let subst = |tmpl: &str| -> String {
            let mut out = tmpl.to_string();
            for (k, v) in params {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out
        };
        match items[0].as_str().unwrap() {
            "and" => items[1..].iter().all(|c| self.check(c, authid, params)),
            "or" => items[1..].iter().any(|c| self.check(c, authid, params)),
            "perm" => {
                let opts = options(3);
                if let Some(p) = opts.get("require_param").and_then(Value::as_str) {
                    if !params.contains_key(p) {
                        return true;
                    }
                }
                let any = opts.get("any").is_some_and(|v| v == 1 || v == "1");
                let privs = privs(&items[2]);
                let privs: Vec<&str> = privs.iter().map(String::as_str).collect();
                self.has(authid, &subst(items[1].as_str().unwrap()), &privs, any)
            }
            "perm-modify" => self.can_modify_acl(authid, &subst(items[1].as_str().unwrap())),
            "userid-param" => {
                let userid = &params["userid"];
                match items[1].as_str().unwrap() {
                    "self" => userid == authid,
                    "Realm.AllocateUser" => {
                        let realm = userid.rsplit_once('@').unwrap().1;
                        self.has(
                            authid,
                            &format!("/access/realm/{realm}"),
                            &["Realm.AllocateUser"],
                            false,
                        )
                    }
                    other => panic!("userid-param {other}"),
                }
            }
            // No groups in this model: the check is on /access/groups alone.
            "userid-group" => {
                let privs = privs(&items[1]);
                let privs: Vec<&str> = privs.iter().map(String::as_str).collect();
                self.has(authid, "/access/groups", &privs, true)
            }
            other => panic!("check {other} not in the matrix"),
        }
    }
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("PVE_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"))
}

/// `METHOD /path` → the method's schema, from upstream's API dump.
fn schema_index() -> BTreeMap<String, Value> {
    fn walk(nodes: &Value, out: &mut BTreeMap<String, Value>) {
        for n in nodes.as_array().into_iter().flatten() {
            let path = n["path"].as_str().unwrap_or_default();
            for (m, info) in n["info"].as_object().into_iter().flatten() {
                out.insert(format!("{m} {path}"), info.clone());
            }
            walk(&n["children"], out);
        }
    }
    let file = corpus_dir().join("api/pve-api-schema.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let mut out = BTreeMap::new();
    walk(&serde_json::from_str(&text).unwrap(), &mut out);
    out
}

struct Case {
    method: &'static str,
    /// The schema's path; `{param}`s are filled from `path_params`.
    template: &'static str,
    path_params: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static str)],
}

const CASES: &[Case] = &[
    // `allowtoken: 0`: tokens are refused before any permission check.
    Case {
        method: "PUT",
        template: "/access/password",
        path_params: &[],
        params: &[("userid", "target@pve"), ("password", "new-password-1")],
    },
    Case {
        method: "GET",
        template: "/nodes/{node}/time",
        path_params: &[("node", NODE)],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/cluster/nextid",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/cluster/resources",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/cluster/status",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/nodes",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/nodes/{node}/status",
        path_params: &[("node", NODE)],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/nodes/{node}/version",
        path_params: &[("node", NODE)],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/nodes/{node}/dns",
        path_params: &[("node", NODE)],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/nodes/{node}/tasks",
        path_params: &[("node", NODE)],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/access/acl",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "PUT",
        template: "/access/acl",
        path_params: &[],
        params: &[
            ("path", "/vms/100"),
            ("roles", "VMObserver"),
            ("users", "target@pve"),
            ("propagate", "0"),
        ],
    },
    Case {
        method: "PUT",
        template: "/access/acl",
        path_params: &[],
        params: &[
            ("path", "/"),
            ("roles", "VMObserver"),
            ("users", "target@pve"),
            ("propagate", "0"),
            ("delete", "1"),
        ],
    },
    Case {
        method: "GET",
        template: "/access/users/{userid}",
        path_params: &[("userid", "target@pve")],
        params: &[],
    },
    Case {
        method: "POST",
        template: "/access/users",
        path_params: &[],
        params: &[("userid", "new@pve")],
    },
    Case {
        method: "GET",
        template: "/pools",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/pools/{poolid}",
        path_params: &[("poolid", "prod")],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/storage",
        path_params: &[],
        params: &[],
    },
    Case {
        method: "GET",
        template: "/storage/{storage}",
        path_params: &[("storage", "local")],
        params: &[],
    },
];

struct Caller {
    authid: String,
    /// Cookie and CSRF token (users) or the Authorization header (tokens).
    headers: Vec<(&'static str, String)>,
}

fn callers(model: &Model, files: &ConfigFiles) -> Vec<Caller> {
    let mut out = Vec::new();
    for u in model.users.iter().filter(|u| *u != "target@pve") {
        let t = pve_access_control::tickets::assemble_ticket(files, u).unwrap();
        let cookie = format!(
            "PVEAuthCookie={}",
            percent_encoding::utf8_percent_encode(&t, percent_encoding::NON_ALPHANUMERIC)
        );
        let csrf = pve_access_control::csrf::assemble_csrf_token(files, u).unwrap();
        out.push(Caller {
            authid: u.clone(),
            headers: vec![("cookie", cookie), ("CSRFPreventionToken", csrf)],
        });
    }
    for t in &model.tokens {
        out.push(Caller {
            authid: t.id.clone(),
            headers: vec![(
                "authorization",
                format!("PVEAPIToken={}={}", t.id, t.secret),
            )],
        });
    }
    out
}

fn setup(root: &Path, model: &Model) {
    let pve = root.join("etc/pve");
    std::fs::write(pve.join("user.cfg"), model.user_cfg()).unwrap();
    let tokens: String = model
        .tokens
        .iter()
        .map(|t| format!("{} {}\n", t.id, t.secret))
        .collect();
    std::fs::write(pve.join("priv/token.cfg"), tokens).unwrap();
    let vz = root.join("var/lib/vz");
    for d in [
        "images",
        "template/iso",
        "template/cache",
        "dump",
        "snippets",
    ] {
        std::fs::create_dir_all(vz.join(d)).unwrap();
    }
    std::fs::write(
        pve.join("storage.cfg"),
        format!(
            "dir: local\n\tpath {}\n\tcontent iso,vztmpl,backup,images,rootdir\n",
            vz.display()
        ),
    )
    .unwrap();
    let qemu = pve.join("nodes").join(NODE).join("qemu-server");
    std::fs::create_dir_all(&qemu).unwrap();
    for (vmid, name) in [(100, "in-pool"), (101, "outside")] {
        std::fs::write(
            qemu.join(format!("{vmid}.conf")),
            format!("name: {name}\nmemory: 512\ncores: 1\n"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/hosts"),
        format!("127.0.1.1 {NODE}.example {NODE}\n"),
    )
    .unwrap();
}

struct Answer {
    status: u16,
    reason: String,
    body: Option<Value>,
}

async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    params: &[(&str, &str)],
) -> Answer {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut c = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    c.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let ssl = c
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    std::pin::Pin::new(&mut s).connect().await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    let form: String = params
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&");
    let in_query = matches!(method, "GET" | "DELETE");
    let uri = if in_query && !form.is_empty() {
        format!("/api2/json{path}?{form}")
    } else {
        format!("/api2/json{path}")
    };
    let mut r = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "localhost");
    for (k, v) in headers {
        r = r.header(*k, v.as_str());
    }
    let body = if in_query { String::new() } else { form };
    if !body.is_empty() {
        r = r.header("content-type", "application/x-www-form-urlencoded");
    }
    sender.ready().await.unwrap();
    let resp = sender
        .send_request(r.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let reason = resp
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .or_else(|| resp.status().canonical_reason().map(str::to_string))
        .unwrap_or_default();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap_or(Value::Null));
    Answer {
        status,
        reason,
        body,
    }
}

/// What a `user: all` list shows `authid`, as upstream's handlers filter it.
fn visible(model: &Model, authid: &str, case: &Case) -> Option<BTreeSet<String>> {
    let (pool, _, _) = POOL;
    let mut set = BTreeSet::new();
    if case.method != "GET" {
        return None;
    }
    match case.template {
        "/cluster/resources" => {
            for vmid in [100, 101] {
                if model.has(authid, &format!("/vms/{vmid}"), &["VM.Audit"], false) {
                    set.insert(format!("qemu/{vmid}"));
                }
            }
            // Nodes are always listed (their usage only with Sys.Audit).
            let audit = model.has(authid, &format!("/nodes/{NODE}"), &["Sys.Audit"], false);
            set.insert(format!("node/{NODE} stats={audit}"));
            if model.has(
                authid,
                "/storage/local",
                &["Datastore.Audit", "Datastore.AllocateSpace"],
                true,
            ) {
                set.insert(format!("storage/{NODE}/local"));
            }
            if model.has(authid, &format!("/pool/{pool}"), &["Pool.Audit"], false) {
                set.insert(format!("/pool/{pool}"));
            }
        }
        "/pools" => {
            if model.has(authid, &format!("/pool/{pool}"), &["Pool.Audit"], false) {
                set.insert(pool.to_string());
            }
        }
        "/storage" => {
            if model.has(
                authid,
                "/storage/local",
                &["Datastore.Audit", "Datastore.AllocateSpace"],
                true,
            ) {
                set.insert("local".into());
            }
        }
        "/access/acl" => {
            let audit = model.has(authid, "/access", &["Sys.Audit"], false);
            for a in &model.acls {
                if audit || model.can_modify_acl(authid, &a.path) {
                    // Groups are listed by name (type `group`), without the `@`.
                    let ugid = a.who.strip_prefix('@').unwrap_or(&a.who);
                    set.insert(format!("{} {ugid} {}", a.path, a.role));
                }
            }
        }
        _ => return None,
    }
    Some(set)
}

fn shown(case: &Case, data: &Value) -> BTreeSet<String> {
    let list = data.as_array().cloned().unwrap_or_default();
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    list.iter()
        .filter_map(|e| match case.template {
            "/cluster/resources" => match e["type"].as_str() {
                Some("node") => Some(format!(
                    "{} stats={}",
                    s(e, "id"),
                    e.get("maxmem").is_some()
                )),
                Some("network" | "sdn") => None,
                _ => Some(s(e, "id")),
            },
            "/pools" => Some(s(e, "poolid")),
            "/storage" => Some(s(e, "storage")),
            "/access/acl" => Some(format!(
                "{} {} {}",
                s(e, "path"),
                s(e, "ugid"),
                s(e, "roleid")
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_matches_upstream() {
    let schema = schema_index();
    let model = Model::new();
    let root = common::node_root("permission-matrix");
    setup(&root, &model);
    let files = ConfigFiles::new(NodePaths::new(&root));
    let callers = callers(&model, &files);
    let servers = common::start_servers(&root, NODE).await;

    let mut failures = Vec::new();
    let mut total = 0;
    for caller in &callers {
        for case in CASES {
            total += 1;
            let key = format!("{} {}", case.method, case.template);
            let info = schema
                .get(&key)
                .unwrap_or_else(|| panic!("{key} not in the schema"));
            let mut params: BTreeMap<String, String> = BTreeMap::new();
            let mut path = case.template.to_string();
            for (k, v) in case.path_params {
                path = path.replace(&format!("{{{k}}}"), v);
                params.insert(k.to_string(), v.to_string());
            }
            for (k, v) in case.params {
                params.insert(k.to_string(), v.to_string());
            }
            let token_refused =
                caller.authid.contains('!') && info.get("allowtoken").is_some_and(|v| v == 0);
            let allowed =
                !token_refused && model.allows(info.get("permissions"), &caller.authid, &params);
            let a = call(
                servers.proxy,
                case.method,
                &path,
                &caller.headers,
                case.params,
            )
            .await;
            let what = format!("{} {key} {:?}", caller.authid, case.params);
            if allowed {
                if a.status != 200 {
                    failures.push(format!(
                        "{what}: expected 200, got {} {}",
                        a.status, a.reason
                    ));
                    continue;
                }
                let data = a.body.as_ref().map_or(Value::Null, |b| b["data"].clone());
                if let Some(expected) = visible(&model, &caller.authid, case) {
                    let got = shown(case, &data);
                    if got != expected {
                        failures.push(format!("{what}: expected to see {expected:?}, got {got:?}"));
                    }
                }
            } else if a.status != 403
                || (!a.reason.starts_with("Permission check failed") && !token_refused)
            {
                failures.push(format!(
                    "{what}: expected 403 Permission check failed, got {} {}",
                    a.status, a.reason
                ));
            }
        }
    }
    servers.shutdown().await;
    let _ = std::fs::remove_dir_all(&root);
    println!(
        "permission matrix: {}/{total} passed",
        total - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} differ from upstream:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
