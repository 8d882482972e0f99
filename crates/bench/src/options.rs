//! Command-line options of `hotline bench`.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Subcommand, ValueEnum};

/// Default PostgreSQL database of the benchmark, created if missing.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/hotline_bench";

/// `hotline bench` scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// CreateTicket with auto-routing and auth, next to the raw database
    /// limit of the same transaction.
    Intake(RunOptions),
    /// create → dispatch (when not auto-routed) → sign → reply → callback.
    Lifecycle(RunOptions),
    /// The lists, reads and lookups of consoles and supervisors, mixed in
    /// a working day's proportions (or only some of them, `--only`).
    Read(ReadOptions),
    /// Unit and centre scorecards (GetUnitScorecard) over the current month.
    Stats(RunOptions),
    /// Fill a PostgreSQL database with years of history (COPY), for `scale`.
    Populate(super::populate::PopulateOptions),
    /// Time scorecards, rankings, the sweep, caller lookup and deep paging
    /// on a populated database, next to the naive queries.
    Scale(super::scale::ScaleOptions),
    /// The hotspot detector on a simulated intake with labelled surges:
    /// recall, precision, delay, cost per ticket, memory.
    Hotspots(super::hotspots::HotspotOptions),
    /// The knowledge search of SuggestArticles over synthetic articles made
    /// of real replies, queried with real messages, next to its baselines.
    Knowledge(super::knowledge::KnowledgeOptions),
    /// The learned dispatch suggestion on the real messages: rules, model
    /// and their combination by cross-validation, and the cost of one
    /// decision.
    DispatchModel(super::dispatch_model::DispatchModelOptions),
    /// Write a retired hotline's export of any length (the shipped sample
    /// repeated under new numbers), to time `hotline import legacy`.
    LegacyExport(super::legacy_export::LegacyExportOptions),
}

impl BenchCommand {
    /// The scenario's name, as in the report.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Intake(_) => "intake",
            Self::Lifecycle(_) => "lifecycle",
            Self::Read(_) => "read",
            Self::Stats(_) => "stats",
            Self::Populate(_) => "populate",
            Self::Scale(_) => "scale",
            Self::Hotspots(_) => "hotspots",
            Self::Knowledge(_) => "knowledge",
            Self::DispatchModel(_) => "dispatch-model",
            Self::LegacyExport(_) => "legacy-export",
        }
    }

    /// The run options of a load scenario (`None` for the others).
    pub fn options(&self) -> Option<&RunOptions> {
        match self {
            Self::Intake(o) | Self::Lifecycle(o) | Self::Stats(o) => Some(o),
            Self::Read(o) => Some(&o.run),
            Self::Populate(_)
            | Self::Scale(_)
            | Self::Hotspots(_)
            | Self::Knowledge(_)
            | Self::DispatchModel(_)
            | Self::LegacyExport(_) => None,
        }
    }
}

/// Database backend of the in-process server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// A fresh SQLite file in the temp dir (WAL, synchronous=FULL), removed afterwards.
    Sqlite,
    /// PostgreSQL (`--database-url`, default `postgres://postgres@127.0.0.1:5432/hotline_bench`).
    Postgres,
}

/// Options shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct RunOptions {
    /// Backend of the in-process server (ignored with `--target`).
    #[arg(long, value_enum, default_value = "sqlite")]
    pub backend: Backend,
    /// PostgreSQL URL for `--backend postgres` (the database is created if
    /// missing), or `sqlite://FILE` for `--backend sqlite` to run on a file
    /// `bench populate` filled (kept afterwards; default: a temp file).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Drive an already running server instead of starting one (its demo city
    /// must be seeded and the token secret is read from the configuration);
    /// no raw baseline then.
    #[arg(long)]
    pub target: Option<String>,
    /// With `--target`: the server's process id (same machine), whose peak
    /// resident memory the report gives; without it none is reported.
    #[arg(long, requires = "target")]
    pub server_pid: Option<u32>,
    /// Concurrent closed-loop workers (each waits for its answer before the next call).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Open loop: this many calls (steps) per second across all workers,
    /// each worker's due at a fixed interval and timed from when it was
    /// due, like consoles whose users click at a given rate (default: the
    /// closed loop, each worker calling again as soon as it is answered).
    /// Phases measured next to a raw baseline (intake, lifecycle without
    /// `--no-raw`) stay closed loops, so the two sides meet the same load.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Length of each measurement window.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Warm-up before each window, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Connection pool size of the in-process server (default: `database.max_connections`).
    #[arg(long)]
    pub pool_size: Option<u32>,
    /// Intake with the raw baseline: the window is split into this many
    /// alternating raw / hotline rounds (each side gets `--seconds` in all).
    #[arg(long, default_value_t = 2)]
    pub rounds: u32,
    /// Skip the raw database baseline of the intake scenario.
    #[arg(long)]
    pub no_raw: bool,
    /// Citizen messages to draw titles and descriptions from.
    /// Default: the 286 real messages built into the binary.
    #[arg(long)]
    pub messages: Option<PathBuf>,
    /// Seed of the request generator, so two runs send the same requests.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// `tracing` filter of the in-process server's log lines (default:
    /// `warn`), in every telemetry mode, as `serve` always writes logs.
    #[arg(long)]
    pub log: Option<String>,
    /// What the in-process server records of each RPC: `on` as in
    /// production (RPC metrics, admin port, spans exported over OTLP to a
    /// collector the bench serves), `off` (none of it), or `compare`: one
    /// server of each on the same database, measured in alternating rounds.
    #[arg(long, value_enum, default_value = "on")]
    pub telemetry: TelemetryMode,
    /// `telemetry.span_filter` of the in-process server: which spans are
    /// exported (default: the server's default).
    #[arg(long)]
    pub span_filter: Option<String>,
    /// `telemetry.sample_ratio` of the in-process server (default: the
    /// server's default, a tenth of the traces; 1.0 exports every one).
    #[arg(long)]
    pub sample_ratio: Option<f64>,
}

/// Options of `hotline bench read`.
#[derive(Debug, Clone, Args)]
pub struct ReadOptions {
    /// What every load scenario takes.
    #[command(flatten)]
    pub run: RunOptions,
    /// Only these operations of the mix, comma-separated report names (e.g.
    /// `ListDuplicateCandidates.ticket,ListDuplicateCandidates.draft`), in
    /// their mix proportions: to time one kind of call alone, at a rate of
    /// its own, without the rest of the mix queueing beside it.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

/// `--telemetry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TelemetryMode {
    /// RPC metrics, the admin port and OTLP span export.
    On,
    /// No RPC metrics, no admin port, no span export (log lines only).
    Off,
    /// Both, in alternating rounds (intake).
    Compare,
}

impl RunOptions {
    /// The measurement window.
    pub fn window(&self) -> Duration {
        Duration::from_secs_f64(self.seconds.max(0.1))
    }

    /// The warm-up.
    pub fn warmup(&self) -> Duration {
        Duration::from_secs_f64(self.warmup.max(0.0))
    }

    /// Workers, at least one.
    pub fn workers(&self) -> usize {
        self.concurrency.max(1)
    }
}
