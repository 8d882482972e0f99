//! Metric handles the use cases record into (routing decisions, the
//! sweeper, the hotspot detector, the knowledge base). The server registers them in its registry
//! (`crate::telemetry`); by default every handle is a no-op, so the CLI's
//! commands and `hotline bench`'s raw baseline record nothing.

use ::metrics::{Counter, Gauge, Histogram};
use hotline_knowledge::Rebuild;

use super::workflow::CacheCounters;

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
    /// `hotline_hotspot_overdue_alerts_total`: overdue hotspot alerts this
    /// replica's sweeper raised.
    pub hotspot_overdue_alerts: Counter,
    /// `hotline_ticket_cache_lookups_total{outcome}`: the act path's
    /// ticket cache.
    pub ticket_cache: CacheCounters,
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
            hotspot_overdue_alerts: Counter::noop(),
            ticket_cache: CacheCounters::default(),
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

/// What became of a search or a suggestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryOutcome {
    /// At least one article found.
    Hits,
    /// Answered, nothing found.
    Empty,
    /// Refused as INVALID_ARGUMENT (empty, punctuation only, too long).
    Invalid,
    /// The index failed.
    Error,
}

impl QueryOutcome {
    /// Every outcome, in label order.
    pub const ALL: [Self; 4] = [Self::Hits, Self::Empty, Self::Invalid, Self::Error];

    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hits => "hits",
            Self::Empty => "empty",
            Self::Invalid => "invalid",
            Self::Error => "error",
        }
    }
}

/// The handles of one kind of query (`search` or `suggest`).
#[derive(Debug, Clone)]
pub struct QueryInstruments {
    /// `hotline_knowledge_queries_total{kind, outcome}`, in
    /// [`QueryOutcome::ALL`] order.
    pub outcomes: [Counter; 4],
    /// `hotline_knowledge_query_duration_seconds{kind}`.
    pub seconds: Histogram,
}

impl QueryInstruments {
    /// Counts one query of `outcome` that took `elapsed`.
    pub fn record(&self, outcome: QueryOutcome, elapsed: std::time::Duration) {
        let at = QueryOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_default();
        if let Some(counter) = self.outcomes.get(at) {
            counter.increment(1);
        }
        self.seconds.record(elapsed.as_secs_f64());
    }
}

impl Default for QueryInstruments {
    fn default() -> Self {
        Self {
            outcomes: std::array::from_fn(|_| Counter::noop()),
            seconds: Histogram::noop(),
        }
    }
}

/// Handles of the knowledge base's search and index (no-ops by default).
#[derive(Debug, Clone)]
pub struct KnowledgeInstruments {
    /// SearchArticles.
    pub search: QueryInstruments,
    /// SuggestArticles.
    pub suggest: QueryInstruments,
    /// `hotline_knowledge_index_documents`: articles searches see.
    pub documents: Gauge,
    /// `hotline_knowledge_follow_lag`: changes committed but not applied.
    pub follow_lag: Gauge,
    /// `hotline_knowledge_index_rebuilds_total{reason}`, one per
    /// [`Rebuild::ALL`] reason in that order.
    pub rebuilds: [Counter; 6],
}

impl KnowledgeInstruments {
    /// Counts a rebuild for `reason`.
    pub fn rebuilt(&self, reason: Rebuild) {
        let at = Rebuild::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or_default();
        if let Some(counter) = self.rebuilds.get(at) {
            counter.increment(1);
        }
    }
}

impl Default for KnowledgeInstruments {
    fn default() -> Self {
        Self {
            search: QueryInstruments::default(),
            suggest: QueryInstruments::default(),
            documents: Gauge::noop(),
            follow_lag: Gauge::noop(),
            rebuilds: std::array::from_fn(|_| Counter::noop()),
        }
    }
}
