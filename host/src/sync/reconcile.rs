//! Synchronize: compare what the rules want for every person of an app with what
//! Confluence actually holds, and plan the operations that repair the drift.
//!
//! Reading is the only part that talks to Confluence ([`read_actual`]); the diff
//! ([`repair`]) is pure. The operations go through the outbox like any other, so they are
//! durable, ordered per user and retried.
//!
//! Scope: users the app provisions (their existence, full name, e-mail where Confluence
//! reports it, active flag) and their memberships in the groups the app manages (every
//! group some decision of the app puts a person in). Members of those groups that the app
//! does not provision (a local administrator, another app's people) are left alone, and
//! no group is ever deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::plan::Op;
use crate::confluence::{ConfluenceClient, ConfluenceError, ConfluenceUsername, GroupName};
use crate::store::{DesiredOutcome, DesiredUser};

/// Confluence's actual state, as far as the app is concerned.
#[derive(Debug, Default, Clone)]
pub struct Actual {
    /// Every user, by lower-case username.
    pub users: HashMap<String, ActualUser>,
    /// Every group name.
    pub groups: HashSet<String>,
    /// The members of each managed group that exists.
    pub members: HashMap<String, HashSet<String>>,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ActualUser {
    pub full_name: String,
    /// `None` where Confluence does not say (before 9.3 no list carries e-mail).
    pub email: Option<String>,
    /// `None` where Confluence does not say.
    pub active: Option<bool>,
}

/// What a Synchronize found, for its summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub people: usize,
    pub in_step: usize,
    pub users_created: usize,
    pub users_updated: usize,
    pub users_enabled: usize,
    pub users_disabled: usize,
    pub groups_created: usize,
    pub members_added: usize,
    pub members_removed: usize,
}

impl Summary {
    fn count(&mut self, op: &Op) {
        match op {
            Op::CreateUser { .. } => self.users_created += 1,
            Op::UpdateUser { .. } => self.users_updated += 1,
            Op::SetActive { active: true, .. } => self.users_enabled += 1,
            Op::SetActive { active: false, .. } => self.users_disabled += 1,
            // Groups are counted once per group by `repair`, not once per member's queue.
            Op::DeleteUser { .. } | Op::CreateGroup { .. } => {}
            Op::AddMember { .. } => self.members_added += 1,
            Op::RemoveMember { .. } => self.members_removed += 1,
        }
    }

    /// The counts on one line, for the audit log.
    pub fn compact(&self) -> String {
        format!(
            "{} people, {} in step; users: {} to create, {} to update, {} to enable, {} to disable; \
             groups to create: {}; memberships: {} to add, {} to remove",
            self.people,
            self.in_step,
            self.users_created,
            self.users_updated,
            self.users_enabled,
            self.users_disabled,
            self.groups_created,
            self.members_added,
            self.members_removed
        )
    }
}

/// The groups an app manages: every group a decision of the app puts someone in, or asks
/// to create.
pub fn managed_groups<'a>(desired: impl IntoIterator<Item = &'a Arc<DesiredUser>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for d in desired {
        if let DesiredOutcome::Provision(a) = &d.outcome {
            out.extend(a.groups.iter().cloned());
            out.extend(a.groups_create.iter().cloned());
        }
    }
    out
}

/// Reads Confluence: every user (with status, and e-mail where the version lists it), every
/// group, and the members of each managed group. `progress` hears about each phase.
///
/// # Errors
/// Confluence failed even after the client's own retries of listings, or the version
/// cannot list users.
pub async fn read_actual(
    client: &ConfluenceClient,
    managed: &BTreeSet<String>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Actual, ConfluenceError> {
    let mut actual = Actual::default();
    progress("reading Confluence users");
    let users = &mut actual.users;
    client
        .each_user(|u| {
            users.insert(
                u.username.into_string(),
                ActualUser { full_name: u.display_name, email: None, active: u.active },
            );
        })
        .await?;
    if client.server_info().await.is_ok_and(|i| i.capabilities.active_users_with_email) {
        progress("reading e-mail addresses");
        let users = &mut actual.users;
        client
            .each_active_user_with_email(|listed| {
                if let Some(u) = users.get_mut(listed.username.as_str()) {
                    u.email = listed.email;
                }
            })
            .await?;
    }
    progress("reading Confluence groups");
    actual.groups = client.list_groups().await?.into_iter().map(GroupName::into_string).collect();
    let total = managed.iter().filter(|g| actual.groups.contains(*g)).count();
    for (n, group) in managed.iter().filter(|g| actual.groups.contains(*g)).enumerate() {
        if n % 50 == 0 {
            progress(&format!("reading members of managed groups: {n}/{total}"));
        }
        let Ok(name) = GroupName::parse(group) else { continue };
        let members = client.group_members(&name).await?;
        actual.members.insert(group.clone(), members.into_iter().map(ConfluenceUsername::into_string).collect());
    }
    Ok(actual)
}

/// The operations that make Confluence what `desired` (the app's decisions, keyed by the
/// person's SCIM id) wants, given `actual`. Each operation comes with the SCIM id it is for.
pub fn repair(desired: &BTreeMap<String, Arc<DesiredUser>>, actual: &Actual) -> (Vec<(String, Op)>, Summary) {
    let managed = managed_groups(desired.values());
    // Each user's memberships in managed groups, in group order: built in one pass over the
    // members read, so that finding a person's stray memberships costs their own groups,
    // not every managed group (100,000 people x 5,000 groups was 500 million lookups).
    let mut member_of: HashMap<&str, Vec<&String>> = HashMap::new();
    for g in &managed {
        for m in actual.members.get(g).into_iter().flatten() {
            member_of.entry(m.as_str()).or_default().push(g);
        }
    }
    let mut ops = Vec::new();
    let mut summary = Summary::default();
    let mut planned_groups: HashSet<String> = HashSet::new();
    for (origin, d) in desired {
        let DesiredOutcome::Provision(want) = &d.outcome else { continue };
        summary.people += 1;
        let before = ops.len();
        let username = &want.username;
        let mut person: Vec<Op> = Vec::new();
        let have = actual.users.get(username);
        match have {
            None => person.push(Op::CreateUser {
                username: username.clone(),
                full_name: want.full_name.clone(),
                email: want.email.clone(),
                active: want.active,
            }),
            Some(u) => {
                let email_differs = u.email.as_ref().is_some_and(|e| !e.eq_ignore_ascii_case(&want.email));
                if u.full_name != want.full_name || email_differs {
                    person.push(Op::UpdateUser {
                        username: username.clone(),
                        full_name: want.full_name.clone(),
                        email: want.email.clone(),
                    });
                }
                if u.active.is_some_and(|a| a != want.active) {
                    person.push(Op::SetActive { username: username.clone(), active: want.active });
                }
            }
        }
        for g in &want.groups {
            let exists = actual.groups.contains(g);
            // Every person joining a missing group gets its creation in their own queue
            // (the worker sends it once), so no membership can run before the group exists.
            if !exists && want.groups_create.contains(g) {
                person.push(Op::CreateGroup { group: g.clone() });
                if planned_groups.insert(g.clone()) {
                    summary.groups_created += 1;
                }
            }
            let member = have.is_some() && actual.members.get(g).is_some_and(|m| m.contains(username));
            if !member {
                person.push(Op::AddMember { username: username.clone(), group: g.clone() });
            }
        }
        if have.is_some() {
            for &g in member_of.get(username.as_str()).into_iter().flatten() {
                if !want.groups.contains(g) {
                    person.push(Op::RemoveMember { username: username.clone(), group: g.clone() });
                }
            }
        }
        for op in person {
            summary.count(&op);
            ops.push((origin.clone(), op));
        }
        if ops.len() == before {
            summary.in_step += 1;
        }
    }
    (ops, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DesiredAccount;

    fn desired(id: &str, username: &str, groups: &[&str], create: &[&str]) -> (String, Arc<DesiredUser>) {
        let d = DesiredUser {
            scim_id: Arc::from(id),
            outcome: DesiredOutcome::Provision(DesiredAccount {
                username: username.into(),
                full_name: username.to_uppercase(),
                email: format!("{username}@example.com"),
                active: true,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                groups_create: create.iter().map(|g| g.to_string()).collect(),
                ..DesiredAccount::default()
            }),
            module_name: "m".into(),
            module_hash: "h".into(),
            decided_at: String::new(),
        };
        (id.to_owned(), Arc::new(d))
    }

    #[test]
    fn repairs_exactly_the_drift() {
        let want: BTreeMap<String, Arc<DesiredUser>> = [
            desired("1", "ada", &["eng", "staff"], &["eng"]),
            desired("2", "bob", &["staff"], &[]),
            desired("3", "cy", &["new"], &["new"]),
        ]
        .into_iter()
        .collect();
        let mut actual = Actual::default();
        actual.users.insert("ada".into(), ActualUser { full_name: "ADA".into(), email: None, active: Some(true) });
        actual.users.insert("bob".into(), ActualUser { full_name: "Bobby".into(), email: None, active: Some(false) });
        actual.users.insert("admin".into(), ActualUser { full_name: "Admin".into(), email: None, active: Some(true) });
        actual.groups = ["eng", "staff", "other"].iter().map(|g| g.to_string()).collect();
        actual.members.insert("eng".into(), ["ada", "bob", "admin"].iter().map(|s| s.to_string()).collect());
        actual.members.insert("staff".into(), ["ada", "admin"].iter().map(|s| s.to_string()).collect());
        let (ops, summary) = repair(&want, &actual);
        let described: Vec<(String, String)> = ops.iter().map(|(o, op)| (o.clone(), op.describe())).collect();
        assert_eq!(
            described,
            [
                ("2".to_string(), "update user bob (BOB, bob@example.com)".to_string()),
                ("2".into(), "enable user bob".into()),
                ("2".into(), "add bob to staff".into()),
                ("2".into(), "remove bob from eng".into()),
                ("3".into(), "create user cy (CY, cy@example.com)".into()),
                ("3".into(), "create group new".into()),
                ("3".into(), "add cy to new".into()),
            ]
        );
        assert_eq!((summary.people, summary.in_step, summary.users_created, summary.members_removed), (3, 1, 1, 1));
        // The admin, in managed groups but not the app's, is left alone.
        assert!(!described.iter().any(|(_, d)| d.contains("admin")));
    }
}
