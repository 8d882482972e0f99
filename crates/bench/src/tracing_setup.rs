//! Tracing as `hotline serve` has it, inside the bench: the server's own
//! subscriber ([`hotline::telemetry::traces::layers`]), with `--telemetry
//! on` exporting every span over OTLP to a stand-in collector the bench
//! serves on loopback, which counts what arrives; with `--telemetry off` the
//! same subscriber without an export (log lines only, as `serve` runs with
//! no `telemetry.otlp_endpoint`). Only `--telemetry compare`, which measures
//! both in one process, puts a switch in front of that subscriber.
//!
//! Why not the switch in every mode: a layer in front of the server's
//! per-layer filters makes hotline's callsites dynamic, so spans no filter
//! wants (the store's `debug` ones) are still created in the registry and
//! their futures wrapped, work `serve` never does (measured with callgrind:
//! a fifth of what "on" seemed to cost). And no subscriber at all is not
//! "off" either: `tracing` then forwards every span to the `log` crate.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use tracing::{Metadata, Subscriber, subscriber::Interest};
use tracing_subscriber::{
    layer::{Context, Layer, SubscriberExt},
    util::SubscriberInitExt,
};

use hotline::{config::Settings, telemetry::traces::TraceExport};

/// Whether spans and events are recorded at all (see [`Switch`]).
static TRACING_ON: AtomicBool = AtomicBool::new(true);

/// Turns every span and event of the process on or off.
pub fn set_tracing(on: bool) {
    TRACING_ON.store(on, Ordering::Relaxed);
}

/// A layer that vetoes hotline's spans and events while [`TRACING_ON`] is
/// false. Their callsites' interest is "sometimes", so the flag is read at
/// each one (one relaxed load) rather than cached at the first. Other
/// crates' callsites (hyper's, h2's, sqlx's) get a fixed interest, as under
/// `hotline serve` with `log.filter = "warn"`: never below a warning. A
/// "sometimes" there would send each of their trace-level events through
/// every filter at run time (and "always" does too, once per-layer filters
/// are below), charging the bench's switch to the telemetry it measures.
/// So `--log` shows only warnings and errors of other crates.
struct Switch;

impl<S: Subscriber> Layer<S> for Switch {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target().starts_with("hotline") {
            Interest::sometimes()
        } else if *metadata.level() <= tracing::Level::WARN {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        if metadata.target().starts_with("hotline") {
            TRACING_ON.load(Ordering::Relaxed)
        } else {
            *metadata.level() <= tracing::Level::WARN
        }
    }
}

/// Installs the server's subscriber as `hotline serve` does, behind the
/// switch when `switchable` (`--telemetry compare`); `settings` name the
/// OTLP endpoint, if any. A second install in one process keeps the first.
pub fn install(settings: &Settings, switchable: bool) -> anyhow::Result<Option<TraceExport>> {
    use hotline::telemetry::traces::layers;
    // Two calls of `layers`: its boxed layer is typed by what it sits on.
    let (installed, export) = if switchable {
        let (layers, export) = layers(settings)?;
        let subscriber = tracing_subscriber::registry().with(Switch).with(layers);
        (subscriber.try_init(), export)
    } else {
        let (layers, export) = layers(settings)?;
        (
            tracing_subscriber::registry().with(layers).try_init(),
            export,
        )
    };
    Ok(installed.ok().and(export))
}

/// The stand-in collector: accepts OTLP/gRPC trace exports and counts the
/// spans, as a real collector's receiver would before it forwards them.
#[derive(Debug, Clone, Default)]
pub struct SpanSink {
    spans: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl TraceService for SpanSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let n: usize = request
            .get_ref()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.spans.fetch_add(n as u64, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl SpanSink {
    /// Serves the collector on a free loopback port, on a thread of its own
    /// named [`crate::cpu::COLLECTOR_THREAD`] (so the CPU it spends
    /// decoding spans, which a production collector spends on another
    /// machine, can be told apart from the server's); returns its URL.
    pub fn start(&self) -> anyhow::Result<String> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let sink = self.clone();
        std::thread::Builder::new()
            .name(crate::cpu::COLLECTOR_THREAD.into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the collector's runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("the collector's listener");
                    // The collector lives as long as the bench's process.
                    let _ = tonic::transport::Server::builder()
                        .add_service(TraceServiceServer::new(sink))
                        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(
                            listener,
                        ))
                        .await;
                });
            })?;
        Ok(format!("http://{addr}"))
    }

    /// Spans received so far.
    pub fn received(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }
}
