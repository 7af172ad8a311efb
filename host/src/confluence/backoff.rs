//! How long to wait before trying a failed Confluence call again.
//!
//! Exponential back-off with full jitter (a uniform wait between zero and `base * 2^attempt`,
//! capped), so that many workers retrying after the same outage spread out. A `Retry-After`
//! from Confluence wins over the computed wait, clamped to [`MAX_RETRY_AFTER`] so that a
//! misconfigured server cannot park a worker for days. The outbox workers and the client's own
//! listing retries use it.

use std::time::Duration;

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

/// Exponential back-off with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's wait (attempt 0).
    pub base: Duration,
    /// No wait is longer than this (unless Confluence asked for longer with `Retry-After`).
    pub cap: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling up to 60 s.
    fn default() -> Self {
        Backoff { base: Duration::from_millis(500), cap: Duration::from_secs(60) }
    }
}

impl Backoff {
    /// The longest wait for retry number `attempt` (0-based): `min(cap, base * 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry number `attempt` (0-based): `retry_after` when given (at most
    /// [`MAX_RETRY_AFTER`]), otherwise a uniformly random duration in `0..=ceiling(attempt)`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(MAX_RETRY_AFTER);
        }
        // Without randomness, wait the full ceiling: slower, never a retry storm.
        let random = getrandom::u64().unwrap_or(u64::MAX);
        jittered(self.ceiling(attempt), random)
    }
}

/// A point in `0..=ceiling` chosen by `random`.
fn jittered(ceiling: Duration, random: u64) -> Duration {
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    match nanos.checked_add(1) {
        Some(span) => Duration::from_nanos(random % span),
        None => Duration::from_nanos(random),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff { base: 100 * MS, cap: Duration::from_secs(5) };
        let expected = [100, 200, 400, 800, 1600, 3200, 5000, 5000];
        for (attempt, ms) in expected.into_iter().enumerate() {
            assert_eq!(b.ceiling(attempt as u32), ms * MS, "attempt {attempt}");
        }
        assert_eq!(b.ceiling(31), b.cap);
        assert_eq!(b.ceiling(32), b.cap);
        assert_eq!(b.ceiling(u32::MAX), b.cap);
        let odd = Backoff { base: Duration::from_secs(10), cap: Duration::from_secs(1) };
        assert_eq!(odd.ceiling(0), Duration::from_secs(1));
    }

    #[test]
    fn delay_stays_within_bounds_and_varies() {
        let b = Backoff { base: 50 * MS, cap: 2000 * MS };
        for attempt in 0..40 {
            let ceiling = b.ceiling(attempt);
            let waits: Vec<Duration> = (0..50).map(|_| b.delay(attempt, None)).collect();
            assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}: {waits:?} > {ceiling:?}");
            let distinct: std::collections::HashSet<_> = waits.iter().collect();
            assert!(distinct.len() > 1, "attempt {attempt}: no jitter in {waits:?}");
        }
    }

    #[test]
    fn retry_after_wins_and_is_clamped() {
        let b = Backoff { base: MS, cap: 10 * MS };
        assert_eq!(b.delay(0, Some(Duration::from_secs(30))), Duration::from_secs(30));
        assert_eq!(b.delay(9, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(b.delay(0, Some(Duration::from_secs(86_400))), MAX_RETRY_AFTER);
        assert_eq!(b.delay(0, Some(Duration::MAX)), MAX_RETRY_AFTER);
    }

    #[test]
    fn jitter_maps_randomness_onto_the_whole_range() {
        let ceiling = 1000 * MS;
        assert_eq!(jittered(ceiling, 0), Duration::ZERO);
        assert_eq!(jittered(ceiling, 1_000_000_000), ceiling);
        assert_eq!(jittered(ceiling, 1_000_000_001), Duration::ZERO);
        assert!(jittered(ceiling, u64::MAX) <= ceiling);
        assert_eq!(jittered(Duration::ZERO, 12345), Duration::ZERO);
        assert!(jittered(Duration::MAX, 7) == Duration::from_nanos(7));
    }
}
