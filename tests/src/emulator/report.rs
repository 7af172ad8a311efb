//! What tests read back: the directory as Confluence holds it ([`Snapshot`]), how many
//! operations of each kind the emulator performed ([`Counters`]), and every write request
//! it processed ([`WriteRecord`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::config::UserDirectory;

/// Confluence's users and groups at one instant. Users pending deletion are still present.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// By username (always lower case).
    pub users: BTreeMap<String, SnapshotUser>,
    /// Group name → member usernames.
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotUser {
    /// The 32-hex user key.
    pub key: String,
    pub full_name: String,
    pub email: String,
    pub active: bool,
    pub directory: UserDirectory,
}

/// Operations performed since start or reset.
///
/// The write counters count changes that happened, once each: a retried call that finds
/// the work already done lands in the matching `noop_*` counter instead, so a test can
/// prove that nothing was applied twice. Rejected calls (4xx) count nowhere except in
/// `requests`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub users_created: u64,
    /// Updates (`PUT /admin/user/{u}`) that changed the full name or email.
    pub users_updated: u64,
    pub users_disabled: u64,
    pub users_enabled: u64,
    /// Counted when the delete task completes.
    pub users_deleted: u64,
    pub passwords_set: u64,
    pub groups_created: u64,
    pub groups_deleted: u64,
    pub members_added: u64,
    pub members_removed: u64,
    /// Update with the values the user already has.
    pub noop_updates: u64,
    /// Disable of a disabled user.
    pub noop_disables: u64,
    /// Enable of an active user.
    pub noop_enables: u64,
    /// Delete of a user whose delete task is still running (answered with that task).
    pub noop_deletes: u64,
    /// `PUT` of an existing membership.
    pub noop_member_adds: u64,
    /// `DELETE` of an absent membership.
    pub noop_member_removes: u64,
    /// Requests to `/rest` routes, faulted ones included (control routes excluded).
    pub requests: u64,
    /// 429 answered by the rate limiter.
    pub rate_limited: u64,
    /// 429 injected by faults.
    pub injected_429: u64,
    /// 500 and 503 injected by faults (outage answers excluded).
    pub injected_errors: u64,
    /// 503 answered because of an outage.
    pub outage_responses: u64,
    /// Connections closed without a response.
    pub dropped_connections: u64,
}

impl Counters {
    /// Every idempotent call that changed nothing.
    pub fn noops(&self) -> u64 {
        self.noop_updates
            + self.noop_disables
            + self.noop_enables
            + self.noop_deletes
            + self.noop_member_adds
            + self.noop_member_removes
    }

    /// Every 429, from the limiter or injected.
    pub fn responses_429(&self) -> u64 {
        self.rate_limited + self.injected_429
    }

    /// Every write that changed the directory.
    pub fn writes(&self) -> u64 {
        self.users_created
            + self.users_updated
            + self.users_disabled
            + self.users_enabled
            + self.users_deleted
            + self.passwords_set
            + self.groups_created
            + self.groups_deleted
            + self.members_added
            + self.members_removed
    }
}

/// One write request (any method but `GET`, `HEAD` and `OPTIONS`) that reached Confluence's
/// logic: past the fault injection, whatever it answered (401, 409 and 429 from the rate
/// limiter included). A request whose answer was dropped after processing is logged too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteRecord {
    pub method: String,
    /// Below the context path, percent-decoded, without the query.
    pub path: String,
    /// `userName` or `name` from a JSON body (what a create names).
    pub name: Option<String>,
    pub status: u16,
}

impl WriteRecord {
    /// `POST /rest/api/admin/user alice` or `PUT /rest/api/admin/user/alice/enable`: what
    /// the write targets, whatever its answer.
    pub fn target(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {} {name}", self.method, self.path),
            None => format!("{} {}", self.method, self.path),
        }
    }
}
