//! The `tickets` table declared once: each column's name beside the
//! expression that fills it from a [`StoredTicket`].
//!
//! Why one table: the INSERT, the UPDATE, the SELECT list and the bulk COPY
//! loader all walk [`TICKET_COLUMNS`], so a column is named exactly once
//! and meets its own value, never the value at the same position of a
//! separate list. Rows are read back by column name ([`super::rows::TicketRow`]),
//! so reading does not depend on the order either.
//!
//! A row is written from a [`StoredTicket`]: the ticket plus its personal
//! fields as sealed by the store's codec ([`super::pii`]), so the caller's
//! name, phone, address, description and callback comment columns take
//! the sealed values, never the ticket's clear ones.

use std::sync::LazyLock;

use super::{
    pii::StoredTicket,
    query::{Column, flag, int, opt_bytes, opt_flag, opt_int, opt_text, text},
    rows::{join_unit_ids, micros},
};
use hotline_domain::{UnitId, text_enum::TextEnum};

/// Every column of `tickets` and how a stored ticket fills it: the
/// columns without caller data from the ticket, the last seven from its
/// sealed fields ([`super::pii::SealedPii`]).
pub(super) const TICKET_COLUMNS: &[Column<StoredTicket>] = &[
    ("id", |s| text(s.ticket.id.to_string())),
    ("number", |s| text(&s.ticket.number)),
    ("state", |s| text(s.ticket.state.code())),
    ("channel", |s| text(s.ticket.intake.channel.code())),
    ("legacy_hotline", |s| {
        opt_text(s.ticket.intake.legacy_hotline.as_deref())
    }),
    ("caller_anonymous", |s| {
        flag(s.ticket.intake.caller.anonymous)
    }),
    ("confidential", |s| flag(s.ticket.intake.confidential)),
    ("request_type", |s| {
        text(s.ticket.intake.request_type.code())
    }),
    ("urgency", |s| text(s.ticket.intake.urgency.code())),
    ("subject_code", |s| {
        opt_text(s.ticket.intake.subject_code.as_ref().map(|s| s.as_str()))
    }),
    ("region_code", |s| {
        text(s.ticket.intake.region_code.as_str())
    }),
    // Derived from the region code, for the district and street lists'
    // indexes (see lists_sql.rs); rewritten with it on every update.
    ("district_code", |s| {
        text(s.ticket.intake.region_code.district())
    }),
    ("street_code", |s| {
        opt_text(s.ticket.intake.region_code.street())
    }),
    ("title", |s| text(&s.ticket.intake.title)),
    ("lead_unit_id", |s| {
        opt_text(s.ticket.lead_unit.as_ref().map(UnitId::as_str))
    }),
    ("dispatch_count", |s| int(s.ticket.dispatch_count)),
    ("intake_answer", |s| {
        opt_text(s.ticket.outcome.intake_answer.as_deref())
    }),
    ("emergency_service", |s| {
        opt_text(s.ticket.outcome.emergency_service.map(|v| v.code()))
    }),
    ("legal_channel", |s| {
        opt_text(s.ticket.outcome.legal_channel.map(|v| v.code()))
    }),
    ("disposition_note", |s| {
        opt_text(s.ticket.outcome.disposition_note.as_deref())
    }),
    ("reply", |s| opt_text(s.ticket.outcome.reply.as_deref())),
    ("reply_contacted_citizen", |s| {
        opt_flag(s.ticket.outcome.reply_contacted_citizen)
    }),
    ("reply_time_us", |s| {
        opt_int(s.ticket.outcome.reply_time.map(micros))
    }),
    ("satisfaction", |s| {
        opt_text(s.ticket.outcome.satisfaction.map(|v| v.code()))
    }),
    ("resolved", |s| opt_flag(s.ticket.outcome.resolved)),
    ("callback_time_us", |s| {
        opt_int(s.ticket.outcome.callback_time.map(micros))
    }),
    ("close_reason", |s| {
        opt_text(s.ticket.outcome.close_reason.map(|v| v.code()))
    }),
    ("creator", |s| text(&s.ticket.creator)),
    ("create_time_us", |s| int(micros(s.ticket.create_time))),
    ("update_time_us", |s| int(micros(s.ticket.update_time))),
    ("version", |s| int(s.ticket.version)),
    ("co_unit_ids", |s| text(join_unit_ids(&s.ticket.co_units))),
    ("designated", |s| flag(s.ticket.designated)),
    ("dispatch_time_us", |s| {
        opt_int(s.ticket.dispatch_time.map(micros))
    }),
    ("routing_rule_id", |s| {
        opt_text(s.ticket.routing.as_ref().and_then(|r| r.rule_id.as_deref()))
    }),
    ("routing_rule_set_version", |s| {
        opt_int(s.ticket.routing.as_ref().map(|r| r.rule_set_version))
    }),
    ("routing_model_version", |s| {
        opt_int(s.ticket.routing.as_ref().and_then(|r| r.model_version))
    }),
    ("region_note", |s| opt_text(s.ticket.region_note.as_deref())),
    ("merged_into", |s| {
        opt_text(s.ticket.merged_into.map(|m| m.primary.to_string()))
    }),
    ("merge_from_state", |s| {
        opt_text(s.ticket.merged_into.map(|m| m.from_state.code()))
    }),
    ("merge_time_us", |s| {
        opt_int(s.ticket.merged_into.map(|m| micros(m.time)))
    }),
    ("legacy_number", |s| {
        opt_text(s.ticket.legacy_number.as_deref())
    }),
    ("return_from_state", |s| {
        opt_text(s.ticket.pending_return.as_ref().map(|p| p.from.code()))
    }),
    ("return_reason", |s| {
        opt_text(s.ticket.pending_return.as_ref().map(|p| p.reason.as_str()))
    }),
    ("return_legal_basis", |s| {
        opt_text(
            s.ticket
                .pending_return
                .as_ref()
                .map(|p| p.legal_basis.as_str()),
        )
    }),
    ("return_time_us", |s| {
        opt_int(s.ticket.pending_return.as_ref().map(|p| micros(p.time)))
    }),
    ("sign_deadline_us", |s| {
        opt_int(s.ticket.deadlines.map(|d| micros(d.sign.at)))
    }),
    ("sign_deadline_provisional", |s| {
        opt_flag(s.ticket.deadlines.map(|d| d.sign.provisional))
    }),
    ("sign_calendar_version", |s| {
        opt_int(s.ticket.deadlines.map(|d| d.sign.calendar_version))
    }),
    ("reply_deadline_us", |s| {
        opt_int(s.ticket.deadlines.map(|d| micros(d.reply.at)))
    }),
    ("reply_deadline_provisional", |s| {
        opt_flag(s.ticket.deadlines.map(|d| d.reply.provisional))
    }),
    ("reply_calendar_version", |s| {
        opt_int(s.ticket.deadlines.map(|d| d.reply.calendar_version))
    }),
    ("sign_time_us", |s| opt_int(s.ticket.sign_time.map(micros))),
    ("extension_days", |s| {
        opt_int(
            s.ticket
                .pending_extension
                .as_ref()
                .map(|e| i64::from(e.days)),
        )
    }),
    ("extension_reason", |s| {
        opt_text(
            s.ticket
                .pending_extension
                .as_ref()
                .map(|e| e.reason.as_str()),
        )
    }),
    ("extension_time_us", |s| {
        opt_int(s.ticket.pending_extension.as_ref().map(|e| micros(e.time)))
    }),
    ("extensions_granted", |s| int(s.ticket.extensions_granted)),
    ("warn_at_us", |s| {
        opt_int(s.ticket.deadlines.map(|d| micros(d.warn_at)))
    }),
    ("alert_sign_overdue", |s| flag(s.ticket.alerts.sign_overdue)),
    ("alert_warned", |s| flag(s.ticket.alerts.warned)),
    ("alert_overdue", |s| flag(s.ticket.alerts.overdue)),
    ("next_alert_us", |s| {
        opt_int(s.ticket.next_alert_at().map(micros))
    }),
    ("supervision_reason", |s| {
        opt_text(s.ticket.supervision.as_ref().map(|o| o.reason.as_str()))
    }),
    ("supervision_issued_by", |s| {
        opt_text(s.ticket.supervision.as_ref().map(|o| o.issued_by.as_str()))
    }),
    ("supervision_issue_time_us", |s| {
        opt_int(s.ticket.supervision.as_ref().map(|o| micros(o.issue_time)))
    }),
    ("supervision_response_deadline_us", |s| {
        opt_int(
            s.ticket
                .supervision
                .as_ref()
                .map(|o| micros(o.response_deadline)),
        )
    }),
    ("supervision_automatic", |s| {
        opt_flag(s.ticket.supervision.as_ref().map(|o| o.automatic))
    }),
    ("reopen_count", |s| int(s.ticket.reopen_count)),
    ("callback_deadline_us", |s| {
        opt_int(s.ticket.callback_deadline.map(micros))
    }),
    ("caller_name", |s| {
        opt_text(s.pii.values.caller_name.as_deref())
    }),
    ("caller_phone", |s| {
        opt_text(s.pii.values.caller_phone.as_deref())
    }),
    ("address", |s| text(&s.pii.values.address)),
    ("description", |s| text(&s.pii.values.description)),
    ("callback_comment", |s| {
        opt_text(s.pii.values.callback_comment.as_deref())
    }),
    ("pii_key_id", |s| text(&s.pii.key_id)),
    ("caller_phone_index", |s| {
        opt_text(s.pii.phone_index.as_deref())
    }),
    // Written, not read with the ticket (duplicate search reads it alone,
    // sketches_sql.rs); an UPDATE leaves it out when the text did not
    // change ([`StoredTicket::text_sketch`] is `None`).
    (TEXT_SKETCH, |s| opt_bytes(s.text_sketch.as_deref())),
];

/// The text sketch's column.
pub(super) const TEXT_SKETCH: &str = "text_sketch";

/// The column names but the sketch, comma-separated: the SELECT list of
/// every ticket read.
pub(super) static TICKET_COLUMN_LIST: LazyLock<String> = LazyLock::new(|| {
    TICKET_COLUMNS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != TEXT_SKETCH)
        .collect::<Vec<_>>()
        .join(", ")
});

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_column_is_declared_once() {
        let names: HashSet<&str> = TICKET_COLUMNS.iter().map(|(name, _)| *name).collect();
        assert_eq!(names.len(), TICKET_COLUMNS.len());
        assert_eq!(
            TICKET_COLUMNS[0].0, "id",
            "the UPDATE keys on the first column"
        );
    }
}
