//! pve-storage: storage.cfg, the storage plugins (dir, btrfs), volume ids and names,
//! content listing, prune selection, bandwidth limits, volume access checks, the
//! `/storage` and `/nodes/{node}/storage` API and `pvesm`.

pub mod access;
pub mod api;
pub mod archive;
pub mod attributes;
pub mod bwlimit;
pub mod cli;
pub mod config;
pub mod conformance;
pub mod error;
pub mod layout;
pub mod list;
pub mod plugin;
pub mod prune;
pub mod qemu_img;
pub mod storage;
pub mod upload;
pub mod volume;

pub use config::{StorageConfig, StorageSection};
pub use error::StorageError;
pub use plugin::{StorageCtx, StoragePlugin};
pub use storage::Storage;
pub use volume::{parse_volume_id, VolumeName, Vtype};

/// The conformance suites of this crate (`../shared/conformance/pve-storage`).
pub fn conformance_suites() -> Vec<pve_common::conformance::Suite> {
    conformance::suites()
}
