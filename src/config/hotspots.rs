//! The hotspot detector each replica runs, and how WatchHotspots follows
//! other replicas (docs/hotspots.md).

use serde::{Deserialize, Serialize};

use super::Invalid;
use crate::domain::hotspot::HotspotConfig;

/// The detector of each replica and its thresholds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HotspotSettings {
    /// Run the detector on this replica. Every replica may (and by default
    /// does): each reaches the same hotspots and records them once.
    pub enabled: bool,
    /// How often the detector reads the tickets created since it last
    /// looked.
    pub poll_interval_ms: u64,
    /// How often a replica with WatchHotspots streams open looks for
    /// hotspots another replica recorded or changed.
    pub watch_poll_ms: u64,
    /// The detector's thresholds and bounds (`hotline bench hotspots`
    /// measured the defaults).
    pub detector: HotspotConfig,
}

impl Default for HotspotSettings {
    /// A second's delay between a ticket and the hotspot it completes is
    /// nothing against the 5-hour response the hotspot asks for; half a
    /// second for a watcher on another replica.
    fn default() -> Self {
        Self {
            enabled: true,
            poll_interval_ms: 1000,
            watch_poll_ms: 500,
            detector: HotspotConfig::default(),
        }
    }
}

impl HotspotSettings {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        let ensure = |ok: bool, key: &str, message: &str| {
            Invalid::unless(ok, format!("hotspots.{key}"), message)
        };
        let share = |v: f64| v > 0.0 && v <= 1.0;
        let d = &self.detector;
        let within =
            |value: u64, range, key: &str| Invalid::within(value, range, format!("hotspots.{key}"));
        within(self.poll_interval_ms, 10..=3_600_000, "poll_interval_ms")?;
        within(self.watch_poll_ms, 10..=60_000, "watch_poll_ms")?;
        within(
            u64::from(d.window_minutes),
            1..=1440,
            "detector.window_minutes",
        )?;
        for (key, value) in [
            ("join_similarity", d.join_similarity),
            ("district_join_similarity", d.district_join_similarity),
            ("max_chance", d.max_chance),
            ("similar_share", d.similar_share),
            ("boilerplate_share", d.boilerplate_share),
        ] {
            ensure(
                share(value),
                &format!("detector.{key}"),
                "must be above 0 and at most 1",
            )?;
        }
        ensure(d.min_count >= 2, "detector.min_count", "must be at least 2")?;
        ensure(
            (1..=d.min_count).contains(&d.min_callers),
            "detector.min_callers",
            "must be between 1 and min_count",
        )?;
        ensure(
            d.min_rate_per_hour > 0.0 && d.baseline_hours > 0.0,
            "detector.min_rate_per_hour",
            "min_rate_per_hour and baseline_hours must be above 0",
        )?;
        ensure(
            d.cluster_idle_minutes >= d.window_minutes
                && d.hotspot_idle_minutes >= d.window_minutes,
            "detector.hotspot_idle_minutes",
            "cluster_idle_minutes and hotspot_idle_minutes must be at least window_minutes",
        )?;
        ensure(
            d.hotspot_idle_minutes <= 10_080 && d.cluster_idle_minutes <= 10_080,
            "detector.hotspot_idle_minutes",
            "at most 10080 (a week: a restart replays that much)",
        )?;
        ensure(
            d.max_clusters >= 1 && d.max_baselines >= 1 && d.max_members >= 1 && d.exemplars >= 1,
            "detector.max_clusters",
            "max_clusters, max_baselines, max_members and exemplars must be at least 1",
        )?;
        ensure(
            d.boilerplate_halve_every >= 1,
            "detector.boilerplate_halve_every",
            "must be at least 1",
        )
    }
}
