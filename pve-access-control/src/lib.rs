//! pve-access-control: user.cfg (users, tokens, groups, pools, roles, ACLs), the built-in
//! roles and privileges, ACL evaluation, realms (pam, pve), tickets, CSRF tokens and API
//! tokens; the `/access` API.

pub mod ids;
pub mod privileges;
pub mod user_cfg;

pub use user_cfg::UserConfig;
pub mod acl;
pub mod api;
pub mod auth;
pub mod csrf;
pub mod domains;
pub mod perm_check;
pub mod secrets;
pub mod store;
pub mod tickets;
