//! Apps as data: apps created, changed and removed at run time through the admin API and
//! the console, stored in the database (`store::apps`) and served without a restart.
//!
//! A change is checked whole before anything is stored (the definition's rules, then the
//! app's module loaded with the new settings and self-tested), stored with its audit entry
//! in one transaction if the app is still at the version the administrator read, and only
//! then served: the rules module and settings, the Confluence side, and the app itself are
//! swapped in, so a request in flight finishes on the app it started with. Apps of the
//! configuration file are served the same way but are read-only here.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Admin, AdminError};
use crate::config::{AppConfig, IdpKind, ServerConfig};
use crate::inbound::{App, AppSource};
use crate::rules::types::AttributeDecision;
use crate::rules::{AppModule, LoadedModule};
use crate::scim::schema::ResourceKind;
use crate::store::apps::AppRecord;
use crate::store::tokens::TokenVerifier;
use crate::store::{AuditEntry, CommitError, Conflict, DesiredOutcome, Mutation};
use crate::sync::AppSync;

/// Starts and stops an app's Confluence side (its client, outbox queues and workers); the
/// server provides it when `[confluence]` is configured.
pub trait ConfluenceApps: Send + Sync {
    /// The Confluence side for `app`: `current` kept when it still fits the definition
    /// (its breaker settings updated), else a new one, started.
    ///
    /// # Errors
    /// The client cannot be built.
    fn start(&self, app: &AppConfig, current: Option<Arc<AppSync>>) -> Result<Arc<AppSync>, String>;

    /// Stops a side that is no longer served; `forget` also drops the app's queues (the app
    /// was removed).
    fn stop(&self, app: &str, sync: &AppSync, forget: bool);

    /// Uses `url` and `auth` from now on (for sides started later, and when UserSync reads
    /// its credentials again); true when the URL changed, so running sides must be replaced.
    fn reconfigure(&self, url: &str, auth: crate::confluence::Auth) -> bool;
}

/// What the admin side needs to serve apps it changes.
pub struct AppRuntime {
    pub public_url: String,
    /// `[server]`, against which an app's limits are checked.
    pub server: ServerConfig,
    /// The configuration file's apps (read-only here), in file order.
    pub file_apps: Vec<AppConfig>,
    /// Where apps' Confluence sides come from; `None` until Confluence is configured (in
    /// the file, or saved in the console: see `enable_confluence`).
    pub confluence: std::sync::RwLock<Option<Arc<dyn ConfluenceApps>>>,
    /// Turns Confluence on at run time, from the connection saved in the console, for
    /// these apps: their Confluence sides (started) and where later ones come from.
    pub enable_confluence: Option<Arc<EnableConfluence>>,
    /// Re-read after tokens change, so a removed app's tokens stop working at once.
    pub tokens: Option<Arc<TokenVerifier>>,
}

/// See [`AppRuntime::enable_confluence`].
pub type EnableConfluence =
    dyn Fn(&[AppConfig]) -> Result<(HashMap<String, Arc<AppSync>>, Arc<dyn ConfluenceApps>), String> + Send + Sync;

impl AppRuntime {
    /// Where apps' Confluence sides come from now, if Confluence is configured.
    pub fn confluence(&self) -> Option<Arc<dyn ConfluenceApps>> {
        self.confluence.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// An app's definition as the admin side shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppDefinition {
    pub name: String,
    /// `file` (read-only: change the configuration file) or `console`.
    pub managed_by: &'static str,
    /// Raised by every change; a save names the version it was made against.
    pub version: u64,
    /// The app as a `[[apps]]` entry would hold it.
    pub definition: Value,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

impl AppDefinition {
    /// The definition as pretty JSON (for "changed since you opened it").
    pub fn pretty(&self) -> String {
        serde_json::to_string_pretty(&self.definition).unwrap_or_default()
    }
}

/// A new app: where the identity provider sends its requests, and its first token (shown
/// once).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewApp {
    pub name: String,
    pub kind: &'static str,
    pub base_url: String,
    pub token_id: String,
    pub token: String,
    /// The module the app was given (its name), if any.
    pub module: Option<String>,
}

/// Refusals of an app change.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Admin(#[from] AdminError),
    /// The app changed since the administrator read it (or appeared, or went).
    #[error("app {name} was changed since you opened it (now version {})", current.as_ref().map_or(0, |c| c.version))]
    Changed { name: String, current: Option<Box<AppDefinition>> },
}

/// What a change of settings or module would do to the app's stored people.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// The app's people, and how many of them were decided again.
    pub people: usize,
    pub sampled: usize,
    pub unchanged: usize,
    pub changed: usize,
    /// Decided again as skipped where they were provisioned (or the other way round is in
    /// `changed`).
    pub skipped: usize,
    /// The module would reject them: the identity provider's next change for them fails.
    pub rejected: usize,
    pub failed: usize,
    /// Up to ten people whose decision changes, with what changes.
    pub examples: Vec<DryRunExample>,
    /// The module refuses the settings (or does not load): nothing was decided.
    pub refused: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunExample {
    pub id: String,
    pub user_name: String,
    pub change: String,
}

/// People decided again by a dry run, at most.
pub const DRY_RUN_SAMPLE: usize = 200;

impl Admin {
    pub(super) fn runtime(&self) -> Result<&AppRuntime, AdminError> {
        self.runtime.as_ref().ok_or_else(|| AdminError::Invalid("apps cannot be changed in this process".into()))
    }

    fn file_app(&self, name: &str) -> Option<&AppConfig> {
        self.runtime.as_ref()?.file_apps.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    async fn record_of(&self, name: &str) -> Result<Option<AppRecord>, AdminError> {
        Ok(self.db.app_records().await?.into_iter().find(|r| r.name == name))
    }

    /// Every app's definition: the configuration file's, then those made here.
    ///
    /// # Errors
    /// The database fails.
    pub async fn definitions(&self) -> Result<Vec<AppDefinition>, AdminError> {
        let mut out: Vec<AppDefinition> = match &self.runtime {
            Some(r) => r.file_apps.iter().map(file_view).collect(),
            None => Vec::new(),
        };
        out.extend(self.db.app_records().await?.iter().map(view));
        Ok(out)
    }

    /// An app's definition: from the configuration file, or as stored.
    ///
    /// # Errors
    /// No such app, or the database fails.
    pub async fn definition(&self, name: &str) -> Result<AppDefinition, AdminError> {
        if let Some(a) = self.file_app(name) {
            return Ok(file_view(a));
        }
        let record = self.record_of(name).await?.ok_or_else(|| AdminError::NoApp(name.to_owned()))?;
        Ok(view(&record))
    }

    /// The definition of a console-managed app, parsed.
    async fn console_app(&self, name: &str) -> Result<(AppRecord, AppConfig), AdminError> {
        if self.file_app(name).is_some() {
            return Err(AdminError::ReadOnly(name.to_owned()));
        }
        let record = self.record_of(name).await?.ok_or_else(|| AdminError::NoApp(name.to_owned()))?;
        let config = parse_definition(&record.definition)?;
        Ok((record, config))
    }

    /// Checks a definition an administrator gives, and fills in what the host manages: the
    /// module file (`keep_rules`), never given from outside.
    fn checked(&self, mut def: AppConfig, keep_rules: Option<PathBuf>) -> Result<AppConfig, AdminError> {
        let runtime = self.runtime()?;
        if def.token_env.is_some() || def.token_file.is_some() {
            return Err(AdminError::Invalid(
                "token_env and token_file are for the configuration file; an app made here gets its tokens here".into(),
            ));
        }
        if def.rules.is_some() && def.rules != keep_rules {
            return Err(AdminError::Invalid(
                "the rules module is not set here: upload one on the app's Rules page, or copy one when creating the app"
                    .into(),
            ));
        }
        def.rules = keep_rules;
        def.validate(&runtime.server)
            .map_err(|e| AdminError::Invalid(e.to_string().trim_start_matches("config: ").to_owned()))?;
        Ok(def)
    }

    /// The module spec for `def` (when it has rules).
    fn module_spec(def: &AppConfig) -> Result<Option<AppModule>, AdminError> {
        let Some(path) = def.rules.clone() else { return Ok(None) };
        let settings = def.rule_settings().map_err(|e| AdminError::Invalid(e.to_string()))?;
        Ok(Some(AppModule { app: def.name.clone(), path, limits: def.rules_limits.to_limits(), settings }))
    }

    /// Loads `spec`'s module with its settings without serving it.
    async fn prepare(&self, spec: &AppModule) -> Result<Arc<LoadedModule>, AdminError> {
        let rules =
            self.inbound.rules().ok_or_else(|| AdminError::Invalid("the rules engine is not running".into()))?;
        let registry = rules.registry().clone();
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || registry.prepare(&spec))
            .await
            .map_err(|e| AdminError::Refused(e.to_string()))?
            .map_err(|e| AdminError::Invalid(format!("the rules module refuses this: {e}")))
    }

    /// `def`'s module loaded with its settings, not serving yet; `None` for an app without rules.
    async fn prepared_module(&self, def: &AppConfig) -> Result<Option<(AppModule, Arc<LoadedModule>)>, AdminError> {
        let Some(spec) = Self::module_spec(def)? else { return Ok(None) };
        let module = self.prepare(&spec).await?;
        Ok(Some((spec, module)))
    }

    /// Serves `def`: its module (already `prepared`), its Confluence side, then the app.
    fn serve(
        &self,
        def: &AppConfig,
        app: App,
        prepared: Option<(AppModule, Arc<LoadedModule>)>,
    ) -> Result<(), AdminError> {
        let rules = self.inbound.rules();
        match (prepared, rules) {
            (Some((spec, module)), Some(rules)) => {
                rules.registry().install(spec, module);
            }
            (None, Some(rules)) => rules.registry().remove(&def.name),
            _ => {}
        }
        let runtime = self.runtime()?;
        let confluence = runtime.confluence();
        let sync = match &confluence {
            Some(c) => Some(c.start(def, self.inbound.confluence(&def.name)).map_err(AdminError::Refused)?),
            None => None,
        };
        if let (Some(old), Some(c)) = (self.inbound.put_app(Arc::new(app), sync), &confluence) {
            c.stop(&def.name, &old, false);
        }
        Ok(())
    }

    /// Starts (again) the runner of a directory app, with its settings as now served; stops
    /// it for an app that is no longer one.
    pub(super) async fn serve_directory(&self, def: &AppConfig) -> Result<(), AdminError> {
        if def.directory.is_none() {
            self.directories.remove(&def.name);
            return Ok(());
        }
        let stored = self.db.directory_password(def.name.clone()).await?;
        let runner = crate::directory::start(
            def,
            self.db.folder(),
            self.inbound.clone(),
            self.store.clone(),
            self.db.clone(),
            stored,
        )
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
        self.directories.insert(&def.name, runner);
        Ok(())
    }

    /// Creates an app. `module_from` copies the module another app serves (with none, the
    /// app stores what its identity provider sends and decides nothing until a module is
    /// uploaded). Returns its SCIM base URL and a first token, to show once.
    ///
    /// # Errors
    /// The definition is invalid, the name is taken, the module refuses the settings, or
    /// the database fails. Nothing is stored or served then.
    pub async fn create_app(
        &self,
        actor: &str,
        def: AppConfig,
        module_from: Option<&str>,
        token_label: &str,
    ) -> Result<NewApp, ChangeError> {
        let name = def.name.clone();
        let taken = self.file_app(&name).is_some()
            || self.inbound.apps().iter().any(|a| a.name.eq_ignore_ascii_case(&name))
            || self
                .db
                .app_records()
                .await
                .map_err(AdminError::from)?
                .iter()
                .any(|r| r.name.eq_ignore_ascii_case(&name));
        if taken {
            return Err(AdminError::Invalid(format!("an app named {name} exists already")).into());
        }
        // Checked before the module is copied, so a bad name never reaches the file system.
        self.checked(def.clone(), None)?;
        let module_file = match module_from.filter(|m| !m.is_empty()) {
            Some(source) => Some(self.copy_module(source, &name)?),
            None => None,
        };
        let result = self.create_checked(actor, def, module_file.clone(), token_label).await;
        if result.is_err() {
            if let Some(file) = module_file {
                let _ = std::fs::remove_dir_all(file.parent().unwrap_or(&file));
            }
        }
        result
    }

    async fn create_checked(
        &self,
        actor: &str,
        def: AppConfig,
        module_file: Option<PathBuf>,
        token_label: &str,
    ) -> Result<NewApp, ChangeError> {
        let def = self.checked(def, module_file)?;
        let precedence = self.inbound.apps().iter().map(|a| a.precedence + 1).max().unwrap_or(0);
        let runtime = self.runtime()?;
        let app = App::from_config(&def, &runtime.public_url, precedence, AppSource::Console { version: 1 })
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let prepared = self.prepared_module(&def).await?;
        let module = prepared.as_ref().map(|(_, m)| m.id().name.clone());
        let now = crate::clock::now_rfc3339();
        let record = AppRecord {
            name: def.name.clone(),
            position: 0,
            definition: serde_json::to_string(&def).map_err(|e| AdminError::Refused(e.to_string()))?,
            version: 1,
            created_at: now.clone(),
            updated_at: now,
            updated_by: actor.to_owned(),
        };
        let detail = format!(
            "app created ({}{})",
            def.kind.as_str(),
            module.as_ref().map_or(String::new(), |m| format!(", module {m}"))
        );
        self.commit_change(&def.name, Some(record), None, actor, detail, Vec::new()).await?;
        let base_url = app.base_url.clone();
        self.serve(&def, app, prepared)?;
        self.serve_directory(&def).await?;
        let (token_id, token) =
            self.db.create_token(def.name.clone(), token_label.trim().to_owned()).await.map_err(AdminError::from)?;
        self.reload_tokens();
        tracing::info!(app = %def.name, kind = def.kind.as_str(), %actor, "app created");
        Ok(NewApp { name: def.name.clone(), kind: def.kind.as_str(), base_url, token_id, token, module })
    }

    /// Changes a console-managed app to `def`, if it is still at `version` (else
    /// [`ChangeError::Changed`], with the app as it is now). Returns the new version.
    ///
    /// # Errors
    /// A file-managed app, an invalid definition, a rename, settings the module refuses, or
    /// a concurrent change. Nothing is stored or served then.
    pub async fn update_app(&self, actor: &str, name: &str, def: AppConfig, version: u64) -> Result<u64, ChangeError> {
        let (record, current) = self.console_app(name).await?;
        if record.version != version {
            return Err(ChangeError::Changed { name: name.to_owned(), current: Some(Box::new(view(&record))) });
        }
        if def.name != record.name {
            return Err(AdminError::Invalid(
                "an app cannot be renamed: its SCIM base URL is configured in the identity provider".into(),
            )
            .into());
        }
        let def = self.checked(def, current.rules.clone())?;
        let runtime = self.runtime()?;
        let precedence = self.inbound.app(name).map_or(usize::MAX / 2, |a| a.precedence);
        let next = version + 1;
        let app = App::from_config(&def, &runtime.public_url, precedence, AppSource::Console { version: next })
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let prepared = self.prepared_module(&def).await?;
        let before = serde_json::to_value(&current).unwrap_or(Value::Null);
        let after = serde_json::to_value(&def).unwrap_or(Value::Null);
        let changes = describe_changes(&before, &after);
        let record = AppRecord {
            definition: serde_json::to_string(&def).map_err(|e| AdminError::Refused(e.to_string()))?,
            version: next,
            updated_at: crate::clock::now_rfc3339(),
            updated_by: actor.to_owned(),
            ..record
        };
        let detail =
            if changes.is_empty() { "app saved unchanged".to_owned() } else { format!("app changed: {changes}") };
        self.commit_change(name, Some(record), Some(version), actor, detail, Vec::new()).await?;
        if let Some(last) = self.inbound.app(name) {
            app.last_request_ms.store(
                last.last_request_ms.load(std::sync::atomic::Ordering::Relaxed),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        self.serve(&def, app, prepared)?;
        self.serve_directory(&def).await?;
        tracing::info!(app = %name, %actor, version = next, "app changed");
        Ok(next)
    }

    /// Removes a console-managed app at `version`: it stops answering at once; its stored
    /// people, decisions, tokens and queued operations are forgotten (its audit trail
    /// stays). What it granted in Confluence stays there, as if granted by hand: removing
    /// an app does not deprovision anyone.
    ///
    /// # Errors
    /// A file-managed app, or a concurrent change.
    pub async fn remove_app(&self, actor: &str, name: &str, version: u64) -> Result<(), ChangeError> {
        let (record, def) = self.console_app(name).await?;
        if record.version != version {
            return Err(ChangeError::Changed { name: name.to_owned(), current: Some(Box::new(view(&record))) });
        }
        let people = self.inbound.people(name);
        let served = self.inbound.app(name);
        let sync = self.inbound.remove_app(name);
        self.directories.remove(name);
        if let (Some(sync), Ok(runtime)) = (&sync, self.runtime()) {
            if let Some(c) = &runtime.confluence() {
                c.stop(name, sync, false);
            }
        }
        let detail = format!("app removed ({people} people forgotten; Confluence left as it is)");
        let forget = vec![Mutation::ForgetApp { app: Arc::from(name) }];
        if let Err(e) = self.commit_change(name, None, Some(version), actor, detail, forget).await {
            // Serve it again, as it was.
            if let Some(app) = served {
                let prepared = self.prepared_module(&def).await.ok().flatten();
                let public_url = &self.runtime()?.public_url;
                let app = App::from_config(&def, public_url, app.precedence, app.source)
                    .map_err(|e| AdminError::Invalid(e.to_string()))?;
                self.serve(&def, app, prepared)?;
            }
            return Err(e);
        }
        if let Some(rules) = self.inbound.rules() {
            rules.registry().remove(name);
        }
        if let (Some(sync), Ok(runtime)) = (&sync, self.runtime()) {
            if let Some(c) = &runtime.confluence() {
                c.stop(name, sync, true);
            }
        }
        let _ = std::fs::remove_dir_all(self.history_dir(name));
        self.reload_tokens();
        tracing::info!(app = %name, %actor, "app removed");
        Ok(())
    }

    /// What `def` (a changed definition of `name`) would decide for a sample of the app's
    /// stored people, compared with what is decided now. Stores nothing.
    ///
    /// # Errors
    /// No such app, or an invalid definition.
    pub async fn dry_run(&self, name: &str, def: AppConfig) -> Result<DryRun, AdminError> {
        let def = match self.file_app(name) {
            Some(_) => {
                let mut def = def;
                def.rules = self.serving_module_file(name);
                def.validate(&self.runtime()?.server).map_err(|e| AdminError::Invalid(e.to_string()))?;
                def
            }
            None => {
                let keep = self.console_app(name).await?.1.rules;
                self.checked(def, keep)?
            }
        };
        self.decide_sample(name, &def).await
    }

    /// The file of the module `app` serves (resolved), if it has one.
    fn serving_module_file(&self, app: &str) -> Option<PathBuf> {
        self.inbound.rules().and_then(|r| r.registry().spec(app)).map(|s| s.path)
    }

    /// The app's definition now, as served (its module file resolved).
    pub(super) async fn current_definition(&self, app: &str) -> Result<AppConfig, AdminError> {
        let mut def = match self.file_app(app) {
            Some(a) => a.clone(),
            None => self.console_app(app).await?.1,
        };
        def.rules = self.serving_module_file(app).or(def.rules);
        Ok(def)
    }

    /// Decides a sample of `name`'s stored people with `def` (its module and settings) and
    /// compares with what is decided now.
    pub(super) async fn decide_sample(&self, name: &str, def: &AppConfig) -> Result<DryRun, AdminError> {
        let served = self.inbound.app(name).ok_or_else(|| AdminError::NoApp(name.to_owned()))?;
        let def = def.clone();
        let runtime = self.runtime()?;
        let snap = self.inbound.snapshot();
        let people = snap.collection(name, ResourceKind::User).map_or(0, |c| c.len());
        let step = people.div_ceil(DRY_RUN_SAMPLE).max(1);
        // The sample only: spread over the app, in creation order.
        let sample: Vec<_> = snap
            .collection(name, ResourceKind::User)
            .map(|c| c.iter().step_by(step).cloned().collect())
            .unwrap_or_default();
        let mut out = DryRun { people, ..DryRun::default() };
        let Some(spec) = Self::module_spec(&def)? else { return Ok(out) };
        let module = match self.prepare(&spec).await {
            Ok(m) => m,
            Err(e) => {
                out.refused = Some(e.to_string());
                return Ok(out);
            }
        };
        let app = App::from_config(&def, &runtime.public_url, served.precedence, served.source)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let rules =
            self.inbound.rules().ok_or_else(|| AdminError::Invalid("the rules engine is not running".into()))?;
        for user in &sample {
            out.sampled += 1;
            let now = snap.app(name).and_then(|d| d.desired.get(&user.id)).map(|d| d.outcome.clone());
            let change = match rules.trial_with(&app, module.clone(), &snap, user, None).await {
                Err(e) => {
                    out.failed += 1;
                    Some(format!("fails: {e}"))
                }
                Ok(d) => match d.attributes {
                    AttributeDecision::Reject(reason) => {
                        out.rejected += 1;
                        Some(format!("rejected: {reason}"))
                    }
                    AttributeDecision::Skip(reason) => match now {
                        Some(DesiredOutcome::Skip { .. }) => None,
                        _ => {
                            out.skipped += 1;
                            Some(format!("skipped: {reason}"))
                        }
                    },
                    AttributeDecision::Provision(m) => {
                        let mut groups = d.groups.add.clone();
                        groups.sort();
                        let then = match &now {
                            Some(DesiredOutcome::Provision(a)) => {
                                let mut g = a.groups.clone();
                                g.sort();
                                Some((a.username.clone(), a.full_name.clone(), a.email.clone(), a.active, g))
                            }
                            _ => None,
                        };
                        let next = (m.username, m.full_name, m.email, m.active, groups);
                        match then {
                            Some(t) if t == next => None,
                            Some(t) => Some(account_changes(&t, &next)),
                            None => Some(format!("provisioned as {} (groups: {})", next.0, next.4.join(", "))),
                        }
                    }
                },
            };
            match change {
                None => out.unchanged += 1,
                Some(change) => {
                    if !change.starts_with("fails") && !change.starts_with("rejected") && !change.starts_with("skipped")
                    {
                        out.changed += 1;
                    }
                    if out.examples.len() < 10 {
                        out.examples.push(DryRunExample {
                            id: user.id.to_string(),
                            user_name: user.name_key.to_string(),
                            change,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// What the group sync form offers to pick from: the group names the app's identity
    /// provider has sent, and the Confluence groups UserSync knows (every app's grants and
    /// what the last reading of Confluence found), each sorted, at most 2,000.
    pub fn group_names(&self, app: &str) -> (Vec<String>, Vec<String>) {
        let snap = self.inbound.snapshot();
        let mut idp: Vec<String> = snap
            .collection(app, ResourceKind::Group)
            .map(|c| c.iter().map(|g| g.name_key.to_string()).collect())
            .unwrap_or_default();
        let mut confluence = std::collections::BTreeSet::new();
        for a in self.inbound.apps() {
            if let Some(data) = snap.app(&a.name) {
                for d in data.desired.values() {
                    if let DesiredOutcome::Provision(account) = &d.outcome {
                        confluence.extend(account.groups.iter().cloned());
                    }
                }
            }
        }
        for o in snap.observed_users() {
            confluence.extend(o.foreign_groups.iter().cloned());
        }
        idp.sort();
        idp.truncate(2000);
        (idp, confluence.into_iter().take(2000).collect())
    }

    /// What the module makes of a person in the one IdP group `group`, with `def`'s
    /// settings (the form's, not yet saved): the Confluence groups it grants, and those it
    /// would create. The group sync form's live preview.
    ///
    /// # Errors
    /// The app has no module, the settings are refused, or the decision fails.
    pub async fn preview_group(
        &self,
        app: &str,
        def: AppConfig,
        group: &str,
    ) -> Result<(Vec<String>, Vec<String>), AdminError> {
        let served = self.inbound.app(app).ok_or_else(|| AdminError::NoApp(app.to_owned()))?;
        let keep = match self.file_app(app) {
            Some(_) => self.serving_module_file(app),
            None => self.console_app(app).await?.1.rules,
        };
        let mut def = def;
        def.rules = keep;
        let spec =
            Self::module_spec(&def)?.ok_or_else(|| AdminError::Invalid(format!("app {app} has no rules module")))?;
        let module = self.prepare(&spec).await?;
        let runtime = self.runtime()?;
        let trial = App::from_config(&def, &runtime.public_url, served.precedence, served.source)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let rules =
            self.inbound.rules().ok_or_else(|| AdminError::Invalid("the rules engine is not running".into()))?;
        let person = serde_json::json!({
            "id": "preview", "userName": "preview.person@example.invalid", "active": true,
            "name": {"givenName": "Preview", "familyName": "Person"},
            "emails": [{"value": "preview.person@example.invalid", "primary": true}],
        });
        let user = crate::store::StoredResource {
            kind: ResourceKind::User,
            id: Arc::from("preview"),
            version: 0,
            name_key: Arc::from("preview.person@example.invalid"),
            external_id: None,
            json: Arc::from(person.to_string().into_bytes()),
            members: crate::store::no_members(),
        };
        let groups = vec![crate::rules::types::IdpGroup { id: group.to_owned(), display_name: group.to_owned() }];
        let snap = self.inbound.snapshot();
        let decided =
            rules.trial_with(&trial, module, &snap, &user, Some(groups)).await.map_err(AdminError::Refused)?;
        Ok((decided.groups.add, decided.groups.create))
    }

    /// Copies the module `source` serves into a new app's module folder; returns the file.
    fn copy_module(&self, source: &str, app: &str) -> Result<PathBuf, AdminError> {
        let spec = self
            .inbound
            .rules()
            .and_then(|r| r.registry().spec(source))
            .ok_or_else(|| AdminError::Invalid(format!("app {source} has no rules module to copy")))?;
        let bytes =
            std::fs::read(&spec.path).map_err(|e| AdminError::Refused(format!("{}: {e}", spec.path.display())))?;
        let stem = spec.path.file_stem().map_or_else(|| "rules".to_owned(), |s| s.to_string_lossy().into_owned());
        let folder = self.serving_dir(app);
        let io = |e: std::io::Error| AdminError::Refused(format!("cannot keep the module: {e}"));
        std::fs::create_dir_all(&folder).map_err(io)?;
        let file = folder.join(format!("{stem}.wasm"));
        std::fs::write(&file, &bytes).map_err(io)?;
        let kept = self.history_dir(app).join(format!("{}.wasm", crate::rules::content_hash(&bytes)));
        std::fs::write(kept, &bytes).map_err(io)?;
        Ok(file)
    }

    /// Where a console-managed app's serving module file lives.
    pub(super) fn serving_dir(&self, app: &str) -> PathBuf {
        self.history_dir(app).join("serving")
    }

    /// Gives a console-managed app without rules the module file `file` (written already):
    /// a definition change like any other.
    pub(super) async fn attach_module(&self, actor: &str, app: &str, file: PathBuf) -> Result<String, ChangeError> {
        let (record, mut def) = self.console_app(app).await?;
        def.rules = Some(file);
        let runtime = self.runtime()?;
        def.validate(&runtime.server).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let spec = Self::module_spec(&def)?.ok_or_else(|| AdminError::Refused("no module".into()))?;
        let module = self.prepare(&spec).await?;
        let hash = module.id().hash.clone();
        let precedence = self.inbound.app(app).map_or(usize::MAX / 2, |a| a.precedence);
        let next = record.version + 1;
        let served = App::from_config(&def, &runtime.public_url, precedence, AppSource::Console { version: next })
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let version = record.version;
        let record = AppRecord {
            definition: serde_json::to_string(&def).map_err(|e| AdminError::Refused(e.to_string()))?,
            version: next,
            updated_at: crate::clock::now_rfc3339(),
            updated_by: actor.to_owned(),
            ..record
        };
        let detail = format!("app changed: rules module {} (was none)", module.id().short_hash());
        self.commit_change(app, Some(record), Some(version), actor, detail, Vec::new()).await?;
        self.serve(&def, served, Some((spec, module)))?;
        Ok(hash)
    }

    /// Stores an app change with its audit entry, if the app is at `expect`.
    async fn commit_change(
        &self,
        name: &str,
        record: Option<AppRecord>,
        expect: Option<u64>,
        actor: &str,
        detail: String,
        mut extra: Vec<Mutation>,
    ) -> Result<(), ChangeError> {
        let entry = AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: name.to_owned(),
            subject: "app".to_owned(),
            user_name: actor.to_owned(),
            action: "admin".to_owned(),
            outcome: "done".to_owned(),
            module_name: String::new(),
            module_hash: String::new(),
            detail,
        };
        let mut mutations = vec![Mutation::App { name: Arc::from(name), record, expect }];
        mutations.append(&mut extra);
        mutations.push(Mutation::Audit(entry));
        match self.store.commit(mutations).await {
            Ok(()) => Ok(()),
            Err(CommitError::Conflict(Conflict::AppChanged { name, .. })) => {
                let current = self.record_of(&name).await?.map(|r| Box::new(view(&r)));
                Err(ChangeError::Changed { name, current })
            }
            Err(CommitError::Conflict(other)) => Err(AdminError::Refused(format!("{other:?}")).into()),
            Err(CommitError::Store(e)) => Err(AdminError::from(e).into()),
        }
    }

    fn reload_tokens(&self) {
        if let Some(tokens) = self.runtime.as_ref().and_then(|r| r.tokens.as_ref()) {
            tokens.reload();
        }
    }
}

/// An app of the configuration file as the admin side shows it.
fn file_view(a: &AppConfig) -> AppDefinition {
    AppDefinition {
        name: a.name.clone(),
        managed_by: "file",
        version: 0,
        definition: serde_json::to_value(a).unwrap_or(Value::Null),
        updated_at: None,
        updated_by: None,
    }
}

/// A stored app as the admin side shows it.
fn view(record: &AppRecord) -> AppDefinition {
    AppDefinition {
        name: record.name.clone(),
        managed_by: "console",
        version: record.version,
        definition: serde_json::from_str(&record.definition).unwrap_or(Value::Null),
        updated_at: Some(record.updated_at.clone()),
        updated_by: Some(record.updated_by.clone()),
    }
}

/// A stored definition, parsed.
///
/// # Errors
/// It no longer parses (written by a newer release, or edited by hand).
pub fn parse_definition(text: &str) -> Result<AppConfig, AdminError> {
    serde_json::from_str(text).map_err(|e| AdminError::Invalid(format!("the stored app does not parse: {e}")))
}

/// The identity providers an app can be made for, with what the console calls them.
pub const KINDS: [(IdpKind, &str); 4] = [
    (IdpKind::Onelogin, "OneLogin"),
    (IdpKind::Okta, "Okta"),
    (IdpKind::Entra, "Microsoft Entra ID"),
    (IdpKind::Generic, "Generic SCIM 2.0"),
];

/// "key: before → after" for each leaf that differs between two JSON definitions (settings
/// included, by key), in key order.
pub fn describe_changes(before: &Value, after: &Value) -> String {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut a);
    flatten("", after, &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".to_owned());
            format!("{k}: {} → {}", show(a.get(k)), show(b.get(k)))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) if !map.is_empty() && prefix != "settings.group_mapping" => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Null => {}
        Value::Object(map) if map.is_empty() => {}
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

type Account = (String, String, String, bool, Vec<String>);

fn account_changes(before: &Account, after: &Account) -> String {
    let mut out = Vec::new();
    if before.0 != after.0 {
        out.push(format!("username {} → {}", before.0, after.0));
    }
    if before.1 != after.1 {
        out.push(format!("full name {:?} → {:?}", before.1, after.1));
    }
    if before.2 != after.2 {
        out.push(format!("e-mail {} → {}", before.2, after.2));
    }
    if before.3 != after.3 {
        out.push(if after.3 { "activated".to_owned() } else { "deactivated".to_owned() });
    }
    let gained: Vec<&String> = after.4.iter().filter(|g| !before.4.contains(g)).collect();
    let lost: Vec<&String> = before.4.iter().filter(|g| !after.4.contains(g)).collect();
    if !gained.is_empty() {
        out.push(format!("joins {}", gained.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !lost.is_empty() {
        out.push(format!("leaves {}", lost.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")));
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_leaf_that_differs() {
        let before = serde_json::json!({"name": "a", "kind": "okta", "settings": {"create_users": true, "default_groups_new": ["x"]}});
        let after = serde_json::json!({"name": "a", "kind": "okta", "settings": {"create_users": false, "default_groups_new": ["x"], "update_users": false}});
        assert_eq!(
            describe_changes(&before, &after),
            "settings.create_users: true → false; settings.update_users: (unset) → false"
        );
        assert_eq!(describe_changes(&before, &before), "");
    }

    #[test]
    fn account_changes_say_what_moves() {
        let a: Account = ("ada".into(), "Ada".into(), "a@x".into(), true, vec!["eng".into(), "all".into()]);
        let b: Account = ("ada".into(), "Ada L".into(), "a@x".into(), false, vec!["all".into(), "ops".into()]);
        assert_eq!(account_changes(&a, &b), "full name \"Ada\" → \"Ada L\"; deactivated; joins ops; leaves eng");
    }
}
