//! The event log read in commit order: what the live feed catches up from
//! and what its resume tokens point into.
//!
//! Events are numbered per ticket (`sequence`); the feed needs one order
//! over all tickets in which nothing can appear behind a reader's cursor
//! after it has passed, or a watcher resuming from a token would silently
//! miss the event that committed late. How each backend gets that order:
//!
//! - SQLite has one writer at a time, so rows are inserted in commit order
//!   and the table's rowid (assigned as max + 1 in the writer's
//!   transaction) is commit order. Events are never deleted, so a rowid is
//!   never reused. (A `VACUUM` may renumber rowids; the server never runs
//!   one, and `hotline backup` uses `VACUUM INTO`, which leaves the live
//!   file alone. Resume tokens do not survive restoring a backup.)
//! - PostgreSQL commits many writers at once; each event row records its
//!   transaction's id and a sequence number, and a read only trusts rows
//!   whose transaction id is below its snapshot's xmin (every such
//!   transaction has ended), ordered by (transaction id, number). See the
//!   migration `20261205000013_feed_positions.sql`. The price: a
//!   long-running writing transaction anywhere in the cluster holds the
//!   feed back until it ends (it cannot lose events, only delay them).

use async_trait::async_trait;

use super::StoreResult;
use hotline_domain::TicketEvent;

/// A place in the log's commit order. Ordered as the log is; opaque
/// outside the store (the API wraps it in a resume token).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedPosition {
    /// PostgreSQL: the writing transaction's id; SQLite: 0.
    pub xid: i64,
    /// PostgreSQL: the event's sequence number; SQLite: its rowid.
    pub id: i64,
}

impl FeedPosition {
    /// Before every event.
    pub const START: Self = Self { xid: 0, id: 0 };
}

/// An event and its place in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEvent {
    /// Where it is.
    pub position: FeedPosition,
    /// The event.
    pub event: TicketEvent,
}

/// The event log in commit order.
#[async_trait]
pub trait FeedStore: Send + Sync + std::fmt::Debug {
    /// Up to `limit` committed events after `after`, in commit order. Only
    /// events that no still-running write can precede are returned, so a
    /// reader that continues from the last one returned never misses one.
    async fn read_feed(&self, after: FeedPosition, limit: u32) -> StoreResult<Vec<FeedEvent>>;

    /// A position at or after every event [`FeedStore::read_feed`] can
    /// return now and before every event it cannot: where a new reader
    /// starts. Costs no table scan.
    async fn feed_head(&self) -> StoreResult<FeedPosition>;
}
