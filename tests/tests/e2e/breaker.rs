//! The deprovisioning circuit breaker (issue 11 §13): past an app's threshold, disables and
//! deletes are held for an administrator. The identity provider's writes are still stored
//! and acknowledged; approving applies the held operations once, in order; discarding
//! applies none of them.

use serde_json::{json, Value};

use super::harness::{AppSpec, Stack};

const SETTINGS: &str = "username_regex = \"@.*$\"\non_the_fly = true";
const BREAKER: &str = "[apps.breaker]\nmax_deprovisions = 2\nmax_share = 0.0\nwindow_secs = 600";

fn app() -> AppSpec {
    AppSpec { settings: SETTINGS, extra: BREAKER, ..AppSpec::new("okta", "okta") }
}

fn set_active(active: bool) -> Value {
    json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"replace","value":{"active": active}}]})
}

/// The stack's admin token, made before the server started (a token made after it is
/// only seen once the server re-reads its tokens, rate-limited for unknown ones).
fn admin_token(s: &Stack) -> String {
    s.tokens[usersync::http::admin::ADMIN].clone()
}

/// `/healthz`'s status, and the details from `/admin/v1/health`.
async fn health(s: &Stack) -> Value {
    let status: Value = s.http.get(format!("{}/healthz", s.url)).send().await.unwrap().json().await.unwrap();
    let details = s.health().await;
    assert_eq!(status["status"], details["status"], "{status} {details}");
    details
}

async fn admin(s: &Stack, token: &str, method: reqwest::Method, path: &str) -> (u16, Value) {
    let url = format!("{}/admin/v1/apps/okta/{path}", s.url);
    let response = s.http.request(method, url).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Creates `n` people and disables them all; returns their SCIM ids.
async fn disable_everyone(s: &Stack, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.create_user("okta", &format!("p{i}@example.com"), "P", &format!("N{i}")).await);
    }
    s.settle().await;
    for id in &ids {
        let (status, body) = s.scim("okta", "PATCH", &format!("/Users/{id}"), Some(set_active(false))).await;
        assert_eq!(status, 200, "the IdP's write is acknowledged: {body}");
        assert_eq!(body["active"], false, "and stored: {body}");
    }
    s.settle().await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprovisioning_past_the_threshold_is_held_until_approved() {
    let s = Stack::start("breaker-approve", &[app()]).await;
    let token = admin_token(&s);
    let ids = disable_everyone(&s, 5).await;
    assert_eq!(s.emulator.counters().users_disabled, 2, "only the allowed disables reach Confluence");
    let (_, stored) = s.scim("okta", "GET", &format!("/Users/{}", ids[4]), None).await;
    assert_eq!(stored["active"], false, "the SCIM state is the IdP's");

    // A held person's later change waits behind their held disable.
    let (status, _) = s.scim("okta", "PATCH", &format!("/Users/{}", ids[4]), Some(set_active(true))).await;
    assert_eq!(status, 200);
    s.settle().await;
    assert_eq!(s.emulator.counters().users_enabled, 0, "the enable is held behind the disable");

    let h = health(&s).await;
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["confluence"][0]["heldForApproval"], 4, "three disables and one enable: {h}");
    let (status, listing) = admin(&s, &token, reqwest::Method::GET, "outbox").await;
    assert_eq!(status, 200);
    assert_eq!(listing["heldForApproval"].as_array().map(Vec::len), Some(4), "{listing}");
    assert_eq!(listing["breaker"]["tripped"], true, "{listing}");
    assert!(s.audit("okta").iter().any(|e| e.outcome == "held"));

    let (status, body) = admin(&s, &token, reqwest::Method::POST, "outbox/approve").await;
    assert_eq!((status, &body["approved"]), (200, &json!(4)), "{body}");
    s.settle().await;
    let c = s.emulator.counters();
    assert_eq!((c.users_disabled, c.users_enabled), (5, 1), "each held operation lands once: {c:?}");
    assert!(s.user("p4").unwrap().active, "in order: disabled, then enabled again");
    assert!(!s.user("p3").unwrap().active);
    assert_eq!(health(&s).await["confluence"][0]["heldForApproval"], 0);
    assert_eq!(s.audit("okta").iter().filter(|e| e.outcome == "approved").count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_operations_survive_a_restart_and_a_discard_applies_none() {
    let s = Stack::start("breaker-discard", &[app()]).await;
    let ids = disable_everyone(&s, 4).await;
    let (status, _) = s.scim("okta", "DELETE", &format!("/Users/{}", ids[3]), None).await;
    assert_eq!(status, 204);
    assert_eq!(s.emulator.counters().users_disabled, 2);

    // Restart on the same database: the hold is restored, not applied.
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);
    let s = Stack::host(emulator, dir, "", &[app()]).await;
    let token = admin_token(&s);
    assert_eq!(health(&s).await["confluence"][0]["heldForApproval"], 2, "the held ones are restored");
    s.settle().await;
    assert_eq!(s.emulator.counters().users_disabled, 2);

    let (status, body) = admin(&s, &token, reqwest::Method::POST, "outbox/discard").await;
    assert_eq!((status, &body["discarded"]), (200, &json!(2)), "{body}");
    s.settle().await;
    let c = s.emulator.counters();
    assert_eq!(c.users_disabled, 2, "a discard releases nothing: {c:?}");
    assert!(s.user("p2").unwrap().active && s.user("p3").unwrap().active);
    assert_eq!(health(&s).await["status"], "ok");
    assert_eq!(s.audit("okta").iter().filter(|e| e.outcome == "discarded").count(), 2);
    let (status, _) = admin(&s, &token, reqwest::Method::POST, "outbox/approve").await;
    assert_eq!(status, 200);
    s.settle().await;
    assert_eq!(s.emulator.counters().users_disabled, 2, "nothing is left to approve");
}
