//! Real identity-provider traffic, replayed as each IdP sends it (`shared/reference/
//! idp-traffic.md` §1–§5): literal bodies, query strings and headers, with the stored
//! result checked through GET.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Resp, TestServer};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Sends `body` (raw JSON text) exactly as `idp` would, with its headers.
async fn send(s: &TestServer, app: &str, method: Method, path_and_query: &str, body: Option<&str>) -> Resp {
    let token = format!("Bearer {}", s.tokens[app]);
    let mut headers: Vec<(&str, &str)> = vec![("authorization", &token)];
    match app {
        // OneLogin's connector, with the custom headers vendors tell admins to add.
        "onelogin" => headers.extend([("accept", "application/json"), ("content-type", "application/json")]),
        "okta" => headers.extend([
            ("user-agent", "Okta SCIM Client 1.0.0"),
            ("accept", "application/scim+json"),
            ("content-type", "application/json"),
        ]),
        _ => headers.push(("content-type", "application/scim+json")),
    }
    let bytes = body.map(|b| b.as_bytes().to_vec()).unwrap_or_default();
    s.raw(method, &format!("/scim/v2/{app}{path_and_query}"), &headers, bytes).await
}

async fn ok(s: &TestServer, app: &str, method: Method, path: &str, body: Option<&str>) -> Value {
    let r = send(s, app, method.clone(), path, body).await;
    assert!(r.status.is_success(), "{method} {path}: {} {}", r.status, String::from_utf8_lossy(&r.raw));
    r.body
}

async fn get(s: &TestServer, app: &str, path: &str) -> Value {
    ok(s, app, Method::GET, path, None).await
}

fn member_ids(group: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        group["members"].as_array().into_iter().flatten().map(|m| m["value"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

// ---------------------------------------------------------------- OneLogin

#[tokio::test]
async fn onelogin_v2_enterprise_sequence() {
    let s = TestServer::new();
    // "Enable" test and the create flow's existence check: trailing `&`, `+` for spaces.
    let empty = ok(&s, "onelogin", Method::GET, "/Users?filter=userName+eq+%22onelogin-test-user01%22&", None).await;
    assert_eq!(empty["totalResults"], 0);
    assert_eq!(empty["Resources"], json!([]));

    // The connector's default body: non-RFC URNs, `"id": null`, emails as an object,
    // `active` as a string, manager as {managerId}, a custom attribute the admin added.
    let created = send(
        &s,
        "onelogin",
        Method::POST,
        "/Users",
        Some(
            r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],
            "id":null,"userName":"onelogin-test-user01",
            "name":{"familyName":" User 01","givenName":"AAA Test"},
            "emails":{"value":"user01@example.com","type":"work","primary":true},
            "active":"true","title":"Tester",
            "urn:scim:schemas:extension:enterprise:2.0":{"department":"QA","manager":{"managerId":"42","displayName":"Boss"}},
            "urn:ietf:params:scim:schemas:extension:Acme:2.0:User:badge":"B-12"}"#,
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.header("content-type").unwrap().starts_with("application/json"), "OneLogin wants application/json");
    let id = created.body["id"].as_str().unwrap().to_owned();
    let u = get(&s, "onelogin", &format!("/Users/{id}")).await;
    assert_eq!(u["emails"], json!([{"value": "user01@example.com", "type": "work", "primary": true}]));
    assert_eq!(u["active"], true);
    assert_eq!(u[ENTERPRISE]["manager"]["value"], "42");
    assert_eq!(u[ENTERPRISE]["department"], "QA");
    assert!(u["schemas"].as_array().unwrap().contains(&json!(ENTERPRISE)));
    // The Staffbase pattern: a URN-qualified key of the app's declared (acme) extension.
    assert_eq!(
        u["urn:ietf:params:scim:schemas:extension:acme:2.0:User"]["badge"], "B-12",
        "custom attribute kept: {u}"
    );
    let keys: Vec<&String> = u.as_object().unwrap().keys().collect();
    assert_eq!((keys[0].as_str(), keys[1].as_str(), keys[2].as_str()), ("schemas", "id", "userName"), "{keys:?}");

    // Refresh entitlements, then role-named groups created and filled by PATCH.
    assert_eq!(get(&s, "onelogin", "/Groups").await["totalResults"], 0);
    let g = ok(
        &s,
        "onelogin",
        Method::POST,
        "/Groups",
        Some(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Role Admin","members":[]}"#),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let add = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"add","path":"members","value":[{{"value":"{id}"}}]}}]}}"#
    );
    ok(&s, "onelogin", Method::PATCH, &format!("/Groups/{gid}"), Some(&add)).await;
    assert_eq!(member_ids(&get(&s, "onelogin", &format!("/Groups/{gid}")).await), vec![id.clone()]);

    // Update: the whole template re-rendered and PUT, with a trailing `?`; groups are not
    // in the template and the membership must survive.
    let put = r#"{"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,
        "userName":"onelogin-test-user01","name":{"familyName":"User 01","givenName":"AAA"},
        "emails":{"value":"user01@example.com","type":"work","primary":true},"active":"true",
        "urn:scim:schemas:extension:enterprise:2.0":{"department":"Ops"}}"#;
    let after = ok(&s, "onelogin", Method::PUT, &format!("/Users/{id}?"), Some(put)).await;
    assert_eq!(after[ENTERPRISE]["department"], "Ops");
    assert!(after.get("title").is_none(), "PUT replaces: unmapped attributes are gone");
    assert_eq!(member_ids(&get(&s, "onelogin", &format!("/Groups/{gid}")).await), vec![id.clone()]);

    // Suspend by PUT, with a boolean and with a quoted string.
    for active in ["false", r#""false""#] {
        let body = put.replace(r#""active":"true""#, &format!(r#""active":{active}"#));
        let u = ok(&s, "onelogin", Method::PUT, &format!("/Users/{id}"), Some(&body)).await;
        assert_eq!(u["active"], false, "suspend with active {active}");
        ok(&s, "onelogin", Method::PUT, &format!("/Users/{id}"), Some(put)).await;
    }
    // ... and by PATCH.
    let u = ok(
        &s,
        "onelogin",
        Method::PATCH,
        &format!("/Users/{id}"),
        Some(r#"{"Operations":[{"op":"replace","path":"active","value":false}]}"#),
    )
    .await;
    assert_eq!(u["active"], false);

    // Delete: the user leaves its groups too; a second delete is 404.
    assert_eq!(
        send(&s, "onelogin", Method::DELETE, &format!("/Users/{id}"), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(member_ids(&get(&s, "onelogin", &format!("/Groups/{gid}")).await), Vec::<String>::new());
    send(&s, "onelogin", Method::GET, &format!("/Users/{id}"), None).await.assert_error(404, None);
}

#[tokio::test]
async fn onelogin_scim_11_urns_and_template_quirks() {
    let s = TestServer::new();
    let body = r#"{"schemas":["urn:scim:schemas:core:1.0","urn:scim:schemas:extension:enterprise:1.0"],
        "userName":"legacy@example.com","name":{"givenName":"Leg","familyName":"Acy"},
        "emails":{"value":"legacy@example.com","type":"work","primary":true},"active":"True",
        "urn:scim:schemas:extension:enterprise:1.0":{"department":"Old","manager":{"managerId":"7","displayName":"M"}}}"#;
    let u = ok(&s, "onelogin", Method::POST, "/Users", Some(body)).await;
    assert_eq!(u["active"], true);
    assert_eq!(u[ENTERPRISE]["department"], "Old");
    assert_eq!(u["schemas"], json!(["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE]));
    // OneLogin's default duplicate policy is to adopt (a 409 becomes a Failed task).
    let again = ok(&s, "onelogin", Method::POST, "/Users", Some(&body.replace("legacy@", "LEGACY@"))).await;
    assert_eq!(again["id"], u["id"]);
}

#[tokio::test]
async fn onelogin_group_patch_in_every_shape() {
    let s = TestServer::new();
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(s.user("onelogin", &format!("member{n}@example.com")).await);
    }
    let gid = s.group("onelogin", "Engineering", &[]).await;
    let path = format!("/Groups/{gid}");
    let [u0, u1, u2, u3] = [&users[0], &users[1], &users[2], &users[3]];
    let cases: Vec<(String, Vec<&String>)> = vec![
        (
            format!(
                r#"{{"Operations":[{{"op":"add","path":"members","value":[{{"value":"{u0}"}},{{"value":"{u1}"}}]}}]}}"#
            ),
            vec![u0, u1],
        ),
        // SCIM 1.1 body without Operations: add u2, delete u0.
        (format!(r#"{{"members":[{{"value":"{u2}"}},{{"value":"{u0}","operation":"delete"}}]}}"#), vec![u1, u2]),
        (format!(r#"{{"Operations":[{{"op":"remove","path":"members","value":[{{"value":"{u1}"}}]}}]}}"#), vec![u2]),
        (format!(r#"{{"Operations":[{{"op":"Add","value":{{"members":[{{"value":"{u3}"}}]}}}}]}}"#), vec![u2, u3]),
        (format!(r#"{{"Operations":[{{"op":"remove","path":"members[value eq \"{u2}\"]"}}]}}"#), vec![u3]),
        (
            format!(
                r#"{{"Operations":[{{"op":"replace","path":"members","value":[{{"value":"{u0}"}},{{"value":"{u1}"}}]}}]}}"#
            ),
            vec![u0, u1],
        ),
        (format!(r#"{{"Operations":[{{"op":"delete","path":"members","value":[{{"value":"{u0}"}}]}}]}}"#), vec![u1]),
        // Adds are idempotent.
        (format!(r#"{{"Operations":[{{"op":"add","path":"members","value":[{{"value":"{u1}"}}]}}]}}"#), vec![u1]),
    ];
    for (body, expected) in cases {
        ok(&s, "onelogin", Method::PATCH, &path, Some(&body)).await;
        let got = member_ids(&get(&s, "onelogin", &path).await);
        assert_eq!(got, sorted(expected.into_iter().cloned().collect()), "after {body}");
    }
    // A member id the app does not have (another server's, or a user deleted a moment
    // before): OneLogin's request is accepted, so it does not become a Failed task, and the
    // id is dropped (issue 11 §10). It can never become a user later: ids are UserSync's,
    // handed out in the response to the user's POST.
    let early = r#"{"Operations":[{"op":"add","path":"members","value":[{"value":"not-yet-created"}]}]}"#;
    ok(&s, "onelogin", Method::PATCH, &path, Some(early)).await;
    assert_eq!(member_ids(&get(&s, "onelogin", &path).await), vec![u1.clone()]);
}

// ---------------------------------------------------------------- Okta

#[tokio::test]
async fn okta_provisioning_and_group_push() {
    let s = TestServer::new();
    // Existence check with Okta's paging parameters, then a create with password and groups.
    let r = ok(
        &s,
        "okta",
        Method::GET,
        "/Users?filter=userName%20eq%20%22jane.doe%40example.com%22&startIndex=1&count=100",
        None,
    )
    .await;
    assert_eq!(
        (r["totalResults"].as_u64(), r["startIndex"].as_u64(), r["itemsPerPage"].as_u64()),
        (Some(0), Some(1), Some(0))
    );
    let u = ok(
        &s,
        "okta",
        Method::POST,
        "/Users",
        Some(
            r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName":"jane.doe@example.com","name":{"givenName":"Jane","familyName":"Doe"},
        "emails":[{"primary":true,"value":"jane.doe@example.com","type":"work"}],"displayName":"Jane Doe",
        "locale":"en-US","externalId":"00u1abcd","groups":[],"password":"1mz050nq","active":true}"#,
        ),
    )
    .await;
    assert!(u.get("password").is_none(), "passwords are never returned");
    let id = u["id"].as_str().unwrap().to_owned();

    // Profile update: GET then full PUT; deactivation by path-less PATCH and by PUT (AIW apps).
    let patch = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}"#;
    assert_eq!(ok(&s, "okta", Method::PATCH, &format!("/Users/{id}"), Some(patch)).await["active"], false);
    let reactivate = format!(
        r#"{{"Operations":[{{"op":"replace","value":{{"id":"{id}","schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"active":true}}}}]}}"#
    );
    assert_eq!(ok(&s, "okta", Method::PATCH, &format!("/Users/{id}"), Some(&reactivate)).await["active"], true);
    let mut full = get(&s, "okta", &format!("/Users/{id}")).await;
    full["active"] = json!(false);
    let put = ok(&s, "okta", Method::PUT, &format!("/Users/{id}"), Some(&full.to_string())).await;
    assert_eq!(put["active"], false, "AIW apps deactivate with PUT");
    // Okta's 409 on a duplicate userName, in any case.
    send(&s, "okta", Method::POST, "/Users", Some(r#"{"userName":"JANE.DOE@example.com"}"#))
        .await
        .assert_error(409, Some("uniqueness"));

    // Group Push.
    let other = s.user("okta", "john@example.com").await;
    let g = ok(
        &s,
        "okta",
        Method::POST,
        "/Groups",
        Some(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Push Group","members":[]}"#),
    )
    .await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let path = format!("/Groups/{gid}");
    let membership = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {{"op":"replace","value":{{"id":"{gid}","displayName":"Push Group"}}}},
        {{"op":"add","path":"members","value":[{{"value":"{id}","display":"jane.doe@example.com"}},{{"value":"{other}","display":"john@example.com"}}]}}]}}"#
    );
    ok(&s, "okta", Method::PATCH, &path, Some(&membership)).await;
    assert_eq!(member_ids(&get(&s, "okta", &path).await), sorted(vec![id.clone(), other.clone()]));
    // The filtered remove where other servers silently did nothing.
    let remove = format!(
        r#"{{"Operations":[{{"op":"replace","value":{{"id":"{gid}","displayName":"Push Group Renamed"}}}},{{"op":"remove","path":"members[value eq \"{id}\"]"}}]}}"#
    );
    let after = ok(&s, "okta", Method::PATCH, &path, Some(&remove)).await;
    assert_eq!(after["displayName"], "Push Group Renamed");
    assert_eq!(member_ids(&get(&s, "okta", &path).await), vec![other.clone()]);
    let replace = format!(r#"{{"Operations":[{{"op":"replace","path":"members","value":[{{"value":"{id}"}}]}}]}}"#);
    ok(&s, "okta", Method::PATCH, &path, Some(&replace)).await;
    assert_eq!(member_ids(&get(&s, "okta", &path).await), vec![id.clone()]);
    assert_eq!(send(&s, "okta", Method::DELETE, &path, None).await.status, StatusCode::NO_CONTENT);

    // Paging is integer-valued and stable.
    for n in 0..5 {
        s.user("okta", &format!("page{n}@example.com")).await;
    }
    let p1 = get(&s, "okta", "/Users?startIndex=1&count=3").await;
    let p2 = get(&s, "okta", "/Users?startIndex=4&count=3").await;
    assert_eq!(p1["totalResults"], 7);
    let names = |p: &Value| {
        p["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut all = names(&p1);
    all.extend(names(&p2));
    assert_eq!(all.len(), 6);
    assert_eq!(names(&get(&s, "okta", "/Users?startIndex=1&count=3").await), names(&p1), "stable order");
}

// ---------------------------------------------------------------- Entra

#[tokio::test]
async fn entra_provisioning_without_the_flag() {
    let s = TestServer::new();
    // Matching: userName and externalId (quoted and unquoted).
    assert_eq!(get(&s, "entra", "/Users?filter=userName%20eq%20%22Test_User_dfeef4c5%22").await["totalResults"], 0);
    let u = ok(&s, "entra", Method::POST, "/Users", Some(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active":true,"emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b@testuser.com"}],
        "meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
        "roles":[],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"1","manager":"123456"}}"#)).await;
    let id = u["id"].as_str().unwrap().to_owned();
    assert_eq!(u[ENTERPRISE]["manager"], json!({"value": "123456"}));
    assert!(
        get(&s, "entra", "/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22").await
            ["totalResults"]
            == 1
    );
    assert!(
        get(&s, "entra", "/Users?filter=externalId+eq+0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef").await["totalResults"] == 1
    );
    assert!(
        get(
            &s,
            "entra",
            "/Users?filter=emails%5Btype%20eq%20%22work%22%5D.value%20eq%20%22Test_User_fd0ea19b%40testuser.com%22"
        )
        .await["totalResults"]
            == 1
    );

    // Update: capitalised ops, value-filter paths, URN paths, a string boolean.
    let update = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
        {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"},
        {"op":"Replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"2"},
        {"op":"Replace","path":"userName","value":"5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"}]}"#;
    let u = ok(&s, "entra", Method::PATCH, &format!("/Users/{id}"), Some(update)).await;
    assert_eq!(u["emails"][0]["value"], "updatedEmail@microsoft.com");
    assert_eq!(u["name"]["familyName"], "updatedFamilyName");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "2");
    let disable = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}"#;
    assert_eq!(ok(&s, "entra", Method::PATCH, &format!("/Users/{id}"), Some(disable)).await["active"], false);
    // Disabled users are still found by GET and by filter.
    assert_eq!(get(&s, "entra", &format!("/Users/{id}")).await["active"], false);
    assert_eq!(
        get(&s, "entra", "/Users?filter=userName%20eq%20%225b50642d-79fc-4410-9e90-4c077cdd1a59%40testuser.com%22")
            .await["totalResults"],
        1
    );

    // A work e-mail replace on a user who has none creates it.
    let bare =
        ok(&s, "entra", Method::POST, "/Users", Some(r#"{"userName":"no.mail@testuser.com","active":true}"#)).await;
    let bare_id = bare["id"].as_str().unwrap();
    let u = ok(
        &s,
        "entra",
        Method::PATCH,
        &format!("/Users/{bare_id}"),
        Some(r#"{"Operations":[{"op":"Replace","path":"emails[type eq \"work\"].value","value":"new@testuser.com"}]}"#),
    )
    .await;
    assert_eq!(u["emails"], json!([{"type": "work", "value": "new@testuser.com"}]));

    // Groups: created empty, found by displayName without members, members by value list.
    let g = ok(&s, "entra", Method::POST, "/Groups", Some(r#"{"externalId":"8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159","displayName":"displayName","meta":{"resourceType":"Group"},"members":[]}"#)).await;
    let gid = g["id"].as_str().unwrap().to_owned();
    let found =
        get(&s, "entra", "/Groups?excludedAttributes=members&filter=displayName%20eq%20%22displayName%22").await;
    assert_eq!(found["totalResults"], 1);
    let path = format!("/Groups/{gid}");
    let add = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"Add","path":"members","value":[{{"$ref":null,"value":"{id}"}},{{"$ref":null,"value":"{bare_id}"}}]}}]}}"#
    );
    ok(&s, "entra", Method::PATCH, &path, Some(&add)).await;
    let remove = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"Remove","path":"members","value":[{{"$ref":null,"value":"{id}"}}]}}]}}"#
    );
    ok(&s, "entra", Method::PATCH, &path, Some(&remove)).await;
    assert_eq!(member_ids(&get(&s, "entra", &path).await), vec![bare_id.to_owned()]);
    let g = get(&s, "entra", &format!("{path}?excludedAttributes=members")).await;
    assert!(g.get("members").is_none());
    let rename = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"displayName","value":"1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]}"#;
    assert_eq!(
        ok(&s, "entra", Method::PATCH, &path, Some(rename)).await["displayName"],
        "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"
    );

    // Deletes answer 204; responses are application/scim+json.
    let del = send(&s, "entra", Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert!(send(&s, "entra", Method::GET, &path, None)
        .await
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
}

#[tokio::test]
async fn entra_with_the_aadoptscim062020_flag() {
    let s = TestServer::new();
    let id = s.user("entra", "flagged@example.com").await;
    // Path-less replace with dotted and URN keys, lower-case ops, a real boolean.
    let body = r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{
        "displayName":"Flagged User","name.givenName":"Flag","name.familyName":"Ged",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber":"77","active":false}}]}"#;
    let u = ok(&s, "entra", Method::PATCH, &format!("/Users/{id}"), Some(body)).await;
    assert_eq!(u["displayName"], "Flagged User");
    assert_eq!(u["name"]["givenName"], "Flag");
    assert_eq!(u["name"]["familyName"], "Ged");
    assert_eq!(u[ENTERPRISE]["employeeNumber"], "77");
    assert_eq!(u["active"], false);
    let gid = s.group("entra", "Flag Group", &[&id]).await;
    let remove = format!(
        r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"remove","path":"members[value eq \"{id}\"]"}}]}}"#
    );
    ok(&s, "entra", Method::PATCH, &format!("/Groups/{gid}"), Some(&remove)).await;
    assert_eq!(member_ids(&get(&s, "entra", &format!("/Groups/{gid}")).await), Vec::<String>::new());
}
