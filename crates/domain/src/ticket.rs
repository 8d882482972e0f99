//! The ticket (工单) and its vocabulary.

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    error::DomainError,
    event::EventKind,
    ids::{RegionCode, SubjectCode, TicketId, UnitId},
    person::Caller,
    timelimit::Deadlines,
};
use crate::text_enum;

text_enum! {
    /// How the request reached the centre.
    pub enum Channel {
        /// Voice call.
        Phone => "phone",
        /// Web portal.
        Web => "web",
        /// Mobile app.
        App => "app",
        /// WeChat.
        Wechat => "wechat",
        /// Text message.
        Sms => "sms",
        /// Letter or visit.
        Letter => "letter",
        /// Handed over by the 110 police line.
        Transfer110 => "transfer_110",
    }
}

text_enum! {
    /// Nature of the request (诉求类型).
    pub enum RequestType {
        /// 咨询
        Enquiry => "enquiry",
        /// 求助
        Help => "help",
        /// 投诉
        Complaint => "complaint",
        /// 举报 (confidential by default)
        Report => "report",
        /// 建议
        Suggestion => "suggestion",
        /// 表扬
        Praise => "praise",
        /// 其他
        Other => "other",
    }
}

text_enum! {
    /// Urgency of the matter.
    pub enum Urgency {
        /// Working-day handling.
        Normal => "normal",
        /// Risk to life or property.
        Urgent => "urgent",
        /// Water, power, gas or heating outage.
        UtilityOutage => "utility_outage",
    }
}

text_enum! {
    /// Lifecycle state (DOMAIN.md §4).
    pub enum TicketState {
        /// Accepted, not yet assigned.
        PendingDispatch => "pending_dispatch",
        /// Assigned, not yet signed for.
        Dispatched => "dispatched",
        /// Signed for and being handled.
        InProgress => "in_progress",
        /// Replied, under the centre's review.
        Replied => "replied",
        /// Replied, waiting for the callback.
        AwaitingCallback => "awaiting_callback",
        /// Called back, citizen (basically) satisfied.
        CallbackDone => "callback_done",
        /// Called back, citizen dissatisfied.
        Dissatisfied => "dissatisfied",
        /// Finished.
        Closed => "closed",
        /// Answered at intake.
        ResolvedAtIntake => "resolved_at_intake",
        /// Handed to an emergency line.
        TransferredEmergency => "transferred_emergency",
        /// Declined: it has its own legal channel.
        NotAccepted => "not_accepted",
        /// Merged into another ticket.
        Merged => "merged",
        /// The lead unit asked to return it; the centre arbitrates.
        ReturnRequested => "return_requested",
    }
}

impl TicketState {
    /// No action can leave a terminal state, but for undoing a merge
    /// ([`crate::lifecycle::Action::Unmerge`]): a merged duplicate waits on
    /// its primary rather than being finished.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Closed
                | Self::ResolvedAtIntake
                | Self::TransferredEmergency
                | Self::NotAccepted
                | Self::Merged
        )
    }
}

text_enum! {
    /// Emergency lines a ticket can be handed to.
    pub enum EmergencyService {
        /// 110
        Police110 => "police_110",
        /// 119
        Fire119 => "fire_119",
        /// 120
        Ambulance120 => "ambulance_120",
        /// 122
        Traffic122 => "traffic_122",
    }
}

text_enum! {
    /// Legal channels for matters the hotline does not accept.
    pub enum LegalChannel {
        /// 诉讼
        Litigation => "litigation",
        /// 仲裁
        Arbitration => "arbitration",
        /// 信访
        Petition => "petition",
        /// 纪检监察
        Discipline => "discipline",
        /// 行政复议
        AdministrativeReview => "administrative_review",
        /// 政府信息公开
        InformationDisclosure => "information_disclosure",
    }
}

text_enum! {
    /// The five-level rating (好差评).
    pub enum Satisfaction {
        /// 非常满意
        VerySatisfied => "very_satisfied",
        /// 满意
        Satisfied => "satisfied",
        /// 基本满意
        BasicallySatisfied => "basically_satisfied",
        /// 不满意
        Dissatisfied => "dissatisfied",
        /// 非常不满意
        VeryDissatisfied => "very_dissatisfied",
    }
}

impl Satisfaction {
    /// Whether the rating counts as dissatisfied for the satisfaction rate.
    pub fn is_dissatisfied(self) -> bool {
        matches!(self, Self::Dissatisfied | Self::VeryDissatisfied)
    }
}

text_enum! {
    /// Why a ticket was closed.
    pub enum CloseReason {
        /// Handled and called back.
        Completed => "completed",
        /// No rating within the callback window.
        NotRated => "not_rated",
        /// Dissatisfied, but the demand is unreasonable.
        UnreasonableDemand => "unreasonable_demand",
        /// Withdrawn by the citizen.
        Withdrawn => "withdrawn",
        /// A duplicate merged into another ticket (并单), which answers it.
        Merged => "merged",
    }
}

/// Refuses text holding a NUL character. PostgreSQL's text types cannot
/// store one, so without this check a client's stray `\0` would reach the
/// database and come back as an internal error instead of naming the field.
pub fn reject_nul(text: &str) -> Result<(), DomainError> {
    if text.contains('\0') {
        return Err(DomainError::invalid("", "must not contain NUL characters"));
    }
    Ok(())
}

/// Bounded free text: trimmed, non-empty when required, at most `max`
/// characters, without NUL ([`reject_nul`]).
pub fn parse_text(raw: &str, required: bool, max: usize) -> Result<String, DomainError> {
    let text = raw.trim();
    if required && text.is_empty() {
        return Err(DomainError::invalid("", "must not be empty"));
    }
    reject_nul(text)?;
    if text.chars().count() > max {
        return Err(DomainError::invalid(
            "",
            format!("at most {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// What a unit or agent recorded as the ticket progressed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Answer given at intake.
    pub intake_answer: Option<String>,
    /// Emergency line handed to.
    pub emergency_service: Option<EmergencyService>,
    /// Legal channel of a not-accepted matter.
    pub legal_channel: Option<LegalChannel>,
    /// Note with a hand-off or refusal.
    pub disposition_note: Option<String>,
    /// The unit's reply.
    pub reply: Option<String>,
    /// The unit contacted the citizen.
    pub reply_contacted_citizen: Option<bool>,
    /// When the unit replied.
    pub reply_time: Option<DateTime<Utc>>,
    /// The citizen's rating.
    pub satisfaction: Option<Satisfaction>,
    /// The citizen says it is resolved.
    pub resolved: Option<bool>,
    /// Callback note.
    pub callback_comment: Option<String>,
    /// When the callback was recorded.
    pub callback_time: Option<DateTime<Utc>>,
    /// Why it was closed.
    pub close_reason: Option<CloseReason>,
}

/// The intake fields an agent records and may later correct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intake {
    /// How the request arrived.
    pub channel: Channel,
    /// Retired departmental number the call came through (digits), if any.
    pub legacy_hotline: Option<String>,
    /// Who called.
    pub caller: Caller,
    /// The caller's identity must not reach a unit.
    pub confidential: bool,
    /// Nature of the request.
    pub request_type: RequestType,
    /// Urgency.
    pub urgency: Urgency,
    /// Subject in the taxonomy.
    pub subject_code: Option<SubjectCode>,
    /// Region of the matter.
    pub region_code: RegionCode,
    /// Address of the matter.
    pub address: String,
    /// Short title.
    pub title: String,
    /// The request in the caller's words.
    pub description: String,
}

impl Intake {
    /// The attributes routing decides on.
    pub fn routing_input(&self) -> super::routing::RoutingInput<'_> {
        super::routing::RoutingInput {
            subject_code: self.subject_code.as_ref().map(SubjectCode::as_str),
            request_type: self.request_type,
            region_code: self.region_code.as_str(),
            title: &self.title,
            description: &self.description,
            legacy_hotline: self.legacy_hotline.as_deref(),
            urgency: self.urgency,
        }
    }
}

/// Validates the retired-hotline field: empty, or a 5-digit 123xx number.
pub fn parse_legacy_hotline(raw: &str) -> Result<Option<String>, DomainError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.len() == 5 && raw.starts_with("123") && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(raw.to_owned()))
    } else {
        Err(DomainError::invalid(
            "",
            "must be a 5-digit 123xx hotline number, e.g. 12315",
        ))
    }
}

/// Which dispatch rule chose the lead unit ("why did this come to us?").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRef {
    /// The winning rule; `None` when the district fallback (兜底) or the
    /// dispatch model decided.
    pub rule_id: Option<String>,
    /// The rule-set version in force when it was decided.
    pub rule_set_version: i64,
    /// The dispatch-model version that chose the unit, when the learned
    /// model decided (no rule of high priority matched and the model was
    /// confident enough).
    pub model_version: Option<i64>,
}

/// A return (退单) waiting for the centre's arbitration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReturn {
    /// The state to go back to if the return is rejected.
    pub from: TicketState,
    /// The unit's reason.
    pub reason: String,
    /// The legal basis (职责依据) the unit cites.
    pub legal_basis: String,
    /// When the unit asked.
    pub time: DateTime<Utc>,
}

/// An extension (延期) the lead unit asked for, waiting for the centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingExtension {
    /// Working days asked for.
    pub days: u32,
    /// Why.
    pub reason: String,
    /// When asked.
    pub time: DateTime<Utc>,
}

/// Which deadline crossings the sweeper has recorded in the current round
/// (each is recorded exactly once).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Alerts {
    /// The sign-for deadline passed unsigned.
    pub sign_overdue: bool,
    /// The warning card (黄牌) was raised.
    pub warned: bool,
    /// The reply deadline passed unreplied (红牌).
    pub overdue: bool,
}

/// A deadline crossing the sweeper records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// Sign-for deadline passed.
    SignOverdue,
    /// One working day left before the reply deadline.
    Warning,
    /// Reply deadline passed.
    Overdue,
    /// No callback within the callback window: closed as not rated.
    CallbackExpired,
}

/// An open supervision order (督办单) on the ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisionOrder {
    /// Why it was issued.
    pub reason: String,
    /// Who issued it (`system:sweeper` for automatic orders).
    pub issued_by: String,
    /// When.
    pub issue_time: DateTime<Utc>,
    /// When the lead unit must respond by.
    pub response_deadline: DateTime<Utc>,
    /// Issued automatically on overdue.
    pub automatic: bool,
}

/// A merged duplicate's link to its primary (并单).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeLink {
    /// The surviving ticket that answers for this one.
    pub primary: TicketId,
    /// The state the duplicate was in, which undoing the merge restores.
    pub from_state: TicketState,
    /// When it was merged (the day the scorecards count the merge on).
    pub time: DateTime<Utc>,
}

/// One ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// Stable id.
    pub id: TicketId,
    /// Human-readable number, `YYYYMMDD` + 6-digit daily sequence.
    pub number: String,
    /// Lifecycle state.
    pub state: TicketState,
    /// What the agent recorded.
    pub intake: Intake,
    /// Current lead unit (主办).
    pub lead_unit: Option<UnitId>,
    /// Co-handling units (协办): they see the ticket and add notes; only the
    /// lead unit replies.
    pub co_units: Vec<UnitId>,
    /// Times dispatched.
    pub dispatch_count: i32,
    /// The current dispatch is a designation (指定) that cannot be returned.
    pub designated: bool,
    /// When the current handling round was dispatched (the return window
    /// and, later, deadlines count from here).
    pub dispatch_time: Option<DateTime<Utc>>,
    /// The rule that chose the current lead unit, for automatic dispatches.
    pub routing: Option<RoutingRef>,
    /// A return waiting for arbitration.
    pub pending_return: Option<PendingReturn>,
    /// Sign-for and reply deadlines of the current handling round,
    /// computed at dispatch with the calendar version they record.
    pub deadlines: Option<Deadlines>,
    /// When the lead unit signed for the current round.
    pub sign_time: Option<DateTime<Utc>>,
    /// An extension waiting for the centre's decision.
    pub pending_extension: Option<PendingExtension>,
    /// Extensions granted in the current handling round.
    pub extensions_granted: i32,
    /// Deadline crossings already recorded in the current round.
    pub alerts: Alerts,
    /// An open supervision order.
    pub supervision: Option<SupervisionOrder>,
    /// Times the ticket was reopened after a dissatisfied callback (重办).
    pub reopen_count: i32,
    /// When the callback must happen by (then closed as not rated).
    pub callback_deadline: Option<DateTime<Utc>>,
    /// Results so far.
    pub outcome: Outcome,
    /// Why the region needs a person's look, in words for the agent: set
    /// when the ticket's street is not in the region directory though its
    /// district is ([`crate::directory::RegionStanding::note`]), at intake
    /// and on each correction of the region. It is how an agent routing
    /// the ticket from the triage queue learns that the address was not
    /// placed below the district.
    pub region_note: Option<String>,
    /// The primary this ticket was merged into as a duplicate (并单), and
    /// what undoing the merge restores; `None` unless the state is
    /// [`TicketState::Merged`].
    pub merged_into: Option<MergeLink>,
    /// Its number in the retired hotline (`intake.legacy_hotline`) it was
    /// imported from; `None` for tickets taken here. Unique per hotline.
    pub legacy_number: Option<String>,
    /// Subject of the agent who accepted it.
    pub creator: String,
    /// Accepted at.
    pub create_time: DateTime<Utc>,
    /// Last change.
    pub update_time: DateTime<Utc>,
    /// Optimistic-concurrency version; bumps on every change.
    pub version: i64,
}

impl Ticket {
    /// The deadline crossing due at `now`, earliest first, if any.
    pub fn due_alert(&self, now: DateTime<Utc>) -> Option<AlertKind> {
        self.pending_alerts()
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .min_by_key(|(_, at)| *at)
            .map(|(kind, _)| kind)
    }

    /// When the next deadline crossing falls, if one is still to come; the
    /// store indexes it so the sweeper never scans tickets with nothing due.
    pub fn next_alert_at(&self) -> Option<DateTime<Utc>> {
        self.pending_alerts().into_iter().map(|(_, at)| at).min()
    }

    fn pending_alerts(&self) -> Vec<(AlertKind, DateTime<Utc>)> {
        let mut due = Vec::new();
        if let (TicketState::AwaitingCallback, Some(at)) = (self.state, self.callback_deadline) {
            due.push((AlertKind::CallbackExpired, at));
        }
        let Some(d) = self.deadlines else {
            return due;
        };
        // Acting at a deadline's very instant meets it (on-time rates count
        // `at <= deadline`, `ListOverdue` lists `deadline < now`), so a
        // deadline is crossed one microsecond (the store's resolution) later.
        let passed = |deadline: DateTime<Utc>| {
            deadline
                .checked_add_signed(TimeDelta::microseconds(1))
                .unwrap_or(deadline)
        };
        if self.state == TicketState::Dispatched && !self.alerts.sign_overdue {
            due.push((AlertKind::SignOverdue, passed(d.sign.at)));
        }
        let handling = matches!(
            self.state,
            TicketState::Dispatched | TicketState::InProgress | TicketState::ReturnRequested
        );
        if handling && !self.alerts.warned && !self.alerts.overdue {
            due.push((AlertKind::Warning, d.warn_at));
        }
        if handling && !self.alerts.overdue {
            due.push((AlertKind::Overdue, passed(d.reply.at)));
        }
        due
    }

    /// The etag clients send back: the version as an opaque string.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }
}

/// One audit-trail entry, appended in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketEvent {
    /// Ticket it belongs to.
    pub ticket_id: TicketId,
    /// Position in the trail, from 1; equals the ticket version it produced.
    pub sequence: i64,
    /// What happened, with its details (never caller data); stored as the
    /// `kind` and `payload` columns.
    pub kind: EventKind,
    /// Subject of the actor.
    pub actor: String,
    /// Role the actor acted in.
    pub actor_role: String,
    /// State before (None for `created`).
    pub from_state: Option<TicketState>,
    /// State after.
    pub to_state: TicketState,
    /// When.
    pub time: DateTime<Utc>,
}
