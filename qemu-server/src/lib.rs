#![recursion_limit = "512"]
//! qemu-server: the VM config schema and files, and config → QEMU command line
//! (see ../shared/docs/ARCHITECTURE.md).

pub mod api;
pub mod api_status;
mod api_status_schema;
pub mod cli;
pub mod cmdline;
pub mod config;
pub mod config_file;
mod conformance;
pub mod disks;
pub mod drive;
pub mod helpers;
pub mod ovmf;
pub mod qga;
pub mod qmp;
pub mod rescan;
pub mod restore;
pub mod run;
pub mod schema;

pub use config::{parse_vm_config, write_vm_config, VmConfigSchema};

/// The qemu-server conformance suites.
pub fn conformance_suites() -> Vec<pve_common::conformance::Suite> {
    conformance::suites()
}
