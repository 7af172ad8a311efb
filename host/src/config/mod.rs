//! The configuration file (TOML): server settings and the apps (identity-provider
//! connections) it serves. See the README for a complete, commented example.
//!
//! Secrets never live in the file itself: an app's bootstrap bearer token is read from an
//! environment variable (`token_env`) or a file (`token_file`) and only its hash is kept.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::rules::types::{Setting, SettingValue};
use crate::rules::{RuleLimits, RulesBudget};

use crate::scim::schema::{AttrType, AttributeDef, CustomExtension, ResourceKind};

mod directory;
pub use directory::{DirectoryConfig, DirectoryType, Membership, SearchScope, SyncStrategy};

/// Errors in the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is not valid: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("config: {0}")]
    Invalid(String),
    #[error("config: app {app}: cannot read its token: {detail}")]
    Secret { app: String, detail: String },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    #[serde(default)]
    pub apps: Vec<AppConfig>,
    /// `[confluence]`: where decisions are applied. Without it, SCIM changes and the rules'
    /// decisions are stored but nothing is sent anywhere.
    #[serde(default)]
    pub confluence: Option<ConfluenceConfig>,
    /// `[console]`: the web console at `/console/`.
    #[serde(default)]
    pub console: ConsoleConfig,
    /// The directory relative paths in this file are resolved against (set by [`Config::load`]).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[console]`: the admin console's sessions and where logins may come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console at `/console/`. Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// A session ends after this many minutes without a request. Default 30.
    #[serde(default = "default_idle_minutes")]
    pub session_idle_minutes: u64,
    /// And in any case this many hours after the login. Default 12.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// A reverse proxy in front of UserSync terminates TLS: logins are then accepted from
    /// any address. Without it (and without TLS in the process), the console accepts
    /// logins only from loopback, since a password would otherwise cross the network in
    /// the clear. Default false.
    #[serde(default)]
    pub behind_tls_proxy: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            session_idle_minutes: default_idle_minutes(),
            session_hours: default_session_hours(),
            behind_tls_proxy: false,
        }
    }
}

fn default_idle_minutes() -> u64 {
    30
}

fn default_session_hours() -> u64 {
    12
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The URL identity providers reach this server at, without a trailing slash; SCIM base
    /// URLs are `<public_url>/scim/v2/<app>`. Default `http://<listen>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// SQLite database file. Default `usersync.db` next to the config file.
    #[serde(default = "default_database")]
    pub database: PathBuf,
    /// TLS in the process: the certificate chain (PEM) and its private key (PEM), relative
    /// to the config file. Both or neither; read again when either file changes.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes (413 beyond). Default 1 MiB.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Largest page a list or search returns (`filter.maxResults`). Default 1,000.
    #[serde(default = "default_max_results")]
    pub max_results: usize,
    /// `/Bulk` limits, advertised in `/ServiceProviderConfig`. Defaults 1,000 operations, 1 MiB.
    #[serde(default = "default_bulk_ops")]
    pub bulk_max_operations: usize,
    #[serde(default = "default_max_body")]
    pub bulk_max_payload_bytes: usize,
    /// How long a client has to send a request's line and headers, from the moment the
    /// connection opens (or its previous response is sent and the next request's first
    /// byte arrives); the connection is closed past it. Default 10,000 ms.
    #[serde(default = "default_header_read_timeout")]
    pub header_read_timeout_ms: u64,
    /// How long a client has to send a request's whole body, from the end of its headers;
    /// the request is answered 408 and the connection closed past it. Default 15,000 ms.
    #[serde(default = "default_body_read_timeout")]
    pub body_read_timeout_ms: u64,
    /// How long a connection may stay open between requests (no request in progress and no
    /// byte moving either way) before it is closed. Default 30,000 ms.
    #[serde(default = "default_keep_alive_timeout")]
    pub keep_alive_timeout_ms: u64,
    /// Connections served at once; more are answered 503 and closed at once. Lowered at
    /// start-up when the process may not open that many files. Default 512.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Failed authentications one client address may make per minute (a burst of this many,
    /// then one every `60 / n` seconds) before it is answered 429 without its token being
    /// checked. IPv6 clients count per /64. 0 turns it off. Default 30.
    #[serde(default = "default_auth_failures_per_client")]
    pub auth_failures_per_client: u32,
    /// Failed authentications one app (or the admin API) may see per minute, from every
    /// address together, before requests from addresses that have not authenticated
    /// successfully to it in the last 24 hours are answered 429 without their token being
    /// checked. 0 turns it off. Default 120.
    #[serde(default = "default_auth_failures_per_app")]
    pub auth_failures_per_app: u32,
    /// Members one `POST`, `PUT` or `PATCH` of a group may add (400 `invalidValue` beyond).
    /// Default 10,000.
    #[serde(default = "default_max_members_per_request")]
    pub max_members_per_request: usize,
    /// Guest memory, in MiB, that all rules decisions running at once may reserve together:
    /// each reserves its module's `rules_limits.memory_mb` before it starts. Default 512.
    #[serde(default = "default_rules_memory_mb")]
    pub rules_memory_mb: usize,
    /// How long a decision waits for its memory (or one of the engine's decision slots)
    /// before it fails with an error naming its module, in milliseconds. Default 2,000.
    #[serde(default = "default_rules_admission_wait_ms")]
    pub rules_admission_wait_ms: u64,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_database() -> PathBuf {
    PathBuf::from("usersync.db")
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_max_results() -> usize {
    1000
}
fn default_bulk_ops() -> usize {
    1000
}
fn default_header_read_timeout() -> u64 {
    10_000
}
fn default_body_read_timeout() -> u64 {
    15_000
}
fn default_keep_alive_timeout() -> u64 {
    30_000
}
fn default_max_connections() -> usize {
    512
}
fn default_auth_failures_per_client() -> u32 {
    30
}
fn default_auth_failures_per_app() -> u32 {
    120
}
fn default_max_members_per_request() -> usize {
    10_000
}
fn default_rules_memory_mb() -> usize {
    512
}
fn default_rules_admission_wait_ms() -> u64 {
    2_000
}

impl ServerConfig {
    /// The rules engine's host-wide limits (`rules_memory_mb`, `rules_admission_wait_ms`).
    pub fn rules_budget(&self) -> RulesBudget {
        RulesBudget {
            memory_bytes: self.rules_memory_mb.saturating_mul(1 << 20),
            admission_wait: std::time::Duration::from_millis(self.rules_admission_wait_ms),
        }
    }
}

/// The identity provider behind an app; it selects protocol defaults (response media type,
/// what a duplicate `POST /Users` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdpKind {
    Onelogin,
    Okta,
    Entra,
    Generic,
    /// An LDAP or Active Directory directory, pulled (`[apps.directory]`); it takes no
    /// SCIM writes.
    Ldap,
}

impl IdpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdpKind::Onelogin => "onelogin",
            IdpKind::Okta => "okta",
            IdpKind::Entra => "entra",
            IdpKind::Generic => "generic",
            IdpKind::Ldap => "ldap",
        }
    }
}

/// What `POST /Users` does when the `userName` exists already (case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicatePolicy {
    /// 409 `uniqueness` (RFC 7644; Okta's test requires it).
    Conflict,
    /// Link to the existing user: replace it with the posted body and answer 201 with its id.
    /// OneLogin marks a 409 as a Failed task an admin must retry by hand.
    Adopt,
}

/// What a group write does with a member id that is neither a user nor a group of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownMemberPolicy {
    /// 400 `invalidValue` naming the ids (RFC 7644 §3.5.2 allows it); nothing is stored.
    Reject,
    /// Store the group without them and log a warning.
    Drop,
}

/// One `[[apps]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// URL-safe name: the SCIM base URL is `<public_url>/scim/v2/<name>`.
    pub name: String,
    pub kind: IdpKind,
    /// Default: `adopt` for OneLogin, `conflict` for the others.
    #[serde(default)]
    pub on_duplicate: Option<DuplicatePolicy>,
    /// Group members that name no user or group of the app: `drop` (default for OneLogin,
    /// Okta and Entra) or `reject` (default for `generic`).
    #[serde(default)]
    pub unknown_members: Option<UnknownMemberPolicy>,
    /// Name of an environment variable holding a bearer token for this app.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Path of a file holding a bearer token for this app (trailing newline ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Custom extension schemas (served in `/Schemas`, stored, filterable).
    #[serde(default)]
    pub extensions: Vec<ExtensionConfig>,
    /// The app's rules module (a `.wasm` component, or a core module with the rules world
    /// embedded, as `usersync rules build` and the SDK make), relative to the config file.
    /// It is watched and hot-reloaded. Without one, SCIM writes are stored but no
    /// Confluence state is decided.
    #[serde(default)]
    pub rules: Option<PathBuf>,
    /// Limits for each decision of the app's module.
    #[serde(default)]
    pub rules_limits: RulesLimitsConfig,
    /// The settings the module reads (`[apps.settings]`): strings, booleans, integers,
    /// arrays of strings, and tables of strings (mappings, in file order).
    #[serde(default)]
    pub settings: toml::Table,
    /// What a person the identity provider deletes (or the rules stop provisioning)
    /// becomes in Confluence: `disable` (default) or `delete`. `active: false` always
    /// disables.
    #[serde(default)]
    pub deprovision: DeprovisionPolicy,
    /// `[apps.rate_limit]`: the most requests the app's identity provider may make, answered
    /// 429 with `Retry-After` beyond it. Off by default.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// The deprovisioning circuit breaker (`[apps.breaker]`).
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// `[apps.directory]`: where an app of kind `ldap` reads its people and groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryConfig>,
}

/// `[apps.rate_limit]`: a token bucket over an app's authenticated SCIM requests (a Bulk
/// counts once).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The sustained rate.
    pub requests_per_second: f64,
    /// How many requests may come at once after a quiet spell. Default: twice
    /// `requests_per_second`, at least 1.
    #[serde(default)]
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    /// The bucket's size.
    pub fn burst(&self) -> f64 {
        self.burst.map_or((self.requests_per_second * 2.0).max(1.0), |b| f64::from(b.max(1)))
    }
}

/// `[apps.breaker]`: when an app's disables and deletes in a sliding window pass the larger
/// of `max_deprovisions` and `max_share` of its people, the rest are held for approval
/// (`usersync outbox approve|discard --app NAME`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Default 50.
    #[serde(default = "default_max_deprovisions")]
    pub max_deprovisions: usize,
    /// Default 0.10 (10 % of the app's people); between 0 and 1.
    #[serde(default = "default_max_share")]
    pub max_share: f64,
    /// Default 600 (10 minutes).
    #[serde(default = "default_window_secs")]
    pub window_secs: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            max_deprovisions: default_max_deprovisions(),
            max_share: default_max_share(),
            window_secs: default_window_secs(),
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_max_deprovisions() -> usize {
    50
}
fn default_max_share() -> f64 {
    0.10
}
fn default_window_secs() -> u64 {
    600
}

/// `deprovision` of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeprovisionPolicy {
    #[default]
    Disable,
    Delete,
}

/// `[confluence]`: the Confluence Data Center every app provisions into. Each app gets its
/// own connection pool and concurrency limit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfluenceConfig {
    /// Base URL, with the context path if any (`https://wiki.example.com/confluence`).
    pub url: String,
    /// For basic authentication: the administrator's username, with `password_env` or
    /// `password_file`. Or use a personal access token (`token_env` / `token_file`).
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// The Confluence version, when it must not be detected (`9.2.1`).
    #[serde(default)]
    pub version: Option<String>,
    /// Requests each app may have in flight at once. Default 4.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Timeout of one request, in milliseconds. Default 10,000.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// How long a SCIM write waits for its Confluence operations before answering (the
    /// rest are applied from the outbox), in milliseconds. Default 2,000.
    #[serde(default = "default_apply_deadline_ms")]
    pub apply_deadline_ms: u64,
    /// Longest wait between retries of a failing operation, in milliseconds. Default 30,000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
}

impl ConfluenceConfig {
    /// `[confluence]` with its URL only, every other setting at its default: the Confluence
    /// a connection saved in the console points at, when the file has no such section.
    pub fn with_url(url: &str) -> ConfluenceConfig {
        ConfluenceConfig {
            url: url.to_owned(),
            username: None,
            password_env: None,
            password_file: None,
            token_env: None,
            token_file: None,
            version: None,
            max_concurrency: default_concurrency(),
            request_timeout_ms: default_request_timeout_ms(),
            apply_deadline_ms: default_apply_deadline_ms(),
            max_backoff_ms: default_max_backoff_ms(),
        }
    }
}

fn default_concurrency() -> usize {
    4
}
fn default_request_timeout_ms() -> u64 {
    10_000
}
fn default_apply_deadline_ms() -> u64 {
    2_000
}
fn default_max_backoff_ms() -> u64 {
    30_000
}

/// Credentials for Confluence, read from the environment or files named in the config.
#[derive(Clone, PartialEq, Eq)]
pub enum ConfluenceCredentials {
    Basic { username: String, password: String },
    Token(String),
}

impl std::fmt::Debug for ConfluenceCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfluenceCredentials::Basic { username, .. } => write!(f, "Basic({username}, <password>)"),
            ConfluenceCredentials::Token(_) => f.write_str("Token(<secret>)"),
        }
    }
}

impl ConfluenceConfig {
    /// Reads the credentials.
    ///
    /// # Errors
    /// Neither or both of a username+password and a token are given, or a variable or file
    /// named is missing or empty.
    pub fn credentials(&self, base_dir: &Path) -> Result<ConfluenceCredentials, ConfigError> {
        let secret =
            |env: &Option<String>, file: &Option<PathBuf>, what: &str| -> Result<Option<String>, ConfigError> {
                let fail = |detail: String| ConfigError::Secret { app: "confluence".into(), detail };
                let value = match (env, file) {
                    (Some(var), _) => std::env::var(var)
                        .map_err(|_| fail(format!("environment variable {var} ({what}) is not set")))?,
                    (None, Some(file)) => {
                        let path = if file.is_absolute() { file.clone() } else { base_dir.join(file) };
                        std::fs::read_to_string(&path).map_err(|e| fail(format!("{} ({what}): {e}", path.display())))?
                    }
                    (None, None) => return Ok(None),
                };
                let value = value.trim().to_owned();
                if value.is_empty() {
                    return Err(fail(format!("the {what} is empty")));
                }
                Ok(Some(value))
            };
        let password = secret(&self.password_env, &self.password_file, "password")?;
        let token = secret(&self.token_env, &self.token_file, "personal access token")?;
        match (&self.username, password, token) {
            (Some(username), Some(password), None) => {
                Ok(ConfluenceCredentials::Basic { username: username.clone(), password })
            }
            (None, None, Some(token)) => Ok(ConfluenceCredentials::Token(token)),
            _ => Err(ConfigError::Invalid(
                "[confluence] needs either username with password_env/password_file, or token_env/token_file".into(),
            )),
        }
    }
}

/// `[apps.rules_limits]`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesLimitsConfig {
    /// Time one decision may take, in milliseconds: wall-clock time measured by the epoch
    /// ticker, so a busy machine counts against it. Default 50.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// Memory one decision may use, in MiB (at most 256). Default 16.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: usize,
    /// Log lines a module may write per decision. Default 100.
    #[serde(default = "default_log_lines")]
    pub log_lines: usize,
}

impl Default for RulesLimitsConfig {
    fn default() -> Self {
        Self { deadline_ms: default_deadline_ms(), memory_mb: default_memory_mb(), log_lines: default_log_lines() }
    }
}

fn default_deadline_ms() -> u64 {
    50
}
fn default_memory_mb() -> usize {
    16
}
fn default_log_lines() -> usize {
    100
}

impl RulesLimitsConfig {
    pub fn to_limits(self) -> RuleLimits {
        RuleLimits {
            deadline: std::time::Duration::from_millis(self.deadline_ms),
            memory_bytes: self.memory_mb.saturating_mul(1 << 20),
            log_lines: self.log_lines,
        }
    }
}

impl AppConfig {
    /// `unknown_members`, or the IdP kind's default. The big IdPs send a group's member
    /// changes in one request, so refusing it for one stale id would also lose the valid
    /// ones, and each marks the request failed (OneLogin until an admin retries by hand;
    /// Entra quarantines an app that keeps failing): they drop. A generic client is told.
    pub fn unknown_member_policy(&self) -> UnknownMemberPolicy {
        self.unknown_members.unwrap_or(match self.kind {
            IdpKind::Generic => UnknownMemberPolicy::Reject,
            IdpKind::Onelogin | IdpKind::Okta | IdpKind::Entra | IdpKind::Ldap => UnknownMemberPolicy::Drop,
        })
    }

    pub fn duplicate_policy(&self) -> DuplicatePolicy {
        self.on_duplicate.unwrap_or(match self.kind {
            IdpKind::Onelogin => DuplicatePolicy::Adopt,
            _ => DuplicatePolicy::Conflict,
        })
    }
}

/// `[[apps.extensions]]`: a custom schema extension.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionConfig {
    /// e.g. `urn:ietf:params:scim:schemas:extension:acme:2.0:User`.
    pub urn: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `User` (default) or `Group`.
    #[serde(default = "default_resource")]
    pub resource: String,
    pub attributes: Vec<ExtensionAttribute>,
}

fn default_resource() -> String {
    "User".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtensionAttribute {
    pub name: String,
    /// string (default), boolean, integer, decimal, dateTime, reference, binary.
    #[serde(default = "default_type", rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

fn default_type() -> String {
    "string".to_owned()
}

impl ExtensionConfig {
    /// The schema this entry declares.
    ///
    /// # Errors
    /// An unknown resource or attribute type, or a URN that does not start with `urn:`.
    pub fn to_extension(&self) -> Result<CustomExtension, ConfigError> {
        if !self.urn.to_ascii_lowercase().starts_with("urn:") {
            return Err(ConfigError::Invalid(format!("extension {:?} must be a URN", self.urn)));
        }
        let applies_to = match self.resource.to_ascii_lowercase().as_str() {
            "user" => ResourceKind::User,
            "group" => ResourceKind::Group,
            other => {
                return Err(ConfigError::Invalid(format!(
                    "extension {}: resource must be User or Group, not {other:?}",
                    self.urn
                )))
            }
        };
        let mut attributes = Vec::new();
        for a in &self.attributes {
            let ty = AttrType::parse(&a.ty).filter(|t| *t != AttrType::Complex).ok_or_else(|| {
                ConfigError::Invalid(format!("extension {}: attribute {}: unknown type {:?}", self.urn, a.name, a.ty))
            })?;
            if !is_attr_name(&a.name) {
                return Err(ConfigError::Invalid(format!(
                    "extension {}: {:?} is not a valid attribute name",
                    self.urn, a.name
                )));
            }
            let mut def = AttributeDef::new(&a.name, ty);
            def.multi_valued = a.multi_valued;
            def.case_exact = a.case_exact;
            def.required = a.required;
            def.description = a.description.clone();
            attributes.push(def);
        }
        let name = self.name.clone().unwrap_or_else(|| self.urn.rsplit(':').next().unwrap_or("Extension").to_owned());
        Ok(CustomExtension::new(applies_to, &self.urn, &name, attributes))
    }
}

fn is_attr_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Config {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, or breaks a rule (duplicate or non-URL-safe
    /// app names, a bad extension).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let mut config: Config = toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.to_owned(), source: Box::new(source) })?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.validate()?;
        Ok(config)
    }

    /// Parses config text (relative paths resolve against `base_dir`).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn from_toml(text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)
            .map_err(|source| ConfigError::Parse { path: PathBuf::from("<inline>"), source: Box::new(source) })?;
        config.base_dir = base_dir.to_owned();
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for app in &self.apps {
            app.validate(&self.server)?;
            if !names.insert(app.name.to_ascii_lowercase()) {
                return Err(ConfigError::Invalid(format!("app {:?} is declared twice", app.name)));
            }
        }
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError::Invalid(
                "[server] tls_cert and tls_key go together: give both, or neither".into(),
            ));
        }
        if self.server.max_body_bytes < 1024 || self.server.bulk_max_payload_bytes < 1024 {
            return Err(ConfigError::Invalid("body limits must be at least 1024 bytes".into()));
        }
        if self.server.max_results == 0 || self.server.bulk_max_operations == 0 {
            return Err(ConfigError::Invalid("max_results and bulk_max_operations must be positive".into()));
        }
        let s = &self.server;
        for (key, ms) in [
            ("header_read_timeout_ms", s.header_read_timeout_ms),
            ("body_read_timeout_ms", s.body_read_timeout_ms),
            ("keep_alive_timeout_ms", s.keep_alive_timeout_ms),
        ] {
            if !(100..=3_600_000).contains(&ms) {
                return Err(ConfigError::Invalid(format!("{key} must be 100-3600000 (milliseconds)")));
            }
        }
        if s.max_connections == 0 {
            return Err(ConfigError::Invalid("max_connections must be positive".into()));
        }
        if self.server.max_members_per_request == 0 {
            return Err(ConfigError::Invalid("max_members_per_request must be positive".into()));
        }
        if self.server.rules_memory_mb == 0 {
            return Err(ConfigError::Invalid("rules_memory_mb must be positive".into()));
        }
        if self.server.rules_admission_wait_ms > 60_000 {
            return Err(ConfigError::Invalid("rules_admission_wait_ms must be at most 60000".into()));
        }
        Ok(())
    }

    /// The public URL without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None if self.tls_files().is_some() => format!("https://{}", self.server.listen),
            None => format!("http://{}", self.server.listen),
        }
    }

    /// `[server] tls_cert` and `tls_key`, resolved against the config file's directory.
    pub fn tls_files(&self) -> Option<(PathBuf, PathBuf)> {
        let resolve = |p: &PathBuf| if p.is_absolute() { p.clone() } else { self.base_dir.join(p) };
        Some((resolve(self.server.tls_cert.as_ref()?), resolve(self.server.tls_key.as_ref()?)))
    }

    /// The database path, resolved against the config file's directory.
    pub fn database_path(&self) -> PathBuf {
        if self.server.database.is_absolute() {
            self.server.database.clone()
        } else {
            self.base_dir.join(&self.server.database)
        }
    }

    pub fn app(&self, name: &str) -> Option<&AppConfig> {
        self.apps.iter().find(|a| a.name == name)
    }
}

/// Whether `name` may name an app: 1-64 characters of A-Z, a-z, 0-9, '-' or '_' (it is part
/// of the app's SCIM base URL).
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl AppConfig {
    /// Checks one app on its own (its name, limits, settings and extensions): what the file
    /// and the admin API both refuse.
    ///
    /// # Errors
    /// The first rule the app breaks, naming it.
    pub fn validate(&self, server: &ServerConfig) -> Result<(), ConfigError> {
        if !valid_app_name(&self.name) {
            return Err(ConfigError::Invalid(format!(
                "app name {:?} must be 1-64 characters of A-Z, a-z, 0-9, '-' or '_'",
                self.name
            )));
        }
        if self.rules_limits.deadline_ms == 0 || self.rules_limits.deadline_ms > 10_000 {
            return Err(ConfigError::Invalid(format!("app {}: rules_limits.deadline_ms must be 1-10000", self.name)));
        }
        if self.rules_limits.memory_mb == 0 || self.rules_limits.memory_mb > RuleLimits::MAX_MEMORY_BYTES >> 20 {
            return Err(ConfigError::Invalid(format!(
                "app {}: rules_limits.memory_mb must be 1-{}",
                self.name,
                RuleLimits::MAX_MEMORY_BYTES >> 20
            )));
        }
        if let Some(limit) = &self.rate_limit {
            if !(limit.requests_per_second.is_finite() && limit.requests_per_second > 0.0) {
                return Err(ConfigError::Invalid(format!(
                    "app {}: rate_limit.requests_per_second must be a positive number",
                    self.name
                )));
            }
        }
        if self.rules.is_some() && self.rules_limits.memory_mb > server.rules_memory_mb {
            return Err(ConfigError::Invalid(format!(
                "app {}: rules_limits.memory_mb ({}) is more than [server] rules_memory_mb ({}), so none of its decisions could start",
                self.name, self.rules_limits.memory_mb, server.rules_memory_mb
            )));
        }
        let b = &self.breaker;
        if !(0.0..=1.0).contains(&b.max_share) || b.window_secs == 0 || b.window_secs > 7 * 86_400 {
            return Err(ConfigError::Invalid(format!(
                "app {}: breaker.max_share must be 0-1 and breaker.window_secs 1-604800",
                self.name
            )));
        }
        self.rule_settings()?;
        match (&self.directory, self.kind) {
            (Some(d), IdpKind::Ldap) => d.validate(&self.name)?,
            (None, IdpKind::Ldap) => {
                return Err(ConfigError::Invalid(format!(
                    "app {}: kind \"ldap\" needs an [apps.directory] section",
                    self.name
                )))
            }
            (Some(_), _) => {
                return Err(ConfigError::Invalid(format!(
                    "app {}: [apps.directory] is for apps of kind \"ldap\"",
                    self.name
                )))
            }
            (None, _) => {}
        }
        let mut urns = HashSet::new();
        for ext in &self.extensions {
            ext.to_extension()?;
            if !urns.insert(ext.urn.to_ascii_lowercase()) {
                return Err(ConfigError::Invalid(format!("app {}: extension {} declared twice", self.name, ext.urn)));
            }
        }
        Ok(())
    }

    /// The rules module's path, resolved against the config file's directory.
    pub fn rules_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.rules.as_ref().map(|p| if p.is_absolute() { p.clone() } else { base_dir.join(p) })
    }

    /// `[apps.settings]` as the rules contract's settings.
    ///
    /// # Errors
    /// A value of a kind the contract has no setting for (a float, a date, a nested table).
    pub fn rule_settings(&self) -> Result<Vec<Setting>, ConfigError> {
        settings_from_toml(&self.settings)
            .map_err(|e| ConfigError::Invalid(format!("app {}: settings: {e}", self.name)))
    }

    /// The bootstrap token named by `token_env` / `token_file`, if any.
    ///
    /// # Errors
    /// The variable is unset or empty, or the file cannot be read or is empty.
    pub fn bootstrap_tokens(&self, base_dir: &Path) -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        if let Some(var) = &self.token_env {
            let value = std::env::var(var).map_err(|_| ConfigError::Secret {
                app: self.name.clone(),
                detail: format!("environment variable {var} is not set"),
            })?;
            out.push(value);
        }
        if let Some(file) = &self.token_file {
            let path = if file.is_absolute() { file.clone() } else { base_dir.join(file) };
            let value = std::fs::read_to_string(&path).map_err(|e| ConfigError::Secret {
                app: self.name.clone(),
                detail: format!("{}: {e}", path.display()),
            })?;
            out.push(value);
        }
        let out: Vec<String> = out.into_iter().map(|t| t.trim().to_owned()).collect();
        if out.iter().any(|t| t.len() < 16) {
            return Err(ConfigError::Secret {
                app: self.name.clone(),
                detail: "a bearer token must be at least 16 characters".into(),
            });
        }
        Ok(out)
    }
}

/// A TOML table of settings (`[apps.settings]`, or a file given to `usersync rules check`)
/// as the rules contract's settings, in file order.
///
/// # Errors
/// A value of a kind the contract has no setting for, naming its key.
pub fn settings_from_toml(table: &toml::Table) -> Result<Vec<Setting>, String> {
    use toml::Value as T;
    let text_items = |key: &str, items: &[T]| -> Result<Vec<String>, String> {
        items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(|| format!("{key}: a list may hold only strings")))
            .collect()
    };
    table
        .iter()
        .map(|(key, value)| {
            let value = match value {
                T::String(s) => SettingValue::Text(s.clone()),
                T::Boolean(b) => SettingValue::Flag(*b),
                T::Integer(n) => SettingValue::Number(*n),
                T::Array(items) => SettingValue::TextList(text_items(key, items)?),
                T::Table(pairs) => SettingValue::Mapping(
                    pairs
                        .iter()
                        .map(|(k, v)| match v {
                            T::String(s) => Ok((k.clone(), s.clone())),
                            _ => Err(format!("{key}.{k}: a mapping's values must be strings")),
                        })
                        .collect::<Result<_, _>>()?,
                ),
                T::Float(_) | T::Datetime(_) => {
                    return Err(format!("{key}: use a string, boolean, integer, list of strings or table of strings"))
                }
            };
            Ok(Setting { key: key.clone(), value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_settings_and_limits() {
        let text = "[server]\n[[apps]]\nname = \"a\"\nkind = \"okta\"\nrules = \"rules/a.wasm\"\n[apps.rules_limits]\ndeadline_ms = 20\n[apps.settings]\nname = \"x\"\nflag = true\nn = 3\nlist = [\"p\", \"q\"]\n[apps.settings.group_mapping]\nZeta = \"z\"\nAlpha = \"a\"\n";
        let config = Config::from_toml(text, Path::new("/etc/usersync")).unwrap();
        let app = &config.apps[0];
        assert_eq!(app.rules_path(&config.base_dir).unwrap(), Path::new("/etc/usersync/rules/a.wasm"));
        let limits = app.rules_limits.to_limits();
        assert_eq!((limits.deadline.as_millis(), limits.memory_bytes, limits.log_lines), (20, 16 << 20, 100));
        let settings = app.rule_settings().unwrap();
        let values: Vec<(&str, &SettingValue)> = settings.iter().map(|s| (s.key.as_str(), &s.value)).collect();
        assert_eq!(
            values,
            [
                ("name", &SettingValue::Text("x".into())),
                ("flag", &SettingValue::Flag(true)),
                ("n", &SettingValue::Number(3)),
                ("list", &SettingValue::TextList(vec!["p".into(), "q".into()])),
                // In file order, not sorted.
                (
                    "group_mapping",
                    &SettingValue::Mapping(vec![("Zeta".into(), "z".into()), ("Alpha".into(), "a".into())])
                ),
            ]
        );
        for bad in [
            "ratio = 0.5",
            "list = [1, 2]",
            "[apps.settings.m]\nk = 1",
            "[apps.rules_limits]\ndeadline_ms = 0",
            "[apps.rules_limits]\nmemory_mb = 1024",
        ] {
            let text = format!(
                "[server]\n[[apps]]\nname = \"a\"\nkind = \"okta\"\n{}",
                if bad.starts_with('[') { bad.to_owned() } else { format!("[apps.settings]\n{bad}") }
            );
            assert!(Config::from_toml(&text, Path::new("/")).is_err(), "{bad}");
        }
    }

    #[test]
    fn breaker_keys_have_defaults_and_bounds() {
        let base = "[server]\n[[apps]]\nname = \"a\"\nkind = \"okta\"\n";
        let c = Config::from_toml(base, Path::new("/")).unwrap();
        let b = c.apps[0].breaker;
        assert_eq!((b.enabled, b.max_deprovisions, b.max_share, b.window_secs), (true, 50, 0.10, 600));
        let text =
            format!("{base}[apps.breaker]\nenabled = false\nmax_deprovisions = 3\nmax_share = 0.5\nwindow_secs = 60\n");
        let b = Config::from_toml(&text, Path::new("/")).unwrap().apps[0].breaker;
        assert_eq!((b.enabled, b.max_deprovisions, b.max_share, b.window_secs), (false, 3, 0.5, 60));
        for bad in ["max_share = 1.5", "window_secs = 0", "max_deprovisions = -1", "threshold = 3"] {
            assert!(Config::from_toml(&format!("{base}[apps.breaker]\n{bad}\n"), Path::new("/")).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_full_example_and_defaults() {
        let c = Config::from_toml(
            r#"
            [server]
            listen = "127.0.0.1:9000"
            [[apps]]
            name = "onelogin"
            kind = "onelogin"
            [[apps.extensions]]
            urn = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
            attributes = [{ name = "badgeNumber" }, { name = "clearance", type = "integer" }]
            [[apps]]
            name = "okta"
            kind = "okta"
            "#,
            Path::new("/etc/usersync"),
        )
        .unwrap();
        assert_eq!(c.public_url(), "http://127.0.0.1:9000");
        assert_eq!(c.database_path(), PathBuf::from("/etc/usersync/usersync.db"));
        assert_eq!(c.apps[0].duplicate_policy(), DuplicatePolicy::Adopt);
        assert_eq!(c.apps[1].duplicate_policy(), DuplicatePolicy::Conflict);
        assert_eq!(c.apps[0].unknown_member_policy(), UnknownMemberPolicy::Drop);
        assert_eq!(c.apps[1].unknown_member_policy(), UnknownMemberPolicy::Drop);
        assert_eq!(c.server.max_members_per_request, 10_000);
        let budget = c.server.rules_budget();
        assert_eq!((budget.memory_bytes, budget.admission_wait.as_millis()), (512 << 20, 2_000));
        let ext = c.apps[0].extensions[0].to_extension().unwrap();
        assert_eq!(ext.schema.name, "User");
        assert_eq!(ext.schema.attributes[1].ty, AttrType::Integer);
    }

    #[test]
    fn rejects_bad_configs() {
        for bad in [
            "[server]\n[[apps]]\nname='a b'\nkind='okta'",
            "[server]\n[[apps]]\nname='a'\nkind='okta'\n[[apps]]\nname='A'\nkind='okta'",
            "[server]\n[[apps]]\nname='a'\nkind='nope'",
            "[server]\nbogus=1",
            "[server]\n[[apps]]\nname='a'\nkind='okta'\n[[apps.extensions]]\nurn='x'\nattributes=[]",
            "[server]\n[[apps]]\nname='a'\nkind='okta'\nunknown_members='keep'",
            "[server]\nmax_members_per_request=0",
            "[server]\nrules_memory_mb=0",
            "[server]\nrules_memory_mb=64\n[[apps]]\nname='a'\nkind='okta'\nrules='a.wasm'\n[apps.rules_limits]\nmemory_mb=128",
        ] {
            assert!(Config::from_toml(bad, Path::new("/")).is_err(), "{bad}");
        }
    }
}
