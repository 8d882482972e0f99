//! `hotline bench knowledge`: the knowledge search of SuggestArticles at
//! scale (issue 17: < 20 ms p99 at 100 k articles), in process, next to
//! three baselines measured in the same run on the same index and queries
//! (none of them makes snippets):
//!
//! - `every-term`: every distinct word and bigram of the text, `text AND
//!   filters`: the query as a first version would build it;
//! - `pruned`: the engine's terms under a top-k collector with Block-WAND
//!   pruning and the filters per candidate (same hits);
//! - `unfiltered`: the engine's text query alone, no filters.
//!
//! Builds the index on disk (as a replica does at start), then runs each
//! operation for `--seconds` with `--concurrency` closed-loop threads after
//! a warm-up. With `--grpc`, the engine's searches are then asked again
//! through `SuggestArticles` on an in-process server holding the same
//! articles ([`grpc`]), with as many closed-loop callers.

pub mod corpus;
pub mod grpc;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Args;
use serde::Serialize;

use super::{
    memory::{Memory, MemoryProbe},
    report::Machine,
    stats::{Recorder, Summary},
};
use hotline_knowledge::{KnowledgeIndex, QueryError, SearchQuery, search::Baseline};

/// The target of issue 17.
const TARGET_P99_MS: f64 = 20.0;
/// Distinct queries prepared (cycled by the workers).
const QUERIES: usize = 10_000;

/// Options of `hotline bench knowledge`.
#[derive(Debug, Clone, Args)]
pub struct KnowledgeOptions {
    /// Articles in the index.
    #[arg(long, default_value_t = 100_000)]
    pub articles: usize,
    /// Concurrent searching threads (each waits for its answer).
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Length of each measurement window.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Warm-up before each window, not measured.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Hits per search (SuggestArticles' top k).
    #[arg(long, default_value_t = 5)]
    pub limit: usize,
    /// Seed of the articles and queries.
    #[arg(long, default_value_t = 12345)]
    pub seed: u64,
    /// Directory of the index (default: a temporary one, removed after).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also ask the searches through SuggestArticles over gRPC, on an
    /// in-process server whose database holds the same articles.
    #[arg(long)]
    pub grpc: bool,
}

/// One operation's window.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// `search` (the engine), `every-term`, `pruned` or `unfiltered`.
    pub op: &'static str,
    /// Throughput and latency.
    pub summary: Summary,
    /// Mean hits per answered search.
    pub mean_hits: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct KnowledgeReport {
    /// Articles indexed.
    pub articles: usize,
    /// Of which in force on the day searched.
    pub in_force: usize,
    /// Seconds to generate the articles.
    pub generate_seconds: f64,
    /// Seconds to build and commit the index.
    pub build_seconds: f64,
    /// Size of the index directory, MiB.
    pub index_mib: f64,
    /// Searchable segments after the build.
    pub segments: usize,
    /// Worker threads.
    pub concurrency: usize,
    /// Hits per search.
    pub limit: usize,
    /// The engine and the baselines.
    pub results: Vec<Measured>,
    /// Whether the engine's p99 is under [`TARGET_P99_MS`].
    pub meets_target: bool,
    /// Whether SuggestArticles' p99 over gRPC is (none without `--grpc`).
    pub grpc_meets_target: Option<bool>,
    /// Resident memory over the measurements (none without /proc).
    pub memory: Option<Memory>,
    /// Where it ran.
    pub machine: Machine,
}

/// One search the way `op` answers it; the number of hits.
fn run_one(index: &KnowledgeIndex, op: &str, query: &SearchQuery) -> Result<usize, QueryError> {
    match op {
        "every-term" => Ok(index.search_baseline(query, Baseline::EveryTerm)?.len()),
        "pruned" => Ok(index.search_baseline(query, Baseline::Pruned)?.len()),
        "unfiltered" => Ok(index.search_baseline(query, Baseline::Unfiltered)?.len()),
        _ => Ok(index.search(query)?.len()),
    }
}

/// Closed loop of `threads` workers for `window`; recorders merged.
fn window(
    index: &KnowledgeIndex,
    op: &'static str,
    queries: &[SearchQuery],
    threads: usize,
    window: Duration,
) -> (Recorder, u64) {
    let deadline = Instant::now() + window;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let mut recorder = Recorder::new();
                    let mut hits = 0u64;
                    let mut next = worker * queries.len() / threads.max(1);
                    while Instant::now() < deadline {
                        let query = &queries[next % queries.len()];
                        next += 1;
                        let started = Instant::now();
                        match run_one(index, op, query) {
                            Ok(n) => {
                                recorder.ok(started.elapsed());
                                hits += n as u64;
                            }
                            Err(QueryError::Invalid { field, .. }) => recorder.error(field),
                            Err(QueryError::Index(_)) => recorder.error("index"),
                        }
                    }
                    (recorder, hits)
                })
            })
            .collect();
        let mut all = Recorder::new();
        let mut hits = 0;
        for worker in workers {
            if let Ok((recorder, n)) = worker.join() {
                all.merge(&recorder);
                hits += n;
            }
        }
        (all, hits)
    })
}

fn directory_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => directory_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Runs the benchmark, prints the table and writes the JSON.
pub fn run(opts: &KnowledgeOptions) -> anyhow::Result<KnowledgeReport> {
    anyhow::ensure!(
        opts.articles > 0 && opts.concurrency > 0,
        "--articles and --concurrency must be positive"
    );
    // The centre's today, as the server of `--grpc` filters by it: the
    // articles' dates (some expired, some not yet in force) are drawn
    // around it.
    let hours = hotline::config::Settings::default().centre.utc_offset_hours;
    let offset = chrono::FixedOffset::east_opt(hours * 3600).context("centre offset")?;
    let now = hotline::domain::Clock::now(&hotline::domain::SystemClock);
    let today = now.with_timezone(&offset).date_naive();
    let pool = corpus::Pool::built_in()?;
    let started = Instant::now();
    let articles = corpus::articles(&pool, opts.articles, opts.seed, today);
    let generate_seconds = started.elapsed().as_secs_f64();
    let in_force = articles.iter().filter(|a| a.in_force_on(today)).count();
    let temp = tempfile::tempdir()?;
    let dir = opts.dir.clone().unwrap_or_else(|| temp.path().to_owned());
    eprintln!(
        "building an index of {} articles in {} ...",
        opts.articles,
        dir.display()
    );
    let started = Instant::now();
    let stamp = format!("bench-{}", opts.seed);
    let stored = opts.grpc.then(|| articles.clone());
    let (index, _) =
        KnowledgeIndex::open_or_rebuild(&dir, &stamp, |had| had == stamp, || Ok(articles))?;
    let build_seconds = started.elapsed().as_secs_f64();
    let queries = corpus::queries(&pool, QUERIES, opts.seed, today, opts.limit);
    // From here on: the searches, and with `--grpc` the server's start,
    // its own index build and every RPC.
    let probe = MemoryProbe::in_process();
    let memory_start = probe.start();
    let mut results = Vec::new();
    for op in ["search", "every-term", "pruned", "unfiltered"] {
        eprintln!(
            "{op}: {} s warm-up, {} s measured ...",
            opts.warmup, opts.seconds
        );
        window(
            &index,
            op,
            &queries,
            opts.concurrency,
            Duration::from_secs_f64(opts.warmup.max(0.0)),
        );
        let length = Duration::from_secs_f64(opts.seconds.max(0.1));
        let (recorder, hits) = window(&index, op, &queries, opts.concurrency, length);
        let summary = recorder.summary(length);
        let mean_hits = hits as f64 / summary.ok.max(1) as f64;
        results.push(Measured {
            op,
            summary,
            mean_hits,
        });
    }
    if let Some(articles) = stored {
        let measured = grpc::measure(
            articles,
            &queries,
            opts.concurrency,
            Duration::from_secs_f64(opts.warmup.max(0.0)),
            Duration::from_secs_f64(opts.seconds.max(0.1)),
        );
        results.push(block_on(measured)??);
    }
    let meets = |m: &Measured| m.summary.ok > 0 && m.summary.p99_ms < TARGET_P99_MS;
    let meets_target = results.first().is_some_and(meets);
    let grpc_meets_target = results.iter().find(|m| m.op == grpc::OP).map(meets);
    let report = KnowledgeReport {
        articles: opts.articles,
        in_force,
        generate_seconds,
        build_seconds,
        index_mib: directory_bytes(&dir) as f64 / 1024.0 / 1024.0,
        segments: index.tantivy().searchable_segment_ids()?.len(),
        concurrency: opts.concurrency,
        limit: opts.limit,
        results,
        meets_target,
        grpc_meets_target,
        memory: memory_start.and_then(|start| probe.finish(start)),
        machine: Machine::here(),
    };
    println!("{}", render(&report));
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")?;
    }
    Ok(report)
}

/// Runs `f` to completion from this blocking thread: on the runtime that
/// started it (`hotline bench` runs the scenario on a blocking thread of
/// its runtime), or on one of its own (a test).
fn block_on<F: std::future::Future>(f: F) -> anyhow::Result<F::Output> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => Ok(handle.block_on(f)),
        Err(_) => Ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(f)),
    }
}

/// The report as a Markdown table and a few lines.
pub fn render(r: &KnowledgeReport) -> String {
    let mut out = format!(
        "knowledge search: {} articles ({} in force), built in {:.1} s, {:.0} MiB, {} segments; \
         {} threads, top {}\n\n| op | searches/s | p50 ms | p90 ms | p99 ms | max ms | hits | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
        r.articles, r.in_force, r.build_seconds, r.index_mib, r.segments, r.concurrency, r.limit
    );
    for m in &r.results {
        let s = &m.summary;
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} |\n",
            m.op, s.throughput, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, m.mean_hits, s.errors
        ));
    }
    let verdict = |meets: bool| if meets { "meets" } else { "MISSES" };
    out.push_str(&format!(
        "\np99 of search {} the {TARGET_P99_MS} ms target",
        verdict(r.meets_target)
    ));
    if let Some(meets) = r.grpc_meets_target {
        out.push_str(&format!(", of {} {}", grpc::OP, verdict(meets)));
    }
    out.push_str(&format!(
        " ({} CPUs, load {:.1})",
        r.machine.cpus,
        r.machine.load_average.unwrap_or_default()
    ));
    if let Some(memory) = &r.memory {
        out.push('\n');
        out.push_str(memory.render().trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_run_measures_all_four_and_the_rpc_and_agrees_on_hits() {
        let opts = KnowledgeOptions {
            articles: 2_000,
            concurrency: 2,
            seconds: 0.3,
            warmup: 0.0,
            limit: 5,
            seed: 1,
            dir: None,
            json: None,
            grpc: true,
        };
        let report = run(&opts).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(report.results.len(), 5);
        assert_eq!(report.results[4].op, grpc::OP);
        assert!(report.grpc_meets_target.is_some());
        // The server answers the same queries over the same articles on the
        // same day as the engine: as many hits.
        let (engine, rpc) = (&report.results[0], &report.results[4]);
        assert!(
            (engine.mean_hits - rpc.mean_hits).abs() < 0.05,
            "{engine:?} {rpc:?}"
        );
        for m in &report.results {
            assert!(m.summary.ok > 0 && m.summary.errors == 0, "{m:?}");
            assert!(m.mean_hits > 0.0 && m.mean_hits <= 5.0, "{m:?}");
        }
        assert!(report.in_force < report.articles);
        assert!(render(&report).contains("| pruned |"));
        // Linux: the bench process's peak over the searches and the server.
        let memory = report.memory.as_ref().expect("/proc");
        assert!(memory.peak_rss_mib >= memory.rss_start_mib, "{memory:?}");
        assert!(render(&report).contains("peak RSS"));
    }
}
