//! The hold of an app whose own setup fails: Confluence answers, but rejects UserSync's
//! credentials (401), finds its account without administrator rights (403), or the
//! requests do not reach its REST API as sent (a redirect, a proxy failing the XSRF check).
//! None of this is about a person, so nothing is refused: SCIM changes are stored, their
//! operations wait in the outbox, the app is paused and says why ([`Hold`]: `/healthz`, the
//! admin API, `usersync outbox`).
//!
//! The queue resumes by itself. For a problem of the account, one worker reads the
//! credentials again (the secret file or variable may have changed) at each retry and asks
//! Confluence whether they work ([`ConfluenceClient::check_credentials`]); for the others the
//! next operation is simply tried again after the back-off. Any operation that goes through
//! lifts the hold. At start-up the credentials are checked once with an authenticated call,
//! since version detection is anonymous.
//!
//! [`ConfluenceClient::check_credentials`]: crate::confluence::ConfluenceClient::check_credentials

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::worker::AppSync;
use crate::confluence::{Auth, SetupProblem};
use crate::store::{AuditEntry, HoldRow, Mutation};

/// Reads UserSync's Confluence credentials again (from the secret file or environment
/// variable the configuration names); the error says why they cannot be read.
pub type CredentialSource = Arc<dyn Fn() -> Result<Auth, String> + Send + Sync>;

/// Why an app's operations wait although Confluence answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub problem: SetupProblem,
    /// Confluence's answer, as classified.
    pub detail: String,
    /// When the hold started (RFC 3339).
    pub since: String,
}

impl Hold {
    /// What an operator reads first: "Confluence rejects UserSync's credentials".
    pub fn reason(&self) -> &'static str {
        self.problem.summary()
    }

    fn row(&self) -> HoldRow {
        HoldRow {
            problem: self.problem.as_str().to_owned(),
            summary: self.reason().to_owned(),
            detail: self.detail.clone(),
            since: self.since.clone(),
        }
    }
}

impl AppSync {
    /// Why the app's operations wait although Confluence answers, if they do.
    pub fn held(&self) -> Option<Hold> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Holds the app's operations because of `problem` (`error` is Confluence's answer):
    /// the app pauses for the back-off, and a new hold is logged, audited and stored.
    pub(super) async fn hold(&self, problem: SetupProblem, error: &str) {
        let started = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            match held.as_mut() {
                Some(h) if h.problem == problem => {
                    h.detail = error.to_owned();
                    None
                }
                _ => {
                    let hold = Hold { problem, detail: error.to_owned(), since: crate::clock::now_rfc3339() };
                    *held = Some(hold.clone());
                    Some(hold)
                }
            }
        };
        let delay = self.back_off(None);
        let Some(hold) = started else {
            tracing::debug!(app = %self.app, %error, retry_in_ms = delay.as_millis() as u64, "still held");
            return;
        };
        tracing::error!(
            app = %self.app,
            reason = hold.reason(),
            detail = %hold.detail,
            "SCIM changes are stored and their Confluence operations wait until this is fixed"
        );
        let entry = self.hold_audit("held", format!("{}: {}", hold.reason(), hold.detail));
        let row = Mutation::Hold { app: self.app.clone(), hold: Some(hold.row()) };
        if let Err(e) = self.store.commit(vec![row, entry]).await {
            tracing::error!(app = %self.app, error = %e, "cannot record the hold of Confluence operations");
        }
    }

    /// Lifts the hold, if there is one (or an earlier process left one stored): the
    /// operations go again.
    pub(super) async fn lift_hold(&self) {
        let lifted = self.held.lock().unwrap_or_else(PoisonError::into_inner).take();
        let stored = self.hold_row_unknown.swap(false, Ordering::SeqCst);
        if lifted.is_none() && !stored {
            return;
        }
        let mut mutations = vec![Mutation::Hold { app: self.app.clone(), hold: None }];
        if let Some(hold) = &lifted {
            let queued = self.outbox.len(&self.app);
            tracing::info!(app = %self.app, reason = hold.reason(), queued, "fixed: Confluence operations resume");
            mutations.push(self.hold_audit("resumed", format!("fixed since {}: {}", hold.since, hold.reason())));
            self.unpause();
            self.resumed.notify_waiters();
        }
        if let Err(e) = self.store.commit(mutations).await {
            tracing::error!(app = %self.app, error = %e, "cannot record the end of a hold");
            self.hold_row_unknown.store(true, Ordering::SeqCst);
        }
    }

    /// Reads the credentials again and asks Confluence whether they work: the hold is
    /// lifted when they do, and kept (with the back-off) when they do not.
    pub(super) async fn recheck(&self) {
        if let Some(read) = &self.credentials {
            match read() {
                Ok(auth) => match self.client.set_auth(&auth) {
                    Ok(true) => {
                        tracing::info!(app = %self.app, "UserSync's Confluence credentials changed; trying them")
                    }
                    Ok(false) => {}
                    Err(e) => return self.hold(SetupProblem::Settings, &e.to_string()).await,
                },
                Err(e) => {
                    let error = format!("cannot read UserSync's Confluence credentials: {e}");
                    return self.hold(SetupProblem::Credentials, &error).await;
                }
            }
        }
        match self.client.check_credentials().await {
            Ok(account) => {
                tracing::info!(app = %self.app, %account, "Confluence accepts UserSync's credentials");
                self.recovered().await;
            }
            Err(e) => match e.setup_problem() {
                Some(problem) => self.hold(problem, &e.to_string()).await,
                // Confluence is down or slow meanwhile: still held, ask again later.
                None => self.pause(e.retry_after(), &e.to_string()),
            },
        }
    }

    /// At start-up: checks the credentials with an authenticated call (retrying while
    /// Confluence is unreachable), and holds the app at once when they do not work.
    pub(super) async fn check_at_start(self: Arc<Self>) {
        for attempt in 0u32.. {
            if self.is_stopped() {
                return;
            }
            match self.client.check_credentials().await {
                Ok(account) => {
                    tracing::info!(app = %self.app, %account, "Confluence accepts UserSync's credentials");
                    self.lift_hold().await;
                    return;
                }
                Err(e) => match e.setup_problem() {
                    Some(problem) => return self.hold(problem, &e.to_string()).await,
                    None => {
                        tracing::warn!(app = %self.app, error = %e, "cannot check UserSync's Confluence credentials yet");
                        let wait = self.backoff.delay(attempt.min(16), e.retry_after());
                        tokio::time::sleep(wait).await;
                    }
                },
            }
        }
    }

    fn hold_audit(&self, outcome: &str, detail: String) -> Mutation {
        Mutation::Audit(AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: self.app.to_string(),
            subject: "-".into(),
            user_name: "-".into(),
            action: "confluence-hold".into(),
            outcome: outcome.into(),
            module_name: String::new(),
            module_hash: String::new(),
            detail,
        })
    }
}
