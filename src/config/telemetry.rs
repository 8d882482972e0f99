//! Per-RPC instrumentation and trace export (`[telemetry]`).

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Per-RPC instrumentation and trace export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Count, time and open a span for every RPC (the tower layer of
    /// [`crate::telemetry::grpc`]). Off only to measure what it costs.
    pub rpc: bool,
    /// OTLP/gRPC collector to send spans to, e.g. `http://otel-collector:4317`;
    /// unset or empty: no export.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Which spans are exported (a `tracing` filter, apart from
    /// `log.filter`): the `rpc` span is `info` in target `hotline`, the
    /// store's spans `debug` in `hotline_store` (not by default: they
    /// double the export's cost).
    pub span_filter: String,
    /// Share of traces started here that are exported (0.0–1.0); a trace
    /// continued from a client's `traceparent` follows the client's choice.
    /// Default 0.1: at intake rates every RPC's span exported costs about
    /// 5 % of the server's CPU (encoding, the export's network), a tenth
    /// of them is within the measurement's noise (docs/performance.md),
    /// and a tenth of a busy centre's calls still shows every kind of
    /// request many times a minute. 1.0 while chasing one problem.
    pub sample_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            rpc: true,
            otlp_endpoint: None,
            service_name: "hotline".into(),
            span_filter: "hotline=info".into(),
            sample_ratio: 0.1,
        }
    }
}

impl TelemetrySettings {
    /// The collector's URL, unless export is off.
    pub fn otlp_endpoint(&self) -> Option<&str> {
        self.otlp_endpoint
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
    }

    pub(super) fn check(&self) -> Result<(), Invalid> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(Invalid::new(
                "telemetry.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.span_filter).map_err(|e| {
            Invalid::new(
                "telemetry.span_filter",
                format!("is not a tracing filter: {e}"),
            )
        })?;
        if self.service_name.trim().is_empty() {
            return Err(Invalid::new("telemetry.service_name", "must not be empty"));
        }
        if let Some(endpoint) = self.otlp_endpoint() {
            let uri: http::Uri = endpoint.parse().map_err(|e| {
                Invalid::new("telemetry.otlp_endpoint", format!("is not a URL: {e}"))
            })?;
            // Plain gRPC: spans go to a collector next to the server (a
            // sidecar, a node agent), which forwards them on its own TLS.
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err(Invalid::new(
                    "telemetry.otlp_endpoint",
                    "must be an http:// URL with a host, e.g. http://otel-collector:4317 \
                     (TLS to the collector is the collector's own forwarding)",
                ));
            }
        }
        Ok(())
    }
}
