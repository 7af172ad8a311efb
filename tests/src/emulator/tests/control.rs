//! The control API and its Rust twin: state, counters, seeding, reset.

use reqwest::Method;
use serde_json::json;

use super::{site, Who};
use crate::emulator::Faults;

#[tokio::test]
async fn state_and_counters_match_the_rust_api() {
    let site = site().await;
    site.create_user("jane").await;
    let state = site.call(Who::Anonymous, Method::GET, "/_emulator/state", None).await;
    assert_eq!(state.status, 200);
    assert_eq!(state.json, serde_json::to_value(site.emulator.snapshot()).unwrap());
    assert_eq!(state.json["users"]["jane"]["directory"], "internal");
    assert_eq!(state.json["users"]["jane"]["full_name"], "Full jane");
    assert_eq!(state.json["groups"]["confluence-administrators"], json!(["admin"]));
    let counters = site.call(Who::Anonymous, Method::GET, "/_emulator/counters", None).await;
    assert_eq!(counters.json, serde_json::to_value(site.emulator.counters()).unwrap());
    assert_eq!(counters.json["users_created"], 1);
    assert_eq!(counters.json["requests"], 1, "control routes are not counted");
}

#[tokio::test]
async fn seed_and_reset_over_http() {
    let site = site().await;
    let seed = json!({
        "users": [
            {"username": "Ann", "full_name": "Ann A", "email": "ann@x.org", "password": "pw"},
            {"username": "bob", "full_name": "Bob B", "email": "bob@x.org", "active": false},
        ],
        "groups": [{"name": "crew", "members": ["ann", "bob", "ghost"]}],
    });
    let reply = site.post("/_emulator/seed", seed).await;
    assert_eq!(reply.json, json!({"users": 2, "memberships": 2}));
    let snapshot = site.emulator.snapshot();
    assert!(!snapshot.users["bob"].active);
    assert_eq!(snapshot.groups["crew"].len(), 2);
    assert_eq!(site.call(Who::Basic("ann", "pw"), Method::GET, "/rest/api/user/current", None).await.status, 200);

    site.emulator.set_faults(Faults { latency: std::time::Duration::from_millis(1), ..Faults::default() });
    assert_eq!(site.post("/_emulator/reset", json!({})).await.status, 204);
    let snapshot = site.emulator.snapshot();
    assert!(!snapshot.users.contains_key("ann"));
    assert!(snapshot.users.contains_key("mia"), "configured users come back");
    assert_eq!(site.emulator.counters(), Default::default());
    assert_eq!(site.emulator.faults(), Faults::default());
    // Keys are reproducible from the seed.
    let again = site.emulator.snapshot();
    assert_eq!(snapshot.users["admin"].key, again.users["admin"].key);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let site = site().await;
    let url = site.url("/rest/api/group");
    site.emulator.shutdown().await;
    assert!(site.http.get(url).send().await.is_err());
}

#[tokio::test]
async fn writes_and_tokens_over_http() {
    let site = site().await;
    site.create_user("jane").await;
    let writes = site.call(Who::Anonymous, Method::GET, "/_emulator/writes", None).await;
    assert_eq!(writes.json, serde_json::to_value(site.emulator.writes()).unwrap());
    assert_eq!(writes.json[0]["name"], "jane");
    let tokens = json!([{"token": "renewed", "username": "admin"}]);
    assert_eq!(site.put_json("/_emulator/tokens", tokens).await.status, 204);
    assert_eq!(site.call(Who::Pat, Method::GET, "/rest/api/user/current", None).await.status, 401);
    assert_eq!(site.call(Who::Bearer("renewed"), Method::GET, "/rest/api/user/current", None).await.status, 200);
}
