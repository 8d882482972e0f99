//! Group commit: writes arriving together are written together, in one
//! transaction (on PostgreSQL one statement). Two writes go through it:
//! intakes ([`Intake`], written by `intake_sql`) and the PII access
//! records of reads (written by `privacy_sql`).
//!
//! Why: most of a small write's database cost is per transaction, not per
//! row — the round trip, the executor's start-up, the commit record and
//! the wait for its WAL flush. Up to a batch's worth of writes that queue
//! while a committer is busy share all of that; under light load a batch
//! is one write and nothing waits for company (there is no timer). Each
//! write still commits atomically with everything it carries (an intake
//! with its events, idempotency record and counters), because they are
//! all in the batch's one transaction, and its caller is answered only
//! after that commit.
//!
//! A failing batch (an idempotency key used twice, a unit deleted under an
//! intake, an access record naming a ticket that does not exist) is
//! retried one write at a time, so each caller gets the answer its own
//! write deserves and the others still commit.

use std::sync::Arc;

use async_trait::async_trait;
use metrics::Histogram;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::pii::StoredTicket;
use super::{
    IdempotencyKey, StoreError, StoreResult,
    telemetry::{StoreTelemetry, TelemetryCell},
};
use hotline_domain::{TicketEvent, metrics::CounterDelta};

/// Most intakes written in one transaction. Measured (PostgreSQL, 32
/// workers): 16 with two committers gave the best throughput and p99; 32
/// or 64 made batches lock more counter rows for longer, 8 shared less.
pub(super) const MAX_BATCH: usize = 16;

/// Most intakes in one transaction when there is one committer (SQLite's
/// one write connection). No second batch runs beside it and no lane
/// waits for another's counter rows, so a smaller bound would only split
/// the intakes waiting during a commit into several commits in a row,
/// each with its own `fsync`, and the last of them waits for all: at 32
/// workers and 16 a batch, a request could queue behind two commits
/// before its own. 64 takes every waiting request of a 32-worker load in
/// the next commit (statement parameters stay far below SQLite's limit).
pub(super) const MAX_BATCH_ONE_LANE: usize = 64;

/// Intake committer tasks ("lanes"), so batches in flight. Two: one batch
/// executes while the other waits for its commit to be flushed. Each lane
/// writes counters to shards of its own, so lanes never wait for each
/// other's row locks. Measured with 1, 2, 3, 4, 6 and 8 committers: 2 gave
/// the best p99 (1 leaves the database idle during each flush; more split
/// the queue into smaller batches).
pub(super) const COMMITTERS: usize = 2;

/// Writes waiting for a committer.
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

/// Writes a batch atomically.
#[async_trait]
pub(super) trait BatchWriter<T>: Send + Sync + 'static {
    /// Commits every write of `batch` or none; `lane` is the committer
    /// writing it (0 to the committers started − 1), so concurrent
    /// committers can keep to rows of their own.
    async fn write(&self, batch: &[T], lane: u8) -> StoreResult<()>;
}

/// How a group commit runs.
#[derive(Clone, Copy)]
pub(super) struct Lanes {
    /// What it writes, for errors (`"intake"`).
    pub(super) what: &'static str,
    /// Committer tasks.
    pub(super) committers: usize,
    /// Most writes in one batch.
    pub(super) max_batch: usize,
    /// The histogram its batch sizes go to, once telemetry is attached.
    pub(super) sizes: fn(&StoreTelemetry) -> &Histogram,
}

type Job<T> = (T, oneshot::Sender<StoreResult<T>>);

/// The callers' end: hands writes to the committer tasks.
#[derive(Debug)]
pub(super) struct GroupCommit<T> {
    queue: mpsc::Sender<Job<T>>,
    what: &'static str,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            what: self.what,
        }
    }
}

impl<T: Send + Sync + 'static> GroupCommit<T> {
    /// Starts `lanes.committers` tasks writing through `writer`; they end
    /// when the last [`GroupCommit`] is dropped. Batch sizes are recorded
    /// in `telemetry`.
    pub(super) fn start(
        lanes: Lanes,
        writer: Arc<dyn BatchWriter<T>>,
        telemetry: TelemetryCell,
    ) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let jobs = Arc::new(Mutex::new(jobs));
        for lane in 0..lanes.committers.clamp(1, usize::from(u8::MAX)) {
            let lane = u8::try_from(lane).unwrap_or(u8::MAX);
            tokio::spawn(commit_loop(
                jobs.clone(),
                writer.clone(),
                lane,
                lanes,
                telemetry.clone(),
            ));
        }
        Self {
            queue,
            what: lanes.what,
        }
    }

    /// Writes one item (with whatever else is waiting) and gives it back
    /// once committed. Dropping the future does not withdraw the write: a
    /// queued item is still written, only its answer goes nowhere.
    pub(super) async fn commit(&self, item: T) -> StoreResult<T> {
        let (done, answer) = oneshot::channel();
        self.queue
            .send((item, done))
            .await
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> StoreError {
        StoreError::internal(format!("{} committer stopped", self.what))
    }
}

/// One committer: takes what has queued (up to `lanes.max_batch`), writes
/// it, answers every caller, repeats.
async fn commit_loop<T: Send + Sync + 'static>(
    jobs: Arc<Mutex<mpsc::Receiver<Job<T>>>>,
    writer: Arc<dyn BatchWriter<T>>,
    lane: u8,
    lanes: Lanes,
    telemetry: TelemetryCell,
) {
    let max = lanes.max_batch.max(1);
    let mut batch: Vec<Job<T>> = Vec::with_capacity(max);
    loop {
        {
            let mut jobs = jobs.lock().await;
            if jobs.recv_many(&mut batch, max).await == 0 {
                return;
            }
        }
        let (items, callers): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
        telemetry.batch(lanes.sizes, items.len());
        let result = writer.write(&items, lane).await;
        match result {
            Ok(()) => {
                for (item, caller) in items.into_iter().zip(callers) {
                    let _ = caller.send(Ok(item));
                }
            }
            Err(e) if items.len() == 1 => {
                if let Some(caller) = callers.into_iter().next() {
                    let _ = caller.send(Err(e));
                }
            }
            // Someone's write failed the batch: each alone, in order.
            Err(_) => {
                for (item, caller) in items.into_iter().zip(callers) {
                    let result = writer.write(std::slice::from_ref(&item), lane).await;
                    let _ = caller.send(result.map(|()| item));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use tokio::sync::Semaphore;

    use super::*;

    /// Records every batch it is asked to write (on arrival); fails a
    /// batch holding [`BAD`]; answers nothing until the gate opens.
    struct Recorder {
        gate: Semaphore,
        batches: StdMutex<Vec<Vec<u32>>>,
    }

    impl Recorder {
        fn batches(&self) -> Vec<Vec<u32>> {
            self.batches.lock().expect("batches").clone()
        }
    }

    /// Lets the other tasks run until `done` holds.
    async fn until(mut done: impl FnMut() -> bool) {
        while !done() {
            tokio::task::yield_now().await;
        }
    }

    const BAD: u32 = 3;

    #[async_trait]
    impl BatchWriter<u32> for Recorder {
        async fn write(&self, batch: &[u32], _lane: u8) -> StoreResult<()> {
            self.batches.lock().expect("batches").push(batch.to_vec());
            let _open = self.gate.acquire().await.expect("gate");
            if batch.contains(&BAD) {
                return Err(StoreError::NotFound(format!("item {BAD}")));
            }
            Ok(())
        }
    }

    fn lanes(committers: usize, max_batch: usize) -> Lanes {
        Lanes {
            what: "test",
            committers,
            max_batch,
            sizes: |t| &t.pii_access_batch_size,
        }
    }

    /// Items that queue behind a busy committer go in one batch; when it
    /// fails, each is written alone and only the bad one's caller hears of
    /// the failure.
    #[tokio::test]
    async fn queued_writes_share_a_batch_and_a_failure_answers_only_its_caller() {
        let writer = Arc::new(Recorder {
            gate: Semaphore::new(0),
            batches: StdMutex::default(),
        });
        let commit = GroupCommit::start(lanes(1, 16), writer.clone(), TelemetryCell::default());
        let mut callers = Vec::new();
        for item in 0..6_u32 {
            let c = commit.clone();
            callers.push(tokio::spawn(async move { c.commit(item).await }));
            // Item 0 is taken at once (the committer then waits at the
            // gate); the others queue behind it.
            let queued = usize::try_from(item).expect("small");
            until(|| writer.batches().len() == 1 && commit.queue.capacity() == QUEUE - queued)
                .await;
        }
        writer.gate.add_permits(1);
        for (item, caller) in (0..6_u32).zip(callers) {
            let answer = caller.await.expect("caller");
            if item == BAD {
                assert!(matches!(answer, Err(StoreError::NotFound(_))), "{answer:?}");
            } else {
                assert_eq!(answer.expect("committed"), item);
            }
        }
        assert_eq!(
            writer.batches(),
            vec![
                vec![0],
                vec![1, 2, 3, 4, 5],
                vec![1],
                vec![2],
                vec![3],
                vec![4],
                vec![5]
            ]
        );
    }

    /// No batch is larger than its maximum, and every item is written once.
    #[tokio::test]
    async fn batches_keep_to_their_maximum() {
        let writer = Arc::new(Recorder {
            gate: Semaphore::new(0),
            batches: StdMutex::default(),
        });
        let commit = GroupCommit::start(lanes(2, 4), writer.clone(), TelemetryCell::default());
        let callers: Vec<_> = (10..30_u32)
            .map(|item| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.commit(item).await })
            })
            .collect();
        // Both committers hold a batch; everything else has queued.
        until(|| {
            let taken: usize = writer.batches().iter().map(Vec::len).sum();
            writer.batches().len() == 2 && taken + (QUEUE - commit.queue.capacity()) == 20
        })
        .await;
        writer.gate.add_permits(1);
        for caller in callers {
            caller.await.expect("caller").expect("committed");
        }
        let batches = writer.batches();
        assert!(
            batches.iter().all(|b| (1..=4).contains(&b.len())),
            "{batches:?}"
        );
        let mut written: Vec<u32> = batches.concat();
        written.sort_unstable();
        assert_eq!(written, (10..30).collect::<Vec<_>>());
    }
}
