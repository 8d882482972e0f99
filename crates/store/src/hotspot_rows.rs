//! The rows of the hotspot tables and their conversion to domain values
//! (`hotspots_sql` holds the statements).

use sqlx::FromRow;

use super::{HotspotEvent, StoreError, StoreResult, knowledge_rows::json_list, rows::time};
use hotline_domain::{
    TicketId,
    hotspot::{
        Heat, Hotspot, HotspotEventKind, HotspotHeat, HotspotId, HotspotState, SupervisionItem,
    },
    text_enum::TextEnum,
};

/// The columns of a hotspot row, in [`HotspotRow`]'s order.
pub(super) const HOTSPOT_COLUMNS: &str = "id, seed_ticket_id, state, merged_into, area, district, \
     subject, heat_count, heat_recent, heat_growth, heat_callers, first_ticket_time_us, \
     last_ticket_time_us, areas, top_words, examples, response_deadline_us, response_time_us, \
     responder, note, create_time_us, update_time_us, change_seq, create_seq, overdue_alert_seq";

/// The columns of an event row, `id` aside.
pub(super) const EVENT_COLUMNS: &str = "hotspot_id, kind, actor, actor_role, note, time_us";

/// One `hotspots` row.
#[derive(Debug, FromRow)]
pub(super) struct HotspotRow {
    pub(super) id: String,
    seed_ticket_id: String,
    state: String,
    merged_into: Option<String>,
    area: String,
    district: String,
    subject: String,
    heat_count: i64,
    heat_recent: i64,
    heat_growth: i64,
    heat_callers: i64,
    first_ticket_time_us: i64,
    last_ticket_time_us: i64,
    areas: String,
    top_words: String,
    examples: String,
    response_deadline_us: i64,
    response_time_us: Option<i64>,
    responder: Option<String>,
    note: Option<String>,
    create_time_us: i64,
    update_time_us: i64,
    change_seq: i64,
    create_seq: i64,
    overdue_alert_seq: Option<i64>,
}

/// One `hotspot_events` row.
#[derive(Debug, FromRow)]
pub(super) struct EventRow {
    hotspot_id: String,
    kind: String,
    actor: String,
    actor_role: String,
    note: Option<String>,
    time_us: i64,
}

/// One member of a hotspot: `(hotspot_id, ticket_id)`, oldest first.
pub(super) type MemberRow = (String, String);

pub(super) fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::internal(format!("hotspot {id}: bad {what}"))
}

fn list(json: &str, what: &str, id: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json).map_err(|_| corrupt(what, id))
}

fn count(n: i64, what: &str, id: &str) -> StoreResult<u32> {
    u32::try_from(n).map_err(|_| corrupt(what, id))
}

pub(super) fn hotspot_id(s: &str) -> StoreResult<HotspotId> {
    HotspotId::parse(s).map_err(|_| corrupt("id", s))
}

pub(super) fn ticket_id(s: &str, hotspot: &str) -> StoreResult<TicketId> {
    TicketId::parse(s).map_err(|_| corrupt("ticket id", hotspot))
}

/// The example tickets as stored.
pub(super) fn examples_json(heat: &HotspotHeat) -> String {
    let ids: Vec<String> = heat.examples.iter().map(ToString::to_string).collect();
    json_list(&ids)
}

/// Not found, by name.
pub(super) fn not_found(id: HotspotId) -> StoreError {
    StoreError::NotFound(id.name())
}

impl TryFrom<HotspotRow> for Hotspot {
    type Error = StoreError;

    /// The hotspot without its tickets and merged hotspots (read apart).
    fn try_from(r: HotspotRow) -> StoreResult<Self> {
        let id = r.id.as_str();
        let examples = list(&r.examples, "examples", id)?
            .iter()
            .map(|t| ticket_id(t, id))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            id: hotspot_id(id)?,
            seed_ticket: ticket_id(&r.seed_ticket_id, id)?,
            state: HotspotState::from_code(&r.state).ok_or_else(|| corrupt("state", id))?,
            merged_into: r.merged_into.as_deref().map(hotspot_id).transpose()?,
            area: r.area.clone(),
            district: r.district.clone(),
            subject: r.subject.clone(),
            heat: Heat {
                count: count(r.heat_count, "count", id)?,
                recent: count(r.heat_recent, "recent count", id)?,
                growth: r.heat_growth,
                callers: count(r.heat_callers, "callers", id)?,
                first: time(r.first_ticket_time_us)?,
                last: time(r.last_ticket_time_us)?,
                areas: list(&r.areas, "areas", id)?,
                top_words: list(&r.top_words, "top words", id)?,
                examples,
            },
            tickets: Vec::new(),
            merged_from: Vec::new(),
            supervision: SupervisionItem {
                deadline: time(r.response_deadline_us)?,
                response_time: r.response_time_us.map(time).transpose()?,
                responder: r.responder.clone(),
                overdue_alert_seq: r.overdue_alert_seq,
            },
            note: r.note.clone(),
            create_time: time(r.create_time_us)?,
            update_time: time(r.update_time_us)?,
            change_seq: r.change_seq,
            create_seq: r.create_seq,
        })
    }
}

impl TryFrom<EventRow> for HotspotEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> StoreResult<Self> {
        Ok(Self {
            hotspot: hotspot_id(&r.hotspot_id)?,
            kind: HotspotEventKind::from_code(&r.kind)
                .ok_or_else(|| corrupt("event kind", &r.hotspot_id))?,
            actor: r.actor,
            actor_role: r.actor_role,
            note: r.note,
            time: time(r.time_us)?,
        })
    }
}
