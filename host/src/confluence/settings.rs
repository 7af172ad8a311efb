//! How to reach one Confluence: base URL, credentials, limits.
//!
//! Secrets never appear in `Debug` output: [`Auth`] prints `<redacted>` in their place.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use reqwest::header::HeaderValue;

use super::backoff::Backoff;
use super::error::ConfluenceError;

/// Credentials for Confluence's REST API (reference §2).
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic base64(username:password)`, with a Confluence administrator account.
    Basic { username: String, password: String },
    /// A personal access token (DC 7.9+), sent as `Authorization: Bearer <token>`. A PAT does not
    /// work as a Basic password.
    Token(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &"<redacted>").finish()
            }
            Auth::Token(_) => f.debug_tuple("Token").field(&"<redacted>").finish(),
        }
    }
}

impl Auth {
    /// The `Authorization` header, marked sensitive so that the HTTP stack never prints it.
    pub(crate) fn header_value(&self) -> Result<HeaderValue, ConfluenceError> {
        let text = match self {
            Auth::Basic { username, password } => {
                let pair = format!("{username}:{password}");
                format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
            }
            Auth::Token(token) => format!("Bearer {}", token.trim()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            ConfluenceError::Config("the credentials contain characters an HTTP header cannot carry".to_owned())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Everything the client needs to reach one Confluence.
#[derive(Debug, Clone)]
pub struct ConfluenceSettings {
    /// `http(s)://host[:port][/context]`, e.g. `http://h:8090/confluence`.
    pub base_url: String,
    pub auth: Auth,
    /// Per HTTP request, body included. Default [`ConfluenceSettings::DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Requests in flight at once for this app. Default [`ConfluenceSettings::DEFAULT_MAX_CONCURRENCY`].
    pub max_concurrency: usize,
    /// A version such as `8.5.4` to use instead of probing the server.
    pub version: Option<String>,
    pub tuning: ClientTuning,
}

impl ConfluenceSettings {
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_MAX_CONCURRENCY: usize = 4;

    /// Settings with every default: 10 s timeout, 4 requests in flight, version probed.
    pub fn new(base_url: impl Into<String>, auth: Auth) -> Self {
        ConfluenceSettings {
            base_url: base_url.into(),
            auth,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            version: None,
            tuning: ClientTuning::default(),
        }
    }
}

/// Knobs that rarely need changing (tests shorten them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTuning {
    /// Tries per page for listings (`list_*`, `group_members`, `user_groups`), the first included.
    /// Default 5.
    pub read_attempts: u32,
    /// Waits between those tries. Default 500 ms doubling up to 30 s.
    pub read_backoff: Backoff,
    /// First wait between polls of a long task (user deletion); grows by half each poll up to
    /// 5 s. Default 250 ms.
    pub long_task_poll_interval: Duration,
    /// How long to wait for a long task before reporting a transient error. Default 120 s.
    pub long_task_timeout: Duration,
    /// Page size asked for on listings (the server may lower it). Default 200.
    pub page_limit: u32,
}

impl Default for ClientTuning {
    fn default() -> Self {
        ClientTuning {
            read_attempts: 5,
            read_backoff: Backoff { base: Duration::from_millis(500), cap: Duration::from_secs(30) },
            long_task_poll_interval: Duration::from_millis(250),
            long_task_timeout: Duration::from_secs(120),
            page_limit: 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets() {
        let basic = Auth::Basic { username: "admin".into(), password: "hunter2-secret".into() };
        let token = Auth::Token("NjM2-pat-secret".into());
        for auth in [basic, token] {
            let settings = ConfluenceSettings::new("http://h/confluence", auth.clone());
            for text in [format!("{auth:?}"), format!("{settings:?}"), format!("{settings:#?}")] {
                assert!(!text.contains("secret"), "{text}");
                assert!(text.contains("<redacted>"), "{text}");
            }
            let header = auth.header_value().unwrap();
            assert!(header.is_sensitive());
            assert!(!format!("{header:?}").contains("secret"));
        }
    }

    #[test]
    fn header_forms() {
        let basic = Auth::Basic { username: "alice".into(), password: "s3cr:et".into() };
        // base64("alice:s3cr:et")
        assert_eq!(basic.header_value().unwrap(), "Basic YWxpY2U6czNjcjpldA==");
        assert_eq!(Auth::Token("abc.def".into()).header_value().unwrap(), "Bearer abc.def");
        assert!(Auth::Token("bad\ntoken".into()).header_value().is_err());
    }
}
