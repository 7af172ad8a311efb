//! An in-process UserSync with four apps (one per IdP kind) and a token for each, driven
//! through the real router with `tower::ServiceExt::oneshot`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use usersync::config::Config;
use usersync::store::{migrate, open_connection, tokens};

pub const APPS: &[(&str, &str)] =
    &[("onelogin", "onelogin"), ("okta", "okta"), ("entra", "entra"), ("generic", "generic")];

/// The custom extension every test server's apps declare.
pub const ACME: &str = "urn:ietf:params:scim:schemas:extension:acme:2.0:User";

pub struct TestServer {
    pub router: Router,
    pub dir: PathBuf,
    pub tokens: HashMap<String, String>,
    pub config: Config,
    /// Shared by a server and its restarts, to know which one drops last.
    alive: std::sync::Arc<()>,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a SCIM error body with this status (and scimType, if given).
    #[track_caller]
    pub fn assert_error(&self, status: u16, scim_type: Option<&str>) {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.raw));
        assert_eq!(self.body["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error", "{}", self.body);
        assert_eq!(self.body["status"], Value::String(status.to_string()), "{}", self.body);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()), "{}", self.body);
        match scim_type {
            Some(t) => assert_eq!(self.body["scimType"], t, "{}", self.body),
            None => assert!(self.body.get("scimType").is_none(), "{}", self.body),
        }
        let ct = self.header("content-type").unwrap_or_default();
        assert!(ct.contains("json"), "error content type {ct}");
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary directory under the target dir's tmp (removed by the OS, not by us:
/// a failed test leaves its database for inspection).
pub fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("usersync-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The config text used by [`TestServer::new`], with `server_extra` appended to `[server]`
/// and `app_extra`'s lines added to the named apps' entries.
pub fn config_text_with(dir: &std::path::Path, server_extra: &str, app_extra: &[(&str, &str)]) -> String {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\npublic_url = \"https://sync.example.com\"\ndatabase = \"{}\"\n{server_extra}\n",
        dir.join("usersync.db").display()
    );
    for (name, kind) in APPS {
        let extra: Vec<&str> = app_extra.iter().filter(|(app, _)| app == name).map(|(_, line)| *line).collect();
        let extra = extra.join("\n");
        text.push_str(&format!(
            "[[apps]]\nname = \"{name}\"\nkind = \"{kind}\"\n{extra}\n[[apps.extensions]]\nurn = \"{ACME}\"\nname = \"AcmeUser\"\nattributes = [{{ name = \"badge\" }}, {{ name = \"clearance\", type = \"integer\" }}, {{ name = \"codes\", multi_valued = true, case_exact = true }}]\n"
        ));
    }
    text
}

impl TestServer {
    pub fn new() -> Self {
        Self::with_server_settings("")
    }

    pub fn with_server_settings(extra: &str) -> Self {
        Self::build(extra, &[], "")
    }

    /// As [`TestServer::with_server_settings`], with `suffix` appended to the config text
    /// (it extends the last app, `generic`).
    pub fn with_config(extra: &str, suffix: &str) -> Self {
        Self::build(extra, &[], suffix)
    }

    /// A server whose apps get `app_extra`'s lines (`("okta", "unknown_members = \"reject\"")`).
    pub fn with_apps_extra(app_extra: &[(&str, &str)]) -> Self {
        Self::build("", app_extra, "")
    }

    fn build(server_extra: &str, app_extra: &[(&str, &str)], suffix: &str) -> Self {
        let dir = temp_dir("srv");
        let config = Config::from_toml(&(config_text_with(&dir, server_extra, app_extra) + suffix), &dir).unwrap();
        let mut conn = open_connection(&config.database_path()).unwrap();
        migrate(&mut conn).unwrap();
        let mut toks = HashMap::new();
        for (name, _) in APPS {
            let (_, t) = tokens::create(&conn, name, "test").unwrap();
            toks.insert((*name).to_owned(), t);
        }
        let service = usersync::server::build(&config).unwrap();
        TestServer { router: service.router, dir, tokens: toks, config, alive: std::sync::Arc::new(()) }
    }

    /// Rebuilds the service on the same database (a restart).
    pub fn restart(&self) -> Self {
        let service = usersync::server::build(&self.config).unwrap();
        TestServer {
            router: service.router,
            dir: self.dir.clone(),
            tokens: self.tokens.clone(),
            config: self.config.clone(),
            alive: self.alive.clone(),
        }
    }

    /// A raw request: `path` is relative to the app's SCIM base (`/Users?…`); `token` None
    /// sends no Authorization header.
    pub async fn raw(&self, method: Method, uri: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Resp {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.router.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.into_body().collect().await.unwrap().to_bytes().to_vec();
        let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
        Resp { status, headers, raw, body }
    }

    /// A SCIM request to `app` with its own token and `application/scim+json`.
    pub async fn call(&self, app: &str, method: Method, path: &str, body: Option<Value>) -> Resp {
        self.call_with(app, method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        app: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = format!("Bearer {}", self.tokens[app]);
        let mut headers: Vec<(&str, &str)> = vec![("authorization", auth.as_str())];
        let has_ct = extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if body.is_some() && !has_ct {
            headers.push(("content-type", "application/scim+json"));
        }
        headers.extend_from_slice(extra);
        let bytes = body.map(|b| serde_json::to_vec(&b).unwrap()).unwrap_or_default();
        self.raw(method, &format!("/scim/v2/{app}{path}"), &headers, bytes).await
    }

    pub async fn get(&self, app: &str, path: &str) -> Resp {
        self.call(app, Method::GET, path, None).await
    }

    pub async fn post(&self, app: &str, path: &str, body: Value) -> Resp {
        self.call(app, Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, app: &str, path: &str, body: Value) -> Resp {
        self.call(app, Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, app: &str, path: &str, body: Value) -> Resp {
        self.call(app, Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, app: &str, path: &str) -> Resp {
        self.call(app, Method::DELETE, path, None).await
    }

    /// Creates a user and returns its id.
    pub async fn user(&self, app: &str, user_name: &str) -> String {
        let r = self.post(app, "/Users", user_body(user_name)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a group with these member ids and returns its id.
    pub async fn group(&self, app: &str, name: &str, members: &[&str]) -> String {
        let members: Vec<Value> = members.iter().map(|m| serde_json::json!({"value": m})).collect();
        let r = self
            .post(app, "/Groups", serde_json::json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name, "members": members}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestServer {
    /// Removes the database unless the test failed (then it stays for inspection). A
    /// restarted server shares the directory, so only the last one to go removes it.
    fn drop(&mut self) {
        if !std::thread::panicking() && std::sync::Arc::strong_count(&self.alive) == 1 {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A realistic user body (what Okta's test posts).
pub fn user_body(user_name: &str) -> Value {
    let local = user_name.split('@').next().unwrap_or(user_name);
    serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": user_name,
        "name": {"givenName": format!("Given {local}"), "familyName": format!("Family {local}")},
        "displayName": format!("Given {local} Family {local}"),
        "emails": [{"value": format!("{local}@example.com"), "type": "work", "primary": true}],
        "active": true,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Engineering", "employeeNumber": "1001"}
    })
}
