//! User operations: create, update, disable/enable, delete (a long task), look up and list.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};

use super::client::ConfluenceClient;
use super::error::{message_text, ConfluenceError};
use super::version::Operation;
use super::wire;
use crate::model::names::{self, ConfluenceUsername};

/// The longest wait between two polls of a long task.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// A user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    pub username: ConfluenceUsername,
    pub full_name: String,
    pub email: String,
    /// `None`: Confluence emails the user a link to set a password (`notifyViaEmail: true`).
    pub password: Option<String>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What [`ConfluenceClient::create_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Created; Confluence's user key (32 hex characters) when it returned one.
    Created { user_key: Option<String> },
    /// A user with that username already exists (409), in some directory: adopt it.
    AlreadyExists,
}

/// A user as Confluence reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfluenceUser {
    pub username: ConfluenceUsername,
    /// The stable user key, surviving renames.
    pub key: Option<String>,
    pub display_name: String,
    /// `Some(false)` for a disabled user; `None` when the endpoint does not report it.
    pub active: Option<bool>,
    /// Only from [`ConfluenceClient::list_active_users_with_email`]: classic user JSON has no email.
    pub email: Option<String>,
}

impl ConfluenceUser {
    /// `None` for anonymous, deleted (anonymised) or unsynced users, and for usernames the host
    /// cannot represent (logged: Confluence should never report one).
    fn from_wire(person: wire::Person, fallback: Option<&ConfluenceUsername>) -> Option<Self> {
        if !person.is_real_user() {
            return None;
        }
        let active = person.active();
        let username = match (person.username.as_deref(), fallback) {
            (Some(raw), _) => match ConfluenceUsername::parse(raw) {
                Ok(name) => name,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping a Confluence user whose name cannot be managed");
                    return None;
                }
            },
            (None, Some(name)) => name.clone(),
            (None, None) => return None,
        };
        Some(ConfluenceUser {
            display_name: person.display_name.unwrap_or_else(|| username.to_string()),
            username,
            key: person.user_key.filter(|k| !k.is_empty()),
            active,
            email: person.email.filter(|e| !e.is_empty()),
        })
    }
}

/// Confluence's rules for a full name ([`names::check_full_name`]), as the client's error.
fn check_full_name(full_name: &str) -> Result<(), ConfluenceError> {
    names::check_full_name(full_name).map_err(invalid_input)
}

/// A light check of an e-mail address ([`names::check_email`]), as the client's error.
fn check_email(email: &str) -> Result<(), ConfluenceError> {
    names::check_email(email).map_err(invalid_input)
}

fn invalid_input(e: names::FieldError) -> ConfluenceError {
    ConfluenceError::InvalidInput { field: e.field, reason: format!("{:?}: {}", e.value, e.reason) }
}

impl ConfluenceClient {
    /// `POST /rest/api/admin/user` (8.4+). With a password the user is created with it; without,
    /// Confluence emails the user a link to set one.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.4 (no request sent); [`ConfluenceError::InvalidInput`]
    /// for a full name, email or password Confluence would refuse (no request sent); 402 (licence
    /// full) and the others as classified; a 404 (the endpoint is missing) is
    /// [`ConfluenceError::Setup`] with [`SetupProblem::BaseUrl`](super::SetupProblem::BaseUrl).
    pub async fn create_user(&self, user: &NewUser) -> Result<CreateOutcome, ConfluenceError> {
        check_full_name(&user.full_name)?;
        check_email(&user.email)?;
        if user.password.as_deref().is_some_and(|p| p.trim().is_empty()) {
            return Err(ConfluenceError::InvalidInput { field: "password", reason: "it is blank".to_owned() });
        }
        self.require(Operation::CreateUser).await?;
        let what = format!("create user {}", user.username);
        let body = Self::json_body(&wire::CreateUserRequest {
            user_name: user.username.as_str(),
            full_name: user.full_name.trim(),
            email: user.email.trim(),
            password: user.password.as_deref(),
            notify_via_email: user.password.is_none(),
        })?;
        let url = self.url(&["rest", "api", "admin", "user"]);
        let reply = self.send(Method::POST, url, Some(body)).await.map_err(|e| e.context(&what))?;
        match reply.status {
            s if s.is_success() => {
                let user_key =
                    reply.json::<wire::CreatedUser>().ok().and_then(|c| c.user_key).filter(|k| !k.is_empty());
                Ok(CreateOutcome::Created { user_key })
            }
            StatusCode::CONFLICT => Ok(CreateOutcome::AlreadyExists),
            // The collection itself is missing: not Confluence's REST API at this base URL.
            StatusCode::NOT_FOUND => Err(reply.endpoint_missing().context(&what)),
            _ => Err(reply.error().context(&what)),
        }
    }

    /// `PUT /rest/api/admin/user/{username}` with the full name and email (recent releases; taken
    /// as 9.0+). If the server answers 405, or 404 for a user that does exist, the endpoint is
    /// missing: this call and every later one return [`ConfluenceError::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] as above; [`ConfluenceError::InvalidInput`] for values
    /// Confluence would refuse; `Permanent { status: 404 }` when the user does not exist.
    pub async fn update_user(
        &self,
        username: &ConfluenceUsername,
        full_name: &str,
        email: &str,
    ) -> Result<(), ConfluenceError> {
        check_full_name(full_name)?;
        check_email(email)?;
        self.require(Operation::UpdateUser).await?;
        let what = format!("update user {username}");
        let body = Self::json_body(&wire::UpdateUserRequest { full_name: full_name.trim(), email: email.trim() })?;
        let url = self.url(&["rest", "api", "admin", "user", username.as_str()]);
        let reply = self.send(Method::PUT, url, Some(body)).await.map_err(|e| e.context(&what))?;
        let endpoint_missing = match reply.status {
            s if s.is_success() => return Ok(()),
            StatusCode::METHOD_NOT_ALLOWED => true,
            // A 404 is either "no such user" or "no such endpoint": ask.
            StatusCode::NOT_FOUND => self.get_user(username).await.map_err(|e| e.context(&what))?.is_some(),
            _ => return Err(reply.error().context(&what)),
        };
        if !endpoint_missing {
            return Err(reply.error().context(&format!("{what}: no such user")));
        }
        self.inner.update_user_missing.store(true, Ordering::Relaxed);
        let info = self.server_info().await?;
        tracing::warn!(version = %info.version, "Confluence has no user update endpoint; full name and email changes are not written");
        Err(self.unsupported(Operation::UpdateUser, &info.version))
    }

    /// `PUT /rest/api/admin/user/{username}/enable` or `/disable` (8.2+). Idempotent.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; `Permanent { status: 404 }` when the user does
    /// not exist; 403 for a user in a read-only directory.
    pub async fn set_active(&self, username: &ConfluenceUsername, active: bool) -> Result<(), ConfluenceError> {
        self.require(Operation::SetActive).await?;
        let action = if active { "enable" } else { "disable" };
        let what = format!("{action} user {username}");
        let url = self.url(&["rest", "api", "admin", "user", username.as_str(), action]);
        let reply = self.send(Method::PUT, url, None).await.map_err(|e| e.context(&what))?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(reply.error().context(&what))
        }
    }

    /// `DELETE /rest/api/admin/user/{username}` (8.2+), then polls the long task it starts until it
    /// succeeds. A user that does not exist (404) counts as deleted.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; [`ConfluenceError::LongTaskFailed`] when the
    /// task ends unsuccessfully; a transient error when it is still running after
    /// `tuning.long_task_timeout` (Confluence carries on; call again later).
    pub async fn delete_user(&self, username: &ConfluenceUsername) -> Result<(), ConfluenceError> {
        self.require(Operation::DeleteUser).await?;
        let what = format!("delete user {username}");
        let url = self.url(&["rest", "api", "admin", "user", username.as_str()]);
        let reply = self.send(Method::DELETE, url, None).await.map_err(|e| e.context(&what))?;
        match reply.status {
            StatusCode::NOT_FOUND => {
                tracing::debug!(%username, "user already absent from Confluence");
                Ok(())
            }
            StatusCode::ACCEPTED => {
                let submission = reply.json::<wire::LongTaskSubmission>().ok();
                let link = submission.as_ref().and_then(|s| {
                    let from_links = s.links.as_ref().and_then(|l| l.status.clone());
                    from_links.or_else(|| {
                        let id = match s.id.as_ref()? {
                            serde_json::Value::String(id) => id.clone(),
                            other => other.to_string(),
                        };
                        Some(format!("/rest/api/longtask/{id}"))
                    })
                });
                match link {
                    Some(link) => self.await_long_task(username, &link, &what).await,
                    None => {
                        tracing::debug!(%username, "user deletion accepted without a task to follow");
                        Ok(())
                    }
                }
            }
            s if s.is_success() => Ok(()),
            _ => Err(reply.error().context(&what)),
        }
    }

    async fn await_long_task(
        &self,
        username: &ConfluenceUsername,
        link: &str,
        what: &str,
    ) -> Result<(), ConfluenceError> {
        let url = self.resolve_link(link).map_err(|e| e.context(what))?;
        let tuning = &self.inner.tuning;
        let deadline = Instant::now() + tuning.long_task_timeout;
        let mut interval = tuning.long_task_poll_interval;
        loop {
            let mut wait = interval;
            match self.send(Method::GET, url.clone(), None).await {
                Ok(reply) if reply.status.is_success() => {
                    let status: wire::LongTaskStatus = reply.json().map_err(|e| e.context(what))?;
                    if status.successful == Some(true) {
                        return Ok(());
                    }
                    if status.is_finished() {
                        let messages: Vec<String> = status.messages.iter().filter_map(message_text).collect();
                        let detail =
                            if messages.is_empty() { "no reason given".to_owned() } else { messages.join("; ") };
                        return Err(ConfluenceError::LongTaskFailed {
                            message: format!("{what}: Confluence's deletion task failed: {detail}"),
                        });
                    }
                }
                // The task is gone (expired after finishing?): the user tells the outcome.
                Ok(reply) if reply.status == StatusCode::NOT_FOUND => {
                    return match self.get_user(username).await.map_err(|e| e.context(what))? {
                        None => Ok(()),
                        Some(_) => Err(ConfluenceError::Transient {
                            status: None,
                            retry_after: None,
                            message: format!("{what}: the deletion task vanished and the user is still present"),
                        }),
                    };
                }
                Ok(reply) => {
                    let e = reply.error();
                    if !e.is_transient() {
                        return Err(e.context(&format!("{what}: polling the deletion task")));
                    }
                    wait = wait.max(e.retry_after().unwrap_or_default());
                }
                Err(e) if e.is_transient() => wait = wait.max(e.retry_after().unwrap_or_default()),
                Err(e) => return Err(e.context(what)),
            }
            if Instant::now() + wait > deadline {
                return Err(ConfluenceError::Transient {
                    status: None,
                    retry_after: None,
                    message: format!(
                        "{what}: still running after {} s; Confluence carries on in the background, check again later",
                        tuning.long_task_timeout.as_secs()
                    ),
                });
            }
            tokio::time::sleep(wait).await;
            interval = (interval + interval / 2).min(MAX_POLL_INTERVAL);
        }
    }

    /// `GET /rest/api/user?username=...&expand=status`. A single attempt.
    ///
    /// Returns `None` when Confluence answers 404, or reports the user as anonymous or `unknown`
    /// (deleted and anonymised, or unsynced from its directory): such a user cannot be managed.
    ///
    /// # Errors
    ///
    /// Transport and HTTP errors as classified.
    pub async fn get_user(&self, username: &ConfluenceUsername) -> Result<Option<ConfluenceUser>, ConfluenceError> {
        let what = format!("look up user {username}");
        let mut url = self.url(&["rest", "api", "user"]);
        url.query_pairs_mut().append_pair("username", username.as_str()).append_pair("expand", "status");
        let reply = self.send(Method::GET, url, None).await.map_err(|e| e.context(&what))?;
        match reply.status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let person: wire::Person = reply.json().map_err(|e| e.context(&what))?;
                Ok(ConfluenceUser::from_wire(person, Some(username)))
            }
            _ => Err(reply.error().context(&what)),
        }
    }

    /// Every user, disabled ones included, with their status: `GET /rest/api/user/list?expand=status`
    /// (8.4+), all pages. Each page is retried on transient errors.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.4; the last error once retries are spent.
    pub async fn list_users(&self) -> Result<Vec<ConfluenceUser>, ConfluenceError> {
        let mut users = Vec::new();
        self.each_user(|u| users.push(u)).await?;
        Ok(users)
    }

    /// [`Self::list_users`], handing each user to `each` as its page arrives instead of
    /// collecting them all (what a Synchronize of a large instance reads them with).
    ///
    /// # Errors
    ///
    /// As [`Self::list_users`].
    pub async fn each_user(&self, mut each: impl FnMut(ConfluenceUser)) -> Result<(), ConfluenceError> {
        self.require(Operation::ListUsers).await?;
        let segments = ["rest", "api", "user", "list"];
        self.list_pages("list users", &segments, &[("expand", "status")], |people: Vec<wire::Person>| {
            people.into_iter().filter_map(|p| ConfluenceUser::from_wire(p, None)).for_each(&mut each);
        })
        .await
    }

    /// Licensed, active users with their email: `GET /rest/api/admin/users/list/active` (9.3+), all
    /// pages. It relies on Confluence's search index, so a just-created user may be missing.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 9.3; the last error once retries are spent.
    pub async fn list_active_users_with_email(&self) -> Result<Vec<ConfluenceUser>, ConfluenceError> {
        let mut users = Vec::new();
        self.each_active_user_with_email(|u| users.push(u)).await?;
        Ok(users)
    }

    /// [`Self::list_active_users_with_email`], handing each user to `each` as its page
    /// arrives.
    ///
    /// # Errors
    ///
    /// As [`Self::list_active_users_with_email`].
    pub async fn each_active_user_with_email(
        &self,
        mut each: impl FnMut(ConfluenceUser),
    ) -> Result<(), ConfluenceError> {
        self.require(Operation::ActiveUsersWithEmail).await?;
        let segments = ["rest", "api", "admin", "users", "list", "active"];
        self.list_pages("list active users", &segments, &[], |people: Vec<wire::Person>| {
            people
                .into_iter()
                .filter_map(|p| ConfluenceUser::from_wire(p, None))
                .map(|user| ConfluenceUser { active: user.active.or(Some(true)), ..user })
                .for_each(&mut each);
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_and_email_rules() {
        assert!(check_full_name("Alice Smith").is_ok());
        for bad in ["", "  ", "a<b", "a>b", "Anonymous"] {
            assert!(
                matches!(check_full_name(bad), Err(ConfluenceError::InvalidInput { field: "full name", .. })),
                "{bad:?}"
            );
        }
        assert!(check_email("a@b.c").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c"] {
            assert!(matches!(check_email(bad), Err(ConfluenceError::InvalidInput { field: "email", .. })), "{bad:?}");
        }
    }

    #[test]
    fn new_user_debug_hides_the_password() {
        let user = NewUser {
            username: ConfluenceUsername::parse("a").unwrap(),
            full_name: "A".into(),
            email: "a@b".into(),
            password: Some("pa55-secret".into()),
        };
        let text = format!("{user:?}");
        assert!(!text.contains("secret") && text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn users_from_wire() {
        let person = |json: &str| serde_json::from_str::<wire::Person>(json).unwrap();
        let u = ConfluenceUser::from_wire(
            person(r#"{"type": "known", "username": "Alice", "userKey": "k1", "displayName": "Alice A", "status": "Deactivated"}"#),
            None,
        )
        .unwrap();
        assert_eq!(u.username.as_str(), "alice");
        assert_eq!((u.key.as_deref(), u.display_name.as_str(), u.active), (Some("k1"), "Alice A", Some(false)));
        assert!(ConfluenceUser::from_wire(person(r#"{"type": "unknown", "username": "gone"}"#), None).is_none());
        assert!(ConfluenceUser::from_wire(person(r#"{"username": "bad name"}"#), None).is_none());
        let fallback = ConfluenceUsername::parse("bob").unwrap();
        let u = ConfluenceUser::from_wire(person(r#"{"type": "known"}"#), Some(&fallback)).unwrap();
        assert_eq!((u.username.as_str(), u.display_name.as_str()), ("bob", "bob"));
    }
}
