//! The Confluence client over real sockets, against a small scripted stub server (not the full
//! emulator): each test says what the stub answers, then checks what the client sent and made of it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::watch;
use usersync::confluence::{
    Auth, Backoff, ClientTuning, ConfluenceClient, ConfluenceError, ConfluenceSettings, ConfluenceUsername,
    CreateOutcome, GroupName, NewUser, SetupProblem, VersionSource,
};

// ---------------------------------------------------------------------------------------------
// The stub

#[derive(Debug, Clone)]
pub(super) struct Seen {
    pub(super) method: String,
    /// As sent: still percent-encoded.
    pub(super) path: String,
    pub(super) query: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl Seen {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub(super) fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// Whether the stub answers at once, after the test opens the gate, or never.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Hold {
    No,
    UntilGateOpens,
    Forever,
}

pub(super) struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    hold: Hold,
}

impl Answer {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Answer {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string(),
            hold: Hold::No,
        }
    }

    pub(super) fn empty(status: u16) -> Self {
        Answer { status, headers: vec![], body: String::new(), hold: Hold::No }
    }

    pub(super) fn text(status: u16, content_type: &str, body: &str) -> Self {
        Answer { status, headers: vec![("content-type", content_type.into())], body: body.into(), hold: Hold::No }
    }

    pub(super) fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub(super) fn hold(mut self, hold: Hold) -> Self {
        self.hold = hold;
        self
    }

    /// The §1.10 envelope.
    pub(super) fn error(status: u16, message: &str) -> Self {
        Answer::json(
            status,
            json!({"statusCode": status, "data": {"authorized": false, "valid": true, "errors": [],
                   "successful": false}, "message": message, "reason": "x"}),
        )
    }
}

type Script = dyn Fn(&Seen) -> Answer + Send + Sync;

struct StubState {
    script: Box<Script>,
    seen: Mutex<Vec<Seen>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    arrivals: watch::Sender<usize>,
    gate: watch::Sender<bool>,
}

#[derive(Clone)]
pub(super) struct Stub {
    addr: SocketAddr,
    state: Arc<StubState>,
}

impl Stub {
    pub(super) async fn start(script: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Stub {
        let state = Arc::new(StubState {
            script: Box::new(script),
            seen: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            arrivals: watch::channel(0).0,
            gate: watch::channel(false).0,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(serve).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Stub { addr, state }
    }

    fn base(&self, context: &str) -> String {
        format!("http://{}{context}", self.addr)
    }

    pub(super) fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests have arrived, as it changes.
    pub(super) fn arrivals(&self) -> watch::Receiver<usize> {
        self.state.arrivals.subscribe()
    }

    /// Lets every answer held with [`Hold::UntilGateOpens`] go.
    pub(super) fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }

    pub(super) fn count(&self, method: &str, path: &str) -> usize {
        self.seen().iter().filter(|s| s.is(method, path)).count()
    }
}

async fn serve(State(state): State<Arc<StubState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body,
    };
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    state.arrivals.send_modify(|n| *n += 1);
    let answer = (state.script)(&seen);
    state.seen.lock().unwrap().push(seen);
    match answer.hold {
        Hold::No => {}
        Hold::UntilGateOpens => {
            let mut gate = state.gate.subscribe();
            gate.wait_for(|open| *open).await.unwrap();
        }
        Hold::Forever => std::future::pending::<()>().await,
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut response = Response::builder().status(StatusCode::from_u16(answer.status).unwrap());
    for (name, value) in answer.headers {
        response = response.header(name, value);
    }
    response.body(Body::from(answer.body)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers

pub(super) const CONTEXT: &str = "/confluence";

fn fast_tuning() -> ClientTuning {
    ClientTuning {
        read_attempts: 3,
        read_backoff: Backoff { base: Duration::from_millis(1), cap: Duration::from_millis(5) },
        long_task_poll_interval: Duration::from_millis(2),
        long_task_timeout: Duration::from_secs(5),
        page_limit: 200,
    }
}

fn settings(stub: &Stub, version: Option<&str>) -> ConfluenceSettings {
    let mut s = ConfluenceSettings::new(
        stub.base(CONTEXT),
        Auth::Basic { username: "admin".into(), password: "s3cret".into() },
    );
    s.version = version.map(str::to_owned);
    s.tuning = fast_tuning();
    s
}

pub(super) fn client(stub: &Stub, version: &str) -> ConfluenceClient {
    ConfluenceClient::new(settings(stub, Some(version))).unwrap()
}

pub(super) fn user(name: &str) -> ConfluenceUsername {
    ConfluenceUsername::parse(name).unwrap()
}

pub(super) fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

pub(super) fn p(path: &str) -> String {
    format!("{CONTEXT}{path}")
}

#[track_caller]
fn assert_permanent(err: &ConfluenceError, status: u16, words: &[&str]) {
    assert!(matches!(err, ConfluenceError::Permanent { status: s, .. } if *s == status), "{err:?}");
    assert!(!err.is_transient());
    for word in words {
        assert!(err.to_string().contains(word), "{err} lacks {word:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Version detection

fn manifest(type_id: &str) -> Answer {
    Answer::json(
        200,
        json!({"id": "a1b2", "name": "Wiki", "typeId": type_id, "version": "9.2.1", "buildNumber": 9_201_000,
               "applinksVersion": "9.1.2", "publicSignup": false, "url": "http://h/confluence"}),
    )
}

#[tokio::test]
async fn probe_reads_the_manifest_under_the_context_path_once() {
    let stub = Stub::start(|seen| {
        if seen.is("GET", &p("/rest/applinks/1.0/manifest")) {
            manifest("confluence")
        } else if seen.is("POST", &p("/rest/api/admin/group")) {
            Answer::json(201, json!({"type": "group", "name": "devs"}))
        } else {
            Answer::empty(404)
        }
    })
    .await;
    let c = ConfluenceClient::new(settings(&stub, None)).unwrap();
    let info = c.probe().await.unwrap();
    assert_eq!(info.version.to_string(), "9.2.1");
    assert_eq!(info.build_number, Some(9_201_000));
    assert_eq!(info.source, VersionSource::Probed);
    assert!(info.capabilities.create_user && info.capabilities.update_user);
    assert!(!info.capabilities.active_users_with_email && !info.capabilities.profile_fields);
    let manifest_request = &stub.seen()[0];
    assert_eq!(manifest_request.header("accept"), Some("application/json"));

    // Remembered: writes check it without asking again.
    c.create_group(&group("devs")).await.unwrap();
    c.create_group(&group("devs")).await.unwrap();
    assert_eq!(stub.count("GET", &p("/rest/applinks/1.0/manifest")), 1);

    // A client that was never probed probes on its first version-dependent call, once.
    let lazy = ConfluenceClient::new(settings(&stub, None)).unwrap();
    lazy.create_group(&group("devs")).await.unwrap();
    lazy.create_group(&group("devs")).await.unwrap();
    assert_eq!(stub.count("GET", &p("/rest/applinks/1.0/manifest")), 2);
}

#[tokio::test]
async fn probe_refuses_another_product_and_a_missing_manifest() {
    let stub = Stub::start(|seen| {
        if seen.is("GET", &p("/rest/applinks/1.0/manifest")) {
            manifest("jira")
        } else {
            Answer::text(404, "text/html", "<html>nope</html>")
        }
    })
    .await;
    let err = ConfluenceClient::new(settings(&stub, None)).unwrap().probe().await.unwrap_err();
    assert!(matches!(err, ConfluenceError::UnexpectedResponse { .. }), "{err:?}");
    assert!(err.to_string().contains("\"jira\", not Confluence"), "{err}");

    let mut elsewhere = settings(&stub, None);
    elsewhere.base_url = stub.base("/wiki");
    let err = ConfluenceClient::new(elsewhere).unwrap().probe().await.unwrap_err();
    assert_permanent(&err, 404, &["detect the Confluence version", "set the version"]);
}

// ---------------------------------------------------------------------------------------------
// Users

fn new_user(name: &str, password: Option<&str>) -> NewUser {
    NewUser {
        username: user(name),
        full_name: "Alice Example".into(),
        email: "alice@example.com".into(),
        password: password.map(str::to_owned),
    }
}

#[tokio::test]
async fn create_user_201_409_402() {
    let stub = Stub::start(|seen| match seen.json()["userName"].as_str().unwrap() {
        "alice" => Answer::json(201, json!({"userKey": "4028d6768851c8900188556ba6000014"})),
        "bob" => Answer::error(409, "A user with the same userName already exists"),
        _ => Answer::error(402, "No more licences"),
    })
    .await;
    let c = client(&stub, "8.4.0");

    let outcome = c.create_user(&new_user("Alice", Some("pa55word"))).await.unwrap();
    assert_eq!(outcome, CreateOutcome::Created { user_key: Some("4028d6768851c8900188556ba6000014".into()) });
    let sent = &stub.seen()[0];
    assert!(sent.is("POST", &p("/rest/api/admin/user")));
    assert_eq!(
        sent.json(),
        json!({"userName": "alice", "fullName": "Alice Example", "email": "alice@example.com",
               "password": "pa55word", "notifyViaEmail": false})
    );

    assert_eq!(c.create_user(&new_user("bob", None)).await.unwrap(), CreateOutcome::AlreadyExists);
    assert_eq!(
        stub.seen()[1].json(),
        json!({"userName": "bob", "fullName": "Alice Example", "email": "alice@example.com", "notifyViaEmail": true})
    );

    let err = c.create_user(&new_user("carol", None)).await.unwrap_err();
    assert_permanent(&err, 402, &["create user carol", "licence", "No more licences"]);

    // Refused locally, nothing sent.
    let mut bad = new_user("dave", None);
    bad.full_name = "<script>".into();
    assert!(matches!(c.create_user(&bad).await, Err(ConfluenceError::InvalidInput { field: "full name", .. })));
    assert_eq!(stub.seen().len(), 3);
}

#[tokio::test]
async fn update_user_puts_name_and_email() {
    let stub = Stub::start(|seen| {
        if seen.is("PUT", &p("/rest/api/admin/user/alice")) {
            Answer::empty(204)
        } else {
            Answer::empty(500)
        }
    })
    .await;
    let c = client(&stub, "9.2.1");
    c.update_user(&user("alice"), "Alice Renamed", "new@example.com").await.unwrap();
    assert_eq!(stub.seen()[0].json(), json!({"fullName": "Alice Renamed", "email": "new@example.com"}));
}

#[tokio::test]
async fn update_user_missing_endpoint_becomes_unsupported() {
    // 404 for every PUT (no such route); the user exists.
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "PUT" => Answer::empty(404),
        _ if seen.query.contains("username=ghost") => Answer::error(404, "No user"),
        _ => Answer::json(200, json!({"type": "known", "username": "alice", "userKey": "k", "displayName": "A"})),
    })
    .await;
    let c = client(&stub, "9.0.0");
    // A missing user is a missing user, not a missing endpoint.
    let err = c.update_user(&user("ghost"), "G", "g@x").await.unwrap_err();
    assert_permanent(&err, 404, &["no such user"]);

    let err = c.update_user(&user("alice"), "A", "a@x").await.unwrap_err();
    assert!(matches!(err, ConfluenceError::Unsupported { operation: "update user", .. }), "{err:?}");
    let before = stub.seen().len();
    let again = c.update_user(&user("alice"), "A", "a@x").await.unwrap_err();
    assert!(matches!(again, ConfluenceError::Unsupported { .. }));
    assert_eq!(stub.seen().len(), before, "no request once the endpoint is known to be missing");

    let stub405 = Stub::start(|_| Answer::empty(405)).await;
    let err = client(&stub405, "10.2.1").update_user(&user("alice"), "A", "a@x").await.unwrap_err();
    assert!(matches!(err, ConfluenceError::Unsupported { .. }), "{err:?}");
}

#[tokio::test]
async fn disable_and_enable_204_and_404() {
    let stub = Stub::start(|seen| {
        if seen.path.starts_with(&p("/rest/api/admin/user/ghost/")) {
            Answer::error(404, "No User exists for the provided username.")
        } else {
            Answer::empty(204)
        }
    })
    .await;
    let c = client(&stub, "8.2.0");
    c.set_active(&user("alice"), false).await.unwrap();
    c.set_active(&user("alice"), true).await.unwrap();
    let seen = stub.seen();
    assert!(seen[0].is("PUT", &p("/rest/api/admin/user/alice/disable")), "{:?}", seen[0].path);
    assert!(seen[1].is("PUT", &p("/rest/api/admin/user/alice/enable")));
    assert!(seen[0].body.is_empty());

    let err = c.set_active(&user("ghost"), false).await.unwrap_err();
    assert_permanent(&err, 404, &["disable user ghost", "No User exists"]);
}

/// DELETE answers 202 with a long task; the task runs, hiccups once, then succeeds.
#[tokio::test]
async fn delete_user_polls_the_long_task_until_it_succeeds() {
    let polls = AtomicUsize::new(0);
    let stub = Stub::start(move |seen| {
        if seen.is("DELETE", &p("/rest/api/admin/user/alice")) {
            return Answer::json(202, json!({"id": "1180606", "links": {"status": "/rest/api/longtask/1180606"}}));
        }
        if seen.is("DELETE", &p("/rest/api/admin/user/ghost")) {
            return Answer::error(404, "No user");
        }
        if seen.is("GET", &p("/rest/api/longtask/1180606")) {
            let progress = match polls.fetch_add(1, Ordering::SeqCst) {
                0 => 0,
                1 => return Answer::text(503, "text/html", "<html>busy</html>"),
                2 => 60,
                _ => 100,
            };
            return Answer::json(
                200,
                json!({"id": "1180606", "name": {"key": "delete.user", "args": []}, "elapsedTime": 10,
                       "percentageComplete": progress, "successful": progress == 100, "messages": []}),
            );
        }
        Answer::empty(500)
    })
    .await;
    let c = client(&stub, "8.2.0");
    c.delete_user(&user("alice")).await.unwrap();
    assert_eq!(stub.count("GET", &p("/rest/api/longtask/1180606")), 4);
    // Already gone.
    c.delete_user(&user("ghost")).await.unwrap();
}

#[tokio::test]
async fn delete_user_reports_a_failed_or_endless_task() {
    let stub = Stub::start(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("DELETE", path) if path.ends_with("/alice") => {
            Answer::json(202, json!({"id": 1, "links": {"status": "/rest/api/longtask/1"}}))
        }
        // No links: the client builds the status URL from the id.
        ("DELETE", _) => Answer::json(202, json!({"id": "2"})),
        (_, path) if path.ends_with("/longtask/1") => Answer::json(
            200,
            json!({"percentageComplete": 100, "successful": false,
                   "messages": [{"translation": "User owns the last admin group"}]}),
        ),
        _ => Answer::json(200, json!({"percentageComplete": 10, "successful": false})),
    })
    .await;
    let c = client(&stub, "9.0.0");
    let err = c.delete_user(&user("alice")).await.unwrap_err();
    assert!(matches!(err, ConfluenceError::LongTaskFailed { .. }), "{err:?}");
    assert!(err.to_string().contains("User owns the last admin group"), "{err}");

    let mut s = settings(&stub, Some("9.0.0"));
    s.tuning.long_task_timeout = Duration::from_millis(100);
    let err = ConfluenceClient::new(s).unwrap().delete_user(&user("bob")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("still running"), "{err}");
    assert!(stub.count("GET", &p("/rest/api/longtask/2")) >= 2);
}

#[tokio::test]
async fn get_user_reads_status_and_treats_404_and_unknown_as_absent() {
    let stub = Stub::start(|seen| {
        if seen.query.contains("username=ghost") {
            Answer::error(404, "No user")
        } else if seen.query.contains("username=gone") {
            Answer::json(200, json!({"type": "unknown", "username": "gone", "displayName": "Unknown User (gone)"}))
        } else {
            Answer::json(
                200,
                json!({"type": "known", "username": "a.b@example.com", "userKey": "2c90b2828dee4d35018defef1f8f0005",
                       "displayName": "A B", "status": "Deactivated"}),
            )
        }
    })
    .await;
    let c = client(&stub, "7.19.0");
    let found = c.get_user(&user("A.B@example.com")).await.unwrap().unwrap();
    assert_eq!(found.username.as_str(), "a.b@example.com");
    assert_eq!(found.key.as_deref(), Some("2c90b2828dee4d35018defef1f8f0005"));
    assert_eq!(found.active, Some(false));
    let seen = &stub.seen()[0];
    assert!(seen.is("GET", &p("/rest/api/user")));
    assert_eq!(seen.query, "username=a.b%40example.com&expand=status");
    assert!(c.get_user(&user("ghost")).await.unwrap().is_none());
    assert!(c.get_user(&user("gone")).await.unwrap().is_none());
}

// ---------------------------------------------------------------------------------------------
// Listings

fn query_param<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.query.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Pages of two, `next` relative to base + context (so without `/confluence`), as Confluence does.
#[tokio::test]
async fn listings_follow_relative_next_links_under_the_context_path() {
    let all = ["a", "b", "c", "d", "e"];
    let stub = Stub::start(move |seen| {
        if !seen.is("GET", &p("/rest/api/group")) {
            return Answer::empty(404);
        }
        let start: usize = query_param(seen, "start").unwrap().parse().unwrap();
        let end = (start + 2).min(all.len());
        let results: Vec<Value> = all[start..end].iter().map(|n| json!({"type": "group", "name": n})).collect();
        let mut links = json!({"base": "http://h/confluence", "context": "/confluence", "self": "x"});
        if end < all.len() {
            links["next"] = json!(format!("/rest/api/group?limit=2&start={end}"));
        }
        Answer::json(200, json!({"results": results, "start": start, "limit": 2, "size": end - start, "_links": links}))
    })
    .await;
    let c = client(&stub, "7.19.0");
    let groups = c.list_groups().await.unwrap();
    assert_eq!(groups.iter().map(GroupName::as_str).collect::<Vec<_>>(), all);
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].query, "start=0&limit=200");
    assert_eq!(seen[1].query, "limit=2&start=2");
    assert_eq!(seen[2].query, "limit=2&start=4");
    assert!(seen.iter().all(|s| s.path == p("/rest/api/group")));
}

/// Without `_links`, a full page means "ask for the next start".
#[tokio::test]
async fn listings_without_links_page_on_full_pages() {
    let stub = Stub::start(|seen| {
        let start: usize = query_param(seen, "start").unwrap().parse().unwrap();
        let names: Vec<Value> =
            (start..(start + 2).min(3)).map(|i| json!({"type": "group", "name": format!("g{i}")})).collect();
        Answer::json(200, json!({"results": names, "start": start, "limit": 2, "size": names.len()}))
    })
    .await;
    let c = client(&stub, "8.2.0");
    let groups = c.user_groups(&user("alice")).await.unwrap();
    assert_eq!(groups.iter().map(GroupName::as_str).collect::<Vec<_>>(), ["g0", "g1", "g2"]);
    let seen = stub.seen();
    assert!(seen.iter().all(|s| s.path == p("/rest/api/user/memberof")));
    assert_eq!(seen[1].query, "username=alice&start=2&limit=200");
}

#[tokio::test]
async fn list_users_reads_status_and_skips_unmanageable_entries() {
    let stub = Stub::start(|seen| {
        assert!(seen.is("GET", &p("/rest/api/user/list")), "{}", seen.path);
        assert_eq!(query_param(seen, "expand"), Some("status"));
        Answer::json(
            200,
            json!({"results": [
                {"type": "known", "username": "alice", "userKey": "k1", "displayName": "Alice", "status": "Active"},
                {"type": "known", "username": "bob", "userKey": "k2", "displayName": "Bob", "status": "Deactivated"},
                {"type": "unknown", "username": "gone", "displayName": "Unknown"},
                {"type": "known", "username": "has space", "userKey": "k3", "displayName": "Odd"}],
                "start": 0, "limit": 200, "size": 4, "_links": {}}),
        )
    })
    .await;
    let users = client(&stub, "8.4.0").list_users().await.unwrap();
    let summary: Vec<_> = users.iter().map(|u| (u.username.as_str(), u.active)).collect();
    assert_eq!(summary, [("alice", Some(true)), ("bob", Some(false))]);
}

#[tokio::test]
async fn active_users_with_email_on_9_3() {
    let stub = Stub::start(|seen| {
        assert!(seen.is("GET", &p("/rest/api/admin/users/list/active")), "{}", seen.path);
        Answer::json(
            200,
            json!({"results": [{"type": "known", "username": "alice", "userKey": "k1", "displayName": "Alice",
                   "email": "alice@example.com"}], "start": 0, "limit": 200, "size": 1, "_links": {}}),
        )
    })
    .await;
    let users = client(&stub, "9.3.0").list_active_users_with_email().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email.as_deref(), Some("alice@example.com"));
    assert_eq!(users[0].active, Some(true));
}

/// A long listing survives a 429 and a 503 on its second page; a write never retries.
#[tokio::test]
async fn listings_retry_transient_errors_and_give_up_after_the_bound() {
    let calls = AtomicUsize::new(0);
    let stub = Stub::start(move |seen| {
        if seen.path.ends_with("/group/broken/member") {
            return Answer::text(503, "text/plain", "Service Unavailable");
        }
        let n = calls.fetch_add(1, Ordering::SeqCst);
        match (n, query_param(seen, "start")) {
            (1, Some("1")) => Answer::empty(429).header("retry-after", "0"),
            (2, Some("1")) => Answer::text(503, "text/html", "<html>maintenance</html>"),
            (_, Some("0")) => Answer::json(
                200,
                json!({"results": [{"username": "alice"}], "start": 0, "limit": 1, "size": 1,
                       "_links": {"next": "/rest/api/group/devs/member?start=1&limit=1"}}),
            ),
            _ => Answer::json(
                200,
                json!({"results": [{"username": "bob"}], "start": 1, "limit": 1, "size": 1, "_links": {}}),
            ),
        }
    })
    .await;
    let c = client(&stub, "8.2.0");
    let members = c.group_members(&group("devs")).await.unwrap();
    assert_eq!(members.iter().map(ConfluenceUsername::as_str).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(stub.count("GET", &p("/rest/api/group/devs/member")), 4);

    let err = c.group_members(&group("broken")).await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("list members of group broken"), "{err}");
    assert_eq!(stub.count("GET", &p("/rest/api/group/broken/member")), fast_tuning().read_attempts as usize);
}

// ---------------------------------------------------------------------------------------------
// Groups and membership

#[tokio::test]
async fn group_writes_accept_already_as_desired() {
    let stub = Stub::start(|seen| match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", _) if seen.json()["name"] == "existing" => Answer::error(409, "Group exists"),
        ("POST", _) if seen.json()["name"] == "plain" => Answer::empty(200),
        ("POST", _) => Answer::json(201, json!({"type": "group", "name": "new"})),
        ("DELETE", path) if path.ends_with("/admin/group/gone") => Answer::error(404, "Group not found"),
        ("DELETE", path) if path.ends_with("/admin/group/confluence-administrators") => {
            Answer::error(400, "Cannot delete the last admin group")
        }
        ("PUT", path) if path.contains("/group/nope") => Answer::error(404, "No group"),
        ("DELETE", path) if path.contains("/group/nope") => Answer::error(404, "No group"),
        _ => Answer::empty(204),
    })
    .await;
    let c = client(&stub, "8.2.0");
    c.create_group(&group("New")).await.unwrap();
    assert_eq!(stub.seen()[0].json(), json!({"name": "new"}));
    c.create_group(&group("existing")).await.unwrap();
    c.create_group(&group("plain")).await.unwrap();
    c.delete_group(&group("old")).await.unwrap();
    c.delete_group(&group("gone")).await.unwrap();
    let err = c.delete_group(&group("confluence-administrators")).await.unwrap_err();
    assert_permanent(&err, 400, &["last admin group"]);

    c.add_member(&user("alice"), &group("r&d/ops")).await.unwrap();
    c.remove_member(&user("alice"), &group("domain users")).await.unwrap();
    c.remove_member(&user("alice"), &group("nope")).await.unwrap();
    let err = c.add_member(&user("alice"), &group("nope")).await.unwrap_err();
    assert_permanent(&err, 404, &["add user alice to group nope"]);

    let seen = stub.seen();
    assert!(seen.iter().any(|s| s.is("DELETE", &p("/rest/api/admin/group/old"))));
    // Path segments are percent-encoded: a '/' stays inside the group's segment.
    assert!(seen.iter().any(|s| s.is("PUT", &p("/rest/api/user/alice/group/r&d%2Fops"))), "{seen:#?}");
    assert!(seen.iter().any(|s| s.is("DELETE", &p("/rest/api/user/alice/group/domain%20users"))));
}

// ---------------------------------------------------------------------------------------------
// Headers, errors, transport

#[tokio::test]
async fn every_request_authenticates_and_every_write_opts_out_of_xsrf() {
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "GET" => Answer::json(200, json!({"results": [], "start": 0, "limit": 200, "size": 0, "_links": {}})),
        "POST" => Answer::json(201, json!({"userKey": "k"})),
        "DELETE" => Answer::empty(404),
        _ => Answer::empty(204),
    })
    .await;
    let basic = client(&stub, "9.3.0");
    basic.list_groups().await.unwrap();
    basic.create_user(&new_user("alice", None)).await.unwrap();
    basic.update_user(&user("alice"), "A", "a@x").await.unwrap();
    basic.set_active(&user("alice"), false).await.unwrap();
    basic.add_member(&user("alice"), &group("g")).await.unwrap();
    basic.delete_user(&user("alice")).await.unwrap();
    basic.create_group(&group("g")).await.unwrap();

    let mut pat = settings(&stub, Some("9.3.0"));
    pat.auth = Auth::Token("NjMyODc2-personal-token".into());
    let pat = ConfluenceClient::new(pat).unwrap();
    pat.list_groups().await.unwrap();
    pat.remove_member(&user("alice"), &group("g")).await.unwrap();

    let seen = stub.seen();
    assert_eq!(seen.len(), 9);
    for (i, s) in seen.iter().enumerate() {
        let expected_auth = if i < 7 { "Basic YWRtaW46czNjcmV0" } else { "Bearer NjMyODc2-personal-token" };
        assert_eq!(s.header("authorization"), Some(expected_auth), "{} {}", s.method, s.path);
        assert_eq!(s.header("accept"), Some("application/json"), "{} {}", s.method, s.path);
        if s.method != "GET" {
            assert_eq!(s.header("x-atlassian-token"), Some("no-check"), "{} {}", s.method, s.path);
            assert_eq!(s.header("content-type"), Some("application/json"), "{} {}", s.method, s.path);
        }
    }
}

#[tokio::test]
async fn writes_make_one_attempt_and_report_429_with_retry_after() {
    let stub = Stub::start(|seen| {
        if seen.method == "PUT" {
            Answer::text(429, "text/plain", "Rate limit exceeded").header("Retry-After", "7")
        } else {
            Answer::text(503, "text/html", "<html>down</html>").header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")
        }
    })
    .await;
    let c = client(&stub, "9.3.0");
    let err = c.set_active(&user("alice"), false).await.unwrap_err();
    match &err {
        ConfluenceError::Transient { status: Some(429), retry_after: Some(wait), .. } => {
            assert_eq!(*wait, Duration::from_secs(7))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(stub.seen().len(), 1, "no retry inside a write");

    // A date in the past: no wait; HTML bodies are not parsed.
    let err = c.create_group(&group("g")).await.unwrap_err();
    assert!(matches!(err, ConfluenceError::Transient { status: Some(503), retry_after: None, .. }), "{err:?}");
    assert!(!err.to_string().contains("<html"));
}

#[track_caller]
fn assert_setup(err: &ConfluenceError, status: u16, problem: SetupProblem, words: &[&str]) {
    assert!(
        matches!(err, ConfluenceError::Setup { status: Some(s), problem: p, .. } if *s == status && *p == problem),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(err.setup_problem(), Some(problem));
    for word in words {
        assert!(err.to_string().contains(word), "{err} lacks {word:?}");
    }
}

/// Issue 11 §1: a refusal is permanent only when it is about the data. Credentials, rights,
/// a proxy and the base URL are UserSync's setup.
#[tokio::test]
async fn refusals_say_what_they_mean_and_whose_problem_it_is() {
    let stub = Stub::start(|seen| match seen.path.rsplit('/').next().unwrap() {
        "xsrf" => Answer::text(403, "text/plain", "XSRF check failed"),
        "forbidden" => Answer::error(403, "Not permitted"),
        "login" => Answer::text(401, "text/html", "<html>log in</html>"),
        "moved" => Answer::empty(302).header("location", "https://wiki.example.com/confluence/"),
        "media" => Answer::empty(415),
        _ => Answer::error(400, "Invalid"),
    })
    .await;
    let c = client(&stub, "9.3.0");
    let err = c.delete_group(&group("xsrf")).await.unwrap_err();
    assert_setup(&err, 403, SetupProblem::Xsrf, &["XSRF check failed"]);
    let err = c.delete_group(&group("forbidden")).await.unwrap_err();
    assert_setup(&err, 403, SetupProblem::Permission, &["permission", "Not permitted"]);
    let err = c.delete_group(&group("login")).await.unwrap_err();
    assert_setup(&err, 401, SetupProblem::Credentials, &["credentials"]);
    let err = c.delete_group(&group("moved")).await.unwrap_err();
    assert_setup(&err, 302, SetupProblem::BaseUrl, &["https://wiki.example.com/confluence/", "base URL"]);
    let err = c.delete_group(&group("media")).await.unwrap_err();
    assert_setup(&err, 415, SetupProblem::Protocol, &["415"]);
    let err = c.delete_group(&group("other")).await.unwrap_err();
    assert_permanent(&err, 400, &["Invalid"]);
    assert_eq!(stub.count("DELETE", &p("/rest/api/admin/group/moved")), 1);
}

/// A stub Confluence that knows one good token ("good") and whose account is an
/// administrator unless `admin` says otherwise; writes answer 403 (a read-only directory).
pub(super) async fn account_stub(admin: bool) -> Stub {
    Stub::start(move |seen| {
        let authorised = seen.header("authorization") == Some("Bearer good");
        match (seen.method.as_str(), seen.path.as_str()) {
            _ if !authorised => Answer::text(401, "text/html", "<html>log in</html>"),
            ("GET", path) if path.ends_with("/rest/api/user/current") => {
                Answer::json(200, json!({"type": "known", "username": "sync-bot", "displayName": "Sync"}))
            }
            ("GET", path) if path.ends_with("/group/confluence-administrators/member") => {
                if admin {
                    Answer::json(200, json!({"results": [], "start": 0, "limit": 1, "size": 0}))
                } else {
                    Answer::error(403, "User sync-bot does not have permission to perform this operation")
                }
            }
            _ => Answer::error(403, "Not permitted"),
        }
    })
    .await
}

pub(super) fn token_client(stub: &Stub, token: &str) -> ConfluenceClient {
    let mut s = ConfluenceSettings::new(stub.base(CONTEXT), Auth::Token(token.into()));
    s.version = Some("9.3.0".into());
    s.tuning = fast_tuning();
    ConfluenceClient::new(s).unwrap()
}

/// Issue 11 §1: version detection is anonymous, so the credentials are checked with an
/// authenticated call; renewed credentials replace the old ones without a new client.
#[tokio::test]
async fn credentials_are_checked_with_an_authenticated_call_and_can_be_replaced() {
    let stub = account_stub(true).await;
    let c = token_client(&stub, "expired");
    let err = c.check_credentials().await.unwrap_err();
    assert_setup(&err, 401, SetupProblem::Credentials, &["credentials", "token"]);
    assert_eq!(stub.count("GET", &p("/rest/api/user/current")), 1);
    assert!(c.set_auth(&Auth::Token("good".into())).unwrap(), "a new token");
    assert!(!c.set_auth(&Auth::Token("good".into())).unwrap(), "the same token again");
    assert_eq!(c.check_credentials().await.unwrap(), "sync-bot");
    let sent: Vec<_> = stub.seen().iter().filter_map(|s| s.header("authorization").map(str::to_owned)).collect();
    assert_eq!(sent.last().map(String::as_str), Some("Bearer good"));
    assert!(c.set_auth(&Auth::Token("bad\ntoken".into())).is_err(), "refused; the good token stays");
    assert_eq!(c.check_credentials().await.unwrap(), "sync-bot");

    let not_admin = account_stub(false).await;
    let err = token_client(&not_admin, "good").check_credentials().await.unwrap_err();
    assert_setup(&err, 403, SetupProblem::Permission, &["sync-bot", "Administrator"]);

    let anonymous = Stub::start(|_| Answer::json(200, json!({"type": "anonymous", "displayName": "Anonymous"}))).await;
    let err = token_client(&anonymous, "good").check_credentials().await.unwrap_err();
    assert_setup(&err, 200, SetupProblem::Credentials, &["anonymous"]);
    let nothing_here = Stub::start(|_| Answer::empty(404)).await;
    let err = token_client(&nothing_here, "good").check_credentials().await.unwrap_err();
    assert_setup(&err, 404, SetupProblem::BaseUrl, &["base URL"]);
}

/// Issue 11 §1: a 403 on a write is about the account, or about the user's directory;
/// Confluence is asked which.
#[tokio::test]
async fn a_403_is_explained_by_asking_about_the_account() {
    let stub = account_stub(true).await;
    let c = token_client(&stub, "good");
    let err = c.set_active(&user("ldap-user"), false).await.unwrap_err();
    let err = c.explain_forbidden(err).await;
    assert_permanent(&err, 403, &["read-only directory", "sync-bot"]);

    let not_admin = account_stub(false).await;
    let c = token_client(&not_admin, "good");
    let err = c.set_active(&user("anyone"), false).await.unwrap_err();
    assert_setup(&c.explain_forbidden(err).await, 403, SetupProblem::Permission, &["Administrator"]);
    // Other errors pass through unchanged, without a request.
    let before = not_admin.seen().len();
    let refused = ConfluenceError::Permanent { status: 400, message: "Invalid".into() };
    assert_permanent(&c.explain_forbidden(refused).await, 400, &["Invalid"]);
    assert_eq!(not_admin.seen().len(), before);
}

/// A 404 from an endpoint every Confluence has: the base URL leads elsewhere.
#[tokio::test]
async fn a_missing_create_endpoint_is_a_wrong_base_url() {
    let stub = Stub::start(|_| Answer::text(404, "text/html", "<html>not here</html>")).await;
    let c = client(&stub, "9.3.0");
    let err = c.create_user(&new_user("alice", Some("pw"))).await.unwrap_err();
    assert_setup(&err, 404, SetupProblem::BaseUrl, &["create user alice", "base URL"]);
    let err = c.create_group(&group("devs")).await.unwrap_err();
    assert_setup(&err, 404, SetupProblem::BaseUrl, &["create group devs"]);
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut s = ConfluenceSettings::new(format!("http://{addr}/confluence"), Auth::Token("t".into()));
    s.version = Some("9.0.0".into());
    let err = ConfluenceClient::new(s).unwrap().set_active(&user("alice"), true).await.unwrap_err();
    assert!(matches!(err, ConfluenceError::Transient { status: None, .. }), "{err:?}");
    assert!(err.to_string().contains("could not connect"), "{err}");
}

#[tokio::test]
async fn a_hanging_server_times_out_as_transient() {
    let stub = Stub::start(|_| Answer::empty(204).hold(Hold::Forever)).await;
    let mut s = settings(&stub, Some("9.0.0"));
    s.request_timeout = Duration::from_millis(200);
    let err = ConfluenceClient::new(s).unwrap().set_active(&user("alice"), true).await.unwrap_err();
    assert!(matches!(err, ConfluenceError::Transient { status: None, .. }), "{err:?}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn old_versions_get_unsupported_without_a_request() {
    let stub = Stub::start(|_| Answer::empty(204)).await;
    let unsupported = |r: Result<(), ConfluenceError>, operation: &str, words: &[&str]| {
        let err = r.unwrap_err();
        match &err {
            ConfluenceError::Unsupported { operation: op, .. } => assert_eq!(*op, operation),
            other => panic!("{other:?}"),
        }
        for word in words {
            assert!(err.to_string().contains(word), "{err} lacks {word:?}");
        }
    };
    let c83 = client(&stub, "8.3.4");
    let created = c83.create_user(&new_user("alice", None)).await.map(|_| ());
    unsupported(created, "create user", &["Confluence 8.3.4 cannot create users", "8.4+", "directory"]);
    unsupported(c83.list_users().await.map(|_| ()), "list all users", &["8.4"]);
    unsupported(c83.update_user(&user("a"), "A", "a@x").await, "update user", &["full name or email"]);

    let c81 = client(&stub, "8.1.0");
    unsupported(c81.set_active(&user("a"), false).await, "disable or enable user", &["8.2"]);
    unsupported(c81.delete_user(&user("a")).await, "delete user", &["8.2"]);
    unsupported(c81.create_group(&group("g")).await, "create or delete group", &["8.2"]);
    unsupported(c81.delete_group(&group("g")).await, "create or delete group", &["8.2"]);
    unsupported(c81.add_member(&user("a"), &group("g")).await, "change group membership", &["8.2"]);
    unsupported(c81.remove_member(&user("a"), &group("g")).await, "change group membership", &["8.2"]);

    let c92 = client(&stub, "9.2.1");
    let active = c92.list_active_users_with_email().await.map(|_| ());
    unsupported(active, "list active users with email", &["9.3"]);

    assert!(stub.seen().is_empty(), "{:?}", stub.seen());
}

/// Twelve calls at once with a limit of three: the stub holds each request until three are in
/// flight, then gives a broken limiter a moment to send more before letting them all go.
#[tokio::test]
async fn concurrency_limit_is_honoured() {
    let stub = Stub::start(|_| Answer::empty(204).hold(Hold::UntilGateOpens)).await;
    let mut s = settings(&stub, Some("9.0.0"));
    s.max_concurrency = 3;
    let c = ConfluenceClient::new(s).unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..12 {
        let c = c.clone();
        calls.spawn(async move { c.set_active(&user(&format!("u{i}")), true).await });
    }
    let mut arrivals = stub.state.arrivals.subscribe();
    arrivals.wait_for(|n| *n >= 3).await.unwrap();
    // Not synchronisation: the window in which a broken limiter would let a fourth request in.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(stub.state.in_flight.load(Ordering::SeqCst), 3);
    stub.state.gate.send_replace(true);
    while let Some(result) = calls.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(stub.seen().len(), 12);
    assert_eq!(stub.state.max_in_flight.load(Ordering::SeqCst), 3);
}
