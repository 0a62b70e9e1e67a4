//! pve-container: filled by later issues (see ../shared/docs/ARCHITECTURE.md).
