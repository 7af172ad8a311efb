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
    response
}

impl axum::response::IntoResponse for ScimError {
    fn into_response(self) -> Response {
        error_response(&self)
    }
}
