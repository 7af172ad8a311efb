//! A directory (LDAP / Active Directory) app in the console: its Directory tab (the
//! runner's state, a run waiting for approval with Approve and Discard, Test connection,
//! Test authentication, Test Sync, a run now, and the runs), a run's report, the Directory
//! settings tab (`[apps.directory]` edited against the version the administrator opened),
//! and "Add new app" for a directory.
//!
//! The tests change nothing, so viewers may run them (as "Try it" on the Rules tab);
//! everything else is refused to them by the session middleware.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::apps::{conflict_page, new_definition, wizard, Draft};
use super::directory_form::{self, Errors, Fields, FormView, PASSWORD};
use super::pages::{csrf, page, path_segment, respond, tabs};
use super::{admin_error, ConsoleState, Sess, Session};
use crate::admin::apps::{AppDefinition, ChangeError};
use crate::admin::directory::{RunDetail, RunView};
use crate::admin::directory_console::PasswordSource;
use crate::admin::{AdminError, AppOverview};
use crate::config::{valid_app_name, AppConfig, DirectoryConfig, IdpKind};
use crate::directory::report::Item;
use crate::directory::test_sync::{ConnectionCheck, TestSync};
use crate::directory::DirectoryStatus;

/// Runs listed on the Directory tab.
const RUNS_SHOWN: usize = 50;

fn base(app: &str) -> String {
    format!("/console/apps/{}", path_segment(app))
}

/// What the Directory tab shows of the app.
struct DirectoryView {
    overview: AppOverview,
    definition: AppDefinition,
    /// The runner's state; why there is none (it failed to start).
    status: Result<DirectoryStatus, String>,
    runs: Vec<RunView>,
    password: PasswordSource,
}

impl DirectoryView {
    fn directory(&self) -> Option<DirectoryConfig> {
        self.definition.definition.get("directory").and_then(|d| serde_json::from_value(d.clone()).ok())
    }
}

async fn gather(state: &ConsoleState, app: &str) -> Result<DirectoryView, AdminError> {
    let overview = state.admin.app(app)?;
    let definition = state.admin.definition(app).await?;
    let status = state.admin.directory_status(app).map_err(|e| e.to_string());
    let runs = if status.is_ok() { state.admin.directory_runs(app, RUNS_SHOWN).await? } else { Vec::new() };
    let password = state.admin.directory_password_source(app).await?;
    Ok(DirectoryView { overview, definition, status, runs, password })
}

/// What a button on the Directory tab came back with.
enum Outcome {
    Nothing,
    Connection(Result<ConnectionCheck, String>),
    Auth(Result<String, String>),
    TestSync { login: String, result: Result<Box<TestSync>, String> },
    Problem(String),
}

/// The Directory tab.
pub(super) async fn app_page(
    state: &ConsoleState,
    s: &Session,
    app: &str,
    query: &HashMap<String, String>,
) -> Response {
    let notice = match query.get("done").map(String::as_str) {
        Some("created") => Some(
            "The app is made and its first full sync has started: its people appear in the runs below once it ends."
                .to_owned(),
        ),
        Some("full") => Some(
            "A full sync was asked for: it runs in the background and appears in the runs below when it ends."
                .to_owned(),
        ),
        Some("incremental") => Some(
            "An incremental run was asked for: it runs in the background (one that finds no change is not listed)."
                .to_owned(),
        ),
        Some("approved") => Some(format!(
            "Run #{} is approved: the full sync runs again now and may deprovision up to the people its report listed.",
            query.get("run").map_or("", String::as_str)
        )),
        Some("discarded") => Some(format!(
            "Run #{} is discarded: nothing of it was applied.",
            query.get("run").map_or("", String::as_str)
        )),
        _ => None,
    };
    render(state, s, app, notice.as_deref(), Outcome::Nothing, StatusCode::OK).await
}

async fn render(
    state: &ConsoleState,
    s: &Session,
    app: &str,
    notice: Option<&str>,
    outcome: Outcome,
    status: StatusCode,
) -> Response {
    match gather(state, app).await {
        Ok(view) => respond(status, page(s, &view.overview.name, "apps", directory_tab(s, &view, notice, &outcome))),
        Err(e) => admin_error(&e),
    }
}

fn badge(status: &str) -> Markup {
    let class = match status {
        "succeeded" => "ok",
        "failed" => "bad",
        "awaiting_approval" => "warn",
        _ => "muted",
    };
    html! { span class={"badge " (class)} { (status.replace('_', " ")) } }
}

/// Why a run waits for approval: its summary past the counts (which, for a run that
/// applied nothing, count what it would have done).
fn why_waiting(run: &RunView) -> String {
    let why = run.summary.split_once(": ").map_or(run.summary.as_str(), |(_, why)| why);
    let mut chars = why.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn password_text(p: &PasswordSource) -> Markup {
    match p {
        PasswordSource::Stored => html! { "a password is stored" },
        PasswordSource::Missing => html! { span.problem { "no password stored" } },
        PasswordSource::Env(var) => html! { "from the environment variable " code { (var) } },
        PasswordSource::File(file) => html! { "from the file " code { (file) } },
    }
}

fn directory_tab(s: &Session, v: &DirectoryView, notice: Option<&str>, outcome: &Outcome) -> Markup {
    let a = &v.overview;
    let base = base(&a.name);
    let cfg = v.directory();
    let awaiting: Vec<&RunView> = v.runs.iter().filter(|r| r.status == "awaiting_approval").collect();
    html! {
        (tabs(a, "directory"))
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Outcome::Problem(p) = outcome { p.problem role="alert" { (p) } }
        @for run in &awaiting {
            section.approval role="alert" aria-labelledby={"approval-" (run.id)} {
                h2 #{"approval-" (run.id)} { "Run #" (run.id) " is waiting for your approval" }
                p { "This full sync would deprovision more people than the deletion threshold allows, so it stopped before applying anything." }
                p { strong { (why_waiting(run)) } }
                div.actions {
                    a.button.secondary href={(base) "/directory/runs/" (run.id)} { "See who would be deprovisioned" }
                    @if s.can_change() {
                        form method="post" action={(base) "/directory/runs/" (run.id) "/approve"} {
                            (csrf(s)) button.primary type="submit" { "Approve and apply" }
                        }
                        form method="post" action={(base) "/directory/runs/" (run.id) "/discard"} {
                            (csrf(s)) button.danger type="submit" { "Discard" }
                        }
                    } @else {
                        span.muted { "An administrator can approve or discard it." }
                    }
                }
            }
        }
        p.muted { "This app reads its people and groups from the directory below, on its own schedule, and takes no SCIM writes: it has no SCIM base URL or token to give anyone." }
        section {
            h2 { "Status" }
            @match &v.status {
                Err(e) => { p.problem role="alert" { "The directory runner is not running: " (e) } }
                Ok(st) => {
                    dl.facts {
                        @if let Some(c) = &cfg {
                            dt { "Server" } dd { @for (i, u) in c.urls.iter().enumerate() { @if i > 0 { ", " } code { (u) } } @if c.starttls { " (StartTLS)" } }
                            dt { "Binds as" } dd { @if let Some(dn) = &c.bind_dn { code { (dn) } " · " (password_text(&v.password)) } @else { "anonymous" } }
                            dt { "People from" } dd { code { (c.user_base) } }
                            dt { "Schedule" } dd { "incremental every " (c.incremental_interval_secs) " s, a full sync every " (c.full_interval_secs) " s" }
                        }
                        dt { "Strategy" }
                        dd {
                            @if st.strategy.is_empty() { "not known yet" } @else { code { (st.strategy) } }
                            @if cfg.as_ref().is_some_and(|c| c.strategy.is_none()) { " (detected from the server)" } @else { " (chosen in the settings)" }
                        }
                        @if st.strategy == "syncrepl_persist" {
                            dt { "Persistent search" }
                            dd { @if st.persist_connected { span.badge.ok { "connected" } " changes arrive as they are made" } @else { span.badge.warn { "not connected" } " polling until it holds again" } }
                        }
                        dt { "Now" } dd { @if st.running { span.badge.warn { "running" } } @else { "idle" } }
                        dt { "Last run" }
                        dd {
                            @match (&st.last_run, v.runs.first()) {
                                (Some(last), _) => { (last) }
                                (None, Some(r)) => { (r.finished_at) " " (r.kind) ": " (r.summary) }
                                (None, None) => { "none yet" }
                            }
                        }
                        dt { "Last error" } dd { @if let Some(e) = &st.last_error { span.problem { (e) } } @else { "none" } }
                    }
                    @if s.can_change() {
                        div.actions {
                            form method="post" action={(base) "/directory/sync"} {
                                (csrf(s)) input type="hidden" name="full" value="1"; button.primary type="submit" { "Run a full sync now" }
                            }
                            form method="post" action={(base) "/directory/sync"} {
                                (csrf(s)) input type="hidden" name="full" value="0"; button.secondary type="submit" { "Run incremental now" }
                            }
                            a.button.secondary href={(base) "/directory/settings"} { "Change the directory settings" }
                        }
                    }
                }
            }
        }
        section #tests {
            h2 { "Test the connection" }
            p.muted { "Test connection reaches the server (TCP, then TLS) and reads its root DSE; Test authentication binds with the app's DN and password. Neither changes anything." }
            div.actions {
                form method="post" action={(base) "/directory/test-connection#tests"} { (csrf(s)) button.secondary type="submit" { "Test connection" } }
                form method="post" action={(base) "/directory/test-auth#tests"} { (csrf(s)) button.secondary type="submit" { "Test authentication" } }
            }
            @match outcome {
                Outcome::Connection(Ok(c)) => { (connection_result(c)) }
                Outcome::Connection(Err(e)) => { p.problem role="alert" { "Test connection failed: " (e) } }
                Outcome::Auth(Ok(m)) => { p.notice role="status" { "Authentication works: " (m) "." } }
                Outcome::Auth(Err(e)) => { p.problem role="alert" { "Test authentication failed: " (e) } }
                _ => {}
            }
        }
        section #test-sync {
            h2 { "Test Sync" }
            p.muted {
                "Looks one person up by "
                @if let Some(c) = &cfg { code { (c.username_attribute()) } } @else { "the username attribute" }
                " and shows their attributes (decoded), their groups, and what the rules module would decide. Nothing is stored or sent to Confluence."
            }
            @let login = if let Outcome::TestSync { login, .. } = outcome { login.as_str() } else { "" };
            form.inline method="post" action={(base) "/directory/test-sync#test-sync"} {
                (csrf(s))
                label for="test-user" { "Username" }
                input #test-user name="user" type="text" value=(login) required autocomplete="off" spellcheck="false";
                button.primary type="submit" { "Search user" }
            }
            @if let Outcome::TestSync { result, .. } = outcome {
                @match result {
                    Err(e) => { p.problem role="alert" { (e) } }
                    Ok(t) => { (test_sync_result(t)) }
                }
            }
        }
        (runs_section(&base, &v.runs, live_until(v, notice.is_some())))
    }
}

/// How long the runs list keeps refreshing itself: while the runner works, and for a
/// minute after a run was asked for (until a newer run is listed); `None`: it does not.
fn live_until(v: &DirectoryView, asked: bool) -> Option<Live> {
    let running = v.status.as_ref().is_ok_and(|st| st.running);
    (running || asked).then(|| Live { after: v.runs.first().map_or(0, |r| r.id), until: unix_now() + LIVE_SECS })
}

/// A self-refreshing runs list: refreshed until a run newer than `after` is listed and the
/// runner is idle, or `until` (Unix seconds) has passed.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(super) struct Live {
    after: i64,
    until: u64,
}

/// How long the list refreshes itself after a run was asked for (a run that finds no change
/// is not listed, so there may be nothing to wait for).
const LIVE_SECS: u64 = 60;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn runs_section(base: &str, runs: &[RunView], live: Option<Live>) -> Markup {
    let poll = live.map(|l| format!("{base}/directory/runs-live?after={}&until={}", l.after, l.until));
    html! {
        section #runs aria-live="polite" hx-get=[poll.as_deref()] hx-trigger=[poll.as_ref().map(|_| "every 2s")] hx-swap=[poll.as_ref().map(|_| "outerHTML")] {
            h2 { "Runs" }
            p.muted { "Newest first. Every full sync is listed; an incremental run only when it changed, skipped or failed something." }
            @if poll.is_some() { p.muted { "A run was asked for or is going: this list refreshes by itself." } }
            (runs_table(base, runs))
        }
    }
}

/// The runs list alone, for its own refresh (htmx), still refreshing while `live` says so.
pub(super) async fn runs_live(
    State(state): State<ConsoleState>,
    axum::Extension(_s): axum::Extension<Session>,
    Path(app): Path<String>,
    Query(live): Query<Live>,
) -> Response {
    let running = state.admin.directory_status(&app).is_ok_and(|st| st.running);
    match state.admin.directory_runs(&app, RUNS_SHOWN).await {
        Ok(runs) => {
            let newer = runs.first().is_some_and(|r| r.id > live.after);
            let go_on = running || (!newer && unix_now() < live.until);
            let html = runs_section(&base(&app), &runs, go_on.then_some(live)).into_string();
            ([(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
        }
        Err(e) => admin_error(&e),
    }
}

fn connection_result(c: &ConnectionCheck) -> Markup {
    html! {
        div.notice role="status" {
            p { "Connected to " code { (c.url) } @if c.tls { " over TLS" } @else { " without TLS" } "." }
            dl.facts {
                dt { "Server" } dd { (c.vendor.as_deref().unwrap_or("did not say")) }
                dt { "Naming contexts" } dd { @for (i, n) in c.naming_contexts.iter().enumerate() { @if i > 0 { ", " } code { (n) } } }
                dt { "Strategy it offers" } dd { code { (c.strategy) } }
                dt { "Controls" } dd { (c.supported_controls.len()) " supported" }
            }
        }
    }
}

/// Attributes whose values are secrets (password hashes, keys): never shown.
fn is_secret(attribute: &str) -> bool {
    const SECRETS: [&str; 12] = [
        "userpassword",
        "authpassword",
        "unicodepwd",
        "dbcspwd",
        "ntpwdhistory",
        "lmpwdhistory",
        "supplementalcredentials",
        "sambantpassword",
        "sambalmpassword",
        "sambapasswordhistory",
        "msds-managedpassword",
        "krbprincipalkey",
    ];
    let name = attribute.split(';').next().unwrap_or(attribute).to_ascii_lowercase();
    SECRETS.contains(&name.as_str())
}

fn test_sync_result(t: &TestSync) -> Markup {
    html! {
        div.test-sync {
            h3 { "Person" }
            dl.facts {
                dt { "DN" } dd { code { (t.dn) } }
                dt { "Stable id" } dd { @if let Some(id) = &t.id { code { (id) } } @else { span.problem { "none: the entry lacks its id attribute" } } }
                dt { "Username" } dd { (t.username.as_deref().unwrap_or("—")) }
                dt { "Active" } dd { @if t.active { "yes" } @else { "no: " (t.inactive_reason.as_deref().unwrap_or("inactive in the directory")) } }
            }
            h3 { "What the rules decide" }
            @if let Some(e) = &t.decision_error { p.problem role="alert" { (e) } }
            @if let Some(d) = &t.decisions {
                dl.facts {
                    dt { "Decided by" }
                    dd {
                        @match d.module.split_once(' ') {
                            Some((name, hash)) => { (name) " " code { (hash.get(..12).unwrap_or(hash)) } }
                            None => { (d.module) }
                        }
                    }
                    @if d.outcome == "skip" {
                        dt { "Outcome" } dd { "skipped: " (d.skip_reason.as_deref().unwrap_or("")) }
                    } @else {
                        dt { "Outcome" } dd { "provisioned" }
                        dt { "Confluence username" } dd { code { (d.username.as_deref().unwrap_or("")) } }
                        dt { "Full name" } dd { (d.full_name.as_deref().unwrap_or("")) }
                        dt { "E-mail" } dd { (d.email.as_deref().unwrap_or("")) }
                        dt { "Active" } dd { (match d.active { Some(true) => "yes", Some(false) => "no", None => "—" }) }
                    }
                    dt { "Custom fields" }
                    dd { @for (k, val) in &d.custom_fields { (k) " = " (val) br; } @if d.custom_fields.is_empty() { "none" } }
                    dt { "Groups" } dd { @if d.groups.is_empty() { "none" } @else { (d.groups.join(", ")) } }
                    @if !d.groups_remove.is_empty() { dt { "Groups removed" } dd { (d.groups_remove.join(", ")) } }
                }
            }
            h3 { "Groups in the directory (" (t.groups.len()) ")" }
            table {
                thead { tr { th { "Name" } th { "DN" } } }
                tbody {
                    @for g in &t.groups { tr { td { (g.name) } td { code { (g.dn) } } } }
                    @if t.groups.is_empty() { tr { td colspan="2" { "None found." } } }
                }
            }
            h3 { "Attributes (" (t.attributes.len()) ")" }
            table.attributes {
                thead { tr { th { "Attribute" } th { "Values" } } }
                tbody {
                    @for (name, values) in &t.attributes {
                        tr {
                            td { code { (name) } }
                            td {
                                @if is_secret(name) { span.muted { "a secret: not shown" } }
                                @else { @for (i, val) in values.iter().enumerate() { @if i > 0 { br; } (val) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn runs_table(base: &str, runs: &[RunView]) -> Markup {
    html! {
        table {
            thead { tr { th { "Run" } th { "Kind" } th { "Status" } th { "Finished" } th { "Summary" } } }
            tbody {
                @for r in runs {
                    tr {
                        td { a href={(base) "/directory/runs/" (r.id)} { "#" (r.id) } }
                        td { (r.kind) }
                        td { (badge(&r.status)) }
                        td.when { @if r.finished_at.is_empty() { "—" } @else { (r.finished_at) } }
                        td { (r.summary) }
                    }
                }
                @if runs.is_empty() { tr { td colspan="5" { "No run yet." } } }
            }
        }
    }
}

/// "Test connection": TCP, TLS and the root DSE. Open to viewers: it changes nothing.
pub(super) async fn test_connection(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
) -> Response {
    let result = state.admin.directory_test_connection(&app).await.map_err(|e| e.to_string());
    let status = if result.is_ok() { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    render(&state, &s, &app, None, Outcome::Connection(result), status).await
}

/// "Test authentication": the bind. Open to viewers: it changes nothing.
pub(super) async fn test_auth(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
) -> Response {
    let result = state.admin.directory_test_auth(&app).await.map_err(|e| e.to_string());
    let status = if result.is_ok() { StatusCode::OK } else { StatusCode::BAD_GATEWAY };
    render(&state, &s, &app, None, Outcome::Auth(result), status).await
}

#[derive(Deserialize)]
pub(super) struct TestSyncForm {
    #[serde(default)]
    user: String,
}

/// Test Sync: one person looked up and decided; nothing stored. Open to viewers.
pub(super) async fn test_sync(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<TestSyncForm>,
) -> Response {
    let login = form.user.trim().to_owned();
    let result = state.admin.directory_test_user(&app, &login).await.map(Box::new).map_err(|e| e.to_string());
    let status = if result.is_ok() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    render(&state, &s, &app, None, Outcome::TestSync { login, result }, status).await
}

#[derive(Deserialize)]
pub(super) struct RunNowForm {
    #[serde(default)]
    full: String,
}

/// "Run a full sync now" / "Run incremental now".
pub(super) async fn run_now(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(form): Form<RunNowForm>,
) -> Response {
    let full = form.full == "1";
    match state.admin.directory_sync(&s.username, &app, full).await {
        Ok(()) => {
            Redirect::to(&format!("{}?done={}", base(&app), if full { "full" } else { "incremental" })).into_response()
        }
        Err(e) => render(&state, &s, &app, None, Outcome::Problem(e.to_string()), StatusCode::BAD_REQUEST).await,
    }
}

/// Approve or discard a run the deletion threshold stopped.
pub(super) async fn settle_run(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, id, verdict)): Path<(String, i64, String)>,
) -> Response {
    let approve = match verdict.as_str() {
        "approve" => true,
        "discard" => false,
        _ => return super::pages::error(StatusCode::NOT_FOUND, "there is no such page"),
    };
    match state.admin.settle_directory_run(&s.username, &app, id, approve).await {
        Ok(()) => {
            Redirect::to(&format!("{}?done={}&run={id}", base(&app), if approve { "approved" } else { "discarded" }))
                .into_response()
        }
        Err(AdminError::NoApp(a)) => admin_error(&AdminError::NoApp(a)),
        Err(e) => render(&state, &s, &app, None, Outcome::Problem(e.to_string()), StatusCode::BAD_REQUEST).await,
    }
}

/// A run's report.
pub(super) async fn run_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path((app, id)): Path<(String, i64)>,
) -> Response {
    let overview = match state.admin.app(&app) {
        Ok(a) => a,
        Err(e) => return admin_error(&e),
    };
    match state.admin.directory_run(&app, id).await {
        Ok(run) => {
            respond(StatusCode::OK, page(&s, &format!("{app} run #{id}"), "apps", run_report(&s, &overview, &run)))
        }
        Err(AdminError::Invalid(m)) => super::pages::error(StatusCode::NOT_FOUND, &m),
        Err(e) => admin_error(&e),
    }
}

fn items_table(title: &str, items: &[Item], counted: usize) -> Markup {
    html! {
        @if counted > 0 || !items.is_empty() {
            h2 { (title) " (" (counted.max(items.len())) ")" }
            table {
                thead { tr { th { "Name" } th { "Id" } th { "Why" } } }
                tbody {
                    @for i in items {
                        tr { td { (i.name) } td { code { (i.id) } } td { (i.reason) } }
                    }
                }
            }
            @if counted > items.len() { p.muted { "The first " (items.len()) " of " (counted) " are listed." } }
        }
    }
}

fn run_report(s: &Session, a: &AppOverview, d: &RunDetail) -> Markup {
    let base = base(&a.name);
    let run = &d.run;
    let awaiting = run.status == "awaiting_approval";
    html! {
        (tabs(a, "directory"))
        p.muted { a href=(base) { "Directory" } " › run #" (run.id) }
        div.titlebar {
            h1 { "Run #" (run.id) " · " (run.kind) " " (badge(&run.status)) }
        }
        @if awaiting {
            section.approval role="alert" {
                p { strong { "Nothing was applied:" } " this run would deprovision more people than the deletion threshold allows. The lists below are what it would do." }
                @if s.can_change() {
                    div.actions {
                        form method="post" action={(base) "/directory/runs/" (run.id) "/approve"} { (csrf(s)) button.primary type="submit" { "Approve and apply" } }
                        form method="post" action={(base) "/directory/runs/" (run.id) "/discard"} { (csrf(s)) button.danger type="submit" { "Discard" } }
                    }
                }
            }
        }
        dl.facts {
            dt { "Started" } dd { (run.started_at) }
            dt { "Finished" } dd { @if run.finished_at.is_empty() { "—" } @else { (run.finished_at) } }
            dt { "Summary" } dd { (run.summary) }
            @if let Some(r) = &d.report {
                dt { "Strategy" } dd { code { (r.strategy) } }
                @if let Some(e) = &r.error { dt { "Error" } dd.problem { (e) } }
            }
        }
        @match &d.report {
            None => { p.problem { "This run's report could not be read." } }
            Some(r) => {
                ul.counts {
                    li { strong { (r.counts.added) } " added" }
                    li { strong { (r.counts.updated) } " updated" }
                    li { strong { (r.counts.disabled) } " disabled" }
                    li { strong { (r.counts.deleted) } " deleted" }
                    li { strong { (r.counts.skipped.max(r.skipped.len())) } " skipped" }
                    li { strong { (r.counts.unchanged) } " unchanged" }
                }
                @if !r.warnings.is_empty() {
                    h2 { "Warnings (" (r.warnings.len()) ")" }
                    ul.warnings { @for w in &r.warnings { li { (w) } } }
                }
                (items_table(if awaiting { "Would be deleted" } else { "Deleted" }, &r.deleted, r.counts.deleted))
                (items_table(if awaiting { "Would be disabled" } else { "Disabled" }, &r.disabled, r.counts.disabled))
                (items_table("Skipped", &r.skipped, r.counts.skipped))
                (items_table("Added", &r.added, r.counts.added))
                (items_table("Updated", &r.updated, r.counts.updated))
                @if r.added.is_empty() && r.updated.is_empty() && r.disabled.is_empty() && r.deleted.is_empty() && r.skipped.is_empty() && r.warnings.is_empty() {
                    p { "Nobody was added, changed or removed." }
                }
            }
        }
    }
}

/// The Directory settings tab.
pub(super) async fn settings_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (overview, definition) = match (state.admin.app(&app), state.admin.definition(&app).await) {
        (Ok(o), Ok(d)) => (o, d),
        (Err(e), _) | (_, Err(e)) => return admin_error(&e),
    };
    let password = match state.admin.directory_password_source(&app).await {
        Ok(p) => p,
        Err(e) => return admin_error(&e),
    };
    let values = directory_form::values_of(definition.definition.get("directory"));
    let notice = query.contains_key("saved").then_some(
        "Saved: the directory runner restarted with these settings, and runs a full sync when none has succeeded yet.",
    );
    settings_form(&s, &overview, &definition, &password, &values, &Errors::new(), notice, StatusCode::OK)
}

#[allow(clippy::too_many_arguments)]
fn settings_form(
    s: &Session,
    a: &AppOverview,
    d: &AppDefinition,
    password: &PasswordSource,
    values: &HashMap<String, String>,
    errors: &Errors,
    notice: Option<&str>,
    status: StatusCode,
) -> Response {
    let base = base(&a.name);
    let read_only = d.managed_by == "file" || !s.can_change();
    let body = html! {
        (tabs(a, "directory-settings"))
        @if d.managed_by == "file" {
            p.notice { "This app is managed by the configuration file: it is read-only here. Change its " code { "[apps.directory]" } " and restart." }
        }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if !errors.is_empty() { p.problem role="alert" { "Some values need fixing; nothing was saved." } }
        @if let Some(m) = errors.get("") { p.problem role="alert" { (m) } }
        form.stack.directory method="post" action={(base) "/directory/settings"} {
            (csrf(s))
            input type="hidden" name="version" value=(d.version);
            (directory_form::fields(&FormView { values, errors, read_only, password: Some(password) }))
            @if !read_only {
                div.actions {
                    button.primary type="submit" { "Save" }
                    a.button.secondary href=(base) { "Cancel" }
                }
            }
        }
    };
    respond(status, page(s, &format!("{} directory settings", a.name), "apps", body))
}

/// Saves the Directory settings (and a new bind password, when one is typed), if nobody
/// saved the app in between.
pub(super) async fn save_settings(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let (overview, definition) = match (state.admin.app(&app), state.admin.definition(&app).await) {
        (Ok(o), Ok(d)) => (o, d),
        (Err(e), _) | (_, Err(e)) => return admin_error(&e),
    };
    if definition.managed_by == "file" {
        return admin_error(&AdminError::ReadOnly(app));
    }
    let password = match state.admin.directory_password_source(&app).await {
        Ok(p) => p,
        Err(e) => return admin_error(&e),
    };
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str());
    let Ok(version) = field("version").parse::<u64>() else {
        return super::pages::error(StatusCode::BAD_REQUEST, "the form has no version: reload the page");
    };
    if version != definition.version {
        return conflict_page(&s, &overview, &definition, None);
    }
    let mut def: AppConfig = match serde_json::from_value(definition.definition.clone()) {
        Ok(d) => d,
        Err(e) => {
            return super::pages::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the stored app does not parse: {e}"),
            )
        }
    };
    let values = directory_form::values_from(&fields);
    let refused = |errors: Errors| {
        settings_form(&s, &overview, &definition, &password, &values, &errors, None, StatusCode::BAD_REQUEST)
    };
    let cfg = match directory_form::read(&app, &fields, def.directory.as_ref()) {
        Ok(c) => c,
        Err(errors) => return refused(errors),
    };
    if let Err(e) = state.admin.check_directory_tls(&cfg) {
        return refused(Errors::from([("d_ca_file".to_owned(), e)]));
    }
    def.directory = Some(cfg);
    let typed = Some(field(PASSWORD)).filter(|p| !p.is_empty());
    match state.admin.update_directory_app(&s.username, &app, def.clone(), version, typed).await {
        Ok(_) => Redirect::to(&format!("{}/directory/settings?saved=1", base(&app))).into_response(),
        Err(ChangeError::Changed { current: Some(now), .. }) => {
            conflict_page(&s, &overview, &now, serde_json::to_value(&def).ok())
        }
        Err(ChangeError::Changed { current: None, .. }) => {
            super::pages::error(StatusCode::CONFLICT, "the app was removed meanwhile")
        }
        Err(ChangeError::Admin(e)) => refused(Errors::from([(String::new(), format!("Not saved: {e}"))])),
    }
}

/// "Add new app" for a directory: the wizard's name and module, and the directory form.
/// Made with its bind password, then the browser goes to its Directory tab.
pub(super) async fn create(
    state: &ConsoleState,
    s: &Session,
    draft: &Draft,
    fields: &Fields,
    mut errors: Errors,
) -> Response {
    if !draft.name.is_empty() && !valid_app_name(&draft.name) {
        errors.insert("name".into(), "letters, digits, '-' and '_' only, at most 64".into());
    }
    let cfg = match directory_form::read(&draft.name, fields, None) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    if let Some(c) = &cfg {
        if let Err(e) = state.admin.check_directory_tls(c) {
            errors.insert("d_ca_file".into(), e);
        }
    }
    let (Some(cfg), true) = (cfg, errors.is_empty()) else {
        return wizard(s, state, draft, &errors, StatusCode::BAD_REQUEST);
    };
    let mut def = new_definition(&draft.name, IdpKind::Ldap);
    def.directory = Some(cfg);
    let module_from = Some(draft.module_from.as_str()).filter(|m| !m.is_empty());
    let password = fields.iter().find(|(k, _)| k == PASSWORD).map(|(_, v)| v.as_str());
    match state.admin.create_directory_app(&s.username, def, module_from, password).await {
        Ok(created) => Redirect::to(&format!("{}?done=created", base(&created.name))).into_response(),
        Err(e) => {
            let message = e.to_string();
            let key = if message.contains("module") {
                "module_from"
            } else if message.contains("name") {
                "name"
            } else {
                ""
            };
            errors.insert(key.to_owned(), message);
            wizard(s, state, draft, &errors, StatusCode::BAD_REQUEST)
        }
    }
}
