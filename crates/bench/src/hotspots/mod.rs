//! `hotline bench hotspots`: the hotspot detector on a simulated intake
//! with labelled surges, in simulated time (see docs/hotspots.md).
//!
//! Everything is seeded: the same options give the same stream, the same
//! clusters and the same quality figures (the cost figures are times).

pub mod score;
pub mod stream;
pub mod text;

use std::{path::PathBuf, time::Instant};

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
    /// Detector time per ticket, µs: median.
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

/// Runs the evaluation and prints its figures.
pub fn main(opts: &HotspotOptions) -> anyhow::Result<()> {
    let report = run(opts, HotspotConfig::default())?;
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
    let (mut tickets, mut peak) = (0_u64, detector.stats());
    for ticket in stream.by_ref() {
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
        tickets += 1;
        if tickets % 4096 == 0 {
            let stats = detector.stats();
            peak.clusters = peak.clusters.max(stats.clusters);
            peak.sketches = peak.sketches.max(stats.sketches);
            peak.rates = peak.rates.max(stats.rates);
            scorer.retain(|id| detector.holds(id));
        }
    }
    let days_scored = f64::from(opts.days) - f64::from(opts.warmup_hours) / 24.0;
    let us = |q: f64| cost.value_at_quantile(q) as f64 / 1000.0;
    Ok(HotspotReport {
        seed: opts.seed,
        tickets,
        quality: scorer.finish(&stream.surges, days_scored),
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
         detector cost per ticket: p50 {:.1} µs · p99 {:.1} µs · max {:.0} µs\n\
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
        r.cost_p50_us,
        r.cost_p99_us,
        r.cost_max_us,
        r.peak_clusters,
        r.peak_sketches,
        r.peak_rates,
        r.peak_rss_mib
            .map_or("n/a".to_owned(), |m| format!("{m:.1} MiB")),
    );
    for c in &q.classes {
        out.push_str(&format!(
            "{:>4}  {:>7}  {:>6}  {:>8}  {:>18.0}\n",
            c.size, c.minutes, c.surges, c.detected, c.median_delay_minutes
        ));
    }
    out
}
