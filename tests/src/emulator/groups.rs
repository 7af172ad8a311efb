//! Group routes (reference §1.7): list, get, members, nested members, create and delete.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::auth::{Admin, Authed};
use super::config::{GroupCreateStatus, GroupNameCase};
use super::wire::{self, json_object, page, person, reject_unknown_fields, string_field, ApiError, Params};
use super::Shared;

type Reply = Result<Response, ApiError>;

const DEFAULT_LIMIT: usize = 200;

/// `GET /rest/api/group`.
pub(crate) async fn list_groups(State(shared): State<Arc<Shared>>, _caller: Authed, uri: Uri, params: Params) -> Reply {
    let (start, limit) = params.paging(&shared.site, DEFAULT_LIMIT)?;
    let (groups, more) = shared.state().groups_page(start, limit);
    let results = groups.iter().map(|g| wire::group(&shared.site, g)).collect();
    Ok(Json(page(&shared.site, uri.path(), &params, start, limit, results, more)).into_response())
}

/// `GET /rest/api/group/{groupName}`: 404 for an unknown group (an assumption).
pub(crate) async fn get_group(State(shared): State<Arc<Shared>>, _caller: Authed, Path(name): Path<String>) -> Reply {
    let found = shared.state().group(&name);
    match found {
        Some(name) => Ok(Json(wire::group(&shared.site, &name)).into_response()),
        None => Err(ApiError::not_found(format!("No group found with name {name}"))),
    }
}

/// `GET /rest/api/group/{groupName}/member`: admins only, as the 8.x doc says.
pub(crate) async fn group_members(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    Path(name): Path<String>,
    uri: Uri,
    params: Params,
) -> Reply {
    let (start, limit) = params.paging(&shared.site, DEFAULT_LIMIT)?;
    let (users, more) = shared.state().members_page(&name, start, limit).map_err(|e| shared.state_error(e))?;
    let expand = params.expands("status");
    let results = users.iter().map(|u| person(&shared.site, u, expand, false)).collect();
    Ok(Json(page(&shared.site, uri.path(), &params, start, limit, results, more)).into_response())
}

/// `GET /rest/api/group/{groupName}/groupmember`: nested groups are not modelled, so an
/// existing group has none.
pub(crate) async fn group_group_members(
    State(shared): State<Arc<Shared>>,
    _caller: Authed,
    Path(name): Path<String>,
    uri: Uri,
    params: Params,
) -> Reply {
    let (start, limit) = params.paging(&shared.site, DEFAULT_LIMIT)?;
    if shared.state().group(&name).is_none() {
        return Err(ApiError::not_found(format!("No group found with name {name}")));
    }
    Ok(Json(page(&shared.site, uri.path(), &params, start, limit, Vec::new(), false)).into_response())
}

/// `POST /rest/api/admin/group` (8.2+): `{"name"}`, plus an ignored `type` (sent by
/// atlassian-python-api) and the newer schema's `_links`/`_expandable`.
pub(crate) async fn create_group(
    State(shared): State<Arc<Shared>>,
    _admin: Admin,
    headers: HeaderMap,
    body: Bytes,
) -> Reply {
    let object = json_object(&headers, &body)?;
    reject_unknown_fields(&object, &["name", "type", "_links", "_expandable"])?;
    let name = string_field(&object, "name")?.filter(|n| !n.trim().is_empty());
    let Some(name) = name else {
        return Err(ApiError::bad_request("A group name is required"));
    };
    let name = match shared.config.group_name_case {
        GroupNameCase::LowerCase => name.to_lowercase(),
        GroupNameCase::Reject if name.chars().any(char::is_uppercase) => {
            return Err(ApiError::bad_request(format!("Group names must be lower case: {name}")));
        }
        GroupNameCase::Reject => name,
    };
    shared.state().create_group(&name).map_err(|e| shared.state_error(e))?;
    let status = match shared.config.group_create_status {
        GroupCreateStatus::Ok => StatusCode::OK,
        GroupCreateStatus::Created => StatusCode::CREATED,
    };
    Ok((status, Json(wire::group(&shared.site, &name))).into_response())
}

/// `DELETE /rest/api/admin/group/{groupName}` (8.2+): 204; the last admin group → 400.
pub(crate) async fn delete_group(State(shared): State<Arc<Shared>>, _admin: Admin, Path(name): Path<String>) -> Reply {
    shared.state().delete_group(&name).map_err(|e| shared.state_error(e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
