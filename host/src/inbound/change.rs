//! The protocol-neutral entry to the write pipeline: a person or group changed, or is
//! gone. The SCIM verbs (`mod.rs`) and the directory adapter both end in the same steps
//! (screen, render, decide, plan, apply or queue, audit, commit); this is the directory's
//! way in, where the source names the resource's id and there are no preconditions: the
//! directory is the authority, so its latest word wins.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{busy, commit_error, Action, App, Delivery, Inbound, Retry, MAX_ATTEMPTS};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::normalize::name_key;
use crate::scim::schema::ResourceKind;
use crate::store::{CommitError, Conflict, Expect, Mutation};

/// One change, as the source describes it.
#[derive(Debug, Clone)]
pub enum Change {
    /// The resource `id` now has these attributes (created when the app lacks it).
    Put { kind: ResourceKind, id: Arc<str>, attrs: Map<String, Value> },
    /// The resource `id` is gone (nothing happens when the app lacks it).
    Gone { kind: ResourceKind, id: Arc<str> },
}

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Created,
    Updated,
    /// The app had it exactly so already.
    Unchanged,
    Removed,
    /// A `Gone` for something the app never had.
    Absent,
}

impl Inbound {
    /// Applies `change` to `app` through the whole pipeline, committing `extra` (a
    /// directory's cursor, say) in the same transaction, or alone when nothing changes.
    ///
    /// # Errors
    /// A name taken by another resource (409), an invalid name (400), a rules decision that
    /// failed or rejected the person (400), the module not loaded (503), Confluence refusing
    /// an applied-at-once operation for good (400), or the store failing.
    pub async fn apply(
        &self,
        app: &App,
        change: Change,
        extra: Vec<Mutation>,
        delivery: Delivery,
    ) -> ScimResult<Applied> {
        for _ in 0..MAX_ATTEMPTS {
            let snap = self.store.snapshot();
            let outcome = match &change {
                Change::Put { kind, id, attrs } => match snap.get(&app.name, *kind, id).cloned() {
                    Some(current) => {
                        let action = Action::Replace;
                        match self
                            .write_replacement(app, &snap, &current, attrs.clone(), action, delivery, &extra)
                            .await
                        {
                            Ok(r) if r.version == current.version => Ok(Applied::Unchanged),
                            Ok(_) => Ok(Applied::Updated),
                            Err(e) => Err(e),
                        }
                    }
                    None => self.insert(app, &snap, *kind, id, attrs.clone(), delivery, &extra).await,
                },
                Change::Gone { kind, id } => match snap.get(&app.name, *kind, id).cloned() {
                    None => {
                        if !extra.is_empty() {
                            self.store.commit(extra.clone()).await.map_err(|e| commit_error(e, *kind))?;
                        }
                        return Ok(Applied::Absent);
                    }
                    Some(current) => {
                        let mut mutations = vec![Mutation::Delete {
                            app: app.name.clone(),
                            kind: *kind,
                            id: current.id.clone(),
                            expect: Expect::Version(current.version),
                        }];
                        mutations.extend(self.drop_member_everywhere(app, &snap, id)?);
                        mutations.extend(self.consequences(app, &snap, Some(&current), None, Action::Delete).await?);
                        mutations.extend(extra.iter().cloned());
                        match self.commit(app, mutations, delivery).await? {
                            Ok(()) => Ok(Applied::Removed),
                            Err(CommitError::Conflict(Conflict::Stale { .. })) => Err(Retry::Again),
                            Err(e) => Err(Retry::Fail(commit_error(e, *kind))),
                        }
                    }
                },
            };
            match outcome {
                Ok(applied) => return Ok(applied),
                Err(Retry::Again) => continue,
                Err(Retry::Fail(e)) => return Err(e),
            }
        }
        Err(busy())
    }

    /// The pipeline's create step with an id the source chose.
    #[allow(clippy::too_many_arguments)]
    async fn insert(
        &self,
        app: &App,
        snap: &crate::store::Snapshot,
        kind: ResourceKind,
        id: &Arc<str>,
        attrs: Map<String, Value>,
        delivery: Delivery,
        extra: &[Mutation],
    ) -> Result<Applied, Retry> {
        let attrs = self.screened(app, snap, kind, None, attrs).map_err(Retry::Fail)?;
        if name_key(kind, &attrs).is_none() {
            return Err(Retry::Fail(ScimError::invalid_value(format!("{} {id} has no name", kind.as_str()))));
        }
        let now = crate::clock::now_rfc3339();
        let resource = Arc::new(self.render(app, snap, kind, id, 1, &now, &now, attrs).map_err(Retry::Fail)?);
        let mut mutations =
            vec![Mutation::Put { app: app.name.clone(), resource: resource.clone(), expect: Expect::Absent }];
        let consequences = self.consequences(app, snap, None, Some(&resource), Action::Create).await;
        mutations.extend(consequences.map_err(Retry::Fail)?);
        mutations.extend_from_slice(extra);
        match self.commit(app, mutations, delivery).await.map_err(Retry::Fail)? {
            Ok(()) => Ok(Applied::Created),
            Err(CommitError::Conflict(Conflict::Stale { .. })) => Err(Retry::Again),
            Err(CommitError::Conflict(Conflict::NameTaken { name_key, .. })) => Err(Retry::Fail(ScimError::new(
                409,
                Some(crate::scim::error::ScimType::Uniqueness),
                format!("{} name {name_key:?} is taken by another entry of the app", kind.as_str()),
            ))),
            Err(e) => Err(Retry::Fail(commit_error(e, kind))),
        }
    }
}

/// Refuses a SCIM write to an app whose people come from a directory.
///
/// # Errors
/// Always for an app of kind `ldap` (403).
pub(super) fn scim_writable(app: &App) -> ScimResult<()> {
    if app.kind == crate::config::IdpKind::Ldap {
        return Err(ScimError::new(
            403,
            None,
            format!("app {} reads its people from an LDAP directory; it takes no SCIM writes", app.name),
        ));
    }
    Ok(())
}
