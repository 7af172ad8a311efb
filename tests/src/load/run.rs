//! A timed load run: `concurrency` tasks, each with its own connection, send one
//! scenario's requests back to back for a warm-up and then a measured window.
//!
//! Counting rules (they are what `BENCHMARKS.md` reports):
//! - `requests`: responses with the expected status (200, or 201 for `create`) that
//!   completed inside the measured window; `throughput_per_sec` is that over the window.
//! - `errors`: every other outcome during the whole run, warm-up included: an unexpected
//!   status, a refused or broken connection, an unreadable response. Any error makes the
//!   figures suspect, so the script fails on it.
//! - Latency is measured from just before the request is written to the last byte of the
//!   response body, for the counted requests.
//!
//! Before the clock starts, one request of the scenario is checked in depth (the right
//! user came back, the filter matched exactly one user, the create answered with an `id`)
//! so that a fast wrong answer cannot pass for a fast right one.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::client::{ClientError, Connection, Endpoint, Reply};
use super::stats::LatencySummary;
use super::user::{created_user_name, seeded_user_name, write_user_body};

/// What each request of a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// `GET {base}/Users/{id}` with an id drawn at random from the seeded ids.
    Get,
    /// `GET {base}/Users?filter=userName eq "user{i}@example.com"`, `i` drawn from the seeded
    /// range `0..ids.len()`.
    Filter,
    /// `POST {base}/Users` of a new, unique user; expects 201.
    Create,
    /// Like `Get`, but against the bare baseline server, whose answer is not checked.
    Baseline,
}

impl Scenario {
    fn expected_status(self) -> StatusCode {
        match self {
            Scenario::Create => StatusCode::CREATED,
            Scenario::Get | Scenario::Filter | Scenario::Baseline => StatusCode::OK,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Scenario::Get => "get",
            Scenario::Filter => "filter",
            Scenario::Create => "create",
            Scenario::Baseline => "baseline",
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scenario name other than `get`, `filter`, `create` or `baseline`.
#[derive(Debug, thiserror::Error)]
#[error("unknown scenario {0:?} (expected get, filter, create or baseline)")]
pub struct UnknownScenario(String);

impl FromStr for Scenario {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "get" => Ok(Scenario::Get),
            "filter" => Ok(Scenario::Filter),
            "create" => Ok(Scenario::Create),
            "baseline" => Ok(Scenario::Baseline),
            other => Err(UnknownScenario(other.to_owned())),
        }
    }
}

/// How long and how wide a run is.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub scenario: Scenario,
    /// Concurrent tasks, each with its own keep-alive connection.
    pub concurrency: usize,
    /// Requests are sent but not counted for this long first (the script uses 2 s).
    pub warmup: Duration,
    /// The measured window.
    pub measure: Duration,
    /// Distinguishes this run's created users from other runs' (`create` only).
    pub run_tag: u64,
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the {0} scenario needs the seeded ids (an empty ids file was given)")]
    NoIds(Scenario),
    #[error("cannot reach the server for the pre-flight check")]
    Unreachable(#[source] ClientError),
    #[error("pre-flight check failed: {what}; status {status}, body: {body}")]
    Preflight { what: String, status: u16, body: String },
    #[error("a load task panicked or was cancelled")]
    Task(#[source] tokio::task::JoinError),
}

/// The outcome of a run; the benchmark prints it as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    pub scenario: Scenario,
    pub concurrency: usize,
    pub measured_secs: f64,
    pub requests: u64,
    pub errors: u64,
    pub throughput_per_sec: f64,
    pub p50_us: u32,
    pub p90_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    /// Successful responses over the whole run, warm-up and the tail included (for
    /// `create`: every user the server acknowledged).
    pub ok_total: u64,
    /// The first error seen, for diagnosis.
    pub first_error: Option<String>,
    /// `create` only: `(task, seq)` of every acknowledged create, for the durability check.
    #[serde(skip)]
    pub acknowledged: Vec<(usize, u64)>,
}

/// Runs `plan` against `endpoint`. `ids` are the seeded users' ids, in seeding order (the
/// `i`-th id belongs to `user{i}@example.com`); `create` needs none.
///
/// Must run inside a Tokio runtime. Connection errors during the run are counted, not
/// returned: a task whose connection fails opens a new one (after 50 ms if opening fails,
/// so a dead server does not turn into a busy loop).
///
/// # Errors
/// [`LoadError::NoIds`] when `get`, `filter` or `baseline` get no ids;
/// [`LoadError::Unreachable`] or [`LoadError::Preflight`] when the pre-flight request fails;
/// [`LoadError::Task`] if a task panics.
pub async fn run_load(endpoint: &Endpoint, plan: &LoadPlan, ids: Arc<[String]>) -> Result<LoadReport, LoadError> {
    if plan.scenario != Scenario::Create && ids.is_empty() {
        return Err(LoadError::NoIds(plan.scenario));
    }
    let workload =
        Arc::new(Workload { endpoint: endpoint.clone(), scenario: plan.scenario, ids, run_tag: plan.run_tag });
    preflight(&workload).await?;

    let start = Instant::now();
    let window = Window { from: start + plan.warmup, until: start + plan.warmup + plan.measure };
    let tasks: Vec<_> =
        (0..plan.concurrency).map(|task| tokio::spawn(run_task(Arc::clone(&workload), task, window))).collect();
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        outcomes.push(task.await.map_err(LoadError::Task)?);
    }

    let measured_secs = plan.measure.as_secs_f64();
    let requests: u64 = outcomes.iter().map(|o| o.latencies.len() as u64).sum();
    let errors = outcomes.iter().map(|o| o.errors).sum();
    let ok_total = outcomes.iter().map(|o| o.ok_total).sum();
    let first_error = outcomes.iter().find_map(|o| o.first_error.clone());
    let mut acknowledged = Vec::new();
    let mut latencies = Vec::with_capacity(outcomes.len());
    for (task, outcome) in outcomes.into_iter().enumerate() {
        acknowledged.extend(outcome.acknowledged.into_iter().map(|seq| (task, seq)));
        latencies.push(outcome.latencies);
    }
    let latency = LatencySummary::from_tasks(latencies);
    Ok(LoadReport {
        scenario: plan.scenario,
        concurrency: plan.concurrency,
        measured_secs,
        requests,
        errors,
        throughput_per_sec: requests as f64 / measured_secs.max(f64::EPSILON),
        p50_us: latency.p50_us,
        p90_us: latency.p90_us,
        p99_us: latency.p99_us,
        max_us: latency.max_us,
        ok_total,
        first_error,
        acknowledged,
    })
}

#[derive(Clone, Copy)]
struct Window {
    from: Instant,
    until: Instant,
}

struct Workload {
    endpoint: Endpoint,
    scenario: Scenario,
    ids: Arc<[String]>,
    run_tag: u64,
}

/// One request, ready to send.
struct Planned {
    method: Method,
    path: String,
    body: Option<Bytes>,
}

/// Per-task scratch state: reused buffers and the task's random stream.
struct TaskState {
    task: usize,
    seq: u64,
    rng: SplitMix64,
    name: String,
    body: Vec<u8>,
}

impl Workload {
    fn plan(&self, state: &mut TaskState) -> Planned {
        let base = self.endpoint.base_path();
        match self.scenario {
            Scenario::Get | Scenario::Baseline => {
                let id = &self.ids[state.rng.below(self.ids.len())];
                Planned { method: Method::GET, path: format!("{base}/Users/{id}"), body: None }
            }
            Scenario::Filter => {
                seeded_user_name(&mut state.name, state.rng.below(self.ids.len()) as u64);
                Planned {
                    method: Method::GET,
                    path: format!("{base}/Users?filter=userName%20eq%20%22{}%22", state.name),
                    body: None,
                }
            }
            Scenario::Create => {
                created_user_name(&mut state.name, self.run_tag, state.task, state.seq);
                write_user_body(&mut state.body, &state.name, state.seq);
                Planned {
                    method: Method::POST,
                    path: format!("{base}/Users"),
                    body: Some(Bytes::copy_from_slice(&state.body)),
                }
            }
        }
    }
}

struct TaskOutcome {
    latencies: Vec<u32>,
    errors: u64,
    ok_total: u64,
    first_error: Option<String>,
    acknowledged: Vec<u64>,
}

async fn run_task(workload: Arc<Workload>, task: usize, window: Window) -> TaskOutcome {
    let mut state = TaskState {
        task,
        seq: 0,
        rng: SplitMix64::new(workload.run_tag ^ (task as u64).wrapping_mul(0x9E37_79B9)),
        name: String::with_capacity(64),
        body: Vec::with_capacity(512),
    };
    let mut outcome = TaskOutcome {
        // Room for 30,000 requests/s for 10 s across 16 tasks before the first regrowth.
        latencies: Vec::with_capacity(1 << 15),
        errors: 0,
        ok_total: 0,
        first_error: None,
        acknowledged: Vec::new(),
    };
    let expected = workload.scenario.expected_status();
    let mut connection: Option<Connection> = None;

    while Instant::now() < window.until {
        if connection.is_none() {
            match Connection::open(&workload.endpoint).await {
                Ok(conn) => connection = Some(conn),
                Err(error) => {
                    outcome.record_error(error_chain(&error));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let planned = workload.plan(&mut state);
        let sent = Instant::now();
        let result = conn.send(planned.method, planned.path, planned.body).await;
        let done = Instant::now();
        match result {
            Ok(reply) if reply.status == expected => {
                outcome.ok_total += 1;
                if workload.scenario == Scenario::Create {
                    outcome.acknowledged.push(state.seq);
                }
                if done >= window.from && done <= window.until {
                    let micros = done.duration_since(sent).as_micros();
                    outcome.latencies.push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
            }
            Ok(reply) => {
                outcome.record_error(format!("status {} (expected {expected}): {}", reply.status, snippet(&reply.body)))
            }
            Err(error) => {
                outcome.record_error(error_chain(&error));
                connection = None;
            }
        }
        state.seq += 1;
    }
    outcome
}

impl TaskOutcome {
    fn record_error(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

/// One request of the scenario, checked in depth before the clock starts.
async fn preflight(workload: &Workload) -> Result<(), LoadError> {
    let mut conn = Connection::open(&workload.endpoint).await.map_err(LoadError::Unreachable)?;
    let mut state = TaskState {
        task: usize::MAX,
        seq: 0,
        rng: SplitMix64::new(workload.run_tag),
        name: String::new(),
        body: Vec::new(),
    };
    let planned = workload.plan(&mut state);
    let path = planned.path.clone();
    let reply = conn.send(planned.method, planned.path, planned.body).await.map_err(LoadError::Unreachable)?;
    let fail = |what: String, reply: &Reply| LoadError::Preflight {
        what,
        status: reply.status.as_u16(),
        body: snippet(&reply.body),
    };
    if reply.status != workload.scenario.expected_status() {
        return Err(fail(
            format!("{path} answered an unexpected status (expected {})", workload.scenario.expected_status()),
            &reply,
        ));
    }
    if workload.scenario == Scenario::Baseline {
        return Ok(());
    }
    let json: Value =
        serde_json::from_slice(&reply.body).map_err(|e| fail(format!("{path} answered invalid JSON ({e})"), &reply))?;
    let ok = match workload.scenario {
        Scenario::Get => path.ends_with(json["id"].as_str().unwrap_or("\u{0}")),
        Scenario::Filter => json["totalResults"] == 1 && json["Resources"][0]["userName"] == state.name.as_str(),
        Scenario::Create => {
            json["id"].as_str().is_some_and(|id| !id.is_empty()) && json["userName"] == state.name.as_str()
        }
        Scenario::Baseline => true,
    };
    if ok {
        Ok(())
    } else {
        Err(fail(format!("{path} did not answer the expected resource"), &reply))
    }
}

/// The first 300 bytes of a body, for error messages.
pub(crate) fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}

/// An error with its sources, `a: b: c`.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// SplitMix64: a tiny, fast, seedable generator; statistical quality is ample for picking
/// which user to read.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`); the modulo bias is negligible for n ≪ 2^64.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `router` on an ephemeral loopback port; returns its base URL.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/scim/v2/bench")
    }

    fn plan(scenario: Scenario) -> LoadPlan {
        LoadPlan {
            scenario,
            concurrency: 4,
            warmup: Duration::from_millis(50),
            measure: Duration::from_millis(300),
            run_tag: 7,
        }
    }

    #[tokio::test]
    async fn measures_the_baseline_without_errors() {
        let body = Bytes::from_static(br#"{"id":"a","userName":"user0@example.com"}"#);
        let url = serve(crate::load::baseline_router(body)).await;
        let endpoint = Endpoint::parse(&url, Some("t")).expect("valid URL");
        let ids: Arc<[String]> = vec!["a".to_owned(), "b".to_owned()].into();
        let report = run_load(&endpoint, &plan(Scenario::Baseline), ids).await.expect("run");
        assert_eq!((report.errors, report.first_error), (0, None));
        assert!(report.requests > 0 && report.ok_total >= report.requests);
        assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    }

    #[tokio::test]
    async fn preflight_rejects_a_wrong_resource() {
        // The baseline answers user "a" whatever id is asked for: a fast wrong answer.
        let body = Bytes::from_static(br#"{"id":"a"}"#);
        let url = serve(crate::load::baseline_router(body)).await;
        let endpoint = Endpoint::parse(&url, None).expect("valid URL");
        let ids: Arc<[String]> = vec!["b".to_owned()].into();
        let result = run_load(&endpoint, &plan(Scenario::Get), ids).await;
        assert!(matches!(result, Err(LoadError::Preflight { .. })), "{result:?}");
    }

    #[tokio::test]
    async fn counts_every_unexpected_status_as_an_error() {
        use std::sync::atomic::{AtomicBool, Ordering};
        // 200 for the pre-flight request, 503 for every request after it.
        let answered = Arc::new(AtomicBool::new(false));
        let router = axum::Router::new().fallback(move || {
            let first = !answered.swap(true, Ordering::Relaxed);
            async move {
                if first {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            }
        });
        let url = serve(router).await;
        let endpoint = Endpoint::parse(&url, None).expect("valid URL");
        let ids: Arc<[String]> = vec!["a".to_owned()].into();
        let report = run_load(&endpoint, &plan(Scenario::Baseline), ids).await.expect("run");
        assert_eq!((report.requests, report.ok_total), (0, 0));
        assert!(report.errors > 0);
        assert!(report.first_error.as_deref().is_some_and(|e| e.starts_with("status 503")), "{:?}", report.first_error);
    }

    #[tokio::test]
    async fn preflight_rejects_an_unexpected_status() {
        let url = serve(axum::Router::new()).await;
        let endpoint = Endpoint::parse(&url, None).expect("valid URL");
        let result = run_load(&endpoint, &plan(Scenario::Create), Arc::from(Vec::new())).await;
        assert!(matches!(result, Err(LoadError::Preflight { status: 404, .. })), "{result:?}");
    }

    #[test]
    fn random_picks_cover_the_range() {
        let mut rng = SplitMix64::new(1);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn scenario_names_round_trip() {
        for scenario in [Scenario::Get, Scenario::Filter, Scenario::Create, Scenario::Baseline] {
            assert_eq!(scenario.to_string().parse::<Scenario>().ok(), Some(scenario));
        }
        assert!("post".parse::<Scenario>().is_err());
    }
}
