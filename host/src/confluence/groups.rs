//! Group operations: create and delete groups, add and remove members, list groups, members and
//! a user's groups. Writes treat "already as desired" (409 on create, 404 on delete or removal)
//! as success.

use reqwest::{Method, StatusCode};

use super::client::{ConfluenceClient, Reply};
use super::error::ConfluenceError;
use super::version::Operation;
use super::wire;
use crate::model::names::{ConfluenceUsername, GroupName};

/// Success, or an error in context; `ok_too` lists statuses that already mean "as desired".
fn outcome(reply: Reply, ok_too: &[StatusCode], what: &str) -> Result<(), ConfluenceError> {
    if reply.status.is_success() || ok_too.contains(&reply.status) {
        Ok(())
    } else {
        Err(reply.error().context(what))
    }
}

fn group_names(groups: Vec<wire::Group>) -> Vec<GroupName> {
    groups
        .into_iter()
        .filter_map(|g| g.name)
        .filter_map(|name| match GroupName::parse(&name) {
            Ok(group) => Some(group),
            Err(e) => {
                tracing::warn!(error = %e, "skipping a Confluence group whose name cannot be managed");
                None
            }
        })
        .collect()
}

impl ConfluenceClient {
    /// `POST /rest/api/admin/group` (8.2+). A group that already exists (409) is success.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; a 404 (the endpoint is missing) is
    /// [`ConfluenceError::Setup`]; others as classified.
    pub async fn create_group(&self, name: &GroupName) -> Result<(), ConfluenceError> {
        self.require(Operation::ManageGroups).await?;
        let what = format!("create group {name}");
        let body = Self::json_body(&wire::CreateGroupRequest { name: name.as_str() })?;
        let url = self.url(&["rest", "api", "admin", "group"]);
        let reply = self.send(Method::POST, url, Some(body)).await.map_err(|e| e.context(&what))?;
        if reply.status == StatusCode::NOT_FOUND {
            // The collection itself is missing: not Confluence's REST API at this base URL.
            return Err(reply.endpoint_missing().context(&what));
        }
        outcome(reply, &[StatusCode::CONFLICT], &what)
    }

    /// `DELETE /rest/api/admin/group/{name}` (8.2+). A missing group (404) is success.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; 400 when it is the last administrators' group.
    pub async fn delete_group(&self, name: &GroupName) -> Result<(), ConfluenceError> {
        self.require(Operation::ManageGroups).await?;
        let what = format!("delete group {name}");
        let url = self.url(&["rest", "api", "admin", "group", name.as_str()]);
        let reply = self.send(Method::DELETE, url, None).await.map_err(|e| e.context(&what))?;
        outcome(reply, &[StatusCode::NOT_FOUND], &what)
    }

    /// `PUT /rest/api/user/{user}/group/{group}` (8.2+). Idempotent.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; `Permanent { status: 404 }` when the user or
    /// the group does not exist.
    pub async fn add_member(&self, user: &ConfluenceUsername, group: &GroupName) -> Result<(), ConfluenceError> {
        self.require(Operation::ManageMembership).await?;
        let what = format!("add user {user} to group {group}");
        let url = self.url(&["rest", "api", "user", user.as_str(), "group", group.as_str()]);
        let reply = self.send(Method::PUT, url, None).await.map_err(|e| e.context(&what))?;
        outcome(reply, &[], &what)
    }

    /// `DELETE /rest/api/user/{user}/group/{group}` (8.2+). Idempotent; a missing user or group
    /// (404) means there is no membership, which is success.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Unsupported`] before 8.2; others as classified.
    pub async fn remove_member(&self, user: &ConfluenceUsername, group: &GroupName) -> Result<(), ConfluenceError> {
        self.require(Operation::ManageMembership).await?;
        let what = format!("remove user {user} from group {group}");
        let url = self.url(&["rest", "api", "user", user.as_str(), "group", group.as_str()]);
        let reply = self.send(Method::DELETE, url, None).await.map_err(|e| e.context(&what))?;
        outcome(reply, &[StatusCode::NOT_FOUND], &what)
    }

    /// Every group: `GET /rest/api/group`, all pages, each retried on transient errors.
    ///
    /// # Errors
    ///
    /// The last error once retries are spent.
    pub async fn list_groups(&self) -> Result<Vec<GroupName>, ConfluenceError> {
        let groups = self.list_all("list groups", &["rest", "api", "group"], &[]).await?;
        Ok(group_names(groups))
    }

    /// The members of a group: `GET /rest/api/group/{name}/member`, all pages, each retried on
    /// transient errors. Needs administrator rights.
    ///
    /// # Errors
    ///
    /// `Permanent { status: 404 }` for a group that does not exist; the last error once retries
    /// are spent.
    pub async fn group_members(&self, group: &GroupName) -> Result<Vec<ConfluenceUsername>, ConfluenceError> {
        let what = format!("list members of group {group}");
        let people: Vec<wire::Person> =
            self.list_all(&what, &["rest", "api", "group", group.as_str(), "member"], &[]).await?;
        Ok(people
            .into_iter()
            .filter(wire::Person::is_real_user)
            .filter_map(|p| p.username)
            .filter_map(|name| match ConfluenceUsername::parse(&name) {
                Ok(user) => Some(user),
                Err(e) => {
                    tracing::warn!(error = %e, %group, "skipping a member whose name cannot be managed");
                    None
                }
            })
            .collect())
    }

    /// The groups of a user: `GET /rest/api/user/memberof?username=...`, all pages, each retried
    /// on transient errors.
    ///
    /// # Errors
    ///
    /// `Permanent { status: 404 }` for a user that does not exist; the last error once retries
    /// are spent.
    pub async fn user_groups(&self, user: &ConfluenceUsername) -> Result<Vec<GroupName>, ConfluenceError> {
        let what = format!("list groups of user {user}");
        let groups = self.list_all(&what, &["rest", "api", "user", "memberof"], &[("username", user.as_str())]).await?;
        Ok(group_names(groups))
    }

    /// Whether the group exists: `GET /rest/api/group/{name}`, 404 meaning no.
    ///
    /// # Errors
    ///
    /// As classified, for any other failure.
    pub async fn group_exists(&self, group: &GroupName) -> Result<bool, ConfluenceError> {
        let what = format!("look up group {group}");
        let url = self.url(&["rest", "api", "group", group.as_str()]);
        let reply = self.send(Method::GET, url, None).await.map_err(|e| e.context(&what))?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(false);
        }
        outcome(reply, &[], &what).map(|()| true)
    }
}
