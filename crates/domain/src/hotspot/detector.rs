//! The streaming detector: clusters, area indexes, usual rates.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::{
    ClusterId, HotspotConfig, Sighting,
    baseline::{Rate, poisson_tail},
    cluster::{Cluster, Heat},
    common::Common,
    sketch::Sketch,
};
use crate::duplicates::{Shingles, fnv1a_str};

/// How often idle clusters and rates are swept, in ticket time.
const SWEEP_EVERY_MINUTES: i64 = 5;

/// A cluster in an area's index, with its first ticket's sketch inline so
/// a new ticket is screened by one pass over contiguous memory.
#[derive(Debug, Clone)]
struct Entry {
    cluster: ClusterId,
    seed: Sketch,
}

/// What became of one ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<Id> {
    /// The cluster it joined or started.
    pub cluster: ClusterId,
    /// Whether it joined an existing cluster.
    pub joined: bool,
    /// The cluster's heat, when this ticket made it a hotspot.
    pub became_hotspot: Option<Heat<Id>>,
}

/// How much the detector holds: its memory is bounded by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Clusters held.
    pub clusters: usize,
    /// Of which hotspots.
    pub hotspots: usize,
    /// Sketches held: clusters' exemplars and index entries.
    pub sketches: usize,
    /// Area-subject rates held.
    pub rates: usize,
}

/// The streaming hotspot detector (see the module documentation).
#[derive(Debug, Clone)]
pub struct Detector<Id> {
    config: HotspotConfig,
    clusters: HashMap<ClusterId, Cluster<Id>>,
    by_area: HashMap<String, Vec<Entry>>,
    /// Hotspots by district: a hot matter that spreads to the next street
    /// (a bus line, a river) is followed there; clusters that are not hot
    /// stay within their street, or the coincidences of a whole district
    /// would chain into false hotspots.
    by_district: HashMap<String, Vec<Entry>>,
    rates: HashMap<(String, String), Rate>,
    common: Common,
    next_id: ClusterId,
    now: Option<DateTime<Utc>>,
    swept: Option<DateTime<Utc>>,
}

impl<Id: Copy> Detector<Id> {
    /// An empty detector.
    pub fn new(config: HotspotConfig) -> Self {
        Self {
            common: Common::new(config.boilerplate_halve_every),
            config,
            clusters: HashMap::new(),
            by_area: HashMap::new(),
            by_district: HashMap::new(),
            rates: HashMap::new(),
            next_id: 1,
            now: None,
            swept: None,
        }
    }

    /// The thresholds in force.
    pub fn config(&self) -> &HotspotConfig {
        &self.config
    }

    /// Takes in one new ticket. Time never runs backwards: a ticket older
    /// than the latest seen counts as of the latest.
    pub fn observe(&mut self, sighting: &Sighting<'_, Id>) -> Observation<Id> {
        let now = self.now.map_or(sighting.at, |n| n.max(sighting.at));
        self.now = Some(now);
        self.sweep_if_due(now);
        self.record_rate(sighting, now);
        let shingles = Shingles::of(sighting.title, sighting.description);
        let share = self.config.boilerplate_share;
        let common = &self.common;
        let sketch = Sketch::of_hashes(
            shingles
                .hashes()
                .iter()
                .copied()
                .filter(|h| !common.is_common(*h, share)),
        );
        self.common.record(shingles.hashes());
        let caller = fnv1a_str(sighting.caller);
        let (cluster, joined) = match self.best_match(sighting, &sketch) {
            Some(id) => {
                self.join(id, sighting, sketch, caller);
                (id, true)
            }
            None => (self.start(sighting, sketch, caller), false),
        };
        Observation {
            cluster,
            joined,
            became_hotspot: self.promote(cluster, now),
        }
    }

    /// The current hotspots with their heat at `now`, oldest cluster first.
    pub fn hotspots(&self, now: DateTime<Utc>) -> Vec<(ClusterId, Heat<Id>)> {
        let mut hot: Vec<(ClusterId, Heat<Id>)> = self
            .clusters
            .iter()
            .filter(|(_, c)| c.hot_since.is_some())
            .map(|(id, c)| (*id, c.heat(now, self.window())))
            .collect();
        hot.sort_by_key(|(id, _)| *id);
        hot
    }

    /// The heat of one cluster at `now`, if it is a hotspot: what the
    /// service records as a hotspot grows.
    pub fn heat_of(&self, id: ClusterId, now: DateTime<Utc>) -> Option<Heat<Id>> {
        self.clusters
            .get(&id)
            .filter(|c| c.hot_since.is_some())
            .map(|c| c.heat(now, self.window()))
    }

    /// The latest ticket time seen: the detector's now.
    pub fn now(&self) -> Option<DateTime<Utc>> {
        self.now
    }

    /// Whether the detector still holds a cluster (an idle one is
    /// forgotten).
    pub fn holds(&self, id: ClusterId) -> bool {
        self.clusters.contains_key(&id)
    }

    /// What the detector holds.
    pub fn stats(&self) -> Stats {
        Stats {
            clusters: self.clusters.len(),
            hotspots: self
                .clusters
                .values()
                .filter(|c| c.hot_since.is_some())
                .count(),
            sketches: self
                .clusters
                .values()
                .map(|c| c.exemplars.len())
                .sum::<usize>()
                + self.by_area.values().map(Vec::len).sum::<usize>()
                + self.by_district.values().map(Vec::len).sum::<usize>(),
            rates: self.rates.len(),
        }
    }

    fn window(&self) -> Duration {
        Duration::minutes(i64::from(self.config.window_minutes))
    }

    fn record_rate(&mut self, sighting: &Sighting<'_, Id>, now: DateTime<Utc>) {
        let key = (sighting.area().to_owned(), sighting.subject.to_owned());
        let tau = self.config.baseline_hours;
        self.rates
            .entry(key)
            .or_insert_with(|| Rate::new(now))
            .record(now, tau);
        if self.rates.len() > self.config.max_baselines.max(1) {
            let keep = self.config.max_baselines.max(1) * 9 / 10;
            let mut by_age: Vec<(DateTime<Utc>, (String, String))> = self
                .rates
                .iter()
                .map(|(k, r)| (r.last(), k.clone()))
                .collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(self.rates.len() - keep) {
                self.rates.remove(&key);
            }
        }
    }

    /// The most similar cluster of the ticket's area, else of its district
    /// at the stricter similarity; ties go to the one indexed first.
    /// Similarity to a cluster is the mean over its exemplars (its first
    /// tickets), not the best: a ticket that shares one clause with one
    /// member must not chain unrelated requests into one cluster.
    fn best_match(&self, sighting: &Sighting<'_, Id>, sketch: &Sketch) -> Option<ClusterId> {
        let best = |list: Option<&Vec<Entry>>, floor: f64| {
            let mut best: Option<(f64, ClusterId)> = None;
            for e in list.into_iter().flatten() {
                // Screen by the first ticket: a paraphrase is rarely less
                // than half as similar to it as to the cluster on average.
                if e.seed.similarity(sketch) < floor / 2.0 {
                    continue;
                }
                let Some(cluster) = self.clusters.get(&e.cluster) else {
                    continue;
                };
                let s = cluster.similarity(sketch);
                if s >= floor && best.is_none_or(|(b, _)| s > b) {
                    best = Some((s, e.cluster));
                }
            }
            best.map(|(_, id)| id)
        };
        best(
            self.by_area.get(sighting.area()),
            self.config.join_similarity,
        )
        .or_else(|| {
            best(
                self.by_district.get(sighting.district),
                self.config.district_join_similarity,
            )
        })
    }

    fn start(&mut self, sighting: &Sighting<'_, Id>, sketch: Sketch, caller: u64) -> ClusterId {
        let id = self.next_id;
        self.next_id += 1;
        self.by_area
            .entry(sighting.area().to_owned())
            .or_default()
            .push(Entry {
                cluster: id,
                seed: sketch.clone(),
            });
        self.clusters
            .insert(id, Cluster::start(sighting, sketch, caller));
        if self.clusters.len() > self.config.max_clusters.max(1) {
            self.evict_oldest();
        }
        id
    }

    fn join(&mut self, id: ClusterId, sighting: &Sighting<'_, Id>, sketch: Sketch, caller: u64) {
        let Some(cluster) = self.clusters.get_mut(&id) else {
            return;
        };
        cluster.join(sighting, sketch, caller, &self.config);
        let Some(seed) = cluster.exemplars.first().cloned() else {
            return;
        };
        let area = self.by_area.entry(sighting.area().to_owned()).or_default();
        if !area.iter().any(|e| e.cluster == id) {
            area.push(Entry { cluster: id, seed });
        }
    }

    /// Makes a cluster a hotspot when its recent count is improbable.
    fn promote(&mut self, id: ClusterId, now: DateTime<Utc>) -> Option<Heat<Id>> {
        let window = self.window();
        let cfg = &self.config;
        let cluster = self.clusters.get(&id)?;
        if cluster.hot_since.is_some() {
            return None;
        }
        let (recent, callers) = cluster.recent(now - window);
        if recent < cfg.min_count || callers < cfg.min_callers {
            return None;
        }
        let rate = self
            .rates
            .get(&(cluster.area.clone(), cluster.subject.clone()))
            .map_or(0.0, |r| r.per_hour(now, cfg.baseline_hours))
            .max(cfg.min_rate_per_hour);
        let lambda = rate * f64::from(cfg.window_minutes) / 60.0 * cfg.similar_share;
        if poisson_tail(recent, lambda) > cfg.max_chance {
            return None;
        }
        let cluster = self.clusters.get_mut(&id)?;
        cluster.hot_since = Some(now);
        if let Some(seed) = cluster.exemplars.first() {
            self.by_district
                .entry(cluster.district.clone())
                .or_default()
                .push(Entry {
                    cluster: id,
                    seed: seed.clone(),
                });
        }
        Some(cluster.heat(now, window))
    }

    fn sweep_if_due(&mut self, now: DateTime<Utc>) {
        let due = self
            .swept
            .is_none_or(|t| now - t >= Duration::minutes(SWEEP_EVERY_MINUTES));
        if !due {
            return;
        }
        self.swept = Some(now);
        let idle = Duration::minutes(i64::from(self.config.cluster_idle_minutes));
        let hot_idle = Duration::minutes(i64::from(self.config.hotspot_idle_minutes));
        self.clusters.retain(|_, c| {
            let ttl = if c.hot_since.is_some() {
                hot_idle
            } else {
                idle
            };
            now - c.last <= ttl
        });
        let rate_idle = Duration::hours(i64::from(self.config.baseline_idle_hours));
        self.rates.retain(|_, r| now - r.last() <= rate_idle);
        self.reindex();
    }

    /// Drops the longest idle tenth of the clusters (ties: the oldest id).
    fn evict_oldest(&mut self) {
        let mut by_age: Vec<(DateTime<Utc>, ClusterId)> =
            self.clusters.iter().map(|(id, c)| (c.last, *id)).collect();
        by_age.sort();
        let drop = (self.clusters.len() / 10).max(1);
        for (_, id) in by_age.into_iter().take(drop) {
            self.clusters.remove(&id);
        }
        self.reindex();
    }

    /// Removes forgotten clusters from the indexes.
    fn reindex(&mut self) {
        let clusters = &self.clusters;
        for index in [&mut self.by_area, &mut self.by_district] {
            index.retain(|_, list| {
                list.retain(|e| clusters.contains_key(&e.cluster));
                !list.is_empty()
            });
        }
    }
}
