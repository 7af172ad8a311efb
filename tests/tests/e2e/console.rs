//! The admin console over a real socket: logins and sessions, CSRF and origin checks,
//! roles, the throttle on failed logins, tokens made in the console opening the SCIM API,
//! people search, the audit log and its CSV, and HTML escaping of what identity providers
//! send.

use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use serde_json::json;

use super::harness::{AppSpec, Stack};
use usersync::admin::{create_account, Role};
use usersync::store::Database;

pub(super) const PASSWORD: &str = "a long enough password";

/// A browser-like client of the console: its session cookie, no redirects followed.
pub(super) struct Console {
    pub(super) url: String,
    pub(super) http: Client,
    pub(super) cookie: Option<String>,
}

impl Console {
    pub(super) fn new(s: &Stack) -> Console {
        let http = Client::builder().redirect(Policy::none()).build().unwrap();
        Console { url: s.url.clone(), http, cookie: None }
    }

    pub(super) async fn login(&mut self, username: &str, password: &str) -> reqwest::Response {
        let r = self
            .http
            .post(format!("{}/console/login", self.url))
            .header("origin", &self.url)
            .form(&[("username", username), ("password", password)])
            .send()
            .await
            .unwrap();
        if let Some(c) = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()) {
            self.cookie = Some(c.split(';').next().unwrap().to_owned());
        }
        r
    }

    pub(super) async fn get(&self, path: &str) -> (StatusCode, String) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub(super) async fn post(&self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> (StatusCode, String) {
        let mut req = self.http.post(format!("{}{path}", self.url)).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// The CSRF token in a page's forms.
    pub(super) async fn csrf(&self) -> String {
        let (_, page) = self.get("/console/").await;
        let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
        page[at..].split('"').next().unwrap().to_owned()
    }
}

async fn stack_with_accounts(name: &str) -> Stack {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\ndefault_groups_new = [\"confluence-users\"]\n\
                   [apps.settings.custom_fields]\ndepartment = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"",
        ..AppSpec::new("onelogin", "onelogin")
    };
    let s = Stack::start(name, &[app]).await;
    let db = Database::new(&s.dir.join("usersync.db"));
    create_account(&db, "root", PASSWORD, Role::Admin, false).await.unwrap();
    create_account(&db, "watcher", PASSWORD, Role::Viewer, false).await.unwrap();
    assert!(create_account(&db, "short", "too short", Role::Admin, false).await.is_err());
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_logs_in_makes_a_token_that_opens_scim_and_finds_the_person() {
    let s = stack_with_accounts("console-admin").await;
    let mut c = Console::new(&s);

    // No session: the console sends the browser to the login page.
    let (status, _) = c.get("/console/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(c.login("root", "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    assert!(c.cookie.is_none());
    let r = c.login("root", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["__Host-usersync=", "HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }

    let (status, page) = c.get("/console/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Configured apps") && page.contains("/console/apps/onelogin"), "{page}");
    let (_, app_page) = c.get("/console/apps/onelogin").await;
    assert!(app_page.contains(&format!("{}/scim/v2/onelogin", s.url)), "the SCIM base URL is shown");
    assert!(app_page.contains("SCIM Bearer Token"), "with OneLogin's own steps");

    // Creating a token: the CSRF token and the admin's password are both required.
    let csrf = c.csrf().await;
    let tokens_before = s.inbound.snapshot(); // unchanged by refusals below
    drop(tokens_before);
    let (status, _) = c.post("/console/apps/onelogin/tokens", &[("label", "forged")], Some(&c.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, page) = c
        .post(
            "/console/apps/onelogin/tokens",
            &[("csrf", &csrf), ("label", "x"), ("password", "not mine at all")],
            Some(&c.url),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("no token was made"));
    let (status, page) = c
        .post(
            "/console/apps/onelogin/tokens",
            &[("csrf", &csrf), ("label", "OneLogin production"), ("password", PASSWORD)],
            Some(&c.url),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let at = page.find("ust_").expect("the new token is shown once");
    let token: String =
        page[at..].chars().take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '-').collect();
    let listed = Database::new(&s.dir.join("usersync.db")).tokens(Some("onelogin".into())).await.unwrap();
    assert_eq!(listed.iter().filter(|t| t.label == "OneLogin production").count(), 1);
    assert_eq!(
        listed.iter().filter(|t| t.label == "forged" || t.label == "x").count(),
        0,
        "refused forms made nothing"
    );

    // The token opens the app's SCIM API (the verifier re-reads tokens it does not know).
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": "grace@example.com",
        "name": {"givenName": "Grace", "familyName": "Hopper"},
        "emails": [{"value": "grace@example.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Compilers"},
        "active": true
    });
    let r = s
        .http
        .post(format!("{}/scim/v2/onelogin/Users", s.url))
        .bearer_auth(&token)
        .header("content-type", "application/scim+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // People: found by e-mail, and the person's page shows the decision's custom fields.
    let (_, found) = c.get("/console/people?q=GRACE%40example").await;
    assert!(found.contains(&format!("/console/apps/onelogin/people/{id}")), "{found}");
    let (_, partial) = c
        .http
        .get(format!("{}/console/people?q=hopper", c.url))
        .header("cookie", c.cookie.clone().unwrap())
        .header("hx-request", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|t| (0, t))
        .unwrap();
    assert!(partial.starts_with("<div id=\"results\">"), "htmx gets the results alone: {partial}");
    let (_, person) = c.get(&format!("/console/apps/onelogin/people/{id}")).await;
    assert!(
        person.contains("Custom profile fields") && person.contains("department") && person.contains("Compilers"),
        "{person}"
    );
    assert!(person.contains("Grace Hopper"));

    // The token's creation is audited, without the secret; the CSV export has it.
    let (_, audit) = c.get("/console/audit?action=admin").await;
    assert!(audit.contains("created token") && audit.contains("root"), "{audit}");
    assert!(!audit.contains(&token), "never the secret");
    let (status, csv) = c.get("/console/audit.csv?app=onelogin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(csv.starts_with("at,app,subject,user_name,action,outcome,module,module_hash,detail\r\n"));
    assert!(csv.contains("created token") && csv.contains("grace@example.com"));

    // Logging out ends the session on the server.
    let csrf = c.csrf().await;
    let (status, _) = c.post("/console/logout", &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/console/").await.0, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_changes_nothing_and_forged_or_foreign_posts_are_refused() {
    let s = stack_with_accounts("console-viewer").await;
    let db = Database::new(&s.dir.join("usersync.db"));
    let mut admin = Console::new(&s);
    admin.login("root", PASSWORD).await;
    let csrf = admin.csrf().await;

    // A post from another site, even with the session's cookie and token, is refused.
    let (status, _) = admin
        .post(
            "/console/apps/onelogin/tokens",
            &[("csrf", &csrf), ("label", "evil"), ("password", PASSWORD)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // So is a token from another session.
    let mut other = Console::new(&s);
    other.login("root", PASSWORD).await;
    let (status, _) = other
        .post("/console/apps/onelogin/tokens", &[("csrf", &csrf), ("label", "stale"), ("password", PASSWORD)], None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(db.tokens(Some("onelogin".into())).await.unwrap().iter().all(|t| t.label == "e2e"));

    let mut viewer = Console::new(&s);
    viewer.login("watcher", PASSWORD).await;
    let (status, page) = viewer.get("/console/apps/onelogin").await;
    assert_eq!(status, StatusCode::OK, "a viewer reads");
    assert!(!page.contains("Create a token") && !page.contains(">Revoke<"), "and is offered no changes");
    let vcsrf = viewer.csrf().await;
    let token_id = db.tokens(Some("onelogin".into())).await.unwrap()[0].id.clone();
    let (status, page) = viewer
        .post(&format!("/console/apps/onelogin/tokens/{token_id}/revoke"), &[("csrf", &vcsrf)], Some(&viewer.url))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, _) =
        viewer.post("/console/apps/onelogin/sync", &[("csrf", &vcsrf), ("mode", "run")], Some(&viewer.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(db.tokens(Some("onelogin".into())).await.unwrap().iter().all(|t| t.revoked.is_none()));

    // The admin may: revoking works and is audited.
    let (status, _) = admin
        .post(&format!("/console/apps/onelogin/tokens/{token_id}/revoke"), &[("csrf", &csrf)], Some(&admin.url))
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(db.tokens(Some("onelogin".into())).await.unwrap()[0].revoked.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled_per_account() {
    let s = stack_with_accounts("console-throttle").await;
    let mut c = Console::new(&s);
    for _ in 0..5 {
        assert_eq!(c.login("root", "wrong password!!").await.status(), StatusCode::UNAUTHORIZED);
    }
    let r = c.login("root", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert!(r.headers().contains_key("retry-after"));
    assert!(c.cookie.is_none());
    // Another account from the same (loopback) address is throttled too: the address failed.
    assert_eq!(c.login("watcher", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// What identity providers send is shown back escaped on every page that shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_identity_providers_send_is_escaped() {
    let s = stack_with_accounts("console-xss").await;
    let corpus = [
        "<script>alert(1)</script>",
        "\"><img src=x onerror=alert(1)>",
        "'><svg onload=alert(1)>",
        "javascript:alert(1)//</pre><script>x</script>",
    ];
    let mut ids = Vec::new();
    for (n, evil) in corpus.iter().enumerate() {
        let body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
            "userName": format!("evil{n}@example.com"),
            "name": {"givenName": evil, "familyName": "X"},
            "emails": [{"value": format!("evil{n}@example.com")}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": evil},
            "active": true
        });
        let (status, created) = s.scim("onelogin", "POST", "/Users", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let mut pages = vec![c.get("/console/people?q=evil").await.1, c.get("/console/audit").await.1];
    for id in &ids {
        pages.push(c.get(&format!("/console/apps/onelogin/people/{id}")).await.1);
    }
    for page in &pages {
        for raw in ["<script>alert", "<img src=x", "<svg onload", "</pre><script>"] {
            assert!(!page.contains(raw), "{raw} came through unescaped:\n{page}");
        }
    }
    assert!(pages[2].contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "shown, escaped");
}

/// A multipart body with one file field `module`.
fn multipart(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "usersync-test-boundary-7d1f";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"module\"; filename=\"rules.wasm\"\r\nContent-Type: application/wasm\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The standard module with a custom section appended: the same rules, another hash.
fn variant_of_standard() -> Vec<u8> {
    let mut bytes = super::harness::standard_module().to_vec();
    let name = b"usersync-test";
    let payload = b"variant";
    bytes.push(0); // custom section
    bytes.push(u8::try_from(1 + name.len() + payload.len()).unwrap());
    bytes.push(u8::try_from(name.len()).unwrap());
    bytes.extend_from_slice(name);
    bytes.extend_from_slice(payload);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_are_uploaded_after_their_self_test_kept_and_rolled_back_and_tried() {
    let s = stack_with_accounts("console-modules").await;
    let registry = s.inbound.rules().unwrap().registry().clone();
    let serving = || registry.current("onelogin").unwrap().id().hash.clone();
    let original = serving();
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let csrf = c.csrf().await;
    let upload = |bytes: Vec<u8>, token: String| {
        let (content_type, body) = multipart(&bytes);
        let request = c
            .http
            .post(format!("{}/console/apps/onelogin/rules/upload?csrf={token}", c.url))
            .header("cookie", c.cookie.clone().unwrap())
            .header("origin", &c.url)
            .header("content-type", content_type)
            .body(body);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };

    // Not wasm, and wasm that does not load: refused, and the module keeps serving.
    let (status, page) = upload(b"#!/bin/sh\necho not a module\n".to_vec(), csrf.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("not a WebAssembly module") && page.contains("The serving module is unchanged"), "{page}");
    let (status, page) = upload(b"\0asm\x01\0\0\0garbage".to_vec(), csrf.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("was not installed"), "{page}");
    assert_eq!(serving(), original);
    // Without the CSRF token nothing is even read.
    let (status, _) = upload(variant_of_standard(), "wrong".into()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(serving(), original);

    // A module that loads and passes its self-test is kept and reviewed first: what it
    // would decide for the app's people; it serves only once installed. Both are kept.
    let (status, page) = upload(variant_of_standard(), csrf.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let staged = usersync::rules::content_hash(&variant_of_standard());
    assert!(page.contains("passed its checks and self-test") && page.contains("Install this module"), "{page}");
    assert!(page.contains(&staged[..12]), "{page}");
    assert_eq!(serving(), original, "not serving before it is installed");
    let (status, page) =
        c.post("/console/apps/onelogin/rules/install", &[("csrf", &csrf), ("hash", &staged)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let variant = serving();
    assert_eq!(variant, staged);
    assert_ne!(variant, original);
    assert!(page.contains("now serving") && page.contains(&variant[..12]) && page.contains(&original[..12]), "{page}");
    assert_eq!(std::fs::read(s.dir.join("standard.wasm")).unwrap(), variant_of_standard(), "the module file itself");

    // Roll back to the original.
    let (status, page) =
        c.post("/console/apps/onelogin/rules/rollback", &[("csrf", &csrf), ("hash", &original)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(serving(), original);
    let (_, audit) = c.get("/console/audit?action=admin").await;
    assert!(audit.contains("uploaded module") && audit.contains("rolled back to module"), "{audit}");

    // Try it: a stored person, and pasted JSON; a viewer may too. Nothing is stored.
    let id = s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    let audit_before = s.audit("onelogin").len();
    let (status, page) = c
        .post("/console/apps/onelogin/rules/try", &[("csrf", &csrf), ("person", &id), ("json", "")], Some(&c.url))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Confluence username") && page.contains(">ada<"), "{page}");
    let mut viewer = Console::new(&s);
    viewer.login("watcher", PASSWORD).await;
    let vcsrf = viewer.csrf().await;
    let pasted = r#"{"userName": "lin@example.com", "name": {"givenName": "Lin", "familyName": "Wu"}, "emails": [{"value": "lin@example.com"}], "groups": [{"value": "g1", "display": "Engineering"}]}"#;
    let (status, page) = viewer
        .post(
            "/console/apps/onelogin/rules/try",
            &[("csrf", &vcsrf), ("person", ""), ("json", pasted)],
            Some(&viewer.url),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(">lin<") && page.contains("Lin Wu"), "{page}");
    let (status, page) = viewer
        .post(
            "/console/apps/onelogin/rules/try",
            &[("csrf", &vcsrf), ("person", ""), ("json", "{not json")],
            Some(&viewer.url),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("not JSON"), "{page}");
    assert_eq!(s.audit("onelogin").len(), audit_before, "trying stores nothing");
    assert!(s.inbound.snapshot().app("onelogin").unwrap().desired.len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confluence_page_shows_the_connection_and_tests_it() {
    let s = stack_with_accounts("console-confluence").await;
    let mut c = Console::new(&s);
    c.login("watcher", PASSWORD).await;
    let (status, page) = c.get("/console/confluence").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&s.emulator.base_url()) && page.contains("user admin, password from"), "{page}");
    assert!(page.contains("What this version allows"), "the detected version and its limits: {page}");
    let csrf = c.csrf().await;
    let (status, page) = c.post("/console/confluence/test", &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Connected to Confluence") && page.contains("as admin"), "{page}");
}

/// An operation Confluence refused for good is listed with its error; Retry queues it
/// again (applied once), Discard drops it; both are audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_operations_are_retried_or_discarded_from_the_outbox_page() {
    use usersync_tests::emulator::{Faults, TargetedAction, TargetedFault};
    let s = stack_with_accounts("console-refused").await;
    s.emulator.set_faults(Faults {
        targeted: vec![TargetedFault {
            times: 2,
            ..TargetedFault::new("POST", "/rest/api/admin/user", TargetedAction::BadRequest)
        }],
        ..Faults::default()
    });
    // A Bulk queues its Confluence work, so the refusals land in the outbox's refused list.
    let operations: Vec<serde_json::Value> = ["ada@example.com", "bob@example.com"]
        .iter()
        .enumerate()
        .map(|(n, name)| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                "name": {"givenName": "A", "familyName": "B"}, "emails": [{"value": name, "primary": true}], "active": true}})
        })
        .collect();
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
    let (status, response) = s.scim("onelogin", "POST", "/Bulk", Some(body)).await;
    assert_eq!(status, 200, "{response}");
    let db = Database::new(&s.dir.join("usersync.db"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let failed = loop {
        let failed = db.failed(Some("onelogin".into()), 100).await.unwrap();
        // Each creation, and the membership queued after it (its user does not exist).
        if failed.len() == 4 {
            break failed;
        }
        assert!(std::time::Instant::now() < deadline, "both creations are refused: {failed:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let seq_of = |name: &str, op: &str| {
        failed.iter().find(|f| f.row.subject == name && f.row.op.contains(op)).unwrap().row.seq.to_string()
    };
    let (ada, ada_joins) = (seq_of("ada", "createUser"), seq_of("ada", "addMember"));
    let (bob, bob_joins) = (seq_of("bob", "createUser"), seq_of("bob", "addMember"));

    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let (status, page) = c.get("/console/apps/onelogin/outbox").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Injected fault: the request was refused") && page.contains("Retry"), "{page}");
    let csrf = c.csrf().await;
    let (status, page) =
        c.post(&format!("/console/apps/onelogin/refused/{ada}/retry"), &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("queued again"), "{page}");
    let (status, _) =
        c.post(&format!("/console/apps/onelogin/refused/{ada_joins}/retry"), &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK);
    for seq in [&bob, &bob_joins] {
        let (status, page) =
            c.post(&format!("/console/apps/onelogin/refused/{seq}/discard"), &[("csrf", &csrf)], Some(&c.url)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("was discarded"), "{page}");
    }
    let (status, page) =
        c.post(&format!("/console/apps/onelogin/refused/{bob}/retry"), &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("no refused operation"), "a discarded operation is gone: {page}");

    s.settle().await;
    assert!(s.user("ada").is_some(), "the retried creation was applied");
    assert!(s.groups_of("ada").contains(&"confluence-users".to_owned()), "and the retried membership");
    assert!(s.user("bob").is_none(), "the discarded one was not");
    assert!(db.failed(Some("onelogin".into()), 100).await.unwrap().is_empty());
    s.assert_no_create_twice();
    let audit = s.audit("onelogin");
    assert!(audit.iter().any(|e| e.outcome == "retried" && e.user_name == "root"));
    assert!(audit.iter().any(|e| e.outcome == "discarded" && e.user_name == "root"));
}

/// Synchronize from the console runs in the background: the page shows its progress, then
/// the plan, which can be searched; a second run while one goes is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronize_runs_in_the_background_with_a_searchable_plan() {
    let s = stack_with_accounts("console-sync").await;
    for (name, given) in [("ada@example.com", "Ada"), ("bob@example.com", "Bob"), ("cy@example.com", "Cy")] {
        s.create_user("onelogin", name, given, "Tester").await;
    }
    s.settle().await;
    // Drift: Confluence lost everyone.
    s.emulator.reset();
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let csrf = c.csrf().await;
    let r = c
        .http
        .post(format!("{}/console/apps/onelogin/sync", c.url))
        .header("cookie", c.cookie.clone().unwrap())
        .header("origin", &c.url)
        .form(&[("csrf", csrf.as_str()), ("mode", "dry-run")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the run starts and the browser is sent to its page");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let fragment = loop {
        let (status, fragment) = c.get("/console/apps/onelogin/sync/progress").await;
        assert_eq!(status, StatusCode::OK);
        if fragment.contains("Plan (dry run") {
            break fragment;
        }
        assert!(fragment.contains("in progress") && fragment.contains("hx-trigger=\"every 1s\""), "{fragment}");
        assert!(std::time::Instant::now() < deadline, "the dry run finishes");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(!fragment.contains("hx-trigger"), "a finished run is not polled");
    assert!(fragment.contains("create user ada") && fragment.contains("create user bob"), "{fragment}");

    // Not a bare "ada": the person ids (UUIDv7, hex) can hold it, for a minute at a time.
    let (_, page) = c.get("/console/apps/onelogin/sync?q=ADA%20TESTER").await;
    assert!(page.contains("create user ada") && !page.contains("create user bob"), "the plan is searched: {page}");
    let (_, page) = c.get("/console/apps/onelogin/sync?q=nobody-at-all").await;
    assert!(page.contains("No operation matches"), "{page}");
    assert!(s.user("ada").is_none(), "a dry run changes nothing");
}

/// The Confluence connection is changed live from the console: tested first (a wrong
/// password changes nothing), then used by every app at once (a new URL included), kept
/// across a restart, audited without the secret, which is never shown back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confluence_connection_is_changed_live_and_tested_first() {
    use usersync_tests::emulator::{self, EmulatorConfig, PersonalAccessToken};
    let s = stack_with_accounts("console-connection").await;
    let second = emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    // The form starts from the account UserSync signs in as (the file's `[confluence]
    // username`); never from the secret.
    let (_, page) = c.get("/console/confluence").await;
    assert!(page.contains(r#"id="c-user" name="username" type="text" autocomplete="off" value="admin""#), "{page}");
    let csrf = c.csrf().await;
    let save = |url: String, kind: &'static str, username: &'static str, secret: &'static str| {
        let form = [
            ("csrf", csrf.clone()),
            ("url", url),
            ("kind", kind.into()),
            ("username", username.into()),
            ("secret", secret.into()),
        ];
        let request = c
            .http
            .post(format!("{}/console/confluence", c.url))
            .header("cookie", c.cookie.clone().unwrap())
            .header("origin", &c.url)
            .form(&form);
        async move {
            let r = request.send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };

    let (status, page) = save(second.base_url(), "basic", "admin", "not the password").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("Not saved"), "{page}");
    s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    s.settle().await;
    assert!(
        s.user("ada").is_some() && !second.snapshot().users.contains_key("ada"),
        "a refused change changes nothing"
    );

    // A personal access token on the second Confluence: tested, saved, used by the app.
    second.set_tokens(&[PersonalAccessToken { token: "pat-0123456789-secret".into(), username: "admin".into() }]);
    let (status, page) = save(second.base_url(), "token", "", "pat-0123456789-secret").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved and in use") && page.contains("Connected to Confluence"), "{page}");
    assert!(
        page.contains(&second.base_url()) && !page.contains("pat-0123456789-secret"),
        "the secret is not shown back"
    );
    s.create_user("onelogin", "bob@example.com", "Bob", "Builder").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !second.snapshot().users.contains_key("bob") {
        assert!(std::time::Instant::now() < deadline, "the new URL and token are used at once");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(s.user("bob").is_none(), "nothing went to the old URL");
    let audit = Database::new(&s.dir.join("usersync.db"))
        .audit(usersync::store::AuditFilter { action: Some("admin".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.detail.contains("Confluence connection changed") && e.user_name == "root"));
    assert!(audit.iter().all(|e| !e.detail.contains("pat-0123456789-secret")), "never the secret");

    // Kept across a restart: the saved connection wins over the file's.
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);
    let s = super::harness::Stack::host(emulator, dir, "", &[AppSpec::new("onelogin", "onelogin")]).await;
    s.create_user("onelogin", "cy@example.com", "Cy", "Young").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // (Restarted without the username rules of `stack_with_accounts`: the e-mail is the username.)
    while !second.snapshot().users.contains_key("cy@example.com") {
        assert!(std::time::Instant::now() < deadline, "after a restart too");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// With no `[confluence]` in the file, the console connects UserSync to Confluence: tested,
/// saved and used at once by the apps (a SCIM change after it reaches Confluence), and
/// still in use after a restart with the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_is_turned_on_from_the_console_when_the_file_has_none() {
    use usersync_tests::emulator::{self, EmulatorConfig};
    let emulator =
        std::sync::Arc::new(emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap());
    let dir = crate::harness::scratch("console-enable-confluence");
    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::host_without_confluence(emulator.clone(), dir.clone(), &[app]).await;
    let db = Database::new(&s.dir.join("usersync.db"));
    create_account(&db, "root", PASSWORD, Role::Admin, false).await.unwrap();
    s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let (_, page) = c.get("/console/confluence").await;
    assert!(page.contains("Confluence is not configured") && page.contains("Connect to Confluence"), "{page}");
    let csrf = c.csrf().await;
    let form = [
        ("csrf", csrf.as_str()),
        ("url", &emulator.base_url()),
        ("kind", "basic"),
        ("username", "admin"),
        ("secret", "admin"),
    ];
    let r = c
        .http
        .post(format!("{}/console/confluence", c.url))
        .header("cookie", c.cookie.clone().unwrap())
        .header("origin", &c.url)
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved and in use"), "{page}");
    s.create_user("onelogin", "bob@example.com", "Bob", "Babbage").await;
    s.settle().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !emulator.snapshot().users.contains_key("bob") {
        assert!(std::time::Instant::now() < deadline, "a change after the connection was saved reaches Confluence");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(s);

    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::host_without_confluence(emulator.clone(), dir, &[app]).await;
    s.create_user("onelogin", "cy@example.com", "Cy", "Young").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !emulator.snapshot().users.contains_key("cy") {
        assert!(std::time::Instant::now() < deadline, "the saved connection is used after a restart");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
