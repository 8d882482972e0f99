//! Human ticket numbers (`YYYYMMDD` + a 6-digit daily sequence), handed
//! out from blocks reserved in the database.
//!
//! Why blocks: taking each number from the day's counter row inside the
//! intake transaction held that row's lock through the commit's WAL flush,
//! so intakes committed one at a time (PostgreSQL, 32 clients: ~560/s and a
//! p99 over 100 ms, all waiting on one row). A replica now reserves
//! [`BLOCK`] numbers at once in a short transaction of its own and hands
//! them out from memory. Numbers stay unique per day; the price is gaps:
//! numbers a replica reserved but did not use before it stopped are
//! skipped.
//!
//! An intake the database refused (its idempotency key was taken — a
//! retry —, a unit was deleted under it, a lost write race) committed
//! nothing, so its number is given back ([`NumberBlocks::give_back`]) and
//! handed out next: retries do not burn numbers. A number is given back
//! only on such a refusal, never after an error that leaves it unknown
//! whether the write committed (a connection lost during the commit), so a
//! number is never used twice. A replica hands its numbers out in
//! increasing order except for given-back ones, which go first.

use std::collections::{BTreeSet, HashMap};

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};
use tokio::sync::Mutex;

use super::StoreResult;

/// Numbers reserved per round trip.
pub(super) const BLOCK: i64 = 32;

/// Days kept at once: around midnight two are live; more only in tests or
/// imports that jump between days.
const DAYS_KEPT: usize = 8;

const RESERVE: &str = "INSERT INTO daily_counters (day, last_seq) VALUES ($1, $2) \
    ON CONFLICT (day) DO UPDATE SET last_seq = daily_counters.last_seq + $2 RETURNING last_seq";

/// The unused numbers of one day: the rest of the reserved block, and
/// numbers given back by refused intakes.
#[derive(Debug, Clone, Default)]
struct Block {
    next: i64,
    last: i64,
    given_back: BTreeSet<i64>,
}

/// Per-day blocks of one store (one replica).
#[derive(Debug, Default)]
pub(super) struct NumberBlocks {
    days: Mutex<HashMap<String, Block>>,
}

impl NumberBlocks {
    /// The next number of `day` (`YYYYMMDD`), reserving a block when the
    /// current one is used up.
    pub(super) async fn next<DB>(&self, pool: &Pool<DB>, day: &str) -> StoreResult<i64>
    where
        DB: Database,
        for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
        for<'q> String: Encode<'q, DB> + Type<DB>,
        for<'q> i64: Encode<'q, DB> + Type<DB>,
        (i64,): for<'r> FromRow<'r, DB::Row>,
    {
        let mut days = self.days.lock().await;
        if let Some(block) = days.get_mut(day) {
            if let Some(number) = block.given_back.pop_first() {
                return Ok(number);
            }
            if block.next <= block.last {
                block.next += 1;
                return Ok(block.next - 1);
            }
        }
        let (last,): (i64,) = sqlx::query_as(RESERVE)
            .bind(day.to_owned())
            .bind(BLOCK)
            .fetch_one(pool)
            .await?;
        if days.len() >= DAYS_KEPT {
            days.clear();
        }
        let first = last - BLOCK + 1;
        days.insert(
            day.to_owned(),
            Block {
                next: first + 1,
                last,
                given_back: BTreeSet::new(),
            },
        );
        Ok(first)
    }

    /// Returns `number` of `day`, which [`NumberBlocks::next`] handed out
    /// to an intake the database refused, so the next intake of the day
    /// takes it. Call it only when the write certainly committed nothing.
    /// (If the day's numbers were dropped meanwhile, so is this one: a gap,
    /// never a duplicate.)
    pub(super) async fn give_back(&self, day: &str, number: i64) {
        if let Some(block) = self.days.lock().await.get_mut(day) {
            block.given_back.insert(number);
        }
    }
}
