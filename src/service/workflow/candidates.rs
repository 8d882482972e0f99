//! Duplicate candidates (重复件) of a ticket or of a request being typed:
//! the caller's tickets within N days, and the open tickets of the same
//! street (or district) within N days whose text is similar, scored by the
//! domain's rules (`domain::duplicates`).
//!
//! Cheap at any table size: each of the two reads is one index range under
//! a LIMIT (the caller's blind index by creation time; the street's or
//! district's partial index of open tickets by creation time, which
//! carries the sketches), so at most
//! [`CALLER_ROWS`] + [`PLACE_ROWS`] rows are read and compared, however
//! many tickets are stored. Those reads return each ticket's stored text
//! sketch, not the ticket (`TicketStore::list_ticket_sketches`): no caller
//! data is opened and no text shingled per row; only the `limit`
//! candidates shown are then read whole, in one read by key.

use chrono::TimeDelta;

use super::Workflow;
use crate::{
    domain::{
        PhoneNumber, Principal, RegionCode, TicketId,
        access::Operation,
        duplicates::{Scored, score},
        ticket::{Ticket, TicketState},
    },
    service::{ServiceError, privacy::purpose},
    store::{MAX_IDS, OPEN_STATES, TicketQuery, TicketSketch},
};

/// Most of a caller's recent tickets compared.
pub const CALLER_ROWS: u32 = 50;
/// Most open tickets of the place compared, newest first: a street
/// receives a handful of requests a day, so a week's open ones fit.
pub const PLACE_ROWS: u32 = 100;
/// Longest look back, in days.
pub const MAX_DAYS: u32 = 90;

/// What duplicates are sought for.
#[derive(Debug, Clone)]
pub enum Probe {
    /// An existing ticket.
    Ticket(TicketId),
    /// A request not yet created.
    Draft {
        /// Its title.
        title: String,
        /// Its description.
        description: String,
        /// Its region.
        region: RegionCode,
        /// The caller's phone, if given.
        phone: Option<PhoneNumber>,
    },
}

/// A duplicate-candidate search.
#[derive(Debug, Clone)]
pub struct CandidateQuery {
    /// The ticket or draft.
    pub probe: Probe,
    /// How far back, in days (1..=[`MAX_DAYS`]).
    pub within_days: u32,
    /// Most candidates returned.
    pub limit: usize,
}

/// A candidate and its score.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The ticket.
    pub ticket: Ticket,
    /// Score, similarity and reasons.
    pub scored: Scored,
}

impl Workflow {
    /// The likeliest duplicates, best first (centre roles). Showing that
    /// tickets share the caller's phone is a read of caller data, recorded
    /// in the PII access log like `LookupCaller`.
    pub async fn duplicate_candidates(
        &self,
        principal: &Principal,
        q: CandidateQuery,
    ) -> Result<Vec<Candidate>, ServiceError> {
        principal.authorize(Operation::CentreDecision)?;
        if q.within_days == 0 || q.within_days > MAX_DAYS {
            return Err(ServiceError::invalid(
                "within_days",
                format!("must be 1..={MAX_DAYS}"),
            ));
        }
        let (exclude, region, phone, title, description) = match q.probe {
            Probe::Ticket(id) => {
                let t = self.load_visible(principal, id).await?;
                let intake = t.intake;
                (
                    Some(id),
                    intake.region_code,
                    intake.caller.phone,
                    intake.title,
                    intake.description,
                )
            }
            Probe::Draft {
                title,
                description,
                region,
                phone,
            } => (None, region, phone, title, description),
        };
        let text = self.store().text_sketch(&title, &description).await?;
        let since = self.clock().now() - TimeDelta::days(i64::from(q.within_days));
        // The two index reads are independent: run them together, so the
        // answer waits for the slower one, not their sum.
        let caller_rows = async {
            let Some(phone) = &phone else {
                return Ok(Vec::new());
            };
            let mut query = TicketQuery::all(CALLER_ROWS);
            query.scope = principal.list_scope();
            query.caller_phone = Some(phone.expose().to_owned());
            query.created_from = Some(since);
            self.store().list_ticket_sketches(&query).await
        };
        let place_rows = async {
            let mut query = TicketQuery::all(PLACE_ROWS);
            query.scope = principal.list_scope();
            query.states = OPEN.to_vec();
            query.region_prefix = Some(region.street().unwrap_or(region.district()).to_owned());
            query.created_from = Some(since);
            self.store().list_ticket_sketches(&query).await
        };
        let (by_caller, by_place) = tokio::try_join!(caller_rows, place_rows)?;

        let caller_ids: Vec<TicketId> = by_caller.iter().map(|t| t.id).collect();
        let place_ids: Vec<TicketId> = by_place.iter().map(|t| t.id).collect();
        let mut found: Vec<(TicketSketch, Scored)> = Vec::new();
        for row in by_caller.into_iter().chain(by_place) {
            let id = row.id;
            if Some(id) == exclude
                || row.state == TicketState::Merged
                || found.iter().any(|(c, _)| c.id == id)
            {
                continue;
            }
            let similarity = text.similarity(&row.sketch);
            let scored = score(
                caller_ids.contains(&id),
                place_ids.contains(&id),
                similarity,
            );
            if let Some(scored) = scored {
                found.push((row, scored));
            }
        }
        found.sort_by(|(a, sa), (b, sb)| {
            sb.score
                .total_cmp(&sa.score)
                .then(b.create_time.cmp(&a.create_time))
        });
        found.truncate(q.limit.min(MAX_IDS));
        // Only the candidates shown are read whole (and their caller data
        // opened), in one read by key, while the access to their caller
        // data is recorded: see [`read_and_record`].
        let ids: Vec<TicketId> = found.iter().map(|(c, _)| c.id).collect();
        let same_caller: Vec<TicketId> = ids
            .iter()
            .copied()
            .filter(|id| caller_ids.contains(id))
            .collect();
        let mut tickets = self.read_and_record(principal, &ids, &same_caller).await?;
        let found: Vec<Candidate> = found
            .into_iter()
            .filter_map(|(row, scored)| {
                let at = tickets.iter().position(|t| t.id == row.id)?;
                Some(Candidate {
                    ticket: tickets.swap_remove(at),
                    scored,
                })
            })
            .collect();
        Ok(found)
    }
}

impl Workflow {
    /// The tickets `ids`, read whole, and the record that `principal` saw
    /// that `same_caller` (some of `ids`) share the caller's phone, written
    /// at the same time: the record is a group-commit write that waits for
    /// its commit, so run in turn the answer waited for the sum of both.
    ///
    /// Both must succeed before anything is shown. The record names the
    /// tickets chosen to be shown, before the read says they are still
    /// stored: if the read fails (or leaves a ticket out), the record names
    /// tickets the reader never saw, an over-record the audit accepts;
    /// what it must never do, show a ticket's shared caller without its
    /// record, cannot happen, since a failed record fails the search.
    async fn read_and_record(
        &self,
        principal: &Principal,
        ids: &[TicketId],
        same_caller: &[TicketId],
    ) -> Result<Vec<Ticket>, ServiceError> {
        let read = async { Ok::<_, ServiceError>(self.store().get_tickets(ids).await?) };
        let record = async {
            if same_caller.is_empty() {
                return Ok(());
            }
            self.record_pii_read(
                principal,
                same_caller,
                "ListDuplicateCandidates",
                purpose::CALLER_LOOKUP,
            )
            .await
        };
        let (tickets, ()) = tokio::try_join!(read, record)?;
        Ok(tickets)
    }
}

/// The states a ticket of the same place must be in to be a candidate: a
/// ticket still being handled, which a merge could take. The store reads
/// all of them for a street or a district off one partial index.
const OPEN: [TicketState; 4] = OPEN_STATES;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{lifecycle::merge, text_enum::TextEnum};

    #[test]
    fn open_is_what_a_merge_can_take_as_either_side() {
        for state in TicketState::ALL {
            assert_eq!(OPEN.contains(state), merge::primary_open(*state), "{state}");
        }
    }
}
