//! Applying one planned operation to Confluence, idempotently, and classifying the result
//! once: done, try again later, held until UserSync's setup works, or refused for good.
//!
//! A multi-step operation resumes where it failed: its [`Progress`] is kept by the caller
//! between attempts, and a step whose answer was lost is checked with Confluence (a probe)
//! before anything is created again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::plan::Op;
use crate::confluence::{
    ConfluenceClient, ConfluenceError, ConfluenceUsername, CreateOutcome, GroupName, NewUser, SetupProblem,
};

/// The outcome of applying one operation.
#[derive(Debug)]
pub enum Applied {
    /// Confluence is as the operation wants it (a note when something was adopted or
    /// could not be done on this Confluence version, for the audit log).
    Done(Option<String>),
    /// Confluence could not be reached, was slow, rate-limited or failing: try again,
    /// not before `retry_after` when Confluence said so.
    Transient { error: String, retry_after: Option<Duration> },
    /// UserSync's own setup keeps Confluence from doing it (rejected credentials, missing
    /// rights, a wrong base URL ...): nothing is wrong with the operation; it waits until the
    /// setup works.
    Held { problem: SetupProblem, error: String },
    /// Confluence refused the operation for good, because of its data (invalid name,
    /// licence full, a user in a read-only directory ...).
    Refused(String),
    /// A membership in a group Confluence does not have: it waits, parked, until the group
    /// exists (nobody else's operations wait for it).
    Blocked { group: String, reason: String },
}

/// How far an operation got, so that a retry resumes at the step that failed instead of
/// starting over. Only creating a user has several steps: the POST, then the active flag
/// of a user created inactive; or, when the user exists already (409, the adopt path), the
/// update of full name and e-mail, then the active flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Progress {
    /// Nothing sent yet.
    #[default]
    NotStarted,
    /// A request may have been carried out without its answer reaching UserSync (a
    /// connection lost after sending, a crash of an earlier process): Confluence is asked
    /// before anything is created.
    Uncertain,
    /// The POST created the user; what is left is the active flag.
    Created,
    /// The user existed: `updated` once its full name and e-mail are written; `active` is
    /// its active flag when Confluence said it.
    Adopting { updated: bool, active: Option<bool> },
}

/// Groups this process has seen exist in Confluence, so that a group creation planned for
/// each of its new members is sent once, even when several workers reach it at the same
/// time (single-flight: the first creates it, the others wait for that outcome). Creation
/// is idempotent, so forgetting (a restart) only costs a request.
#[derive(Default)]
pub struct KnownGroups(Mutex<HashMap<String, Arc<tokio::sync::Mutex<bool>>>>);

impl KnownGroups {
    /// The group's slot: `true` inside once the group is known to exist. Whoever holds its
    /// lock is the one creating it.
    fn slot(&self, g: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut groups = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        groups.entry(g.to_owned()).or_default().clone()
    }
}

/// Applies `op`, resuming at `progress` and recording there how far it got. Never panics;
/// every failure is classified.
pub async fn apply(client: &ConfluenceClient, op: &Op, groups: &KnownGroups, progress: &mut Progress) -> Applied {
    match apply_inner(client, op, groups, progress).await {
        Ok(note) => Applied::Done(note),
        Err(Failure::Confluence(e)) => classify(client, e).await,
        Err(Failure::Name(e)) => Applied::Refused(e),
        Err(Failure::MissingGroup(group)) => {
            let reason = format!("group {group} does not exist in Confluence (create it, or let the rules create it)");
            Applied::Blocked { group, reason }
        }
        Err(Failure::Local(error)) => Applied::Transient { error, retry_after: None },
    }
}

/// Transient, held or refused: permanent only when the error is about the operation's data.
async fn classify(client: &ConfluenceClient, e: ConfluenceError) -> Applied {
    // A 403 is about the account, or about the user's directory: Confluence is asked which.
    let e = client.explain_forbidden(e).await;
    if e.is_transient() {
        return Applied::Transient { retry_after: e.retry_after(), error: e.to_string() };
    }
    match e.setup_problem() {
        Some(problem) => Applied::Held { problem, error: e.to_string() },
        None => Applied::Refused(e.to_string()),
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

async fn apply_inner(
    client: &ConfluenceClient,
    op: &Op,
    groups: &KnownGroups,
    progress: &mut Progress,
) -> Result<Option<String>, Failure> {
    match op {
        Op::CreateUser { username, full_name, email, active } => {
            create_user(client, &user(username)?, full_name, email, *active, progress).await
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
            let name_ok = group(name)?;
            let slot = groups.slot(name);
            // Single-flight: a second creation of the group waits here for the first.
            let mut exists = slot.lock().await;
            if !*exists {
                client.create_group(&name_ok).await?;
                *exists = true;
            }
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

/// Creates the user, or adopts the existing account (makes it what the rules want), from
/// the step `progress` says, recording each step done.
async fn create_user(
    client: &ConfluenceClient,
    username: &ConfluenceUsername,
    full_name: &str,
    email: &str,
    active: bool,
    progress: &mut Progress,
) -> Result<Option<String>, Failure> {
    let (created, mut updated, now) = match *progress {
        Progress::Created => (true, false, None),
        Progress::Adopting { updated, active } => (false, updated, active),
        Progress::NotStarted | Progress::Uncertain => {
            // An earlier POST may have created the user: ask before creating again.
            let found = match *progress {
                Progress::Uncertain => client.get_user(username).await?,
                _ => None,
            };
            match found {
                Some(found) => (false, false, found.active),
                None => match post_user(client, username, full_name, email).await {
                    Ok(CreateOutcome::Created { .. }) => (true, false, None),
                    Ok(CreateOutcome::AlreadyExists) => (false, false, None),
                    Err(e) => {
                        let maybe = matches!(&e, Failure::Confluence(c) if c.may_have_been_applied());
                        *progress = if maybe { Progress::Uncertain } else { Progress::NotStarted };
                        return Err(e);
                    }
                },
            }
        }
    };
    if created {
        *progress = Progress::Created;
        if !active {
            client.set_active(username, false).await?;
        }
        return Ok(None);
    }
    *progress = Progress::Adopting { updated, active: now };
    let mut update = None;
    if !updated {
        update = update_or_note(client, username, full_name, email).await?;
        updated = true;
        *progress = Progress::Adopting { updated, active: now };
    }
    if now != Some(active) {
        client.set_active(username, active).await?;
    }
    Ok(Some(format!(
        "adopted the existing user {}{}",
        username.as_str(),
        update.map(|n| format!("; {n}")).unwrap_or_default()
    )))
}

/// The POST of a new user, with a password nobody knows.
async fn post_user(
    client: &ConfluenceClient,
    username: &ConfluenceUsername,
    full_name: &str,
    email: &str,
) -> Result<CreateOutcome, Failure> {
    let new = NewUser {
        username: username.clone(),
        full_name: full_name.to_owned(),
        email: email.to_owned(),
        password: Some(random_password().map_err(Failure::Local)?),
    };
    Ok(client.create_user(&new).await?)
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
