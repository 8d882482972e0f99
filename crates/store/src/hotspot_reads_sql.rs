//! The reads behind [`super::HotspotStore`]: new tickets in the log's
//! order for the detector, and hotspots with their tickets.

use std::collections::HashMap;

use sqlx::{AssertSqlSafe, Encode, Executor, FromRow, IntoArguments, QueryBuilder, Type};

use super::{
    FeedPosition, HotspotQuery, StoreResult, TicketSighting,
    hotspot_rows::{HOTSPOT_COLUMNS, HotspotRow, MemberRow, hotspot_id, not_found, ticket_id},
    pii::{PiiCodec, PiiValues},
    query::{Conditions, Value, int, push_in, push_prefix, text},
    rows::{micros, time},
    sql::Dialect,
};
use hotline_domain::{
    RegionCode, TicketId,
    hotspot::{Hotspot, HotspotId},
    text_enum::TextEnum,
};

/// Tickets of the window a replay start is taken among (see
/// [`super::HotspotStore::replay_start`]).
const REPLAY_PROBE: u32 = 1000;

/// The `tickets` columns the detector reads.
#[derive(Debug, FromRow)]
pub(super) struct SightingRow {
    id: String,
    create_time_us: i64,
    region_code: String,
    subject_code: Option<String>,
    caller_phone_index: Option<String>,
    title: String,
    address: String,
    description: String,
    pii_key_id: Option<String>,
}

/// A created event's position and ticket.
pub(super) type CreatedRow = (i64, i64, String);

/// The statement of [`super::HotspotStore::replay_start`] (`$1`: since).
pub(super) fn replay_start_statement<DB: Dialect>() -> String {
    format!(
        "SELECT {} FROM ticket_events WHERE kind = 'created' AND ticket_id IN \
         (SELECT id FROM tickets WHERE create_time_us >= $1 \
          ORDER BY create_time_us, id LIMIT {REPLAY_PROBE}) \
         ORDER BY 1, 2 LIMIT 1",
        DB::FEED_POSITION
    )
}

/// The created events after a position (`$1`, `$2`), `$3` at most.
fn created_statement<DB: Dialect>() -> String {
    format!(
        "SELECT {}, ticket_id FROM ticket_events WHERE kind = 'created' AND {} LIMIT $3",
        DB::FEED_POSITION,
        DB::FEED_AFTER
    )
}

/// Up to `limit` new tickets after `after`, in the log's order, their
/// descriptions opened with `pii`.
pub(super) async fn read_sightings<DB>(
    conn: &mut DB::Connection,
    pii: &PiiCodec,
    after: FeedPosition,
    limit: u32,
) -> StoreResult<Vec<TicketSighting>>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    CreatedRow: for<'r> FromRow<'r, DB::Row>,
    SightingRow: for<'r> FromRow<'r, DB::Row>,
{
    let created: Vec<CreatedRow> = sqlx::query_as(AssertSqlSafe(created_statement::<DB>()))
        .bind(after.xid)
        .bind(after.id)
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
    if created.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<DB>::new(
        "SELECT id, create_time_us, region_code, subject_code, caller_phone_index, title, \
         address, description, pii_key_id FROM tickets WHERE ",
    );
    push_in(
        &mut qb,
        "id",
        created.iter().map(|(_, _, id)| text(id.as_str())),
    );
    let rows: Vec<SightingRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let mut by_id: HashMap<String, SightingRow> =
        rows.into_iter().map(|r| (r.id.clone(), r)).collect();
    let mut sightings = Vec::with_capacity(created.len());
    for (xid, id, ticket) in created {
        let Some(row) = by_id.remove(&ticket) else {
            continue;
        };
        let clear = pii.open_values(
            &row.id,
            row.pii_key_id.as_deref(),
            PiiValues {
                caller_name: None,
                caller_phone: None,
                address: row.address,
                description: row.description,
                callback_comment: None,
            },
        )?;
        sightings.push(TicketSighting {
            position: FeedPosition { xid, id },
            id: TicketId::parse(&row.id).map_err(|_| super::StoreError::internal("ticket id"))?,
            create_time: time(row.create_time_us)?,
            region: RegionCode::parse(&row.region_code)
                .map_err(|_| super::StoreError::internal("ticket region code"))?,
            subject: row.subject_code,
            caller: row.caller_phone_index,
            title: row.title,
            description: clear.description,
        });
    }
    Ok(sightings)
}

/// The SELECT of a hotspot list.
pub(super) fn list_query<DB>(q: &HotspotQuery) -> QueryBuilder<DB>
where
    DB: Dialect,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::<DB>::new(format!("SELECT {HOTSPOT_COLUMNS} FROM hotspots"));
    let mut w = Conditions::new(&mut qb);
    for prefix in [&q.scope, &q.area_prefix].into_iter().flatten() {
        push_prefix(w.and(), "area", prefix);
    }
    if !q.states.is_empty() {
        push_in(w.and(), "state", q.states.iter().map(|s| text(s.code())));
    }
    if let Some(from) = q.created_from {
        w.and()
            .push("create_time_us >= ")
            .push_bind(int(micros(from)));
    }
    if let Some(to) = q.created_to {
        w.and().push("create_time_us < ").push_bind(int(micros(to)));
    }
    if let Some(now) = q.overdue_at {
        w.and()
            .push("response_time_us IS NULL AND response_deadline_us < ")
            .push_bind(int(micros(now)));
    }
    if let Some(after) = q.after {
        let t = micros(after.create_time);
        w.and()
            .push("(create_time_us < ")
            .push_bind(int(t))
            .push(" OR (create_time_us = ")
            .push_bind(int(t))
            .push(" AND id < ")
            .push_bind(text(after.id.to_string()))
            .push("))");
    }
    w.finish()
        .push(" ORDER BY create_time_us DESC, id DESC LIMIT ")
        .push_bind(int(q.limit));
    qb
}

/// Reads of hotspots with their tickets on one connection (the backend's
/// bounds stated once, here).
pub(super) struct HotspotReads<'a, DB: Dialect> {
    conn: &'a mut DB::Connection,
}

impl<'a, DB> HotspotReads<'a, DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Value<'q>: Encode<'q, DB> + Type<DB>,
    HotspotRow: for<'r> FromRow<'r, DB::Row>,
    MemberRow: for<'r> FromRow<'r, DB::Row>,
{
    /// Reads on `conn` (a pooled connection, or a transaction's).
    pub(super) fn on(conn: &'a mut DB::Connection) -> Self {
        Self { conn }
    }

    /// The hotspot rows `qb` selects, with their tickets.
    pub(super) async fn select(&mut self, mut qb: QueryBuilder<DB>) -> StoreResult<Vec<Hotspot>> {
        let rows: Vec<HotspotRow> = qb.build_query_as().fetch_all(&mut *self.conn).await?;
        let mut hotspots = rows
            .into_iter()
            .map(Hotspot::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        self.attach_members(&mut hotspots).await?;
        Ok(hotspots)
    }

    /// One hotspot with its tickets; `NotFound` if none.
    pub(super) async fn one(&mut self, id: HotspotId) -> StoreResult<Hotspot> {
        let mut qb = QueryBuilder::<DB>::new(format!(
            "SELECT {HOTSPOT_COLUMNS} FROM hotspots WHERE id = "
        ));
        qb.push_bind(text(id.to_string()));
        self.select(qb).await?.pop().ok_or_else(|| not_found(id))
    }

    /// Fills in each hotspot's tickets (its own and those of the hotspots
    /// merged into it, oldest first) and the hotspots merged into it.
    async fn attach_members(&mut self, hotspots: &mut [Hotspot]) -> StoreResult<()> {
        if hotspots.is_empty() {
            return Ok(());
        }
        let page: HashMap<String, usize> = hotspots
            .iter()
            .enumerate()
            .map(|(i, h)| (h.id.to_string(), i))
            .collect();
        let mut qb = QueryBuilder::<DB>::new("SELECT id, merged_into FROM hotspots WHERE ");
        push_in(
            &mut qb,
            "merged_into",
            page.keys().map(|id| text(id.as_str())),
        );
        qb.push(" ORDER BY id");
        let merged: Vec<MemberRow> = qb.build_query_as().fetch_all(&mut *self.conn).await?;
        // Whose tickets count for which hotspot of the page.
        let mut owners: HashMap<String, Vec<usize>> =
            page.iter().map(|(id, i)| (id.clone(), vec![*i])).collect();
        for (id, into) in &merged {
            let Some(&i) = page.get(into) else { continue };
            if let Some(h) = hotspots.get_mut(i) {
                h.merged_from.push(hotspot_id(id)?);
            }
            owners.entry(id.clone()).or_default().push(i);
        }
        let mut qb =
            QueryBuilder::<DB>::new("SELECT hotspot_id, ticket_id FROM hotspot_tickets WHERE ");
        push_in(
            &mut qb,
            "hotspot_id",
            owners.keys().map(|id| text(id.as_str())),
        );
        qb.push(" ORDER BY ticket_time_us, ticket_id");
        let members: Vec<MemberRow> = qb.build_query_as().fetch_all(&mut *self.conn).await?;
        for (hotspot, ticket) in members {
            let ticket = ticket_id(&ticket, &hotspot)?;
            for &i in owners.get(&hotspot).into_iter().flatten() {
                if let Some(h) = hotspots.get_mut(i) {
                    h.tickets.push(ticket);
                }
            }
        }
        Ok(())
    }
}
