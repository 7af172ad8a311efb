//! Every identity-provider quirk of `shared/reference/idp-traffic.md` §5 (and the OneLogin
//! §1.2–1.4, Okta §2 and Entra §3 specifics), one test each, replayed **as that IdP sends
//! it**: literal bodies, literal query strings (`+` for spaces, trailing `&` and `?`), the
//! IdP's headers; then the stored state is read back through GET.
//!
//! The tables live in one file per IdP; this file holds what they share: the fixture every
//! replay starts from, the wire format of each IdP, and the one helper, [`run`], that sends
//! a replay and checks its outcome. `scenarios` holds what does not fit one table row
//! (paging over 100 users, idempotent repeats, header variants).

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Resp, TestServer};

mod entra;
mod okta;
mod onelogin;
mod scenarios;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A user id that no resource has (OneLogin may name it in a member PATCH before the
/// user's POST has finished, §1.6).
pub const UNKNOWN_ID: &str = "5b8a9e1c-0d43-4c1e-9a55-00000000dead";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idp {
    OneLogin,
    Okta,
    Entra,
}

impl Idp {
    /// The test server's app for this IdP kind.
    pub fn app(self) -> &'static str {
        match self {
            Idp::OneLogin => "onelogin",
            Idp::Okta => "okta",
            Idp::Entra => "entra",
        }
    }

    /// What the IdP sends besides `Authorization`:
    /// - OneLogin: the custom headers vendors tell admins to add (Kisi guide, §1.1), on
    ///   every request, GETs included;
    /// - Okta: `User-Agent: Okta SCIM Client 1.0.0` (§2), `Accept: application/scim+json`,
    ///   bodies as `application/json` (§4.3);
    /// - Entra: bodies as `application/scim+json` (Entra's documented requests).
    fn headers(self, has_body: bool) -> Vec<(&'static str, &'static str)> {
        match self {
            Idp::OneLogin => vec![("accept", "application/json"), ("content-type", "application/json")],
            Idp::Okta => {
                let mut h = vec![("user-agent", "Okta SCIM Client 1.0.0"), ("accept", "application/scim+json")];
                if has_body {
                    h.push(("content-type", "application/json"));
                }
                h
            }
            Idp::Entra => {
                if has_body {
                    vec![("content-type", "application/scim+json")]
                } else {
                    Vec::new()
                }
            }
        }
    }

    /// The response media type the IdP needs (§4.3): OneLogin "all responses must be of type
    /// application/json"; Entra "every response uses application/scim+json"; Okta asks for
    /// `application/scim+json`.
    pub fn media_type(self) -> &'static str {
        match self {
            Idp::OneLogin => "application/json",
            Idp::Okta | Idp::Entra => "application/scim+json",
        }
    }
}

/// What each replay starts from, created through the app's own token:
/// - `{m1}`, `{m2}`: users `member.one@example.com` and `member.two@example.com`, no e-mails;
/// - `{user}`: `seed.user@example.com`, externalId `0a21f0f2-…`, a work and a home e-mail,
///   title, enterprise `employeeNumber` / `department` / `manager` = `{m1}`;
/// - `{bare}`: `no.work.mail@example.com`, externalId `jyoung`, only a home e-mail;
/// - `{group}`: `Engineering` with members `{m1}`, `{m2}`;
/// - `{unknown}`: [`UNKNOWN_ID`], which no resource has.
pub struct Fixture {
    pub server: TestServer,
    ids: Vec<(&'static str, String)>,
}

impl Fixture {
    pub async fn new(idp: Idp) -> Fixture {
        let server = TestServer::new();
        let app = idp.app();
        let m1 = create(&server, app, "/Users", member("member.one@example.com", "One")).await;
        let m2 = create(&server, app, "/Users", member("member.two@example.com", "Two")).await;
        let user = create(
            &server,
            app,
            "/Users",
            json!({
                "schemas": [CORE_USER, ENTERPRISE],
                "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
                "userName": "seed.user@example.com",
                "name": {"givenName": "Seed", "familyName": "User"},
                "displayName": "Seed User",
                "title": "Engineer",
                "emails": [
                    {"value": "seed.user@example.com", "type": "work", "primary": true},
                    {"value": "seed@home.example", "type": "home"}
                ],
                "active": true,
                ENTERPRISE: {"employeeNumber": "1001", "department": "Engineering", "manager": {"value": m1}}
            }),
        )
        .await;
        let bare = create(
            &server,
            app,
            "/Users",
            json!({
                "schemas": [CORE_USER],
                "externalId": "jyoung",
                "userName": "no.work.mail@example.com",
                "name": {"givenName": "Joy", "familyName": "Young"},
                "emails": [{"value": "joy@home.example", "type": "home"}],
                "active": true
            }),
        )
        .await;
        let group = server.group(app, "Engineering", &[&m1, &m2]).await;
        let ids = vec![
            ("{user}", user),
            ("{bare}", bare),
            ("{m1}", m1),
            ("{m2}", m2),
            ("{group}", group),
            ("{unknown}", UNKNOWN_ID.to_owned()),
        ];
        Fixture { server, ids }
    }

    /// `template` with the fixture's ids in place of `{user}`, `{group}`, ….
    pub fn fill(&self, template: &str) -> String {
        self.ids.iter().fold(template.to_owned(), |text, (key, id)| text.replace(key, id))
    }

    /// Sends one request exactly as `idp` does (after [`Fixture::fill`]) and checks the
    /// response media type the IdP needs.
    pub async fn send(&self, idp: Idp, method: Method, uri: &str, body: Option<&str>) -> Resp {
        let auth = format!("Bearer {}", self.server.tokens[idp.app()]);
        let mut headers: Vec<(&str, &str)> = vec![("authorization", &auth)];
        headers.extend(idp.headers(body.is_some()));
        let uri = format!("/scim/v2/{}{}", idp.app(), self.fill(uri));
        let bytes = body.map(|b| self.fill(b).into_bytes()).unwrap_or_default();
        let r = self.server.raw(method.clone(), &uri, &headers, bytes).await;
        if !r.raw.is_empty() {
            let ct = r.header("content-type").unwrap_or_default();
            assert!(
                ct.starts_with(idp.media_type()),
                "{idp:?} needs {} but {method} {uri} answered {ct:?}",
                idp.media_type()
            );
        }
        r
    }

    /// GET through the IdP's wire format; must succeed.
    pub async fn read(&self, idp: Idp, uri: &str) -> Value {
        let r = self.send(idp, Method::GET, uri, None).await;
        assert_eq!(r.status, StatusCode::OK, "GET {uri}: {}", String::from_utf8_lossy(&r.raw));
        r.body
    }
}

fn member(user_name: &str, family: &str) -> Value {
    json!({"schemas": [CORE_USER], "userName": user_name, "name": {"givenName": "Member", "familyName": family}, "active": true})
}

async fn create(s: &TestServer, app: &str, path: &str, body: Value) -> String {
    let r = s.post(app, path, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "fixture: {}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

/// One request of a replay.
pub struct Wire<'a> {
    method: Method,
    uri: &'a str,
    body: Option<&'a str>,
}

pub fn get(uri: &str) -> Wire<'_> {
    Wire { method: Method::GET, uri, body: None }
}

pub fn delete(uri: &str) -> Wire<'_> {
    Wire { method: Method::DELETE, uri, body: None }
}

pub fn post<'a>(uri: &'a str, body: &'a str) -> Wire<'a> {
    Wire { method: Method::POST, uri, body: Some(body) }
}

pub fn put<'a>(uri: &'a str, body: &'a str) -> Wire<'a> {
    Wire { method: Method::PUT, uri, body: Some(body) }
}

pub fn patch<'a>(uri: &'a str, body: &'a str) -> Wire<'a> {
    Wire { method: Method::PATCH, uri, body: Some(body) }
}

/// How the last request of a replay must be answered (the earlier ones must succeed).
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// Any 2xx.
    Success,
    /// Exactly this status.
    Status(u16),
    /// A SCIM error with this status and `scimType`.
    Error(u16, Option<&'static str>),
}

/// What must hold afterwards. JSON expectations are subsets: every member given must match,
/// arrays element by element with the same length, and `null` means "absent (or null)".
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// GET this URI (templated); the body contains this JSON.
    Shows(&'static str, &'static str),
    /// GET `<POST path>/<id of the created resource>`; the body contains this JSON.
    CreatedShows(&'static str),
    /// The answer to the last request contains this JSON.
    Replied(&'static str),
    /// GET `/Groups/{group}`: its members are exactly these (in any order).
    Members(&'static [&'static str]),
    /// GET `/Groups/{group}`: its members include these.
    MembersInclude(&'static [&'static str]),
    /// GET this URI answers 404 with a SCIM error.
    Gone(&'static str),
}

/// One replay: the requests an IdP sends, how the last is answered, what is stored after.
pub struct Replay<'a> {
    idp: Idp,
    send: &'a [Wire<'a>],
    expect: Outcome,
    then: &'a [Then],
}

/// A replay of `send` as `idp` sends it, expected to succeed and to check nothing more
/// until [`Replay::then`] says what.
pub fn on<'a>(idp: Idp, send: &'a [Wire<'a>]) -> Replay<'a> {
    Replay { idp, send, expect: Outcome::Success, then: &[] }
}

impl<'a> Replay<'a> {
    pub fn expect(self, expect: Outcome) -> Self {
        Replay { expect, ..self }
    }

    pub fn then(self, then: &'a [Then]) -> Self {
        Replay { then, ..self }
    }
}

/// Runs one replay on a fresh [`Fixture`].
pub async fn run(replay: Replay<'_>) {
    let idp = replay.idp;
    let fx = Fixture::new(idp).await;
    let (last, earlier) = replay.send.split_last().expect("a replay sends at least one request");
    for w in earlier {
        let r = fx.send(idp, w.method.clone(), w.uri, w.body).await;
        assert!(r.status.is_success(), "{} {}: {} {}", w.method, w.uri, r.status, String::from_utf8_lossy(&r.raw));
    }
    let r = fx.send(idp, last.method.clone(), last.uri, last.body).await;
    let what = format!("{} {} answered {} {}", last.method, last.uri, r.status, String::from_utf8_lossy(&r.raw));
    match replay.expect {
        Outcome::Success => assert!(r.status.is_success(), "{what}"),
        Outcome::Status(s) => assert_eq!(r.status.as_u16(), s, "{what}"),
        Outcome::Error(s, scim_type) => r.assert_error(s, scim_type),
    }
    for then in replay.then {
        check(&fx, idp, last, &r, then).await;
    }
}

async fn check(fx: &Fixture, idp: Idp, last: &Wire<'_>, reply: &Resp, then: &Then) {
    match *then {
        Then::Shows(uri, want) => assert_contains(&fx.read(idp, uri).await, &fx.fill(want), uri),
        Then::CreatedShows(want) => {
            let id = reply.body["id"].as_str().unwrap_or_else(|| panic!("no id in the reply: {}", reply.body));
            let endpoint = last.uri.split('?').next().unwrap_or_default();
            let uri = format!("{endpoint}/{id}");
            assert_contains(&fx.read(idp, &uri).await, &fx.fill(want), &uri);
        }
        Then::Replied(want) => assert_contains(&reply.body, &fx.fill(want), "the reply"),
        Then::Members(want) => {
            let got = member_ids(&fx.read(idp, "/Groups/{group}").await);
            let mut want: Vec<String> = want.iter().map(|m| fx.fill(m)).collect();
            want.sort();
            assert_eq!(got, want, "members of {{group}}");
        }
        Then::MembersInclude(want) => {
            let got = member_ids(&fx.read(idp, "/Groups/{group}").await);
            for m in want {
                assert!(got.contains(&fx.fill(m)), "{m} missing from {got:?}");
            }
        }
        Then::Gone(uri) => fx.send(idp, Method::GET, uri, None).await.assert_error(404, None),
    }
}

/// The sorted member ids of a group.
pub fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> = group["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["value"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[track_caller]
pub fn assert_contains(actual: &Value, want: &str, what: &str) {
    let want: Value = serde_json::from_str(want).unwrap_or_else(|e| panic!("bad expectation {want}: {e}"));
    if let Err(e) = contains(actual, &want, "") {
        panic!("{what}: {e}\nactual: {actual}");
    }
}

fn contains(actual: &Value, want: &Value, at: &str) -> Result<(), String> {
    match want {
        Value::Null if actual.is_null() => Ok(()),
        Value::Null => Err(format!("{at}: expected absent, found {actual}")),
        Value::Object(want) => {
            want.iter().try_for_each(|(k, v)| contains(actual.get(k).unwrap_or(&Value::Null), v, &format!("{at}/{k}")))
        }
        Value::Array(want) => {
            let got = actual.as_array().ok_or_else(|| format!("{at}: expected an array, found {actual}"))?;
            if got.len() != want.len() {
                return Err(format!("{at}: expected {} elements, found {}: {actual}", want.len(), got.len()));
            }
            got.iter().zip(want).enumerate().try_for_each(|(i, (g, w))| contains(g, w, &format!("{at}/{i}")))
        }
        scalar if actual == scalar => Ok(()),
        scalar => Err(format!("{at}: expected {scalar}, found {actual}")),
    }
}

/// One `#[tokio::test]` per replay, so each quirk passes or fails under its own name.
macro_rules! replays {
    ($($(#[$meta:meta])* $name:ident: $replay:expr;)*) => {
        $(
            $(#[$meta])*
            #[tokio::test]
            async fn $name() {
                $crate::idp_replay::run($replay).await;
            }
        )*
    };
}
pub(crate) use replays;
