//! pve-guest-common: filled by later issues (see ../shared/docs/ARCHITECTURE.md).
