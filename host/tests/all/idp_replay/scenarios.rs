//! Replays that need more than one table row: Okta's paging over more than 100 users,
//! Okta's rename repeated with every membership change, Entra's disable/enable cycle, and
//! OneLogin without its custom headers.

use std::collections::HashSet;

use axum::http::Method;
use serde_json::{json, Value};

use super::Idp::{Entra, Okta, OneLogin};
use super::{assert_contains, member_ids, Fixture, CORE_USER};

/// §2 "Pagination: `count=100`, `startIndex += 100`. `itemsPerPage`, `startIndex` and
/// `totalResults` must be integers, and the ordering must be stable."
#[tokio::test]
async fn okta_pages_of_100_have_integer_counts_and_a_stable_order() {
    let fx = Fixture::new(Okta).await;
    for n in 0..101 {
        let body = json!({"schemas": [CORE_USER], "userName": format!("paged.{n:03}@okta.local"), "active": true});
        assert!(fx.server.post("okta", "/Users", body).await.status.is_success());
    }
    let page = |start: usize| {
        let fx = &fx;
        async move {
            let p = fx.read(Okta, &format!("/Users?startIndex={start}&count=100")).await;
            for field in ["totalResults", "startIndex", "itemsPerPage"] {
                assert!(p[field].is_u64(), "{field} must be an integer: {}", p[field]);
            }
            p
        }
    };
    let first = page(1).await;
    let second = page(101).await;
    assert_contains(&first, r#"{"totalResults":105,"startIndex":1,"itemsPerPage":100}"#, "page 1");
    assert_contains(&second, r#"{"totalResults":105,"startIndex":101,"itemsPerPage":5}"#, "page 2");
    let ids = |p: &Value| -> Vec<String> {
        p["Resources"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect()
    };
    let all: HashSet<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert_eq!(all.len(), 105, "the two pages cover every user once");
    assert_eq!(ids(&page(1).await), ids(&first), "the order is stable");
}

/// §2 / §5 "`replace` `{id, displayName}` sent with every membership change: idempotent
/// rename". A repeat changes nothing, not even the version.
#[tokio::test]
async fn okta_rename_repeated_with_every_membership_change_is_idempotent() {
    let fx = Fixture::new(Okta).await;
    let rename = |name: &str| {
        format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","value":{{"id":"{{group}}","displayName":"{name}"}}}}]}}"#
        )
    };
    let version = |g: &Value| g["meta"]["version"].as_str().unwrap().to_owned();
    let before = fx.read(Okta, "/Groups/{group}").await;

    let same = rename("Engineering");
    assert!(fx.send(Okta, Method::PATCH, "/Groups/{group}", Some(&same)).await.status.is_success());
    let after = fx.read(Okta, "/Groups/{group}").await;
    assert_eq!(version(&after), version(&before), "a rename to the current name is no change");
    assert_eq!(member_ids(&after), member_ids(&before));

    let renamed = rename("Engineering (Okta)");
    for _ in 0..2 {
        assert!(fx.send(Okta, Method::PATCH, "/Groups/{group}", Some(&renamed)).await.status.is_success());
    }
    let twice = fx.read(Okta, "/Groups/{group}").await;
    assert_eq!(twice["displayName"], "Engineering (Okta)");
    assert_ne!(version(&twice), version(&before));
    assert_eq!(member_ids(&twice), member_ids(&before), "a rename never touches members");
    assert!(fx.send(Okta, Method::PATCH, "/Groups/{group}", Some(&renamed)).await.status.is_success());
    assert_eq!(version(&fx.read(Okta, "/Groups/{group}").await), version(&twice), "the repeat is no change");
}

/// §3.2 / §5 string booleans both ways: `"False"` disables, `"True"` re-enables, and the
/// user is found by filter throughout (§3.1).
#[tokio::test]
async fn entra_disable_and_enable_with_string_booleans() {
    let fx = Fixture::new(Entra).await;
    for (value, active) in [("False", false), ("True", true), ("false", false), ("true", true)] {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"Replace","path":"active","value":"{value}"}}]}}"#
        );
        let r = fx.send(Entra, Method::PATCH, "/Users/{user}", Some(&body)).await;
        assert!(r.status.is_success(), "{value}: {}", String::from_utf8_lossy(&r.raw));
        assert_eq!(fx.read(Entra, "/Users/{user}").await["active"], active, "after {value}");
        let found = fx.read(Entra, "/Users?filter=userName%20eq%20%22seed.user%40example.com%22").await;
        assert_eq!(found["Resources"][0]["active"], active, "filtered after {value}");
    }
}

/// §1.1 "the content type header for all responses must be of type application/json",
/// whether or not the admin added the custom `Accept` header: lists, resources, creates
/// and errors.
#[tokio::test]
async fn onelogin_responses_are_application_json_without_custom_headers() {
    let fx = Fixture::new(OneLogin).await;
    let token = format!("Bearer {}", fx.server.tokens["onelogin"]);
    for accept in [None, Some("*/*")] {
        let mut headers = vec![("authorization", token.as_str())];
        headers.extend(accept.map(|a| ("accept", a)));
        let uris = [
            "/Users?filter=userName+eq+%22nobody%22&".to_owned(),
            fx.fill("/Users/{user}"),
            "/Groups".to_owned(),
            fx.fill("/Users/{unknown}"),
        ];
        for uri in &uris {
            let r = fx.server.raw(Method::GET, &format!("/scim/v2/onelogin{uri}"), &headers, Vec::new()).await;
            let ct = r.header("content-type").unwrap_or_default();
            assert!(ct.starts_with("application/json"), "GET {uri} with Accept {accept:?}: {ct}");
        }
        let mut post = headers.clone();
        post.push(("content-type", "application/json"));
        let body = json!({"schemas": ["urn:scim:schemas:core:2.0"], "userName": format!("plain.{}@example.com", accept.is_some())});
        let r = fx.server.raw(Method::POST, "/scim/v2/onelogin/Users", &post, serde_json::to_vec(&body).unwrap()).await;
        assert_eq!(r.status.as_u16(), 201);
        assert!(r.header("content-type").unwrap_or_default().starts_with("application/json"));
    }
}

/// §1.1 / §4.3: a OneLogin "Enable" test with a wrong token gets its 401 as a SCIM error,
/// in `application/json` when the admin added the custom `Accept` header. (Without it the
/// 401 is `application/scim+json`: the app behind an unauthenticated request is not
/// trusted to choose, so that a 401 says nothing about which app names exist.)
#[tokio::test]
async fn onelogin_wrong_token_is_a_401_scim_error_in_the_accepted_type() {
    let fx = Fixture::new(OneLogin).await;
    let headers =
        [("authorization", "Bearer wrong"), ("accept", "application/json"), ("content-type", "application/json")];
    let uri = "/scim/v2/onelogin/Users?filter=userName+eq+%22onelogin-test-user01%22&";
    let r = fx.server.raw(Method::GET, uri, &headers, Vec::new()).await;
    r.assert_error(401, None);
    let ct = r.header("content-type").unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{ct}");
}
