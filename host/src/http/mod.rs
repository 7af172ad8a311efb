//! The HTTP surface: the SCIM endpoints of every app under `/scim/v2/<app>`, `/healthz` (the
//! status only), and the admin API under `/admin/v1/` ([`admin`]); the accept loop with its
//! timeouts and connection cap ([`listen`], [`connection`]) and the throttles ([`throttle`]).
//!
//! One middleware authenticates the app's bearer token and chooses the response media type
//! (`application/scim+json`, or `application/json` where the client's `Accept` asks for it or
//! the app's IdP kind needs it); one error type becomes the SCIM error body. Unknown paths
//! answer 404 and wrong methods 405, both as SCIM errors. Before routing, the same
//! middleware forgives what clients send that the RFC's spelling does not allow: a
//! trailing slash (`/Users/`) and endpoint names in another case (`/users`, `/groups`).
//! Every error it writes is a SCIM error body, axum's rejections included; what hyper refuses
//! while parsing a head it answers itself (see the README, "Errors hyper answers itself").
//!
//! **Architecture invariant:** handlers only translate HTTP to [`Inbound`] calls and back.

pub mod admin;
mod admin_directory;
mod bulk;
mod connection;
mod discovery;
mod error;
pub mod listen;
mod resources;
pub mod throttle;
pub mod tls;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;

use crate::config::IdpKind;
use crate::inbound::{App, Inbound};
use crate::scim::error::{ScimError, ScimResult};
use crate::store::tokens::TokenVerifier;
pub use connection::{ClientAddr, Timeouts};
pub use error::error_response;
pub use listen::{serve, serve_tls, ListenSettings};
use throttle::{Refusal, Throttle, Throttled};

/// Request targets (path and query) longer than this are answered 414. Long enough for a
/// filter of several hundred terms.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// Request heads (target and header fields) larger than this are answered 431 (hyper
/// refuses from 64 KiB itself, with an empty body).
pub const MAX_HEADER_BYTES: usize = 48 * 1024;
/// Requests with more header fields than this are answered 431.
pub const MAX_HEADER_FIELDS: usize = 64;

/// Limits the HTTP layer enforces.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub bulk_max_operations: usize,
    pub bulk_max_payload_bytes: usize,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct HttpState {
    pub inbound: Arc<Inbound>,
    pub tokens: Arc<TokenVerifier>,
    pub limits: HttpLimits,
    /// The admin side's services (audit log, outbox, Synchronize) behind `/admin/v1/`.
    pub admin: std::sync::Arc<crate::admin::Admin>,
    /// Failed-authentication throttles and each app's request rate limit.
    pub throttle: Arc<Throttle>,
}

/// The media type a response is sent as, chosen per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaType {
    ScimJson,
    Json,
}

impl MediaType {
    fn header(self) -> HeaderValue {
        match self {
            MediaType::ScimJson => HeaderValue::from_static("application/scim+json; charset=utf-8"),
            MediaType::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    /// `Accept` decides when it names exactly one of the two types; otherwise the IdP kind
    /// does (OneLogin documents that "all responses must be of type application/json").
    fn negotiate(accept: Option<&str>, kind: Option<IdpKind>) -> MediaType {
        if let Some(accept) = accept.map(str::to_ascii_lowercase) {
            let scim = accept.contains("application/scim+json");
            let json = accept.split(',').any(|p| p.trim().starts_with("application/json"));
            if scim && !json {
                return MediaType::ScimJson;
            }
            if json && !scim {
                return MediaType::Json;
            }
        }
        match kind {
            Some(IdpKind::Onelogin) => MediaType::Json,
            _ => MediaType::ScimJson,
        }
    }
}

/// The router with every route and middleware. The middleware wraps the routes (they are
/// the outer router's fallback), so it sees each request before it is routed.
pub fn router(state: HttpState) -> Router {
    let scim = Router::new()
        .route("/scim/v2/{app}/Users", get(resources::list_users).post(resources::create_user))
        .route(
            "/scim/v2/{app}/Users/{id}",
            get(resources::get_user)
                .put(resources::replace_user)
                .patch(resources::patch_user)
                .delete(resources::delete_user),
        )
        .route("/scim/v2/{app}/Groups", get(resources::list_groups).post(resources::create_group))
        .route(
            "/scim/v2/{app}/Groups/{id}",
            get(resources::get_group)
                .put(resources::replace_group)
                .patch(resources::patch_group)
                .delete(resources::delete_group),
        )
        .route("/scim/v2/{app}/Users/.search", post(resources::search_users))
        .route("/scim/v2/{app}/Groups/.search", post(resources::search_groups))
        .route("/scim/v2/{app}/.search", post(resources::search_all))
        .route("/scim/v2/{app}/Bulk", post(bulk::bulk))
        .route("/scim/v2/{app}/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/scim/v2/{app}/ResourceTypes", get(discovery::resource_types))
        .route("/scim/v2/{app}/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/scim/v2/{app}/Schemas", get(discovery::schemas))
        .route("/scim/v2/{app}/Schemas/{id}", get(discovery::schema))
        .method_not_allowed_fallback(method_not_allowed);

    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/admin/v1/health", get(admin::health))
        .route("/admin/v1/apps", get(admin::list_apps).post(admin::create_app))
        .route("/admin/v1/apps/{app}", get(admin::get_app).put(admin::put_app).delete(admin::delete_app))
        .route("/admin/v1/apps/{app}/dry-run", post(admin::dry_run))
        .route("/admin/v1/apps/{app}/audit", get(admin::audit))
        .route("/admin/v1/apps/{app}/people/{id}", get(admin::person))
        .route("/admin/v1/apps/{app}/outbox", get(admin::outbox))
        .route("/admin/v1/apps/{app}/outbox/approve", post(admin::approve))
        .route("/admin/v1/apps/{app}/outbox/discard", post(admin::discard))
        .route("/admin/v1/apps/{app}/outbox/refused/{seq}/{verdict}", post(admin::settle_refused))
        .route("/admin/v1/apps/{app}/sync", post(admin::sync))
        .route("/admin/v1/apps/{app}/directory", get(admin_directory::status))
        .route("/admin/v1/apps/{app}/directory/runs", get(admin_directory::runs))
        .route("/admin/v1/apps/{app}/directory/runs/{id}", get(admin_directory::run))
        .route("/admin/v1/apps/{app}/directory/runs/{id}/{verdict}", post(admin_directory::settle))
        .route("/admin/v1/apps/{app}/directory/sync", post(admin_directory::sync))
        .route("/admin/v1/apps/{app}/directory/test", post(admin_directory::test_user))
        .route("/admin/v1/apps/{app}/directory/test-connection", post(admin_directory::test_connection))
        .route("/admin/v1/apps/{app}/directory/test-auth", post(admin_directory::test_auth))
        .route("/admin/v1/apps/{app}/directory/password", axum::routing::put(admin_directory::set_password))
        .merge(scim)
        .fallback(not_found)
        .with_state(state.clone());
    Router::new().fallback_service(routes).layer(middleware::from_fn_with_state(state, scim_edge))
}

/// The endpoints under an app's base URL, as RFC 7644 spells them.
const ENDPOINTS: &[&str] = &["Users", "Groups", "Bulk", "ServiceProviderConfig", "ResourceTypes", "Schemas", ".search"];

/// The RFC spelling of a path under `/scim/v2/<app>/` that a client spelled otherwise:
/// the endpoint name in another case (`users`, `GROUPS`, `serviceproviderconfig`) and a
/// trailing slash (`/Users/`, `/Users/{id}/`). `None` when the path is already canonical
/// or is not a SCIM path. Resource ids and the app's name are left as they are.
fn canonical_scim_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/scim/v2/")?;
    let (app, endpoint) = rest.split_once('/')?;
    let trimmed = endpoint.strip_suffix('/').unwrap_or(endpoint);
    if trimmed.is_empty() {
        return None;
    }
    let (name, tail) = trimmed.split_once('/').map_or((trimmed, None), |(n, t)| (n, Some(t)));
    let canonical = ENDPOINTS.iter().find(|e| e.eq_ignore_ascii_case(name)).copied().unwrap_or(name);
    // `/Users/.search` in any case; other second segments are ids, kept as sent.
    let canonical_tail = tail.map(|t| if t.eq_ignore_ascii_case(".search") { ".search" } else { t });
    // Every request passes here: no allocation unless something changes.
    if canonical == name && canonical_tail == tail && trimmed.len() == endpoint.len() {
        return None;
    }
    Some(match canonical_tail {
        Some(tail) => format!("/scim/v2/{app}/{canonical}/{tail}"),
        None => format!("/scim/v2/{app}/{canonical}"),
    })
}

/// Replaces the request's path by `path`, keeping its query.
fn set_path(req: &mut Request, path: &str) {
    let uri = req.uri();
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Liveness for anyone: `{"status": ...}` and its code from [`health`], nothing else (no
/// app names, module hashes or queue depths: the SCIM edge does not reveal which apps
/// exist). The details are `GET /admin/v1/health`, with an admin token.
async fn healthz(State(state): State<HttpState>) -> Response {
    let (code, body) = health(&state);
    let status = serde_json::json!({"status": body["status"]});
    let mut response = (code, status.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The service's health and its details: `200` with `"status": "ok"` when every app that
/// names a module has one serving (`"degraded"` when a newer file failed to load and the
/// previous version still serves), `503` with `"unavailable"` while an app has none, since
/// its SCIM writes are refused until it loads. `rules` names each app's module; `confluence`
/// lists each app's queued operations, the memberships parked because their group does not
/// exist in Confluence (`missingGroups`; also `"degraded"`), the operations the
/// deprovisioning circuit breaker holds for approval (`heldForApproval`; also
/// `"degraded"`), while Confluence is failing how long the app still waits, and `held`: why
/// its operations wait although Confluence answers (UserSync's credentials rejected, say;
/// also `"degraded"`).
pub(crate) fn health(state: &HttpState) -> (StatusCode, Value) {
    let modules = state.inbound.rules().map(|r| r.registry().status()).unwrap_or_default();
    let serving = modules.iter().all(|m| m.module.is_some());
    let failing = modules.iter().any(|m| m.last_error.is_some());
    let status = match (serving, failing) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let rules: Vec<Value> = modules
        .iter()
        .map(|m| {
            serde_json::json!({
                "app": m.app,
                "module": m.module.as_ref().map(|id| id.name.clone()),
                "hash": m.module.as_ref().map(|id| id.hash.clone()),
                "loadedAt": m.loaded_at.map(crate::clock::system_time_rfc3339),
                "reloads": m.reloads,
                "lastError": m.last_error,
                "world": m.world,
                "settings": m.declaration.as_ref().map(|d| d.iter().map(|s| serde_json::json!({
                    "key": s.key,
                    "kind": s.kind.to_string(),
                    "default": s.default.as_ref().map(crate::rules::declaration::render_value),
                    "help": s.help,
                })).collect::<Vec<_>>()),
            })
        })
        .collect();
    let mut parked_anywhere = false;
    let mut confluence: Vec<Value> = state
        .inbound
        .confluence_apps()
        .into_iter()
        .map(|(app, sync)| {
            let parked = sync.outbox().parked(&app);
            let mut missing = sync.outbox().parked_groups(&app);
            missing.extend(sync.needed_groups().missing);
            missing.sort();
            missing.dedup();
            parked_anywhere |= !missing.is_empty();
            let held_for_approval = sync.outbox().held(&app).len();
            parked_anywhere |= held_for_approval > 0;
            serde_json::json!({
                "app": app,
                "queued": sync.outbox().len(&app),
                "heldForApproval": held_for_approval,
                "parked": parked.len(),
                "missingGroups": missing,
                "pausedForMs": sync.paused_for().map(|d| d.as_millis() as u64),
                "held": held_json(sync.held()),
            })
        })
        .collect();
    let held_anywhere = state.inbound.confluence_apps().iter().any(|(_, sync)| sync.held().is_some());
    // Directory apps: a failing run or one waiting for approval makes the service degraded.
    let mut directory_trouble = false;
    let directories: Vec<Value> = state
        .admin
        .directory_apps()
        .into_iter()
        .filter_map(|app| {
            let s = state.admin.directory_status(&app).ok()?;
            directory_trouble |= s.last_error.is_some() || s.awaiting_approval.is_some();
            Some(serde_json::json!({
                "app": app,
                "strategy": s.strategy,
                "persistConnected": s.persist_connected,
                "running": s.running,
                "lastRun": s.last_run,
                "lastError": s.last_error,
                "awaitingApproval": s.awaiting_approval,
            }))
        })
        .collect();
    let status =
        if status == "ok" && (parked_anywhere || held_anywhere || directory_trouble) { "degraded" } else { status };
    confluence.sort_by(|a, b| a["app"].as_str().cmp(&b["app"].as_str()));
    let code = if serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, serde_json::json!({"status": status, "rules": rules, "confluence": confluence, "directories": directories}))
}

/// Why an app's Confluence operations wait although Confluence answers (`null` when they
/// do not): `/healthz` and the admin API's outbox.
pub(crate) fn held_json(hold: Option<crate::sync::Hold>) -> Value {
    match hold {
        Some(h) => serde_json::json!({
            "problem": h.problem.as_str(), "reason": h.reason(), "detail": h.detail, "since": h.since,
        }),
        None => Value::Null,
    }
}

async fn not_found(method: Method, uri: axum::http::Uri) -> Response {
    error_response(&ScimError::not_found(format!("no endpoint {method} {}", uri.path())))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    error_response(&ScimError::new(405, None, format!("{method} is not allowed on {}", uri.path())))
}

/// Every request passes here before routing: refuses targets and heads over the limits
/// (414, 431), throttles failed authentication and each app's requests (429), authenticates
/// requests under `/scim/v2/<app>/` and attaches the [`App`], makes any error a SCIM error
/// body, sets the response media type, and logs.
async fn scim_edge(State(state): State<HttpState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let client = req.extensions().get::<ClientAddr>().map(|c| c.0);
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut app_kind = None;
    let mut app_name = None;
    // Refusals of unauthenticated requests are counted by the throttle, not logged one by one.
    let mut summarised = false;

    let response = if let Err(e) = check_head(&req) {
        error_response(&e)
    } else {
        if let Some(canonical) = canonical_scim_path(&path) {
            set_path(&mut req, &canonical);
        }
        if let Some(rest) = path.strip_prefix("/scim/v2/") {
            let name = rest.split('/').next().unwrap_or_default();
            match state.throttle.admit(client, name) {
                Err(t) => {
                    summarised = true;
                    state.throttle.refused(Refusal::AuthThrottled, client, name);
                    too_many_requests(&t)
                }
                Ok(()) => match authenticate(&state, name, req.headers()) {
                    Ok(app) => {
                        state.throttle.succeeded(client, name);
                        app.seen();
                        app_kind = Some(app.kind);
                        app_name = Some(app.name.clone());
                        match state.throttle.request(client, name, app.rate_limit) {
                            Err(t) => {
                                summarised = true;
                                too_many_requests(&t)
                            }
                            Ok(()) => {
                                req.extensions_mut().insert(app);
                                next.run(req).await
                            }
                        }
                    }
                    Err(e) => {
                        summarised = true;
                        state.throttle.failed(client, name);
                        let mut r = error_response(&e);
                        r.headers_mut()
                            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"usersync\""));
                        r
                    }
                },
            }
        } else if path.starts_with("/admin/") {
            // The admin API checks its token itself; its failures count here.
            match state.throttle.admit(client, admin::ADMIN) {
                Err(t) => {
                    summarised = true;
                    state.throttle.refused(Refusal::AuthThrottled, client, admin::ADMIN);
                    too_many_requests(&t)
                }
                Ok(()) => {
                    let r = next.run(req).await;
                    if r.status() == StatusCode::UNAUTHORIZED {
                        summarised = true;
                        state.throttle.failed(client, admin::ADMIN);
                    } else if r.status() != StatusCode::TOO_MANY_REQUESTS {
                        state.throttle.succeeded(client, admin::ADMIN);
                    }
                    r
                }
            }
        } else {
            next.run(req).await
        }
    };

    let mut response = scim_error_body(response).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if is_json {
        let media = MediaType::negotiate(accept.as_deref(), app_kind);
        response.headers_mut().insert(header::CONTENT_TYPE, media.header());
    }
    let status = response.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let app = app_name.as_deref().unwrap_or("-");
    if status.is_server_error() {
        tracing::error!(%method, %path, app, status = status.as_u16(), ms, "request failed");
    } else if status.is_client_error() && !summarised {
        tracing::info!(%method, %path, app, status = status.as_u16(), ms, "request refused");
    } else {
        tracing::debug!(%method, %path, app, status = status.as_u16(), ms, "request");
    }
    response
}

/// The request's target and head within [`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`] and
/// [`MAX_HEADER_FIELDS`]. hyper's own limits are higher, so what it lets through is
/// answered here with a SCIM error body.
fn check_head(req: &Request) -> ScimResult<()> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return Err(ScimError::new(414, None, format!("the request target is longer than {MAX_URI_BYTES} bytes")));
    }
    let headers = req.headers();
    let bytes: usize = target + headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum::<usize>();
    if headers.len() > MAX_HEADER_FIELDS || bytes > MAX_HEADER_BYTES {
        return Err(ScimError::new(
            431,
            None,
            format!(
                "the request's headers are too large: at most {MAX_HEADER_FIELDS} fields and {MAX_HEADER_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

/// 429 with `Retry-After` (whole seconds), as identity providers honour it.
fn too_many_requests(t: &Throttled) -> Response {
    let secs = t.retry_after_secs();
    let mut r = error_response(&ScimError::new(429, None, format!("{}; retry after {secs} s", t.detail)));
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// An error response that is not JSON (axum's rejections: a path segment that is not
/// UTF-8 once percent-decoded, a query that does not parse, ...) made a SCIM error body,
/// keeping its status and its text as the detail.
async fn scim_error_body(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.contains("json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match http_body_util::Limited::new(body, 4096).collect().await {
        Ok(bytes) => String::from_utf8_lossy(&bytes.to_bytes()).trim().chars().take(300).collect::<String>(),
        Err(_) => String::new(),
    };
    let detail = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { text };
    let mut rebuilt = error_response(&ScimError::new(status.as_u16(), None, detail));
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().append(name.clone(), value.clone());
        }
    }
    rebuilt
}

/// Resolves the app named in the path and checks its bearer token. Unknown apps get the
/// same 401 as bad tokens, so the server does not reveal which app names exist.
fn authenticate(state: &HttpState, app: &str, headers: &HeaderMap) -> ScimResult<Arc<App>> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(ScimError::unauthorized("a bearer token is required (Authorization: Bearer <token>)"));
    };
    match state.inbound.app(app) {
        Some(a) if state.tokens.verify(app, token) => Ok(a.clone()),
        _ => Err(ScimError::unauthorized("the bearer token is not valid for this SCIM base URL")),
    }
}

/// Reads a JSON request body: media type checked (415), size bounded (413), UTF-8 and JSON
/// syntax checked, duplicate keys included (400 `invalidSyntax`).
pub(crate) async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> ScimResult<Value> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        if essence != "application/scim+json" && essence != "application/json" {
            return Err(ScimError::new(
                415,
                None,
                format!("Content-Type must be application/scim+json or application/json, not {essence:?}"),
            ));
        }
    }
    if let Some(len) = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok()) {
        if len > limit {
            return Err(too_large(limit));
        }
    }
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                too_large(limit)
            } else if connection::is_body_timeout(&*e) {
                ScimError::new(408, None, "the request body did not arrive in time; send it whole, promptly")
            } else {
                ScimError::invalid_syntax("the request body could not be read")
            }
        })?
        .to_bytes();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax("the request body is empty"));
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|_| ScimError::invalid_syntax("the request body is not valid UTF-8"))?;
    // A key twice in one object is refused, not read as its last value.
    crate::scim::json::parse_body(text)
}

fn too_large(limit: usize) -> ScimError {
    ScimError::payload_too_large(format!("the request body is larger than {limit} bytes"))
}

/// A JSON response with the placeholder media type that [`scim_edge`] rewrites.
pub(crate) fn json_response(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, MediaType::ScimJson.header());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_paths_get_the_rfc_spelling() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/scim/v2/a/Users", None),
            ("/scim/v2/a/Users/", Some("/scim/v2/a/Users")),
            ("/scim/v2/a/users", Some("/scim/v2/a/Users")),
            ("/scim/v2/a/users/", Some("/scim/v2/a/Users")),
            ("/scim/v2/a/GROUPS/G-1/", Some("/scim/v2/a/Groups/G-1")),
            ("/scim/v2/a/groups/G-1", Some("/scim/v2/a/Groups/G-1")),
            ("/scim/v2/a/Users/AbC", None),
            ("/scim/v2/a/users/.SEARCH", Some("/scim/v2/a/Users/.search")),
            ("/scim/v2/a/.Search", Some("/scim/v2/a/.search")),
            ("/scim/v2/a/serviceproviderconfig", Some("/scim/v2/a/ServiceProviderConfig")),
            ("/scim/v2/a/resourcetypes/User", Some("/scim/v2/a/ResourceTypes/User")),
            ("/scim/v2/a/schemas/", Some("/scim/v2/a/Schemas")),
            ("/scim/v2/a/bulk", Some("/scim/v2/a/Bulk")),
            ("/scim/v2/OneLogin/users", Some("/scim/v2/OneLogin/Users")),
            ("/scim/v2/a/Nothing/", Some("/scim/v2/a/Nothing")),
            ("/scim/v2/a/", None),
            ("/scim/v2/a", None),
            ("/healthz", None),
            ("/admin/v1/apps/a/audit/", None),
        ];
        for (path, expected) in cases {
            assert_eq!(canonical_scim_path(path).as_deref(), *expected, "{path}");
        }
    }

    #[test]
    fn media_type_negotiation() {
        use MediaType::*;
        assert_eq!(MediaType::negotiate(Some("application/scim+json"), Some(IdpKind::Onelogin)), ScimJson);
        assert_eq!(MediaType::negotiate(Some("application/json"), Some(IdpKind::Entra)), Json);
        assert_eq!(MediaType::negotiate(None, Some(IdpKind::Onelogin)), Json);
        assert_eq!(MediaType::negotiate(Some("*/*"), Some(IdpKind::Okta)), ScimJson);
        assert_eq!(
            MediaType::negotiate(Some("application/scim+json, application/json"), Some(IdpKind::Onelogin)),
            Json
        );
        assert_eq!(
            MediaType::negotiate(Some("application/scim+json, application/json"), Some(IdpKind::Entra)),
            ScimJson
        );
    }
}
