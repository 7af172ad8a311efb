//! Apps as data (issue 12 §1): apps created, changed and removed at run time through the
//! admin API and the console, served without a restart, refused whole when invalid or
//! changed by someone else meanwhile, audited, and still there after a restart.

use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use super::harness::{AppSpec, Stack};
use usersync::admin::{create_account, Role};
use usersync::store::{Database, DesiredOutcome};

const PASSWORD: &str = "a long enough password";

/// A request to the admin API with the stack's admin token.
async fn admin(
    s: &Stack,
    method: &str,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (StatusCode, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s
        .http
        .request(method, format!("{}/admin/v1{path}", s.url))
        .bearer_auth(&s.tokens[usersync::http::admin::ADMIN]);
    if let Some(b) = body {
        req = req.header("content-type", "application/json").body(b.to_string());
    }
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A SCIM request with an explicit token.
async fn scim_with(s: &Stack, app: &str, token: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s.http.request(method, format!("{}/scim/v2/{app}{path}", s.url)).bearer_auth(token);
    if let Some(b) = body {
        req = req.header("content-type", "application/scim+json").body(b.to_string());
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, serde_json::from_str(&r.text().await.unwrap()).unwrap_or(Value::Null))
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": name, "primary": true}], "active": true})
}

/// The groups the app's decision grants the person.
fn granted(s: &Stack, app: &str, id: &str) -> Vec<String> {
    let snap = s.inbound.snapshot();
    match snap.app(app).and_then(|d| d.desired.get(id)).map(|d| d.outcome.clone()) {
        Some(DesiredOutcome::Provision(a)) => a.groups,
        other => panic!("no provisioning decision for {id}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_are_created_changed_and_removed_live_through_the_admin_api() {
    let s = Stack::start("apps-live", &[AppSpec::new("onelogin", "onelogin")]).await;

    let (status, list) = admin(&s, "GET", "/apps", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["apps"][0]["name"], "onelogin");
    assert_eq!(list["apps"][0]["managedBy"], "file");

    // Invalid definitions change nothing.
    let (status, body) =
        admin(&s, "POST", "/apps", Some(json!({"app": {"name": "bad name!", "kind": "okta"}})), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) =
        admin(&s, "POST", "/apps", Some(json!({"app": {"name": "ONELOGIN", "kind": "okta"}})), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a name is unique ignoring case: {body}");
    let (status, body) = admin(
        &s,
        "POST",
        "/apps",
        Some(json!({"app": {"name": "okta2", "kind": "okta", "settings": {"create_userz": false}}, "moduleFrom": "onelogin"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("create_userz"), "the unknown key is named: {body}");
    assert_eq!(admin(&s, "GET", "/apps/okta2", None, None).await.0, StatusCode::NOT_FOUND, "nothing was stored");

    // Created: served at once, with the module copied from another app.
    let (status, created) = admin(
        &s,
        "POST",
        "/apps",
        Some(
            json!({"app": {"name": "okta2", "kind": "okta", "settings": {"default_groups_new": ["confluence-users"]}},
            "moduleFrom": "onelogin", "tokenLabel": "Okta prod"}),
        ),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["baseUrl"], format!("{}/scim/v2/okta2", s.url));
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ust_"));
    let (status, ada) = scim_with(&s, "okta2", &token, "POST", "/Users", Some(user("ada@example.com"))).await;
    assert_eq!(status, 201, "{ada}");
    let ada_id = ada["id"].as_str().unwrap().to_owned();
    assert_eq!(granted(&s, "okta2", &ada_id), vec!["confluence-users".to_owned()], "the copied module decided");
    assert_eq!(
        scim_with(&s, "onelogin", &token, "GET", "/Users", None).await.0,
        401,
        "its token opens only its own app"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.user("ada@example.com").is_none() {
        assert!(Instant::now() < deadline, "the new app's Confluence side applies its decisions");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Changed: a save needs the version it was made against.
    let (status, got) = admin(&s, "GET", "/apps/okta2", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["version"], 1);
    let mut def = got["definition"].clone();
    def["settings"]["default_groups_new"] = json!(["confluence-users", "okta-people"]);
    let (status, _) = admin(&s, "PUT", "/apps/okta2", Some(def.clone()), None).await;
    assert_eq!(status.as_u16(), 428, "If-Match is required");
    let (status, saved) = admin(&s, "PUT", "/apps/okta2", Some(def.clone()), Some("\"1\"")).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 2);
    let (status, bob) = scim_with(&s, "okta2", &token, "POST", "/Users", Some(user("bob@example.com"))).await;
    assert_eq!(status, 201);
    let mut groups = granted(&s, "okta2", bob["id"].as_str().unwrap());
    groups.sort();
    assert_eq!(
        groups,
        vec!["confluence-users".to_owned(), "okta-people".to_owned()],
        "the next request sees the change"
    );

    // The second save against version 1 is refused with the app as it is now.
    let (status, stale) = admin(&s, "PUT", "/apps/okta2", Some(def.clone()), Some("W/\"1\"")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale["current"]["version"], 2, "{stale}");
    let mut wrong = def.clone();
    wrong["settings"]["keep_existing_groupz"] = json!(true);
    let (status, refused) = admin(&s, "PUT", "/apps/okta2", Some(wrong), Some("2")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused["detail"].as_str().unwrap().contains("keep_existing_groupz"), "{refused}");
    assert_eq!(admin(&s, "GET", "/apps/okta2", None, None).await.1["version"], 2, "a refused change changes nothing");
    let mut renamed = def.clone();
    renamed["name"] = json!("okta3");
    assert_eq!(admin(&s, "PUT", "/apps/okta2", Some(renamed), Some("2")).await.0, StatusCode::BAD_REQUEST);

    // The file's apps are read-only here.
    let (_, file_app) = admin(&s, "GET", "/apps/onelogin", None, None).await;
    let (status, _) = admin(&s, "PUT", "/apps/onelogin", Some(file_app["definition"].clone()), Some("0")).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A dry run decides a sample again and stores nothing.
    let mut trial = def.clone();
    trial["settings"]["default_groups_new"] = json!(["confluence-users"]);
    let (status, dry) = admin(&s, "POST", "/apps/okta2/dry-run", Some(trial), None).await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["people"], 2);
    assert_eq!(dry["sampled"], 2);
    assert_eq!(dry["changed"], 1, "bob would leave okta-people: {dry}");
    assert!(dry["examples"][0]["change"].as_str().unwrap().contains("leaves okta-people"), "{dry}");
    assert_eq!(admin(&s, "GET", "/apps/okta2", None, None).await.1["version"], 2);

    // Every change is audited: who, and what before and after.
    let audit = s.audit("okta2");
    let changes: Vec<&str> = audit.iter().filter(|e| e.subject == "app").map(|e| e.detail.as_str()).collect();
    assert!(changes.iter().any(|d| d.starts_with("app created (okta, module standard)")), "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|d| d
                .contains(r#"settings.default_groups_new: ["confluence-users"] → ["confluence-users","okta-people"]"#)),
        "{changes:?}"
    );
    assert!(audit.iter().filter(|e| e.subject == "app").all(|e| e.user_name == "admin-api"));

    // A restart serves it again, from the database.
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);
    let s = Stack::host(emulator, dir, "", &[AppSpec::new("onelogin", "onelogin")]).await;
    let (status, listed) = scim_with(&s, "okta2", &token, "GET", "/Users", None).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["totalResults"], 2);

    // Removed: it stops answering, its people are forgotten, Confluence keeps them.
    let (status, _) = admin(&s, "DELETE", "/apps/okta2", None, Some("1")).await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let (status, _) = admin(&s, "DELETE", "/apps/okta2", None, Some("2")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(scim_with(&s, "okta2", &token, "GET", "/Users", None).await.0, 401);
    assert_eq!(admin(&s, "GET", "/apps/okta2", None, None).await.0, StatusCode::NOT_FOUND);
    assert!(s.inbound.snapshot().app("okta2").is_none());
    assert!(s.user("ada@example.com").is_some(), "removing an app deprovisions nobody");
    // A new app of the same name starts empty, and the old token does not open it.
    let (status, again) =
        admin(&s, "POST", "/apps", Some(json!({"app": {"name": "okta2", "kind": "okta"}})), None).await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(scim_with(&s, "okta2", &token, "GET", "/Users", None).await.0, 401);
    let (status, empty) = scim_with(&s, "okta2", again["token"].as_str().unwrap(), "GET", "/Users", None).await;
    assert_eq!((status, empty["totalResults"].clone()), (200, json!(0)));
    s.assert_no_create_twice();
}

struct Console {
    url: String,
    http: Client,
    cookie: String,
}

impl Console {
    async fn login(s: &Stack, username: &str) -> Console {
        let http = Client::builder().redirect(Policy::none()).build().unwrap();
        let r = http
            .post(format!("{}/console/login", s.url))
            .header("origin", &s.url)
            .form(&[("username", username), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        Console { url: s.url.clone(), http, cookie }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(format!("{}{path}", self.url)).header("cookie", &self.cookie).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .header("origin", &self.url)
            .form(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn csrf(&self) -> String {
        let (_, page) = self.get("/console/").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..].split('"').next().unwrap().to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_adds_an_app_and_saves_its_settings_after_a_dry_run() {
    let s = Stack::start("apps-console", &[AppSpec::new("onelogin", "onelogin")]).await;
    let db = Database::new(&s.dir.join("usersync.db"));
    create_account(&db, "root", PASSWORD, Role::Admin, false).await.unwrap();
    create_account(&db, "watcher", PASSWORD, Role::Viewer, false).await.unwrap();
    let c = Console::login(&s, "root").await;
    let csrf = c.csrf().await;

    let (status, list) = c.get("/console/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("Add new app") && list.contains("configuration file"), "{list}");
    let (status, wizard) = c.get("/console/apps/new").await;
    assert_eq!(status, StatusCode::OK);
    for kind in ["OneLogin", "Okta", "Microsoft Entra ID", "Generic SCIM 2.0", "Copy standard from app onelogin"] {
        assert!(wizard.contains(kind), "{kind} is offered");
    }

    // Refusals show the message next to the field, and make nothing.
    let (status, page) = c
        .post(
            "/console/apps/new",
            &[("csrf", &csrf), ("kind", "okta"), ("name", "okta-c"), ("password", "not mine at all")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("no app was made") && page.contains("value=\"okta-c\""), "the form keeps what was typed");
    let (status, page) = c
        .post("/console/apps/new", &[("csrf", &csrf), ("kind", "okta"), ("name", "<b>x</b>"), ("password", PASSWORD)])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!page.contains("<b>x</b>") && page.contains("&lt;b&gt;x&lt;/b&gt;"), "escaped");
    assert!(s.inbound.app("okta-c").is_none());

    // Step 3: the URL and the token, once, with Okta's own steps.
    let (status, page) = c
        .post(
            "/console/apps/new",
            &[
                ("csrf", &csrf),
                ("kind", "okta"),
                ("name", "okta-c"),
                ("module_from", "onelogin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(page.contains(&format!("{}/scim/v2/okta-c", s.url)) && page.contains("SCIM connector base URL"), "{page}");
    let at = page.find("ust_").expect("the token is shown");
    let token: String =
        page[at..].chars().take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '-').collect();
    let (status, ada) = scim_with(&s, "okta-c", &token, "POST", "/Users", Some(user("ada@example.com"))).await;
    assert_eq!(status, 201, "{ada}");

    // Rotating its token: a new one shown once; the old one keeps working meanwhile.
    let (_, scim_page) = c.get("/console/apps/okta-c").await;
    assert!(scim_page.contains("Rotate a token"), "{scim_page}");
    let old_id = usersync::store::tokens::list(
        &usersync::store::open_connection(&s.dir.join("usersync.db")).unwrap(),
        Some("okta-c"),
    )
    .unwrap()[0]
        .id
        .clone();
    let (status, page) = c
        .post(
            "/console/apps/okta-c/tokens/rotate",
            &[("csrf", &csrf), ("id", &old_id), ("password", "not mine at all")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("nothing was rotated"));
    let (status, page) =
        c.post("/console/apps/okta-c/tokens/rotate", &[("csrf", &csrf), ("id", &old_id), ("password", PASSWORD)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("rotated: works until"), "{page}");
    let at = page.find("ust_").expect("the new token is shown");
    let rotated: String =
        page[at..].chars().take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '-').collect();
    assert_ne!(rotated, token);
    assert_eq!(scim_with(&s, "okta-c", &rotated, "GET", "/Users", None).await.0, 200);
    assert_eq!(
        scim_with(&s, "okta-c", &token, "GET", "/Users", None).await.0,
        200,
        "the old one works until its grace ends"
    );

    // The settings form is rendered from the module's declaration.
    let (status, form) = c.get("/console/apps/okta-c/settings").await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        "name=\"s.create_users\"",
        "name=\"s.default_groups_new\"",
        "name=\"s.group_mapping\"",
        "Group sync",
        "name=\"version\" value=\"1\"",
    ] {
        assert!(form.contains(field), "{field} in the form");
    }
    let (status, form) = c.get("/console/apps/onelogin/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains("managed by the configuration file") && form.contains("disabled"),
        "the file's apps are read-only"
    );

    // A field error, next to its field; nothing saved.
    let (status, page) = c
        .post(
            "/console/apps/okta-c/settings",
            &[("csrf", &csrf), ("version", "1"), ("step", "review"), ("rate_limit", "-3")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("a positive number of requests per second"), "{page}");

    // The live preview decides an IdP group with the form's settings, stored nothing; a
    // mapping picked from the lists joins group_mapping.
    let (status, page) = c
        .post(
            "/console/apps/okta-c/settings",
            &[
                ("csrf", &csrf),
                ("version", "1"),
                ("s.group_mapping", "Engineering = eng-team"),
                ("preview_group", "Engineering"),
                ("step", "preview"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("A person in <strong>Engineering</strong> gets: <code>eng-team</code>"), "{page}");
    assert!(page.contains("datalist id=\"idp-groups\""), "{page}");
    let (status, page) = c
        .post(
            "/console/apps/okta-c/settings",
            &[("csrf", &csrf), ("version", "1"), ("map_from", "Sales"), ("map_to", "sales-team"), ("step", "review")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("settings.group_mapping"), "{page}");
    let (status, page) = c
        .post(
            "/console/apps/okta-c/settings",
            &[("csrf", &csrf), ("version", "1"), ("map_from", "Sales"), ("step", "review")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("give both the IdP group and the Confluence group"), "{page}");

    // Review: the change and the dry run, then Save.
    let change = [
        ("csrf", csrf.as_str()),
        ("version", "1"),
        ("deprovision", "disable"),
        ("s.default_groups_all", "okta-people"),
        ("s.on_the_fly_rewrite_replacement", "<script>alert(1)</script>"),
    ];
    let (status, review) =
        c.post("/console/apps/okta-c/settings", &[&change[..], &[("step", "review")]].concat()).await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert!(review.contains("Review the change") && review.contains("settings.default_groups_all"), "{review}");
    assert!(review.contains("1</strong> would change"), "ada would join okta-people: {review}");
    assert!(!review.contains("<script>alert(1)"), "values are escaped");
    assert_eq!(
        s.inbound.app("okta-c").unwrap().source,
        usersync::inbound::AppSource::Console { version: 1 },
        "nothing saved yet"
    );
    let (status, _) = c.post("/console/apps/okta-c/settings", &[&change[..], &[("step", "save")]].concat()).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(s.inbound.app("okta-c").unwrap().source, usersync::inbound::AppSource::Console { version: 2 });

    // Someone saving against the version they opened sees both versions.
    let (status, page) = c.post("/console/apps/okta-c/settings", &[&change[..], &[("step", "save")]].concat()).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("changed since you opened it") && page.contains("okta-people"), "{page}");

    // A viewer can look but not add or remove.
    let v = Console::login(&s, "watcher").await;
    let vcsrf = v.csrf().await;
    assert_eq!(v.get("/console/apps/new").await.0, StatusCode::FORBIDDEN);
    let (status, _) =
        v.post("/console/apps/okta-c/remove", &[("csrf", &vcsrf), ("version", "2"), ("confirm", "okta-c")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Removing needs the name typed.
    let (status, page) =
        c.post("/console/apps/okta-c/remove", &[("csrf", &csrf), ("version", "2"), ("confirm", "okta")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("type okta-c exactly"));
    let (status, _) =
        c.post("/console/apps/okta-c/remove", &[("csrf", &csrf), ("version", "2"), ("confirm", "okta-c")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(s.inbound.app("okta-c").is_none());
    assert_eq!(scim_with(&s, "okta-c", &token, "GET", "/Users", None).await.0, 401);
}

/// The README's path from the configuration file to the console: an app taken out of the
/// file and made again in the console under its name keeps its people, decisions and tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_app_moves_to_the_console_keeping_its_people_and_tokens() {
    let keep = AppSpec::new("keep", "generic");
    let s = Stack::start("apps-move", &[keep, AppSpec::new("onelogin", "onelogin")]).await;
    let ada = s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    let token = s.tokens["onelogin"].clone();
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);

    // 2. Out of the file, restarted: not served, its data kept.
    let s = Stack::host(emulator, dir, "", &[keep]).await;
    assert_eq!(scim_with(&s, "onelogin", &token, "GET", "/Users", None).await.0, 401);
    let (status, list) = admin(&s, "GET", "/apps", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["apps"].as_array().unwrap().len(), 1);

    // 3. Made again in the console under its name.
    let (status, created) = admin(
        &s,
        "POST",
        "/apps",
        Some(json!({"app": {"name": "onelogin", "kind": "onelogin"}, "moduleFrom": "keep"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, found) = scim_with(&s, "onelogin", &token, "GET", &format!("/Users/{ada}"), None).await;
    assert_eq!(status, 200, "the old token opens it, and Ada is there: {found}");
    assert!(s.inbound.snapshot().app("onelogin").unwrap().desired.get(ada.as_str()).is_some(), "with her decision");
    let (status, _) = scim_with(
        &s,
        "onelogin",
        &token,
        "PATCH",
        &format!("/Users/{ada}"),
        Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]})),
    )
    .await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.user("ada@example.com").is_some_and(|u| u.active) {
        assert!(Instant::now() < deadline, "the console app's decisions reach Confluence");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What administrators type into an app's settings is shown back escaped: on the settings
/// form, the review, and the audit log (whose entries quote the values before and after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_are_escaped_wherever_they_are_shown() {
    const CORPUS: [&str; 4] = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "'><svg onload=alert(1)>",
        "</textarea><script>alert(2)</script>",
    ];
    let s = Stack::start("apps-xss", &[AppSpec::new("onelogin", "onelogin")]).await;
    let db = Database::new(&s.dir.join("usersync.db"));
    create_account(&db, "root", PASSWORD, Role::Admin, false).await.unwrap();
    let (status, _) = admin(
        &s,
        "POST",
        "/apps",
        Some(json!({"app": {"name": "okta", "kind": "okta"}, "moduleFrom": "onelogin"})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let c = Console::login(&s, "root").await;
    let csrf = c.csrf().await;
    for (n, payload) in CORPUS.iter().enumerate() {
        let (_, got) = admin(&s, "GET", "/apps/okta", None, None).await;
        let mut def = got["definition"].clone();
        def["settings"]["on_the_fly_rewrite_replacement"] = json!(payload);
        def["settings"]["default_groups_all"] = json!([payload]);
        let version = (n + 1).to_string();
        let (status, body) = admin(&s, "PUT", "/apps/okta", Some(def), Some(&version)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, review) = c
            .post(
                "/console/apps/okta/settings",
                &[("csrf", &csrf), ("version", &(n + 2).to_string()), ("s.group_filter", payload), ("step", "review")],
            )
            .await;
        for (page, html) in [
            ("settings", c.get("/console/apps/okta/settings").await.1),
            ("audit", c.get("/console/audit?app=okta").await.1),
            ("review", review),
        ] {
            for raw in ["<script>alert", "<img src=x", "<svg onload", "</textarea><script>"] {
                assert!(!html.contains(raw), "{page} shows {raw:?} unescaped for {payload:?}");
            }
        }
    }
}
