//! UserSync: keeps Confluence's users, groups and memberships in step with identity providers.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of this crate.

pub mod admin;
pub mod cli;
pub mod clock;
pub mod config;
pub mod confluence;
pub mod console;
pub mod directory;
pub mod http;
pub mod inbound;
pub mod model;
pub mod rules;
pub mod scim;
pub mod server;
pub mod store;
pub mod sync;
