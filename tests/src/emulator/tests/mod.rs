//! The emulator over real sockets: one module per topic, one harness ([`Site`]) that starts
//! an emulator on 127.0.0.1:0 and speaks to it as the various callers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod control;
mod faults;
mod groups;
mod ldap;
mod paging;
mod users;
mod versions;

use std::net::SocketAddr;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

use super::{start, Emulator, EmulatorConfig, SeedUser, DEFAULT_ADMIN_TOKEN};

/// Who sends a request.
#[derive(Clone, Copy, Debug)]
pub(super) enum Who<'a> {
    Admin,
    /// The admin's PAT as `Bearer`.
    Pat,
    Basic(&'a str, &'a str),
    Bearer(&'a str),
    Anonymous,
}

/// A reply, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }
}

/// A running emulator and a client for it.
pub(super) struct Site {
    pub emulator: Emulator,
    pub http: reqwest::Client,
}

/// Member "mia" / "mia-pw" is a non-admin with a password, in the default configuration.
pub(super) const MEMBER: (&str, &str) = ("mia", "mia-pw");

pub(super) async fn site() -> Site {
    site_with(EmulatorConfig::default()).await
}

pub(super) async fn site_with(mut config: EmulatorConfig) -> Site {
    config.users.push(SeedUser::new(MEMBER.0, "Mia Member", "mia@example.com").with_password(MEMBER.1));
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let emulator = start(config, addr).await.unwrap();
    Site { emulator, http: reqwest::Client::new() }
}

impl Site {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    fn request(&self, who: Who<'_>, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match who {
            Who::Admin => request.basic_auth("admin", Some("admin")),
            Who::Pat => request.bearer_auth(DEFAULT_ADMIN_TOKEN),
            Who::Basic(user, password) => request.basic_auth(user, Some(password)),
            Who::Bearer(token) => request.bearer_auth(token),
            Who::Anonymous => request,
        }
    }

    /// Sends a request as a well-behaved client would (JSON plus the no-check token).
    pub async fn call(&self, who: Who<'_>, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.request(who, method, path).header("X-Atlassian-Token", "no-check");
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::finish(request).await
    }

    /// Sends a raw body with a chosen content type and optional XSRF token.
    pub async fn raw(&self, method: Method, path: &str, content_type: &str, body: &str, token: bool) -> Reply {
        let mut request =
            self.request(Who::Admin, method, path).header("content-type", content_type).body(body.to_owned());
        if token {
            request = request.header("X-Atlassian-Token", "no-check");
        }
        Self::finish(request).await
    }

    pub async fn finish(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, json }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Who::Admin, Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Who::Admin, Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str) -> Reply {
        self.call(Who::Admin, Method::PUT, path, None).await
    }

    pub async fn put_json(&self, path: &str, body: Value) -> Reply {
        self.call(Who::Admin, Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Who::Admin, Method::DELETE, path, None).await
    }

    /// Creates a user over REST with a password; panics unless 201. Returns the key.
    pub async fn create_user(&self, username: &str) -> String {
        let body = serde_json::json!({
            "userName": username, "fullName": format!("Full {username}"), "email": format!("{username}@example.com"),
            "password": "secret", "notifyViaEmail": false,
        });
        let reply = self.post("/rest/api/admin/user", body).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json["userKey"].as_str().unwrap().to_owned()
    }

    /// Follows `_links.next` from `path` and returns every result.
    pub async fn collect(&self, path: &str) -> Vec<Value> {
        let mut results = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let reply = self.get(&path).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text);
            results.extend(reply.json["results"].as_array().unwrap().iter().cloned());
            next = reply.json["_links"]["next"].as_str().map(str::to_owned);
        }
        results
    }
}

/// The envelope of reference §1.10 with the given status.
pub(super) fn assert_envelope(reply: &Reply, status: u16) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json["statusCode"], status, "{}", reply.text);
    let reason = reqwest::StatusCode::from_u16(status).unwrap().canonical_reason().unwrap();
    assert_eq!(reply.json["reason"], reason);
    assert_eq!(reply.json["data"]["successful"], false);
    assert!(reply.json["message"].is_string());
}
