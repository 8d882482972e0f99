//! The typed audit trail: what happened to a ticket, one variant per kind.
//!
//! [`EventKind`] is the one vocabulary of ticket events. The lifecycle
//! produces it; metrics replay, the counting rules, the scope of an old event,
//! the live feed and the proto conversion read it with exhaustive matches, so
//! a new variant does not compile until every reader has decided what it
//! means. Nothing outside this module spells a kind as a string, except at
//! the edges that carry it as text (the `kind` column, the proto `kind`
//! field, a watcher's kind filter), and those go through
//! [`EventKind::event_type`].
//!
//! # Storage
//!
//! An event is stored as two columns: `kind` (the variant's
//! [`event_type`](EventKind::event_type)) and `payload` (the variant's
//! fields as a JSON object, see [`payload`](EventKind::payload)), the
//! adjacently tagged form `{"kind": …, "payload": …}` that the serde
//! derives on [`EventKind`] also use. The payload layout is the one the
//! untyped events of earlier versions wrote, byte for byte:
//! `tests/fixtures/ticket_events_v1.tsv` holds such rows, and the tests read
//! every one and write it back identically.
//!
//! # Evolving a payload
//!
//! Rows are never rewritten, so every layout ever written stays readable
//! (there is no version column: today's layout is version 1). A field added
//! later is an `Option` or has a serde default, so old rows read without
//! it. A change old rows cannot satisfy that way needs an upcaster: a step
//! in [`EventKind::from_stored`] that turns the old JSON into the new
//! layout before it is decoded, proven by the v1 fixture. An unknown kind
//! (from a newer version) is an [`EventCodecError::UnknownKind`], never a
//! panic.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The actor of every event the legacy import (`hotline import legacy`)
/// writes. Those events are history brought over from a retired hotline,
/// not news: what pushes events to other systems (webhooks) leaves them
/// out by this actor.
pub const LEGACY_IMPORT_ACTOR: &str = "legacy-import";

mod payload;
mod wire;

#[cfg(test)]
mod tests;

pub use payload::{
    Assigned, CallbackRecorded, Closed, Created, DeadlineCrossed, ExtensionApproved,
    ExtensionRejected, ExtensionRequested, MergedCallerCalledBack, MergedFrom, MergedInto,
    NotAccepted, ProgressNoted, Reopened, Replied, ReplyReviewed, ResolvedAtIntake, ReturnApproved,
    ReturnRejected, ReturnRequested, RoundDeadlines, Signed, SupervisionAnswered,
    SupervisionIssued, TransferredEmergency, Unmerged, UnmergedFrom, Updated, Urged,
};

/// A stored event could not be read, or a payload not encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventCodecError {
    /// The `kind` column names no variant this version knows: a newer
    /// version wrote it (roll forward), or the row is corrupt.
    #[error("unknown event kind {0:?} (written by a newer version of hotline, or corrupt)")]
    UnknownKind(String),
    /// The payload does not have the layout of its kind.
    #[error("payload of a {kind} event: {message}")]
    Payload {
        /// The stored kind.
        kind: String,
        /// What serde found wrong, e.g. a missing field.
        message: String,
    },
}

impl EventCodecError {
    fn payload(kind: &str, error: &serde_json::Error) -> Self {
        Self::Payload {
            kind: kind.to_owned(),
            message: error.to_string(),
        }
    }
}

/// Declares [`EventKind`] from one table of variant, payload type and stored
/// kind, so the kind strings, the list of them and the codec cannot drift
/// apart (the way `text_enum!` does for plain enums).
macro_rules! event_kinds {
    ($($(#[$doc:meta])* $variant:ident($payload:ty) => $code:literal,)+) => {
        /// What happened to a ticket, with the details of that kind: one
        /// variant per kind of audit event, in the past tense. Details are
        /// never caller data.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "payload")]
        pub enum EventKind {
            $(
                $(#[$doc])*
                #[serde(rename = $code)]
                $variant($payload),
            )+
        }

        impl EventKind {
            /// Every stored kind, in declaration order.
            pub const TYPES: &'static [&'static str] = &[$($code),+];

            /// The kind as stored in the `kind` column and sent on the
            /// wire, e.g. `dispatched`.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $code,)+
                }
            }

            /// The details as stored in the `payload` column: the
            /// variant's fields as a JSON object (its text, keys sorted,
            /// is what earlier versions wrote).
            pub fn payload(&self) -> Result<Value, EventCodecError> {
                let encoded = match self {
                    $(Self::$variant(p) => serde_json::to_value(p),)+
                };
                encoded.map_err(|e| EventCodecError::payload(self.event_type(), &e))
            }

            /// Reads a stored `kind` and `payload` (any version's layout).
            pub fn from_stored(kind: &str, payload: Value) -> Result<Self, EventCodecError> {
                let decoded = match kind {
                    $($code => serde_json::from_value(payload).map(Self::$variant),)+
                    _ => return Err(EventCodecError::UnknownKind(kind.to_owned())),
                };
                decoded.map_err(|e| EventCodecError::payload(kind, &e))
            }
        }
    };
}

event_kinds! {
    /// Accepted at intake; the ticket's first event.
    Created(Created) => "created",
    /// Intake fields corrected.
    Updated(Updated) => "updated",
    /// Answered at intake (直接办结).
    ResolvedAtIntake(ResolvedAtIntake) => "resolved_at_intake",
    /// Handed to an emergency line.
    TransferredEmergency(TransferredEmergency) => "transferred_emergency",
    /// Declined: the matter has its own legal channel.
    NotAccepted(NotAccepted) => "not_accepted",
    /// Assigned to a lead unit (派单): a handling round starts.
    Dispatched(Assigned) => "dispatched",
    /// The lead unit asked to return the ticket (退单).
    ReturnRequested(ReturnRequested) => "return_requested",
    /// The centre approved a return: re-dispatched (a new round) or back
    /// to triage.
    ReturnApproved(ReturnApproved) => "return_approved",
    /// The centre rejected a return: back to the unit, clock not reset.
    ReturnRejected(ReturnRejected) => "return_rejected",
    /// The lead unit asked for more time (延期).
    ExtensionRequested(ExtensionRequested) => "extension_requested",
    /// The centre granted an extension: the reply deadline moved.
    ExtensionApproved(ExtensionApproved) => "extension_approved",
    /// The centre refused an extension.
    ExtensionRejected(ExtensionRejected) => "extension_rejected",
    /// The centre reminded the unit (催办).
    Urged(Urged) => "urged",
    /// A supervision order (督办单) was issued, by the centre or the sweeper.
    SupervisionIssued(SupervisionIssued) => "supervision_issued",
    /// The lead unit answered the open supervision order.
    SupervisionAnswered(SupervisionAnswered) => "supervision_answered",
    /// A unit or the centre recorded progress.
    ProgressNoted(ProgressNoted) => "progress_noted",
    /// The lead unit signed for the ticket.
    Signed(Signed) => "signed",
    /// The lead unit submitted its result.
    Replied(Replied) => "replied",
    /// The centre approved the reply for the callback.
    ReplyApproved(ReplyReviewed) => "reply_approved",
    /// The centre sent an inadequate reply back to the unit.
    ReplySentBack(ReplyReviewed) => "reply_sent_back",
    /// Reopened after a dissatisfied callback (重办): a new round.
    Reopened(Reopened) => "reopened",
    /// The callback's rating was recorded.
    CallbackRecorded(CallbackRecorded) => "callback_recorded",
    /// Closed, by the centre or (not rated) by the sweeper.
    Closed(Closed) => "closed",
    /// The sweeper found the sign-for deadline passed unsigned.
    SignOverdue(DeadlineCrossed) => "sign_overdue",
    /// The sweeper raised the warning card (黄牌) before the reply deadline.
    DeadlineWarning(DeadlineCrossed) => "deadline_warning",
    /// The sweeper found the reply deadline passed unreplied (红牌).
    Overdue(DeadlineCrossed) => "overdue",
    /// Merged as a duplicate into a primary ticket (并单).
    MergedInto(MergedInto) => "merged_into",
    /// Duplicates were merged into this (primary) ticket.
    MergedFrom(MergedFrom) => "merged_from",
    /// The merge of this duplicate was undone.
    Unmerged(Unmerged) => "unmerged",
    /// A duplicate was taken back out of this (primary) ticket.
    UnmergedFrom(UnmergedFrom) => "unmerged_from",
    /// The caller of a merged duplicate was called back.
    MergedCallerCalledBack(MergedCallerCalledBack) => "merged_caller_called_back",
}

impl EventKind {
    /// Whether supervisors watch this kind live (`WatchAlerts`): deadline
    /// crossings, reminders and supervision orders.
    pub fn is_alert(&self) -> bool {
        match self {
            Self::SignOverdue(_)
            | Self::DeadlineWarning(_)
            | Self::Overdue(_)
            | Self::Urged(_)
            | Self::SupervisionIssued(_)
            | Self::SupervisionAnswered(_) => true,
            Self::Created(_)
            | Self::Updated(_)
            | Self::ResolvedAtIntake(_)
            | Self::TransferredEmergency(_)
            | Self::NotAccepted(_)
            | Self::Dispatched(_)
            | Self::ReturnRequested(_)
            | Self::ReturnApproved(_)
            | Self::ReturnRejected(_)
            | Self::ExtensionRequested(_)
            | Self::ExtensionApproved(_)
            | Self::ExtensionRejected(_)
            | Self::ProgressNoted(_)
            | Self::Signed(_)
            | Self::Replied(_)
            | Self::ReplyApproved(_)
            | Self::ReplySentBack(_)
            | Self::Reopened(_)
            | Self::CallbackRecorded(_)
            | Self::Closed(_)
            | Self::MergedInto(_)
            | Self::MergedFrom(_)
            | Self::Unmerged(_)
            | Self::UnmergedFrom(_)
            | Self::MergedCallerCalledBack(_) => false,
        }
    }

    /// Reads the stored `kind` and `payload` columns as text.
    pub fn from_columns(kind: &str, payload: &str) -> Result<Self, EventCodecError> {
        let json = serde_json::from_str(payload).map_err(|e| EventCodecError::payload(kind, &e))?;
        Self::from_stored(kind, json)
    }
}
