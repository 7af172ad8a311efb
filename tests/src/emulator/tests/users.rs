//! Users: create, read, update, disable/enable, delete as a long task, passwords and
//! memberships, with their documented errors.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_envelope, site, site_with, Who, MEMBER};
use crate::emulator::{DeletedUserLookup, EmulatorConfig, StatusForm};

fn body(username: &str) -> Value {
    json!({"userName": username, "fullName": "Jane Doe", "email": "jane@example.com", "password": "pw", "notifyViaEmail": false})
}

#[tokio::test]
async fn created_user_is_readable_by_name_and_key_without_email() {
    let site = site().await;
    let key = site.create_user("jane").await;
    assert_eq!(key.len(), 32);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));

    let by_name = site.get("/rest/api/user?username=jane").await;
    assert_eq!(by_name.status, 200);
    let person = &by_name.json;
    assert_eq!(person["type"], "known");
    assert_eq!(person["username"], "jane");
    assert_eq!(person["userKey"], key.as_str());
    assert_eq!(person["displayName"], "Full jane");
    assert!(person.get("email").is_none(), "classic Person JSON has no email");
    assert!(person.get("status").is_none());
    assert_eq!(person["_expandable"]["status"], "");
    assert_eq!(person["_links"]["self"], format!("{}/rest/api/user?key={key}", site.emulator.base_url()));
    assert_eq!(person["profilePicture"]["isDefault"], true);

    let by_key = site.get(&format!("/rest/api/user?key={key}&expand=status")).await;
    assert_eq!(by_key.json["username"], "jane");
    assert_eq!(by_key.json["status"], "Active");
    assert!(by_key.json.get("_expandable").is_none());

    // Lookups are case-insensitive.
    assert_eq!(site.get("/rest/api/user?username=JANE").await.json["userKey"], key.as_str());
    assert_envelope(&site.get("/rest/api/user?username=nobody").await, 404);
    assert_envelope(&site.get("/rest/api/user?key=0123").await, 404);
    assert_envelope(&site.get("/rest/api/user").await, 400);

    let snapshot = site.emulator.snapshot();
    let jane = &snapshot.users["jane"];
    assert_eq!((jane.key.as_str(), jane.email.as_str(), jane.active), (key.as_str(), "jane@example.com", true));
    assert!(snapshot.groups["confluence-users"].contains("jane"), "joins the default group");
    assert!(!snapshot.groups["confluence-administrators"].contains("jane"));
    assert_eq!(site.emulator.counters().users_created, 1);
    // The new user can log in with the password given.
    let current = site.call(Who::Basic("jane", "secret"), Method::GET, "/rest/api/user/current", None).await;
    assert_eq!(current.json["username"], "jane");
}

#[tokio::test]
async fn create_user_validation_follows_the_documented_rules() {
    let site = site().await;
    let cases: Vec<(&str, Value)> = vec![
        ("upper case", body("Jane")),
        ("whitespace", body("ja ne")),
        ("comma", body("ja,ne")),
        ("plus", body("ja+ne")),
        ("angle", body("ja<ne")),
        ("quote", body("ja'ne")),
        ("double quote", body("ja\"ne")),
        ("backslash", body("ja\\ne")),
        ("anonymous", body("anonymous")),
        ("blank name", body("  ")),
        ("missing name", json!({"fullName": "J", "email": "j@x.org", "password": "pw"})),
        ("blank full name", json!({"userName": "j", "fullName": " ", "email": "j@x.org", "password": "pw"})),
        ("markup in full name", json!({"userName": "j", "fullName": "<b>", "email": "j@x.org", "password": "pw"})),
        (
            "anonymous full name",
            json!({"userName": "j", "fullName": "anonymous", "email": "j@x.org", "password": "pw"}),
        ),
        ("bad email", json!({"userName": "j", "fullName": "J", "email": "not-an-email", "password": "pw"})),
        ("missing email", json!({"userName": "j", "fullName": "J", "password": "pw"})),
        ("no password", json!({"userName": "j", "fullName": "J", "email": "j@x.org", "notifyViaEmail": false})),
        ("blank password", json!({"userName": "j", "fullName": "J", "email": "j@x.org", "password": " "})),
        (
            "password with notify",
            json!({"userName": "j", "fullName": "J", "email": "j@x.org", "password": "pw", "notifyViaEmail": true}),
        ),
        (
            "unknown field",
            json!({"userName": "j", "fullName": "J", "email": "j@x.org", "password": "pw", "groups": []}),
        ),
        ("wrong type", json!({"userName": 5, "fullName": "J", "email": "j@x.org", "password": "pw"})),
        ("notify not boolean", json!({"userName": "j", "fullName": "J", "email": "j@x.org", "notifyViaEmail": "yes"})),
    ];
    for (case, body) in cases {
        let reply = site.post("/rest/api/admin/user", body).await;
        assert_eq!(reply.status, 400, "{case}: {}", reply.text);
        assert_envelope(&reply, 400);
    }
    let upper = site.post("/rest/api/admin/user", body("Jane")).await;
    assert_eq!(upper.json["data"]["valid"], false);
    assert_eq!(upper.json["data"]["errors"][0]["message"]["key"], "user.username.uppercase");
    assert_eq!(site.emulator.counters().users_created, 0);

    // notifyViaEmail as the doc's string form, and the notify flow without a password.
    let string_flag =
        json!({"userName": "s", "fullName": "S", "email": "s@x.org", "password": "pw", "notifyViaEmail": "false"});
    assert_eq!(site.post("/rest/api/admin/user", string_flag).await.status, 201);
    let notified = json!({"userName": "n", "fullName": "N", "email": "n@x.org", "notifyViaEmail": true});
    assert_eq!(site.post("/rest/api/admin/user", notified).await.status, 201);
    // Without a password the user cannot log in yet.
    let login = site.call(Who::Basic("n", ""), Method::GET, "/rest/api/user/current", None).await;
    assert_eq!(login.status, 401);
    // A non-JSON body is not accepted (the XSRF token is present, so this is not XSRF).
    let form =
        site.raw(Method::POST, "/rest/api/admin/user", "application/x-www-form-urlencoded", "userName=f", true).await;
    assert_envelope(&form, 415);
    let malformed = site.raw(Method::POST, "/rest/api/admin/user", "application/json", "{", true).await;
    assert_envelope(&malformed, 400);
}

#[tokio::test]
async fn duplicate_users_conflict_and_licences_run_out() {
    let config = EmulatorConfig { licences: Some(3), ..EmulatorConfig::default() };
    let site = site_with(config).await; // admin + mia use two seats
    site.create_user("jane").await;
    assert_envelope(&site.post("/rest/api/admin/user", body("jane")).await, 409);
    assert_envelope(&site.post("/rest/api/admin/user", body("mia")).await, 409);
    assert_envelope(&site.post("/rest/api/admin/user", body("kim")).await, 402);
    // Disabled users do not count.
    assert_eq!(site.put("/rest/api/admin/user/jane/disable").await.status, 204);
    site.create_user("kim").await;
    assert_envelope(&site.post("/rest/api/admin/user", body("lee")).await, 402);
    assert_eq!(site.emulator.counters().users_created, 2);
}

#[tokio::test]
async fn update_changes_full_name_and_email_idempotently() {
    let site = site().await;
    site.create_user("jane").await;
    let update = json!({"fullName": "Jane Q. Doe", "email": "jq@example.com"});
    assert_eq!(site.put_json("/rest/api/admin/user/jane", update.clone()).await.status, 204);
    assert_eq!(site.put_json("/rest/api/admin/user/JANE", update).await.status, 204);
    let jane = &site.emulator.snapshot().users["jane"];
    assert_eq!((jane.full_name.as_str(), jane.email.as_str()), ("Jane Q. Doe", "jq@example.com"));
    let counters = site.emulator.counters();
    assert_eq!((counters.users_updated, counters.noop_updates), (1, 1));

    assert_envelope(&site.put_json("/rest/api/admin/user/jane", json!({"email": "nope"})).await, 400);
    assert_envelope(&site.put_json("/rest/api/admin/user/jane", json!({"fullName": "<x>"})).await, 400);
    assert_envelope(&site.put_json("/rest/api/admin/user/jane", json!({"userName": "x"})).await, 400);
    assert_envelope(&site.put_json("/rest/api/admin/user/jane", json!({})).await, 400);
    assert_envelope(&site.put_json("/rest/api/admin/user/ghost", json!({"fullName": "G"})).await, 404);
}

#[tokio::test]
async fn disable_and_enable_are_idempotent() {
    let config = EmulatorConfig { status_form: StatusForm::Object, ..EmulatorConfig::default() };
    let site = site_with(config).await;
    site.create_user("jane").await;
    for _ in 0..2 {
        assert_eq!(site.put("/rest/api/admin/user/jane/disable").await.status, 204);
    }
    let status = site.get("/rest/api/user?username=jane&expand=status").await;
    assert_eq!(status.json["status"], json!({"value": "Deactivated"}));
    assert!(!site.emulator.snapshot().users["jane"].active);
    // A disabled user cannot log in.
    let login = site.call(Who::Basic("jane", "secret"), Method::GET, "/rest/api/user/current", None).await;
    assert_eq!(login.status, 401);
    for _ in 0..2 {
        assert_eq!(site.put("/rest/api/admin/user/jane/enable").await.status, 204);
    }
    let counters = site.emulator.counters();
    assert_eq!(
        (counters.users_disabled, counters.noop_disables, counters.users_enabled, counters.noop_enables),
        (1, 1, 1, 1)
    );
    assert_eq!(counters.noops(), 2);
    assert_envelope(&site.put("/rest/api/admin/user/ghost/disable").await, 404);
    assert_envelope(&site.put("/rest/api/admin/user/ghost/enable").await, 404);
}

#[tokio::test]
async fn delete_is_a_long_task_and_removes_memberships() {
    let site = site().await;
    let old_key = site.create_user("jane").await;
    assert_eq!(site.put("/rest/api/user/jane/group/confluence-administrators").await.status, 204);
    let reply = site.delete("/rest/api/admin/user/jane").await;
    assert_eq!(reply.status, 202);
    let id = reply.json["id"].as_str().unwrap().to_owned();
    assert_eq!(reply.json["links"]["status"], format!("/rest/api/longtask/{id}"));

    let task = site.get(&format!("/rest/api/longtask/{id}")).await;
    assert_eq!(task.status, 200);
    assert_eq!(task.json["id"], id.as_str());
    assert_eq!(task.json["successful"], true);
    assert_eq!(task.json["percentageComplete"], 100);
    assert!(task.json["elapsedTime"].is_u64() && task.json["messages"].is_array());

    assert_envelope(&site.get("/rest/api/user?username=jane").await, 404);
    let snapshot = site.emulator.snapshot();
    assert!(!snapshot.users.contains_key("jane"));
    assert!(snapshot.groups.values().all(|members| !members.contains("jane")));
    assert_eq!(site.emulator.counters().users_deleted, 1);
    assert_envelope(&site.delete("/rest/api/admin/user/jane").await, 404);
    assert_envelope(&site.get("/rest/api/longtask/999").await, 404);
    assert_envelope(&site.get("/rest/api/longtask/abc").await, 404);
    // The name can be used again, with a new key.
    assert_ne!(site.create_user("jane").await, old_key);
}

#[tokio::test]
async fn delayed_delete_reports_progress_and_repeats_return_the_same_task() {
    let config = EmulatorConfig {
        delete_task_delay: Duration::from_secs(3),
        deleted_user_lookup: DeletedUserLookup::Unknown,
        ..EmulatorConfig::default()
    };
    let site = site_with(config).await;
    let key = site.create_user("jane").await;
    let first = site.delete("/rest/api/admin/user/jane").await;
    let id = first.json["id"].as_str().unwrap().to_owned();
    let running = site.get(&format!("/rest/api/longtask/{id}")).await;
    assert_eq!(running.json["successful"], false);
    assert!(running.json["percentageComplete"].as_u64().unwrap() < 100);
    // Still there while the task runs; a repeated delete answers the same task.
    assert_eq!(site.get("/rest/api/user?username=jane").await.json["type"], "known");
    let again = site.delete("/rest/api/admin/user/jane").await;
    assert_eq!((again.status, again.json["id"].as_str()), (202, Some(id.as_str())));
    assert_eq!(site.emulator.counters().noop_deletes, 1);

    // Poll as a client would.
    loop {
        let task = site.get(&format!("/rest/api/longtask/{id}")).await;
        if task.json["successful"] == true {
            assert_eq!(task.json["percentageComplete"], 100);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let unknown = site.get("/rest/api/user?username=jane").await;
    assert_eq!(unknown.status, 200);
    assert_eq!(unknown.json["type"], "unknown");
    assert_eq!(unknown.json["username"], "jane");
    assert_eq!(site.get(&format!("/rest/api/user?key={key}")).await.json["type"], "unknown");
    assert_eq!(site.emulator.counters().users_deleted, 1);
}

#[tokio::test]
async fn passwords_admin_set_and_own_change() {
    let site = site().await;
    site.create_user("jane").await;
    let path = "/rest/api/admin/user/jane/password";
    assert_eq!(site.post(path, json!({"password": "n3w"})).await.status, 204);
    let jane = Who::Basic("jane", "n3w");
    assert_eq!(site.call(jane, Method::GET, "/rest/api/user/current", None).await.status, 200);
    assert_envelope(&site.post(path, json!({"password": " "})).await, 400);
    assert_envelope(&site.post("/rest/api/admin/user/ghost/password", json!({"password": "x"})).await, 404);
    let by_member = site.call(Who::Basic(MEMBER.0, MEMBER.1), Method::POST, path, Some(json!({"password": "x"}))).await;
    assert_envelope(&by_member, 403);

    let own = "/rest/api/user/current/password";
    let wrong = site.call(jane, Method::POST, own, Some(json!({"oldPassword": "bad", "newPassword": "b"}))).await;
    assert_envelope(&wrong, 403);
    let blank = site.call(jane, Method::POST, own, Some(json!({"oldPassword": "n3w", "newPassword": ""}))).await;
    assert_envelope(&blank, 400);
    let ok = site.call(jane, Method::POST, own, Some(json!({"oldPassword": "n3w", "newPassword": "b"}))).await;
    assert_eq!(ok.status, 204);
    assert_eq!(site.call(Who::Basic("jane", "b"), Method::GET, "/rest/api/user/current", None).await.status, 200);
    assert_eq!(site.emulator.counters().passwords_set, 2);
}

#[tokio::test]
async fn membership_is_idempotent_and_visible_in_memberof() {
    let site = site().await;
    site.create_user("jane").await;
    assert_eq!(site.post("/rest/api/admin/group", json!({"name": "team"})).await.status, 201);
    for _ in 0..2 {
        assert_eq!(site.put("/rest/api/user/jane/group/team").await.status, 204);
    }
    let member_of = site.get("/rest/api/user/memberof?username=jane").await;
    let names: Vec<&str> =
        member_of.json["results"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["confluence-users", "team"]);
    assert_eq!(member_of.json["results"][1]["type"], "group");
    let key = site.emulator.snapshot().users["jane"].key.clone();
    assert_eq!(site.get(&format!("/rest/api/user/memberof?key={key}")).await.json["size"], 2);

    for _ in 0..2 {
        assert_eq!(site.delete("/rest/api/user/JANE/group/TEAM").await.status, 204);
    }
    assert!(site.emulator.snapshot().groups["team"].is_empty());
    let counters = site.emulator.counters();
    assert_eq!(
        (counters.members_added, counters.noop_member_adds, counters.members_removed, counters.noop_member_removes),
        (1, 1, 1, 1)
    );

    assert_envelope(&site.put("/rest/api/user/ghost/group/team").await, 404);
    assert_envelope(&site.put("/rest/api/user/jane/group/nope").await, 404);
    assert_envelope(&site.delete("/rest/api/user/jane/group/nope").await, 404);
    assert_envelope(&site.get("/rest/api/user/memberof?username=ghost").await, 404);
    assert_envelope(&site.get("/rest/api/user/memberof").await, 400);
    let member = Who::Basic(MEMBER.0, MEMBER.1);
    assert_envelope(&site.call(member, Method::PUT, "/rest/api/user/jane/group/team", None).await, 403);
}

#[tokio::test]
async fn current_and_anonymous_users() {
    let site = site().await;
    let current = site.call(Who::Pat, Method::GET, "/rest/api/user/current?expand=status", None).await;
    assert_eq!((current.json["username"].as_str(), current.json["status"].as_str()), (Some("admin"), Some("Active")));
    let anonymous = site.call(Who::Anonymous, Method::GET, "/rest/api/user/anonymous", None).await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.json["type"], "anonymous");
    assert!(anonymous.json.get("username").is_none());
}
