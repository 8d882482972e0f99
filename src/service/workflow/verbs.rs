//! Actions on an existing ticket: who may act, the etag check, idempotent
//! replay of a retried request, and the follow-ups committed with a change.

use super::{RequestKey, Workflow, idempotency_key};
use crate::store::IdempotencyKey;
use crate::{
    domain::{
        Action, Principal, TicketId, Transition,
        access::Operation,
        metrics::CounterDelta,
        ticket::{Ticket, TicketState},
    },
    service::{ServiceError, error::at},
    store::StoreError,
};

/// Who, besides the role check, may perform an action on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Anyone whose row scope includes the ticket.
    InScope,
    /// Only a user of the ticket's lead unit.
    LeadUnit,
}

/// One write on an existing ticket.
#[derive(Debug)]
pub struct ActRequest<'a> {
    /// The ticket.
    pub id: TicketId,
    /// The client's etag, empty to skip the check.
    pub etag: &'a str,
    /// The client's idempotency key and the request's fingerprint.
    pub key: RequestKey,
    /// RPC name, recorded with the idempotency key.
    pub operation: &'static str,
    /// Who may act.
    pub actor: Actor,
    /// What to do.
    pub action: Action,
}

impl<'a> ActRequest<'a> {
    /// A request on the ticket named by the RPC's `name` field, open to
    /// anyone in scope; see [`ActRequest::by_lead_unit`].
    pub fn new(
        operation: &'static str,
        name: &str,
        etag: &'a str,
        key: RequestKey,
        action: Action,
    ) -> Result<Self, ServiceError> {
        Ok(Self {
            id: at(TicketId::from_name(name), "name")?,
            etag,
            key,
            operation,
            actor: Actor::InScope,
            action,
        })
    }

    /// Restricts the action to users of the ticket's lead unit.
    #[must_use]
    pub fn by_lead_unit(mut self) -> Self {
        self.actor = Actor::LeadUnit;
        self
    }
}

impl Workflow {
    /// Performs an action on a ticket if the principal's roles allow
    /// `operation`.
    pub async fn act_as(
        &self,
        principal: &Principal,
        operation: Operation,
        req: ActRequest<'_>,
    ) -> Result<Ticket, ServiceError> {
        principal.authorize(operation)?;
        self.act(principal, req).await
    }

    /// Performs an action on a ticket.
    ///
    /// The ticket is taken from this replica's cache of the tickets it
    /// wrote last when it holds one, saving the read (most of a verb's cost
    /// beyond its write): the copy is only a guess, since the write is
    /// conditional on the copy's version. Whatever refuses the guess — the
    /// state, the etag, the scope or lead unit, a lost race, the
    /// idempotency key's row — may be the copy's staleness, so the entry
    /// is dropped and the verb decided again from a fresh read: a client
    /// never gets an answer that only a stale copy gave. Errors that may
    /// come after a commit (the database unavailable mid-write, an
    /// internal error) are returned as they are: deciding again could apply
    /// the action twice.
    pub async fn act(
        &self,
        principal: &Principal,
        mut req: ActRequest<'_>,
    ) -> Result<Ticket, ServiceError> {
        let key = idempotency_key(principal, &req.key, req.operation)?;
        let id = req.id;
        let checked = match self.check_cited_articles(&mut req.action).await {
            Ok(()) => self.check_merged_callback(&req.action, id).await,
            refused => refused,
        };
        if let Err(refused) = checked {
            // Not the cached copy's doing: the copy stays, and a retry whose
            // first attempt committed before its article was retired (or
            // before its primary closed) gets the first answer.
            return match self.replay(principal, key.as_ref(), Some(id)).await? {
                Some(ticket) => Ok(ticket),
                None => Err(refused),
            };
        }
        if let Some(guess) = self.tickets.guess(id) {
            let outcome = match principal.can_see(&guess) {
                true => {
                    self.decide_and_apply(principal, guess, &req, key.as_ref())
                        .await
                }
                false => Err(ServiceError::NotFound(id.name())),
            };
            match outcome {
                Ok(ticket) => {
                    self.tickets.remember(&ticket);
                    return Ok(ticket);
                }
                Err(e) if may_have_committed(&e) => {
                    self.tickets.forget(id);
                    return Err(e);
                }
                Err(_) => {
                    self.tickets.forget(id);
                    self.tickets.count_stale();
                }
            }
        }
        let outcome = self.act_after_read(principal, &req, key.as_ref()).await;
        match &outcome {
            Ok(ticket) => self.tickets.remember(ticket),
            Err(_) => self.tickets.forget(id),
        }
        outcome
    }

    /// [`Workflow::act`] from a fresh read of the ticket, with the replay
    /// of a retried request.
    async fn act_after_read(
        &self,
        principal: &Principal,
        req: &ActRequest<'_>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Ticket, ServiceError> {
        let id = req.id;
        let ticket = self.load_visible(principal, id).await?;
        match self.decide_and_apply(principal, ticket, req, key).await {
            Ok(ticket) => Ok(ticket),
            // A refusal may be a retry's: its first attempt already changed
            // the ticket (the state no longer allows the action, the etag
            // moved on, the lead unit changed, or the key's record exists).
            // The key is looked up only then, not before every change: the
            // record commits with the change it records, so a retry whose
            // first attempt committed either reads a ticket that refuses
            // the action again, or fails on the key's unique row, and finds
            // the record here either way; a first attempt saves the read.
            Err(refused) if key.is_some() => match self.replay(principal, key, Some(id)).await? {
                Some(ticket) => Ok(ticket),
                None => Err(refused),
            },
            Err(refused) => Err(refused),
        }
    }

    /// Checks `req` against `ticket` and commits its change; a version that
    /// moved on since the read is [`ServiceError::Conflict`].
    async fn decide_and_apply(
        &self,
        principal: &Principal,
        ticket: Ticket,
        req: &ActRequest<'_>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Ticket, ServiceError> {
        let mut action = req.action.clone();
        self.check_region_patch(&mut action).await?;
        if req.actor == Actor::LeadUnit && !principal.is_lead_unit_of(&ticket) {
            return Err(ServiceError::PermissionDenied(
                "only the lead unit of the ticket may do this".into(),
            ));
        }
        if !req.etag.is_empty() && req.etag != ticket.etag() {
            return Err(ServiceError::EtagMismatch {
                current: ticket.etag(),
            });
        }
        let (batch, counters) = self.prepare_act(principal, &ticket, action)?;
        match self
            .store
            .apply_transitions(ticket.version, &batch, &counters, key.cloned())
            .await
        {
            Ok(()) => {
                self.committed();
                Ok(batch.into_iter().last().map(|t| t.ticket).unwrap_or(ticket))
            }
            // Only a key's row is unique among what a change inserts.
            Err(StoreError::Conflict(_) | StoreError::AlreadyExists(_)) if key.is_some() => Err(
                ServiceError::Conflict(format!("{} changed concurrently", req.id.name())),
            ),
            Err(e) => Err(e.into()),
        }
    }

    /// Everything [`Workflow::act`] commits for `action` on `ticket`: the
    /// transition, the follow-up the centre's rules attach to it, and their
    /// counter changes. Public so `hotline bench lifecycle` can commit the
    /// very same values straight through the store as each verb's raw
    /// baseline; who may act and the etag are checked by `act` alone.
    pub fn prepare_act(
        &self,
        principal: &Principal,
        ticket: &Ticket,
        action: Action,
    ) -> Result<(Vec<Transition>, Vec<CounterDelta>), ServiceError> {
        let now = self.clock.now();
        let transition = ticket.apply(action, principal, now)?;
        let mut batch = vec![transition];
        if let Some(order) = self.follow_up(&batch[0].ticket, now)? {
            batch.push(order);
        }
        let counters = self.counters_of(Some(ticket), &batch);
        Ok((batch, counters))
    }

    /// A correction of the region must name one the directory holds (an
    /// unknown street of a known district is accepted, as at intake; the
    /// ticket is not routed again); the patch takes the new region's note,
    /// which replaces the ticket's.
    async fn check_region_patch(&self, action: &mut Action) -> Result<(), ServiceError> {
        if let Action::Update(patch) = action
            && patch.fields.iter().any(|f| f == "region_code")
            && let Some(values) = &patch.values
        {
            let standing = self
                .regions
                .standing(&values.region_code, "ticket.region_code")
                .await?;
            patch.region_note = standing.note(&values.region_code);
        }
        Ok(())
    }

    /// A resolution at intake may cite only articles served today; the
    /// action takes their bare ids. Checked in [`Workflow::act`], after the
    /// role check and before the ticket is read, where a refusal looks up
    /// a retry's replay: a retry whose cited article was retired since its
    /// first attempt committed still gets the first answer.
    async fn check_cited_articles(&self, action: &mut Action) -> Result<(), ServiceError> {
        if let Action::ResolveAtIntake { article_ids, .. } = action
            && !article_ids.is_empty()
        {
            *article_ids = self.check_citations(article_ids).await?;
        }
        Ok(())
    }

    /// A merged caller's callback may be recorded on a closed primary (the
    /// caller is still owed the call), but once only: a closed ticket's
    /// ratings are final, so a second one for the same merged caller is
    /// FAILED_PRECONDITION `CALLED_BACK`. Checked before the ticket is
    /// read for the action, like the citations (a retry gets its replay).
    async fn check_merged_callback(
        &self,
        action: &Action,
        primary: TicketId,
    ) -> Result<(), ServiceError> {
        let Action::RecordMergedCallback { duplicate, .. } = action else {
            return Ok(());
        };
        if self.store().get_ticket(primary).await?.state != TicketState::Closed {
            return Ok(());
        }
        let called = self.merged_callbacks(primary).await?;
        if called.iter().any(|(d, ..)| d == duplicate) {
            return Err(ServiceError::Precondition {
                kind: "CALLED_BACK",
                message: format!(
                    "the caller of {} was called back before {} closed; a closed ticket's ratings are final",
                    duplicate.name(),
                    primary.name()
                ),
            });
        }
        Ok(())
    }

    /// The follow-up the centre's rules attach to a change, committed in the
    /// same transaction: a citizen still dissatisfied after re-handling gets
    /// a supervision order.
    fn follow_up(
        &self,
        ticket: &Ticket,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Transition>, ServiceError> {
        let still_dissatisfied = ticket.state == TicketState::Dissatisfied
            && ticket.reopen_count > 0
            && ticket.supervision.is_none()
            && self.callback.order_on_dissatisfied_after_reopen;
        if !still_dissatisfied {
            return Ok(None);
        }
        let order = Action::IssueSupervision {
            reason: "重办后仍不满意，自动督办".into(),
            response_deadline: self.order_response_deadline(None),
        };
        Ok(Some(ticket.apply(
            order,
            &Principal::system("callback"),
            now,
        )?))
    }
}

/// Whether a failed act may nevertheless have committed: the database
/// became unreachable during the write (the commit may have landed), or
/// something unexpected failed. Such an error is answered as it is, never
/// retried from a fresh read (which could apply the action twice).
fn may_have_committed(error: &ServiceError) -> bool {
    matches!(error, ServiceError::Unavailable | ServiceError::Internal(_))
}
