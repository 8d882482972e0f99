//! The result of a run: printed as a table and written as JSON, with the
//! machine and date, so figures can be compared across runs and machines.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;
use serde::Serialize;

use super::{cpu::CpuPerOp, memory::Memory, stats::Summary};

/// Everything one `hotline bench` run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `intake`, `lifecycle`, `read` or `stats`.
    pub scenario: String,
    /// When the run ended (UTC, RFC 3339).
    pub date: String,
    /// Where it ran.
    pub machine: Machine,
    /// The server's backend.
    pub backend: String,
    /// Its connection pool size (in-process server only).
    pub pool_size: Option<u32>,
    /// Workers.
    pub concurrency: usize,
    /// `--rate`: the open loop's calls per second across the workers
    /// (`None`: a closed loop).
    pub rate: Option<f64>,
    /// Measurement window asked for, per phase.
    pub seconds: f64,
    /// Warm-up before each window.
    pub warmup_seconds: f64,
    /// The operation whose throughput is the scenario's figure.
    pub primary: String,
    /// Every operation through gRPC, by name.
    pub hotline: BTreeMap<String, Summary>,
    /// The same transaction straight through the store (intake only).
    pub raw: Option<Summary>,
    /// Primary throughput ÷ raw throughput.
    pub ratio: Option<f64>,
    /// Intake: the same tickets written one transaction per ticket, one
    /// statement per table, as a straightforward service would.
    pub naive: Option<Summary>,
    /// Primary throughput ÷ naive throughput.
    pub ratio_to_naive: Option<f64>,
    /// Lifecycle: each operation's raw store path, by name (`raw SignTicket`…).
    pub raw_ops: BTreeMap<String, Summary>,
    /// Lifecycle: each operation's raw mean latency ÷ its mean latency
    /// through the server, i.e. the share of its raw path's speed it reaches.
    pub raw_ratios: BTreeMap<String, f64>,
    /// `--telemetry`: `on`, `off` or `compare`.
    pub telemetry: String,
    /// `compare`: the primary operation on the server without RPC metrics
    /// and tracing, in the same rounds.
    pub without_telemetry: Option<Summary>,
    /// Its throughput ÷ raw throughput.
    pub ratio_without_telemetry: Option<f64>,
    /// Spans the bench's collector received (telemetry on), so a run shows
    /// the export really happened.
    pub spans_exported: Option<u64>,
    /// The server's resident memory over the run (see [`super::memory`]);
    /// `None` against `--target` without `--server-pid`, or without /proc.
    pub memory: Option<Memory>,
    /// Intake: CPU time per ticket created through the server (see
    /// [`super::cpu`]): on a CPU-bound machine, the cost that decides
    /// throughput, measured without the wall clock's noise.
    pub cpu: Option<CpuPerOp>,
    /// The same per ticket of the raw store path.
    pub raw_cpu: Option<CpuPerOp>,
}

/// The machine a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo, when readable.
    pub cpu_model: Option<String>,
    /// `MemTotal` of /proc/meminfo in GiB, when readable.
    pub memory_gib: Option<f64>,
    /// 1-minute load average at the end of the run, when readable.
    pub load_average: Option<f64>,
}

impl Machine {
    /// Describes this machine (Linux /proc where available).
    pub fn here() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let cpu_model = read("/proc/cpuinfo").and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        });
        let memory_gib = read("/proc/meminfo").and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map(|kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0)
        });
        let load_average = read("/proc/loadavg")
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        Self {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            memory_gib,
            load_average,
        }
    }
}

impl Report {
    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
    }

    /// The human-readable table.
    pub fn render(&self) -> String {
        let mut out = format!(
            "hotline bench {}: {} workers{}, {:.0} s (+{:.0} s warm-up), {}{}\n",
            self.scenario,
            self.concurrency,
            self.rate
                .map(|r| format!(" at {r:.0} calls/s (open loop)"))
                .unwrap_or_default(),
            self.seconds,
            self.warmup_seconds,
            self.backend,
            self.pool_size
                .map(|n| format!(", pool {n}"))
                .unwrap_or_default()
        );
        out.push_str(&format!(
            "{:<30} {:>9} {:>10} {:>8} {:>8} {:>8} {:>8}  errors\n",
            "operation", "ok", "per s", "p50 ms", "p90 ms", "p99 ms", "max ms"
        ));
        let rows = self
            .hotline
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .chain(
                self.raw
                    .iter()
                    .filter(|_| self.raw_ops.is_empty())
                    .map(|r| ("raw (store only)", r)),
            )
            .chain(self.raw_ops.iter().map(|(k, v)| (k.as_str(), v)))
            .chain(self.naive.iter().map(|r| ("naive (tx per ticket)", r)))
            .chain(
                self.without_telemetry
                    .iter()
                    .map(|r| ("  … telemetry off", r)),
            );
        for (name, s) in rows {
            let errors = if s.errors_by_code.is_empty() {
                "0".to_owned()
            } else {
                s.errors_by_code
                    .iter()
                    .map(|(c, n)| format!("{c}={n}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            out.push_str(&format!(
                "{:<30} {:>9} {:>10.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2}  {errors}\n",
                name, s.ok, s.throughput, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms
            ));
        }
        if let Some(r) = self.ratio {
            out.push_str(&format!(
                "{} = {:.1} % of the raw database limit (telemetry {})\n",
                self.primary,
                r * 100.0,
                if self.telemetry == "off" { "off" } else { "on" }
            ));
        }
        if let Some(r) = self.ratio_to_naive {
            out.push_str(&format!(
                "{} = {:.2} × the naive one-transaction-per-ticket baseline\n",
                self.primary, r
            ));
        }
        for (op, r) in &self.raw_ratios {
            out.push_str(&format!(
                "{op} = {:.1} % of its raw store path (mean latency)\n",
                r * 100.0
            ));
        }
        if let Some(r) = self.ratio_without_telemetry {
            out.push_str(&format!(
                "{} = {:.1} % of the raw database limit with telemetry off\n",
                self.primary,
                r * 100.0
            ));
        }
        if let (Some(off), Some(on)) = (&self.without_telemetry, self.hotline.get(&self.primary)) {
            out.push_str(&format!(
                "telemetry on / off: {:.1} % of the throughput\n",
                on.throughput / off.throughput * 100.0
            ));
        }
        if let Some(n) = self.spans_exported {
            out.push_str(&format!("spans exported over OTLP: {n}\n"));
        }
        if let Some(cpu) = &self.cpu {
            out.push_str(&cpu.render(&self.primary));
        }
        if let Some(cpu) = &self.raw_cpu {
            out.push_str(&cpu.render("raw ticket"));
        }
        match &self.memory {
            Some(memory) => out.push_str(&memory.render()),
            None => out.push_str("peak RSS: not measured (--target without --server-pid)\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn report_renders_and_serialises_the_ratio() {
        let mut r = Recorder::new();
        r.ok(std::time::Duration::from_millis(2));
        r.error("Unavailable");
        let s = r.summary(std::time::Duration::from_secs(1));
        let report = Report {
            scenario: "intake".into(),
            date: "2026-11-23T00:00:00Z".into(),
            machine: Machine::here(),
            backend: "sqlite".into(),
            pool_size: Some(8),
            concurrency: 4,
            rate: None,
            seconds: 1.0,
            warmup_seconds: 0.0,
            primary: "CreateTicket".into(),
            hotline: [("CreateTicket".to_owned(), s.clone())].into(),
            raw: Some(s.clone()),
            ratio: Some(0.75),
            naive: Some(s.clone()),
            ratio_to_naive: Some(1.6),
            raw_ops: [("raw SignTicket".to_owned(), s.clone())].into(),
            raw_ratios: [("SignTicket".to_owned(), 0.85)].into(),
            telemetry: "compare".into(),
            without_telemetry: Some(s),
            ratio_without_telemetry: Some(0.76),
            spans_exported: Some(12),
            memory: Some(Memory {
                measures: "server process 42".into(),
                rss_start_mib: 50.0,
                peak_rss_mib: 123.4,
                peak_since_start: true,
            }),
            cpu: Some(CpuPerOp {
                process_us: 180.0,
                collector_us: 0.0,
                postgres_us: 220.0,
            }),
            raw_cpu: None,
        };
        let text = report.render();
        assert!(text.contains("75.0 %"), "{text}");
        assert!(text.contains("CPU per "), "{text}");
        assert!(
            text.contains("76.0 % of the raw database limit with telemetry off"),
            "{text}"
        );
        assert!(text.contains("telemetry on / off: 100.0 %"), "{text}");
        assert!(text.contains("spans exported over OTLP: 12"), "{text}");
        assert!(text.contains("Unavailable=1"), "{text}");
        assert!(text.contains("naive (tx per ticket)"), "{text}");
        assert!(text.contains("CreateTicket = 1.60 × the naive"), "{text}");
        assert!(
            text.contains("SignTicket = 85.0 % of its raw store path"),
            "{text}"
        );
        assert!(text.contains("raw SignTicket"), "{text}");
        assert!(
            text.contains("peak RSS 123.4 MiB (at start 50.0 MiB; server process 42)"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(json["ratio"], 0.75);
        assert_eq!(json["hotline"]["CreateTicket"]["errors"], 1);
        assert_eq!(json["memory"]["peak_rss_mib"], 123.4);
    }
}
