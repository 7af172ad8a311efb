//! Directory apps in the console, against a real slapd and the Confluence emulator: "Add
//! new app" making an LDAP app (field errors first, the bind password stored and never
//! shown back), its Directory tab (Test connection, Test authentication, Test Sync), its
//! settings edited against the version opened, a run stopped by the deletion threshold
//! approved from the console, a viewer refused every change, and what the directory holds
//! escaped on every page that shows it.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::StatusCode;
use usersync::admin::{create_account, Role};
use usersync::store::Database;
use usersync_tests::emulator::{self, EmulatorConfig};
use usersync_tests::ldap_servers::{slapd_available, Slapd};

use super::console::{Console, PASSWORD};
use super::harness::{scratch, AppSpec, Stack};

const PEOPLE: &str = "ou=people,dc=example,dc=com";
const GROUPS: &str = "ou=groups,dc=example,dc=com";

/// Whether slapd is here; a missing slapd skips the test outside CI and fails it in CI.
fn slapd_here() -> bool {
    if slapd_available() {
        return true;
    }
    assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "slapd is not installed; .ci/run installs it");
    eprintln!("SKIPPED: slapd is not installed here (bash tests/ldap/install.sh installs it)");
    false
}

/// An LDIF line `name: value`, base64-encoded when LDIF needs it (or always, for `<`).
fn ldif_line(name: &str, value: &str) -> String {
    let safe = value.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{name}: {value}\n")
    } else {
        format!("{name}:: {}\n", base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// A value as an RDN holds it (RFC 4514: the special characters hex-escaped).
fn rdn(value: &str) -> String {
    value
        .chars()
        .map(|c| if "<>=,+;\"\\#".contains(c) { format!("\\{:02X}", c as u32) } else { c.to_string() })
        .collect()
}

fn person(uid: &str, given: &str, sn: &str, more: &[(&str, &str)]) -> String {
    let mut out = format!("dn: uid={},{PEOPLE}\nobjectClass: inetOrgPerson\n", rdn(uid));
    for (k, v) in [("uid", uid), ("cn", &format!("{given} {sn}")), ("givenName", given), ("sn", sn)] {
        out.push_str(&ldif_line(k, v));
    }
    out.push_str(&ldif_line("mail", &format!("{given}@example.com").to_lowercase()));
    for (k, v) in more {
        out.push_str(&ldif_line(k, v));
    }
    out
}

fn group(cn: &str, members: &[&str]) -> String {
    let mut out = format!("dn: cn={},{GROUPS}\nobjectClass: groupOfNames\n{}", rdn(cn), ldif_line("cn", cn));
    for m in members {
        out.push_str(&format!("member: uid={m},{PEOPLE}\n"));
    }
    out
}

/// Waits (up to 60 s) until `check` holds; fails naming `what`.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the page at `path` until it `has` what is waited for (up to 60 s); returns it.
async fn page_with(c: &Console, path: &str, what: &str, has: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, page) = c.get(path).await;
        if has(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}\n{page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn accounts(s: &Stack) {
    let db = Database::new(&s.dir.join("usersync.db"));
    create_account(&db, "root", PASSWORD, Role::Admin, false).await.unwrap();
    create_account(&db, "watcher", PASSWORD, Role::Viewer, false).await.unwrap();
}

/// A stack whose one app, `corp`, reads `slapd` (configured in the file, its password in
/// a file), with `more` keys in its `[apps.directory]`.
async fn file_directory_stack(name: &str, slapd: &Slapd, more: &str) -> Stack {
    let emulator = emulator::start(EmulatorConfig::default(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = scratch(name);
    let password = dir.join("ldap-password");
    std::fs::write(&password, slapd.admin_password()).unwrap();
    let extra = format!(
        "\n[apps.directory]\nurls = [\"{}\"]\nbind_dn = \"{}\"\npassword_file = \"{}\"\nuser_base = \"{PEOPLE}\"\ngroup_base = \"{GROUPS}\"\n{more}\n",
        slapd.url(),
        slapd.admin_dn(),
        password.display()
    );
    let app = AppSpec { name: "corp", kind: "ldap", settings: "", extra: Box::leak(extra.into_boxed_str()) };
    let s = Stack::host(Arc::new(emulator), dir, "", &[app]).await;
    accounts(&s).await;
    s
}

/// A POST answered with a redirect: where to.
async fn post_redirect(c: &Console, path: &str, form: &[(&str, &str)]) -> String {
    let r = c
        .http
        .post(format!("{}{path}", c.url))
        .header("cookie", c.cookie.clone().unwrap())
        .header("origin", &c.url)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let location = r.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {}", r.text().await.unwrap());
    location
}

/// The wizard's form for a directory app named `name` reading `slapd`.
fn wizard_form<'a>(csrf: &'a str, name: &'a str, url: &'a str, slapd: &'a Slapd) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("kind", "ldap"),
        ("name", name),
        ("module_from", "onelogin"),
        ("d_server_type", "openldap"),
        ("d_urls", url),
        ("d_verify_hostname", "on"),
        ("d_bind_dn", slapd.admin_dn()),
        ("d_password", slapd.admin_password()),
        ("d_user_base", PEOPLE),
        ("d_group_base", GROUPS),
        ("d_user_scope", "sub"),
        ("d_group_scope", "sub"),
        ("d_membership", ""),
        ("d_strategy", "full"),
        ("d_incremental", "3600"),
        ("d_full", "86400"),
        ("d_threshold_percent", "10"),
        ("d_threshold_count", "10"),
        ("d_page_size", "500"),
        ("d_timeout", "30"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wizard_makes_a_directory_app_whose_password_is_stored_and_never_shown() {
    if !slapd_here() {
        return;
    }
    let seed = [person("ada", "Ada", "Lovelace", &[]), person("bob", "Bob", "Babbage", &[])].join("\n");
    let slapd = Slapd::start(&seed).unwrap();
    slapd.ldapadd(&group("engineers", &["ada"])).unwrap();
    let s = Stack::start("console-dir-wizard", &[AppSpec::new("onelogin", "onelogin")]).await;
    accounts(&s).await;
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let csrf = c.csrf().await;
    // slapd's password is a plain word ("secret"): it is looked for as a value shown.
    let secret = slapd.admin_password();
    let shows_secret = |page: &str| page.contains(&format!("=\"{secret}\"")) || page.contains(&format!(">{secret}<"));

    // The wizard offers a directory, with its fields and the server type's defaults.
    let (status, page) = c.get("/console/apps/new?kind=ldap").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("LDAP / Active Directory") && page.contains(r#"value="ldap" checked"#), "{page}");
    assert!(page.contains(r#"name="d_urls""#) && page.contains(r#"placeholder="uid""#), "{page}");
    assert!(page.contains(r#"data-ad="sAMAccountName""#) && page.contains(r#"data-ad="objectGUID""#), "{page}");

    // A bad URL, a missing base and a filter that does not parse: each named at its field,
    // nothing made, and the password typed not shown back.
    let mut bad = wizard_form(&csrf, "dir", "http://ldap.example.com", &slapd);
    bad.retain(|(k, _)| *k != "d_user_base");
    bad.push(("d_user_filter", "(uid=ada"));
    let (status, page) = c.post("/console/apps/new", &bad, Some(&c.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    let error_of = |page: &str, field: &str| {
        let at = page.find(&format!(r#"id="{field}-error""#)).unwrap_or_else(|| panic!("no error at {field}: {page}"));
        page[at..].split("</p>").next().unwrap().to_owned()
    };
    assert!(error_of(&page, "d_urls").contains("is not an ldap:// or ldaps:// URL"), "{page}");
    assert!(error_of(&page, "d_user_base").contains("user_base is required"), "{page}");
    assert!(error_of(&page, "d_user_filter").contains("(uid=ada"), "{page}");
    assert!(page.contains(r#"aria-invalid="true""#));
    assert!(page.contains("http://ldap.example.com"), "the form is shown again as it was sent");
    assert!(!shows_secret(&page), "the bind password is never shown back: {page}");
    assert!(page.contains(r#"name="d_password" type="password" autocomplete="new-password" value="""#), "{page}");
    assert_eq!(c.get("/console/apps/dir").await.0, StatusCode::NOT_FOUND, "no app was made");

    // The form as it should be: the app is made, with its password, and syncs.
    let url = slapd.url();
    let location = post_redirect(&c, "/console/apps/new", &wizard_form(&csrf, "dir", &url, &slapd)).await;
    assert_eq!(location, "/console/apps/dir?done=created");
    let (status, page) = c.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("first full sync has started") && page.contains("a password is stored"), "{page}");
    assert!(!page.contains("Bearer tokens") && page.contains("takes no SCIM writes"), "no SCIM panel: {page}");
    assert!(!shows_secret(&page), "{page}");
    eventually("the first full sync provisions ada and bob", || async {
        s.user("ada").is_some_and(|u| u.active) && s.user("bob").is_some_and(|u| u.active)
    })
    .await;
    page_with(&c, "/console/apps/dir", "the run is listed", |p| {
        p.contains("/console/apps/dir/directory/runs/") && p.contains("succeeded")
    })
    .await;
    let tokens = Database::new(&s.dir.join("usersync.db")).tokens(Some("dir".into())).await.unwrap();
    assert!(tokens.iter().all(|t| t.revoked.is_some()), "a directory app has no live SCIM token: {tokens:?}");
    let (_, settings) = c.get("/console/apps/dir/settings").await;
    assert!(settings.contains("User sync") && !settings.contains("rate_limit"), "no SCIM request limit: {settings}");
    let (_, list) = c.get("/console/").await;
    assert!(list.contains("LDAP / Active Directory") && list.contains("last run "), "{list}");

    // The settings tab shows the definition and whether a password is stored, never it.
    let (status, page) = c.get("/console/apps/dir/directory/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("A password is stored.") && page.contains(&url), "{page}");
    assert!(!shows_secret(&page), "{page}");
    let version = {
        let at = page.find(r#"name="version" value=""#).unwrap() + 22;
        page[at..].split('"').next().unwrap().to_owned()
    };
    let mut edit = wizard_form(&csrf, "dir", &url, &slapd);
    edit.retain(|(k, _)| !["kind", "name", "module_from", "d_password", "d_incremental"].contains(k));
    edit.push(("d_incremental", "1800"));
    edit.push(("version", &version));
    let location = post_redirect(&c, "/console/apps/dir/directory/settings", &edit).await;
    assert_eq!(location, "/console/apps/dir/directory/settings?saved=1");
    let (_, page) = c.get(&location).await;
    assert!(page.contains(r#"value="1800""#) && page.contains("A password is stored."), "kept: {page}");
    // A save against the version opened before is refused, showing both.
    let (status, page) = c.post("/console/apps/dir/directory/settings", &edit, Some(&c.url)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("changed since you opened it"), "{page}");

    // Test connection, Test authentication, Test Sync.
    let (status, page) = c.post("/console/apps/dir/directory/test-connection", &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Connected to") && page.contains("dc=example,dc=com"), "{page}");
    let (status, page) = c.post("/console/apps/dir/directory/test-auth", &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Authentication works") && page.contains(slapd.admin_dn()), "{page}");
    let (status, page) =
        c.post("/console/apps/dir/directory/test-sync", &[("csrf", &csrf), ("user", "ada")], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for shown in [
        "uid=ada,ou=people,dc=example,dc=com",
        "<code>mail</code>",
        "ada@example.com",
        "<code>entryUUID</code>",
        "cn=engineers,ou=groups,dc=example,dc=com",
        "Confluence username",
        "<code>ada</code>",
        "Ada Lovelace",
    ] {
        assert!(page.contains(shown), "Test Sync shows {shown}: {page}");
    }
    let (status, page) =
        c.post("/console/apps/dir/directory/test-sync", &[("csrf", &csrf), ("user", "nobody")], Some(&c.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("no person with uid=nobody"), "{page}");

    // A new password, typed on the settings tab, replaces the stored one: a wrong one makes
    // Test authentication name the refusal.
    let (_, page) = c.get("/console/apps/dir/directory/settings").await;
    let version = {
        let at = page.find(r#"name="version" value=""#).unwrap() + 22;
        page[at..].split('"').next().unwrap().to_owned()
    };
    let mut edit: Vec<(&str, &str)> = edit.into_iter().filter(|(k, _)| *k != "version").collect();
    edit.push(("version", &version));
    edit.push(("d_password", "wrong-password-7f3a9c"));
    post_redirect(&c, "/console/apps/dir/directory/settings", &edit).await;
    for path in ["/console/apps/dir", "/console/apps/dir/directory/settings"] {
        let (_, page) = c.get(path).await;
        assert!(!page.contains("wrong-password-7f3a9c") && !shows_secret(&page), "{path}: {page}");
    }
    let (status, page) = c.post("/console/apps/dir/directory/test-auth", &[("csrf", &csrf)], Some(&c.url)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    assert!(page.contains("bind refused: invalid credentials"), "{page}");

    // The audit log has the changes, and neither password.
    let (_, audit) = c.get("/console/audit?app=dir").await;
    assert!(audit.contains("app created") && audit.contains("bind password changed"), "{audit}");
    assert!(!audit.contains("wrong-password-7f3a9c") && !shows_secret(&audit), "{audit}");
    let db = Database::new(&s.dir.join("usersync.db"));
    let logged = db.audit(usersync::store::AuditFilter { app: Some("dir".into()), limit: 100, ..Default::default() });
    assert!(logged.await.unwrap().iter().all(|e| !e.detail.contains(secret) && !e.detail.contains("wrong-password")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_over_the_deletion_threshold_waits_and_is_approved_in_the_console_not_by_a_viewer() {
    if !slapd_here() {
        return;
    }
    let names = ["p1", "p2", "p3", "p4"];
    let seed: Vec<String> = names.iter().map(|n| person(n, "P", n, &[])).collect();
    let slapd = Slapd::start(&seed.join("\n")).unwrap();
    let more = "strategy = \"full\"\nincremental_interval_secs = 3600\ndeletion_threshold_count = 1\ndeletion_threshold_percent = 0";
    let s = file_directory_stack("console-dir-approve", &slapd, more).await;
    eventually("everyone is provisioned", || async { names.iter().all(|n| s.user(n).is_some_and(|u| u.active)) }).await;
    s.settle().await;
    let mut admin = Console::new(&s);
    admin.login("root", PASSWORD).await;
    let csrf = admin.csrf().await;
    let mut viewer = Console::new(&s);
    viewer.login("watcher", PASSWORD).await;
    let vcsrf = viewer.csrf().await;

    // A viewer reads the tab, may test, and changes nothing.
    let (status, page) = viewer.get("/console/apps/corp").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("Run a full sync now") && page.contains("Test Sync"), "{page}");
    let (status, _) = viewer
        .post("/console/apps/corp/directory/test-sync", &[("csrf", &vcsrf), ("user", "p1")], Some(&viewer.url))
        .await;
    assert_eq!(status, StatusCode::OK, "Test Sync changes nothing: a viewer may");
    for (path, form) in [
        ("/console/apps/corp/directory/sync", vec![("csrf", vcsrf.as_str()), ("full", "1")]),
        ("/console/apps/corp/directory/settings", vec![("csrf", vcsrf.as_str()), ("version", "0")]),
    ] {
        let (status, page) = viewer.post(path, &form, Some(&viewer.url)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {page}");
    }

    // Two people leave the directory; a full run would deprovision more than one.
    for n in &names[..2] {
        slapd.ldapdelete(&format!("uid={n},{PEOPLE}")).unwrap();
    }
    let location = post_redirect(&admin, "/console/apps/corp/directory/sync", &[("csrf", &csrf), ("full", "1")]).await;
    assert_eq!(location, "/console/apps/corp?done=full");
    // The page the button leads to refreshes its runs list by itself until the run is listed.
    let (_, asked) = admin.get(&location).await;
    let at = asked.find("hx-get=\"/console/apps/corp/directory/runs-live?").expect("a self-refreshing runs list");
    let live = asked[at + 8..].split('"').next().unwrap().replace("&amp;", "&");
    let (status, fragment) = admin.get(&live).await;
    assert_eq!(status, StatusCode::OK);
    assert!(fragment.starts_with("<section id=\"runs\""), "a fragment, not a page: {fragment}");
    // Past its deadline, with nothing running, the fragment stops asking to be refreshed.
    let over = "/console/apps/corp/directory/runs-live?after=999999&until=1";
    let mut stopped = false;
    for _ in 0..100 {
        let (_, f) = admin.get(over).await;
        if !f.contains("hx-get") {
            stopped = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(stopped, "the list stops refreshing once nothing runs and the minute is over");
    let page = page_with(&admin, "/console/apps/corp", "the run waits for approval", |p| {
        p.contains("is waiting for your approval")
    })
    .await;
    let id: String = {
        let at = page.find("/approve\"").expect("an Approve button");
        let before = &page[..at];
        before[before.rfind('/').unwrap() + 1..].to_owned()
    };
    assert!(page.contains("Discard") && page.contains("awaiting approval"), "{page}");
    let (_, report) = admin.get(&format!("/console/apps/corp/directory/runs/{id}")).await;
    assert!(report.contains("Nothing was applied") && report.contains("Would be "), "{report}");
    assert!(
        report.contains("p1") && report.contains("p2") && report.contains("no longer in the directory"),
        "{report}"
    );
    s.settle().await;
    assert!(names.iter().all(|n| s.user(n).is_some_and(|u| u.active)), "nothing deprovisioned before approval");

    // The viewer sees it but cannot approve it.
    let (_, page) = viewer.get("/console/apps/corp").await;
    assert!(page.contains("is waiting for your approval") && page.contains("An administrator can approve"), "{page}");
    assert!(!page.contains("Approve and apply"), "{page}");
    let approve = format!("/console/apps/corp/directory/runs/{id}/approve");
    let (status, _) = viewer.post(&approve, &[("csrf", &vcsrf)], Some(&viewer.url)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor can a post without the CSRF token, or from another site.
    assert_eq!(admin.post(&approve, &[], Some(&admin.url)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(admin.post(&approve, &[("csrf", &csrf)], Some("https://evil.example")).await.0, StatusCode::FORBIDDEN);
    let (_, page) = admin.get("/console/apps/corp").await;
    assert!(page.contains("is waiting for your approval"), "still waiting");

    // The administrator approves: the run goes ahead.
    let location = post_redirect(&admin, &approve, &[("csrf", &csrf)]).await;
    assert_eq!(location, format!("/console/apps/corp?done=approved&run={id}"));
    let (_, page) = admin.get(&location).await;
    assert!(page.contains(&format!("Run #{id} is approved")) && !page.contains("is waiting for your approval"));
    eventually("the approved run deprovisions the two", || async {
        names[..2].iter().all(|n| s.user(n).is_some_and(|u| !u.active))
    })
    .await;
    s.settle().await;
    assert!(names[2..].iter().all(|n| s.user(n).is_some_and(|u| u.active)));
    // A run settled already cannot be settled again.
    let (status, page) = admin.post(&approve, &[("csrf", &csrf)], Some(&admin.url)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("not awaiting approval"), "{page}");
    let audit = s.audit("corp");
    assert!(audit.iter().any(|e| e.user_name == "root" && e.detail.contains("approved run")), "{audit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn what_the_directory_holds_is_escaped_on_every_page() {
    if !slapd_here() {
        return;
    }
    let payloads = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "'><svg onload=alert(1)>"];
    let seed = [
        person("ada", "Ada", "Lovelace", &[("description", payloads[0]), ("title", payloads[1])]),
        // Not a name Confluence takes: skipped, with the name in the run's report.
        person(payloads[2], "Eve", "Evil", &[]),
    ]
    .join("\n");
    let slapd = Slapd::start(&seed).unwrap();
    slapd.ldapadd(&group(payloads[0], &["ada"])).unwrap();
    let s =
        file_directory_stack("console-dir-xss", &slapd, "strategy = \"full\"\nincremental_interval_secs = 3600").await;
    let mut c = Console::new(&s);
    c.login("root", PASSWORD).await;
    let csrf = c.csrf().await;
    let page = page_with(&c, "/console/apps/corp", "the first run is listed", |p| {
        p.contains("/console/apps/corp/directory/runs/")
    })
    .await;
    let at = page.find("/console/apps/corp/directory/runs/").unwrap();
    let run_path: String = page[at..].split('"').next().unwrap().to_owned();
    let mut pages = vec![page, c.get(&run_path).await.1];
    let (status, tested) =
        c.post("/console/apps/corp/directory/test-sync", &[("csrf", &csrf), ("user", "ada")], Some(&c.url)).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    pages.push(tested);
    let (_, tested) =
        c.post("/console/apps/corp/directory/test-sync", &[("csrf", &csrf), ("user", payloads[2])], Some(&c.url)).await;
    pages.push(tested);
    for page in &pages {
        for raw in ["<script>alert", "<img src=x", "<svg onload"] {
            assert!(!page.contains(raw), "{raw} came through unescaped:\n{page}");
        }
    }
    let all = pages.join("\n");
    assert!(all.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the attribute and the group, escaped: {all}");
    assert!(all.contains("&lt;svg onload=alert(1)&gt;"), "the skipped person, escaped: {all}");
}
