//! The PII access log and re-sealing in SQL, generic over the backend like
//! `sql.rs`.
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
    pii::{PiiCodec, PiiValues},
    query::{Conditions, Value, int, opt_text, text},
    rows::{micros, time},
    sql::{Dialect, SqlStore},
};
use hotline_domain::TicketId;

/// Appends one access to the log.
pub(super) async fn record<DB>(pool: &Pool<DB>, access: &PiiAccess) -> StoreResult<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let (single, list) = match access.tickets.as_slice() {
        [one] => (Some(one.to_string()), String::new()),
        many => (None, join_ids(many)),
    };
    let count = i64::try_from(access.tickets.len()).unwrap_or(i64::MAX);
    let mut qb = QueryBuilder::<DB>::new(
        "INSERT INTO pii_access \
         (time_us, subject, role, rpc, purpose, ticket_id, ticket_ids, ticket_count) VALUES (",
    );
    let mut values = qb.separated(", ");
    for value in [
        int(micros(access.time)),
        text(access.subject.as_str()),
        text(access.role.as_str()),
        text(access.rpc),
        text(access.purpose),
        opt_text(single),
        text(list),
        int(count),
    ] {
        values.push_bind(value);
    }
    qb.push(")");
    qb.build().execute(pool).await?;
    Ok(())
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
            "SELECT id, pii_key_id, caller_name, caller_phone, address, description, \
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
