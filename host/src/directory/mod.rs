//! LDAP and Active Directory: directories pulled into the same pipeline as SCIM pushes
//! (issue 13). A directory app's people and groups are listed (`sync.rs`: the full
//! reconcile) or followed (`incremental.rs`: content sync, `uSNChanged`, `modifyTimestamp`),
//! turned into the pipeline's changes (`entry.rs`), and applied through
//! `Inbound::apply`, so the rules, the outbox, the audit log and Confluence see a directory
//! person exactly as they see a SCIM one. `runner.rs` schedules each app's runs and keeps
//! their reports (`report.rs`); `test_sync.rs` is Test Sync. `client.rs` holds the
//! connection, `codec.rs` what is parsed by hand (controls, GUIDs, SIDs, times, DNs).
//!
//! Layering: this module stands on `inbound`, `store` and `config`; `admin` and `server`
//! stand on it.

pub mod client;
pub mod codec;
pub mod entry;
pub mod incremental;
mod paged;
pub mod report;
pub mod runner;
pub mod sync;
pub mod test_sync;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use report::{RunKind, RunReport, RunStatus};
pub use runner::{DirectoryRunner, DirectoryStatus};

/// Why a directory step failed. Each names its cause for the administrator.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot reach the directory: {0}")]
    Unreachable(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("bind refused: {0}")]
    Bind(String),
    #[error("{detail}")]
    Search { rc: u32, detail: String },
    #[error("the directory did not answer within the time limit")]
    Timeout,
    #[error("the connection dropped: {0}")]
    Dropped(String),
    #[error("malformed answer: {0}")]
    Malformed(String),
    #[error("the stored cookie is too old; a full refresh is needed")]
    RefreshRequired,
    #[error("{0}")]
    Refused(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("no such app, or it is not a directory app: {0}")]
    NoApp(String),
}

/// The directory apps being served, by name.
#[derive(Default)]
pub struct Directories {
    runners: RwLock<HashMap<String, Arc<DirectoryRunner>>>,
}

impl Directories {
    pub fn insert(&self, name: &str, runner: Arc<DirectoryRunner>) {
        if let Ok(mut m) = self.runners.write() {
            if let Some(old) = m.insert(name.to_owned(), runner) {
                old.shutdown();
            }
        }
    }

    pub fn remove(&self, name: &str) {
        if let Ok(mut m) = self.runners.write() {
            if let Some(old) = m.remove(name) {
                old.shutdown();
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<DirectoryRunner>> {
        self.runners.read().ok().and_then(|m| m.get(name).cloned())
    }

    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.runners.read().map(|m| m.keys().cloned().collect()).unwrap_or_default();
        names.sort();
        names
    }
}

/// Starts a directory app's runner: its target built from `app`'s `[apps.directory]` (the
/// password read from the environment or its file, else `stored_password`) and its schedule
/// spawned.
///
/// # Errors
/// The app has no directory section, or its password or CA file cannot be read.
pub fn start(
    app: &crate::config::AppConfig,
    base_dir: &std::path::Path,
    inbound: Arc<crate::inbound::Inbound>,
    store: crate::store::Store,
    db: crate::store::Database,
    stored_password: Option<String>,
) -> Result<Arc<DirectoryRunner>, DirectoryError> {
    let config = app.directory.clone().ok_or_else(|| DirectoryError::NoApp(app.name.clone()))?;
    // The environment or a file, as the definition names; else what the admin side stored.
    let password = match config.password(base_dir).map_err(|e| DirectoryError::Config(e.to_string()))? {
        Some(p) => Some(p),
        None => stored_password,
    };
    let target = client::Target::new(config, password, base_dir)?;
    let sync = Arc::new(sync::DirectorySync { app: Arc::from(app.name.as_str()), target, inbound, store });
    let runner = DirectoryRunner::new(sync, db);
    runner.spawn();
    Ok(runner)
}
