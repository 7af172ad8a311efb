//! Synchronize for one app: read Confluence, run every person the app knows through the
//! rules again (they see Confluence as just read), and queue the operations that repair the
//! drift (or, on a dry run, only report them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Action, Inbound};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::schema::ResourceKind;
use crate::store::{AuditEntry, DesiredUser, Mutation};
use crate::sync::plan::SnapshotApps;
use crate::sync::reconcile::{self, Actual, Summary};
use crate::sync::AppSync;
use crate::sync::Op;

/// What a Synchronize did or, on a dry run, would do.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub app: String,
    pub dry_run: bool,
    /// Each planned operation, with the SCIM id of the person it is for.
    pub plan: Vec<(String, Op)>,
    pub summary: Summary,
    /// People the rules could not decide about (id, error); they are left as they were.
    pub failed: Vec<(String, String)>,
}

/// People decided per commit: bounds a transaction and the memory of a large app.
const CHUNK: usize = 256;
/// Decisions in flight at once (each a task; see `RulesEngine::decide_async` for the
/// thread it runs on). A few keep both cores busy; more only add allocator caches.
const PARALLEL: usize = 3;

impl Inbound {
    /// Reads Confluence for the rules when UserSync has never read it (a new store, or one
    /// upgraded from a release that did not keep it), so that whether Confluence has a
    /// user is known before the first Synchronize. A Synchronize that lands first wins.
    ///
    /// # Errors
    /// 503 when Confluence cannot be read.
    pub async fn observe_if_never_read(&self) -> ScimResult<()> {
        if self.store.snapshot().observed_users().next().is_some() {
            return Ok(());
        }
        let Some((app, sync)) = self.confluence_apps().into_iter().next() else {
            return Ok(());
        };
        tracing::info!(%app, "reading Confluence's users and groups for the rules (first start)");
        let actual = self.read_confluence(&sync, &|_: &str| {}).await?;
        self.record_observed(&actual, true).await
    }

    /// Checks, for every app with a module and Confluence, that the groups its module says
    /// the app's settings need exist (after each module change; while some are missing, at
    /// every call). A change of the answer is logged and audited (`missing-groups`), so an
    /// administrator sees a mapping to a group nobody created before any person is decided.
    pub async fn check_needed_groups(&self) {
        let Some(rules) = &self.rules else { return };
        for (app, sync) in self.confluence_apps() {
            let Some(module) = rules.registry().current(&app) else { continue };
            let last = sync.needed_groups();
            if last.module_hash == module.id().hash && last.missing.is_empty() {
                continue;
            }
            match sync.check_needed_groups(&module.id().hash, module.needed_groups()).await {
                Ok(Some(now)) => {
                    let detail = if now.missing.is_empty() {
                        "every group the rules need exists in Confluence".to_owned()
                    } else {
                        tracing::warn!(%app, missing = ?now.missing, "the rules need groups Confluence does not have");
                        format!("the rules need groups Confluence does not have: {}", now.missing.join(", "))
                    };
                    let entry = AuditEntry {
                        at: crate::clock::now_rfc3339(),
                        app: app.clone(),
                        subject: "-".into(),
                        user_name: "-".into(),
                        action: "check".into(),
                        outcome: "missing-groups".into(),
                        module_name: module.id().name.clone(),
                        module_hash: module.id().hash.clone(),
                        detail,
                    };
                    if let Err(e) = self.store.commit(vec![Mutation::Audit(entry)]).await {
                        tracing::error!(error = %e, "cannot audit a group check");
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(%app, error = %e, "cannot check the groups the rules need"),
            }
        }
    }

    async fn read_confluence(&self, sync: &AppSync, progress: &(dyn Fn(&str) + Sync)) -> ScimResult<Actual> {
        reconcile::read_actual(sync.client(), progress)
            .await
            .map_err(|e| ScimError::new(503, None, format!("cannot read Confluence: {e}")))
    }

    /// Keeps what the rules need of `actual`: each user's existence, values, and the
    /// memberships no app granted. `only_if_never_read` leaves a newer observation alone.
    async fn record_observed(&self, actual: &Actual, only_if_never_read: bool) -> ScimResult<()> {
        let snap = self.store.snapshot();
        let granted = |username: &str, group: &str| snap.granted(username, group);
        let users = reconcile::observe(actual, &granted).into();
        self.store
            .commit(vec![Mutation::Observed { users, only_if_never_read }])
            .await
            .map_err(|e| ScimError::internal(e.to_string()))
    }

    /// Synchronize `app`. Without `dry_run`, the new decisions are stored and the repair
    /// operations are queued in the outbox (in one transaction each), and this waits until
    /// the outbox has applied them (or `wait` passes; the rest are applied later).
    ///
    /// # Errors
    /// 404 for an unknown app, 409 for an app without Confluence or rules, 503 when
    /// Confluence cannot be read.
    pub async fn synchronize(
        &self,
        app_name: &str,
        dry_run: bool,
        wait: Duration,
        progress: &(dyn Fn(&str) + Sync),
    ) -> ScimResult<SyncReport> {
        let app = self.app(app_name).ok_or_else(|| ScimError::new(404, None, format!("no app {app_name}")))?;
        let sync = self
            .confluence(app_name)
            .ok_or_else(|| ScimError::new(409, None, format!("app {app_name} has no Confluence configured")))?;
        let rules = self
            .rules
            .clone()
            .ok_or_else(|| ScimError::new(409, None, format!("app {app_name} has no rules module")))?;
        let mut report = SyncReport { app: app_name.to_owned(), dry_run, ..SyncReport::default() };

        // 1. Read Confluence, and keep what the rules need of it: each user's existence,
        // values and the memberships no app granted. Read first, so that the decisions
        // below see Confluence as it is now.
        let actual = self.read_confluence(&sync, progress).await?;
        if !dry_run {
            // Memberships parked for a group that exists now: the repair below plans them
            // again if they are still wanted.
            sync.forget_parked(|g| actual.groups.contains(g)).await;
            self.record_observed(&actual, false).await?;
            self.check_needed_groups().await;
        }

        // 2. Decide again about everyone. Each chunk reads the latest snapshot, so the
        // decisions replaced by earlier chunks are freed as the sync goes (holding the first
        // snapshot would keep every old decision alive beside its replacement).
        let users: Vec<Arc<str>> = self
            .store
            .snapshot()
            .collection(&app.name, ResourceKind::User)
            .map(|c| c.iter().map(|u| u.id.clone()).collect())
            .unwrap_or_default();
        progress(&format!("deciding about {} people", users.len()));
        let mut desired: BTreeMap<String, Arc<DesiredUser>> = BTreeMap::new();
        for (n, chunk) in users.chunks(CHUNK).enumerate() {
            // The chunk's people are decided concurrently, then committed together.
            let snap = self.store.snapshot();
            let mut decisions = tokio::task::JoinSet::new();
            let mut decided = Vec::with_capacity(chunk.len());
            for (i, id) in chunk.iter().enumerate() {
                // Deleted since the sync started: nothing to decide.
                let Some(user) = snap.get(&app.name, ResourceKind::User, id) else { continue };
                if decisions.len() >= PARALLEL {
                    if let Some(joined) = decisions.join_next().await {
                        decided.push(joined.map_err(|e| ScimError::internal(format!("a decision task failed: {e}")))?);
                    }
                }
                let (rules, app, snap, user) = (rules.clone(), app.clone(), snap.clone(), user.clone());
                decisions.spawn(async move {
                    let outcome = rules.consequences(&app, &snap, Some(&user), Some(&user), Action::Sync).await;
                    (i, user, outcome)
                });
            }
            while let Some(joined) = decisions.join_next().await {
                decided.push(joined.map_err(|e| ScimError::internal(format!("a decision task failed: {e}")))?);
            }
            decided.sort_by_key(|(i, _, _)| *i);
            let mut mutations = Vec::new();
            for (_, user, outcome) in decided {
                match outcome {
                    Ok(ms) => {
                        for m in &ms {
                            if let Mutation::Desired { desired: Some(d), .. } = m {
                                desired.insert(user.id.to_string(), d.clone());
                            }
                        }
                        mutations.extend(ms);
                    }
                    Err(e) => report.failed.push((user.id.to_string(), e.detail)),
                }
            }
            if !dry_run && !mutations.is_empty() {
                // A concurrent SCIM change to one of these people wins; the next
                // Synchronize sees it.
                if let Err(e) = self.store.commit(mutations).await {
                    tracing::warn!(app = %app.name, error = %e, "some re-decisions were not stored (changed meanwhile)");
                }
            }
            progress(&format!("decided {}/{}", (n * CHUNK + chunk.len()).min(users.len()), users.len()));
        }

        // 3. Diff, with every other app that provisions the same people.
        let snap = self.store.snapshot();
        let table = self.table();
        let others = SnapshotApps { snapshot: &snap, app: &app.name, precedence: &table.precedence };
        let parked: std::collections::HashSet<(String, String)> = sync
            .outbox()
            .parked(&app.name)
            .into_iter()
            .filter_map(|p| match p.queued.op {
                Op::AddMember { username, group } => Some((username, group)),
                _ => None,
            })
            .collect();
        let is_parked = |user: &str, group: &str| parked.contains(&(user.to_owned(), group.to_owned()));
        let (plan, summary) = reconcile::repair(&desired, &actual, app.precedence, &others, &is_parked);
        drop(actual);
        report.summary = summary;
        report.plan = plan;
        if dry_run || report.plan.is_empty() {
            return Ok(report);
        }

        // 4. Queue the repairs, durably, and let the workers apply them.
        progress(&format!("queueing {} operations", report.plan.len()));
        let mut by_origin: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
        for (origin, op) in &report.plan {
            by_origin.entry(origin.as_str()).or_default().push(op.clone());
        }
        let mut queued = Vec::new();
        for (origin, ops) in by_origin {
            let hash = desired.get(origin).map(|d| d.module_hash.clone()).unwrap_or_default();
            queued.extend(sync.queue(ops, origin, &hash));
        }
        for chunk in queued.chunks(4096) {
            // Repairs pass the deprovisioning circuit breaker too: a Synchronize after an
            // IdP misconfiguration must not disable everyone either.
            let (gate, mut mutations) = self.gate(&app, &sync, chunk.to_vec());
            mutations.push(Mutation::Enqueue(gate.pass.iter().map(|q| q.row(&app.name)).collect()));
            if let Err(e) = self.store.commit(mutations).await {
                sync.outbox().unhold(&app.name, &gate);
                return Err(ScimError::internal(e.to_string()));
            }
            sync.outbox().push(&app.name, gate.pass);
        }
        let entry = AuditEntry {
            at: crate::clock::now_rfc3339(),
            app: app.name.to_string(),
            subject: "-".into(),
            user_name: "-".into(),
            action: "sync".into(),
            outcome: "queued".into(),
            module_name: String::new(),
            module_hash: String::new(),
            detail: report.summary.compact(),
        };
        if let Err(e) = self.store.commit(vec![Mutation::Audit(entry)]).await {
            tracing::error!(error = %e, "cannot audit a Synchronize");
        }
        let started = std::time::Instant::now();
        let total = report.plan.len();
        loop {
            let left = sync.outbox().len(&app.name);
            progress(&format!("applying: {}/{} done", total.saturating_sub(left).min(total), total));
            if left == 0 || started.elapsed() >= wait {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(report)
    }
}
