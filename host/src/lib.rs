//! UserSync: keeps Confluence's users, groups and memberships in step with identity providers.
//!
//! See `ARCHITECTURE.md` at the repository root for the map of this crate.

pub mod scim;
