//! Metric handles the use cases record into (routing decisions, the
//! sweeper, the hotspot detector). The server registers them in its registry
//! (`crate::telemetry`); by default every handle is a no-op, so the CLI's
//! commands and `hotline bench`'s raw baseline record nothing.

use ::metrics::{Counter, Gauge};

/// Handles of the workflow's operational metrics.
#[derive(Debug, Clone)]
pub struct Instruments {
    /// `hotline_routing_decisions_total{source="rule"}`.
    pub routed_by_rule: Counter,
    /// `hotline_routing_decisions_total{source="model"}`: the dispatch model.
    pub routed_by_model: Counter,
    /// `hotline_routing_decisions_total{source="fallback"}` (兜底).
    pub routed_by_fallback: Counter,
    /// `hotline_routing_decisions_total{source="triage"}`: no unit decided.
    pub routed_to_triage: Counter,
    /// `hotline_sweeper_rounds_total`.
    pub sweeper_rounds: Counter,
    /// `hotline_sweeper_crossings_total`.
    pub sweeper_crossings: Counter,
    /// `hotline_sweeper_lag_seconds`.
    pub sweeper_lag_seconds: Gauge,
}

impl Default for Instruments {
    fn default() -> Self {
        Self {
            routed_by_rule: Counter::noop(),
            routed_by_model: Counter::noop(),
            routed_by_fallback: Counter::noop(),
            routed_to_triage: Counter::noop(),
            sweeper_rounds: Counter::noop(),
            sweeper_crossings: Counter::noop(),
            sweeper_lag_seconds: Gauge::noop(),
        }
    }
}

/// Handles of the hotspot detector's metrics.
#[derive(Debug, Clone)]
pub struct HotspotInstruments {
    /// `hotline_hotspots_detected_total`: hotspots this replica recorded
    /// first (summed over replicas: every hotspot once).
    pub detected: Counter,
    /// `hotline_hotspot_detector_lag_tickets`: while the detector reads a
    /// backlog, the tickets created after the latest one it has read; 0
    /// once a read reaches the head of the log.
    pub lag_tickets: Gauge,
    /// `hotline_hotspot_detector_clusters`: clusters the detector holds
    /// (its memory is bounded by them).
    pub clusters: Gauge,
}

impl Default for HotspotInstruments {
    fn default() -> Self {
        Self {
            detected: Counter::noop(),
            lag_tickets: Gauge::noop(),
            clusters: Gauge::noop(),
        }
    }
}
