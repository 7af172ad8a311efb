//! Confluence misbehaving during a provisioning run: down for part of it, or answering 30%
//! of calls with 429. Every SCIM create is accepted, and Confluence ends exactly in the
//! expected state with every operation applied once.

use std::sync::Arc;
use std::time::Duration;

use usersync_tests::emulator::Faults;

use super::harness::{AppSpec, Stack};

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
