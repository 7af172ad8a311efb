//! The real Confluence client against the emulator, under each setting the reference marks
//! uncertain (group-create status, `status` form, post-delete lookup, the update endpoint's
//! availability, a context path and small pages), and on an 8.3 without user creation.

use std::time::Duration;

use usersync::confluence::{
    Auth, ConfluenceClient, ConfluenceError, ConfluenceSettings, ConfluenceUsername, CreateOutcome, GroupName, NewUser,
};
use usersync_tests::emulator::{
    self, ConfluenceVersion, DeletedUserLookup, EmulatorConfig, GroupCreateStatus, StatusForm,
};

fn user(name: &str) -> ConfluenceUsername {
    ConfluenceUsername::parse(name).unwrap()
}

fn group(name: &str) -> GroupName {
    GroupName::parse(name).unwrap()
}

async fn client_for(config: EmulatorConfig) -> (emulator::Emulator, ConfluenceClient) {
    let emu = emulator::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let auth = Auth::Basic { username: "admin".into(), password: "admin".into() };
    let client = ConfluenceClient::new(ConfluenceSettings::new(emu.base_url(), auth)).unwrap();
    (emu, client)
}

/// One full lifecycle through the client; asserts Confluence's state after each step.
async fn lifecycle(config: EmulatorConfig, update_available: bool) {
    let label = format!("{:?}/{:?}/{:?}", config.group_create_status, config.status_form, config.deleted_user_lookup);
    let (emu, client) = client_for(config).await;
    let info = client.probe().await.unwrap();
    assert_eq!(info.version.as_str(), "9.2.1", "{label}");
    let new = NewUser {
        username: user("ada"),
        full_name: "Ada".into(),
        email: "ada@example.com".into(),
        password: Some("Secret-123".into()),
    };
    assert!(matches!(client.create_user(&new).await.unwrap(), CreateOutcome::Created { .. }), "{label}");
    assert!(matches!(client.create_user(&new).await.unwrap(), CreateOutcome::AlreadyExists), "{label}");
    match client.update_user(&user("ada"), "Ada King", "ada@king.org").await {
        Ok(()) => {
            assert!(update_available, "{label}");
            let ada = &emu.snapshot().users["ada"];
            assert_eq!((ada.full_name.as_str(), ada.email.as_str()), ("Ada King", "ada@king.org"));
        }
        Err(ConfluenceError::Unsupported { .. }) => assert!(!update_available, "{label}"),
        Err(e) => panic!("{label}: {e}"),
    }
    client.set_active(&user("ada"), false).await.unwrap();
    client.set_active(&user("ada"), false).await.unwrap();
    let listed = client.list_users().await.unwrap();
    let ada = listed.iter().find(|u| u.username.as_str() == "ada").expect("listed");
    assert_eq!(ada.active, Some(false), "{label}: the status form is understood");
    client.set_active(&user("ada"), true).await.unwrap();
    for n in 0..5 {
        client.create_group(&group(&format!("team {n}"))).await.unwrap();
    }
    client.create_group(&group("team 0")).await.unwrap(); // 409: already as desired
    client.add_member(&user("ada"), &group("team 3")).await.unwrap();
    client.add_member(&user("ada"), &group("team 3")).await.unwrap();
    let groups = client.list_groups().await.unwrap();
    assert_eq!(groups.iter().filter(|g| g.as_str().starts_with("team ")).count(), 5, "{label}: every page read");
    assert_eq!(client.group_members(&group("team 3")).await.unwrap().len(), 1);
    client.remove_member(&user("ada"), &group("team 3")).await.unwrap();
    assert!(emu.snapshot().groups["team 3"].is_empty());
    client.delete_user(&user("ada")).await.unwrap();
    assert!(!emu.snapshot().users.contains_key("ada"), "{label}: deleted once the long task is done");
    assert!(client.get_user(&user("ada")).await.unwrap().is_none(), "{label}: gone, whichever way Confluence says it");
    client.delete_user(&user("ada")).await.unwrap(); // already gone: done
    let c = emu.counters();
    assert_eq!((c.users_created, c.users_deleted, c.groups_created, c.members_added), (1, 1, 5, 1), "{label}: {c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_works_under_every_uncertain_setting() {
    let small = |c: EmulatorConfig| EmulatorConfig { max_limit: 2, ..c };
    lifecycle(small(EmulatorConfig::default()), true).await;
    lifecycle(
        small(EmulatorConfig {
            group_create_status: GroupCreateStatus::Ok,
            status_form: StatusForm::Object,
            deleted_user_lookup: DeletedUserLookup::Unknown,
            delete_task_delay: Duration::from_millis(300),
            update_user_since: None,
            context_path: "/confluence".into(),
            ..EmulatorConfig::default()
        }),
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_confluence_says_what_it_cannot_do() {
    let (emu, client) =
        client_for(EmulatorConfig { version: ConfluenceVersion::new(8, 3, 0), ..Default::default() }).await;
    let info = client.probe().await.unwrap();
    assert!(info.limitations().iter().any(|l| l.contains("create")), "{:?}", info.limitations());
    let new = NewUser {
        username: user("bo"),
        full_name: "Bo".into(),
        email: "bo@example.com".into(),
        password: Some("Secret-123".into()),
    };
    let refused = client.create_user(&new).await.unwrap_err();
    assert!(matches!(refused, ConfluenceError::Unsupported { .. }), "{refused}");
    assert!(!refused.is_transient());
    assert_eq!(emu.counters().requests, 1, "only the version probe was sent");
}
