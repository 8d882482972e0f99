//! The process's tracing subscriber: log lines on standard error and, with
//! `telemetry.otlp_endpoint`, spans exported to an OpenTelemetry collector.
//!
//! Logs: text or JSON (`log.format`), filtered by `log.filter` (`RUST_LOG`
//! wins), colour only when standard error is a terminal, so journald, a
//! container log or a file gets plain text.
//!
//! Traces: the `rpc` span the gRPC layer opens for every call
//! ([`super::grpc`]) and the spans under it (store methods, workflow
//! steps) are bridged to OpenTelemetry by `tracing-opentelemetry` and sent
//! in batches over OTLP/gRPC by `opentelemetry-otlp`, from the SDK's own
//! export thread. The export has a filter of its own
//! (`telemetry.span_filter`: by default the server's `info` spans; the
//! store's `debug` ones, a span per store method, show where the database
//! time went), so a quiet `log.filter` does not empty the traces.
//! A client's W3C `traceparent` continues its trace
//! ([`remote_parent`]); traces started here are sampled by
//! `telemetry.sample_ratio`, traces continued from a client follow the
//! client's sampled flag.
//!
//! An RPC's sampling is decided at the door, by the gRPC layer, before its
//! span exists ([`RpcSampling`]): an RPC left out is run inside
//! [`untraced`], where the export layer does not see its span nor any span
//! opened under it, so nine calls in ten (at the default ratio) cost the
//! export nothing — no span data built, no attribute strings, no sampler —
//! rather than being built in full and dropped at their end. Its `rpc`
//! span is still there for the log lines, when `log.filter` wants it.

use std::{cell::Cell, time::Duration};

use anyhow::Context as _;
use http::HeaderMap;
use opentelemetry::{
    Context, KeyValue,
    propagation::{Extractor, TextMapPropagator},
    trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState, TracerProvider as _},
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample},
};
use tracing::Subscriber;
use tracing_subscriber::{
    EnvFilter, Layer,
    filter::{FilterExt, Targets, dynamic_filter_fn},
    layer::SubscriberExt,
    registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::config::Settings;

/// How long one export may take before the batch is dropped.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutdown waits for the last batch to leave.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The running span export; [`TraceExport::shutdown`] sends what is
/// still buffered (call it after the server has drained).
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Exports the buffered spans and stops the export thread.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown_with_timeout(FLUSH_TIMEOUT) {
            tracing::warn!(error = %e, "the last spans could not be exported");
        }
    }
}

/// Installs the process-wide subscriber the settings describe; the
/// export, when configured, is returned to be shut down at exit. Must run
/// inside the Tokio runtime (the exporter's gRPC channel lives on it).
pub fn install(settings: &Settings) -> anyhow::Result<Option<TraceExport>> {
    let (layer, export) = layers(settings)?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .context("installing the tracing subscriber")?;
    Ok(export)
}

/// The log layer and, with an OTLP endpoint, the export layer, for a
/// subscriber built elsewhere (`hotline bench` adds a switch in front).
pub fn layers<S>(
    settings: &Settings,
) -> anyhow::Result<(Box<dyn Layer<S> + Send + Sync>, Option<TraceExport>)>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let logs = log_layer(settings)?;
    let Some(endpoint) = settings.telemetry.otlp_endpoint() else {
        return Ok((logs, None));
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .with_context(|| format!("building the OTLP exporter for {endpoint}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(SampledAtTheDoor {
            otherwise: Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                settings.telemetry.sample_ratio,
            ))),
        })
        .with_resource(
            Resource::builder()
                .with_service_name(settings.telemetry.service_name.clone())
                .build(),
        )
        .build();
    // No thread, source location or busy/idle attributes: the `rpc` span's
    // location is always the gRPC layer's, and tracking busy and idle time
    // reads the clock and the span's extensions on every poll of the
    // request (measured: the per-poll work was the largest share of what
    // telemetry costs, docs/performance.md).
    // Nor context activation: it starts the OpenTelemetry span at the
    // first enter and attaches its context to the thread at every enter
    // (every poll of the RPC), for code that reads
    // `opentelemetry::Context::current()`, which hotline has none of;
    // parents come from the `tracing` span tree all the same.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("hotline"))
        .with_context_activation(false)
        .with_threads(false)
        .with_location(false)
        .with_tracked_inactivity(false);
    // Checked by `Settings::validate`. Nothing inside `untraced`: a
    // dynamic filter, asked at every span, where a plain `filter_fn` would
    // cache its first answer per callsite.
    let door = dynamic_filter_fn(|_, _| !UNTRACED.get());
    let spec = settings.telemetry.span_filter.as_str();
    let spans = match spec.parse::<Targets>() {
        Ok(targets) => spans.with_filter(targets.and(door)).boxed(),
        Err(_) => spans
            .with_filter(
                EnvFilter::try_new(spec)
                    .context("telemetry.span_filter")?
                    .and(door),
            )
            .boxed(),
    };
    Ok((logs.and_then(spans).boxed(), Some(TraceExport { provider })))
}

/// Log lines on standard error, as `log.format` and `log.filter` say.
fn log_layer<S>(settings: &Settings) -> anyhow::Result<Box<dyn Layer<S> + Send + Sync>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    // `RUST_LOG` overrides the setting, as it does for any Rust program,
    // when it is a filter at all.
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let parses = |spec: &&str| spec.parse::<Targets>().is_ok() || EnvFilter::try_new(spec).is_ok();
    let spec = from_env
        .as_deref()
        .filter(parses)
        .unwrap_or(&settings.log.filter);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(terminal);
    // `log.filter` is checked by `Settings::validate`.
    if settings.log.format == "json" {
        filtered(fmt.json(), spec).context("log.filter")
    } else {
        filtered(fmt, spec).context("log.filter")
    }
}

/// `layer` behind the filter a `tracing` directive string describes: a plain
/// list of targets and levels (`hotline=info,sqlx=warn`, the usual case) as a
/// [`Targets`] filter, which decides once per callsite and keeps no state per
/// span; anything richer (span or field directives) as an [`EnvFilter`],
/// which looks up its span directives on every enter and exit of every span.
fn filtered<S, L>(layer: L, spec: &str) -> anyhow::Result<Box<dyn Layer<S> + Send + Sync>>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
    L: Layer<S> + Send + Sync + 'static,
{
    Ok(match spec.parse::<Targets>() {
        Ok(targets) => layer.with_filter(targets).boxed(),
        Err(_) => layer.with_filter(EnvFilter::try_new(spec)?).boxed(),
    })
}

thread_local! {
    /// Set while an RPC the door left out is being polled (see [`untraced`]).
    static UNTRACED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the export blind to every span it opens, and to the
/// spans those open: the RPC the gRPC layer did not sample. A span's
/// filters are decided when it is created, so its later enters, records
/// and close skip the export too.
pub fn untraced<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the flag however `f` ends (a panic in a handler included).
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNTRACED.set(self.0);
        }
    }
    let _restore = Restore(UNTRACED.replace(true));
    f()
}

/// Which RPCs are traced, decided before the span is opened: a client's
/// `traceparent` decides by its sampled flag; otherwise a draw against
/// `telemetry.sample_ratio`. `None` when nothing is exported (every span
/// then serves the log lines only, as they ask).
#[derive(Debug, Clone, Copy)]
pub struct RpcSampling(Option<f64>);

impl RpcSampling {
    /// As the settings say.
    pub fn from_settings(settings: &Settings) -> Self {
        Self(
            settings
                .telemetry
                .otlp_endpoint()
                .map(|_| settings.telemetry.sample_ratio),
        )
    }

    /// Whether an RPC with this remote parent is traced.
    pub fn traces(self, parent: Option<&Context>) -> bool {
        match (self.0, parent) {
            (None, _) => true,
            (Some(_), Some(cx)) => cx.span().span_context().is_sampled(),
            (Some(ratio), None) => rand::random::<f64>() < ratio,
        }
    }
}

/// The export's sampler: a server span with no parent is an RPC the gRPC
/// layer already sampled at the door ([`RpcSampling`]), so it is kept (a
/// second draw would make the ratio its square); every other span as
/// `otherwise` says (parent-based on the ratio).
#[derive(Debug, Clone)]
struct SampledAtTheDoor {
    otherwise: Sampler,
}

impl ShouldSample for SampledAtTheDoor {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        trace_id: TraceId,
        name: &str,
        kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let root = parent.is_none_or(|cx| !cx.has_active_span());
        if root && *kind == SpanKind::Server {
            return SamplingResult {
                decision: SamplingDecision::RecordAndSample,
                attributes: Vec::new(),
                trace_state: TraceState::default(),
            };
        }
        self.otherwise
            .should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

/// Looked up on every call: a `&str` key would be parsed each time.
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The trace context a client sent as W3C `traceparent` (and
/// `tracestate`) metadata, when it sent a valid one.
pub fn remote_parent(headers: &HeaderMap) -> Option<opentelemetry::Context> {
    let traceparent = headers.get(TRACEPARENT)?.to_str().ok()?;
    // The propagator pads a short id; W3C says to ignore the header then.
    let lengths: Vec<usize> = traceparent.split('-').map(str::len).collect();
    if lengths.get(..4) != Some(&[2, 32, 16, 2]) {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&Metadata(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// gRPC metadata as the propagator reads it.
struct Metadata<'a>(&'a HeaderMap);

impl Extractor for Metadata<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a test failure

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn a_valid_traceparent_gives_the_clients_trace_and_span() {
        let cx = remote_parent(&headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]))
        .unwrap();
        let span = cx.span();
        let sc = span.span_context();
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
        assert!(sc.is_sampled());
        assert!(sc.is_remote());
    }

    #[test]
    fn the_door_follows_the_clients_flag_then_the_ratio() {
        let parent = |flag: &'static str| {
            let value = format!("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-{flag}");
            let mut map = HeaderMap::new();
            map.insert("traceparent", http::HeaderValue::from_str(&value).unwrap());
            remote_parent(&map).unwrap()
        };
        let (sampled, unsampled) = (parent("01"), parent("00"));
        for ratio in [0.0, 1.0] {
            let door = RpcSampling(Some(ratio));
            assert!(door.traces(Some(&sampled)), "{ratio}");
            assert!(!door.traces(Some(&unsampled)), "{ratio}");
        }
        assert!(!RpcSampling(Some(0.0)).traces(None));
        assert!(RpcSampling(Some(1.0)).traces(None));
        let half = (0..2000)
            .filter(|_| RpcSampling(Some(0.5)).traces(None))
            .count();
        assert!((800..1200).contains(&half), "{half} of 2000");
        // Nothing exported: every span is there for the logs.
        assert!(RpcSampling(None).traces(Some(&unsampled)));
    }

    #[test]
    fn untraced_restores_the_flag_however_it_ends() {
        assert!(!UNTRACED.get());
        untraced(|| {
            assert!(UNTRACED.get());
            untraced(|| assert!(UNTRACED.get()));
            assert!(UNTRACED.get(), "an inner scope keeps the outer's");
        });
        assert!(!UNTRACED.get());
        let panicked = std::panic::catch_unwind(|| untraced(|| panic!("handler")));
        assert!(panicked.is_err());
        assert!(!UNTRACED.get(), "restored after a panic");
    }

    #[test]
    fn no_or_malformed_traceparent_gives_no_parent() {
        assert!(remote_parent(&HeaderMap::new()).is_none());
        for bad in [
            "",
            "garbage",
            // All-zero trace id is invalid by the W3C spec.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            let mut map = HeaderMap::new();
            map.insert("traceparent", http::HeaderValue::from_str(bad).unwrap());
            assert!(remote_parent(&map).is_none(), "{bad:?}");
        }
    }
}
