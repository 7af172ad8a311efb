//! Okta's "SCIM 2.0 SPEC Test" (the Runscope suite of `shared/reference/idp-traffic.md` §6),
//! step by step with Okta's headers and each step's assertions.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Resp, TestServer};

const USER_AGENT: &str = "OKTA SCIM Integration";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

async fn okta(s: &TestServer, method: Method, path: &str, body: Option<Value>, auth: Option<&str>) -> Resp {
    let token = format!("Bearer {}", s.tokens["okta"]);
    let auth = auth.unwrap_or(&token);
    let mut headers = vec![("authorization", auth), ("user-agent", USER_AGENT), ("accept", "application/scim+json")];
    if body.is_some() {
        // Step 6 sends its create with Content-Type: application/json.
        headers.push(("content-type", "application/json"));
    }
    let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
    s.raw(method, &format!("/scim/v2/okta{path}"), &headers, bytes).await
}

/// The fields steps 1, 2 and 7 check on a user.
#[track_caller]
fn assert_user_fields(u: &Value) {
    assert!(u["id"].as_str().is_some_and(|s| !s.is_empty()), "{u}");
    for field in ["/name/familyName", "/name/givenName", "/userName", "/emails/0/value"] {
        assert!(u.pointer(field).and_then(Value::as_str).is_some_and(|s| !s.is_empty()), "{field} in {u}");
    }
    assert!(u["active"].is_boolean(), "{u}");
}

#[tokio::test]
async fn okta_scim_spec_test_12_steps() {
    let s = TestServer::new();
    // Step 1 needs a user that exists before the test.
    s.user("okta", "isv.user@example.com").await;

    // 1. Test Users endpoint.
    let r = okta(&s, Method::GET, "/Users?count=1&startIndex=1", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(LIST)));
    for n in ["itemsPerPage", "startIndex", "totalResults"] {
        assert!(r.body[n].is_u64(), "{n} is a number: {}", r.body);
    }
    let first = &r.body["Resources"][0];
    assert_user_fields(first);
    let isv_id = first["id"].as_str().unwrap().to_owned();

    // 2. Get Users/{{id}}.
    let r = okta(&s, Method::GET, &format!("/Users/{isv_id}"), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_user_fields(&r.body);
    assert_eq!(r.body["id"], isv_id.as_str());

    // 3. Test invalid User by username.
    let r = okta(&s, Method::GET, "/Users?filter=userName%20eq%20%22invalid-user@example.com%22", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(LIST)));
    assert_eq!(r.body["totalResults"], 0);

    // 4. Test invalid User by ID.
    let r = okta(&s, Method::GET, "/Users/00919288221112222", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ERROR)));

    // 5. Make sure random user doesn't exist.
    let random = "Random.Okta.User.7731@example.com";
    let r = okta(&s, Method::GET, &format!("/Users?filter=userName%20eq%20%22{random}%22"), None, None).await;
    assert_eq!((r.status, r.body["totalResults"].as_u64()), (StatusCode::OK, Some(0)));

    // 6. Create Okta user with realistic values.
    let body = json!({
        "schemas": [CORE_USER],
        "userName": random,
        "name": {"givenName": "Random", "familyName": "Oktauser"},
        "emails": [{"primary": true, "value": random, "type": "work"}],
        "displayName": "Random Oktauser",
        "active": true
    });
    let r = okta(&s, Method::POST, "/Users", Some(body), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["active"], true);
    assert_eq!(r.body["userName"], random);
    assert_eq!(r.body["name"]["givenName"], "Random");
    assert_eq!(r.body["name"]["familyName"], "Oktauser");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(CORE_USER)));
    let id = r.body["id"].as_str().unwrap().to_owned();
    let created = r.body.clone();

    // 7. Verify that user was created.
    let r = okta(&s, Method::GET, &format!("/Users/{id}"), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, created);

    // 8. Expect failure when recreating user with same values.
    let again = json!({"schemas": [CORE_USER], "userName": random, "name": {"givenName": "Random", "familyName": "Oktauser"},
        "emails": [{"primary": true, "value": random, "type": "work"}], "active": true});
    let r = okta(&s, Method::POST, "/Users", Some(again), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ERROR)));

    // 9. Username case sensitivity check: userName matches case-insensitively.
    let caps = random.to_uppercase();
    let r = okta(&s, Method::GET, &format!("/Users?filter=userName%20eq%20%22{caps}%22"), None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["totalResults"], 1, "{}", r.body);
    assert_eq!(r.body["Resources"][0]["id"], id.as_str());

    // 10. Verify Groups endpoint (Okta also wants it under 600 ms; in-process it is far below).
    let r = okta(&s, Method::GET, "/Groups", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["Resources"].is_array());

    // 11. Check status 401.
    let r = okta(&s, Method::GET, "/Users", None, Some("non-token")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["status"], "401");
    assert!(r.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ERROR)));

    // 12. Check status 404.
    let r = okta(&s, Method::GET, "/Users/00919288221112222", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["status"], "404");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ERROR)));

    // The suite's users are ordinary data afterwards.
    assert_eq!(s.get("okta", "/Users").await.body["totalResults"], 2);
}
