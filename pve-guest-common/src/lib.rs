//! pve-guest-common: what VMs and containers share (see ../shared/docs/ARCHITECTURE.md).

pub mod config;
mod conformance;
pub mod lock;
pub mod pending;
pub mod snapshot;
pub mod tags;
pub mod value_check;

pub use config::{
    config_digest, parse_guest_config, write_guest_config, ConfigSection, GuestConfig,
    GuestConfigSchema, ParsedConfig, SectionKind,
};

/// The pve-guest-common conformance suites.
pub fn conformance_suites() -> Vec<pve_common::conformance::Suite> {
    conformance::suites()
}
