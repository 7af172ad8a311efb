//! The HTTP side of the client: URLs under the base URL (context path included), headers,
//! the per-app concurrency limit, paging, read retries and the version probe.
//!
//! Users and groups live in `users.rs` and `groups.rs`; they call the helpers here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Semaphore;

use super::error::{classify, classify_transport, ConfluenceError, SetupProblem};
use super::settings::{Auth, ClientTuning, ConfluenceSettings};
use super::version::{Operation, ServerInfo, Version, VersionSource};
use super::wire;

/// The most pages one listing follows (200 per page: a million users and more).
const MAX_PAGES: usize = 20_000;

/// The group whose member listing tells whether the account has administrator rights
/// (reference §1.7: "You need admin permissions to use this endpoint").
const ADMINISTRATORS: &str = "confluence-administrators";

/// A Confluence Data Center REST client for one app. Cheap to clone (an `Arc` inside); clones share
/// the connection pool, the concurrency limit and the detected version.
#[derive(Clone)]
pub struct ConfluenceClient {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    http: reqwest::Client,
    /// The base URL, path without a trailing slash (`http://h:8090/confluence`).
    base: Url,
    /// The `Authorization` header; replaced when the credentials are read again.
    auth: RwLock<HeaderValue>,
    permits: Semaphore,
    pub(super) tuning: ClientTuning,
    configured: Option<Version>,
    info: Mutex<Option<ServerInfo>>,
    /// Set when `PUT /rest/api/admin/user/{u}` turned out to be missing (404/405).
    pub(super) update_user_missing: AtomicBool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ConfluenceClient>();
};

impl std::fmt::Debug for ConfluenceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfluenceClient").field("base_url", &self.inner.base.as_str()).finish_non_exhaustive()
    }
}

/// An HTTP answer, body read in full.
pub(super) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn error(&self) -> ConfluenceError {
        classify(self.status, &self.headers, &self.body)
    }

    /// A 404 from an endpoint that must exist (a collection, the current user): what answers
    /// at the base URL is not Confluence's REST API.
    pub fn endpoint_missing(&self) -> ConfluenceError {
        ConfluenceError::Setup {
            status: Some(self.status.as_u16()),
            problem: SetupProblem::BaseUrl,
            message: format!(
                "Confluence answered {} for an endpoint every Confluence has; check the base URL (scheme, host \
                 and context path)",
                self.status.as_u16()
            ),
        }
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConfluenceError> {
        serde_json::from_slice(&self.body).map_err(|e| ConfluenceError::UnexpectedResponse {
            status: self.status.as_u16(),
            message: format!("the body is not the JSON expected ({e})"),
        })
    }
}

impl ConfluenceClient {
    /// Checks the settings and builds the HTTP client. Sends nothing.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Config`] for a base URL that is not `http(s)://host[:port][/context]`
    /// (credentials, a query or a fragment in it are refused), a zero timeout or concurrency,
    /// a configured version that does not parse, or credentials no header can carry.
    pub fn new(settings: ConfluenceSettings) -> Result<Self, ConfluenceError> {
        let config = |m: String| ConfluenceError::Config(m);
        let mut base = Url::parse(settings.base_url.trim())
            .map_err(|e| config(format!("base URL {:?} does not parse: {e}", settings.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(config(format!("base URL {:?} must be http(s)://host[:port][/context]", settings.base_url)));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(config("the base URL must not carry credentials; use the auth settings".to_owned()));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(config(format!("base URL {:?} must not have a query or fragment", settings.base_url)));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&path);
        if settings.max_concurrency == 0 {
            return Err(config("max_concurrency must be at least 1".to_owned()));
        }
        if settings.request_timeout.is_zero() {
            return Err(config("request_timeout must be more than zero".to_owned()));
        }
        if settings.tuning.read_attempts == 0 || settings.tuning.page_limit == 0 {
            return Err(config("read_attempts and page_limit must be at least 1".to_owned()));
        }
        let configured = match settings.version.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            Some(v) => Some(Version::parse(v).map_err(|e| config(e.to_string()))?),
            None => None,
        };
        let auth = settings.auth.header_value()?;
        let http = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout)
            // A redirect means a wrong base URL; following it could also carry credentials elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        let permits = Semaphore::new(settings.max_concurrency.min(Semaphore::MAX_PERMITS));
        let info = configured.clone().map(|v| ServerInfo::new(v, None, VersionSource::Configured));
        Ok(ConfluenceClient {
            inner: Arc::new(Inner {
                http,
                base,
                auth: RwLock::new(auth),
                permits,
                tuning: settings.tuning,
                configured,
                info: Mutex::new(info),
                update_user_missing: AtomicBool::new(false),
            }),
        })
    }

    /// Uses `auth` from the next request on (the secret was read again). Returns whether it
    /// differs from the credentials in use.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Config`] for credentials no header can carry; the old ones stay.
    pub fn set_auth(&self, auth: &Auth) -> Result<bool, ConfluenceError> {
        let header = auth.header_value()?;
        let mut current = self.inner.auth.write().unwrap_or_else(PoisonError::into_inner);
        if *current == header {
            return Ok(false);
        }
        *current = header;
        Ok(true)
    }

    /// Checks that Confluence accepts the credentials and that the account may administer
    /// users: `GET /rest/api/user/current` (an authenticated call; version detection is
    /// anonymous), then the first member of `confluence-administrators` (a listing that
    /// needs administrator rights; a 404, no such group, says nothing against them). Two
    /// reads; returns the account's username.
    ///
    /// # Errors
    ///
    /// [`ConfluenceError::Setup`]: [`SetupProblem::Credentials`] when Confluence rejects the
    /// credentials or sees an anonymous caller, [`SetupProblem::Permission`] when the account
    /// lacks administrator rights, [`SetupProblem::BaseUrl`] when the base URL does not lead to
    /// the REST API; transient errors as classified.
    pub async fn check_credentials(&self) -> Result<String, ConfluenceError> {
        let what = "check UserSync's Confluence credentials (GET /rest/api/user/current)";
        let url = self.url(&["rest", "api", "user", "current"]);
        let reply = self.send(Method::GET, url, None).await.map_err(|e| e.context(what))?;
        if reply.status == StatusCode::NOT_FOUND {
            return Err(reply.endpoint_missing().context(what));
        }
        if !reply.status.is_success() {
            return Err(reply.error().context(what));
        }
        let person: wire::Person = reply.json().map_err(|e| e.context(what))?;
        let username = match person.username.filter(|_| !matches!(person.kind.as_deref(), Some("anonymous"))) {
            Some(name) => name,
            None => {
                return Err(ConfluenceError::Setup {
                    status: Some(reply.status.as_u16()),
                    problem: SetupProblem::Credentials,
                    message: format!(
                        "{what}: Confluence sees UserSync as anonymous; the credentials did not reach it (a proxy may \
                         strip the Authorization header)"
                    ),
                })
            }
        };
        let what = "check that UserSync's Confluence account has administrator rights";
        let mut url = self.url(&["rest", "api", "group", ADMINISTRATORS, "member"]);
        url.query_pairs_mut().append_pair("limit", "1");
        let reply = self.send(Method::GET, url, None).await.map_err(|e| e.context(what))?;
        if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND {
            return Ok(username);
        }
        Err(match reply.error() {
            ConfluenceError::Setup { status, problem: SetupProblem::Permission, .. } => ConfluenceError::Setup {
                status,
                problem: SetupProblem::Permission,
                message: format!(
                    "Confluence answered 403 to {username}: the account needs Confluence Administrator rights"
                ),
            },
            other => other.context(what),
        })
    }

    /// Tells what a 403 on a write means. The account lacks administrator rights (the error
    /// stays a [`SetupProblem::Permission`]), or the account is fine and Confluence refuses
    /// the change itself: the user or group lives in a read-only directory, a fact of the
    /// data ([`ConfluenceError::Permanent`]). Any other error is returned as it is.
    ///
    /// # Errors
    ///
    /// The explained error, always; a failed check (Confluence unreachable meanwhile, or the
    /// credentials rejected) returns the check's own error.
    pub async fn explain_forbidden(&self, error: ConfluenceError) -> ConfluenceError {
        let ConfluenceError::Setup { status, problem: SetupProblem::Permission, message } = error else {
            return error;
        };
        match self.check_credentials().await {
            Ok(account) => ConfluenceError::Permanent {
                status: status.unwrap_or(403),
                message: format!(
                    "{message} ({account} has administrator rights, so Confluence refuses this change itself: the \
                     user or group lives in a read-only directory)"
                ),
            },
            Err(e) => e,
        }
    }

    /// The base URL, context path included, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str().trim_end_matches('/')
    }

    /// Detects the Confluence version from `GET /rest/applinks/1.0/manifest` (unless one is
    /// configured, in which case no request is sent) and remembers it for the version checks.
    ///
    /// # Errors
    ///
    /// Transport and HTTP errors as classified; [`ConfluenceError::UnexpectedResponse`] when the
    /// manifest has no version or names another product (Jira, Bitbucket, ...).
    pub async fn probe(&self) -> Result<ServerInfo, ConfluenceError> {
        let info = match &self.inner.configured {
            Some(version) => ServerInfo::new(version.clone(), None, VersionSource::Configured),
            None => self.fetch_manifest().await?,
        };
        if let Ok(mut slot) = self.inner.info.lock() {
            *slot = Some(info.clone());
        }
        Ok(info)
    }

    /// What is known about the server: remembered from the last probe, or probed now.
    ///
    /// # Errors
    ///
    /// As [`ConfluenceClient::probe`].
    pub async fn server_info(&self) -> Result<ServerInfo, ConfluenceError> {
        let known = self.inner.info.lock().ok().and_then(|slot| slot.clone());
        match known {
            Some(info) => Ok(info),
            None => self.probe().await,
        }
    }

    async fn fetch_manifest(&self) -> Result<ServerInfo, ConfluenceError> {
        let what = "detect the Confluence version (GET /rest/applinks/1.0/manifest; set the version in the \
                    settings to skip this)";
        let url = self.url(&["rest", "applinks", "1.0", "manifest"]);
        let reply = self.send(Method::GET, url, None).await.map_err(|e| e.context(what))?;
        if !reply.status.is_success() {
            return Err(reply.error().context(what));
        }
        let manifest: wire::Manifest = reply.json().map_err(|e| e.context(what))?;
        let unexpected =
            |message: String| ConfluenceError::UnexpectedResponse { status: reply.status.as_u16(), message };
        if let Some(kind) = manifest.type_id.as_deref().filter(|t| !t.eq_ignore_ascii_case("confluence")) {
            return Err(unexpected(format!("{what}: the base URL serves {kind:?}, not Confluence")));
        }
        let raw = manifest.version.ok_or_else(|| unexpected(format!("{what}: the manifest has no version")))?;
        let version = Version::parse(&raw).map_err(|e| unexpected(format!("{what}: {e}")))?;
        let build_number = match manifest.build_number {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        tracing::info!(version = %version, build_number, base_url = %self.base_url(), "detected Confluence");
        Ok(ServerInfo::new(version, build_number, VersionSource::Probed))
    }

    /// Fails with [`ConfluenceError::Unsupported`], without a request, when the version lacks `op`.
    pub(super) async fn require(&self, op: Operation) -> Result<(), ConfluenceError> {
        let info = self.server_info().await?;
        let missing_at_run_time = op == Operation::UpdateUser && self.inner.update_user_missing.load(Ordering::Relaxed);
        if info.capabilities.allows(op) && !missing_at_run_time {
            Ok(())
        } else {
            Err(self.unsupported(op, &info.version))
        }
    }

    pub(super) fn unsupported(&self, op: Operation, version: &Version) -> ConfluenceError {
        ConfluenceError::Unsupported { operation: op.name(), version: version.to_string(), hint: op.hint(version) }
    }

    /// `base/segment/segment...`, each segment percent-encoded (a `/` in a group name stays inside
    /// its segment).
    pub(super) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Resolves a link from Confluence (`_links.next`, a long task's status). Links are relative to
    /// base + context; one that already starts with the context path or is absolute on the same
    /// origin is accepted too. Links to another origin are refused: the credentials stay home.
    pub(super) fn resolve_link(&self, link: &str) -> Result<Url, ConfluenceError> {
        let base = &self.inner.base;
        let refused =
            |why: &str| ConfluenceError::UnexpectedResponse { status: 200, message: format!("link {link:?} {why}") };
        if let Ok(absolute) = Url::parse(link) {
            return if absolute.origin() == base.origin() {
                Ok(absolute)
            } else {
                Err(refused("points away from the Confluence base URL; not followed"))
            };
        }
        let context = base.path().trim_end_matches('/');
        let origin = base.origin().ascii_serialization();
        let path = if link.starts_with('/') { link.to_owned() } else { format!("/{link}") };
        let full = if !context.is_empty() && (path.starts_with(&format!("{context}/")) || path == context) {
            format!("{origin}{path}")
        } else {
            format!("{origin}{context}{path}")
        };
        Url::parse(&full).map_err(|_| refused("cannot be resolved against the base URL"))
    }

    /// One HTTP exchange under the concurrency limit. Writes carry the JSON content type and the
    /// XSRF opt-out; every request carries `Accept: application/json` and the credentials.
    pub(super) async fn send(&self, method: Method, url: Url, body: Option<Vec<u8>>) -> Result<Reply, ConfluenceError> {
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| ConfluenceError::Config("the client's request limiter was closed".to_owned()))?;
        let is_write = method != Method::GET && method != Method::HEAD;
        let auth = self.inner.auth.read().unwrap_or_else(PoisonError::into_inner).clone();
        let mut request = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, auth)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("usersync/", env!("CARGO_PKG_VERSION")));
        if is_write {
            request = request.header(CONTENT_TYPE, "application/json").header("X-Atlassian-Token", "no-check");
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let started = std::time::Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(%method, path = url.path(), error = %e, "Confluence request failed");
                return Err(classify_transport(&e));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| classify_transport(&e))?;
        tracing::debug!(%method, path = url.path(), status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "Confluence request");
        Ok(Reply { status, headers, body })
    }

    pub(super) fn json_body<T: Serialize>(value: &T) -> Result<Vec<u8>, ConfluenceError> {
        serde_json::to_vec(value).map_err(|e| ConfluenceError::InvalidInput { field: "body", reason: e.to_string() })
    }

    /// Runs `attempt` up to `read_attempts` times while it fails transiently, waiting per
    /// [`super::Backoff`] (or `Retry-After`) in between. Used for listings only.
    async fn retry_read<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T, ConfluenceError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ConfluenceError>>,
    {
        let tuning = &self.inner.tuning;
        let mut tries = 0u32;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_transient() && tries + 1 < tuning.read_attempts => {
                    let wait = tuning.read_backoff.delay(tries, e.retry_after());
                    tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "{what}: retrying");
                    tries += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every item of a paged listing: follows `_links.next`, or asks for the next `start` while a
    /// page comes back full without links. Each page is retried on transient errors.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        what: &str,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Vec<T>, ConfluenceError> {
        let mut items = Vec::new();
        self.list_pages(what, segments, query, |page| items.extend(page)).await?;
        Ok(items)
    }

    /// [`Self::list_all`], handing each page's items to `each` as it arrives, so a caller
    /// that keeps only part of each item (100,000 users, say) never holds the whole listing.
    pub(super) async fn list_pages<T: DeserializeOwned>(
        &self,
        what: &str,
        segments: &[&str],
        query: &[(&str, &str)],
        mut each: impl FnMut(Vec<T>),
    ) -> Result<(), ConfluenceError> {
        let limit = self.inner.tuning.page_limit.to_string();
        let first = {
            let mut url = self.url(segments);
            url.query_pairs_mut().extend_pairs(query).append_pair("start", "0").append_pair("limit", &limit);
            url
        };
        let mut url = first.clone();
        for _ in 0..MAX_PAGES {
            let page: wire::Page<T> = self
                .retry_read(what, || async {
                    let reply = self.send(Method::GET, url.clone(), None).await?;
                    if !reply.status.is_success() {
                        return Err(reply.error());
                    }
                    reply.json()
                })
                .await
                .map_err(|e| e.context(what))?;
            let count = page.results.len() as u64;
            let full = count > 0 && page.limit.is_some_and(|l| count >= l);
            let next = match page.links {
                Some(links) => match links.next {
                    Some(next) => Some(self.resolve_link(&next).map_err(|e| e.context(what))?),
                    None => None,
                },
                // No links at all: fall back on "a full page means there may be more".
                None if full => {
                    let start = page.start.unwrap_or(0) + count;
                    let mut next = first.clone();
                    next.query_pairs_mut()
                        .clear()
                        .extend_pairs(query)
                        .append_pair("start", &start.to_string())
                        .append_pair("limit", &limit);
                    Some(next)
                }
                None => None,
            };
            each(page.results);
            match next {
                Some(next) if next == url => {
                    return Err(ConfluenceError::UnexpectedResponse {
                        status: 200,
                        message: format!("{what}: the next page link repeats the current page ({next})"),
                    })
                }
                Some(next) => url = next,
                None => return Ok(()),
            }
        }
        Err(ConfluenceError::UnexpectedResponse {
            status: 200,
            message: format!("{what}: more than {MAX_PAGES} pages; stopped"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confluence::Auth;

    fn client(base: &str) -> ConfluenceClient {
        ConfluenceClient::new(ConfluenceSettings::new(base, Auth::Token("t".into()))).unwrap()
    }

    #[test]
    fn urls_keep_the_context_path_and_encode_segments() {
        let c = client("http://h:8090/confluence/");
        assert_eq!(c.base_url(), "http://h:8090/confluence");
        assert_eq!(
            c.url(&["rest", "api", "user", "a.b@c", "group", "r&d/ops x"]).as_str(),
            "http://h:8090/confluence/rest/api/user/a.b@c/group/r&d%2Fops%20x"
        );
        let root = client("https://wiki.example.com");
        assert_eq!(root.url(&["rest", "api", "group"]).as_str(), "https://wiki.example.com/rest/api/group");
    }

    #[test]
    fn links_resolve_against_base_and_context() {
        let c = client("http://h:8090/confluence");
        let cases = [
            ("/rest/api/group?limit=200&start=200", "http://h:8090/confluence/rest/api/group?limit=200&start=200"),
            ("rest/api/group?start=2", "http://h:8090/confluence/rest/api/group?start=2"),
            ("/confluence/rest/api/group?start=2", "http://h:8090/confluence/rest/api/group?start=2"),
            ("http://h:8090/confluence/rest/api/longtask/9", "http://h:8090/confluence/rest/api/longtask/9"),
        ];
        for (link, expected) in cases {
            assert_eq!(c.resolve_link(link).unwrap().as_str(), expected, "{link}");
        }
        assert!(c.resolve_link("http://evil.example/rest/api/group").is_err());
        assert!(c.resolve_link("https://h:8090/confluence/rest/api/group").is_err());
        let root = client("http://h");
        assert_eq!(root.resolve_link("/rest/api/group?start=1").unwrap().as_str(), "http://h/rest/api/group?start=1");
    }

    #[test]
    fn settings_are_checked() {
        let try_new = |base: &str, f: &dyn Fn(&mut ConfluenceSettings)| {
            let mut s = ConfluenceSettings::new(base, Auth::Token("t".into()));
            f(&mut s);
            ConfluenceClient::new(s)
        };
        for bad in ["", "h:8090", "ftp://h", "http://u:p@h", "http://h/c?x=1", "http://h/#f", "not a url"] {
            let err = try_new(bad, &|_| {}).unwrap_err();
            assert!(matches!(err, ConfluenceError::Config(_)), "{bad}: {err:?}");
        }
        assert!(try_new("http://h", &|s| s.max_concurrency = 0).is_err());
        assert!(try_new("http://h", &|s| s.request_timeout = std::time::Duration::ZERO).is_err());
        assert!(try_new("http://h", &|s| s.version = Some("banana".into())).is_err());
        assert!(try_new("http://h", &|s| s.version = Some("8.5.4".into())).is_ok());
    }

    #[tokio::test]
    async fn configured_version_needs_no_request() {
        let mut s = ConfluenceSettings::new("http://127.0.0.1:9", Auth::Token("t".into()));
        s.version = Some("8.3.2".into());
        let c = ConfluenceClient::new(s).unwrap();
        let info = c.probe().await.unwrap();
        assert_eq!(info.version, Version::new(8, 3, 2));
        assert_eq!(info.source, VersionSource::Configured);
        let err = c.require(Operation::CreateUser).await.unwrap_err();
        assert!(matches!(err, ConfluenceError::Unsupported { operation: "create user", .. }), "{err:?}");
        assert!(err.to_string().contains("8.4+"), "{err}");
        c.require(Operation::ManageGroups).await.unwrap();
    }
}
