//! OTLP export as an operator runs it: `hotline serve` with
//! `telemetry.otlp_endpoint` pointing at a collector this test serves (the
//! collector's own `TraceService`, from `opentelemetry-proto`), calls with
//! and without a client's `traceparent`, then SIGTERM: the spans of every
//! call reach the collector, with the client's trace continued.

use std::{
    net::SocketAddr,
    process::Child,
    sync::{Arc, Mutex},
};

use hotline::proto::v1::{ListTicketsRequest, ticket_service_client::TicketServiceClient};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};

use crate::{hotline, sqlite_url, succeeded};

/// The client's trace (W3C example values).
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const UNSAMPLED_TRACE_ID: &str = "5cf92f3577b34da6a3ce929d0e0e4737";

/// A collector that keeps what it is sent.
#[derive(Default, Clone)]
struct Collector {
    received: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.received.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    /// Serves on a free loopback port; returns its URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        format!("http://{addr}")
    }

    /// Every span received, with its resource's `service.name`.
    fn spans(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        for request in self.received.lock().unwrap().iter() {
            for resource_spans in &request.resource_spans {
                let service = resource_spans
                    .resource
                    .as_ref()
                    .and_then(|r| text(&r.attributes, "service.name"))
                    .unwrap_or_default();
                for scope in &resource_spans.scope_spans {
                    for span in &scope.spans {
                        out.push((service.clone(), span.clone()));
                    }
                }
            }
        }
        out
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    match attribute(attributes, key)? {
        Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attribute(attributes, key)? {
        Value::IntValue(n) => Some(*n),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `hotline serve` exporting to `collector`, sampling `ratio` of the
/// traces it starts.
fn serve(dir: &std::path::Path, collector: &str, ratio: &str) -> (Child, SocketAddr) {
    crate::serve(
        dir,
        &[
            ("HOTLINE_DATABASE__URL", &sqlite_url(dir)),
            ("HOTLINE_TELEMETRY__OTLP_ENDPOINT", collector),
            ("HOTLINE_TELEMETRY__SERVICE_NAME", "hotline-otlp-test"),
            ("HOTLINE_TELEMETRY__SAMPLE_RATIO", ratio),
            // The store's spans too (off by default).
            (
                "HOTLINE_TELEMETRY__SPAN_FILTER",
                "hotline=info,hotline_store=debug",
            ),
        ],
        None,
    )
}

/// A server exporting to a collector of the test's, and an agent's client.
struct Traced {
    _dir: tempfile::TempDir,
    collector: Collector,
    child: Child,
    client: TicketServiceClient<tonic::transport::Channel>,
    token: String,
}

impl Traced {
    /// Serves with `ratio` of the traces started here sampled.
    async fn start(ratio: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let collector = Collector::default();
        let url = collector.start().await;
        let (child, addr) = serve(dir.path(), &url, ratio);
        let token = succeeded(
            hotline(dir.path())
                .args(["token", "--role", "agent", "--sub", "tracer"])
                .output()
                .unwrap(),
        );
        let client = TicketServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        Self {
            _dir: dir,
            collector,
            child,
            client,
            token: token.trim().to_owned(),
        }
    }

    /// A ListTickets request, with the agent's token when `authorized`
    /// and the client's `traceparent` if any.
    fn list(
        &self,
        traceparent: Option<&str>,
        authorized: bool,
    ) -> tonic::Request<ListTicketsRequest> {
        let mut request = tonic::Request::new(ListTicketsRequest::default());
        if authorized {
            let bearer = format!("Bearer {}", self.token);
            request
                .metadata_mut()
                .insert("authorization", bearer.parse().unwrap());
        }
        if let Some(value) = traceparent {
            request
                .metadata_mut()
                .insert("traceparent", value.parse().unwrap());
        }
        request
    }

    /// SIGTERM: the server drains, then flushes the last batch; what the
    /// collector received.
    async fn stop(self) -> Vec<(String, Span)> {
        let mut child = self.child;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exited = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(exited.success(), "serve exited with {exited}");
        self.collector.spans()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_reach_the_collector_and_continue_the_clients_trace() {
    // Every trace started here (a tenth by default), to check each.
    let mut traced = Traced::start("1.0").await;
    let continued = format!("00-{TRACE_ID}-{PARENT_SPAN}-01");
    let request = traced.list(Some(&continued), true);
    traced.client.list_tickets(request).await.unwrap();
    // A client that chose not to sample its trace: not exported, whatever
    // the ratio (parent-based sampling).
    let unsampled = format!("00-{UNSAMPLED_TRACE_ID}-{PARENT_SPAN}-00");
    let request = traced.list(Some(&unsampled), true);
    traced.client.list_tickets(request).await.unwrap();
    let request = traced.list(None, true);
    traced.client.list_tickets(request).await.unwrap();
    let request = traced.list(None, false);
    let refused = traced.client.list_tickets(request).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let spans = traced.stop().await;
    let rpcs: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "hotline.v1.TicketService/ListTickets")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(rpcs.len(), 3, "one span per sampled call: {spans:#?}");
    assert!(
        spans
            .iter()
            .all(|(_, s)| hex(&s.trace_id) != UNSAMPLED_TRACE_ID),
        "the client's unsampled trace is not exported"
    );
    assert!(
        spans
            .iter()
            .all(|(service, _)| service == "hotline-otlp-test"),
        "service.name"
    );
    for span in &rpcs {
        assert_eq!(span.kind, SpanKind::Server as i32);
        assert_eq!(
            text(&span.attributes, "rpc.system").as_deref(),
            Some("grpc")
        );
        assert_eq!(
            text(&span.attributes, "rpc.method").as_deref(),
            Some("ListTickets")
        );
    }
    // The store's work of the unsampled call is not exported either (not
    // as roots of traces of their own): one store span per sampled call
    // that reached the store, each under its call.
    let store_spans: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "list_tickets")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(store_spans.len(), 2, "{store_spans:#?}");
    assert!(
        store_spans
            .iter()
            .all(|child| rpcs.iter().any(|rpc| rpc.span_id == child.parent_span_id)),
        "{store_spans:#?}"
    );
    let joined: Vec<&&Span> = rpcs
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE_ID)
        .collect();
    assert_eq!(joined.len(), 1, "exactly the call with traceparent joins");
    assert_eq!(hex(&joined[0].parent_span_id), PARENT_SPAN);
    assert_eq!(int(&joined[0].attributes, "rpc.grpc.status_code"), Some(0));
    // The store's spans hang under the call that made them.
    let children: Vec<&str> = spans
        .iter()
        .filter(|(_, s)| s.parent_span_id == joined[0].span_id)
        .map(|(_, s)| s.name.as_str())
        .collect();
    assert!(children.contains(&"list_tickets"), "{children:?}");
    let fresh: Vec<&&Span> = rpcs
        .iter()
        .filter(|s| hex(&s.trace_id) != TRACE_ID)
        .collect();
    assert!(fresh.iter().all(|s| s.parent_span_id.is_empty()), "roots");
    assert_ne!(fresh[0].trace_id, fresh[1].trace_id, "a trace each");
    let codes: Vec<Option<i64>> = fresh
        .iter()
        .map(|s| int(&s.attributes, "rpc.grpc.status_code"))
        .collect();
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(16)),
        "{codes:?}"
    );
    let failed = fresh
        .iter()
        .find(|s| int(&s.attributes, "rpc.grpc.status_code") == Some(16))
        .unwrap();
    // A refused token is the caller's failure, not the server's: by the RPC
    // conventions a server span's status stays unset for it (INTERNAL,
    // UNAVAILABLE and the like set Error; `grpc::is_server_error`).
    assert_eq!(
        failed.status.as_ref().map_or(0, |s| s.code),
        opentelemetry_proto::tonic::trace::v1::status::StatusCode::Unset as i32
    );
}

/// With a ratio of 0 no trace starts here, and none of a call's spans is
/// built for the export, yet a client's sampled trace is still continued
/// (the door decides by the client's flag first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_ratio_exports_only_the_traces_clients_sampled() {
    let mut traced = Traced::start("0.0").await;
    for _ in 0..5 {
        let request = traced.list(None, true);
        traced.client.list_tickets(request).await.unwrap();
    }
    let sampled = format!("00-{TRACE_ID}-{PARENT_SPAN}-01");
    let request = traced.list(Some(&sampled), true);
    traced.client.list_tickets(request).await.unwrap();

    let spans = traced.stop().await;
    let calls: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "hotline.v1.TicketService/ListTickets")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(calls.len(), 1, "only the client's sampled call: {spans:#?}");
    assert_eq!(hex(&calls[0].trace_id), TRACE_ID);
    let store_spans: Vec<&Span> = spans
        .iter()
        .filter(|(_, s)| s.name == "list_tickets")
        .map(|(_, s)| s)
        .collect();
    assert_eq!(store_spans.len(), 1, "{store_spans:#?}");
    assert_eq!(store_spans[0].parent_span_id, calls[0].span_id);
}
