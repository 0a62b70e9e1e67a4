//! pve-access-control: filled by later issues (see ../shared/docs/ARCHITECTURE.md).
