//! The domain model below `rules`, `store`, `sync` and `confluence`: values that mean the
//! same thing to every part of the host, valid by construction.
//!
//! - [`names`]: Confluence's naming rules, once ([`ConfluenceUsername`], [`GroupName`], and
//!   the checks on a full name and an e-mail address).
//!
//! **Architecture invariant:** `model` imports nothing else of the crate, and nothing here is
//! `Serialize`: the wire formats convert at their edges.

pub mod names;

pub use names::{ConfluenceUsername, FieldError, GroupName, NameError, NameKind, NameProblem};
