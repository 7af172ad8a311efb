//! Pagination: relative `next` links only while more exists, the maximum limit, per-route
//! default limits, the context path, and large seeded directories.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{site, site_with};
use crate::emulator::{EmulatorConfig, SeedUser};

fn names(results: &[Value], field: &str) -> Vec<String> {
    results.iter().map(|r| r[field].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn user_list_pages_follow_relative_next_links() {
    let site = site().await;
    site.emulator.seed_users((0..450).map(|i| SeedUser::new(format!("u{i:03}"), format!("U {i}"), "u@x.org")));
    site.emulator.seed_user(SeedUser::new("off", "Off", "o@x.org").inactive());

    let first = site.get("/rest/api/user/list?limit=200").await;
    assert_eq!(
        (first.json["start"].as_u64(), first.json["limit"].as_u64(), first.json["size"].as_u64()),
        (Some(0), Some(200), Some(200))
    );
    assert_eq!(first.json["_links"]["next"], "/rest/api/user/list?limit=200&start=200");
    assert_eq!(first.json["_links"]["base"], site.emulator.base_url());
    assert_eq!(first.json["_links"]["context"], "");
    assert_eq!(first.json["_links"]["self"], site.url("/rest/api/user/list"));
    assert!(first.json["_links"].get("prev").is_none());

    let all = site.collect("/rest/api/user/list?limit=200&expand=status").await;
    assert_eq!(all.len(), 453, "450 + admin + mia + the disabled user");
    let usernames = names(&all, "username");
    let mut sorted = usernames.clone();
    sorted.sort();
    assert_eq!(usernames, sorted);
    assert_eq!(usernames.iter().collect::<BTreeSet<_>>().len(), 453);
    let off = all.iter().find(|p| p["username"] == "off").unwrap();
    assert_eq!(off["status"], "Deactivated", "expand is kept in next links");

    let last = site.get("/rest/api/user/list?start=400&limit=200").await;
    assert_eq!(last.json["size"], 53);
    assert!(last.json["_links"].get("next").is_none());
    assert_eq!(last.json["_links"]["prev"], "/rest/api/user/list?limit=200&start=200");
    let beyond = site.get("/rest/api/user/list?start=9999").await;
    assert_eq!((beyond.status, beyond.json["size"].as_u64()), (200, Some(0)));
}

#[tokio::test]
async fn limits_default_per_route_and_are_capped() {
    let site = site().await;
    site.emulator.seed_users((0..300).map(|i| SeedUser::new(format!("u{i:03}"), "U", "u@x.org")));
    for i in 0..250 {
        site.emulator.seed_group(&format!("g{i:03}"), ["u001"]);
    }
    let capped = site.get("/rest/api/user/list?limit=1000").await;
    assert_eq!((capped.json["limit"].as_u64(), capped.json["size"].as_u64()), (Some(200), Some(200)));
    assert_eq!(capped.json["_links"]["next"], "/rest/api/user/list?limit=200&start=200");
    assert_eq!(site.get("/rest/api/user/list").await.json["limit"], 100, "documented default 100");
    assert_eq!(site.get("/rest/api/group").await.json["limit"], 200);
    assert_eq!(site.get("/rest/api/group?limit=5000").await.json["size"], 200);
    assert_eq!(site.get("/rest/api/group/g001/member").await.json["limit"], 200);
    assert_eq!(site.get("/rest/api/user/memberof?username=u001&limit=10").await.json["size"], 10);
    assert_eq!(site.collect("/rest/api/user/memberof?username=u001&limit=100").await.len(), 250);
    assert_eq!(site.get("/rest/api/user/list?limit=abc").await.status, 400);

    let small = site_with(EmulatorConfig { max_limit: 25, user_list_default_limit: 10, ..Default::default() }).await;
    assert_eq!(small.get("/rest/api/group?limit=100").await.json["limit"], 25);
    assert_eq!(small.get("/rest/api/user/list").await.json["limit"], 10);
}

#[tokio::test]
async fn context_path_prefixes_every_route_but_not_next_links() {
    let site = site_with(EmulatorConfig { context_path: "confluence/".into(), ..EmulatorConfig::default() }).await;
    assert!(site.emulator.base_url().ends_with("/confluence"));
    site.emulator.seed_users((0..3).map(|i| SeedUser::new(format!("u{i}"), "U", "u@x.org")));
    let page = site.get("/rest/api/user/list?limit=2").await;
    assert_eq!(page.json["_links"]["context"], "/confluence");
    assert_eq!(page.json["_links"]["base"], site.emulator.base_url());
    assert_eq!(page.json["_links"]["next"], "/rest/api/user/list?limit=2&start=2");
    assert_eq!(site.collect("/rest/api/user/list?limit=2").await.len(), 5);
    assert_eq!(site.get("/_emulator/counters").await.status, 200);
    // Outside the context nothing answers.
    let outside = site.http.get(format!("http://{}/rest/api/group", site.emulator.local_addr())).send().await.unwrap();
    assert_eq!(outside.status(), 404);
}

#[tokio::test]
async fn large_directories_seed_quickly_and_page_deep() {
    let site = site().await;
    let users = site.emulator.seed_users(
        (0..100_000).map(|i| SeedUser::new(format!("user{i:06}"), format!("User {i}"), format!("user{i:06}@x.org"))),
    );
    assert_eq!(users, 100_000);
    let mut memberships = 0;
    for g in 0..5_000 {
        memberships += site
            .emulator
            .seed_group(&format!("group{g:04}"), (0..20).map(|m| format!("user{:06}", (g * 20 + m) % 100_000)));
    }
    assert_eq!(memberships, 100_000);

    let deep = site.get("/rest/api/user/list?start=99800&limit=200").await;
    assert_eq!(deep.json["size"], 200);
    assert_eq!(deep.json["results"][0]["username"], "user099798", "admin and mia sort first");
    assert!(deep.json["_links"]["next"].is_string());
    let groups = site.collect("/rest/api/group?limit=200").await;
    assert_eq!(groups.len(), 5_002);
    let members = site.collect("/rest/api/group/group4999/member").await;
    assert_eq!(names(&members, "username").first().map(String::as_str), Some("user099980"));
    let snapshot = site.emulator.snapshot();
    assert_eq!((snapshot.users.len(), snapshot.groups.len()), (100_002, 5_002));
}
