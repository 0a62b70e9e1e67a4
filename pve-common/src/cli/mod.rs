//! Command line output: how API results are printed by the PVE command line tools.
//!
//! - [`format`]: `--output-format text|json|json-pretty|yaml`, text tables and renderers
//! - [`json`]: canonical JSON as upstream's JSON::XS writes it
//! - [`yaml`]: YAML as upstream's YAML::XS (libyaml) writes it
//! - [`perl`]: Perl's scalar conversions (number to string, string to number)

pub mod format;
pub mod json;
pub mod perl;
mod table;
pub mod yaml;
