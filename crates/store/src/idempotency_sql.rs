//! Idempotency records (AIP-155) in SQL. A record is written in the same
//! write as the change it names — inside the fused statement or the
//! transaction — so a retried request finds either both or neither.
//!
//! Each record keeps the fingerprint of the request that used the key, so
//! the service can tell a retry (same fingerprint: replay) from another
//! request under a reused key (refused). Records from before the column
//! existed have none.

use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::{
    IdempotencyKey, IdempotentResult, StoreResult,
    query::{Rows, Value, int, push_row, push_rows, text},
};

/// What an idempotency key produced: the key, the resource name, and when
/// (microseconds).
pub(super) type KeyRecord<'a> = (&'a IdempotencyKey, String, i64);

/// The statement recording what idempotency keys produced (`records`
/// non-empty).
pub(super) fn push_insert_keys<DB>(qb: &mut QueryBuilder<DB>, records: &[KeyRecord<'_>], when: Rows)
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    qb.push(
        "INSERT INTO idempotency_keys \
         (subject, request_id, operation, resource, create_time_us, fingerprint) ",
    );
    push_rows(qb, when, records, |row, (key, resource, time_us)| {
        push_row(
            row,
            [
                text(&key.subject),
                text(&key.request_id),
                text(key.operation),
                text(resource.as_str()),
                int(*time_us),
                text(&key.fingerprint),
            ],
        );
    });
}

/// What a key produced before, if it was used.
pub(super) async fn find<DB>(
    pool: &Pool<DB>,
    subject: &str,
    request_id: &str,
) -> StoreResult<Option<IdempotentResult>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    (String, String, Option<String>): for<'r> FromRow<'r, DB::Row>,
{
    let row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT operation, resource, fingerprint FROM idempotency_keys \
         WHERE subject = $1 AND request_id = $2",
    )
    .bind(subject.to_owned())
    .bind(request_id.to_owned())
    .fetch_optional(pool)
    .await?;
    Ok(
        row.map(|(operation, resource, fingerprint)| IdempotentResult {
            operation,
            resource,
            fingerprint,
        }),
    )
}

/// Deletes up to `limit` records written before `before_us`, the oldest
/// first (by the `create_time_us` index); returns how many went. Bounded
/// so a purge after a long pause holds the table's locks for one short
/// statement at a time.
pub(super) async fn purge<DB>(
    conn: &mut DB::Connection,
    before_us: i64,
    limit: u32,
) -> StoreResult<u64>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = QueryBuilder::<DB>::new(
        "DELETE FROM idempotency_keys WHERE (subject, request_id) IN \
         (SELECT subject, request_id FROM idempotency_keys WHERE create_time_us < ",
    );
    qb.push_bind(int(before_us))
        .push(" ORDER BY create_time_us LIMIT ")
        .push_bind(int(i64::from(limit)))
        .push(") RETURNING create_time_us");
    let gone: Vec<(i64,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    Ok(gone.len() as u64)
}
