//! From decisions to Confluence: the plan (diff of desired states), the durable outbox,
//! the workers and the at-once apply of a SCIM write, and Synchronize (full
//! reconciliation against Confluence's actual state).
//!
//! **Architecture invariant:** nothing here parses SCIM; it sees desired states
//! ([`crate::store::DesiredUser`]) and speaks to Confluence only through
//! [`crate::confluence::ConfluenceClient`].

mod apply;
pub mod breaker;
pub mod outbox;
pub mod plan;
pub mod reconcile;
mod worker;

pub use apply::{apply, Applied, KnownGroups};
pub use breaker::BreakerSettings;
pub use outbox::{Gate, Outbox, Queued};
pub use plan::{plan, Deprovision, Op};
pub use worker::{AppSync, AppSyncSettings, AtOnce, NeededGroups};
