//! The deprovisioning circuit breaker in the write path: operations past an app's threshold
//! are held with the change that planned them (the identity provider's write is still
//! stored and acknowledged), and an administrator approves or discards them.
//!
//! The window and the hold live in the outbox ([`crate::sync::Outbox::hold`]); this adds
//! their durable rows and audit entries to the change's transaction.

use crate::scim::error::{ScimError, ScimResult};
use crate::store::Mutation;
use crate::sync::{AppSync, Gate, Queued};

use super::{App, Inbound};

/// The audit entry of a held operation's step (`held`, `approved`, `discarded`).
fn audit(sync: &AppSync, q: &Queued, outcome: &str, note: &str) -> Mutation {
    let mut entry = sync.audit(q, None, Some(note));
    entry.outcome = outcome.into();
    Mutation::Audit(entry)
}

impl Inbound {
    /// Passes `ops` through the app's breaker: returns the split and the mutations that
    /// store the held ones (with an audit entry each). If the change is then not stored,
    /// give the gate back with [`crate::sync::Outbox::unhold`].
    pub(super) fn gate(&self, app: &App, sync: &AppSync, ops: Vec<Queued>) -> (Gate, Vec<Mutation>) {
        let gate = sync.outbox().hold(&app.name, ops, self.people(&app.name));
        let mut mutations = Vec::new();
        if !gate.held.is_empty() {
            tracing::warn!(app = %app.name, held = gate.held.len(),
                "deprovisioning circuit breaker: operations held for approval (usersync outbox approve|discard)");
            mutations.push(Mutation::HoldForApproval(gate.held.iter().map(|q| q.row(&app.name)).collect()));
            let note = "held by the deprovisioning circuit breaker until approved";
            mutations.extend(gate.held.iter().map(|q| audit(sync, q, "held", note)));
        }
        (gate, mutations)
    }

    /// Ends the hold of the app's held operations: `approved` queues them, in order, for
    /// Confluence and starts the breaker's window afresh; otherwise they are dropped (the
    /// stored SCIM state stays as the identity provider sent it; a Synchronize would plan
    /// them again). Each is audited. Returns how many were released.
    ///
    /// # Errors
    /// 404 for an unknown app, 409 for one without Confluence, 500 when the store fails
    /// (nothing is released then).
    pub async fn settle_held(&self, app_name: &str, approved: bool) -> ScimResult<usize> {
        let sync = self.confluence(app_name).ok_or_else(|| match self.app(app_name) {
            Some(_) => ScimError::new(409, None, format!("app {app_name} has no Confluence configured")),
            None => ScimError::not_found(format!("no app {app_name}")),
        })?;
        let (outcome, note) = if approved {
            ("approved", "released by an administrator")
        } else {
            ("discarded", "discarded by an administrator: not applied")
        };
        let mut total = 0;
        // Operations held while a batch commits are released by the next round.
        loop {
            let held = sync.outbox().held(app_name);
            if held.is_empty() {
                break;
            }
            let seqs: Vec<u64> = held.iter().map(|q| q.seq).collect();
            let mut mutations = vec![Mutation::Release { seqs: seqs.clone(), approved }];
            mutations.extend(held.iter().map(|q| audit(&sync, q, outcome, note)));
            self.store.commit(mutations).await.map_err(|e| ScimError::internal(e.to_string()))?;
            total += sync.outbox().release_held(app_name, &seqs, approved).len();
        }
        tracing::info!(app = %app_name, count = total, outcome, "held deprovisioning operations settled");
        Ok(total)
    }
}
