//! Proxmox VE core library: the pieces every other crate of the project stands on.
//!
//! - [`schema`]: the JSON-schema dialect PVE uses, its format registry and property strings
//! - [`section_config`]: the SectionConfig file format (storage.cfg, user.cfg's siblings, …)
//! - [`calendar_event`]: systemd-like schedules and their next occurrence
//! - [`upid`]: worker task ids
//! - [`units`]: size conversion and the CLI value renderers
//! - [`paths`]: `NodePaths`, every host path from one root prefix
//! - [`conformance`]: the data-driven harness over `../shared/conformance`

pub mod api;
pub mod calendar_event;
pub mod cfs_ipc;
pub mod cli;
pub mod conformance;
pub mod digest;
pub mod paths;
pub mod perl;
pub mod random;
pub mod schema;
pub mod section_config;
pub mod tasks;
pub mod units;
pub mod upid;

pub use paths::NodePaths;
