//! [`Database`]: what the admin side reads and writes outside the writer thread (the
//! audit log, refused operations, tokens, administrator accounts and sessions), each call on
//! a short-lived connection of its own in a blocking task. The SQL stays in this module's
//! siblings; callers get typed rows.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use super::accounts::{self, AccountRow, SessionRow};
use super::apps::{self, AppRecord};
use super::connection_settings::{self, ConnectionRow};
use super::directory::{self, RunRecord};
use super::tokens::{self, TokenInfo};
use super::{open_connection, AuditEntry, FailedRow, StoreError};

/// Which audit entries to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub app: Option<String>,
    /// One person's entries, by SCIM id exactly (uses the index).
    pub subject: Option<String>,
    /// A person: their SCIM id, or (a prefix of) their `userName`.
    pub person: Option<String>,
    /// What triggered the entry (`create`, `sync`, `apply`, `admin`…), exactly.
    pub action: Option<String>,
    /// Entries at or after this RFC 3339 time (a prefix such as `2026-12-02` works).
    pub since: Option<String>,
    /// Entries before this time.
    pub until: Option<String>,
    pub limit: usize,
}

/// The database file, for the admin side.
#[derive(Debug, Clone)]
pub struct Database {
    path: PathBuf,
}

impl Database {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_owned() }
    }

    /// The folder the database file is in (where the admin side keeps its files).
    pub fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || f(&open_connection(&path)?))
            .await
            .map_err(|e| StoreError::Corrupt { id: "-".into(), detail: format!("database task lost: {e}") })?
    }

    /// The audit log, newest first.
    ///
    /// # Errors
    /// The database fails.
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        self.run(move |conn| Ok(super::desired::audit_filtered(conn, &filter)?)).await
    }

    /// Operations Confluence refused for good, newest first.
    ///
    /// # Errors
    /// The database fails.
    pub async fn failed(&self, app: Option<String>, limit: usize) -> Result<Vec<FailedRow>, StoreError> {
        self.run(move |conn| Ok(super::outbox::failed(conn, app.as_deref(), limit)?)).await
    }

    /// Creates a token for `app`: (its id, the secret, shown once).
    ///
    /// # Errors
    /// The database or the random source fails.
    pub async fn create_token(&self, app: String, label: String) -> Result<(String, String), StoreError> {
        self.run(move |conn| tokens::create(conn, &app, &label)).await
    }

    /// The Confluence connection as the console saved it, if it did.
    ///
    /// # Errors
    /// The database fails.
    pub async fn confluence_connection(&self) -> Result<Option<ConnectionRow>, StoreError> {
        self.run(connection_settings::get).await
    }

    /// Saves the Confluence connection.
    ///
    /// # Errors
    /// The database fails.
    pub async fn put_confluence_connection(&self, row: ConnectionRow) -> Result<(), StoreError> {
        self.run(move |conn| connection_settings::put(conn, &row)).await
    }

    /// Records a directory run (`id` 0: a new one) or a new status of one; its id.
    ///
    /// # Errors
    /// The database fails.
    pub async fn put_directory_run(&self, run: RunRecord) -> Result<i64, StoreError> {
        self.run(move |conn| directory::put_run(conn, &run)).await
    }

    /// The newest directory runs of `app` (or of all), newest first.
    ///
    /// # Errors
    /// The database fails.
    pub async fn directory_runs(&self, app: Option<String>, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.run(move |conn| directory::runs(conn, app.as_deref(), limit)).await
    }

    /// One directory run.
    ///
    /// # Errors
    /// The database fails.
    pub async fn directory_run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.run(move |conn| directory::run(conn, id)).await
    }

    /// The bind password stored for a directory app (never shown; for its runner only).
    ///
    /// # Errors
    /// The database fails.
    pub async fn directory_password(&self, app: String) -> Result<Option<String>, StoreError> {
        self.run(move |conn| directory::password(conn, &app)).await
    }

    /// Stores a directory app's bind password (`None`: forgets it).
    ///
    /// # Errors
    /// The database fails.
    pub async fn set_directory_password(&self, app: String, password: Option<String>) -> Result<(), StoreError> {
        self.run(move |conn| directory::set_password(conn, &app, password.as_deref())).await
    }

    /// Where `app`'s incremental sync resumes: (stream, cursor).
    ///
    /// # Errors
    /// The database fails.
    pub async fn directory_cursors(&self, app: String) -> Result<Vec<(String, String)>, StoreError> {
        self.run(move |conn| directory::cursors(conn, &app)).await
    }

    /// The apps made through the admin side, in creation order.
    ///
    /// # Errors
    /// The database fails.
    pub async fn app_records(&self) -> Result<Vec<AppRecord>, StoreError> {
        self.run(apps::list).await
    }

    /// The tokens of an app (or all), oldest first.
    ///
    /// # Errors
    /// The database fails.
    pub async fn tokens(&self, app: Option<String>) -> Result<Vec<TokenInfo>, StoreError> {
        self.run(move |conn| tokens::list(conn, app.as_deref())).await
    }

    /// Rotates a token of `app` (see [`tokens::rotate`]): the new one's (id, secret), or
    /// `None` when the app has no such active, unrotated token.
    ///
    /// # Errors
    /// The database fails.
    pub async fn rotate_token(
        &self,
        app: String,
        id: String,
        grace: std::time::Duration,
    ) -> Result<Option<(String, String)>, StoreError> {
        self.run(move |conn| {
            let listed = tokens::list(conn, Some(&app))?;
            if !listed.iter().any(|t| t.id == id && t.revoked.is_none()) {
                return Ok(None);
            }
            tokens::rotate(conn, &id, grace)
        })
        .await
    }

    /// Revokes a token of `app`; false if it has none by that id (or it was revoked).
    ///
    /// # Errors
    /// The database fails.
    pub async fn revoke_token(&self, app: String, id: String) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let listed = tokens::list(conn, Some(&app))?;
            if !listed.iter().any(|t| t.id == id && t.revoked.is_none()) {
                return Ok(false);
            }
            tokens::revoke(conn, &id)
        })
        .await
    }

    /// Creates (or with `replace`, resets) an administrator account.
    ///
    /// # Errors
    /// The database fails.
    pub async fn put_account(
        &self,
        username: String,
        password_phc: String,
        role: String,
        replace: bool,
    ) -> Result<bool, StoreError> {
        self.run(move |conn| accounts::put_account(conn, &username, &password_phc, &role, replace)).await
    }

    /// The password hash and role of an enabled account.
    ///
    /// # Errors
    /// The database fails.
    pub async fn credentials(&self, username: String) -> Result<Option<(String, String)>, StoreError> {
        self.run(move |conn| accounts::credentials(conn, &username)).await
    }

    /// Every administrator account.
    ///
    /// # Errors
    /// The database fails.
    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        self.run(accounts::accounts).await
    }

    /// Disables an account and ends its sessions.
    ///
    /// # Errors
    /// The database fails.
    pub async fn disable_account(&self, username: String) -> Result<bool, StoreError> {
        self.run(move |conn| accounts::disable(conn, &username)).await
    }

    /// Stores a new session.
    ///
    /// # Errors
    /// The database fails.
    pub async fn open_session(
        &self,
        id_sha256: [u8; 32],
        username: String,
        csrf: String,
        now: i64,
        expires: i64,
        address: String,
    ) -> Result<(), StoreError> {
        self.run(move |conn| accounts::open_session(conn, &id_sha256, &username, &csrf, now, expires, &address)).await
    }

    /// The live session with this id (see [`accounts::session`]).
    ///
    /// # Errors
    /// The database fails.
    pub async fn session(
        &self,
        id_sha256: [u8; 32],
        now: i64,
        idle_since: i64,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.run(move |conn| accounts::session(conn, &id_sha256, now, idle_since)).await
    }

    /// Ends a session.
    ///
    /// # Errors
    /// The database fails.
    pub async fn close_session(&self, id_sha256: [u8; 32]) -> Result<(), StoreError> {
        self.run(move |conn| accounts::close_session(conn, &id_sha256)).await
    }
}
