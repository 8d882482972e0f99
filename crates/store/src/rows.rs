//! Row shapes shared by both backends and their conversion to domain types.
//!
//! Times are stored as microseconds since the Unix epoch (`*_us` columns) and
//! enums as their text codes, so the same SQL and the same rows serve SQLite
//! and PostgreSQL.

use chrono::{DateTime, Utc};

use super::{
    StoreError, StoreResult,
    pii::{PiiCodec, PiiValues},
};
use hotline_domain::{
    Caller, EventKind, PersonName, PhoneNumber, RegionCode, SubjectCode, TicketEvent, TicketId,
    UnitId,
    calendar::Deadline,
    directory::{Region, Unit, UnitRetirement},
    text_enum::TextEnum,
    ticket::{
        Alerts, Intake, MergeLink, Outcome, PendingExtension, PendingReturn, RoutingRef,
        SupervisionOrder, Ticket,
    },
    timelimit::Deadlines,
};

/// One `tickets` row, read by column name (the columns are declared in
/// [`super::ticket_columns`]).
#[derive(Debug, sqlx::FromRow)]
pub(super) struct TicketRow {
    pub(super) id: String,
    pub(super) number: String,
    pub(super) state: String,
    pub(super) channel: String,
    pub(super) legacy_hotline: Option<String>,
    pub(super) caller_name: Option<String>,
    pub(super) caller_phone: Option<String>,
    pub(super) caller_anonymous: bool,
    pub(super) confidential: bool,
    pub(super) request_type: String,
    pub(super) urgency: String,
    pub(super) subject_code: Option<String>,
    pub(super) region_code: String,
    pub(super) address: String,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) lead_unit_id: Option<String>,
    pub(super) dispatch_count: i32,
    pub(super) intake_answer: Option<String>,
    pub(super) emergency_service: Option<String>,
    pub(super) legal_channel: Option<String>,
    pub(super) disposition_note: Option<String>,
    pub(super) reply: Option<String>,
    pub(super) reply_contacted_citizen: Option<bool>,
    pub(super) reply_time_us: Option<i64>,
    pub(super) satisfaction: Option<String>,
    pub(super) resolved: Option<bool>,
    pub(super) callback_comment: Option<String>,
    pub(super) callback_time_us: Option<i64>,
    pub(super) close_reason: Option<String>,
    pub(super) creator: String,
    pub(super) create_time_us: i64,
    pub(super) update_time_us: i64,
    pub(super) version: i64,
    pub(super) co_unit_ids: String,
    pub(super) designated: bool,
    pub(super) dispatch_time_us: Option<i64>,
    pub(super) routing_rule_id: Option<String>,
    pub(super) routing_rule_set_version: Option<i64>,
    pub(super) routing_model_version: Option<i64>,
    pub(super) region_note: Option<String>,
    pub(super) merged_into: Option<String>,
    pub(super) merge_from_state: Option<String>,
    pub(super) merge_time_us: Option<i64>,
    pub(super) legacy_number: Option<String>,
    pub(super) return_from_state: Option<String>,
    pub(super) return_reason: Option<String>,
    pub(super) return_legal_basis: Option<String>,
    pub(super) return_time_us: Option<i64>,
    pub(super) sign_deadline_us: Option<i64>,
    pub(super) sign_deadline_provisional: Option<bool>,
    pub(super) sign_calendar_version: Option<i64>,
    pub(super) reply_deadline_us: Option<i64>,
    pub(super) reply_deadline_provisional: Option<bool>,
    pub(super) reply_calendar_version: Option<i64>,
    pub(super) sign_time_us: Option<i64>,
    pub(super) extension_days: Option<i32>,
    pub(super) extension_reason: Option<String>,
    pub(super) extension_time_us: Option<i64>,
    pub(super) extensions_granted: i32,
    pub(super) warn_at_us: Option<i64>,
    pub(super) alert_sign_overdue: bool,
    pub(super) alert_warned: bool,
    pub(super) alert_overdue: bool,
    /// Derived from the other columns on every write; read only by the sweeper's index.
    #[allow(dead_code)]
    pub(super) next_alert_us: Option<i64>,
    pub(super) supervision_reason: Option<String>,
    pub(super) supervision_issued_by: Option<String>,
    pub(super) supervision_issue_time_us: Option<i64>,
    pub(super) supervision_response_deadline_us: Option<i64>,
    pub(super) supervision_automatic: Option<bool>,
    pub(super) reopen_count: i32,
    pub(super) callback_deadline_us: Option<i64>,
    /// The key the personal fields are sealed with; NULL for a row
    /// written before encryption (clear text).
    pub(super) pii_key_id: Option<String>,
    /// Searched by, never read back.
    #[allow(dead_code)]
    pub(super) caller_phone_index: Option<String>,
}

impl TicketRow {
    /// The ticket, its personal fields opened with `codec`.
    pub(super) fn open(mut self, codec: &PiiCodec) -> StoreResult<Ticket> {
        let stored = PiiValues {
            caller_name: self.caller_name.take(),
            caller_phone: self.caller_phone.take(),
            address: std::mem::take(&mut self.address),
            description: std::mem::take(&mut self.description),
            callback_comment: self.callback_comment.take(),
        };
        let clear = codec.open_values(&self.id, self.pii_key_id.as_deref(), stored)?;
        self.caller_name = clear.caller_name;
        self.caller_phone = clear.caller_phone;
        self.address = clear.address;
        self.description = clear.description;
        self.callback_comment = clear.callback_comment;
        self.into_clear_ticket()
    }
}

/// A deadline from its three columns (all set or none).
fn deadline(
    at: Option<i64>,
    provisional: Option<bool>,
    version: Option<i64>,
) -> StoreResult<Option<Deadline>> {
    match (at, provisional, version) {
        (Some(at), Some(provisional), Some(calendar_version)) => Ok(Some(Deadline {
            at: time(at)?,
            provisional,
            calendar_version,
        })),
        (None, None, None) => Ok(None),
        _ => Err(corrupt("deadline", "partially set")),
    }
}

/// Co-unit ids are stored comma-separated in `tickets.co_unit_ids` (unit ids
/// cannot contain commas) so reads need no join.
pub(super) fn join_unit_ids(units: &[UnitId]) -> String {
    units
        .iter()
        .map(UnitId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

fn split_unit_ids(joined: &str) -> StoreResult<Vec<UnitId>> {
    joined
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|u| UnitId::parse(u).map_err(|_| corrupt("co_unit_ids", u)))
        .collect()
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::internal(format!("stored {what} is invalid: {value:?}"))
}

fn code<E: TextEnum>(what: &str, value: &str) -> StoreResult<E> {
    E::from_code(value).ok_or_else(|| corrupt(what, value))
}

fn opt_code<E: TextEnum>(what: &str, value: Option<&str>) -> StoreResult<Option<E>> {
    value.map(|v| code(what, v)).transpose()
}

pub(super) fn time(us: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| corrupt("time", &us.to_string()))
}

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl TicketRow {
    /// The ticket of a row whose personal fields are in clear (private:
    /// every read goes through [`TicketRow::open`]).
    fn into_clear_ticket(self) -> StoreResult<Ticket> {
        let r = self;
        let caller = Caller {
            name: r
                .caller_name
                .as_deref()
                .map(|n| PersonName::parse(n).map_err(|_| corrupt("caller_name", "<redacted>")))
                .transpose()?,
            phone: r
                .caller_phone
                .as_deref()
                .map(|p| PhoneNumber::parse(p).map_err(|_| corrupt("caller_phone", "<redacted>")))
                .transpose()?,
            anonymous: r.caller_anonymous,
        };
        let intake = Intake {
            channel: code("channel", &r.channel)?,
            legacy_hotline: r.legacy_hotline,
            caller,
            confidential: r.confidential,
            request_type: code("request_type", &r.request_type)?,
            urgency: code("urgency", &r.urgency)?,
            subject_code: r
                .subject_code
                .as_deref()
                .map(|s| SubjectCode::parse(s).map_err(|_| corrupt("subject_code", s)))
                .transpose()?,
            region_code: RegionCode::parse(&r.region_code)
                .map_err(|_| corrupt("region_code", &r.region_code))?,
            address: r.address,
            title: r.title,
            description: r.description,
        };
        let outcome = Outcome {
            intake_answer: r.intake_answer,
            emergency_service: opt_code("emergency_service", r.emergency_service.as_deref())?,
            legal_channel: opt_code("legal_channel", r.legal_channel.as_deref())?,
            disposition_note: r.disposition_note,
            reply: r.reply,
            reply_contacted_citizen: r.reply_contacted_citizen,
            reply_time: r.reply_time_us.map(time).transpose()?,
            satisfaction: opt_code("satisfaction", r.satisfaction.as_deref())?,
            resolved: r.resolved,
            callback_comment: r.callback_comment,
            callback_time: r.callback_time_us.map(time).transpose()?,
            close_reason: opt_code("close_reason", r.close_reason.as_deref())?,
        };
        Ok(Ticket {
            id: TicketId::parse(&r.id).map_err(|_| corrupt("id", &r.id))?,
            number: r.number,
            state: code("state", &r.state)?,
            intake,
            lead_unit: r
                .lead_unit_id
                .as_deref()
                .map(|u| UnitId::parse(u).map_err(|_| corrupt("lead_unit_id", u)))
                .transpose()?,
            co_units: split_unit_ids(&r.co_unit_ids)?,
            dispatch_count: r.dispatch_count,
            designated: r.designated,
            dispatch_time: r.dispatch_time_us.map(time).transpose()?,
            routing: r.routing_rule_set_version.map(|version| RoutingRef {
                rule_id: r.routing_rule_id.clone(),
                rule_set_version: version,
                model_version: r.routing_model_version,
            }),
            pending_return: match r.return_from_state.as_deref() {
                None => None,
                Some(from) => Some(PendingReturn {
                    from: code("return_from_state", from)?,
                    reason: r.return_reason.clone().unwrap_or_default(),
                    legal_basis: r.return_legal_basis.clone().unwrap_or_default(),
                    time: time(r.return_time_us.unwrap_or_default())?,
                }),
            },
            deadlines: match (
                deadline(
                    r.sign_deadline_us,
                    r.sign_deadline_provisional,
                    r.sign_calendar_version,
                )?,
                deadline(
                    r.reply_deadline_us,
                    r.reply_deadline_provisional,
                    r.reply_calendar_version,
                )?,
            ) {
                (Some(sign), Some(reply)) => Some(Deadlines {
                    sign,
                    reply,
                    warn_at: time(
                        r.warn_at_us
                            .unwrap_or(r.reply_deadline_us.unwrap_or_default()),
                    )?,
                }),
                (None, None) => None,
                _ => return Err(corrupt("deadlines", "only one of sign and reply is set")),
            },
            sign_time: r.sign_time_us.map(time).transpose()?,
            pending_extension: match (r.extension_days, r.extension_time_us) {
                (Some(days), Some(at)) => Some(PendingExtension {
                    days: u32::try_from(days)
                        .map_err(|_| corrupt("extension_days", &days.to_string()))?,
                    reason: r.extension_reason.clone().unwrap_or_default(),
                    time: time(at)?,
                }),
                _ => None,
            },
            extensions_granted: r.extensions_granted,
            reopen_count: r.reopen_count,
            callback_deadline: r.callback_deadline_us.map(time).transpose()?,
            alerts: Alerts {
                sign_overdue: r.alert_sign_overdue,
                warned: r.alert_warned,
                overdue: r.alert_overdue,
            },
            supervision: match (
                r.supervision_issue_time_us,
                r.supervision_response_deadline_us,
            ) {
                (Some(issued), Some(due)) => Some(SupervisionOrder {
                    reason: r.supervision_reason.clone().unwrap_or_default(),
                    issued_by: r.supervision_issued_by.clone().unwrap_or_default(),
                    issue_time: time(issued)?,
                    response_deadline: time(due)?,
                    automatic: r.supervision_automatic.unwrap_or(false),
                }),
                _ => None,
            },
            outcome,
            region_note: r.region_note,
            merged_into: match (r.merged_into.as_deref(), r.merge_from_state.as_deref()) {
                (Some(primary), Some(from)) => Some(MergeLink {
                    primary: TicketId::parse(primary)
                        .map_err(|_| corrupt("merged_into", primary))?,
                    from_state: code("merge_from_state", from)?,
                    time: time(r.merge_time_us.unwrap_or_default())?,
                }),
                (None, None) => None,
                _ => {
                    return Err(corrupt(
                        "merged_into",
                        "only one of primary and state is set",
                    ));
                }
            },
            legacy_number: r.legacy_number,
            creator: r.creator,
            create_time: time(r.create_time_us)?,
            update_time: time(r.update_time_us)?,
            version: r.version,
        })
    }
}

/// One `ticket_events` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct EventRow {
    pub(super) ticket_id: String,
    pub(super) sequence: i64,
    pub(super) kind: String,
    pub(super) actor: String,
    pub(super) actor_role: String,
    pub(super) from_state: Option<String>,
    pub(super) to_state: String,
    pub(super) payload: String,
    pub(super) time_us: i64,
}

impl TryFrom<EventRow> for TicketEvent {
    type Error = StoreError;

    /// An unknown kind (a newer version wrote it) or a payload that does
    /// not fit its kind is an error naming the row, never a panic.
    fn try_from(r: EventRow) -> StoreResult<Self> {
        let kind = EventKind::from_columns(&r.kind, &r.payload).map_err(|e| {
            StoreError::internal_from(
                format!("stored event {}#{} cannot be read", r.ticket_id, r.sequence),
                e,
            )
        })?;
        Ok(TicketEvent {
            ticket_id: TicketId::parse(&r.ticket_id)
                .map_err(|_| corrupt("ticket_id", &r.ticket_id))?,
            sequence: r.sequence,
            kind,
            actor: r.actor,
            actor_role: r.actor_role,
            from_state: opt_code("from_state", r.from_state.as_deref())?,
            to_state: code("to_state", &r.to_state)?,
            time: time(r.time_us)?,
        })
    }
}

/// One `units` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UnitRow {
    pub(super) id: String,
    pub(super) display_name: String,
    pub(super) kind: String,
    pub(super) region_code: String,
    pub(super) parent_id: Option<String>,
    pub(super) create_time_us: i64,
}

impl TryFrom<UnitRow> for Unit {
    type Error = StoreError;

    fn try_from(r: UnitRow) -> StoreResult<Self> {
        Ok(Unit {
            id: UnitId::parse(&r.id).map_err(|_| corrupt("unit id", &r.id))?,
            display_name: r.display_name,
            kind: code("unit kind", &r.kind)?,
            region_code: RegionCode::parse(&r.region_code)
                .map_err(|_| corrupt("region_code", &r.region_code))?,
            parent: r
                .parent_id
                .as_deref()
                .map(|p| UnitId::parse(p).map_err(|_| corrupt("parent_id", p)))
                .transpose()?,
            create_time: time(r.create_time_us)?,
        })
    }
}

/// One `unit_retirements` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RetirementRow {
    pub(super) unit_id: String,
    pub(super) successor_id: Option<String>,
    pub(super) note: String,
    pub(super) retired_by: String,
    pub(super) retire_time_us: i64,
}

impl TryFrom<RetirementRow> for UnitRetirement {
    type Error = StoreError;

    fn try_from(r: RetirementRow) -> StoreResult<Self> {
        Ok(UnitRetirement {
            unit: UnitId::parse(&r.unit_id).map_err(|_| corrupt("unit_id", &r.unit_id))?,
            successor: r
                .successor_id
                .as_deref()
                .map(|s| UnitId::parse(s).map_err(|_| corrupt("successor_id", s)))
                .transpose()?,
            note: r.note,
            retired_by: r.retired_by,
            time: time(r.retire_time_us)?,
        })
    }
}

/// One `regions` row.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RegionRow {
    pub(super) code: String,
    pub(super) display_name: String,
    pub(super) parent_code: Option<String>,
}

impl TryFrom<RegionRow> for Region {
    type Error = StoreError;

    fn try_from(r: RegionRow) -> StoreResult<Self> {
        let parse = |c: &str| RegionCode::parse(c).map_err(|_| corrupt("region code", c));
        Ok(Region {
            code: parse(&r.code)?,
            display_name: r.display_name,
            parent: r.parent_code.as_deref().map(parse).transpose()?,
        })
    }
}
