//! Checks over the whole API tree (the tree-walk test) and against the upstream schema.

use std::collections::BTreeSet;

use pve_common::api::router::Children;
use pve_common::api::HttpMethod;

#[test]
fn every_method_is_well_formed() {
    let root = super::root();
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    root.walk(&mut |path, router| {
        if let Children::Dirs(dirs) = router.children() {
            for name in dirs.keys() {
                if name.is_empty() || name.contains('/') || name.starts_with('{') {
                    problems.push(format!("{path}: bad sub-directory name '{name}'"));
                }
            }
        }
        let params: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for m in router.methods() {
            let id = format!("{} {path}", m.method);
            if !seen.insert(id.clone()) {
                problems.push(format!("{id}: duplicate"));
            }
            // (Upstream leaves a few descriptions empty, so only the name is required.)
            if m.name.is_empty() {
                problems.push(format!("{id}: name is required"));
            }
            // (Upstream marks a few path parameters optional, e.g. `storage` of
            // `…/content/{volume}`; presence is what routing needs.)
            for p in &params {
                if m.param_schema(p).is_none() {
                    problems.push(format!("{id}: path parameter '{p}' not in the schema"));
                }
            }
            // Schemas must be valid: they round-trip through their JSON form.
            for (what, s) in [("parameters", &m.parameters), ("returns", &m.returns)] {
                let back = pve_common::schema::Schema::from_value(&s.to_value());
                if back.ok().as_ref() != Some(s) {
                    problems.push(format!("{id}: {what} schema does not round-trip"));
                }
            }
            if m.proxyto
                .as_deref()
                .is_some_and(|p| m.param_schema(p).is_none())
            {
                problems.push(format!("{id}: proxyto names an unknown parameter"));
            }
            // A missing declaration is allowed (root only) but must be deliberate: only
            // methods that upstream keeps root-only may omit it.
            if m.permissions.is_none() && m.method == HttpMethod::Get {
                problems.push(format!("{id}: GET method without permission declaration"));
            }
        }
    });
    assert!(
        problems.is_empty(),
        "API tree problems:\n{}",
        problems.join("\n")
    );
    assert!(seen.contains("GET /version"));
}
