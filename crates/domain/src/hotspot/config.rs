//! The detector's thresholds and bounds, with the defaults measured by
//! `hotline bench hotspots` (docs/hotspots.md).

use serde::{Deserialize, Serialize};

/// Thresholds and bounds of the hotspot detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotspotConfig {
    /// Minutes back that a cluster's "recent" count covers.
    pub window_minutes: u32,
    /// Sketch similarity (estimated Jaccard of character 2/3-grams) from
    /// which a ticket joins a cluster of its street: above unrelated
    /// requests of one subject, below the paraphrases of one matter.
    pub join_similarity: f64,
    /// Similarity from which a ticket joins a hotspot of another street of
    /// its district (a matter that spans streets, a bus line, a river):
    /// stricter than within a street.
    pub district_join_similarity: f64,
    /// Fewest recent tickets of a hotspot.
    pub min_count: u32,
    /// Fewest distinct callers among them: one caller calling five times is
    /// a persistent citizen, not a hot issue.
    pub min_callers: u32,
    /// Largest chance of the recent count by coincidence (Poisson tail
    /// against the area's and subject's usual rate).
    pub max_chance: f64,
    /// Share of an area's and subject's usual tickets that would join any
    /// one cluster by coincidence: turns the area's rate into the expected
    /// count of one cluster.
    pub similar_share: f64,
    /// Lowest usual rate assumed (tickets per hour), so a quiet or new area
    /// does not make three similar tickets look like a miracle.
    pub min_rate_per_hour: f64,
    /// Time constant of the usual rate, hours.
    pub baseline_hours: f64,
    /// Minutes after its last ticket that a cluster that is not a hotspot
    /// is forgotten.
    pub cluster_idle_minutes: u32,
    /// Minutes after its last ticket that a hotspot is forgotten (closed).
    pub hotspot_idle_minutes: u32,
    /// Hours after its last ticket that an area's usual rate is forgotten.
    pub baseline_idle_hours: u32,
    /// Most clusters held at once; past it the longest idle go first.
    pub max_clusters: usize,
    /// Most area-subject rates held at once; past it the longest idle go.
    pub max_baselines: usize,
    /// Most recent members a cluster keeps (its count goes on).
    pub max_members: usize,
    /// Sketches a cluster is compared by: its first members'.
    pub exemplars: usize,
    /// Share of recent tickets above which a shingle is boilerplate and
    /// left out of the sketches.
    pub boilerplate_share: f64,
    /// Tickets after which the shingle counts behind `boilerplate_share`
    /// halve (how far back "recent" reaches).
    pub boilerplate_halve_every: u32,
}

impl Default for HotspotConfig {
    fn default() -> Self {
        Self {
            window_minutes: 120,
            join_similarity: 0.12,
            district_join_similarity: 0.3,
            min_count: 4,
            min_callers: 3,
            max_chance: 1e-4,
            similar_share: 0.02,
            min_rate_per_hour: 0.5,
            baseline_hours: 24.0,
            cluster_idle_minutes: 180,
            hotspot_idle_minutes: 720,
            baseline_idle_hours: 168,
            max_clusters: 100_000,
            max_baselines: 100_000,
            max_members: 256,
            exemplars: 3,
            boilerplate_share: 0.01,
            boilerplate_halve_every: 50_000,
        }
    }
}
