//! One keep-alive HTTP/1.1 connection per load task, on bare hyper.
//!
//! A pooled client (reqwest) would add a lock, a pool lookup and a few allocations to every
//! request; here each task owns its [`Connection`] and sends one request after another on
//! it, which is what 16 concurrent identity-provider workers look like to the server.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, InvalidHeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::http::uri::InvalidUri;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The SCIM media type (RFC 7644 §3.1), sent as `Accept` and as the `Content-Type` of bodies.
pub const SCIM_JSON: &str = "application/scim+json";

/// Errors from parsing the base URL, connecting, or exchanging one request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("base URL {url:?} is not a plain http://host:port[/path] URL")]
    BaseUrl { url: String },
    #[error("the bearer token is not a valid header value")]
    Token(#[source] InvalidHeaderValue),
    #[error("cannot connect to {authority}")]
    Connect {
        authority: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP/1.1 handshake with {authority} failed")]
    Handshake {
        authority: String,
        #[source]
        source: hyper::Error,
    },
    #[error("request path {path:?} is not a valid URI")]
    Path {
        path: String,
        #[source]
        source: InvalidUri,
    },
    #[error("cannot build the request")]
    Build(#[source] hyper::http::Error),
    #[error("the request or its response failed")]
    Exchange(#[source] hyper::Error),
}

/// Where requests go: the server's address and the SCIM base path, plus the bearer token.
///
/// Built from a base URL such as `http://127.0.0.1:18080/scim/v2/bench`; the port defaults
/// to 80. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Endpoint {
    authority: String,
    host: HeaderValue,
    base_path: String,
    authorization: Option<HeaderValue>,
}

impl Endpoint {
    /// Parses `base_url` and prepares the `Authorization: Bearer` header if a token is given.
    ///
    /// # Errors
    /// [`ClientError::BaseUrl`] for anything but `http://host[:port][/path]` without query;
    /// [`ClientError::Token`] for a token that cannot be a header value.
    pub fn parse(base_url: &str, bearer_token: Option<&str>) -> Result<Self, ClientError> {
        let bad = || ClientError::BaseUrl { url: base_url.to_owned() };
        let uri: Uri = base_url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("http") || uri.query().is_some() {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?;
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
        let authority = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        let authorization = bearer_token
            .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
            .transpose()
            .map_err(ClientError::Token)?;
        Ok(Self { authority, host, base_path: uri.path().trim_end_matches('/').to_owned(), authorization })
    }

    /// The base path without a trailing slash (`/scim/v2/bench`), to append resource paths to.
    pub fn base_path(&self) -> &str {
        &self.base_path
    }

    /// `host:port` as connected to.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// A response: status and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One open keep-alive connection. Not shared: a task sends its next request only after the
/// previous response was read in full.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl Connection {
    /// Connects (with `TCP_NODELAY`) and performs the HTTP/1.1 handshake. The connection's
    /// I/O runs in a spawned task that ends when the connection closes.
    ///
    /// # Errors
    /// [`ClientError::Connect`] or [`ClientError::Handshake`].
    pub async fn open(endpoint: &Endpoint) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(&endpoint.authority)
            .await
            .map_err(|source| ClientError::Connect { authority: endpoint.authority.clone(), source })?;
        stream
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect { authority: endpoint.authority.clone(), source })?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Handshake { authority: endpoint.authority.clone(), source })?;
        // A connection error also fails the pending `send`, which is where it is counted.
        tokio::spawn(async move {
            let _closed = driver.await;
        });
        Ok(Self { sender, host: endpoint.host.clone(), authorization: endpoint.authorization.clone() })
    }

    /// Sends one request (`path` is origin-form, e.g. `/scim/v2/bench/Users/ID`) and reads
    /// the whole response. A body, if any, is sent as `application/scim+json`.
    ///
    /// # Errors
    /// [`ClientError::Path`] for an invalid path, [`ClientError::Exchange`] when the
    /// connection fails; the connection should then be dropped.
    pub async fn send(&mut self, method: Method, path: String, body: Option<Bytes>) -> Result<Reply, ClientError> {
        let uri = Uri::try_from(path.as_str()).map_err(|source| ClientError::Path { path: path.clone(), source })?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, self.host.clone())
            .header(ACCEPT, HeaderValue::from_static(SCIM_JSON));
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        let request = match body {
            Some(body) => request.header(CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON)).body(Full::new(body)),
            None => request.body(Full::new(Bytes::new())),
        }
        .map_err(ClientError::Build)?;

        self.sender.ready().await.map_err(ClientError::Exchange)?;
        let response = self.sender.send_request(request).await.map_err(ClientError::Exchange)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(ClientError::Exchange)?.to_bytes();
        Ok(Reply { status, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_base_urls() {
        let endpoint = Endpoint::parse("http://127.0.0.1:18080/scim/v2/bench/", Some("t0k")).expect("valid URL");
        assert_eq!(endpoint.authority(), "127.0.0.1:18080");
        assert_eq!(endpoint.base_path(), "/scim/v2/bench");
        assert_eq!(endpoint.authorization.as_ref().map(|v| v.to_str().ok()), Some(Some("Bearer t0k")));

        let bare = Endpoint::parse("http://localhost", None).expect("valid URL");
        assert_eq!(bare.authority(), "localhost:80");
        assert_eq!(bare.base_path(), "");

        for bad in ["https://127.0.0.1/x", "127.0.0.1:80", "http://h:1/x?y=1", "/path"] {
            assert!(Endpoint::parse(bad, None).is_err(), "{bad} accepted");
        }
        assert!(Endpoint::parse("http://h:1", Some("bad\ntoken")).is_err());
    }
}
