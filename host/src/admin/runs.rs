//! Synchronize runs started from the console: each runs in a task of its own, so the page
//! that started it shows its progress live (and a reload shows it again) instead of
//! waiting on one long request. One run per app at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Admin, AdminError};
use crate::inbound::SyncReport;

/// Progress lines kept per run (the latest).
const MAX_LINES: usize = 200;

/// A Synchronize run as the console shows it.
#[derive(Debug, Clone)]
pub struct SyncRun {
    pub dry_run: bool,
    pub actor: String,
    pub started_at: String,
    /// What it did so far, oldest first.
    pub lines: Vec<String>,
    /// `None` while it runs.
    pub outcome: Option<Result<Arc<SyncReport>, String>>,
    pub finished_at: Option<String>,
}

impl SyncRun {
    pub fn running(&self) -> bool {
        self.outcome.is_none()
    }
}

/// The latest run of each app.
#[derive(Default)]
pub struct SyncRuns {
    runs: Mutex<HashMap<String, SyncRun>>,
}

impl SyncRuns {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SyncRun>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn note(&self, app: &str, line: &str) {
        if let Some(run) = self.lock().get_mut(app) {
            if run.lines.len() >= MAX_LINES {
                run.lines.remove(0);
            }
            run.lines.push(format!("{}  {line}", crate::clock::now_rfc3339()));
        }
    }
}

impl Admin {
    /// Starts a Synchronize of `app` in the background (a dry run, or the real one, which
    /// waits up to `wait` for the outbox to apply its repairs). Refused while one runs.
    ///
    /// # Errors
    /// No such app, or a run of the app is still going.
    pub fn start_synchronize(
        self: &Arc<Self>,
        actor: &str,
        app: &str,
        dry_run: bool,
        wait: Duration,
    ) -> Result<(), AdminError> {
        self.known(app)?;
        {
            let mut runs = self.runs.lock();
            if let Some(run) = runs.get(app).filter(|r| r.running()) {
                return Err(AdminError::Invalid(format!(
                    "a Synchronize of {app} is already running (started by {} at {})",
                    run.actor, run.started_at
                )));
            }
            runs.insert(
                app.to_owned(),
                SyncRun {
                    dry_run,
                    actor: actor.to_owned(),
                    started_at: crate::clock::now_rfc3339(),
                    lines: Vec::new(),
                    outcome: None,
                    finished_at: None,
                },
            );
        }
        let (admin, app, actor) = (self.clone(), app.to_owned(), actor.to_owned());
        tokio::spawn(async move {
            let note = |line: &str| {
                tracing::info!(%app, "synchronize: {line}");
                admin.runs.note(&app, line);
            };
            let outcome = admin.synchronize_with(&actor, &app, dry_run, wait, &note).await;
            let mut runs = admin.runs.lock();
            if let Some(run) = runs.get_mut(&app) {
                run.outcome = Some(outcome.map(Arc::new).map_err(|e| e.to_string()));
                run.finished_at = Some(crate::clock::now_rfc3339());
            }
        });
        Ok(())
    }

    /// The latest Synchronize run of `app` started here (running or finished).
    pub fn sync_run(&self, app: &str) -> Option<SyncRun> {
        self.runs.lock().get(app).cloned()
    }
}
