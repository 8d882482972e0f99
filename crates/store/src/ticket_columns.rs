//! The `tickets` table declared once: each column's name beside the
//! expression that fills it from a [`Ticket`].
//!
//! Why one table: the INSERT, the UPDATE, the SELECT list and the bulk COPY
//! loader all walk [`TICKET_COLUMNS`], so a column is named exactly once
//! and meets its own value, never the value at the same position of a
//! separate list. Rows are read back by column name ([`super::rows::TicketRow`]),
//! so reading does not depend on the order either.

use std::sync::LazyLock;

use super::{
    query::{Column, column_names, flag, int, opt_flag, opt_int, opt_text, text},
    rows::{join_unit_ids, micros},
};
use hotline_domain::{UnitId, text_enum::TextEnum, ticket::Ticket};

/// Every column of `tickets` and how a ticket fills it.
pub(super) const TICKET_COLUMNS: &[Column<Ticket>] = &[
    ("id", |t| text(t.id.to_string())),
    ("number", |t| text(&t.number)),
    ("state", |t| text(t.state.code())),
    ("channel", |t| text(t.intake.channel.code())),
    ("legacy_hotline", |t| {
        opt_text(t.intake.legacy_hotline.as_deref())
    }),
    ("caller_name", |t| {
        opt_text(t.intake.caller.name.as_ref().map(|n| n.expose()))
    }),
    ("caller_phone", |t| {
        opt_text(t.intake.caller.phone.as_ref().map(|p| p.expose()))
    }),
    ("caller_anonymous", |t| flag(t.intake.caller.anonymous)),
    ("confidential", |t| flag(t.intake.confidential)),
    ("request_type", |t| text(t.intake.request_type.code())),
    ("urgency", |t| text(t.intake.urgency.code())),
    ("subject_code", |t| {
        opt_text(t.intake.subject_code.as_ref().map(|s| s.as_str()))
    }),
    ("region_code", |t| text(t.intake.region_code.as_str())),
    ("address", |t| text(&t.intake.address)),
    ("title", |t| text(&t.intake.title)),
    ("description", |t| text(&t.intake.description)),
    ("lead_unit_id", |t| {
        opt_text(t.lead_unit.as_ref().map(UnitId::as_str))
    }),
    ("dispatch_count", |t| int(t.dispatch_count)),
    ("intake_answer", |t| {
        opt_text(t.outcome.intake_answer.as_deref())
    }),
    ("emergency_service", |t| {
        opt_text(t.outcome.emergency_service.map(|v| v.code()))
    }),
    ("legal_channel", |t| {
        opt_text(t.outcome.legal_channel.map(|v| v.code()))
    }),
    ("disposition_note", |t| {
        opt_text(t.outcome.disposition_note.as_deref())
    }),
    ("reply", |t| opt_text(t.outcome.reply.as_deref())),
    ("reply_contacted_citizen", |t| {
        opt_flag(t.outcome.reply_contacted_citizen)
    }),
    ("reply_time_us", |t| {
        opt_int(t.outcome.reply_time.map(micros))
    }),
    ("satisfaction", |t| {
        opt_text(t.outcome.satisfaction.map(|v| v.code()))
    }),
    ("resolved", |t| opt_flag(t.outcome.resolved)),
    ("callback_comment", |t| {
        opt_text(t.outcome.callback_comment.as_deref())
    }),
    ("callback_time_us", |t| {
        opt_int(t.outcome.callback_time.map(micros))
    }),
    ("close_reason", |t| {
        opt_text(t.outcome.close_reason.map(|v| v.code()))
    }),
    ("creator", |t| text(&t.creator)),
    ("create_time_us", |t| int(micros(t.create_time))),
    ("update_time_us", |t| int(micros(t.update_time))),
    ("version", |t| int(t.version)),
    ("co_unit_ids", |t| text(join_unit_ids(&t.co_units))),
    ("designated", |t| flag(t.designated)),
    ("dispatch_time_us", |t| opt_int(t.dispatch_time.map(micros))),
    ("routing_rule_id", |t| {
        opt_text(t.routing.as_ref().and_then(|r| r.rule_id.as_deref()))
    }),
    ("routing_rule_set_version", |t| {
        opt_int(t.routing.as_ref().map(|r| r.rule_set_version))
    }),
    ("return_from_state", |t| {
        opt_text(t.pending_return.as_ref().map(|p| p.from.code()))
    }),
    ("return_reason", |t| {
        opt_text(t.pending_return.as_ref().map(|p| p.reason.as_str()))
    }),
    ("return_legal_basis", |t| {
        opt_text(t.pending_return.as_ref().map(|p| p.legal_basis.as_str()))
    }),
    ("return_time_us", |t| {
        opt_int(t.pending_return.as_ref().map(|p| micros(p.time)))
    }),
    ("sign_deadline_us", |t| {
        opt_int(t.deadlines.map(|d| micros(d.sign.at)))
    }),
    ("sign_deadline_provisional", |t| {
        opt_flag(t.deadlines.map(|d| d.sign.provisional))
    }),
    ("sign_calendar_version", |t| {
        opt_int(t.deadlines.map(|d| d.sign.calendar_version))
    }),
    ("reply_deadline_us", |t| {
        opt_int(t.deadlines.map(|d| micros(d.reply.at)))
    }),
    ("reply_deadline_provisional", |t| {
        opt_flag(t.deadlines.map(|d| d.reply.provisional))
    }),
    ("reply_calendar_version", |t| {
        opt_int(t.deadlines.map(|d| d.reply.calendar_version))
    }),
    ("sign_time_us", |t| opt_int(t.sign_time.map(micros))),
    ("extension_days", |t| {
        opt_int(t.pending_extension.as_ref().map(|e| i64::from(e.days)))
    }),
    ("extension_reason", |t| {
        opt_text(t.pending_extension.as_ref().map(|e| e.reason.as_str()))
    }),
    ("extension_time_us", |t| {
        opt_int(t.pending_extension.as_ref().map(|e| micros(e.time)))
    }),
    ("extensions_granted", |t| int(t.extensions_granted)),
    ("warn_at_us", |t| {
        opt_int(t.deadlines.map(|d| micros(d.warn_at)))
    }),
    ("alert_sign_overdue", |t| flag(t.alerts.sign_overdue)),
    ("alert_warned", |t| flag(t.alerts.warned)),
    ("alert_overdue", |t| flag(t.alerts.overdue)),
    ("next_alert_us", |t| opt_int(t.next_alert_at().map(micros))),
    ("supervision_reason", |t| {
        opt_text(t.supervision.as_ref().map(|o| o.reason.as_str()))
    }),
    ("supervision_issued_by", |t| {
        opt_text(t.supervision.as_ref().map(|o| o.issued_by.as_str()))
    }),
    ("supervision_issue_time_us", |t| {
        opt_int(t.supervision.as_ref().map(|o| micros(o.issue_time)))
    }),
    ("supervision_response_deadline_us", |t| {
        opt_int(t.supervision.as_ref().map(|o| micros(o.response_deadline)))
    }),
    ("supervision_automatic", |t| {
        opt_flag(t.supervision.as_ref().map(|o| o.automatic))
    }),
    ("reopen_count", |t| int(t.reopen_count)),
    ("callback_deadline_us", |t| {
        opt_int(t.callback_deadline.map(micros))
    }),
];

/// The column names, comma-separated: the SELECT list of every ticket read.
pub(super) static TICKET_COLUMN_LIST: LazyLock<String> =
    LazyLock::new(|| column_names(TICKET_COLUMNS));

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
