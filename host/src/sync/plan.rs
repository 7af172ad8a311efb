//! The plan: the smallest list of Confluence operations that takes one person from the
//! state last planned for them to the state the rules now want. Pure: no I/O, no clock.
//!
//! The basis of the diff is the desired state the previous decision stored. Every
//! operation planned from it was either applied at once or is in the outbox, which applies
//! it in order before anything planned later, so Confluence converges to the newest
//! decision. Drift made outside UserSync (an administrator removing a membership by hand)
//! is Synchronize's job ([`super::reconcile`]).

use crate::store::{DesiredOutcome, DesiredUser};

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

/// The operations that take a person from `old` (what was last planned) to `new` (what
/// the rules decide now). `None`, or a skip, is "not a Confluence user of this app".
pub fn plan(old: Option<&DesiredUser>, new: Option<&DesiredUser>, policy: Deprovision) -> Vec<Op> {
    let old = old.and_then(account);
    let new = new.and_then(account);
    let mut ops = Vec::new();
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => provision(n, &mut ops),
        (Some(o), None) => deprovision(o, policy, &mut ops),
        (Some(o), Some(n)) if o.username != n.username => {
            // Confluence cannot rename a user over REST: the old account goes as a deleted
            // person would, and the new one is provisioned.
            deprovision(o, policy, &mut ops);
            provision(n, &mut ops);
        }
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
            memberships(&o.groups, n, &mut ops);
        }
    }
    ops
}

fn account(d: &DesiredUser) -> Option<&crate::store::DesiredAccount> {
    match &d.outcome {
        DesiredOutcome::Provision(a) => Some(a),
        DesiredOutcome::Skip { .. } => None,
    }
}

fn provision(n: &crate::store::DesiredAccount, ops: &mut Vec<Op>) {
    ops.push(Op::CreateUser {
        username: n.username.clone(),
        full_name: n.full_name.clone(),
        email: n.email.clone(),
        active: n.active,
    });
    memberships(&[], n, ops);
}

fn deprovision(o: &crate::store::DesiredAccount, policy: Deprovision, ops: &mut Vec<Op>) {
    match policy {
        Deprovision::Disable if o.active => ops.push(Op::SetActive { username: o.username.clone(), active: false }),
        Deprovision::Disable => {}
        Deprovision::Delete => ops.push(Op::DeleteUser { username: o.username.clone() }),
    }
}

/// Group creations the new state asks for (for groups the person newly joins), then the
/// joins, then the leaves.
fn memberships(old_groups: &[String], n: &crate::store::DesiredAccount, ops: &mut Vec<Op>) {
    let joins: Vec<&String> = n.groups.iter().filter(|g| !old_groups.contains(g)).collect();
    for g in &joins {
        if n.groups_create.contains(g) {
            ops.push(Op::CreateGroup { group: (*g).clone() });
        }
    }
    for g in joins {
        ops.push(Op::AddMember { username: n.username.clone(), group: g.clone() });
    }
    for g in old_groups.iter().filter(|g| !n.groups.contains(g)) {
        ops.push(Op::RemoveMember { username: n.username.clone(), group: g.clone() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DesiredAccount;
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
            ["create user ada (Ada, ada@example.com)", "create group eng", "add ada to staff", "add ada to eng"]
        );
        assert!(plan(Some(&ada), Some(&ada), d).is_empty(), "no change, no operation");
        assert!(plan(None, Some(&skip), d).is_empty());
        let renamed = user("ada", "Ada L", false, &["eng", "ops"], &[]);
        assert_eq!(
            described(plan(Some(&ada), Some(&renamed), d)),
            ["update user ada (Ada L, ada@example.com)", "disable user ada", "add ada to ops", "remove ada from staff"]
        );
        assert_eq!(described(plan(Some(&ada), None, d)), ["disable user ada"]);
        assert_eq!(described(plan(Some(&ada), Some(&skip), Deprovision::Delete)), ["delete user ada"]);
        assert!(plan(Some(&renamed), None, d).is_empty(), "already disabled");
        let moved = user("ada2", "Ada", true, &["staff"], &[]);
        assert_eq!(
            described(plan(Some(&ada), Some(&moved), d)),
            ["disable user ada", "create user ada2 (Ada, ada2@example.com)", "add ada2 to staff"]
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

    #[test]
    fn operations_round_trip_as_json() {
        let op = Op::CreateUser { username: "a".into(), full_name: "A".into(), email: "a@x".into(), active: true };
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, r#"{"op":"createUser","username":"a","fullName":"A","email":"a@x","active":true}"#);
        assert_eq!(serde_json::from_str::<Op>(&json).unwrap(), op);
    }
}
