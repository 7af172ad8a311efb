//! The client's one error type, and the one place that turns an HTTP answer into it.
//!
//! [`classify`] maps status, headers and body to a [`ConfluenceError`], by what the answer
//! says about whom:
//! - **transient** (worth retrying later: Confluence's health): 408, 423, 425, 429, every
//!   5xx, and transport failures (connection refused or reset, timeouts); `Retry-After` is
//!   honoured (seconds or HTTP-date);
//! - **setup** (UserSync's own configuration, or something between it and Confluence: no
//!   fault of the data, so the operation waits until the setup works): 401 and 407
//!   (credentials), 403 (the account's rights, or an XSRF failure from a proxy), 3xx (a wrong
//!   base URL), 405, 406, 411-415, 417, 421, 426, 428, 431 and any other 4xx not named here;
//! - **permanent** (about the data of the operation: refused for good): 400 (invalid),
//!   402 (licence full), 404, 409, 410 and 422.
//!
//! A 403 is ambiguous: the account may lack administrator rights (setup), or the user or
//! group may live in a read-only directory (the data). It is classified as setup;
//! [`ConfluenceClient::explain_forbidden`](super::ConfluenceClient::explain_forbidden) asks
//! Confluence about the account and tells the two apart.
//!
//! Callers that know better for one endpoint (a 409 that means "already as desired", a 404 on a
//! delete) decide before calling [`classify`]. The §1.10 error envelope is read when the body is
//! JSON; a non-JSON body (HTML from a proxy, plain `XSRF check failed`) is never an error in itself.

use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use time::format_description::well_known::Rfc2822;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::model::names::NameError;

/// What is wrong with UserSync's own setup, as Confluence's answers show it. None of these
/// is about the person an operation concerns: their operations wait until it works again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetupProblem {
    /// 401 (or 407 from a proxy): the username and password, or the token, are rejected
    /// (expired, revoked, mistyped), or Confluence sees UserSync as anonymous.
    Credentials,
    /// 403 for the account: it lacks Confluence administrator rights.
    Permission,
    /// 403 `XSRF check failed`: a proxy strips the `X-Atlassian-Token` header or changes the
    /// content type.
    Xsrf,
    /// A redirect, or an answer that is not Confluence's REST API (an HTML page with 200, a
    /// 404 for an endpoint that must exist): the base URL does not lead to Confluence.
    BaseUrl,
    /// UserSync's own settings cannot work (credentials no HTTP header can carry ...).
    Settings,
    /// Another answer that says nothing about the data (405, 415, an unknown 4xx ...).
    Protocol,
}

impl SetupProblem {
    /// What an operator reads first (`/healthz`, `usersync outbox`, the admin API).
    pub fn summary(self) -> &'static str {
        match self {
            SetupProblem::Credentials => "Confluence rejects UserSync's credentials",
            SetupProblem::Permission => "UserSync's Confluence account lacks administrator rights",
            SetupProblem::Xsrf => "Confluence's XSRF check fails: a proxy changes UserSync's requests",
            SetupProblem::BaseUrl => "the Confluence base URL does not lead to Confluence's REST API",
            SetupProblem::Settings => "UserSync's Confluence settings cannot work",
            SetupProblem::Protocol => "Confluence answers in a way UserSync cannot use",
        }
    }

    /// A short machine-readable name (`credentials`, `permission`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SetupProblem::Credentials => "credentials",
            SetupProblem::Permission => "permission",
            SetupProblem::Xsrf => "xsrf",
            SetupProblem::BaseUrl => "base-url",
            SetupProblem::Settings => "settings",
            SetupProblem::Protocol => "protocol",
        }
    }

    /// Every kind of setup problem.
    pub const ALL: [SetupProblem; 6] = [
        SetupProblem::Credentials,
        SetupProblem::Permission,
        SetupProblem::Xsrf,
        SetupProblem::BaseUrl,
        SetupProblem::Settings,
        SetupProblem::Protocol,
    ];

    /// The inverse of [`SetupProblem::as_str`].
    pub fn parse(name: &str) -> Option<SetupProblem> {
        SetupProblem::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// Whether asking Confluence about the account ([`check_credentials`]) tells when it is
    /// fixed; the others show only when an operation goes through.
    ///
    /// [`check_credentials`]: super::ConfluenceClient::check_credentials
    pub fn is_about_the_account(self) -> bool {
        matches!(self, SetupProblem::Credentials | SetupProblem::Permission | SetupProblem::Settings)
    }
}

impl std::fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.summary())
    }
}

/// Everything a Confluence call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ConfluenceError {
    /// Confluence refused the request because of its data and will refuse it again: fix the
    /// data first (an invalid name, a full licence ...).
    #[error("{message}")]
    Permanent { status: u16, message: String },
    /// Confluence cannot be used as UserSync is set up (credentials, rights, base URL, a
    /// proxy): nothing is wrong with the data; retry once the setup is fixed.
    /// `status` is `None` when no HTTP answer says it (a check of the answer's body).
    #[error("{message}")]
    Setup { status: Option<u16>, problem: SetupProblem, message: String },
    /// Worth retrying later: overloaded, rate-limited, unreachable or timed out.
    /// `status` is `None` when no HTTP answer arrived.
    #[error("{message}")]
    Transient { status: Option<u16>, retry_after: Option<Duration>, message: String },
    /// The Confluence version cannot do this over REST; no request was sent (or the endpoint
    /// turned out to be missing).
    #[error("{operation} is not available on Confluence {version}: {hint}")]
    Unsupported { operation: &'static str, version: String, hint: String },
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// A value other than a name that Confluence would refuse (full name, email, password).
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    /// A success status with a body the client cannot read (an HTML login page from a proxy, a
    /// different product at the base URL, ...).
    #[error("unexpected answer from Confluence ({status}): {message}")]
    UnexpectedResponse { status: u16, message: String },
    /// A long-running Confluence task (user deletion) finished without success.
    #[error("{message}")]
    LongTaskFailed { message: String },
    /// The client settings cannot work (bad base URL, zero concurrency, ...).
    #[error("Confluence client settings: {0}")]
    Config(String),
}

impl ConfluenceError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ConfluenceError::Transient { .. })
    }

    /// The problem with UserSync's setup this error shows, if it shows one: the
    /// [`ConfluenceError::Setup`] answers, a success answer that is not Confluence's REST API
    /// ([`ConfluenceError::UnexpectedResponse`]) and unusable client settings
    /// ([`ConfluenceError::Config`]).
    pub fn setup_problem(&self) -> Option<SetupProblem> {
        match self {
            ConfluenceError::Setup { problem, .. } => Some(*problem),
            ConfluenceError::UnexpectedResponse { .. } => Some(SetupProblem::BaseUrl),
            ConfluenceError::Config(_) => Some(SetupProblem::Settings),
            _ => None,
        }
    }

    /// Whether the request may have been carried out although no success answer arrived:
    /// the connection broke or timed out after sending, or a gateway failed (500, 502, 504).
    /// A 408, 425, 429 or 503 says the request was not processed.
    pub fn may_have_been_applied(&self) -> bool {
        match self {
            ConfluenceError::Transient { status: None, .. } => true,
            ConfluenceError::Transient { status: Some(code), .. } => !matches!(code, 408 | 423 | 425 | 429 | 503),
            _ => false,
        }
    }

    /// How long Confluence asked the caller to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ConfluenceError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status behind the error, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ConfluenceError::Permanent { status, .. } | ConfluenceError::UnexpectedResponse { status, .. } => {
                Some(*status)
            }
            ConfluenceError::Transient { status, .. } | ConfluenceError::Setup { status, .. } => *status,
            _ => None,
        }
    }

    /// Prefixes the message with what was being done ("disable user alice: ...").
    pub(crate) fn context(self, what: &str) -> Self {
        match self {
            ConfluenceError::Permanent { status, message } => {
                ConfluenceError::Permanent { status, message: format!("{what}: {message}") }
            }
            ConfluenceError::Transient { status, retry_after, message } => {
                ConfluenceError::Transient { status, retry_after, message: format!("{what}: {message}") }
            }
            ConfluenceError::Setup { status, problem, message } => {
                ConfluenceError::Setup { status, problem, message: format!("{what}: {message}") }
            }
            ConfluenceError::UnexpectedResponse { status, message } => {
                ConfluenceError::UnexpectedResponse { status, message: format!("{what}: {message}") }
            }
            other => other,
        }
    }
}

/// Turns a non-success HTTP answer into an error. The single classification table of the client.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ConfluenceError {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let detail = server_message(headers, body);
    let said = |text: &str| match &detail {
        Some(d) => format!("{text}: {d}"),
        None => text.to_owned(),
    };
    let head = format!("Confluence answered {code} {reason}").trim_end().to_owned();

    let transient = matches!(code, 408 | 423 | 425 | 429) || status.is_server_error();
    if transient {
        let retry_after = retry_after_header(headers);
        let what = match code {
            429 => "rate limited",
            503 => "unavailable",
            408 | 504 => "timed out",
            423 => "locked",
            _ => "temporary failure",
        };
        let mut message = said(&format!("{head} ({what})"));
        if let Some(wait) = retry_after {
            message.push_str(&format!("; retry after {} s", wait.as_secs()));
        }
        return ConfluenceError::Transient { status: Some(code), retry_after, message };
    }

    let permanent = |message: String| ConfluenceError::Permanent { status: code, message };
    let setup =
        |problem: SetupProblem, message: String| ConfluenceError::Setup { status: Some(code), problem, message };
    match code {
        400 => permanent(said(&format!("{head}: the request was refused as invalid"))),
        402 => {
            permanent(said(&format!("{head}: no Confluence licence seat is free; free seats or extend the licence")))
        }
        404 => permanent(said(&format!("{head}: not found"))),
        409 => permanent(said(&format!("{head}: conflict"))),
        410 | 422 => permanent(said(&head)),
        401 => setup(
            SetupProblem::Credentials,
            said(&format!(
                "{head}: the credentials were rejected; check the username and password, or the personal access \
                 token (a token must be configured as a token, it does not work as a Basic password; an expired \
                 token must be replaced)"
            )),
        ),
        407 => setup(
            SetupProblem::Credentials,
            said(&format!("{head}: a proxy between UserSync and Confluence wants credentials of its own")),
        ),
        403 if is_xsrf_failure(body) => setup(
            SetupProblem::Xsrf,
            format!(
                "{head}: XSRF check failed; a proxy may be stripping the X-Atlassian-Token header or changing \
                 the content type"
            ),
        ),
        403 => setup(
            SetupProblem::Permission,
            said(&format!(
                "{head}: permission denied; the account needs Confluence Administrator rights, and the user or \
                 group must live in a writable directory"
            )),
        ),
        300..=399 => {
            let location = headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("(no Location)");
            setup(
                SetupProblem::BaseUrl,
                format!(
                    "{head}: redirected to {location}; set the Confluence base URL to the address Confluence \
                     expects (scheme, host and context path)"
                ),
            )
        }
        405 => setup(SetupProblem::Protocol, said(&format!("{head}: this Confluence does not offer this endpoint"))),
        _ => setup(SetupProblem::Protocol, said(&format!("{head}: an answer about the request, not its data"))),
    }
}

/// Turns a transport failure (no HTTP answer) into an error; all of them are transient.
pub(crate) fn classify_transport(err: &reqwest::Error) -> ConfluenceError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_body() || err.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    // reqwest's message names the URL (never the credentials, which travel in a header).
    let message = format!("Confluence {what}: {}", error_chain(err));
    ConfluenceError::Transient { status: err.status().map(|s| s.as_u16()), retry_after: None, message }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn is_xsrf_failure(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).to_ascii_lowercase().contains("xsrf check failed")
}

fn is_json(headers: &HeaderMap, body: &[u8]) -> bool {
    let declared = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.contains("json"));
    declared || body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

const MAX_DETAIL_CHARS: usize = 300;

/// What the server said: the §1.10 envelope's `message` and `data.errors`, or a short plain-text
/// body. HTML bodies are ignored (they are login or proxy pages).
pub(crate) fn server_message(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    if is_json(headers, body) {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            return envelope_message(&value).map(|m| shorten(&m));
        }
    }
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let text = String::from_utf8_lossy(body);
    let looks_html = content_type.contains("html") || text.trim_start().starts_with('<');
    if looks_html {
        return None;
    }
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(shorten(line))
}

fn envelope_message(value: &Value) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(m) = value.get("message").and_then(Value::as_str).filter(|m| !m.trim().is_empty()) {
        parts.push(m.trim().to_owned());
    }
    let errors = value.pointer("/data/errors").and_then(Value::as_array).into_iter().flatten();
    for error in errors {
        if let Some(text) = message_text(error.get("message").unwrap_or(error)) {
            if !parts.contains(&text) {
                parts.push(text);
            }
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A Confluence message: a string, or `{"translation": ..}` / `{"key": .., "args": [..]}`.
pub(crate) fn message_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Object(map) => {
            if let Some(t) = map.get("translation").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                return Some(t.to_owned());
            }
            if let Some(inner) = map.get("message") {
                return message_text(inner);
            }
            let key = map.get("key").and_then(Value::as_str)?;
            let args: Vec<String> = map
                .get("args")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|a| a.as_str().map(str::to_owned).unwrap_or_else(|| a.to_string()))
                .collect();
            Some(if args.is_empty() { key.to_owned() } else { format!("{key} ({})", args.join(", ")) })
        }
        _ => None,
    }
}

fn shorten(text: &str) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= MAX_DETAIL_CHARS {
        clean
    } else {
        let mut cut: String = clean.chars().take(MAX_DETAIL_CHARS).collect();
        cut.push('…');
        cut
    }
}

/// `Retry-After` as a wait, ignoring `0` (the rate limiter's "tokens remain", meaningless on a
/// refusal: the caller's back-off decides instead).
fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, OffsetDateTime::now_utc()).filter(|d| !d.is_zero())
}

/// Parses a `Retry-After` value: delay-seconds, or an HTTP-date (IMF-fixdate, RFC 850 or asctime)
/// measured from `now` (a date in the past means no wait).
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(value.parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::MAX));
    }
    let at = parse_http_date(value)?;
    let wait = at - now;
    Some(if wait.is_negative() { Duration::ZERO } else { Duration::try_from(wait).unwrap_or(Duration::ZERO) })
}

fn parse_http_date(value: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc2822) {
        return Some(at);
    }
    parse_rfc850(value).or_else(|| parse_asctime(value))
}

/// RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`. The two-digit year is read as 19xx for 70-99 and
/// 20xx otherwise (RFC 9110's "not more than 50 years in the future", for the decades that matter).
fn parse_rfc850(value: &str) -> Option<OffsetDateTime> {
    let (_weekday, rest) = value.split_once(", ")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let [date, clock, "GMT"] = fields.as_slice() else { return None };
    let mut dmy = date.split('-');
    let (day, month, yy) = (dmy.next()?, dmy.next()?, dmy.next()?);
    let yy: i32 = yy.parse().ok()?;
    let year = if yy >= 70 { 1900 + yy } else { 2000 + yy };
    utc(year, month, day, clock)
}

/// asctime: `Sun Nov  6 08:49:37 1994`.
fn parse_asctime(value: &str) -> Option<OffsetDateTime> {
    let fields: Vec<&str> = value.split_whitespace().collect();
    let [_weekday, month, day, clock, year] = fields.as_slice() else { return None };
    utc(year.parse().ok()?, month, day, clock)
}

fn utc(year: i32, month: &str, day: &str, clock: &str) -> Option<OffsetDateTime> {
    use time::Month::*;
    let months = [January, February, March, April, May, June, July, August, September, October, November, December];
    let month = months.into_iter().find(|m| m.to_string().get(..3).is_some_and(|a| a.eq_ignore_ascii_case(month)))?;
    let mut hms = clock.split(':').map(str::parse::<u8>);
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    if hms.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day.parse().ok()?).ok()?;
    Some(PrimitiveDateTime::new(date, time::Time::from_hms(h, m, s).ok()?).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn class(status: u16, hdrs: &[(&str, &str)], body: &str) -> ConfluenceError {
        classify(StatusCode::from_u16(status).unwrap(), &headers(hdrs), body.as_bytes())
    }

    const ENVELOPE: &str = r#"{"statusCode": 400, "data": {"authorized": false, "valid": false,
        "allowedInReadOnlyMode": true, "successful": false,
        "errors": [{"message": {"key": "user.name.invalid", "args": ["Bob"]}}]},
        "message": "Username must be lower case", "reason": "Bad Request"}"#;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Class {
        Transient,
        Permanent,
        Setup(SetupProblem),
    }

    fn class_of(err: &ConfluenceError) -> Class {
        match err {
            ConfluenceError::Transient { .. } => Class::Transient,
            ConfluenceError::Permanent { .. } => Class::Permanent,
            ConfluenceError::Setup { problem, .. } => Class::Setup(*problem),
            other => panic!("not an HTTP classification: {other:?}"),
        }
    }

    #[test]
    fn classification_table() {
        use Class::*;
        use SetupProblem::*;
        // (status, class, words the message must contain). Permanent only when the answer
        // is about the data; never about UserSync's setup or Confluence's health.
        let table: &[(u16, Class, &[&str])] = &[
            (400, Permanent, &["400", "invalid"]),
            (402, Permanent, &["402", "licence"]),
            (404, Permanent, &["404", "not found"]),
            (409, Permanent, &["409", "conflict"]),
            (410, Permanent, &["410"]),
            (422, Permanent, &["422"]),
            (401, Setup(Credentials), &["401", "credentials", "token"]),
            (407, Setup(Credentials), &["407", "proxy"]),
            (403, Setup(Permission), &["403", "permission", "Administrator"]),
            (301, Setup(BaseUrl), &["redirected", "base URL"]),
            (302, Setup(BaseUrl), &["redirected"]),
            (405, Setup(Protocol), &["405"]),
            (406, Setup(Protocol), &["406"]),
            (413, Setup(Protocol), &["413"]),
            (415, Setup(Protocol), &["415"]),
            (418, Setup(Protocol), &["418"]),
            (431, Setup(Protocol), &["431"]),
            (408, Transient, &["408", "timed out"]),
            (423, Transient, &["423", "locked"]),
            (425, Transient, &["425"]),
            (429, Transient, &["429", "rate limited"]),
            (500, Transient, &["500"]),
            (502, Transient, &["502"]),
            (503, Transient, &["503", "unavailable"]),
            (504, Transient, &["504", "timed out"]),
            (599, Transient, &["599"]),
        ];
        for &(status, expected, words) in table {
            let err = class(status, &[], "");
            assert_eq!(class_of(&err), expected, "{status}: {err:?}");
            assert_eq!(err.is_transient(), expected == Transient, "{status}");
            assert_eq!(err.setup_problem(), if let Setup(p) = expected { Some(p) } else { None }, "{status}");
            assert_eq!(err.status(), Some(status), "{status}");
            let text = err.to_string();
            for word in words {
                assert!(text.contains(word), "{status}: {text:?} lacks {word:?}");
            }
        }
    }

    #[test]
    fn setup_problems_beyond_http_answers() {
        let html = ConfluenceError::UnexpectedResponse { status: 200, message: "a login page".into() };
        assert_eq!(html.setup_problem(), Some(SetupProblem::BaseUrl));
        assert_eq!(ConfluenceError::Config("x".into()).setup_problem(), Some(SetupProblem::Settings));
        let data = [
            ConfluenceError::InvalidInput { field: "email", reason: "x".into() },
            ConfluenceError::LongTaskFailed { message: "x".into() },
            ConfluenceError::Unsupported { operation: "create user", version: "8.3".into(), hint: "x".into() },
        ];
        for e in data {
            assert_eq!(e.setup_problem(), None, "{e:?}");
        }
        for p in SetupProblem::ALL {
            assert_eq!(SetupProblem::parse(p.as_str()), Some(p));
        }
        assert_eq!(SetupProblem::Credentials.summary(), "Confluence rejects UserSync's credentials");
    }

    #[test]
    fn what_may_have_been_applied() {
        let lost = ConfluenceError::Transient { status: None, retry_after: None, message: "reset".into() };
        assert!(lost.may_have_been_applied());
        for (status, maybe) in [(429, false), (503, false), (408, false), (500, true), (502, true), (504, true)] {
            assert_eq!(class(status, &[], "").may_have_been_applied(), maybe, "{status}");
        }
        assert!(!class(401, &[], "").may_have_been_applied());
    }

    #[test]
    fn xsrf_failure_is_named() {
        let err = class(403, &[("content-type", "text/plain")], "XSRF check failed");
        assert_eq!(err.setup_problem(), Some(SetupProblem::Xsrf));
        assert!(err.to_string().contains("XSRF check failed"), "{err}");
        let plain = class(403, &[], "");
        assert!(!plain.to_string().contains("XSRF"), "{plain}");
        assert_eq!(plain.setup_problem(), Some(SetupProblem::Permission));
    }

    #[test]
    fn envelope_message_is_read_when_json() {
        let err = class(400, &[("content-type", "application/json")], ENVELOPE);
        let text = err.to_string();
        assert!(text.contains("Username must be lower case"), "{text}");
        assert!(text.contains("user.name.invalid (Bob)"), "{text}");
        // Same body without a content type: recognised by its opening brace.
        assert!(class(400, &[], ENVELOPE).to_string().contains("lower case"));
        let translated = r#"{"message": "", "data": {"errors": [{"message": {"translation": "Email invalid"}}]}}"#;
        assert!(class(400, &[], translated).to_string().contains("Email invalid"));
    }

    #[test]
    fn non_json_bodies_are_never_required() {
        let html = "<html><head><title>Login</title></head><body>please log in</body></html>";
        for status in [401, 403, 429, 500, 502, 503] {
            let err = class(status, &[("content-type", "text/html")], html);
            assert!(!err.to_string().contains("<html"), "{status}: {err}");
            let garbage = class(status, &[("content-type", "application/json")], "{not json");
            assert_eq!(garbage.status(), Some(status));
        }
        let text = class(502, &[("content-type", "text/plain")], "\n  upstream connect error\nmore");
        assert!(text.to_string().ends_with("upstream connect error"), "{text}");
        let long = "x".repeat(1000);
        assert!(class(500, &[], &long).to_string().chars().count() < 400);
    }

    #[test]
    fn retry_after_on_429_and_503() {
        let err = class(429, &[("retry-after", "7")], "");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert!(err.to_string().contains("retry after 7 s"), "{err}");
        let err = class(503, &[("Retry-After", " 120 ")], "");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
        // "0 while tokens remain": no wait, the back-off decides.
        assert_eq!(class(429, &[("retry-after", "0")], "").retry_after(), None);
        assert_eq!(class(429, &[("retry-after", "soon")], "").retry_after(), None);
        assert_eq!(class(429, &[], "").retry_after(), None);
        // A date a minute ahead.
        let ahead = OffsetDateTime::now_utc() + time::Duration::seconds(61);
        let date = ahead.format(&Rfc2822).unwrap().replace("+0000", "GMT");
        let wait = class(503, &[("retry-after", &date)], "").retry_after().unwrap();
        assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(61), "{wait:?} from {date}");
        // Permanent errors carry no wait even with the header.
        assert_eq!(class(400, &[("retry-after", "5")], "").retry_after(), None);
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = OffsetDateTime::parse("Wed, 21 Oct 2015 07:28:00 GMT", &Rfc2822).unwrap();
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("5", Some(5)),
            ("  30 ", Some(30)),
            ("Wed, 21 Oct 2015 07:28:00 GMT", Some(0)),
            ("Wed, 21 Oct 2015 07:29:30 GMT", Some(90)),
            ("Wed, 21 Oct 2015 07:20:00 GMT", Some(0)),
            ("Wednesday, 21-Oct-15 07:30:00 GMT", Some(120)),
            ("Wed Oct 21 07:28:10 2015", Some(10)),
            ("Thu Oct  1 07:28:00 2015", Some(0)),
            ("Thu Oct 22 07:28:00 2015", Some(86_400)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("tomorrow", None),
        ];
        for &(raw, expected) in cases {
            assert_eq!(parse_retry_after(raw, now), expected.map(Duration::from_secs), "{raw:?}");
        }
        assert_eq!(parse_retry_after("99999999999999999999999", now), Some(Duration::MAX));
    }

    #[test]
    fn context_prefixes_the_message() {
        let err = class(404, &[], "").context("disable user alice");
        assert!(err.to_string().starts_with("disable user alice: Confluence answered 404"), "{err}");
        let err = class(429, &[("retry-after", "3")], "").context("list groups");
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(err.to_string().starts_with("list groups: "));
    }
}
