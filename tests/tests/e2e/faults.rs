//! Confluence misbehaving: down for part of a provisioning run, answering 30% of calls with
//! 429, slower than the apply deadline, refusing one step of a multi-step create, or
//! rejecting UserSync's token. Every SCIM write is accepted and stored, and Confluence ends
//! exactly in the expected state, having received no write twice (the emulator's write
//! log, [`Stack::assert_no_write_twice`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use usersync_tests::emulator::{
    self, EmulatorConfig, Faults, PersonalAccessToken, SeedUser, TargetedAction, TargetedFault, DEFAULT_ADMIN_TOKEN,
};

use super::harness::{scratch, AppSpec, Stack};

const SETTINGS: &str = "username_regex = \"@.*$\"\non_the_fly = true";

/// Creates `count` users from 16 concurrent clients, each in one on-the-fly group of ten;
/// `during(n)` runs after the n-th user is accepted.
async fn provision(s: &Arc<Stack>, count: usize, during: impl Fn(usize) + Send + Sync + 'static) {
    let during = Arc::new(during);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..16 {
        let (s, next, during) = (s.clone(), next.clone(), during.clone());
        clients.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let id = s.create_user("app", &format!("user{n:05}@example.com"), "User", &format!("N{n}")).await;
                s.create_group_or_join("app", &format!("Team {:03}", n / 10), &id).await;
                during(n);
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

fn assert_provisioned(s: &Stack, count: usize) {
    let snapshot = s.emulator.snapshot();
    for n in 0..count {
        let name = format!("user{n:05}");
        let user = snapshot.users.get(&name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(user.active, "{name}");
        let team = format!("team {:03}", n / 10);
        assert!(snapshot.groups.get(&team).is_some_and(|m| m.contains(&name)), "{name} not in {team}");
    }
    // The admin plus the run's users, no more.
    assert_eq!(snapshot.users.len(), count + 1);
    let c = s.emulator.counters();
    assert_eq!(c.users_created as usize, count, "each user created once: {c:?}");
    assert_eq!(c.members_added as usize, count, "each membership added once: {c:?}");
    assert_eq!(c.groups_created as usize, count.div_ceil(10), "{c:?}");
    // No group created by two workers (201 then 409), no user created again. (A membership
    // may be sent again when concurrent PATCHes of one group make a SCIM write retry after
    // its at-once apply: idempotent, and the counters above show it changed nothing twice.)
    s.assert_no_create_twice();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluence_down_for_part_of_a_2000_user_run() {
    let app = AppSpec { settings: SETTINGS, ..AppSpec::new("app", "okta") };
    let s = Arc::new(Stack::start("outage", &[app]).await);
    let emulator = s.emulator.clone();
    // Down from the 500th accepted user to the 1,500th.
    provision(&s, 2000, move |n| {
        if n == 500 {
            emulator.set_faults(Faults { outage: true, ..Faults::default() });
        }
        if n == 1500 {
            emulator.set_faults(Faults::default());
        }
    })
    .await;
    assert!(s.emulator.counters().outage_responses > 0, "the outage was seen");
    let health = s.health().await;
    assert_eq!(health["confluence"][0]["app"], "app", "{health}");
    assert!(health["confluence"][0]["queued"].as_u64().is_some(), "{health}");
    s.settle().await;
    assert_provisioned(&s, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_of_calls_answered_429() {
    let app = AppSpec { settings: SETTINGS, ..AppSpec::new("app", "okta") };
    let s = Arc::new(Stack::start("429", &[app]).await);
    s.emulator.set_faults(Faults { rate_429: 0.3, retry_after_secs: 1, ..Faults::default() });
    provision(&s, 200, |_| {}).await;
    tokio::time::timeout(Duration::from_secs(300), s.settle()).await.expect("settles");
    assert!(s.emulator.counters().injected_429 > 50, "{:?}", s.emulator.counters());
    assert_provisioned(&s, 200);
}

/// Issue 11 §5: after an outage, four workers drain queues in which every member of a team
/// carries the team's creation. Each group is created once (single-flight per app), not
/// once per worker that reaches it (201, then 409).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_after_an_outage_creates_each_group_once() {
    let app = AppSpec { settings: SETTINGS, ..AppSpec::new("app", "okta") };
    let s = Arc::new(Stack::start("drain", &[app]).await);
    s.emulator.set_faults(Faults { outage: true, ..Faults::default() });
    provision(&s, 160, |_| {}).await;
    assert_eq!(s.emulator.counters().groups_created, 0, "nothing reached Confluence during the outage");
    s.emulator.set_faults(Faults::default());
    s.settle().await;
    let writes = s.applied_writes();
    for team in 0..16 {
        let create = format!("POST /rest/api/admin/group team {team:03}");
        assert_eq!(writes.get(&create), Some(&1), "{create}: {writes:?}");
    }
    assert_provisioned(&s, 160);
}

/// Issue 11 §3: Confluence answers after the apply deadline. The SCIM write answers at the
/// deadline, the attempt carries on in the background and hands its outcome to the outbox:
/// one POST per user, not POST 201, POST 409, PUT and enable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_beyond_the_deadline_sends_each_write_once() {
    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("app", "okta") };
    let s = Stack::start_with("slow", EmulatorConfig::default(), "apply_deadline_ms = 300", &[app]).await;
    let latency = Duration::from_millis(2500);
    s.emulator.set_faults(Faults { latency, ..Faults::default() });
    let mut ids = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let started = Instant::now();
        ids.push(s.create_user("app", &format!("{name}@example.com"), "Slow", name).await);
        let took = started.elapsed();
        assert!(took < latency, "{name}: the SCIM write answered after {took:?}, not at the deadline");
    }
    // A change to alice while her creation is still in flight: applied after it, in order.
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Alice Renamed"}]});
    let (status, body) = s.scim("app", "PATCH", &format!("/Users/{}", ids[0]), Some(rename)).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::timeout(Duration::from_secs(60), s.settle()).await.expect("settles");

    for name in ["alice", "bob", "carol"] {
        let user = s.user(name).unwrap_or_else(|| panic!("{name} missing"));
        assert!(user.active, "{name}");
    }
    assert_eq!(s.user("alice").unwrap().full_name, "Alice Renamed");
    let writes = s.applied_writes();
    for name in ["alice", "bob", "carol"] {
        assert_eq!(writes.get(&format!("POST /rest/api/admin/user {name}")), Some(&1), "{writes:?}");
        assert_eq!(writes.get(&format!("PUT /rest/api/admin/user/{name}/enable")), None, "{writes:?}");
    }
    assert_eq!(writes.get("PUT /rest/api/admin/user/alice"), Some(&1), "the rename, once: {writes:?}");
    assert_eq!(writes.get("PUT /rest/api/admin/user/bob"), None, "{writes:?}");
    assert_eq!(writes.len(), 4, "three creates and a rename: {writes:?}");
    let c = s.emulator.counters();
    assert_eq!((c.users_created, c.users_updated, c.noops()), (3, 1, 0), "{c:?}");
}

/// Issue 11 §4: one step of a multi-step create fails (429, or an answer lost on the way
/// back). The retry resumes at that step: the user is POSTed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_of_a_create_is_resumed_not_restarted() {
    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("app", "okta") };
    let s = Stack::start("steps", &[app]).await;
    // Adopted users (POST answers 409): update, then enable.
    for name in ["carol", "dave"] {
        s.emulator
            .seed_user(SeedUser { active: false, ..SeedUser::new(name, "Old Name", format!("{name}@old.example")) });
    }
    let too_many = TargetedAction::TooManyRequests { retry_after_secs: 1 };
    let steps: [(&str, TargetedFault); 4] = [
        // 429 on the update that follows the 409.
        ("carol", TargetedFault::new("PUT", "/rest/api/admin/user/carol", too_many)),
        // 429 on the enable that follows the update.
        ("dave", TargetedFault::new("PUT", "/rest/api/admin/user/dave/enable", too_many)),
        // A new user created inactive: 429 on the disable that follows the POST.
        ("erin", TargetedFault::new("PUT", "/rest/api/admin/user/erin/disable", too_many)),
        // The POST is applied but its answer is lost: ask Confluence before creating again.
        ("frank", TargetedFault::new("POST", "/rest/api/admin/user", TargetedAction::DropAfter)),
    ];
    for (name, fault) in steps {
        s.emulator.set_faults(Faults { targeted: vec![fault], ..Faults::default() });
        let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("{name}@example.com"), "name": {"givenName": "New", "familyName": name},
            "emails": [{"value": format!("{name}@example.com"), "primary": true}], "active": name != "erin"});
        let (status, created) = s.scim("app", "POST", "/Users", Some(body)).await;
        assert_eq!(status, 201, "{name}: {created}");
        tokio::time::timeout(Duration::from_secs(60), s.settle()).await.expect("settles");
        assert!(s.emulator.faults().targeted.is_empty(), "{name}: the fault was hit");
    }

    for (name, active) in [("carol", true), ("dave", true), ("erin", false), ("frank", true)] {
        let user = s.user(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (user.full_name.as_str(), user.email.clone(), user.active),
            (format!("New {name}").as_str(), format!("{name}@example.com"), active),
            "{name}"
        );
    }
    let writes = s.applied_writes();
    let count = |w: &str| writes.get(w).copied().unwrap_or(0);
    for name in ["carol", "dave", "erin", "frank"] {
        assert_eq!(count(&format!("POST /rest/api/admin/user {name}")), 1, "{name}: {writes:?}");
    }
    for name in ["carol", "dave"] {
        assert_eq!(count(&format!("PUT /rest/api/admin/user/{name}")), 1, "{name}: {writes:?}");
        assert_eq!(count(&format!("PUT /rest/api/admin/user/{name}/enable")), 1, "{name}: {writes:?}");
    }
    assert_eq!(count("PUT /rest/api/admin/user/erin"), 0, "erin was created, not adopted: {writes:?}");
    assert_eq!(count("PUT /rest/api/admin/user/erin/disable"), 1, "{writes:?}");
    assert_eq!(count("PUT /rest/api/admin/user/frank/enable"), 0, "frank is active already: {writes:?}");
    s.assert_no_write_twice();
}

/// A stack whose host authenticates to Confluence with the token in `confluence-token`.
async fn token_stack(name: &str, token: &str, apps: &[AppSpec]) -> Stack {
    let emulator = emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = scratch(name);
    std::fs::write(dir.join("confluence-token"), format!("{token}\n")).unwrap();
    Stack::host(Arc::new(emulator), dir, "token_file = \"confluence-token\"", apps).await
}

/// Polls the health details (`/admin/v1/health`) until `check` holds (or fails after 20 s).
async fn health_until(s: &Stack, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let h = s.health().await;
        if check(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "the health details never showed {what}: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const CREDENTIALS: &str = "Confluence rejects UserSync's credentials";

fn held_for_credentials(h: &Value) -> bool {
    h["status"] == "degraded" && h["confluence"][0]["held"]["reason"] == CREDENTIALS
}

/// Issue 11 §1: the token expires. A suspend and a DELETE sent meanwhile are stored and
/// queued (not refused with a 400), the app says why it waits, and once the token in the
/// secret file is renewed, both land, once, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_loses_no_offboarding() {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"",
        extra: "deprovision = \"delete\"",
        ..AppSpec::new("app", "okta")
    };
    let s = token_stack("expired", DEFAULT_ADMIN_TOKEN, &[app]).await;
    let alice = s.create_user("app", "alice@example.com", "Alice", "Leaver").await;
    let bob = s.create_user("app", "bob@example.com", "Bob", "Leaver").await;
    s.settle().await;
    assert!(s.user("alice").is_some() && s.user("bob").is_some());

    // The token expires: Confluence now accepts only its successor.
    let renewed = PersonalAccessToken { token: "renewed-token".into(), username: "admin".into() };
    s.emulator.set_tokens(std::slice::from_ref(&renewed));
    let suspend = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": false}}]});
    let (status, body) = s.scim("app", "PATCH", &format!("/Users/{alice}"), Some(suspend)).await;
    assert_eq!(status, 200, "the suspend is accepted: {body}");
    let (status, body) = s.scim("app", "DELETE", &format!("/Users/{bob}"), None).await;
    assert_eq!(status, 204, "the delete is accepted: {body}");
    // Stored ...
    assert_eq!(s.scim("app", "GET", &format!("/Users/{alice}"), None).await.1["active"], false);
    assert_eq!(s.scim("app", "GET", &format!("/Users/{bob}"), None).await.0, 404);
    // ... and waiting, with the reason named everywhere an operator looks.
    let h = health_until(&s, "the credentials hold", held_for_credentials).await;
    assert_eq!(h["confluence"][0]["queued"], 2, "{h}");
    let admin = &s.tokens[usersync::http::admin::ADMIN];
    let reply = s.http.get(format!("{}/admin/v1/apps/app/outbox", s.url)).bearer_auth(admin).send().await.unwrap();
    let outbox = reply.json::<Value>().await.unwrap();
    assert_eq!(outbox["held"]["reason"], CREDENTIALS, "{outbox}");
    assert_eq!(outbox["queued"], 2, "{outbox}");
    let config = usersync::config::Config::load(&s.dir.join("usersync.toml")).unwrap();
    let report = usersync::cli::outbox_report(&config, Some("app")).unwrap();
    assert!(report.contains(CREDENTIALS), "{report}");
    assert!(report.contains("2 operation(s) waiting"), "{report}");
    let alice_now = s.user("alice").unwrap();
    assert!(alice_now.active && s.user("bob").is_some(), "nothing reached Confluence yet");

    // The operator renews the token in the secret file: the queue resumes by itself.
    std::fs::write(s.dir.join("confluence-token"), "renewed-token\n").unwrap();
    tokio::time::timeout(Duration::from_secs(60), s.settle()).await.expect("the queue resumes");
    assert!(!s.user("alice").expect("suspended, not deleted").active);
    assert!(s.user("bob").is_none(), "deleted");
    let h = health_until(&s, "the hold lifted", |h| h["status"] == "ok").await;
    assert!(h["confluence"][0]["held"].is_null(), "{h}");
    let report = usersync::cli::outbox_report(&config, Some("app")).unwrap();
    assert!(!report.contains(CREDENTIALS), "{report}");
    let writes = s.applied_writes();
    assert_eq!(writes.get("PUT /rest/api/admin/user/alice/disable"), Some(&1), "{writes:?}");
    assert_eq!(writes.get("DELETE /rest/api/admin/user/bob"), Some(&1), "{writes:?}");
    s.assert_no_write_twice();
    // Nothing was recorded as refused.
    let conn = usersync::store::open_connection(&s.dir.join("usersync.db")).unwrap();
    let failed = usersync::store::outbox::failed(&conn, Some("app"), 10).unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

/// Issue 11 §1: version detection is anonymous, so the credentials are checked at start-up
/// with an authenticated call: a wrong token shows before any SCIM traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_shows_at_start_up() {
    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("app", "okta") };
    let s = token_stack("wrong-token", "not-the-token", &[app]).await;
    let h = health_until(&s, "the credentials hold", held_for_credentials).await;
    assert_eq!(h["confluence"][0]["queued"], 0, "{h}");
    // A create meanwhile is stored and waits.
    s.create_user("app", "grace@example.com", "Grace", "Hopper").await;
    assert!(s.user("grace").is_none());
    std::fs::write(s.dir.join("confluence-token"), format!("{DEFAULT_ADMIN_TOKEN}\n")).unwrap();
    tokio::time::timeout(Duration::from_secs(60), s.settle()).await.expect("the queue resumes");
    assert!(s.user("grace").is_some_and(|u| u.active));
    health_until(&s, "the hold lifted", |h| h["status"] == "ok").await;
    s.assert_no_write_twice();
}
