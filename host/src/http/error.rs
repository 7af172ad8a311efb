//! The one place a [`ScimError`] becomes an HTTP response (RFC 7644 §3.12).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::scim::error::ScimError;
use crate::scim::schema::ERROR;

/// The SCIM error body: `schemas`, `status` as a string, `scimType` where RFC 7644 names
/// one, and `detail`. Internal causes are logged where they happen, never sent.
pub fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = Map::new();
    body.insert("schemas".into(), json!([ERROR]));
    body.insert("status".into(), Value::String(status.as_u16().to_string()));
    if let Some(t) = e.scim_type {
        body.insert("scimType".into(), Value::String(t.as_str().into()));
    }
    body.insert("detail".into(), Value::String(e.detail.clone()));
    let bytes = serde_json::to_vec(&Value::Object(body)).unwrap_or_default();
    let mut response = super::json_response(status, bytes);
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of a late body may still come: this connection's framing is lost.
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // A module not loaded yet, or the rules' memory budget taken: worth trying again
        // soon, and identity providers wait as long as `Retry-After` says.
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_UNAVAILABLE_SECS));
    }
    response
}

/// `Retry-After` of a 503: long enough for a burst of decisions to pass or a module to
/// load, short enough that the identity provider's change is not held up.
const RETRY_UNAVAILABLE_SECS: &str = "5";

impl axum::response::IntoResponse for ScimError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_503_says_when_to_try_again_and_other_errors_do_not() {
        let busy = error_response(&ScimError::new(503, None, "the rules memory budget is taken".to_owned()));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()), Some("5"));
        let invalid = error_response(&ScimError::invalid_value("no".to_owned()));
        assert!(invalid.headers().get(header::RETRY_AFTER).is_none());
    }
}
