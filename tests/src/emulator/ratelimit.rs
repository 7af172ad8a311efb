//! Confluence DC's rate limiter (reference §3.1): one token bucket per user, refilled with
//! `fill_rate` tokens every `interval_secs`, up to `max_requests`.
//!
//! Every limited response carries the five documented headers; `Retry-After` is 0 while
//! tokens remain and the seconds until the next refill once the bucket is empty (then the
//! answer is 429). Anonymous requests are never limited.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Rate-limiter settings, as an admin would set them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Off by default, as in Confluence.
    pub enabled: bool,
    /// Bucket size ("Max requests"). Default 100.
    pub max_requests: u32,
    /// Tokens added per interval ("Requests allowed"). Default 20.
    pub fill_rate: u32,
    /// Seconds between refills. Default 1 (0 counts as 1).
    pub interval_secs: u64,
    /// Whether Bearer (PAT) requests are limited too (**UNCERTAIN**). Default true.
    pub limit_pats: bool,
    /// Users never limited. Default none.
    pub exempt_users: Vec<String>,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            enabled: false,
            max_requests: 100,
            fill_rate: 20,
            interval_secs: 1,
            limit_pats: true,
            exempt_users: Vec::new(),
        }
    }
}

/// The outcome for one limited request: the header values and whether it may proceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    pub interval_secs: u64,
    pub fill_rate: u32,
    pub retry_after_secs: u64,
}

#[derive(Debug)]
struct Bucket {
    tokens: u32,
    last_refill: Instant,
}

/// Buckets per user, created full on first use.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    settings: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub(crate) fn new(settings: RateLimit) -> Self {
        Self { settings, buckets: HashMap::new() }
    }

    pub(crate) fn settings(&self) -> &RateLimit {
        &self.settings
    }

    /// New settings start every bucket afresh.
    pub(crate) fn set(&mut self, settings: RateLimit) {
        self.settings = settings;
        self.buckets.clear();
    }

    /// Takes a token for `username`; `None` when the request is not subject to limiting.
    pub(crate) fn check(&mut self, username: &str, via_pat: bool, now: Instant) -> Option<RateDecision> {
        let settings = &self.settings;
        if !settings.enabled || (via_pat && !settings.limit_pats) || settings.exempt_users.iter().any(|u| u == username)
        {
            return None;
        }
        let interval = Duration::from_secs(settings.interval_secs.max(1));
        let bucket = self
            .buckets
            .entry(username.to_owned())
            .or_insert_with(|| Bucket { tokens: settings.max_requests, last_refill: now });
        let elapsed = now.saturating_duration_since(bucket.last_refill);
        let intervals = u32::try_from(elapsed.as_nanos() / interval.as_nanos()).unwrap_or(u32::MAX);
        if intervals > 0 {
            bucket.tokens = bucket.tokens.saturating_add(intervals.saturating_mul(settings.fill_rate));
            bucket.tokens = bucket.tokens.min(settings.max_requests);
            bucket.last_refill += interval * intervals;
        }
        let allowed = bucket.tokens > 0;
        let retry_after_secs = if allowed {
            bucket.tokens -= 1;
            0
        } else {
            let wait = (bucket.last_refill + interval).saturating_duration_since(now);
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        };
        Some(RateDecision {
            allowed,
            limit: settings.max_requests,
            remaining: bucket.tokens,
            interval_secs: interval.as_secs(),
            fill_rate: settings.fill_rate,
            retry_after_secs: retry_after_secs.max(u64::from(!allowed)),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn limiter(max: u32, fill: u32, interval: u64) -> RateLimiter {
        RateLimiter::new(RateLimit {
            enabled: true,
            max_requests: max,
            fill_rate: fill,
            interval_secs: interval,
            ..RateLimit::default()
        })
    }

    #[test]
    fn bucket_empties_then_refills_per_interval() {
        let mut limiter = limiter(3, 2, 10);
        let t0 = Instant::now();
        let remaining: Vec<_> = (0..3).map(|_| limiter.check("ann", false, t0).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.check("ann", false, t0 + Duration::from_millis(2500)).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_secs, 8, "7.5 s to the refill, rounded up");
        // Another user has their own bucket.
        assert!(limiter.check("bob", false, t0).unwrap().allowed);
        // One interval later two tokens came back.
        let after = limiter.check("ann", false, t0 + Duration::from_secs(10)).unwrap();
        assert!(after.allowed);
        assert_eq!((after.remaining, after.retry_after_secs), (1, 0));
        // Long idle: capped at the bucket size.
        let idle = limiter.check("ann", false, t0 + Duration::from_secs(1000)).unwrap();
        assert_eq!(idle.remaining, 2);
    }

    #[test]
    fn disabled_exempt_and_pat_settings() {
        let mut off = RateLimiter::new(RateLimit::default());
        assert!(off.check("ann", false, Instant::now()).is_none());
        let mut limiter = limiter(1, 1, 1);
        limiter.set(RateLimit { limit_pats: false, exempt_users: vec!["svc".into()], ..limiter.settings().clone() });
        assert!(limiter.check("ann", true, Instant::now()).is_none());
        assert!(limiter.check("svc", false, Instant::now()).is_none());
        assert!(limiter.check("ann", false, Instant::now()).is_some());
    }
}
