//! `/Users`, `/Groups` and `/.search`: CRUD, list and search handlers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use bytes::{BufMut, Bytes, BytesMut};
use serde_json::Value;

use super::{json_response, read_json, HttpState};
use crate::inbound::{etag_list_matches, App, Delivery, ListPage, ListQuery};
use crate::scim::error::{ScimError, ScimResult};
use crate::scim::project::Projection;
use crate::scim::schema::{ResourceKind, LIST_RESPONSE};
use crate::store::StoredResource;

/// Query parameters, matched case-insensitively (`startindex` = `startIndex`); empty
/// pairs from a trailing `&` or `?` are ignored.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn parse(raw: Option<&str>) -> Params {
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .filter(|(k, _)| !k.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Params(pairs)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn projection(&self) -> ScimResult<Projection> {
        Projection::parse(self.get("attributes"), self.get("excludedAttributes"))
    }

    fn list_query(&self) -> ScimResult<ListQuery> {
        ListQuery::from_lookup(|name| self.get(name).map(str::to_owned))
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A single resource as a response: projected if asked, with `ETag` (and `Location` on 201).
fn resource_response(
    status: StatusCode,
    app: &App,
    r: &StoredResource,
    projection: &Projection,
) -> ScimResult<Response> {
    let body: Bytes = if projection.is_identity() {
        r.body()
    } else {
        let value = r.value().map_err(|e| ScimError::internal(e.to_string()))?;
        let projected = projection.apply(&value, app.schemas.of(r.kind));
        Bytes::from(serde_json::to_vec(&projected).map_err(|e| ScimError::internal(e.to_string()))?)
    };
    let mut resp = json_response(status, body);
    if let Ok(v) = HeaderValue::from_str(&r.etag()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        let location = format!("{}{}/{}", app.base_url, r.kind.endpoint(), r.id);
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    Ok(resp)
}

/// The ListResponse (RFC 7644 §3.4.2): exactly `schemas`, `totalResults`, `startIndex`,
/// `itemsPerPage` and `Resources` (cursor pages: `nextCursor` when there is a next page,
/// and no `startIndex`, as RFC 9865 §2.2 has it), assembled from the pre-serialised
/// resources.
pub(crate) fn list_body(page: &ListPage) -> Bytes {
    let len: usize = page.resources.iter().map(|r| r.len()).sum();
    let mut out = BytesMut::with_capacity(len + page.resources.len() + 160);
    out.put_slice(br#"{"schemas":[""#);
    out.put_slice(LIST_RESPONSE.as_bytes());
    out.put_slice(format!(r#""],"totalResults":{}"#, page.total).as_bytes());
    if let Some(start) = page.start_index {
        out.put_slice(format!(r#","startIndex":{start}"#).as_bytes());
    }
    out.put_slice(format!(r#","itemsPerPage":{}"#, page.resources.len()).as_bytes());
    if let Some(next) = &page.next_cursor {
        out.put_slice(format!(r#","nextCursor":{}"#, Value::String(next.clone())).as_bytes());
    }
    out.put_slice(br#","Resources":["#);
    for (i, r) in page.resources.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(r);
    }
    out.put_slice(b"]}");
    out.freeze()
}

fn respond(result: ScimResult<Response>) -> Response {
    result.unwrap_or_else(|e| super::error_response(&e))
}

async fn list(state: &HttpState, app: &App, kinds: &[ResourceKind], raw: Option<&str>) -> ScimResult<Response> {
    let query = Params::parse(raw).list_query()?;
    let page = state.inbound.list(app, kinds, &query)?;
    Ok(json_response(StatusCode::OK, list_body(&page)))
}

async fn search(
    state: &HttpState,
    app: &App,
    kinds: &[ResourceKind],
    headers: &HeaderMap,
    body: Body,
) -> ScimResult<Response> {
    let body = read_json(headers, body, state.limits.max_body_bytes).await?;
    let query = ListQuery::from_search_body(&body)?;
    let page = state.inbound.list(app, kinds, &query)?;
    Ok(json_response(StatusCode::OK, list_body(&page)))
}

async fn get_one(
    state: &HttpState,
    app: &App,
    kind: ResourceKind,
    id: &str,
    headers: &HeaderMap,
    raw: Option<&str>,
) -> ScimResult<Response> {
    let projection = Params::parse(raw).projection()?;
    let r = state.inbound.get(app, kind, id)?;
    if let Some(inm) = header_str(headers, header::IF_NONE_MATCH) {
        if etag_list_matches(inm, &r.etag()) {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NOT_MODIFIED;
            if let Ok(v) = HeaderValue::from_str(&r.etag()) {
                resp.headers_mut().insert(header::ETAG, v);
            }
            return Ok(resp);
        }
    }
    resource_response(StatusCode::OK, app, &r, &projection)
}

async fn create(
    state: &HttpState,
    app: &App,
    kind: ResourceKind,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: Body,
) -> ScimResult<Response> {
    let projection = Params::parse(raw).projection()?;
    let body = read_json(headers, body, state.limits.max_body_bytes).await?;
    let created = state.inbound.create(app, kind, &body, Delivery::AtOnce).await?;
    resource_response(StatusCode::CREATED, app, &created.resource, &projection)
}

async fn replace(
    state: &HttpState,
    app: &App,
    kind: ResourceKind,
    id: &str,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: Body,
) -> ScimResult<Response> {
    let projection = Params::parse(raw).projection()?;
    let body = read_json(headers, body, state.limits.max_body_bytes).await?;
    let r =
        state.inbound.replace(app, kind, id, &body, header_str(headers, header::IF_MATCH), Delivery::AtOnce).await?;
    resource_response(StatusCode::OK, app, &r, &projection)
}

async fn patch(
    state: &HttpState,
    app: &App,
    kind: ResourceKind,
    id: &str,
    headers: &HeaderMap,
    raw: Option<&str>,
    body: Body,
) -> ScimResult<Response> {
    let projection = Params::parse(raw).projection()?;
    let body = read_json(headers, body, state.limits.max_body_bytes).await?;
    let r = state.inbound.patch(app, kind, id, &body, header_str(headers, header::IF_MATCH), Delivery::AtOnce).await?;
    resource_response(StatusCode::OK, app, &r, &projection)
}

async fn delete(
    state: &HttpState,
    app: &App,
    kind: ResourceKind,
    id: &str,
    headers: &HeaderMap,
) -> ScimResult<Response> {
    state.inbound.delete(app, kind, id, header_str(headers, header::IF_MATCH), Delivery::AtOnce).await?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    Ok(resp)
}

type AppExt = Extension<Arc<App>>;

/// Generates the per-kind handlers (axum needs one function per route and method).
macro_rules! kind_handlers {
    ($kind:expr, $list:ident, $search:ident, $get:ident, $create:ident, $replace:ident, $patch:ident, $delete:ident) => {
        pub(super) async fn $list(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            RawQuery(q): RawQuery,
        ) -> Response {
            respond(list(&s, &app, &[$kind], q.as_deref()).await)
        }
        pub(super) async fn $search(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            headers: HeaderMap,
            body: Body,
        ) -> Response {
            respond(search(&s, &app, &[$kind], &headers, body).await)
        }
        pub(super) async fn $get(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            Path((_, id)): Path<(String, String)>,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
        ) -> Response {
            respond(get_one(&s, &app, $kind, &id, &headers, q.as_deref()).await)
        }
        pub(super) async fn $create(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
            body: Body,
        ) -> Response {
            respond(create(&s, &app, $kind, &headers, q.as_deref(), body).await)
        }
        pub(super) async fn $replace(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            Path((_, id)): Path<(String, String)>,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
            body: Body,
        ) -> Response {
            respond(replace(&s, &app, $kind, &id, &headers, q.as_deref(), body).await)
        }
        pub(super) async fn $patch(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            Path((_, id)): Path<(String, String)>,
            headers: HeaderMap,
            RawQuery(q): RawQuery,
            body: Body,
        ) -> Response {
            respond(patch(&s, &app, $kind, &id, &headers, q.as_deref(), body).await)
        }
        pub(super) async fn $delete(
            State(s): State<HttpState>,
            Extension(app): AppExt,
            Path((_, id)): Path<(String, String)>,
            headers: HeaderMap,
        ) -> Response {
            respond(delete(&s, &app, $kind, &id, &headers).await)
        }
    };
}

kind_handlers!(
    ResourceKind::User,
    list_users,
    search_users,
    get_user,
    create_user,
    replace_user,
    patch_user,
    delete_user
);
kind_handlers!(
    ResourceKind::Group,
    list_groups,
    search_groups,
    get_group,
    create_group,
    replace_group,
    patch_group,
    delete_group
);

pub(super) async fn search_all(
    State(s): State<HttpState>,
    Extension(app): AppExt,
    headers: HeaderMap,
    body: Body,
) -> Response {
    respond(search(&s, &app, &[ResourceKind::User, ResourceKind::Group], &headers, body).await)
}
