//! The plan: the smallest list of Confluence operations that takes one person from the
//! state last planned for them to the state the rules now want. Pure: no I/O, no clock.
//!
//! The basis of the diff is the desired state the previous decision stored. Every
//! operation planned from it was either applied at once or is in the outbox, which applies
//! it in order before anything planned later, so Confluence converges to the newest
//! decision. Drift made outside UserSync (an administrator removing a membership by hand)
//! is Synchronize's job ([`super::reconcile`]).

use std::collections::{BTreeSet, HashMap};

use crate::store::{DesiredAccount, DesiredUser, Snapshot};

/// One Confluence operation. Every operation is idempotent as the worker applies it (a
/// create of an existing user adopts it; membership and enable/disable calls are
/// idempotent in Confluence; a delete of a missing user is done), so replaying one after
/// a crash changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    /// Create the user (adopting one of that name that exists), then make sure their full
    /// name, e-mail and active flag are these.
    #[serde(rename_all = "camelCase")]
    CreateUser {
        username: String,
        full_name: String,
        email: String,
        active: bool,
    },
    #[serde(rename_all = "camelCase")]
    UpdateUser {
        username: String,
        full_name: String,
        email: String,
    },
    SetActive {
        username: String,
        active: bool,
    },
    DeleteUser {
        username: String,
    },
    CreateGroup {
        group: String,
    },
    AddMember {
        username: String,
        group: String,
    },
    RemoveMember {
        username: String,
        group: String,
    },
}

impl Op {
    /// The Confluence user whose queue the operation joins: operations for one user are
    /// applied in order, one at a time. A group creation has no user of its own: it joins
    /// `owner`'s queue, the user whose membership needs it, so it precedes that membership.
    pub fn subject<'a>(&'a self, owner: &'a str) -> &'a str {
        match self {
            Op::CreateUser { username, .. }
            | Op::UpdateUser { username, .. }
            | Op::SetActive { username, .. }
            | Op::DeleteUser { username }
            | Op::AddMember { username, .. }
            | Op::RemoveMember { username, .. } => username,
            Op::CreateGroup { .. } => owner,
        }
    }

    /// A short human description for logs, the audit log and `--dry-run`.
    pub fn describe(&self) -> String {
        match self {
            Op::CreateUser { username, full_name, email, active } => {
                format!("create user {username} ({full_name}, {email}{})", if *active { "" } else { ", disabled" })
            }
            Op::UpdateUser { username, full_name, email } => format!("update user {username} ({full_name}, {email})"),
            Op::SetActive { username, active: true } => format!("enable user {username}"),
            Op::SetActive { username, active: false } => format!("disable user {username}"),
            Op::DeleteUser { username } => format!("delete user {username}"),
            Op::CreateGroup { group } => format!("create group {group}"),
            Op::AddMember { username, group } => format!("add {username} to {group}"),
            Op::RemoveMember { username, group } => format!("remove {username} from {group}"),
        }
    }
}

/// The queue (subject) of each of one person's planned operations, in order. A group
/// creation joins the queue of the user whose operation follows it (the membership that
/// needs it), so that membership can never be applied before the group exists.
pub fn subjects(ops: &[Op]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(ops.len());
    let mut owner = String::new();
    for op in ops.iter().rev() {
        owner = op.subject(&owner).to_owned();
        out.push(owner.clone());
    }
    out.reverse();
    out
}

/// What happens in Confluence to a person the identity provider deletes (or the rules
/// stop provisioning). `active: false` always disables, whatever this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Deprovision {
    /// Disable the Confluence user: their content, mentions and history stay theirs, and
    /// they no longer use a licence. The default.
    #[default]
    Disable,
    /// Delete the Confluence user (Confluence anonymises their content).
    Delete,
}

/// Another app's account for the same Confluence user, with that app's precedence.
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    /// The app's place in the configuration: the lowest provisioning app sets the full name
    /// and e-mail, as Crowd's directory order does.
    pub precedence: usize,
    pub account: &'a DesiredAccount,
}

/// Where a plan learns what other apps want for a Confluence user.
pub trait OtherApps {
    /// The accounts other apps (not the one planning) provision as `username`.
    fn accounts(&self, username: &str) -> Vec<Held<'_>>;
}

/// A single app, or a plan that ignores the others.
pub struct NoOtherApps;

impl OtherApps for NoOtherApps {
    fn accounts(&self, _: &str) -> Vec<Held<'_>> {
        Vec::new()
    }
}

/// The other apps' decisions as a snapshot holds them.
pub struct SnapshotApps<'a> {
    pub snapshot: &'a Snapshot,
    /// The app planning: its own decisions are not "other".
    pub app: &'a str,
    /// Each app's place in the configuration (an app not listed comes last).
    pub precedence: &'a HashMap<String, usize>,
}

impl OtherApps for SnapshotApps<'_> {
    fn accounts(&self, username: &str) -> Vec<Held<'_>> {
        self.snapshot
            .holders(username)
            .filter(|(app, _)| &***app != self.app)
            .filter_map(|(app, d)| {
                let precedence = self.precedence.get(&**app).copied().unwrap_or(usize::MAX);
                Some(Held { precedence, account: d.account()? })
            })
            .collect()
    }
}

/// One Confluence user as every app that provisions them wants it, together:
/// - full name and e-mail from the app with the lowest precedence;
/// - active while any app wants the user active;
/// - member of every group some app grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combined {
    pub username: String,
    pub full_name: String,
    pub email: String,
    pub active: bool,
    pub groups: BTreeSet<String>,
    pub create: BTreeSet<String>,
}

/// Combines the accounts of every app that provisions one Confluence user; `None` when
/// none does.
pub fn combine<'a>(accounts: impl IntoIterator<Item = Held<'a>>) -> Option<Combined> {
    let mut accounts: Vec<Held<'a>> = accounts.into_iter().collect();
    accounts.sort_by_key(|h| h.precedence);
    let first = accounts.first()?.account;
    let mut out = Combined {
        username: first.username.clone(),
        full_name: first.full_name.clone(),
        email: first.email.clone(),
        active: false,
        groups: BTreeSet::new(),
        create: BTreeSet::new(),
    };
    for h in &accounts {
        out.active |= h.account.active;
        out.groups.extend(h.account.groups.iter().cloned());
        out.create.extend(h.account.groups_create.iter().cloned());
    }
    Some(out)
}

/// The operations that take a person from `old` (what was last planned) to `new` (what
/// the rules decide now). `None`, or a skip, is "not a Confluence user of this app".
/// A single app's plan; see [`plan_among`] for a user several apps provision.
pub fn plan(old: Option<&DesiredUser>, new: Option<&DesiredUser>, policy: Deprovision) -> Vec<Op> {
    plan_among(old, new, 0, &NoOtherApps, policy)
}

/// The operations that take the Confluence user(s) of one person of an app from what
/// every app wanted before this decision to what they want with it. Other apps that
/// provision the same Confluence user (`others`) keep what they grant: a group the app
/// stops granting is removed only when no other app grants it, the user is disabled only
/// when no app wants them active, and deprovisioned only when no app provisions them.
pub fn plan_among(
    old: Option<&DesiredUser>,
    new: Option<&DesiredUser>,
    precedence: usize,
    others: &dyn OtherApps,
    policy: Deprovision,
) -> Vec<Op> {
    let old = old.and_then(DesiredUser::account);
    let new = new.and_then(DesiredUser::account);
    let mut usernames: Vec<&str> = old.iter().chain(new.iter()).map(|a| a.username.as_str()).collect();
    usernames.dedup();
    let mut ops = Vec::new();
    for username in usernames {
        let rest = others.accounts(username);
        let mine_before = old.filter(|a| a.username == username).map(|account| Held { precedence, account });
        let mine_after = new.filter(|a| a.username == username).map(|account| Held { precedence, account });
        let before = combine(mine_before.into_iter().chain(rest.iter().copied()));
        let after = combine(mine_after.into_iter().chain(rest.iter().copied()));
        diff(before.as_ref(), after.as_ref(), policy, &mut ops);
        // Memberships the app did not grant and now asks to end: planned once, when asked
        // for (the next decisions asking the same plan nothing more).
        if let (Some(n), Some(after)) = (new.filter(|n| n.username == username), after.as_ref()) {
            let asked_before = old.filter(|o| o.username == username).map_or(&[][..], |o| &o.groups_remove[..]);
            for g in &n.groups_remove {
                if !after.groups.contains(g) && !asked_before.contains(g) {
                    ops.push(Op::RemoveMember { username: username.to_owned(), group: g.clone() });
                }
            }
        }
    }
    ops
}

fn diff(before: Option<&Combined>, after: Option<&Combined>, policy: Deprovision, ops: &mut Vec<Op>) {
    match (before, after) {
        (None, None) => {}
        (None, Some(n)) => provision(n, ops),
        (Some(o), None) => deprovision(o, policy, ops),
        (Some(o), Some(n)) => {
            if o.full_name != n.full_name || o.email != n.email {
                ops.push(Op::UpdateUser {
                    username: n.username.clone(),
                    full_name: n.full_name.clone(),
                    email: n.email.clone(),
                });
            }
            if o.active != n.active {
                ops.push(Op::SetActive { username: n.username.clone(), active: n.active });
            }
            memberships(&o.groups, n, ops);
        }
    }
}

fn provision(n: &Combined, ops: &mut Vec<Op>) {
    ops.push(Op::CreateUser {
        username: n.username.clone(),
        full_name: n.full_name.clone(),
        email: n.email.clone(),
        active: n.active,
    });
    memberships(&BTreeSet::new(), n, ops);
}

/// No app provisions the user any more: disable them (their grants go with it, so a
/// re-enabled account carries no stale access) or delete them.
fn deprovision(o: &Combined, policy: Deprovision, ops: &mut Vec<Op>) {
    match policy {
        Deprovision::Disable => {
            if o.active {
                ops.push(Op::SetActive { username: o.username.clone(), active: false });
            }
            for g in &o.groups {
                ops.push(Op::RemoveMember { username: o.username.clone(), group: g.clone() });
            }
        }
        Deprovision::Delete => ops.push(Op::DeleteUser { username: o.username.clone() }),
    }
}

/// Group creations the new state asks for (for groups the person newly joins), then the
/// joins, then the leaves (grants no app holds any more).
fn memberships(old_groups: &BTreeSet<String>, n: &Combined, ops: &mut Vec<Op>) {
    let joins: Vec<&String> = n.groups.iter().filter(|g| !old_groups.contains(*g)).collect();
    for g in &joins {
        if n.create.contains(*g) {
            ops.push(Op::CreateGroup { group: (*g).clone() });
        }
    }
    for g in joins {
        ops.push(Op::AddMember { username: n.username.clone(), group: g.clone() });
    }
    for g in old_groups.iter().filter(|g| !n.groups.contains(*g)) {
        ops.push(Op::RemoveMember { username: n.username.clone(), group: g.clone() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DesiredOutcome;
    use std::sync::Arc;

    fn user(username: &str, name: &str, active: bool, groups: &[&str], create: &[&str]) -> DesiredUser {
        DesiredUser {
            scim_id: Arc::from("id"),
            outcome: DesiredOutcome::Provision(DesiredAccount {
                username: username.into(),
                full_name: name.into(),
                email: format!("{username}@example.com"),
                active,
                groups: groups.iter().map(|g| g.to_string()).collect(),
                groups_create: create.iter().map(|g| g.to_string()).collect(),
                ..DesiredAccount::default()
            }),
            module_name: "m".into(),
            module_hash: "h".into(),
            decided_at: String::new(),
        }
    }

    fn described(ops: Vec<Op>) -> Vec<String> {
        ops.iter().map(Op::describe).collect()
    }

    #[test]
    fn plans_are_the_smallest_diff() {
        let ada = user("ada", "Ada", true, &["staff", "eng"], &["eng"]);
        let skip = DesiredUser { outcome: DesiredOutcome::Skip { reason: "no".into() }, ..ada.clone() };
        let d = Deprovision::Disable;
        assert_eq!(
            described(plan(None, Some(&ada), d)),
            ["create user ada (Ada, ada@example.com)", "create group eng", "add ada to eng", "add ada to staff"]
        );
        assert!(plan(Some(&ada), Some(&ada), d).is_empty(), "no change, no operation");
        assert!(plan(None, Some(&skip), d).is_empty());
        let renamed = user("ada", "Ada L", false, &["eng", "ops"], &[]);
        assert_eq!(
            described(plan(Some(&ada), Some(&renamed), d)),
            ["update user ada (Ada L, ada@example.com)", "disable user ada", "add ada to ops", "remove ada from staff"]
        );
        assert_eq!(
            described(plan(Some(&ada), None, d)),
            ["disable user ada", "remove ada from eng", "remove ada from staff"]
        );
        assert_eq!(described(plan(Some(&ada), Some(&skip), Deprovision::Delete)), ["delete user ada"]);
        assert_eq!(
            described(plan(Some(&renamed), None, d)),
            ["remove ada from eng", "remove ada from ops"],
            "already disabled: only the grants go"
        );
        let moved = user("ada2", "Ada", true, &["staff"], &[]);
        assert_eq!(
            described(plan(Some(&ada), Some(&moved), d)),
            [
                "disable user ada",
                "remove ada from eng",
                "remove ada from staff",
                "create user ada2 (Ada, ada2@example.com)",
                "add ada2 to staff"
            ]
        );
    }

    #[test]
    fn a_group_creation_queues_with_the_membership_that_needs_it() {
        let ops = plan(None, Some(&user("ada", "Ada", true, &["eng", "ops"], &["eng", "ops"])), Deprovision::Disable);
        assert_eq!(described(ops.clone())[1..3], ["create group eng", "create group ops"]);
        assert!(subjects(&ops).iter().all(|s| s == "ada"), "{:?}", subjects(&ops));
        let moved = plan(
            Some(&user("ada", "A", true, &[], &[])),
            Some(&user("bea", "B", true, &["x"], &["x"])),
            Deprovision::Disable,
        );
        assert_eq!(subjects(&moved), ["ada", "bea", "bea", "bea"]);
    }

    /// Other apps' accounts, by username, with their precedence.
    struct Others(Vec<(usize, DesiredUser)>);

    impl OtherApps for Others {
        fn accounts(&self, username: &str) -> Vec<Held<'_>> {
            self.0
                .iter()
                .filter_map(|(precedence, d)| Some(Held { precedence: *precedence, account: d.account()? }))
                .filter(|h| h.account.username == username)
                .collect()
        }
    }

    #[test]
    fn a_group_another_app_grants_stays_and_the_user_stays_active_while_any_app_wants() {
        let okta = Others(vec![(0, user("ada", "Ada (OneLogin)", true, &["eng"], &[]))]);
        let d = Deprovision::Disable;
        // Okta (precedence 1) provisions her too: OneLogin's name wins, only the new grant is added.
        let mine = user("ada", "Ada (Okta)", true, &["eng", "ops"], &[]);
        assert_eq!(described(plan_among(None, Some(&mine), 1, &okta, d)), ["add ada to ops"]);
        // Okta revokes both grants: `eng` is OneLogin's too, so only `ops` goes.
        let fewer = user("ada", "Ada (Okta)", true, &[], &[]);
        assert_eq!(described(plan_among(Some(&mine), Some(&fewer), 1, &okta, d)), ["remove ada from ops"]);
        // Okta deactivates her, or deletes her: OneLogin still wants her active.
        let inactive = user("ada", "Ada (Okta)", false, &[], &[]);
        assert!(plan_among(Some(&fewer), Some(&inactive), 1, &okta, d).is_empty());
        assert!(plan_among(Some(&fewer), None, 1, &okta, Deprovision::Delete).is_empty());
        // OneLogin (precedence 0) renames her while Okta holds her: OneLogin's name is used.
        let holder = Others(vec![(1, fewer.clone())]);
        let renamed = user("ada", "Ada L", true, &["eng"], &[]);
        assert_eq!(
            described(plan_among(Some(&okta.0[0].1), Some(&renamed), 0, &holder, d)),
            ["update user ada (Ada L, ada@example.com)"]
        );
        // OneLogin lets her go; Okta still provisions her, inactive: she is disabled and
        // takes Okta's name, the first app that provisions her now.
        let alone = Others(vec![(1, inactive)]);
        assert_eq!(
            described(plan_among(Some(&renamed), None, 0, &alone, d)),
            ["update user ada (Ada (Okta), ada@example.com)", "disable user ada", "remove ada from eng"]
        );
    }

    #[test]
    fn a_membership_the_app_did_not_grant_is_removed_once_when_asked() {
        let mut asks = user("ada", "Ada", true, &["staff"], &[]);
        if let DesiredOutcome::Provision(a) = &mut asks.outcome {
            a.groups_remove = vec!["handmade".into()];
        }
        let before = user("ada", "Ada", true, &["staff"], &[]);
        let d = Deprovision::Disable;
        assert_eq!(described(plan(Some(&before), Some(&asks), d)), ["remove ada from handmade"]);
        assert!(plan(Some(&asks), Some(&asks), d).is_empty(), "asked before: planned then");
        // Another app grants it: not the app's to remove.
        let other = Others(vec![(0, user("ada", "Ada", true, &["handmade"], &[]))]);
        assert!(plan_among(Some(&before), Some(&asks), 1, &other, d).is_empty());
    }

    #[test]
    fn operations_round_trip_as_json() {
        let op = Op::CreateUser { username: "a".into(), full_name: "A".into(), email: "a@x".into(), active: true };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"createUser","username":"a","fullName":"A","email":"a@x","active":true}"#);
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    }
}
