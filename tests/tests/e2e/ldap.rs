//! Directory apps against a real OpenLDAP slapd (memberof, refint, syncprov) and the
//! Confluence emulator: the full reconcile, changes followed by RFC 4533 content sync
//! (refreshAndPersist and refreshOnly), the deletion threshold and its approval, the
//! refusal to deprovision after a search that found nobody, restart-resume from the stored
//! cookie, an unreachable server, and Test Sync. Each asserts Confluence's final state.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use usersync_tests::emulator::{self, EmulatorConfig};
use usersync_tests::ldap_servers::{limited_account_ldif, slapd_available, Slapd, SLAPD_LIMITED_DN};

use crate::harness::{scratch, AppSpec, Stack};

const PEOPLE: &str = "ou=people,dc=example,dc=com";
const GROUPS: &str = "ou=groups,dc=example,dc=com";

/// Whether the slapd tests run: a missing slapd skips them outside CI and fails them in it.
fn slapd_here() -> bool {
    if slapd_available() {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "slapd is not installed; .ci/run installs it");
    eprintln!("slapd is not installed here: skipping (tests/ldap/install.sh installs it)");
    false
}

pub fn person_ldif(uid: &str, given: &str, sn: &str) -> String {
    format!(
        "dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {sn}\ngivenName: {given}\nsn: {sn}\nmail: {uid}@example.com\nuserPassword: pw-{uid}\n"
    )
}

fn group_ldif(cn: &str, members: &[&str]) -> String {
    let mut out = format!("dn: cn={cn},{GROUPS}\nobjectClass: groupOfNames\ncn: {cn}\n");
    for m in members {
        out.push_str(&format!("member: uid={m},{PEOPLE}\n"));
    }
    out
}

/// The app's `[apps.directory]` for `slapd`, with `more` keys.
fn directory_app(slapd: &Slapd, password_file: &std::path::Path, more: &str) -> AppSpec {
    let extra = format!(
        "\n[apps.directory]\nurls = [\"{}\"]\nbind_dn = \"{}\"\npassword_file = \"{}\"\nuser_base = \"{PEOPLE}\"\ngroup_base = \"{GROUPS}\"\n{more}\n",
        slapd.url(),
        slapd.admin_dn(),
        password_file.display()
    );
    AppSpec {
        name: "corp",
        kind: "ldap",
        settings: "on_the_fly = true\ndefault_groups_new = [\"confluence-users\"]\nkeep_existing_groups = false",
        extra: Box::leak(extra.into_boxed_str()),
    }
}

async fn stack(name: &str, slapd: &Slapd, more: &str) -> Stack {
    let emulator =
        emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().expect("addr")).await.expect("emulator");
    let dir = scratch(name);
    let password = dir.join("ldap-password");
    std::fs::write(&password, format!("{}\n", slapd.admin_password())).expect("password file");
    Stack::host(Arc::new(emulator), dir, "", &[directory_app(slapd, &password, more)]).await
}

/// Waits (up to 30 s) until `check` holds; fails naming `what`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn active(s: &Stack, username: &str) -> Option<bool> {
    s.user(username).map(|u| u.active)
}

async fn runs(s: &Stack) -> Vec<Value> {
    let (status, runs) = s.admin("GET", "/apps/corp/directory/runs?limit=100", None).await;
    assert_eq!(status, 200, "{runs}");
    runs.as_array().cloned().unwrap_or_default()
}

/// The first full reconcile provisions everyone with their groups; then each change in the
/// directory (add, modify, rename, membership, delete) reaches Confluence through the
/// persistent content-sync search within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_sync_then_each_change_follows_through_the_persistent_search() {
    if !slapd_here() {
        return;
    }
    let seed =
        [person_ldif("ada", "Ada", "Lovelace"), person_ldif("bob", "Bob", "Babbage"), person_ldif("cy", "Cy", "Young")]
            .join("\n");
    let slapd = Slapd::start(&seed).expect("slapd");
    // Groups after start, so the memberof overlay maintains memberOf.
    slapd.ldapadd(&group_ldif("engineers", &["ada", "bob"])).expect("group");
    slapd.ldapadd(&group_ldif("writers", &["cy"])).expect("group");
    let s = stack("ldap-follow", &slapd, "incremental_interval_secs = 1").await;

    eventually("the full reconcile provisions everyone", || async {
        ["ada", "bob", "cy"].iter().all(|u| active(&s, u) == Some(true))
    })
    .await;
    s.settle().await;
    assert_eq!(s.user("ada").expect("ada").email, "ada@example.com");
    assert_eq!(s.user("ada").expect("ada").full_name, "Ada Lovelace");
    let mut ada_groups = s.groups_of("ada");
    ada_groups.sort();
    assert_eq!(ada_groups, ["confluence-users", "engineers"]);
    assert_eq!(s.groups_of("cy").iter().filter(|g| *g == "writers").count(), 1);
    let status = s.admin("GET", "/apps/corp/directory", None).await.1;
    assert_eq!(status["strategy"], "syncrepl_persist", "{status}");
    eventually("the persistent search holds", || async {
        s.admin("GET", "/apps/corp/directory", None).await.1["persist_connected"] == true
    })
    .await;

    // Add a person straight into a group.
    slapd.ldapadd(&person_ldif("dee", "Dee", "Dale")).expect("add");
    slapd
        .ldapmodify(&format!("dn: cn=writers,{GROUPS}\nchangetype: modify\nadd: member\nmember: uid=dee,{PEOPLE}\n"))
        .expect("join");
    eventually("a new person arrives with their group", || async {
        active(&s, "dee") == Some(true) && s.groups_of("dee").contains(&"writers".to_owned())
    })
    .await;

    // Modify: a new e-mail address and surname.
    slapd
        .ldapmodify(&format!(
            "dn: uid=ada,{PEOPLE}\nchangetype: modify\nreplace: mail\nmail: ada@new.example.com\n-\nreplace: sn\nsn: King\n"
        ))
        .expect("modify");
    eventually("a modification arrives", || async {
        s.user("ada").is_some_and(|u| u.email == "ada@new.example.com" && u.full_name == "Ada King")
    })
    .await;

    // Membership: bob leaves engineers (the group entry changes; bob's does not).
    slapd
        .ldapmodify(&format!(
            "dn: cn=engineers,{GROUPS}\nchangetype: modify\ndelete: member\nmember: uid=bob,{PEOPLE}\n"
        ))
        .expect("leave");
    eventually("a membership removal arrives", || async { !s.groups_of("bob").contains(&"engineers".to_owned()) })
        .await;

    // Rename: cy becomes cyd (the entry keeps its entryUUID; the username follows uid).
    slapd.ldapmodrdn(&format!("uid=cy,{PEOPLE}"), "uid=cyd").expect("rename");
    eventually("a rename arrives", || async { active(&s, "cyd") == Some(true) }).await;

    // Delete: dee is deprovisioned (disabled, the default policy), and drops out of the
    // group she was in although the group entry's timestamps do not move.
    slapd.ldapdelete(&format!("uid=dee,{PEOPLE}")).expect("delete");
    eventually("a deletion arrives", || async { active(&s, "dee") == Some(false) }).await;
    s.settle().await;
    // The group she was in no longer lists her: derived from her deletion, since the group
    // entry itself did not change.
    let (_, writers) = s.scim("corp", "GET", "/Groups?filter=displayName%20eq%20%22writers%22", None).await;
    let members = writers["Resources"][0]["members"].as_array().cloned().unwrap_or_default();
    assert_eq!(members.len(), 1, "only cyd is left in writers: {writers}");

    // The server restarts: the persistent search drops, polling covers the gap, and the
    // search is opened again; a change made after the restart still arrives.
    let mut slapd = slapd;
    slapd.restart().expect("restart slapd");
    slapd.ldapadd(&person_ldif("eve", "Eve", "Evans")).expect("add after the restart");
    eventually("a change after the server's restart arrives", || async { active(&s, "eve") == Some(true) }).await;
    eventually("the persistent search holds again", || async {
        s.admin("GET", "/apps/corp/directory", None).await.1["persist_connected"] == true
    })
    .await;
    slapd
        .ldapmodify(&format!("dn: uid=eve,{PEOPLE}\nchangetype: modify\nreplace: mail\nmail: eve@again.example.com\n"))
        .expect("modify");
    eventually("and changes flow through it", || async {
        s.user("eve").is_some_and(|u| u.email == "eve@again.example.com")
    })
    .await;
    s.settle().await;

    let reports = runs(&s).await;
    assert!(reports.iter().any(|r| r["kind"] == "full" && r["status"] == "succeeded"), "{reports:?}");
    assert!(reports.iter().any(|r| r["kind"] == "incremental"), "{reports:?}");
    s.assert_no_create_twice();
    // The audit trail names the directory person's decisions like a SCIM person's.
    assert!(s.audit("corp").iter().any(|e| e.action == "create" && e.outcome == "provision"));
}

/// A full reconcile that would deprovision more people than the threshold applies nothing
/// and waits; approved through the admin API, it goes ahead. A reconcile that finds no
/// people at all deprovisions nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deletion_threshold_stops_a_run_until_it_is_approved() {
    if !slapd_here() {
        return;
    }
    let names: Vec<String> = (0..12).map(|i| format!("p{i:02}")).collect();
    let seed: Vec<String> = names.iter().map(|n| person_ldif(n, "P", n)).collect();
    let slapd = Slapd::start(&seed.join("\n")).expect("slapd");
    let more = "strategy = \"full\"\nincremental_interval_secs = 3600\ndeletion_threshold_count = 2\ndeletion_threshold_percent = 0";
    let s = stack("ldap-threshold", &slapd, more).await;
    eventually("everyone is provisioned", || async { names.iter().all(|n| active(&s, n) == Some(true)) }).await;
    s.settle().await;

    for n in &names[..5] {
        slapd.ldapdelete(&format!("uid={n},{PEOPLE}")).expect("delete");
    }
    let (status, body) = s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    assert_eq!(status, 202, "{body}");
    eventually("the run waits for approval", || async {
        runs(&s).await.iter().any(|r| r["status"] == "awaiting_approval")
    })
    .await;
    let pending = runs(&s).await.into_iter().find(|r| r["status"] == "awaiting_approval").expect("pending run");
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.settle().await;
    assert!(names[..5].iter().all(|n| active(&s, n) == Some(true)), "nothing is deprovisioned before approval");
    let id = pending["id"].as_i64().expect("run id");
    let (_, detail) = s.admin("GET", &format!("/apps/corp/directory/runs/{id}"), None).await;
    assert_eq!(detail["report"]["deleted"].as_array().map(Vec::len), Some(5), "{detail}");

    // A restart keeps the run waiting: the approval still goes ahead afterwards.
    let emulator = s.emulator.clone();
    let dir = s.dir.clone();
    drop(s);
    let password = dir.join("ldap-password");
    let s = Stack::host(emulator, dir, "", &[directory_app(&slapd, &password, more)]).await;
    eventually("the restarted runner still waits", || async {
        s.admin("GET", "/apps/corp/directory", None).await.1["awaiting_approval"] == json!(id)
    })
    .await;
    let (status, body) = s.admin("POST", &format!("/apps/corp/directory/runs/{id}/approve"), None).await;
    assert_eq!(status, 200, "{body}");
    eventually("the approved run deprovisions the five", || async {
        names[..5].iter().all(|n| active(&s, n) == Some(false))
    })
    .await;
    s.settle().await;
    assert!(names[5..].iter().all(|n| active(&s, n) == Some(true)));

    // Everyone left disappears from the search base: an empty answer deprovisions nobody.
    for n in &names[5..] {
        slapd.ldapdelete(&format!("uid={n},{PEOPLE}")).expect("delete");
    }
    s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    eventually("the empty run is refused", || async {
        runs(&s)
            .await
            .iter()
            .any(|r| r["status"] == "failed" && r["summary"].as_str().is_some_and(|t| t.contains("returned no people")))
    })
    .await;
    s.settle().await;
    assert!(names[5..].iter().all(|n| active(&s, n) == Some(true)), "an empty search deprovisions nobody");
    s.assert_no_write_twice();
}

/// With refreshOnly polling, a restart resumes from the stored cookie: the change made while
/// UserSync was down arrives, and no second full reconcile runs. A server that is down
/// fails the runs (reported) and changes nothing; once back, the changes go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_resumes_from_the_stored_cookie_and_an_outage_changes_nothing() {
    if !slapd_here() {
        return;
    }
    let mut slapd = Slapd::start(&person_ldif("ada", "Ada", "Lovelace")).expect("slapd");
    let more = "strategy = \"syncrepl\"\nincremental_interval_secs = 1";
    let s = stack("ldap-resume", &slapd, more).await;
    eventually("ada is provisioned", || async { active(&s, "ada") == Some(true) }).await;
    // An incremental run stores the cookie.
    slapd.ldapadd(&person_ldif("bob", "Bob", "Babbage")).expect("add");
    eventually("bob is provisioned", || async { active(&s, "bob") == Some(true) }).await;
    s.settle().await;
    let emulator = s.emulator.clone();
    let dir = s.dir.clone();
    drop(s);

    slapd.ldapadd(&person_ldif("cy", "Cy", "Young")).expect("add while down");
    let password = dir.join("ldap-password");
    let s = Stack::host(emulator, dir, "", &[directory_app(&slapd, &password, more)]).await;
    eventually("the change made while down arrives", || async { active(&s, "cy") == Some(true) }).await;
    let full = runs(&s).await.iter().filter(|r| r["kind"] == "full").count();
    assert_eq!(full, 1, "the restart resumed instead of reconciling again");

    // The server goes away: runs fail, with the cause, and nothing changes.
    slapd.stop().expect("stop slapd");
    eventually("a failed run names the cause", || async {
        runs(&s).await.iter().any(|r| {
            r["status"] == "failed" && r["summary"].as_str().is_some_and(|t| t.contains("cannot reach the directory"))
        })
    })
    .await;
    assert!(["ada", "bob", "cy"].iter().all(|u| active(&s, u) == Some(true)));
    slapd.start_again().expect("slapd back");
    slapd.ldapadd(&person_ldif("dee", "Dee", "Dale")).expect("add after the outage");
    eventually("changes go on after the outage", || async { active(&s, "dee") == Some(true) }).await;
    s.settle().await;
    assert!(["ada", "bob", "cy"].iter().all(|u| active(&s, u) == Some(true)));
    s.assert_no_write_twice();
}

/// Test Sync through the admin API: the person's attributes, groups and the rules'
/// decisions, nothing stored; Test connection and Test authentication, and a bad password
/// named as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn test_sync_shows_attributes_groups_and_decisions_and_changes_nothing() {
    if !slapd_here() {
        return;
    }
    let slapd = Slapd::start(&person_ldif("ada", "Ada", "Lovelace")).expect("slapd");
    slapd.ldapadd(&group_ldif("engineers", &["ada"])).expect("group");
    // Full reconciles only, an hour apart: the first one runs at start; nothing else does.
    let s = stack("ldap-test-sync", &slapd, "strategy = \"full\"\nincremental_interval_secs = 3600").await;
    eventually("the first reconcile ran", || async { !runs(&s).await.is_empty() }).await;
    slapd.ldapadd(&person_ldif("new", "New", "Person")).expect("add");

    let (status, t) = s.admin("POST", "/apps/corp/directory/test", Some(json!({"user": "new"}))).await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["dn"], format!("uid=new,{PEOPLE}"));
    assert_eq!(t["attributes"]["mail"][0], "new@example.com");
    assert!(t["attributes"]["entryUUID"][0].as_str().is_some_and(|u| u.len() == 36), "{t}");
    assert_eq!(t["decisions"]["username"], "new", "{t}");
    assert_eq!(t["decisions"]["full_name"], "New Person");
    let (_, t) = s.admin("POST", "/apps/corp/directory/test", Some(json!({"user": "ada"}))).await;
    assert_eq!(t["groups"][0]["name"], "engineers", "{t}");
    assert!(t["decisions"]["groups"].as_array().is_some_and(|g| g.contains(&json!("engineers"))), "{t}");
    // A value with filter metacharacters is escaped, not interpreted.
    let (status, t) = s.admin("POST", "/apps/corp/directory/test", Some(json!({"user": "*"}))).await;
    assert_eq!(status, 400, "{t}");
    assert!(t["detail"].as_str().is_some_and(|d| d.contains("no person with uid=*")), "{t}");
    // Nothing stored: "new" is not in Confluence.
    s.settle().await;
    assert!(s.user("new").is_none());

    // The CLI's Test Sync, in its own process's way (the module loaded there), and its run list.
    let config = usersync::config::Config::load(&s.dir.join("usersync.toml")).expect("config");
    let cli = config.clone();
    let t = tokio::task::spawn_blocking(move || usersync::cli::ldap::test(&cli, "corp", "ada")).await.expect("task");
    let t = serde_json::to_value(t.expect("usersync ldap test")).expect("json");
    assert_eq!(t["decisions"]["username"], "ada", "{t}");
    assert_eq!(t["groups"][0]["dn"], format!("cn=engineers,{GROUPS}"), "{t}");
    let listed = usersync::cli::ldap::runs(&config, "corp", None, 10).expect("usersync ldap runs");
    assert!(listed.contains("full") && listed.contains("succeeded"), "{listed}");

    let (status, c) = s.admin("POST", "/apps/corp/directory/test-connection", None).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["strategy"], "syncrepl_persist");
    assert!(c["naming_contexts"].as_array().is_some_and(|n| n.contains(&json!("dc=example,dc=com"))), "{c}");
    let (status, a) = s.admin("POST", "/apps/corp/directory/test-auth", None).await;
    assert_eq!(status, 200, "{a}");

    // A wrong password: the bind's refusal, named.
    std::fs::write(s.dir.join("ldap-password"), "wrong\n").expect("password");
    let emulator = s.emulator.clone();
    let dir = s.dir.clone();
    drop(s);
    let password = dir.join("ldap-password");
    let app = directory_app(&slapd, &password, "strategy = \"full\"\nincremental_interval_secs = 3600");
    let s = Stack::host(emulator, dir, "", &[app]).await;
    let (status, a) = s.admin("POST", "/apps/corp/directory/test-auth", None).await;
    assert_eq!(status, 400, "{a}");
    assert!(a["detail"].as_str().is_some_and(|d| d.contains("bind refused: invalid credentials")), "{a}");
}

/// A directory app takes no SCIM writes: its people come from the directory.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_directory_app_refuses_scim_writes() {
    if !slapd_here() {
        return;
    }
    let slapd = Slapd::start(&person_ldif("ada", "Ada", "Lovelace")).expect("slapd");
    let s = stack("ldap-no-scim", &slapd, "strategy = \"full\"\nincremental_interval_secs = 3600").await;
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "mallory"});
    let (status, error) = s.scim("corp", "POST", "/Users", Some(body)).await;
    assert_eq!(status, 403, "{error}");
    assert!(error["detail"].as_str().is_some_and(|d| d.contains("LDAP directory")), "{error}");
}

/// A directory app made through the admin API: its bind password is stored write-only
/// (never in its definition), and once set, the app syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_directory_app_made_through_the_admin_api_syncs_with_its_stored_password() {
    if !slapd_here() {
        return;
    }
    let slapd = Slapd::start(&person_ldif("ada", "Ada", "Lovelace")).expect("slapd");
    let s = Stack::start("ldap-admin-api", &[AppSpec::new("onelogin", "onelogin")]).await;
    let app = json!({"name": "dir", "kind": "ldap",
        "settings": {"on_the_fly": true},
        "directory": {"urls": [slapd.url()], "bind_dn": slapd.admin_dn(), "user_base": PEOPLE, "group_base": GROUPS,
                      "strategy": "syncrepl", "incremental_interval_secs": 1}});
    let (status, created) = s.admin("POST", "/apps", Some(json!({"app": app, "moduleFrom": "onelogin"}))).await;
    assert_eq!(status, 201, "{created}");
    // Without a password the bind is refused, and named so.
    let (status, a) = s.admin("POST", "/apps/dir/directory/test-auth", None).await;
    assert_eq!(status, 400, "{a}");
    assert!(a["detail"].as_str().is_some_and(|d| d.contains("no password")), "{a}");
    let (status, body) =
        s.admin("PUT", "/apps/dir/directory/password", Some(json!({"password": slapd.admin_password()}))).await;
    assert_eq!(status, 200, "{body}");
    eventually("the app syncs with its stored password", || async { active(&s, "ada") == Some(true) }).await;
    let (_, def) = s.admin("GET", "/apps/dir", None).await;
    assert!(!def.to_string().contains(slapd.admin_password()), "the password is never shown: {def}");
    slapd.ldapadd(&person_ldif("bob", "Bob", "Babbage")).expect("add");
    eventually("changes follow", || async { active(&s, "bob") == Some(true) }).await;
    // Removing the app stops its runner: a later change is not applied.
    let (_, def) = s.admin("GET", "/apps/dir", None).await;
    let version = def["version"].as_u64().expect("version");
    let url = format!("{}/admin/v1/apps/dir", s.url);
    let token = &s.tokens[usersync::http::admin::ADMIN];
    let removed = s
        .http
        .delete(url)
        .bearer_auth(token)
        .header("if-match", format!("\"{version}\""))
        .send()
        .await
        .expect("delete");
    assert_eq!(removed.status().as_u16(), 204);
    slapd.ldapadd(&person_ldif("cy", "Cy", "Young")).expect("add");
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.settle().await;
    assert!(s.user("cy").is_none(), "a removed app's runner stopped");
}

/// What a run cannot take is reported and changes nothing: an entry without a username is
/// skipped with its reason, a referral is not chased (a warning), and a search that fails
/// (a group base that does not exist) fails the whole run, deprovisions nobody, and shows
/// in the health view.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_entries_referrals_and_failed_searches_are_reported_and_change_nothing() {
    if !slapd_here() {
        return;
    }
    let seed = [
        person_ldif("ada", "Ada", "Lovelace"),
        person_ldif("bob", "Bob", "Babbage"),
        format!("dn: cn=nameless,{PEOPLE}\nobjectClass: inetOrgPerson\ncn: nameless\nsn: Nameless\n"),
        format!(
            "dn: ou=elsewhere,{PEOPLE}\nobjectClass: referral\nobjectClass: extensibleObject\nou: elsewhere\nref: ldap://other.example.org/ou=people,dc=other\n"
        ),
    ]
    .join("\n");
    let slapd = Slapd::start(&seed).expect("slapd");
    let more = "strategy = \"full\"\nincremental_interval_secs = 3600";
    let s = stack("ldap-faults", &slapd, more).await;
    eventually("the first run provisions ada and bob", || async {
        active(&s, "ada") == Some(true) && active(&s, "bob") == Some(true)
    })
    .await;
    let first = runs(&s).await.into_iter().next().expect("a run");
    let (_, detail) = s.admin("GET", &format!("/apps/corp/directory/runs/{}", first["id"]), None).await;
    let report = &detail["report"];
    assert!(
        report["skipped"]
            .as_array()
            .is_some_and(|k| k.iter().any(|i| i["reason"].as_str().is_some_and(|r| r.contains("no uid")))),
        "{report}"
    );
    assert!(
        report["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().any(|x| x.as_str().is_some_and(|t| t.contains("referral not chased")))),
        "{report}"
    );

    // The group base disappears from the config (a typo, say); bob leaves the directory.
    slapd.ldapdelete(&format!("uid=bob,{PEOPLE}")).expect("delete");
    let emulator = s.emulator.clone();
    let dir = s.dir.clone();
    drop(s);
    let password = dir.join("ldap-password");
    let mut app = directory_app(&slapd, &password, more);
    app.extra = Box::leak(app.extra.replace(GROUPS, "ou=missing,dc=example,dc=com").into_boxed_str());
    let s = Stack::host(emulator, dir, "", &[app]).await;
    s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    eventually("the failed search fails the run", || async {
        runs(&s)
            .await
            .iter()
            .any(|r| r["status"] == "failed" && r["summary"].as_str().is_some_and(|t| t.contains("no such object")))
    })
    .await;
    s.settle().await;
    assert_eq!(active(&s, "bob"), Some(true), "nothing is deprovisioned after a failed search");
    s.assert_no_write_twice();
    let health = s.health().await;
    assert_eq!(health["status"], "degraded", "{health}");
    let corp = &health["directories"][0];
    assert!(corp["lastError"].as_str().is_some_and(|e| e.contains("no such object")), "{health}");
}

/// The last-resort strategy: `modifyTimestamp` polled. Additions and modifications arrive;
/// deletions wait for the full reconcile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn modify_timestamp_polling_follows_changes_and_the_full_reconcile_finds_deletions() {
    if !slapd_here() {
        return;
    }
    let slapd = Slapd::start(&[person_ldif("ada", "Ada", "Lovelace"), person_ldif("bob", "Bob", "Babbage")].join("\n"))
        .expect("slapd");
    let s = stack("ldap-timestamp", &slapd, "strategy = \"timestamp\"\nincremental_interval_secs = 1").await;
    eventually("the first reconcile", || async { active(&s, "bob") == Some(true) }).await;
    slapd.ldapadd(&person_ldif("cy", "Cy", "Young")).expect("add");
    slapd
        .ldapmodify(&format!("dn: uid=ada,{PEOPLE}\nchangetype: modify\nreplace: mail\nmail: ada@polled.example.com\n"))
        .expect("modify");
    eventually("an addition and a modification arrive", || async {
        active(&s, "cy") == Some(true) && s.user("ada").is_some_and(|u| u.email == "ada@polled.example.com")
    })
    .await;
    slapd.ldapdelete(&format!("uid=bob,{PEOPLE}")).expect("delete");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(active(&s, "bob"), Some(true), "timestamps cannot see a deletion");
    s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    eventually("the full reconcile deprovisions bob", || async { active(&s, "bob") == Some(false) }).await;
    let reports = runs(&s).await;
    assert!(reports.iter().any(|r| r["kind"] == "incremental" && r["status"] == "succeeded"), "{reports:?}");
}

/// A connection that drops in the middle of a search (a proxy that cuts the server's answer
/// short): the run fails, names the cause, and changes nothing; through the whole answer,
/// the next run goes ahead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_dropped_mid_search_fails_the_run_and_changes_nothing() {
    if !slapd_here() {
        return;
    }
    let names: Vec<String> = (0..200).map(|i| format!("m{i:03}")).collect();
    let seed: Vec<String> = names.iter().map(|n| person_ldif(n, "M", n)).collect();
    let slapd = Slapd::start(&seed.join("\n")).expect("slapd");
    // The proxy forwards everything until `cut` holds, then closes each connection after
    // the server's first 4 KiB (past the bind, inside the listing).
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let proxy = listener.local_addr().expect("addr");
    let upstream = format!("127.0.0.1:{}", slapd.port());
    let cutting = cut.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let cutting = cutting.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    let mut sent = 0usize;
                    let mut buf = [0u8; 1024];
                    loop {
                        let n = sr.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            break;
                        }
                        if cutting.load(std::sync::atomic::Ordering::SeqCst) && sent + n > 4096 {
                            break;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        sent += n;
                    }
                };
                tokio::select! { _ = up => {}, () = down => {} }
            });
        }
    });
    let more = "strategy = \"full\"\nincremental_interval_secs = 3600";
    let emulator =
        emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().expect("addr")).await.expect("emulator");
    let dir = scratch("ldap-dropped");
    let password = dir.join("ldap-password");
    std::fs::write(&password, format!("{}\n", slapd.admin_password())).expect("password file");
    let mut app = directory_app(&slapd, &password, more);
    app.extra = Box::leak(app.extra.replace(&slapd.url(), &format!("ldap://{proxy}")).into_boxed_str());
    let s = Stack::host(Arc::new(emulator), dir, "", &[app]).await;
    eventually("everyone is provisioned", || async { names.iter().all(|n| active(&s, n) == Some(true)) }).await;
    s.settle().await;

    // Half of them leave the directory, but the next listing is cut short.
    for n in &names[..100] {
        slapd.ldapdelete(&format!("uid={n},{PEOPLE}")).expect("delete");
    }
    cut.store(true, std::sync::atomic::Ordering::SeqCst);
    s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    eventually("the cut run fails", || async {
        runs(&s)
            .await
            .iter()
            .any(|r| r["status"] == "failed" && r["summary"].as_str().is_some_and(|t| t.contains("dropped")))
    })
    .await;
    s.settle().await;
    assert!(names.iter().all(|n| active(&s, n) == Some(true)), "nothing is deprovisioned after a cut-short search");
    s.assert_no_write_twice();
}

/// Memberships read from `memberOf` (the memberof overlay) and from `groupOfUniqueNames`'
/// `uniqueMember` (its optional `#'…'B` suffix ignored) reach Confluence like `member`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn member_of_and_unique_member_memberships() {
    if !slapd_here() {
        return;
    }
    let slapd = Slapd::start(&[person_ldif("ada", "Ada", "Lovelace"), person_ldif("bob", "Bob", "Babbage")].join("\n"))
        .expect("slapd");
    // groupOfNames (the memberof overlay writes memberOf on ada) and groupOfUniqueNames.
    slapd.ldapadd(&group_ldif("analysts", &["ada"])).expect("group");
    slapd
        .ldapadd(&format!(
            "dn: cn=reviewers,{GROUPS}\nobjectClass: groupOfUniqueNames\ncn: reviewers\nuniqueMember: uid=bob,{PEOPLE}#'0101'B\n"
        ))
        .expect("unique group");
    let s = stack(
        "ldap-member-of",
        &slapd,
        "strategy = \"full\"\nincremental_interval_secs = 3600\nmembership = \"memberOf\"",
    )
    .await;
    eventually("memberOf gives ada her group", || async { s.groups_of("ada").contains(&"analysts".to_owned()) }).await;
    drop(s);
    let s = stack(
        "ldap-unique-member",
        &slapd,
        "strategy = \"full\"\nincremental_interval_secs = 3600\nmembership = \"uniqueMember\"",
    )
    .await;
    eventually("uniqueMember gives bob his group", || async { s.groups_of("bob").contains(&"reviewers".to_owned()) })
        .await;
}

/// A bind DN whose searches the server cuts at a size limit: the run fails with the limit
/// named, and nobody is deprovisioned although the listing came back short.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_size_limit_fails_the_run_and_changes_nothing() {
    if !slapd_here() {
        return;
    }
    let names: Vec<String> = (0..12).map(|i| format!("s{i:02}")).collect();
    let seed: Vec<String> = names.iter().map(|n| person_ldif(n, "S", n)).collect();
    let slapd = Slapd::start(&seed.join("\n")).expect("slapd");
    slapd.ldapadd(&limited_account_ldif("limited-pw")).expect("limited account");
    let more = "strategy = \"full\"\nincremental_interval_secs = 3600";
    let s = stack("ldap-size-limit", &slapd, more).await;
    eventually("everyone is provisioned", || async { names.iter().all(|n| active(&s, n) == Some(true)) }).await;
    s.settle().await;
    slapd.ldapdelete(&format!("uid={},{PEOPLE}", names[0])).expect("delete");

    // The same app, now binding as an account the server cuts at 5 entries.
    let emulator = s.emulator.clone();
    let dir = s.dir.clone();
    drop(s);
    let password = dir.join("ldap-password");
    std::fs::write(&password, "limited-pw\n").expect("password");
    let mut app = directory_app(&slapd, &password, more);
    app.extra = Box::leak(app.extra.replace(slapd.admin_dn(), SLAPD_LIMITED_DN).into_boxed_str());
    let s = Stack::host(emulator, dir, "", &[app]).await;
    s.admin("POST", "/apps/corp/directory/sync", Some(json!({"full": true}))).await;
    eventually("the limited run fails", || async {
        runs(&s)
            .await
            .iter()
            .any(|r| r["status"] == "failed" && r["summary"].as_str().is_some_and(|t| t.contains("limit exceeded")))
    })
    .await;
    s.settle().await;
    assert!(names.iter().all(|n| active(&s, n) == Some(true)), "a search cut short deprovisions nobody");
    s.assert_no_write_twice();
}
