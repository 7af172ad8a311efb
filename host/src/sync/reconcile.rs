//! Synchronize: compare what the rules want for every person of an app with what
//! Confluence actually holds, and plan the operations that repair the drift.
//!
//! Reading is the only part that talks to Confluence ([`read_actual`]); the diff
//! ([`repair`]) is pure. The operations go through the outbox like any other, so they are
//! durable, ordered per user and retried.
//!
//! Scope: users the app provisions (their existence, full name, e-mail where Confluence
//! reports it, active flag), as every app that provisions them wants them together, and
//! their memberships: the grants, and the memberships the app revoked or its rules ask to
//! end. Any other membership (a hand-made one, another app's) and any user the app does not
//! provision are left alone, and no group is ever deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::plan::{combine, Held, Op, OtherApps};
use crate::confluence::{ConfluenceClient, ConfluenceError, ConfluenceUsername};
use crate::store::{DesiredUser, ObservedUser};

/// Confluence's actual state, as far as the app is concerned.
#[derive(Debug, Default, Clone)]
pub struct Actual {
    /// Every user, by lower-case username.
    pub users: HashMap<String, ActualUser>,
    /// Every group name.
    pub groups: HashSet<String>,
    /// The members of each group.
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

/// Reads Confluence: every user (with status, and e-mail where the version lists it), every
/// group, and the members of every group (a person's current groups are what rules modules
/// decide from, and a membership no app granted is only known by reading it). `progress`
/// hears about each phase.
///
/// # Errors
/// Confluence failed even after the client's own retries of listings, or the version
/// cannot list users.
pub async fn read_actual(
    client: &ConfluenceClient,
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
    let groups = client.list_groups().await?;
    let total = groups.len();
    for (n, name) in groups.into_iter().enumerate() {
        if n % 50 == 0 {
            progress(&format!("reading group members: {n}/{total}"));
        }
        let members = client.group_members(&name).await?;
        let name = name.into_string();
        actual.members.insert(name.clone(), members.into_iter().map(ConfluenceUsername::into_string).collect());
        actual.groups.insert(name);
    }
    Ok(actual)
}

/// What Synchronize keeps of `actual` for the rules: every Confluence user, with the
/// memberships no app grants (`granted(username, group)` says whether some app does).
pub fn observe(actual: &Actual, granted: &dyn Fn(&str, &str) -> bool) -> Vec<Arc<ObservedUser>> {
    let mut foreign: HashMap<&str, Vec<String>> = HashMap::new();
    for (group, members) in &actual.members {
        for m in members {
            if !granted(m, group) {
                foreign.entry(m.as_str()).or_default().push(group.clone());
            }
        }
    }
    actual
        .users
        .iter()
        .map(|(username, u)| {
            let mut groups = foreign.remove(username.as_str()).unwrap_or_default();
            groups.sort();
            Arc::new(ObservedUser {
                username: Arc::from(username.as_str()),
                full_name: u.full_name.clone(),
                email: u.email.clone(),
                active: u.active,
                foreign_groups: groups,
            })
        })
        .collect()
}

/// The operations that make Confluence what the app's decisions (`desired`, keyed by the
/// person's SCIM id) want, together with the other apps that provision the same users
/// (`others`; the app's own place among them is `precedence`), given `actual`. Each
/// operation comes with the SCIM id it is for.
///
/// Both ways: grants missing in Confluence are added; memberships the app granted and has
/// revoked since, or that its rules ask to end, are removed unless some app grants them.
/// Any other membership (made by hand, another app's) is left alone. A membership in a
/// missing group that is already parked (`parked(username, group)`) is not planned again.
pub fn repair(
    desired: &BTreeMap<String, Arc<DesiredUser>>,
    actual: &Actual,
    precedence: usize,
    others: &dyn OtherApps,
    parked: &dyn Fn(&str, &str) -> bool,
) -> (Vec<(String, Op)>, Summary) {
    let mut ops = Vec::new();
    let mut summary = Summary::default();
    let mut planned_groups: HashSet<String> = HashSet::new();
    for (origin, d) in desired {
        let Some(mine) = d.account() else { continue };
        summary.people += 1;
        let username = &mine.username;
        let rest = others.accounts(username);
        let Some(want) = combine(std::iter::once(Held { precedence, account: mine }).chain(rest.iter().copied()))
        else {
            continue;
        };
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
        let member = |g: &str| have.is_some() && actual.members.get(g).is_some_and(|m| m.contains(username));
        for g in &want.groups {
            // Every person joining a missing group gets its creation in their own queue
            // (the worker sends it once), so no membership can run before the group exists.
            let exists = actual.groups.contains(g);
            if !exists && want.create.contains(g) {
                person.push(Op::CreateGroup { group: g.clone() });
                if planned_groups.insert(g.clone()) {
                    summary.groups_created += 1;
                }
            } else if !exists && parked(username, g) {
                continue;
            }
            if !member(g) {
                person.push(Op::AddMember { username: username.clone(), group: g.clone() });
            }
        }
        let ending: BTreeSet<&String> = mine.revoked.iter().chain(&mine.groups_remove).collect();
        for g in ending {
            if member(g) && !want.groups.contains(g) {
                person.push(Op::RemoveMember { username: username.clone(), group: g.clone() });
            }
        }
        if person.is_empty() {
            summary.in_step += 1;
        }
        for op in person {
            summary.count(&op);
            ops.push((origin.clone(), op));
        }
    }
    (ops, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DesiredAccount, DesiredOutcome};
    use crate::sync::plan::NoOtherApps;

    fn desired(
        id: &str,
        username: &str,
        groups: &[&str],
        create: &[&str],
        revoked: &[&str],
    ) -> (String, Arc<DesiredUser>) {
        let list = |l: &[&str]| l.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        let d = DesiredUser {
            scim_id: Arc::from(id),
            outcome: DesiredOutcome::Provision(DesiredAccount {
                username: username.into(),
                full_name: username.to_uppercase(),
                email: format!("{username}@example.com"),
                active: true,
                groups: list(groups),
                groups_create: list(create),
                revoked: list(revoked),
                ..DesiredAccount::default()
            }),
            module_name: "m".into(),
            module_hash: "h".into(),
            decided_at: String::new(),
        };
        (id.to_owned(), Arc::new(d))
    }

    fn members(actual: &mut Actual, group: &str, users: &[&str]) {
        actual.groups.insert(group.into());
        actual.members.insert(group.into(), users.iter().map(|s| s.to_string()).collect());
    }

    #[test]
    fn repairs_exactly_the_drift_and_keeps_what_the_app_did_not_grant() {
        let want: BTreeMap<String, Arc<DesiredUser>> = [
            desired("1", "ada", &["eng", "staff"], &["eng"], &[]),
            desired("2", "bob", &["staff"], &[], &["eng"]),
            desired("3", "cy", &["new"], &["new"], &[]),
        ]
        .into_iter()
        .collect();
        let mut actual = Actual::default();
        actual.users.insert("ada".into(), ActualUser { full_name: "ADA".into(), email: None, active: Some(true) });
        actual.users.insert("bob".into(), ActualUser { full_name: "Bobby".into(), email: None, active: Some(false) });
        actual.users.insert("admin".into(), ActualUser { full_name: "Admin".into(), email: None, active: Some(true) });
        // bob's `eng` is a grant the app revoked; ada's `handmade` was made by hand.
        members(&mut actual, "eng", &["ada", "bob", "admin"]);
        members(&mut actual, "staff", &["ada", "admin"]);
        members(&mut actual, "handmade", &["ada"]);
        let (ops, summary) = repair(&want, &actual, 0, &NoOtherApps, &|_, _| false);
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
        // The admin, in the app's groups but not the app's, is left alone.
        assert!(!described.iter().any(|(_, d)| d.contains("admin")));
    }

    #[test]
    fn a_revoked_grant_another_app_holds_is_kept_and_observation_keeps_only_foreign_memberships() {
        let want: BTreeMap<String, Arc<DesiredUser>> =
            [desired("1", "ada", &["staff"], &[], &["eng"])].into_iter().collect();
        let okta = desired("9", "ada", &["eng"], &[], &[]).1;
        struct Okta(Arc<DesiredUser>);
        impl OtherApps for Okta {
            fn accounts(&self, username: &str) -> Vec<Held<'_>> {
                self.0
                    .account()
                    .filter(|a| a.username == username)
                    .map(|account| Held { precedence: 1, account })
                    .into_iter()
                    .collect()
            }
        }
        let mut actual = Actual::default();
        actual.users.insert("ada".into(), ActualUser { full_name: "ADA".into(), email: None, active: Some(true) });
        members(&mut actual, "eng", &["ada"]);
        members(&mut actual, "staff", &["ada"]);
        members(&mut actual, "handmade", &["ada"]);
        let (ops, summary) = repair(&want, &actual, 0, &Okta(okta), &|_, _| false);
        assert!(ops.is_empty(), "{ops:?}");
        assert_eq!(summary.in_step, 1);
        let granted = |_: &str, g: &str| g == "eng" || g == "staff";
        let observed = observe(&actual, &granted);
        assert_eq!(observed.len(), 1);
        assert_eq!(observed[0].foreign_groups, ["handmade"]);
    }
}
