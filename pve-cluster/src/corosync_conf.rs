//! corosync.conf as upstream's `PVE::Corosync::parse_conf` reads it: sections become
//! objects, `node` and `interface` sections repeat, every value stays a string; then the
//! node list is keyed by node name (or ring0 address) and the totem interfaces by link
//! number. The digest is the SHA-1 of the raw text.

use serde_json::{Map, Value};

/// Sections that may repeat.
const MULTI: [&str; 2] = ["node", "interface"];

/// The parsed configuration: `{"main": {...}, "digest": "..."}`.
pub fn parse(raw: &str) -> Result<Value, String> {
    let digest = openssl::sha::sha1(raw.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let text: String = raw
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let tokens: Vec<&str> = text.split_whitespace().collect();
    // A stack of open sections: (name, object) pairs; index 0 is "main".
    let mut stack: Vec<(String, Map<String, Value>)> = vec![("main".into(), Map::new())];
    let mut i = 0;
    while i < tokens.len() {
        let tok = tokens[i];
        let next = tokens.get(i + 1).copied();
        if next == Some("{") {
            let parent = &stack.last().expect("main stays").1;
            if !MULTI.contains(&tok) && parent.contains_key(tok) {
                return Err(format!(
                    "section '{tok}' already exists and not marked as multi-section"
                ));
            }
            stack.push((tok.to_string(), Map::new()));
            i += 2;
            continue;
        }
        if tok == "}" {
            if stack.len() < 2 {
                return Err("parse error - uncexpected '}'".into());
            }
            let (name, section) = stack.pop().expect("checked");
            let parent = &mut stack.last_mut().expect("checked").1;
            if MULTI.contains(&name.as_str()) {
                let list = parent
                    .entry(name)
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = list {
                    a.push(Value::Object(section));
                }
            } else {
                parent.insert(name, Value::Object(section));
            }
            i += 1;
            continue;
        }
        let Some(key) = tok.strip_suffix(':') else {
            return Err(format!("missing ':' after key '{tok}'"));
        };
        let Some(value) = next else {
            return Err(format!("parse error - no value for '{key}'"));
        };
        stack
            .last_mut()
            .expect("main stays")
            .1
            .insert(key.to_string(), Value::String(value.to_string()));
        i += 2;
    }
    if stack.len() != 1 {
        return Err("parse error - missing '}'".into());
    }
    let mut main = stack.pop().expect("main").1;
    // Key the node list and the totem interfaces, as upstream does after parsing.
    if let Some(Value::Object(nodelist)) = main.get_mut("nodelist") {
        let nodes = match nodelist.remove("node") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut keyed = Map::new();
        for n in nodes {
            let key = n["name"]
                .as_str()
                .or_else(|| n["ring0_addr"].as_str())
                .unwrap_or_default()
                .to_string();
            keyed.insert(key, n);
        }
        nodelist.insert("node".into(), Value::Object(keyed));
    }
    if let Some(Value::Object(totem)) = main.get_mut("totem") {
        let ifaces = match totem.remove("interface") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut keyed = Map::new();
        for n in ifaces {
            let key = n["linknumber"]
                .as_str()
                .or_else(|| n["ringnumber"].as_str())
                .unwrap_or_default()
                .to_string();
            keyed.insert(key, n);
        }
        totem.insert("interface".into(), Value::Object(keyed));
    }
    let mut conf = Map::new();
    conf.insert("main".into(), Value::Object(main));
    conf.insert("digest".into(), Value::String(digest));
    Ok(Value::Object(conf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CONF: &str = "logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n  node {\n    name: pve1\n    nodeid: 1\n    quorum_votes: 1\n    ring0_addr: 10.0.0.1\n  }\n  node {\n    name: pve2 # second\n    nodeid: 2\n    quorum_votes: 1\n    ring0_addr: 10.0.0.2\n  }\n}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: demo\n  config_version: 3\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n";

    #[test]
    fn sections_nodes_and_links() {
        let c = parse(CONF).unwrap();
        assert_eq!(
            c["main"]["nodelist"]["node"]["pve2"]["ring0_addr"],
            "10.0.0.2"
        );
        assert_eq!(c["main"]["nodelist"]["node"]["pve1"]["nodeid"], "1");
        assert_eq!(
            c["main"]["totem"],
            json!({"cluster_name": "demo", "config_version": "3", "interface": {"0": {"linknumber": "0"}}, "ip_version": "ipv4-6", "link_mode": "passive", "secauth": "on", "version": "2"})
        );
        assert_eq!(c["main"]["quorum"]["provider"], "corosync_votequorum");
        assert_eq!(c["digest"].as_str().unwrap().len(), 40);
    }

    #[test]
    fn errors() {
        assert!(parse("totem { a: 1 }\ntotem { b: 2 }\n")
            .unwrap_err()
            .contains("already exists"));
        assert!(parse("a 1\n").unwrap_err().contains("missing ':'"));
        assert!(parse("}\n").unwrap_err().contains("uncexpected"));
        assert!(parse("a:").unwrap_err().contains("no value"));
    }
}
