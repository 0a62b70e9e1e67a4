//! Command-line tools built from API methods, as upstream's `PVE::CLIHandler` and
//! `PVE::CLIFormatter`:
//!
//! - [`getopt`]: option parsing (Getopt::Long rules as upstream uses them)
//! - [`usage`]: usage and help texts
//! - [`command`]: the command tree, dispatch, error printing and exit codes
//! - [`format`]: `--output-format text|json|json-pretty|yaml`, text tables and renderers
//! - [`json`]: canonical JSON as upstream's JSON::XS writes it
//! - [`yaml`]: YAML as upstream's YAML::XS (libyaml) writes it

pub mod command;
pub mod format;
pub mod getopt;
pub mod json;
pub mod schema_walk;
mod table;
pub mod text_wrap;
pub mod usage;
pub mod yaml;
