//! The details each kind of event records, one struct per layout.
//!
//! Field names, and which fields are written as `null` rather than left
//! out, are the stored layout (see the module documentation of
//! [`super`]); units are written as resource names (`units/{id}`) and times
//! as RFC 3339 with a `+00:00` offset, as they always were.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::wire;
use crate::{
    ids::{RegionCode, TicketId, UnitId},
    ticket::{
        Channel, CloseReason, EmergencyService, LegalChannel, RequestType, RoutingRef,
        Satisfaction, TicketState, Urgency,
    },
};

/// `created`: how the request came in and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The ticket number. The store counts it when it inserts the ticket,
    /// so it is empty until [`Transition::assign_number`] records it.
    ///
    /// [`Transition::assign_number`]: crate::lifecycle::Transition::assign_number
    pub number: String,
    /// How the request arrived.
    pub channel: Channel,
    /// Nature of the request.
    pub request_type: RequestType,
    /// Urgency.
    pub urgency: Urgency,
    /// Region of the matter.
    #[serde(with = "wire::region")]
    pub region_code: RegionCode,
    /// The caller's identity is withheld from units.
    pub confidential: bool,
    /// What the region directory said of the region, when it was not
    /// placed below the district ([`crate::ticket::Ticket::region_note`]);
    /// left out otherwise, as events before it were written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_note: Option<String>,
}

/// `updated`: which intake fields were corrected (not their values, which
/// may be caller data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Updated {
    /// Names of the corrected fields, as asked.
    pub fields: Vec<String>,
}

/// `resolved_at_intake`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedAtIntake {
    /// The answer given.
    pub answer: String,
    /// Ids of the knowledge-base articles the answer came from (checked
    /// published when cited); left out when none, as events before
    /// citations were written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub article_ids: Vec<String>,
}

/// `transferred_emergency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferredEmergency {
    /// The line handed to.
    pub service: EmergencyService,
    /// What was handed over.
    pub note: String,
}

/// `not_accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotAccepted {
    /// The channel the caller was told of.
    pub legal_channel: LegalChannel,
    /// What the caller was told.
    pub note: String,
}

/// The assignment that starts a handling round: the whole of `dispatched`,
/// and part of `return_approved` (re-dispatch) and `reopened`. Everything
/// the counting rules and the scope of an old event need of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "wire::AssignedWire", into = "wire::AssignedWire")]
pub struct Assigned {
    /// The lead unit (主办).
    pub lead_unit: UnitId,
    /// Co-handling units (协办).
    pub co_units: Vec<UnitId>,
    /// Why (shown to the unit).
    pub note: String,
    /// Times dispatched so far, this one included: the round's number.
    pub dispatch_count: i32,
    /// The dispatch is a designation (指定) that cannot be returned.
    pub designated: bool,
    /// The rule that chose the unit; `None` for a manual dispatch.
    pub routing: Option<RoutingRef>,
    /// The round's deadlines; `None` when it was dispatched without.
    pub deadlines: Option<RoundDeadlines>,
}

/// The deadlines a round was dispatched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundDeadlines {
    /// Sign for by.
    pub sign: DateTime<Utc>,
    /// Reply by.
    pub reply: DateTime<Utc>,
    /// Either falls in a year the calendar has not loaded.
    pub provisional: bool,
    /// The calendar version they were computed on.
    pub calendar_version: i64,
}

/// `return_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRequested {
    /// The returning (lead) unit.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// Why it is not the unit's matter.
    pub reason: String,
    /// The legal basis (职责依据) cited.
    pub legal_basis: String,
}

/// `return_approved`: stored as the re-dispatch's [`Assigned`] fields plus
/// the two below, or as the two below plus `"to": "triage"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "wire::ReturnApprovedWire")]
pub struct ReturnApproved {
    /// The unit whose return was approved.
    pub returned_by: Option<UnitId>,
    /// The centre's ruling.
    pub arbitration_note: String,
    /// The new round; `None`: back to triage, no lead unit.
    pub redispatch: Option<Assigned>,
}

impl Serialize for ReturnApproved {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::ReturnApprovedOut::from(self).serialize(s)
    }
}

/// `return_rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnRejected {
    /// The unit whose return was rejected (it keeps the ticket).
    #[serde(with = "wire::opt_unit")]
    pub returned_by: Option<UnitId>,
    /// The centre's ruling.
    pub arbitration_note: String,
}

/// `extension_requested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRequested {
    /// Working days asked for.
    pub days: u32,
    /// Why.
    pub reason: String,
}

/// `extension_approved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionApproved {
    /// Working days granted.
    pub days: u32,
    /// The reply deadline from now on.
    #[serde(with = "wire::time")]
    pub reply_deadline: DateTime<Utc>,
    /// The calendar version it was moved on.
    pub calendar_version: i64,
    /// The centre's note.
    pub note: String,
}

/// `extension_rejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRejected {
    /// Working days that had been asked for.
    pub days: u32,
    /// The centre's note.
    pub note: String,
}

/// `urged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Urged {
    /// The lead unit reminded.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// The reminder.
    pub note: String,
}

/// `supervision_issued`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionIssued {
    /// The lead unit supervised.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// Why.
    pub reason: String,
    /// Respond by.
    #[serde(with = "wire::time")]
    pub response_deadline: DateTime<Utc>,
}

/// `supervision_answered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionAnswered {
    /// The answer.
    pub text: String,
    /// Answered after the order's response deadline.
    pub late: bool,
}

/// `progress_noted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressNoted {
    /// The note.
    pub text: String,
}

/// `signed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed {
    /// The lead unit that signed.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
}

/// `replied`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replied {
    /// The lead unit that replied.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// It says it contacted the citizen.
    pub contacted_citizen: bool,
}

/// `reply_approved` and `reply_sent_back`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyReviewed {
    /// The centre's note (the reason when sending back).
    pub note: String,
}

/// `reopened`: the new round's [`Assigned`] fields plus the two below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reopened {
    /// The new round.
    #[serde(flatten)]
    pub round: Assigned,
    /// Times reopened, this one included.
    pub reopen_count: i32,
    /// The rating that led to it.
    pub previous_satisfaction: Option<Satisfaction>,
}

/// `callback_recorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRecorded {
    /// The rating.
    pub satisfaction: Satisfaction,
    /// The citizen says it is resolved.
    pub resolved: bool,
}

/// `closed`: by the centre (with its note), or by the sweeper when the
/// callback window passed (with that deadline, reason `not_rated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// Why.
    pub reason: CloseReason,
    /// The centre's note; `None` when the sweeper closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The callback deadline that passed; only when the sweeper closed it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "wire::opt_time"
    )]
    pub callback_deadline: Option<DateTime<Utc>>,
}

/// `sign_overdue`, `deadline_warning` and `overdue`: a deadline crossing
/// the sweeper recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineCrossed {
    /// The lead unit holding the ticket.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// The deadline crossed (for the warning: the reply deadline ahead).
    #[serde(with = "wire::time")]
    pub deadline: DateTime<Utc>,
}

/// `merged_into`, on a duplicate (并单): the primary that answers for it
/// from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedInto {
    /// The primary ticket.
    #[serde(with = "wire::ticket")]
    pub primary: TicketId,
    /// The lead unit that held the duplicate, whose round is taken back.
    #[serde(with = "wire::opt_unit")]
    pub unit: Option<UnitId>,
    /// Why they are the same matter.
    pub reason: String,
}

/// `merged_from`, on the primary: the duplicates folded into it, whose
/// callers it now answers too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedFrom {
    /// The duplicates merged by this change.
    #[serde(with = "wire::tickets")]
    pub duplicates: Vec<TicketId>,
    /// Why they are the same matter.
    pub reason: String,
}

/// `unmerged`, on a duplicate: the merge was undone and the ticket is back
/// in the state it was merged from (the event's `to_state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmerged {
    /// The primary it had been merged into.
    #[serde(with = "wire::ticket")]
    pub primary: TicketId,
    /// The state restored.
    pub restored: TicketState,
}

/// `merged_caller_called_back`, on the primary: the caller of a merged
/// duplicate was called back (each caller is, 并单). The matter is rated
/// once, by the primary's own caller; this rating is recorded, not counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergedCallerCalledBack {
    /// The duplicate whose caller was called.
    #[serde(with = "wire::ticket")]
    pub duplicate: TicketId,
    /// The caller's rating.
    pub satisfaction: Satisfaction,
    /// The caller says it is resolved.
    pub resolved: bool,
    /// What the caller said, as the agent noted it (the primary's own
    /// caller's goes on the ticket, `callback_comment`; each merged
    /// caller's stays with their call, here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// `unmerged_from`, on the primary: a duplicate was taken back out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmergedFrom {
    /// The duplicate released.
    #[serde(with = "wire::ticket")]
    pub duplicate: TicketId,
}
