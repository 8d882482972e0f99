//! How often knowledge-base articles were cited by resolutions at intake
//! (issue #17): counted from the `resolved_at_intake` events of a period,
//! so every count can be reproduced from the event log, and narrowed to
//! the articles the units of a scope own for a unit's or a region's
//! scorecard.
//!
//! The events of one kind in a period are read off a partial index of
//! that kind by time (migration 032), not off the index of every event by
//! time: a month of a large centre holds millions of events and a few
//! thousand resolutions citing articles. The kind is written into the
//! statement as a literal so both databases can prove the index's
//! predicate (a bound value could not, under PostgreSQL's generic plan or
//! in SQLite's planner).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{
    ArticleUse, CounterScope, StoreError, StoreResult,
    knowledge_rows::Citations,
    metrics_sql::{push_scope_condition, push_scope_prefix},
    query::{Conditions, Value, int, push_in, text},
    rows::micros,
};
use hotline_domain::knowledge::ArticleId;

/// The stored kind of a resolution at intake, as the partial index of
/// migration 032 names it (a unit test checks it against the event kind
/// and the migrations).
pub(super) const RESOLVED_KIND: &str = "resolved_at_intake";

/// Most article ids in one `IN` list.
const IDS_PER_READ: usize = 500;

/// How many tickets resolved at intake in `[from, to)` cited each article
/// owned within `owners` (every article for the centre), most used first,
/// then by id, at most `limit`.
pub(super) async fn article_uses<DB>(
    conn: &mut DB::Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    owners: &CounterScope,
    limit: u32,
) -> StoreResult<Vec<ArticleUse>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = citations_query::<DB>(from, to);
    let payloads: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut counts: HashMap<ArticleId, i64> = HashMap::new();
    for (payload,) in payloads {
        let citations: Citations = serde_json::from_str(&payload)
            .map_err(|e| StoreError::internal_from("a resolved_at_intake payload", e))?;
        for id in citations.article_ids {
            let id = ArticleId::parse(&id)
                .map_err(|_| StoreError::internal(format!("cited article {id:?}")))?;
            *counts.entry(id).or_default() += 1;
        }
    }
    if !matches!(owners, CounterScope::Centre) && !counts.is_empty() {
        let cited: Vec<ArticleId> = counts.keys().copied().collect();
        let owned = owned_within::<DB>(conn, &cited, owners).await?;
        counts.retain(|id, _| owned.contains(id));
    }
    let mut uses: Vec<ArticleUse> = counts
        .into_iter()
        .map(|(article, uses)| ArticleUse { article, uses })
        .collect();
    uses.sort_by(|a, b| b.uses.cmp(&a.uses).then(a.article.cmp(&b.article)));
    uses.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(uses)
}

/// The statement reading the citations of `[from, to)` (the plan check
/// explains it).
pub(crate) fn citations_query<DB>(from: DateTime<Utc>, to: DateTime<Utc>) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!(
        "SELECT payload FROM ticket_events WHERE kind = '{RESOLVED_KIND}' AND time_us >= "
    ));
    qb.push_bind(int(micros(from)))
        .push(" AND time_us < ")
        .push_bind(int(micros(to)));
    qb
}

/// Those of `ids` whose owner unit is in `scope`: the unit, the units of
/// its subtree, or the units of a region, as the scorecard's counters
/// select them.
async fn owned_within<DB>(
    conn: &mut DB::Connection,
    ids: &[ArticleId],
    scope: &CounterScope,
) -> StoreResult<HashSet<ArticleId>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    (String,): for<'r> FromRow<'r, DB::Row>,
{
    let mut owned = HashSet::new();
    for chunk in ids.chunks(IDS_PER_READ) {
        let mut qb = QueryBuilder::<DB>::new("");
        push_scope_prefix(&mut qb, scope);
        qb.push(
            "SELECT id FROM (SELECT id, owner_unit AS unit_id FROM knowledge_articles) AS owned",
        );
        let mut w = Conditions::new(&mut qb);
        push_scope_condition(&mut w, scope);
        push_in(w.and(), "id", chunk.iter().map(|id| text(id.to_string())));
        let rows: Vec<(String,)> = qb.build_query_as().fetch_all(&mut *conn).await?;
        for (id,) in rows {
            let id = ArticleId::parse(&id)
                .map_err(|_| StoreError::internal(format!("stored article id {id:?}")))?;
            owned.insert(id);
        }
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_literal_kind_is_the_event_kind_and_the_index_predicate() {
        assert_eq!(RESOLVED_KIND, super::super::knowledge_sql::resolved_kind());
        let predicate = format!("WHERE kind = '{RESOLVED_KIND}'");
        for migration in [
            include_str!("../../../migrations/sqlite/20261206000032_citation_index.sql"),
            include_str!("../../../migrations/postgres/20261206000032_citation_index.sql"),
        ] {
            assert!(migration.contains(&predicate), "{migration}");
        }
    }
}
