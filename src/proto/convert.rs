//! Conversion between protobuf messages and domain types, in one place.
//!
//! Parsing reports the full request field path (`ticket.caller.phone`) so the
//! client's error names exactly what to fix.

use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use crate::service::ServiceError;
pub use crate::service::error::at;
use crate::{
    domain::{
        Caller, RegionCode, SubjectCode, TicketEvent, TicketId, UnitId,
        access::{CallerVisibility, view_caller},
        calendar::Deadline,
        directory::{Region, Unit, UnitKind},
        ticket::{
            self, Channel, CloseReason, EmergencyService, Intake, LegalChannel, RequestType,
            Satisfaction, Ticket, TicketState, Urgency,
        },
    },
    proto::v1 as pb,
};

/// A domain enum with a matching protobuf enum (variant names are equal).
pub trait ProtoEnum: Sized + Copy {
    /// To the wire value.
    fn to_proto(self) -> i32;
    /// From the wire value; `None` for UNSPECIFIED and unknown values.
    fn from_proto(value: i32) -> Option<Self>;
}

macro_rules! proto_enum {
    ($domain:ty => $proto:ident { $($variant:ident),+ $(,)? }) => {
        impl ProtoEnum for $domain {
            fn to_proto(self) -> i32 {
                match self { $(<$domain>::$variant => pb::$proto::$variant as i32),+ }
            }
            fn from_proto(value: i32) -> Option<Self> {
                match pb::$proto::try_from(value).ok()? {
                    $(pb::$proto::$variant => Some(<$domain>::$variant),)+
                    pb::$proto::Unspecified => None,
                }
            }
        }
    };
}

proto_enum!(Channel => Channel { Phone, Web, App, Wechat, Sms, Letter, Transfer110 });
proto_enum!(RequestType => RequestType { Enquiry, Help, Complaint, Report, Suggestion, Praise, Other });
proto_enum!(Urgency => Urgency { Normal, Urgent, UtilityOutage });
proto_enum!(TicketState => TicketState {
    PendingDispatch, Dispatched, InProgress, Replied, AwaitingCallback, CallbackDone,
    Dissatisfied, Closed, ResolvedAtIntake, TransferredEmergency, NotAccepted, Merged,
    ReturnRequested,
});
proto_enum!(EmergencyService => EmergencyService { Police110, Fire119, Ambulance120, Traffic122 });
proto_enum!(LegalChannel => LegalChannel {
    Litigation, Arbitration, Petition, Discipline, AdministrativeReview, InformationDisclosure,
});
proto_enum!(Satisfaction => Satisfaction {
    VerySatisfied, Satisfied, BasicallySatisfied, Dissatisfied, VeryDissatisfied,
});
proto_enum!(CloseReason => CloseReason { Completed, NotRated, UnreasonableDemand, Withdrawn, Merged });
proto_enum!(UnitKind => UnitKind { Department, District, Street, Company });
proto_enum!(CallerVisibility => CallerVisibility { Full, Masked, Withheld });

/// A required enum field: UNSPECIFIED or unknown is invalid.
pub fn required_enum<E: ProtoEnum>(value: i32, field: &str) -> Result<E, ServiceError> {
    E::from_proto(value).ok_or_else(|| ServiceError::invalid(field, "required: choose a value"))
}

/// An optional enum filter: UNSPECIFIED means "any"; unknown values are invalid.
pub fn optional_enum<E: ProtoEnum>(value: i32, field: &str) -> Result<Option<E>, ServiceError> {
    if value == 0 {
        Ok(None)
    } else {
        E::from_proto(value)
            .map(Some)
            .ok_or_else(|| ServiceError::invalid(field, "unknown value"))
    }
}

/// Bounded free text at a field path.
pub fn text(raw: &str, field: &str, required: bool, max: usize) -> Result<String, ServiceError> {
    at(ticket::parse_text(raw, required, max), field)
}

/// `tickets/{id}` at a field path.
pub fn ticket_id(name: &str, field: &str) -> Result<TicketId, ServiceError> {
    at(TicketId::from_name(name), field)
}

/// `units/{id}` at a field path.
pub fn unit_id(name: &str, field: &str) -> Result<UnitId, ServiceError> {
    at(UnitId::from_name(name), field)
}

/// Seconds of 0001-01-01T00:00:00Z, the earliest `google.protobuf.Timestamp`.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// Seconds of 9999-12-31T23:59:59Z, the latest `google.protobuf.Timestamp`.
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;

/// Timestamp to chrono, refusing what `google.protobuf.Timestamp` itself
/// declares invalid: seconds outside years 1 to 9999, and nanos outside
/// 0..=999,999,999. chrono would take nanos up to 2e9 as a leap second,
/// which arithmetic then drops, so a deadline computed from one came out
/// a second early instead of refused.
pub fn from_timestamp(ts: &Timestamp, field: &str) -> Result<DateTime<Utc>, ServiceError> {
    let nanos = u32::try_from(ts.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| ServiceError::invalid(field, "nanos must be 0 to 999,999,999"))?;
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&ts.seconds) {
        return Err(ServiceError::invalid(
            field,
            "out of range: must be from 0001-01-01 to 9999-12-31 UTC",
        ));
    }
    DateTime::from_timestamp(ts.seconds, nanos)
        .ok_or_else(|| ServiceError::invalid(field, "out of range"))
}

/// A time window's two ends, each optional.
pub type TimeWindow = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// An optional time window `[from, to)` of a list request, each end
/// optional: both ends checked as [`from_timestamp`] does, and a window
/// that ends before (or as) it starts refused on `fields.1`, rather than
/// answered with an empty list that looks like "nothing happened".
pub fn time_window(
    from: Option<&Timestamp>,
    to: Option<&Timestamp>,
    fields: (&str, &str),
) -> Result<TimeWindow, ServiceError> {
    let from = from.map(|t| from_timestamp(t, fields.0)).transpose()?;
    let to = to.map(|t| from_timestamp(t, fields.1)).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ServiceError::invalid(
            fields.1,
            format!("must be after {}", fields.0),
        ));
    }
    Ok((from, to))
}

/// chrono to Timestamp.
pub fn to_timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Parses the intake fields of a `CreateTicketRequest.ticket`.
pub fn intake_from_proto(t: &pb::Ticket, prefix: &str) -> Result<Intake, ServiceError> {
    let f = |name: &str| format!("{prefix}.{name}");
    let caller = t.caller.clone().unwrap_or_default();
    Ok(Intake {
        channel: required_enum(t.channel, &f("channel"))?,
        legacy_hotline: at(
            ticket::parse_legacy_hotline(&t.legacy_hotline),
            &f("legacy_hotline"),
        )?,
        caller: at(
            Caller::parse(&caller.name, &caller.phone, caller.anonymous),
            &f("caller"),
        )?,
        confidential: t.confidential,
        request_type: required_enum(t.request_type, &f("request_type"))?,
        urgency: optional_enum(t.urgency, &f("urgency"))?.unwrap_or(Urgency::Normal),
        subject_code: if t.subject_code.trim().is_empty() {
            None
        } else {
            Some(at(
                SubjectCode::parse(t.subject_code.trim()),
                &f("subject_code"),
            )?)
        },
        region_code: at(RegionCode::parse(t.region_code.trim()), &f("region_code"))?,
        address: text(&t.address, &f("address"), false, 200)?,
        title: text(&t.title, &f("title"), true, 100)?,
        description: text(&t.description, &f("description"), true, 4000)?,
    })
}

fn opt_str(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// A duplicate as its primary lists it (GetTicket), its caller as the
/// reader may see it.
pub fn merged_ticket_to_proto(t: &Ticket, visibility: CallerVisibility) -> pb::MergedTicket {
    let caller = view_caller(&t.intake.caller, visibility);
    pb::MergedTicket {
        name: t.id.name(),
        number: t.number.clone(),
        caller: Some(pb::Caller {
            name: caller.name,
            phone: caller.phone,
            anonymous: caller.anonymous,
        }),
        caller_visibility: visibility.to_proto(),
        create_time: Some(to_timestamp(t.create_time)),
        merge_time: t.merged_into.map(|m| to_timestamp(m.time)),
        // Filled from the primary's trail by GetTicket.
        satisfaction: 0,
        resolved: false,
        callback_time: None,
    }
}

/// A ticket as the reader may see it.
pub fn ticket_to_proto(t: &Ticket, visibility: CallerVisibility) -> pb::Ticket {
    let caller = view_caller(&t.intake.caller, visibility);
    let o = &t.outcome;
    pb::Ticket {
        name: t.id.name(),
        number: t.number.clone(),
        state: t.state.to_proto(),
        channel: t.intake.channel.to_proto(),
        legacy_hotline: opt_str(&t.intake.legacy_hotline),
        caller: Some(pb::Caller {
            name: caller.name,
            phone: caller.phone,
            anonymous: caller.anonymous,
        }),
        caller_visibility: visibility.to_proto(),
        confidential: t.intake.confidential,
        request_type: t.intake.request_type.to_proto(),
        urgency: t.intake.urgency.to_proto(),
        subject_code: t
            .intake
            .subject_code
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        region_code: t.intake.region_code.to_string(),
        address: t.intake.address.clone(),
        title: t.intake.title.clone(),
        description: t.intake.description.clone(),
        lead_unit: t.lead_unit.as_ref().map(UnitId::name).unwrap_or_default(),
        dispatch_count: t.dispatch_count,
        outcome: Some(pb::Outcome {
            intake_answer: opt_str(&o.intake_answer),
            emergency_service: o.emergency_service.map_or(0, ProtoEnum::to_proto),
            legal_channel: o.legal_channel.map_or(0, ProtoEnum::to_proto),
            disposition_note: opt_str(&o.disposition_note),
            reply: opt_str(&o.reply),
            reply_contacted_citizen: o.reply_contacted_citizen.unwrap_or(false),
            reply_time: o.reply_time.map(to_timestamp),
            satisfaction: o.satisfaction.map_or(0, ProtoEnum::to_proto),
            resolved: o.resolved.unwrap_or(false),
            callback_comment: opt_str(&o.callback_comment),
            callback_time: o.callback_time.map(to_timestamp),
            close_reason: o.close_reason.map_or(0, ProtoEnum::to_proto),
        }),
        create_time: Some(to_timestamp(t.create_time)),
        update_time: Some(to_timestamp(t.update_time)),
        etag: t.etag(),
        creator: t.creator.clone(),
        co_units: t.co_units.iter().map(UnitId::name).collect(),
        designated: t.designated,
        dispatch_time: t.dispatch_time.map(to_timestamp),
        routing_source: routing_source(t) as i32,
        routing_rule: t
            .routing
            .as_ref()
            .and_then(|r| r.rule_id.as_ref())
            .map(|id| format!("rules/{id}"))
            .unwrap_or_default(),
        rule_set_version: t.routing.as_ref().map_or(0, |r| r.rule_set_version),
        routing_dispatch_model: t
            .routing
            .as_ref()
            .and_then(|r| r.model_version)
            .map(|v| format!("dispatchModels/{v}"))
            .unwrap_or_default(),
        sign_deadline: t.deadlines.map(|d| deadline_to_proto(d.sign)),
        reply_deadline: t.deadlines.map(|d| deadline_to_proto(d.reply)),
        sign_time: t.sign_time.map(to_timestamp),
        pending_extension: t.pending_extension.as_ref().map(|e| pb::PendingExtension {
            days: i32::try_from(e.days).unwrap_or(i32::MAX),
            reason: e.reason.clone(),
            request_time: Some(to_timestamp(e.time)),
        }),
        extensions_granted: t.extensions_granted,
        reopen_count: t.reopen_count,
        callback_deadline: t.callback_deadline.map(to_timestamp),
        region_note: t.region_note.clone().unwrap_or_default(),
        merged_into: t.merged_into.map(|m| m.primary.name()).unwrap_or_default(),
        merged_tickets: Vec::new(),
        legacy_number: t.legacy_number.clone().unwrap_or_default(),
        warning_time: t.deadlines.map(|d| to_timestamp(d.warn_at)),
        warned: t.alerts.warned,
        overdue: t.alerts.overdue,
        sign_overdue: t.alerts.sign_overdue,
        supervision: t.supervision.as_ref().map(|o| pb::SupervisionOrder {
            reason: o.reason.clone(),
            issuer: o.issued_by.clone(),
            issue_time: Some(to_timestamp(o.issue_time)),
            response_deadline: Some(to_timestamp(o.response_deadline)),
            automatic: o.automatic,
        }),
        pending_return: t.pending_return.as_ref().map(|p| pb::PendingReturn {
            reason: p.reason.clone(),
            legal_basis: p.legal_basis.clone(),
            request_time: Some(to_timestamp(p.time)),
            from_state: p.from.to_proto(),
        }),
    }
}

/// A deadline on the wire.
pub fn deadline_to_proto(d: Deadline) -> pb::Deadline {
    pb::Deadline {
        time: Some(to_timestamp(d.at)),
        provisional: d.provisional,
        calendar_version: d.calendar_version,
    }
}

fn routing_source(t: &Ticket) -> pb::RoutingSource {
    match (&t.lead_unit, &t.routing) {
        (None, _) => pb::RoutingSource::Unspecified,
        (Some(_), None) => pb::RoutingSource::Manual,
        (Some(_), Some(r)) if r.rule_id.is_some() => pb::RoutingSource::Rule,
        (Some(_), Some(r)) if r.model_version.is_some() => pb::RoutingSource::Model,
        (Some(_), Some(_)) => pb::RoutingSource::DistrictFallback,
    }
}

/// A list of `units/{id}` at a field path.
pub fn unit_ids(names: &[String], field: &str) -> Result<Vec<UnitId>, ServiceError> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| unit_id(n, &format!("{field}[{i}]")))
        .collect()
}

/// An audit event on the wire: the kind as its stored text and the
/// details as the stored JSON payload, so the wire format is the table's.
pub fn event_to_proto(e: &TicketEvent) -> Result<pb::TicketEvent, ServiceError> {
    let payload = e.kind.payload().map_err(|err| {
        ServiceError::Internal(format!("event {}#{}: {err}", e.ticket_id, e.sequence))
    })?;
    Ok(pb::TicketEvent {
        sequence: e.sequence,
        kind: e.kind.event_type().to_owned(),
        actor: e.actor.clone(),
        actor_role: e.actor_role.clone(),
        from_state: e.from_state.map_or(0, ProtoEnum::to_proto),
        to_state: e.to_state.to_proto(),
        payload: match json_to_proto(&payload).kind {
            Some(prost_types::value::Kind::StructValue(s)) => Some(s),
            _ => None,
        },
        create_time: Some(to_timestamp(e.time)),
    })
}

/// JSON to `google.protobuf.Value`.
pub fn json_to_proto(v: &serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(*b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s.clone()),
        serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(json_to_proto).collect(),
        }),
        serde_json::Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map
                .iter()
                .map(|(k, v)| (k.clone(), json_to_proto(v)))
                .collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

/// A unit on the wire.
pub fn unit_to_proto(u: &Unit) -> pb::Unit {
    pb::Unit {
        name: u.id.name(),
        display_name: u.display_name.clone(),
        kind: u.kind.to_proto(),
        region_code: u.region_code.to_string(),
        parent: u.parent.as_ref().map(UnitId::name).unwrap_or_default(),
        create_time: Some(to_timestamp(u.create_time)),
    }
}

/// A region on the wire.
pub fn region_to_proto(r: &Region) -> pb::Region {
    pb::Region {
        name: format!("regions/{}", r.code),
        code: r.code.to_string(),
        display_name: r.display_name.clone(),
        parent: r
            .parent
            .as_ref()
            .map(|p| format!("regions/{p}"))
            .unwrap_or_default(),
    }
}

/// `regions/{code}` at a field path.
pub fn region_code_from_name(name: &str, field: &str) -> Result<RegionCode, ServiceError> {
    let code = name
        .strip_prefix("regions/")
        .ok_or_else(|| ServiceError::invalid(field, "must look like regions/{code}"))?;
    at(RegionCode::parse(code), field)
}
