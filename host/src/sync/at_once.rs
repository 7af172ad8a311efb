//! The at-once apply of a SCIM write: its operations go to Confluence before the write
//! answers, within the apply deadline, so that the identity provider learns the true
//! outcome when Confluence answers in time.
//!
//! Each attempt runs in a task of its own. When the deadline passes, the attempt in flight
//! is not dropped (its request may already be on its way, and sending it again would be a
//! second write): it carries on in the background, holding its user's claim, while the SCIM
//! write is stored with the operation queued. Once the change is stored, the attempt's
//! outcome is handed to the outbox as a worker's would be ([`AppSync::finish_at_once`]):
//! recorded when done, kept at the head of its queue with its progress when not.

use std::sync::Arc;
use std::time::Instant;

use tokio::task::JoinHandle;

use super::apply::{apply, Applied, Progress};
use super::outbox::{Claim, Parked, Queued};
use super::plan::Op;
use super::worker::AppSync;

/// How a SCIM write's operations fared when applied at once.
#[derive(Default)]
pub struct AtOnce {
    /// Applied, with an audit note each.
    pub applied: Vec<(Queued, Option<String>)>,
    /// Left for the outbox (Confluence slow or failing, the deadline passed, an older
    /// operation for the same user still queued), the one in flight included.
    pub deferred: Vec<Queued>,
    /// Claims on the subjects applied: hold them until `deferred` is in the outbox.
    pub claims: Vec<Claim>,
    /// Memberships in groups Confluence does not have: parked, the rest goes on.
    pub blocked: Vec<Parked>,
    /// Groups this write created: parked memberships in them can go now.
    pub created_groups: Vec<String>,
    /// The attempt still running when the deadline passed (its operation is in `deferred`).
    in_flight: Option<InFlight>,
    /// How far the deferred operations that were tried got.
    progress: Vec<(u64, Progress)>,
}

impl AtOnce {
    fn take_claim(&mut self, subject: &str) -> Option<Claim> {
        let at = self.claims.iter().position(|c| c.subject() == subject)?;
        Some(self.claims.swap_remove(at))
    }
}

/// An attempt that outlived the apply deadline.
struct InFlight {
    queued: Queued,
    attempt: JoinHandle<Attempted>,
}

/// What an attempt task gives back: its outcome, how far it got, and the claim it held.
struct Attempted {
    applied: Applied,
    progress: Progress,
    claim: Claim,
}

impl AppSync {
    /// Applies a SCIM write's operations now, within the apply deadline, subject by
    /// subject, where no older operation of the subject is queued. Nothing is tried while the
    /// app is paused or held.
    ///
    /// # Errors
    /// Confluence refused an operation for good, because of its data: that operation and
    /// the message, for the SCIM error. The write must then store nothing (what was applied
    /// before the refusal is idempotent and is repaired by the identity provider's retry or
    /// by Synchronize).
    pub async fn apply_at_once(self: &Arc<Self>, ops: Vec<Queued>) -> Result<AtOnce, (Queued, String)> {
        let mut out = AtOnce::default();
        let deadline = Instant::now() + self.apply_deadline;
        let waiting = self.paused_for().is_some() || self.held().is_some();
        // Operations keep their order; a subject whose turn failed defers the rest of its own.
        let mut stopped: Vec<String> = Vec::new();
        for q in ops {
            if waiting || out.in_flight.is_some() || stopped.contains(&q.subject) {
                out.deferred.push(q);
                continue;
            }
            let claim = match out.take_claim(&q.subject) {
                Some(claim) => claim,
                None => match self.outbox.claim(&self.app, &q.subject) {
                    Some(claim) => claim,
                    None => {
                        stopped.push(q.subject.clone());
                        out.deferred.push(q);
                        continue;
                    }
                },
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                out.claims.push(claim);
                stopped.push(q.subject.clone());
                out.deferred.push(q);
                continue;
            }
            let mut attempt = self.attempt(q.clone(), claim);
            let attempted = match tokio::time::timeout(left, &mut attempt).await {
                Ok(Ok(attempted)) => attempted,
                // The task ended abnormally, its claim with it: the worker tries again,
                // asking Confluence first.
                Ok(Err(e)) => {
                    tracing::error!(app = %self.app, op = %q.op.describe(), error = %e, "an at-once attempt failed");
                    stopped.push(q.subject.clone());
                    out.progress.push((q.seq, Progress::Uncertain));
                    out.deferred.push(q);
                    continue;
                }
                Err(_) => {
                    // Out of time: the attempt carries on, and hands its outcome to the
                    // outbox once the change is stored.
                    tracing::debug!(app = %self.app, op = %q.op.describe(), "past the apply deadline; finishing in the background");
                    stopped.push(q.subject.clone());
                    out.in_flight = Some(InFlight { queued: q.clone(), attempt });
                    out.deferred.push(q);
                    continue;
                }
            };
            out.claims.push(attempted.claim);
            match attempted.applied {
                // (A hold is never lifted here: nothing is tried while the app is held.)
                Applied::Done(note) => {
                    self.reset_failures();
                    if let Op::CreateGroup { group } = &q.op {
                        out.created_groups.push(group.clone());
                    }
                    out.applied.push((q, note));
                }
                Applied::Blocked { group, reason } => {
                    self.reset_failures();
                    out.blocked.push(Parked { queued: q, group, reason });
                }
                Applied::Refused(e) => {
                    let message = format!("Confluence refused to {}: {e}", q.op.describe());
                    return Err((q, message));
                }
                Applied::Transient { error, retry_after } => {
                    self.pause(retry_after, &error);
                    stopped.push(q.subject.clone());
                    out.progress.push((q.seq, attempted.progress));
                    out.deferred.push(q);
                }
                Applied::Held { problem, error } => {
                    self.hold(problem, &error).await;
                    stopped.push(q.subject.clone());
                    out.progress.push((q.seq, attempted.progress));
                    out.deferred.push(q);
                }
            }
        }
        Ok(out)
    }

    /// One attempt at `q` in a task of its own, holding `claim` (given back with the outcome).
    fn attempt(self: &Arc<Self>, q: Queued, claim: Claim) -> JoinHandle<Attempted> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut progress = Progress::NotStarted;
            let applied = apply(&me.client, &q.op, &me.groups, &mut progress).await;
            Attempted { applied, progress, claim }
        })
    }

    /// Ends a SCIM write's at-once apply once its change is stored (`committed`) or not:
    /// the deferred operations join the outbox, the parked memberships the parking, the
    /// claims are released, parked memberships in groups it created are released, and the
    /// attempt still in flight hands its outcome to the outbox when it ends.
    pub async fn finish_at_once(self: &Arc<Self>, at_once: AtOnce, committed: bool) {
        let AtOnce { applied: _, deferred, claims, blocked, created_groups, in_flight, progress } = at_once;
        if committed {
            for (seq, p) in progress {
                self.keep_progress(seq, p);
            }
            self.outbox.push(&self.app, deferred);
            self.outbox.park(&self.app, blocked);
        }
        drop(claims);
        if committed {
            for group in &created_groups {
                self.release(group).await;
            }
        }
        if let Some(flight) = in_flight {
            let me = self.clone();
            tokio::spawn(async move { me.land(flight, committed).await });
        }
    }

    /// Waits for an attempt that outlived the deadline and records its outcome as a worker
    /// would; then its user's next operations go to the workers.
    async fn land(&self, flight: InFlight, committed: bool) {
        let InFlight { queued, attempt } = flight;
        let attempted = match attempt.await {
            Ok(attempted) => attempted,
            Err(e) => {
                tracing::error!(app = %self.app, op = %queued.op.describe(), error = %e, "an at-once attempt failed");
                if committed {
                    self.keep_progress(queued.seq, Progress::Uncertain);
                }
                return;
            }
        };
        if !committed {
            if let Applied::Done(_) = attempted.applied {
                tracing::warn!(
                    app = %self.app,
                    op = %queued.op.describe(),
                    "applied to Confluence after the deadline, but the SCIM change that planned it was not stored; \
                     a Synchronize repairs what differs"
                );
            }
            return;
        }
        tracing::debug!(app = %self.app, op = %queued.op.describe(), "an attempt past the apply deadline ended");
        self.settle(&attempted.claim, &queued, attempted.applied, attempted.progress).await;
        // Dropping the claim hands the user's next operations to the workers.
    }
}
