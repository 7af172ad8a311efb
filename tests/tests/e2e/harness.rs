//! A whole UserSync over real sockets: the Confluence emulator on one loopback port, the
//! host (built from a config file, as `usersync serve` builds it) on another, with the
//! standard rules module compiled for wasm, and a SCIM client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use usersync::config::Config;
use usersync::store::{migrate, open_connection, tokens};
use usersync::sync::AppSync;
use usersync_tests::emulator::{self, Emulator, EmulatorConfig, SnapshotUser};

/// One app of a test stack.
#[derive(Clone, Copy)]
pub struct AppSpec {
    pub name: &'static str,
    pub kind: &'static str,
    /// TOML lines for `[apps.settings]`.
    pub settings: &'static str,
    /// More keys of the `[[apps]]` table (`deprovision = "delete"`).
    pub extra: &'static str,
}

impl AppSpec {
    pub const fn new(name: &'static str, kind: &'static str) -> Self {
        AppSpec { name, kind, settings: "", extra: "" }
    }
}

pub struct Stack {
    pub emulator: Arc<Emulator>,
    pub url: String,
    pub tokens: HashMap<String, String>,
    pub confluence: HashMap<String, Arc<AppSync>>,
    pub inbound: Arc<usersync::inbound::Inbound>,
    /// The directory apps' runners.
    pub directories: Arc<usersync::directory::Directories>,
    pub dir: PathBuf,
    pub http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.server.abort();
        for name in self.directories.names() {
            self.directories.remove(&name);
        }
        // A stack restarted on the same store must not have the old one's workers still
        // applying its in-memory queue.
        for sync in self.confluence.values() {
            sync.stop();
        }
    }
}

/// The standard rules module as a component, built once per test run.
pub fn standard_module() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf();
        let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-guests");
        usersync::cli::rules_crate::ensure_wasm_target().expect("the wasm32-unknown-unknown target can be installed");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command.current_dir(&workspace).args([
            "build",
            "--profile",
            "rules",
            "--target",
            "wasm32-unknown-unknown",
            "-p",
            "usersync-standard-rules",
        ]);
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_TARGET"] {
            command.env_remove(var);
        }
        let output = command.env("CARGO_TARGET_DIR", &target_dir).output().expect("cargo runs");
        assert!(
            output.status.success(),
            "building the standard rules failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let core = std::fs::read(target_dir.join("wasm32-unknown-unknown/rules/usersync_standard_rules.wasm"))
            .expect("module");
        usersync::rules::componentize(&core).expect("componentize")
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty folder for one stack.
pub fn scratch(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The config file text of a stack. `confluence_extra` adds keys to `[confluence]`; the
/// defaults it sets itself (credentials: `token_file` or `token_env` replace the admin's
/// password; `apply_deadline_ms`, `max_backoff_ms`) are left out.
pub fn config_text(listen: SocketAddr, confluence_url: &str, confluence_extra: &str, apps: &[AppSpec]) -> String {
    let sets = |key: &str| confluence_extra.lines().any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key));
    let mut defaults = String::new();
    if !sets("token_file") && !sets("token_env") {
        defaults.push_str("username = \"admin\"\npassword_file = \"confluence-password\"\n");
    }
    for (key, value) in [("apply_deadline_ms", 2000), ("max_backoff_ms", 1000)] {
        if !sets(key) {
            defaults.push_str(&format!("{key} = {value}\n"));
        }
    }
    let mut text =
        format!("[server]\nlisten = \"{listen}\"\npublic_url = \"http://{listen}\"\ndatabase = \"usersync.db\"\n\n");
    // An empty URL: no `[confluence]` at all (decisions stored, nothing sent).
    if !confluence_url.is_empty() {
        text.push_str(&format!("[confluence]\nurl = \"{confluence_url}\"\n{defaults}{confluence_extra}\n"));
    }
    for app in apps {
        text.push_str(&format!(
            "\n[[apps]]\nname = \"{}\"\nkind = \"{}\"\nrules = \"standard.wasm\"\n{}\n[apps.settings]\n{}\n",
            app.name, app.kind, app.extra, app.settings
        ));
    }
    text
}

/// Writes the files a stack's host needs into `dir` (module, password, config) and creates
/// a SCIM token for each app. Returns the config and the tokens.
pub fn prepare(
    dir: &Path,
    listen: SocketAddr,
    confluence_url: &str,
    confluence_extra: &str,
    apps: &[AppSpec],
) -> (Config, HashMap<String, String>) {
    std::fs::write(dir.join("standard.wasm"), standard_module()).expect("module");
    std::fs::write(dir.join("confluence-password"), "admin\n").expect("password");
    let path = dir.join("usersync.toml");
    std::fs::write(&path, config_text(listen, confluence_url, confluence_extra, apps)).expect("config");
    let config = Config::load(&path).expect("config loads");
    let mut conn = open_connection(&config.database_path()).expect("db");
    migrate(&mut conn).expect("migrate");
    let mut tokens = HashMap::new();
    for app in apps {
        let existing = std::fs::read_to_string(dir.join(format!("{}.token", app.name))).ok();
        let token = match existing {
            Some(t) => t,
            None => {
                let (_, secret) = tokens::create(&conn, app.name, "e2e").expect("token");
                std::fs::write(dir.join(format!("{}.token", app.name)), &secret).expect("token file");
                secret
            }
        };
        tokens.insert(app.name.to_owned(), token);
    }
    // An admin token, for the admin API (`Stack::health`).
    let admin = usersync::http::admin::ADMIN;
    let token = match std::fs::read_to_string(dir.join("admin.token")) {
        Ok(t) => t,
        Err(_) => {
            let (_, secret) = tokens::create(&conn, admin, "e2e").expect("admin token");
            std::fs::write(dir.join("admin.token"), &secret).expect("admin token file");
            secret
        }
    };
    tokens.insert(admin.to_owned(), token);
    (config, tokens)
}

impl Stack {
    pub async fn start(name: &str, apps: &[AppSpec]) -> Stack {
        Self::start_with(name, EmulatorConfig::default(), "", apps).await
    }

    pub async fn start_with(
        name: &str,
        emulator_config: EmulatorConfig,
        confluence_extra: &str,
        apps: &[AppSpec],
    ) -> Stack {
        let emulator = emulator::start(emulator_config, "127.0.0.1:0".parse().expect("addr")).await.expect("emulator");
        let dir = scratch(name);
        Self::host(Arc::new(emulator), dir, confluence_extra, apps).await
    }

    /// Starts the host in `dir` against `emulator`.
    pub async fn host(emulator: Arc<Emulator>, dir: PathBuf, confluence_extra: &str, apps: &[AppSpec]) -> Stack {
        let url = emulator.base_url();
        Self::host_at(emulator, dir, &url, confluence_extra, apps).await
    }

    /// Starts the host in `dir` with no `[confluence]` in its file (`emulator` is still
    /// there, for a connection saved in the console).
    pub async fn host_without_confluence(emulator: Arc<Emulator>, dir: PathBuf, apps: &[AppSpec]) -> Stack {
        Self::host_at(emulator, dir, "", "", apps).await
    }

    async fn host_at(
        emulator: Arc<Emulator>,
        dir: PathBuf,
        confluence_url: &str,
        confluence_extra: &str,
        apps: &[AppSpec],
    ) -> Stack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let listen = listener.local_addr().expect("addr");
        let (config, tokens) = prepare(&dir, listen, confluence_url, confluence_extra, apps);
        let service = usersync::server::build(&config).expect("service builds");
        let router = service.router;
        // The server's own accept loop, with its timeouts and connection cap.
        let settings = usersync::http::ListenSettings::from_config(&config.server);
        let server = tokio::spawn(async move {
            let _ = usersync::http::serve(listener, router, settings, std::future::pending()).await;
        });
        Stack {
            emulator,
            url: format!("http://{listen}"),
            tokens,
            confluence: service.confluence,
            inbound: service.inbound,
            directories: service.directories,
            dir,
            http: reqwest::Client::new(),
            server,
        }
    }

    /// A SCIM request to an app; returns the status and the JSON body (Null when empty).
    pub async fn scim(&self, app: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/scim/v2/{app}{path}", self.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, url).bearer_auth(&self.tokens[app]);
        if let Some(body) = body {
            request = request.header("content-type", "application/scim+json").body(body.to_string());
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Creates a user (as OneLogin's template does) and returns its SCIM id.
    pub async fn create_user(&self, app: &str, user_name: &str, given: &str, family: &str) -> String {
        let body = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "displayName": format!("{given} {family}"),
            "emails": [{"value": user_name, "type": "work", "primary": true}],
            "active": true
        });
        let (status, created) = self.scim(app, "POST", "/Users", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Creates a group with members and returns its SCIM id.
    pub async fn create_group(&self, app: &str, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members});
        let (status, created) = self.scim(app, "POST", "/Groups", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Waits until every app's outbox is empty (operations applied or refused).
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let queued: usize = self.confluence.iter().map(|(app, s)| s.outbox().len(app)).sum();
            if queued == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the outbox did not drain: {queued} operations left");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn user(&self, username: &str) -> Option<SnapshotUser> {
        self.emulator.snapshot().users.get(username).cloned()
    }

    /// The Confluence groups `username` is in.
    pub fn groups_of(&self, username: &str) -> Vec<String> {
        self.emulator.snapshot().groups.into_iter().filter(|(_, m)| m.contains(username)).map(|(g, _)| g).collect()
    }

    /// An admin API request (`/admin/v1{path}`, with the admin token): status and JSON body.
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/admin/v1{path}", self.url);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, url).bearer_auth(&self.tokens[usersync::http::admin::ADMIN]);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.expect("admin request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The service's health with its details (`/admin/v1/health`, with the admin token).
    pub async fn health(&self) -> Value {
        let url = format!("{}/admin/v1/health", self.url);
        let token = &self.tokens[usersync::http::admin::ADMIN];
        self.http.get(url).bearer_auth(token).send().await.expect("health").json().await.expect("health JSON")
    }

    /// The writes Confluence acted on (answered 2xx) or found done already (409), by
    /// [`WriteRecord::target`](usersync_tests::emulator::WriteRecord::target), with how
    /// many times each arrived. Refused ones (401, 429 ...) are not counted.
    pub fn applied_writes(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = std::collections::BTreeMap::new();
        for w in self.emulator.writes() {
            if (200..300).contains(&w.status) || w.status == 409 {
                *counts.entry(w.target()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Asserts that Confluence received no write twice (see [`Self::applied_writes`]).
    pub fn assert_no_write_twice(&self) {
        let twice: Vec<(String, usize)> = self.applied_writes().into_iter().filter(|(_, n)| *n > 1).collect();
        assert!(twice.is_empty(), "writes Confluence received more than once: {twice:?}");
    }

    /// Asserts that Confluence received no creation (`POST`) twice.
    pub fn assert_no_create_twice(&self) {
        let twice: Vec<(String, usize)> =
            self.applied_writes().into_iter().filter(|(w, n)| w.starts_with("POST ") && *n > 1).collect();
        assert!(twice.is_empty(), "creations Confluence received more than once: {twice:?}");
    }

    /// The audit log of an app, newest first, as `usersync audit` reads it.
    pub fn audit(&self, app: &str) -> Vec<usersync::store::AuditEntry> {
        let conn = open_connection(&self.dir.join("usersync.db")).expect("db");
        usersync::store::desired::audit(&conn, Some(app), None, 10_000).expect("audit")
    }
}

impl Stack {
    /// Adds `member` to the group `name`, creating the group when this app has none of
    /// that name (concurrent clients race to create it; the loser joins).
    pub async fn create_group_or_join(&self, app: &str, name: &str, member: &str) {
        for _ in 0..20 {
            let filter = format!("/Groups?filter=displayName%20eq%20%22{}%22", name.replace(' ', "%20"));
            let (_, list) = self.scim(app, "GET", &filter, None).await;
            if let Some(id) = list["Resources"][0]["id"].as_str() {
                let add = serde_json::json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations":[{"op":"add","path":"members","value":[{"value": member}]}]});
                let (status, body) = self.scim(app, "PATCH", &format!("/Groups/{id}"), Some(add)).await;
                assert!(status == 200 || status == 204, "{status} {body}");
                return;
            }
            let body = serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name,
                "members": [{"value": member}]});
            let (status, created) = self.scim(app, "POST", "/Groups", Some(body)).await;
            match status {
                201 => return,
                409 => continue,
                _ => panic!("{status} {created}"),
            }
        }
        panic!("could not create or join {name}");
    }
}
