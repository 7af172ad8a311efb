//! Discovery (RFC 7644 §4, RFC 7643 §5–§7): `/ServiceProviderConfig`, `/ResourceTypes`,
//! `/Schemas`. Each app has its own, because custom extensions are per app.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::resources::{list_body, Params};
use super::{error_response, json_response, HttpState};
use crate::inbound::{App, ListPage};
use crate::scim::error::ScimError;
use crate::scim::schema::SERVICE_PROVIDER_CONFIG;

fn send(value: &Value) -> Response {
    json_response(StatusCode::OK, serde_json::to_vec(value).unwrap_or_default())
}

/// RFC 7644 §4: a filter on these endpoints gets 403, so that no client believes a filter
/// it sent was applied.
fn refuse_filter(raw: Option<&str>) -> Option<Response> {
    Params::parse(raw)
        .get("filter")
        .map(|_| error_response(&ScimError::new(403, None, "filtering is not supported on discovery endpoints")))
}

fn list_of(values: Vec<Value>) -> Response {
    let resources = values.iter().map(|v| serde_json::to_vec(v).unwrap_or_default().into()).collect();
    let page = ListPage { total: values.len(), start_index: Some(1), next_cursor: None, resources };
    json_response(StatusCode::OK, list_body(&page))
}

pub(super) async fn service_provider_config(
    State(s): State<HttpState>,
    Extension(app): Extension<Arc<App>>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(r) = refuse_filter(q.as_deref()) {
        return r;
    }
    send(&json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://github.com/usersync/usersync#scim",
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": s.limits.bulk_max_operations,
            "maxPayloadSize": s.limits.bulk_max_payload_bytes,
        },
        "filter": {"supported": true, "maxResults": s.inbound.max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": s.inbound.max_results,
            "maxPageSize": s.inbound.max_results,
        },
        "etag": {"supported": true},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token issued by `usersync token create` for this app",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{}/ServiceProviderConfig", app.base_url),
        }
    }))
}

pub(super) async fn resource_types(Extension(app): Extension<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = refuse_filter(q.as_deref()) {
        return r;
    }
    list_of(vec![app.schemas.user.to_json(&app.base_url), app.schemas.group.to_json(&app.base_url)])
}

pub(super) async fn resource_type(
    Extension(app): Extension<Arc<App>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    [&app.schemas.user, &app.schemas.group]
        .into_iter()
        .find(|rt| rt.kind.as_str() == id)
        .map(|rt| send(&rt.to_json(&app.base_url)))
        .unwrap_or_else(|| error_response(&ScimError::not_found(format!("resource type {id} not found"))))
}

pub(super) async fn schemas(Extension(app): Extension<Arc<App>>, RawQuery(q): RawQuery) -> Response {
    if let Some(r) = refuse_filter(q.as_deref()) {
        return r;
    }
    list_of(app.schemas.all_schemas().into_iter().map(|s| s.to_json(&app.base_url)).collect())
}

pub(super) async fn schema(Extension(app): Extension<Arc<App>>, Path((_, id)): Path<(String, String)>) -> Response {
    app.schemas
        .all_schemas()
        .into_iter()
        .find(|s| s.id == id)
        .map(|s| send(&s.to_json(&app.base_url)))
        .unwrap_or_else(|| error_response(&ScimError::not_found(format!("schema {id} not found"))))
}
