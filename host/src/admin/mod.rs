//! The application services of the admin side: what the console, the admin API and the CLI
//! ask of UserSync, answered as typed structs. None of them reads SQLite itself; they go
//! through [`Database`] and the in-memory snapshot.

pub mod accounts;
pub mod apps;
pub mod connection;
pub mod directory;
pub mod directory_console;
pub mod runs;
mod search;

use std::sync::Arc;
use std::time::Duration;

use crate::inbound::{App, Inbound, SyncReport};
use crate::rules::types::{Decisions, IdpGroup};
use crate::rules::ModuleStatus;
use crate::scim::error::ScimError;
use crate::scim::schema::ResourceKind;
use crate::store::tokens::TokenInfo;
use crate::store::{
    AuditEntry, AuditFilter, Database, DesiredOutcome, DesiredUser, FailedRow, Mutation, ObservedUser, Snapshot, Store,
    StoreError, StoredResource,
};
pub use accounts::{LoginThrottle, Role};

/// Errors of the admin services.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no app {0}")]
    NoApp(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
    /// The app is defined by the configuration file, which the admin side does not write.
    #[error("app {0} is managed by the configuration file; change it there (it is read-only here)")]
    ReadOnly(String),
}

impl From<ScimError> for AdminError {
    fn from(e: ScimError) -> Self {
        AdminError::Refused(e.detail)
    }
}

/// The admin side's services.
pub struct Admin {
    inbound: Arc<Inbound>,
    store: Store,
    db: Database,
    /// `[confluence]` as the console shows it: the URL and how UserSync signs in (never the
    /// secret).
    confluence: std::sync::Mutex<Option<ConfluenceSignIn>>,
    /// Failed console logins, per account and per address.
    pub logins: LoginThrottle,
    /// What changing apps at run time needs (`None`: apps cannot be changed here).
    runtime: Option<apps::AppRuntime>,
    /// Synchronize runs started from the console.
    runs: runs::SyncRuns,
    /// The people search's index, brought up to date by each search.
    search: std::sync::Mutex<search::SearchIndex>,
    /// The directory apps' runners.
    directories: Arc<crate::directory::Directories>,
}

/// The Confluence page.
#[derive(Debug, Clone)]
pub struct ConfluencePage {
    pub url: String,
    pub sign_in: String,
    /// The account UserSync signs in as with a password (never the secret), to fill the
    /// form with; `None` with a token.
    pub username: Option<String>,
    /// The version (and how it is known) with what it cannot do; or why it is not known.
    pub version: Result<(String, Vec<String>), String>,
    /// Per app: why it waits although Confluence answers, how long it still backs off,
    /// and how much is queued.
    pub apps: Vec<(String, Option<String>, Option<u64>, usize)>,
}

/// `[confluence]` as the console shows it (never the secret).
#[derive(Debug, Clone)]
struct ConfluenceSignIn {
    url: String,
    sign_in: String,
    username: Option<String>,
}

/// One app as the console's list shows it.
#[derive(Debug, Clone)]
pub struct AppOverview {
    pub name: String,
    pub kind: &'static str,
    pub base_url: String,
    pub people: usize,
    pub groups: usize,
    pub module: Option<ModuleView>,
    pub confluence: Option<ConfluenceView>,
    /// When the identity provider last made an authenticated request (RFC 3339).
    pub last_request: Option<String>,
    /// `file` (read-only here) or `console`.
    pub managed_by: &'static str,
    /// The stored version of a console-managed app (0 for the file's).
    pub version: u64,
}

/// An app's rules module, as the registry has it.
#[derive(Debug, Clone)]
pub struct ModuleView {
    pub path: String,
    pub name: Option<String>,
    pub hash: Option<String>,
    pub world: Option<String>,
    pub loaded_at: Option<String>,
    pub last_error: Option<String>,
    pub reloads: u64,
    /// The settings the module declares: (key, kind, default, help).
    pub settings: Vec<(String, String, Option<String>, String)>,
}

/// An app's Confluence side.
#[derive(Debug, Clone)]
pub struct ConfluenceView {
    pub queued: usize,
    pub held_for_approval: usize,
    pub parked: usize,
    /// Why operations wait although Confluence answers.
    pub held: Option<String>,
    /// While Confluence fails: how long the app still waits.
    pub paused_for_ms: Option<u64>,
}

/// An operation waiting, held or parked.
#[derive(Debug, Clone)]
pub struct OpView {
    pub seq: u64,
    pub user: String,
    pub person: String,
    pub operation: String,
    /// For a parked membership: the missing group and why.
    pub reason: Option<String>,
}

/// An app's outbox.
#[derive(Debug, Clone, Default)]
pub struct OutboxView {
    pub configured: bool,
    pub queued: usize,
    pub held: Option<String>,
    pub held_for_approval: Vec<OpView>,
    pub parked: Vec<OpView>,
    pub failed: Vec<FailedRow>,
}

/// A person found by the console's search.
#[derive(Debug, Clone)]
pub struct PersonHit {
    pub app: String,
    pub id: String,
    pub user_name: String,
    pub outcome: Option<&'static str>,
    pub confluence_username: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
}

/// Everything the console shows of one person.
#[derive(Debug, Clone)]
pub struct PersonView {
    pub app: String,
    pub id: String,
    pub user_name: String,
    /// The stored SCIM resource, pretty-printed.
    pub scim: String,
    pub decision: Option<Arc<DesiredUser>>,
    /// What the last reading of Confluence found for the decided username.
    pub observed: Option<Arc<ObservedUser>>,
    pub audit: Vec<AuditEntry>,
}

/// How long the old token of a rotation keeps working.
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The largest module the console accepts.
pub const MAX_MODULE_BYTES: usize = 32 * 1024 * 1024;

/// A module kept in an app's history (`<database folder>/modules/<app>/<hash>.wasm`).
#[derive(Debug, Clone)]
pub struct ModuleVersion {
    pub hash: String,
    pub bytes: u64,
    /// When it was first kept (RFC 3339).
    pub kept_at: String,
    pub serving: bool,
}

/// An uploaded module, checked and kept, not yet serving, with what it would decide.
#[derive(Debug, Clone)]
pub struct StagedModule {
    pub hash: String,
    pub dry_run: apps::DryRun,
}

/// Whom "Try it" decides about.
#[derive(Debug, Clone)]
pub enum Trial {
    /// A stored person, by SCIM id.
    Stored(String),
    /// A person as SCIM JSON.
    Json(String),
}

/// Most hits one people search returns.
pub const MAX_HITS: usize = 50;

impl Admin {
    pub fn new(inbound: Arc<Inbound>, store: Store, db: Database) -> Self {
        Self {
            inbound,
            store,
            db,
            confluence: std::sync::Mutex::new(None),
            logins: LoginThrottle::default(),
            runtime: None,
            runs: runs::SyncRuns::default(),
            search: std::sync::Mutex::new(search::SearchIndex::default()),
            directories: Arc::new(crate::directory::Directories::default()),
        }
    }

    /// The directory apps' runners (started by the server).
    #[must_use]
    pub fn with_directories(mut self, directories: Arc<crate::directory::Directories>) -> Self {
        self.directories = directories;
        self
    }

    /// Lets apps be created, changed and removed at run time.
    #[must_use]
    pub fn with_runtime(mut self, runtime: apps::AppRuntime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Sets what the Confluence page shows of `[confluence]`: the URL, and how UserSync
    /// signs in ("user admin, password from a file", never the secret).
    #[must_use]
    pub fn with_confluence(self, url: String, sign_in: String, username: Option<String>) -> Self {
        self.set_confluence_view(url, sign_in, username);
        self
    }

    fn set_confluence_view(&self, url: String, sign_in: String, username: Option<String>) {
        *self.confluence.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(ConfluenceSignIn { url, sign_in, username });
    }

    /// The Confluence base URL in use, if Confluence is configured.
    pub fn confluence_url(&self) -> Option<String> {
        self.confluence.lock().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref().map(|v| v.url.clone())
    }

    /// The Confluence UserSync writes to: URL, sign-in, the version detected and what it
    /// allows, and each app's back-off state. `None` without `[confluence]`.
    pub async fn confluence(&self) -> Option<ConfluencePage> {
        let ConfluenceSignIn { url, sign_in, username } =
            self.confluence.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()?;
        let mut apps: Vec<(String, Option<String>, Option<u64>, usize)> = self
            .inbound
            .confluence_apps()
            .into_iter()
            .map(|(name, sync)| {
                (
                    name.clone(),
                    sync.held().as_ref().map(held_text),
                    sync.paused_for().map(millis),
                    sync.outbox().len(&name),
                )
            })
            .collect();
        apps.sort();
        let client = self.inbound.confluence_apps().into_iter().next().map(|(_, sync)| sync.client().clone());
        let version = match client {
            Some(c) => match c.server_info().await {
                Ok(info) => Ok((
                    format!(
                        "{} ({})",
                        info.version,
                        match info.source {
                            crate::confluence::VersionSource::Probed => "detected",
                            crate::confluence::VersionSource::Configured => "configured",
                        }
                    ),
                    info.limitations(),
                )),
                Err(e) => Err(e.to_string()),
            },
            None => Err("no app uses Confluence".to_owned()),
        };
        Some(ConfluencePage { url, sign_in, username, version, apps })
    }

    /// "Test connection": reaches Confluence, reads its version, and checks UserSync's
    /// credentials with an authenticated call (and that the account is an administrator).
    ///
    /// # Errors
    /// Each failure, named (unreachable, not Confluence, credentials refused, no admin rights).
    pub async fn test_confluence(&self) -> Result<String, AdminError> {
        let client = self
            .inbound
            .confluence_apps()
            .into_iter()
            .next()
            .map(|(_, sync)| sync.client().clone())
            .ok_or_else(|| AdminError::Invalid("Confluence is not configured".into()))?;
        let info = client.probe().await.map_err(|e| AdminError::Refused(e.to_string()))?;
        let account = client.check_credentials().await.map_err(|e| AdminError::Refused(e.to_string()))?;
        Ok(format!("Connected to Confluence {} as {account}, who has administrator rights.", info.version))
    }

    pub fn database(&self) -> &Database {
        &self.db
    }

    fn known(&self, app: &str) -> Result<(), AdminError> {
        self.inbound.app(app).map(|_| ()).ok_or_else(|| AdminError::NoApp(app.to_owned()))
    }

    /// Every app, by name.
    pub fn apps(&self) -> Vec<AppOverview> {
        let snap = self.inbound.snapshot();
        let modules = self.modules();
        let mut out: Vec<AppOverview> =
            self.inbound.apps().iter().map(|app| self.overview(app, &snap, &modules)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The apps' names, sorted.
    pub fn app_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inbound.apps().iter().map(|a| a.name.to_string()).collect();
        names.sort();
        names
    }

    /// One app.
    ///
    /// # Errors
    /// [`AdminError::NoApp`].
    pub fn app(&self, name: &str) -> Result<AppOverview, AdminError> {
        let app = self.inbound.app(name).ok_or_else(|| AdminError::NoApp(name.to_owned()))?;
        Ok(self.overview(&app, &self.inbound.snapshot(), &self.modules()))
    }

    fn modules(&self) -> Vec<ModuleStatus> {
        self.inbound.rules().map(|r| r.registry().status()).unwrap_or_default()
    }

    fn overview(&self, app: &App, snap: &Snapshot, modules: &[ModuleStatus]) -> AppOverview {
        let data = snap.app(&app.name);
        let module = modules.iter().find(|m| m.app == *app.name).map(|m| ModuleView {
            path: m.path.display().to_string(),
            name: m.module.as_ref().map(|id| id.name.clone()),
            hash: m.module.as_ref().map(|id| id.hash.clone()),
            world: m.world.clone(),
            loaded_at: m.loaded_at.map(crate::clock::system_time_rfc3339),
            last_error: m.last_error.clone(),
            reloads: m.reloads,
            settings: m
                .declaration
                .iter()
                .flatten()
                .map(|s| {
                    (
                        s.key.clone(),
                        s.kind.to_string(),
                        s.default.as_ref().map(crate::rules::declaration::render_value),
                        s.help.clone(),
                    )
                })
                .collect(),
        });
        let confluence = self.inbound.confluence(&app.name).map(|sync| ConfluenceView {
            queued: sync.outbox().len(&app.name),
            held_for_approval: sync.outbox().held(&app.name).len(),
            parked: sync.outbox().parked(&app.name).len(),
            held: sync.held().as_ref().map(held_text),
            paused_for_ms: sync.paused_for().map(millis),
        });
        AppOverview {
            name: app.name.to_string(),
            kind: app.kind.as_str(),
            base_url: app.base_url.clone(),
            people: data.map_or(0, |d| d.users.len()),
            groups: data.map_or(0, |d| d.groups.len()),
            module,
            confluence,
            last_request: app.last_request(),
            managed_by: match app.source {
                crate::inbound::AppSource::File => "file",
                crate::inbound::AppSource::Console { .. } => "console",
            },
            version: match app.source {
                crate::inbound::AppSource::File => 0,
                crate::inbound::AppSource::Console { version } => version,
            },
        }
    }

    /// An app's outbox: what waits, what is held, parked or refused.
    ///
    /// # Errors
    /// [`AdminError::NoApp`], or the database fails.
    pub async fn outbox(&self, app: &str) -> Result<OutboxView, AdminError> {
        self.known(app)?;
        let Some(sync) = self.inbound.confluence(app) else { return Ok(OutboxView::default()) };
        let view = |seq, user: &str, person: &str, op: &crate::sync::Op, reason| OpView {
            seq,
            user: user.to_owned(),
            person: person.to_owned(),
            operation: op.describe(),
            reason,
        };
        Ok(OutboxView {
            configured: true,
            queued: sync.outbox().len(app),
            held: sync.held().as_ref().map(held_text),
            held_for_approval: sync
                .outbox()
                .held(app)
                .iter()
                .map(|q| view(q.seq, &q.subject, &q.origin, &q.op, None))
                .collect(),
            parked: sync
                .outbox()
                .parked(app)
                .iter()
                .map(|p| {
                    view(
                        p.queued.seq,
                        &p.queued.subject,
                        &p.queued.origin,
                        &p.queued.op,
                        Some(format!("{}: {}", p.group, p.reason)),
                    )
                })
                .collect(),
            failed: self.db.failed(Some(app.to_owned()), 1000).await?,
        })
    }

    /// Sends an operation Confluence refused again: queued anew, at the end of its
    /// person's queue (after anything planned since), and taken off the refused list in the
    /// same transaction. `retry: false` discards it instead. Either is audited.
    ///
    /// # Errors
    /// No such app or refused operation, no Confluence, or the store fails.
    pub async fn settle_failed(&self, actor: &str, app: &str, seq: u64, retry: bool) -> Result<(), AdminError> {
        self.known(app)?;
        let sync = self
            .inbound
            .confluence(app)
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no Confluence configured")))?;
        let failed = self.db.failed(Some(app.to_owned()), 100_000).await?;
        let row = failed
            .into_iter()
            .find(|f| f.row.seq == seq)
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no refused operation #{seq}")))?;
        let entry = |outcome: &str, detail: String| AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: app.to_owned(),
            subject: row.row.origin.clone(),
            user_name: actor.to_owned(),
            action: "admin".to_owned(),
            outcome: outcome.to_owned(),
            module_name: String::new(),
            module_hash: row.row.module_hash.clone(),
            detail,
        };
        let mut mutations = vec![Mutation::Unfail { seq }];
        let queued = if retry {
            let op: crate::sync::Op = serde_json::from_str(&row.row.op)
                .map_err(|e| AdminError::Refused(format!("operation #{seq} no longer reads: {e}")))?;
            let queued = crate::sync::Queued {
                seq: sync.outbox().next_seq(),
                subject: row.row.subject.clone(),
                op,
                origin: row.row.origin.clone(),
                module_hash: row.row.module_hash.clone(),
            };
            mutations.push(Mutation::Enqueue(vec![queued.row(app)]));
            mutations.push(Mutation::Audit(entry(
                "retried",
                format!("refused operation #{seq} ({}) queued again as #{}", queued.op.describe(), queued.seq),
            )));
            Some(queued)
        } else {
            mutations.push(Mutation::Audit(entry(
                "discarded",
                format!("refused operation #{seq} discarded: {}", row.error),
            )));
            None
        };
        self.store.commit(mutations).await.map_err(|e| AdminError::Refused(e.to_string()))?;
        if let Some(q) = queued {
            sync.outbox().push(app, vec![q]);
        }
        Ok(())
    }

    /// Releases (`approved`) or drops what the deprovisioning circuit breaker holds.
    ///
    /// # Errors
    /// No such app, no Confluence, or the store fails.
    pub async fn settle_held(&self, actor: &str, app: &str, approved: bool) -> Result<usize, AdminError> {
        self.known(app)?;
        let n = self.inbound.settle_held(app, approved).await?;
        let what = if approved { "approved" } else { "discarded" };
        self.record(actor, app, "outbox", &format!("{what} {n} held operations")).await;
        Ok(n)
    }

    /// Synchronize (or its dry run).
    ///
    /// # Errors
    /// No such app, no Confluence, or Synchronize failed.
    pub async fn synchronize(
        &self,
        actor: &str,
        app: &str,
        dry_run: bool,
        wait: Duration,
    ) -> Result<SyncReport, AdminError> {
        let progress = |line: &str| tracing::info!(%app, "synchronize: {line}");
        self.synchronize_with(actor, app, dry_run, wait, &progress).await
    }

    /// As [`Admin::synchronize`], telling `progress` what it does.
    async fn synchronize_with(
        &self,
        actor: &str,
        app: &str,
        dry_run: bool,
        wait: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<SyncReport, AdminError> {
        self.known(app)?;
        let report = self.inbound.synchronize(app, dry_run, wait, progress).await?;
        if !dry_run {
            let s = &report.summary;
            self.record(
                actor,
                app,
                "synchronize",
                &format!(
                    "ran Synchronize: {} people, {} in step, {} operations planned",
                    s.people,
                    s.in_step,
                    report.plan.len()
                ),
            )
            .await;
        }
        Ok(report)
    }

    /// A person filter that is some app's SCIM id becomes an exact subject (answered from
    /// the index); anything else stays a SCIM id or `userName` prefix.
    pub fn sharpen(&self, mut filter: AuditFilter) -> AuditFilter {
        let snap = self.inbound.snapshot();
        let holder = filter.person.as_deref().and_then(|p| {
            self.inbound
                .apps()
                .into_iter()
                .filter(|a| filter.app.as_deref().is_none_or(|f| f == &*a.name))
                .find(|a| snap.get(&a.name, ResourceKind::User, p).is_some())
                .map(|a| a.name.to_string())
        });
        // With the app too, so the `(app, subject)` index answers.
        if let Some(app) = holder {
            filter.app = Some(app);
            filter.subject = filter.person.take();
        }
        filter
    }

    /// The audit log, newest first.
    ///
    /// # Errors
    /// The database fails.
    pub async fn audit(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>, AdminError> {
        Ok(self.db.audit(filter).await?)
    }

    /// An app's tokens, oldest first.
    ///
    /// # Errors
    /// No such app, or the database fails.
    pub async fn tokens(&self, app: &str) -> Result<Vec<TokenInfo>, AdminError> {
        self.known(app)?;
        Ok(self.db.tokens(Some(app.to_owned())).await?)
    }

    /// Creates a token for `app`: (its id, the secret, to show once).
    ///
    /// # Errors
    /// No such app, a label too long, or the database fails.
    pub async fn create_token(&self, actor: &str, app: &str, label: &str) -> Result<(String, String), AdminError> {
        self.known(app)?;
        let label = label.trim();
        if label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(AdminError::Invalid("a label is at most 100 characters, without control characters".into()));
        }
        let (id, secret) = self.db.create_token(app.to_owned(), label.to_owned()).await?;
        self.record(actor, app, "token", &format!("created token {id} ({label:?})")).await;
        Ok((id, secret))
    }

    /// Rotates a token of `app`: a new one (id, secret, to show once) with the same label,
    /// while the old one keeps working for [`ROTATION_GRACE`], so the identity provider can
    /// be given the new one without a gap.
    ///
    /// # Errors
    /// No such app or active token, or the database fails.
    pub async fn rotate_token(&self, actor: &str, app: &str, id: &str) -> Result<(String, String), AdminError> {
        self.known(app)?;
        let rotated = self.db.rotate_token(app.to_owned(), id.to_owned(), ROTATION_GRACE).await?;
        let (new_id, secret) =
            rotated.ok_or_else(|| AdminError::Invalid(format!("app {app} has no active token {id} to rotate")))?;
        self.record(
            actor,
            app,
            "token",
            &format!(
                "rotated token {id}: new token {new_id}; {id} stops working in {} hours",
                ROTATION_GRACE.as_secs() / 3600
            ),
        )
        .await;
        if let Some(tokens) = self.runtime.as_ref().and_then(|r| r.tokens.as_ref()) {
            tokens.reload();
        }
        Ok((new_id, secret))
    }

    /// Revokes a token of `app`.
    ///
    /// # Errors
    /// No such app or token, or the database fails.
    pub async fn revoke_token(&self, actor: &str, app: &str, id: &str) -> Result<(), AdminError> {
        self.known(app)?;
        if !self.db.revoke_token(app.to_owned(), id.to_owned()).await? {
            return Err(AdminError::Invalid(format!("app {app} has no active token {id}")));
        }
        self.record(actor, app, "token", &format!("revoked token {id}")).await;
        Ok(())
    }

    /// People whose SCIM id, `userName`, or decided Confluence username, full name or
    /// e-mail contains `query` (case-insensitive), across apps (or in one); at most
    /// [`MAX_HITS`], by app and `userName`. Answered from memory.
    pub fn search_people(&self, query: &str, app: Option<&str>) -> Vec<PersonHit> {
        let needle = query.trim().to_lowercase();
        let snap = self.inbound.snapshot();
        let mut apps: Vec<Arc<str>> = self
            .inbound
            .apps()
            .into_iter()
            .filter(|a| app.is_none_or(|n| *a.name == *n))
            .map(|a| a.name.clone())
            .collect();
        apps.sort();
        let mut index = self.search.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if app.is_none() {
            index.retain(&apps);
        }
        let mut hits = Vec::new();
        for a in &apps {
            let found = index.find(&snap, a, &needle, MAX_HITS - hits.len());
            for id in found {
                let Some(user) = snap.get(a, ResourceKind::User, &id) else { continue };
                let decision = snap.app(a).and_then(|d| d.desired.get(&id));
                let account = decision.and_then(|d| d.account());
                hits.push(PersonHit {
                    app: a.to_string(),
                    id: user.id.to_string(),
                    user_name: user.name_key.to_string(),
                    outcome: decision.map(|d| match d.outcome {
                        DesiredOutcome::Provision(_) => "provision",
                        DesiredOutcome::Skip { .. } => "skip",
                    }),
                    confluence_username: account.map(|a| a.username.clone()),
                    full_name: account.map(|a| a.full_name.clone()),
                    email: account.map(|a| a.email.clone()),
                });
            }
            if hits.len() >= MAX_HITS {
                break;
            }
        }
        // By app, then userName: the index's own order is its slots', which follows no key.
        hits.sort_by(|a, b| (&a.app, &a.user_name).cmp(&(&b.app, &b.user_name)));
        hits
    }

    /// One person: SCIM data, decision, Confluence state, audit trail.
    ///
    /// # Errors
    /// No such app or person, or the database fails.
    pub async fn person(&self, app: &str, id: &str) -> Result<PersonView, AdminError> {
        self.known(app)?;
        let snap = self.inbound.snapshot();
        let user = snap
            .get(app, ResourceKind::User, id)
            .cloned()
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no person {id}")))?;
        let scim = user
            .value()
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| String::from_utf8_lossy(&user.json).into_owned());
        let decision = snap.app(app).and_then(|d| d.desired.get(id)).cloned();
        let observed = decision
            .as_deref()
            .and_then(DesiredUser::provisioned_username)
            .and_then(|u| snap.observed(&u.to_lowercase()))
            .cloned();
        let audit = self
            .db
            .audit(AuditFilter {
                app: Some(app.to_owned()),
                subject: Some(id.to_owned()),
                limit: 200,
                ..AuditFilter::default()
            })
            .await?;
        Ok(PersonView {
            app: app.to_owned(),
            id: id.to_owned(),
            user_name: user.name_key.to_string(),
            scim,
            decision,
            observed,
            audit,
        })
    }

    /// The app module's three decisions for a stored person, or for a person pasted as SCIM
    /// JSON (its `groups` attribute, `[{"value", "display"}]`, gives the IdP groups).
    /// Nothing is stored or sent.
    ///
    /// # Errors
    /// No such app or person, JSON that is not a SCIM user, or the decision failed.
    pub async fn try_rules(&self, app: &str, person: Trial) -> Result<Decisions, AdminError> {
        self.known(app)?;
        let application = self.inbound.app(app).ok_or_else(|| AdminError::NoApp(app.to_owned()))?;
        let rules =
            self.inbound.rules().ok_or_else(|| AdminError::Invalid(format!("app {app} has no rules module")))?;
        let snap = self.inbound.snapshot();
        let (user, groups) = match person {
            Trial::Stored(id) => {
                let user = snap
                    .get(app, ResourceKind::User, id.trim())
                    .cloned()
                    .ok_or_else(|| AdminError::Invalid(format!("app {app} has no person {}", id.trim())))?;
                (user, None)
            }
            Trial::Json(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| AdminError::Invalid(format!("not JSON: {e}")))?;
                let name = value
                    .get("userName")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| AdminError::Invalid("a SCIM user needs a userName".into()))?;
                let groups = value
                    .get("groups")
                    .and_then(serde_json::Value::as_array)
                    .map(|gs| {
                        gs.iter()
                            .filter_map(|g| {
                                let display = g.get("display").and_then(serde_json::Value::as_str)?;
                                let id = g.get("value").and_then(serde_json::Value::as_str).unwrap_or(display);
                                Some(IdpGroup { id: id.to_owned(), display_name: display.to_owned() })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let id = value.get("id").and_then(serde_json::Value::as_str).unwrap_or("try-it");
                let user = StoredResource {
                    kind: ResourceKind::User,
                    id: Arc::from(id),
                    version: 0,
                    name_key: Arc::from(name.to_lowercase()),
                    external_id: None,
                    json: Arc::from(value.to_string().into_bytes()),
                    members: crate::store::no_members(),
                };
                (Arc::new(user), Some(groups))
            }
        };
        rules.trial(&application, &snap, &user, groups).await.map_err(AdminError::Refused)
    }

    /// Where an app's module history is kept.
    fn history_dir(&self, app: &str) -> std::path::PathBuf {
        self.db.folder().join("modules").join(app)
    }

    /// Installs `bytes` as `app`'s module: loaded first (compiled, type-checked against the
    /// rules world, the app's settings checked against its declaration, self-tested), and
    /// only then written over the module file (a rename, so the file is never half
    /// written) and swapped in; a module that fails any of it changes nothing. Both it and
    /// the module it replaces are kept in the app's history. Returns the new module's hash.
    ///
    /// # Errors
    /// Not a wasm module, too large, fails to load or its self-test, or the file system fails.
    pub async fn install_module(
        &self,
        actor: &str,
        app: &str,
        bytes: Vec<u8>,
        why: &str,
    ) -> Result<String, AdminError> {
        self.known(app)?;
        let registry = self
            .inbound
            .rules()
            .map(|r| r.registry().clone())
            .ok_or_else(|| AdminError::Invalid(format!("app {app} has no rules module configured")))?;
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(AdminError::Invalid(format!("the module is larger than {} MiB", MAX_MODULE_BYTES >> 20)));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(AdminError::Invalid("this is not a WebAssembly module (no \\0asm header)".into()));
        }
        let Some(spec) = registry.spec(app) else { return self.first_module(actor, app, bytes).await };
        let name = spec.path.file_stem().map_or_else(|| app.to_owned(), |s| s.to_string_lossy().into_owned());
        let engine = registry.engine().clone();
        let history = self.history_dir(app);
        let previous = registry.current(app).map(|m| m.id().hash.clone());
        let hash = tokio::task::spawn_blocking(move || -> Result<String, AdminError> {
            let loaded = engine
                .load(&name, &bytes, spec.limits, &spec.settings)
                .map_err(|e| AdminError::Refused(format!("the module was not installed: {e}")))?;
            let hash = loaded.id().hash.clone();
            let io = |what: &str, e: std::io::Error| AdminError::Refused(format!("{what}: {e}"));
            std::fs::create_dir_all(&history).map_err(|e| io("cannot keep the module's history", e))?;
            // The module being replaced joins the history too, so it can be rolled back to.
            if let Ok(serving) = std::fs::read(&spec.path) {
                let serving_hash = crate::rules::content_hash(&serving);
                let kept = history.join(format!("{serving_hash}.wasm"));
                if !kept.exists() {
                    std::fs::write(&kept, &serving).map_err(|e| io("cannot keep the serving module", e))?;
                }
            }
            let kept = history.join(format!("{hash}.wasm"));
            if !kept.exists() {
                std::fs::write(&kept, &bytes).map_err(|e| io("cannot keep the module", e))?;
            }
            let folder = spec.path.parent().unwrap_or(std::path::Path::new("."));
            let temporary = folder.join(format!(".{name}.upload-{}", std::process::id()));
            std::fs::write(&temporary, &bytes).map_err(|e| io("cannot write the module", e))?;
            std::fs::rename(&temporary, &spec.path).map_err(|e| io("cannot put the module in place", e))?;
            Ok(hash)
        })
        .await
        .map_err(|e| AdminError::Refused(e.to_string()))??;
        // Swap now rather than when the watcher hears of it (it then finds nothing new).
        let swapped = tokio::task::spawn_blocking({
            let app = app.to_owned();
            move || registry.reload(&app)
        })
        .await
        .map_err(|e| AdminError::Refused(e.to_string()))?;
        if let Err(e) = swapped {
            return Err(AdminError::Refused(format!("written, but not swapped in: {e}")));
        }
        let short = |h: &str| h.get(..12).unwrap_or(h).to_owned();
        self.record(
            actor,
            app,
            "rules",
            &format!(
                "{why} module {} (replacing {})",
                short(&hash),
                previous.as_deref().map_or_else(|| "none".to_owned(), short)
            ),
        )
        .await;
        Ok(hash)
    }

    /// Gives a console-managed app without rules its first module.
    async fn first_module(&self, actor: &str, app: &str, bytes: Vec<u8>) -> Result<String, AdminError> {
        if self.inbound.app(app).is_some_and(|a| a.source == crate::inbound::AppSource::File) {
            return Err(AdminError::ReadOnly(app.to_owned()));
        }
        let folder = self.serving_dir(app);
        let file = folder.join("rules.wasm");
        let io = |e: std::io::Error| AdminError::Refused(format!("cannot keep the module: {e}"));
        std::fs::create_dir_all(&folder).map_err(io)?;
        std::fs::write(&file, &bytes).map_err(io)?;
        match self.attach_module(actor, app, file.clone()).await {
            Ok(hash) => {
                let _ = std::fs::write(self.history_dir(app).join(format!("{hash}.wasm")), &bytes);
                Ok(hash)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&file);
                Err(match e {
                    apps::ChangeError::Admin(e) => e,
                    changed @ apps::ChangeError::Changed { .. } => AdminError::Refused(changed.to_string()),
                })
            }
        }
    }

    /// An app's module history, newest first.
    ///
    /// # Errors
    /// No such app.
    pub fn module_history(&self, app: &str) -> Result<Vec<ModuleVersion>, AdminError> {
        self.known(app)?;
        let serving = self.inbound.rules().and_then(|r| r.registry().current(app)).map(|m| m.id().hash.clone());
        let Ok(entries) = std::fs::read_dir(self.history_dir(app)) else { return Ok(Vec::new()) };
        let mut out: Vec<(std::time::SystemTime, ModuleVersion)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let hash = name.strip_suffix(".wasm")?.to_owned();
                let meta = e.metadata().ok()?;
                let at = meta.modified().ok()?;
                Some((
                    at,
                    ModuleVersion {
                        serving: serving.as_deref() == Some(hash.as_str()),
                        hash,
                        bytes: meta.len(),
                        kept_at: crate::clock::system_time_rfc3339(at),
                    },
                ))
            })
            .collect();
        out.sort_by_key(|v| std::cmp::Reverse(v.0));
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// Checks an uploaded module without serving it: loaded with the app's settings and
    /// self-tested, kept in the app's history, and decided for a sample of the app's people
    /// beside what is decided now. [`Admin::install_kept`] then serves it.
    ///
    /// # Errors
    /// Not a wasm module, too large, fails to load or its self-test, or an app of the
    /// configuration file without a module.
    pub async fn stage_module(&self, app: &str, bytes: Vec<u8>) -> Result<StagedModule, AdminError> {
        self.known(app)?;
        if bytes.len() > MAX_MODULE_BYTES {
            return Err(AdminError::Invalid(format!("the module is larger than {} MiB", MAX_MODULE_BYTES >> 20)));
        }
        if !bytes.starts_with(b"\0asm") {
            return Err(AdminError::Invalid("this is not a WebAssembly module (no \\0asm header)".into()));
        }
        let mut def = self.current_definition(app).await?;
        if def.rules.is_none() && self.inbound.app(app).is_some_and(|a| a.source == crate::inbound::AppSource::File) {
            return Err(AdminError::ReadOnly(app.to_owned()));
        }
        let settings = def.rule_settings().map_err(|e| AdminError::Invalid(e.to_string()))?;
        let engine = self
            .inbound
            .rules()
            .map(|r| r.registry().engine().clone())
            .ok_or_else(|| AdminError::Invalid("the rules engine is not running".into()))?;
        let (limits, history) = (def.rules_limits.to_limits(), self.history_dir(app));
        let kept = tokio::task::spawn_blocking(move || -> Result<std::path::PathBuf, AdminError> {
            let hash = crate::rules::content_hash(&bytes);
            engine
                .load(&hash, &bytes, limits, &settings)
                .map_err(|e| AdminError::Refused(format!("the module was not installed: {e}")))?;
            std::fs::create_dir_all(&history)
                .map_err(|e| AdminError::Refused(format!("cannot keep the module: {e}")))?;
            let kept = history.join(format!("{hash}.wasm"));
            std::fs::write(&kept, &bytes).map_err(|e| AdminError::Refused(format!("cannot keep the module: {e}")))?;
            Ok(kept)
        })
        .await
        .map_err(|e| AdminError::Refused(e.to_string()))??;
        let hash = kept.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        def.rules = Some(kept);
        let dry_run = self.decide_sample(app, &def).await?;
        Ok(StagedModule { hash, dry_run })
    }

    /// Serves a module kept in the app's history (an upload checked by
    /// [`Admin::stage_module`], or an earlier module), loaded and self-tested again first.
    ///
    /// # Errors
    /// No such version, or as [`Admin::install_module`].
    pub async fn install_kept(&self, actor: &str, app: &str, hash: &str, why: &str) -> Result<String, AdminError> {
        self.known(app)?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AdminError::Invalid("no such module version".into()));
        }
        let bytes = std::fs::read(self.history_dir(app).join(format!("{hash}.wasm")))
            .map_err(|_| AdminError::Invalid(format!("app {app} has no module {hash} in its history")))?;
        self.install_module(actor, app, bytes, why).await
    }

    /// Serves an earlier module of the app's history again (loaded and self-tested first).
    ///
    /// # Errors
    /// No such version, or as [`Admin::install_module`].
    pub async fn roll_back(&self, actor: &str, app: &str, hash: &str) -> Result<String, AdminError> {
        self.install_kept(actor, app, hash, "rolled back to").await
    }

    /// Records an administrator's change in the audit log (never with a secret).
    async fn record(&self, actor: &str, app: &str, subject: &str, detail: &str) {
        let entry = AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: app.to_owned(),
            subject: subject.to_owned(),
            user_name: actor.to_owned(),
            action: "admin".to_owned(),
            outcome: "done".to_owned(),
            module_name: String::new(),
            module_hash: String::new(),
            detail: detail.to_owned(),
        };
        if let Err(e) = self.store.commit(vec![Mutation::Audit(entry)]).await {
            tracing::error!(error = %e, "cannot audit an administrator's change");
        }
    }

    /// Checks an account's password; `Some(role)` when it matches.
    ///
    /// # Errors
    /// The database fails.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<Option<Role>, AdminError> {
        let stored = self.db.credentials(username.to_owned()).await?;
        let (phc, role) = match &stored {
            Some((phc, role)) => (phc.clone(), Role::parse(role)),
            None => (accounts::decoy_hash().to_owned(), None),
        };
        let password = password.to_owned();
        // argon2 takes tens of milliseconds of CPU: off the async threads.
        let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&password, &phc)).await.unwrap_or(false);
        Ok(if ok && stored.is_some() { role } else { None })
    }

    /// Creates an administrator account (or, with `replace`, resets its password and role).
    ///
    /// # Errors
    /// A name or password that is not acceptable, an existing account without `replace`, or
    /// the database fails.
    pub async fn create_account(
        &self,
        username: &str,
        password: &str,
        role: Role,
        replace: bool,
    ) -> Result<(), AdminError> {
        create_account(&self.db, username, password, role, replace).await
    }
}

/// Why an app's operations wait, in one line.
fn held_text(hold: &crate::sync::Hold) -> String {
    format!("{}: {}", hold.reason(), hold.detail)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Creates an administrator account in `db` (the CLI's path, with no server running).
///
/// # Errors
/// As [`Admin::create_account`].
pub async fn create_account(
    db: &Database,
    username: &str,
    password: &str,
    role: Role,
    replace: bool,
) -> Result<(), AdminError> {
    if !accounts::valid_username(username) {
        return Err(AdminError::Invalid(
            "an account name is 1 to 64 lower-case letters, digits, '.', '_', '-' or '@'".into(),
        ));
    }
    if password.chars().count() < accounts::MIN_PASSWORD_CHARS {
        return Err(AdminError::Invalid(format!(
            "a password has at least {} characters",
            accounts::MIN_PASSWORD_CHARS
        )));
    }
    let password = password.to_owned();
    let phc = tokio::task::spawn_blocking(move || accounts::hash_password(&password))
        .await
        .map_err(|e| AdminError::Invalid(e.to_string()))?
        .map_err(AdminError::Invalid)?;
    if !db.put_account(username.to_owned(), phc, role.as_str().to_owned(), replace).await? {
        return Err(AdminError::Invalid(format!("account {username} exists (use --reset to set a new password)")));
    }
    Ok(())
}
