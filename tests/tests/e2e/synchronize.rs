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
