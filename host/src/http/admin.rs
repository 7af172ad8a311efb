//! The admin API under `/admin/v1/`, for `usersync audit`, `usersync sync` and people's
//! own tooling. Authenticated with an admin token (`usersync token create --admin`),
//! never with an app's SCIM token.
//!
//! - `GET  /admin/v1/apps/{app}/audit?subject=&limit=` — the audit log, newest first;
//! - `GET  /admin/v1/apps/{app}/people/{id}` — what the rules decided for one person,
//!   custom fields included;
//! - `GET  /admin/v1/apps/{app}/outbox` — operations waiting (and why, when UserSync's own
//!   setup holds them), those the deprovisioning circuit breaker holds for approval,
//!   memberships parked until their group exists (with the reason), and those Confluence
//!   refused;
//! - `POST /admin/v1/apps/{app}/outbox/approve` and `.../outbox/discard` — release the
//!   operations the deprovisioning circuit breaker holds, or drop them;
//! - `POST /admin/v1/apps/{app}/sync?dryRun=true|false&waitSeconds=` — Synchronize;
//! - `GET  /admin/v1/health` — what `/healthz` tells anyone (`status`), with the details:
//!   each app's rules module and Confluence queue;
//! - `GET  /admin/v1/apps` — every app's definition (the file's are `managedBy: "file"`,
//!   read-only); `POST /admin/v1/apps` — create one (`{"app": {…a [[apps]] entry…},
//!   "moduleFrom": "other-app", "tokenLabel": "…"}`), answered with its SCIM base URL and a
//!   first token, shown once;
//! - `GET /admin/v1/apps/{app}` (with its version as the `ETag`), `PUT` (the whole
//!   definition, `If-Match` required: a stale version answers 412 with the app as it is
//!   now), `DELETE` (`If-Match` required);
//! - `POST /admin/v1/apps/{app}/dry-run` — what a changed definition would decide for a
//!   sample of the app's people, stored nothing.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{error_response, json_response, HttpState};
use crate::admin::apps::ChangeError;
use crate::admin::AdminError;
use crate::config::AppConfig;
use crate::inbound::SyncReport;
use crate::scim::error::ScimError;
use crate::store::{AuditFilter, DesiredOutcome, DesiredUser};

/// The token namespace of admin tokens (not a valid app name, so never an app's).
pub const ADMIN: &str = "@admin";

/// The error response for a request without a valid admin token, or for an unknown app.
fn refuse(state: &HttpState, headers: &HeaderMap, app: &str) -> Option<Response> {
    authorize(state, headers).or_else(|| known_app(state, app))
}

fn authorize(state: &HttpState, headers: &HeaderMap) -> Option<Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' ').filter(|(s, _)| s.eq_ignore_ascii_case("bearer")).map(|(_, t)| t.trim()))
        .filter(|t| !t.is_empty());
    match token {
        Some(t) if state.tokens.verify(ADMIN, t) => None,
        _ => {
            Some(error_response(&ScimError::unauthorized("an admin token is required (usersync token create --admin)")))
        }
    }
}

fn known_app(state: &HttpState, app: &str) -> Option<Response> {
    match state.inbound.app(app) {
        Some(_) => None,
        None => Some(error_response(&ScimError::not_found(format!("no app {app}")))),
    }
}

/// The service's health with its details (each app's module, hash and Confluence queue),
/// which the unauthenticated `/healthz` leaves out.
pub(super) async fn health(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    let (code, body) = super::health(&state);
    json_response(code, body.to_string())
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    subject: Option<String>,
    limit: Option<usize>,
}

/// An audit entry as the admin API sends it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditItem {
    at: String,
    subject: String,
    user_name: String,
    action: String,
    outcome: String,
    module: String,
    module_hash: String,
    detail: String,
}

#[derive(Serialize)]
struct AuditResponse {
    entries: Vec<AuditItem>,
}

pub(super) async fn audit(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let limit = q.limit.unwrap_or(100).min(10_000);
    let filter = AuditFilter { app: Some(app), subject: q.subject.clone(), limit, ..AuditFilter::default() };
    match state.admin.audit(filter).await {
        Ok(entries) => {
            let entries = entries
                .into_iter()
                .map(|e| AuditItem {
                    at: e.at,
                    subject: e.subject,
                    user_name: e.user_name,
                    action: e.action,
                    outcome: e.outcome,
                    module: e.module_name,
                    module_hash: e.module_hash,
                    detail: e.detail,
                })
                .collect();
            typed(StatusCode::OK, &AuditResponse { entries })
        }
        Err(e) => error_response(&ScimError::internal(e.to_string())),
    }
}

/// A typed body as JSON.
fn typed<T: Serialize>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(s) => json_response(code, s),
        Err(e) => error_response(&ScimError::internal(e.to_string())),
    }
}

/// A person's decided Confluence state as JSON.
pub fn desired_json(d: &DesiredUser) -> Value {
    let mut v =
        json!({"id": &*d.scim_id, "module": d.module_name, "moduleHash": d.module_hash, "decidedAt": d.decided_at});
    match &d.outcome {
        DesiredOutcome::Provision(a) => {
            v["outcome"] = json!("provision");
            v["confluence"] = json!({
                "username": a.username, "fullName": a.full_name, "email": a.email, "active": a.active,
                "groups": a.groups,
                "customFields": a.custom_fields.iter().map(|(k, val)| json!({"name": k, "value": val})).collect::<Vec<_>>(),
            });
        }
        DesiredOutcome::Skip { reason } => {
            v["outcome"] = json!("skip");
            v["reason"] = json!(reason);
        }
    }
    v
}

pub(super) async fn person(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let snap = state.inbound.snapshot();
    match snap.app(&app).and_then(|a| a.desired.get(id.as_str())) {
        Some(d) => json_response(StatusCode::OK, desired_json(d).to_string()),
        None => error_response(&ScimError::not_found(format!("no decision for person {id} in app {app}"))),
    }
}

pub(super) async fn outbox(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let sync = state.inbound.confluence(&app);
    let sync = sync.as_ref();
    let queued = sync.map(|s| s.outbox().len(&app));
    let held = super::held_json(sync.and_then(|s| s.held()));
    let parked: Vec<Value> = sync
        .map(|s| s.outbox().parked(&app))
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            json!({"seq": p.queued.seq, "user": p.queued.subject, "op": p.queued.op, "person": p.queued.origin,
                "group": p.group, "reason": p.reason})
        })
        .collect();
    let held_ops: Vec<Value> = sync
        .map(|s| s.outbox().held(&app))
        .unwrap_or_default()
        .into_iter()
        .map(|q| json!({"seq": q.seq, "user": q.subject, "op": q.op, "person": q.origin}))
        .collect();
    let breaker = sync.and_then(|s| s.outbox().breaker_window(&app, state.inbound.people(&app))).map(|(count, threshold, b)| {
        json!({"enabled": b.enabled, "tripped": !held_ops.is_empty(), "deprovisionsInWindow": count, "threshold": threshold,
            "windowSecs": b.window.as_secs()})
    });
    match state.admin.database().failed(Some(app.clone()), 1000).await {
        Ok(rows) => {
            let items: Vec<Value> = rows
                .into_iter()
                .map(|f| json!({"seq": f.row.seq, "user": f.row.subject, "op": serde_json::from_str::<Value>(&f.row.op).unwrap_or(Value::Null),
                    "person": f.row.origin, "queuedAt": f.row.queued_at, "failedAt": f.failed_at, "error": f.error}))
                .collect();
            json_response(
                StatusCode::OK,
                json!({"app": app, "queued": queued, "held": held, "heldForApproval": held_ops, "breaker": breaker,
                    "parked": parked, "failed": items})
                .to_string(),
            )
        }
        Err(e) => error_response(&ScimError::internal(e.to_string())),
    }
}

/// `POST .../outbox/approve`: the held operations join the outbox.
pub(super) async fn approve(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    settle(state, headers, app, true).await
}

/// `POST .../outbox/discard`: the held operations are dropped.
pub(super) async fn discard(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    settle(state, headers, app, false).await
}

/// `POST .../outbox/refused/{seq}/retry|discard`: one operation Confluence refused, queued
/// again or dropped.
pub(super) async fn settle_refused(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path((app, seq, verdict)): Path<(String, u64, String)>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let retry = match verdict.as_str() {
        "retry" => true,
        "discard" => false,
        other => return error_response(&ScimError::not_found(format!("no action {other}: retry or discard"))),
    };
    match state.admin.settle_failed("admin-api", &app, seq, retry).await {
        Ok(()) => json_response(StatusCode::OK, json!({"app": app, "seq": seq, "retried": retry}).to_string()),
        Err(e) => admin_error(&e),
    }
}

async fn settle(state: HttpState, headers: HeaderMap, app: String, approved: bool) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.inbound.settle_held(&app, approved).await {
        Ok(n) => {
            let key = if approved { "approved" } else { "discarded" };
            json_response(StatusCode::OK, json!({"app": app, key: n}).to_string())
        }
        Err(e) => error_response(&e),
    }
}

#[derive(Deserialize)]
pub(super) struct SyncQuery {
    #[serde(rename = "dryRun", default)]
    dry_run: bool,
    #[serde(rename = "waitSeconds")]
    wait_seconds: Option<u64>,
}

/// A Synchronize report as JSON.
pub fn report_json(r: &SyncReport) -> Value {
    let s = &r.summary;
    json!({
        "app": r.app,
        "dryRun": r.dry_run,
        "summary": {"people": s.people, "inStep": s.in_step, "usersCreated": s.users_created, "usersUpdated": s.users_updated,
            "usersEnabled": s.users_enabled, "usersDisabled": s.users_disabled, "groupsCreated": s.groups_created,
            "membersAdded": s.members_added, "membersRemoved": s.members_removed},
        "plan": r.plan.iter().map(|(origin, op)| json!({"person": origin, "operation": op.describe()})).collect::<Vec<_>>(),
        "failed": r.failed.iter().map(|(id, e)| json!({"person": id, "error": e})).collect::<Vec<_>>(),
    })
}

pub(super) async fn sync(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    Query(q): Query<SyncQuery>,
) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let wait = Duration::from_secs(q.wait_seconds.unwrap_or(600).min(3600));
    let progress = |line: &str| tracing::info!(%app, "synchronize: {line}");
    match state.inbound.synchronize(&app, q.dry_run, wait, &progress).await {
        Ok(report) => json_response(StatusCode::OK, report_json(&report).to_string()),
        Err(e) => error_response(&e),
    }
}

/// An admin-side refusal as a SCIM error body (a concurrent change: 412, with the app as it
/// is now under `current`).
fn change_error(e: &ChangeError) -> Response {
    match e {
        ChangeError::Changed { current, .. } => {
            let body = json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                "status": "412",
                "detail": e.to_string(),
                "current": current,
            });
            json_response(StatusCode::PRECONDITION_FAILED, body.to_string())
        }
        ChangeError::Admin(e) => admin_error(e),
    }
}

fn admin_error(e: &AdminError) -> Response {
    let scim = match e {
        AdminError::NoApp(_) => ScimError::not_found(e.to_string()),
        AdminError::Invalid(m) | AdminError::Refused(m) => ScimError::invalid_value(m.clone()),
        AdminError::ReadOnly(_) => ScimError::new(409, None, e.to_string()),
        AdminError::Store(_) => ScimError::internal(e.to_string()),
    };
    error_response(&scim)
}

/// The version `If-Match` names (`"3"`, `W/"3"` or `3`); 428 when it is missing.
fn required_if_match(headers: &HeaderMap) -> Result<u64, ScimError> {
    let Some(raw) = headers.get(header::IF_MATCH) else {
        return Err(ScimError::new(
            428,
            None,
            "If-Match is required: GET the app first and send its ETag, so that nobody's change is overwritten",
        ));
    };
    let raw = raw.to_str().unwrap_or_default().trim();
    raw.trim_start_matches("W/").trim_matches('"').parse().map_err(|_| {
        ScimError::invalid_value(format!("If-Match must name the app's version, as its ETag does, not {raw:?}"))
    })
}

/// An app definition from a request body.
fn definition_of(value: Value) -> Result<AppConfig, ScimError> {
    serde_json::from_value(value).map_err(|e| ScimError::invalid_value(format!("not an app definition: {e}")))
}

pub(super) async fn list_apps(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    match state.admin.definitions().await {
        Ok(apps) => typed(StatusCode::OK, &json!({ "apps": apps })),
        Err(e) => admin_error(&e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateApp {
    app: Value,
    #[serde(default)]
    module_from: Option<String>,
    #[serde(default)]
    token_label: Option<String>,
}

pub(super) async fn create_app(State(state): State<HttpState>, headers: HeaderMap, body: axum::body::Body) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    let value = match super::read_json(&headers, body, state.limits.max_body_bytes).await {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let request: CreateApp = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(e) => return error_response(&ScimError::invalid_value(format!("not an app to create: {e}"))),
    };
    let def = match definition_of(request.app) {
        Ok(d) => d,
        Err(e) => return error_response(&e),
    };
    let label = request.token_label.unwrap_or_else(|| "created with the app".to_owned());
    match state.admin.create_app("admin-api", def, request.module_from.as_deref(), &label).await {
        Ok(created) => typed(StatusCode::CREATED, &created),
        Err(e) => change_error(&e),
    }
}

pub(super) async fn get_app(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    match state.admin.definition(&app).await {
        Ok(d) => {
            let mut r = typed(StatusCode::OK, &d);
            if let Ok(v) = format!("\"{}\"", d.version).parse() {
                r.headers_mut().insert(header::ETAG, v);
            }
            r
        }
        Err(e) => admin_error(&e),
    }
}

pub(super) async fn put_app(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    let version = match required_if_match(&headers) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    let def = match super::read_json(&headers, body, state.limits.max_body_bytes).await.and_then(definition_of) {
        Ok(d) => d,
        Err(e) => return error_response(&e),
    };
    match state.admin.update_app("admin-api", &app, def, version).await {
        Ok(version) => typed(StatusCode::OK, &json!({ "name": app, "version": version })),
        Err(e) => change_error(&e),
    }
}

pub(super) async fn delete_app(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    let version = match required_if_match(&headers) {
        Ok(v) => v,
        Err(e) => return error_response(&e),
    };
    match state.admin.remove_app("admin-api", &app, version).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => change_error(&e),
    }
}

pub(super) async fn dry_run(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Path(app): Path<String>,
    body: axum::body::Body,
) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    let def = match super::read_json(&headers, body, state.limits.max_body_bytes).await.and_then(definition_of) {
        Ok(d) => d,
        Err(e) => return error_response(&e),
    };
    match state.admin.dry_run(&app, def).await {
        Ok(d) => typed(StatusCode::OK, &d),
        Err(e) => admin_error(&e),
    }
}
