//! The SCIM 2.0 protocol (RFC 7643, RFC 7644): schemas, errors, filters, PATCH, projection
//! and the normalisation of what real identity providers send.
//!
//! **Architecture invariant:** this module knows nothing about Confluence, rules or storage.
//! It turns JSON into canonical SCIM resources and answers questions about them.

pub mod error;
pub mod filter;
pub mod json;
pub mod normalize;
pub mod patch;
pub mod path;
pub mod project;
pub mod schema;
