//! The JSON body of a webhook delivery, and the rule that keeps caller
//! data out of it.
//!
//! A body describes one committed event: its id (the receiver's dedupe
//! key, `tickets/{id}/events/{sequence}`), kind and details (which are
//! never caller data, see [`crate::EventKind`]), and the ticket's number,
//! state, region and lead unit. The actor is given by role only: staff
//! subjects are the centre's business.
//!
//! Caller data — the name and phone — is added only when both hold:
//! - the subscription is marked `pii_allowed`, which only the centre's
//!   admin can set, for a system entitled to it (the provincial platform,
//!   a 110 linkage); and
//! - the ticket is not confidential (保密件): a confidential caller leaves
//!   the centre by no channel, the failure DOMAIN §7 recounts (an
//!   informant's details forwarded to the reported party) being exactly a
//!   forward. Addresses and descriptions are never sent: they are the
//!   caller's own words and are sealed at rest like the name.
//!
//! Staff's free text in the details — every answer, note, reason, legal
//! basis, arbitration note and text of any event — goes under the same rule
//! as the caller block: staff write what the caller said into it ("张三,
//! 138…, says the neighbour …"), so a body without the caller block carries
//! the details without those fields ([`FREE_TEXT_KEYS`]), and a body that
//! keeps them is a release of personal data like one with the caller (also
//! of an anonymous call). The codes, flags, units and deadlines of every
//! event stay.

use serde::Serialize;
use serde_json::Value;

use crate::{EventKind, Ticket, TicketEvent, event::EventCodecError, text_enum::TextEnum};

/// The keys of event details that hold staff's free text, at any depth
/// (a re-dispatch's or a reopening's round carries its own `note`): every
/// answer, note, reason, legal basis, arbitration note and text. The
/// `reason` of `closed` is a code, not text, and stays; so does a
/// `created` event's `region_note`, which the region directory writes.
pub const FREE_TEXT_KEYS: &[&str] = &[
    "answer",
    "note",
    "reason",
    "legal_basis",
    "arbitration_note",
    "text",
    "comment",
];

/// The caller block of a body, present only where allowed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerData {
    /// Name, if the caller gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone, if the caller gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The body of one delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookBody {
    /// `tickets/{id}/events/{sequence}`: the same for every retry and
    /// redelivery of the event, so receivers can drop duplicates.
    pub id: String,
    /// The event kind, e.g. `dispatched`.
    pub event_type: &'static str,
    /// `tickets/{id}`.
    pub ticket: String,
    /// The ticket number shown to citizens.
    pub ticket_number: String,
    /// The event's place in the ticket's trail, from 1.
    pub sequence: i64,
    /// When the event happened (RFC 3339).
    pub time: String,
    /// The role the actor acted in (`agent`, `system`, …).
    pub actor_role: String,
    /// State before, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_state: Option<&'static str>,
    /// State after.
    pub to_state: &'static str,
    /// The ticket's region code.
    pub region_code: String,
    /// The ticket's lead unit now, `units/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_unit: Option<String>,
    /// The event's details, as stored; without staff's free text where the
    /// caller block is not allowed either.
    pub details: Value,
    /// The caller, only for a subscription allowed caller data and a
    /// ticket that is not confidential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<CallerData>,
    /// Staff's free text stayed in `details` (not sent as such).
    #[serde(skip)]
    pub free_text: bool,
}

impl WebhookBody {
    /// The body for `event` of `ticket` (as read at delivery). `pii_allowed`
    /// is the subscription's flag.
    pub fn new(
        event: &TicketEvent,
        ticket: &Ticket,
        pii_allowed: bool,
    ) -> Result<Self, EventCodecError> {
        let caller = caller_data(ticket, pii_allowed);
        let mut details = event.kind.payload()?;
        let keep_code = matches!(event.kind, EventKind::Closed(_));
        let free_text = if shares_callers_words(ticket, pii_allowed) {
            let mut stripped = details.clone();
            strip_free_text(&mut stripped, keep_code);
            stripped != details
        } else {
            strip_free_text(&mut details, keep_code);
            false
        };
        Ok(Self {
            id: format!("{}/events/{}", event.ticket_id.name(), event.sequence),
            event_type: event.kind.event_type(),
            ticket: event.ticket_id.name(),
            ticket_number: ticket.number.clone(),
            sequence: event.sequence,
            time: event
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            actor_role: event.actor_role.clone(),
            from_state: event.from_state.map(|s| s.code()),
            to_state: event.to_state.code(),
            region_code: ticket.intake.region_code.to_string(),
            lead_unit: ticket.lead_unit.as_ref().map(|u| u.name()),
            details,
            caller,
            free_text,
        })
    }

    /// Whether the body carries caller data, or staff's free text (which
    /// may quote the caller, also of an anonymous call): the delivery is
    /// then a view of personal information, and recorded as one.
    pub fn has_caller_data(&self) -> bool {
        self.caller.is_some() || self.free_text
    }

    /// The bytes sent (and signed).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// Whether a body for this subscription may carry the caller's data and
/// staff's free text: the subscription is allowed caller data and the
/// ticket is not confidential.
fn shares_callers_words(ticket: &Ticket, pii_allowed: bool) -> bool {
    pii_allowed && !ticket.intake.confidential
}

/// Drops the [`FREE_TEXT_KEYS`] from `details` at every depth; the
/// top-level `reason` stays when `keep_reason_code` (a close reason).
fn strip_free_text(details: &mut Value, keep_reason_code: bool) {
    fn strip(value: &mut Value, keep_reason: bool) {
        match value {
            Value::Object(fields) => {
                fields.retain(|key, _| {
                    !FREE_TEXT_KEYS.contains(&key.as_str()) || (keep_reason && key == "reason")
                });
                for nested in fields.values_mut() {
                    strip(nested, false);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| strip(item, false)),
            _ => {}
        }
    }
    strip(details, keep_reason_code);
}

/// The caller block, if the subscription and the ticket allow it and
/// there is anything to send.
pub fn caller_data(ticket: &Ticket, pii_allowed: bool) -> Option<CallerData> {
    if !shares_callers_words(ticket, pii_allowed) {
        return None;
    }
    let caller = &ticket.intake.caller;
    let data = CallerData {
        name: caller.name.as_ref().map(|n| n.expose().to_owned()),
        phone: caller.phone.as_ref().map(|p| p.expose().to_owned()),
    };
    (data.name.is_some() || data.phone.is_some()).then_some(data)
}
