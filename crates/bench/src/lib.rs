//! `hotline bench`: a closed-loop load generator that drives the server
//! through its own gRPC clients and, for intake, measures the raw database
//! limit of the same transaction in the same run, so the report can say
//! "hotline = X % of the raw limit": times vary from run to run on shared
//! machines, the ratio much less.
//!
//! One module a job: [`options`] (command line), [`workload`] (varied,
//! realistic requests), [`target`] (the server under load and its tokens),
//! [`driver`] (the closed loop), [`scenarios`] (gRPC workers), [`raw`] (the
//! store-only baseline), [`stats`] (HDR histograms, error counts) and
//! [`report`] (table and JSON), [`memory`] (the server's peak RSS); [`tracing_setup`] gives the server its
//! production tracing and a collector to export to. At scale: [`populate`] fills PostgreSQL
//! with years of history, [`scale`] times the daily reads on it. [`hotspots`] evaluates the
//! hotspot detector on a simulated intake; [`knowledge`] times the knowledge search in process.

pub mod cpu;
pub mod dispatch_model;
pub mod driver;
pub mod hotspots;
pub mod knowledge;
pub mod legacy_export;
pub mod memory;
pub mod options;
pub mod populate;
pub mod raw;
pub mod raw_verbs;
pub mod read_mix;
pub mod report;
pub mod scale;
pub mod scenarios;
pub mod stats;
pub mod target;
pub mod tracing_setup;
pub mod workload;

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::SecondsFormat;
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Channel,
};

pub use options::{BenchCommand, RunOptions};

use self::{
    driver::{Sheet, Worker},
    raw::{NAIVE_OP, RAW_OP, RawWorker},
    raw_verbs::{RAW_LIFECYCLE, RAW_OPS, RawLifecycleWorker},
    report::{Machine, Report},
    scenarios::{
        CREATE, Client, IntakeWorker, LIFECYCLE, LifecycleWorker, SCORECARD, StatsWorker, bearer,
    },
    stats::ratio,
    target::Target,
    workload::{Generator, load_messages},
};
use hotline::{
    demo::DemoCity,
    domain::{Clock, Role, SystemClock},
};

/// The unit `lifecycle` dispatches to when routing leaves a ticket in triage.
const MANUAL_UNIT: &str = "market-regulation";

/// Tickets created before the window of `read` and `stats`.
const SETUP_TICKETS: usize = 300;

/// Runs any `hotline bench` command.
pub async fn main(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Populate(opts) => populate::run(&opts).await.map(|_| ()),
        BenchCommand::Scale(opts) => scale::run(&opts).await.map(|_| ()),
        BenchCommand::Hotspots(opts) => hotspots::main(&opts),
        BenchCommand::DispatchModel(opts) => {
            tokio::task::spawn_blocking(move || dispatch_model::main(&opts)).await?
        }
        BenchCommand::Knowledge(opts) => {
            tokio::task::spawn_blocking(move || knowledge::run(&opts).map(|_| ())).await?
        }
        BenchCommand::LegacyExport(opts) => {
            tokio::task::spawn_blocking(move || legacy_export::run(&opts)).await?
        }
        load => run(load).await.map(|_| ()),
    }
}

/// Runs one load scenario, prints the table and writes the JSON report.
pub async fn run(command: BenchCommand) -> anyhow::Result<Report> {
    let opts = command
        .options()
        .ok_or_else(|| anyhow::anyhow!("{} is not a load scenario", command.name()))?
        .clone();
    let target = Target::open(&opts).await?;
    let probe = match (&opts.target, opts.server_pid) {
        (None, _) => Some(memory::MemoryProbe::in_process()),
        (Some(_), pid) => pid.map(memory::MemoryProbe::server),
    };
    let start = probe.as_ref().and_then(memory::MemoryProbe::start);
    let result = measure(&command, &opts, &target).await;
    target.close();
    let mut report = result?;
    report.memory = probe.zip(start).and_then(|(p, s)| p.finish(s));
    print!("{}", report.render());
    if let Some(path) = &opts.json {
        report.write_json(path)?;
    }
    Ok(report)
}

/// What every scenario starts from.
struct Setup {
    city: DemoCity,
    messages: Arc<Vec<workload::Message>>,
    agent: MetadataValue<Ascii>,
}

impl Setup {
    fn client(&self, target: &Target, opts: &RunOptions, i: usize) -> Client {
        self.client_on(&target.channels, opts, i)
    }

    /// Worker `i`'s client on one of `channels`.
    fn client_on(&self, channels: &[Channel], opts: &RunOptions, i: usize) -> Client {
        Client::new(
            channels[i % channels.len()].clone(),
            self.agent.clone(),
            Generator::new(
                self.messages.clone(),
                &self.city,
                opts.seed.wrapping_add(i as u64),
            ),
        )
    }

    fn generator(&self, seed: u64) -> Generator {
        Generator::new(self.messages.clone(), &self.city, seed)
    }
}

async fn measure(
    command: &BenchCommand,
    opts: &RunOptions,
    target: &Target,
) -> anyhow::Result<Report> {
    let setup = Setup {
        city: hotline::demo::load()?,
        messages: Arc::new(load_messages(opts.messages.as_deref())?),
        agent: bearer(&target.tokens.token(
            &raw::bench_agent().subject,
            Role::Agent,
            None,
            None,
        )?)?,
    };
    let n = opts.workers();
    let clients =
        |setup: &Setup| -> Vec<Client> { (0..n).map(|i| setup.client(target, opts, i)).collect() };
    let mut raw_summary = None;
    let mut naive_summary = None;
    let mut raw_ops = std::collections::BTreeMap::new();
    let mut quiet_summary = None;
    let (mut cpu, mut raw_cpu) = (None, None);
    let (primary, sheet, elapsed) = match command {
        BenchCommand::Intake(_) => {
            if let (Some(local), false) = (&target.local, opts.no_raw) {
                let templates = Arc::new(raw::templates(
                    &local.workflow,
                    setup.generator(opts.seed ^ 0x5eed),
                )?);
                let rounds = opts.rounds.max(1);
                let share = rounds_share(opts);
                let (mut raw_sheet, mut raw_time) = (Sheet::default(), Duration::ZERO);
                let (mut naive_sheet, mut naive_time) = (Sheet::default(), Duration::ZERO);
                let (mut sheet, mut elapsed) = (Sheet::default(), Duration::ZERO);
                let (mut quiet_sheet, mut quiet_time) = (Sheet::default(), Duration::ZERO);
                let meter = cpu::CpuMeter::in_process(opts.backend == options::Backend::Postgres);
                let (mut cpu_used, mut raw_cpu_used) =
                    (cpu::CpuReading::default(), cpu::CpuReading::default());
                // Alternating rounds, so a change of background load on a
                // shared machine weighs on every side alike.
                for round in 0..rounds {
                    let raw_workers = |path| -> Vec<RawWorker> {
                        (0..n)
                            .map(|i| {
                                let seed = i + round as usize;
                                RawWorker::new(local.store.clone(), templates.clone(), seed)
                                    .along(path)
                            })
                            .collect()
                    };
                    let workers = raw_workers(raw::Path::Store);
                    let (s, t, c) =
                        driver::run_metered(workers, opts.warmup(), share, &meter).await?;
                    raw_sheet.merge(&s);
                    raw_time += t;
                    raw_cpu_used.add(&c);
                    let workers = raw_workers(raw::Path::Naive);
                    let (s, t) = driver::run(workers, opts.warmup(), share).await?;
                    naive_sheet.merge(&s);
                    naive_time += t;
                    // With `--telemetry compare` the two servers swap places
                    // every round, so neither always follows the raw burst.
                    let quiet_first = round % 2 == 1;
                    for quiet in [quiet_first, !quiet_first] {
                        match (&target.quiet_channels, quiet) {
                            (Some(channels), true) => {
                                let workers = (0..n)
                                    .map(|i| IntakeWorker(setup.client_on(channels, opts, i)))
                                    .collect();
                                tracing_setup::set_tracing(false);
                                let run = driver::run(workers, opts.warmup(), share).await;
                                tracing_setup::set_tracing(true);
                                let (s, t) = run?;
                                quiet_sheet.merge(&s);
                                quiet_time += t;
                            }
                            (None, true) => {}
                            (_, false) => {
                                let workers =
                                    clients(&setup).into_iter().map(IntakeWorker).collect();
                                let (s, t, c) =
                                    driver::run_metered(workers, opts.warmup(), share, &meter)
                                        .await?;
                                sheet.merge(&s);
                                elapsed += t;
                                cpu_used.add(&c);
                            }
                        }
                    }
                }
                raw_summary = raw_sheet.summaries(raw_time).remove(RAW_OP);
                let ok = |summary: Option<&stats::Summary>| summary.map_or(0, |s| s.ok);
                raw_cpu = raw_cpu_used.per_op(ok(raw_summary.as_ref()));
                cpu = cpu_used.per_op(ok(sheet.summaries(elapsed).get(CREATE)));
                naive_summary = naive_sheet.summaries(naive_time).remove(NAIVE_OP);
                if target.quiet_channels.is_some() {
                    quiet_summary = quiet_sheet.summaries(quiet_time).remove(CREATE);
                }
                (CREATE, sheet, elapsed)
            } else {
                let workers = clients(&setup).into_iter().map(IntakeWorker).collect();
                let (sheet, elapsed) = run_phase(workers, opts).await?;
                (CREATE, sheet, elapsed)
            }
        }
        BenchCommand::Lifecycle(_) => {
            let unit_tokens = Arc::new(unit_tokens(target, &setup.city)?);
            let lifecycle_workers = || -> Vec<LifecycleWorker> {
                clients(&setup)
                    .into_iter()
                    .map(|client| LifecycleWorker {
                        client,
                        unit_tokens: unit_tokens.clone(),
                        manual_unit: MANUAL_UNIT.into(),
                    })
                    .collect()
            };
            let Some(local) = target.local.as_ref().filter(|_| !opts.no_raw) else {
                let (sheet, elapsed) = run_phase(lifecycle_workers(), opts).await?;
                return Ok(report(
                    command,
                    opts,
                    target,
                    LIFECYCLE,
                    &sheet,
                    elapsed,
                    Baselines::default(),
                ));
            };
            let templates = Arc::new(raw_verbs::templates(
                &local.workflow,
                setup.generator(opts.seed ^ 0x11fe),
                MANUAL_UNIT,
            )?);
            let share = rounds_share(opts);
            let (mut raw_sheet, mut raw_time) = (Sheet::default(), Duration::ZERO);
            let (mut sheet, mut elapsed) = (Sheet::default(), Duration::ZERO);
            // Alternating rounds, as intake's.
            for round in 0..opts.rounds.max(1) {
                let workers = (0..n)
                    .map(|i| {
                        RawLifecycleWorker::new(
                            local.store.clone(),
                            templates.clone(),
                            i + round as usize,
                        )
                    })
                    .collect();
                let (s, t) = driver::run(workers, opts.warmup(), share).await?;
                raw_sheet.merge(&s);
                raw_time += t;
                let (s, t) = driver::run(lifecycle_workers(), opts.warmup(), share).await?;
                sheet.merge(&s);
                elapsed += t;
            }
            raw_ops = raw_sheet.summaries(raw_time);
            raw_summary = raw_ops.get(RAW_LIFECYCLE).cloned();
            (LIFECYCLE, sheet, elapsed)
        }
        BenchCommand::Read(read) => {
            let mix = Arc::new(read_mix::Mix::select(&read.only)?);
            // A fresh database gets the set-up tickets; a populated one
            // (`--database-url` of `bench populate`, or `--target`) is read
            // as it is.
            create_setup_tickets(&setup, target, opts).await?;
            let mut sampler = setup.client(target, opts, 2000);
            let fixtures = Arc::new(read_mix::ReadFixtures::sample(&mut sampler, target).await?);
            eprintln!("read: {}", fixtures.describe());
            let workers = clients(&setup)
                .into_iter()
                .map(|client| read_mix::ReadMixWorker::new(client, fixtures.clone(), mix.clone()))
                .collect();
            let (sheet, elapsed) = run_phase(workers, opts).await?;
            (mix.primary(), sheet, elapsed)
        }
        BenchCommand::Stats(_) => {
            create_setup_tickets(&setup, target, opts).await?;
            let units = Arc::new(
                setup
                    .city
                    .units
                    .iter()
                    .map(|u| u.id.clone())
                    .collect::<Vec<_>>(),
            );
            let hours = hotline::config::Settings::default().centre.utc_offset_hours;
            let offset = chrono::FixedOffset::east_opt(hours * 3600)
                .ok_or_else(|| anyhow::anyhow!("centre offset out of range"))?;
            let today = SystemClock.now().with_timezone(&offset).date_naive();
            let period = StatsWorker::month_to(today);
            let workers = clients(&setup)
                .into_iter()
                .map(|client| StatsWorker {
                    client,
                    units: units.clone(),
                    period: period.clone(),
                })
                .collect();
            let (sheet, elapsed) = run_phase(workers, opts).await?;
            (SCORECARD, sheet, elapsed)
        }
        BenchCommand::Populate(_)
        | BenchCommand::Scale(_)
        | BenchCommand::Hotspots(_)
        | BenchCommand::Knowledge(_)
        | BenchCommand::DispatchModel(_)
        | BenchCommand::LegacyExport(_) => {
            anyhow::bail!("{} is not a load scenario", command.name())
        }
    };
    let baselines = Baselines {
        raw: raw_summary,
        naive: naive_summary,
        raw_ops,
        without_telemetry: quiet_summary,
        cpu,
        raw_cpu,
    };
    Ok(report(
        command, opts, target, primary, &sheet, elapsed, baselines,
    ))
}

/// What a scenario measured beside the server, in the same rounds.
#[derive(Debug, Default)]
struct Baselines {
    /// The primary operation's raw store path.
    raw: Option<stats::Summary>,
    /// Intake's naive one-transaction-per-ticket path.
    naive: Option<stats::Summary>,
    /// Each raw operation (lifecycle: every verb's), by name.
    raw_ops: std::collections::BTreeMap<String, stats::Summary>,
    /// The primary operation with telemetry off.
    without_telemetry: Option<stats::Summary>,
    /// Intake: CPU per ticket through the server, and on the raw path.
    cpu: Option<cpu::CpuPerOp>,
    raw_cpu: Option<cpu::CpuPerOp>,
}

/// The report of a run: the server's figures and their ratios to the
/// baselines.
fn report(
    command: &BenchCommand,
    opts: &RunOptions,
    target: &Target,
    primary: &str,
    sheet: &Sheet,
    elapsed: Duration,
    baselines: Baselines,
) -> Report {
    let hotline = sheet.summaries(elapsed);
    let Baselines {
        raw,
        naive,
        raw_ops,
        without_telemetry,
        cpu,
        raw_cpu,
    } = baselines;
    let ours = hotline.get(primary);
    let ratio = raw
        .as_ref()
        .zip(ours)
        .and_then(|(raw, ours)| ratio(ours.throughput, raw.throughput));
    let ratio_to_naive = naive
        .as_ref()
        .zip(ours)
        .and_then(|(naive, ours)| self::stats::ratio(ours.throughput, naive.throughput));
    let ratio_without_telemetry = raw
        .as_ref()
        .zip(without_telemetry.as_ref())
        .and_then(|(raw, quiet)| self::stats::ratio(quiet.throughput, raw.throughput));
    // Each operation's speed against its raw path's: in a closed loop a
    // step's operations all run as often, so their latencies tell them apart.
    let raw_ratios = RAW_OPS
        .iter()
        .filter_map(|(op, raw_op)| {
            let (ours, raw) = (hotline.get(*op)?, raw_ops.get(*raw_op)?);
            Some((
                (*op).to_owned(),
                self::stats::ratio(raw.mean_ms, ours.mean_ms)?,
            ))
        })
        .collect();
    Report {
        scenario: command.name().to_owned(),
        date: SystemClock.now().to_rfc3339_opts(SecondsFormat::Secs, true),
        machine: Machine::here(),
        backend: target.backend.clone(),
        pool_size: target.local.as_ref().map(|l| l.pool_size),
        concurrency: opts.workers(),
        rate: opts.rate,
        seconds: opts.seconds,
        warmup_seconds: opts.warmup,
        primary: primary.to_owned(),
        hotline,
        raw,
        ratio,
        naive,
        ratio_to_naive,
        raw_ops,
        raw_ratios,
        telemetry: format!("{:?}", opts.telemetry).to_lowercase(),
        without_telemetry,
        ratio_without_telemetry,
        spans_exported: target.spans.as_ref().map(tracing_setup::SpanSink::received),
        memory: None,
        cpu,
        raw_cpu,
    }
}

/// Each round's share of the window.
fn rounds_share(opts: &RunOptions) -> Duration {
    opts.window() / opts.rounds.max(1)
}

async fn run_phase<W: Worker>(
    workers: Vec<W>,
    opts: &RunOptions,
) -> anyhow::Result<(Sheet, Duration)> {
    let pace = driver::Pace::from_rate(opts.rate);
    driver::run_paced(workers, opts.warmup(), opts.window(), pace).await
}

/// A unit handler's token for every unit of the city.
fn unit_tokens(
    target: &Target,
    city: &DemoCity,
) -> anyhow::Result<HashMap<String, MetadataValue<Ascii>>> {
    city.units
        .iter()
        .map(|u| {
            let token = target.tokens.token(
                &format!("bench-{}", u.id),
                Role::UnitHandler,
                Some(&u.id),
                None,
            )?;
            Ok((u.id.clone(), bearer(&token)?))
        })
        .collect()
}

/// Creates [`SETUP_TICKETS`] tickets (untimed) for the read scenarios;
/// returns them as created.
async fn create_setup_tickets(
    setup: &Setup,
    target: &Target,
    opts: &RunOptions,
) -> anyhow::Result<Vec<hotline::proto::v1::Ticket>> {
    let mut workers: Vec<IntakeWorker> = (0..opts.workers().min(8))
        .map(|i| IntakeWorker(setup.client(target, opts, 1000 + i)))
        .collect();
    let mut tickets = Vec::with_capacity(SETUP_TICKETS);
    let per_worker = SETUP_TICKETS.div_ceil(workers.len().max(1));
    let mut tasks = Vec::new();
    for mut worker in workers.drain(..) {
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut sheet = Sheet::default();
            for _ in 0..per_worker {
                if let Some(t) = worker.0.create_ticket(&mut sheet).await {
                    out.push(t);
                }
            }
            (out, sheet)
        }));
    }
    let mut errors = Sheet::default();
    for task in tasks {
        let (out, sheet) = task.await?;
        tickets.extend(out);
        errors.merge(&sheet);
    }
    anyhow::ensure!(
        !tickets.is_empty(),
        "set-up: no ticket could be created ({} errors: {}); a server driven with --target \
         needs the demo city in its database (`hotline demo seed --database-url …`)",
        errors.error_count(),
        errors.errors_by_code()
    );
    Ok(tickets)
}
