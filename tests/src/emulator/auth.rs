//! Who is calling (reference §2): Basic with a user's password, or `Bearer` with a PAT,
//! plus the XSRF rule of §2.3 and the rate limiter of §3.1, applied by [`guard`] in front of
//! every `/rest/api` route.
//!
//! - Bad or unusable credentials (wrong password, unknown token, disabled user, a PAT sent
//!   as the Basic password) → 401 with an HTML body and `X-Seraph-LoginReason`.
//! - No credentials → anonymous; routes that need a user answer 401 (JSON envelope).
//! - Admin routes for a non-administrator → 403.
//! - A `POST` with a form or `text/plain` body and no `X-Atlassian-Token: no-check` (or the
//!   deprecated `nocheck`) → 403 `XSRF check failed` (plain text). JSON bodies pass.
//! - Rate limiting applies to authenticated callers only: 429 when their bucket is empty,
//!   and the five headers on every limited response.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::ratelimit::RateDecision;
use super::state::Account;
use super::wire::{html, media_type, plain_text, ApiError};
use super::Shared;

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    Basic,
    Pat,
}

#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub account: Account,
    pub scheme: AuthScheme,
}

/// The guard's verdict, stored in the request's extensions (`None`: anonymous).
#[derive(Clone, Debug)]
struct CallerExtension(Option<Caller>);

enum Credentials {
    None,
    Basic { username: String, password: String },
    Bearer(String),
    Malformed,
}

fn credentials(headers: &HeaderMap) -> Credentials {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Credentials::None;
    };
    let Ok(value) = value.to_str() else {
        return Credentials::Malformed;
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded =
            base64::engine::general_purpose::STANDARD.decode(rest).ok().and_then(|b| String::from_utf8(b).ok());
        match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((username, password)) => {
                Credentials::Basic { username: username.to_owned(), password: password.to_owned() }
            }
            None => Credentials::Malformed,
        }
    } else if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        Credentials::Bearer(rest.to_owned())
    } else {
        Credentials::Malformed
    }
}

/// Resolves the caller: `Ok(None)` anonymous, `Err(())` credentials given but refused.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Caller>, ()> {
    match credentials(headers) {
        Credentials::None => Ok(None),
        Credentials::Malformed => Err(()),
        Credentials::Basic { username, password } => {
            let account = shared.state().check_credentials(&username, &password).ok_or(())?;
            Ok(Some(Caller { account, scheme: AuthScheme::Basic }))
        }
        Credentials::Bearer(token) => {
            let username = super::lock(&shared.tokens).get(&token).cloned().ok_or(())?;
            let account = shared.state().token_account(&username).ok_or(())?;
            Ok(Some(Caller { account, scheme: AuthScheme::Pat }))
        }
    }
}

fn unauthorized() -> Response {
    let mut response = html(StatusCode::UNAUTHORIZED);
    let headers = response.headers_mut();
    headers.insert("x-seraph-loginreason", HeaderValue::from_static("AUTHENTICATED_FAILED"));
    headers.insert("www-authenticate", HeaderValue::from_static("Basic realm=\"Confluence\""));
    response
}

const XSRF_MEDIA_TYPES: [&str; 3] = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"];

/// The XSRF rule: a form or text POST without the no-check token is refused.
fn xsrf_blocked(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::POST || !XSRF_MEDIA_TYPES.contains(&media_type(headers).as_str()) {
        return false;
    }
    let token = headers.get("x-atlassian-token").and_then(|v| v.to_str().ok()).unwrap_or("");
    !(token.eq_ignore_ascii_case("no-check") || token.eq_ignore_ascii_case("nocheck"))
}

fn rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let pairs = [
        ("x-ratelimit-limit", u64::from(decision.limit)),
        ("x-ratelimit-remaining", u64::from(decision.remaining)),
        ("x-ratelimit-interval-seconds", decision.interval_secs),
        ("x-ratelimit-fillrate", u64::from(decision.fill_rate)),
    ];
    for (name, value) in pairs {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
    headers.insert(RETRY_AFTER, HeaderValue::from(decision.retry_after_secs));
}

/// Authentication, rate limiting and XSRF, in that order, in front of `/rest/api`.
pub(crate) async fn guard(State(shared): State<Arc<Shared>>, mut request: Request, next: Next) -> Response {
    let Ok(caller) = authenticate(&shared, request.headers()) else {
        return unauthorized();
    };
    let decision = caller.as_ref().and_then(|caller| {
        let via_pat = caller.scheme == AuthScheme::Pat;
        shared.limiter().check(&caller.account.username, via_pat, Instant::now())
    });
    if let Some(decision) = decision.filter(|d| !d.allowed) {
        shared.traffic.count_rate_limited();
        let mut response = plain_text(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded");
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    if xsrf_blocked(request.method(), request.headers()) {
        return plain_text(StatusCode::FORBIDDEN, "XSRF check failed");
    }
    request.extensions_mut().insert(CallerExtension(caller));
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        rate_headers(response.headers_mut(), &decision);
    }
    response
}

fn caller_of(parts: &Parts) -> Option<Caller> {
    parts.extensions.get::<CallerExtension>().and_then(|c| c.0.clone())
}

/// Any authenticated user; anonymous → 401.
pub(crate) struct Authed(pub Caller);

/// An administrator; anonymous → 401, anyone else → 403.
pub(crate) struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match caller_of(parts) {
            Some(caller) => Ok(Self(caller)),
            None => {
                Err(ApiError::new(StatusCode::UNAUTHORIZED, "This resource requires authentication").into_response())
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authed(caller) = Authed::from_request_parts(parts, state).await?;
        if !caller.account.admin {
            let message =
                format!("User {} does not have permission to perform this operation", caller.account.username);
            return Err(ApiError::new(StatusCode::FORBIDDEN, message).into_response());
        }
        Ok(Self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn xsrf_rule() {
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        assert!(xsrf_blocked(&Method::POST, &form));
        assert!(!xsrf_blocked(&Method::PUT, &form));
        assert!(xsrf_blocked(&Method::POST, &headers(&[("content-type", "text/plain; charset=utf-8")])));
        assert!(xsrf_blocked(&Method::POST, &headers(&[("content-type", "multipart/form-data; boundary=x")])));
        assert!(!xsrf_blocked(&Method::POST, &headers(&[("content-type", "application/json")])));
        let with_token = headers(&[("content-type", "text/plain"), ("x-atlassian-token", "no-check")]);
        assert!(!xsrf_blocked(&Method::POST, &with_token));
        let deprecated = headers(&[("content-type", "text/plain"), ("x-atlassian-token", "nocheck")]);
        assert!(!xsrf_blocked(&Method::POST, &deprecated));
        let wrong = headers(&[("content-type", "text/plain"), ("x-atlassian-token", "yes")]);
        assert!(xsrf_blocked(&Method::POST, &wrong));
    }

    #[test]
    fn parses_credentials() {
        let basic = headers(&[("authorization", "Basic YWRtaW46YTpi")]); // admin:a:b
        assert!(
            matches!(credentials(&basic), Credentials::Basic { username, password } if username == "admin" && password == "a:b")
        );
        assert!(
            matches!(credentials(&headers(&[("authorization", "Bearer tok")])), Credentials::Bearer(t) if t == "tok")
        );
        assert!(matches!(credentials(&headers(&[("authorization", "Basic !!")])), Credentials::Malformed));
        assert!(matches!(credentials(&headers(&[("authorization", "Digest x")])), Credentials::Malformed));
        assert!(matches!(credentials(&HeaderMap::new()), Credentials::None));
    }
}
