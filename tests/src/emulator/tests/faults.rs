//! Fault injection: each kind, that faulted requests are not processed (or are, for the
//! lost-response drop), that control routes are never faulted; targeted faults, the write
//! log, requests finished after their client leaves, and tokens that expire.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use super::{site, Who};
use crate::emulator::{Faults, PersonalAccessToken, TargetedAction, TargetedFault};

fn create_body(username: &str) -> serde_json::Value {
    json!({"userName": username, "fullName": "F", "email": "f@x.org", "password": "p"})
}

#[tokio::test]
async fn outage_answers_503_to_everything_without_processing() {
    let site = site().await;
    site.emulator.set_faults(Faults { outage: true, ..Faults::default() });
    let write = site.post("/rest/api/admin/user", create_body("jane")).await;
    assert_eq!(write.status, 503);
    assert!(write.content_type().starts_with("text/html"));
    assert_eq!(site.call(Who::Anonymous, Method::GET, "/rest/applinks/1.0/manifest", None).await.status, 503);
    // Control routes still answer; nothing was written.
    let state = site.get("/_emulator/state").await;
    assert_eq!(state.status, 200);
    assert!(state.json["users"].get("jane").is_none());
    let counters = site.emulator.counters();
    assert_eq!((counters.outage_responses, counters.requests, counters.users_created), (2, 2, 0));

    site.emulator.set_faults(Faults::default());
    assert_eq!(site.post("/rest/api/admin/user", create_body("jane")).await.status, 201);
}

#[tokio::test]
async fn injected_429_carries_retry_after_and_skips_the_request() {
    let site = site().await;
    site.emulator.set_faults(Faults { rate_429: 1.0, retry_after_secs: 7, ..Faults::default() });
    let reply = site.post("/rest/api/admin/user", create_body("jane")).await;
    assert_eq!((reply.status, reply.header("retry-after")), (429, Some("7")));
    let counters = site.emulator.counters();
    assert_eq!((counters.injected_429, counters.responses_429(), counters.users_created), (1, 1, 0));
}

#[tokio::test]
async fn injected_errors_mix_500_and_503_and_skip_the_request() {
    let site = site().await;
    site.emulator.set_faults(Faults { error_rate: 1.0, ..Faults::default() });
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..20 {
        let reply = site.post("/rest/api/admin/user", create_body(&format!("u{i}"))).await;
        if reply.status == 500 {
            assert_eq!(reply.json["statusCode"], 500);
        }
        seen.insert(reply.status);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [500, 503]);
    let counters = site.emulator.counters();
    assert_eq!((counters.injected_errors, counters.users_created), (20, 0));
}

#[tokio::test]
async fn dropped_connections_before_and_after_processing() {
    let site = site().await;
    site.emulator.set_faults(Faults { drop_connection_rate: 1.0, ..Faults::default() });
    let request =
        site.http.post(site.url("/rest/api/admin/user")).basic_auth("admin", Some("admin")).json(&create_body("jane"));
    let error = request.send().await.unwrap_err();
    assert!(!error.is_status(), "{error}");
    assert!(!site.emulator.snapshot().users.contains_key("jane"), "dropped before processing");

    site.emulator.set_faults(Faults { drop_connection_rate: 1.0, drop_after_processing: true, ..Faults::default() });
    let request =
        site.http.post(site.url("/rest/api/admin/user")).basic_auth("admin", Some("admin")).json(&create_body("jane"));
    assert!(request.send().await.is_err());
    assert!(site.emulator.snapshot().users.contains_key("jane"), "applied, but the answer was lost");
    site.emulator.set_faults(Faults::default());
    assert_eq!(site.post("/rest/api/admin/user", create_body("jane")).await.status, 409, "a blind retry conflicts");
    let counters = site.emulator.counters();
    assert_eq!((counters.dropped_connections, counters.users_created), (2, 1));
}

#[tokio::test]
async fn latency_delays_rest_routes_only() {
    let site = site().await;
    site.emulator.set_faults(Faults { latency: Duration::from_millis(300), ..Faults::default() });
    let started = Instant::now();
    assert_eq!(site.get("/rest/api/user?username=admin").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(site.get("/_emulator/counters").await.status, 200);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn faults_can_be_set_over_http() {
    let site = site().await;
    let body = json!({"rate_429": 1.0, "retry_after_secs": 2});
    assert_eq!(site.put_json("/_emulator/faults", body).await.status, 204);
    assert_eq!(site.emulator.faults(), Faults { rate_429: 1.0, retry_after_secs: 2, ..Faults::default() });
    let faults = site.get("/_emulator/faults").await;
    assert_eq!((faults.json["rate_429"].as_f64(), faults.json["latency_ms"].as_u64()), (Some(1.0), Some(0)));
    assert_eq!(site.get("/rest/api/group").await.status, 429);
    assert_eq!(site.put_json("/_emulator/faults", json!({"bogus": 1})).await.status, 422);
    assert_eq!(site.put_json("/_emulator/faults", json!({})).await.status, 204);
    assert_eq!(site.get("/rest/api/group").await.status, 200);
}

#[tokio::test]
async fn targeted_faults_hit_the_chosen_request_then_are_spent() {
    let site = site().await;
    site.create_user("jane").await;
    let disable = TargetedFault::new(
        "PUT",
        "/rest/api/admin/user/jane/disable",
        TargetedAction::TooManyRequests { retry_after_secs: 3 },
    );
    site.emulator.set_faults(Faults { targeted: vec![disable], ..Faults::default() });
    // Another request goes through untouched.
    assert_eq!(site.put("/rest/api/admin/user/jane/enable").await.status, 204);
    let refused = site.put("/rest/api/admin/user/jane/disable").await;
    assert_eq!((refused.status, refused.header("retry-after")), (429, Some("3")));
    assert!(site.emulator.snapshot().users["jane"].active, "not processed");
    assert!(site.emulator.faults().targeted.is_empty(), "spent");
    assert_eq!(site.put("/rest/api/admin/user/jane/disable").await.status, 204);
    assert!(!site.emulator.snapshot().users["jane"].active);
    // Set over the control API, with the path decoded.
    let body = json!({"targeted": [{"method": "DELETE", "path": "/rest/api/admin/group/team one",
        "action": "unavailable", "times": 2}]});
    assert_eq!(site.put_json("/_emulator/faults", body).await.status, 204);
    for _ in 0..2 {
        assert_eq!(site.delete("/rest/api/admin/group/team%20one").await.status, 503);
    }
    assert_eq!(site.delete("/rest/api/admin/group/team%20one").await.status, 404, "spent: processed now");
}

#[tokio::test]
async fn the_write_log_holds_every_processed_write_once() {
    let site = site().await;
    site.create_user("jane").await;
    assert_eq!(site.post("/rest/api/admin/user", create_body("jane")).await.status, 409);
    assert_eq!(site.get("/rest/api/user?username=jane").await.status, 200);
    site.emulator.set_faults(Faults { outage: true, ..Faults::default() });
    assert_eq!(site.put("/rest/api/admin/user/jane/disable").await.status, 503);
    site.emulator.set_faults(Faults::default());
    assert_eq!(site.post("/rest/api/admin/group", json!({"name": "team one"})).await.status, 201);
    assert_eq!(site.call(Who::Anonymous, Method::PUT, "/rest/api/admin/user/jane/disable", None).await.status, 401);
    assert_eq!(site.put("/rest/api/user/jane/group/team%20one").await.status, 204);
    let log: Vec<(String, u16)> = site.emulator.writes().iter().map(|w| (w.target(), w.status)).collect();
    assert_eq!(
        log,
        [
            ("POST /rest/api/admin/user jane".to_owned(), 201),
            ("POST /rest/api/admin/user jane".to_owned(), 409),
            ("POST /rest/api/admin/group team one".to_owned(), 201),
            ("PUT /rest/api/admin/user/jane/disable".to_owned(), 401),
            ("PUT /rest/api/user/jane/group/team one".to_owned(), 204),
        ],
        "reads and writes a fault answered are not logged"
    );
    site.emulator.reset();
    assert!(site.emulator.writes().is_empty());
}

#[tokio::test]
async fn a_request_is_finished_when_its_client_stops_waiting() {
    let site = site().await;
    site.emulator.set_faults(Faults { latency: Duration::from_millis(300), ..Faults::default() });
    let impatient = site
        .http
        .post(site.url("/rest/api/admin/user"))
        .basic_auth("admin", Some("admin"))
        .timeout(Duration::from_millis(50))
        .json(&create_body("jane"));
    assert!(impatient.send().await.unwrap_err().is_timeout());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !site.emulator.snapshot().users.contains_key("jane") {
        assert!(Instant::now() < deadline, "the write was dropped with its client");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(site.emulator.writes()[0].status, 201);
}

#[tokio::test]
async fn a_token_can_expire_and_be_replaced() {
    let site = site().await;
    assert_eq!(site.call(Who::Pat, Method::GET, "/rest/api/user/current", None).await.status, 200);
    let renewed = PersonalAccessToken { token: "renewed".into(), username: "admin".into() };
    site.emulator.set_tokens(&[renewed]);
    assert_eq!(site.call(Who::Pat, Method::GET, "/rest/api/user/current", None).await.status, 401, "expired");
    assert_eq!(site.call(Who::Bearer("renewed"), Method::GET, "/rest/api/user/current", None).await.status, 200);
    site.emulator.reset();
    assert_eq!(site.call(Who::Pat, Method::GET, "/rest/api/user/current", None).await.status, 200);
}
