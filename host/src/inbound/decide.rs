//! The rules in the SCIM write path: every change to a user, or to a group's membership or
//! name, runs the app's module for each person it touches. The decisions become desired
//! Confluence state and audit entries, committed in the same transaction as the SCIM change.
//!
//! A module that rejects the person, or fails (trap, deadline, memory, invalid decision),
//! fails the whole SCIM request with a 4xx naming the module, its hash and the cause:
//! nothing is stored. A decision the engine could not start in time (the rules memory
//! budget taken) fails it with 503, so the identity provider retries. An app whose module is configured but not loaded answers 503, so the
//! identity provider retries once the administrator has fixed it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::person::{person_from_directory, person_from_stored};
use super::App;
use crate::config::IdpKind;
use crate::rules::types::{AppInfo, AttributeDecision, ConfluenceUser, Directory, IdpGroup, RuleInput, Setting};
use crate::rules::{ModuleRegistry, RuleFailure, RulesEngine, RulesError};
use crate::scim::error::{ScimError, ScimResult, ScimType};
use crate::scim::schema::ResourceKind;
use crate::store::{
    AuditEntry, DesiredAccount, DesiredOutcome, DesiredUser, Mutation, Snapshot, Store, StoredResource,
};

/// What triggered a decision (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Replace,
    Patch,
    Delete,
    Membership,
    /// Synchronize re-ran the rules.
    Sync,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::Membership => "membership",
            Action::Sync => "sync",
        }
    }
}

/// The apps' rules: the registry holds each app's live module, and the [`App`] its settings.
pub struct RulesHook {
    engine: Arc<RulesEngine>,
    registry: Arc<ModuleRegistry>,
    /// Where failed decisions are audited (they store nothing else).
    store: Store,
}

impl RulesHook {
    pub fn new(engine: Arc<RulesEngine>, registry: Arc<ModuleRegistry>, store: Store) -> Self {
        Self { engine, registry, store }
    }

    pub fn registry(&self) -> &Arc<ModuleRegistry> {
        &self.registry
    }

    /// The engine the modules run in (its [`admission`](RulesEngine::admission) says how
    /// much of the rules memory budget is in use).
    pub fn engine(&self) -> &Arc<RulesEngine> {
        &self.engine
    }

    /// The desired-state and audit mutations that go with changing `before` into `after`
    /// (either may be absent: a create or a delete). Empty for apps without rules.
    ///
    /// # Errors
    /// A decision failed or was a rejection (400), or the app's module is not loaded (503).
    pub async fn consequences(
        &self,
        app: &App,
        snap: &Snapshot,
        before: Option<&StoredResource>,
        after: Option<&StoredResource>,
        action: Action,
    ) -> ScimResult<Vec<Mutation>> {
        let Some(settings) = app.settings.as_deref() else { return Ok(Vec::new()) };
        let kind = after.or(before).map_or(ResourceKind::User, |r| r.kind);
        match kind {
            ResourceKind::User => match after {
                Some(user) => {
                    let groups = groups_of(app, snap, &user.id, None);
                    self.decide(app, settings, snap, user, groups, action).await
                }
                None => Ok(before.map(|u| self.removed(app, snap, u)).unwrap_or_default()),
            },
            ResourceKind::Group => {
                let mut out = Vec::new();
                for user_id in affected_members(before, after) {
                    let Some(user) = snap.get(&app.name, ResourceKind::User, &user_id) else {
                        // A member that is a group (nested), or an id stored before group
                        // writes were screened (`screen.rs` drops or refuses ids the app
                        // does not have): no person to decide about.
                        continue;
                    };
                    let groups = groups_of(app, snap, &user.id, Some((before, after)));
                    out.extend(self.decide(app, settings, snap, user, groups, Action::Membership).await?);
                }
                Ok(out)
            }
        }
    }

    async fn decide(
        &self,
        app: &App,
        settings: &[Setting],
        snap: &Snapshot,
        user: &StoredResource,
        groups: Vec<IdpGroup>,
        action: Action,
    ) -> ScimResult<Vec<Mutation>> {
        let Some(module) = self.registry.current(&app.name) else {
            return Err(ScimError::new(
                503,
                None,
                format!("the rules module of app {} is not loaded; see `usersync rules status`", app.name),
            ));
        };
        // The desired state this decision starts from; the commit checks it is still current.
        let previous = snap.app(&app.name).and_then(|d| d.desired.get(&user.id)).cloned();
        let (input, known) = Self::input(app, settings, snap, user, groups, previous.as_deref())?;
        let result = self.engine.decide_async(module, input, Arc::new(known)).await;
        let user_name = user.name_key.to_string();
        // The decision's time, in its audit entry and its desired state alike.
        let decided_at = crate::clock::now_rfc3339();
        let audit = |outcome: &str, detail: String, name: &str, hash: &str| AuditEntry {
            at: decided_at.clone(),
            app: app.name.to_string(),
            subject: user.id.to_string(),
            user_name: user_name.clone(),
            action: action.as_str().to_owned(),
            outcome: outcome.to_owned(),
            module_name: name.to_owned(),
            module_hash: hash.to_owned(),
            detail,
        };
        let decisions = match result {
            Ok(d) => d,
            // Not a decision: the engine was too busy to start one. Nothing is audited, and
            // 503 tells the identity provider to send the request again.
            Err(e @ RulesError { cause: RuleFailure::Busy(_), .. }) => {
                tracing::warn!(app = %app.name, user = %user.id, error = %e, "rules decision not started");
                return Err(ScimError::new(503, None, e.to_string()));
            }
            Err(e) => {
                let outcome = if matches!(e.cause, RuleFailure::Rejected(_)) { "reject" } else { "error" };
                tracing::warn!(app = %app.name, user = %user.id, error = %e, "rules decision failed");
                let entry = audit(outcome, e.cause.to_string(), &e.module, &e.hash);
                if let Err(store_error) = self.store.commit(vec![Mutation::Audit(entry)]).await {
                    tracing::error!(error = %store_error, "cannot audit a failed decision");
                }
                return Err(ScimError::new(400, Some(ScimType::InvalidValue), e.to_string()));
            }
        };
        let id = &decisions.module;
        let (outcome, detail) = match decisions.attributes {
            AttributeDecision::Provision(m) => {
                let before = previous.as_deref().and_then(DesiredUser::account).filter(|a| a.username == m.username);
                // A Synchronize has just read Confluence: a revoked grant it did not find there
                // is gone for good and need not be remembered.
                let present = (action == Action::Sync)
                    .then(|| snap.observed(&m.username).map_or(&[][..], |o| &o.foreign_groups[..]));
                let groups = &decisions.groups;
                let grants = Grants::of(&groups.add, &groups.remove, &groups.create, before, present);
                let account = DesiredAccount {
                    username: m.username,
                    full_name: m.full_name,
                    email: m.email,
                    active: m.active,
                    custom_fields: decisions.custom_fields.into_iter().map(|f| (f.name, f.value)).collect(),
                    groups: grants.granted,
                    groups_remove: grants.remove,
                    groups_create: grants.create,
                    revoked: grants.revoked,
                };
                let detail = format!("{} ({} groups)", account.username, account.groups.len());
                (DesiredOutcome::Provision(account), detail)
            }
            AttributeDecision::Skip(reason) => (DesiredOutcome::Skip { reason: reason.clone() }, reason),
            // `decide` turns a rejection into an error; a Reject here is a contract breach.
            AttributeDecision::Reject(reason) => {
                return Err(ScimError::invalid_value(format!("rules module {} rejected the person: {reason}", id.name)))
            }
        };
        let outcome_name = if matches!(outcome, DesiredOutcome::Provision(_)) { "provision" } else { "skip" };
        let desired = DesiredUser {
            scim_id: user.id.clone(),
            outcome,
            module_name: id.name.clone(),
            module_hash: id.hash.clone(),
            decided_at: decided_at.clone(),
        };
        Ok(vec![
            Mutation::Desired {
                app: app.name.clone(),
                scim_id: user.id.clone(),
                desired: Some(Arc::new(desired)),
                basis: previous,
            },
            Mutation::Audit(audit(outcome_name, detail, &id.name, &id.hash)),
        ])
    }

    /// The rules input for `user` and the directory its `find-user` calls read.
    fn input(
        app: &App,
        settings: &[Setting],
        snap: &Snapshot,
        user: &StoredResource,
        groups: Vec<IdpGroup>,
        previous: Option<&DesiredUser>,
    ) -> ScimResult<(RuleInput, KnownUsers)> {
        let known = KnownUsers::new(Arc::new(snap.clone()), app.name.clone());
        // What Confluence holds for the user the app provisioned last time; a module that
        // decides another username asks `find-user`.
        let confluence = previous
            .and_then(DesiredUser::provisioned_username)
            .and_then(|username| known.user(username))
            .unwrap_or_default();
        let input = RuleInput {
            person: if app.kind == IdpKind::Ldap {
                person_from_directory(user, groups)
            } else {
                person_from_stored(user, &app.schemas.user, groups)
            }
            .map_err(|e| ScimError::internal(e.to_string()))?,
            app: AppInfo {
                name: app.name.to_string(),
                idp_kind: app.kind.as_str().to_owned(),
                settings: settings.to_vec(),
            },
            confluence,
        };
        Ok((input, known))
    }

    /// The app module's three decisions for `user`, stored nothing ("Try it" in the
    /// console). `groups`: the IdP groups to decide with; `None` for those the app stores.
    ///
    /// # Errors
    /// The app has no module loaded, or the decision failed (the message names the module).
    pub async fn trial(
        &self,
        app: &App,
        snap: &Snapshot,
        user: &StoredResource,
        groups: Option<Vec<IdpGroup>>,
    ) -> Result<crate::rules::types::Decisions, String> {
        let module = self
            .registry
            .current(&app.name)
            .ok_or_else(|| format!("the rules module of app {} is not loaded", app.name))?;
        self.trial_with(app, module, snap, user, groups).await
    }

    /// As [`RulesHook::trial`], with `module` (and `app`'s settings) rather than what the
    /// app serves: a dry run of a change before it is saved.
    ///
    /// # Errors
    /// The app has no settings (no rules), or the decision failed.
    pub async fn trial_with(
        &self,
        app: &App,
        module: Arc<crate::rules::LoadedModule>,
        snap: &Snapshot,
        user: &StoredResource,
        groups: Option<Vec<IdpGroup>>,
    ) -> Result<crate::rules::types::Decisions, String> {
        let settings = app.settings.as_deref().ok_or_else(|| format!("app {} has no rules module", app.name))?;
        let groups = groups.unwrap_or_else(|| groups_of(app, snap, &user.id, None));
        let previous = snap.app(&app.name).and_then(|d| d.desired.get(&user.id)).cloned();
        let (input, known) =
            Self::input(app, settings, snap, user, groups, previous.as_deref()).map_err(|e| e.detail)?;
        self.engine.decide_async(module, input, Arc::new(known)).await.map_err(|e| e.to_string())
    }

    /// A deleted user: no desired state any more.
    fn removed(&self, app: &App, snap: &Snapshot, user: &StoredResource) -> Vec<Mutation> {
        let module = self.registry.current(&app.name);
        let (name, hash) = module.as_ref().map(|m| (m.id().name.clone(), m.id().hash.clone())).unwrap_or_default();
        vec![
            Mutation::Desired {
                app: app.name.clone(),
                scim_id: user.id.clone(),
                desired: None,
                basis: snap.app(&app.name).and_then(|d| d.desired.get(&user.id)).cloned(),
            },
            Mutation::Audit(AuditEntry {
                at: crate::clock::now_rfc3339(),
                app: app.name.to_string(),
                subject: user.id.to_string(),
                user_name: user.name_key.to_string(),
                action: Action::Delete.as_str().to_owned(),
                outcome: "removed".to_owned(),
                module_name: name,
                module_hash: hash,
                detail: String::new(),
            }),
        ]
    }
}

/// What the app grants a person after a decision, from the module's group decision.
#[derive(Debug, PartialEq, Eq)]
struct Grants {
    /// Every group the decision wants the person in (`add`): the app's grants.
    granted: Vec<String>,
    /// Groups the person should leave that the app does not grant (`remove`, less `add`).
    remove: Vec<String>,
    /// Grants to create in Confluence when missing (`create`, within `add`).
    create: Vec<String>,
    /// Earlier grants no longer wanted, kept until a Synchronize sees them gone.
    revoked: Vec<String>,
}

impl Grants {
    /// `before` is the app's previous account for the same Confluence user, if any;
    /// `present`, when Confluence was just read, the user's memberships no app grants.
    fn of(
        add: &[String],
        remove: &[String],
        create: &[String],
        before: Option<&DesiredAccount>,
        present: Option<&[String]>,
    ) -> Grants {
        let granted: BTreeSet<&String> = add.iter().collect();
        let mut revoked: BTreeSet<&String> = BTreeSet::new();
        if let Some(b) = before {
            let still_there = |g: &&String| present.is_none_or(|p| p.contains(g));
            revoked
                .extend(b.groups.iter().chain(b.revoked.iter().filter(still_there)).filter(|g| !granted.contains(g)));
        }
        let outside = |g: &&String| !granted.contains(g);
        Grants {
            remove: remove.iter().filter(outside).collect::<BTreeSet<_>>().into_iter().cloned().collect(),
            create: create
                .iter()
                .filter(|g| granted.contains(g))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .cloned()
                .collect(),
            revoked: revoked.into_iter().cloned().collect(),
            granted: granted.into_iter().cloned().collect(),
        }
    }
}

/// The Confluence users as UserSync knows them, for the rules: what the last reading of
/// Confluence found (at the first start and at every Synchronize), and what every app
/// provisions. A module's `find-user` calls are answered from it.
pub struct KnownUsers {
    snapshot: Arc<Snapshot>,
    /// The app deciding: `granted` is its grants.
    app: Arc<str>,
}

impl KnownUsers {
    pub fn new(snapshot: Arc<Snapshot>, app: Arc<str>) -> Self {
        Self { snapshot, app }
    }

    /// The Confluence user `username`, if Confluence has them as far as UserSync knows:
    /// - full name, e-mail and active flag as Confluence was last read, else as the apps
    ///   that provision the user want them;
    /// - groups: the memberships no app granted when Confluence was last read, and every
    ///   app's grants; `granted`: this app's.
    pub fn user(&self, username: &str) -> Option<ConfluenceUser> {
        let username = username.to_lowercase();
        let observed = self.snapshot.observed(&username);
        let holders: Vec<(&Arc<str>, &DesiredAccount)> =
            self.snapshot.holders(&username).filter_map(|(app, d)| Some((app, d.account()?))).collect();
        if observed.is_none() && holders.is_empty() {
            return None;
        }
        let mine = holders.iter().find(|(app, _)| **app == self.app).map(|(_, a)| *a);
        let wanted = mine.or_else(|| holders.first().map(|(_, a)| *a));
        let mut groups: BTreeSet<&String> = observed.map(|o| o.foreign_groups.iter().collect()).unwrap_or_default();
        groups.extend(holders.iter().flat_map(|(_, a)| &a.groups));
        Some(ConfluenceUser {
            exists: true,
            full_name: observed.map(|o| o.full_name.clone()).or_else(|| wanted.map(|a| a.full_name.clone())),
            email: observed.and_then(|o| o.email.clone()).or_else(|| wanted.map(|a| a.email.clone())),
            active: observed.and_then(|o| o.active).or_else(|| wanted.map(|a| a.active)),
            groups: groups.into_iter().cloned().collect(),
            granted: mine.map(|a| a.groups.clone()).unwrap_or_default(),
            username: Some(username),
        })
    }
}

impl Directory for KnownUsers {
    fn find_user(&self, username: &str) -> Option<ConfluenceUser> {
        self.user(username)
    }
}

/// Member ids whose IdP groups differ between `before` and `after` of a group: all of
/// them when the group is created, deleted or renamed, else those added or removed.
fn affected_members(before: Option<&StoredResource>, after: Option<&StoredResource>) -> Vec<Arc<str>> {
    let ids = |r: Option<&StoredResource>| -> BTreeSet<Arc<str>> {
        r.map(|r| r.members.iter().cloned().collect()).unwrap_or_default()
    };
    let (old, new) = (ids(before), ids(after));
    let renamed = match (before, after) {
        (Some(b), Some(a)) => display_name(b) != display_name(a),
        _ => true,
    };
    if renamed {
        old.union(&new).cloned().collect()
    } else {
        old.symmetric_difference(&new).cloned().collect()
    }
}

/// A group's `displayName`, read without building the rest of the resource (a large
/// group's members would otherwise be parsed into a tree for every decision about any of
/// its members).
fn display_name(r: &StoredResource) -> String {
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(rename = "displayName")]
        display_name: Option<String>,
    }
    serde_json::from_slice::<Named>(&r.json).ok().and_then(|n| n.display_name).unwrap_or_default()
}

/// A group as the rules name it: its SCIM id, or for a directory app its DN (kept as the
/// stored group's `externalId`).
fn group_id(app: &App, group: &StoredResource) -> String {
    match (&group.external_id, app.kind) {
        (Some(dn), IdpKind::Ldap) => dn.to_string(),
        _ => group.id.to_string(),
    }
}

/// The IdP groups of `user_id`: as the snapshot has them, or, while a group change is
/// being decided, with that group as it will be after the change.
fn groups_of(
    app: &App,
    snap: &Snapshot,
    user_id: &str,
    changing: Option<(Option<&StoredResource>, Option<&StoredResource>)>,
) -> Vec<IdpGroup> {
    let changed_id = changing.and_then(|(b, a)| a.or(b)).map(|g| g.id.clone());
    let mut out: Vec<IdpGroup> = snap
        .collection(&app.name, ResourceKind::Group)
        .map(|groups| {
            groups
                .groups_of(user_id)
                .filter(|g| Some(&g.id) != changed_id.as_ref())
                .map(|g| IdpGroup { id: group_id(app, g), display_name: display_name(g) })
                .collect()
        })
        .unwrap_or_default();
    if let Some((_, Some(after))) = changing {
        if after.members.iter().any(|m| &**m == user_id) {
            out.push(IdpGroup { id: group_id(app, after), display_name: display_name(after) });
        }
    }
    out.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    out
}
