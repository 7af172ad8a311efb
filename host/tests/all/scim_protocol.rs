//! The SCIM protocol through the real router: CRUD, discovery, filters, sorting, paging,
//! projection, PATCH, versions, media types, uniqueness, bulk and errors.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{user_body, TestServer, ACME};

const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn user_crud_round_trip() {
    let s = TestServer::new();
    let created = s.post("generic", "/Users", user_body("alice@example.com")).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();
    let location = created.body["meta"]["location"].as_str().unwrap();
    assert_eq!(location, format!("https://sync.example.com/scim/v2/generic/Users/{id}"));
    assert_eq!(created.header("location"), Some(location));
    assert_eq!(created.header("etag"), created.body["meta"]["version"].as_str());
    assert_eq!(created.body["meta"]["resourceType"], "User");
    assert_eq!(created.body[ENTERPRISE]["department"], "Engineering");

    let got = s.get("generic", &format!("/Users/{id}")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, created.body);

    let mut replacement = user_body("alice@example.com");
    replacement["displayName"] = json!("Alice Liddell");
    let put = s.put("generic", &format!("/Users/{id}"), replacement).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["displayName"], "Alice Liddell");
    assert_eq!(put.body["meta"]["created"], created.body["meta"]["created"]);
    assert_ne!(put.body["meta"]["version"], created.body["meta"]["version"]);

    let patched = s
        .patch("generic", &format!("/Users/{id}"), json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "Queen"}]}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["title"], "Queen");

    let listed = s.get("generic", "/Users").await;
    assert_eq!(listed.body["totalResults"], 1);

    let deleted = s.delete("generic", &format!("/Users/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    s.get("generic", &format!("/Users/{id}")).await.assert_error(404, None);
    s.delete("generic", &format!("/Users/{id}")).await.assert_error(404, None);
}

#[tokio::test]
async fn group_crud_and_membership() {
    let s = TestServer::new();
    let u1 = s.user("generic", "u1").await;
    let u2 = s.user("generic", "u2").await;
    let g = s.group("generic", "Engineers", &[&u1]).await;
    let got = s.get("generic", &format!("/Groups/{g}")).await;
    assert_eq!(got.body["members"][0]["value"], u1.as_str());
    assert_eq!(got.body["members"][0]["type"], "User");
    assert_eq!(got.body["members"][0]["$ref"], format!("https://sync.example.com/scim/v2/generic/Users/{u1}"));

    let r = s
        .patch(
            "generic",
            &format!("/Groups/{g}"),
            json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": u2}]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);

    let without = s.get("generic", &format!("/Groups/{g}?excludedAttributes=members")).await;
    assert!(without.body.get("members").is_none(), "{}", without.body);
    assert_eq!(without.body["displayName"], "Engineers");

    // Deleting a user takes it out of its groups.
    assert_eq!(s.delete("generic", &format!("/Users/{u1}")).await.status, StatusCode::NO_CONTENT);
    let after = s.get("generic", &format!("/Groups/{g}")).await;
    let members: Vec<&str> =
        after.body["members"].as_array().unwrap().iter().map(|m| m["value"].as_str().unwrap()).collect();
    assert_eq!(members, vec![u2.as_str()]);

    let put = s.put("generic", &format!("/Groups/{g}"), json!({"displayName": "Engineers", "members": []})).await;
    assert_eq!(put.status, StatusCode::OK);
    assert!(put.body.get("members").is_none());
    assert_eq!(s.delete("generic", &format!("/Groups/{g}")).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn custom_extension_is_served_stored_and_filterable() {
    let s = TestServer::new();
    let schemas = s.get("generic", "/Schemas").await;
    let ids: Vec<&str> =
        schemas.body["Resources"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(ids.contains(&ACME) && ids.contains(&ENTERPRISE) && ids.contains(&CORE_USER), "{ids:?}");
    let one = s.get("generic", &format!("/Schemas/{ACME}")).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["attributes"][1]["type"], "integer");

    let mut body = user_body("bob");
    body["schemas"].as_array_mut().unwrap().push(json!(ACME));
    body[ACME] = json!({"badge": "B-7", "clearance": "3"});
    body["favouriteColour"] = json!("teal");
    let r = s.post("generic", "/Users", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body[ACME], json!({"badge": "B-7", "clearance": 3}));
    assert_eq!(r.body["favouriteColour"], "teal", "unknown attributes are kept");
    assert!(r.body["schemas"].as_array().unwrap().contains(&json!(ACME)));

    let f = s.get("generic", &format!("/Users?filter={}", enc(&format!("{ACME}:clearance ge 3")))).await;
    assert_eq!(f.body["totalResults"], 1, "{}", f.body);
    let f = s.get("generic", &format!("/Users?filter={}", enc(&format!("{ACME}:badge eq \"b-7\"")))).await;
    assert_eq!(f.body["totalResults"], 1, "badge is caseExact=false: {}", f.body);
}

#[tokio::test]
async fn discovery_endpoints_follow_rfc_7643() {
    let s = TestServer::new();
    let spc = s.get("okta", "/ServiceProviderConfig").await;
    assert_eq!(spc.status, StatusCode::OK);
    assert_eq!(spc.body["schemas"][0], "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig");
    for feature in ["patch", "bulk", "filter", "sort", "etag", "changePassword"] {
        assert!(spc.body[feature]["supported"].is_boolean(), "{feature}");
    }
    assert_eq!(spc.body["bulk"]["maxOperations"], 1000);
    assert_eq!(spc.body["authenticationSchemes"][0]["type"], "oauthbearertoken");

    let rts = s.get("okta", "/ResourceTypes").await;
    let keys: Vec<&String> = rts.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["schemas", "totalResults", "startIndex", "itemsPerPage", "Resources"]);
    assert_eq!(rts.body["totalResults"], 2);
    assert_eq!(rts.body["Resources"][0]["endpoint"], "/Users");
    assert_eq!(rts.body["Resources"][0]["schemaExtensions"][0]["schema"], ENTERPRISE);
    let user_rt = s.get("okta", "/ResourceTypes/User").await;
    assert_eq!(user_rt.body["schema"], CORE_USER);
    s.get("okta", "/ResourceTypes/Nope").await.assert_error(404, None);
    s.get("okta", "/Schemas/urn:nope").await.assert_error(404, None);

    let schema = s.get("okta", &format!("/Schemas/{CORE_USER}")).await;
    let user_name = &schema.body["attributes"][0];
    assert_eq!(user_name["name"], "userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["caseExact"], false);

    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        s.call("okta", Method::POST, path, Some(json!({}))).await.assert_error(405, None);
        s.call("okta", Method::DELETE, path, None).await.assert_error(405, None);
    }
    s.get("okta", "/Schemas?filter=id%20eq%20%22x%22").await.assert_error(403, None);
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn seed_people(s: &TestServer) -> Vec<String> {
    let mut ids = Vec::new();
    for (name, dept, email, active) in [
        ("carol", "Sales", "carol@x.com", true),
        ("Dave", "Engineering", "dave@y.com", true),
        ("erin", "Engineering", "erin@x.com", false),
        ("frank", "Support", "frank@z.com", true),
    ] {
        let mut b = user_body(name);
        b["emails"] = json!([{"value": email, "type": "work", "primary": true}, {"value": format!("{name}@home.net"), "type": "home"}]);
        b[ENTERPRISE]["department"] = json!(dept);
        b["active"] = json!(active);
        b["externalId"] = json!(format!("ext-{name}"));
        let r = s.post("generic", "/Users", b).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    ids
}

async fn names(s: &TestServer, query: &str) -> Vec<String> {
    let r = s.get("generic", &format!("/Users?{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
    r.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn filters_through_http() {
    let s = TestServer::new();
    seed_people(&s).await;
    let cases: &[(&str, &[&str])] = &[
        ("userName eq \"DAVE\"", &["Dave"]),
        ("userName+eq+%22carol%22&", &["carol"]),
        ("externalId eq ext-frank", &["frank"]),
        ("externalId eq \"EXT-FRANK\"", &[]),
        ("emails[type eq \"work\" and value co \"@x.com\"]", &["carol", "erin"]),
        ("emails co \"@home.net\"", &["carol", "Dave", "erin", "frank"]),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq \"Engineering\"", &["Dave", "erin"]),
        ("active eq false", &["erin"]),
        ("not (active eq true) or userName sw \"fr\"", &["erin", "frank"]),
        ("(userName ew \"l\" or userName ew \"k\") and title pr", &[]),
        ("userName gt \"d\" and userName lt \"f\"", &["Dave", "erin"]),
        ("meta.created gt \"2000-01-01T00:00:00Z\" and userName eq \"frank\"", &["frank"]),
        ("emails[type eq \"work\"].value eq \"dave@y.com\"", &["Dave"]),
    ];
    for (filter, expected) in cases {
        let q = if filter.contains('+') { format!("filter={filter}") } else { format!("filter={}", enc(filter)) };
        let got = names(&s, &q).await;
        assert_eq!(got, *expected, "filter {filter}");
    }
    for bad in ["userName eq", "userName xx \"a\"", "(userName eq \"a\"", "active gt true", "userName eq \"a\" garbage"]
    {
        s.get("generic", &format!("/Users?filter={}", enc(bad))).await.assert_error(400, Some("invalidFilter"));
    }
    let deep = format!("{}userName eq \"a\"{}", "(".repeat(5000), ")".repeat(5000));
    s.get("generic", &format!("/Users?filter={}", enc(&deep))).await.assert_error(400, Some("invalidFilter"));
}

#[tokio::test]
async fn sorting_paging_and_projection() {
    let s = TestServer::new();
    seed_people(&s).await;
    assert_eq!(names(&s, "sortBy=userName").await, ["carol", "Dave", "erin", "frank"]);
    assert_eq!(names(&s, "sortBy=userName&sortOrder=descending").await, ["frank", "erin", "Dave", "carol"]);
    assert_eq!(names(&s, "sortBy=emails&sortOrder=descending&count=2").await, ["frank", "erin"]);

    let page = s.get("generic", "/Users?startIndex=2&count=2").await;
    assert_eq!(page.body["totalResults"], 4);
    assert_eq!(page.body["startIndex"], 2);
    assert_eq!(page.body["itemsPerPage"], 2);
    assert_eq!(page.body["Resources"][0]["userName"], "Dave");
    let zero = s.get("generic", "/Users?count=0").await;
    assert_eq!((zero.body["totalResults"].as_u64(), zero.body["itemsPerPage"].as_u64()), (Some(4), Some(0)));
    let past = s.get("generic", "/Users?startIndex=99").await;
    assert_eq!(past.body["Resources"], json!([]));
    let filtered_page = s
        .get("generic", &format!("/Users?filter={}&startIndex=2&count=1&sortBy=userName", enc("active eq true")))
        .await;
    assert_eq!(filtered_page.body["totalResults"], 3);
    assert_eq!(filtered_page.body["Resources"][0]["userName"], "Dave");
    s.get("generic", "/Users?count=many").await.assert_error(400, Some("invalidValue"));

    let projected = s.get("generic", "/Users?attributes=userName,emails.value&count=1").await;
    let u = &projected.body["Resources"][0];
    assert_eq!(u["userName"], "carol");
    assert!(u.get("id").is_some(), "id is returned always");
    assert!(u.get("displayName").is_none());
    assert!(u["emails"][0].get("type").is_none());
    assert_eq!(u["emails"][0]["value"], "carol@x.com");
    let excluded = s.get("generic", &format!("/Users?excludedAttributes=emails,{ENTERPRISE}&count=1")).await;
    let u = &excluded.body["Resources"][0];
    assert!(u.get("emails").is_none() && u.get(ENTERPRISE).is_none(), "{u}");
    assert_eq!(u["userName"], "carol");
}

#[tokio::test]
async fn search_with_post() {
    let s = TestServer::new();
    seed_people(&s).await;
    s.group("generic", "Sales", &[]).await;
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName sw \"e\"", "attributes": ["userName"], "count": 10});
    let r = s.post("generic", "/Users/.search", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["totalResults"], 1);
    assert!(r.body["Resources"][0].get("emails").is_none());

    let root = s
        .post("generic", "/.search", json!({"filter": "meta.resourceType eq \"Group\" or userName eq \"frank\""}))
        .await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.body);
    assert_eq!(root.body["totalResults"], 2, "{}", root.body);
    let groups = s.post("generic", "/Groups/.search", json!({"filter": "displayName eq \"sales\""})).await;
    assert_eq!(groups.body["totalResults"], 1);
}

#[tokio::test]
async fn patch_forms_and_response_projection() {
    let s = TestServer::new();
    let id = s.user("generic", "grace").await;
    let path = format!("/Users/{id}?attributes=userName,name.givenName");
    let r = s
        .patch(
            "generic",
            &path,
            json!({"Operations": [
                {"op": "replace", "path": "name.givenName", "value": "Grace"},
                {"op": "add", "path": "emails", "value": [{"value": "g@work.com", "type": "work", "primary": true}]},
                {"op": "replace", "path": format!("{ENTERPRISE}:department"), "value": "Navy"},
                {"op": "remove", "path": "emails[type eq \"home\"]"},
                {"op": "add", "value": {"title": "Rear Admiral", format!("{ACME}:badge"): "RA-1"}}
            ]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], json!({"givenName": "Grace"}));
    assert!(r.body.get("emails").is_none(), "projection honoured");
    let full = s.get("generic", &format!("/Users/{id}")).await.body;
    assert_eq!(full[ENTERPRISE]["department"], "Navy");
    assert_eq!(full["title"], "Rear Admiral");
    assert_eq!(full[ACME]["badge"], "RA-1");
    let primaries: Vec<&Value> = full["emails"].as_array().unwrap().iter().filter(|e| e["primary"] == true).collect();
    assert_eq!(primaries.len(), 1, "one primary e-mail: {}", full["emails"]);

    s.patch(
        "generic",
        &format!("/Users/{id}"),
        json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": "x"}]}),
    )
    .await
    .assert_error(400, Some("invalidPath"));
    s.patch("generic", &format!("/Users/{id}"), json!({"Operations": [{"op": "remove"}]}))
        .await
        .assert_error(400, Some("noTarget"));
    s.patch("generic", &format!("/Users/{id}"), json!({"Operations": [{"op": "replace", "path": "id", "value": "x"}]}))
        .await
        .assert_error(400, Some("mutability"));
    s.patch(
        "generic",
        &format!("/Users/{id}"),
        json!({"Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}),
    )
    .await
    .assert_error(400, Some("invalidValue"));
    let unchanged = s.get("generic", &format!("/Users/{id}")).await.body;
    assert_eq!(unchanged, full, "failed PATCHes change nothing");
}

#[tokio::test]
async fn etags_and_preconditions() {
    let s = TestServer::new();
    let id = s.user("generic", "heidi").await;
    let path = format!("/Users/{id}");
    let v1 = s.get("generic", &path).await.header("etag").unwrap().to_owned();
    let not_modified = s.call_with("generic", Method::GET, &path, None, &[("if-none-match", &v1)]).await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert!(not_modified.raw.is_empty());

    let body = json!({"Operations": [{"op": "replace", "path": "title", "value": "t1"}]});
    let ok = s.call_with("generic", Method::PATCH, &path, Some(body.clone()), &[("if-match", &v1)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let v2 = ok.header("etag").unwrap().to_owned();
    assert_ne!(v1, v2);
    s.call_with("generic", Method::PATCH, &path, Some(body.clone()), &[("if-match", &v1)])
        .await
        .assert_error(412, None);
    s.call_with("generic", Method::PUT, &path, Some(user_body("heidi")), &[("if-match", &v1)])
        .await
        .assert_error(412, None);
    s.call_with("generic", Method::DELETE, &path, None, &[("if-match", &v1)]).await.assert_error(412, None);
    let star = s.call_with("generic", Method::GET, &path, None, &[("if-none-match", "W/\"999\"")]).await;
    assert_eq!(star.status, StatusCode::OK);
    // A PATCH that changes nothing keeps the version.
    let same =
        s.patch("generic", &path, json!({"Operations": [{"op": "replace", "path": "title", "value": "t1"}]})).await;
    assert_eq!(same.header("etag"), Some(v2.as_str()));
    let del = s.call_with("generic", Method::DELETE, &path, None, &[("if-match", &v2)]).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn media_types() {
    let s = TestServer::new();
    let okta = s.get("okta", "/Users").await;
    assert!(okta.header("content-type").unwrap().starts_with("application/scim+json"));
    let onelogin = s.get("onelogin", "/Users").await;
    assert!(onelogin.header("content-type").unwrap().starts_with("application/json"));
    let asked = s.call_with("okta", Method::GET, "/Users", None, &[("accept", "application/json")]).await;
    assert!(asked.header("content-type").unwrap().starts_with("application/json"));
    let asked = s.call_with("onelogin", Method::GET, "/Users", None, &[("accept", "application/scim+json")]).await;
    assert!(asked.header("content-type").unwrap().starts_with("application/scim+json"));
    let err = s.get("onelogin", "/Users/nope").await;
    assert!(err.header("content-type").unwrap().starts_with("application/json"));

    let json_req = s
        .call_with(
            "okta",
            Method::POST,
            "/Users",
            Some(user_body("ivan")),
            &[("content-type", "application/json; charset=utf-8")],
        )
        .await;
    assert_eq!(json_req.status, StatusCode::CREATED);
    s.call_with("okta", Method::POST, "/Users", Some(user_body("judy")), &[("content-type", "text/plain")])
        .await
        .assert_error(415, None);
    s.call_with(
        "okta",
        Method::POST,
        "/Users",
        Some(user_body("judy")),
        &[("content-type", "application/x-www-form-urlencoded")],
    )
    .await
    .assert_error(415, None);
}

#[tokio::test]
async fn names_are_unique_per_app_case_insensitively() {
    let s = TestServer::new();
    s.user("okta", "Kim@Example.com").await;
    s.post("okta", "/Users", user_body("kim@example.COM")).await.assert_error(409, Some("uniqueness"));
    // Another app is another namespace.
    s.user("entra", "kim@example.com").await;
    let other = s.user("okta", "leo@example.com").await;
    s.put("okta", &format!("/Users/{other}"), user_body("KIM@example.com")).await.assert_error(409, Some("uniqueness"));
    s.patch(
        "okta",
        &format!("/Users/{other}"),
        json!({"Operations": [{"op": "replace", "path": "userName", "value": "kim@EXAMPLE.com"}]}),
    )
    .await
    .assert_error(409, Some("uniqueness"));
    // Changing only the case of one's own name is allowed.
    let r = s
        .patch(
            "okta",
            &format!("/Users/{other}"),
            json!({"Operations": [{"op": "replace", "path": "userName", "value": "LEO@example.com"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    s.group("okta", "Admins", &[]).await;
    s.post("okta", "/Groups", json!({"displayName": "ADMINS"})).await.assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn onelogin_adopts_an_existing_user_name() {
    let s = TestServer::new();
    let first = s.user("onelogin", "mallory@example.com").await;
    let mut again = user_body("Mallory@example.com");
    again["title"] = json!("Adopted");
    let r = s.post("onelogin", "/Users", again).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["id"], first.as_str());
    assert_eq!(r.body["title"], "Adopted");
    assert_eq!(s.get("onelogin", "/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn bulk_with_bulk_id_references_and_limits() {
    let s = TestServer::with_server_settings("bulk_max_operations = 5\nbulk_max_payload_bytes = 4096");
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"displayName": "Bulkers", "members": [{"value": "bulkId:u1"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u1", "data": {"userName": "nina"}},
            {"method": "PATCH", "path": "/Users/bulkId:u1", "data": {"Operations": [{"op": "replace", "path": "title", "value": "Lead"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": {"userName": "NINA"}},
            {"method": "DELETE", "path": "/Users/does-not-exist"}
        ]
    });
    let r = s.post("generic", "/Bulk", body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:BulkResponse");
    let ops = r.body["Operations"].as_array().unwrap();
    let statuses: Vec<&str> = ops.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["201", "201", "200", "409", "404"], "{}", r.body);
    let user_id = ops[1]["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let group = s
        .get(
            "generic",
            ops[0]["location"].as_str().unwrap().trim_start_matches("https://sync.example.com/scim/v2/generic"),
        )
        .await;
    assert_eq!(group.body["members"][0]["value"], user_id.as_str());
    assert_eq!(ops[3]["response"]["scimType"], "uniqueness");
    assert_eq!(s.get("generic", &format!("/Users/{user_id}")).await.body["title"], "Lead");

    let too_many: Vec<Value> = (0..6).map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"userName": format!("b{i}")}})).collect();
    s.post("generic", "/Bulk", json!({"Operations": too_many})).await.assert_error(413, None);
    let big = json!({"Operations": [{"method": "POST", "path": "/Users", "bulkId": "x", "data": {"userName": "x", "title": "t".repeat(5000)}}]});
    s.post("generic", "/Bulk", big).await.assert_error(413, None);
    let fail_fast = json!({"failOnErrors": 1, "Operations": [
        {"method": "DELETE", "path": "/Users/nope"},
        {"method": "POST", "path": "/Users", "bulkId": "later", "data": {"userName": "never"}}
    ]});
    let r = s.post("generic", "/Bulk", fail_fast).await;
    assert_eq!(r.body["Operations"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(s.get("generic", "/Users?filter=userName%20eq%20%22never%22").await.body["totalResults"], 0);
}

#[tokio::test]
async fn every_error_is_a_scim_error() {
    let s = TestServer::new();
    s.raw(Method::GET, "/scim/v2/okta/Users", &[], vec![]).await.assert_error(401, None);
    let wrong = s.raw(Method::GET, "/scim/v2/okta/Users", &[("authorization", "non-token")], vec![]).await;
    wrong.assert_error(401, None);
    assert!(wrong.header("www-authenticate").is_some());
    s.raw(Method::GET, "/scim/v2/nope/Users", &[("authorization", "Bearer whatever-it-is")], vec![])
        .await
        .assert_error(401, None);
    s.get("okta", "/Users/00919288221112222").await.assert_error(404, None);
    s.get("okta", "/Unknown").await.assert_error(404, None);
    s.raw(Method::GET, "/nothing/here", &[], vec![]).await.assert_error(404, None);
    s.call("okta", Method::DELETE, "/Users", None).await.assert_error(405, None);
    s.call("okta", Method::PATCH, "/Groups", Some(json!({}))).await.assert_error(405, None);
    let huge = json!({"userName": "x", "title": "y".repeat(1_100_000)});
    s.post("okta", "/Users", huge).await.assert_error(413, None);
    s.call_with("okta", Method::POST, "/Users", Some(user_body("z")), &[("content-type", "application/xml")])
        .await
        .assert_error(415, None);
}

#[tokio::test]
async fn one_apps_token_never_reaches_another_app() {
    let s = TestServer::new();
    let secret = s.user("entra", "secret-user").await;
    let okta_token = format!("Bearer {}", s.tokens["okta"]);
    for (method, path) in [
        (Method::GET, format!("/scim/v2/entra/Users/{secret}")),
        (Method::GET, "/scim/v2/entra/Users".to_owned()),
        (Method::DELETE, format!("/scim/v2/entra/Users/{secret}")),
    ] {
        s.raw(method, &path, &[("authorization", &okta_token)], vec![]).await.assert_error(401, None);
    }
    // The id means nothing under the other app's URL either.
    s.get("okta", &format!("/Users/{secret}")).await.assert_error(404, None);
    assert_eq!(s.get("okta", "/Users").await.body["totalResults"], 0);
    assert_eq!(s.get("entra", "/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn bad_input_gets_4xx_and_changes_nothing() {
    let s = TestServer::new();
    let id = s.user("generic", "olivia").await;
    let before = s.get("generic", &format!("/Users/{id}")).await.body;
    let path = format!("/scim/v2/generic/Users/{id}");
    let auth = format!("Bearer {}", s.tokens["generic"]);
    let h = [("authorization", auth.as_str()), ("content-type", "application/scim+json")];
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(Method, Vec<u8>, u16, &str)> = vec![
        (Method::PUT, b"{\"userName\": ".to_vec(), 400, "invalidSyntax"),
        (Method::PUT, b"".to_vec(), 400, "invalidSyntax"),
        (Method::PUT, b"{\"userName\": \"\xff\xfe\"}".to_vec(), 400, "invalidSyntax"),
        (Method::PUT, deep.into_bytes(), 400, "invalidSyntax"),
        (Method::PUT, br#"{"userName": 5, "name": []}"#.to_vec(), 400, "invalidValue"),
        (Method::PUT, br#"{"schemas": ["urn:made:up"], "userName": "olivia"}"#.to_vec(), 400, "invalidValue"),
        (Method::PUT, format!(r#"{{"userName": "{}"}}"#, "o".repeat(256)).into_bytes(), 400, "invalidValue"),
        (
            Method::PATCH,
            br#"{"Operations": [{"op": "replace", "path": "name.givenName.x.y", "value": 1}]}"#.to_vec(),
            400,
            "invalidPath",
        ),
        (
            Method::PATCH,
            br#"{"Operations": [{"op": "jump", "path": "title", "value": 1}]}"#.to_vec(),
            400,
            "invalidSyntax",
        ),
        (Method::PATCH, br#"{"Operations": "nope"}"#.to_vec(), 400, "invalidSyntax"),
    ];
    for (method, body, status, scim_type) in cases {
        let r = s.raw(method.clone(), &path, &h, body.clone()).await;
        assert_eq!(
            r.status.as_u16(),
            status,
            "{method} {}: {}",
            String::from_utf8_lossy(&body[..body.len().min(80)]),
            r.body
        );
        r.assert_error(status, Some(scim_type));
    }
    let huge_filter = format!("userName eq \"{}\"", "a".repeat(10_000));
    s.get("generic", &format!("/Users?filter={}", enc(&huge_filter))).await.assert_error(400, Some("invalidFilter"));
    let many_terms = vec!["userName eq \"a\""; 400].join(" or ");
    s.get("generic", &format!("/Users?filter={}", enc(&many_terms))).await.assert_error(400, Some("invalidFilter"));
    let after = s.get("generic", &format!("/Users/{id}")).await.body;
    assert_eq!(after, before);
    assert_eq!(s.get("generic", "/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn state_survives_a_restart() {
    let s = TestServer::new();
    let id = s.user("generic", "peggy").await;
    let g = s.group("generic", "Restarters", &[&id]).await;
    let before_user = s.get("generic", &format!("/Users/{id}")).await.body;
    let s2 = s.restart();
    assert_eq!(s2.get("generic", &format!("/Users/{id}")).await.body, before_user);
    assert_eq!(s2.get("generic", &format!("/Groups/{g}")).await.body["members"][0]["value"], id.as_str());
    s2.post("generic", "/Users", user_body("PEGGY")).await.assert_error(409, Some("uniqueness"));
}

#[tokio::test]
async fn cursor_paging_rfc_9865() {
    let s = TestServer::new();
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(s.user("generic", &format!("c{n}")).await);
    }
    let spc = s.get("generic", "/ServiceProviderConfig").await;
    assert_eq!(spc.body["pagination"]["cursor"], true);

    let first = s.get("generic", "/Users?cursor=&count=2").await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert!(first.body.get("startIndex").is_none());
    assert_eq!((first.body["totalResults"].as_u64(), first.body["itemsPerPage"].as_u64()), (Some(5), Some(2)));
    let mut seen: Vec<String> = first.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap().to_owned())
        .collect();
    let mut cursor = first.body["nextCursor"].as_str().unwrap().to_owned();
    // The walk is stable while resources come and go: a deleted one is skipped, a new one
    // shows up at the end.
    assert_eq!(s.delete("generic", &format!("/Users/{}", ids[3])).await.status, StatusCode::NO_CONTENT);
    s.user("generic", "c5").await;
    loop {
        let page = s.get("generic", &format!("/Users?cursor={cursor}&count=2")).await;
        seen.extend(
            page.body["Resources"].as_array().unwrap().iter().map(|u| u["userName"].as_str().unwrap().to_owned()),
        );
        match page.body["nextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["c0", "c1", "c2", "c4", "c5"]);

    let filtered = s
        .get(
            "generic",
            &format!("/Users?cursor=&count=1&filter={}", enc("userName sw \"c\" and not (userName eq \"c0\")")),
        )
        .await;
    assert_eq!(filtered.body["totalResults"], 4);
    assert_eq!(filtered.body["Resources"][0]["userName"], "c1");
    let next = filtered.body["nextCursor"].as_str().unwrap();
    let second = s
        .post(
            "generic",
            "/Users/.search",
            json!({"filter": "userName sw \"c\" and not (userName eq \"c0\")", "cursor": next, "count": 1}),
        )
        .await;
    assert_eq!(second.body["Resources"][0]["userName"], "c2", "{}", second.body);

    s.get("generic", "/Users?cursor=bogus").await.assert_error(400, Some("invalidCursor"));
    s.get("generic", "/Users?cursor=&startIndex=1").await.assert_error(400, Some("invalidValue"));
    s.get("generic", "/Users?cursor=&sortBy=userName").await.assert_error(400, Some("invalidValue"));
}

/// Clients that add a trailing slash or spell the endpoints in lower case reach the same
/// endpoints, with every verb (RFC 7644 spells them `/Users`, `/Groups` …; some clients
/// and hand-written scripts do not).
#[tokio::test]
async fn trailing_slashes_and_lower_case_endpoints_are_served() {
    let s = TestServer::new();
    for (n, (users, groups)) in
        [("/Users/", "/Groups/"), ("/users", "/groups"), ("/users/", "/groups/")].into_iter().enumerate()
    {
        let name = format!("slash{n}@example.com");
        let created = s.post("generic", users, user_body(&name)).await;
        assert_eq!(created.status, StatusCode::CREATED, "POST {users}: {}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        let base = users.trim_end_matches('/');
        let one = format!("{base}/{id}");

        let got = s.get("generic", &format!("{one}/")).await;
        assert_eq!(got.status, StatusCode::OK, "GET {one}/: {}", got.body);
        assert_eq!(got.body["id"], id.as_str());
        let listed = s.get("generic", &format!("{users}?filter=userName+eq+%22{name}%22")).await;
        assert_eq!(listed.body["totalResults"], 1, "GET {users}: {}", listed.body);

        let mut replacement = user_body(&name);
        replacement["title"] = json!("Put");
        let put = s.put("generic", &one, replacement).await;
        assert_eq!((put.status, &put.body["title"]), (StatusCode::OK, &json!("Put")), "PUT {one}");
        let patch = json!({"Operations": [{"op": "replace", "path": "title", "value": "Patched"}]});
        let patched = s.patch("generic", &format!("{one}/"), patch).await;
        assert_eq!(patched.body["title"], "Patched", "PATCH {one}/: {}", patched.body);
        let search = s.post("generic", &format!("{base}/.search"), json!({"count": 0})).await;
        assert_eq!(search.status, StatusCode::OK, "POST {users}.search: {}", search.body);

        let group =
            s.post("generic", groups, json!({"displayName": format!("g-{name}"), "members": [{"value": id}]})).await;
        assert_eq!(group.status, StatusCode::CREATED, "POST {groups}: {}", group.body);
        let gid = group.body["id"].as_str().unwrap();
        let group_path = format!("{}/{gid}/", groups.trim_end_matches('/'));
        assert_eq!(s.get("generic", &group_path).await.body["members"][0]["value"], id.as_str());
        assert_eq!(s.delete("generic", &group_path).await.status, StatusCode::NO_CONTENT, "DELETE {group_path}");
        assert_eq!(s.delete("generic", &format!("{one}/")).await.status, StatusCode::NO_CONTENT, "DELETE {one}/");
        s.get("generic", &one).await.assert_error(404, None);
    }
    for path in
        ["/serviceproviderconfig", "/ServiceProviderConfig/", "/resourcetypes", "/resourcetypes/User", "/schemas/"]
    {
        let r = s.get("generic", path).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.body);
    }
    // Still SCIM errors: an unknown endpoint, and a wrong verb on a rewritten path.
    s.get("generic", "/unknown/").await.assert_error(404, None);
    s.call("generic", Method::DELETE, "/users/", None).await.assert_error(405, None);
    // The token is still checked.
    s.raw(Method::GET, "/scim/v2/generic/users/", &[], vec![]).await.assert_error(401, None);
}

/// `attributes` may hold a value filter: the matching values are returned (RFC 7644 §3.10
/// value paths), not a 400.
#[tokio::test]
async fn attributes_with_a_value_filter_select_values() {
    let s = TestServer::new();
    let mut body = user_body("vf@example.com");
    body["emails"] = json!([
        {"value": "vf@example.com", "type": "work", "primary": true},
        {"value": "vf@home.example", "type": "home"}
    ]);
    let created = s.post("generic", "/Users", body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();

    let one = s.get("generic", &format!("/Users/{id}?attributes={}", enc(r#"emails[type eq "work"]"#))).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    assert_eq!(one.body["emails"], json!([{"value": "vf@example.com", "type": "work", "primary": true}]));
    assert!(one.body.get("userName").is_none(), "{}", one.body);

    let list =
        s.get("generic", &format!("/Users?attributes={}", enc(r#"userName,emails[type eq "home"].value"#))).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert_eq!(list.body["Resources"][0]["emails"], json!([{"value": "vf@home.example"}]));
    assert_eq!(list.body["Resources"][0]["userName"], "vf@example.com");

    let searched =
        s.post("generic", "/Users/.search", json!({"attributes": [r#"emails[type eq "work"].value"#]})).await;
    assert_eq!(searched.status, StatusCode::OK, "{}", searched.body);
    assert_eq!(searched.body["Resources"][0]["emails"], json!([{"value": "vf@example.com"}]));

    let bad = s.get("generic", &format!("/Users/{id}?attributes={}", enc(r#"emails[type eq]"#))).await;
    bad.assert_error(400, Some("invalidValue"));
}
