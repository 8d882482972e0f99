//! Citations of knowledge-base articles by resolutions at intake (issue
//! #17): each article a `resolved_at_intake` event cites is a row of
//! `article_citations` (migration 032), written with the event in the
//! resolution's transaction; how often each article was cited in a period
//! is then counted in the database off one range of the table's time
//! index, narrowed to the articles the units of a scope own for a unit's or
//! a region's scorecard. Reading and parsing every resolution's payload
//! (its answer text included) cost a scorecard a pass over a period's
//! resolutions, cited or not.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{
    ArticleUse, CounterScope, StoreError, StoreResult,
    events_sql::EventRecord,
    metrics_sql::{push_scope_condition, push_scope_prefix},
    query::{Column, Conditions, Rows, Value, int, push_insert, text},
    rows::micros,
};
use hotline_domain::{event::EventKind, knowledge::ArticleId};

/// One article one event cited.
#[derive(Debug)]
struct Citation {
    ticket_id: String,
    sequence: i64,
    article_id: String,
    time_us: i64,
}

/// Every column of `article_citations` and how a citation fills it.
const CITATION_COLUMNS: &[Column<Citation>] = &[
    ("ticket_id", |c| text(c.ticket_id.as_str())),
    ("sequence", |c| int(c.sequence)),
    ("article_id", |c| text(c.article_id.as_str())),
    ("time_us", |c| int(c.time_us)),
];

/// The articles `record` cites, each once (none unless it is a
/// resolution at intake).
fn cited<'e>(record: &EventRecord<'e>) -> BTreeSet<&'e str> {
    match &record.event().kind {
        EventKind::ResolvedAtIntake(resolved) => {
            resolved.article_ids.iter().map(String::as_str).collect()
        }
        _ => BTreeSet::new(),
    }
}

/// Whether any of `events` cites an article (so the write has citations
/// to insert).
pub(super) fn cites_any(events: &[EventRecord<'_>]) -> bool {
    events.iter().any(|e| !cited(e).is_empty())
}

/// The statement inserting the citations of `events` (which must cite
/// some: see [`cites_any`]), its rows written `when` says.
pub(super) fn push_insert_citations<DB>(
    qb: &mut QueryBuilder<DB>,
    events: &[EventRecord<'_>],
    when: Rows,
) where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let rows: Vec<Citation> = events
        .iter()
        .flat_map(|record| {
            let event = record.event();
            cited(record).into_iter().map(move |article| Citation {
                ticket_id: event.ticket_id.to_string(),
                sequence: event.sequence,
                article_id: article.to_owned(),
                time_us: micros(event.time),
            })
        })
        .collect();
    push_insert(qb, "article_citations", CITATION_COLUMNS, &rows, when);
}

/// How many resolutions at intake in `[from, to)` cited each article
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
    (String, i64): for<'r> FromRow<'r, DB::Row>,
{
    let mut qb = uses_query::<DB>(from, to, owners, limit);
    let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    rows.into_iter()
        .map(|(id, uses)| {
            let article = ArticleId::parse(&id)
                .map_err(|_| StoreError::internal(format!("cited article {id:?}")))?;
            Ok(ArticleUse { article, uses })
        })
        .collect()
}

/// The statement counting the citations of `[from, to)` (the plan check
/// explains it).
pub(crate) fn uses_query<DB>(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    owners: &CounterScope,
    limit: u32,
) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new("");
    push_scope_prefix(&mut qb, owners);
    qb.push("SELECT c.article_id, COUNT(*) AS uses FROM article_citations c");
    let by_owner = !matches!(owners, CounterScope::Centre);
    if by_owner {
        // The scope's condition names the unit `unit_id`, as on counters.
        qb.push(
            " JOIN (SELECT id, owner_unit AS unit_id FROM knowledge_articles) AS owned \
             ON owned.id = c.article_id",
        );
    }
    let mut w = Conditions::new(&mut qb);
    w.and().push("c.time_us >= ").push_bind(int(micros(from)));
    w.and().push("c.time_us < ").push_bind(int(micros(to)));
    if by_owner {
        push_scope_condition(&mut w, owners);
    }
    w.finish()
        .push(" GROUP BY c.article_id ORDER BY uses DESC, c.article_id LIMIT ")
        .push_bind(int(i64::from(limit)));
    qb
}
