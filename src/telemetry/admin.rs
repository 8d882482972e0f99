//! The admin HTTP port: `/metrics` (Prometheus text), `/healthz` (200
//! while the process answers) and `/readyz` (200 while ready, else 503).
//!
//! HTTP/1.1 on hyper, which tonic already builds: three fixed routes need
//! no web framework. It stays up while the gRPC server drains, so probes
//! see 503 and the last scrape sees the drain.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{
    Telemetry,
    readiness::{NotReady, Readiness},
};
use crate::{service::feed::TicketFeed, store::Store};

/// What the routes read.
pub(crate) struct AdminState {
    pub(crate) telemetry: Arc<Telemetry>,
    pub(crate) readiness: Arc<Readiness>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) feed: TicketFeed,
}

/// Serves connections from `listener` until aborted.
pub(crate) fn spawn(listener: TcpListener, state: AdminState) -> tokio::task::JoinHandle<()> {
    let state = Arc::new(state);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, not spin.
                    tracing::warn!(error = %e, "admin port: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(route(&state, &request)) }
                });
                if let Err(e) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, %peer, "admin port: connection ended");
                }
            });
        }
    })
}

/// Answers one request.
fn route(state: &AdminState, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    match request.uri().path() {
        "/metrics" => {
            let body = state.telemetry.render(state.store.as_ref(), &state.feed);
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match state.readiness.check() {
            Ok(()) => text(StatusCode::OK, "ready\n"),
            Err(NotReady::DatabaseDown) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: database unreachable\n",
            ),
            Err(NotReady::Draining) => {
                text(StatusCode::SERVICE_UNAVAILABLE, "not ready: draining\n")
            }
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: /metrics, /healthz, /readyz\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// Binds the admin port (at build time, so tests can read its address).
pub(crate) async fn bind(addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    use anyhow::Context;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the admin port {addr}"))?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
