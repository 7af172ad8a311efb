//! The control API under `{context}/_emulator`: the same controls as the Rust API, for the
//! binary and other processes. No authentication, no faults, no rate limiting.
//!
//! | Route | Body | Answer |
//! |---|---|---|
//! | `GET /_emulator/state` | | [`Snapshot`](super::Snapshot) as JSON |
//! | `GET /_emulator/counters` | | [`Counters`](super::Counters) as JSON |
//! | `GET`/`PUT /_emulator/faults` | [`Faults`](super::Faults) (`latency_ms`, rates, `targeted`…) | 200 / 204 |
//! | `GET /_emulator/writes` | | every processed write, [`WriteRecord`](super::WriteRecord)s as JSON |
//! | `PUT /_emulator/tokens` | `[PersonalAccessToken…]`: the tokens accepted from now on | 204 |
//! | `GET`/`PUT /_emulator/rate-limit` | [`RateLimit`](super::RateLimit) | 200 / 204 |
//! | `POST /_emulator/seed` | `{"users": [SeedUser…], "groups": [SeedGroup…]}` | `{"users": n, "memberships": m}` |
//! | `POST /_emulator/reset` | | 204: back to the configured start state |

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::{PersonalAccessToken, SeedGroup, SeedUser};
use super::faults::Faults;
use super::ratelimit::RateLimit;
use super::report::{Counters, Snapshot, WriteRecord};
use super::Shared;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/state", get(state))
        .route("/_emulator/counters", get(counters))
        .route("/_emulator/faults", get(faults).put(set_faults))
        .route("/_emulator/rate-limit", get(rate_limit).put(set_rate_limit))
        .route("/_emulator/writes", get(writes))
        .route("/_emulator/tokens", axum::routing::put(set_tokens))
        .route("/_emulator/seed", post(seed))
        .route("/_emulator/reset", post(reset))
        .layer(DefaultBodyLimit::disable())
}

async fn state(State(shared): State<Arc<Shared>>) -> Json<Snapshot> {
    Json(shared.snapshot())
}

async fn counters(State(shared): State<Arc<Shared>>) -> Json<Counters> {
    Json(shared.counters())
}

async fn faults(State(shared): State<Arc<Shared>>) -> Json<Faults> {
    Json(shared.faults().faults().clone())
}

async fn set_faults(State(shared): State<Arc<Shared>>, Json(faults): Json<Faults>) -> StatusCode {
    shared.faults().set(faults);
    StatusCode::NO_CONTENT
}

async fn writes(State(shared): State<Arc<Shared>>) -> Json<Vec<WriteRecord>> {
    Json(super::lock(&shared.writes).clone())
}

async fn set_tokens(State(shared): State<Arc<Shared>>, Json(tokens): Json<Vec<PersonalAccessToken>>) -> StatusCode {
    *super::lock(&shared.tokens) = super::token_map(&tokens);
    StatusCode::NO_CONTENT
}

async fn rate_limit(State(shared): State<Arc<Shared>>) -> Json<RateLimit> {
    Json(shared.limiter().settings().clone())
}

async fn set_rate_limit(State(shared): State<Arc<Shared>>, Json(settings): Json<RateLimit>) -> StatusCode {
    shared.limiter().set(settings);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedRequest {
    #[serde(default)]
    users: Vec<SeedUser>,
    #[serde(default)]
    groups: Vec<SeedGroup>,
}

async fn seed(State(shared): State<Arc<Shared>>, Json(request): Json<SeedRequest>) -> Json<Value> {
    let mut state = shared.state();
    let users = request.users.len();
    for user in request.users {
        state.seed_user(user);
    }
    let memberships: usize = request.groups.iter().map(|g| state.seed_group(&g.name, &g.members, g.directory)).sum();
    Json(json!({"users": users, "memberships": memberships}))
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.reset();
    StatusCode::NO_CONTENT
}
