//! Confluence's JSON on the wire (reference §1.6, §1.7, §1.9, §1.10): Person, Group, the
//! page envelope, the error envelope, plus query parameters and request bodies.
//!
//! **API boundary:** handlers build responses only through these functions, so the shapes
//! live in one place.

use axum::extract::FromRequestParts;
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::config::StatusForm;
use super::state::UserView;
use super::validate::FieldError;

/// Where the site lives and how it renders: what every link and page needs.
#[derive(Clone, Debug)]
pub(crate) struct Site {
    /// `http://host:port/context`, no trailing slash.
    pub base_url: String,
    /// `/context` or "".
    pub context: String,
    pub status_form: StatusForm,
    pub max_limit: usize,
}

/// An error answered with the §1.10 envelope (`reason` is the HTTP reason phrase).
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    errors: Vec<FieldError>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), errors: Vec::new() }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// A 400 listing every failed field rule; the message is the first one's.
    pub(crate) fn invalid(errors: Vec<FieldError>) -> Self {
        let message = errors.first().map_or_else(|| "Invalid request".to_owned(), |e| e.message.clone());
        Self { status: StatusCode::BAD_REQUEST, message, errors }
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| json!({"message": {"key": e.key, "args": [], "translation": e.message}}))
            .collect();
        let body = json!({
            "statusCode": self.status.as_u16(),
            "data": {
                "authorized": false,
                "valid": errors.is_empty(),
                "allowedInReadOnlyMode": true,
                "errors": errors,
                "successful": false,
            },
            "message": self.message,
            "reason": self.status.canonical_reason().unwrap_or(""),
        });
        (self.status, Json(body)).into_response()
    }
}

/// A plain-text answer (XSRF failures, 429s): bodies clients must not expect to be JSON.
pub(crate) fn plain_text(status: StatusCode, text: &'static str) -> Response {
    (status, [(CONTENT_TYPE, HeaderValue::from_static("text/plain;charset=UTF-8"))], text).into_response()
}

/// An HTML answer, as a proxy or Seraph would give.
pub(crate) fn html(status: StatusCode) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    let body =
        format!("<html><head><title>{} {reason}</title></head><body><h1>{reason}</h1></body></html>", status.as_u16());
    (status, [(CONTENT_TYPE, HeaderValue::from_static("text/html;charset=UTF-8"))], body).into_response()
}

/// Query parameters in the order given (repeats kept).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        Ok(Self(form_urlencoded::parse(query.as_bytes()).into_owned().collect()))
    }
}

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Whether `expand` (comma-separated, possibly repeated) names `what`.
    pub(crate) fn expands(&self, what: &str) -> bool {
        self.0.iter().filter(|(k, _)| k == "expand").flat_map(|(_, v)| v.split(',')).any(|e| e.trim() == what)
    }

    /// `start` and `limit`; a limit above the site's maximum is lowered to it.
    ///
    /// # Errors
    /// 400 when either is not a non-negative integer.
    pub(crate) fn paging(&self, site: &Site, default_limit: usize) -> Result<(usize, usize), ApiError> {
        let number = |name: &str, default: usize| match self.get(name) {
            None | Some("") => Ok(default),
            Some(text) => text.parse::<usize>().map_err(|_| ApiError::bad_request(format!("Invalid {name}: {text}"))),
        };
        let start = number("start", 0)?;
        let limit = number("limit", default_limit.min(site.max_limit))?.min(site.max_limit);
        Ok((start, limit))
    }

    /// `path?…` with every parameter except `start`/`limit`, then the given ones.
    fn link(&self, path: &str, start: usize, limit: usize) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.0.iter().filter(|(k, _)| k != "start" && k != "limit") {
            query.append_pair(k, v);
        }
        query.append_pair("limit", &limit.to_string());
        query.append_pair("start", &start.to_string());
        format!("{path}?{}", query.finish())
    }
}

/// A page envelope. `path` is the request path without the context; `next` and `prev` are
/// relative and present only when such a page exists.
pub(crate) fn page(
    site: &Site,
    path: &str,
    params: &Params,
    start: usize,
    limit: usize,
    results: Vec<Value>,
    more: bool,
) -> Value {
    let mut links = Map::new();
    links.insert("base".into(), site.base_url.clone().into());
    links.insert("context".into(), site.context.clone().into());
    links.insert("self".into(), format!("{}{path}", site.base_url).into());
    if more && limit > 0 {
        links.insert("next".into(), params.link(path, start + limit, limit).into());
    }
    if start > 0 && limit > 0 {
        links.insert("prev".into(), params.link(path, start.saturating_sub(limit), limit).into());
    }
    json!({"results": results, "start": start, "limit": limit, "size": results.len(), "_links": links})
}

fn profile_picture(site: &Site, file: &str) -> Value {
    json!({"path": format!("{}/images/icons/profilepics/{file}", site.context), "width": 48, "height": 48, "isDefault": true})
}

/// A known user: no email (except on `/admin/users/list/active`), `status` only when expanded.
pub(crate) fn person(site: &Site, user: &UserView, expand_status: bool, with_email: bool) -> Value {
    let mut person = Map::new();
    person.insert("type".into(), "known".into());
    person.insert("username".into(), user.username.to_string().into());
    person.insert("userKey".into(), user.key.to_string().into());
    person.insert("profilePicture".into(), profile_picture(site, "default.svg"));
    person.insert("displayName".into(), user.full_name.clone().into());
    if with_email {
        person.insert("email".into(), user.email.clone().into());
    }
    if expand_status {
        let status = if user.active { "Active" } else { "Deactivated" };
        let status = match site.status_form {
            StatusForm::Text => Value::from(status),
            StatusForm::Object => json!({"value": status}),
        };
        person.insert("status".into(), status);
    }
    person.insert("_links".into(), json!({"self": format!("{}/rest/api/user?key={}", site.base_url, user.key)}));
    if !expand_status {
        person.insert("_expandable".into(), json!({"status": ""}));
    }
    Value::Object(person)
}

/// A deleted user resolved as its anonymised alias.
pub(crate) fn unknown_person(site: &Site, username: &str, key: &str) -> Value {
    json!({
        "type": "unknown",
        "username": username,
        "profilePicture": profile_picture(site, "default.svg"),
        "displayName": username,
        "_links": {"self": format!("{}/rest/api/user?key={key}", site.base_url)},
    })
}

pub(crate) fn anonymous_person(site: &Site) -> Value {
    json!({
        "type": "anonymous",
        "profilePicture": profile_picture(site, "anonymous.svg"),
        "displayName": "Anonymous",
        "_links": {"self": format!("{}/rest/api/user/anonymous", site.base_url)},
    })
}

pub(crate) fn group(site: &Site, name: &str) -> Value {
    json!({
        "type": "group",
        "name": name,
        "_links": {"self": format!("{}/rest/api/group/{}", site.base_url, encode_segment(name))},
    })
}

/// Percent-encodes a path segment (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The body of a JSON write as an object.
///
/// # Errors
/// 415 unless the content type is JSON; 400 for malformed JSON or a non-object.
pub(crate) fn json_object(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let media_type = media_type(headers);
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type: expected application/json",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
        Err(error) => Err(ApiError::bad_request(format!("Malformed JSON: {error}"))),
    }
}

/// The `Content-Type` without parameters, lower-cased ("" when absent).
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    value.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// 400 naming the first field not in `allowed` (`additionalProperties: false`).
pub(crate) fn reject_unknown_fields(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(field) => Err(ApiError::bad_request(format!("Unrecognized field \"{field}\""))),
        None => Ok(()),
    }
}

/// A string field; `null` and absence are `None`.
///
/// # Errors
/// 400 when present with another type.
pub(crate) fn string_field(object: &Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::bad_request(format!("Field \"{name}\" must be a string, not {other}"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site { base_url: "http://h/c".into(), context: "/c".into(), status_form: StatusForm::Text, max_limit: 200 }
    }

    fn params(query: &str) -> Params {
        Params(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    #[test]
    fn paging_defaults_caps_and_rejects() {
        assert_eq!(params("").paging(&site(), 200).unwrap(), (0, 200));
        assert_eq!(params("start=5&limit=1000").paging(&site(), 200).unwrap(), (5, 200));
        assert_eq!(params("limit=7").paging(&site(), 200).unwrap(), (0, 7));
        assert_eq!(params("start=-1").paging(&site(), 200).unwrap_err().status(), StatusCode::BAD_REQUEST);
        assert_eq!(params("limit=x").paging(&site(), 200).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn next_link_is_relative_and_keeps_other_parameters() {
        let p = params("expand=status&limit=2&username=a b");
        let page = page(&site(), "/rest/api/user/memberof", &p, 2, 2, vec![json!(1), json!(2)], true);
        assert_eq!(page["_links"]["next"], "/rest/api/user/memberof?expand=status&username=a+b&limit=2&start=4");
        assert_eq!(page["_links"]["prev"], "/rest/api/user/memberof?expand=status&username=a+b&limit=2&start=0");
        assert_eq!(page["_links"]["self"], "http://h/c/rest/api/user/memberof");
        assert_eq!(page["size"], 2);
        let last = super::page(&site(), "/x", &p, 0, 2, vec![], false);
        assert!(last["_links"].get("next").is_none() && last["_links"].get("prev").is_none());
    }

    #[test]
    fn encodes_segments() {
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
