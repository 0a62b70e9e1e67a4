//! The API schemas for creating and updating sections (upstream's `createSchema` and
//! `updateSchema`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{SectionConfig, SectionConfigError};
use crate::schema::{Additional, JsonType, Schema, TypeSpec};

/// The standard `digest` parameter (upstream's `pve-config-digest` standard option).
pub fn config_digest_schema() -> Schema {
    let mut s = Schema::of_type(JsonType::String)
        .description(
            "Prevent changes if current configuration file has a different digest. \
             This can be used to prevent concurrent modifications.",
        )
        .optional();
    // sha1 digests have 40 hex digits, the sha256 ones of the Rust daemons 64
    s.max_length = Some(64);
    s
}

/// The `delete` parameter of update calls.
fn delete_schema() -> Schema {
    let mut s = Schema::of_type(JsonType::String)
        .description("A list of settings you want to delete.")
        .optional();
    s.format = Some(crate::schema::FormatSpec::Named(
        "pve-configid-list".to_string(),
    ));
    s.max_length = Some(4096);
    s
}

/// `{type: object, additionalProperties: 0, properties}`
fn object_schema(properties: BTreeMap<String, Schema>) -> Schema {
    Schema {
        type_: Some(TypeSpec::One(JsonType::Object)),
        ..closed_properties(properties)
    }
}

/// `{additionalProperties: 0, properties}` (an `allOf` member)
fn closed_properties(properties: BTreeMap<String, Schema>) -> Schema {
    Schema {
        additional_properties: Some(Additional::Bool(false)),
        properties: Some(crate::schema::shared_properties(properties)),
        ..Default::default()
    }
}

/// `allOf: [extras…, main]`, or `main` alone without extras.
fn combine(main: Schema, extras: Vec<Schema>) -> Schema {
    let extras: Vec<Schema> = extras
        .into_iter()
        .filter(|s| s.properties.as_ref().is_some_and(|p| !p.is_empty()))
        .collect();
    if extras.is_empty() {
        return main;
    }
    let mut all = extras;
    all.push(main);
    Schema {
        all_of: Some(all),
        ..Default::default()
    }
}

impl SectionConfig {
    /// The parameters for creating a section. `skip_type` leaves out `type` (isolation
    /// mode: only possible with one section type); `base` adds parameters not derived
    /// from the plugins (e.g. the section id).
    pub fn create_schema(
        &self,
        skip_type: bool,
        base: BTreeMap<String, Schema>,
    ) -> Result<Schema, SectionConfigError> {
        if !self.has_isolated_properties() {
            let mut props = base;
            for (name, prop) in &self.property_list {
                if skip_type && name == "type" {
                    continue;
                }
                // required when no type lets it be optional
                let required = prop.is_optional()
                    && self
                        .options
                        .values()
                        .all(|opts| opts.get(name).is_some_and(|o| !o.optional));
                let mut prop = prop.clone();
                if required {
                    prop.optional = Some(false);
                }
                props.insert(name.clone(), prop);
            }
            return Ok(object_schema(props));
        }

        let mut main = self.isolated_schema(false);
        if skip_type {
            main = self.single_variant(main, None)?;
        }
        Ok(combine(
            main,
            vec![closed_properties(base), self.common_schema()],
        ))
    }

    /// The parameters for updating a section: the modifiable options plus `digest` and
    /// `delete`. `single_type` restricts them to the options of one type.
    pub fn update_schema(
        &self,
        single_type: Option<&str>,
        base: BTreeMap<String, Schema>,
    ) -> Result<Schema, SectionConfigError> {
        if let Some(t) = single_type {
            if !self.options.contains_key(t) {
                return Err(SectionConfigError::Schema(format!(
                    "unknown section type '{t}'"
                )));
            }
        }
        let defaults = BTreeMap::from([
            ("digest".to_string(), config_digest_schema()),
            ("delete".to_string(), delete_schema()),
        ]);
        if !self.has_isolated_properties() {
            let own = single_type.and_then(|t| self.options.get(t));
            let mut props = base;
            for (name, prop) in &self.property_list {
                if name == "type" || own.is_some_and(|o| !o.contains_key(name)) {
                    continue;
                }
                let modifiable = !prop.is_optional()
                    || self
                        .options
                        .values()
                        .any(|opts| opts.get(name).is_some_and(|o| !o.fixed));
                if modifiable {
                    props.insert(name.clone(), prop.clone());
                }
            }
            props.extend(defaults);
            return Ok(object_schema(props));
        }

        let mut main = self.isolated_schema(true);
        if let Some(t) = single_type {
            main = self.single_variant(main, Some(t))?;
        }
        Ok(combine(
            main,
            vec![
                closed_properties(defaults),
                closed_properties(base),
                self.common_schema(),
            ],
        ))
    }

    /// `oneOf` over the types, selected by `type`.
    fn isolated_schema(&self, update: bool) -> Schema {
        let mut type_schema = self.property_list.get("type").cloned().unwrap_or_default();
        type_schema.type_ = Some(TypeSpec::One(JsonType::String));
        if type_schema.description.is_none() {
            type_schema.description = Some("Section Type".to_string());
        }
        type_schema.optional = None;
        type_schema.enum_ = Some(
            self.options
                .keys()
                .map(|t| Value::String(t.clone()))
                .collect(),
        );

        let variants = self
            .options
            .iter()
            .map(|(type_name, opts)| {
                let props = opts
                    .iter()
                    .filter(|(_, o)| !(update && o.fixed))
                    .filter_map(|(key, o)| {
                        let mut s = self.property_schema(type_name, key)?.clone();
                        if update || o.optional {
                            s.optional = Some(true);
                        }
                        Some((key.clone(), s))
                    })
                    .collect();
                Schema {
                    instance_type: Some(type_name.clone()),
                    ..closed_properties(props)
                }
            })
            .collect();

        Schema {
            type_property: Some("type".to_string()),
            type_property_schema: Some(Box::new(type_schema)),
            one_of: Some(variants),
            ..Default::default()
        }
    }

    /// The `oneOf` variant of `type_name` (or the only one) without `instance-type`.
    fn single_variant(
        &self,
        schema: Schema,
        type_name: Option<&str>,
    ) -> Result<Schema, SectionConfigError> {
        let variants = schema.one_of.unwrap_or_default();
        let found = match type_name {
            None if variants.len() == 1 => variants.into_iter().next(),
            None => {
                return Err(SectionConfigError::Schema(
                    "cannot use 'skip_type' for configs with more than 1 section type".into(),
                ))
            }
            Some(t) => variants
                .into_iter()
                .find(|v| v.instance_type.as_deref() == Some(t)),
        };
        let mut variant = found.ok_or_else(|| {
            SectionConfigError::Schema(format!(
                "failed to get type-specific schema for '{}'",
                type_name.unwrap_or("")
            ))
        })?;
        variant.instance_type = None;
        Ok(variant)
    }

    fn common_schema(&self) -> Schema {
        closed_properties(self.common.clone())
    }
}
