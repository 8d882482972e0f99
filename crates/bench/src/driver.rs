//! The load loop: N workers, each calling, waiting for the answer and
//! calling again, for a warm-up and then a measured window. Each worker
//! records into its own [`Sheet`] (no locks on the hot path); sheets are
//! merged when the window closes.
//!
//! Closed by default (the next call leaves as soon as the answer arrives),
//! which finds the machine's limit but, once the cores are saturated, turns
//! every latency into queueing (Little's law: workers ÷ throughput). With a
//! [`Pace`] the loop is open: each worker's calls are due at a fixed
//! interval, as consoles whose agents click at a given rate, and a call's
//! latency runs from when it was due, not from when the late worker got to
//! it, so a stalled server is charged for the backlog it caused (no
//! coordinated omission), while a worker that was waiting on schedule is
//! not charged its own timer's granularity ([`charged_from`]).

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
    /// When the step about to run was due (open loop): the next timed
    /// call's latency is measured from it.
    due: Option<Instant>,
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
        let start = self.due.take().unwrap_or_else(Instant::now);
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

    /// Failed calls of every operation by error code, e.g.
    /// `Unauthenticated: 3, Unavailable: 1` (empty when none failed).
    pub fn errors_by_code(&self) -> String {
        let mut codes: BTreeMap<String, u64> = BTreeMap::new();
        for r in self.ops.values() {
            for (code, n) in r.errors() {
                *codes.entry(code.clone()).or_default() += n;
            }
        }
        codes
            .iter()
            .map(|(code, n)| format!("{code}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
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

/// How often a worker steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As soon as its previous step has ended.
    Closed,
    /// Open loop: this many steps per second across all workers, each
    /// worker's due at a fixed interval, the workers' schedules staggered.
    Rate(f64),
}

impl Pace {
    /// `--rate`: `None` or not positive is the closed loop.
    pub fn from_rate(rate: Option<f64>) -> Self {
        match rate {
            Some(r) if r > 0.0 && r.is_finite() => Self::Rate(r),
            _ => Self::Closed,
        }
    }

    /// Worker `index`'s schedule among `workers`: its first due time from
    /// the start, and the interval between its steps.
    fn schedule(self, index: usize, workers: usize) -> Option<(Duration, Duration)> {
        let Self::Rate(rate) = self else {
            return None;
        };
        let interval = Duration::from_secs_f64(workers as f64 / rate);
        Some((interval.mul_f64(index as f64 / workers as f64), interval))
    }
}

/// Lateness of a wake-up the load generator forgives a worker that was on
/// schedule: tokio rounds a deadline up to its next millisecond tick and
/// the kernel's wait to whole milliseconds, so such a worker wakes up to
/// about 2 ms late through no fault of the server's. Later than that, the
/// worker was kept from running (in-process, by the server sharing its
/// runtime and cores), which is charged.
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// When an open-loop call's latency starts, for a step due at `due`
/// whose worker woke at `woke`; `behind` says the worker reached the step
/// only at or after its due time (its previous call ran past it: a server
/// stall, or its queueing), so it did not sleep.
///
/// - Behind schedule: from the due time, so the backlog the server caused
///   is charged to it (no coordinated omission).
/// - On schedule: from the wake-up, at most [`TIMER_SLACK`] after the
///   due time; lateness beyond the slack is charged. (Until session 16 a
///   fixed 1 ms was forgiven, which left up to another millisecond of the
///   generator's own timer in every open-loop figure.)
fn charged_from(due: Instant, woke: Instant, behind: bool) -> Instant {
    if behind {
        due
    } else {
        woke.clamp(due, due + TIMER_SLACK)
    }
}

/// Runs `workers` concurrently in a closed loop: `warmup` unrecorded, then
/// `window` recorded. Returns the merged sheet and the measured time, from
/// the window's start until the last worker's last step ended (steps
/// started in the window run to completion, so the divisor includes them).
pub async fn run<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<(Sheet, Duration)> {
    run_paced(workers, warmup, window, Pace::Closed).await
}

/// [`run`] at a [`Pace`].
pub async fn run_paced<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
    pace: Pace,
) -> anyhow::Result<(Sheet, Duration)> {
    let (sheet, elapsed, _) = run_inner(workers, warmup, window, None, pace).await?;
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
    let (sheet, elapsed, cpu) =
        run_inner(workers, warmup, window, Some(meter), Pace::Closed).await?;
    Ok((sheet, elapsed, cpu.unwrap_or_default()))
}

async fn run_inner<W: Worker>(
    workers: Vec<W>,
    warmup: Duration,
    window: Duration,
    meter: Option<&CpuMeter>,
    pace: Pace,
) -> anyhow::Result<(Sheet, Duration, Option<CpuReading>)> {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + window;
    let n = workers.len();
    let mut tasks = Vec::with_capacity(n);
    for (index, mut worker) in workers.into_iter().enumerate() {
        let mut schedule = pace
            .schedule(index, n)
            .map(|(offset, interval)| (start + offset, interval));
        tasks.push(tokio::spawn(async move {
            let mut scratch = Sheet::default();
            let mut sheet = Sheet::default();
            loop {
                // A paced step belongs to the phase it is due in.
                let at = schedule.map_or_else(Instant::now, |(due, _)| due);
                if at >= end {
                    break;
                }
                let page = if at < measure_from {
                    &mut scratch
                } else {
                    &mut sheet
                };
                if let Some((due, interval)) = &mut schedule {
                    // Behind schedule, the step starts at once: sleeping
                    // until a past deadline would still wait for the
                    // timer's next tick.
                    let behind = Instant::now() >= *due;
                    if !behind {
                        tokio::time::sleep_until((*due).into()).await;
                    }
                    page.due = Some(charged_from(*due, Instant::now(), behind));
                    *due += *interval;
                }
                worker.step(page).await;
                page.due = None;
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

    struct Napper(Duration);

    #[async_trait]
    impl Worker for Napper {
        async fn step(&mut self, sheet: &mut Sheet) {
            let nap = self.0;
            sheet
                .time("nap", async {
                    tokio::time::sleep(nap).await;
                    Ok::<(), tonic::Status>(())
                })
                .await;
        }
    }

    #[tokio::test]
    async fn an_open_loop_steps_at_its_rate_whatever_the_answer_time() {
        // 4 workers at 200 steps/s in all: one every 20 ms each, 1 ms naps.
        let workers = (0..4).map(|_| Napper(Duration::from_millis(1))).collect();
        let window = Duration::from_millis(500);
        let (sheet, _) = run_paced(workers, Duration::ZERO, window, Pace::Rate(200.0))
            .await
            .unwrap();
        let s = &sheet.summaries(window)["nap"];
        assert!((90..=110).contains(&s.ok), "{} steps, 100 due", s.ok);
        // A 1 ms call is not charged the 20 ms between its worker's steps
        // (the median, so a late timer on a loaded machine cannot fail it).
        assert!(
            s.p50_ms < 10.0,
            "{} ms: a step waited for its due time",
            s.p50_ms
        );
    }

    #[test]
    fn a_wake_up_late_by_the_timer_is_not_charged_but_a_backlog_is() {
        let due = Instant::now();
        let ms = Duration::from_millis;
        // On schedule: from the wake-up, up to the timer's slack.
        assert_eq!(charged_from(due, due, false), due);
        assert_eq!(charged_from(due, due + ms(1), false), due + ms(1));
        assert_eq!(
            charged_from(due, due + TIMER_SLACK, false),
            due + TIMER_SLACK
        );
        // Woken 40 ms late (kept from running): all but the slack charged.
        assert_eq!(charged_from(due, due + ms(40), false), due + TIMER_SLACK);
        // Woken early (cannot happen with tokio's timer): from due.
        assert_eq!(charged_from(due + ms(2), due, false), due + ms(2));
        // Behind schedule by 40 ms: all of it is charged.
        assert_eq!(charged_from(due, due + ms(40), true), due);
    }

    #[tokio::test]
    async fn an_open_loop_charges_the_backlog_to_the_late_calls() {
        // One worker due every 10 ms whose calls take 20 ms: the n-th call
        // starts about n × 10 ms late, and its latency says so.
        let workers = vec![Napper(Duration::from_millis(20))];
        let window = Duration::from_millis(300);
        let (sheet, _) = run_paced(workers, Duration::ZERO, window, Pace::Rate(100.0))
            .await
            .unwrap();
        let s = &sheet.summaries(window)["nap"];
        assert!(s.ok >= 10, "{}", s.ok);
        assert!(
            s.max_ms > 100.0,
            "max {} ms: the backlog is not counted",
            s.max_ms
        );
        assert_eq!(Pace::from_rate(Some(0.0)), Pace::Closed);
        assert_eq!(Pace::from_rate(None), Pace::Closed);
    }
}
