//! The console's pages, as maud templates: every value is escaped by maud.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::Session;
use crate::admin::runs::SyncRun;
use crate::admin::{AppOverview, ConfluencePage, ModuleVersion, OutboxView, PersonHit, PersonView};
use crate::inbound::SyncReport;
use crate::rules::types::{AttributeDecision, Decisions};
use crate::store::tokens::TokenInfo;
use crate::store::{AuditEntry, AuditFilter, DesiredOutcome};

pub(super) fn respond(status: StatusCode, page: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page.into_string()).into_response()
}

/// A value for a URL path segment.
pub fn path_segment(s: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

pub(super) fn query_value(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn head(title: &str) -> Markup {
    html! {
        (DOCTYPE)
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="htmx-config" content=r#"{"includeIndicatorStyles": false}"#;
        title { (title) " · UserSync" }
        link rel="stylesheet" href="/console/assets/console.css";
        script src="/console/assets/htmx.min.js" defer {}
        script src="/console/assets/console.js" defer {}
    }
}

/// A page of the logged-in console.
pub(super) fn page(s: &Session, title: &str, section: &str, body: Markup) -> Markup {
    html! {
        html lang="en" {
            head { (head(title)) }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/" { "UserSync" }
                    nav aria-label="Main" {
                        a href="/console/" aria-current=[(section == "apps").then_some("page")] { "Configured apps" }
                        a href="/console/people" aria-current=[(section == "people").then_some("page")] { "People" }
                        a href="/console/audit" aria-current=[(section == "audit").then_some("page")] { "Audit log" }
                        a href="/console/confluence" aria-current=[(section == "confluence").then_some("page")] { "Confluence" }
                    }
                    div.who {
                        span { (s.username) " · " (s.role.as_str()) }
                        form method="post" action="/console/logout" {
                            (csrf(s))
                            button.link type="submit" { "Log out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

pub(super) fn csrf(s: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(s.csrf); }
}

/// An error page (also for requests without a session).
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = html! {
        html lang="en" {
            head { (head("Error")) }
            body {
                main #main.narrow {
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    p.problem role="alert" { (message) }
                    p { a href="/console/" { "Back to the console" } }
                }
            }
        }
    };
    respond(status, body)
}

pub fn login(next: Option<&str>, problem: Option<&str>, username: &str) -> Response {
    let body = html! {
        html lang="en" {
            head { (head("Log in")) }
            body {
                main #main.narrow {
                    h1 { "UserSync" }
                    p.muted { "Log in with a UserSync administrator account (" code { "usersync admin create" } ")." }
                    @if let Some(p) = problem { p.problem role="alert" { (p) } }
                    form.stack method="post" action="/console/login" {
                        label for="username" { "Account" }
                        input #username name="username" type="text" autocomplete="username" required autofocus value=(username);
                        label for="password" { "Password" }
                        input #password name="password" type="password" autocomplete="current-password" required;
                        @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                        button.primary type="submit" { "Log in" }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, body)
}

fn state_badge(a: &AppOverview) -> Markup {
    let (class, text) = match &a.module {
        Some(m) if m.name.is_none() => ("bad", "module not loaded".to_owned()),
        Some(m) if m.last_error.is_some() => ("warn", "newer module failed to load".to_owned()),
        Some(_) => ("ok", "rules serving".to_owned()),
        None => ("muted", "no rules module".to_owned()),
    };
    html! { span class={"badge " (class)} { (text) } }
}

fn confluence_badge(a: &AppOverview) -> Markup {
    match &a.confluence {
        None => html! { span.badge.muted { "Confluence not configured" } },
        Some(c) if c.held.is_some() => html! { span.badge.bad { "held: " (c.held.clone().unwrap_or_default()) } },
        Some(c) if c.paused_for_ms.is_some() => html! { span.badge.warn { "Confluence failing; retrying" } },
        Some(c) if c.held_for_approval > 0 => html! { span.badge.warn { (c.held_for_approval) " held for approval" } },
        Some(c) => html! { span.badge.ok { "Confluence reachable · " (c.queued) " queued" } },
    }
}

/// The list of apps; `last_runs` has, for each directory app, when (and which kind of) run
/// last ended.
pub fn apps(s: &Session, apps: &[AppOverview], last_runs: &std::collections::HashMap<String, String>) -> Response {
    let body = html! {
        div.titlebar {
            h1 { "Configured apps" }
            @if s.can_change() { a.button.primary href="/console/apps/new" { "Add new app" } }
        }
        p.muted { "Each app is one identity provider connection: its own SCIM base URL, bearer tokens, rules and settings. "
            "Apps added here are changed here; apps of the configuration file (" code { "[[apps]]" } ") are read-only here." }
        table {
            thead { tr { th { "App" } th { "Kind" } th { "State" } th { "Confluence" } th.num { "People" } th.num { "Groups" } th { "Last IdP request or directory run" } th { "Managed by" } } }
            tbody {
                @for a in apps {
                    tr {
                        td { a href={"/console/apps/" (path_segment(&a.name))} { (a.name) } }
                        td { (kind_label(a.kind)) }
                        td { (state_badge(a)) }
                        td { (confluence_badge(a)) }
                        td.num { (a.people) }
                        td.num { (a.groups) }
                        td {
                            @if a.kind == "ldap" {
                                @if let Some(run) = last_runs.get(&a.name) { "last run " (run) } @else { "no run yet" }
                            } @else { (a.last_request.as_deref().unwrap_or("never")) }
                        }
                        td { @if a.managed_by == "file" { span.badge.muted { "configuration file" } } @else { "console" } }
                    }
                }
                @if apps.is_empty() { tr { td colspan="8" { "No apps yet: add one." } } }
            }
        }
    };
    respond(StatusCode::OK, page(s, "Configured apps", "apps", body))
}

pub(super) fn kind_label(kind: &str) -> &'static str {
    match kind {
        "onelogin" => "OneLogin",
        "okta" => "Okta",
        "entra" => "Microsoft Entra ID",
        "ldap" => "LDAP / Active Directory",
        _ => "Generic SCIM 2.0",
    }
}

pub(super) fn tabs(a: &AppOverview, current: &str) -> Markup {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let tab = |href: String, key: &str, label: &str| {
        html! { a href=(href) aria-current=[(key == current).then_some("page")] { (label) } }
    };
    html! {
        div.titlebar {
            h1 { (a.name) " " span.muted { "· " (kind_label(a.kind)) } }
            div { (state_badge(a)) " " (confluence_badge(a)) }
        }
        nav.tabs aria-label="App" {
            @if a.kind == "ldap" {
                (tab(base.clone(), "directory", "Directory"))
                (tab(format!("{base}/directory/settings"), "directory-settings", "Directory settings"))
            } @else {
                (tab(base.clone(), "scim", "SCIM configuration"))
            }
            (tab(format!("{base}/settings"), "settings", "User and group sync"))
            (tab(format!("{base}/rules"), "rules", "Rules"))
            (tab(format!("{base}/outbox"), "outbox", "Outbox"))
            (tab(format!("{base}/sync"), "sync", "Synchronize"))
            (tab(format!("/console/people?app={}", query_value(&a.name)), "people", "People"))
            (tab(format!("/console/audit?app={}", query_value(&a.name)), "audit", "Audit log"))
        }
    }
}

fn idp_steps(a: &AppOverview) -> Markup {
    idp_steps_for(a.kind)
}

/// How to connect an identity provider of `kind` to its SCIM base URL and token.
pub(super) fn idp_steps_for(kind: &str) -> Markup {
    match kind {
        "onelogin" => html! {
            ol {
                li { "In OneLogin, open " strong { "Applications" } ", choose the SCIM provisioner app and open its " strong { "Configuration" } " tab." }
                li { "Paste the URL above into " strong { "SCIM Base URL" } " and the token into " strong { "SCIM Bearer Token" } ", then " strong { "Save" } "." }
                li { "On the " strong { "Provisioning" } " tab, tick " strong { "Enable provisioning" } " and choose which actions need an administrator's approval." }
                li { "Assign people (and, under " strong { "Parameters" } ", groups) to the app." }
            }
        },
        "okta" => html! {
            ol {
                li { "In Okta's admin console, open the app's " strong { "General" } " tab and set " strong { "Provisioning" } " to " strong { "SCIM" } "." }
                li { "Under " strong { "Provisioning → Integration" } ", paste the URL above into " strong { "SCIM connector base URL" } " and set " strong { "Unique identifier field for users" } " to " code { "userName" } "." }
                li { "Choose " strong { "HTTP Header" } " authentication and paste the token; " strong { "Test Connector Configuration" } ", then " strong { "Save" } "." }
                li { "Under " strong { "To App" } ", enable Create, Update and Deactivate users; use " strong { "Push Groups" } " for groups." }
            }
        },
        "entra" => html! {
            ol {
                li { "In Microsoft Entra ID, open " strong { "Enterprise applications" } ", the app, then " strong { "Provisioning" } " and set the mode to " strong { "Automatic" } "." }
                li { "Paste the URL above into " strong { "Tenant URL" } " and the token into " strong { "Secret Token" } "; " strong { "Test Connection" } ", then " strong { "Save" } "." }
                li { "Check the attribute mappings, assign users and groups, and set " strong { "Provisioning Status" } " to " strong { "On" } "." }
            }
        },
        _ => html! {
            ol {
                li { "In the identity provider's SCIM 2.0 client, set the base URL to the URL above." }
                li { "Send the token as " code { "Authorization: Bearer <token>" } "." }
            }
        },
    }
}

pub fn app(
    s: &Session,
    a: &AppOverview,
    tokens: &[TokenInfo],
    created: Option<&(String, String)>,
    problem: Option<&str>,
) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let body = html! {
        (tabs(a, "scim"))
        section {
            h2 { "SCIM base URL" }
            div.copyable {
                code #scim-url { (a.base_url) }
                button.secondary type="button" data-copy="scim-url" { "Copy" }
            }
            @if let Some((id, secret)) = created {
                div.notice role="status" {
                    h3 { "New token " (id) }
                    p { "Copy it now: it is shown once, and only its hash is kept." }
                    div.copyable {
                        code #new-token { (secret) }
                        button.secondary type="button" data-copy="new-token" { "Copy" }
                    }
                }
            }
            @if let Some(p) = problem { p.problem role="alert" { (p) } }
            h2 { "Connect " (kind_label(a.kind)) }
            (idp_steps(a))
        }
        section {
            h2 { "Bearer tokens" }
            table {
                thead { tr { th { "Token" } th { "Label" } th { "Created" } th { "Last used" } th { "State" } th { span.visually-hidden { "Actions" } } } }
                tbody {
                    @for t in tokens {
                        tr {
                            td { code { (t.id) } }
                            td { (t.label) }
                            td { (t.created) }
                            td { (t.last_used.as_deref().unwrap_or("never")) }
                            td {
                                @if let Some(r) = &t.revoked { "revoked " (r) }
                                @else if let Some(e) = &t.expires { span.badge.warn { "rotated: works until " (e) } }
                                @else { span.badge.ok { "active" } }
                            }
                            td {
                                @if t.revoked.is_none() && s.can_change() {
                                    form method="post" action={(base) "/tokens/" (path_segment(&t.id)) "/revoke"} {
                                        (csrf(s))
                                        button.danger type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                    @if tokens.is_empty() { tr { td colspan="6" { "No tokens yet (tokens from the configuration file are not listed)." } } }
                }
            }
            @if s.can_change() {
                h3 { "Create a token" }
                p.muted { "To replace a token without a gap, rotate it (below): the old one keeps working for 24 hours." }
                form.stack method="post" action={(base) "/tokens"} {
                    (csrf(s))
                    label for="label" { "Label" }
                    input #label name="label" type="text" maxlength="100" placeholder="OneLogin production";
                    label for="reauth" { "Your password (again, to show a secret)" }
                    input #reauth name="password" type="password" autocomplete="current-password" required;
                    button.primary type="submit" { "Create token" }
                }
                @let rotatable: Vec<&TokenInfo> = tokens.iter().filter(|t| t.revoked.is_none() && t.expires.is_none()).collect();
                @if !rotatable.is_empty() {
                    h3 { "Rotate a token" }
                    p.muted { "A new token with the same label; the old one keeps working for 24 hours, then stops. Put the new one into the identity provider meanwhile." }
                    form.stack method="post" action={(base) "/tokens/rotate"} {
                        (csrf(s))
                        label for="rotate-id" { "Token" }
                        select #rotate-id name="id" {
                            @for t in &rotatable { option value=(t.id) { (t.id) " · " (t.label) } }
                        }
                        label for="rotate-reauth" { "Your password (again, to show the new token)" }
                        input #rotate-reauth name="password" type="password" autocomplete="current-password" required;
                        button.primary type="submit" { "Rotate token" }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(s, &a.name, "apps", body))
}

/// An upload that passed its checks: what it would decide, and "Install this module".
fn staged_review(s: &Session, base: &str, staged: &crate::admin::StagedModule) -> Markup {
    html! {
        section.notice role="status" {
            h3 { "Module " code { (staged.hash.get(..12).unwrap_or(&staged.hash)) } " passed its checks and self-test" }
            p { "It is kept, not serving yet. What it would decide for the app's stored people:" }
            @if let Some(refused) = &staged.dry_run.refused {
                p.problem { (refused) }
            } @else {
                (super::apps::dry_run_summary(&staged.dry_run))
            }
            @if s.can_change() {
                form method="post" action={(base) "/rules/install"} {
                    (csrf(s))
                    input type="hidden" name="hash" value=(staged.hash);
                    button.primary type="submit" { "Install this module" }
                }
            }
        }
    }
}

/// What "Try it" was asked and what came of it: (person id, pasted JSON, decisions or error).
pub type TryResult<'a> = (&'a str, &'a str, Result<&'a Decisions, &'a str>);

/// What became of a module upload, an install or a roll back.
pub enum ModuleOutcome<'a> {
    /// Serving now (its hash).
    Installed(&'a str),
    /// Refused; nothing changed.
    Refused(&'a str),
    /// Checked and kept, not yet serving: with what it would decide.
    Staged(&'a crate::admin::StagedModule),
}

pub fn rules_page(
    s: &Session,
    a: &AppOverview,
    history: &[ModuleVersion],
    tried: Option<TryResult<'_>>,
    installed: Option<ModuleOutcome<'_>>,
) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let (person, json) = tried.as_ref().map_or(("", ""), |(p, j, _)| (*p, *j));
    let body = html! {
        (tabs(a, "rules"))
        @match &a.module {
            None => {
                p { "This app has no rules module: its SCIM data is stored, and nothing is decided for Confluence." }
                @match &installed {
                    Some(ModuleOutcome::Refused(e)) => { p.problem role="alert" { (e) " Nothing was changed." } }
                    Some(ModuleOutcome::Staged(staged)) => { (staged_review(s, &base, staged)) }
                    _ => {}
                }
                @if s.can_change() && a.managed_by == "console" {
                    h3 { "Upload a module" }
                    form.stack method="post" enctype="multipart/form-data" action={(base) "/rules/upload?csrf=" (query_value(&s.csrf))} {
                        label for="module" { "Module file (.wasm, built with " code { "usersync rules build" } ")" }
                        input #module name="module" type="file" accept=".wasm,application/wasm" required;
                        button.primary type="submit" { "Check and review" }
                    }
                }
            }
            Some(m) => {
                section {
                    h2 { "The serving module" }
                    dl.facts {
                        dt { "File" } dd { code { (m.path) } }
                        dt { "Module" } dd { (m.name.as_deref().unwrap_or("none loaded")) }
                        dt { "Hash" } dd { code { (m.hash.as_deref().unwrap_or("—")) } }
                        dt { "Rules world" } dd { (m.world.as_deref().unwrap_or("—")) }
                        dt { "Loaded" } dd { (m.loaded_at.as_deref().unwrap_or("—")) }
                        dt { "Reloads" } dd { (m.reloads) }
                        dt { "Last error" } dd { @if let Some(e) = &m.last_error { span.problem { (e) } } @else { "none" } }
                    }
                    p.muted { "The module reloads by itself when its file changes; a module that fails to load leaves the previous one serving." }
                    @match &installed {
                        Some(ModuleOutcome::Installed(hash)) => { p.notice role="status" { "Module " code { (hash.get(..12).unwrap_or(hash)) } " validated, self-tested and now serving." } }
                        Some(ModuleOutcome::Refused(e)) => { p.problem role="alert" { (e) " The serving module is unchanged." } }
                        Some(ModuleOutcome::Staged(staged)) => { (staged_review(s, &base, staged)) }
                        None => {}
                    }
                    @if s.can_change() {
                        h3 { "Upload a new module" }
                        form.stack method="post" enctype="multipart/form-data" action={(base) "/rules/upload?csrf=" (query_value(&s.csrf))} {
                            label for="module" { "Module file (.wasm, built with " code { "usersync rules build" } ")" }
                            input #module name="module" type="file" accept=".wasm,application/wasm" required;
                            button.primary type="submit" { "Check and review" }
                        }
                    }
                    h3 { "History" }
                    table {
                        thead { tr { th { "Module" } th { "Size" } th { "Kept" } th { span.visually-hidden { "Actions" } } } }
                        tbody {
                            @for v in history {
                                tr {
                                    td { code { (v.hash.get(..12).unwrap_or(&v.hash)) } @if v.serving { " " span.badge.ok { "serving" } } }
                                    td { (v.bytes / 1024) " KiB" }
                                    td { (v.kept_at) }
                                    td {
                                        @if !v.serving && s.can_change() {
                                            form method="post" action={(base) "/rules/rollback"} {
                                                (csrf(s))
                                                input type="hidden" name="hash" value=(v.hash);
                                                button.secondary type="submit" { "Serve this one" }
                                            }
                                        }
                                    }
                                }
                            }
                            @if history.is_empty() { tr { td colspan="4" { "Modules installed from the console are kept here." } } }
                        }
                    }
                }
                section {
                    h2 { "Declared settings" }
                    table {
                        thead { tr { th { "Setting" } th { "Kind" } th { "Default" } th { "What it does" } } }
                        tbody {
                            @for (key, kind, default, help) in &m.settings {
                                tr { td { code { (key) } } td { (kind) } td { code { (default.as_deref().unwrap_or("—")) } } td { (help) } }
                            }
                            @if m.settings.is_empty() { tr { td colspan="4" { "The module declares no settings." } } }
                        }
                    }
                    p.muted { "The app's values are on the " a href={(base) "/settings"} { "User and group sync" } " tab." }
                }
                section #try {
                    h2 { "Try it" }
                    p.muted { "The module's three decisions for a stored person, or for a person pasted as SCIM JSON. Nothing is stored or sent to Confluence." }
                    form.stack method="post" action={(base) "/rules/try#try"} {
                        (csrf(s))
                        label for="try-person" { "A stored person's SCIM id" }
                        input #try-person name="person" type="text" value=(person);
                        label for="try-json" { "… or a SCIM user as JSON" }
                        textarea #try-json name="json" rows="8" cols="60" spellcheck="false" { (json) }
                        button.primary type="submit" { "Decide" }
                    }
                    @if let Some((_, _, outcome)) = &tried {
                        @match outcome {
                            Err(e) => { p.problem role="alert" { (e) } }
                            Ok(d) => { (decisions(d)) }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(s, &a.name, "apps", body))
}

fn decisions(d: &Decisions) -> Markup {
    html! {
        dl.facts {
            dt { "Decided by" } dd { (d.module.name) " " code { (d.module.hash.get(..12).unwrap_or(&d.module.hash)) } }
            @match &d.attributes {
                AttributeDecision::Provision(m) => {
                    dt { "Attributes" } dd { "provision" }
                    dt { "Confluence username" } dd { (m.username) }
                    dt { "Full name" } dd { (m.full_name) }
                    dt { "E-mail" } dd { (m.email) }
                    dt { "Active" } dd { (if m.active { "yes" } else { "no" }) }
                }
                AttributeDecision::Skip(reason) => { dt { "Attributes" } dd { "skip: " (reason) } }
                AttributeDecision::Reject(reason) => { dt { "Attributes" } dd.problem { "reject: " (reason) } }
            }
            dt { "Custom fields" }
            dd { @for f in &d.custom_fields { (f.name) " = " (f.value) br; } @if d.custom_fields.is_empty() { "none" } }
            dt { "Groups: add" } dd { (d.groups.add.join(", ")) }
            dt { "Groups: remove" } dd { (d.groups.remove.join(", ")) }
            dt { "Groups: create if missing" } dd { (d.groups.create.join(", ")) }
        }
    }
}

pub fn outbox(s: &Session, a: &AppOverview, o: &OutboxView, note: Option<&str>) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let body = html! {
        (tabs(a, "outbox"))
        @if let Some(n) = note { p.notice role="status" { (n) } }
        @if !o.configured {
            p { "Confluence is not configured: decisions are stored and nothing is sent." }
        } @else {
            dl.facts {
                dt { "Queued" } dd { (o.queued) }
                dt { "Why it waits" } dd { (o.held.as_deref().unwrap_or("it does not: operations go through")) }
            }
            section {
                h2 { "Held for approval" }
                p.muted { "The deprovisioning circuit breaker holds these until an administrator approves or discards them." }
                (ops_table(&o.held_for_approval, false))
                @if !o.held_for_approval.is_empty() && s.can_change() {
                    div.actions {
                        form method="post" action={(base) "/outbox/approve"} { (csrf(s)) button.primary type="submit" { "Approve and apply" } }
                        form method="post" action={(base) "/outbox/discard"} { (csrf(s)) button.danger type="submit" { "Discard" } }
                    }
                }
            }
            section {
                h2 { "Parked memberships" }
                p.muted { "Memberships in a group Confluence does not have; they are applied once the group exists." }
                (ops_table(&o.parked, true))
            }
            section {
                h2 { "Refused by Confluence" }
                p.muted { "Retry queues the operation again after anything planned for the person since; a Synchronize also repairs what the current decisions want." }
                table {
                    thead { tr { th { "#" } th { "User" } th { "Operation" } th { "Failed" } th { "Error" } th { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for f in &o.failed {
                            tr {
                                td { (f.row.seq) } td { (f.row.subject) } td { code { (f.row.op) } } td { (f.failed_at) } td.problem { (f.error) }
                                td {
                                    @if s.can_change() {
                                        div.actions {
                                            form method="post" action={(base) "/refused/" (f.row.seq) "/retry"} { (csrf(s)) button.secondary type="submit" { "Retry" } }
                                            form method="post" action={(base) "/refused/" (f.row.seq) "/discard"} { (csrf(s)) button.danger type="submit" { "Discard" } }
                                        }
                                    }
                                }
                            }
                        }
                        @if o.failed.is_empty() { tr { td colspan="6" { "None." } } }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(s, &a.name, "apps", body))
}

fn ops_table(ops: &[crate::admin::OpView], reasons: bool) -> Markup {
    html! {
        table {
            thead { tr { th { "#" } th { "User" } th { "Operation" } @if reasons { th { "Why" } } } }
            tbody {
                @for op in ops {
                    tr { td { (op.seq) } td { (op.user) } td { (op.operation) } @if reasons { td { (op.reason.as_deref().unwrap_or("")) } } }
                }
                @if ops.is_empty() { tr { td colspan="4" { "None." } } }
            }
        }
    }
}

/// Which rows of a Synchronize plan to show: those whose person or operation contains
/// `q` (any case), `PLAN_PAGE` to a page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub page: usize,
}

/// Plan rows per page.
pub const PLAN_PAGE: usize = 100;

pub fn sync(s: &Session, a: &AppOverview, run: Option<&SyncRun>, problem: Option<&str>, query: &PlanQuery) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let body = html! {
        (tabs(a, "sync"))
        p { "Synchronize runs every person of the app through the rules again, reads Confluence, and repairs any drift: missing users, names, e-mail, active state, and memberships granted or revoked." }
        @if let Some(p) = problem { p.problem role="alert" { (p) } }
        @match run {
            Some(run) => { (sync_run(s, &base, run, query)) }
            None => { (sync_actions(s, &base)) }
        }
    };
    respond(StatusCode::OK, page(s, &a.name, "apps", body))
}

/// "Dry run" and "Synchronize now", for an administrator.
fn sync_actions(s: &Session, base: &str) -> Markup {
    html! {
        @if s.can_change() {
            div.actions {
                form method="post" action={(base) "/sync"} { (csrf(s)) input type="hidden" name="mode" value="dry-run"; button.secondary type="submit" { "Dry run: show the plan" } }
                form method="post" action={(base) "/sync"} { (csrf(s)) input type="hidden" name="mode" value="run"; button.primary type="submit" { "Synchronize now" } }
            }
        }
    }
}

/// A Synchronize run: its progress while it runs (the page asks for it again every second
/// with htmx; without JavaScript, "Refresh"), then its report, the plan paged and searchable.
pub fn sync_run(s: &Session, base: &str, run: &SyncRun, query: &PlanQuery) -> Markup {
    html! {
        section #sync-run aria-live="polite"
            hx-get=[run.running().then(|| format!("{base}/sync/progress"))]
            hx-trigger=[run.running().then_some("every 1s")]
            hx-swap=[run.running().then_some("outerHTML")] {
            // Offered again once the run is done (the section is what the poll replaces).
            @if !run.running() { (sync_actions(s, base)) }
            @match &run.outcome {
                None => {
                    h2 { @if run.dry_run { "Dry run in progress" } @else { "Synchronize in progress" } }
                    p.muted { "Started by " (run.actor) " at " (run.started_at) ". " a href={(base) "/sync"} { "Refresh" } }
                    pre.scim { @for line in &run.lines { (line) "\n" } }
                }
                Some(Err(e)) => {
                    h2 { "Synchronize failed" }
                    p.problem role="alert" { (e) }
                    pre.scim { @for line in &run.lines { (line) "\n" } }
                }
                Some(Ok(r)) => { (sync_report(base, run, r, query)) }
            }
        }
    }
}

fn sync_report(base: &str, run: &SyncRun, r: &SyncReport, query: &PlanQuery) -> Markup {
    let needle = query.q.trim().to_lowercase();
    let rows: Vec<(&String, String)> = r
        .plan
        .iter()
        .map(|(person, op)| (person, op.describe()))
        .filter(|(person, op)| {
            needle.is_empty() || person.to_lowercase().contains(&needle) || op.to_lowercase().contains(&needle)
        })
        .collect();
    let pages = rows.len().div_ceil(PLAN_PAGE).max(1);
    let page_no = query.page.min(pages - 1);
    let link = |n: usize| format!("{base}/sync?q={}&page={n}", query_value(&query.q));
    html! {
        h2 { @if r.dry_run { "Plan (dry run: nothing was changed)" } @else { "Result" } }
        p.muted { "Started by " (run.actor) " at " (run.started_at) @if let Some(f) = &run.finished_at { ", finished at " (f) } "." }
        dl.facts {
            dt { "People" } dd { (r.summary.people) }
            dt { "In step" } dd { (r.summary.in_step) }
            dt { "Users created" } dd { (r.summary.users_created) }
            dt { "Users updated" } dd { (r.summary.users_updated) }
            dt { "Users enabled / disabled" } dd { (r.summary.users_enabled) " / " (r.summary.users_disabled) }
            dt { "Groups created" } dd { (r.summary.groups_created) }
            dt { "Memberships added / removed" } dd { (r.summary.members_added) " / " (r.summary.members_removed) }
        }
        form.inline method="get" action={(base) "/sync"} role="search" {
            label for="plan-q" { "Find in the plan" }
            input #plan-q name="q" type="search" value=(query.q) placeholder="person or operation";
            button.secondary type="submit" { "Find" }
        }
        table {
            thead { tr { th { "Person" } th { "Operation" } } }
            tbody {
                @for (person, op) in rows.iter().skip(page_no * PLAN_PAGE).take(PLAN_PAGE) { tr { td { code { (person) } } td { (op) } } }
                @if r.plan.is_empty() { tr { td colspan="2" { "Nothing to do: Confluence is in step." } } }
                @else if rows.is_empty() { tr { td colspan="2" { "No operation matches." } } }
            }
        }
        @if pages > 1 {
            nav.pager aria-label="Plan pages" {
                @if page_no > 0 { a href=(link(page_no - 1)) { "Previous" } }
                span { "Page " (page_no + 1) " of " (pages) " (" (rows.len()) " operations)" }
                @if page_no + 1 < pages { a href=(link(page_no + 1)) { "Next" } }
            }
        }
        @if !r.failed.is_empty() {
            h3 { "People the rules could not decide about" }
            ul { @for (id, e) in &r.failed { li { code { (id) } ": " (e) } } }
        }
    }
}

pub fn people(s: &Session, q: &str, app: Option<&str>, apps: &[String], hits: &[PersonHit], partial: bool) -> Response {
    let results = html! {
        div #results {
            @if !q.trim().is_empty() {
                p.muted { (hits.len()) @if hits.len() >= crate::admin::MAX_HITS { "+" } " found" }
                table {
                    thead { tr { th { "App" } th { "userName" } th { "Confluence username" } th { "Full name" } th { "E-mail" } th { "Decision" } } }
                    tbody {
                        @for h in hits {
                            tr {
                                td { (h.app) }
                                td { a href={"/console/apps/" (path_segment(&h.app)) "/people/" (path_segment(&h.id))} { (h.user_name) } }
                                td { (h.confluence_username.as_deref().unwrap_or("")) }
                                td { (h.full_name.as_deref().unwrap_or("")) }
                                td { (h.email.as_deref().unwrap_or("")) }
                                td { (h.outcome.unwrap_or("not decided")) }
                            }
                        }
                    }
                }
            }
        }
    };
    if partial {
        return respond(StatusCode::OK, results);
    }
    let body = html! {
        h1 { "People" }
        form.search method="get" action="/console/people" role="search" {
            label for="q" { "Name, e-mail, username or SCIM id" }
            input #q name="q" type="search" value=(q) autofocus
                hx-get="/console/people" hx-trigger="input changed delay:250ms, search" hx-target="#results" hx-swap="outerHTML" hx-include="closest form";
            label for="app" { "App" }
            select #app name="app" {
                option value="" { "All apps" }
                @for a in apps { option value=(a) selected[app == Some(a.as_str())] { (a) } }
            }
            button.primary type="submit" { "Search" }
        }
        (results)
    };
    respond(StatusCode::OK, page(s, "People", "people", body))
}

pub fn person(s: &Session, p: &PersonView) -> Response {
    let body = html! {
        p.muted { a href={"/console/apps/" (path_segment(&p.app))} { (p.app) } " › person" }
        h1 { (p.user_name) }
        section {
            h2 { "Decision" }
            @match &p.decision {
                None => { p { "No decision is stored for this person (the app has no rules module, or none has decided yet)." } }
                Some(d) => {
                    dl.facts {
                        dt { "Decided" } dd { (d.decided_at) " by " (d.module_name) " " code { (d.module_hash.get(..12).unwrap_or(&d.module_hash)) } }
                        @match &d.outcome {
                            DesiredOutcome::Skip { reason } => { dt { "Outcome" } dd { "skipped: " (reason) } }
                            DesiredOutcome::Provision(a) => {
                                dt { "Outcome" } dd { "provisioned" }
                                dt { "Confluence username" } dd { (a.username) }
                                dt { "Full name" } dd { (a.full_name) }
                                dt { "E-mail" } dd { (a.email) }
                                dt { "Active" } dd { (if a.active { "yes" } else { "no" }) }
                                dt { "Groups this app grants" } dd { (a.groups.join(", ")) }
                                @if !a.revoked.is_empty() { dt { "Revoked, awaiting Synchronize" } dd { (a.revoked.join(", ")) } }
                            }
                        }
                    }
                    @if let DesiredOutcome::Provision(a) = &d.outcome {
                        h3 { "Custom profile fields" }
                        p.muted { "Confluence Data Center has no REST endpoint for profile fields: they are shown here." }
                        table {
                            thead { tr { th { "Field" } th { "Value" } } }
                            tbody {
                                @for (k, v) in &a.custom_fields { tr { td { (k) } td { (v) } } }
                                @if a.custom_fields.is_empty() { tr { td colspan="2" { "None." } } }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { "In Confluence" }
            @match &p.observed {
                None => { p { "Not seen in Confluence at the last reading (Synchronize reads it)." } }
                Some(o) => {
                    dl.facts {
                        dt { "Username" } dd { (o.username) }
                        dt { "Full name" } dd { (o.full_name) }
                        dt { "E-mail" } dd { (o.email.as_deref().unwrap_or("not listed by this Confluence version")) }
                        dt { "Active" } dd { (match o.active { Some(true) => "yes", Some(false) => "no", None => "not said" }) }
                        dt { "Groups no app granted" } dd { (o.foreign_groups.join(", ")) }
                    }
                }
            }
        }
        section {
            h2 { "Audit trail" }
            (audit_table(&p.audit))
        }
        section {
            h2 { "SCIM data" }
            pre.scim { (p.scim) }
        }
    };
    respond(StatusCode::OK, page(s, &p.user_name, "people", body))
}

/// The Confluence connection form: to change it, or to make the first one.
fn connection_form(s: &Session, url: &str, username: Option<&str>, token: bool, secret_hint: &str) -> Markup {
    html! {
        form.stack method="post" action="/console/confluence" {
            (csrf(s))
            label for="c-url" { "Base URL" }
            input #c-url name="url" type="url" required value=(url);
            label for="c-kind" { "Sign in with" }
            select #c-kind name="kind" {
                option value="basic" selected[!token] { "An administrator's username and password" }
                option value="token" selected[token] { "A personal access token" }
            }
            label for="c-user" { "Username (for a password)" }
            input #c-user name="username" type="text" autocomplete="off" value=(username.unwrap_or(""));
            label for="c-secret" { "Password or token" }
            input #c-secret name="secret" type="password" autocomplete="new-password" placeholder=(secret_hint);
            label.check { input name="save_untested" type="checkbox" value="1"; " Save even if the test fails (Confluence is down)" }
            button.primary type="submit" { "Test and save" }
        }
    }
}

pub fn confluence(s: &Session, c: Option<&ConfluencePage>, tested: Option<Result<&str, &str>>) -> Response {
    let body = html! {
        h1 { "Confluence" }
        @match c {
            None => {
                p { "Confluence is not configured: decisions are stored and nothing is sent." }
                @match tested {
                    Some(Err(e)) => { p.problem role="alert" { (e) } }
                    Some(Ok(m)) => { p.notice role="status" { (m) } }
                    None => {}
                }
                @if s.can_change() {
                    h2 { "Connect to Confluence" }
                    p.muted { "Tested before it is saved, then used by every app at once, without a restart: what the apps decided so far is applied by the next Synchronize. The secret is never shown back." }
                    (connection_form(s, "", None, false, "required"))
                }
            }
            Some(c) => {
                dl.facts {
                    dt { "Base URL" } dd { code { (c.url) } }
                    dt { "UserSync signs in with" } dd { (c.sign_in) }
                    @match &c.version {
                        Ok((version, _)) => { dt { "Version" } dd { (version) } }
                        Err(e) => { dt { "Version" } dd.problem { "not known yet: " (e) } }
                    }
                }
                form method="post" action="/console/confluence/test" {
                    (csrf(s))
                    button.secondary type="submit" { "Test connection" }
                }
                @match tested {
                    Some(Ok(m)) => { p.notice role="status" { (m) } }
                    Some(Err(e)) => { p.problem role="alert" { (e) } }
                    None => {}
                }
                @if s.can_change() {
                    h2 { "Change the connection" }
                    p.muted { "Tested before it is saved, then used by every app at once, without a restart. Once saved here it overrides "
                        code { "[confluence]" } " of the configuration file. The secret is never shown back: leave it empty to keep the one saved here." }
                    (connection_form(s, &c.url, c.username.as_deref(), c.sign_in.starts_with("personal access token"), "unchanged"))
                }
                @if let Ok((_, limits)) = &c.version {
                    h2 { "What this version allows" }
                    ul { @for l in limits { li { (l) } } }
                }
                h2 { "Per app" }
                table {
                    thead { tr { th { "App" } th { "Queued" } th { "Backing off" } th { "Held because" } } }
                    tbody {
                        @for (app, held, paused, queued) in &c.apps {
                            tr {
                                td { a href={"/console/apps/" (path_segment(app)) "/outbox"} { (app) } }
                                td { (queued) }
                                td { @if let Some(ms) = paused { (ms / 1000) " s more" } @else { "no" } }
                                td { @if let Some(h) = held { span.problem { (h) } } @else { "nothing: operations go through" } }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(StatusCode::OK, page(s, "Confluence", "confluence", body))
}

fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        table {
            thead { tr { th { "When" } th { "App" } th { "Person" } th { "Action" } th { "Outcome" } th { "Module" } th { "Detail" } } }
            tbody {
                @for e in entries {
                    tr {
                        td { (e.at) }
                        td { (e.app) }
                        td { (e.user_name) }
                        td { (e.action) }
                        td { (e.outcome) }
                        td { (e.module_name) }
                        td { (e.detail) }
                    }
                }
                @if entries.is_empty() { tr { td colspan="7" { "No entries." } } }
            }
        }
    }
}

pub fn audit(s: &Session, f: &AuditFilter, apps: &[String], entries: &[AuditEntry]) -> Response {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let mut csv = String::from("/console/audit.csv?");
    for (k, v) in
        [("app", &f.app), ("person", &f.person), ("action", &f.action), ("since", &f.since), ("until", &f.until)]
    {
        if let Some(v) = v {
            csv.push_str(&format!("{k}={}&", query_value(v)));
        }
    }
    let body = html! {
        div.titlebar {
            h1 { "Audit log" }
            a.button.secondary href=(csv.trim_end_matches(['&', '?'])) { "Export CSV" }
        }
        form.filters method="get" action="/console/audit" {
            div { label for="f-app" { "App" }
                select #f-app name="app" {
                    option value="" { "All" }
                    @for a in apps { option value=(a) selected[f.app.as_deref() == Some(a.as_str())] { (a) } }
                } }
            div { label for="f-person" { "Person (SCIM id or userName)" } input #f-person name="person" type="text" value=(value(&f.person)); }
            div { label for="f-action" { "Action" }
                select #f-action name="action" {
                    option value="" { "All" }
                    @for a in ["create", "replace", "patch", "delete", "membership", "sync", "apply", "admin"] {
                        option value=(a) selected[f.action.as_deref() == Some(a)] { (a) }
                    }
                } }
            div { label for="f-since" { "From (UTC)" } input #f-since name="since" type="text" placeholder="2026-12-01" value=(value(&f.since)); }
            div { label for="f-until" { "Before (UTC)" } input #f-until name="until" type="text" placeholder="2026-12-02T12:00" value=(value(&f.until)); }
            div { button.primary type="submit" { "Filter" } }
        }
        p.muted { "The newest " (entries.len()) " entries." }
        (audit_table(entries))
    };
    respond(StatusCode::OK, page(s, "Audit log", "audit", body))
}
