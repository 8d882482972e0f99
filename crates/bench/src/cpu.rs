//! CPU time spent per operation, read from Linux's /proc.
//!
//! Why: on a shared 2-core machine throughput moves by ±5 % from one run to
//! the next with the neighbours' load, more than a few per cent of overhead
//! (telemetry on against off) can be told apart by. The CPU time a process
//! spends per ticket moves much less with the neighbours, and on a
//! CPU-bound machine throughput is the cores divided by the CPU time all
//! processes spend per ticket — so a cost in CPU per ticket is a cost in
//! throughput, measured without the noise of the wall clock.
//!
//! What it reads over a measured window: the bench's own process (the
//! in-process server and the load generator); the
//! threads of the stand-in OTLP collector (named [`COLLECTOR_THREAD`]),
//! whose work a production collector does on another machine; and every
//! PostgreSQL process of the machine (comm `postgres`: the backends serving
//! the bench, and the checkpointer and WAL writer behind them; other
//! databases' clients would count too, so measure on a quiet server).

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Name of the stand-in collector's thread (see
/// [`super::tracing_setup::SpanSink`]), so its CPU can be told apart.
pub const COLLECTOR_THREAD: &str = "otlp-sink";

/// Clock ticks per second of /proc's `utime`/`stime`: `USER_HZ`, which the
/// kernel fixes at 100 for user space on every architecture Linux exports
/// it to (the ABI `sysconf(_SC_CLK_TCK)` reports), so no libc call is
/// needed for it.
const TICKS_PER_SECOND: f64 = 100.0;

/// Which processes are read.
#[derive(Debug, Clone)]
pub struct CpuMeter {
    /// `/proc/self` or `/proc/<pid>`.
    process: PathBuf,
    /// Whether PostgreSQL's processes are read too.
    postgres: bool,
}

/// CPU seconds used so far, by part.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuReading {
    process: f64,
    collector: f64,
    postgres: f64,
}

/// CPU spent over measured windows, as reported: microseconds per
/// operation of the scenario's primary call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct CpuPerOp {
    /// The measured process without the collector's threads: the server and
    /// (in process) the load generator.
    pub process_us: f64,
    /// The stand-in collector's threads (telemetry on only).
    pub collector_us: f64,
    /// Every PostgreSQL process (0 on SQLite).
    pub postgres_us: f64,
}

impl CpuMeter {
    /// This process, and PostgreSQL when `postgres`.
    pub fn in_process(postgres: bool) -> Self {
        Self {
            process: PathBuf::from("/proc/self"),
            postgres,
        }
    }

    /// The CPU used so far; `None` without /proc.
    pub fn read(&self) -> Option<CpuReading> {
        let process = stat_seconds(&std::fs::read_to_string(self.process.join("stat")).ok()?)?;
        let collector = cpu_of(&self.process.join("task"), |n| {
            n.starts_with(COLLECTOR_THREAD)
        });
        let postgres = if self.postgres {
            cpu_of(Path::new("/proc"), |n| n == "postgres")
        } else {
            0.0
        };
        Some(CpuReading {
            process,
            collector,
            postgres,
        })
    }
}

impl CpuReading {
    /// What was used between `earlier` and `self`.
    pub fn since(&self, earlier: &CpuReading) -> CpuReading {
        CpuReading {
            process: (self.process - earlier.process).max(0.0),
            collector: (self.collector - earlier.collector).max(0.0),
            // A backend that exits takes its time with it: never negative.
            postgres: (self.postgres - earlier.postgres).max(0.0),
        }
    }

    /// Adds another window's use.
    pub fn add(&mut self, other: &CpuReading) {
        self.process += other.process;
        self.collector += other.collector;
        self.postgres += other.postgres;
    }

    /// Per operation, over `ops` operations; `None` for none.
    pub fn per_op(&self, ops: u64) -> Option<CpuPerOp> {
        if ops == 0 {
            return None;
        }
        let us = |s: f64| (s * 1e6 / ops as f64 * 10.0).round() / 10.0;
        Some(CpuPerOp {
            process_us: us((self.process - self.collector).max(0.0)),
            collector_us: us(self.collector),
            postgres_us: us(self.postgres),
        })
    }
}

impl CpuPerOp {
    /// The report's line.
    pub fn render(&self, op: &str) -> String {
        format!(
            "CPU per {op}: {:.1} µs server and load generator, {:.1} µs PostgreSQL, {:.1} µs stand-in collector\n",
            self.process_us, self.postgres_us, self.collector_us
        )
    }
}

/// `utime + stime` of a /proc `stat` line, in seconds. The command name
/// (field 2) is in parentheses and may hold spaces, so fields are counted
/// from its closing parenthesis.
fn stat_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// The command name of a /proc `stat` line.
fn stat_name(stat: &str) -> Option<&str> {
    Some(&stat[stat.find('(')? + 1..stat.rfind(')')?])
}

/// CPU seconds of the processes (or, under a `task` directory, threads)
/// in `dir` whose name `matches`: a process's `stat` sums its threads.
fn cpu_of(dir: &Path, matches: impl Fn(&str) -> bool) -> f64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| stat_name(stat).is_some_and(&matches))
        .filter_map(|stat| stat_seconds(&stat))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_time_past_a_name_with_spaces() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime …
        let stat = "4242 (otlp sink) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0";
        assert_eq!(stat_name(stat), Some("otlp sink"));
        assert_eq!(stat_seconds(stat), Some(3.0));
        assert_eq!(stat_seconds("garbage"), None);
    }

    #[test]
    fn per_op_takes_the_collector_out_of_the_process() {
        let use_ = CpuReading {
            process: 2.0,
            collector: 0.5,
            postgres: 1.0,
        };
        let per = use_.per_op(1_000_000).unwrap();
        assert_eq!(per.process_us, 1.5);
        assert_eq!(per.collector_us, 0.5);
        assert_eq!(per.postgres_us, 1.0);
        assert_eq!(use_.per_op(0), None);
        assert!(per.render("CreateTicket").contains("1.5 µs server"));
    }

    #[test]
    fn this_process_is_read_and_its_time_grows_with_work() {
        let meter = CpuMeter::in_process(false);
        let before = meter.read().expect("/proc/self/stat");
        // Spin for about 60 ms of CPU: at least a few ticks must show.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let used = meter.read().unwrap().since(&before);
        assert!(used.process >= 0.02, "{used:?}");
        assert_eq!(used.postgres, 0.0);
    }
}
