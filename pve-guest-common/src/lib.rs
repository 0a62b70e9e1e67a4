//! pve-guest-common: what VMs and containers share (see ../shared/docs/ARCHITECTURE.md).

pub mod config;

pub use config::{
    config_digest, parse_guest_config, write_guest_config, ConfigSection, GuestConfig,
    GuestConfigSchema, ParsedConfig, SectionKind,
};
