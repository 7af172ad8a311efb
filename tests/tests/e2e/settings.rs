//! The standard rules' group settings end to end (manual mapping, on the fly, default
//! groups), and several apps at once without interference.

use super::harness::{AppSpec, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_mapping_on_the_fly_and_default_groups() {
    let mapped = AppSpec {
        settings: "username_regex = \"@.*$\"\nimport_only_mapped_groups = true\ndefault_groups_new = [\"newcomers\"]\n\
                   default_groups_all = [\"staff\"]\n[apps.settings.group_mapping]\nEngineering = \"confluence-engineers\"",
        ..AppSpec::new("mapped", "okta")
    };
    let fly = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\non_the_fly_exclude = \"^Everyone$\"\n\
                   on_the_fly_rewrite_regex = \"^AD-\"",
        ..AppSpec::new("fly", "entra")
    };
    let s = Stack::start("settings", &[mapped, fly]).await;
    for g in ["confluence-engineers", "newcomers", "staff"] {
        s.emulator.seed_group(g, Vec::<String>::new());
    }
    // Mapped app: Engineering maps, Marketing is not imported; defaults added.
    let ann = s.create_user("mapped", "ann@example.com", "Ann", "Mapped").await;
    s.create_group("mapped", "Engineering", &[&ann]).await;
    s.create_group("mapped", "Marketing", &[&ann]).await;
    // On-the-fly app: AD-Writers becomes "writers", Everyone is excluded.
    let bo = s.create_user("fly", "bo@example.com", "Bo", "Fly").await;
    s.create_group("fly", "AD-Writers", &[&bo]).await;
    s.create_group("fly", "Everyone", &[&bo]).await;
    s.settle().await;
    assert_eq!(s.groups_of("ann"), ["confluence-engineers", "confluence-users", "newcomers", "staff"]);
    assert_eq!(s.groups_of("bo"), ["confluence-users", "writers"]);
    let snapshot = s.emulator.snapshot();
    assert!(!snapshot.groups.contains_key("marketing") && !snapshot.groups.contains_key("everyone"));
    assert!(!snapshot.groups.contains_key("engineering"), "a mapped group is not created on the fly");

    // Apps do not see each other: one app's token is refused on the other's base URL.
    let url = format!("{}/scim/v2/fly/Users/{bo}", s.url);
    let refused = s.http.get(url).bearer_auth(&s.tokens["mapped"]).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    let (status, _) = s.scim("mapped", "GET", &format!("/Users/{bo}"), None).await;
    assert_eq!(status, 404, "an id of another app is unknown here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_stores_nothing() {
    // Confluence's licence is full: the create is refused with a SCIM 4xx and not stored.
    let config = usersync_tests::emulator::EmulatorConfig { licences: Some(1), ..Default::default() };
    let app = AppSpec { settings: "username_regex = \"@.*$\"", ..AppSpec::new("onelogin", "okta") };
    let s = Stack::start_with("licence", config, "", &[app]).await;
    let body = serde_json::json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"zed@example.com",
        "emails":[{"value":"zed@example.com","primary":true}],"displayName":"Zed"});
    let (status, error) = s.scim("onelogin", "POST", "/Users", Some(body)).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["detail"].as_str().unwrap().contains("create user zed"), "{error}");
    let (_, list) = s.scim("onelogin", "GET", "/Users", None).await;
    assert_eq!(list["totalResults"], 0, "nothing stored");
    assert!(s.user("zed").is_none());
    assert!(s.audit("onelogin").iter().any(|e| e.outcome == "failed"), "the refusal is audited");
}
