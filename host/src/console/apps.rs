//! The console's app screens: "Add new app" (kind, name, module; then the SCIM base URL, a
//! token and the identity provider's own steps), the User and group sync settings of an
//! app (rendered from its module's declared settings, reviewed with a dry run before they
//! are saved, refused when someone else saved in between), and removing an app.

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};

use super::pages::{csrf, idp_steps_for, kind_label, page, path_segment, respond, tabs};
use super::{admin_error, ConsoleState, Sess, Session};
use crate::admin::apps::{describe_changes, AppDefinition, ChangeError, DryRun, NewApp, KINDS};
use crate::admin::AppOverview;
use crate::config::{AppConfig, DeprovisionPolicy, DuplicatePolicy, IdpKind, UnknownMemberPolicy};

/// A form's fields, as sent (a key may repeat).
type Fields = Vec<(String, String)>;

fn field<'a>(fields: &'a Fields, key: &str) -> &'a str {
    fields.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
}

/// What the wizard was given, to show it again with the problem.
#[derive(Default)]
pub(super) struct Draft {
    pub kind: String,
    pub name: String,
    pub module_from: String,
    pub label: String,
    /// A directory app's fields (`d_…`), the bind password left out.
    pub directory: HashMap<String, String>,
}

/// The wizard's value for the directory kind.
const LDAP: &str = "ldap";

pub(super) async fn new_app_page(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !s.can_change() {
        return super::pages::error(StatusCode::FORBIDDEN, "a viewer account cannot add apps");
    }
    let kind = match query.get("kind").map(String::as_str) {
        Some(k) if k == LDAP || KINDS.iter().any(|(kind, _)| kind.as_str() == k) => k.to_owned(),
        _ => "onelogin".to_owned(),
    };
    let draft = Draft { kind, directory: super::directory_form::new_values(), ..Draft::default() };
    wizard(&s, &state, &draft, &BTreeMap::new(), StatusCode::OK)
}

fn modules_to_copy(state: &ConsoleState) -> Vec<(String, String)> {
    state.admin.apps().into_iter().filter_map(|a| Some((a.name.clone(), a.module.as_ref()?.name.clone()?))).collect()
}

/// Steps 1 and 2: which identity provider (or directory), what name, which rules; for a
/// directory, its connection and search too (shown once it is chosen; without CSS or
/// JavaScript, always).
pub(super) fn wizard(
    s: &Session,
    state: &ConsoleState,
    d: &Draft,
    errors: &BTreeMap<String, String>,
    status: StatusCode,
) -> Response {
    let modules = modules_to_copy(state);
    let err = |key: &str| errors.get(key).map(|m| html! { p.field-error id={(key) "-error"} { (m) } });
    let directory_errors = errors.keys().any(|k| k.starts_with("d_"));
    let body = html! {
        h1 { "Add new app" }
        @if let Some(m) = errors.get("") { p.problem role="alert" { (m) } }
        @if directory_errors { p.problem role="alert" { "Some directory settings need fixing (marked below); no app was made." } }
        form.stack.wizard method="post" action="/console/apps/new" {
            (csrf(s))
            fieldset {
                legend { "1. Choose the identity provider or directory" }
                div.kinds {
                    @for (kind, label) in KINDS {
                        label.kind {
                            input type="radio" name="kind" value=(kind.as_str()) checked[d.kind == kind.as_str()] required;
                            span { (label) }
                        }
                    }
                    label.kind {
                        input type="radio" name="kind" value=(LDAP) checked[d.kind == LDAP] required;
                        span { "LDAP / Active Directory" }
                    }
                }
                p.muted { "An identity provider pushes its changes to the app over SCIM; a directory (OpenLDAP, Active Directory) is read by UserSync on a schedule." }
                (err("kind").unwrap_or_default())
            }
            fieldset {
                legend { "2. Name the app" }
                label for="app-name" { "Name" }
                p.muted #app-name-help { "Letters, digits, '-' and '_' (at most 64); part of a SCIM app's base URL. It cannot be changed later." }
                input #app-name name="name" type="text" maxlength="64" pattern="[A-Za-z0-9_-]+" required value=(d.name)
                    aria-describedby="app-name-help" aria-invalid=[errors.contains_key("name").then_some("true")];
                (err("name").unwrap_or_default())
                label for="module-from" { "Rules module" }
                select #module-from name="module_from" {
                    option value="" selected[d.module_from.is_empty()] { "None for now (store what the identity provider sends; upload a module later)" }
                    @for (app, module) in &modules {
                        option value=(app) selected[d.module_from == *app] { "Copy " (module) " from app " (app) }
                    }
                }
                (err("module_from").unwrap_or_default())
                div.scim-only {
                    label for="token-label" { "Label of its first token" }
                    input #token-label name="label" type="text" maxlength="100" value=(d.label) placeholder="OneLogin production";
                    label for="reauth" { "Your password (again: the next page shows a secret)" }
                    input #reauth name="password" type="password" autocomplete="current-password";
                    (err("password").unwrap_or_default())
                }
            }
            div.directory-only {
                h2 { "3. Connect the directory" }
                p.muted { "What UserSync reads, and how often. Everything is checked before the app is made; Test connection, Test authentication and Test Sync are on the app's page once it is." }
                (super::directory_form::fields(&super::directory_form::FormView {
                    values: &d.directory,
                    errors,
                    read_only: false,
                    password: None,
                }))
            }
            button.primary type="submit" { "Create the app" }
        }
    };
    respond(status, page(s, "Add new app", "apps", body))
}

pub(super) async fn create_app(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Form(fields): Form<Fields>,
) -> Response {
    let draft = Draft {
        kind: field(&fields, "kind").to_owned(),
        name: field(&fields, "name").trim().to_owned(),
        module_from: field(&fields, "module_from").to_owned(),
        label: field(&fields, "label").trim().to_owned(),
        directory: super::directory_form::values_from(&fields),
    };
    let mut errors = BTreeMap::new();
    let directory = draft.kind == LDAP;
    let kind = KINDS.iter().map(|(k, _)| *k).find(|k| k.as_str() == draft.kind);
    if kind.is_none() && !directory {
        errors.insert("kind".to_owned(), "choose one of the identity providers or a directory".to_owned());
    }
    if draft.name.is_empty() {
        errors.insert("name".to_owned(), "give the app a name".to_owned());
    }
    if directory {
        // No secret is shown for a directory app, so the password is not asked again.
        return super::directory::create(&state, &s, &draft, &fields, errors).await;
    }
    match state.admin.check_password(&s.username, field(&fields, "password")).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            errors.insert("password".to_owned(), "your password was not right: no app was made".to_owned());
        }
        Err(e) => return admin_error(&e),
    }
    let (Some(kind), true) = (kind, errors.is_empty()) else {
        return wizard(&s, &state, &draft, &errors, StatusCode::BAD_REQUEST);
    };
    let def = new_definition(&draft.name, kind);
    let label =
        if draft.label.is_empty() { format!("{} (created with the app)", kind.as_str()) } else { draft.label.clone() };
    let module_from = Some(draft.module_from.as_str()).filter(|m| !m.is_empty());
    match state.admin.create_app(&s.username, def, module_from, &label).await {
        Ok(created) => created_page(&s, &created),
        Err(e) => {
            let message = e.to_string();
            let key = if message.contains("name") {
                "name"
            } else if message.contains("module") {
                "module_from"
            } else {
                ""
            };
            errors.insert(key.to_owned(), message);
            wizard(&s, &state, &draft, &errors, StatusCode::BAD_REQUEST)
        }
    }
}

/// A new app of `kind` with every setting at its default.
pub(super) fn new_definition(name: &str, kind: IdpKind) -> AppConfig {
    let mut table = toml::Table::new();
    table.insert("name".into(), toml::Value::String(name.to_owned()));
    table.insert("kind".into(), toml::Value::String(kind.as_str().to_owned()));
    // The defaults of a `[[apps]]` entry, from the same deserialiser the file uses.
    table.try_into().unwrap_or_else(|_| unreachable!("a name and a kind make a valid app"))
}

/// Step 3: the SCIM base URL and the token, each with a copy button, and the identity
/// provider's own steps. The token is shown once.
fn created_page(s: &Session, created: &NewApp) -> Response {
    let base = format!("/console/apps/{}", path_segment(&created.name));
    let body = html! {
        h1 { "App " (created.name) " is ready" }
        p.notice role="status" { "3. Give these two values to " (kind_label(created.kind)) ". The token is shown once: copy it now; only its hash is kept." }
        dl.facts {
            dt { "SCIM base URL" }
            dd { div.copyable { code #scim-url { (created.base_url) } button.secondary type="button" data-copy="scim-url" { "Copy" } } }
            dt { "Bearer token" }
            dd { div.copyable { code #new-token { (created.token) } button.secondary type="button" data-copy="new-token" { "Copy" } } }
            dt { "Rules module" }
            dd { (created.module.as_deref().unwrap_or("none yet: upload one on the Rules tab")) }
        }
        h2 { "Connect " (kind_label(created.kind)) }
        (idp_steps_for(created.kind))
        p {
            a.button.primary href=(base) { "Open the app" } " "
            a.button.secondary href={(base) "/settings"} { "User and group sync settings" }
        }
    };
    respond(StatusCode::CREATED, page(s, &format!("App {}", created.name), "apps", body))
}

/// The settings form: the app's own switches, then each setting its module declares.
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
    let values = form_values(&definition);
    let notice =
        query.contains_key("saved").then_some("Saved: the app serves the new settings from its next request on.");
    settings_form(
        &s,
        &overview,
        &definition,
        &values,
        &BTreeMap::new(),
        Notes { problem: None, notice },
        StatusCode::OK,
        &pickers_of(&state, &app),
    )
}

/// The form's values from a stored definition.
fn form_values(d: &AppDefinition) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let def = &d.definition;
    let text = |v: Option<&serde_json::Value>| v.and_then(serde_json::Value::as_str).unwrap_or("").to_owned();
    out.insert("deprovision".into(), text(def.get("deprovision")));
    out.insert("on_duplicate".into(), text(def.get("on_duplicate")));
    out.insert("unknown_members".into(), text(def.get("unknown_members")));
    out.insert(
        "rate_limit".into(),
        def.pointer("/rate_limit/requests_per_second")
            .and_then(serde_json::Value::as_f64)
            .map_or(String::new(), |r| r.to_string()),
    );
    if let Some(settings) = def.get("settings").and_then(serde_json::Value::as_object) {
        for (key, value) in settings {
            let shown = match value {
                serde_json::Value::Bool(b) => if *b { "on" } else { "off" }.to_owned(),
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Array(items) => {
                    items.iter().filter_map(serde_json::Value::as_str).collect::<Vec<_>>().join("\n")
                }
                serde_json::Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| format!("{k} = {}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => other.to_string(),
            };
            out.insert(format!("s.{key}"), shown);
        }
    }
    out
}

type Declared = (String, String, Option<String>, String);

/// What the settings page says above its form.
#[derive(Default, Clone, Copy)]
struct Notes<'a> {
    problem: Option<&'a str>,
    notice: Option<&'a str>,
}

fn problem(text: &str) -> Notes<'_> {
    Notes { problem: Some(text), notice: None }
}

/// Which tab a declared setting belongs on.
fn is_group_setting(key: &str) -> bool {
    key.contains("group") || key.starts_with("on_the_fly")
}

fn pickers_of(state: &ConsoleState, app: &str) -> Pickers {
    let (idp_groups, confluence_groups) = state.admin.group_names(app);
    Pickers { idp_groups, confluence_groups, preview: None }
}

/// What a previewed IdP group grants: the Confluence groups, and those created if missing.
type Granted = (Vec<String>, Vec<String>);

/// What the group sync part offers to pick from, and the preview's outcome.
#[derive(Default)]
struct Pickers {
    idp_groups: Vec<String>,
    confluence_groups: Vec<String>,
    /// (the IdP group, what it becomes: granted groups, or why not)
    preview: Option<(String, Result<Granted, String>)>,
}

#[allow(clippy::too_many_arguments)]
fn settings_form(
    s: &Session,
    a: &AppOverview,
    d: &AppDefinition,
    values: &HashMap<String, String>,
    errors: &BTreeMap<String, String>,
    notes: Notes<'_>,
    status: StatusCode,
    pickers: &Pickers,
) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let read_only = d.managed_by == "file" || !s.can_change();
    let declared: Vec<Declared> = a.module.as_ref().map(|m| m.settings.clone()).unwrap_or_default();
    let value = |key: &str| values.get(key).cloned().unwrap_or_default();
    let err = |key: &str| errors.get(key).map(|m| html! { p.field-error role="alert" { (m) } });
    let setting_field = |(key, kind, default, help): &Declared| {
        let name = format!("s.{key}");
        let id = format!("s-{key}");
        let current = value(&name);
        html! {
            div.setting {
                label for=(id) { code { (key) } }
                p.muted { (help) @if let Some(dv) = default { " Default: " code { (dv) } "." } }
                @match kind.as_str() {
                    "flag" => {
                        select id=(id) name=(name) disabled[read_only] {
                            option value="" selected[current.is_empty()] { "Default" }
                            option value="on" selected[current == "on"] { "On" }
                            option value="off" selected[current == "off"] { "Off" }
                        }
                    }
                    "number" => { input id=(id) name=(name) type="number" step="1" value=(current) disabled[read_only]; }
                    "text-list" => {
                        textarea id=(id) name=(name) rows="3" spellcheck="false" placeholder="one per line" disabled[read_only] { (current) }
                    }
                    "mapping" => {
                        textarea id=(id) name=(name) rows="4" spellcheck="false" placeholder="key = value, one per line" disabled[read_only] { (current) }
                    }
                    _ => { input id=(id) name=(name) type="text" value=(current) disabled[read_only]; }
                }
                (err(&name).unwrap_or_default())
            }
        }
    };
    let select = |name: &str, label: &str, options: &[(&str, &str)]| {
        let current = value(name);
        html! {
            label for=(name) { (label) }
            select id=(name) name=(name) disabled[read_only] {
                @for (v, text) in options { option value=(v) selected[current == *v] { (text) } }
            }
            (err(name).unwrap_or_default())
        }
    };
    let body = html! {
        (tabs(a, "settings"))
        @if d.managed_by == "file" {
            p.notice { "This app is managed by the configuration file: it is read-only here. Change its " code { "[[apps]]" } " entry and restart, or move it to the console (see the README)." }
        }
        @if let Some(n) = notes.notice { p.notice role="status" { (n) } }
        @if let Some(p) = notes.problem { p.problem role="alert" { (p) } }
        form.stack method="post" action={(base) "/settings"} {
            (csrf(s))
            input type="hidden" name="version" value=(d.version);
            fieldset {
                legend { "User sync" }
                (select("deprovision", "When the identity provider deletes a person, or the rules stop provisioning them", &[("disable", "Disable the Confluence user"), ("delete", "Delete the Confluence user")]))
                (select("on_duplicate", "A new person whose username is taken", &[("", "The identity provider's default"), ("adopt", "Adopt the existing person"), ("conflict", "Refuse (409)")]))
                @for decl in declared.iter().filter(|d| !is_group_setting(&d.0)) { (setting_field(decl)) }
            }
            fieldset {
                legend { "Group sync" }
                (select("unknown_members", "Group members the app does not know", &[("", "The identity provider's default"), ("drop", "Drop them"), ("reject", "Refuse the request")]))
                @for decl in declared.iter().filter(|d| is_group_setting(&d.0)) { (setting_field(decl)) }
                @if a.module.is_some() && !read_only {
                    datalist #idp-groups { @for g in &pickers.idp_groups { option value=(g) {} } }
                    datalist #confluence-groups { @for g in &pickers.confluence_groups { option value=(g) {} } }
                    div.setting {
                        label for="map-from" { "Add a mapping: IdP group" }
                        input #map-from name="map_from" type="text" list="idp-groups" value=(value("map_from")) autocomplete="off";
                        label for="map-to" { "… to the Confluence group" }
                        input #map-to name="map_to" type="text" list="confluence-groups" value=(value("map_to")) autocomplete="off";
                        p.muted { "Pick from the groups the identity provider has sent and the Confluence groups UserSync knows, or type a name; it joins group_mapping when you review or preview." }
                        (err("map_to").unwrap_or_default())
                    }
                    div.setting #preview {
                        label for="preview-group" { "Preview: what does an IdP group become?" }
                        input #preview-group name="preview_group" type="text" list="idp-groups" value=(value("preview_group")) autocomplete="off";
                        button.secondary type="submit" name="step" value="preview" { "Preview with these settings" }
                        @if let Some((group, outcome)) = &pickers.preview {
                            @match outcome {
                                Ok((granted, _)) if granted.is_empty() => {
                                    p.notice role="status" { "A person in " strong { (group) } " gets no Confluence group from it." }
                                }
                                Ok((granted, created)) => {
                                    p.notice role="status" {
                                        "A person in " strong { (group) } " gets: "
                                        @for (i, g) in granted.iter().enumerate() { @if i > 0 { ", " } code { (g) } @if created.contains(g) { " (created if missing)" } }
                                    }
                                }
                                Err(e) => { p.problem role="alert" { (e) } }
                            }
                        }
                    }
                }
            }
            // A directory app receives no requests: UserSync reads the directory.
            @if a.kind != IdpKind::Ldap.as_str() {
                fieldset {
                    legend { "Requests" }
                    label for="rate_limit" { "Most requests per second from the identity provider (empty: no limit)" }
                    input #rate_limit name="rate_limit" type="number" min="0" step="any" value=(value("rate_limit")) disabled[read_only];
                    (err("rate_limit").unwrap_or_default())
                }
            }
            @if a.module.is_none() { p.muted { "The app has no rules module yet, so there are no module settings: upload one on the Rules tab." } }
            @if !read_only { button.primary type="submit" name="step" value="review" { "Review the change" } }
        }
        @if !read_only {
            section {
                h2 { "Remove this app" }
                p.muted { "The app stops answering at once. Its people, decisions, tokens and queued operations are forgotten; the audit log keeps its history. "
                    "Confluence is left as it is: nobody is deprovisioned, and what the app granted stays as if granted by hand." }
                form.stack method="post" action={(base) "/remove"} {
                    (csrf(s))
                    input type="hidden" name="version" value=(d.version);
                    label for="confirm-name" { "Type the app's name to confirm" }
                    input #confirm-name name="confirm" type="text" required autocomplete="off";
                    (err("confirm").unwrap_or_default())
                    button.danger type="submit" { "Remove " (a.name) }
                }
            }
        }
    };
    respond(status, page(s, &format!("{} settings", a.name), "apps", body))
}

/// The definition the form describes, from the app's current one; field errors by field.
fn definition_from_form(
    current: &serde_json::Value,
    declared: &[Declared],
    fields: &Fields,
) -> Result<AppConfig, BTreeMap<String, String>> {
    let mut def: AppConfig = match serde_json::from_value(current.clone()) {
        Ok(d) => d,
        Err(e) => return Err(BTreeMap::from([(String::new(), format!("the stored app does not parse: {e}"))])),
    };
    let mut errors = BTreeMap::new();
    match field(fields, "deprovision") {
        "delete" => def.deprovision = DeprovisionPolicy::Delete,
        "disable" | "" => def.deprovision = DeprovisionPolicy::Disable,
        other => {
            errors.insert("deprovision".into(), format!("{other:?} is not a choice"));
        }
    }
    def.on_duplicate = match field(fields, "on_duplicate") {
        "adopt" => Some(DuplicatePolicy::Adopt),
        "conflict" => Some(DuplicatePolicy::Conflict),
        _ => None,
    };
    def.unknown_members = match field(fields, "unknown_members") {
        "drop" => Some(UnknownMemberPolicy::Drop),
        "reject" => Some(UnknownMemberPolicy::Reject),
        _ => None,
    };
    let rate = field(fields, "rate_limit").trim();
    def.rate_limit = if rate.is_empty() {
        None
    } else {
        match rate.parse::<f64>() {
            Ok(r) if r.is_finite() && r > 0.0 => Some(crate::config::RateLimitConfig {
                requests_per_second: r,
                burst: def.rate_limit.and_then(|l| l.burst),
            }),
            _ => {
                errors.insert("rate_limit".into(), "a positive number of requests per second, or empty".into());
                None
            }
        }
    };
    for (key, kind, _, _) in declared {
        let name = format!("s.{key}");
        let raw = field(fields, &name).trim();
        let existing = def.settings.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        if let Some(k) = existing {
            def.settings.remove(&k);
        }
        if raw.is_empty() {
            continue;
        }
        let value = match kind.as_str() {
            "flag" => match raw {
                "on" => toml::Value::Boolean(true),
                "off" => toml::Value::Boolean(false),
                _ => {
                    errors.insert(name, "choose Default, On or Off".into());
                    continue;
                }
            },
            "number" => match raw.parse::<i64>() {
                Ok(n) => toml::Value::Integer(n),
                Err(_) => {
                    errors.insert(name, "a whole number".into());
                    continue;
                }
            },
            "text-list" => toml::Value::Array(
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(|l| toml::Value::String(l.to_owned()))
                    .collect(),
            ),
            "mapping" => {
                let mut table = toml::Table::new();
                for (n, line) in raw.lines().map(str::trim).filter(|l| !l.is_empty()).enumerate() {
                    match line.split_once('=') {
                        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
                            table.insert(from.trim().to_owned(), toml::Value::String(to.trim().to_owned()));
                        }
                        _ => {
                            errors.insert(
                                name.clone(),
                                format!("line {}: write it as IdP group = Confluence group", n + 1),
                            );
                        }
                    }
                }
                toml::Value::Table(table)
            }
            _ => toml::Value::String(raw.to_owned()),
        };
        def.settings.insert(key.clone(), value);
    }
    let (from, to) = (field(fields, "map_from").trim(), field(fields, "map_to").trim());
    match (from.is_empty(), to.is_empty()) {
        (true, true) => {}
        (false, false) => {
            let key = def.settings.keys().find(|k| k.eq_ignore_ascii_case("group_mapping")).cloned();
            let key = key.unwrap_or_else(|| "group_mapping".to_owned());
            match def.settings.entry(key).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
                toml::Value::Table(table) => {
                    table.insert(from.to_owned(), toml::Value::String(to.to_owned()));
                }
                _ => {
                    errors.insert("map_to".into(), "group_mapping is not a mapping in this app's settings".into());
                }
            }
        }
        _ => {
            errors.insert("map_to".into(), "give both the IdP group and the Confluence group".into());
        }
    }
    if errors.is_empty() {
        Ok(def)
    } else {
        Err(errors)
    }
}

/// "Review the change" (a dry run, nothing stored) and "Save" (stored if nobody saved in
/// between).
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
    let values: HashMap<String, String> = fields.iter().cloned().collect();
    let declared: Vec<Declared> = overview.module.as_ref().map(|m| m.settings.clone()).unwrap_or_default();
    let Ok(version) = field(&fields, "version").parse::<u64>() else {
        return super::pages::error(StatusCode::BAD_REQUEST, "the form has no version: reload the page");
    };
    if definition.managed_by == "file" {
        return admin_error(&crate::admin::AdminError::ReadOnly(app));
    }
    if version != definition.version {
        return conflict_page(&s, &overview, &definition, None);
    }
    let def = match definition_from_form(&definition.definition, &declared, &fields) {
        Ok(d) => d,
        Err(errors) => {
            return settings_form(
                &s,
                &overview,
                &definition,
                &values,
                &errors,
                problem("Some values need fixing; nothing was saved."),
                StatusCode::BAD_REQUEST,
                &pickers_of(&state, &app),
            )
        }
    };
    if field(&fields, "step") == "preview" {
        let group = field(&fields, "preview_group").trim().to_owned();
        let outcome = if group.is_empty() {
            Err("type an IdP group name to preview".to_owned())
        } else {
            state.admin.preview_group(&app, def, &group).await.map_err(|e| e.to_string())
        };
        let mut pickers = pickers_of(&state, &app);
        pickers.preview = Some((group, outcome));
        return settings_form(
            &s,
            &overview,
            &definition,
            &values,
            &BTreeMap::new(),
            Notes::default(),
            StatusCode::OK,
            &pickers,
        );
    }
    if field(&fields, "step") == "save" {
        return match state.admin.update_app(&s.username, &app, def.clone(), version).await {
            Ok(_) => Redirect::to(&format!("/console/apps/{}/settings?saved=1", path_segment(&app))).into_response(),
            Err(ChangeError::Changed { current, .. }) => match current {
                Some(now) => conflict_page(&s, &overview, &now, serde_json::to_value(&def).ok()),
                None => super::pages::error(StatusCode::CONFLICT, "the app was removed meanwhile"),
            },
            Err(ChangeError::Admin(e)) => settings_form(
                &s,
                &overview,
                &definition,
                &values,
                &BTreeMap::new(),
                problem(&format!("Not saved: {e}")),
                StatusCode::BAD_REQUEST,
                &pickers_of(&state, &app),
            ),
        };
    }
    let after = serde_json::to_value(&def).unwrap_or_default();
    let changes = describe_changes(&definition.definition, &after);
    match state.admin.dry_run(&app, def).await {
        Ok(dry) => review_page(&s, &overview, &fields, &changes, &dry),
        Err(e) => settings_form(
            &s,
            &overview,
            &definition,
            &values,
            &BTreeMap::new(),
            problem(&e.to_string()),
            StatusCode::BAD_REQUEST,
            &pickers_of(&state, &app),
        ),
    }
}

/// The dry run's result and the change, with "Save" carrying the same values.
fn review_page(s: &Session, a: &AppOverview, fields: &Fields, changes: &str, dry: &DryRun) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let body = html! {
        (tabs(a, "settings"))
        h2 { "Review the change" }
        @if changes.is_empty() { p { "Nothing changes." } } @else {
            ul.changes { @for c in changes.split("; ") { li { code { (c) } } } }
        }
        @if let Some(refused) = &dry.refused {
            p.problem role="alert" { (refused) " Saving is refused until the settings are fixed." }
        } @else {
            (dry_run_summary(dry))
        }
        form.stack method="post" action={(base) "/settings"} {
            @for (k, v) in fields.iter().filter(|(k, _)| k != "step" && k != "csrf") {
                input type="hidden" name=(k) value=(v);
            }
            (csrf(s))
            input type="hidden" name="step" value="save";
            div.actions {
                @if dry.refused.is_none() { button.primary type="submit" { "Save" } }
                a.button.secondary href={(base) "/settings"} { "Back to the form (discard)" }
            }
        }
    };
    respond(StatusCode::OK, page(s, &format!("{} settings", a.name), "apps", body))
}

pub(super) fn dry_run_summary(dry: &DryRun) -> Markup {
    html! {
        @if dry.people == 0 {
            p { "The app has no people yet: the change affects whoever it receives next." }
        } @else {
            p {
                "Decided again for " strong { (dry.sampled) } " of the app's " (dry.people) " people: "
                strong { (dry.changed) } " would change, " (dry.unchanged) " would stay as they are"
                @if dry.skipped > 0 { ", " strong { (dry.skipped) } " would no longer be provisioned" }
                "."
            }
            @if dry.rejected > 0 || dry.failed > 0 {
                p.problem role="alert" {
                    "The module would reject " (dry.rejected) " and fail for " (dry.failed) " of them: the identity provider's next change for them would be refused."
                }
            }
            @if !dry.examples.is_empty() {
                table {
                    thead { tr { th { "Person" } th { "What changes" } } }
                    tbody { @for e in &dry.examples { tr { td { (e.user_name) } td { (e.change) } } } }
                }
            }
        }
    }
}

/// "Changed since you opened it": the app as it is now, and what this save would have made.
pub(super) fn conflict_page(
    s: &Session,
    a: &AppOverview,
    now: &AppDefinition,
    yours: Option<serde_json::Value>,
) -> Response {
    let base = format!("/console/apps/{}", path_segment(&a.name));
    let body = html! {
        (tabs(a, "settings"))
        p.problem role="alert" {
            "This app was changed since you opened it (now version " (now.version)
            @if let Some(by) = &now.updated_by { ", by " (by) } @if let Some(at) = &now.updated_at { " at " (at) }
            "). Nothing was saved."
        }
        div.compare {
            div { h3 { "Now" } pre.scim { (now.pretty()) } }
            @if let Some(y) = &yours { div { h3 { "Yours" } pre.scim { (serde_json::to_string_pretty(y).unwrap_or_default()) } } }
        }
        p { a.button.primary href={(base) "/settings"} { "Open the current settings" } }
    };
    respond(StatusCode::CONFLICT, page(s, &format!("{} settings", a.name), "apps", body))
}

pub(super) async fn remove_app(
    State(state): State<ConsoleState>,
    axum::Extension(s): Sess,
    Path(app): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let (overview, definition) = match (state.admin.app(&app), state.admin.definition(&app).await) {
        (Ok(o), Ok(d)) => (o, d),
        (Err(e), _) | (_, Err(e)) => return admin_error(&e),
    };
    if field(&fields, "confirm").trim() != app {
        let errors = BTreeMap::from([("confirm".to_owned(), format!("type {app} exactly to remove it"))]);
        return settings_form(
            &s,
            &overview,
            &definition,
            &form_values(&definition),
            &errors,
            Notes::default(),
            StatusCode::BAD_REQUEST,
            &pickers_of(&state, &app),
        );
    }
    let version = field(&fields, "version").parse::<u64>().unwrap_or(u64::MAX);
    match state.admin.remove_app(&s.username, &app, version).await {
        Ok(()) => Redirect::to("/console/?removed=1").into_response(),
        Err(ChangeError::Changed { current: Some(now), .. }) => conflict_page(&s, &overview, &now, None),
        Err(e) => super::pages::error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
