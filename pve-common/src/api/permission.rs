//! Permissions as data on each API method, in upstream's shape.
//!
//! Upstream writes `permissions => { check => ['perm', '/vms/{vmid}', ['VM.Audit']] }`,
//! `{ user => 'all' }`, `{ user => 'world' }`, optionally with a `description`; no
//! `permissions` at all means root@pam only. [`Permissions`] holds exactly that and
//! serializes to the same JSON as the API dump. The check itself is evaluated in one
//! place (the HTTP layer, against the ACL tree of pve-access-control), never by hand in
//! a handler.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

/// `user => 'all' | 'world'`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserRequirement {
    /// Any authenticated user or token; the handler may check more itself.
    All,
    /// No login needed.
    World,
}

/// One node of a `check` expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// `['perm', PATH, [PRIVS], any => 1, require_param => NAME]`: `{param}` in PATH is
    /// taken from the request; all privileges are needed unless `any`.
    Perm {
        path: String,
        privs: Vec<String>,
        any: bool,
        require_param: Option<String>,
    },
    And(Vec<Check>),
    Or(Vec<Check>),
    /// `['userid-group', [PRIVS], groups_param => NAME]`.
    UseridGroup {
        privs: Vec<String>,
        groups_param: Option<String>,
    },
    /// `['userid-param', 'self' | 'Realm.AllocateUser']`.
    UseridParam(String),
    /// `['perm-modify', PATH]`.
    PermModify(String),
}

impl Check {
    /// `['perm', path, privs]` needing all of `privs`.
    pub fn perm(path: &str, privs: &[&str]) -> Self {
        Check::Perm {
            path: path.to_string(),
            privs: privs.iter().map(|p| p.to_string()).collect(),
            any: false,
            require_param: None,
        }
    }

    /// `['perm', path, privs, any => 1]`.
    pub fn perm_any(path: &str, privs: &[&str]) -> Self {
        match Self::perm(path, privs) {
            Check::Perm {
                path,
                privs,
                require_param,
                ..
            } => Check::Perm {
                path,
                privs,
                any: true,
                require_param,
            },
            other => other,
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Check::Perm {
                path,
                privs,
                any,
                require_param,
            } => {
                let mut v = vec![json!("perm"), json!(path), json!(privs)];
                if *any {
                    v.extend([json!("any"), json!(1)]);
                }
                if let Some(p) = require_param {
                    v.extend([json!("require_param"), json!(p)]);
                }
                Value::Array(v)
            }
            Check::And(list) | Check::Or(list) => {
                let op = if matches!(self, Check::And(_)) {
                    "and"
                } else {
                    "or"
                };
                let mut v = vec![json!(op)];
                v.extend(list.iter().map(Check::to_value));
                Value::Array(v)
            }
            Check::UseridGroup {
                privs,
                groups_param,
            } => {
                let mut v = vec![json!("userid-group"), json!(privs)];
                if let Some(g) = groups_param {
                    v.extend([json!("groups_param"), json!(g)]);
                }
                Value::Array(v)
            }
            Check::UseridParam(what) => json!(["userid-param", what]),
            Check::PermModify(path) => json!(["perm-modify", path]),
        }
    }

    fn from_value(v: &Value) -> Result<Self, String> {
        let list = v
            .as_array()
            .ok_or_else(|| format!("check is not a list: {v}"))?;
        let op = list
            .first()
            .and_then(Value::as_str)
            .ok_or("check without operator")?;
        let strings = |v: &Value| -> Result<Vec<String>, String> {
            v.as_array()
                .ok_or_else(|| format!("'{op}' needs a privilege list"))?
                .iter()
                .map(|p| {
                    p.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| "privilege is no string".into())
                })
                .collect()
        };
        // Trailing `key, value` option pairs.
        let option = |from: usize, key: &str| -> Option<&Value> {
            list.get(from..)?
                .chunks(2)
                .find(|c| c[0].as_str() == Some(key))
                .and_then(|c| c.get(1))
        };
        let text = |i: usize| -> Result<String, String> {
            list.get(i)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("'{op}' needs a string argument"))
        };
        Ok(match op {
            "perm" => Check::Perm {
                path: text(1)?,
                privs: strings(list.get(2).unwrap_or(&Value::Null))?,
                any: option(3, "any").is_some_and(crate::schema::perl_truthy),
                require_param: option(3, "require_param")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "and" | "or" => {
                let subs = list[1..]
                    .iter()
                    .map(Check::from_value)
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "and" {
                    Check::And(subs)
                } else {
                    Check::Or(subs)
                }
            }
            "userid-group" => Check::UseridGroup {
                privs: strings(list.get(1).unwrap_or(&Value::Null))?,
                groups_param: option(2, "groups_param")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "userid-param" => Check::UseridParam(text(1)?),
            "perm-modify" => Check::PermModify(text(1)?),
            other => return Err(format!("unknown permission check '{other}'")),
        })
    }
}

/// The `permissions` member of a method. `None` on the method means root only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub description: Option<String>,
    pub user: Option<UserRequirement>,
    pub check: Option<Check>,
}

impl Permissions {
    /// `{ check => … }`.
    pub fn check(check: Check) -> Self {
        Self {
            check: Some(check),
            ..Default::default()
        }
    }
    /// `{ user => 'all' }`.
    pub fn all_users() -> Self {
        Self {
            user: Some(UserRequirement::All),
            ..Default::default()
        }
    }
    /// `{ user => 'world' }`.
    pub fn world() -> Self {
        Self {
            user: Some(UserRequirement::World),
            ..Default::default()
        }
    }
    pub fn with_description(mut self, text: &str) -> Self {
        self.description = Some(text.to_string());
        self
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = serde_json::Map::new();
        if let Some(c) = &self.check {
            map.insert("check".into(), c.to_value());
        }
        if let Some(d) = &self.description {
            map.insert("description".into(), json!(d));
        }
        if let Some(u) = &self.user {
            map.insert("user".into(), json!(u));
        }
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let err = serde::de::Error::custom;
        let check = v
            .get("check")
            .map(Check::from_value)
            .transpose()
            .map_err(err)?;
        let user = v
            .get("user")
            .map(|u| UserRequirement::deserialize(u).map_err(|e| err(e.to_string())))
            .transpose()?;
        let description = v
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Permissions {
            description,
            user,
            check,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_shapes_round_trip() {
        for text in [
            r#"{"user":"all"}"#,
            r#"{"check":["perm","/",["Sys.Audit","Datastore.Audit"],"any",1]}"#,
            r#"{"check":["or",["userid-param","self"],["and",["userid-param","Realm.AllocateUser"],["userid-group",["User.Modify"]]]],"description":"x"}"#,
            r#"{"check":["userid-group",["User.Modify"],"groups_param","update"]}"#,
            r#"{"check":["perm-modify","{path}"]}"#,
            r#"{"check":["perm","/",["Sys.Audit"]],"user":"all"}"#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let p: Permissions = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(&p).unwrap(), v, "{text}");
        }
        assert!(serde_json::from_str::<Permissions>(r#"{"check":["bogus"]}"#).is_err());
        assert!(serde_json::from_str::<Permissions>(r#"{"check":[]}"#).is_err());
    }
}
