//! Each directory app's schedule, as a task of its own: a full reconcile at start when
//! none has run and then every `full_interval_secs`; incremental runs every
//! `incremental_interval_secs` between them (or, with refreshAndPersist, a search kept open
//! that applies each change as it arrives, falling back to polling while the server refuses
//! or drops it). Every run's report is stored; a run waiting for approval is watched until
//! an administrator approves or discards it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ldap3::controls::RawControl;
use ldap3::Scope;
use serde::Serialize;
use tokio::sync::Notify;

use super::client::{self, Conn};
use super::codec::{self, SyncInfo, SyncMode, SyncStateKind};
use super::incremental::{cookie_bytes, detect, sync_info, sync_state, SyncBatch, STREAM};
use super::report::{RunKind, RunReport, RunStatus};
use super::sync::DirectorySync;
use crate::config::SyncStrategy;
use crate::store::Database;

/// What the health view and the console show of a directory app.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DirectoryStatus {
    pub strategy: String,
    pub persist_connected: bool,
    pub last_run: Option<String>,
    pub last_error: Option<String>,
    pub awaiting_approval: Option<i64>,
    pub running: bool,
}

/// A request to the app's task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Nothing,
    Full,
    Incremental,
}

/// The handle the admin side holds.
pub struct DirectoryRunner {
    pub sync: Arc<DirectorySync>,
    db: Database,
    status: Mutex<DirectoryStatus>,
    ask: Mutex<Ask>,
    wake: Notify,
    stop: Notify,
}

impl DirectoryRunner {
    pub fn new(sync: Arc<DirectorySync>, db: Database) -> Arc<DirectoryRunner> {
        Arc::new(DirectoryRunner {
            sync,
            db,
            status: Mutex::new(DirectoryStatus::default()),
            ask: Mutex::new(Ask::Nothing),
            wake: Notify::new(),
            stop: Notify::new(),
        })
    }

    pub fn status(&self) -> DirectoryStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set_status(&self, f: impl FnOnce(&mut DirectoryStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Asks for a run now (a full one, or the next incremental).
    pub fn run_now(&self, full: bool) {
        if let Ok(mut a) = self.ask.lock() {
            // A full run asked for earlier is not downgraded by a later incremental ask.
            *a = if full || *a == Ask::Full { Ask::Full } else { Ask::Incremental };
        }
        self.wake.notify_one();
    }

    /// Wakes the task to look at its pending approval again.
    pub fn nudge(&self) {
        self.wake.notify_one();
    }

    pub fn shutdown(&self) {
        self.stop.notify_one();
    }

    fn take_ask(&self) -> Ask {
        self.ask.lock().map(|mut a| std::mem::replace(&mut *a, Ask::Nothing)).unwrap_or(Ask::Nothing)
    }

    /// Starts the app's task.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move { me.run().await })
    }

    async fn run(self: Arc<Self>) {
        let cfg = self.sync.target.config.clone();
        let incremental = Duration::from_secs(cfg.incremental_interval_secs);
        let full_every = Duration::from_secs(cfg.full_interval_secs);
        let strategy = match cfg.strategy {
            Some(s) => s,
            None => self.detect().await,
        };
        self.set_status(|s| s.strategy = strategy.as_str().to_owned());
        let mut last_full: Option<Instant> = None;
        // A run stopped before a restart still waits for its approval (or, approved while
        // UserSync was down, runs now).
        if let Some(id) = self.pending_before_restart().await {
            self.set_status(|s| s.awaiting_approval = Some(id));
        }
        if self.last_full_succeeded().await {
            // A full reconcile ran before the restart: resume incrementally.
            last_full = Some(Instant::now());
        }
        let mut persist: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let asked = self.take_ask();
            let pending = self.status().awaiting_approval;
            let approved = match pending {
                Some(id) => self.approval(id).await,
                None => None,
            };
            let full_due = last_full.is_none_or(|t| t.elapsed() >= full_every) || asked == Ask::Full;
            if let Some(allowed) = approved {
                self.full_run(strategy, Some(allowed)).await;
                last_full = Some(Instant::now());
            } else if pending.is_some() && asked != Ask::Full {
                // Waiting for an administrator; the incremental runs go on below.
            } else if full_due {
                let ok = self.full_run(strategy, None).await;
                if ok || last_full.is_none() {
                    last_full = Some(Instant::now());
                }
            }
            if strategy == SyncStrategy::SyncreplPersist {
                if persist.as_ref().is_none_or(tokio::task::JoinHandle::is_finished) {
                    // Until the persistent search holds, poll so changes still arrive.
                    if persist.is_some() {
                        self.incremental_run(SyncStrategy::Syncrepl).await;
                    }
                    persist = Some(self.clone().spawn_persist());
                }
            } else if strategy != SyncStrategy::Full && (asked == Ask::Incremental || !full_due) {
                self.incremental_run(strategy).await;
            }
            let wait = if strategy == SyncStrategy::SyncreplPersist {
                incremental.min(Duration::from_secs(5))
            } else if self.status().awaiting_approval.is_some() {
                incremental.min(Duration::from_secs(2))
            } else {
                incremental
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
                () = self.stop.notified() => {
                    if let Some(p) = persist { p.abort(); }
                    return;
                }
            }
        }
    }

    async fn detect(&self) -> SyncStrategy {
        match self.sync.target.open().await {
            Ok(mut conn) => {
                let strategy = conn.root_dse().await.map(|r| detect(&r)).unwrap_or(SyncStrategy::Timestamp);
                conn.close().await;
                strategy
            }
            Err(_) => SyncStrategy::Timestamp,
        }
    }

    async fn last_full_succeeded(&self) -> bool {
        self.db
            .directory_runs(Some(self.sync.app.to_string()), 50)
            .await
            .map(|runs| runs.iter().any(|r| r.kind == "full" && r.status == "succeeded"))
            .unwrap_or(false)
    }

    /// The newest full run that stopped for approval and was neither approved and run nor
    /// discarded since: waiting, or approved while UserSync was down.
    async fn pending_before_restart(&self) -> Option<i64> {
        let runs = self.db.directory_runs(Some(self.sync.app.to_string()), 50).await.ok()?;
        // Newest first: a full run that went ahead after it ends the wait.
        for r in runs.iter().filter(|r| r.kind == "full") {
            match r.status.as_str() {
                "awaiting_approval" | "approved" => {
                    let settled_later =
                        runs.iter().any(|later| later.id > r.id && later.kind == "full" && later.status == "succeeded");
                    return (!settled_later).then_some(r.id);
                }
                "succeeded" | "discarded" => return None,
                _ => {}
            }
        }
        None
    }

    /// The number of deprovisionings an approved run allows, once approved.
    async fn approval(&self, id: i64) -> Option<usize> {
        let run = self.db.directory_run(id).await.ok().flatten()?;
        match run.status.as_str() {
            "approved" => {
                self.set_status(|s| s.awaiting_approval = None);
                let report: RunReport = serde_json::from_str(&run.report).ok()?;
                Some(report.deleted.len() + report.disabled.len())
            }
            "discarded" => {
                self.set_status(|s| s.awaiting_approval = None);
                None
            }
            _ => None,
        }
    }

    async fn cursor(&self) -> Option<String> {
        let cursors = self.db.directory_cursors(self.sync.app.to_string()).await.ok()?;
        cursors.into_iter().find(|(s, _)| s == STREAM).map(|(_, c)| c)
    }

    /// A full reconcile, its report stored. Whether it succeeded.
    pub async fn full_run(&self, strategy: SyncStrategy, allowed: Option<usize>) -> bool {
        self.set_status(|s| s.running = true);
        let watermark = match strategy {
            SyncStrategy::Usn | SyncStrategy::Timestamp | SyncStrategy::Dirsync => {
                self.sync.watermark(strategy).await.map(|w| (STREAM.to_owned(), w))
            }
            _ => None,
        };
        let mut report = self.sync.full(allowed, watermark).await;
        report.strategy = strategy.as_str().to_owned();
        let ok = report.status == RunStatus::Succeeded;
        self.keep(report).await;
        ok
    }

    async fn incremental_run(&self, strategy: SyncStrategy) {
        self.set_status(|s| s.running = true);
        let cursor = self.cursor().await;
        let report = match strategy {
            SyncStrategy::Syncrepl | SyncStrategy::SyncreplPersist => {
                self.sync.syncrepl_run(cursor.as_deref().map(cookie_bytes)).await
            }
            SyncStrategy::Usn => match self.sync.usn_run(cursor.as_deref()).await {
                Ok(r) => r,
                Err(why) => {
                    if let Some(why) = why {
                        tracing::warn!(app = %self.sync.app, "{why}");
                    }
                    self.full_run(strategy, None).await;
                    return;
                }
            },
            SyncStrategy::Dirsync => match self.sync.dirsync_run(cursor.as_deref()).await {
                Ok(r) => r,
                Err(()) => {
                    self.full_run(strategy, None).await;
                    return;
                }
            },
            SyncStrategy::Timestamp => match self.sync.timestamp_run(cursor.as_deref()).await {
                Ok(r) => r,
                Err(()) => {
                    self.full_run(strategy, None).await;
                    return;
                }
            },
            SyncStrategy::Full => return,
        };
        self.keep(report).await;
    }

    /// Stores a report (unless it is an incremental run that found nothing) and shows it.
    async fn keep(&self, report: RunReport) {
        let awaiting = report.status == RunStatus::AwaitingApproval && report.kind == RunKind::Full;
        let mut id = 0;
        if report.worth_keeping() {
            match self.db.put_directory_run(report.record_row(0)).await {
                Ok(stored) => id = stored,
                Err(e) => tracing::error!(app = %self.sync.app, error = %e, "cannot store a directory run's report"),
            }
        }
        let summary = report.summary();
        let failed = report.status == RunStatus::Failed;
        self.set_status(|s| {
            s.running = false;
            s.last_run = Some(format!("{} {}: {summary}", report.finished_at, report.kind.as_str()));
            s.last_error = if failed { report.error.clone() } else { None };
            if awaiting {
                s.awaiting_approval = Some(id);
            }
        });
    }

    fn spawn_persist(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let result = self.persist_session().await;
            self.set_status(|s| s.persist_connected = false);
            if let Err(e) = result {
                tracing::warn!(app = %self.sync.app, error = %e, "the persistent content-sync search ended; polling until it holds again");
                self.set_status(|s| s.last_error = Some(format!("persistent search: {e}")));
            }
        })
    }

    /// RFC 4533 refreshAndPersist: the refresh phase applied as one batch, then each change
    /// as it arrives, with the cookie the server sends beside it.
    async fn persist_session(&self) -> Result<(), super::DirectoryError> {
        use super::DirectoryError;
        let sync = &self.sync;
        let cursor = self.cursor().await;
        let mut conn: Conn = sync.target.open().await?;
        let (base, filter) = sync.people_and_groups();
        let control = RawControl {
            ctype: codec::SYNC_REQUEST_OID.to_owned(),
            crit: true,
            val: Some(codec::encode_sync_request(
                SyncMode::RefreshAndPersist,
                cursor.as_deref().map(cookie_bytes).as_deref(),
                false,
            )),
        };
        let attrs = sync.person_attrs();
        // The search has no time limit: it waits for changes. The connection's own end
        // (the server or the network dropping it) ends it.
        let mut handle = conn.handle().clone();
        let mut stream = handle
            .with_controls(vec![control])
            .streaming_search(&base, Scope::Subtree, &filter, attrs)
            .await
            .map_err(|e| DirectoryError::Dropped(e.to_string()))?;
        self.set_status(|s| s.persist_connected = true);
        let mut refresh = SyncBatch::default();
        let mut refreshing = true;
        loop {
            let item = match stream.next().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => return Err(DirectoryError::Dropped(e.to_string())),
            };
            if item.is_ref() {
                continue;
            }
            if item.is_intermediate() {
                if let Some(info) = sync_info(&item)? {
                    let mut done = false;
                    match info {
                        SyncInfo::NewCookie(c) => refresh.cookie = Some(c),
                        SyncInfo::RefreshDelete { cookie, refresh_done }
                        | SyncInfo::RefreshPresent { cookie, refresh_done } => {
                            refresh.cookie = cookie.or(refresh.cookie.take());
                            done = refresh_done;
                        }
                        SyncInfo::SyncIdSet { cookie, refresh_deletes, uuids } => {
                            refresh.cookie = cookie.or(refresh.cookie.take());
                            if refresh_deletes {
                                refresh.deleted.extend(uuids.iter().map(codec::uuid_string));
                            }
                        }
                    }
                    if done || !refreshing {
                        let batch = std::mem::take(&mut refresh);
                        self.apply_persisted(&mut conn, batch).await;
                        refreshing = false;
                    }
                }
                continue;
            }
            let state = sync_state(&item)?;
            let entry = client::entry(item)?;
            if let Some(s) = state {
                if let Some(c) = s.cookie {
                    refresh.cookie = Some(c);
                }
                match s.state {
                    SyncStateKind::Add | SyncStateKind::Modify => refresh.upserts.push(entry),
                    SyncStateKind::Delete => refresh.deleted.push(codec::uuid_string(&s.entry_uuid)),
                    SyncStateKind::Present => {}
                }
            } else {
                refresh.upserts.push(entry);
            }
            if !refreshing {
                let batch = std::mem::take(&mut refresh);
                self.apply_persisted(&mut conn, batch).await;
            }
        }
        let res = stream.finish().await;
        Err(DirectoryError::Dropped(format!(
            "the server ended the persistent search: {}",
            client::describe_rc(res.rc, &res.text)
        )))
    }

    async fn apply_persisted(&self, conn: &mut Conn, batch: SyncBatch) {
        if batch.upserts.is_empty() && batch.deleted.is_empty() && batch.cookie.is_none() {
            return;
        }
        let mut report = RunReport::start(&self.sync.app, RunKind::Incremental);
        report.strategy = SyncStrategy::SyncreplPersist.as_str().to_owned();
        self.sync.apply_batch(conn, batch, &mut report).await;
        self.keep(report.finish()).await;
    }
}
