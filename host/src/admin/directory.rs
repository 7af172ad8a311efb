//! The admin side of directory apps: their runs and reports, a run now, the approval of a
//! run the deletion threshold stopped, and Test connection / authentication / Sync.

use serde::Serialize;

use super::{Admin, AdminError};
use crate::directory::test_sync::{self, ConnectionCheck, TestSync};
use crate::directory::{DirectoryRunner, DirectoryStatus, RunReport};
use std::sync::Arc;

/// One run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    pub id: i64,
    pub app: String,
    pub kind: String,
    pub status: String,
    pub started_at: String,
    pub finished_at: String,
    pub summary: String,
}

/// One run, whole.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: RunView,
    pub report: Option<RunReport>,
}

impl Admin {
    fn directory(&self, app: &str) -> Result<Arc<DirectoryRunner>, AdminError> {
        self.known(app)?;
        self.directories.get(app).ok_or_else(|| AdminError::Invalid(format!("app {app} is not a directory (LDAP) app")))
    }

    /// The directory apps' names.
    pub fn directory_apps(&self) -> Vec<String> {
        self.directories.names()
    }

    /// What the app's runner is doing (health view).
    ///
    /// # Errors
    /// No such directory app.
    pub fn directory_status(&self, app: &str) -> Result<DirectoryStatus, AdminError> {
        Ok(self.directory(app)?.status())
    }

    /// The newest runs of `app`, newest first.
    ///
    /// # Errors
    /// No such directory app, or the store fails.
    pub async fn directory_runs(&self, app: &str, limit: usize) -> Result<Vec<RunView>, AdminError> {
        self.directory(app)?;
        let runs = self.db.directory_runs(Some(app.to_owned()), limit).await?;
        Ok(runs.into_iter().map(view).collect())
    }

    /// One run with its report.
    ///
    /// # Errors
    /// No such run of `app`, or the store fails.
    pub async fn directory_run(&self, app: &str, id: i64) -> Result<RunDetail, AdminError> {
        let run = self
            .db
            .directory_run(id)
            .await?
            .filter(|r| r.app == app)
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no run #{id}")))?;
        let report = serde_json::from_str(&run.report).ok();
        Ok(RunDetail { run: view(run), report })
    }

    /// Starts a run now (a full reconcile, or the next incremental one).
    ///
    /// # Errors
    /// No such directory app.
    pub async fn directory_sync(&self, actor: &str, app: &str, full: bool) -> Result<(), AdminError> {
        self.directory(app)?.run_now(full);
        let what = if full { "full reconcile" } else { "incremental run" };
        self.record(actor, app, "directory", &format!("asked for a {what}")).await;
        Ok(())
    }

    /// Approves (or discards) a run the deletion threshold stopped; an approved one is run
    /// again at once with the threshold lifted to what the administrator saw.
    ///
    /// # Errors
    /// No such run awaiting approval, or the store fails.
    pub async fn settle_directory_run(&self, actor: &str, app: &str, id: i64, approve: bool) -> Result<(), AdminError> {
        let runner = self.directory(app)?;
        let mut run = self
            .db
            .directory_run(id)
            .await?
            .filter(|r| r.app == app)
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no run #{id}")))?;
        if run.status != "awaiting_approval" {
            return Err(AdminError::Invalid(format!("run #{id} is {}, not awaiting approval", run.status)));
        }
        run.status = if approve { "approved" } else { "discarded" }.to_owned();
        let what = format!("{} run #{id}: {}", run.status, run.summary);
        self.db.put_directory_run(run).await?;
        runner.nudge();
        self.record(actor, app, "directory", &what).await;
        Ok(())
    }

    /// Stores a directory app's bind password (write-only: never shown, listed or logged)
    /// and restarts its runner with it. Only for apps made through the admin side; a file
    /// app names an environment variable or a file.
    ///
    /// # Errors
    /// No such console-made directory app, or the store fails.
    pub async fn set_directory_password(&self, actor: &str, app: &str, password: &str) -> Result<(), AdminError> {
        self.directory(app)?;
        if self.inbound.app(app).is_some_and(|a| a.source == crate::inbound::AppSource::File) {
            return Err(AdminError::ReadOnly(app.to_owned()));
        }
        if password.is_empty() {
            return Err(AdminError::Invalid("the password is empty".into()));
        }
        self.db.set_directory_password(app.to_owned(), Some(password.to_owned())).await?;
        let def = self
            .db
            .app_records()
            .await?
            .into_iter()
            .find(|r| r.name == app)
            .and_then(|r| serde_json::from_str::<crate::config::AppConfig>(&r.definition).ok())
            .ok_or_else(|| AdminError::NoApp(app.to_owned()))?;
        self.serve_directory(&def).await?;
        self.record(actor, app, "directory", "bind password changed").await;
        Ok(())
    }

    /// Test connection: TCP, TLS and the root DSE.
    ///
    /// # Errors
    /// No such directory app; the failure's cause otherwise.
    pub async fn directory_test_connection(&self, app: &str) -> Result<ConnectionCheck, AdminError> {
        let runner = self.directory(app)?;
        test_sync::test_connection(&runner.sync.target).await.map_err(|e| AdminError::Refused(e.to_string()))
    }

    /// Test authentication: the bind.
    ///
    /// # Errors
    /// No such directory app; the bind's refusal otherwise.
    pub async fn directory_test_auth(&self, app: &str) -> Result<String, AdminError> {
        let runner = self.directory(app)?;
        test_sync::test_auth(&runner.sync.target).await.map_err(|e| AdminError::Refused(e.to_string()))
    }

    /// Test Sync: one person looked up, decoded and decided; nothing stored.
    ///
    /// # Errors
    /// No such directory app or person; the directory's failure otherwise.
    pub async fn directory_test_user(&self, app: &str, login: &str) -> Result<TestSync, AdminError> {
        let runner = self.directory(app)?;
        if login.trim().is_empty() {
            return Err(AdminError::Invalid("give a username to look up".into()));
        }
        test_sync::test_user(&runner.sync, self.inbound.rules(), login)
            .await
            .map_err(|e| AdminError::Refused(e.to_string()))
    }
}

fn view(r: crate::store::directory::RunRecord) -> RunView {
    RunView {
        id: r.id,
        app: r.app,
        kind: r.kind,
        status: r.status,
        started_at: r.started_at,
        finished_at: r.finished_at,
        summary: r.summary,
    }
}
