//! One HTTP/1.1 connection under the server's timeouts.
//!
//! hyper parses and writes; this module decides when a connection has had long enough:
//! - **header read**: a new connection, or one whose client has started the next request,
//!   must deliver the request line and headers within `header_read_timeout`;
//! - **body read**: a request's body must arrive whole within `body_read_timeout` of its
//!   headers ([`DeadlineBody`]; the handler answers 408 and the connection closes);
//! - **keep-alive idle**: between requests, a connection on which no byte moves either way
//!   for `keep_alive_timeout` is closed (so is a client that stops reading its response).
//!
//! hyper's own `header_read_timeout` is off: it also runs while a connection waits between
//! requests, so it cannot be a separate keep-alive timeout. [`Activity`] tracks the phase
//! instead, from the bytes the socket moves and the requests the service is running, and
//! the connection's task closes it when its deadline passes. The accept loop reads the same
//! [`Activity`] to pick a connection to displace when it is at its cap.

use std::future::Future as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{watch, Notify};
use tower::ServiceExt as _;

/// The address of the client a request came from (the TCP peer), set by the server on
/// every request. Requests built in-process (tests) have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The timeouts of every connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_read: Duration,
    pub keep_alive: Duration,
}

/// Request heads longer than this (request line and headers) are refused by hyper itself
/// with an empty 431; the router refuses from [`super::MAX_HEADER_BYTES`] with a SCIM body.
const HYPER_MAX_HEAD_BYTES: usize = 64 * 1024;

/// What a connection is doing, as far as its deadlines are concerned. Times are
/// milliseconds since the connection opened.
pub(super) struct Activity {
    opened: Instant,
    /// Requests handed to the router and not yet answered (0 or 1: no pipelining).
    in_flight: AtomicU32,
    /// Whether any request has been handed to the router.
    served: AtomicBool,
    /// When the connection last had no request in progress: opened, or a response returned.
    idle_since: AtomicU64,
    /// When the first byte arrived after `idle_since`, [`NONE`] if none has.
    head_started: AtomicU64,
    /// When bytes were last written.
    last_write: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            last_write: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn read(&self, n: usize) {
        if n > 0 && self.in_flight.load(Ordering::Relaxed) == 0 && self.head_started.load(Ordering::Relaxed) == NONE {
            self.head_started.store(self.now(), Ordering::Relaxed);
        }
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.last_write.store(self.now(), Ordering::Relaxed);
        }
    }

    fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.served.store(true, Ordering::Relaxed);
        self.head_started.store(NONE, Ordering::Relaxed);
    }

    fn end(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(self.now(), Ordering::Relaxed);
        }
    }

    /// When the connection is to be closed if nothing happens before, in milliseconds since
    /// it opened; `None` while a request is in progress (its body has its own deadline).
    fn deadline(&self, t: &Timeouts) -> Option<u64> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 4);
        let idle_since = self.idle_since.load(Ordering::Relaxed);
        if !self.served.load(Ordering::Relaxed) {
            // The first request: from the moment the connection opened.
            return Some(idle_since + ms(t.header_read));
        }
        match self.head_started.load(Ordering::Relaxed) {
            NONE => Some(idle_since.max(self.last_write.load(Ordering::Relaxed)) + ms(t.keep_alive)),
            started => Some(started + ms(t.header_read)),
        }
    }

    /// Since when a connection without a request in progress has been waiting (the longest
    /// waiting is displaced first); `None` when it is busy, or wrote in the last second (a
    /// response may still be on its way).
    pub(super) fn waiting_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last_write = self.last_write.load(Ordering::Relaxed);
        if last_write > 0 && self.now().saturating_sub(last_write) < 1000 {
            return None;
        }
        Some(self.opened + Duration::from_millis(self.idle_since.load(Ordering::Relaxed).max(last_write)))
    }

    /// The instant the connection opened (the older of two equal waits goes first).
    pub(super) fn opened(&self) -> Instant {
        self.opened
    }
}

/// Marks a request in progress for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.begin();
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// The socket, with every byte read or written noted in the connection's [`Activity`].
struct WatchedIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            this.activity.read(buf.filled().len() - before);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = result {
            this.activity.wrote(n);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = result {
            this.activity.wrote(n);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The body did not arrive whole within `body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub struct BodyTimeout(pub Duration);

/// A request body that fails with [`BodyTimeout`] once its deadline passes.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether `error` (as a body read reports it) is, or was caused by, a [`BodyTimeout`].
pub(crate) fn is_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source()).any(|e| e.is::<BodyTimeout>())
}

/// What the accept loop keeps of each connection: its activity, and the way to close it.
pub(super) struct Handle {
    pub(super) activity: Arc<Activity>,
    pub(super) close: Arc<Notify>,
}

/// Serves one connection until the client closes it, a deadline passes, it is displaced
/// (`handle.close`), or the server shuts down (the request in progress is finished first).
pub(super) async fn serve<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    handle: Handle,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Handle { activity, close } = handle;
    let io = TokioIo::new(WatchedIo { inner: stream, activity: activity.clone() });
    let service_activity = activity.clone();
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let in_flight = InFlight::begin(&service_activity);
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ClientAddr(peer.ip()));
        let body = DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(timeouts.body_read)),
            timeout: timeouts.body_read,
        };
        let request = Request::from_parts(parts, Body::new(body));
        let router = router.clone();
        async move {
            let response = router.oneshot(request).await;
            drop(in_flight);
            response
        }
    });
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(None).max_header_size(HYPER_MAX_HEAD_BYTES);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        // While a request is in progress there is no connection deadline: look again later.
        let wait = activity
            .deadline(&timeouts)
            .map_or(timeouts.header_read, |at| Duration::from_millis(at.saturating_sub(activity.now())));
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep(wait) => {
                if activity.deadline(&timeouts).is_some_and(|at| at <= activity.now()) {
                    tracing::debug!(%peer, "closing a connection past its header-read or keep-alive timeout");
                    return;
                }
            }
            () = close.notified() => {
                tracing::debug!(%peer, "closing a waiting connection to make room for a new one");
                return;
            }
            changed = shutdown.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_phase() {
        let t = Timeouts {
            header_read: Duration::from_millis(100),
            body_read: Duration::from_millis(200),
            keep_alive: Duration::from_millis(1000),
        };
        let a = Activity::new();
        // Opened, nothing sent: the header-read timeout from the start, even after bytes.
        assert_eq!(a.deadline(&t), Some(100));
        a.read(5);
        assert_eq!(a.deadline(&t), Some(100));
        // A request in progress has no connection deadline.
        a.begin();
        assert_eq!(a.deadline(&t), None);
        assert_eq!(a.waiting_since(), None);
        a.end();
        let idle = a.idle_since.load(Ordering::Relaxed);
        // Between requests: the keep-alive timeout ...
        assert_eq!(a.deadline(&t), Some(idle + 1000));
        // ... until the next request's first byte, then the header-read timeout.
        a.read(1);
        let started = a.head_started.load(Ordering::Relaxed);
        assert_eq!(a.deadline(&t), Some(started + 100));
        a.begin();
        a.end();
        assert_eq!(a.head_started.load(Ordering::Relaxed), NONE);
    }
}
