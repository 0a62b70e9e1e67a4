//! The route tree. Each level either has fixed sub-directories or one `{param}` match
//! (never both, as upstream enforces), plus the methods served at that path. Crates
//! build routers for their subtree; pve-manager mounts them at upstream's paths.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::method::{ApiMethod, HttpMethod};

#[derive(Clone, Debug, Default)]
pub enum Children {
    #[default]
    None,
    Dirs(BTreeMap<String, Router>),
    Param {
        name: String,
        router: Box<Router>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Router {
    /// Sorted by HTTP method, at most one each. A vector of exactly the methods served
    /// here: a map's node would hold room for eleven methods (about 19 KB) at every path.
    methods: Vec<ApiMethod>,
    children: Children,
}

/// A path resolved to its router, with the values of its `{param}` segments and the
/// path template (`/nodes/{node}/tasks`).
pub struct Resolved<'a> {
    pub router: &'a Router,
    pub path_params: Map<String, Value>,
    pub template: String,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `m` at this path. Registering one HTTP method twice is a programming error
    /// and panics at start-up (the tree-walk test catches it).
    pub fn method(mut self, m: ApiMethod) -> Self {
        let key = m.method;
        match self.methods.binary_search_by_key(&key, |x| x.method) {
            Ok(i) => panic!(
                "duplicate method definition {key} (method '{}')",
                self.methods[i].name
            ),
            Err(i) => self.methods.insert(i, m),
        }
        self.methods.shrink_to_fit();
        self
    }

    /// Mounts `router` at the fixed sub-directory `name`.
    pub fn subdir(mut self, name: &str, router: Router) -> Self {
        match &mut self.children {
            Children::None => {
                self.children = Children::Dirs(BTreeMap::from([(name.to_string(), router)]))
            }
            Children::Dirs(dirs) => {
                if dirs.insert(name.to_string(), router).is_some() {
                    panic!("duplicate sub-directory '{name}'");
                }
            }
            Children::Param { .. } => panic!("path match error - regex and fixed items ('{name}')"),
        }
        self
    }

    /// Mounts `router` at `{name}`: any single path segment, passed as parameter `name`.
    pub fn match_param(mut self, name: &str, router: Router) -> Self {
        if !matches!(self.children, Children::None) {
            panic!("path match error - regex and fixed items ('{{{name}}}')");
        }
        self.children = Children::Param {
            name: name.to_string(),
            router: Box::new(router),
        };
        self
    }

    pub fn methods(&self) -> impl Iterator<Item = &ApiMethod> {
        self.methods.iter()
    }

    pub fn get_method(&self, m: HttpMethod) -> Option<&ApiMethod> {
        self.methods.iter().find(|x| x.method == m)
    }

    pub fn children(&self) -> &Children {
        &self.children
    }

    /// Whether this path has sub-paths.
    pub fn has_children(&self) -> bool {
        !matches!(self.children, Children::None)
    }

    /// Finds the router for `path` (empty segments are skipped, as upstream does).
    pub fn resolve(&self, path: &str) -> Option<Resolved<'_>> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.resolve_segments(&segments)
    }

    /// Finds the router for a path given as its segments, already decoded: a request's
    /// path is split at its `/` first and each segment percent-decoded then, so that a
    /// `{param}` may hold an encoded `/` (volume ids like `local:100/vm-100-disk-0.qcow2`).
    pub fn resolve_segments(&self, segments: &[&str]) -> Option<Resolved<'_>> {
        let mut router = self;
        let mut path_params = Map::new();
        let mut template = String::new();
        for seg in segments.iter().copied().filter(|s| !s.is_empty()) {
            router = match &router.children {
                Children::None => return None,
                Children::Dirs(dirs) => {
                    template.push('/');
                    template.push_str(seg);
                    dirs.get(seg)?
                }
                Children::Param { name, router } => {
                    // Upstream's default match is `\S+`: no whitespace in a segment.
                    if seg.chars().any(char::is_whitespace) {
                        return None;
                    }
                    path_params.insert(name.clone(), Value::String(seg.to_string()));
                    template.push_str(&format!("/{{{name}}}"));
                    router
                }
            };
        }
        Some(Resolved {
            router,
            path_params,
            template,
        })
    }

    /// Finds the method serving `method path`.
    pub fn find(&self, method: HttpMethod, path: &str) -> Option<(&ApiMethod, Resolved<'_>)> {
        let resolved = self.resolve(path)?;
        let m = resolved.router.get_method(method)?;
        Some((m, resolved))
    }

    /// [`Self::find`] for a path given as decoded segments.
    pub fn find_segments(
        &self,
        method: HttpMethod,
        segments: &[&str],
    ) -> Option<(&ApiMethod, Resolved<'_>)> {
        let resolved = self.resolve_segments(segments)?;
        let m = resolved.router.get_method(method)?;
        Some((m, resolved))
    }

    /// Visits every path of the tree (depth first, sorted), with its template.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&str, &'a Router)) {
        self.walk_from(String::new(), visit);
    }

    fn walk_from<'a>(&'a self, prefix: String, visit: &mut dyn FnMut(&str, &'a Router)) {
        visit(&prefix, self);
        match &self.children {
            Children::None => {}
            Children::Dirs(dirs) => {
                for (name, r) in dirs {
                    r.walk_from(format!("{prefix}/{name}"), visit);
                }
            }
            Children::Param { name, router } => {
                router.walk_from(format!("{prefix}/{{{name}}}"), visit)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::method::{ApiResponse, HttpMethod};

    fn tree() -> Router {
        let get = ApiMethod::new("content", HttpMethod::Get, "x", |_, _| {
            Ok(ApiResponse::default())
        });
        Router::new().subdir(
            "content",
            Router::new().match_param("volume", Router::new().method(get)),
        )
    }

    #[test]
    fn decoded_segments_may_hold_slashes() {
        let t = tree();
        let (_, r) = t
            .find_segments(
                HttpMethod::Get,
                &["content", "local:100/vm-100-disk-0.qcow2"],
            )
            .unwrap();
        assert_eq!(r.path_params["volume"], "local:100/vm-100-disk-0.qcow2");
        assert_eq!(r.template, "/content/{volume}");
        // Split as a plain path, the slash is a separator.
        assert!(t
            .find(HttpMethod::Get, "/content/local:100/vm-100-disk-0.qcow2")
            .is_none());
        assert!(t.find(HttpMethod::Get, "//content//x").is_some());
    }
}
