//! `hotline import legacy FILE --mapping MAPPING.toml`: tickets from the
//! exports of the retired departmental hotlines (12315, 12333, …).
//!
//! In order, and nothing is written before the last check passes: the
//! mapping is parsed whole, its columns found in the file's header, its
//! units looked up in the directory (a missing one is an error naming it;
//! a retired one takes closed history only), then every row is checked
//! ([`row`]) and lived through the
//! ticket lifecycle ([`history`]); `--dry-run` stops there with the
//! report, `--strict` stops there on any bad row. The rows are then read a
//! second time and written in batches, each in one transaction with its
//! events and counters through the bulk loader (COPY on PostgreSQL), like
//! `hotline bench populate`.
//!
//! Idempotent and resumable: a ticket keeps its number in the retired
//! hotline (`tickets.legacy_number`, unique per hotline); each batch skips
//! the numbers already stored, so a rerun — after a crash, or of the same
//! file — writes each row once.
//!
//! Lives in the binary rather than the server crate: it is a batch tool
//! over the store's bulk path, like the benchmarks, and the server never
//! reads spreadsheets.

mod history;
mod mapping;
mod report;
mod row;
mod source;

use std::{collections::HashMap, io::IsTerminal, path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use self::{
    history::Replay,
    mapping::Mapping,
    report::Scan,
    row::{Layout, LegacyRow, Problem, RowChecker},
    source::Source,
};
use hotline::{
    config::Settings,
    domain::{Clock, RegionCode, SystemClock, UnitId},
    store::{BulkLoader, CounterTotal, Store, StoreError},
};

/// `import` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ImportAction {
    /// Tickets from a retired hotline's export (.csv or .xlsx), mapped onto
    /// tickets by a mapping file (see deploy/import/mapping.example.toml).
    Legacy(LegacyArgs),
}

/// Options of `import legacy`.
#[derive(Debug, Args)]
pub(crate) struct LegacyArgs {
    /// The export: `.csv` (UTF-8, header row) or `.xlsx` (first sheet).
    pub file: PathBuf,
    /// The mapping file (TOML).
    #[arg(long)]
    pub mapping: PathBuf,
    /// Check everything and report counts, bad rows and unmapped values
    /// with examples; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse the whole file if any row is bad (default: report and skip).
    #[arg(long)]
    pub strict: bool,
    /// Add closed tickets to the scorecards' counters too (open ones always
    /// count: they continue here).
    #[arg(long)]
    pub count_in_metrics: bool,
    /// Rows per transaction.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Batches written at once, each writer with its own connection (one
    /// at a time on SQLite, which has one writer).
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Example rows shown per unmapped value.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
    /// Database URL: sqlite://FILE or postgres://…
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Runs an `import` subcommand.
pub(crate) async fn run(action: ImportAction, settings: &Settings) -> anyhow::Result<()> {
    let ImportAction::Legacy(args) = action;
    let now = SystemClock.now();
    let text = std::fs::read_to_string(&args.mapping)
        .with_context(|| format!("reading {}", args.mapping.display()))?;
    let mapping =
        Mapping::parse(&text).with_context(|| format!("mapping {}", args.mapping.display()))?;
    let header = Source::open(&args.file)?.header;
    let layout = Layout::resolve(&mapping, &header)
        .with_context(|| format!("{} against {}", args.file.display(), args.mapping.display()))?;
    let offset = chrono::FixedOffset::east_opt(settings.centre.utc_offset_hours * 3600)
        .context("centre.utc_offset_hours out of range")?;

    let url = args
        .database_url
        .clone()
        .unwrap_or_else(|| settings.database.url.clone());
    let pii = hotline::privacy::pii_codec(&settings.privacy, now)
        .context("loading the caller-data keys (privacy.*)")?;
    let store = hotline::store::open_with_pii(&url, 2, settings.database.migrate, pii.clone())
        .await
        .with_context(|| format!("opening {}", hotline::app::redact_url(&url)))?;
    let (regions, retired) = directory_units(store.as_ref(), &mapping).await?;

    let calendar = hotline::service::calendar_cell::CalendarCell::load(
        store.clone(),
        settings.calendar.working_hours()?,
        offset,
        now,
    )
    .await?
    .current();
    let policy = store
        .latest_time_limits()
        .await?
        .map_or_else(|| settings.time_limits.clone(), |(_, p)| p);
    let replay = Replay {
        source: mapping.source.clone(),
        request_type: mapping.request_type,
        channel: mapping.channel,
        timing: hotline::domain::timelimit::Timing {
            policy: Arc::new(policy),
            calendar,
        },
        offset,
        callback_window: settings.callback.window,
        regions,
        retired,
    };
    let checker = RowChecker {
        mapping: &mapping,
        layout,
        offset,
        now,
    };
    // Each row is checked, then lived through the ticket lifecycle (its
    // number does not matter here), so the dry run and `--strict` see
    // every row the import would refuse, not only the malformed ones.
    let mut scan = Scan::new(args.examples);
    for raw in Source::open(&args.file)? {
        let raw = raw?;
        let checked = checker.check(&raw).and_then(|row| {
            replay
                .ticket(&row, String::new())
                .map(|_| row)
                .map_err(|e| vec![lifecycle_refusal(raw.line, &e)])
        });
        scan.add(raw.line, checked);
    }
    let loader = BulkLoader::connect(&url, args.workers.clamp(1, 16) as u32 + 1, pii).await?;
    let known = loader
        .known_legacy_numbers(&mapping.source, &scan.numbers())
        .await?;
    if args.dry_run {
        print!("{}", scan.report(&mapping.source, known.len()));
        return Ok(());
    }
    eprint!("{}", scan.problems_text());
    anyhow::ensure!(
        !args.strict || scan.bad_rows() == 0,
        "--strict: {} bad row(s) in {}; nothing written",
        scan.bad_rows(),
        args.file.display()
    );

    let writer = Arc::new(Writer {
        loader,
        replay,
        count_in_metrics: args.count_in_metrics,
        offset,
    });
    let bar = progress_bar(scan.good_rows());
    // Batches go round-robin to the writers (each with its connection), so
    // reading and checking overlap with writing, and batches with each other.
    let mut senders = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..args.workers.clamp(1, 16) {
        let (tx, mut rx) = mpsc::channel::<Vec<LegacyRow>>(2);
        let (writer, bar) = (writer.clone(), bar.clone());
        writers.push(tokio::spawn(async move {
            let mut totals = Totals::default();
            while let Some(batch) = rx.recv().await {
                let rows = batch.len() as u64;
                writer.write(batch, &mut totals).await?;
                bar.inc(rows);
            }
            anyhow::Ok(totals)
        }));
        senders.push(tx);
    }
    let sent = send_batches(&args, &checker, scan.first_lines(), &senders).await;
    drop(senders);
    let mut totals = Totals::default();
    let mut failed = None;
    for writer in writers {
        match writer.await.context("writer task")? {
            Ok(t) => totals.add(t),
            Err(e) => failed = failed.or(Some(e)),
        }
    }
    bar.finish_and_clear();
    // A writer's error first: it is why sending stopped.
    if let Some(e) = failed {
        return Err(e);
    }
    sent?;
    for problem in &totals.refused {
        eprintln!("{problem}");
    }
    println!(
        "{} tickets imported from {} ({} open, {} closed); {} already there, {} bad rows skipped",
        totals.imported,
        mapping.source,
        totals.open,
        totals.imported - totals.open,
        totals.skipped,
        scan.bad_rows() + totals.refused.len() as u64
    );
    Ok(())
}

/// Reads the file again and sends its importable rows in batches; bad rows
/// and repeats of a number were reported by the scan.
async fn send_batches(
    args: &LegacyArgs,
    checker: &RowChecker<'_>,
    firsts: &HashMap<String, u64>,
    senders: &[mpsc::Sender<Vec<LegacyRow>>],
) -> anyhow::Result<()> {
    let size = args.batch_size.max(1);
    let mut batch = Vec::with_capacity(size);
    let mut next = 0;
    for raw in Source::open(&args.file)? {
        let raw = raw?;
        let Ok(row) = checker.check(&raw) else {
            continue;
        };
        if firsts.get(&row.number) != Some(&row.line) {
            continue;
        }
        batch.push(row);
        if batch.len() >= size {
            senders[next % senders.len()]
                .send(std::mem::replace(&mut batch, Vec::with_capacity(size)))
                .await
                .map_err(|_| anyhow::anyhow!("a writer stopped"))?;
            next += 1;
        }
    }
    if !batch.is_empty() {
        senders[next % senders.len()]
            .send(batch)
            .await
            .map_err(|_| anyhow::anyhow!("a writer stopped"))?;
    }
    Ok(())
}

/// Each mapped unit's region, and those of them retired from the
/// directory with their successors (their open rows are refused by the
/// replay, their closed history comes over). A unit the directory does not
/// have is an error naming it and the file's values mapped to it.
async fn directory_units(
    store: &dyn Store,
    mapping: &Mapping,
) -> anyhow::Result<(HashMap<UnitId, RegionCode>, HashMap<UnitId, Option<UnitId>>)> {
    let mut regions = HashMap::new();
    let mut retired = HashMap::new();
    let mut missing = Vec::new();
    for id in mapping.unit_ids() {
        match store.get_unit(id).await {
            Ok(unit) => {
                if let Some(gone) = store.unit_retirement(&unit.id).await? {
                    retired.insert(unit.id.clone(), gone.successor);
                }
                regions.insert(unit.id, unit.region_code);
            }
            Err(StoreError::NotFound(_)) => {
                let names: Vec<&str> = mapping
                    .units
                    .iter()
                    .filter(|(_, v)| *v == id)
                    .map(|(k, _)| k.as_str())
                    .collect();
                missing.push(format!("{id} (for {})", names.join(", ")));
            }
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::ensure!(
        missing.is_empty(),
        "the mapping's [units] name units the directory does not have: {}; \
         add them (or fix the mapping) first — nothing was written",
        missing.join("; ")
    );
    Ok((regions, retired))
}

fn progress_bar(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} importing [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// What the write pass did.
#[derive(Debug, Default)]
struct Totals {
    imported: u64,
    open: u64,
    skipped: u64,
    /// Rows the state machine refused (reported, skipped).
    refused: Vec<Problem>,
}

impl Totals {
    fn add(&mut self, other: Self) {
        self.imported += other.imported;
        self.open += other.open;
        self.skipped += other.skipped;
        self.refused.extend(other.refused);
    }
}

/// A row the ticket lifecycle refuses, as a problem of its line.
fn lifecycle_refusal(line: u64, e: &hotline::domain::DomainError) -> Problem {
    Problem {
        line,
        column: String::new(),
        reason: format!("refused by the ticket lifecycle: {e}"),
        unmapped: None,
    }
}

/// Writes batches of checked rows.
#[derive(Debug)]
struct Writer {
    loader: BulkLoader,
    replay: Replay,
    count_in_metrics: bool,
    offset: chrono::FixedOffset,
}

impl Writer {
    /// Skips the rows already stored, numbers and lives through the rest,
    /// and writes them with their events and counters in one transaction.
    async fn write(&self, rows: Vec<LegacyRow>, totals: &mut Totals) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let numbers: Vec<String> = rows.iter().map(|r| r.number.clone()).collect();
        let known = self
            .loader
            .known_legacy_numbers(&self.replay.source, &numbers)
            .await?;
        let rows: Vec<LegacyRow> = rows
            .into_iter()
            .filter(|r| !known.contains(&r.number))
            .collect();
        totals.skipped += known.len() as u64;
        let mut next_number = self.reserve_numbers(&rows).await?;
        let (mut tickets, mut events) = (Vec::new(), Vec::new());
        let mut counters: HashMap<_, i64> = HashMap::new();
        let mut open = 0;
        for row in &rows {
            let day = self.day(row);
            let seq = next_number.entry(day.clone()).or_insert(1);
            let number = format!("{day}{seq:06}");
            *seq += 1;
            let imported = match self.replay.ticket(row, number) {
                Ok(imported) => imported,
                Err(e) => {
                    // The scan lived every row through already; kept for a
                    // directory or calendar changed since.
                    totals.refused.push(lifecycle_refusal(row.line, &e));
                    continue;
                }
            };
            if row.state.is_open() {
                open += 1;
            }
            if row.state.is_open() || self.count_in_metrics {
                for (unit, day, counter, value) in imported.counters {
                    *counters.entry((unit, day, counter)).or_insert(0) += value;
                }
            }
            tickets.push(imported.ticket);
            events.extend(imported.events);
        }
        let counters: Vec<CounterTotal> = counters
            .into_iter()
            .map(|((unit, day, counter), value)| (unit, day, counter, value))
            .collect();
        self.loader
            .copy_counted_histories(&tickets, &events, counters)
            .await?;
        totals.imported += tickets.len() as u64;
        totals.open += open;
        Ok(())
    }

    /// The local day (`YYYYMMDD`) a row's ticket number falls on.
    fn day(&self, row: &LegacyRow) -> String {
        row.created
            .with_timezone(&self.offset)
            .format("%Y%m%d")
            .to_string()
    }

    /// Reserves each day's numbers for `rows`; the first of each day.
    async fn reserve_numbers(&self, rows: &[LegacyRow]) -> anyhow::Result<HashMap<String, i64>> {
        let mut per_day: HashMap<String, i64> = HashMap::new();
        for row in rows {
            *per_day.entry(self.day(row)).or_insert(0) += 1;
        }
        let mut first = HashMap::new();
        for (day, count) in per_day {
            let seq = self.loader.reserve_numbers(&day, count).await?;
            first.insert(day, seq);
        }
        Ok(first)
    }
}
