//! The closed loop: N workers, each calling, waiting for the answer and
//! calling again, for a warm-up and then a measured window. Each worker
//! records into its own [`Sheet`] (no locks on the hot path); sheets are
//! merged when the window closes.

use std::{
    collections::BTreeMap,
    future::Future,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::{
    cpu::{CpuMeter, CpuReading},
    stats::{Recorder, Summary},
};

/// Outcomes of each operation of a scenario, by operation name.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    ops: BTreeMap<&'static str, Recorder>,
}

impl Sheet {
    /// The recorder of `op`.
    pub fn op(&mut self, op: &'static str) -> &mut Recorder {
        self.ops.entry(op).or_default()
    }

    /// Times `call` and records it under `op`: its latency if it succeeds,
    /// its error code if not. Returns the value on success.
    pub async fn time<T, E: ErrorCode>(
        &mut self,
        op: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let start = Instant::now();
        let result = call.await;
        let elapsed = start.elapsed();
        match result {
            Ok(v) => {
                self.op(op).ok(elapsed);
                Some(v)
            }
            Err(e) => {
                self.op(op).error(&e.code());
                None
            }
        }
    }

    /// Adds another worker's sheet.
    pub fn merge(&mut self, other: &Sheet) {
        for (op, r) in &other.ops {
            self.op(op).merge(r);
        }
    }

    /// Summaries of every operation over a window.
    pub fn summaries(&self, elapsed: Duration) -> BTreeMap<String, Summary> {
        self.ops
            .iter()
            .map(|(op, r)| ((*op).to_owned(), r.summary(elapsed)))
            .collect()
    }

    /// Failed calls of every operation.
    pub fn error_count(&self) -> u64 {
        self.ops.values().map(Recorder::error_count).sum()
    }
}

/// An error's code for the report.
pub trait ErrorCode {
    /// E.g. `Unavailable`.
    fn code(&self) -> String;
}

impl ErrorCode for tonic::Status {
    fn code(&self) -> String {
        format!("{:?}", self.code())
    }
}

impl ErrorCode for hotline_store::StoreError {
    fn code(&self) -> String {
        use hotline_store::StoreError as E;
        match self {
            E::NotFound(_) => "NotFound",
            E::AlreadyExists(_) => "AlreadyExists",
            E::Conflict(_) => "Conflict",
            E::Unavailable(_) => "Unavailable",
            E::Internal { .. } => "Internal",
        }
        .to_owned()
    }
}

/// A closed-loop worker: one step is one unit of the scenario (one call, or
/// one ticket's whole lifecycle).
#[async_trait]
pub trait Worker: Send + 'static {
    /// Performs one step, recording each call into `sheet`.
    async fn step(&mut self, sheet: &mut Sheet);
}

/// Runs `workers` concurrently: `warmup` unrecorded, then `window` recorded.
/// Returns the merged sheet and the measured time, from the window's start
/// until the last worker's last step ended (steps started in the window run
/// to completion, so the divisor includes them).
pub async fn run<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<(Sheet, Duration)> {
    let (sheet, elapsed, _) = run_inner(workers, warmup, window, None).await?;
    Ok((sheet, elapsed))
}

/// [`run`], also reading `meter` when the window opens and when its last
/// step has ended: the CPU the window used.
pub async fn run_metered<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
    meter: &CpuMeter,
) -> anyhow::Result<(Sheet, Duration, CpuReading)> {
    let (sheet, elapsed, cpu) = run_inner(workers, warmup, window, Some(meter)).await?;
    Ok((sheet, elapsed, cpu.unwrap_or_default()))
}

async fn run_inner<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
    meter: Option<&CpuMeter>,
) -> anyhow::Result<(Sheet, Duration, Option<CpuReading>)> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + window;
    let mut tasks = Vec::with_capacity(workers.len());
    for mut worker in workers {
        tasks.push(tokio::spawn(async move {
            let mut scratch = Sheet::default();
            while Instant::now() < measure_from {
                worker.step(&mut scratch).await;
            }
            let mut sheet = Sheet::default();
            while Instant::now() < end {
                worker.step(&mut sheet).await;
            }
            (sheet, Instant::now())
        }));
    }
    let cpu_start = match meter {
        Some(meter) => {
            tokio::time::sleep_until(measure_from.into()).await;
            meter.read()
        }
        None => None,
    };
    let mut total = Sheet::default();
    let mut last = measure_from;
    for task in tasks {
        let (sheet, finished) = task.await?;
        total.merge(&sheet);
        last = last.max(finished);
    }
    let cpu = cpu_start.zip(meter.and_then(CpuMeter::read));
    Ok((
        total,
        last.saturating_duration_since(measure_from),
        cpu.map(|(start, end)| end.since(&start)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sleeper {
        every: u32,
        n: u32,
    }

    #[async_trait]
    impl Worker for Sleeper {
        async fn step(&mut self, sheet: &mut Sheet) {
            self.n += 1;
            let fail = self.n.is_multiple_of(self.every);
            sheet
                .time("nap", async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    if fail {
                        Err(tonic::Status::unavailable("down"))
                    } else {
                        Ok(())
                    }
                })
                .await;
        }
    }

    #[tokio::test]
    async fn closed_loop_counts_every_step_of_every_worker() {
        let workers = (0..4).map(|_| Sleeper { every: 4, n: 0 }).collect();
        let (sheet, elapsed) = run(
            workers,
            Duration::from_millis(20),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(elapsed >= Duration::from_millis(200));
        let s = &sheet.summaries(elapsed)["nap"];
        assert!(s.requests > 0);
        assert_eq!(s.requests, s.ok + s.errors);
        assert_eq!(s.errors_by_code.get("Unavailable").copied(), Some(s.errors));
        assert!(s.errors > 0 && s.ok > s.errors);
        assert!(s.p50_ms >= 5.0, "{}", s.p50_ms);
        assert_eq!(sheet.error_count(), s.errors);
    }
}
