//! A Confluence Data Center REST emulator: the user, group and membership API of
//! `shared/reference/confluence-dc-rest.md`, for end-to-end tests and demos.
//!
//! Entry points: [`start`] gives an [`Emulator`] (state snapshots, counters, fault
//! injection, fast seeding); the `confluence-emulator` binary wraps it for other processes,
//! which use the control API of [`control`](self::control) instead.
//!
//! Code map:
//! - `config`: [`EmulatorConfig`], one setting per **UNCERTAIN** behaviour of the reference.
//! - `state`: the directory (users, groups, memberships, delete tasks, write counters).
//! - `routes`, `users`, `groups`: the version-gated REST routes; `wire`: their JSON shapes.
//! - `auth`: Basic/PAT authentication, XSRF, the rate limiter's place in the pipeline;
//!   `ratelimit`: the token buckets.
//! - `faults`, `server`: fault injection, drawn per request in the accept loop.
//! - `control`: `/_emulator/…` routes.
//!
//! Choices where the reference is silent (besides the settings):
//! - Outage answers 503 (HTML) to every `/rest` request without processing it; connections
//!   are still accepted.
//! - A dropped connection is closed by hyper without a status line; by default before the
//!   request is processed ([`Faults::drop_after_processing`] for the lost-response case).
//! - Deleting a user whose delete task is still running answers 202 with that same task.
//! - Membership, update and password writes on LDAP users and groups answer
//!   [`EmulatorConfig::read_only_status`]; a user created over REST joins
//!   [`EmulatorConfig::default_groups`].
//! - Lists are ordered by lower-case name; the active-user list too (Confluence orders it by
//!   last login).
//!
//! **Architecture invariant:** no lock is held across an `.await`; every handler takes the
//! state mutex, works in O(limit) and releases it.

mod auth;
mod config;
mod control;
mod faults;
mod groups;
mod ratelimit;
mod report;
mod routes;
mod server;
mod sorted;
mod state;
mod users;
mod validate;
mod wire;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use anyhow::Context as _;
use axum::http::StatusCode;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{
    ConfluenceVersion, DeletedUserLookup, EmulatorConfig, GroupCreateStatus, GroupNameCase, InvalidSetting, LdapMode,
    PersonalAccessToken, SeedGroup, SeedUser, StatusForm, UserDirectory, DEFAULT_ADMIN_TOKEN,
};
pub use faults::{Faults, TargetedAction, TargetedFault};
pub use ratelimit::RateLimit;
pub use report::{Counters, Snapshot, SnapshotUser, WriteRecord};

use faults::FaultInjector;
use ratelimit::RateLimiter;
use state::{ConfluenceState, StateError};
use wire::{ApiError, Site};

/// Request-level counters kept outside the state lock.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    requests: AtomicU64,
    rate_limited: AtomicU64,
    injected_429: AtomicU64,
    injected_errors: AtomicU64,
    outage_responses: AtomicU64,
    dropped_connections: AtomicU64,
}

impl Traffic {
    fn all(&self) -> [&AtomicU64; 6] {
        [
            &self.requests,
            &self.rate_limited,
            &self.injected_429,
            &self.injected_errors,
            &self.outage_responses,
            &self.dropped_connections,
        ]
    }

    pub(crate) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_injected_429(&self) {
        self.injected_429.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_injected_error(&self) {
        self.injected_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_outage(&self) {
        self.outage_responses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_drop(&self) {
        self.dropped_connections.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the handlers share.
pub(crate) struct Shared {
    config: EmulatorConfig,
    site: Site,
    /// The applinks manifest's `id`.
    server_id: String,
    /// PAT → username (replaced by [`Emulator::set_tokens`]: a token expires or is revoked).
    tokens: Mutex<HashMap<String, String>>,
    read_only_status: StatusCode,
    state: Mutex<ConfluenceState>,
    faults: Mutex<FaultInjector>,
    limiter: Mutex<RateLimiter>,
    traffic: Traffic,
    /// Every write request that was processed, in arrival order (at most [`MAX_WRITES_LOGGED`]).
    writes: Mutex<Vec<WriteRecord>>,
}

/// The write log's bound; later writes are not logged (a test that sends more has no use
/// for the log).
pub const MAX_WRITES_LOGGED: usize = 1_000_000;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The directory, with due delete tasks completed.
    pub(crate) fn state(&self) -> MutexGuard<'_, ConfluenceState> {
        let mut state = lock(&self.state);
        state.settle(Instant::now());
        state
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultInjector> {
        lock(&self.faults)
    }

    pub(crate) fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.limiter)
    }

    /// The path below the context path, percent-decoded, when faults apply to it (it is under
    /// `{context}/rest/`).
    pub(crate) fn rest_path(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(self.site.context.as_str()).filter(|rest| rest.starts_with("/rest/"))?;
        Some(percent_decode(rest))
    }

    pub(crate) fn log_write(&self, record: WriteRecord) {
        let mut writes = lock(&self.writes);
        if writes.len() < MAX_WRITES_LOGGED {
            writes.push(record);
        }
    }

    pub(crate) fn state_error(&self, error: StateError) -> ApiError {
        let status = match &error {
            StateError::UnknownUser(_) | StateError::UnknownGroup(_) => StatusCode::NOT_FOUND,
            StateError::UserExists(_) | StateError::GroupExists(_) => StatusCode::CONFLICT,
            StateError::NoLicence(_) => StatusCode::PAYMENT_REQUIRED,
            StateError::LastAdminGroup(_) => StatusCode::BAD_REQUEST,
            StateError::ReadOnly(_) => self.read_only_status,
        };
        ApiError::new(status, error.to_string())
    }

    fn snapshot(&self) -> Snapshot {
        self.state().snapshot()
    }

    fn counters(&self) -> Counters {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let traffic = &self.traffic;
        Counters {
            requests: load(&traffic.requests),
            rate_limited: load(&traffic.rate_limited),
            injected_429: load(&traffic.injected_429),
            injected_errors: load(&traffic.injected_errors),
            outage_responses: load(&traffic.outage_responses),
            dropped_connections: load(&traffic.dropped_connections),
            ..self.state().counters()
        }
    }

    fn reset(&self) {
        *self.state() = ConfluenceState::new(&self.config);
        self.faults().set(self.config.faults.clone());
        self.limiter().set(self.config.rate_limit.clone());
        for counter in self.traffic.all() {
            counter.store(0, Ordering::Relaxed);
        }
        lock(&self.writes).clear();
        *lock(&self.tokens) = token_map(&self.config.tokens);
    }
}

/// `%XX` sequences decoded (invalid ones kept as they are); the result read as UTF-8, lossily.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running emulator. Dropping it stops the server too; [`Emulator::shutdown`] also waits
/// for the accept loop to end.
pub struct Emulator {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

// Tests share an emulator between tasks.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Emulator>();
};

/// Binds `addr` (port 0 for any) and starts serving.
///
/// # Errors
/// The address cannot be bound, the context path or base URL is malformed, or
/// `read_only_status` is not an HTTP status.
pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<Emulator> {
    let context = normalise_context(&config.context_path)?;
    let read_only_status = StatusCode::from_u16(config.read_only_status)
        .with_context(|| format!("read_only_status {} is not an HTTP status", config.read_only_status))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local_addr = listener.local_addr()?;
    let base_url = match &config.public_base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = if local_addr.ip().is_unspecified() {
                SocketAddr::new([127, 0, 0, 1].into(), local_addr.port())
            } else {
                local_addr
            };
            format!("http://{host}{context}")
        }
    };
    let mut ids = faults::SplitMix64::new(config.seed ^ 0x6170_706c_696e_6b73);
    let (high, low) = (ids.next_u64(), ids.next_u64());
    let server_id = format!(
        "{:08x}-{:04x}-3{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | ((low >> 48) & 0x3fff),
        low & 0xffff_ffff_ffff
    );
    let site = Site { base_url, context, status_form: config.status_form, max_limit: config.max_limit.max(1) };
    let shared = Arc::new(Shared {
        tokens: Mutex::new(token_map(&config.tokens)),
        state: Mutex::new(ConfluenceState::new(&config)),
        faults: Mutex::new(FaultInjector::new(config.faults.clone(), config.seed ^ 0x6661_756c_7473)),
        limiter: Mutex::new(RateLimiter::new(config.rate_limit.clone())),
        traffic: Traffic::default(),
        writes: Mutex::new(Vec::new()),
        read_only_status,
        server_id,
        site,
        config,
    });
    let app = routes::router(Arc::clone(&shared));
    let (stop, stopped) = oneshot::channel();
    let server = tokio::spawn(server::serve(listener, app, Arc::clone(&shared), stopped));
    Ok(Emulator { shared, local_addr, stop: Some(stop), server: Some(server) })
}

fn token_map(tokens: &[PersonalAccessToken]) -> HashMap<String, String> {
    tokens.iter().map(|t| (t.token.clone(), t.username.clone())).collect()
}

fn normalise_context(context: &str) -> anyhow::Result<String> {
    let trimmed = context.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    let context = if trimmed.starts_with('/') { trimmed.to_owned() } else { format!("/{trimmed}") };
    if context.contains(['?', '#', ' ', '{', '}']) || context.contains("//") {
        anyhow::bail!("invalid context path {context:?}");
    }
    Ok(context)
}

impl Emulator {
    /// `http://127.0.0.1:PORT` plus the context path (or the configured public base URL).
    pub fn base_url(&self) -> String {
        self.shared.site.base_url.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }

    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    /// Every write request that reached Confluence's logic (not those a fault answered
    /// before processing), oldest first, whatever the answer.
    pub fn writes(&self) -> Vec<WriteRecord> {
        lock(&self.shared.writes).clone()
    }

    /// Replaces the active faults; applies from the next request.
    pub fn set_faults(&self, faults: Faults) {
        self.shared.faults().set(faults);
    }

    pub fn faults(&self) -> Faults {
        self.shared.faults().faults().clone()
    }

    /// Replaces the personal access tokens Confluence accepts (one that is left out has
    /// expired or was revoked: it answers 401). [`Emulator::reset`] restores the configured ones.
    pub fn set_tokens(&self, tokens: &[PersonalAccessToken]) {
        *lock(&self.shared.tokens) = token_map(tokens);
    }

    /// Replaces the rate-limiter settings; every bucket starts full again.
    pub fn set_rate_limit(&self, settings: RateLimit) {
        self.shared.limiter().set(settings);
    }

    /// Adds (or overwrites) one user directly, without validation or counters. Returns its
    /// user key.
    pub fn seed_user(&self, user: SeedUser) -> String {
        self.shared.state().seed_user(user)
    }

    /// Adds many users under one lock; the fast path for large fixtures. Returns how many.
    pub fn seed_users(&self, users: impl IntoIterator<Item = SeedUser>) -> usize {
        let mut state = self.shared.state();
        users.into_iter().map(|user| state.seed_user(user)).count()
    }

    /// Creates an internal group if needed and adds the members that exist as users.
    /// Returns how many memberships were added.
    pub fn seed_group<S: AsRef<str>>(&self, name: &str, members: impl IntoIterator<Item = S>) -> usize {
        self.shared.state().seed_group(name, members, UserDirectory::Internal)
    }

    /// As [`Self::seed_group`], in a chosen directory (an LDAP group is read-only).
    pub fn seed_group_in<S: AsRef<str>>(
        &self,
        name: &str,
        members: impl IntoIterator<Item = S>,
        directory: UserDirectory,
    ) -> usize {
        self.shared.state().seed_group(name, members, directory)
    }

    /// Back to the configured start state: directory, counters, faults, rate limiter.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
