//! Hostile input at the SCIM edge (issue 11 §10, §11): group members that do not exist,
//! more members than one request may add, names with invisible format or control
//! characters, and bodies with a key twice. Each is refused with a SCIM error (or, for
//! unknown members under the `drop` policy, left out), and nothing of a refused request
//! is stored.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{user_body, TestServer};

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        group["members"].as_array().into_iter().flatten().map(|m| m["value"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn group_body(name: &str, members: &[&str]) -> Value {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members})
}

fn add_members(ids: &[&str]) -> Value {
    let value: Vec<Value> = ids.iter().map(|m| json!({"value": m})).collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": value}]})
}

async fn count(s: &TestServer, app: &str, path: &str) -> u64 {
    let r = s.get(app, path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["totalResults"].as_u64().unwrap()
}

/// `generic` apps refuse unknown member ids (400 `invalidValue`, naming them, storing
/// nothing); OneLogin, Okta and Entra apps drop them; a group id is a valid member.
#[tokio::test]
async fn members_that_are_not_users_or_groups_of_the_app() {
    let s = TestServer::new();
    for app in ["generic", "onelogin", "okta", "entra"] {
        let ada = s.user(app, "ada@example.com").await;
        let nested = s.group(app, "Nested", &[]).await;
        let body = group_body("Engineers", &[&ada, "no-such-user", &nested, "ghost-2"]);
        let r = s.post(app, "/Groups", body).await;
        if app == "generic" {
            r.assert_error(400, Some("invalidValue"));
            let detail = r.body["detail"].as_str().unwrap();
            assert!(
                detail.contains("\"ghost-2\", \"no-such-user\"") && detail.contains("not users or groups"),
                "{detail}"
            );
            assert_eq!(count(&s, app, "/Groups?filter=displayName%20eq%20%22Engineers%22").await, 0);
            // Without the unknown ids it is created.
            let g = s.group(app, "Engineers", &[&ada, &nested]).await;
            let path = format!("/Groups/{g}");
            // PATCH and PUT are refused the same way, and leave the group as it was.
            let before = s.get(app, &path).await.body;
            s.patch(app, &path, add_members(&["no-such-user"])).await.assert_error(400, Some("invalidValue"));
            s.put(app, &path, group_body("Engineers", &[&ada, "no-such-user"]))
                .await
                .assert_error(400, Some("invalidValue"));
            assert_eq!(s.get(app, &path).await.body, before);
        } else {
            assert_eq!(r.status, StatusCode::CREATED, "{app}: {}", r.body);
            let mut expected = vec![ada.clone(), nested.clone()];
            expected.sort();
            assert_eq!(member_ids(&r.body), expected, "{app}: the unknown ids are dropped");
            let path = format!("/Groups/{}", r.body["id"].as_str().unwrap());
            assert_eq!(member_ids(&s.get(app, &path).await.body), expected, "{app}: and not stored");
            // A PATCH that adds only unknown ids changes nothing; one with a real user adds it.
            let grace = s.user(app, "grace@example.com").await;
            let r = s.patch(app, &path, add_members(&["no-such-user", &grace])).await;
            assert!(r.status.is_success(), "{app}: {}", r.body);
            let mut expected = vec![ada.clone(), nested.clone(), grace.clone()];
            expected.sort();
            assert_eq!(member_ids(&s.get(app, &path).await.body), expected, "{app}");
        }
    }
    // The policy is the app's to choose.
    let s = TestServer::with_apps_extra(&[
        ("generic", "unknown_members = \"drop\""),
        ("okta", "unknown_members = \"reject\""),
    ]);
    let r = s.post("generic", "/Groups", group_body("G", &["ghost"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body.get("members").is_none(), "{}", r.body);
    s.post("okta", "/Groups", group_body("G", &["ghost"])).await.assert_error(400, Some("invalidValue"));
}

/// One request adds at most `max_members_per_request` members; members already in the
/// group do not count, so a PUT of a large group still passes.
#[tokio::test]
async fn members_one_request_may_add_are_capped() {
    let s = TestServer::with_server_settings("max_members_per_request = 3");
    let mut users = Vec::new();
    for n in 0..7 {
        users.push(s.user("okta", &format!("u{n}@example.com")).await);
    }
    let u: Vec<&str> = users.iter().map(String::as_str).collect();
    let r = s.post("okta", "/Groups", group_body("Big", &u[..4])).await;
    r.assert_error(400, Some("invalidValue"));
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains("adds 4 members") && detail.contains("at most 3"), "{detail}");
    assert_eq!(count(&s, "okta", "/Groups?filter=displayName%20eq%20%22Big%22").await, 0);
    let g = s.group("okta", "Big", &u[..3]).await;
    let path = format!("/Groups/{g}");
    s.patch("okta", &path, add_members(&u[3..7])).await.assert_error(400, Some("invalidValue"));
    assert!(s.patch("okta", &path, add_members(&u[3..6])).await.status.is_success());
    // A PUT listing all six present members and one new one adds one.
    let r = s.put("okta", &path, group_body("Big", &u[..7])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(member_ids(&r.body).len(), 7);

    // 20,000 ids that do not exist, at the default cap: refused, not stored and echoed.
    let s = TestServer::new();
    let ids: Vec<String> = (0..20_000).map(|n| format!("ghost-{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    for app in ["onelogin", "generic"] {
        let r = s.post(app, "/Groups", group_body("Flood", &ids)).await;
        r.assert_error(400, Some("invalidValue"));
        assert!(r.raw.len() < 1024, "the refusal does not echo the ids: {} bytes", r.raw.len());
        assert_eq!(count(&s, app, "/Groups").await, 0);
    }
}

/// A name that becomes a Confluence username, group name or full name may not carry an
/// invisible format character (Cf) or a control character (Cc).
#[tokio::test]
async fn names_with_invisible_characters_are_refused() {
    let s = TestServer::new();
    let user = |name: &str| {
        let mut body = user_body("ada@example.com");
        body["displayName"] = json!(name);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (user_body("ad\u{202e}nimda@example.com"), "U+202E"),
        (user_body("ada\u{200b}@example.com"), "U+200B"),
        (user_body("ada\u{e0041}@example.com"), "U+E0041"),
        (user(&format!("Ada {}Lovelace", '\u{2066}')), "U+2066"),
        (user("Ada\u{feff}"), "U+FEFF"),
        (user("Ada\u{85}"), "U+0085"),
        (
            {
                let mut b = user_body("ada@example.com");
                b["name"] = json!({"givenName": "Ada", "familyName": "Love\u{00ad}lace"});
                b
            },
            "U+00AD",
        ),
    ];
    for (body, named) in cases {
        let r = s.post("okta", "/Users", body.clone()).await;
        r.assert_error(400, Some("invalidValue"));
        let detail = r.body["detail"].as_str().unwrap();
        assert!(detail.contains(named) && detail.contains("format"), "{body}: {detail}");
    }
    assert_eq!(count(&s, "okta", "/Users").await, 0, "nothing was stored");
    // Groups, and names set by PUT and PATCH.
    s.post("okta", "/Groups", group_body("ad\u{202e}snimda", &[])).await.assert_error(400, Some("invalidValue"));
    let id = s.user("okta", "ada@example.com").await;
    let path = format!("/Users/{id}");
    let rename = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "\u{202e}nimdA"}]});
    s.patch("okta", &path, rename).await.assert_error(400, Some("invalidValue"));
    s.put("okta", &path, user_body("ad\u{200d}a@example.com")).await.assert_error(400, Some("invalidValue"));
    let g = s.group("okta", "Staff", &[]).await;
    let rename = json!({"Operations": [{"op": "replace", "value": {"displayName": "Staff\u{200b}"}}]});
    s.patch("okta", &format!("/Groups/{g}"), rename).await.assert_error(400, Some("invalidValue"));
    // Letters of every script, and emoji, are names like any other.
    let mut zoe = user("Zoë Ødegård 李小龍 😀");
    zoe["userName"] = json!("zoë@example.com");
    let r = s.post("okta", "/Users", zoe).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// A key twice in one object, at any depth, is 400 `invalidSyntax`: neither value is taken.
#[tokio::test]
async fn a_key_twice_in_a_body_is_refused() {
    let s = TestServer::new();
    let token = format!("Bearer {}", s.tokens["okta"]);
    let headers = [("authorization", token.as_str()), ("content-type", "application/scim+json")];
    let bodies = [
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","userName":"admin@example.com"}"#,
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","name":{"givenName":"Ada","givenName":"Admin"}}"#,
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada@example.com","emails":[{"value":"a@example.com","primary":true,"primary":false}]}"#,
    ];
    for body in bodies {
        let r = s.raw(Method::POST, "/scim/v2/okta/Users", &headers, body.as_bytes().to_vec()).await;
        r.assert_error(400, Some("invalidSyntax"));
        assert!(r.body["detail"].as_str().unwrap().contains("appears twice"), "{}", r.body);
    }
    assert_eq!(count(&s, "okta", "/Users").await, 0);
    // PATCH and Bulk bodies too.
    let id = s.user("okta", "ada@example.com").await;
    let patch = r#"{"Operations":[{"op":"replace","path":"active","value":false,"value":true}]}"#;
    let r = s.raw(Method::PATCH, &format!("/scim/v2/okta/Users/{id}"), &headers, patch.as_bytes().to_vec()).await;
    r.assert_error(400, Some("invalidSyntax"));
    let bulk = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[],"Operations":[]}"#;
    let r = s.raw(Method::POST, "/scim/v2/okta/Bulk", &headers, bulk.as_bytes().to_vec()).await;
    r.assert_error(400, Some("invalidSyntax"));
    assert_eq!(s.get("okta", &format!("/Users/{id}")).await.body["active"], true);
}
