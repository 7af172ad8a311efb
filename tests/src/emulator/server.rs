//! The HTTP/1.1 server: an accept loop on hyper directly (not `axum::serve`) so that a
//! faulted request can end its connection without any response, which a handler cannot
//! do. Faults are drawn here, for `/rest` paths only, before the router sees the request,
//! and every processed write is logged here.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use super::faults::FaultAction;
use super::wire::{html, plain_text, ApiError};
use super::Shared;

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
struct ConnectionDropped;

/// Serves until `shutdown` fires (or its sender is dropped); then every open connection is
/// closed.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((stream, _peer)) = accepted else {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (app, shared) = (app.clone(), Arc::clone(&shared));
                let service = service_fn(move |request| handle(Arc::clone(&shared), app.clone(), request));
                connections.spawn(async move {
                    // No header-read timeout: it would also close idle keep-alive
                    // connections after 30 s, failing pooled clients at random.
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(None)
                        .serve_connection(TokioIo::new(stream), service);
                    // Errors are the client's or the injected drops: nothing to report.
                    let _ = connection.await;
                });
            }
        }
    }
}

async fn route(app: Router, request: Request<Body>) -> Response<Body> {
    match app.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Routes a write and logs it ([`super::WriteRecord`]): the body is read first, for the name
/// a create carries in it.
async fn routed_write(shared: &Shared, app: Router, request: Request<Incoming>, path: String) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let method = parts.method.to_string();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body: nothing reached the directory.
        Err(_) => return plain_text(StatusCode::BAD_REQUEST, "The request body broke off"),
    };
    let name = serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| {
        let name = v.get("userName").or_else(|| v.get("name"))?;
        name.as_str().map(str::to_owned)
    });
    let response = route(app, Request::from_parts(parts, Body::from(bytes))).await;
    shared.log_write(super::WriteRecord { method, path, name, status: response.status().as_u16() });
    response
}

/// Serves one request in a task of its own: like Confluence's worker threads, the emulator
/// finishes a request it has received even when the client stops waiting for the answer
/// (hyper would otherwise cancel it when the client closes the connection).
async fn handle(
    shared: Arc<Shared>,
    app: Router,
    request: Request<Incoming>,
) -> Result<Response<Body>, ConnectionDropped> {
    tokio::spawn(process(shared, app, request)).await.unwrap_or(Err(ConnectionDropped))
}

async fn process(
    shared: Arc<Shared>,
    app: Router,
    request: Request<Incoming>,
) -> Result<Response<Body>, ConnectionDropped> {
    let Some(local) = shared.rest_path(request.uri().path()) else {
        return Ok(route(app, request.map(Body::new)).await);
    };
    shared.traffic.count_request();
    let (latency, action) = shared.faults().draw(request.method().as_str(), &local);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match action {
        FaultAction::Outage => {
            shared.traffic.count_outage();
            Ok(html(StatusCode::SERVICE_UNAVAILABLE))
        }
        FaultAction::DropBefore => {
            shared.traffic.count_drop();
            Err(ConnectionDropped)
        }
        FaultAction::TooManyRequests { retry_after_secs } => {
            shared.traffic.count_injected_429();
            let mut response = plain_text(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            Ok(response)
        }
        FaultAction::ServerError { unavailable } => {
            shared.traffic.count_injected_error();
            if unavailable {
                Ok(html(StatusCode::SERVICE_UNAVAILABLE))
            } else {
                let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Injected fault: internal server error");
                Ok(error.into_response())
            }
        }
        FaultAction::BadRequest => {
            shared.traffic.count_injected_error();
            Ok(ApiError::new(StatusCode::BAD_REQUEST, "Injected fault: the request was refused").into_response())
        }
        FaultAction::Process { drop_after } => {
            let response = if is_write(request.method()) {
                routed_write(&shared, app, request, local).await
            } else {
                route(app, request.map(Body::new)).await
            };
            if drop_after {
                shared.traffic.count_drop();
                return Err(ConnectionDropped);
            }
            Ok(response)
        }
    }
}
