//! Groups: create (case handling, extra `type`), read, members, delete and the last admin
//! group.

use reqwest::Method;
use serde_json::json;

use super::{assert_envelope, site, site_with, Who, MEMBER};
use crate::emulator::{EmulatorConfig, GroupCreateStatus, GroupNameCase};

#[tokio::test]
async fn create_read_and_delete_a_group() {
    let site = site().await;
    let created = site.post("/rest/api/admin/group", json!({"name": "Team-A", "type": "group"})).await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json["type"], "group");
    assert_eq!(created.json["name"], "team-a", "lower-cased on create");
    assert_eq!(created.json["_links"]["self"], site.url("/rest/api/group/team-a"));

    let read = site.get("/rest/api/group/TEAM-A").await;
    assert_eq!((read.status, read.json["name"].as_str()), (200, Some("team-a")));
    assert_envelope(&site.post("/rest/api/admin/group", json!({"name": "team-a"})).await, 409);
    assert_envelope(&site.post("/rest/api/admin/group", json!({"name": "TEAM-A"})).await, 409);
    assert_envelope(&site.post("/rest/api/admin/group", json!({"name": " "})).await, 400);
    assert_envelope(&site.post("/rest/api/admin/group", json!({})).await, 400);
    assert_envelope(&site.post("/rest/api/admin/group", json!({"name": "x", "members": []})).await, 400);
    let newer_schema = json!({"name": "spaced name", "_links": {}, "_expandable": {}});
    assert_eq!(site.post("/rest/api/admin/group", newer_schema).await.status, 201);
    assert_eq!(site.get("/rest/api/group/spaced%20name").await.json["name"], "spaced name");

    assert_eq!(site.delete("/rest/api/admin/group/team-a").await.status, 204);
    assert_envelope(&site.delete("/rest/api/admin/group/team-a").await, 404);
    assert_envelope(&site.get("/rest/api/group/team-a").await, 404);
    let counters = site.emulator.counters();
    assert_eq!((counters.groups_created, counters.groups_deleted), (2, 1));
    let member = Who::Basic(MEMBER.0, MEMBER.1);
    let refused = site.call(member, Method::POST, "/rest/api/admin/group", Some(json!({"name": "x"}))).await;
    assert_envelope(&refused, 403);
    assert_envelope(&site.call(member, Method::DELETE, "/rest/api/admin/group/spaced%20name", None).await, 403);
}

#[tokio::test]
async fn upper_case_groups_can_be_refused_and_200_configured() {
    let config = EmulatorConfig {
        group_name_case: GroupNameCase::Reject,
        group_create_status: GroupCreateStatus::Ok,
        ..EmulatorConfig::default()
    };
    let site = site_with(config).await;
    assert_envelope(&site.post("/rest/api/admin/group", json!({"name": "Team"})).await, 400);
    assert_eq!(site.post("/rest/api/admin/group", json!({"name": "team"})).await.status, 200);
}

#[tokio::test]
async fn the_last_admin_group_cannot_be_deleted() {
    let site = site().await;
    assert_envelope(&site.delete("/rest/api/admin/group/confluence-administrators").await, 400);
    assert_eq!(site.delete("/rest/api/admin/group/confluence-users").await.status, 204);

    let config = EmulatorConfig {
        admin_groups: vec!["confluence-administrators".into(), "site-admins".into()],
        ..EmulatorConfig::default()
    };
    let site = site_with(config).await;
    assert_eq!(site.delete("/rest/api/admin/group/confluence-administrators").await.status, 204);
    assert_envelope(&site.delete("/rest/api/admin/group/site-admins").await, 400);
    // Deleting a group removes its memberships.
    assert!(!site.emulator.snapshot().groups.contains_key("confluence-administrators"));
}

#[tokio::test]
async fn members_are_listed_to_admins_only() {
    let site = site().await;
    site.emulator.seed_group("team", ["mia", "admin", "ghost"]);
    let members = site.get("/rest/api/group/team/member?expand=status").await;
    assert_eq!(members.status, 200);
    let results = members.json["results"].as_array().unwrap();
    let names: Vec<&str> = results.iter().map(|p| p["username"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "mia"], "sorted; unknown seeded members skipped");
    assert_eq!(results[0]["status"], "Active");
    assert!(results[0].get("email").is_none());
    let member = Who::Basic(MEMBER.0, MEMBER.1);
    assert_envelope(&site.call(member, Method::GET, "/rest/api/group/team/member", None).await, 403);
    // Reads of groups themselves are open to any user.
    assert_eq!(site.call(member, Method::GET, "/rest/api/group/team", None).await.status, 200);
    assert_eq!(site.call(member, Method::GET, "/rest/api/group", None).await.status, 200);
    assert_envelope(&site.get("/rest/api/group/nope/member").await, 404);
    let nested = site.get("/rest/api/group/team/groupmember").await;
    assert_eq!((nested.status, nested.json["size"].as_u64()), (200, Some(0)));
    assert_envelope(&site.get("/rest/api/group/nope/groupmember").await, 404);
}
