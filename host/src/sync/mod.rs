//! From decisions to Confluence: the plan (diff of desired states), the durable outbox,
//! the workers, the at-once apply of a SCIM write, the hold of an app whose own setup
//! fails, and Synchronize (full reconciliation against Confluence's actual state).
//!
//! **Architecture invariant:** nothing here parses SCIM; it sees desired states
//! ([`crate::store::DesiredUser`]) and speaks to Confluence only through
//! [`crate::confluence::ConfluenceClient`].

mod apply;
mod at_once;
pub mod breaker;
mod hold;
pub mod outbox;
pub mod plan;
pub mod reconcile;
mod worker;

pub use apply::{apply, Applied, KnownGroups, Progress};
pub use at_once::AtOnce;
pub use breaker::BreakerSettings;
pub use hold::{CredentialSource, Hold};
pub use outbox::{Gate, Outbox, Queued};
pub use plan::{plan, Deprovision, Op};
pub use worker::{AppSync, AppSyncSettings, NeededGroups};
