//! One planned operation through `sync::apply` against the scripted stub of
//! `confluence_client`: group creations sent once however many workers reach them, a
//! multi-step create resumed at the step that failed, and every refusal classified by whose
//! problem it is (issue 11 §1, §4, §5).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use usersync::confluence::SetupProblem;
use usersync::sync::{apply, Applied, KnownGroups, Op, Progress};

use super::confluence_client::{account_stub, client, p, Answer, Hold, Stub};

fn create(username: &str, active: bool) -> Op {
    Op::CreateUser {
        username: username.into(),
        full_name: format!("New {username}"),
        email: format!("{username}@example.com"),
        active,
    }
}

/// Issue 11 §5: eight workers reach the creation of one group at once; Confluence gets one
/// POST, and every worker is done when it answers.
#[tokio::test]
async fn concurrent_creations_of_one_group_send_one_request() {
    let stub = Stub::start(|seen| match seen.method.as_str() {
        "POST" => Answer::json(201, json!({"type": "group", "name": "devs"})).hold(Hold::UntilGateOpens),
        _ => Answer::empty(204),
    })
    .await;
    let c = client(&stub, "9.3.0");
    let groups = Arc::new(KnownGroups::default());
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (c, groups) = (c.clone(), groups.clone());
        workers.push(tokio::spawn(async move {
            let mut progress = Progress::default();
            apply(&c, &Op::CreateGroup { group: "devs".into() }, &groups, &mut progress).await
        }));
    }
    // Hold the POST until it has arrived, so that the others reach the group meanwhile.
    let mut arrivals = stub.arrivals();
    arrivals.wait_for(|n| *n >= 1).await.unwrap();
    tokio::task::yield_now().await;
    stub.open_gate();
    for w in workers {
        assert!(matches!(w.await.unwrap(), Applied::Done(None)));
    }
    assert_eq!(stub.count("POST", &p("/rest/api/admin/group")), 1);
    // Known from now on: no request at all.
    let mut progress = Progress::default();
    apply(&c, &Op::CreateGroup { group: "devs".into() }, &groups, &mut progress).await;
    assert_eq!(stub.seen().len(), 1);
}

/// Issue 11 §4: the adopt path is POST (409), PUT, enable. A 429 on the PUT does not send
/// the POST again; a 429 on the enable sends neither the POST nor the PUT again.
#[tokio::test]
async fn a_create_resumes_at_the_step_that_failed() {
    let puts = Arc::new(AtomicUsize::new(0));
    let enables = Arc::new(AtomicUsize::new(0));
    let (p2, e2) = (puts.clone(), enables.clone());
    let stub = Stub::start(move |seen| match (seen.method.as_str(), seen.path.rsplit('/').next().unwrap()) {
        ("POST", _) => Answer::error(409, "A user with the same userName already exists"),
        ("PUT", "enable") if e2.fetch_add(1, Ordering::SeqCst) == 0 => {
            Answer::text(429, "text/plain", "Rate limit exceeded").header("retry-after", "1")
        }
        ("PUT", "carol") if p2.fetch_add(1, Ordering::SeqCst) == 0 => {
            Answer::text(429, "text/plain", "Rate limit exceeded").header("retry-after", "1")
        }
        _ => Answer::empty(204),
    })
    .await;
    let c = client(&stub, "9.3.0");
    let groups = KnownGroups::default();
    let op = create("carol", true);
    let mut progress = Progress::default();
    let first = apply(&c, &op, &groups, &mut progress).await;
    assert!(matches!(first, Applied::Transient { retry_after: Some(_), .. }), "{first:?}");
    assert_eq!(progress, Progress::Adopting { updated: false, active: None });
    let second = apply(&c, &op, &groups, &mut progress).await;
    assert!(matches!(second, Applied::Transient { .. }), "the enable's 429: {second:?}");
    assert_eq!(progress, Progress::Adopting { updated: true, active: None });
    let third = apply(&c, &op, &groups, &mut progress).await;
    assert!(matches!(&third, Applied::Done(Some(note)) if note.contains("adopted")), "{third:?}");
    assert_eq!(stub.count("POST", &p("/rest/api/admin/user")), 1);
    assert_eq!(stub.count("PUT", &p("/rest/api/admin/user/carol")), 2, "one refused with 429, one applied");
    assert_eq!(stub.count("PUT", &p("/rest/api/admin/user/carol/enable")), 2, "one refused with 429, one applied");
}

/// Issue 11 §4: a user created inactive is POSTed, then disabled; a 429 on the disable
/// resumes at the disable. A lost answer to the POST makes the next attempt ask first.
#[tokio::test]
async fn a_created_user_is_not_created_again() {
    let disables = Arc::new(AtomicUsize::new(0));
    let d2 = disables.clone();
    let stub = Stub::start(move |seen| match (seen.method.as_str(), seen.path.rsplit('/').next().unwrap()) {
        ("POST", _) => Answer::json(201, json!({"userKey": "k"})),
        ("PUT", "disable") if d2.fetch_add(1, Ordering::SeqCst) == 0 => Answer::empty(503),
        ("GET", "user") => Answer::json(
            200,
            json!({"type": "known", "username": "frank", "displayName": "New frank", "status": "Active"}),
        ),
        _ => Answer::empty(204),
    })
    .await;
    let c = client(&stub, "9.3.0");
    let groups = KnownGroups::default();
    let mut progress = Progress::default();
    let op = create("erin", false);
    assert!(matches!(apply(&c, &op, &groups, &mut progress).await, Applied::Transient { .. }));
    assert_eq!(progress, Progress::Created);
    assert!(matches!(apply(&c, &op, &groups, &mut progress).await, Applied::Done(None)));
    assert_eq!(stub.count("POST", &p("/rest/api/admin/user")), 1);
    assert_eq!(stub.count("PUT", &p("/rest/api/admin/user/erin/disable")), 2);

    // The POST of frank may have landed (its answer was lost): Confluence is asked, the user
    // is found active, and only the full name and e-mail are written.
    let mut progress = Progress::Uncertain;
    let done = apply(&c, &create("frank", true), &groups, &mut progress).await;
    assert!(matches!(&done, Applied::Done(Some(note)) if note.contains("adopted")), "{done:?}");
    assert_eq!(stub.count("POST", &p("/rest/api/admin/user")), 1, "frank is not POSTed");
    assert_eq!(stub.count("PUT", &p("/rest/api/admin/user/frank")), 1);
    assert_eq!(stub.count("PUT", &p("/rest/api/admin/user/frank/enable")), 0, "already active");
}

/// Issue 11 §1: rejected credentials and missing rights hold the operation; a 403 about a
/// user in a read-only directory refuses it.
#[tokio::test]
async fn setup_failures_hold_and_data_failures_refuse() {
    let groups = KnownGroups::default();
    let op = Op::SetActive { username: "ldap-user".into(), active: false };

    let admin = account_stub(true).await;
    let expired = super::confluence_client::token_client(&admin, "expired");
    let held = apply(&expired, &op, &groups, &mut Progress::default()).await;
    assert!(matches!(held, Applied::Held { problem: SetupProblem::Credentials, .. }), "{held:?}");
    let good = super::confluence_client::token_client(&admin, "good");
    let refused = apply(&good, &op, &groups, &mut Progress::default()).await;
    assert!(matches!(&refused, Applied::Refused(e) if e.contains("read-only directory")), "{refused:?}");

    let not_admin = account_stub(false).await;
    let c = super::confluence_client::token_client(&not_admin, "good");
    let held = apply(&c, &op, &groups, &mut Progress::default()).await;
    assert!(matches!(held, Applied::Held { problem: SetupProblem::Permission, .. }), "{held:?}");
}
