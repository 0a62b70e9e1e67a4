//! pve-manager: filled by later issues (see ../shared/docs/ARCHITECTURE.md).
