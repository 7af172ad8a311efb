//! Access follows the identity provider (issue 10 §1): the memberships an app granted are
//! taken back when no decision of the app wants them any more, through each identity
//! provider's own request shapes; memberships the app did not grant are kept or removed as
//! `keep_existing_groups` says; several apps share a user and a group without undoing each
//! other. Every test counts the writes Confluence received.

use std::time::Duration;

use serde_json::{json, Value};
use usersync_tests::emulator::{ConfluenceVersion, EmulatorConfig, SeedUser};

use super::harness::{AppSpec, Stack};

const ON_THE_FLY: &str = "username_regex = \"@.*$\"\non_the_fly = true";

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn quiet_sync(s: &Stack, app: &str, dry_run: bool) -> usersync::inbound::SyncReport {
    s.inbound.synchronize(app, dry_run, Duration::from_secs(60), &|_: &str| {}).await.expect("synchronize")
}

/// One person in two groups of the app; the test then takes her out of `Writers`.
async fn member_of_two(s: &Stack, app: &str, email: &str) -> (String, String, String) {
    let id = s.create_user(app, email, "Ada", "Grant").await;
    let writers = s.create_group(app, "Writers", &[&id]).await;
    let readers = s.create_group(app, "Readers", &[&id]).await;
    s.settle().await;
    (id, writers, readers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_a_group_removes_the_membership_in_each_idps_shape() {
    let apps = [
        AppSpec { settings: ON_THE_FLY, ..AppSpec::new("onelogin", "onelogin") },
        AppSpec { settings: ON_THE_FLY, ..AppSpec::new("okta", "okta") },
        AppSpec { settings: ON_THE_FLY, ..AppSpec::new("entra", "entra") },
    ];
    let s = Stack::start("grants-leave", &apps).await;
    let (one, one_writers, _) = member_of_two(&s, "onelogin", "one@example.com").await;
    let (okta, okta_writers, _) = member_of_two(&s, "okta", "okt@example.com").await;
    let (entra, entra_writers, _) = member_of_two(&s, "entra", "ent@example.com").await;
    for user in ["one", "okt", "ent"] {
        assert_eq!(s.groups_of(user), ["confluence-users", "readers", "writers"], "{user}");
    }
    let before = s.emulator.counters();

    // OneLogin: a removal by value list (its SCIM 2.0 connector's common shape).
    let body = patch(json!([{"op": "remove", "path": "members", "value": [{"value": one}]}]));
    let (status, answer) = s.scim("onelogin", "PATCH", &format!("/Groups/{one_writers}"), Some(body)).await;
    assert!(status == 200 || status == 204, "{status} {answer}");
    // Okta: a filtered remove, with the rename it sends on every membership update.
    let body = patch(json!([
        {"op": "replace", "value": {"id": okta_writers, "displayName": "Writers"}},
        {"op": "remove", "path": format!("members[value eq \"{okta}\"]")}
    ]));
    let (status, answer) = s.scim("okta", "PATCH", &format!("/Groups/{okta_writers}"), Some(body)).await;
    assert!(status == 200 || status == 204, "{status} {answer}");
    // Entra: a capitalised `Remove` with a value list carrying `$ref: null`.
    let body = patch(json!([{"op": "Remove", "path": "members", "value": [{"$ref": null, "value": entra}]}]));
    let (status, answer) = s.scim("entra", "PATCH", &format!("/Groups/{entra_writers}"), Some(body)).await;
    assert!(status == 200 || status == 204, "{status} {answer}");
    s.settle().await;

    for user in ["one", "okt", "ent"] {
        assert_eq!(s.groups_of(user), ["confluence-users", "readers"], "{user} left Writers");
    }
    let after = s.emulator.counters();
    assert_eq!(after.members_removed - before.members_removed, 3, "one removal each");
    assert_eq!(after.noop_member_removes, before.noop_member_removes, "nothing removed twice");
    assert_eq!(after.members_added, before.members_added, "nothing re-added");
    // Synchronize of each app finds nothing left to do.
    for app in ["onelogin", "okta", "entra"] {
        let plan = quiet_sync(&s, app, true).await;
        assert!(plan.plan.is_empty(), "{app}: {:?}", plan.plan);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_deleting_a_pushed_group_removes_its_members() {
    let s = Stack::start("grants-delete", &[AppSpec { settings: ON_THE_FLY, ..AppSpec::new("okta", "okta") }]).await;
    let ada = s.create_user("okta", "ada@example.com", "Ada", "Push").await;
    let bob = s.create_user("okta", "bob@example.com", "Bob", "Push").await;
    let pushed = s.create_group("okta", "Pushed", &[&ada, &bob]).await;
    s.settle().await;
    assert!(s.emulator.snapshot().groups["pushed"].contains("bob"));
    let before = s.emulator.counters();
    let (status, _) = s.scim("okta", "DELETE", &format!("/Groups/{pushed}"), None).await;
    assert_eq!(status, 204);
    s.settle().await;
    assert!(s.emulator.snapshot().groups["pushed"].is_empty(), "both members removed; the group itself stays");
    assert_eq!(s.groups_of("ada"), ["confluence-users"]);
    assert_eq!(s.emulator.counters().members_removed - before.members_removed, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_change_revokes_what_it_no_longer_grants() {
    let old = AppSpec {
        settings: "username_regex = \"@.*$\"\n[apps.settings.group_mapping]\nEngineering = \"engineers\"",
        ..AppSpec::new("onelogin", "onelogin")
    };
    let s = Stack::start("grants-mapping", &[old]).await;
    for g in ["engineers", "builders"] {
        s.emulator.seed_group(g, Vec::<String>::new());
    }
    let ada = s.create_user("onelogin", "ada@example.com", "Ada", "Map").await;
    s.create_group("onelogin", "Engineering", &[&ada]).await;
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["confluence-users", "engineers"]);

    // The administrator maps Engineering elsewhere; the host restarts on the same store.
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);
    let new = AppSpec {
        settings: "username_regex = \"@.*$\"\n[apps.settings.group_mapping]\nEngineering = \"builders\"",
        ..AppSpec::new("onelogin", "onelogin")
    };
    let s = Stack::host(emulator, dir, "", &[new]).await;
    let before = s.emulator.counters();
    let plan = quiet_sync(&s, "onelogin", true).await;
    let mut steps: Vec<String> = plan.plan.iter().map(|(_, op)| op.describe()).collect();
    steps.sort();
    assert_eq!(steps, ["add ada to builders", "remove ada from engineers"]);
    quiet_sync(&s, "onelogin", false).await;
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["builders", "confluence-users"]);
    let after = s.emulator.counters();
    assert_eq!((after.members_added - before.members_added, after.members_removed - before.members_removed), (1, 1));
    assert!(quiet_sync(&s, "onelogin", true).await.plan.is_empty(), "in step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_made_membership_survives_by_default_and_goes_without_keep_existing() {
    let keep = AppSpec { settings: ON_THE_FLY, ..AppSpec::new("keep", "okta") };
    let strict = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\nkeep_existing_groups = false",
        ..AppSpec::new("strict", "entra")
    };
    let s = Stack::start("grants-handmade", &[keep, strict]).await;
    let kay = s.create_user("keep", "kay@example.com", "Kay", "Keep").await;
    let sam = s.create_user("strict", "sam@example.com", "Sam", "Strict").await;
    s.create_group("keep", "Team", &[&kay]).await;
    s.create_group("strict", "Team", &[&sam]).await;
    s.settle().await;
    // An administrator adds both to a group by hand.
    s.emulator.seed_group("handmade", ["kay", "sam"]);

    // The app that keeps existing groups leaves it, also when the IdP takes a grant back.
    let team = s.scim("keep", "GET", "/Groups?filter=displayName%20eq%20%22Team%22", None).await.1["Resources"][0]
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = patch(json!([{"op": "remove", "path": format!("members[value eq \"{kay}\"]")}]));
    s.scim("keep", "PATCH", &format!("/Groups/{team}"), Some(body)).await;
    s.settle().await;
    assert_eq!(s.groups_of("kay"), ["confluence-users", "handmade"]);
    assert!(quiet_sync(&s, "keep", true).await.plan.is_empty());

    // The strict app learns of the hand-made membership by reading Confluence and removes it;
    // `confluence-users` is not the app's either, and goes the same way.
    let report = quiet_sync(&s, "strict", false).await;
    s.settle().await;
    let mut steps: Vec<String> = report.plan.iter().map(|(_, op)| op.describe()).collect();
    steps.sort();
    assert_eq!(steps, ["remove sam from confluence-users", "remove sam from handmade"]);
    assert_eq!(s.groups_of("sam"), ["team"]);
    assert!(quiet_sync(&s, "strict", true).await.plan.is_empty(), "in step");
    assert_eq!(s.groups_of("kay"), ["confluence-users", "handmade"], "the other app's person is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_two_apps_groups_and_activity_follow_both() {
    // OneLogin first: it sets the name; Okta second.
    let apps = [
        AppSpec { settings: ON_THE_FLY, ..AppSpec::new("onelogin", "onelogin") },
        AppSpec { settings: ON_THE_FLY, ..AppSpec::new("okta", "okta") },
    ];
    let s = Stack::start("grants-two-apps", &apps).await;
    let in_onelogin = s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    let one_shared = s.create_group("onelogin", "Shared", &[&in_onelogin]).await;
    s.settle().await;
    // Okta provisions the same person: the user is adopted, not created again.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "King"}, "displayName": "Ada King",
        "emails": [{"value": "ada@example.com", "primary": true}], "active": true});
    let (status, created) = s.scim("okta", "POST", "/Users", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let in_okta = created["id"].as_str().unwrap().to_owned();
    let okta_shared = s.create_group("okta", "Shared", &[&in_okta]).await;
    s.create_group("okta", "Okta Only", &[&in_okta]).await;
    s.settle().await;
    assert_eq!(s.emulator.counters().users_created, 1);
    assert_eq!(s.user("ada").unwrap().full_name, "Ada Lovelace", "the first app's name");
    assert_eq!(s.groups_of("ada"), ["confluence-users", "okta only", "shared"]);

    // OneLogin takes `Shared` back: Okta still grants it, so it stays.
    let body = patch(json!([{"op": "remove", "path": "members", "value": [{"value": in_onelogin}]}]));
    s.scim("onelogin", "PATCH", &format!("/Groups/{one_shared}"), Some(body)).await;
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["confluence-users", "okta only", "shared"]);

    // Okta deactivates her: OneLogin still has her active, so she stays enabled.
    let deactivate = patch(json!([{"op": "replace", "value": {"active": false}}]));
    let (status, _) = s.scim("okta", "PATCH", &format!("/Users/{in_okta}"), Some(deactivate)).await;
    assert_eq!(status, 200);
    s.settle().await;
    assert!(s.user("ada").unwrap().active, "OneLogin still wants her active");
    // OneLogin renames her: the name follows OneLogin, and she stays active.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Byron"}, "displayName": "Ada Byron",
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}], "active": true});
    let (status, answer) = s.scim("onelogin", "PUT", &format!("/Users/{in_onelogin}"), Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    s.settle().await;
    let ada = s.user("ada").unwrap();
    assert_eq!((ada.full_name.as_str(), ada.active), ("Ada Byron", true));
    // Synchronize of either app changes nothing.
    for app in ["onelogin", "okta"] {
        let plan = quiet_sync(&s, app, true).await;
        assert!(plan.plan.is_empty(), "{app}: {:?}", plan.plan);
    }

    // Okta takes `Shared` back too: now no app grants it, and it goes.
    let body = patch(json!([{"op": "remove", "path": format!("members[value eq \"{in_okta}\"]")}]));
    s.scim("okta", "PATCH", &format!("/Groups/{okta_shared}"), Some(body)).await;
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["confluence-users", "okta only"]);
    // OneLogin suspends her as well: nobody wants her active any more.
    let before = s.emulator.counters();
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Byron"}, "displayName": "Ada Byron",
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}], "active": false});
    s.scim("onelogin", "PUT", &format!("/Users/{in_onelogin}"), Some(body)).await;
    s.settle().await;
    assert!(!s.user("ada").unwrap().active);
    assert_eq!(s.emulator.counters().users_disabled - before.users_disabled, 1);
    for app in ["onelogin", "okta"] {
        assert!(quiet_sync(&s, app, true).await.plan.is_empty(), "{app}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronize_repairs_a_grant_confluence_still_holds_after_its_revocation() {
    let s = Stack::start("grants-stale", &[AppSpec { settings: ON_THE_FLY, ..AppSpec::new("okta", "okta") }]).await;
    let (ada, writers, _) = member_of_two(&s, "okta", "ada@example.com").await;
    // Confluence is down while Okta takes Writers back, and the removal is then dropped
    // from the outbox (by hand, the host stopped), so Confluence keeps the stale grant.
    let body = patch(json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]));
    let mut faults = s.emulator.faults();
    faults.outage = true;
    s.emulator.set_faults(faults.clone());
    let (status, _) = s.scim("okta", "PATCH", &format!("/Groups/{writers}"), Some(body)).await;
    assert!(status == 200 || status == 204);
    assert_eq!(s.confluence["okta"].outbox().len("okta"), 1, "the removal waits in the outbox");
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);
    let conn = usersync::store::open_connection(&dir.join("usersync.db")).unwrap();
    assert_eq!(conn.execute("DELETE FROM outbox", []).unwrap(), 1);
    drop(conn);
    faults.outage = false;
    emulator.set_faults(faults);
    let s = Stack::host(emulator, dir, "", &[AppSpec { settings: ON_THE_FLY, ..AppSpec::new("okta", "okta") }]).await;
    s.settle().await;
    assert!(s.groups_of("ada").contains(&"writers".to_owned()), "the stale grant is still there");

    let report = quiet_sync(&s, "okta", false).await;
    s.settle().await;
    let steps: Vec<String> = report.plan.iter().map(|(_, op)| op.describe()).collect();
    assert_eq!(steps, ["remove ada from writers"]);
    assert_eq!(s.groups_of("ada"), ["confluence-users", "readers"]);
    assert!(quiet_sync(&s, "okta", true).await.plan.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrading_a_store_made_by_the_previous_release_removes_nothing() {
    let app = AppSpec { settings: ON_THE_FLY, ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::start("grants-upgrade", &[app]).await;
    let ada = s.create_user("onelogin", "ada@example.com", "Ada", "Old").await;
    s.create_group("onelogin", "Writers", &[&ada]).await;
    s.emulator.seed_user(SeedUser::new("local", "Local Admin", "local@example.com"));
    s.emulator.seed_group("writers", ["local"]);
    s.settle().await;
    let (emulator, dir) = (s.emulator.clone(), s.dir.clone());
    drop(s);

    // Make the store what the previous release left: no grants migration, and its decisions
    // as it wrote them (`groups` = previous groups + added − removed).
    let conn = usersync::store::open_connection(&dir.join("usersync.db")).unwrap();
    conn.execute_batch(
        "DROP TABLE confluence_users; DROP TABLE outbox_blocked; ALTER TABLE desired_users DROP COLUMN revoked;
         DELETE FROM schema_migrations WHERE version = 4;",
    )
    .unwrap();
    drop(conn);
    let before = emulator.counters();
    let app = AppSpec { settings: ON_THE_FLY, ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::host(emulator, dir, "", &[app]).await;
    s.settle().await;
    let writes = |c: usersync_tests::emulator::Counters| usersync_tests::emulator::Counters { requests: 0, ..c };
    assert_eq!(writes(s.emulator.counters()), writes(before), "starting on the old store writes nothing");
    let plan = quiet_sync(&s, "onelogin", false).await;
    assert!(plan.plan.is_empty(), "{:?}", plan.plan);
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["confluence-users", "writers"]);
    assert!(s.emulator.snapshot().groups["writers"].contains("local"));
    let after = s.emulator.counters();
    assert_eq!((after.members_removed, after.users_disabled), (before.members_removed, before.users_disabled));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapped_group_confluence_lacks_parks_its_memberships_and_the_rest_applies() {
    let mapped = AppSpec {
        settings:
            "username_regex = \"@.*$\"\n[apps.settings.group_mapping]\nEngineering = \"engineers\"\nStaff = \"staff\"",
        ..AppSpec::new("mapped", "okta")
    };
    let fly = AppSpec { settings: ON_THE_FLY, ..AppSpec::new("fly", "entra") };
    let s = Stack::start("grants-missing", &[mapped, fly]).await;
    s.emulator.seed_group("staff", Vec::<String>::new());
    // Before any traffic: the groups the settings need are checked against Confluence, shown
    // in the health report and audited (the audit entry is committed just after the check
    // is published, so both are waited for).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let health = s.health().await;
        let app = health["confluence"].as_array().unwrap().iter().find(|a| a["app"] == "mapped").cloned().unwrap();
        let audited =
            || s.audit("mapped").iter().any(|e| e.outcome == "missing-groups" && e.detail.contains("engineers"));
        if app["missingGroups"] == json!(["engineers"]) && audited() {
            assert_eq!(health["status"], "degraded", "{health}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the missing group was not reported and audited: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(s.confluence["mapped"].needed_groups().missing, ["engineers"]);
    let ada = s.create_user("mapped", "ada@example.com", "Ada", "Parked").await;
    let bob = s.create_user("mapped", "bob@example.com", "Bob", "Parked").await;
    // One push names both members: the missing target does not fail it.
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering",
        "members": [{"value": ada}, {"value": bob}]});
    let (status, answer) = s.scim("mapped", "POST", "/Groups", Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    s.create_group("mapped", "Staff", &[&ada, &bob]).await;
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["confluence-users", "staff"], "the rest of the change applied");
    assert!(!s.emulator.snapshot().groups.contains_key("engineers"), "a mapped group is never created");

    // The waiting memberships are visible, with their reason: health and the outbox.
    let parked = s.confluence["mapped"].outbox().parked("mapped");
    assert_eq!(parked.len(), 2, "{parked:?}");
    assert!(parked.iter().all(|p| p.group == "engineers" && p.reason.contains("does not exist")));
    let health = s.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    let app = health["confluence"].as_array().unwrap().iter().find(|a| a["app"] == "mapped").unwrap();
    assert_eq!(app["missingGroups"], json!(["engineers"]));
    assert!(s.audit("mapped").iter().any(|e| e.outcome == "blocked" && e.detail.contains("engineers")));
    let conn = usersync::store::open_connection(&s.dir.join("usersync.db")).unwrap();
    assert_eq!(usersync::store::outbox::blocked(&conn, Some("mapped")).unwrap().len(), 2, "parked durably");
    drop(conn);

    // Another app creates the group: UserSync sees it appear and the memberships apply at once.
    let before = s.emulator.counters();
    let cy = s.create_user("fly", "cy@example.com", "Cy", "Fly").await;
    s.create_group("fly", "Engineers", &[&cy]).await;
    s.settle().await;
    let members = &s.emulator.snapshot().groups["engineers"];
    assert!(members.contains("ada") && members.contains("bob") && members.contains("cy"), "{members:?}");
    assert_eq!(s.emulator.counters().members_added - before.members_added, 3, "each membership once");
    assert!(s.confluence["mapped"].outbox().parked("mapped").is_empty());
    assert!(quiet_sync(&s, "mapped", true).await.plan.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_membership_applies_at_the_synchronize_after_its_group_is_made_by_hand() {
    let mapped = AppSpec {
        settings: "username_regex = \"@.*$\"\n[apps.settings.group_mapping]\nEngineering = \"engineers\"",
        ..AppSpec::new("mapped", "okta")
    };
    let s = Stack::start("grants-missing-sync", &[mapped]).await;
    let ada = s.create_user("mapped", "ada@example.com", "Ada", "Parked").await;
    s.create_group("mapped", "Engineering", &[&ada]).await;
    s.settle().await;
    assert_eq!(s.confluence["mapped"].outbox().parked("mapped").len(), 1);
    // Synchronize while the group is still missing plans nothing twice.
    assert!(quiet_sync(&s, "mapped", true).await.plan.is_empty());

    s.emulator.seed_group("engineers", Vec::<String>::new());
    let before = s.emulator.counters();
    let report = quiet_sync(&s, "mapped", false).await;
    s.settle().await;
    let steps: Vec<String> = report.plan.iter().map(|(_, op)| op.describe()).collect();
    assert_eq!(steps, ["add ada to engineers"]);
    assert_eq!(s.groups_of("ada"), ["confluence-users", "engineers"]);
    assert_eq!(s.emulator.counters().members_added - before.members_added, 1);
    assert!(s.confluence["mapped"].outbox().parked("mapped").is_empty());
    let conn = usersync::store::open_connection(&s.dir.join("usersync.db")).unwrap();
    assert!(usersync::store::outbox::blocked(&conn, None).unwrap().is_empty());
}

/// Creates a user through the app and returns the SCIM status.
async fn post_user(s: &Stack, app: &str, user_name: &str, given: &str, family: &str) -> (u16, Value) {
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name,
        "name": {"givenName": given, "familyName": family}, "displayName": format!("{given} {family}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}], "active": true});
    s.scim(app, "POST", "/Users", Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_users_off_updates_and_groups_only_people_confluence_has() {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\ncreate_users = false",
        ..AppSpec::new("onelogin", "onelogin")
    };
    let s = Stack::start("switch-create", &[app]).await;
    s.emulator.seed_user(SeedUser::new("ada", "Ada Before", "ada@example.com"));
    // What Confluence has is read at the first start, and at every Synchronize.
    quiet_sync(&s, "onelogin", false).await;
    let before = s.emulator.counters();
    let (status, ada) = post_user(&s, "onelogin", "ada@example.com", "Ada", "Lovelace").await;
    assert_eq!(status, 201, "{ada}");
    let (status, bob) = post_user(&s, "onelogin", "bob@example.com", "Bob", "Newcomer").await;
    assert_eq!(status, 201, "{bob}: stored in SCIM, left out of Confluence");
    let ada_id = ada["id"].as_str().unwrap();
    let bob_id = bob["id"].as_str().unwrap();
    s.create_group("onelogin", "Writers", &[ada_id, bob_id]).await;
    s.settle().await;
    assert!(s.user("bob").is_none(), "create_users = false creates nobody");
    assert_eq!(s.user("ada").unwrap().full_name, "Ada Lovelace", "an existing user is still updated");
    assert!(s.groups_of("ada").contains(&"writers".to_owned()), "and grouped");
    let after = s.emulator.counters();
    assert_eq!(after.users_created, before.users_created);
    assert!(s.audit("onelogin").iter().any(|e| e.subject == bob_id && e.outcome == "skip"), "bob's skip is audited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_users_off_leaves_name_and_email_as_confluence_has_them() {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\nupdate_users = false",
        ..AppSpec::new("okta", "okta")
    };
    // Confluence 9.3 and later list e-mail addresses, so UserSync knows the current one.
    let config = EmulatorConfig { version: ConfluenceVersion::new(10, 2, 0), ..EmulatorConfig::default() };
    let s = Stack::start_with("switch-update", config, "", &[app]).await;
    s.emulator.seed_user(SeedUser::new("ada", "Ada As Confluence Has Her", "ada@corp.example.com"));
    quiet_sync(&s, "okta", false).await;
    let before = s.emulator.counters();
    let (status, ada) = post_user(&s, "okta", "ada@example.com", "Ada", "Lovelace").await;
    assert_eq!(status, 201, "{ada}");
    s.create_group("okta", "Writers", &[ada["id"].as_str().unwrap()]).await;
    let (status, _) = post_user(&s, "okta", "bob@example.com", "Bob", "Newcomer").await;
    assert_eq!(status, 201);
    s.settle().await;
    let ada = s.user("ada").unwrap();
    assert_eq!((ada.full_name.as_str(), ada.email.as_str()), ("Ada As Confluence Has Her", "ada@corp.example.com"));
    assert!(s.groups_of("ada").contains(&"writers".to_owned()), "still grouped");
    assert_eq!(s.user("bob").unwrap().full_name, "Bob Newcomer", "new people are still created");
    let after = s.emulator.counters();
    assert_eq!(after.users_updated, before.users_updated, "no update sent");
    assert!(quiet_sync(&s, "okta", true).await.plan.is_empty(), "and Synchronize does not fight it");
}
