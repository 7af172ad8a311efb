//! Throttles at the edge: failed authentication per client address and per app, each app's
//! optional request rate limit, and the log line they replace.
//!
//! - **Per client address** (IPv6 per /64): a bucket of `auth_failures_per_client` failures
//!   that refills over a minute. Empty, the address is answered 429 before its token is
//!   checked, so guessing costs time.
//! - **Per app** (and the admin API, as [`super::admin::ADMIN`]): a bucket of
//!   `auth_failures_per_app` failures from every address together. Empty, requests to the
//!   app from addresses that have not authenticated to it successfully in the last 24 hours
//!   are answered 429 before their token is checked. An identity provider that already
//!   authenticated keeps working while strangers guess at its app.
//! - **Per app requests** (`[apps.rate_limit]`, off by default): a bucket over the app's
//!   authenticated requests.
//!
//! Every map is bounded: [`MAX_CLIENTS`] addresses and [`MAX_APP_KEYS`] app names (names
//! beyond share one bucket), [`MAX_TRUSTED`] trusted addresses (the oldest forgotten
//! first). Refusals are not logged one by one: the first after a quiet minute is logged at
//! once, the rest as a summary every [`SUMMARY_EVERY`].

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::{RateLimitConfig, ServerConfig};

/// Client addresses with a bucket of their own; more share one.
pub const MAX_CLIENTS: usize = 10_000;
/// App names (configured or not) with a bucket of their own; more share one.
pub const MAX_APP_KEYS: usize = 1_024;
/// (app, address) pairs remembered as having authenticated.
pub const MAX_TRUSTED: usize = 4_096;
/// How long a successful authentication keeps an address trusted by its app.
const TRUST_FOR: Duration = Duration::from_secs(24 * 3600);
/// How often refusals are summarised in the log.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// Addresses and apps named in one summary line.
const SUMMARY_NAMES: usize = 5;

/// A token bucket's shape: `capacity` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy)]
struct Rate {
    capacity: f64,
    per_second: f64,
}

impl Rate {
    /// `n` a minute, in a burst of `n`.
    fn per_minute(n: u32) -> Option<Rate> {
        (n > 0).then(|| Rate { capacity: f64::from(n), per_second: f64::from(n) / 60.0 })
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self { tokens: rate.capacity, at: now }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.capacity);
        self.at = now;
    }

    /// `Err(wait)` while less than one token is left.
    fn check(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / rate.per_second))
        }
    }

    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        let checked = self.check(rate, now);
        if checked.is_ok() {
            self.tokens -= 1.0;
        }
        checked
    }

    fn is_full(&self, rate: Rate, now: Instant) -> bool {
        let mut b = *self;
        b.refill(rate, now);
        b.tokens >= rate.capacity
    }
}

/// A bucket per key, at most `max` of them: full buckets are dropped to make room, and keys
/// beyond share `overflow`.
struct Buckets<K> {
    rate: Rate,
    map: HashMap<K, Bucket>,
    overflow: Bucket,
    max: usize,
    pruned: Instant,
}

impl<K: Hash + Eq> Buckets<K> {
    fn new(rate: Rate, max: usize, now: Instant) -> Self {
        Self { rate, map: HashMap::new(), overflow: Bucket::full(rate, now), max, pruned: now }
    }

    fn get(&mut self, key: K, now: Instant) -> &mut Bucket {
        if self.map.len() >= self.max && !self.map.contains_key(&key) {
            if now.saturating_duration_since(self.pruned) >= Duration::from_secs(1) {
                let rate = self.rate;
                self.map.retain(|_, b| !b.is_full(rate, now));
                self.pruned = now;
            }
            if self.map.len() >= self.max {
                return &mut self.overflow;
            }
        }
        self.map.entry(key).or_insert_with(|| Bucket::full(self.rate, now))
    }

    fn check(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        let rate = self.rate;
        self.get(key, now).check(rate, now)
    }

    fn take(&mut self, key: K, now: Instant) {
        let rate = self.rate;
        let _ = self.get(key, now).take(rate, now);
    }
}

/// A client as the throttle counts it: an IPv4 address, or an IPv6 /64 (one host's share).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(v4) => ClientKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let bits = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientKey(IpAddr::V6(bits.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// Why a request was refused, for the log summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A missing or wrong token (401).
    BadCredentials,
    /// Answered 429 by the failed-authentication throttle.
    AuthThrottled,
    /// Answered 429 by the app's request rate limit.
    RateLimited,
}

/// Counts of refusals since the last summary.
#[derive(Default)]
struct RefusalLog {
    since: Option<Instant>,
    /// When the last line was written (the first refusal after quiet is logged at once).
    last_line: Option<Instant>,
    bad_credentials: u64,
    auth_throttled: u64,
    rate_limited: u64,
    clients: HashMap<String, u64>,
    apps: HashMap<String, u64>,
}

impl RefusalLog {
    fn record(&mut self, now: Instant, kind: Refusal, client: Option<ClientKey>, app: &str) -> Option<String> {
        let quiet = self.last_line.is_none_or(|at| now.saturating_duration_since(at) >= SUMMARY_EVERY);
        if quiet && self.total() == 0 {
            self.last_line = Some(now);
            let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
            return Some(format!(
                "{}: client {client}, app {app}; further refusals are summarised every {} s",
                kind.describe(),
                SUMMARY_EVERY.as_secs()
            ));
        }
        self.since.get_or_insert(now);
        match kind {
            Refusal::BadCredentials => self.bad_credentials += 1,
            Refusal::AuthThrottled => self.auth_throttled += 1,
            Refusal::RateLimited => self.rate_limited += 1,
        }
        let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
        bump(&mut self.clients, client);
        bump(&mut self.apps, app.to_owned());
        self.summary(now)
    }

    fn total(&self) -> u64 {
        self.bad_credentials + self.auth_throttled + self.rate_limited
    }

    /// The summary line, when one is due (a minute after the previous line) and there is
    /// something to say; the counts start again.
    fn summary(&mut self, now: Instant) -> Option<String> {
        let due = self.last_line.is_none_or(|at| now.saturating_duration_since(at) >= SUMMARY_EVERY);
        if !due || self.total() == 0 {
            return None;
        }
        let line = format!(
            "in the last {} s: {} requests with a missing or wrong token, {} answered 429 for failed \
             authentication, {} answered 429 by an app's rate limit; from {} ({} addresses); to {}",
            self.since.map_or(0, |s| now.saturating_duration_since(s).as_secs().max(1)),
            self.bad_credentials,
            self.auth_throttled,
            self.rate_limited,
            top(&self.clients),
            self.clients.len(),
            top(&self.apps),
        );
        *self = RefusalLog { last_line: Some(now), ..RefusalLog::default() };
        Some(line)
    }
}

impl Refusal {
    fn describe(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "refused a request with a missing or wrong token",
            Refusal::AuthThrottled => "answered 429: too many failed authentications",
            Refusal::RateLimited => "answered 429: the app's request rate limit",
        }
    }
}

/// Counts one more for `key`, keeping at most 1,000 keys (the rest are counted as "other").
fn bump(counts: &mut HashMap<String, u64>, key: String) {
    let key = if counts.len() >= 1_000 && !counts.contains_key(&key) { "other".to_owned() } else { key };
    *counts.entry(key).or_default() += 1;
}

fn top(counts: &HashMap<String, u64>) -> String {
    let mut pairs: Vec<(&String, &u64)> = counts.iter().collect();
    pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    pairs.iter().take(SUMMARY_NAMES).map(|(k, n)| format!("{k} ({n})")).collect::<Vec<_>>().join(", ")
}

/// Why a request is answered 429, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub detail: &'static str,
}

impl Throttled {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs_f64().ceil().max(1.0) as u64
    }
}

struct AuthBuckets {
    clients: Option<Buckets<ClientKey>>,
    apps: Option<Buckets<String>>,
}

/// The edge's throttles and their log (see the module documentation).
pub struct Throttle {
    auth: Mutex<AuthBuckets>,
    /// When a failure was last counted (ms since `started`): while none has been for a
    /// minute, every bucket is full and admission takes no lock.
    last_failure_ms: AtomicU64,
    started: Instant,
    trusted: Mutex<HashMap<(String, ClientKey), Instant>>,
    /// Each rate-limited app's bucket, with the limit it was made for (an app whose limit
    /// changes at run time gets a fresh bucket).
    requests: Mutex<HashMap<String, (RateLimitConfig, Bucket)>>,
    log: Mutex<RefusalLog>,
}

const NEVER: u64 = u64::MAX;

impl Throttle {
    pub fn new(server: &ServerConfig) -> Self {
        let now = Instant::now();
        let requests = Mutex::new(HashMap::new());
        Self {
            auth: Mutex::new(AuthBuckets {
                clients: Rate::per_minute(server.auth_failures_per_client).map(|r| Buckets::new(r, MAX_CLIENTS, now)),
                apps: Rate::per_minute(server.auth_failures_per_app).map(|r| Buckets::new(r, MAX_APP_KEYS, now)),
            }),
            last_failure_ms: AtomicU64::new(NEVER),
            started: now,
            trusted: Mutex::new(HashMap::new()),
            requests,
            log: Mutex::new(RefusalLog::default()),
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.started).as_millis()).unwrap_or(NEVER - 1)
    }

    /// May a request from `client` to `app` have its token checked? `Err` when the address,
    /// or the app for an address it does not trust, has failed too often.
    pub fn admit(&self, client: Option<IpAddr>, app: &str) -> Result<(), Throttled> {
        let now = Instant::now();
        let last = self.last_failure_ms.load(Ordering::Relaxed);
        if last == NEVER || self.ms(now).saturating_sub(last) > 61_000 {
            return Ok(());
        }
        let client = client.map(ClientKey::of);
        let trusted = client.is_some_and(|c| self.is_trusted(app, c, now));
        let Ok(mut auth) = self.auth.lock() else { return Ok(()) };
        if let (Some(buckets), Some(c)) = (auth.clients.as_mut(), client) {
            if let Err(wait) = buckets.check(c, now) {
                return Err(Throttled {
                    retry_after: wait,
                    detail: "too many failed authentications from this address",
                });
            }
        }
        if !trusted {
            if let Some(buckets) = auth.apps.as_mut() {
                if let Err(wait) = buckets.check(app.to_owned(), now) {
                    return Err(Throttled {
                        retry_after: wait,
                        detail: "too many failed authentications for this base URL",
                    });
                }
            }
        }
        Ok(())
    }

    /// Counts a failed authentication from `client` to `app`.
    pub fn failed(&self, client: Option<IpAddr>, app: &str) {
        let now = Instant::now();
        self.last_failure_ms.store(self.ms(now), Ordering::Relaxed);
        let key = client.map(ClientKey::of);
        if let Ok(mut auth) = self.auth.lock() {
            if let (Some(buckets), Some(c)) = (auth.clients.as_mut(), key) {
                buckets.take(c, now);
            }
            if let Some(buckets) = auth.apps.as_mut() {
                buckets.take(app.to_owned(), now);
            }
        }
        self.refused(Refusal::BadCredentials, client, app);
    }

    /// Remembers that `client` authenticated to `app`.
    pub fn succeeded(&self, client: Option<IpAddr>, app: &str) {
        let Some(client) = client.map(ClientKey::of) else { return };
        let now = Instant::now();
        let Ok(mut trusted) = self.trusted.lock() else { return };
        let key = (app.to_owned(), client);
        if let Some(at) = trusted.get_mut(&key) {
            *at = now;
            return;
        }
        if trusted.len() >= MAX_TRUSTED {
            trusted.retain(|_, at| now.saturating_duration_since(*at) < TRUST_FOR);
            if trusted.len() >= MAX_TRUSTED {
                if let Some(oldest) = trusted.iter().min_by_key(|(_, at)| **at).map(|(k, _)| k.clone()) {
                    trusted.remove(&oldest);
                }
            }
        }
        trusted.insert(key, now);
    }

    fn is_trusted(&self, app: &str, client: ClientKey, now: Instant) -> bool {
        let Ok(trusted) = self.trusted.lock() else { return false };
        trusted.get(&(app.to_owned(), client)).is_some_and(|at| now.saturating_duration_since(*at) < TRUST_FOR)
    }

    /// The app's request rate limit: `Err` when its bucket is empty.
    pub fn request(&self, client: Option<IpAddr>, app: &str, limit: Option<RateLimitConfig>) -> Result<(), Throttled> {
        let Some(limit) = limit else { return Ok(()) };
        let rate = Rate { capacity: limit.burst(), per_second: limit.requests_per_second };
        let now = Instant::now();
        let Ok(mut buckets) = self.requests.lock() else { return Ok(()) };
        let entry = buckets.entry(app.to_owned()).or_insert_with(|| (limit, Bucket::full(rate, now)));
        if entry.0 != limit {
            *entry = (limit, Bucket::full(rate, now));
        }
        let taken = entry.1.take(rate, now);
        drop(buckets);
        taken.map_err(|wait| {
            self.refused(Refusal::RateLimited, client, app);
            Throttled { retry_after: wait, detail: "too many requests for this app" }
        })
    }

    /// Notes a refusal for the log: the first after a quiet spell is logged now, the rest
    /// in the next summary.
    pub fn refused(&self, kind: Refusal, client: Option<IpAddr>, app: &str) {
        let line =
            self.log.lock().ok().and_then(|mut log| log.record(Instant::now(), kind, client.map(ClientKey::of), app));
        if let Some(line) = line {
            tracing::warn!("{line}");
        }
    }

    /// Logs the summary of refusals if one is due (called every few seconds by the server,
    /// so that the last burst is reported even when no request follows it).
    pub fn log_summary(&self) {
        let line = self.log.lock().ok().and_then(|mut log| log.summary(Instant::now()));
        if let Some(line) = line {
            tracing::warn!("{line}");
        }
    }

    /// Sizes of the maps, for tests: (client buckets, app buckets, trusted pairs).
    pub fn sizes(&self) -> (usize, usize, usize) {
        let (clients, apps) = self.auth.lock().map_or((0, 0), |a| {
            (a.clients.as_ref().map_or(0, |b| b.map.len()), a.apps.as_ref().map_or(0, |b| b.map.len()))
        });
        (clients, apps, self.trusted.lock().map_or(0, |t| t.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn server(per_client: u32, per_app: u32) -> ServerConfig {
        let text = format!("[server]\nauth_failures_per_client = {per_client}\nauth_failures_per_app = {per_app}\n");
        crate::config::Config::from_toml(&text, std::path::Path::new("/")).unwrap().server
    }

    fn v4(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(n)))
    }

    #[test]
    fn an_address_is_throttled_after_its_failures_and_others_are_not() {
        let t = Throttle::new(&server(3, 0));
        for _ in 0..3 {
            assert!(t.admit(v4(1), "a").is_ok());
            t.failed(v4(1), "a");
        }
        let refused = t.admit(v4(1), "a").unwrap_err();
        assert!(refused.retry_after_secs() >= 1 && refused.retry_after_secs() <= 20, "{refused:?}");
        assert!(t.admit(v4(1), "b").is_err(), "per address, whatever the app");
        assert!(t.admit(v4(2), "a").is_ok());
        assert!(t.admit(None, "a").is_ok(), "no address, no per-address throttle");
    }

    #[test]
    fn an_app_under_attack_keeps_the_addresses_it_trusts() {
        let t = Throttle::new(&server(0, 4));
        t.succeeded(v4(100), "a");
        for n in 0..4 {
            t.failed(v4(n), "a");
        }
        assert_eq!(t.admit(v4(50), "a").unwrap_err().detail, "too many failed authentications for this base URL");
        assert!(t.admit(v4(100), "a").is_ok(), "the identity provider's address is still heard");
        assert!(t.admit(v4(50), "b").is_ok(), "other apps are not affected");
    }

    #[test]
    fn ipv6_clients_count_per_slash_64() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a.into()), ClientKey::of(b.into()));
        assert_ne!(ClientKey::of(a.into()), ClientKey::of(c.into()));
        assert_eq!(ClientKey::of(a.into()).to_string(), "2001:db8:1:2::/64");
        let mapped: Ipv6Addr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped.into()).to_string(), "10.0.0.1");
    }

    #[test]
    fn every_map_is_bounded() {
        let t = Throttle::new(&server(5, 5));
        for n in 0..(MAX_CLIENTS as u32 + 500) {
            t.failed(v4(n), &format!("app-{n}"));
            t.succeeded(v4(n), &format!("app-{n}"));
        }
        let (clients, apps, trusted) = t.sizes();
        assert!(clients <= MAX_CLIENTS, "{clients}");
        assert!(apps <= MAX_APP_KEYS, "{apps}");
        assert!(trusted <= MAX_TRUSTED, "{trusted}");
        // Beyond the bounds, new keys share one bucket (here already drained).
        assert!(t.admit(v4(u32::MAX), "z").is_err());
    }

    #[test]
    fn the_request_rate_limit_refills() {
        let limit = RateLimitConfig { requests_per_second: 1000.0, burst: Some(2) };
        let rate = Rate { capacity: limit.burst(), per_second: limit.requests_per_second };
        let now = Instant::now();
        let mut b = Bucket::full(rate, now);
        assert!(b.take(rate, now).is_ok() && b.take(rate, now).is_ok());
        let wait = b.take(rate, now).unwrap_err();
        assert!(wait <= Duration::from_millis(1), "{wait:?}");
        assert!(b.take(rate, now + Duration::from_millis(2)).is_ok());
    }

    #[test]
    fn refusals_are_logged_once_then_summarised() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        let client = Some(ClientKey::of(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let first = log.record(t0, Refusal::BadCredentials, client, "okta").unwrap();
        assert!(first.contains("127.0.0.1") && first.contains("okta"), "{first}");
        let lines: Vec<String> = (1..1000u64)
            .filter_map(|n| log.record(t0 + Duration::from_millis(n), Refusal::AuthThrottled, client, "okta"))
            .collect();
        assert!(lines.is_empty(), "{lines:?}");
        assert!(log.summary(t0 + Duration::from_secs(30)).is_none(), "not due yet");
        let summary = log.summary(t0 + SUMMARY_EVERY).unwrap();
        assert!(summary.contains("999 answered 429") && summary.contains("127.0.0.1 (999)"), "{summary}");
        assert!(log.summary(t0 + SUMMARY_EVERY * 2).is_none(), "nothing new, nothing said");
    }
}
