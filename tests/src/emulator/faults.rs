//! Fault injection for `/rest` routes: latency, outages, 429 storms, 5xx and dropped
//! connections, drawn from a small seeded generator so a run can be replayed.
//!
//! Each request draws its fate once, before it is processed, in this order: outage, latency
//! (always applied), dropped connection, 429, 500/503. Control routes never see faults.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Faults applied to every `/rest` request (the applinks manifest included).
///
/// Rates are probabilities in `0..=1`; values outside are clamped, NaN counts as 0.
/// Over the control API the latency is `latency_ms`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "FaultsWire", into = "FaultsWire")]
pub struct Faults {
    /// Added before every request is processed (also before an injected error).
    pub latency: Duration,
    /// Share of requests answered 500 or 503 (half each) without being processed.
    pub error_rate: f64,
    /// Share of requests answered 429 with `Retry-After: retry_after_secs`, not processed.
    pub rate_429: f64,
    /// `Retry-After` of injected 429s.
    pub retry_after_secs: u64,
    /// A real outage: every request is answered 503 (HTML body) without being processed.
    /// Connections are still accepted.
    pub outage: bool,
    /// Share of requests whose connection is closed without any response (the client sees
    /// the connection end before a status line).
    pub drop_connection_rate: f64,
    /// When a connection is dropped: `false` before the request is processed (nothing
    /// happened), `true` after (the write happened but its response is lost).
    pub drop_after_processing: bool,
}

/// The control-API form of [`Faults`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FaultsWire {
    latency_ms: u64,
    error_rate: f64,
    rate_429: f64,
    retry_after_secs: u64,
    outage: bool,
    drop_connection_rate: f64,
    drop_after_processing: bool,
}

impl From<FaultsWire> for Faults {
    fn from(wire: FaultsWire) -> Self {
        Self {
            latency: Duration::from_millis(wire.latency_ms),
            error_rate: wire.error_rate,
            rate_429: wire.rate_429,
            retry_after_secs: wire.retry_after_secs,
            outage: wire.outage,
            drop_connection_rate: wire.drop_connection_rate,
            drop_after_processing: wire.drop_after_processing,
        }
    }
}

impl From<Faults> for FaultsWire {
    fn from(faults: Faults) -> Self {
        Self {
            latency_ms: u64::try_from(faults.latency.as_millis()).unwrap_or(u64::MAX),
            error_rate: faults.error_rate,
            rate_429: faults.rate_429,
            retry_after_secs: faults.retry_after_secs,
            outage: faults.outage,
            drop_connection_rate: faults.drop_connection_rate,
            drop_after_processing: faults.drop_after_processing,
        }
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FaultAction {
    /// Process it; close the connection instead of answering when `drop_after` is set.
    Process {
        drop_after: bool,
    },
    Outage,
    DropBefore,
    TooManyRequests {
        retry_after_secs: u64,
    },
    ServerError {
        unavailable: bool,
    },
}

/// The active faults and the generator their draws come from.
#[derive(Debug)]
pub(crate) struct FaultInjector {
    faults: Faults,
    rng: SplitMix64,
}

impl FaultInjector {
    pub(crate) fn new(faults: Faults, seed: u64) -> Self {
        Self { faults, rng: SplitMix64::new(seed) }
    }

    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }

    pub(crate) fn set(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Draws the fate of one request: the latency to add first, then what to do.
    pub(crate) fn draw(&mut self) -> (Duration, FaultAction) {
        let faults = &self.faults;
        if faults.outage {
            return (faults.latency, FaultAction::Outage);
        }
        let drop = self.rng.chance(faults.drop_connection_rate);
        let action = if drop && !faults.drop_after_processing {
            FaultAction::DropBefore
        } else if self.rng.chance(faults.rate_429) {
            FaultAction::TooManyRequests { retry_after_secs: faults.retry_after_secs }
        } else if self.rng.chance(faults.error_rate) {
            FaultAction::ServerError { unavailable: self.rng.next_u64() & 1 == 1 }
        } else {
            FaultAction::Process { drop_after: drop }
        };
        (faults.latency, action)
    }
}

/// SplitMix64 (Steele, Lea and Flood): tiny, fast and good enough for fault draws and ids.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (clamped to `0..=1`; NaN is 0).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        if p.is_nan() || p <= 0.0 {
            return false;
        }
        p >= 1.0 || self.next_f64() < p
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rates_of_zero_and_one_are_exact() {
        let mut injector = FaultInjector::new(Faults::default(), 7);
        for _ in 0..1000 {
            assert_eq!(injector.draw().1, FaultAction::Process { drop_after: false });
        }
        injector.set(Faults { rate_429: 1.0, retry_after_secs: 3, ..Faults::default() });
        assert_eq!(injector.draw().1, FaultAction::TooManyRequests { retry_after_secs: 3 });
        injector.set(Faults { drop_connection_rate: 1.0, drop_after_processing: true, ..Faults::default() });
        assert_eq!(injector.draw().1, FaultAction::Process { drop_after: true });
        injector.set(Faults { outage: true, rate_429: 1.0, ..Faults::default() });
        assert_eq!(injector.draw().1, FaultAction::Outage);
    }

    #[test]
    fn error_rate_is_roughly_honoured_and_mixes_500_and_503() {
        let mut injector = FaultInjector::new(Faults { error_rate: 0.25, ..Faults::default() }, 42);
        let (mut errors, mut unavailable) = (0, 0);
        for _ in 0..10_000 {
            if let FaultAction::ServerError { unavailable: u } = injector.draw().1 {
                errors += 1;
                unavailable += usize::from(u);
            }
        }
        assert!((2_000..3_000).contains(&errors), "{errors}");
        assert!(unavailable > errors / 4 && unavailable < errors * 3 / 4, "{unavailable} of {errors}");
    }

    #[test]
    fn wire_form_uses_milliseconds_and_rejects_unknown_fields() {
        let faults: Faults = serde_json::from_str(r#"{"latency_ms": 250, "outage": true}"#).unwrap();
        assert_eq!(faults, Faults { latency: Duration::from_millis(250), outage: true, ..Faults::default() });
        assert_eq!(serde_json::to_value(&faults).unwrap()["latency_ms"], 250);
        assert!(serde_json::from_str::<Faults>(r#"{"latency": 1}"#).is_err());
    }
}
