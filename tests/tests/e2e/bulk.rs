//! A SCIM Bulk request is stored and decided inline and its Confluence work queued: the
//! response does not wait on Confluence once per operation, and the queue then applies each
//! operation once, in order per person (a user's create before their memberships).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use usersync_tests::emulator::Faults;

use super::harness::{AppSpec, Stack};

const USERS: usize = 60;
const TEAM: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_request_queues_its_confluence_work_and_it_lands_once() {
    let app = AppSpec { settings: "username_regex = \"@.*$\"\non_the_fly = true", ..AppSpec::new("app", "okta") };
    let s = Arc::new(Stack::start("bulk", &[app]).await);
    let mut operations: Vec<Value> = (0..USERS)
        .map(|n| {
            json!({
                "method": "POST", "path": "/Users", "bulkId": format!("u{n}"),
                "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": format!("bulk{n:03}@example.com"),
                    "name": {"givenName": "Bulk", "familyName": format!("N{n}")},
                    "emails": [{"value": format!("bulk{n:03}@example.com"), "primary": true}],
                    "active": true
                }
            })
        })
        .collect();
    for team in 0..USERS / TEAM {
        let members: Vec<Value> =
            (team * TEAM..(team + 1) * TEAM).map(|n| json!({"value": format!("bulkId:u{n}")})).collect();
        operations.push(json!({
            "method": "POST", "path": "/Groups", "bulkId": format!("g{team}"),
            "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("Bulk Team {team}"), "members": members}
        }));
    }
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});

    // A slow Confluence: answered one operation at a time, the Bulk would take minutes.
    s.emulator.set_faults(Faults { latency: Duration::from_millis(300), ..Faults::default() });
    let (status, response) = s.scim("app", "POST", "/Bulk", Some(body)).await;
    let at_response = s.emulator.counters();
    assert_eq!(status, 200, "{response}");
    let results = response["Operations"].as_array().expect("results");
    assert_eq!(results.len(), USERS + USERS / TEAM);
    assert!(results.iter().all(|r| r["status"] == "201"), "{response}");
    // Stored and decided, not waited for: the outbox's workers (four at 300 ms a call) had
    // done a fraction of the 126 operations by then.
    assert!(
        (at_response.users_created as usize) < USERS / 2,
        "the Bulk waited on Confluence: {} users created before it answered",
        at_response.users_created
    );
    assert!(s.confluence["app"].outbox().len("app") > 0, "nothing was queued");

    s.emulator.set_faults(Faults::default());
    tokio::time::timeout(Duration::from_secs(120), s.settle()).await.expect("the queue drains");
    let snapshot = s.emulator.snapshot();
    for n in 0..USERS {
        let name = format!("bulk{n:03}");
        assert!(snapshot.users.get(&name).is_some_and(|u| u.active), "{name} missing or inactive");
        let team = format!("bulk team {}", n / TEAM);
        assert!(snapshot.groups.get(&team).is_some_and(|m| m.contains(&name)), "{name} not in {team}");
    }
    let c = s.emulator.counters();
    assert_eq!(c.users_created as usize, USERS, "each user created once: {c:?}");
    assert_eq!(c.members_added as usize, USERS, "each membership added once: {c:?}");
    assert_eq!(c.groups_created as usize, USERS / TEAM, "each group created once: {c:?}");
}
