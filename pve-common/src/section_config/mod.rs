//! The SectionConfig file format (upstream `PVE::SectionConfig`).
//!
//! A section config file holds several typed sections (keys are indented by a tab in the
//! real file):
//!
//! ```text
//! dir: local
//!     path /var/lib/vz
//!     content iso,backup
//!
//! nfs: shared
//!     server 10.0.0.1
//! ```
//!
//! Each section type is a *plugin* that names the properties it uses (its `options`) and
//! may define new ones. [`SectionConfig`] holds the plugin set, parses and writes files
//! ([`SectionConfig::parse`], [`SectionConfig::write`]) and derives the API schemas for
//! creating and updating sections ([`SectionConfig::create_schema`],
//! [`SectionConfig::update_schema`]).
//!
//! Two modes exist, as upstream:
//! - *unified*: plugin properties join one shared property list (a name may be defined
//!   only once, and plugin-defined properties are always optional in the shared list);
//! - *property isolation*: each plugin keeps its own property definitions, so two plugins
//!   may define the same name differently; the API schema becomes `oneOf` by `type`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::{perl_truthy, JsonType, Schema, TypeSpec};

mod parse;
mod schema;
mod value;
mod write;

pub use parse::{digest, Diagnostic, DiagnosticKind, SectionConfigData};
pub use schema::config_digest_schema;

/// Errors of building a plugin set, writing a config or generating a schema. Texts follow
/// upstream's `die` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SectionConfigError {
    /// The plugin set is inconsistent (duplicate type or property, undefined option).
    #[error("{0}")]
    Definition(String),
    /// Strict parsing found problems; each entry is one upstream warning line.
    #[error("{}", .0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"))]
    Parse(Vec<Diagnostic>),
    /// Writing failed (unknown type, missing required option, line feed in a value, …).
    #[error("{0}")]
    Write(String),
    /// A section does not pass `check_config` (fixed option changed, missing option, …).
    #[error("{0}")]
    Check(String),
    /// Schema generation is not possible with the given arguments.
    #[error("{0}")]
    Schema(String),
}

/// How a plugin uses one property: upstream's `options` entry `{optional, fixed}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionSpec {
    /// The key may be absent.
    #[serde(default, with = "crate::schema::perl_bool")]
    pub optional: bool,
    /// The key may only be set when the section is created.
    #[serde(default, with = "crate::schema::perl_bool")]
    pub fixed: bool,
}

impl OptionSpec {
    /// A required, modifiable option.
    pub const REQUIRED: Self = Self {
        optional: false,
        fixed: false,
    };
    /// An optional, modifiable option.
    pub const OPTIONAL: Self = Self {
        optional: true,
        fixed: false,
    };
    /// A required option that is set on creation only.
    pub const FIXED: Self = Self {
        optional: false,
        fixed: true,
    };
    /// An optional option that is set on creation only.
    pub const OPTIONAL_FIXED: Self = Self {
        optional: true,
        fixed: true,
    };
}

/// One section type: its name, the properties it defines and the options it uses.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    #[serde(skip)]
    pub type_name: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Schema>,
    #[serde(default)]
    pub options: BTreeMap<String, OptionSpec>,
    /// Opts this plugin into property isolation while the config as a whole is unified
    /// (upstream's `isolate-properties` plugin data).
    #[serde(
        rename = "isolate-properties",
        default,
        with = "crate::schema::perl_bool"
    )]
    pub isolate_properties: bool,
    /// Which properties of an isolating plugin other plugins may still use.
    #[serde(rename = "expose-properties", default)]
    pub expose_properties: Exposed,
}

/// Upstream's `expose-properties`: all or none (a boolean), or the named ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Exposed {
    // the map first: the boolean form accepts any value
    Some(BTreeMap<String, Value>),
    All(#[serde(with = "crate::schema::perl_bool")] bool),
}

impl Default for Exposed {
    fn default() -> Self {
        Exposed::All(false)
    }
}

impl Exposed {
    fn exposes(&self, name: &str) -> bool {
        match self {
            Exposed::All(all) => *all,
            Exposed::Some(names) => names.get(name).is_some_and(perl_truthy),
        }
    }
}

impl Plugin {
    pub fn new(type_name: &str) -> Self {
        Self {
            type_name: type_name.to_string(),
            ..Default::default()
        }
    }

    /// Builder: defines a property of this plugin.
    pub fn property(mut self, name: &str, schema: Schema) -> Self {
        self.properties.insert(name.to_string(), schema);
        self
    }

    /// Builder: declares that the plugin uses `name` (defined here, by the base or, in
    /// unified mode, by another plugin).
    pub fn option(mut self, name: &str, spec: OptionSpec) -> Self {
        self.options.insert(name.to_string(), spec);
        self
    }

    /// Builder: isolates this plugin's properties in a unified config.
    pub fn isolate_properties(mut self, exposed: Exposed) -> Self {
        self.isolate_properties = true;
        self.expose_properties = exposed;
        self
    }

    /// Builder: defines a property and uses it with `spec` in one go.
    pub fn property_option(self, name: &str, schema: Schema, spec: OptionSpec) -> Self {
        self.property(name, schema).option(name, spec)
    }
}

/// Checks a section id from a header before the section is read; an `Err` skips the
/// section with the message (upstream's `parse_section_header` override hook).
pub type SectionIdCheck = fn(&str) -> Result<(), String>;

/// Collects the base properties and plugins, then [`build`](Self::build)s the config.
#[derive(Clone, Debug, Default)]
pub struct SectionConfigBuilder {
    base: BTreeMap<String, Schema>,
    isolation: bool,
    plugins: Vec<Plugin>,
    id_check: Option<SectionIdCheck>,
}

impl SectionConfigBuilder {
    /// Builder: adds a base property (upstream's `propertyList` of the base plugin).
    pub fn base_property(mut self, name: &str, schema: Schema) -> Self {
        self.base.insert(name.to_string(), schema);
        self
    }

    /// Builder: selects property-isolation mode.
    pub fn property_isolation(mut self, on: bool) -> Self {
        self.isolation = on;
        self
    }

    /// Builder: registers a plugin.
    pub fn plugin(mut self, plugin: Plugin) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Builder: validates section ids while parsing.
    pub fn section_id_check(mut self, check: SectionIdCheck) -> Self {
        self.id_check = Some(check);
        self
    }

    /// Registers the plugins and derives the property lists (upstream's `init`).
    pub fn build(self) -> Result<SectionConfig, SectionConfigError> {
        SectionConfig::init(self)
    }
}

/// A registered plugin set, ready to parse and write files and to generate API schemas.
#[derive(Clone, Debug)]
pub struct SectionConfig {
    /// The base properties as given.
    base: BTreeMap<String, Schema>,
    /// The shared property list: the base properties, `type`, and in unified mode every
    /// plugin property (forced optional).
    property_list: BTreeMap<String, Schema>,
    /// In isolation mode: each type's own property definitions.
    isolated: BTreeMap<String, BTreeMap<String, Schema>>,
    /// The options of each type (isolation mode adds the plugin's own properties).
    options: BTreeMap<String, BTreeMap<String, OptionSpec>>,
    /// Isolation mode: required base properties that no plugin uses; every section must
    /// carry them, so the schemas list them beside the `oneOf`.
    common: BTreeMap<String, Schema>,
    id_check: Option<SectionIdCheck>,
}

/// The JSON shape the conformance corpus uses for a plugin set.
#[derive(Deserialize)]
struct JsonDefinition {
    base: JsonBase,
    #[serde(default)]
    plugins: BTreeMap<String, Plugin>,
}

#[derive(Deserialize)]
struct JsonBase {
    #[serde(rename = "propertyList", default)]
    property_list: BTreeMap<String, Schema>,
    #[serde(
        rename = "propertyIsolation",
        default,
        with = "crate::schema::perl_bool"
    )]
    property_isolation: bool,
}

impl SectionConfig {
    pub fn builder() -> SectionConfigBuilder {
        SectionConfigBuilder::default()
    }

    /// Builds a config from `{base: {propertyList, propertyIsolation?}, plugins: {type:
    /// {properties, options}}}`. `force_isolation` turns isolation on even when the base
    /// does not ask for it (upstream's deprecated `init(property_isolation => 1)`).
    pub fn from_json(def: &Value, force_isolation: bool) -> Result<Self, SectionConfigError> {
        // plugin data may also sit under `plugindata`, as upstream keeps it
        let mut def = def.clone();
        if let Some(plugins) = def.get_mut("plugins").and_then(Value::as_object_mut) {
            for plugin in plugins.values_mut().filter_map(Value::as_object_mut) {
                if let Some(Value::Object(data)) = plugin.remove("plugindata") {
                    for key in ["isolate-properties", "expose-properties"] {
                        if let Some(v) = data.get(key) {
                            plugin.entry(key).or_insert_with(|| v.clone());
                        }
                    }
                }
            }
        }
        let def = JsonDefinition::deserialize(&def)
            .map_err(|e| SectionConfigError::Definition(format!("invalid definition: {e}")))?;
        let mut builder =
            Self::builder().property_isolation(def.base.property_isolation || force_isolation);
        builder.base = def.base.property_list;
        for (name, mut plugin) in def.plugins {
            plugin.type_name = name;
            builder = builder.plugin(plugin);
        }
        builder.build()
    }

    fn init(b: SectionConfigBuilder) -> Result<Self, SectionConfigError> {
        let def_err = SectionConfigError::Definition;
        let mut plugins: BTreeMap<String, Plugin> = BTreeMap::new();
        for p in b.plugins {
            if p.type_name.is_empty() || p.type_name.chars().any(char::is_whitespace) {
                return Err(def_err(format!("invalid plugin type '{}'", p.type_name)));
            }
            if plugins.contains_key(&p.type_name) {
                return Err(def_err(format!(
                    "duplicate plugin registration (type = {})",
                    p.type_name
                )));
            }
            plugins.insert(p.type_name.clone(), p);
        }

        let mut cfg = SectionConfig {
            property_list: b.base.clone(),
            base: b.base,
            isolated: BTreeMap::new(),
            options: BTreeMap::new(),
            common: BTreeMap::new(),
            id_check: b.id_check,
        };

        if b.isolation || plugins.values().any(|p| p.isolate_properties) {
            cfg.init_isolated(&plugins, b.isolation)?;
        } else {
            cfg.init_unified(&plugins)?;
        }

        let type_prop = cfg.property_list.entry("type".to_string()).or_default();
        type_prop.type_ = Some(TypeSpec::One(JsonType::String));
        type_prop.enum_ = Some(plugins.keys().map(|t| Value::String(t.clone())).collect());
        Ok(cfg)
    }

    fn init_unified(
        &mut self,
        plugins: &BTreeMap<String, Plugin>,
    ) -> Result<(), SectionConfigError> {
        for plugin in plugins.values() {
            for (name, schema) in &plugin.properties {
                if self.property_list.contains_key(name) {
                    return Err(SectionConfigError::Definition(format!(
                        "duplicate property '{name}'"
                    )));
                }
                let mut schema = schema.clone();
                schema.optional = Some(true);
                self.property_list.insert(name.clone(), schema);
            }
        }
        for plugin in plugins.values() {
            if let Some(name) = plugin
                .options
                .keys()
                .find(|k| !self.property_list.contains_key(*k))
            {
                return Err(SectionConfigError::Definition(format!(
                    "undefined property '{name}'"
                )));
            }
            self.options
                .insert(plugin.type_name.clone(), plugin.options.clone());
        }
        Ok(())
    }

    /// Isolation globally (`global`) or for the plugins that opt in: isolating plugins keep
    /// their own definitions; in mixed mode the others share one list as in unified mode
    /// (without forcing optional), plus what isolating plugins expose.
    fn init_isolated(
        &mut self,
        plugins: &BTreeMap<String, Plugin>,
        global: bool,
    ) -> Result<(), SectionConfigError> {
        let def_err = SectionConfigError::Definition;
        // the plugin a property name comes from, for error messages
        let mut origin: BTreeMap<&str, &str> = BTreeMap::new();
        for plugin in plugins.values() {
            let isolates = global || plugin.isolate_properties;
            if isolates {
                self.isolated
                    .insert(plugin.type_name.clone(), plugin.properties.clone());
            }
            for (name, schema) in &plugin.properties {
                let exposed = !plugin.isolate_properties || plugin.expose_properties.exposes(name);
                if !global && exposed {
                    if self.property_list.contains_key(name) {
                        let o = origin.get(name.as_str()).copied().unwrap_or("<base>");
                        return Err(def_err(format!(
                            "duplicate property '{name}' - already defined in '{o}'"
                        )));
                    }
                    self.property_list.insert(name.clone(), schema.clone());
                    origin.insert(name, &plugin.type_name);
                } else {
                    origin.entry(name).or_insert(&plugin.type_name);
                }
            }
        }

        let mut used: BTreeSet<String> = BTreeSet::from(["type".to_string()]);
        for plugin in plugins.values() {
            let isolates = global || plugin.isolate_properties;
            let shared = if plugin.isolate_properties {
                &self.base
            } else {
                &self.property_list
            };
            for name in plugin.options.keys() {
                let own = isolates && plugin.properties.contains_key(name);
                if own || shared.contains_key(name) {
                    continue;
                }
                let Some(o) = origin.get(name.as_str()) else {
                    return Err(def_err(format!("undefined property '{name}'")));
                };
                return Err(def_err(if global {
                    format!(
                        "cannot use property '{name}' of foreign plugin ('{o}') in isolation mode"
                    )
                } else if plugin.isolate_properties {
                    format!(
                        "isolated plugin cannot use property '{name}' from foreign plugin '{o}'"
                    )
                } else {
                    format!("cannot use property '{name}' from isolated plugin '{o}'")
                }));
            }
            let mut opts = plugin.options.clone();
            if isolates {
                for (name, schema) in &plugin.properties {
                    opts.entry(name.clone()).or_insert(OptionSpec {
                        optional: schema.is_optional(),
                        fixed: false,
                    });
                }
            }
            used.extend(opts.keys().cloned());
            self.options.insert(plugin.type_name.clone(), opts);
        }

        self.common = self
            .base
            .iter()
            .filter(|(name, schema)| !used.contains(*name) && !schema.is_optional())
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect();
        Ok(())
    }

    /// Whether sections are described per type (property isolation with any plugin).
    pub fn has_isolated_properties(&self) -> bool {
        !self.isolated.is_empty()
    }

    /// The registered section types, sorted.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.options.keys().map(String::as_str)
    }

    /// The options (used keys) of `type_name`, when it is registered.
    pub fn options(&self, type_name: &str) -> Option<&BTreeMap<String, OptionSpec>> {
        self.options.get(type_name)
    }

    /// The schema of property `key` for sections of `type_name` (upstream's
    /// `get_property_schema`).
    pub fn property_schema(&self, type_name: &str, key: &str) -> Option<&Schema> {
        if self.has_isolated_properties() {
            if let Some(s) = self.isolated.get(type_name).and_then(|p| p.get(key)) {
                return Some(s);
            }
        }
        self.property_list.get(key)
    }

    /// Checks and types the values of one section (upstream's `check_config`): every key
    /// must be an option of the type, values must pass their schema, and `fixed` options
    /// may not change unless `create`. With `create`, all required options must be set.
    /// The result carries `type`.
    pub fn check_config(
        &self,
        type_name: &str,
        section_id: &str,
        config: &Map<String, Value>,
        create: bool,
    ) -> Result<Map<String, Value>, SectionConfigError> {
        let err = SectionConfigError::Check;
        let opts = self
            .options
            .get(type_name)
            .ok_or_else(|| err(format!("unknown section type '{type_name}'\n")))?;
        let mut settings = Map::new();
        settings.insert("type".into(), Value::String(type_name.to_string()));
        for (k, v) in config {
            if !create && opts.get(k).is_some_and(|o| o.fixed) {
                return Err(err(format!("can't change value of fixed parameter '{k}'")));
            }
            if v.is_null() {
                return Err(err(format!("got undefined value for option '{k}'")));
            }
            let checked = match v {
                Value::Array(items)
                    if self
                        .property_schema(type_name, k)
                        .is_some_and(|s| s.single_type() == Some(JsonType::Array)) =>
                {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(
                            self.check_value(type_name, k, Some(&value_text(item)?), section_id)
                                .map_err(err)?,
                        );
                    }
                    Value::Array(out)
                }
                _ => self
                    .check_value(type_name, k, Some(&value_text(v)?), section_id)
                    .map_err(err)?,
            };
            settings.insert(k.clone(), checked);
        }
        if create {
            if let Some((k, _)) = opts
                .iter()
                .find(|(k, o)| !o.optional && config.get(*k).is_none_or(Value::is_null))
            {
                return Err(err(format!("missing value for required option '{k}'")));
            }
        }
        Ok(settings)
    }

    /// Deletes `to_delete` from a section (upstream's `delete_from_config`): only optional,
    /// not fixed options that are not set in the same request may go.
    pub fn delete_from_config(
        &self,
        type_name: &str,
        config: &mut Map<String, Value>,
        new_options: &Map<String, Value>,
        to_delete: &[&str],
    ) -> Result<(), SectionConfigError> {
        let err = SectionConfigError::Check;
        let opts = self.options.get(type_name);
        for k in to_delete {
            let spec = opts
                .and_then(|o| o.get(*k))
                .ok_or_else(|| err(format!("no such option '{k}'")))?;
            if !spec.optional {
                return Err(err(format!("unable to delete required option '{k}'")));
            }
            if spec.fixed {
                return Err(err(format!("unable to delete fixed option '{k}'")));
            }
            if new_options.get(*k).is_some_and(|v| !v.is_null()) {
                return Err(err(format!(
                    "cannot set and delete property '{k}' at the same time!"
                )));
            }
            config.remove(*k);
        }
        Ok(())
    }
}

/// The text form of a scalar for re-checking it (booleans as 1/0, numbers as Perl prints
/// them).
fn value_text(v: &Value) -> Result<String, SectionConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(if *b { "1" } else { "0" }.to_string()),
        Value::Number(n) => Ok(value::perl_number(n)),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(SectionConfigError::Check(format!(
            "invalid value {v} (not a scalar)"
        ))),
    }
}

/// Perl's truth of a config value (used for `disable` and `comment` on write).
fn truthy(v: &Value) -> bool {
    perl_truthy(v)
}

#[cfg(test)]
mod tests;
