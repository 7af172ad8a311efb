//! One app's link to Confluence: its client and its outbox workers. The at-once apply a
//! SCIM write tries before it answers is in `at_once.rs`; the hold of an app whose setup
//! fails (credentials, rights) in `hold.rs`.
//!
//! Workers take a ready subject from the [`Outbox`], apply its operations in order and
//! record each outcome in the store (the row leaves the outbox in the same transaction as
//! its audit entry). A transient failure pauses the whole app (Confluence is down, slow or
//! rate-limited for everyone, not for one user) for the back-off delay, or for what
//! `Retry-After` says; the operation stays at the head of its queue, with the [`Progress`]
//! it made. A failure of UserSync's own setup holds the app the same way, and says why
//! ([`Hold`]). A refusal because of the data moves the operation to `outbox_failed` and the
//! queue goes on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::apply::{apply, Applied, KnownGroups, Progress};
use super::hold::{CredentialSource, Hold};
use super::outbox::{Claim, Outbox, Parked, Queued};
use super::plan::{Deprovision, Op};
use crate::confluence::{Backoff, ConfluenceClient};
use crate::store::{AuditEntry, Mutation, Store};

/// How one app's Confluence side behaves.
#[derive(Debug, Clone, Copy)]
pub struct AppSyncSettings {
    /// How long a SCIM write waits for its operations before leaving them to the outbox.
    pub apply_deadline: Duration,
    pub policy: Deprovision,
    /// Outbox workers (the app's concurrency limit).
    pub workers: usize,
    /// Waits between retries after a transient failure.
    pub backoff: Backoff,
}

/// One app's Confluence side.
pub struct AppSync {
    pub(super) app: Arc<str>,
    pub(super) client: ConfluenceClient,
    pub(super) outbox: Arc<Outbox>,
    pub(super) store: Store,
    pub(super) groups: KnownGroups,
    pub(super) backoff: Backoff,
    /// Until when Confluence is left alone after a transient failure.
    paused_until: Mutex<Option<Instant>>,
    failures: AtomicU32,
    pub apply_deadline: Duration,
    pub policy: Deprovision,
    workers: usize,
    /// Set by [`AppSync::stop`]: workers finish the operation in hand and end.
    stopping: AtomicBool,
    stopped: tokio::sync::Notify,
    /// Why the app's operations wait although Confluence answers, if they do.
    pub(super) held: Mutex<Option<Hold>>,
    /// Whether `confluence_hold` may hold a row for the app that memory does not (from an
    /// earlier process): the next lift of a hold clears it.
    pub(super) hold_row_unknown: AtomicBool,
    /// Set while one worker checks whether the setup works again.
    pub(super) rechecking: AtomicBool,
    /// Woken when a hold is lifted.
    pub(super) resumed: tokio::sync::Notify,
    /// Reads the credentials again (the secret file or variable may have changed).
    pub(super) credentials: Option<CredentialSource>,
    /// How far operations that failed part-way got, by `seq`.
    progress: Mutex<HashMap<u64, Progress>>,
    /// When a worker last asked Confluence whether the groups of parked memberships exist.
    parked_checked: Mutex<Instant>,
    /// The groups the app's rules need that Confluence lacks, and the module version that
    /// was checked.
    needed: Mutex<NeededGroups>,
}

/// The result of the last check of the groups an app's rules need.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NeededGroups {
    /// The module version checked.
    pub module_hash: String,
    /// Needed groups Confluence does not have.
    pub missing: Vec<String>,
}

/// How often an idle worker asks Confluence whether the groups parked memberships wait for
/// have appeared (made by hand, say).
const PARKED_CHECK: Duration = Duration::from_secs(30);

impl AppSync {
    pub fn new(
        app: &str,
        client: ConfluenceClient,
        outbox: Arc<Outbox>,
        store: Store,
        settings: AppSyncSettings,
        credentials: Option<CredentialSource>,
    ) -> Arc<AppSync> {
        Arc::new(AppSync {
            app: Arc::from(app),
            client,
            outbox,
            store,
            groups: KnownGroups::default(),
            backoff: settings.backoff,
            paused_until: Mutex::new(None),
            failures: AtomicU32::new(0),
            apply_deadline: settings.apply_deadline,
            policy: settings.policy,
            workers: settings.workers.max(1),
            stopping: AtomicBool::new(false),
            stopped: tokio::sync::Notify::new(),
            held: Mutex::new(None),
            hold_row_unknown: AtomicBool::new(true),
            rechecking: AtomicBool::new(false),
            resumed: tokio::sync::Notify::new(),
            credentials,
            progress: Mutex::new(HashMap::new()),
            parked_checked: Mutex::new(Instant::now()),
            needed: Mutex::new(NeededGroups::default()),
        })
    }

    pub fn client(&self) -> &ConfluenceClient {
        &self.client
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Starts the app's outbox workers (as many as its concurrency limit), and the check of
    /// UserSync's credentials with an authenticated call.
    pub fn spawn_workers(self: &Arc<Self>) {
        for _ in 0..self.workers {
            let me = self.clone();
            tokio::spawn(async move { me.work().await });
        }
        let me = self.clone();
        tokio::spawn(async move { me.check_at_start().await });
    }

    /// How long the app still leaves Confluence alone after a transient failure.
    pub fn paused_for(&self) -> Option<Duration> {
        let until = (*self.paused_until.lock().unwrap_or_else(PoisonError::into_inner))?;
        until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())
    }

    /// Notes a transient failure: the app pauses for the back-off delay.
    pub(super) fn pause(&self, retry_after: Option<Duration>, error: &str) {
        let delay = self.back_off(retry_after);
        tracing::warn!(app = %self.app, %error, retry_in_ms = delay.as_millis() as u64, "Confluence unavailable; operations wait in the outbox");
    }

    /// Pauses the app for the next back-off delay (or `retry_after`) and returns it.
    pub(super) fn back_off(&self, retry_after: Option<Duration>) -> Duration {
        let attempt = self.failures.fetch_add(1, Ordering::Relaxed);
        let delay = self.backoff.delay(attempt, retry_after);
        let mut until = self.paused_until.lock().unwrap_or_else(PoisonError::into_inner);
        let next = Instant::now() + delay;
        if until.is_none_or(|u| u < next) {
            *until = Some(next);
        }
        delay
    }

    /// Notes that Confluence did what was asked: the back-off starts over, and a hold is
    /// lifted.
    pub(super) async fn recovered(&self) {
        self.reset_failures();
        self.lift_hold().await;
    }

    /// The back-off starts over (an operation went through).
    pub(super) fn reset_failures(&self) {
        if self.failures.swap(0, Ordering::Relaxed) > 0 {
            tracing::info!(app = %self.app, "Confluence reachable again");
        }
    }

    /// Ends the pause: the setup works again.
    pub(super) fn unpause(&self) {
        *self.paused_until.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// How far `q` got before (`NotStarted` when never tried; `Uncertain` when restored from
    /// the outbox table, where an earlier process may have sent part of it).
    fn progress_of(&self, q: &Queued) -> Progress {
        let known = self.progress.lock().unwrap_or_else(PoisonError::into_inner).get(&q.seq).copied();
        known.unwrap_or(if q.seq <= self.outbox.restored_up_to() { Progress::Uncertain } else { Progress::NotStarted })
    }

    /// Remembers how far operation `seq` got, for its next attempt.
    pub(super) fn keep_progress(&self, seq: u64, progress: Progress) {
        let mut map = self.progress.lock().unwrap_or_else(PoisonError::into_inner);
        match progress {
            Progress::NotStarted => map.remove(&seq),
            other => map.insert(seq, other),
        };
    }

    fn forget_progress(&self, seq: u64) {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner).remove(&seq);
    }

    /// Stops the app's workers: each finishes the operation in hand (its outcome is
    /// recorded) and ends; what is still queued stays in the outbox table for the next start.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stopped.notify_waiters();
    }

    /// Whether [`AppSync::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    async fn work(self: Arc<Self>) {
        while !self.stopping.load(Ordering::SeqCst) {
            let stop = self.stopped.notified();
            if let Some(wait) = self.paused_for() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop => {}
                }
                continue;
            }
            if self.held().is_some_and(|h| h.problem.is_about_the_account()) {
                // Only asking Confluence tells when the account works again: one worker
                // asks, the others wait for the answer.
                if self.rechecking.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
                    self.recheck().await;
                    self.rechecking.store(false, Ordering::SeqCst);
                } else {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = self.resumed.notified() => {}
                        () = stop => {}
                    }
                }
                continue;
            }
            match self.outbox.next(&self.app) {
                Some((claim, head)) => self.run_subject(claim, head).await,
                None if self.parked_check_due() => self.check_parked().await,
                None => {
                    // A missed wake-up costs at most this long.
                    tokio::select! {
                        _ = tokio::time::timeout(Duration::from_secs(1), self.outbox.wait(&self.app)) => {}
                        () = stop => {}
                    }
                }
            }
        }
    }

    /// Applies a claimed subject's queue until it is empty or Confluence fails.
    async fn run_subject(&self, claim: Claim, mut head: Queued) {
        loop {
            let mut progress = self.progress_of(&head);
            let applied = apply(&self.client, &head.op, &self.groups, &mut progress).await;
            if !self.settle(&claim, &head, applied, progress).await || self.stopping.load(Ordering::SeqCst) {
                return; // dropping the claim makes the subject ready again if ops are left
            }
            match self.outbox.head(&claim) {
                Some(next) => head = next,
                None => return,
            }
        }
    }

    /// Records what became of `head`, the first operation of the subject `claim` holds,
    /// after an attempt that got as far as `progress`. Returns whether the subject's next
    /// operation may go (false: it waits at the head of its queue, with its progress).
    pub(super) async fn settle(&self, claim: &Claim, head: &Queued, applied: Applied, progress: Progress) -> bool {
        let (failed, note) = match applied {
            Applied::Transient { error, retry_after } => {
                self.keep_progress(head.seq, progress);
                self.pause(retry_after, &error);
                return false;
            }
            Applied::Held { problem, error } => {
                self.keep_progress(head.seq, progress);
                self.hold(problem, &error).await;
                return false;
            }
            Applied::Blocked { group, reason } => {
                self.recovered().await;
                self.forget_progress(head.seq);
                let parked = Parked { queued: head.clone(), group, reason };
                if !self.park(parked).await {
                    self.pause(None, "the store cannot record an outcome");
                    return false;
                }
                self.outbox.finish(&self.app, claim.subject(), head.seq);
                return true;
            }
            Applied::Refused(e) => (Some(e), None),
            Applied::Done(note) => (None, note),
        };
        self.recovered().await;
        if !self.record(head, failed.clone(), note).await {
            // Applied but not recorded: the next attempt asks Confluence before creating.
            self.keep_progress(head.seq, if failed.is_none() { Progress::Uncertain } else { progress });
            self.pause(None, "the store cannot record an outcome");
            return false;
        }
        self.forget_progress(head.seq);
        self.outbox.finish(&self.app, claim.subject(), head.seq);
        if let (Op::CreateGroup { group }, None) = (&head.op, &failed) {
            self.release(group).await;
        }
        true
    }

    /// Removes a finished operation from the outbox and audits it, in one commit.
    async fn record(&self, q: &Queued, failed: Option<String>, note: Option<String>) -> bool {
        if let Some(e) = &failed {
            tracing::warn!(app = %self.app, op = %q.op.describe(), error = %e, "Confluence refused an operation");
        }
        let entry = self.audit(q, failed.as_deref(), note.as_deref());
        let result = self.store.commit(vec![Mutation::Dequeue { seq: q.seq, failed }, Mutation::Audit(entry)]).await;
        if let Err(e) = &result {
            tracing::error!(app = %self.app, error = %e, "cannot record an outbox outcome");
        }
        result.is_ok()
    }

    /// Parks a queued membership whose group is missing, durably (out of the outbox table,
    /// into the parked one, with an audit entry) and in memory.
    async fn park(&self, parked: Parked) -> bool {
        tracing::warn!(app = %self.app, op = %parked.queued.op.describe(), reason = %parked.reason, "membership parked");
        let result = self.store.commit(vec![Mutation::Block(parked.row(&self.app)), self.parked_audit(&parked)]).await;
        if let Err(e) = &result {
            tracing::error!(app = %self.app, error = %e, "cannot park a membership");
            return false;
        }
        self.outbox.park(&self.app, vec![parked]);
        true
    }

    /// The audit entry of a parked membership.
    pub fn parked_audit(&self, parked: &Parked) -> Mutation {
        let mut entry = self.audit(&parked.queued, None, Some(&parked.reason));
        entry.outcome = "blocked".into();
        Mutation::Audit(entry)
    }

    /// Sends the memberships parked for `group` back to the outbox, now that it exists (for
    /// every app: the outbox is shared, and one app's creation serves another's mapping);
    /// those no decision wants any more are dropped.
    pub async fn release(&self, group: &str) {
        for app in self.outbox.parking_apps(group) {
            let parked = self.outbox.unpark(&app, group);
            let snapshot = self.store.snapshot();
            let wanted = |p: &Parked| snapshot.granted(&p.queued.subject, group);
            let mut mutations: Vec<Mutation> = parked.iter().map(|p| Mutation::Unblock { seq: p.queued.seq }).collect();
            let again: Vec<Queued> = parked
                .iter()
                .filter(|p| wanted(p))
                .map(|p| Queued { seq: self.outbox.next_seq(), ..p.queued.clone() })
                .collect();
            mutations.push(Mutation::Enqueue(again.iter().map(|q| q.row(&app)).collect()));
            match self.store.commit(mutations).await {
                Ok(()) => {
                    tracing::info!(%app, %group, released = again.len(), "group exists now; parked memberships queued");
                    self.outbox.push(&app, again);
                }
                Err(e) => {
                    tracing::error!(%app, error = %e, "cannot release parked memberships; they stay parked");
                    self.outbox.park(&app, parked);
                }
            }
        }
    }

    /// The last check of the groups the app's rules need.
    pub fn needed_groups(&self) -> NeededGroups {
        self.needed.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Asks Confluence which of `needed` (what module `module_hash` says the app's settings
    /// need) it lacks, and keeps the answer. Returns it when it differs from the last one.
    ///
    /// # Errors
    /// Confluence could not be asked; the last answer stands.
    pub async fn check_needed_groups(
        &self,
        module_hash: &str,
        needed: &[String],
    ) -> Result<Option<NeededGroups>, crate::confluence::ConfluenceError> {
        let mut missing = Vec::new();
        for g in needed {
            let Ok(name) = crate::confluence::GroupName::parse(g) else {
                missing.push(g.clone());
                continue;
            };
            if !self.client.group_exists(&name).await? {
                missing.push(g.clone());
            }
        }
        let now = NeededGroups { module_hash: module_hash.to_owned(), missing };
        let mut last = self.needed.lock().unwrap_or_else(PoisonError::into_inner);
        if *last == now {
            return Ok(None);
        }
        *last = now.clone();
        Ok(Some(now))
    }

    /// Forgets the parked memberships of every group that `exists` says Confluence has: a
    /// Synchronize has just read Confluence and plans each of them again if still wanted.
    pub async fn forget_parked(&self, exists: impl Fn(&str) -> bool) {
        let groups = self.outbox.parked_groups(&self.app);
        for g in groups.into_iter().filter(|g| exists(g)) {
            let parked = self.outbox.unpark(&self.app, &g);
            let forget = parked.iter().map(|p| Mutation::Unblock { seq: p.queued.seq }).collect();
            if let Err(e) = self.store.commit(forget).await {
                tracing::error!(app = %self.app, error = %e, "cannot forget parked memberships; they stay parked");
                self.outbox.park(&self.app, parked);
            }
        }
    }

    fn parked_check_due(&self) -> bool {
        let mut last = self.parked_checked.lock().unwrap_or_else(PoisonError::into_inner);
        if last.elapsed() < PARKED_CHECK || self.outbox.parked(&self.app).is_empty() {
            return false;
        }
        *last = Instant::now();
        true
    }

    /// Asks Confluence whether the groups parked memberships wait for exist now.
    async fn check_parked(&self) {
        let groups = self.outbox.parked_groups(&self.app);
        for g in groups {
            let Ok(name) = crate::confluence::GroupName::parse(&g) else { continue };
            match self.client.group_exists(&name).await {
                Ok(true) => self.release(&g).await,
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(app = %self.app, group = %g, error = %e, "cannot check a parked membership's group");
                    return;
                }
            }
        }
    }

    /// The audit entry of an operation's outcome.
    pub fn audit(&self, q: &Queued, failed: Option<&str>, note: Option<&str>) -> AuditEntry {
        let detail = match (failed, note) {
            (Some(e), _) => format!("{}: {e}", q.op.describe()),
            (None, Some(n)) => format!("{}: {n}", q.op.describe()),
            (None, None) => q.op.describe(),
        };
        AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: self.app.to_string(),
            subject: q.origin.clone(),
            user_name: q.subject.clone(),
            action: "confluence".into(),
            outcome: if failed.is_some() { "failed" } else { "applied" }.into(),
            module_name: String::new(),
            module_hash: q.module_hash.clone(),
            detail,
        }
    }

    /// Numbers `ops` (planned for the person `origin` by module `module_hash`) for the
    /// outbox.
    pub fn queue(&self, ops: Vec<Op>, origin: &str, module_hash: &str) -> Vec<Queued> {
        let subjects = super::plan::subjects(&ops);
        ops.into_iter()
            .zip(subjects)
            .map(|(op, subject)| Queued {
                seq: self.outbox.next_seq(),
                subject,
                op,
                origin: origin.to_owned(),
                module_hash: module_hash.to_owned(),
            })
            .collect()
    }
}
