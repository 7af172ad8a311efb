//! Fault injection for `/rest` routes: latency, outages, 429 storms, 5xx and dropped
//! connections, drawn from a small seeded generator so a run can be replayed.
//!
//! Each request draws its fate once, before it is processed, in this order: outage, latency
//! (always applied), a targeted fault that matches it, dropped connection, 429, 500/503.
//! Control routes never see faults.
//!
//! Targeted faults ([`TargetedFault`]) hit one request by method and path, a given number
//! of times: "the next PUT to `/rest/api/admin/user/carol` answers 429", so a test can fail
//! one chosen step of a multi-step operation.

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
    /// Faults for chosen requests, checked in order; each applies `times` times and is
    /// then spent (and removed).
    pub targeted: Vec<TargetedFault>,
}

/// A fault for the requests that match `method` and `path`, `times` times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetedFault {
    /// `GET`, `PUT` ... (case-insensitive).
    pub method: String,
    /// The path below the context path, percent-decoded, without the query:
    /// `/rest/api/admin/user/carol/enable`.
    pub path: String,
    pub action: TargetedAction,
    /// How many matching requests it hits. Default 1.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// What a [`TargetedFault`] does to a request it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TargetedAction {
    /// 429 with this `Retry-After` (seconds), not processed.
    TooManyRequests { retry_after_secs: u64 },
    /// 503 (HTML), not processed.
    Unavailable,
    /// The connection closes before the request is processed.
    DropBefore,
    /// The request is processed, then the connection closes without the answer.
    DropAfter,
    /// 400 with Confluence's error body (as for data Confluence will not take), not
    /// processed: a refusal for good.
    BadRequest,
}

impl TargetedFault {
    /// Hits the next request (`times` of them) of `method` to `path`.
    pub fn new(method: &str, path: &str, action: TargetedAction) -> Self {
        TargetedFault { method: method.to_owned(), path: path.to_owned(), action, times: 1 }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0 && self.method.eq_ignore_ascii_case(method) && self.path == path
    }
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
    targeted: Vec<TargetedFault>,
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
            targeted: wire.targeted,
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
            targeted: faults.targeted,
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
    BadRequest,
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

    /// Draws the fate of one request (`path` below the context path, decoded): the latency
    /// to add first, then what to do.
    pub(crate) fn draw(&mut self, method: &str, path: &str) -> (Duration, FaultAction) {
        if self.faults.outage {
            return (self.faults.latency, FaultAction::Outage);
        }
        if let Some(hit) = self.faults.targeted.iter_mut().find(|t| t.matches(method, path)) {
            hit.times -= 1;
            let action = match hit.action {
                TargetedAction::TooManyRequests { retry_after_secs } => {
                    FaultAction::TooManyRequests { retry_after_secs }
                }
                TargetedAction::Unavailable => FaultAction::ServerError { unavailable: true },
                TargetedAction::DropBefore => FaultAction::DropBefore,
                TargetedAction::DropAfter => FaultAction::Process { drop_after: true },
                TargetedAction::BadRequest => FaultAction::BadRequest,
            };
            self.faults.targeted.retain(|t| t.times > 0);
            return (self.faults.latency, action);
        }
        let faults = &self.faults;
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
            assert_eq!(injector.draw("GET", "/rest/api/user").1, FaultAction::Process { drop_after: false });
        }
        injector.set(Faults { rate_429: 1.0, retry_after_secs: 3, ..Faults::default() });
        assert_eq!(injector.draw("GET", "/rest/api/user").1, FaultAction::TooManyRequests { retry_after_secs: 3 });
        injector.set(Faults { drop_connection_rate: 1.0, drop_after_processing: true, ..Faults::default() });
        assert_eq!(injector.draw("GET", "/rest/api/user").1, FaultAction::Process { drop_after: true });
        injector.set(Faults { outage: true, rate_429: 1.0, ..Faults::default() });
        assert_eq!(injector.draw("GET", "/rest/api/user").1, FaultAction::Outage);
    }

    #[test]
    fn error_rate_is_roughly_honoured_and_mixes_500_and_503() {
        let mut injector = FaultInjector::new(Faults { error_rate: 0.25, ..Faults::default() }, 42);
        let (mut errors, mut unavailable) = (0, 0);
        for _ in 0..10_000 {
            if let FaultAction::ServerError { unavailable: u } = injector.draw("GET", "/rest/api/user").1 {
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
        let targeted: Faults = serde_json::from_str(
            r#"{"targeted": [{"method": "PUT", "path": "/rest/api/admin/user/carol",
                "action": {"too_many_requests": {"retry_after_secs": 2}}, "times": 2}]}"#,
        )
        .unwrap();
        let fault = &targeted.targeted[0];
        assert_eq!((fault.action, fault.times), (TargetedAction::TooManyRequests { retry_after_secs: 2 }, 2));
        let drop: Faults = serde_json::from_str(
            r#"{"targeted": [{"method": "POST", "path": "/rest/api/admin/user", "action": "drop_after"}]}"#,
        )
        .unwrap();
        assert_eq!(drop.targeted[0].times, 1, "once by default");
    }

    #[test]
    fn targeted_faults_hit_their_request_as_often_as_told_then_are_spent() {
        let put = TargetedFault {
            times: 2,
            ..TargetedFault::new("put", "/rest/api/admin/user/carol", TargetedAction::Unavailable)
        };
        let post = TargetedFault::new("POST", "/rest/api/admin/user", TargetedAction::DropAfter);
        let mut injector = FaultInjector::new(Faults { targeted: vec![put, post], ..Faults::default() }, 1);
        let process = FaultAction::Process { drop_after: false };
        assert_eq!(injector.draw("PUT", "/rest/api/admin/user/carol/enable").1, process, "another path");
        assert_eq!(injector.draw("GET", "/rest/api/admin/user/carol").1, process, "another method");
        for _ in 0..2 {
            let hit = injector.draw("PUT", "/rest/api/admin/user/carol").1;
            assert_eq!(hit, FaultAction::ServerError { unavailable: true });
        }
        assert_eq!(injector.draw("PUT", "/rest/api/admin/user/carol").1, process, "spent");
        assert_eq!(injector.draw("POST", "/rest/api/admin/user").1, FaultAction::Process { drop_after: true });
        assert!(injector.faults().targeted.is_empty());
    }
}
