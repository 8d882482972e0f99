//! The narrow reads of duplicate search (`ListDuplicateCandidates`): the
//! candidates' ids, times, states and stored text sketches, read by the
//! same statements and indexes as the ticket lists ([`list_query_of`]) but
//! with four columns instead of the whole row, so no caller data is
//! opened and no text shingled per candidate; then the few tickets shown,
//! whole, in one read by key.
//!
//! The four columns are all the place read touches, and the open tickets'
//! indexes (migration 031) carry them, so on PostgreSQL that read is an
//! index-only scan. A row written before sketches were stored (migration
//! 029) has none: its sketch is computed here from its title and
//! description, read by key for such rows only (a second statement, so
//! the first references no column the index lacks), and the cost of
//! opening a description is paid only where no sketch is stored. Searches
//! look back at most 90 days, so after that long every row a search reads
//! was written with its sketch.

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, QueryBuilder, Type};

use super::{
    StoreError, StoreResult, TicketQuery,
    lists_sql::{fetch_list, list_query_of},
    pii::PiiCodec,
    query::{Value, text},
    rows::{TicketRow, time},
    ticket_columns::TICKET_COLUMN_LIST,
};
use hotline_domain::{
    TicketId,
    duplicates::TextSketch,
    text_enum::TextEnum,
    ticket::{Ticket, TicketState},
};

/// A ticket as duplicate search first reads it: enough to pick and rank
/// candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSketch {
    /// The ticket.
    pub id: TicketId,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Its state.
    pub state: TicketState,
    /// Its text sketch, comparable with [`crate::TicketStore::text_sketch`]'s.
    pub sketch: TextSketch,
}

/// The SELECT list of the narrow read.
const SKETCH_COLUMNS: &str = "id, create_time_us, state, text_sketch";

/// One row of the narrow read.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SketchRow {
    id: String,
    create_time_us: i64,
    state: String,
    text_sketch: Option<Vec<u8>>,
}

/// The text of a row stored without a sketch, read by key.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct TextRow {
    id: String,
    title: Option<String>,
    description: Option<String>,
    pii_key_id: Option<String>,
}

impl TextRow {
    /// The sketch of the row's text, its description opened.
    fn sketch(&self, pii: &PiiCodec) -> StoreResult<TextSketch> {
        let description = pii.open_value(
            &self.id,
            self.pii_key_id.as_deref(),
            "description",
            self.description.clone().unwrap_or_default(),
        )?;
        pii.text_sketch(self.title.as_deref().unwrap_or_default(), &description)
    }
}

impl SketchRow {
    /// The row as a sketch; `texts` holds the text of each row stored
    /// without one.
    fn into_sketch(self, texts: &[TextRow], pii: &PiiCodec) -> StoreResult<TicketSketch> {
        let corrupt =
            |what: &str| StoreError::internal(format!("tickets/{} has an invalid {what}", self.id));
        let id = TicketId::parse(&self.id).map_err(|_| corrupt("id"))?;
        let state = TicketState::from_code(&self.state).ok_or_else(|| corrupt("state"))?;
        let sketch = match &self.text_sketch {
            Some(bytes) => TextSketch::from_bytes(bytes).ok_or_else(|| corrupt("text sketch"))?,
            None => texts
                .iter()
                .find(|t| t.id == self.id)
                .ok_or_else(|| {
                    StoreError::internal(format!("tickets/{} went while being read", self.id))
                })?
                .sketch(pii)?,
        };
        Ok(TicketSketch {
            id,
            create_time: time(self.create_time_us)?,
            state,
            sketch,
        })
    }
}

/// The sketches of the tickets matching `q`, in its order.
pub(super) async fn list_ticket_sketches<DB>(
    pool: &Pool<DB>,
    pii: &PiiCodec,
    q: &TicketQuery,
) -> StoreResult<Vec<TicketSketch>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    SketchRow: for<'r> FromRow<'r, DB::Row>,
    TextRow: for<'r> FromRow<'r, DB::Row>,
{
    let rows: Vec<SketchRow> = fetch_list(pool, pii, q, sketch_query).await?;
    let unsketched: Vec<&str> = rows
        .iter()
        .filter(|r| r.text_sketch.is_none())
        .map(|r| r.id.as_str())
        .collect();
    let mut texts: Vec<TextRow> = Vec::new();
    for ids in unsketched.chunks(MAX_IDS) {
        let mut qb = select_by_ids("id, title, description, pii_key_id", ids.iter().copied());
        texts.extend(qb.build_query_as::<TextRow>().fetch_all(pool).await?);
    }
    rows.into_iter()
        .map(|r| r.into_sketch(&texts, pii))
        .collect()
}

/// The statement [`list_ticket_sketches`] sends (the plan check explains
/// it).
pub(crate) fn sketch_query<DB>(q: &TicketQuery, phone_index: Option<&str>) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    list_query_of(q, phone_index, SKETCH_COLUMNS)
}

/// Most ids in one read by key (well above any page of candidates).
pub const MAX_IDS: usize = 100;

/// Whole tickets by id, in no particular order; ids not stored are left
/// out.
pub(super) async fn tickets_by_ids<DB>(
    pool: &Pool<DB>,
    pii: &PiiCodec,
    ids: &[TicketId],
) -> StoreResult<Vec<Ticket>>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    TicketRow: for<'r> FromRow<'r, DB::Row>,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if ids.len() > MAX_IDS {
        return Err(StoreError::internal(format!(
            "at most {MAX_IDS} tickets are read by id at once"
        )));
    }
    let mut qb = by_ids_query(ids);
    let rows: Vec<TicketRow> = qb.build_query_as().fetch_all(pool).await?;
    rows.into_iter().map(|r| r.open(pii)).collect()
}

/// The statement [`tickets_by_ids`] sends.
pub(crate) fn by_ids_query<DB>(ids: &[TicketId]) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    select_by_ids(&TICKET_COLUMN_LIST, ids.iter().map(String::as_str))
}

/// `SELECT columns FROM tickets WHERE id IN (ids)`, the ids bound.
fn select_by_ids<'a, DB>(columns: &str, ids: impl Iterator<Item = &'a str>) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!("SELECT {columns} FROM tickets WHERE id IN ("));
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(text(id.to_owned()));
    }
    qb.push(")");
    qb
}
