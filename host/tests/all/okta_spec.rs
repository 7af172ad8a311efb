//! Okta's "SCIM 2.0 SPEC Test" (`idp-traffic.md` §6), ported step by step from the Runscope
//! export (public copy: BerriAI/litellm `tests/scim_tests/scim_e2e_test.json`): each step's
//! request with the headers that file sends, its assertions in the file's own vocabulary
//! (`not_empty`, `has_value`, `is_a_number`, …), and its variables.
//!
//! Assertions beyond the file: step 4 checks `status`; step 7 the e-mail step 6 kept; step 8
//! the whole SCIM error body; step 9 `totalResults == 1` and the id (§6: userName matching is
//! case-insensitive, which the file's status-only check does not prove); step 10 that the
//! group made before the test is listed. Every JSON answer must be `application/scim+json`,
//! the type the steps `Accept`. The file's 5–10 s pauses are left out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::http::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, TestServer};

const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

/// The headers of a step, as the export sets them.
#[derive(Clone, Copy)]
enum Headers {
    /// Every read: `Accept-Charset`, a `Content-Type` even without a body, `Accept`,
    /// `Authorization: {{auth}}`, `User-Agent: OKTA SCIM Integration`.
    Read,
    /// Steps 6 and 8: `Content-Type: application/json`, `Authorization`,
    /// `Accept: application/scim+json; charset=utf-8`, and no `User-Agent`.
    Create,
    /// Step 11: as `Read`, with `Authorization: non-token`.
    NonToken,
}

/// A Runscope assertion; properties are paths such as `Resources[0].emails[0].value`.
enum Check {
    Status(u16),
    NotEmpty(&'static str),
    /// The array at this property contains this value (`has_value`, `contains`).
    HasValue(&'static str, &'static str),
    IsNumber(&'static str),
    /// The property equals this value (templated), compared as text like Runscope does.
    Equal(&'static str, &'static str),
    /// `response_time` below this many milliseconds.
    FasterThan(u64),
    /// Runscope script of step 10: `Resources` is an array whenever `totalResults >= 1`.
    ResourcesIsArray,
}

struct Step {
    note: &'static str,
    headers: Headers,
    method: Method,
    /// Relative to `{{SCIMBaseURL}}`, with `{{variables}}`.
    url: &'static str,
    body: Option<&'static str>,
    checks: &'static [Check],
    /// Variables taken from the response: (name, property).
    keep: &'static [(&'static str, &'static str)],
}

use Check::*;

/// The twelve steps, in the export's order.
fn steps() -> [Step; 12] {
    [
        Step {
            note: "1. Required Test: Test Users endpoint",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users?count=1&startIndex=1",
            body: None,
            checks: &[
                Status(200),
                NotEmpty("Resources"),
                HasValue("schemas", LIST),
                IsNumber("itemsPerPage"),
                IsNumber("startIndex"),
                IsNumber("totalResults"),
                NotEmpty("Resources[0].id"),
                NotEmpty("Resources[0].name.familyName"),
                NotEmpty("Resources[0].name.givenName"),
                NotEmpty("Resources[0].userName"),
                NotEmpty("Resources[0].active"),
                NotEmpty("Resources[0].emails[0].value"),
            ],
            keep: &[("ISVUserid", "Resources[0].id")],
        },
        Step {
            note: "2. Required Test: Get Users/{{id}}",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users/{{ISVUserid}}",
            body: None,
            checks: &[
                Status(200),
                NotEmpty("id"),
                NotEmpty("name.familyName"),
                NotEmpty("name.givenName"),
                NotEmpty("userName"),
                NotEmpty("active"),
                NotEmpty("emails[0].value"),
                Equal("id", "{{ISVUserid}}"),
            ],
            keep: &[],
        },
        Step {
            note: "3. Required Test: Test invalid User by username",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users?filter=userName%20eq%20%22{{InvalidUserEmail}}%22",
            body: None,
            checks: &[Status(200), HasValue("schemas", LIST), Equal("totalResults", "0")],
            keep: &[],
        },
        Step {
            note: "4. Required Test: Test invalid User by ID",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users/{{UserIdThatDoesNotExist}}",
            body: None,
            checks: &[Status(404), NotEmpty("detail"), HasValue("schemas", ERROR), Equal("status", "404")],
            keep: &[],
        },
        Step {
            note: "5. Required Test: Make sure random user doesn't exist",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users?filter=userName%20eq%20%22{{randomEmail}}%22",
            body: None,
            checks: &[Status(200), Equal("totalResults", "0"), HasValue("schemas", LIST)],
            keep: &[],
        },
        Step {
            note: "6. Required Test: Create Okta user with realistic values",
            headers: Headers::Create,
            method: Method::POST,
            url: "/Users",
            body: Some(
                r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{randomUsername}}","name":{"givenName":"{{randomGivenName}}","familyName":"{{randomFamilyName}}"},"emails":[{"primary":true,"value":"{{randomEmail}}","type":"work"}],"displayName":"{{randomGivenName}} {{randomFamilyName}}","active":true}"#,
            ),
            checks: &[
                Status(201),
                Equal("active", "true"),
                NotEmpty("id"),
                Equal("name.familyName", "{{randomFamilyName}}"),
                Equal("name.givenName", "{{randomGivenName}}"),
                HasValue("schemas", CORE_USER),
                Equal("userName", "{{randomUsername}}"),
            ],
            keep: &[("idUserOne", "id"), ("randomUserEmail", "emails[0].value")],
        },
        Step {
            note: "7. Required Test: Verify that user was created",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users/{{idUserOne}}",
            body: None,
            checks: &[
                Status(200),
                Equal("userName", "{{randomUsername}}"),
                Equal("name.familyName", "{{randomFamilyName}}"),
                Equal("name.givenName", "{{randomGivenName}}"),
                Equal("emails[0].value", "{{randomUserEmail}}"),
            ],
            keep: &[],
        },
        Step {
            note: "8. Required Test: Expect failure when recreating user with same values",
            headers: Headers::Create,
            method: Method::POST,
            url: "/Users",
            body: Some(
                r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"{{randomUsername}}","name":{"givenName":"{{randomGivenName}}","familyName":"{{randomFamilyName}}"},"emails":[{"primary":true,"value":"{{randomUsername}}","type":"work"}],"displayName":"{{randomGivenName}} {{randomFamilyName}}","active":true}"#,
            ),
            checks: &[Status(409), HasValue("schemas", ERROR), Equal("status", "409"), NotEmpty("detail")],
            keep: &[],
        },
        Step {
            note: "9. Required Test: Username Case Sensitivity Check",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users?filter=userName%20eq%20%22{{randomUsernameCaps}}%22",
            body: None,
            checks: &[Status(200), Equal("totalResults", "1"), Equal("Resources[0].id", "{{idUserOne}}")],
            keep: &[],
        },
        Step {
            note: "10. Optional Test: Verify Groups endpoint",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Groups",
            body: None,
            checks: &[Status(200), FasterThan(600), IsNumber("totalResults"), ResourcesIsArray],
            keep: &[],
        },
        Step {
            note: "11. Required Test: Check status 401",
            headers: Headers::NonToken,
            method: Method::GET,
            url: "/Users?filter=userName%20eq%20%22{{randomUsernameCaps}}%22",
            body: None,
            checks: &[Status(401), NotEmpty("detail"), Equal("status", "401"), HasValue("schemas", ERROR)],
            keep: &[],
        },
        Step {
            note: "12. Required Test: Check status 404",
            headers: Headers::Read,
            method: Method::GET,
            url: "/Users/00919288221112222",
            body: None,
            checks: &[Status(404), NotEmpty("detail"), Equal("status", "404"), HasValue("schemas", ERROR)],
            keep: &[],
        },
    ]
}

#[tokio::test]
async fn okta_scim_spec_test_12_steps() {
    let s = TestServer::new();
    // Step 1 needs a user that exists before the test, and step 10's script has more to
    // check when a group exists.
    let isv = s.user("okta", "isv.user@example.com").await;
    s.group("okta", "Everyone", &[&isv]).await;

    let random = "okta.7731";
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("auth", format!("Bearer {}", s.tokens["okta"])),
        ("InvalidUserEmail", "invalid-user-9d1c@atko.com".to_owned()),
        ("UserIdThatDoesNotExist", "010101001010101010101".to_owned()),
        ("randomUsername", format!("{random}@atko.com")),
        ("randomUsernameCaps", format!("{random}@atko.com").to_uppercase()),
        ("randomEmail", format!("{random}.mail@atko.com")),
        ("randomGivenName", "Randall".to_owned()),
        ("randomFamilyName", "Oktason".to_owned()),
    ]);

    for step in steps() {
        let (r, elapsed) = send(&s, &step, &vars).await;
        for check in step.checks {
            assert_check(&step, check, &r, elapsed, &vars);
        }
        if !r.raw.is_empty() {
            let ct = r.header("content-type").unwrap_or_default();
            assert!(ct.starts_with("application/scim+json"), "{}: content type {ct}", step.note);
        }
        for (name, property) in step.keep {
            let value =
                lookup(&r.body, property).and_then(text).unwrap_or_else(|| panic!("{}: no {property}", step.note));
            vars.insert(name, value);
        }
    }

    // The steps' users stay ordinary data: the pre-existing one and the one step 6 created.
    assert_eq!(s.get("okta", "/Users").await.body["totalResults"], 2);
    assert_eq!(vars["ISVUserid"], isv);
}

async fn send(s: &TestServer, step: &Step, vars: &HashMap<&str, String>) -> (Resp, Duration) {
    let auth = match step.headers {
        Headers::NonToken => "non-token".to_owned(),
        Headers::Read | Headers::Create => vars["auth"].clone(),
    };
    let headers: Vec<(&str, &str)> = match step.headers {
        Headers::Read | Headers::NonToken => vec![
            ("accept-charset", "utf-8"),
            ("content-type", "application/scim+json; charset=utf-8"),
            ("accept", "application/scim+json"),
            ("authorization", &auth),
            ("user-agent", "OKTA SCIM Integration"),
        ],
        Headers::Create => vec![
            ("content-type", "application/json"),
            ("authorization", &auth),
            ("accept", "application/scim+json; charset=utf-8"),
        ],
    };
    let uri = format!("/scim/v2/okta{}", fill(step.url, vars));
    let body = step.body.map(|b| fill(b, vars).into_bytes()).unwrap_or_default();
    let started = Instant::now();
    let r = s.raw(step.method.clone(), &uri, &headers, body).await;
    (r, started.elapsed())
}

#[track_caller]
fn assert_check(step: &Step, check: &Check, r: &Resp, elapsed: Duration, vars: &HashMap<&str, String>) {
    let note = step.note;
    let body = &r.body;
    let got = |property: &str| lookup(body, property);
    match *check {
        Status(want) => assert_eq!(r.status.as_u16(), want, "{note}: {}", String::from_utf8_lossy(&r.raw)),
        NotEmpty(p) => assert!(got(p).is_some_and(not_empty), "{note}: {p} is empty in {body}"),
        HasValue(p, want) => assert!(
            got(p).and_then(Value::as_array).is_some_and(|a| a.contains(&json!(want))),
            "{note}: {p} lacks {want} in {body}"
        ),
        IsNumber(p) => assert!(got(p).is_some_and(Value::is_u64), "{note}: {p} is not an integer in {body}"),
        Equal(p, want) => {
            let want = fill(want, vars);
            assert_eq!(got(p).and_then(text).as_deref(), Some(want.as_str()), "{note}: {p} in {body}");
        }
        FasterThan(ms) => assert!(elapsed < Duration::from_millis(ms), "{note}: took {elapsed:?}"),
        ResourcesIsArray => {
            let total = body["totalResults"].as_u64().unwrap_or_default();
            assert!(total == 0 || body["Resources"].is_array(), "{note}: Resources in {body}");
            assert!(total >= 1, "{note}: the group made before the test is listed: {body}");
        }
    }
}

/// `{{name}}` → the variable's value.
fn fill(template: &str, vars: &HashMap<&str, String>) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}

/// A Runscope property path: `Resources[0].name.familyName`.
fn lookup<'v>(value: &'v Value, property: &str) -> Option<&'v Value> {
    property.split('.').try_fold(value, |v, part| match part.split_once('[') {
        None => v.get(part),
        Some((name, index)) => v.get(name)?.get(index.trim_end_matches(']').parse::<usize>().ok()?),
    })
}

/// Runscope's `not_empty`: present, and not null, `""`, `[]` or `{}` (so `false` counts).
fn not_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// A value as Runscope compares it: strings as they are, everything else as JSON text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}
