//! The console in headless Chromium (`tests/browser/console.mjs`, driven by npm's
//! `playwright-core`): log in; add a token to the OneLogin app, copy the URL and the token
//! and POST a user with them; find the person and see their custom fields; Synchronize, dry
//! run and then run; a forged post without the CSRF token is refused; a viewer changes
//! nothing. With slapd here (always under CI): add an LDAP app with the wizard, Test Sync
//! a person, read a run's report, and approve a run the deletion threshold stopped.
//!
//! Needs Node.js, Debian's `chromium` and `npm ci` in `tests/browser` (`.ci/run` sets all
//! three up). Without them the test fails under `CI`, and elsewhere says what is missing and
//! passes. `USERSYNC_SCREENSHOTS=docs/console` also writes a screenshot of every screen.

use std::path::Path;
use std::process::Command;

use super::harness::{AppSpec, Stack};
use usersync::admin::{create_account, Role};
use usersync::store::Database;
use usersync_tests::ldap_servers::{slapd_available, Slapd};

fn missing() -> Option<String> {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    if Command::new("node").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        return Some("node is not installed".into());
    }
    if !Path::new(&chromium()).exists() {
        return Some(format!("{} is missing (apt-get install chromium)", chromium()));
    }
    if !browser_dir.join("node_modules/playwright-core").exists() {
        return Some(format!("playwright-core is not installed (cd {} && npm ci)", browser_dir.display()));
    }
    None
}

/// A slapd with a few people in two groups, or `None` (outside CI) when slapd is missing.
fn directory_for_the_browser() -> Option<Slapd> {
    if !slapd_available() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "slapd is not installed; .ci/run installs it");
        eprintln!("slapd is not installed here: the browser test leaves out the directory screens");
        return None;
    }
    let people = [
        ("ada", "Ada", "Lovelace", "Analytical Engines"),
        ("grace", "Grace", "Hopper", "Compilers"),
        ("alan", "Alan", "Turing", "Computability"),
        ("edsger", "Edsger", "Dijkstra", "Algorithms"),
        ("barbara", "Barbara", "Liskov", "Abstraction"),
        ("katherine", "Katherine", "Johnson", "Orbital Mechanics"),
    ];
    let seed: Vec<String> = people
        .iter()
        .map(|(uid, given, sn, department)| {
            format!(
                "dn: uid={uid},ou=people,dc=example,dc=com\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {given} {sn}\n\
                 givenName: {given}\nsn: {sn}\nmail: {uid}@example.com\ndepartmentNumber: {department}\n\
                 title: Engineer\ntelephoneNumber: +44 20 7946 0{}\n",
                uid.len() * 111
            )
        })
        .collect();
    let slapd = Slapd::start(&seed.join("\n")).unwrap();
    for (cn, members) in [("engineers", ["ada", "grace", "alan"]), ("research", ["ada", "edsger", "barbara"])] {
        let mut ldif = format!("dn: cn={cn},ou=groups,dc=example,dc=com\nobjectClass: groupOfNames\ncn: {cn}\n");
        for m in members {
            ldif.push_str(&format!("member: uid={m},ou=people,dc=example,dc=com\n"));
        }
        slapd.ldapadd(&ldif).unwrap();
    }
    Some(slapd)
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    if let Some(why) = missing() {
        assert!(std::env::var_os("CI").is_none(), "the browser tests cannot run under CI: {why}");
        eprintln!("SKIPPED the browser tests: {why}");
        return;
    }
    let app = AppSpec {
        settings: "username_regex = \"@.*$\"\non_the_fly = true\ndefault_groups_new = [\"confluence-users\"]\n\
                   [apps.settings.custom_fields]\ndepartment = \"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department\"",
        ..AppSpec::new("onelogin", "onelogin")
    };
    let s = Stack::start("browser", &[app]).await;
    let db = Database::new(&s.dir.join("usersync.db"));
    let (admin_password, viewer_password) = ("browser admin password", "browser viewer password");
    create_account(&db, "root", admin_password, Role::Admin, false).await.unwrap();
    create_account(&db, "watcher", viewer_password, Role::Viewer, false).await.unwrap();
    // A second person, so Synchronize has someone to decide about before the browser adds one.
    s.create_user("onelogin", "ada@example.com", "Ada", "Lovelace").await;
    // The directory the browser connects an LDAP app to.
    let slapd = directory_for_the_browser();

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let screenshots = std::env::var("USERSYNC_SCREENSHOTS")
        .map(|d| {
            let d = workspace.join(d);
            std::fs::create_dir_all(&d).unwrap();
            d.display().to_string()
        })
        .unwrap_or_default();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/console.mjs");
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .env("USERSYNC_URL", &s.url)
        .env("ADMIN_PASSWORD", admin_password)
        .env("VIEWER_PASSWORD", viewer_password)
        .env("CHROMIUM", chromium())
        .env("SCREENSHOTS", &screenshots)
        .env("LDAP_URL", slapd.as_ref().map(Slapd::url).unwrap_or_default())
        .env("LDAP_BIND_DN", slapd.as_ref().map(Slapd::admin_dn).unwrap_or_default())
        .env("LDAP_PASSWORD", slapd.as_ref().map(Slapd::admin_password).unwrap_or_default())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(180), output)
        .await
        .expect("the browser tests finish within 3 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser tests failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("console browser tests passed"), "{stdout}");
    // What the browser did reached Confluence: Grace exists there, made by the copied token.
    s.settle().await;
    assert!(s.user("grace").is_some(), "the user posted with the console's token is in Confluence");
    if slapd.is_some() {
        // The directory app made in the browser synced, and its approved run deprovisioned.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !["barbara", "katherine"].iter().all(|u| s.user(u).is_some_and(|u| !u.active)) {
            assert!(std::time::Instant::now() < deadline, "the approved run deprovisions the two who left");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(s.user("edsger").is_some_and(|u| u.active));
    }
}
