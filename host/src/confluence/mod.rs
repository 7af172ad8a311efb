//! The Confluence Data Center REST client: users, groups and memberships.
//!
//! **API boundary:** [`ConfluenceClient`] is what the outbox workers and Synchronize call; they see
//! domain types ([`ConfluenceUsername`], [`GroupName`], [`ConfluenceUser`]) and one error type
//! ([`ConfluenceError`]), never Confluence's JSON (kept in `wire`) or reqwest.
//!
//! - `client`: base URL and context path, headers (auth, `Accept`, and on writes the JSON content
//!   type and `X-Atlassian-Token: no-check`), the per-app concurrency limit, paging, the version
//!   probe;
//! - `users`, `groups`: the operations;
//! - `error`: the one classification of HTTP answers: permanent (about the data), transient
//!   (Confluence's health) and setup (UserSync's credentials, rights, base URL, a proxy);
//! - `backoff`: exponential back-off with full jitter, for callers' retries;
//! - names: [`ConfluenceUsername`] and [`GroupName`] come from `crate::model::names`, valid by
//!   construction; full names and e-mail addresses are checked there too;
//! - `version`: the version map of reference §0 as [`Capabilities`].
//!
//! **Architecture invariant:** the connector imports nothing of the crate but the model
//! (`crate::model`): no SCIM, rules, store or sync.
//!
//! **Architecture invariant:** a call makes one attempt; retrying is the caller's job (the outbox).
//! The only exception is listings (`list_*`, `group_members`, `user_groups`), whose pages are
//! retried on transient errors so that a long read does not fail on one 429.
//!
//! **Architecture invariant:** an operation the detected version cannot do fails with
//! [`ConfluenceError::Unsupported`] before any request is sent. Custom profile fields are never
//! written: Data Center has no REST endpoint for them ([`Capabilities::PROFILE_FIELDS_NOTE`]).
//!
//! **Architecture invariant:** credentials never reach a log: [`Auth`] and [`NewUser`] redact them
//! in `Debug`, and the `Authorization` header is marked sensitive.

mod backoff;
mod client;
mod error;
mod groups;
mod settings;
mod users;
mod version;
mod wire;

pub use backoff::{Backoff, MAX_RETRY_AFTER};
pub use client::ConfluenceClient;
pub use error::{classify, parse_retry_after, ConfluenceError, SetupProblem};
// The names the connector is given: one copy of Confluence's rules, in the model.
pub use crate::model::names::{
    ConfluenceUsername, GroupName, NameError, NameKind, NameProblem, FORBIDDEN_CHARS, MAX_NAME_CHARS,
};
pub use settings::{Auth, ClientTuning, ConfluenceSettings};
pub use users::{ConfluenceUser, CreateOutcome, NewUser};
pub use version::{Capabilities, Operation, ServerInfo, Version, VersionError, VersionSource};
