//! Synchronize: drift made in Confluence behind UserSync's back is found by a dry run
//! (which changes nothing) and repaired by a real one.

use std::time::Duration;

use super::harness::{AppSpec, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synchronize_repairs_drift_and_dry_run_changes_nothing() {
    let app = AppSpec { settings: "username_regex = \"@.*$\"\non_the_fly = true", ..AppSpec::new("app", "okta") };
    let s = Stack::start("sync", &[app]).await;
    let ann = s.create_user("app", "ann@example.com", "Ann", "Sync").await;
    let bob = s.create_user("app", "bob@example.com", "Bob", "Sync").await;
    s.create_group("app", "Writers", &[&ann, &bob]).await;
    s.settle().await;
    assert_eq!(s.groups_of("bob"), ["confluence-users", "writers"]);

    // Drift: bob deleted by hand, ann's name changed and her membership removed, and a
    // stranger added to the app's group.
    s.emulator.reset();
    s.emulator.seed_user(usersync_tests::emulator::SeedUser::new("ann", "Someone Else", "ann@example.com"));
    s.emulator.seed_user(usersync_tests::emulator::SeedUser::new("carl", "Carl", "carl@example.com"));
    s.emulator.seed_group("writers", ["carl"]);
    let before = s.emulator.snapshot();

    let quiet = |_: &str| {};
    let plan = s.inbound.synchronize("app", true, Duration::ZERO, &quiet).await.unwrap();
    let mut steps: Vec<String> = plan.plan.iter().map(|(_, op)| op.describe()).collect();
    steps.sort();
    assert_eq!(
        steps,
        [
            "add ann to writers",
            "add bob to writers",
            "create user bob (Bob Sync, bob@example.com)",
            "update user ann (Ann Sync, ann@example.com)",
        ],
    );
    assert_eq!(s.emulator.snapshot(), before, "a dry run changes nothing");
    assert_eq!((plan.summary.people, plan.summary.users_created), (2, 1));

    let done = s.inbound.synchronize("app", false, Duration::from_secs(60), &quiet).await.unwrap();
    assert_eq!(done.plan.len(), 4);
    s.settle().await;
    let after = s.emulator.snapshot();
    assert_eq!(after.users["ann"].full_name, "Ann Sync");
    assert_eq!(after.users["bob"].full_name, "Bob Sync");
    assert!(after.groups["writers"].contains("ann") && after.groups["writers"].contains("bob"));
    assert!(after.groups["writers"].contains("carl"), "members the app does not provision are left alone");
    // In step now: a second run plans nothing.
    let again = s.inbound.synchronize("app", true, Duration::ZERO, &quiet).await.unwrap();
    assert!(again.plan.is_empty(), "{:?}", again.plan);
    let _ = (ann, bob);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_shows_decisions_and_audit_to_admin_tokens_only() {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\n[apps.settings.custom_fields]\ndepartment = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"",
        ..AppSpec::new("app", "okta")
    };
    let s = Stack::start("admin", &[app]).await;
    let body = serde_json::json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName":"dee@example.com","emails":[{"value":"dee@example.com","primary":true}],"displayName":"Dee",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Research"}});
    let (status, created) = s.scim("app", "POST", "/Users", Some(body)).await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap();
    s.settle().await;
    let conn = usersync::store::open_connection(&s.dir.join("usersync.db")).unwrap();
    let (_, admin) = usersync::store::tokens::create(&conn, usersync::http::admin::ADMIN, "e2e").unwrap();
    let get = |path: String, token: String| {
        let http = s.http.clone();
        let url = format!("{}{path}", s.url);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // A token created while the server runs is accepted once the verifier re-reads the
    // token table (at most a quarter of a second after a miss).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (status, person) = loop {
        let (status, body) = get(format!("/admin/v1/apps/app/people/{id}"), admin.clone()).await;
        if status != 401 || std::time::Instant::now() > deadline {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status, 200, "{person}");
    // An app's SCIM token is not an admin token.
    assert_eq!(get(format!("/admin/v1/apps/app/people/{id}"), s.tokens["app"].clone()).await.0, 401);
    assert_eq!(person["confluence"]["username"], "dee");
    assert_eq!(person["confluence"]["customFields"][0], serde_json::json!({"name": "department", "value": "Research"}));
    let (status, audit) = get("/admin/v1/apps/app/audit?limit=10".into(), admin.clone()).await;
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["action"] == "confluence" && e["detail"] == "create user dee (Dee, dee@example.com)"),
        "{audit}"
    );
    assert!(entries.iter().any(|e| e["action"] == "create" && e["outcome"] == "provision"), "{audit}");
    let (status, outbox) = get("/admin/v1/apps/app/outbox".into(), admin.clone()).await;
    assert_eq!((status, outbox["queued"].as_u64()), (200, Some(0)));
    assert_eq!(get("/admin/v1/apps/nope/audit".into(), admin).await.0, 404);
}
