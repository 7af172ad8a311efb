//! The provisioning sequences of OneLogin, Okta and Entra (`idp-traffic.md` §1, §2, §3), as
//! each IdP sends them, ending in Confluence.

use serde_json::json;

use super::harness::{AppSpec, Stack};

const SETTINGS: &str = "username_regex = \"@.*$\"\non_the_fly = true\ndefault_groups_new = [\"confluence-users\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onelogin_create_update_group_suspend_delete() {
    let app = AppSpec { settings: SETTINGS, ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::start("onelogin", &[app]).await;

    // 1. Existence check, then create with the v2 template (quoted `active`, emails as an object).
    let (status, list) = s.scim("onelogin", "GET", "/Users?filter=userName+eq+%22ada%40example.com%22&", None).await;
    assert_eq!((status, list["totalResults"].as_u64()), (200, Some(0)));
    let template = |family: &str, active: &str| {
        json!({"schemas":["urn:scim:schemas:core:2.0","urn:scim:schemas:extension:enterprise:2.0"],"id":null,
            "userName":"ada@example.com","name":{"familyName":family,"givenName":"Ada"},
            "emails":{"value":"ada@example.com","type":"work","primary":true},"title":"Engineer","active":active,
            "urn:scim:schemas:extension:enterprise:2.0":{"department":"Engines"}})
    };
    let (status, created) = s.scim("onelogin", "POST", "/Users", Some(template("Lovelace", "true"))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    s.settle().await;
    let ada = s.user("ada").expect("ada is in Confluence");
    assert_eq!((ada.full_name.as_str(), ada.email.as_str(), ada.active), ("Ada Lovelace", "ada@example.com", true));
    assert_eq!(s.groups_of("ada"), ["confluence-users"]);

    // 2. Update: the whole template re-rendered, by PUT.
    let (status, _) = s.scim("onelogin", "PUT", &format!("/Users/{id}?"), Some(template("King", "true"))).await;
    assert_eq!(status, 200);
    s.settle().await;
    assert_eq!(s.user("ada").unwrap().full_name, "Ada King");

    // 3. A role becomes a group (POST /Groups), then membership by PATCH: created on the fly.
    let group = s.create_group("onelogin", "Analytical Engines", &[]).await;
    let add = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations":[{"op":"add","path":"members","value":[{"value": id}]}]});
    let (status, _) = s.scim("onelogin", "PATCH", &format!("/Groups/{group}"), Some(add)).await;
    assert!(status == 200 || status == 204, "{status}");
    s.settle().await;
    assert_eq!(s.groups_of("ada"), ["analytical engines", "confluence-users"]);

    // 4. Suspend: an update with active false (quoted, as a template may send it); then back.
    let (status, _) = s.scim("onelogin", "PUT", &format!("/Users/{id}"), Some(template("King", "false"))).await;
    assert_eq!(status, 200);
    s.settle().await;
    assert!(!s.user("ada").unwrap().active, "suspended in OneLogin: disabled in Confluence");
    let (status, _) = s.scim("onelogin", "PUT", &format!("/Users/{id}"), Some(template("King", "true"))).await;
    assert_eq!(status, 200);
    s.settle().await;
    assert!(s.user("ada").unwrap().active, "reactivated");

    // 5. Delete: the app's policy is the default, disable.
    let (status, _) = s.scim("onelogin", "DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    s.settle().await;
    let ada = s.user("ada").expect("kept, disabled");
    assert!(!ada.active);

    let c = s.emulator.counters();
    assert_eq!((c.users_created, c.users_updated, c.users_disabled, c.users_enabled), (1, 1, 2, 1), "{c:?}");
    assert_eq!((c.groups_created, c.members_added), (1, 1), "{c:?}");
    // Every decision and operation is in the audit log, with the module's hash.
    let audit = s.audit("onelogin");
    let applied: Vec<&str> = audit.iter().filter(|e| e.action == "confluence").map(|e| e.detail.as_str()).collect();
    assert!(applied.iter().any(|d| d.starts_with("create user ada")), "{applied:?}");
    assert!(audit
        .iter()
        .filter(|e| e.action == "confluence")
        .all(|e| e.module_hash.len() == 64 && e.outcome == "applied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onelogin_delete_policy_deletes() {
    let app = AppSpec { settings: SETTINGS, extra: "deprovision = \"delete\"", ..AppSpec::new("onelogin", "onelogin") };
    let s = Stack::start("onelogin-delete", &[app]).await;
    let id = s.create_user("onelogin", "grace@example.com", "Grace", "Hopper").await;
    s.settle().await;
    assert!(s.user("grace").is_some());
    let (status, _) = s.scim("onelogin", "DELETE", &format!("/Users/{id}"), None).await;
    assert_eq!(status, 204);
    s.settle().await;
    assert!(s.user("grace").is_none(), "deleted in Confluence");
    assert_eq!(s.emulator.counters().users_deleted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_create_push_groups_deactivate_reactivate() {
    let app = AppSpec { settings: SETTINGS, ..AppSpec::new("okta", "okta") };
    let s = Stack::start("okta", &[app]).await;
    let create = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"linus@example.com",
        "name":{"givenName":"Linus","familyName":"Torvalds"},"emails":[{"primary":true,"value":"linus@example.com","type":"work"}],
        "displayName":"Linus Torvalds","locale":"en-US","externalId":"00ujl29u0le5T6Aj10h7","groups":[],
        "password":"1mz050nq","active":true});
    let (status, created) = s.scim("okta", "POST", "/Users", Some(create.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // A duplicate create is a 409, and changes nothing in Confluence.
    let (status, _) = s.scim("okta", "POST", "/Users", Some(create)).await;
    assert_eq!(status, 409);
    // Group Push: create empty, then add, rename-with-membership, remove by filter.
    let (status, g) = s
        .scim(
            "okta",
            "POST",
            "/Groups",
            Some(
                json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Kernel","members":[]}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let gid = g["id"].as_str().unwrap().to_owned();
    let add = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"replace","value":{"id":gid,"displayName":"Kernel"}},
        {"op":"add","path":"members","value":[{"value":id,"display":"linus@example.com"}]}]});
    assert!(matches!(s.scim("okta", "PATCH", &format!("/Groups/{gid}"), Some(add)).await.0, 200 | 204));
    s.settle().await;
    assert_eq!(s.groups_of("linus"), ["confluence-users", "kernel"]);
    let remove = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"remove","path":format!("members[value eq \"{id}\"]")}]});
    assert!(matches!(s.scim("okta", "PATCH", &format!("/Groups/{gid}"), Some(remove)).await.0, 200 | 204));
    // Deactivate: a path-less replace with an object value.
    let deactivate = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]});
    assert_eq!(s.scim("okta", "PATCH", &format!("/Users/{id}"), Some(deactivate)).await.0, 200);
    s.settle().await;
    let linus = s.user("linus").unwrap();
    assert!(!linus.active);
    // Removed from the pushed group in Okta: the membership the app granted goes.
    assert_eq!(s.groups_of("linus"), ["confluence-users"]);
    assert_eq!(s.emulator.counters().members_removed, 1);
    let reactivate = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":true}}]});
    assert_eq!(s.scim("okta", "PATCH", &format!("/Users/{id}"), Some(reactivate)).await.0, 200);
    s.settle().await;
    assert!(s.user("linus").unwrap().active);
    let c = s.emulator.counters();
    assert_eq!((c.users_created, c.users_disabled, c.users_enabled, c.groups_created), (1, 1, 1, 1), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_create_update_members_disable_delete() {
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\nkeep_existing_groups = false",
        ..AppSpec::new("entra", "entra")
    };
    let s = Stack::start("entra", &[app]).await;
    let create = json!({"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "externalId":"0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef","userName":"Test_User_ab6490ee@contoso.com","active":true,
        "emails":[{"primary":true,"type":"work","value":"Test_User_fd0ea19b@contoso.com"}],
        "meta":{"resourceType":"User"},"name":{"formatted":"givenName familyName","familyName":"familyName","givenName":"givenName"},
        "roles":[]});
    let (status, created) = s.scim("entra", "POST", "/Users", Some(create)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    s.settle().await;
    let u = s.user("test_user_ab6490ee").expect("provisioned, lower-cased");
    assert_eq!(u.email, "test_user_fd0ea19b@contoso.com");
    // Update the work e-mail and family name through filtered paths, capitalised ops.
    let update = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
        {"op":"Replace","path":"emails[type eq \"work\"].value","value":"updatedEmail@microsoft.com"},
        {"op":"Replace","path":"name.familyName","value":"updatedFamilyName"}]});
    assert_eq!(s.scim("entra", "PATCH", &format!("/Users/{id}"), Some(update)).await.0, 200);
    // Group: create, Add Members, Remove Members by value.
    let gid = s.create_group("entra", "Contoso Sales", &[]).await;
    let add = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"members","value":[{"$ref":null,"value":id}]}]});
    assert!(matches!(s.scim("entra", "PATCH", &format!("/Groups/{gid}"), Some(add)).await.0, 200 | 204));
    s.settle().await;
    let u = s.user("test_user_ab6490ee").unwrap();
    assert_eq!((u.email.as_str(), u.full_name.as_str()), ("updatedemail@microsoft.com", "givenName familyName"));
    assert_eq!(s.groups_of("test_user_ab6490ee"), ["confluence-users", "contoso sales"]);
    let remove = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Remove","path":"members","value":[{"$ref":null,"value":id}]}]});
    assert!(matches!(s.scim("entra", "PATCH", &format!("/Groups/{gid}"), Some(remove)).await.0, 200 | 204));
    s.settle().await;
    // keep_existing_groups = false: leaving the IdP group leaves the Confluence group.
    assert_eq!(s.groups_of("test_user_ab6490ee"), ["confluence-users"]);
    // Disable: `active` as the string "False" (no aadOptscim062020 flag).
    let disable = json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]});
    assert_eq!(s.scim("entra", "PATCH", &format!("/Users/{id}"), Some(disable)).await.0, 200);
    s.settle().await;
    assert!(!s.user("test_user_ab6490ee").unwrap().active);
    assert_eq!(s.scim("entra", "DELETE", &format!("/Users/{id}"), None).await.0, 204);
    s.settle().await;
    assert!(!s.user("test_user_ab6490ee").unwrap().active, "the default policy disables");
    let c = s.emulator.counters();
    assert_eq!((c.users_created, c.members_added, c.members_removed), (1, 1, 1), "{c:?}");
}
