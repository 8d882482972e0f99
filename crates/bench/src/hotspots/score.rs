//! Scoring a detector run against the labelled surges.
//!
//! How a hotspot is matched: at the moment the detector declares it, the
//! tickets of its cluster so far are counted by the surge they belong to
//! (background tickets belong to none); it matches the surge holding at
//! least half of them, else it is a false positive. A surge is detected
//! when a hotspot matches it; its delay runs from its first ticket to the
//! first matching hotspot. A surge matched by several hotspots (split
//! clusters) counts once for recall; the extra hotspots are true but are
//! reported as splits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hotline::domain::hotspot::ClusterId;
use serde::Serialize;

use super::stream::{SURGE_MINUTES, SURGE_SIZES, Surge};

/// Surge labels of a cluster's tickets so far.
#[derive(Debug, Default)]
struct Labels {
    total: u32,
    by_surge: Vec<(usize, u32)>,
}

/// Collects cluster labels and hotspots during a run.
#[derive(Debug, Default)]
pub struct Scorer {
    labels: HashMap<ClusterId, Labels>,
    /// Per surge: how many of its tickets went to each cluster.
    spread: HashMap<usize, HashMap<ClusterId, u32>>,
    /// Hotspots declared, and when.
    declared_at: HashMap<ClusterId, DateTime<Utc>>,
    /// Per surge: when first detected.
    detected: HashMap<usize, DateTime<Utc>>,
    true_hotspots: u32,
    false_hotspots: u32,
    warmup_hotspots: u32,
    splits: u32,
}

impl Scorer {
    /// A ticket of `surge` (or of the background) went to `cluster`.
    pub fn assign(&mut self, cluster: ClusterId, surge: Option<usize>) {
        let labels = self.labels.entry(cluster).or_default();
        labels.total += 1;
        if let Some(s) = surge {
            *self
                .spread
                .entry(s)
                .or_default()
                .entry(cluster)
                .or_default() += 1;
            match labels.by_surge.iter_mut().find(|(i, _)| *i == s) {
                Some((_, n)) => *n += 1,
                None => labels.by_surge.push((s, 1)),
            }
        }
    }

    /// The detector declared `cluster` a hotspot at `at`.
    pub fn declared(&mut self, cluster: ClusterId, at: DateTime<Utc>, scored: bool) {
        self.declared_at.insert(cluster, at);
        if !scored {
            self.warmup_hotspots += 1;
            return;
        }
        let matched = self.labels.get(&cluster).and_then(|l| {
            l.by_surge
                .iter()
                .find(|(_, n)| 2 * n >= l.total)
                .map(|(s, _)| *s)
        });
        match matched {
            Some(surge) => {
                self.true_hotspots += 1;
                match self.detected.entry(surge) {
                    std::collections::hash_map::Entry::Occupied(_) => self.splits += 1,
                    std::collections::hash_map::Entry::Vacant(first) => {
                        first.insert(at);
                    }
                }
            }
            None => self.false_hotspots += 1,
        }
    }

    /// Forgets clusters the detector no longer holds (keeps the bench's
    /// own bookkeeping bounded like the detector's).
    pub fn retain(&mut self, live: impl Fn(ClusterId) -> bool) {
        self.labels.retain(|id, _| live(*id));
    }

    /// The figures.
    pub fn finish(&self, surges: &[Surge], days_scored: f64) -> Quality {
        let delays = |filter: &dyn Fn(&Surge) -> bool| -> (u32, u32, Vec<f64>) {
            let mut delays = Vec::new();
            let mut total = 0;
            for (i, s) in surges.iter().enumerate().filter(|(_, s)| filter(s)) {
                total += 1;
                if let Some(at) = self.detected.get(&i) {
                    delays.push((*at - s.start).num_seconds() as f64 / 60.0);
                }
            }
            delays.sort_by(f64::total_cmp);
            (total, delays.len() as u32, delays)
        };
        let target = |s: &Surge| s.size >= 10 && s.minutes <= 120;
        let (target_total, target_found, target_delays) = delays(&target);
        let (all_total, all_found, _) = delays(&|_| true);
        let mut classes = Vec::new();
        for size in SURGE_SIZES {
            for minutes in SURGE_MINUTES {
                let (total, found, d) = delays(&|s| s.size == size && s.minutes == minutes);
                classes.push(ClassFigures {
                    size,
                    minutes,
                    surges: total,
                    detected: found,
                    median_delay_minutes: quantile(&d, 0.5),
                });
            }
        }
        let hotspots = self.true_hotspots + self.false_hotspots;
        let missed = surges
            .iter()
            .enumerate()
            .filter(|(i, s)| target(s) && !self.detected.contains_key(i))
            .map(|(i, s)| {
                let spread = self.spread.get(&i);
                let largest = spread.and_then(|c| c.iter().max_by_key(|(id, n)| (**n, **id)));
                let hot_since = largest.and_then(|(id, _)| self.declared_at.get(id));
                Missed {
                    size: s.size,
                    minutes: s.minutes,
                    clusters: spread.map_or(0, |c| c.len() as u32),
                    largest_cluster: largest.map_or(0, |(_, n)| *n),
                    hot_minutes_before: hot_since.map(|at| (s.start - *at).num_minutes()),
                }
            })
            .collect();
        Quality {
            target_surges: target_total,
            target_recall: ratio(target_found, target_total),
            all_surges: all_total,
            all_recall: ratio(all_found, all_total),
            hotspots,
            precision: ratio(self.true_hotspots, hotspots),
            false_positives: self.false_hotspots,
            false_positives_per_day: f64::from(self.false_hotspots) / days_scored.max(1e-9),
            splits: self.splits,
            warmup_hotspots: self.warmup_hotspots,
            target_median_delay_minutes: quantile(&target_delays, 0.5),
            target_p90_delay_minutes: quantile(&target_delays, 0.9),
            classes,
            missed,
        }
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        1.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

/// The `q` quantile of sorted values (nearest rank); 0 when empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Detection quality of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    /// Surges of 10+ tickets within 2 hours (the target class).
    pub target_surges: u32,
    /// Of which detected.
    pub target_recall: f64,
    /// Every injected surge.
    pub all_surges: u32,
    /// Of which detected.
    pub all_recall: f64,
    /// Hotspots declared after the warm-up.
    pub hotspots: u32,
    /// Of which matched a surge.
    pub precision: f64,
    /// Hotspots matching no surge.
    pub false_positives: u32,
    /// Per simulated day after the warm-up.
    pub false_positives_per_day: f64,
    /// Extra hotspots of an already detected surge.
    pub splits: u32,
    /// Hotspots declared during the warm-up (not scored).
    pub warmup_hotspots: u32,
    /// Minutes from a target surge's first ticket to its detection.
    pub target_median_delay_minutes: f64,
    /// 90th percentile of the same.
    pub target_p90_delay_minutes: f64,
    /// By surge size and duration.
    pub classes: Vec<ClassFigures>,
    /// Target surges not detected, and how their tickets spread.
    pub missed: Vec<Missed>,
}

/// A target surge the detector missed.
#[derive(Debug, Clone, Serialize)]
pub struct Missed {
    /// Tickets.
    pub size: u32,
    /// Minutes.
    pub minutes: u32,
    /// Clusters its tickets went to.
    pub clusters: u32,
    /// Most of its tickets in one cluster.
    pub largest_cluster: u32,
    /// When that cluster was a hotspot already (of other tickets), minutes
    /// before the surge began; negative when it became one during the surge
    /// while its other tickets outnumbered the surge's.
    pub hot_minutes_before: Option<i64>,
}

/// Figures of one surge size and duration.
#[derive(Debug, Clone, Serialize)]
pub struct ClassFigures {
    /// Tickets per surge.
    pub size: u32,
    /// Minutes per surge.
    pub minutes: u32,
    /// Surges injected.
    pub surges: u32,
    /// Of which detected.
    pub detected: u32,
    /// Median delay of those detected, minutes.
    pub median_delay_minutes: f64,
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    #[test]
    fn a_hotspot_matches_the_surge_holding_half_its_tickets() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap();
        let surges = vec![
            Surge {
                size: 10,
                minutes: 60,
                street: 0,
                start: t0,
            },
            Surge {
                size: 10,
                minutes: 60,
                street: 1,
                start: t0,
            },
        ];
        let mut s = Scorer::default();
        for label in [Some(0), Some(0), None, None] {
            s.assign(1, label);
        }
        s.declared(1, t0 + Duration::minutes(20), true);
        for label in [Some(1), None, None] {
            s.assign(2, label);
        }
        s.declared(2, t0 + Duration::minutes(30), true);
        s.declared(3, t0, false);
        let q = s.finish(&surges, 1.0);
        assert_eq!(
            (q.hotspots, q.false_positives, q.warmup_hotspots),
            (2, 1, 1)
        );
        assert_eq!(q.target_recall, 0.5);
        assert_eq!(q.precision, 0.5);
        assert_eq!(q.target_median_delay_minutes, 20.0);
    }
}
