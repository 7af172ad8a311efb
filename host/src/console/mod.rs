//! The admin console at `/console/`: server-rendered HTML (maud) on the application
//! services of [`crate::admin`], with a vendored htmx for progressive enhancement. Every
//! form works without JavaScript.
//!
//! Who may use it: local administrator accounts (`usersync admin create`), with server-side
//! sessions in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict) that end after an
//! idle time and at a fixed time after the login. Every state-changing request carries the
//! session's CSRF token and, from a browser, an `Origin` of this server. Viewers read
//! everything but secrets and change nothing. Failed logins are throttled per account and
//! per address. Without TLS in front, logins are accepted from loopback only.

mod apps;
mod directory;
mod directory_form;
mod pages;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::admin::{Admin, AdminError, Role};
use crate::config::ConsoleConfig;
use crate::http::ClientAddr;
use crate::store::AuditFilter;

/// The session cookie. `__Host-`: only set by this host, over a secure connection, for `/`.
pub const COOKIE: &str = "__Host-usersync";

/// The largest form body the console reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    pub admin: Arc<Admin>,
    pub config: ConsoleConfig,
    /// `scheme://host[:port]` of the public URL: the `Origin` browsers send from the console.
    pub origin: String,
    /// The server terminates TLS itself (`[server] tls_cert`).
    pub tls: bool,
}

/// The logged-in administrator of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub username: String,
    pub role: Role,
    pub csrf: String,
}

impl Session {
    pub fn can_change(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The console's routes, every one under `/console/`.
pub fn router(state: ConsoleState) -> Router {
    let authed = Router::new()
        .route("/console/", get(apps))
        .route("/console/apps/new", get(apps::new_app_page).post(apps::create_app))
        .route("/console/apps/{app}", get(app_page))
        .route("/console/apps/{app}/directory/settings", get(directory::settings_page).post(directory::save_settings))
        .route("/console/apps/{app}/directory/test-connection", post(directory::test_connection))
        .route("/console/apps/{app}/directory/test-auth", post(directory::test_auth))
        .route("/console/apps/{app}/directory/test-sync", post(directory::test_sync))
        .route("/console/apps/{app}/directory/sync", post(directory::run_now))
        .route("/console/apps/{app}/directory/runs/{id}", get(directory::run_page))
        .route("/console/apps/{app}/directory/runs-live", get(directory::runs_live))
        .route("/console/apps/{app}/directory/runs/{id}/{verdict}", post(directory::settle_run))
        .route("/console/apps/{app}/settings", get(apps::settings_page).post(apps::save_settings))
        .route("/console/apps/{app}/remove", post(apps::remove_app))
        .route("/console/apps/{app}/tokens", post(create_token))
        .route("/console/apps/{app}/tokens/rotate", post(rotate_token))
        .route("/console/apps/{app}/tokens/{id}/revoke", post(revoke_token))
        .route("/console/apps/{app}/rules", get(rules_page))
        .route("/console/apps/{app}/rules/try", post(try_rules))
        .route(
            "/console/apps/{app}/rules/upload",
            post(upload_module).layer(DefaultBodyLimit::max(crate::admin::MAX_MODULE_BYTES + 64 * 1024)),
        )
        .route("/console/apps/{app}/rules/rollback", post(roll_back))
        .route("/console/apps/{app}/rules/install", post(install_staged))
        .route("/console/apps/{app}/outbox", get(outbox_page))
        .route("/console/apps/{app}/outbox/{verdict}", post(settle))
        .route("/console/apps/{app}/refused/{seq}/{verdict}", post(settle_refused))
        .route("/console/apps/{app}/sync", get(sync_page).post(sync_run))
        .route("/console/apps/{app}/sync/progress", get(sync_progress))
        .route("/console/apps/{app}/people/{id}", get(person_page))
        .route("/console/people", get(people_page))
        .route("/console/confluence", get(confluence_page))
        .route("/console/confluence", post(confluence_save))
        .route("/console/confluence/test", post(confluence_test))
        .route("/console/audit", get(audit_page))
        .route("/console/audit.csv", get(audit_csv))
        .route("/console/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_session));
    Router::new()
        .route("/console/login", get(login_page).post(login))
        .route("/console/assets/{file}", get(asset))
        .merge(authed)
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/{*rest}", get(not_found).post(not_found))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let host = rest.split('/').next().unwrap_or_default();
    format!("{}://{}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn random_secret() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn session_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// Whether a state-changing request comes from this server's own pages: `Origin` (sent by
/// every current browser on a POST) must be the public URL's origin or that of the `Host`
/// the request was sent to. A request without `Origin` (not from a browser) is judged by
/// its CSRF token alone.
fn same_origin(state: &ConsoleState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let origin = origin.to_ascii_lowercase();
    if origin == state.origin {
        return true;
    }
    headers.get(header::HOST).and_then(|v| v.to_str().ok()).is_some_and(|host| {
        origin == format!("http://{}", host.to_ascii_lowercase())
            || origin == format!("https://{}", host.to_ascii_lowercase())
    })
}

/// Loads the session (or sends the browser to the login page), and for a POST checks the
/// origin and the CSRF token (`csrf` form field or `X-CSRF-Token` header).
async fn require_session(State(state): State<ConsoleState>, mut req: Request, next: Next) -> Response {
    let is_post = req.method() == axum::http::Method::POST;
    let found = match cookie_value(req.headers()) {
        Some(secret) => {
            let idle = i64::try_from(state.config.session_idle_minutes.saturating_mul(60)).unwrap_or(i64::MAX);
            let t = now();
            state.admin.database().session(session_key(&secret), t, t.saturating_sub(idle)).await
        }
        None => Ok(None),
    };
    let session = match found {
        Ok(Some(row)) => match Role::parse(&row.role) {
            Some(role) => Session { username: row.username, role, csrf: row.csrf },
            None => return pages::error(StatusCode::FORBIDDEN, "this account has no role the console knows"),
        },
        Ok(None) => {
            if is_post {
                return pages::error(StatusCode::UNAUTHORIZED, "your session has ended: log in again");
            }
            let next_path = req.uri().path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
            let target = format!(
                "/console/login?next={}",
                form_urlencoded::byte_serialize(next_path.as_bytes()).collect::<String>()
            );
            return Redirect::to(&target).into_response();
        }
        Err(e) => return pages::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot read sessions: {e}")),
    };
    if is_post {
        if !same_origin(&state, req.headers()) {
            return pages::error(StatusCode::FORBIDDEN, "this form was sent from another site; nothing was changed");
        }
        // The token is in a header (htmx), in the query (a file upload's form, whose body
        // is multipart and read by its handler), or in the form, which must then be read here.
        let header_token = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let query_token = req
            .uri()
            .query()
            .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()));
        let multipart = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("multipart/form-data"));
        let (parts, body) = req.into_parts();
        let (body, form_token) = if multipart {
            (body, None)
        } else {
            let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(b) => b,
                Err(_) => return pages::error(StatusCode::PAYLOAD_TOO_LARGE, "the form is too large"),
            };
            let token = form_urlencoded::parse(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned());
            (axum::body::Body::from(bytes), token)
        };
        let presented = header_token.or(query_token).or(form_token).unwrap_or_default();
        if !bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes())) || presented.is_empty() {
            // An upload's body is read (within its limit) and dropped first, so the client
            // gets the refusal rather than a connection closed under its request.
            if multipart {
                let _ = axum::body::to_bytes(body, crate::admin::MAX_MODULE_BYTES + 64 * 1024).await;
            }
            return pages::error(
                StatusCode::FORBIDDEN,
                "the form's security token is missing or stale: reload the page and try again; nothing was changed",
            );
        }
        // Logging out, "Try it" (which runs the module and stores nothing) and the tests
        // of a connection (which change nothing) are open to viewers.
        let path = parts.uri.path();
        let harmless = path.ends_with("/logout")
            || path.ends_with("/rules/try")
            || path == "/console/confluence/test"
            || (path.starts_with("/console/apps/")
                && ["/directory/test-connection", "/directory/test-auth", "/directory/test-sync"]
                    .iter()
                    .any(|t| path.ends_with(t)));
        if !session.can_change() && !harmless {
            return pages::error(StatusCode::FORBIDDEN, "a viewer account cannot change anything");
        }
        req = Request::from_parts(parts, body);
    }
    req.extensions_mut().insert(session);
    next.run(req).await
}

/// Headers on every console response: no caching, no framing, scripts and styles only
/// from this server.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

const HTMX: &[u8] = include_bytes!("assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("assets/console.css");
const JS: &[u8] = include_bytes!("assets/console.js");

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        "console.css" => (CSS, "text/css; charset=utf-8"),
        _ => return pages::error(StatusCode::NOT_FOUND, "no such file"),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn not_found() -> Response {
    pages::error(StatusCode::NOT_FOUND, "there is no such page")
}

pub(crate) fn admin_error(e: &AdminError) -> Response {
    let code = match e {
        AdminError::NoApp(_) => StatusCode::NOT_FOUND,
        AdminError::Invalid(_) | AdminError::Refused(_) => StatusCode::BAD_REQUEST,
        AdminError::ReadOnly(_) => StatusCode::CONFLICT,
        AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    pages::error(code, &e.to_string())
}

#[derive(Deserialize, Default)]
struct LoginQuery {
    next: Option<String>,
}

async fn login_page(Query(q): Query<LoginQuery>) -> Response {
    pages::login(q.next.as_deref(), None, "")
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// Where to go after logging in: a console path, nothing else (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/console/") && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/console/".to_owned(),
    }
}

async fn login(
    State(state): State<ConsoleState>,
    addr: Option<axum::Extension<ClientAddr>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let address = addr.map(|a| a.0 .0);
    let username = form.username.trim().to_lowercase();
    let next = form.next.as_deref();
    if !same_origin(&state, &headers) {
        return pages::login(next, Some("this form was sent from another site"), &username)
            .with_status(StatusCode::FORBIDDEN);
    }
    if !state.tls && !state.config.behind_tls_proxy && address.is_some_and(|a| !a.is_loopback()) {
        return pages::login(
            next,
            Some("logins are accepted from this machine only, since this server has no TLS: set [server] tls_cert and tls_key, or put a TLS proxy in front and set [console] behind_tls_proxy = true"),
            &username,
        )
        .with_status(StatusCode::FORBIDDEN);
    }
    if let Some(wait) = state.admin.logins.wait(&username, address) {
        let message = format!("too many failed logins: try again in {} s", wait.as_secs().max(1));
        let mut r = pages::login(next, Some(&message), &username).with_status(StatusCode::TOO_MANY_REQUESTS);
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        return r;
    }
    let role = match state.admin.check_password(&username, &form.password).await {
        Ok(Some(role)) => role,
        Ok(None) => {
            state.admin.logins.failed(&username, address);
            tracing::info!(account = %username, address = ?address, "console login refused");
            return pages::login(next, Some("wrong account name or password"), &username)
                .with_status(StatusCode::UNAUTHORIZED);
        }
        Err(e) => return admin_error(&e),
    };
    state.admin.logins.succeeded(&username);
    let (Some(secret), Some(csrf)) = (random_secret(), random_secret()) else {
        return pages::error(StatusCode::INTERNAL_SERVER_ERROR, "no randomness for a session");
    };
    let t = now();
    let hours = i64::try_from(state.config.session_hours.saturating_mul(3600)).unwrap_or(i64::MAX);
    let opened = state
        .admin
        .database()
        .open_session(
            session_key(&secret),
            username.clone(),
            csrf,
            t,
            t.saturating_add(hours),
            address.map(|a| a.to_string()).unwrap_or_default(),
        )
        .await;
    if let Err(e) = opened {
        return pages::error(StatusCode::INTERNAL_SERVER_ERROR, &format!("cannot store the session: {e}"));
    }
    tracing::info!(account = %username, role = role.as_str(), "console login");
    let cookie = format!("{COOKIE}={secret}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}", hours.max(0));
    let mut r = Redirect::to(&safe_next(next)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout(State(state): State<ConsoleState>, headers: HeaderMap) -> Response {
    if let Some(secret) = cookie_value(&headers) {
        if let Err(e) = state.admin.database().close_session(session_key(&secret)).await {
            tracing::warn!(error = %e, "cannot end a console session");
        }
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-usersync=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"),
    );
    r
}

pub(crate) type Sess = axum::Extension<Session>;

async fn apps(State(state): State<ConsoleState>, axum::Extension(s): Sess) -> Response {
    let apps = state.admin.apps();
    // A directory app is not called by an identity provider: when it last ran instead.
    let last_runs: std::collections::HashMap<String, String> = apps
        .iter()
        .filter(|a| a.kind == crate::config::IdpKind::Ldap.as_str())
        .filter_map(|a| {
            let last = state.admin.directory_status(&a.name).ok()?.last_run?;
            Some((a.name.clone(), last.split_once(": ").map_or(last.clone(), |(when, _)| when.to_owned())))
        })
        .collect();
    pages::apps(&s, &apps, &last_runs)
}

async fn app_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // A directory app has no SCIM base URL or tokens: its page is its Directory tab.
    if state.admin.app(&app).is_ok_and(|a| a.kind == crate::config::IdpKind::Ldap.as_str()) {
        return directory::app_page(&state, &s, &app, &query).await;
    }
    match (state.admin.app(&app), state.admin.tokens(&app).await) {
        (Ok(a), Ok(tokens)) => pages::app(&s, &a, &tokens, None, None),
        (Err(e), _) | (_, Err(e)) => admin_error(&e),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    password: String,
    /// The token to rotate.
    #[serde(default)]
    id: String,
}

/// Creates a token after the administrator re-enters their password; the page shows it once.
async fn create_token(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let made = state.admin.create_token(&s.username, &app, &form.label);
    with_password(&state, &s, &app, &form.password, "no token was made", made).await
}

/// Rotates a token after the administrator re-enters their password; the page shows the
/// new one once.
async fn rotate_token(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<TokenForm>,
) -> Response {
    let made = state.admin.rotate_token(&s.username, &app, &form.id);
    with_password(&state, &s, &app, &form.password, "nothing was rotated", made).await
}

/// Runs `make` (which makes a token: its id and secret) only if `password` is the
/// administrator's, and shows the app's page with the secret once, or why not.
async fn with_password(
    state: &ConsoleState,
    s: &Session,
    app: &str,
    password: &str,
    otherwise: &str,
    make: impl std::future::Future<Output = Result<(String, String), AdminError>>,
) -> Response {
    let overview = match state.admin.app(app) {
        Ok(a) => a,
        Err(e) => return admin_error(&e),
    };
    let reauth = match state.admin.check_password(&s.username, password).await {
        Ok(role) => role.is_some(),
        Err(e) => return admin_error(&e),
    };
    let (created, problem) = if reauth {
        match make.await {
            Ok(t) => (Some(t), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, Some(format!("your password was not right: {otherwise}")))
    };
    let tokens = match state.admin.tokens(app).await {
        Ok(t) => t,
        Err(e) => return admin_error(&e),
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    pages::app(s, &overview, &tokens, created.as_ref(), problem.as_deref()).with_status(status)
}

async fn revoke_token(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    match state.admin.revoke_token(&s.username, &app, &id).await {
        Ok(()) => Redirect::to(&format!("/console/apps/{}", pages::path_segment(&app))).into_response(),
        Err(e) => admin_error(&e),
    }
}

async fn rules_page(State(state): State<ConsoleState>, axum::Extension(s): Sess, Path(app): Path<String>) -> Response {
    match state.admin.app(&app) {
        Ok(a) => pages::rules_page(&s, &a, &state.admin.module_history(&app).unwrap_or_default(), None, None),
        Err(e) => admin_error(&e),
    }
}

#[derive(Deserialize)]
struct TryForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    json: String,
}

/// "Try it": the three decisions for a stored person or pasted JSON; nothing is stored.
/// A POST (it runs the module), open to viewers too: it changes nothing.
async fn try_rules(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<TryForm>,
) -> Response {
    let overview = match state.admin.app(&app) {
        Ok(a) => a,
        Err(e) => return admin_error(&e),
    };
    let history = state.admin.module_history(&app).unwrap_or_default();
    let trial = if form.json.trim().is_empty() {
        crate::admin::Trial::Stored(form.person.clone())
    } else {
        crate::admin::Trial::Json(form.json.clone())
    };
    match state.admin.try_rules(&app, trial).await {
        Ok(d) => pages::rules_page(&s, &overview, &history, Some((&form.person, &form.json, Ok(&d))), None),
        Err(e) => {
            pages::rules_page(&s, &overview, &history, Some((&form.person, &form.json, Err(&e.to_string()))), None)
                .with_status(StatusCode::BAD_REQUEST)
        }
    }
}

/// The rules page after an upload or a roll-back: the outcome, then the page.
async fn rules_after(state: &ConsoleState, s: &Session, app: &str, outcome: Result<String, AdminError>) -> Response {
    let overview = match state.admin.app(app) {
        Ok(a) => a,
        Err(e) => return admin_error(&e),
    };
    let history = state.admin.module_history(app).unwrap_or_default();
    match outcome {
        Ok(hash) => pages::rules_page(s, &overview, &history, None, Some(pages::ModuleOutcome::Installed(&hash))),
        Err(e) => pages::rules_page(s, &overview, &history, None, Some(pages::ModuleOutcome::Refused(&e.to_string())))
            .with_status(StatusCode::BAD_REQUEST),
    }
}

/// A new module for the app, from a file upload: validated and self-tested before it is
/// swapped in; one that fails changes nothing.
async fn upload_module(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let mut bytes = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("module") => match field.bytes().await {
                Ok(b) => bytes = Some(b.to_vec()),
                Err(e) => {
                    return rules_after(&state, &s, &app, Err(AdminError::Invalid(format!("the upload failed: {e}"))))
                        .await
                }
            },
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                return rules_after(&state, &s, &app, Err(AdminError::Invalid(format!("the upload failed: {e}")))).await
            }
        }
    }
    let staged = match bytes.filter(|b| !b.is_empty()) {
        Some(b) => state.admin.stage_module(&app, b).await,
        None => Err(AdminError::Invalid("choose a .wasm file to upload".into())),
    };
    match staged {
        Err(e) => rules_after(&state, &s, &app, Err(e)).await,
        Ok(staged) => match state.admin.app(&app) {
            Ok(overview) => {
                let history = state.admin.module_history(&app).unwrap_or_default();
                pages::rules_page(&s, &overview, &history, None, Some(pages::ModuleOutcome::Staged(&staged)))
            }
            Err(e) => admin_error(&e),
        },
    }
}

/// Serves an upload that was checked and reviewed ("Install this module").
async fn install_staged(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Response {
    let outcome = state.admin.install_kept(&s.username, &app, &form.hash, "uploaded").await;
    rules_after(&state, &s, &app, outcome).await
}

#[derive(Deserialize)]
struct RollbackForm {
    hash: String,
}

async fn roll_back(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<RollbackForm>,
) -> Response {
    let outcome = state.admin.roll_back(&s.username, &app, &form.hash).await;
    rules_after(&state, &s, &app, outcome).await
}

async fn confluence_page(State(state): State<ConsoleState>, axum::Extension(s): Sess) -> Response {
    pages::confluence(&s, state.admin.confluence().await.as_ref(), None)
}

#[derive(Deserialize)]
struct ConnectionFields {
    #[serde(default)]
    url: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    save_untested: Option<String>,
}

/// "Test and save": a new Confluence URL or sign-in, tested, saved and used at once.
async fn confluence_save(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Form(f): Form<ConnectionFields>,
) -> Response {
    let form = crate::admin::connection::ConnectionForm {
        url: f.url,
        kind: f.kind,
        username: f.username,
        secret: f.secret,
        save_untested: f.save_untested.is_some(),
    };
    let outcome = state.admin.save_connection(&s.username, form).await.map_err(|e| e.to_string());
    let page = state.admin.confluence().await;
    let status = if outcome.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let shown = outcome.as_deref().map(|m| format!("Saved and in use. {m}"));
    pages::confluence(&s, page.as_ref(), Some(shown.as_deref().map_err(|e| e.as_str()))).with_status(status)
}

/// "Test connection": an authenticated call; open to viewers (it changes nothing).
async fn confluence_test(State(state): State<ConsoleState>, axum::Extension(s): Sess) -> Response {
    let outcome = state.admin.test_confluence().await.map_err(|e| e.to_string());
    let page = state.admin.confluence().await;
    let status = if outcome.is_ok() { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    pages::confluence(&s, page.as_ref(), Some(outcome.as_deref().map_err(String::as_str))).with_status(status)
}

async fn outbox_page(State(state): State<ConsoleState>, axum::Extension(s): Sess, Path(app): Path<String>) -> Response {
    match (state.admin.app(&app), state.admin.outbox(&app).await) {
        (Ok(a), Ok(o)) => pages::outbox(&s, &a, &o, None),
        (Err(e), _) | (_, Err(e)) => admin_error(&e),
    }
}

async fn settle(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, verdict)): Path<(String, String)>,
) -> Response {
    let approved = match verdict.as_str() {
        "approve" => true,
        "discard" => false,
        _ => return not_found().await,
    };
    let done = state.admin.settle_held(&s.username, &app, approved).await;
    let note = match &done {
        Ok(n) => format!("{} {n} held operations", if approved { "Approved" } else { "Discarded" }),
        Err(e) => e.to_string(),
    };
    match (state.admin.app(&app), state.admin.outbox(&app).await) {
        (Ok(a), Ok(o)) => pages::outbox(&s, &a, &o, Some(&note)),
        (Err(e), _) | (_, Err(e)) => admin_error(&e),
    }
}

/// Retry or discard one operation Confluence refused.
async fn settle_refused(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, seq, verdict)): Path<(String, u64, String)>,
) -> Response {
    let retry = match verdict.as_str() {
        "retry" => true,
        "discard" => false,
        _ => return not_found().await,
    };
    let note = match state.admin.settle_failed(&s.username, &app, seq, retry).await {
        Ok(()) if retry => format!("Operation #{seq} is queued again."),
        Ok(()) => format!("Operation #{seq} was discarded."),
        Err(e) => e.to_string(),
    };
    match (state.admin.app(&app), state.admin.outbox(&app).await) {
        (Ok(a), Ok(o)) => pages::outbox(&s, &a, &o, Some(&note)),
        (Err(e), _) | (_, Err(e)) => admin_error(&e),
    }
}

async fn sync_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Query(query): Query<pages::PlanQuery>,
) -> Response {
    match state.admin.app(&app) {
        Ok(a) => pages::sync(&s, &a, state.admin.sync_run(&app).as_ref(), None, &query),
        Err(e) => admin_error(&e),
    }
}

/// The run's progress (or, once done, its report), for the page's htmx poll.
async fn sync_progress(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
) -> Response {
    let base = format!("/console/apps/{}", pages::path_segment(&app));
    match state.admin.sync_run(&app) {
        Some(run) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            pages::sync_run(&s, &base, &run, &pages::PlanQuery::default()).into_string(),
        )
            .into_response(),
        None => pages::error(StatusCode::NOT_FOUND, "no Synchronize has run since the start"),
    }
}

#[derive(Deserialize)]
struct SyncForm {
    #[serde(default)]
    mode: String,
}

/// How long the console waits for a Synchronize.
const SYNC_WAIT: Duration = Duration::from_secs(600);

/// Starts a Synchronize (or its dry run) in the background; the page then shows its
/// progress and, once done, its report.
async fn sync_run(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<SyncForm>,
) -> Response {
    let overview = match state.admin.app(&app) {
        Ok(a) => a,
        Err(e) => return admin_error(&e),
    };
    let dry_run = form.mode != "run";
    match state.admin.start_synchronize(&s.username, &app, dry_run, SYNC_WAIT) {
        Ok(()) => Redirect::to(&format!("/console/apps/{}/sync", pages::path_segment(&app))).into_response(),
        Err(e) => pages::sync(
            &s,
            &overview,
            state.admin.sync_run(&app).as_ref(),
            Some(&e.to_string()),
            &pages::PlanQuery::default(),
        )
        .with_status(StatusCode::BAD_REQUEST),
    }
}

async fn person_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    match state.admin.person(&app, &id).await {
        Ok(p) => pages::person(&s, &p),
        Err(AdminError::Invalid(m)) => pages::error(StatusCode::NOT_FOUND, &m),
        Err(e) => admin_error(&e),
    }
}

#[derive(Deserialize, Default)]
struct PeopleQuery {
    #[serde(default)]
    q: String,
    app: Option<String>,
}

async fn people_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    headers: HeaderMap,
    Query(q): Query<PeopleQuery>,
) -> Response {
    let app = q.app.as_deref().filter(|a| !a.is_empty());
    let hits = if q.q.trim().is_empty() { Vec::new() } else { state.admin.search_people(&q.q, app) };
    let apps = state.admin.app_names();
    // htmx asks for the results alone as the query is typed.
    let partial = headers.contains_key("hx-request");
    pages::people(&s, &q.q, app, &apps, &hits, partial)
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    app: Option<String>,
    person: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

impl AuditQuery {
    fn filter(&self, limit: usize) -> AuditFilter {
        let keep = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        AuditFilter {
            app: keep(&self.app),
            subject: None,
            person: keep(&self.person),
            action: keep(&self.action),
            since: keep(&self.since),
            until: keep(&self.until),
            limit,
        }
    }
}

/// Entries the audit page shows; the CSV export has more.
const AUDIT_PAGE: usize = 200;
const AUDIT_CSV: usize = 100_000;

async fn audit_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Query(q): Query<AuditQuery>,
) -> Response {
    let filter = state.admin.sharpen(q.filter(AUDIT_PAGE));
    let apps = state.admin.app_names();
    match state.admin.audit(filter.clone()).await {
        Ok(entries) => pages::audit(&s, &filter, &apps, &entries),
        Err(e) => admin_error(&e),
    }
}

async fn audit_csv(State(state): State<ConsoleState>, Query(q): Query<AuditQuery>) -> Response {
    match state.admin.audit(state.admin.sharpen(q.filter(AUDIT_CSV))).await {
        Ok(entries) => {
            let mut out = String::from("at,app,subject,user_name,action,outcome,module,module_hash,detail\r\n");
            for e in &entries {
                let fields = [
                    &e.at,
                    &e.app,
                    &e.subject,
                    &e.user_name,
                    &e.action,
                    &e.outcome,
                    &e.module_name,
                    &e.module_hash,
                    &e.detail,
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                out.push_str(&line.join(","));
                out.push_str("\r\n");
            }
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"usersync-audit.csv\""),
                ],
                out,
            )
                .into_response()
        }
        Err(e) => admin_error(&e),
    }
}

/// A CSV field (RFC 4180), defused for spreadsheets: a value starting with `=`, `+`, `-`
/// or `@` is prefixed with `'` so it is not run as a formula.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_owned() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// A response with another status.
trait WithStatus {
    fn with_status(self, status: StatusCode) -> Response;
}

impl WithStatus for Response {
    fn with_status(mut self, status: StatusCode) -> Response {
        *self.status_mut() = status;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
    }

    #[test]
    fn next_is_a_console_path_only() {
        assert_eq!(safe_next(Some("/console/audit?app=a")), "/console/audit?app=a");
        assert_eq!(safe_next(Some("https://evil.example/")), "/console/");
        assert_eq!(safe_next(Some("//evil.example/console/")), "/console/");
        assert_eq!(safe_next(None), "/console/");
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(origin_of("https://Sync.Example.com/base"), "https://sync.example.com");
    }
}
