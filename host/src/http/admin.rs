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
use serde_json::Value;

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
pub(super) fn refuse(state: &HttpState, headers: &HeaderMap, app: &str) -> Option<Response> {
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
pub(super) fn typed<T: Serialize>(code: StatusCode, body: &T) -> Response {
    match serde_json::to_string(body) {
        Ok(s) => json_response(code, s),
        Err(e) => error_response(&ScimError::internal(e.to_string())),
    }
}

/// A person's decided Confluence state, as the admin API sends it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionBody<'a> {
    id: &'a str,
    module: &'a str,
    module_hash: &'a str,
    decided_at: &'a str,
    /// `provision` or `skip`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    confluence: Option<AccountBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountBody<'a> {
    username: &'a str,
    full_name: &'a str,
    email: &'a str,
    active: bool,
    groups: &'a [String],
    custom_fields: Vec<NameValue<'a>>,
}

#[derive(Serialize)]
struct NameValue<'a> {
    name: &'a str,
    value: &'a str,
}

/// A person's decided Confluence state, typed for the admin API and the CLI.
pub fn decision_body(d: &DesiredUser) -> DecisionBody<'_> {
    let (outcome, confluence, reason) = match &d.outcome {
        DesiredOutcome::Provision(a) => (
            "provision",
            Some(AccountBody {
                username: &a.username,
                full_name: &a.full_name,
                email: &a.email,
                active: a.active,
                groups: &a.groups,
                custom_fields: a.custom_fields.iter().map(|(name, value)| NameValue { name, value }).collect(),
            }),
            None,
        ),
        DesiredOutcome::Skip { reason } => ("skip", None, Some(reason.as_str())),
    };
    DecisionBody {
        id: &d.scim_id,
        module: &d.module_name,
        module_hash: &d.module_hash,
        decided_at: &d.decided_at,
        outcome,
        confluence,
        reason,
    }
}

/// A person's decided Confluence state as JSON.
pub fn desired_json(d: &DesiredUser) -> Value {
    serde_json::to_value(decision_body(d)).unwrap_or(Value::Null)
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
        Some(d) => typed(StatusCode::OK, &decision_body(d)),
        None => error_response(&ScimError::not_found(format!("no decision for person {id} in app {app}"))),
    }
}

/// An operation waiting, held or parked, as the admin API sends it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OpBody {
    seq: u64,
    user: String,
    op: crate::sync::Op,
    person: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// An operation Confluence refused.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FailedBody {
    seq: u64,
    user: String,
    /// The operation (as stored; `null` if it no longer reads).
    op: Value,
    person: String,
    queued_at: String,
    failed_at: String,
    error: String,
}

/// The deprovisioning circuit breaker's window.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BreakerBody {
    enabled: bool,
    tripped: bool,
    deprovisions_in_window: usize,
    threshold: usize,
    window_secs: u64,
}

/// `GET .../outbox`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutboxBody {
    app: String,
    queued: Option<usize>,
    held: Value,
    held_for_approval: Vec<OpBody>,
    breaker: Option<BreakerBody>,
    parked: Vec<OpBody>,
    failed: Vec<FailedBody>,
}

pub(super) async fn outbox(State(state): State<HttpState>, headers: HeaderMap, Path(app): Path<String>) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    let sync = state.inbound.confluence(&app);
    let sync = sync.as_ref();
    let queued = sync.map(|s| s.outbox().len(&app));
    let held = super::held_json(sync.and_then(|s| s.held()));
    let parked: Vec<OpBody> = sync
        .map(|s| s.outbox().parked(&app))
        .unwrap_or_default()
        .into_iter()
        .map(|p| OpBody {
            seq: p.queued.seq,
            user: p.queued.subject,
            op: p.queued.op,
            person: p.queued.origin,
            group: Some(p.group),
            reason: Some(p.reason),
        })
        .collect();
    let held_ops: Vec<OpBody> = sync
        .map(|s| s.outbox().held(&app))
        .unwrap_or_default()
        .into_iter()
        .map(|q| OpBody { seq: q.seq, user: q.subject, op: q.op, person: q.origin, group: None, reason: None })
        .collect();
    let breaker =
        sync.and_then(|s| s.outbox().breaker_window(&app, state.inbound.people(&app))).map(|(count, threshold, b)| {
            BreakerBody {
                enabled: b.enabled,
                tripped: !held_ops.is_empty(),
                deprovisions_in_window: count,
                threshold,
                window_secs: b.window.as_secs(),
            }
        });
    match state.admin.database().failed(Some(app.clone()), 1000).await {
        Ok(rows) => {
            let failed = rows
                .into_iter()
                .map(|f| FailedBody {
                    seq: f.row.seq,
                    user: f.row.subject,
                    op: serde_json::from_str::<Value>(&f.row.op).unwrap_or(Value::Null),
                    person: f.row.origin,
                    queued_at: f.row.queued_at,
                    failed_at: f.failed_at,
                    error: f.error,
                })
                .collect();
            typed(
                StatusCode::OK,
                &OutboxBody { app, queued, held, held_for_approval: held_ops, breaker, parked, failed },
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
        Ok(()) => typed(StatusCode::OK, &RefusedSettled { app, seq, retried: retry }),
        Err(e) => admin_error(&e),
    }
}

/// `POST .../outbox/refused/{seq}/...`.
#[derive(Serialize)]
struct RefusedSettled {
    app: String,
    seq: u64,
    retried: bool,
}

/// `POST .../outbox/approve|discard`: how many held operations were released.
#[derive(Serialize)]
struct HeldSettled {
    app: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discarded: Option<usize>,
}

async fn settle(state: HttpState, headers: HeaderMap, app: String, approved: bool) -> Response {
    if let Some(r) = refuse(&state, &headers, &app) {
        return r;
    }
    match state.inbound.settle_held(&app, approved).await {
        Ok(n) => {
            let (approved, discarded) = if approved { (Some(n), None) } else { (None, Some(n)) };
            typed(StatusCode::OK, &HeldSettled { app, approved, discarded })
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

/// A Synchronize report, as the admin API sends it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportBody<'a> {
    app: &'a str,
    dry_run: bool,
    summary: SummaryBody,
    plan: Vec<PlannedBody<'a>>,
    failed: Vec<FailedPersonBody<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SummaryBody {
    people: usize,
    in_step: usize,
    users_created: usize,
    users_updated: usize,
    users_enabled: usize,
    users_disabled: usize,
    groups_created: usize,
    members_added: usize,
    members_removed: usize,
}

#[derive(Serialize)]
struct PlannedBody<'a> {
    person: &'a str,
    operation: String,
}

#[derive(Serialize)]
struct FailedPersonBody<'a> {
    person: &'a str,
    error: &'a str,
}

/// A Synchronize report, typed for the admin API and the CLI.
pub fn report_body(r: &SyncReport) -> ReportBody<'_> {
    let s = &r.summary;
    ReportBody {
        app: &r.app,
        dry_run: r.dry_run,
        summary: SummaryBody {
            people: s.people,
            in_step: s.in_step,
            users_created: s.users_created,
            users_updated: s.users_updated,
            users_enabled: s.users_enabled,
            users_disabled: s.users_disabled,
            groups_created: s.groups_created,
            members_added: s.members_added,
            members_removed: s.members_removed,
        },
        plan: r.plan.iter().map(|(origin, op)| PlannedBody { person: origin, operation: op.describe() }).collect(),
        failed: r.failed.iter().map(|(id, e)| FailedPersonBody { person: id, error: e }).collect(),
    }
}

/// A Synchronize report as JSON.
pub fn report_json(r: &SyncReport) -> Value {
    serde_json::to_value(report_body(r)).unwrap_or(Value::Null)
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
        Ok(report) => typed(StatusCode::OK, &report_body(&report)),
        Err(e) => error_response(&e),
    }
}

/// A change refused because the app changed meanwhile: a SCIM error body with the app as
/// it is now.
#[derive(Serialize)]
struct ChangedBody<'a> {
    schemas: [&'static str; 1],
    status: &'static str,
    detail: String,
    current: Option<&'a crate::admin::apps::AppDefinition>,
}

/// An admin-side refusal as a SCIM error body (a concurrent change: 412, with the app as it
/// is now under `current`).
fn change_error(e: &ChangeError) -> Response {
    match e {
        ChangeError::Changed { current, .. } => typed(
            StatusCode::PRECONDITION_FAILED,
            &ChangedBody {
                schemas: ["urn:ietf:params:scim:api:messages:2.0:Error"],
                status: "412",
                detail: e.to_string(),
                current: current.as_deref(),
            },
        ),
        ChangeError::Admin(e) => admin_error(e),
    }
}

pub(super) fn admin_error(e: &AdminError) -> Response {
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

/// `GET /admin/v1/apps`.
#[derive(Serialize)]
struct AppsBody {
    apps: Vec<crate::admin::apps::AppDefinition>,
}

/// `PUT /admin/v1/apps/{app}`: the version the change made.
#[derive(Serialize)]
struct SavedBody {
    name: String,
    version: u64,
}

pub(super) async fn list_apps(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(r) = authorize(&state, &headers) {
        return r;
    }
    match state.admin.definitions().await {
        Ok(apps) => typed(StatusCode::OK, &AppsBody { apps }),
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
        Ok(version) => typed(StatusCode::OK, &SavedBody { name: app, version }),
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
