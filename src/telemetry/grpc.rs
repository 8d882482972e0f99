//! The tower layer that counts and times every RPC and gives it a span.
//!
//! An RPC ends when its status is known, which is in one of two places:
//! the response headers, when the handler failed before sending a message
//! (tonic's "trailers-only" response), or the trailers after the last
//! message (every success, and errors of a stream that already sent
//! messages). So the layer looks at the headers first and otherwise wraps
//! the body and reads `grpc-status` from its trailers. Streams are thus
//! counted when they end, and their duration is the whole stream. A call
//! dropped before its status counts as `DEADLINE_EXCEEDED` when its
//! deadline (the client's `grpc-timeout`, or `server.request_timeout_secs`)
//! had passed — tonic's timeout sits outside every layer and answers for
//! it — and as `CANCELLED` otherwise (the client went away).
//!
//! The layer sits inside grpc-web's (which folds trailers into the body),
//! so it sees native gRPC responses either way.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use ::metrics::{Counter, Histogram};
use http::{HeaderMap, HeaderName, Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Bytes;
use prost::Message;
use tower::{Layer, Service};
use tracing::{Span, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    GRPC_DURATION, GRPC_REQUESTS, Telemetry,
    traces::{self, RpcSampling},
};

/// gRPC status codes by number, as the `code` label spells them.
const CODE_NAMES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];
const CANCELLED: usize = 1;
const DEADLINE_EXCEEDED: usize = 4;

/// Slack when telling a timeout from a cancellation: tonic's timer starts
/// a moment before this layer's clock.
const TIMER_SLACK: Duration = Duration::from_millis(10);

/// Header names looked up on every call, made once: a `&str` key is parsed
/// and lower-cased at each look-up.
const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const UNKNOWN: usize = 2;

/// The metrics of one method: its histogram and a counter per code, each
/// registered at its first use, so a scrape shows only the methods and
/// codes that occurred rather than some 70 methods' empty histograms and
/// seventeen zero counters each.
struct MethodMetrics {
    /// `hotline.v1.TicketService/CreateTicket`: the exported span's name.
    path: String,
    service: String,
    method: String,
    duration: OnceLock<Histogram>,
    codes: [OnceLock<Counter>; 17],
    telemetry: Arc<Telemetry>,
}

impl MethodMetrics {
    fn new(telemetry: &Arc<Telemetry>, service: &str, method: &str) -> Self {
        Self {
            duration: OnceLock::new(),
            path: format!("{service}/{method}"),
            service: service.to_owned(),
            method: method.to_owned(),
            codes: Default::default(),
            telemetry: telemetry.clone(),
        }
    }

    fn record(&self, code: usize, elapsed: Duration) {
        self.duration
            .get_or_init(|| {
                self.telemetry.histogram(
                    GRPC_DURATION,
                    &[("service", &self.service), ("method", &self.method)],
                )
            })
            .record(elapsed.as_secs_f64());
        self.count(code);
    }

    fn count(&self, code: usize) {
        let code = code.min(CODE_NAMES.len() - 1);
        self.codes[code]
            .get_or_init(|| {
                self.telemetry.counter(
                    GRPC_REQUESTS,
                    &[
                        ("service", &self.service),
                        ("method", &self.method),
                        ("code", CODE_NAMES[code]),
                    ],
                )
            })
            .increment(1);
    }
}

/// Every method served, by request path (`/hotline.v1.TicketService/GetTicket`).
/// Built once from the served descriptor sets; a path outside them (a
/// scanner, a typo) shares one `unknown` entry, so labels stay bounded.
struct MethodTable {
    by_path: HashMap<String, Arc<MethodMetrics>>,
    unknown: Arc<MethodMetrics>,
}

impl MethodTable {
    fn build(telemetry: &Arc<Telemetry>, descriptor_sets: &[&[u8]]) -> Self {
        let mut by_path = HashMap::new();
        for encoded in descriptor_sets {
            let Ok(set) = prost_types::FileDescriptorSet::decode(*encoded) else {
                tracing::error!(
                    "a served descriptor set does not decode; its RPCs count as unknown"
                );
                continue;
            };
            for file in &set.file {
                for service in &file.service {
                    let full = format!("{}.{}", file.package(), service.name());
                    for method in &service.method {
                        let path = format!("/{full}/{}", method.name());
                        let metrics = MethodMetrics::new(telemetry, &full, method.name());
                        by_path.insert(path, Arc::new(metrics));
                    }
                }
            }
        }
        Self {
            by_path,
            unknown: Arc::new(MethodMetrics::new(telemetry, "unknown", "unknown")),
        }
    }

    fn get(&self, path: &str) -> &Arc<MethodMetrics> {
        self.by_path.get(path).unwrap_or(&self.unknown)
    }
}

/// The layer; cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct GrpcMetricsLayer {
    table: Arc<MethodTable>,
    server_timeout: Duration,
    sampling: RpcSampling,
}

impl std::fmt::Debug for GrpcMetricsLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricsLayer")
            .field("methods", &self.table.by_path.len())
            .finish()
    }
}

impl GrpcMetricsLayer {
    /// Counts the methods of the services in `descriptor_sets` (encoded
    /// `FileDescriptorSet`s) into `telemetry`.
    /// `server_timeout` is `server.request_timeout_secs`; `sampling` says
    /// which calls' spans are exported.
    pub fn new(
        telemetry: &Arc<Telemetry>,
        descriptor_sets: &[&[u8]],
        server_timeout: Duration,
        sampling: RpcSampling,
    ) -> Self {
        Self {
            server_timeout,
            sampling,
            table: Arc::new(MethodTable::build(telemetry, descriptor_sets)),
        }
    }
}

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics {
            inner,
            table: self.table.clone(),
            server_timeout: self.server_timeout,
            sampling: self.sampling,
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
    table: Arc<MethodTable>,
    server_timeout: Duration,
    sampling: RpcSampling,
}

impl<S> std::fmt::Debug for GrpcMetrics<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetrics").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcMetrics<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<tower::BoxError>,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let method = self.table.get(request.uri().path()).clone();
        let deadline = grpc_timeout(request.headers()).map_or(self.server_timeout, |client| {
            client.min(self.server_timeout)
        });
        let parent = traces::remote_parent(request.headers());
        let traced = self.sampling.traces(parent.as_ref());
        // Field names after OpenTelemetry's RPC conventions; `otel.*` are
        // read by the export bridge (span name, kind, status), not logged
        // as attributes.
        let open = || {
            tracing::info_span!(
                "rpc",
                otel.name = method.path.as_str(),
                otel.kind = "server",
                otel.status_code = Empty,
                rpc.system = "grpc",
                rpc.service = method.service.as_str(),
                rpc.method = method.method.as_str(),
                rpc.grpc.status_code = Empty,
            )
        };
        let (span, inner) = if traced {
            let span = open();
            if let Some(parent) = parent {
                // Fails only when no export layer is installed: nothing to join.
                let _ = span.set_parent(parent);
            }
            let inner = span.in_scope(|| self.inner.call(request));
            (span, inner)
        } else {
            traces::untraced(|| {
                let span = open();
                let inner = span.in_scope(|| self.inner.call(request));
                (span, inner)
            })
        };
        MeteredFuture {
            inner,
            call: Some(Call {
                method,
                start: Instant::now(),
                deadline,
                span,
                traced,
            }),
        }
    }
}

/// One RPC in flight: recorded exactly once, when its status is known or
/// when it is dropped without one.
struct Call {
    method: Arc<MethodMetrics>,
    start: Instant,
    /// When tonic's timeout would answer for the call.
    deadline: Duration,
    span: Span,
    /// Whether its spans are exported ([`RpcSampling`]).
    traced: bool,
}

impl Call {
    fn finish(self, code: usize) {
        let elapsed = self.start.elapsed();
        self.method.record(code, elapsed);
        let name = CODE_NAMES[code.min(CODE_NAMES.len() - 1)];
        // As an integer attribute, as OpenTelemetry's RPC conventions say;
        // the latency is the span's own duration. One record per call: each
        // is a dispatch through every layer, the largest part of a span's
        // cost after its creation.
        self.span
            .record("rpc.grpc.status_code", i64::try_from(code).unwrap_or(2));
        if is_server_error(code) {
            self.span.record("otel.status_code", "error");
        }
        #[allow(clippy::cast_precision_loss)] // milliseconds of one RPC
        let latency_ms = elapsed.as_micros() as f64 / 1000.0;
        tracing::debug!(parent: &self.span, code = name, latency_ms, "rpc finished");
    }
}

/// Whether a code marks a server span as failed. OpenTelemetry's RPC
/// conventions: a gRPC server leaves the span's status unset for every
/// code but these, which mean the server, not the request, went wrong
/// (a NOT_FOUND or INVALID_ARGUMENT is the caller's, and a fine answer).
fn is_server_error(code: usize) -> bool {
    // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE,
    // DATA_LOSS.
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// A request's `grpc-timeout` (`100m`, `5S`: digits and a unit).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The `grpc-status` of a header map, as a code number.
fn status_code(headers: &HeaderMap) -> Option<usize> {
    let value = headers.get(GRPC_STATUS)?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|code| *code < CODE_NAMES.len())
            .unwrap_or(UNKNOWN),
    )
}

pin_project_lite::pin_project! {
    /// The response future: finishes the call if the status is in the
    /// headers, otherwise hands it to the body.
    pub struct MeteredFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }

    impl<F> PinnedDrop for MeteredFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                let timed_out = call.start.elapsed() + TIMER_SLACK >= call.deadline;
                call.finish(if timed_out { DEADLINE_EXCEEDED } else { CANCELLED });
            }
        }
    }
}

impl<F, B, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    /// tonic's body type, as the server requires of its layers (one box
    /// per response).
    type Output = Result<Response<tonic::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.call.as_ref() {
            Some(call) if !call.traced => {
                let _entered = call.span.enter();
                ready!(traces::untraced(|| this.inner.poll(cx)))
            }
            call => {
                let _entered = call.map(|c| c.span.enter());
                ready!(this.inner.poll(cx))
            }
        };
        let Some(call) = this.call.take() else {
            // Polled after completion: tower's contract says never.
            return Poll::Ready(result.map(|r| r.map(tonic::body::Body::new)));
        };
        Poll::Ready(match result {
            Ok(response) => {
                let call = match status_code(response.headers()) {
                    Some(code) => {
                        call.finish(code);
                        None
                    }
                    None => Some(call),
                };
                Ok(response.map(|inner| tonic::body::Body::new(MeteredBody { inner, call })))
            }
            Err(e) => {
                call.finish(UNKNOWN);
                Err(e)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// A response body that finishes its call at the trailers.
    pub struct MeteredBody<B> {
        #[pin]
        inner: B,
        call: Option<Call>,
    }

    impl<B> PinnedDrop for MeteredBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(call) = this.project().call.take() {
                call.finish(CANCELLED);
            }
        }
    }
}

impl<B: Body> Body for MeteredBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        let code = match &frame {
            Some(Ok(frame)) => frame
                .trailers_ref()
                .map(|trailers| status_code(trailers).unwrap_or(UNKNOWN)),
            // A body that fails or ends without trailers carries no status.
            Some(Err(_)) | None => Some(UNKNOWN),
        };
        if let Some(code) = code
            && let Some(call) = this.call.take()
        {
            call.finish(code);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, http::HeaderValue::from_static(value));
        map
    }

    #[test]
    fn statuses_are_read_by_number_and_anything_else_is_unknown() {
        assert_eq!(status_code(&HeaderMap::new()), None);
        assert_eq!(status_code(&headers("grpc-status", "0")), Some(0));
        assert_eq!(status_code(&headers("grpc-status", "16")), Some(16));
        assert_eq!(status_code(&headers("grpc-status", "17")), Some(UNKNOWN));
        assert_eq!(status_code(&headers("grpc-status", "x")), Some(UNKNOWN));
        assert_eq!(CODE_NAMES[DEADLINE_EXCEEDED], "DEADLINE_EXCEEDED");
        assert_eq!(CODE_NAMES[3], "INVALID_ARGUMENT");
    }

    #[test]
    fn only_the_servers_own_failures_mark_a_span_failed() {
        let failed: Vec<&str> = (0..CODE_NAMES.len())
            .filter(|c| is_server_error(*c))
            .map(|c| CODE_NAMES[c])
            .collect();
        assert_eq!(
            failed,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
    }

    #[test]
    fn grpc_timeouts_are_parsed_in_every_unit() {
        for (text, expected) in [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("5S", Duration::from_secs(5)),
            ("300m", Duration::from_millis(300)),
            ("7u", Duration::from_micros(7)),
            ("9n", Duration::from_nanos(9)),
        ] {
            assert_eq!(grpc_timeout(&headers("grpc-timeout", text)), Some(expected));
        }
        for bad in ["", "S", "5x", "-1S"] {
            assert_eq!(grpc_timeout(&headers("grpc-timeout", bad)), None, "{bad}");
        }
    }
}
