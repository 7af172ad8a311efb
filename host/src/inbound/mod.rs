//! The inbound side: each app's SCIM resources, read from the store's snapshot and changed
//! through it.
//!
//! Every write follows one path: normalise (IdP quirks absorbed), compute the new resource
//! against the snapshot, commit with an expectation on the version read, and retry from the
//! top when another writer got there first (unless the client pinned a version with
//! `If-Match`, which then answers 412).
//!
//! **API boundary:** HTTP handlers call [`Inbound`]; it returns canonical resources or a
//! [`ScimError`].

mod change;
mod decide;
mod held;
mod list;
pub mod person;
mod screen;
mod synchronize;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use serde_json::{Map, Value};

use crate::config::{AppConfig, Config, ConfigError, DuplicatePolicy, IdpKind, RateLimitConfig, UnknownMemberPolicy};
use crate::rules::types::Setting;
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::normalize::{name_key, normalize_resource, Limits};
use crate::scim::patch::{self, PatchRequest};
use crate::scim::schema::{AppSchemas, ResourceKind, ResourceType};
use crate::store::{
    etag, member_ids, CommitError, Conflict, Expect, Mutation, Relocate, Snapshot, Store, StoredResource,
};
use crate::sync::plan::{plan_among, SnapshotApps};
use crate::sync::AppSync;
pub use change::{Applied, Change};
pub use decide::{Action, RulesHook};
pub use list::{ListPage, ListQuery, SortOrder};
pub use synchronize::SyncReport;

/// One identity-provider connection as the protocol layer sees it.
#[derive(Debug)]
pub struct App {
    pub name: Arc<str>,
    pub kind: IdpKind,
    pub duplicate: DuplicatePolicy,
    /// What a group write does with members that are not users or groups of the app.
    pub unknown_members: UnknownMemberPolicy,
    pub schemas: AppSchemas,
    /// `<public_url>/scim/v2/<name>`.
    pub base_url: String,
    /// The app's place in the configuration. When several apps provision one Confluence
    /// user, the first of them sets the full name and e-mail (Crowd's directory order).
    pub precedence: usize,
    /// When the identity provider last made an authenticated request: Unix milliseconds, 0
    /// for never ([`App::seen`], [`App::last_request`]).
    pub last_request_ms: std::sync::atomic::AtomicI64,
    /// The settings the app's rules module reads; `None` for an app without rules.
    pub settings: Option<Vec<Setting>>,
    /// `[apps.rate_limit]`: the most requests the identity provider may make.
    pub rate_limit: Option<RateLimitConfig>,
    /// Where the app is defined.
    pub source: AppSource,
}

/// Where an app is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppSource {
    /// An `[[apps]]` entry of the configuration file: read-only at run time.
    File,
    /// Made through the admin API or the console, stored at this version.
    Console { version: u64 },
}

impl App {
    /// The app `a` of the configuration (or of the admin side, as `source` says), its base
    /// URL under `public_url`, and `precedence` its place among the apps.
    ///
    /// # Errors
    /// A custom extension or the settings are invalid.
    pub fn from_config(
        a: &AppConfig,
        public_url: &str,
        precedence: usize,
        source: AppSource,
    ) -> Result<App, ConfigError> {
        let exts = a.extensions.iter().map(|e| e.to_extension()).collect::<Result<Vec<_>, _>>()?;
        Ok(App {
            name: Arc::from(a.name.as_str()),
            kind: a.kind,
            duplicate: a.duplicate_policy(),
            unknown_members: a.unknown_member_policy(),
            schemas: AppSchemas::new(&exts),
            base_url: format!("{public_url}/scim/v2/{}", a.name),
            precedence,
            last_request_ms: std::sync::atomic::AtomicI64::new(0),
            settings: if a.rules.is_some() { Some(a.rule_settings()?) } else { None },
            rate_limit: a.rate_limit,
            source,
        })
    }
}

impl App {
    /// Notes an authenticated request from the identity provider (a relaxed store: this is
    /// on every request's path).
    pub fn seen(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.last_request_ms.store(now, std::sync::atomic::Ordering::Relaxed);
    }

    /// When the identity provider last made an authenticated request (RFC 3339).
    pub fn last_request(&self) -> Option<String> {
        let ms = self.last_request_ms.load(std::sync::atomic::Ordering::Relaxed);
        (ms > 0).then(|| {
            crate::clock::system_time_rfc3339(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            )
        })
    }
}

/// How often a write is retried after losing an optimistic race.
const MAX_ATTEMPTS: usize = 16;

/// Members one group write may add, unless configured (`[server] max_members_per_request`).
pub const MAX_MEMBERS_PER_REQUEST: usize = 10_000;

/// The apps being served, and where each one's decisions are applied: replaced whole when
/// an app is added, changed or removed, so a request sees one consistent set.
#[derive(Default)]
pub struct AppTable {
    apps: HashMap<String, Arc<App>>,
    /// Each app's [`App::precedence`], by name.
    precedence: HashMap<String, usize>,
    /// Where each app's decisions are applied (apps without an entry only store them).
    confluence: HashMap<String, Arc<AppSync>>,
}

impl AppTable {
    fn with(apps: HashMap<String, Arc<App>>, confluence: HashMap<String, Arc<AppSync>>) -> Self {
        let precedence = apps.iter().map(|(name, app)| (name.clone(), app.precedence)).collect();
        Self { apps, precedence, confluence }
    }
}

/// The SCIM resources of every app.
pub struct Inbound {
    store: Store,
    /// The apps served now. A request holds the `Arc<App>` it started with, so a change
    /// made meanwhile applies from the next request on.
    table: ArcSwap<AppTable>,
    limits: Limits,
    pub max_results: usize,
    /// Members one group write may add ([`Inbound::with_member_cap`]).
    max_members_per_request: usize,
    /// The rules, for apps that have a module: every write's desired Confluence state.
    rules: Option<Arc<RulesHook>>,
}

/// How a write's Confluence operations are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Applied before the SCIM response where they can be, within the app's
    /// `apply_deadline_ms`; the rest are queued. A Confluence refusal fails the request.
    AtOnce,
    /// Queued in the outbox with the change, in one transaction, and applied by its workers
    /// (in order per person, after anything already queued for them). Bulk requests use it:
    /// a thousand operations answered at Confluence's pace would outlast an IdP's patience.
    /// A Confluence refusal is then recorded in the outbox's failed list and the audit log.
    Queued,
}

/// The outcome of `POST`: the resource, and whether it was adopted (an existing user linked
/// under the [`DuplicatePolicy::Adopt`] policy) rather than created.
pub struct Created {
    pub resource: Arc<StoredResource>,
    pub adopted: bool,
}

/// Builds the per-app protocol settings from the config.
///
/// # Errors
/// A custom extension in the config is invalid.
pub fn apps_from_config(config: &Config) -> Result<HashMap<String, Arc<App>>, ConfigError> {
    let public = config.public_url();
    let mut apps = HashMap::new();
    for (precedence, a) in config.apps.iter().enumerate() {
        let app = App::from_config(a, &public, precedence, AppSource::File)?;
        apps.insert(a.name.clone(), Arc::new(app));
    }
    Ok(apps)
}

/// Rewrites `meta.location` (and member `$ref`s) of a stored resource for this process's
/// public URL. Used when the snapshot is loaded.
pub fn relocate(apps: &HashMap<String, Arc<App>>) -> Relocate {
    let bases: HashMap<String, String> = apps.iter().map(|(k, a)| (k.clone(), a.base_url.clone())).collect();
    Arc::new(move |app: &str, value: &mut Value| {
        let Some(base) = bases.get(app) else { return };
        let id = value.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        let endpoint = match value.pointer("/meta/resourceType").and_then(Value::as_str) {
            Some("Group") => "Groups",
            _ => "Users",
        };
        if let Some(meta) = value.get_mut("meta").and_then(Value::as_object_mut) {
            meta.insert("location".into(), Value::String(format!("{base}/{endpoint}/{id}")));
        }
        if let Some(members) = value.get_mut("members").and_then(Value::as_array_mut) {
            for m in members {
                let (Some(v), Some(t)) =
                    (m.get("value").and_then(Value::as_str), m.get("type").and_then(Value::as_str))
                else {
                    continue;
                };
                let r = format!("{base}/{}s/{v}", t);
                if let Some(obj) = m.as_object_mut() {
                    obj.insert("$ref".into(), Value::String(r));
                }
            }
        }
    })
}

impl Inbound {
    pub fn new(store: Store, apps: HashMap<String, Arc<App>>, limits: Limits, max_results: usize) -> Self {
        Self {
            store,
            table: ArcSwap::from_pointee(AppTable::with(apps, HashMap::new())),
            limits,
            max_results,
            max_members_per_request: MAX_MEMBERS_PER_REQUEST,
            rules: None,
        }
    }

    /// Sets how many members one `POST`, `PUT` or `PATCH` of a group may add (default
    /// [`MAX_MEMBERS_PER_REQUEST`]); more are refused with 400.
    #[must_use]
    pub fn with_member_cap(mut self, max_members_per_request: usize) -> Self {
        self.max_members_per_request = max_members_per_request;
        self
    }

    /// `attrs` as this write may set them against `current` (absent for a create): names
    /// free of control and format characters, and a group's added members checked
    /// (`screen.rs`).
    fn screened(
        &self,
        app: &App,
        snap: &Snapshot,
        kind: ResourceKind,
        current: Option<&StoredResource>,
        mut attrs: Map<String, Value>,
    ) -> ScimResult<Map<String, Value>> {
        screen::check_names(kind, &attrs, current)?;
        // A directory's groups list members the adapter resolved from the same listing;
        // the users they name may be written after the group in the same run.
        if kind == ResourceKind::Group && app.kind != IdpKind::Ldap {
            screen::screen_members(app, snap, current, &mut attrs, self.max_members_per_request)?;
        }
        Ok(attrs)
    }

    /// Applies the apps' decisions to Confluence (apps without an entry only store them).
    #[must_use]
    pub fn with_confluence(self, confluence: HashMap<String, Arc<AppSync>>) -> Self {
        let apps = self.table.load().apps.clone();
        self.table.store(Arc::new(AppTable::with(apps, confluence)));
        self
    }

    /// Serves `app` (adding it, or replacing the app of that name) with `confluence` as
    /// where its decisions are applied. Requests already running finish on what they hold.
    /// Returns the Confluence side it replaced, for the caller to stop.
    pub fn put_app(&self, app: Arc<App>, confluence: Option<Arc<AppSync>>) -> Option<Arc<AppSync>> {
        let mut replaced = None;
        self.table.rcu(|table| {
            let mut apps = table.apps.clone();
            let mut syncs = table.confluence.clone();
            apps.insert(app.name.to_string(), app.clone());
            replaced = match &confluence {
                Some(sync) => syncs.insert(app.name.to_string(), sync.clone()),
                None => syncs.remove(&*app.name),
            }
            .filter(|old| !confluence.as_ref().is_some_and(|new| Arc::ptr_eq(old, new)));
            AppTable::with(apps, syncs)
        });
        replaced
    }

    /// Stops serving `app`; returns its Confluence side, for the caller to stop.
    pub fn remove_app(&self, name: &str) -> Option<Arc<AppSync>> {
        let mut removed = None;
        self.table.rcu(|table| {
            let mut apps = table.apps.clone();
            let mut syncs = table.confluence.clone();
            apps.remove(name);
            removed = syncs.remove(name);
            AppTable::with(apps, syncs)
        });
        removed
    }

    /// Commits a change with its Confluence consequences: the operations its decisions plan
    /// are applied at once where they can be (within the app's deadline) and the rest are
    /// queued in the outbox, in the same transaction as the change.
    ///
    /// # Errors
    /// The outer error: Confluence refused an operation for good (nothing is stored). The
    /// inner one: the store refused or failed the commit, as [`Store::commit`].
    async fn commit(
        &self,
        app: &App,
        mut mutations: Vec<Mutation>,
        delivery: Delivery,
    ) -> ScimResult<Result<(), CommitError>> {
        let table = self.table.load_full();
        let Some(sync) = table.confluence.get(&*app.name) else { return Ok(self.store.commit(mutations).await) };
        let snapshot = self.store.snapshot();
        let others = SnapshotApps { snapshot: &snapshot, app: &app.name, precedence: &table.precedence };
        let mut ops = Vec::new();
        for m in &mutations {
            if let Mutation::Desired { scim_id, desired, basis, .. } = m {
                let planned = plan_among(basis.as_deref(), desired.as_deref(), app.precedence, &others, sync.policy);
                let hash = desired.as_ref().or(basis.as_ref()).map(|d| d.module_hash.as_str()).unwrap_or_default();
                ops.extend(sync.queue(planned, scim_id, hash));
            }
        }
        if ops.is_empty() {
            return Ok(self.store.commit(mutations).await);
        }
        // The deprovisioning circuit breaker: what it holds is stored with the change and
        // waits for an administrator; the rest goes on.
        let (gate, held) = self.gate(app, sync, ops);
        mutations.extend(held);
        let ops = gate.pass.clone();
        if delivery == Delivery::Queued || ops.is_empty() {
            mutations.push(Mutation::Enqueue(ops.iter().map(|q| q.row(&app.name)).collect()));
            let result = self.store.commit(mutations).await;
            match &result {
                Ok(()) => sync.outbox().push(&app.name, ops),
                Err(_) => sync.outbox().unhold(&app.name, &gate),
            }
            return Ok(result);
        }
        let at_once = match sync.apply_at_once(ops).await {
            Ok(a) => a,
            Err((op, refusal)) => {
                sync.outbox().unhold(&app.name, &gate);
                tracing::warn!(app = %app.name, %refusal, "SCIM change refused: Confluence refuses it");
                let entry = sync.audit(&op, Some(&refusal), None);
                if let Err(e) = self.store.commit(vec![Mutation::Audit(entry)]).await {
                    tracing::error!(error = %e, "cannot audit a refused change");
                }
                return Err(ScimError::new(400, None, refusal));
            }
        };
        for (q, note) in &at_once.applied {
            mutations.push(Mutation::Audit(sync.audit(q, None, note.as_deref())));
        }
        if !at_once.deferred.is_empty() {
            mutations.push(Mutation::Enqueue(at_once.deferred.iter().map(|q| q.row(&app.name)).collect()));
        }
        // A membership in a group Confluence lacks does not fail the write: it is parked,
        // visibly, and applied once the group exists.
        for parked in &at_once.blocked {
            tracing::warn!(app = %app.name, op = %parked.queued.op.describe(), reason = %parked.reason, "membership parked");
            mutations.push(Mutation::Block(parked.row(&app.name)));
            mutations.push(sync.parked_audit(parked));
        }
        let result = self.store.commit(mutations).await;
        if result.is_err() {
            sync.outbox().unhold(&app.name, &gate);
        }
        sync.finish_at_once(at_once, result.is_ok()).await;
        Ok(result)
    }

    /// Runs every write of the apps `rules` knows through their module.
    #[must_use]
    pub fn with_rules(mut self, rules: Arc<RulesHook>) -> Self {
        self.rules = Some(rules);
        self
    }

    /// Every app's Confluence side, by app name.
    pub fn confluence_apps(&self) -> Vec<(String, Arc<AppSync>)> {
        let table = self.table.load();
        let mut out: Vec<(String, Arc<AppSync>)> =
            table.confluence.iter().map(|(name, sync)| (name.clone(), sync.clone())).collect();
        out.sort_by_key(|(name, _)| table.precedence.get(name).copied());
        out
    }

    /// The app's Confluence side, if `[confluence]` is configured.
    pub fn confluence(&self, app: &str) -> Option<Arc<AppSync>> {
        self.table.load().confluence.get(app).cloned()
    }

    pub fn rules(&self) -> Option<&Arc<RulesHook>> {
        self.rules.as_ref()
    }

    /// The desired-state and audit mutations that go with a change (none without rules).
    async fn consequences(
        &self,
        app: &App,
        snap: &Snapshot,
        before: Option<&StoredResource>,
        after: Option<&StoredResource>,
        action: Action,
    ) -> ScimResult<Vec<Mutation>> {
        match &self.rules {
            Some(rules) => rules.consequences(app, snap, before, after, action).await,
            None => Ok(Vec::new()),
        }
    }

    pub fn app(&self, name: &str) -> Option<Arc<App>> {
        self.table.load().apps.get(name).cloned()
    }

    /// Every app served, in precedence order.
    pub fn apps(&self) -> Vec<Arc<App>> {
        let mut out: Vec<Arc<App>> = self.table.load().apps.values().cloned().collect();
        out.sort_by_key(|a| a.precedence);
        out
    }

    /// The apps served now, as one consistent set.
    pub fn table(&self) -> Arc<AppTable> {
        self.table.load_full()
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.store.snapshot()
    }

    /// How many people (SCIM users) the app has: the deprovisioning breaker's scale.
    pub fn people(&self, app: &str) -> usize {
        self.store.snapshot().collection(app, ResourceKind::User).map_or(0, |c| c.len())
    }

    /// `GET /<kind>s/{id}`.
    ///
    /// # Errors
    /// 404 when the app has no such resource.
    pub fn get(&self, app: &App, kind: ResourceKind, id: &str) -> ScimResult<Arc<StoredResource>> {
        self.store.snapshot().get(&app.name, kind, id).cloned().ok_or_else(|| not_found(kind, id))
    }

    /// `POST /Users` or `/Groups`.
    ///
    /// # Errors
    /// 400 for an invalid body (a name with a control or format character; for a group,
    /// more members than one request may add, or members the app does not have under
    /// [`UnknownMemberPolicy::Reject`]); 409 `uniqueness` when the name is taken (unless
    /// the app adopts duplicates, for users).
    pub async fn create(&self, app: &App, kind: ResourceKind, body: &Value, delivery: Delivery) -> ScimResult<Created> {
        change::scim_writable(app)?;
        let rt = app.schemas.of(kind);
        let attrs = normalize_resource(body, rt, &self.limits)?;
        screen::check_names(kind, &attrs, None)?;
        let key = name_key(kind, &attrs).ok_or_else(|| ScimError::internal("normalised resource has no name"))?;
        for _ in 0..MAX_ATTEMPTS {
            let snap = self.store.snapshot();
            if let Some(existing) = snap.collection(&app.name, kind).and_then(|c| c.by_name(&key)).cloned() {
                if kind == ResourceKind::User && app.duplicate == DuplicatePolicy::Adopt {
                    match self
                        .write_replacement(app, &snap, &existing, attrs.clone(), Action::Create, delivery, &[])
                        .await
                    {
                        Ok(resource) => return Ok(Created { resource, adopted: true }),
                        Err(Retry::Again) => continue,
                        Err(Retry::Fail(e)) => return Err(e),
                    }
                }
                return Err(name_taken(kind, &key));
            }
            // Time-ordered ids (UUIDv7): every index keyed by id (the resource's, its desired
            // state's, its audit entries') grows at its end instead of at a random page.
            let id: Arc<str> = Arc::from(uuid::Uuid::now_v7().to_string());
            let now = crate::clock::now_rfc3339();
            let mut attrs = attrs.clone();
            if kind == ResourceKind::Group {
                screen::screen_members(app, &snap, None, &mut attrs, self.max_members_per_request)?;
            }
            let resource = Arc::new(self.render(app, &snap, kind, &id, 1, &now, &now, attrs)?);
            let mut mutations =
                vec![Mutation::Put { app: app.name.clone(), resource: resource.clone(), expect: Expect::Absent }];
            mutations.extend(self.consequences(app, &snap, None, Some(&resource), Action::Create).await?);
            match self.commit(app, mutations, delivery).await? {
                Ok(()) => return Ok(Created { resource, adopted: false }),
                Err(CommitError::Conflict(Conflict::NameTaken { .. } | Conflict::Stale { .. })) => continue,
                Err(e) => return Err(commit_error(e, kind)),
            }
        }
        Err(busy())
    }

    /// `PUT /<kind>s/{id}`: the body replaces every attribute the client may write.
    ///
    /// # Errors
    /// 404, 400, 409 (name taken), 412 (`If-Match` does not match).
    pub async fn replace(
        &self,
        app: &App,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        delivery: Delivery,
    ) -> ScimResult<Arc<StoredResource>> {
        change::scim_writable(app)?;
        let rt = app.schemas.of(kind);
        let attrs = normalize_resource(body, rt, &self.limits)?;
        for _ in 0..MAX_ATTEMPTS {
            let snap = self.store.snapshot();
            let current = snap.get(&app.name, kind, id).cloned().ok_or_else(|| not_found(kind, id))?;
            check_if_match(&current, if_match)?;
            match self.write_replacement(app, &snap, &current, attrs.clone(), Action::Replace, delivery, &[]).await {
                Ok(r) => return Ok(r),
                // With `If-Match`, the check above answers 412 if the resource itself changed.
                Err(Retry::Again) => continue,
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
        Err(busy())
    }

    /// `PATCH /<kind>s/{id}` (RFC 7644 §3.5.2). A PATCH that changes nothing keeps the version.
    ///
    /// # Errors
    /// 404, 400 (the PATCH or the resulting resource is invalid), 409, 412.
    pub async fn patch(
        &self,
        app: &App,
        kind: ResourceKind,
        id: &str,
        body: &Value,
        if_match: Option<&str>,
        delivery: Delivery,
    ) -> ScimResult<Arc<StoredResource>> {
        change::scim_writable(app)?;
        let rt = app.schemas.of(kind);
        let request = PatchRequest::parse(body)?;
        for _ in 0..MAX_ATTEMPTS {
            let snap = self.store.snapshot();
            let current = snap.get(&app.name, kind, id).cloned().ok_or_else(|| not_found(kind, id))?;
            check_if_match(&current, if_match)?;
            let mut value =
                current.value().map_err(|e| ScimError::internal(format!("stored resource unreadable: {e}")))?;
            if !patch::apply(&mut value, &request, rt)? {
                return Ok(current);
            }
            let attrs = normalize_resource(&value, rt, &self.limits)?;
            match self.write_replacement(app, &snap, &current, attrs, Action::Patch, delivery, &[]).await {
                Ok(r) => return Ok(r),
                Err(Retry::Again) => continue,
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
        Err(busy())
    }

    /// `DELETE /<kind>s/{id}`. Deleting a user also takes it out of the app's groups.
    ///
    /// # Errors
    /// 404, 412.
    pub async fn delete(
        &self,
        app: &App,
        kind: ResourceKind,
        id: &str,
        if_match: Option<&str>,
        delivery: Delivery,
    ) -> ScimResult<()> {
        change::scim_writable(app)?;
        for _ in 0..MAX_ATTEMPTS {
            let snap = self.store.snapshot();
            let current = snap.get(&app.name, kind, id).cloned().ok_or_else(|| not_found(kind, id))?;
            check_if_match(&current, if_match)?;
            let mut mutations = vec![Mutation::Delete {
                app: app.name.clone(),
                kind,
                id: current.id.clone(),
                expect: Expect::Version(current.version),
            }];
            mutations.extend(self.drop_member_everywhere(app, &snap, id)?);
            mutations.extend(self.consequences(app, &snap, Some(&current), None, Action::Delete).await?);
            match self.commit(app, mutations, delivery).await? {
                Ok(()) => return Ok(()),
                Err(CommitError::Conflict(Conflict::Stale { .. })) => continue,
                Err(e) => return Err(commit_error(e, kind)),
            }
        }
        Err(busy())
    }

    /// Group updates that remove `member_id` from every group of the app that lists it.
    fn drop_member_everywhere(&self, app: &App, snap: &Snapshot, member_id: &str) -> ScimResult<Vec<Mutation>> {
        let Some(groups) = snap.collection(&app.name, ResourceKind::Group) else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for group in groups.groups_of(member_id) {
            let mut value = group.value().map_err(|e| ScimError::internal(e.to_string()))?;
            let Some(members) = value.get_mut("members").and_then(Value::as_array_mut) else { continue };
            let before = members.len();
            members.retain(|m| m.get("value").and_then(Value::as_str) != Some(member_id));
            if members.len() == before {
                continue;
            }
            let attrs = normalize_resource(&value, &app.schemas.group, &self.limits)?;
            let created = meta_str(&value, "created");
            let now = crate::clock::now_rfc3339();
            let r = self.render(app, snap, ResourceKind::Group, &group.id, group.version + 1, &created, &now, attrs)?;
            out.push(Mutation::Put {
                app: app.name.clone(),
                resource: Arc::new(r),
                expect: Expect::Version(group.version),
            });
        }
        Ok(out)
    }

    /// The pipeline's update step, whichever adapter calls it: screen, render, decide,
    /// plan, apply or queue, commit (with `extra`, e.g. a directory cursor).
    #[allow(clippy::too_many_arguments)]
    async fn write_replacement(
        &self,
        app: &App,
        snap: &Snapshot,
        current: &StoredResource,
        attrs: Map<String, Value>,
        action: Action,
        delivery: Delivery,
        extra: &[Mutation],
    ) -> Result<Arc<StoredResource>, Retry> {
        let kind = current.kind;
        let attrs = self.screened(app, snap, kind, Some(current), attrs).map_err(Retry::Fail)?;
        let created = current
            .value()
            .map(|v| meta_str(&v, "created"))
            .map_err(|e| Retry::Fail(ScimError::internal(e.to_string())))?;
        let now = crate::clock::now_rfc3339();
        let next = self
            .render(app, snap, kind, &current.id, current.version + 1, &created, &now, attrs)
            .map_err(Retry::Fail)?;
        if same_content(current, &next) {
            if !extra.is_empty() {
                match self.store.commit(extra.to_vec()).await {
                    Ok(()) => {}
                    Err(e) => return Err(Retry::Fail(commit_error(e, kind))),
                }
            }
            return Ok(Arc::new(current.clone()));
        }
        let resource = Arc::new(next);
        let mut mutations = vec![Mutation::Put {
            app: app.name.clone(),
            resource: resource.clone(),
            expect: Expect::Version(current.version),
        }];
        let consequences = self.consequences(app, snap, Some(current), Some(&resource), action).await;
        mutations.extend(consequences.map_err(Retry::Fail)?);
        mutations.extend_from_slice(extra);
        match self.commit(app, mutations, delivery).await.map_err(Retry::Fail)? {
            Ok(()) => Ok(resource),
            Err(CommitError::Conflict(Conflict::Stale { .. })) => Err(Retry::Again),
            Err(CommitError::Conflict(Conflict::NameTaken { name_key, .. })) => {
                Err(Retry::Fail(name_taken(kind, &name_key)))
            }
            Err(e) => Err(Retry::Fail(commit_error(e, kind))),
        }
    }

    /// Builds the stored form: `schemas`, `id`, attributes, `meta`; members get `type` and
    /// `$ref` when they name a known user or group of the app.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        app: &App,
        snap: &Snapshot,
        kind: ResourceKind,
        id: &Arc<str>,
        version: u64,
        created: &str,
        modified: &str,
        mut attrs: Map<String, Value>,
    ) -> ScimResult<StoredResource> {
        let key = name_key(kind, &attrs).ok_or_else(|| ScimError::internal("resource has no name"))?;
        let external_id = attrs.get("externalId").and_then(Value::as_str).map(Arc::from);
        if let Some(Value::Array(members)) = attrs.get_mut("members") {
            annotate_members(app, snap, members);
        }
        let members = member_ids(attrs.get("members"));
        let mut out = Map::with_capacity(attrs.len() + 2);
        if let Some(schemas) = attrs.shift_remove("schemas") {
            out.insert("schemas".into(), schemas);
        }
        out.insert("id".into(), Value::String(id.to_string()));
        out.extend(attrs);
        let mut meta = Map::new();
        meta.insert("resourceType".into(), Value::String(kind.as_str().into()));
        meta.insert("created".into(), Value::String(created.to_owned()));
        meta.insert("lastModified".into(), Value::String(modified.to_owned()));
        meta.insert("location".into(), Value::String(format!("{}{}/{id}", app.base_url, kind.endpoint())));
        meta.insert("version".into(), Value::String(etag(version)));
        out.insert("meta".into(), Value::Object(meta));
        // Held for the resource's lifetime: `Arc::from` copies it into an allocation of its
        // exact size, without the serialiser's spare capacity.
        let json = serde_json::to_vec(&Value::Object(out)).map_err(|e| ScimError::internal(e.to_string()))?;
        Ok(StoredResource {
            kind,
            id: id.clone(),
            version,
            name_key: Arc::from(key),
            external_id,
            json: Arc::from(json),
            members,
        })
    }

    pub fn resource_type<'a>(&self, app: &'a App, kind: ResourceKind) -> &'a ResourceType {
        app.schemas.of(kind)
    }
}

enum Retry {
    Again,
    Fail(ScimError),
}

fn annotate_members(app: &App, snap: &Snapshot, members: &mut [Value]) {
    let data = snap.app(&app.name);
    for m in members.iter_mut() {
        let Some(obj) = m.as_object_mut() else { continue };
        let Some(v) = obj.get("value").and_then(Value::as_str).map(str::to_owned) else { continue };
        let kind = data.and_then(|d| {
            if d.users.get(&v).is_some() {
                Some(ResourceKind::User)
            } else if d.groups.get(&v).is_some() {
                Some(ResourceKind::Group)
            } else {
                None
            }
        });
        if let Some(kind) = kind {
            obj.insert("$ref".into(), Value::String(format!("{}{}/{v}", app.base_url, kind.endpoint())));
            obj.insert("type".into(), Value::String(kind.as_str().into()));
        }
    }
}

/// Everything but `meta` equal: a write that changes nothing keeps its version.
fn same_content(a: &StoredResource, b: &StoredResource) -> bool {
    let strip = |r: &StoredResource| {
        r.value().ok().map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("meta");
            }
            v
        })
    };
    a.name_key == b.name_key && strip(a).is_some() && strip(a) == strip(b)
}

fn meta_str(v: &Value, field: &str) -> String {
    v.get("meta")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(crate::clock::now_rfc3339)
}

/// `If-Match`: `*` or a list of ETags, one of which must be the current version.
fn check_if_match(current: &StoredResource, if_match: Option<&str>) -> ScimResult<()> {
    let Some(header) = if_match else { return Ok(()) };
    if etag_list_matches(header, &current.etag()) {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "If-Match {header} does not match the current version {}",
            current.etag()
        )))
    }
}

/// Does an `If-Match` / `If-None-Match` header value name `etag`? Weak comparison
/// (RFC 9110 §8.8.3.2): `W/"3"` and `"3"` are the same version.
pub fn etag_list_matches(header: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").trim().to_owned();
    let want = opaque(etag);
    header.split(',').any(|t| t.trim() == "*" || opaque(t) == want)
}

fn not_found(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::not_found(format!("{} {id} not found", kind.as_str()))
}

fn name_taken(kind: ResourceKind, key: &str) -> ScimError {
    let attr = if kind == ResourceKind::User { "userName" } else { "displayName" };
    ScimError::uniqueness(format!("a {} with {attr} {key:?} already exists", kind.as_str()))
}

fn stale(kind: ResourceKind, id: &str) -> ScimError {
    ScimError::precondition_failed(format!("{} {id} was changed by another request", kind.as_str()))
}

fn busy() -> ScimError {
    ScimError::new(503, None, "the resource is being changed by many requests at once; retry")
}

fn commit_error(e: CommitError, kind: ResourceKind) -> ScimError {
    match e {
        CommitError::Conflict(Conflict::NameTaken { name_key, .. }) => name_taken(kind, &name_key),
        CommitError::Conflict(Conflict::Stale { id }) => stale(kind, &id),
        CommitError::Conflict(Conflict::AppRemoved { name }) => {
            ScimError::not_found(format!("app {name} was removed while this change was on its way; nothing was stored"))
        }
        CommitError::Conflict(c @ Conflict::AppChanged { .. }) => {
            ScimError::internal(format!("a SCIM change met an app change: {c:?}"))
        }
        CommitError::Store(e) => {
            tracing::error!(error = %e, "store failure");
            ScimError::internal("the change could not be stored")
        }
    }
}
