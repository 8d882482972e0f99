//! Group commit of intakes: `CreateTicket`s arriving together are written
//! together, in one transaction (on PostgreSQL one statement).
//!
//! Why: intake is the hottest write, and most of its database cost is per
//! transaction, not per row — the round trip, the executor's start-up, the
//! commit record and the wait for its WAL flush. Up to [`MAX_BATCH`]
//! intakes that queue while a committer is busy share all of that; under
//! light load a batch is one intake and nothing waits for company (there
//! is no timer). Each ticket still commits atomically with its events,
//! idempotency record and counters, because they are all in the batch's
//! one transaction.
//!
//! A failing batch (an idempotency key used twice, a unit deleted under an
//! intake) is retried one intake at a time, so each caller gets the
//! answer its own intake deserves and the others still commit.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::pii::StoredTicket;
use super::{IdempotencyKey, StoreError, StoreResult, telemetry::TelemetryCell};
use hotline_domain::{TicketEvent, metrics::CounterDelta};

/// Most intakes written in one transaction. Measured (PostgreSQL, 32
/// workers): 16 with two committers gave the best throughput and p99; 32
/// or 64 made batches lock more counter rows for longer, 8 shared less.
pub(super) const MAX_BATCH: usize = 16;

/// Committer tasks ("lanes"), so batches in flight. Two: one batch
/// executes while the other waits for its commit to be flushed. Each lane
/// writes counters to shards of its own, so lanes never wait for each
/// other's row locks. Measured with 1, 2, 3, 4, 6 and 8 committers: 2 gave
/// the best p99 (1 leaves the database idle during each flush; more split
/// the queue into smaller batches).
pub(super) const COMMITTERS: usize = 2;

/// Intakes waiting for a committer.
const QUEUE: usize = 4096;

/// One intake, numbered and ready to write.
#[derive(Debug)]
pub(super) struct Intake {
    /// The ticket as stored, its personal fields sealed.
    pub(super) ticket: StoredTicket,
    /// Its `created` event and any automatic follow-ups, in order.
    pub(super) events: Vec<TicketEvent>,
    /// The request's idempotency key.
    pub(super) key: Option<IdempotencyKey>,
    /// Counter changes.
    pub(super) counters: Vec<CounterDelta>,
}

/// Writes a batch of intakes atomically.
#[async_trait]
pub(super) trait IntakeWriter: Send + Sync + 'static {
    /// Commits every intake of `batch` or none; `lane` is the committer
    /// writing it (0 to [`COMMITTERS`] − 1), so concurrent committers can
    /// keep to rows of their own.
    async fn write(&self, batch: &[Intake], lane: u8) -> StoreResult<()>;
}

type Job = (Intake, oneshot::Sender<StoreResult<Intake>>);

/// The callers' end: hands intakes to the committer tasks.
#[derive(Debug, Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts `committers` tasks writing through `writer`; they end when
    /// the last [`GroupCommit`] is dropped.
    /// Batch sizes are recorded in `telemetry`.
    pub(super) fn start(
        committers: usize,
        writer: Arc<dyn IntakeWriter>,
        telemetry: TelemetryCell,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for lane in 0..committers.clamp(1, usize::from(u8::MAX)) {
            let lane = u8::try_from(lane).unwrap_or(u8::MAX);
            tokio::spawn(commit_loop(
                jobs.clone(),
                writer.clone(),
                lane,
                telemetry.clone(),
            ));
        }
        Self { queue }
    }

    /// Writes one intake (with whatever else is waiting) and gives it back
    /// once committed.
    pub(super) async fn commit(&self, intake: Intake) -> StoreResult<Intake> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send((intake, done))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::internal("intake committer stopped")
}

/// One committer: takes what has queued (up to [`MAX_BATCH`]), writes it,
/// answers every caller, repeats.
async fn commit_loop(
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    writer: Arc<dyn IntakeWriter>,
    lane: u8,
    telemetry: TelemetryCell,
) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    loop {
        {
            let mut jobs = jobs.lock().await;
            if jobs.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
        }
        let (intakes, callers): (Vec<Intake>, Vec<_>) = batch.drain(..).unzip();
        telemetry.batch(intakes.len());
        let result = writer.write(&intakes, lane).await;
        match result {
            Ok(()) => {
                for (intake, caller) in intakes.into_iter().zip(callers) {
                    let _ = caller.send(Ok(intake));
                }
            }
            Err(e) if intakes.len() == 1 => {
                if let Some(caller) = callers.into_iter().next() {
                    let _ = caller.send(Err(e));
                }
            }
            // Someone's intake failed the batch: each alone, in order.
            Err(_) => {
                for (intake, caller) in intakes.into_iter().zip(callers) {
                    let result = writer.write(std::slice::from_ref(&intake), lane).await;
                    let _ = caller.send(result.map(|()| intake));
                }
            }
        }
    }
}
