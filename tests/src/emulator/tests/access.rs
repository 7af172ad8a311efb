//! Authentication (Basic, PAT, PAT-as-Basic), permissions, XSRF and the rate limiter.

use reqwest::Method;
use serde_json::json;

use super::{assert_envelope, site, site_with, Who, MEMBER};
use crate::emulator::{EmulatorConfig, PersonalAccessToken, RateLimit, DEFAULT_ADMIN_TOKEN};

const USER: &str = "/rest/api/user?username=admin";

#[tokio::test]
async fn basic_and_pat_authenticate_and_bad_credentials_get_401() {
    let config = EmulatorConfig {
        tokens: vec![
            PersonalAccessToken { token: DEFAULT_ADMIN_TOKEN.into(), username: "admin".into() },
            PersonalAccessToken { token: "member-token".into(), username: MEMBER.0.into() },
        ],
        ..EmulatorConfig::default()
    };
    let site = site_with(config).await;
    assert_eq!(site.call(Who::Admin, Method::GET, USER, None).await.status, 200);
    assert_eq!(site.call(Who::Pat, Method::GET, USER, None).await.status, 200);
    assert_eq!(site.call(Who::Basic("ADMIN", "admin"), Method::GET, USER, None).await.status, 200);

    for who in [
        Who::Basic("admin", "wrong"),
        Who::Basic("nobody", "admin"),
        // A DC PAT is not a Basic password.
        Who::Basic("admin", DEFAULT_ADMIN_TOKEN),
        Who::Bearer("not-a-token"),
    ] {
        let reply = site.call(who, Method::GET, USER, None).await;
        assert_eq!(reply.status, 401, "{who:?}");
        assert!(reply.content_type().starts_with("text/html"), "401 from the login layer is not JSON");
        assert_eq!(reply.header("x-seraph-loginreason"), Some("AUTHENTICATED_FAILED"));
    }
    // No credentials: the resource itself asks for authentication.
    assert_envelope(&site.call(Who::Anonymous, Method::GET, USER, None).await, 401);
    // A PAT acts as its user, with that user's permissions.
    let as_member = site.call(Who::Bearer("member-token"), Method::GET, "/rest/api/user/current", None).await;
    assert_eq!(as_member.json["username"], MEMBER.0);
    let refused = site.call(Who::Bearer("member-token"), Method::PUT, "/rest/api/admin/user/admin/disable", None).await;
    assert_envelope(&refused, 403);
    // A disabled user's PAT stops working.
    assert_eq!(site.put("/rest/api/admin/user/mia/disable").await.status, 204);
    assert_eq!(site.call(Who::Bearer("member-token"), Method::GET, USER, None).await.status, 401);
}

#[tokio::test]
async fn non_admins_read_but_cannot_administer() {
    let site = site().await;
    let member = Who::Basic(MEMBER.0, MEMBER.1);
    assert_eq!(site.call(member, Method::GET, USER, None).await.status, 200);
    assert_eq!(site.call(member, Method::GET, "/rest/api/user/list", None).await.status, 200);
    let create = json!({"userName": "x", "fullName": "X", "email": "x@x.org", "password": "p"});
    let admin_calls = [
        (Method::POST, "/rest/api/admin/user", Some(create)),
        (Method::PUT, "/rest/api/admin/user/admin/disable", None),
        (Method::PUT, "/rest/api/admin/user/admin/enable", None),
        (Method::DELETE, "/rest/api/admin/user/admin", None),
        (Method::PUT, "/rest/api/admin/user/admin", Some(json!({"fullName": "x"}))),
        (Method::DELETE, "/rest/api/user/admin/group/confluence-users", None),
        (Method::GET, "/rest/api/group/confluence-users/member", None),
    ];
    for (method, path, body) in admin_calls {
        let reply = site.call(member, method.clone(), path, body).await;
        assert_envelope(&reply, 403);
        assert_eq!(site.call(Who::Anonymous, method, path, None).await.status, 401, "{path}");
    }
    assert_eq!(site.emulator.counters().writes(), 0);
}

#[tokio::test]
async fn xsrf_blocks_form_and_text_posts_without_the_token() {
    let site = site().await;
    for content_type in ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=b"] {
        let reply = site.raw(Method::POST, "/rest/api/admin/group", content_type, "name=x", false).await;
        assert_eq!(reply.status, 403, "{content_type}");
        assert_eq!(reply.text, "XSRF check failed");
        // With the token the request passes XSRF and fails on its media type instead.
        let reply = site.raw(Method::POST, "/rest/api/admin/group", content_type, "name=x", true).await;
        assert_eq!(reply.status, 415, "{content_type}");
    }
    // JSON without the token passes.
    let json = site.raw(Method::POST, "/rest/api/admin/group", "application/json", r#"{"name":"x"}"#, false).await;
    assert_eq!(json.status, 201);
}

#[tokio::test]
async fn rate_limiter_sends_headers_and_429s_when_the_bucket_is_empty() {
    let limit = RateLimit { enabled: true, max_requests: 2, fill_rate: 1, interval_secs: 3600, ..RateLimit::default() };
    let site = site_with(EmulatorConfig { rate_limit: limit.clone(), ..EmulatorConfig::default() }).await;
    let first = site.get(USER).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert_eq!(first.header("x-ratelimit-interval-seconds"), Some("3600"));
    assert_eq!(first.header("x-ratelimit-fillrate"), Some("1"));
    assert_eq!(first.header("retry-after"), Some("0"), "0 while tokens remain");
    assert_eq!(site.get(USER).await.header("x-ratelimit-remaining"), Some("0"));
    let refused = site.get(USER).await;
    assert_eq!(refused.status, 429);
    let retry_after: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    // Per user: another caller still has tokens; PATs are limited by default.
    assert_eq!(site.call(Who::Basic(MEMBER.0, MEMBER.1), Method::GET, USER, None).await.status, 200);
    assert_eq!(site.call(Who::Pat, Method::GET, USER, None).await.status, 429, "the PAT acts as admin");
    // Anonymous and unauthenticated routes are not limited.
    let manifest = site.call(Who::Anonymous, Method::GET, "/rest/applinks/1.0/manifest", None).await;
    assert_eq!(manifest.status, 200);
    assert!(manifest.header("x-ratelimit-limit").is_none());
    let counters = site.emulator.counters();
    assert_eq!((counters.rate_limited, counters.responses_429()), (2, 2));

    // PAT traffic exempted by setting (changed at run time; buckets start afresh).
    site.emulator.set_rate_limit(RateLimit { limit_pats: false, ..limit });
    for _ in 0..5 {
        let reply = site.call(Who::Pat, Method::GET, USER, None).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("x-ratelimit-limit").is_none());
    }
}
