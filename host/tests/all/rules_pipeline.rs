//! The rules in the SCIM write path, through the real router: each write's decision is
//! stored as desired Confluence state with the module's hash and audited; a module that
//! rejects or misbehaves fails the request with a 4xx naming it, and nothing is stored;
//! hot reload under load fails no request and every decision names the version that was live.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use usersync::config::Config;
use usersync::rules::content_hash;
use usersync::server::Service;
use usersync::store::desired::audit;
use usersync::store::{migrate, open_connection, tokens, DesiredOutcome};

use crate::guests;
use crate::harness::temp_dir;

struct Rig {
    service: Service,
    tokens: HashMap<String, String>,
    config: Config,
}

/// A server whose apps are `(name, module file, settings TOML)`.
fn rig(dir: &Path, apps: &[(&str, &str, &str)]) -> Rig {
    rig_with(dir, "", apps)
}

/// [`rig`] with `server_extra` in `[server]`; a settings TOML may start with an
/// `[apps.rules_limits]` table of its own.
fn rig_with(dir: &Path, server_extra: &str, apps: &[(&str, &str, &str)]) -> Rig {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"{}\"\n{server_extra}\n",
        dir.join("usersync.db").display()
    );
    for (name, module, settings) in apps {
        let (limits, settings) = match settings.strip_prefix("[apps.rules_limits]\n") {
            Some(rest) => rest.split_once("\n\n").map_or((rest, ""), |(l, s)| (l, s)),
            None => ("", *settings),
        };
        text.push_str(&format!(
            "[[apps]]\nname = \"{name}\"\nkind = \"okta\"\nrules = \"{module}\"\n[apps.rules_limits]\n{limits}\n[apps.settings]\n{settings}\n"
        ));
    }
    let config = Config::from_toml(&text, dir).unwrap();
    let mut conn = open_connection(&config.database_path()).unwrap();
    migrate(&mut conn).unwrap();
    let mut tokens: HashMap<String, String> =
        apps.iter().map(|(name, ..)| (name.to_string(), tokens::create(&conn, name, "t").unwrap().1)).collect();
    let admin = usersync::http::admin::ADMIN;
    tokens.insert(admin.to_owned(), tokens::create(&conn, admin, "t").unwrap().1);
    let service = usersync::server::build(&config).unwrap();
    Rig { service, tokens, config }
}

impl Rig {
    async fn call(&self, app: &str, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let req = Request::builder()
            .method(method)
            .uri(format!("/scim/v2/{app}{path}"))
            .header("authorization", format!("Bearer {}", self.tokens[app]))
            .header("content-type", "application/scim+json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let resp = self.service.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let raw = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
    }

    /// `GET path` with the admin token (`None`: without any): status and JSON body.
    async fn get(&self, path: &str, admin: bool) -> (u16, Value) {
        let mut req = Request::builder().uri(path);
        if admin {
            req = req.header("authorization", format!("Bearer {}", self.tokens[usersync::http::admin::ADMIN]));
        }
        let resp = self.service.router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status().as_u16();
        let raw = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&raw).unwrap_or(Value::Null))
    }

    fn desired(&self, app: &str, id: &str) -> Option<Arc<usersync::store::DesiredUser>> {
        self.service.inbound.snapshot().app(app)?.desired.get(id).cloned()
    }

    fn groups(&self, app: &str, id: &str) -> Vec<String> {
        match self.desired(app, id).map(|d| d.outcome.clone()) {
            Some(DesiredOutcome::Provision(a)) => a.groups,
            other => panic!("{app}/{id}: not provisioned: {other:?}"),
        }
    }
}

fn ada() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "Ada.Lovelace@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "primary": true, "type": "work"}],
        "active": true,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_writes_store_the_decisions_of_the_apps_module() {
    let dir = temp_dir("rules-pipeline");
    let standard = guests::component(guests::STANDARD);
    std::fs::write(dir.join("standard.wasm"), standard).unwrap();
    let settings = "username_regex = \"@.*$\"\nusername_replacement = \"\"\ndefault_groups_new = [\"confluence-users\"]\n[apps.settings.group_mapping]\nEngineering = \"eng\"";
    let rig = rig(&dir, &[("okta", "standard.wasm", settings)]);
    let status = rig.service.inbound.rules().unwrap().registry().status();
    assert_eq!(status[0].world.as_deref(), Some("2.0.0"));
    let declared = status[0].declaration.as_ref().unwrap();
    assert!(declared.iter().any(|d| d.key == "create_users"), "the status carries the declaration: {declared:?}");

    let (status, user) = rig.call("okta", Method::POST, "/Users", Some(ada())).await;
    assert_eq!(status, 201, "{user}");
    let id = user["id"].as_str().unwrap().to_owned();
    let desired = rig.desired("okta", &id).unwrap();
    assert_eq!(desired.module_hash, content_hash(standard));
    let DesiredOutcome::Provision(account) = &desired.outcome else { panic!("{desired:?}") };
    assert_eq!(
        (account.username.as_str(), account.full_name.as_str(), account.email.as_str()),
        ("ada.lovelace", "Ada Lovelace", "ada@example.com")
    );
    assert_eq!(account.groups, ["confluence-users"]);

    // A group membership change re-decides the member.
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": [{"value": id}]});
    let (status, group) = rig.call("okta", Method::POST, "/Groups", Some(group)).await;
    assert_eq!(status, 201, "{group}");
    assert!(rig.groups("okta", &id).contains(&"eng".to_owned()), "{:?}", rig.groups("okta", &id));
    // Deactivation by PATCH: the user stays, disabled.
    let off = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": false}}]});
    assert_eq!(rig.call("okta", Method::PATCH, &format!("/Users/{id}"), Some(off)).await.0, 200);
    let DesiredOutcome::Provision(account) = &rig.desired("okta", &id).unwrap().outcome else { panic!() };
    assert!(!account.active);

    // Every decision is audited with the module's hash; deleting the user clears its state.
    assert_eq!(rig.call("okta", Method::DELETE, &format!("/Users/{id}"), None).await.0, 204);
    assert!(rig.desired("okta", &id).is_none());
    let conn = open_connection(&rig.config.database_path()).unwrap();
    let log = audit(&conn, Some("okta"), Some(&id), 100).unwrap();
    let actions: Vec<(&str, &str)> = log.iter().rev().map(|e| (e.action.as_str(), e.outcome.as_str())).collect();
    assert_eq!(
        actions,
        [("create", "provision"), ("membership", "provision"), ("patch", "provision"), ("delete", "removed")]
    );
    assert!(log.iter().all(|e| e.module_hash == content_hash(standard)));

    // The admin API's health names the module serving; /healthz tells strangers the status only.
    let (status, health) = rig.get("/admin/v1/health", true).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["rules"][0]["hash"], content_hash(standard));
    assert_eq!(rig.get("/healthz", false).await, (200, json!({"status": "ok"})));
    let (status, refused) = rig.get("/admin/v1/health", false).await;
    assert_eq!(status, 401, "{refused}");
    assert!(refused.get("rules").is_none() && !refused.to_string().contains("okta"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_decision_fails_its_request_and_stores_nothing() {
    let dir = temp_dir("rules-failing");
    std::fs::write(dir.join("hostile.wasm"), guests::component(guests::HOSTILE)).unwrap();
    let hash = content_hash(guests::component(guests::HOSTILE));
    let rig = rig(
        &dir,
        &[
            ("rejecting", "hostile.wasm", "mode = \"reject\"\nonly_user = \"Ada.Lovelace@example.com\""),
            ("trapping", "hostile.wasm", "mode = \"trap\"\nonly_user = \"Ada.Lovelace@example.com\""),
            ("invalid", "hostile.wasm", "mode = \"invalid-username\"\nonly_user = \"Ada.Lovelace@example.com\""),
            ("fine", "hostile.wasm", "mode = \"ok\""),
            ("missing", "nowhere.wasm", ""),
        ],
    );
    for (app, says) in [
        ("rejecting", "rejected the person: not allowed: test"),
        ("trapping", "trapped"),
        ("invalid", "invalid decision"),
    ] {
        let (status, body) = rig.call(app, Method::POST, "/Users", Some(ada())).await;
        assert_eq!(status, 400, "{app}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("rules module hostile") && detail.contains(&hash[..12]) && detail.contains(says),
            "{app}: {detail}"
        );
        assert_eq!(rig.call(app, Method::GET, "/Users", None).await.1["totalResults"], 0, "{app}: nothing stored");
    }
    // The other apps are unaffected; an app whose module never loaded answers 503.
    assert_eq!(rig.call("fine", Method::POST, "/Users", Some(ada())).await.0, 201);
    let (status, body) = rig.call("missing", Method::POST, "/Users", Some(ada())).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(rig.get("/healthz", false).await, (503, json!({"status": "unavailable"})));
    let (status, health) = rig.get("/admin/v1/health", true).await;
    assert_eq!(status, 503);
    let missing = health["rules"].as_array().unwrap().iter().find(|m| m["app"] == "missing").unwrap();
    assert!(missing["lastError"].as_str().is_some_and(|e| e.contains("nowhere.wasm")), "{missing}");
}

/// `core` with a custom section naming `version`: a distinct module (and content hash) per
/// version, identical in behaviour.
/// Issue 11 §6 in the write path: while the rules memory budget is taken, a write whose
/// decision cannot start within `rules_admission_wait_ms` answers 503 (retry), naming the
/// module and the setting, and stores nothing; once memory is back, the same write passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_decision_cannot_start_answers_503() {
    let dir = temp_dir("rules-budget");
    std::fs::write(dir.join("hostile.wasm"), guests::component(guests::HOSTILE)).unwrap();
    // The hog's decision takes its module's whole 16 MiB, which is the whole budget, until
    // its 1.5 s deadline; another waits at most 100 ms.
    let settings =
        "[apps.rules_limits]\ndeadline_ms = 1500\nmemory_mb = 16\n\nmode = \"hoard\"\nonly_user = \"hog@example.com\"";
    let rig = Arc::new(rig_with(
        &dir,
        "rules_memory_mb = 16\nrules_admission_wait_ms = 100",
        &[("okta", "hostile.wasm", settings)],
    ));
    let engine = Arc::clone(rig.service.inbound.rules().unwrap().engine());
    let hog = tokio::spawn({
        let rig = Arc::clone(&rig);
        async move {
            let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "hog@example.com", "active": true});
            rig.call("okta", Method::POST, "/Users", Some(body)).await
        }
    });
    while engine.admission().running == 0 {
        tokio::task::yield_now().await;
    }
    let (status, body) = rig.call("okta", Method::POST, "/Users", Some(ada())).await;
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("rules module hostile") && detail.contains("rules_memory_mb"), "{detail}");
    assert_eq!(rig.service.inbound.snapshot().app("okta").map_or(0, |a| a.users.len()), 0, "nothing stored");
    let (status, _) = hog.await.unwrap();
    assert_eq!(status, 400, "the hog's own decision ran past its deadline");
    let (status, body) = rig.call("okta", Method::POST, "/Users", Some(ada())).await;
    assert_eq!(status, 201, "{body}");
    assert!(engine.admission().refused >= 1);
}

fn versioned(core: &[u8], version: usize) -> Vec<u8> {
    let name = b"usersync-test-version";
    let payload = version.to_string();
    let mut out = core.to_vec();
    out.push(0); // custom section
    out.push(u8::try_from(1 + name.len() + payload.len()).unwrap());
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name);
    out.extend_from_slice(payload.as_bytes());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hot_reload_under_load_fails_nothing_and_attributes_every_decision() {
    const SWAPS: usize = 100;
    const CLIENTS: usize = 16;
    let dir = temp_dir("rules-reload");
    let core = guests::core_module(guests::HOSTILE);
    let versions: Vec<Vec<u8>> = (0..=SWAPS).map(|v| versioned(core, v)).collect();
    let hashes: Vec<String> = versions.iter().map(|v| content_hash(v)).collect();
    let path = dir.join("rules.wasm");
    std::fs::write(&path, &versions[0]).unwrap();
    let rig = Arc::new(rig(&dir, &[("okta", "rules.wasm", "mode = \"ok\"")]));
    let registry = rig.service.inbound.rules().unwrap().registry().clone();
    assert_eq!(registry.current("okta").unwrap().id().hash, hashes[0]);

    // When each version became visible as serving (observed; the real swap is a little earlier).
    let live_since: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(vec![Instant::now()]));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (rig, done) = (rig.clone(), done.clone());
            tokio::spawn(async move {
                let mut made = Vec::new();
                let mut n = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) {
                    let started = Instant::now();
                    let body = json!({"userName": format!("user-{c}-{n}@example.com"), "active": true, "emails": [{"value": format!("u{c}-{n}@example.com"), "primary": true}]});
                    let (status, user) = rig.call("okta", Method::POST, "/Users", Some(body)).await;
                    assert_eq!(status, 201, "client {c} request {n}: {user}");
                    made.push((started, user["id"].as_str().unwrap().to_owned()));
                    n += 1;
                }
                made
            })
        })
        .collect();
    for (v, bytes) in versions.iter().enumerate().skip(1) {
        // As editors save: a new file renamed over the old (every third swap writes in place).
        if v % 3 == 0 {
            std::fs::write(&path, bytes).unwrap();
        } else {
            let partial = dir.join("rules.wasm.new");
            std::fs::write(&partial, bytes).unwrap();
            std::fs::rename(&partial, &path).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while registry.current("okta").unwrap().id().hash != hashes[v] {
            assert!(Instant::now() < deadline, "version {v} did not start serving");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        live_since.lock().unwrap().push(Instant::now());
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut decisions = 0;
    let live_since = live_since.lock().unwrap().clone();
    for client in clients {
        for (started, id) in client.await.unwrap() {
            let decided = rig.desired("okta", &id).unwrap().module_hash.clone();
            let version =
                hashes.iter().position(|h| *h == decided).unwrap_or_else(|| panic!("{id}: unknown module {decided}"));
            // The version observed live when the request started, or the next one (swapped in
            // between our observation and the decision).
            let live = live_since.iter().rposition(|t| *t <= started).unwrap_or(0);
            assert!(
                version == live || version == live + 1,
                "{id}: decided by version {version}, live at its start: {live}"
            );
            decisions += 1;
        }
    }
    assert!(decisions >= CLIENTS * 10, "only {decisions} requests ran across {SWAPS} swaps");
    assert_eq!(registry.status()[0].reloads, SWAPS as u64);
    assert!(registry.status()[0].last_error.is_none());
}

/// An app whose settings the module does not declare gets no module: the registry refuses
/// the load (naming the key in the status), and the app's writes answer 503 until it is
/// fixed; the other apps are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_with_an_undeclared_setting_gets_no_module() {
    let dir = temp_dir("rules-declared");
    std::fs::write(dir.join("standard.wasm"), guests::component(guests::STANDARD)).unwrap();
    let rig = rig(
        &dir,
        &[
            (
                "typo",
                "standard.wasm",
                "on_the_fly = true
keep_existing_group = false",
            ),
            (
                "fine",
                "standard.wasm",
                "on_the_fly = true
keep_existing_groups = false",
            ),
        ],
    );
    let registry = rig.service.inbound.rules().unwrap().registry().clone();
    let status = registry.status();
    let typo = status.iter().find(|s| s.app == "typo").unwrap();
    assert!(typo.module.is_none());
    let error = typo.last_error.as_deref().unwrap();
    assert!(error.contains("`keep_existing_group`") && error.contains("rules module standard"), "{error}");
    assert!(registry.current("fine").is_some());
    let (status, body) = rig.call("typo", Method::POST, "/Users", Some(ada())).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(rig.call("fine", Method::POST, "/Users", Some(ada())).await.0, 201);
}

/// `usersync rules build`, `rules check` and `rules status` (no server running), as an
/// administrator runs them.
#[test]
fn the_rules_cli_builds_checks_and_reports() {
    let dir = temp_dir("rules-cli");
    let usersync = env!("CARGO_BIN_EXE_usersync");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(usersync)
            .args(args)
            .env("USERSYNC_LOG", "warn")
            // Its own target folder, as guests.rs, so it never waits on the test build's lock.
            .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-guests"))
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let module = dir.join("dept.wasm");
    let crate_dir = guests::workspace().join("sample-rules/department-groups");
    let (ok, _, err) = run(&["rules", "build", crate_dir.to_str().unwrap(), "--out", module.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("passed its self-test"), "{err}");

    let person = json!({
        "userName": "grace@example.com", "displayName": "Grace Hopper",
        "emails": [{"value": "grace@example.com", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Research & Development"},
        "groups": [{"value": "g1", "display": "Navy"}],
    });
    std::fs::write(dir.join("person.json"), person.to_string()).unwrap();
    let (ok, out, err) =
        run(&["rules", "check", module.to_str().unwrap(), "--input", dir.join("person.json").to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(err.contains("module dept (world 2.0.0)") && err.contains("(no settings)"), "the declaration: {err}");
    let decisions: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(decisions["module"]["hash"], content_hash(&std::fs::read(&module).unwrap()));
    assert_eq!(decisions["attributes"]["provision"]["email"], "grace@example.com");
    assert!(
        decisions["groups"]["create"].as_array().unwrap().contains(&json!("dept-research-development")),
        "{decisions}"
    );

    // A person the module cannot accept: the check fails and says why.
    std::fs::write(dir.join("nomail.json"), json!({"userName": "nomail"}).to_string()).unwrap();
    let (ok, _, err) =
        run(&["rules", "check", module.to_str().unwrap(), "--input", dir.join("nomail.json").to_str().unwrap()]);
    assert!(!ok && err.contains("rules module dept") && err.contains("no usable e-mail address"), "{err}");
    // Input that is not a SCIM user at all.
    std::fs::write(dir.join("bad.json"), json!({"userName": {"a": 1}}).to_string()).unwrap();
    let (ok, _, err) =
        run(&["rules", "check", module.to_str().unwrap(), "--input", dir.join("bad.json").to_str().unwrap()]);
    assert!(!ok && err.contains("not a valid SCIM user"), "{err}");

    // Status without a server: each app's file is loaded here.
    std::fs::write(dir.join("broken.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let config = "[server]\nlisten = \"127.0.0.1:9\"\n[[apps]]\nname = \"good\"\nkind = \"okta\"\nrules = \"dept.wasm\"\n[[apps]]\nname = \"bad\"\nkind = \"okta\"\nrules = \"broken.wasm\"\n";
    std::fs::write(dir.join("usersync.toml"), config).unwrap();
    let (ok, out, err) = run(&["rules", "status", "--config", dir.join("usersync.toml").to_str().unwrap()]);
    assert!(ok, "{err}");
    let good = out.lines().find(|l| l.starts_with("good")).unwrap();
    let bad = out.lines().find(|l| l.starts_with("bad")).unwrap();
    assert!(good.contains(&content_hash(&std::fs::read(&module).unwrap())[..12]), "{out}");
    assert!(bad.contains("does not fit the usersync:rules world"), "{out}");
    assert!(out.contains("not running"), "{out}");
    assert!(out.contains("module dept (world 2.0.0)") && out.contains("(no settings)"), "the declaration: {out}");
}
