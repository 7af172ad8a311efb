//! User routes (reference §1.1–§1.6, §1.8): read, list, create, update, disable, enable,
//! delete (a long task), passwords and memberships.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Admin, Authed};
use super::config::DeletedUserLookup;
use super::state::Lookup;
use super::validate::{check_email, check_full_name, check_username};
use super::wire::{
    anonymous_person, json_object, page, person, reject_unknown_fields, string_field, unknown_person, ApiError, Params,
};
use super::Shared;

type Reply = Result<Response, ApiError>;

const DEFAULT_LIMIT: usize = 200;

/// Resolves a lookup into a Person, honouring the deleted-user setting.
fn lookup_reply(shared: &Shared, lookup: Lookup, params: &Params, what: &str) -> Reply {
    match lookup {
        Lookup::Found(user) => Ok(Json(person(&shared.site, &user, params.expands("status"), false)).into_response()),
        Lookup::Deleted { username, key } if shared.config.deleted_user_lookup == DeletedUserLookup::Unknown => {
            Ok(Json(unknown_person(&shared.site, &username, &key)).into_response())
        }
        Lookup::Deleted { .. } | Lookup::Missing => Err(ApiError::not_found(format!("No user found with {what}"))),
    }
}

/// `GET /rest/api/user?username=|key=`.
pub(crate) async fn get_user(State(shared): State<Arc<Shared>>, _caller: Authed, params: Params) -> Reply {
    if let Some(key) = params.get("key") {
        let lookup = shared.state().user_by_key(key);
        lookup_reply(&shared, lookup, &params, &format!("key {key}"))
    } else if let Some(username) = params.get("username") {
        let lookup = shared.state().user(username);
        lookup_reply(&shared, lookup, &params, &format!("username {username}"))
    } else {
        Err(ApiError::bad_request("A username or key query parameter is required"))
    }
}

/// `GET /rest/api/user/current`.
pub(crate) async fn current_user(State(shared): State<Arc<Shared>>, Authed(caller): Authed, params: Params) -> Reply {
    let lookup = shared.state().user(&caller.account.username);
    lookup_reply(&shared, lookup, &params, "the current username")
}

/// `GET /rest/api/user/anonymous`: allowed without credentials.
pub(crate) async fn anonymous_user(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(anonymous_person(&shared.site))
}

/// `GET /rest/api/user/memberof?username=|key=`: a page of Group.
pub(crate) async fn member_of(State(shared): State<Arc<Shared>>, _caller: Authed, uri: Uri, params: Params) -> Reply {
    let (start, limit) = params.paging(&shared.site, DEFAULT_LIMIT)?;
    let username = match (params.get("username"), params.get("key")) {
        (Some(username), _) => username.to_owned(),
        (None, Some(key)) => match shared.state().user_by_key(key) {
            Lookup::Found(user) => user.username.to_string(),
            Lookup::Deleted { .. } | Lookup::Missing => {
                return Err(ApiError::not_found(format!("No user with key {key}")))
            }
        },
        (None, None) => return Err(ApiError::bad_request("A username or key query parameter is required")),
    };
    let (groups, more) = shared.state().memberof_page(&username, start, limit).map_err(|e| shared.state_error(e))?;
    let results = groups.iter().map(|g| super::wire::group(&shared.site, g)).collect();
    Ok(Json(page(&shared.site, uri.path(), &params, start, limit, results, more)).into_response())
}

fn users_page(shared: &Shared, uri: &Uri, params: &Params, active_only: bool) -> Reply {
    let (start, limit) = params.paging(&shared.site, shared.config.user_list_default_limit)?;
    let (users, more) = shared.state().users_page(start, limit, active_only);
    let expand = params.expands("status");
    let results = users.iter().map(|u| person(&shared.site, u, expand, active_only)).collect();
    Ok(Json(page(&shared.site, uri.path(), params, start, limit, results, more)).into_response())
}

/// `GET /rest/api/user/list` (8.4+): every user, disabled ones included.
pub(crate) async fn list_users(State(shared): State<Arc<Shared>>, _caller: Authed, uri: Uri, params: Params) -> Reply {
    users_page(&shared, &uri, &params, false)
}

/// `GET /rest/api/admin/users/list/active` (9.3+): active users, with `email`. Ordered by
/// username (Confluence orders by last login, which the emulator does not track).
pub(crate) async fn list_active_users(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    uri: Uri,
    params: Params,
) -> Reply {
    users_page(&shared, &uri, &params, true)
}

const CREATE_FIELDS: [&str; 5] = ["userName", "fullName", "email", "password", "notifyViaEmail"];

/// `POST /rest/api/admin/user` (8.4+): 201 `{"userKey"}`.
pub(crate) async fn create_user(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let object = json_object(&headers, &body)?;
    reject_unknown_fields(&object, &CREATE_FIELDS)?;
    let username = string_field(&object, "userName")?;
    let full_name = string_field(&object, "fullName")?;
    let email = string_field(&object, "email")?;
    let password = string_field(&object, "password")?;
    let notify = match object.get("notifyViaEmail") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => true,
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => false,
        Some(other) => return Err(ApiError::bad_request(format!("notifyViaEmail must be a boolean, not {other}"))),
    };
    let mut errors = Vec::new();
    check_username(username.as_deref(), &mut errors);
    check_full_name(full_name.as_deref(), &mut errors);
    check_email(email.as_deref(), &mut errors);
    let password_given = password.as_deref().is_some_and(|p| !p.trim().is_empty());
    if notify && password.is_some() {
        errors.push(super::validate::FieldError {
            key: "user.password.notify",
            message: "password must not be given when notifyViaEmail is true".into(),
        });
    } else if !notify && !password_given {
        errors.push(super::validate::FieldError {
            key: "user.password.blank",
            message: "password must not be blank when notifyViaEmail is false".into(),
        });
    }
    let (Some(username), Some(full_name), Some(email), true) = (username, full_name, email, errors.is_empty()) else {
        return Err(ApiError::invalid(errors));
    };
    let password = if notify { None } else { password };
    let key = shared.state().create_user(&username, full_name, email, password).map_err(|e| shared.state_error(e))?;
    Ok((StatusCode::CREATED, Json(json!({"userKey": key.to_string()}))).into_response())
}

/// `PUT /rest/api/admin/user/{username}` (recent versions): `fullName` and/or `email`; 204.
pub(crate) async fn update_user(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    Path(username): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let object = json_object(&headers, &body)?;
    reject_unknown_fields(&object, &["fullName", "email"])?;
    let full_name = string_field(&object, "fullName")?;
    let email = string_field(&object, "email")?;
    let mut errors = Vec::new();
    if full_name.is_none() && email.is_none() {
        return Err(ApiError::bad_request("Nothing to update: give fullName and/or email"));
    }
    if full_name.is_some() {
        check_full_name(full_name.as_deref(), &mut errors);
    }
    if email.is_some() {
        check_email(email.as_deref(), &mut errors);
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    shared.state().update_user(&username, full_name, email).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /rest/api/admin/user/{username}/disable` (8.2+): idempotent, 204.
pub(crate) async fn disable_user(State(shared): State<Arc<Shared>>, _admin: Admin, Path(u): Path<String>) -> Reply {
    shared.state().set_active(&u, false).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /rest/api/admin/user/{username}/enable` (8.2+): idempotent, 204.
pub(crate) async fn enable_user(State(shared): State<Arc<Shared>>, _admin: Admin, Path(u): Path<String>) -> Reply {
    shared.state().set_active(&u, true).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /rest/api/admin/user/{username}` (8.2+): 202 with a long-task submission.
pub(crate) async fn delete_user(State(shared): State<Arc<Shared>>, _admin: Admin, Path(u): Path<String>) -> Reply {
    let id = shared.state().request_delete(&u, Instant::now()).map_err(|e| shared.state_error(e))?;
    let body = json!({"id": id.to_string(), "links": {"status": format!("/rest/api/longtask/{id}")}});
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// `GET /rest/api/longtask/{id}`.
pub(crate) async fn long_task(State(shared): State<Arc<Shared>>, _caller: Authed, Path(id): Path<String>) -> Reply {
    let task = id.parse::<u64>().ok().and_then(|id| shared.state().task(id, Instant::now()));
    let Some(task) = task else {
        return Err(ApiError::not_found(format!("No long running task found with id {id}")));
    };
    let body = json!({
        "id": task.id.to_string(),
        "name": {"key": "com.atlassian.confluence.user.delete.longtask.name", "args": []},
        "elapsedTime": task.elapsed_ms,
        "percentageComplete": task.percentage,
        "successful": task.successful,
        "messages": [],
    });
    Ok(Json(body).into_response())
}

fn required_password(object: &serde_json::Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match string_field(object, name)? {
        Some(password) if !password.trim().is_empty() => Ok(password),
        _ => Err(ApiError::bad_request(format!("{name} must not be blank"))),
    }
}

/// `POST /rest/api/admin/user/{username}/password` (8.4+): 204.
pub(crate) async fn set_password(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    Path(username): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let object = json_object(&headers, &body)?;
    reject_unknown_fields(&object, &["password"])?;
    let password = required_password(&object, "password")?;
    shared.state().set_password(&username, password).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /rest/api/user/current/password` (8.4+): 204; a wrong current password → 403.
pub(crate) async fn change_own_password(
    State(shared): State<Arc<Shared>>,
    Authed(caller): Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let object = json_object(&headers, &body)?;
    reject_unknown_fields(&object, &["oldPassword", "newPassword"])?;
    let old = string_field(&object, "oldPassword")?.unwrap_or_default();
    let new = required_password(&object, "newPassword")?;
    let mut state = shared.state();
    if state.check_credentials(&caller.account.username, &old).is_none() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "The current password is not correct"));
    }
    state.set_password(&caller.account.username, new).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT` and `DELETE /rest/api/user/{username}/group/{groupName}`: idempotent, 204.
async fn membership(shared: &Shared, username: &str, group: &str, member: bool) -> Reply {
    shared.state().set_membership(username, group, member).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn add_membership(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    Path((username, group)): Path<(String, String)>,
) -> Reply {
    membership(&shared, &username, &group, true).await
}

pub(crate) async fn remove_membership(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    Path((username, group)): Path<(String, String)>,
) -> Reply {
    membership(&shared, &username, &group, false).await
}
