//! The accept loop: HTTP/1.1 on hyper directly (not `axum::serve`, which has no header,
//! body or idle timeouts and no connection cap), each connection served by
//! [`connection::serve`](super::connection) under [`Timeouts`].
//!
//! **The connection cap.** At most `max_connections` are served at once. A new connection
//! beyond the cap displaces the connection that has waited longest without a request in
//! progress (a silent socket, half a request head, an idle keep-alive connection), so
//! sockets held open cannot starve clients that send requests. Only when every connection
//! has a request in progress is the new one refused: answered 503 with a SCIM error body and
//! `Retry-After`, and closed.
//!
//! **The file-descriptor budget** ([`fit_to_open_file_limit`]): at start-up the process's
//! open-file limit (`nofile`) is raised towards its hard limit if the cap needs it; if it
//! still cannot hold the cap and a reserve for the database, Confluence and the rest, the
//! cap is lowered to fit and a warning says so. Out of descriptors, `accept` would fail and
//! every client would wait in the listen backlog instead.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

use super::connection::{self, Activity, Handle, Timeouts};

/// How the server treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ListenSettings {
    pub timeouts: Timeouts,
    pub max_connections: usize,
}

impl ListenSettings {
    pub fn from_config(server: &crate::config::ServerConfig) -> Self {
        Self {
            timeouts: Timeouts {
                header_read: Duration::from_millis(server.header_read_timeout_ms),
                body_read: Duration::from_millis(server.body_read_timeout_ms),
                keep_alive: Duration::from_millis(server.keep_alive_timeout_ms),
            },
            max_connections: server.max_connections,
        }
    }
}

/// How long shutdown waits for requests in progress before closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Refused connections being answered at once; more are closed without an answer.
const MAX_REFUSING: usize = 64;
/// How long a refused connection is given to take its 503.
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// The least time between two warnings about the cap or `accept` failing.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The answer to a connection beyond the cap when every connection is busy.
const OVERLOADED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/scim+json; charset=utf-8\r\n\
retry-after: 5\r\n\
connection: close\r\n\
content-length: 143\r\n\r\n\
{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"503\",\"detail\":\"the server is at its connection limit; retry in 5 seconds\"}";

/// Serves `router` on `listener` until `shutdown` completes; then stops accepting, lets the
/// requests in progress finish (for up to 30 s) and closes every connection.
///
/// # Errors
/// None today: `accept` failures (out of descriptors, a connection reset before it was
/// accepted) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ListenSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_tls(listener, router, settings, None, shutdown).await
}

/// As [`serve`], with TLS when `tls` is given: each connection's handshake must end within
/// the header-read timeout, and a connection beyond the cap is closed without an answer
/// (a plain-text 503 would mean nothing to a TLS client).
///
/// # Errors
/// As [`serve`].
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    settings: ListenSettings,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    // The connections being served and not asked to close: the ones the cap counts.
    let mut handles: HashMap<tokio::task::Id, Handle> = HashMap::new();
    let mut refusing = JoinSet::new();
    let mut last_warning: Option<Instant> = None;
    let mut warn = |message: &str, error: Option<&std::io::Error>| {
        if last_warning.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
            last_warning = Some(Instant::now());
            match error {
                Some(e) => tracing::warn!(error = %e, max_connections = settings.max_connections, "{message}"),
                None => tracing::warn!(max_connections = settings.max_connections, "{message}"),
            }
        }
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                handles.remove(&finished(done));
            }
            Some(_) = refusing.join_next(), if !refusing.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        warn("cannot accept a connection", Some(&e));
                        // Out of descriptors (beyond the budget: something else holds them):
                        // free one held by a waiting connection. Either way, back off
                        // instead of spinning.
                        if matches!(e.raw_os_error(), Some(23 | 24)) {
                            displace_one(&mut handles);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                while let Some(done) = connections.try_join_next_with_id() {
                    handles.remove(&finished(done));
                }
                if handles.len() >= settings.max_connections && !displace_one(&mut handles) {
                    warn("every connection is busy at the connection limit: refusing new ones with 503", None);
                    if refusing.len() < MAX_REFUSING && tls.is_none() {
                        refusing.spawn(refuse(stream));
                    }
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let activity = Arc::new(Activity::new());
                let close = Arc::new(Notify::new());
                let handle = Handle { activity: activity.clone(), close: close.clone() };
                let (router, timeouts, stopped) = (router.clone(), settings.timeouts, stopped.clone());
                let task = match &tls {
                    None => connections.spawn(connection::serve(stream, peer, router, timeouts, handle, stopped)),
                    Some(acceptor) => {
                        let acceptor = acceptor.clone();
                        connections.spawn(async move {
                            match tokio::time::timeout(timeouts.header_read, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => connection::serve(tls, peer, router, timeouts, handle, stopped).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake did not finish within the header-read timeout"),
                            }
                        })
                    }
                };
                handles.insert(task.id(), Handle { activity, close });
            }
        }
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(open = connections.len(), "closing connections still busy after the shutdown grace");
    }
    Ok(())
}

/// The task id of a finished connection, however it ended.
fn finished(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((id, ())) => id,
        Err(e) => e.id(),
    }
}

/// Asks the connection that has waited longest without a request in progress to close, and
/// stops counting it (it closes as soon as its task runs; it is never asked twice). False
/// when every connection is busy.
fn displace_one(handles: &mut HashMap<tokio::task::Id, Handle>) -> bool {
    let longest = handles
        .iter()
        .filter_map(|(id, h)| h.activity.waiting_since().map(|since| (since, h.activity.opened(), *id)))
        .min_by_key(|(since, opened, _)| (*since, *opened));
    match longest.and_then(|(_, _, id)| handles.remove(&id)) {
        Some(handle) => {
            handle.close.notify_one();
            true
        }
        None => false,
    }
}

/// Answers a connection beyond the cap with 503, then reads what it sent (so that closing
/// does not reset the connection before the client reads the answer) and closes it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_TIME, async {
        stream.write_all(OVERLOADED).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut read = 0;
        while read < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => read += n,
            }
        }
        std::io::Result::Ok(())
    })
    .await;
}

/// The connection cap that the process's open-file limit can hold, given the descriptors
/// kept for everything but client connections (`reserve`). Raises the soft limit towards
/// the hard one when `wanted + reserve` needs it; warns and lowers the cap when even that
/// is not enough.
pub fn fit_to_open_file_limit(wanted: usize, reserve: usize) -> usize {
    let needed = u64::try_from(wanted.saturating_add(reserve)).unwrap_or(u64::MAX);
    let soft = match rlimit::Resource::NOFILE.get() {
        Ok((soft, hard)) if soft < needed && hard > soft => {
            match rlimit::Resource::NOFILE.set(needed.min(hard), hard) {
                Ok(()) => {
                    tracing::info!(from = soft, to = needed.min(hard), "raised the open-file limit (nofile)");
                    needed.min(hard)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot raise the open-file limit (nofile)");
                    soft
                }
            }
        }
        Ok((soft, _)) => soft,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit (nofile); assuming it holds max_connections");
            return wanted;
        }
    };
    let fitted = connection_budget(soft, wanted, reserve);
    if fitted < wanted {
        tracing::warn!(
            nofile = soft,
            needed,
            max_connections = fitted,
            "the open-file limit (nofile) is too low for max_connections = {wanted}: serving at most {fitted} \
             connections at once; raise it (ulimit -n, systemd LimitNOFILE=) to at least {needed}"
        );
    }
    fitted
}

/// The cap that `nofile` descriptors hold with `reserve` kept back: `wanted`, or less (at
/// least 8, so a tiny limit still serves someone).
fn connection_budget(nofile: u64, wanted: usize, reserve: usize) -> usize {
    let available = usize::try_from(nofile).unwrap_or(usize::MAX).saturating_sub(reserve);
    wanted.min(available).max(8.min(wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_fits_the_cap_to_the_limit() {
        assert_eq!(connection_budget(1 << 20, 512, 100), 512);
        assert_eq!(connection_budget(256, 512, 72), 184);
        assert_eq!(connection_budget(64, 512, 72), 8, "a tiny limit still serves a few");
        assert_eq!(connection_budget(64, 4, 72), 4);
    }

    #[test]
    fn the_refusal_is_a_scim_error() {
        let text = std::str::from_utf8(OVERLOADED).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize =
            head.lines().find_map(|l| l.strip_prefix("content-length: ")).and_then(|n| n.parse().ok()).unwrap();
        assert_eq!(length, body.len());
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["status"], "503");
        assert_eq!(json["schemas"][0], crate::scim::schema::ERROR);
    }
}
