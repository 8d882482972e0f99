//! `hotline bench populate`: fills a PostgreSQL or SQLite database with years of
//! realistic history (millions of tickets across the 2,024 units of a
//! [`city::SyntheticCity`], every ticket with its full event trail and its
//! scorecard counters) so `hotline bench scale` can time the queries a
//! province-sized centre runs.
//!
//! Generator threads ([`history::Simulator`], one per worker, each over its
//! own range of days) hand finished batches to async writers that COPY
//! them in one transaction per batch ([`BulkLoader`]); the counters are
//! summed in memory and written at the end.

pub mod city;
pub mod history;
pub mod progress;
pub mod schedule;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use rand::{SeedableRng, rngs::StdRng};
use tokio::sync::mpsc;

use self::{
    city::SyntheticCity,
    history::{Batch, CounterKey, Simulator},
    schedule::Schedule,
};
use super::workload::load_messages;
use hotline::{
    domain::{
        Clock, SystemClock,
        calendar::{CHINA_STANDARD_TIME, Calendar, CalendarData, WorkingHours},
        text_enum::TextEnum,
        timelimit::{TimeLimitPolicy, Timing},
    },
    report::data::day_start,
    store::{BulkLoader, Store, StoreError},
};

/// Default database of the scale benchmark, created if missing.
pub const DEFAULT_SCALE_URL: &str = "postgres://postgres@127.0.0.1:5432/hotline_scale";

/// Options of `hotline bench populate`.
#[derive(Debug, Clone, Args)]
pub struct PopulateOptions {
    /// Tickets to generate.
    #[arg(long, default_value_t = 1_000_000)]
    pub tickets: u64,
    /// Database to fill, PostgreSQL or `sqlite://FILE` (created if missing;
    /// must hold no tickets).
    #[arg(long, default_value = DEFAULT_SCALE_URL)]
    pub database_url: String,
    /// First local day of the history; it runs to the end of yesterday.
    #[arg(long, default_value = "2024-01-01")]
    pub from: NaiveDate,
    /// Generator threads, each with its own COPY connection.
    #[arg(long, default_value_t = 2)]
    pub workers: u64,
    /// Tickets per COPY transaction.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
    /// Share of all tickets left with a deadline crossing the sweeper has
    /// not recorded yet (a backlog, as after a sweeper outage): units that
    /// signed and went quiet 15 to 90 days ago.
    #[arg(long, default_value_t = 0.01)]
    pub due_share: f64,
    /// Citizen messages for titles and descriptions.
    /// Default: the 286 real messages built into the binary.
    #[arg(long)]
    pub messages: Option<PathBuf>,
    /// Seed of the generator.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Leave out the tickets' event trails (a third of the database's
    /// size): to time, on a disk too small for the whole history, the reads
    /// that never touch events (duplicate candidates, the ticket lists).
    /// Event lists, the feed and `bench scale`'s event queries then have
    /// nothing to read; the tickets, their indexes and the counters are
    /// written in full.
    #[arg(long)]
    pub without_events: bool,
}

/// What a load wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopulateSummary {
    /// Tickets written.
    pub tickets: u64,
    /// Events written.
    pub events: u64,
    /// Per-unit-per-day counter rows written.
    pub counter_rows: u64,
}

/// The configured caller-data keys (`privacy.*`, created on first use as
/// the server does): `populate` seals with them and `scale` reads with
/// them, so both commands must find the same keys.
pub(crate) fn configured_pii() -> anyhow::Result<hotline::store::PiiCodec> {
    use hotline::domain::{Clock, SystemClock};
    let settings = hotline::config::Settings::load(None)?;
    hotline::privacy::pii_codec(&settings.privacy, SystemClock.now())
}

/// Runs the load.
pub async fn run(opts: &PopulateOptions) -> anyhow::Result<PopulateSummary> {
    let started = Instant::now();
    if !opts.database_url.starts_with("sqlite:") {
        super::target::create_pg_database_if_missing(&opts.database_url).await?;
    }
    let workers = opts.workers.clamp(1, 16);
    let pii = configured_pii()?;
    let loader = BulkLoader::connect(&opts.database_url, workers as u32 + 1, pii.clone()).await?;
    let existing = loader.ticket_count().await?;
    anyhow::ensure!(
        existing == 0,
        "the database already holds {existing} tickets; populate an empty one \
         (drop it, or name another with --database-url)"
    );
    anyhow::ensure!(opts.tickets > 0, "--tickets must be at least 1");
    let now = SystemClock.now();
    let city = Arc::new(SyntheticCity::build(day_start(
        opts.from,
        CHINA_STANDARD_TIME,
    ))?);
    let store = hotline_store::open_with_pii(&opts.database_url, 2, false, pii).await?;
    seed_directory(store.as_ref(), &city).await?;
    drop(store);

    // Up to yesterday, so no ticket arrives after `now`.
    let today = now.with_timezone(&CHINA_STANDARD_TIME).date_naive();
    let days = u64::try_from((today - opts.from).num_days())
        .ok()
        .filter(|&d| d > 0)
        .context("--from must be a day before today")?;
    let schedule = Schedule::new(opts.from, days, opts.tickets, CHINA_STANDARD_TIME);
    let backlog = schedule.indexes_of_days(days.saturating_sub(90), days.saturating_sub(15));
    let due_probability = if backlog.is_empty() {
        0.0
    } else {
        (opts.due_share * opts.tickets as f64 / (backlog.end - backlog.start) as f64).min(1.0)
    };
    let timing = Timing {
        policy: Arc::new(TimeLimitPolicy::default()),
        calendar: Arc::new(Calendar::new(
            CalendarData::national(),
            WorkingHours::default(),
            CHINA_STANDARD_TIME,
            1,
        )?),
    };
    let messages = Arc::new(load_messages(opts.messages.as_deref())?);
    eprintln!(
        "populate: {} tickets over {days} days from {}, {} units, {workers} workers",
        opts.tickets,
        opts.from,
        city.units.len()
    );

    let done = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let bar = tokio::spawn(report_progress(done.clone(), opts.tickets, started));
    let mut generators = Vec::new();
    let mut writers = Vec::new();
    for w in 0..workers {
        let range = schedule.indexes_of_days(days * w / workers, days * (w + 1) / workers);
        let (tx, rx) = mpsc::channel::<Batch>(2);
        let mut sim = Simulator::new(
            city.clone(),
            messages.clone(),
            timing.clone(),
            now,
            StdRng::seed_from_u64(opts.seed.wrapping_add(w)),
        );
        let (batch_size, backlog) = (opts.batch.max(1), backlog.clone());
        generators.push(std::thread::spawn(move || -> anyhow::Result<_> {
            let mut batch = Batch::default();
            for i in range {
                let slot = schedule.slot(i);
                let stalled = backlog.contains(&i) && sim.roll() < due_probability;
                sim.ticket(slot.time, Schedule::number(&slot), stalled, &mut batch)?;
                if batch.tickets.len() >= batch_size
                    && tx.blocking_send(std::mem::take(&mut batch)).is_err()
                {
                    anyhow::bail!("the writer stopped");
                }
            }
            if !batch.tickets.is_empty() && tx.blocking_send(batch).is_err() {
                anyhow::bail!("the writer stopped");
            }
            Ok(sim.counters)
        }));
        writers.push(tokio::spawn(write_batches(
            loader.clone(),
            rx,
            done.clone(),
            events.clone(),
            opts.without_events,
        )));
    }
    let mut written = Ok(());
    for writer in writers {
        let result = writer.await.context("writer task")?;
        if written.is_ok() {
            written = result;
        }
    }
    let mut totals: HashMap<CounterKey, i64> = HashMap::new();
    for generator in generators {
        let counters = generator
            .join()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))??;
        for (key, value) in counters {
            *totals.entry(key).or_insert(0) += value;
        }
    }
    bar.abort();
    written?;
    eprintln!();
    // By day, as live writes would have added them (rankings read a month
    // of days across all units).
    let mut totals: Vec<_> = totals.into_iter().collect();
    totals.sort_unstable_by(|((ua, da, ca), _), ((ub, db, cb), _)| {
        (da, ua, ca.code()).cmp(&(db, ub, cb.code()))
    });
    let counter_rows = loader
        .copy_counters(totals.into_iter().map(|((u, d, c), v)| (u, d, c, v)))
        .await?;
    let numbers: Vec<(String, i64)> = (0..days)
        .filter(|&d| schedule.per_day(d) > 0)
        .map(|d| {
            let day = opts.from + chrono::Duration::days(d as i64);
            (day.format("%Y%m%d").to_string(), schedule.per_day(d) as i64)
        })
        .collect();
    loader.set_daily_numbers(&numbers).await?;
    eprintln!("populate: VACUUM (ANALYZE) …");
    loader.analyze().await?;
    let summary = PopulateSummary {
        tickets: done.load(Ordering::Relaxed),
        events: events.load(Ordering::Relaxed),
        counter_rows,
    };
    eprintln!(
        "populate: {} tickets, {} events, {} counter rows in {} ({:.0} tickets/s)",
        summary.tickets,
        summary.events,
        summary.counter_rows,
        progress::format_duration(started.elapsed()),
        summary.tickets as f64 / started.elapsed().as_secs_f64()
    );
    Ok(summary)
}

/// Adds the city's regions and units through the store (parents first).
async fn seed_directory(store: &dyn Store, city: &SyntheticCity) -> anyhow::Result<()> {
    for region in &city.regions {
        match store.create_region(region).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for unit in &city.units {
        match store.create_unit(unit, None).await {
            Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn write_batches(
    loader: BulkLoader,
    mut rx: mpsc::Receiver<Batch>,
    done: Arc<AtomicU64>,
    events: Arc<AtomicU64>,
    without_events: bool,
) -> anyhow::Result<()> {
    while let Some(mut batch) = rx.recv().await {
        if without_events {
            batch.events.clear();
        }
        loader.copy_histories(&batch.tickets, &batch.events).await?;
        done.fetch_add(batch.tickets.len() as u64, Ordering::Relaxed);
        events.fetch_add(batch.events.len() as u64, Ordering::Relaxed);
    }
    Ok(())
}

async fn report_progress(done: Arc<AtomicU64>, total: u64, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let line = progress::render(done.load(Ordering::Relaxed), total, started.elapsed());
        eprint!("\r{line}");
    }
}
