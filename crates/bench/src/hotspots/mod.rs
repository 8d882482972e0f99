//! `hotline bench hotspots`: the hotspot detector on a simulated intake
//! with labelled surges, in simulated time (see docs/hotspots.md).
//!
//! Everything is seeded: the same options give the same stream, the same
//! clusters and the same quality figures (the cost figures are times).

pub mod score;
pub mod stream;
pub mod text;

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use chrono::Duration;
use clap::Args;
use hdrhistogram::Histogram;
use serde::Serialize;

use hotline::domain::hotspot::{Detector, HotspotConfig, Sighting};

use self::{
    score::{Quality, Scorer},
    stream::{Corpus, Stream, StreamPlan, streets},
};
use crate::memory::MemoryProbe;

/// Options of `hotline bench hotspots`.
#[derive(Debug, Clone, Args)]
pub struct HotspotOptions {
    /// Background tickets on an average day.
    #[arg(long, default_value_t = 80_000)]
    pub per_day: u32,
    /// Simulated days, the warm-up included.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Hours before the first surge, while the usual rates settle.
    #[arg(long, default_value_t = 24)]
    pub warmup_hours: u32,
    /// Streets of the simulated city (the demo city's 12, then more under
    /// its districts).
    #[arg(long, default_value_t = 240)]
    pub streets: usize,
    /// Surges of each size (6, 10, 20, 40) and duration (30, 60, 120, 240
    /// minutes) per day after the warm-up.
    #[arg(long, default_value_t = 2)]
    pub surges_per_class: u32,
    /// Seed of the stream.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Detector settings over the defaults, as JSON (the keys of
    /// `[hotspots]`, e.g. `{"min_count": 4}`).
    #[arg(long)]
    pub detector: Option<String>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct HotspotReport {
    /// Seed of the stream.
    pub seed: u64,
    /// Tickets fed to the detector.
    pub tickets: u64,
    /// Detection quality.
    pub quality: Quality,
    /// Detector CPU time per ticket, µs, mean (the thread's CPU time around
    /// the detector's calls: unlike the wall clock, not inflated when a
    /// busy machine takes the core away mid-call); `None` without /proc.
    pub cpu_mean_us: Option<f64>,
    /// Detector time per ticket, µs (wall clock): median.
    pub cost_p50_us: f64,
    /// 99th percentile.
    pub cost_p99_us: f64,
    /// Slowest.
    pub cost_max_us: f64,
    /// Most clusters held at once.
    pub peak_clusters: usize,
    /// Most sketches (256 bytes each) held at once.
    pub peak_sketches: usize,
    /// Most area-subject rates held at once.
    pub peak_rates: usize,
    /// Peak resident memory of the bench process (detector and stream
    /// generator), MiB, when /proc tells.
    pub peak_rss_mib: Option<f64>,
}

/// Tickets generated ahead of the detector at a time.
const CHUNK: usize = 4096;

/// This thread's CPU time, ns (Linux: the first field of
/// /proc/thread-self/schedstat); `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs the evaluation and prints its figures.
pub fn main(opts: &HotspotOptions) -> anyhow::Result<()> {
    let config = match &opts.detector {
        Some(json) => serde_json::from_str(json).context("--detector")?,
        None => HotspotConfig::default(),
    };
    let report = run(opts, config)?;
    print!("{}", render(&report));
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)?;
    }
    Ok(())
}

/// Runs the detector over the simulated stream.
pub fn run(opts: &HotspotOptions, config: HotspotConfig) -> anyhow::Result<HotspotReport> {
    let corpus = Corpus::built_in()?;
    let city = streets(opts.streets)?;
    let plan = StreamPlan {
        per_day: opts.per_day,
        days: opts.days,
        warmup_hours: opts.warmup_hours,
        streets: city.len(),
        surges_per_class_per_day: opts.surges_per_class,
        seed: opts.seed,
    };
    let probe = MemoryProbe::in_process();
    let start = probe.start();
    let mut stream = Stream::new(plan, &corpus);
    let scored_from = stream::epoch() + Duration::hours(i64::from(opts.warmup_hours));
    let mut detector: Detector<u64> = Detector::new(config);
    let mut scorer = Scorer::default();
    let mut cost = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let (mut tickets, mut peak, mut cpu_ns) = (0_u64, detector.stats(), Some(0_u64));
    loop {
        // Generated ahead in chunks, so the detector's CPU time can be read
        // around it alone.
        let chunk: Vec<_> = stream.by_ref().take(CHUNK).collect();
        if chunk.is_empty() {
            break;
        }
        let cpu_before = thread_cpu_ns();
        for ticket in &chunk {
            let street = &city[ticket.street];
            let sighting = Sighting {
                id: ticket.seq,
                at: ticket.at,
                street: Some(&street.code),
                district: &street.district,
                subject: &ticket.subject,
                caller: &ticket.caller,
                title: &ticket.title,
                description: &ticket.description,
            };
            let began = Instant::now();
            let observed = detector.observe(&sighting);
            cost.saturating_record(began.elapsed().as_nanos().max(1) as u64);
            scorer.assign(observed.cluster, ticket.surge);
            if observed.became_hotspot.is_some() {
                scorer.declared(observed.cluster, ticket.at, ticket.at >= scored_from);
            }
        }
        cpu_ns = cpu_ns
            .zip(cpu_before.zip(thread_cpu_ns()))
            .map(|(sum, (a, b))| sum + b.saturating_sub(a));
        tickets += chunk.len() as u64;
        let stats = detector.stats();
        peak.clusters = peak.clusters.max(stats.clusters);
        peak.sketches = peak.sketches.max(stats.sketches);
        peak.rates = peak.rates.max(stats.rates);
        scorer.retain(|id| detector.holds(id));
    }
    let days_scored = f64::from(opts.days) - f64::from(opts.warmup_hours) / 24.0;
    let us = |q: f64| cost.value_at_quantile(q) as f64 / 1000.0;
    Ok(HotspotReport {
        seed: opts.seed,
        tickets,
        quality: scorer.finish(&stream.surges, days_scored),
        cpu_mean_us: cpu_ns.map(|ns| ns as f64 / 1000.0 / tickets.max(1) as f64),
        cost_p50_us: us(0.5),
        cost_p99_us: us(0.99),
        cost_max_us: cost.max() as f64 / 1000.0,
        peak_clusters: peak.clusters,
        peak_sketches: peak.sketches,
        peak_rates: peak.rates,
        peak_rss_mib: start.and_then(|s| probe.finish(s)).map(|m| m.peak_rss_mib),
    })
}

/// The report as a table.
pub fn render(r: &HotspotReport) -> String {
    let q = &r.quality;
    let mut out = format!(
        "hotspots, seed {}: {} tickets\n\
         target surges (10+ tickets within 2 h): {} · recall {:.3} · delay median {:.0} min, p90 {:.0} min\n\
         all surges: {} · recall {:.3}\n\
         hotspots after warm-up: {} · precision {:.3} · false positives {} ({:.1}/day) · splits {} · during warm-up {}\n\
         detector cost per ticket: CPU mean {} · wall clock p50 {:.1} µs · p99 {:.1} µs · max {:.0} µs\n\
         peak: {} clusters · {} sketches · {} area-subject rates · RSS {}\n\
         size  minutes  surges  detected  median delay (min)\n",
        r.seed,
        r.tickets,
        q.target_surges,
        q.target_recall,
        q.target_median_delay_minutes,
        q.target_p90_delay_minutes,
        q.all_surges,
        q.all_recall,
        q.hotspots,
        q.precision,
        q.false_positives,
        q.false_positives_per_day,
        q.splits,
        q.warmup_hotspots,
        r.cpu_mean_us
            .map_or("n/a".to_owned(), |us| format!("{us:.1} µs")),
        r.cost_p50_us,
        r.cost_p99_us,
        r.cost_max_us,
        r.peak_clusters,
        r.peak_sketches,
        r.peak_rates,
        r.peak_rss_mib
            .map_or("n/a".to_owned(), |m| format!("{m:.1} MiB")),
    );
    for m in &q.missed {
        out.push_str(&format!(
            "missed target surge: {} tickets in {} min, spread over {} clusters (largest {}{})\n",
            m.size,
            m.minutes,
            m.clusters,
            m.largest_cluster,
            m.hot_minutes_before.map_or(String::new(), |b| format!(
                ", a hotspot since {b} min before"
            ))
        ));
    }
    for c in &q.classes {
        out.push_str(&format!(
            "{:>4}  {:>7}  {:>6}  {:>8}  {:>18.0}\n",
            c.size, c.minutes, c.surges, c.detected, c.median_delay_minutes
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the defaults reach on the stream below (seed 7: 9 target surges,
    /// 22 hotspots, none false), less nothing:
    /// a change that loses a surge or adds a false hotspot fails.
    const TARGET_RECALL: f64 = 1.0;
    const PRECISION: f64 = 1.0;

    /// A small stream (a debug build runs it in seconds): the detection
    /// quality must not fall below what the defaults reach on it. The
    /// figures of the full stream and of other seeds are in
    /// docs/hotspots.md; this seed was not used to choose the defaults.
    #[test]
    fn detection_quality_holds_on_a_small_stream() {
        let opts = HotspotOptions {
            per_day: 8_000,
            days: 2,
            warmup_hours: 24,
            streets: 24,
            surges_per_class: 1,
            seed: 7,
            detector: None,
            json: None,
        };
        let a = run(&opts, HotspotConfig::default()).unwrap();
        let q = &a.quality;
        assert_eq!(q.all_surges, 16);
        assert!(q.target_recall >= TARGET_RECALL, "{q:?}");
        assert!(q.precision >= PRECISION, "{q:?}");
        assert!(q.target_median_delay_minutes <= 30.0, "{q:?}");
        let b = run(&opts, HotspotConfig::default()).unwrap();
        assert_eq!(
            (a.tickets, b.quality.hotspots, b.quality.false_positives),
            (b.tickets, q.hotspots, q.false_positives),
            "the same seed reruns identically"
        );
    }
}
