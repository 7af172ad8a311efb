//! Version gating (reference §9.1) and the applinks manifest used to detect the version.

use reqwest::Method;
use serde_json::json;

use super::{site, site_with, Site, Who, MEMBER};
use crate::emulator::{ConfluenceVersion, EmulatorConfig};

async fn at(version: &str) -> Site {
    site_with(EmulatorConfig { version: version.parse().unwrap(), ..EmulatorConfig::default() }).await
}

/// Status of each gated route, in a fixed order.
async fn gated_statuses(site: &Site) -> Vec<u16> {
    let create = json!({"userName": "new", "fullName": "N", "email": "n@x.org", "password": "p"});
    vec![
        site.put("/rest/api/admin/user/mia/disable").await.status,
        site.post("/rest/api/admin/group", json!({"name": "g"})).await.status,
        site.put("/rest/api/user/mia/group/g").await.status,
        site.post("/rest/api/admin/user", create).await.status,
        site.get("/rest/api/user/list").await.status,
        site.get("/rest/api/admin/users/list/active").await.status,
        site.put_json("/rest/api/admin/user/mia", json!({"fullName": "M"})).await.status,
    ]
}

#[tokio::test]
async fn routes_appear_with_their_versions() {
    assert_eq!(gated_statuses(&at("8.1.4").await).await, [404, 404, 404, 404, 404, 404, 404]);
    // Before the update route, its path exists for DELETE only: 405, as Jersey answers.
    assert_eq!(gated_statuses(&at("8.2.0").await).await, [204, 201, 204, 404, 404, 404, 405]);
    assert_eq!(gated_statuses(&at("8.4").await).await, [204, 201, 204, 201, 200, 404, 405]);
    assert_eq!(gated_statuses(&site().await).await, [204, 201, 204, 201, 200, 404, 204], "9.2.1");
    assert_eq!(gated_statuses(&at("9.3.0").await).await, [204, 201, 204, 201, 200, 200, 204]);
    assert_eq!(gated_statuses(&at("10.2.1").await).await, [204, 201, 204, 201, 200, 200, 204]);

    // Reads exist everywhere.
    let old = at("7.19.0").await;
    assert_eq!(old.get("/rest/api/user?username=mia").await.status, 200);
    assert_eq!(old.get("/rest/api/group").await.status, 200);
    assert_eq!(old.delete("/rest/api/admin/user/mia").await.status, 404);
    assert_eq!(old.get("/rest/api/group/confluence-users/groupmember").await.status, 404);
}

#[tokio::test]
async fn uncertain_routes_follow_their_settings() {
    let config = EmulatorConfig {
        version: ConfluenceVersion::new(8, 2, 0),
        membership_since: ConfluenceVersion::new(8, 4, 0),
        ..EmulatorConfig::default()
    };
    let site = site_with(config).await;
    assert_eq!(site.put("/rest/api/user/mia/group/confluence-users").await.status, 404);

    let config = EmulatorConfig { update_user_since: None, ..EmulatorConfig::default() };
    let site = site_with(config).await;
    // The path exists for DELETE, so PUT is a method the resource lacks.
    assert_eq!(site.put_json("/rest/api/admin/user/mia", json!({"fullName": "M"})).await.status, 405);
    assert_eq!(site.delete("/rest/api/admin/user/mia").await.status, 202);
}

#[tokio::test]
async fn active_user_list_has_emails_and_only_active_users() {
    let site = at("9.3.0").await;
    let member = Who::Basic(MEMBER.0, MEMBER.1);
    assert_eq!(site.call(member, Method::GET, "/rest/api/admin/users/list/active", None).await.status, 403);
    assert_eq!(site.put("/rest/api/admin/user/mia/disable").await.status, 204);
    let page = site.get("/rest/api/admin/users/list/active").await;
    let results = page.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(
        (results[0]["username"].as_str(), results[0]["email"].as_str()),
        (Some("admin"), Some("admin@example.com"))
    );
}

#[tokio::test]
async fn manifest_reports_the_version_without_authentication() {
    let site = at("8.5.3").await;
    let reply = site.call(Who::Anonymous, Method::GET, "/rest/applinks/1.0/manifest", None).await;
    assert_eq!(reply.status, 200);
    let manifest = &reply.json;
    assert_eq!(manifest["version"], "8.5.3");
    assert_eq!(manifest["typeId"], "confluence");
    assert_eq!(manifest["name"], "Confluence");
    assert_eq!(manifest["buildNumber"], 9012);
    assert_eq!(manifest["applinksVersion"], "9.0.0");
    assert_eq!(manifest["url"], site.emulator.base_url());
    assert_eq!(manifest["id"].as_str().unwrap().len(), 36);
    let xml = site.http.get(site.url("/rest/applinks/1.0/manifest")).header("accept", "application/xml").send().await;
    let xml = xml.unwrap().text().await.unwrap();
    assert!(xml.contains("<version>8.5.3</version>"), "{xml}");
}
