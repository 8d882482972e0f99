//! The PII access log and re-sealing in SQL, generic over the backend like
//! `sql.rs`.
//!
//! Records are appended through a group commit (see
//! [`super::group_commit`]): a GetTicket must not show a caller before its
//! record is durable, so it waits for the commit, and concurrent reads
//! share one INSERT and one flush instead of paying one each.
//!
//! A read of one ticket is a row with `ticket_id` (indexed, and checked
//! against `tickets`); a read of several (LookupCaller) is one row with
//! `ticket_id` NULL and the ids comma-separated in `ticket_ids`, so a
//! caller with fifty tickets costs one row, not fifty. "Reads that showed
//! ticket T" is then `ticket_id = T`, or a NULL `ticket_id` whose list
//! holds T: both arms run from the `(ticket_id, time_us, id)` index.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Connection, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Transaction, Type,
};

use super::{
    PiiAccess, PiiAccessQuery, PiiAccessRecord, PrivacyStore, ResealBatch, StoreError, StoreResult,
    group_commit::BatchWriter,
    pii::{PiiCodec, PiiValues},
    query::{Column, Conditions, Rows, Value, int, opt_bytes, opt_text, push_insert, text},
    rows::{micros, time},
    sql::{Dialect, PoolWriter, SqlStore},
};
use hotline_domain::TicketId;

/// Most access records written in one statement. A GetTicket waits for
/// its record, so at most one record per reading request is queued; 64
/// covers a busy server's readers between two flushes, and keeps the
/// statement's bind values (8 a row) far below either backend's limit.
pub(super) const ACCESS_BATCH: usize = 64;

/// Access-record committers. More than intake's two: a read waits for a
/// committer that is free, and PostgreSQL lets commits in flight together
/// share one WAL flush, so four keep a read from queueing behind a busy
/// flush while groups still form under load (measured against two in
/// docs/performance.md; the difference is within this VM's noise).
pub(super) const ACCESS_COMMITTERS: usize = 4;

/// One access as a `pii_access` row.
struct AccessValues<'a> {
    access: &'a PiiAccess,
    /// The one ticket shown, or none.
    single: Option<String>,
    /// The tickets shown, comma-separated, when not one.
    list: String,
    count: i64,
}

impl<'a> AccessValues<'a> {
    fn new(access: &'a PiiAccess) -> Self {
        let (single, list) = match access.tickets.as_slice() {
            [one] => (Some(one.to_string()), String::new()),
            many => (None, join_ids(many)),
        };
        Self {
            access,
            single,
            list,
            count: i64::try_from(access.tickets.len()).unwrap_or(i64::MAX),
        }
    }
}

/// The columns of a `pii_access` row, `id` aside.
fn access_columns<'a>() -> [Column<AccessValues<'a>>; 8] {
    [
        ("time_us", |r| int(micros(r.access.time))),
        ("subject", |r| text(r.access.subject.as_str())),
        ("role", |r| text(r.access.role.as_str())),
        ("rpc", |r| text(r.access.rpc)),
        ("purpose", |r| text(r.access.purpose)),
        ("ticket_id", |r| opt_text(r.single.as_deref())),
        ("ticket_ids", |r| text(r.list.as_str())),
        ("ticket_count", |r| int(r.count)),
    ]
}

/// A batch of accesses appended to the log in one multi-row INSERT (one
/// statement, so atomic on its own).
#[async_trait]
impl<DB> BatchWriter<PiiAccess> for PoolWriter<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    async fn write(&self, batch: &[PiiAccess], _lane: u8) -> StoreResult<()> {
        let rows: Vec<AccessValues<'_>> = batch.iter().map(AccessValues::new).collect();
        let mut qb = QueryBuilder::<DB>::new("");
        push_insert(
            &mut qb,
            "pii_access",
            &access_columns(),
            &rows,
            Rows::Always,
        );
        let mut conn = self.telemetry.acquire(&self.pool).await?;
        qb.build().execute(&mut *conn).await?;
        Ok(())
    }
}

/// Log rows that showed a ticket.
pub(super) async fn count_for_ticket<DB>(pool: &Pool<DB>, id: TicketId) -> StoreResult<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = QueryBuilder::<DB>::new("SELECT COUNT(*) FROM pii_access WHERE ");
    push_showed(&mut qb, id);
    let (n,): (i64,) = qb.build_query_as().fetch_one(pool).await?;
    Ok(n)
}

/// `ticket_id = T OR (ticket_id IS NULL AND ticket_ids LIKE '%T%')`; a
/// ticket id (a UUID) holds no LIKE wildcard and is never part of another.
fn push_showed<DB>(qb: &mut QueryBuilder<DB>, id: TicketId)
where
    DB: Dialect,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push("(ticket_id = ")
        .push_bind(text(id.to_string()))
        .push(" OR (ticket_id IS NULL AND ticket_ids LIKE ")
        .push_bind(text(format!("%{id}%")))
        .push("))");
}

fn join_ids(ids: &[TicketId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One `pii_access` row.
#[derive(Debug, FromRow)]
pub(super) struct AccessRow {
    id: i64,
    time_us: i64,
    subject: String,
    role: String,
    rpc: String,
    purpose: String,
    ticket_id: Option<String>,
    ticket_ids: String,
}

impl TryFrom<AccessRow> for PiiAccessRecord {
    type Error = StoreError;

    fn try_from(r: AccessRow) -> StoreResult<Self> {
        let parse = |s: &str| {
            TicketId::parse(s).map_err(|_| {
                StoreError::internal(format!("pii_access {}: bad ticket id {s:?}", r.id))
            })
        };
        let tickets = match &r.ticket_id {
            Some(one) => vec![parse(one)?],
            None => r
                .ticket_ids
                .split(',')
                .filter(|s| !s.is_empty())
                .map(parse)
                .collect::<StoreResult<_>>()?,
        };
        Ok(Self {
            id: r.id,
            time: time(r.time_us)?,
            subject: r.subject,
            role: r.role,
            rpc: r.rpc,
            purpose: r.purpose,
            tickets,
        })
    }
}

/// The personal columns of a ticket row, for re-sealing.
#[derive(Debug, FromRow)]
pub(super) struct SealedRow {
    id: String,
    pii_key_id: Option<String>,
    title: String,
    caller_name: Option<String>,
    caller_phone: Option<String>,
    address: String,
    description: String,
    callback_comment: Option<String>,
}

/// Tickets not under `$1`, the current key.
const STALE: &str = "(pii_key_id IS NULL OR pii_key_id <> ";

#[async_trait]
impl<DB> PrivacyStore for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    AccessRow: for<'r> FromRow<'r, DB::Row>,
    SealedRow: for<'r> FromRow<'r, DB::Row>,
{
    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_pii_access(&self, q: &PiiAccessQuery) -> StoreResult<Vec<PiiAccessRecord>> {
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT id, time_us, subject, role, rpc, purpose, ticket_id, ticket_ids FROM pii_access",
        );
        let mut w = Conditions::new(&mut qb);
        if let Some(id) = q.ticket {
            push_showed(w.and(), id);
        }
        if let Some(subject) = &q.subject {
            w.and().push("subject = ").push_bind(text(subject.as_str()));
        }
        if let Some(from) = q.from {
            w.and().push("time_us >= ").push_bind(int(micros(from)));
        }
        if let Some(to) = q.to {
            w.and().push("time_us < ").push_bind(int(micros(to)));
        }
        if let Some(after) = q.after {
            w.and()
                .push("(time_us, id) < (")
                .push_bind(int(micros(after.time)))
                .push(", ")
                .push_bind(int(after.id))
                .push(")");
        }
        w.finish()
            .push(" ORDER BY time_us DESC, id DESC LIMIT ")
            .push_bind(int(q.limit));
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let rows: Vec<AccessRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        rows.into_iter().map(PiiAccessRecord::try_from).collect()
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn purge_pii_access(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let mut qb = QueryBuilder::<DB>::new(
            "DELETE FROM pii_access WHERE id IN (SELECT id FROM pii_access WHERE time_us < ",
        );
        qb.push_bind(int(micros(before)))
            .push(" ORDER BY time_us LIMIT ")
            .push_bind(int(limit))
            .push(") RETURNING id");
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let gone: Vec<(i64,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        Ok(gone.len() as u64)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn count_stale_pii(&self) -> StoreResult<i64> {
        let current = current_key(self.pii())?;
        let mut qb = QueryBuilder::<DB>::new("SELECT COUNT(*) FROM tickets WHERE ");
        qb.push(STALE).push_bind(text(current)).push(")");
        let mut conn = self.telemetry().acquire(self.pool()).await?;
        let (n,): (i64,) = qb.build_query_as().fetch_one(&mut *conn).await?;
        Ok(n)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn reseal_pii(&self, after: Option<TicketId>, limit: u32) -> StoreResult<ResealBatch> {
        let codec = self.pii();
        let current = current_key(codec)?;
        let mut qb = QueryBuilder::<DB>::new(
            "SELECT id, pii_key_id, title, caller_name, caller_phone, address, description, \
             callback_comment FROM tickets WHERE ",
        );
        qb.push(STALE).push_bind(text(current)).push(")");
        if let Some(after) = after {
            qb.push(" AND id > ").push_bind(text(after.to_string()));
        }
        qb.push(" ORDER BY id LIMIT ").push_bind(int(limit));
        // The write connection from the start: the rows are read and
        // rewritten on it (a second write connection would never come).
        let mut conn = self.telemetry().acquire(self.write_pool()).await?;
        let rows: Vec<SealedRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
        let Some(last) = rows.last() else {
            return Ok(ResealBatch::default());
        };
        let last = TicketId::parse(&last.id).map_err(|_| {
            StoreError::internal(format!("stored ticket id {:?} is invalid", last.id))
        })?;
        let found = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let mut tx: Transaction<'_, DB> = conn.begin_with(DB::BEGIN_WRITE).await?;
        let mut resealed = 0;
        for row in rows {
            if reseal_row(&mut tx, codec, row).await? {
                resealed += 1;
            }
        }
        tx.commit().await?;
        Ok(ResealBatch {
            last: Some(last),
            found,
            resealed,
        })
    }
}

fn current_key(codec: &PiiCodec) -> StoreResult<String> {
    codec
        .current_key_id()
        .map(str::to_owned)
        .ok_or_else(|| StoreError::internal("re-sealing needs the PII keys"))
}

/// Opens a row's values with the key it names and writes them back sealed
/// under the current key, unless the row changed key meanwhile (a
/// transition rewrote it, under the current key already): then `false`.
/// The version is kept: the ticket did not change, so etags stay valid.
async fn reseal_row<DB>(
    tx: &mut Transaction<'_, DB>,
    codec: &PiiCodec,
    row: SealedRow,
) -> StoreResult<bool>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let stored = PiiValues {
        caller_name: row.caller_name,
        caller_phone: row.caller_phone,
        address: row.address,
        description: row.description,
        callback_comment: row.callback_comment,
    };
    let clear = codec.open_values(&row.id, row.pii_key_id.as_deref(), stored)?;
    let id = TicketId::parse(&row.id)
        .map_err(|_| StoreError::internal(format!("stored ticket id {:?} is invalid", row.id)))?;
    // The text sketch is keyed from the index key, like the blind index:
    // recomputed here so that replacing the index key (with a new data key,
    // docs/security.md) re-keys every sketch too, and tickets from before
    // and after the replacement stay comparable as duplicates.
    let sketch = codec
        .text_sketch(&row.title, &clear.description)?
        .to_bytes();
    let sealed = codec.seal_values(id, clear)?;
    let mut qb = QueryBuilder::<DB>::new("UPDATE tickets SET ");
    let mut sets = qb.separated(", ");
    let v = &sealed.values;
    for (column, value) in [
        ("caller_name", opt_text(v.caller_name.as_deref())),
        ("caller_phone", opt_text(v.caller_phone.as_deref())),
        ("address", text(v.address.as_str())),
        ("description", text(v.description.as_str())),
        ("callback_comment", opt_text(v.callback_comment.as_deref())),
        ("pii_key_id", text(sealed.key_id.as_str())),
        (
            "caller_phone_index",
            opt_text(sealed.phone_index.as_deref()),
        ),
        ("text_sketch", opt_bytes(Some(&sketch))),
    ] {
        sets.push(format_args!("{column} = "));
        sets.push_bind_unseparated(value);
    }
    qb.push(" WHERE id = ").push_bind(text(row.id.as_str()));
    match &row.pii_key_id {
        Some(old) => qb.push(" AND pii_key_id = ").push_bind(text(old.as_str())),
        None => qb.push(" AND pii_key_id IS NULL"),
    };
    qb.push(" RETURNING version");
    let done: Option<(i64,)> = qb.build_query_as().fetch_optional(&mut **tx).await?;
    Ok(done.is_some())
}
