//! Applying one planned operation to Confluence, idempotently, and classifying the result
//! once: done, try again later, or refused for good.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::plan::Op;
use crate::confluence::{ConfluenceClient, ConfluenceError, ConfluenceUsername, CreateOutcome, GroupName, NewUser};

/// The outcome of applying one operation.
#[derive(Debug)]
pub enum Applied {
    /// Confluence is as the operation wants it (a note when something was adopted or
    /// could not be done on this Confluence version, for the audit log).
    Done(Option<String>),
    /// Confluence could not be reached, was slow, rate-limited or failing: try again,
    /// not before `retry_after` when Confluence said so.
    Transient { error: String, retry_after: Option<Duration> },
    /// Confluence refused the operation for good (invalid name, licence full, no
    /// permission ...).
    Refused(String),
    /// A membership in a group Confluence does not have: it waits, parked, until the group
    /// exists (nobody else's operations wait for it).
    Blocked { group: String, reason: String },
}

/// Groups this process has seen exist in Confluence, so that a group creation planned for
/// each of its new members is sent once. Creation is idempotent, so forgetting (a restart)
/// only costs a request.
#[derive(Default)]
pub struct KnownGroups(Mutex<HashSet<String>>);

impl KnownGroups {
    fn contains(&self, g: &str) -> bool {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).contains(g)
    }

    pub fn insert(&self, g: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(g.to_owned());
    }
}

/// Applies `op`. Never panics; every failure is classified.
pub async fn apply(client: &ConfluenceClient, op: &Op, groups: &KnownGroups) -> Applied {
    match apply_inner(client, op, groups).await {
        Ok(note) => Applied::Done(note),
        Err(Failure::Confluence(e)) if e.is_transient() => {
            Applied::Transient { retry_after: e.retry_after(), error: e.to_string() }
        }
        Err(Failure::Confluence(e)) => Applied::Refused(e.to_string()),
        Err(Failure::Name(e)) => Applied::Refused(e),
        Err(Failure::MissingGroup(group)) => {
            let reason = format!("group {group} does not exist in Confluence (create it, or let the rules create it)");
            Applied::Blocked { group, reason }
        }
        Err(Failure::Local(error)) => Applied::Transient { error, retry_after: None },
    }
}

enum Failure {
    Confluence(ConfluenceError),
    /// The group of a membership does not exist.
    MissingGroup(String),
    Name(String),
    /// Something on this machine, not Confluence (no randomness for a password).
    Local(String),
}

impl From<ConfluenceError> for Failure {
    fn from(e: ConfluenceError) -> Self {
        Failure::Confluence(e)
    }
}

fn user(name: &str) -> Result<ConfluenceUsername, Failure> {
    ConfluenceUsername::parse(name).map_err(|e| Failure::Name(format!("invalid Confluence username {name:?}: {e}")))
}

fn group(name: &str) -> Result<GroupName, Failure> {
    GroupName::parse(name).map_err(|e| Failure::Name(format!("invalid Confluence group name {name:?}: {e}")))
}

async fn apply_inner(client: &ConfluenceClient, op: &Op, groups: &KnownGroups) -> Result<Option<String>, Failure> {
    match op {
        Op::CreateUser { username, full_name, email, active } => {
            let username = user(username)?;
            let new = NewUser {
                username: username.clone(),
                full_name: full_name.clone(),
                email: email.clone(),
                password: Some(random_password().map_err(Failure::Local)?),
            };
            let note = match client.create_user(&new).await? {
                CreateOutcome::Created { .. } => {
                    if !*active {
                        client.set_active(&username, false).await?;
                    }
                    None
                }
                CreateOutcome::AlreadyExists => {
                    // Adopt the existing account: make it what the rules want.
                    let update = update_or_note(client, &username, full_name, email).await?;
                    client.set_active(&username, *active).await?;
                    Some(format!(
                        "adopted the existing user {}{}",
                        username.as_str(),
                        update.map(|n| format!("; {n}")).unwrap_or_default()
                    ))
                }
            };
            Ok(note)
        }
        Op::UpdateUser { username, full_name, email } => {
            update_or_note(client, &user(username)?, full_name, email).await.map_err(Failure::from)
        }
        Op::SetActive { username, active } => {
            client.set_active(&user(username)?, *active).await?;
            Ok(None)
        }
        Op::DeleteUser { username } => {
            client.delete_user(&user(username)?).await?;
            Ok(None)
        }
        Op::CreateGroup { group: name } => {
            if groups.contains(name) {
                return Ok(None);
            }
            client.create_group(&group(name)?).await?;
            groups.insert(name);
            Ok(None)
        }
        Op::AddMember { username, group: name } => {
            let group = group(name)?;
            match client.add_member(&user(username)?, &group).await {
                Ok(()) => Ok(None),
                // A 404 names a missing user or group; only a missing group is worth waiting for.
                Err(ConfluenceError::Permanent { status: 404, .. }) if !client.group_exists(&group).await? => {
                    Err(Failure::MissingGroup(name.clone()))
                }
                Err(e) => Err(e.into()),
            }
        }
        Op::RemoveMember { username, group: name } => {
            client.remove_member(&user(username)?, &group(name)?).await?;
            Ok(None)
        }
    }
}

/// Updates full name and e-mail; on a Confluence version without the REST call for it,
/// succeeds with a note saying so (there is no other way over REST).
async fn update_or_note(
    client: &ConfluenceClient,
    username: &ConfluenceUsername,
    full_name: &str,
    email: &str,
) -> Result<Option<String>, ConfluenceError> {
    match client.update_user(username, full_name, email).await {
        Ok(()) => Ok(None),
        Err(ConfluenceError::Unsupported { hint, .. }) => Ok(Some(format!("full name and e-mail not updated: {hint}"))),
        Err(e) => Err(e),
    }
}

/// A password nobody knows, for accounts whose people sign in through single sign-on.
/// (Users are created with a password rather than `notifyViaEmail`, so that Confluence
/// sends no "set your password" mail to people who never use one.)
fn random_password() -> Result<String, String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a new user's password: {e}"))?;
    Ok(format!("Us1!{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}
