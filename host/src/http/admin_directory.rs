//! `/admin/v1/apps/{app}/directory/…`: a directory app's status and runs, a run now, the
//! approval of a run the deletion threshold stopped, and the three tests.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::admin::{admin_error, refuse, typed};
use super::error::error_response;
use super::HttpState;
use crate::scim::error::ScimError;

#[derive(Debug, Deserialize)]
pub(super) struct RunsQuery {
    limit: Option<usize>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SyncBody {
    #[serde(default)]
    full: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestBody {
    user: String,
}

#[derive(Debug, Serialize)]
struct Accepted {
    app: String,
    full: bool,
}

#[derive(Debug, Serialize)]
struct Settled {
    app: String,
    run: i64,
    approved: bool,
}

#[derive(Debug, Serialize)]
struct AuthCheck {
    app: String,
    result: String,
}

/// A JSON body as `T` (bounded, media type checked), or the SCIM error to answer.
async fn body<T: DeserializeOwned>(
    state: &HttpState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<T, Response> {
    let value = super::read_json(headers, body, state.limits.max_body_bytes).await.map_err(|e| error_response(&e))?;
    serde_json::from_value(value).map_err(|e| error_response(&ScimError::invalid_value(format!("body: {e}"))))
}

/// `GET …/directory`: what the app's runner is doing.
pub(super) async fn status(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.admin.directory_status(&app) {
        Ok(s) => typed(StatusCode::OK, &s),
        Err(e) => admin_error(&e),
    }
}

/// `GET …/directory/runs?limit=N`: newest first.
pub(super) async fn runs(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.admin.directory_runs(&app, q.limit.unwrap_or(50).min(1000)).await {
        Ok(runs) => typed(StatusCode::OK, &runs),
        Err(e) => admin_error(&e),
    }
}

/// `GET …/directory/runs/{id}`: the whole report.
pub(super) async fn run(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path((app, id)): Path<(String, i64)>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.admin.directory_run(&app, id).await {
        Ok(run) => typed(StatusCode::OK, &run),
        Err(e) => admin_error(&e),
    }
}

/// `POST …/directory/runs/{id}/approve|discard`.
pub(super) async fn settle(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path((app, id, verdict)): Path<(String, i64, String)>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let approve = match verdict.as_str() {
        "approve" => true,
        "discard" => false,
        other => return error_response(&ScimError::not_found(format!("no action {other}: approve or discard"))),
    };
    match state.admin.settle_directory_run("admin-api", &app, id, approve).await {
        Ok(()) => typed(StatusCode::OK, &Settled { app, run: id, approved: approve }),
        Err(e) => admin_error(&e),
    }
}

/// `POST …/directory/sync` `{"full": true}`: a run now (202: it runs in the background).
pub(super) async fn sync(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let empty =
        headers.get(axum::http::header::CONTENT_LENGTH).is_none_or(|v| v.to_str().is_ok_and(|l| l.trim() == "0"));
    let body: SyncBody = if empty {
        SyncBody::default()
    } else {
        match self::body(&state, &headers, body).await {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    match state.admin.directory_sync("admin-api", &app, body.full).await {
        Ok(()) => typed(StatusCode::ACCEPTED, &Accepted { app, full: body.full }),
        Err(e) => admin_error(&e),
    }
}

/// `POST …/directory/test` `{"user": "ada"}`: Test Sync.
pub(super) async fn test_user(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let body: TestBody = match self::body(&state, &headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    match state.admin.directory_test_user(&app, &body.user).await {
        Ok(t) => typed(StatusCode::OK, &t),
        Err(e) => admin_error(&e),
    }
}

/// `POST …/directory/test-connection`.
pub(super) async fn test_connection(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.admin.directory_test_connection(&app).await {
        Ok(c) => typed(StatusCode::OK, &c),
        Err(e) => admin_error(&e),
    }
}

/// `POST …/directory/test-auth`.
pub(super) async fn test_auth(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.admin.directory_test_auth(&app).await {
        Ok(result) => typed(StatusCode::OK, &AuthCheck { app, result }),
        Err(e) => admin_error(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordBody {
    password: String,
}

#[derive(Debug, Serialize)]
struct PasswordSet {
    app: String,
    /// Never the password itself.
    stored: bool,
}

/// `PUT …/directory/password` `{"password": "…"}`: the bind password of a directory app
/// made through the admin side, stored write-only; the runner restarts with it.
pub(super) async fn set_password(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    // Not the parser's message: it could quote what was sent.
    let body: PasswordBody = match self::body(&state, &headers, body).await {
        Ok(b) => b,
        Err(_) => return error_response(&ScimError::invalid_value("body: {\"password\": \"…\"} expected")),
    };
    match state.admin.set_directory_password("admin-api", &app, &body.password).await {
        Ok(()) => typed(StatusCode::OK, &PasswordSet { app, stored: true }),
        Err(e) => admin_error(&e),
    }
}
