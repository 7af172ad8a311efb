//! The console in headless Chromium (`tests/browser/console.mjs`, driven by npm's
//! `playwright-core`): log in; add a token to the OneLogin app, copy the URL and the token
//! and POST a user with them; find the person and see their custom fields; Synchronize, dry
//! run and then run; a forged post without the CSRF token is refused; a viewer changes
//! nothing.
//!
//! Needs Node.js, Debian's `chromium` and `npm ci` in `tests/browser` (`.ci/run` sets all
//! three up). Without them the test fails under `CI`, and elsewhere says what is missing and
//! passes. `USERSYNC_SCREENSHOTS=docs/console` also writes a screenshot of every screen.

use std::path::Path;
use std::process::Command;

use super::harness::{AppSpec, Stack};
use usersync::admin::{create_account, Role};
use usersync::store::Database;

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
}
