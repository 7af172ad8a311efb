//! The baseline: a bare axum handler that answers every GET with fixed bytes.
//!
//! The read targets are a ratio to this server's throughput, measured in the same run on
//! the same machine with the same generator and the bytes of a real `GET /Users/{id}`
//! response, so the ratio shows what the SCIM layer (auth, lookup, serialisation) costs
//! on top of HTTP itself.

use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

use super::client::SCIM_JSON;

/// A router whose every GET, on any path, answers 200 with `body` as
/// `application/scim+json`. No middleware, no state beyond the shared bytes.
pub fn baseline_router(body: Bytes) -> Router {
    let handler = move || {
        let body = body.clone();
        async move { ([(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))], body) }
    };
    Router::new().fallback_service(get(handler))
}
