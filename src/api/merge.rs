//! `DispatchService`'s merge methods (并单): `MergeTickets`, `UnmergeTicket`
//! and `ListDuplicateCandidates`, mapping proto ↔ the workflow's use cases
//! (`service::workflow::{merges, candidates}`). The trait methods in
//! `dispatch.rs` call these.

use tonic::{Request, Response, Status};

use super::{idempotency::request_key, paging::PageSize, ticket::list_view};
use crate::{
    auth::principal,
    domain::{
        PhoneNumber, RegionCode,
        access::{CallerVisibility, merged_caller_visibility},
        duplicates::Reason,
        ticket::Ticket,
    },
    proto::{
        convert::{ProtoEnum, at, merged_ticket_to_proto, text, ticket_id, to_timestamp},
        v1 as pb,
    },
    service::{
        ServiceError,
        workflow::{CandidateQuery, MergeRequest, Probe, Workflow},
    },
};

/// ListDuplicateCandidates' `page_size`: a ranked list, one page.
const CANDIDATE_PAGE: PageSize = PageSize {
    default: 10,
    max: 50,
};

/// Default `within_days`.
const DEFAULT_DAYS: u32 = 7;

pub(crate) async fn merge_tickets(
    workflow: &Workflow,
    request: Request<pb::MergeTicketsRequest>,
) -> Result<Response<pb::MergeTicketsResponse>, Status> {
    let principal = principal(&request)?;
    let req = request.into_inner();
    let primary = ticket_id(&req.primary, "primary")?;
    let duplicates = req
        .duplicates
        .iter()
        .enumerate()
        .map(|(i, name)| ticket_id(name, &format!("duplicates[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let merged = workflow
        .merge_tickets(
            &principal,
            MergeRequest {
                primary,
                duplicates,
                reason: &req.reason,
                etag: &req.etag,
                key: request_key(&req),
            },
        )
        .await?;
    Ok(Response::new(pb::MergeTicketsResponse {
        primary: Some(list_view(&principal, &merged.primary)),
        duplicates: merged
            .duplicates
            .iter()
            .map(|t| list_view(&principal, t))
            .collect(),
    }))
}

pub(crate) async fn unmerge_ticket(
    workflow: &Workflow,
    request: Request<pb::UnmergeTicketRequest>,
) -> Result<Response<pb::UnmergeTicketResponse>, Status> {
    let principal = principal(&request)?;
    let req = request.into_inner();
    let id = ticket_id(&req.name, "name")?;
    let (ticket, primary) = workflow
        .unmerge_ticket(&principal, id, &req.etag, &request_key(&req))
        .await?;
    Ok(Response::new(pb::UnmergeTicketResponse {
        ticket: Some(list_view(&principal, &ticket)),
        primary: Some(list_view(&principal, &primary)),
    }))
}

pub(crate) async fn list_duplicate_candidates(
    workflow: &Workflow,
    request: Request<pb::ListDuplicateCandidatesRequest>,
) -> Result<Response<pb::ListDuplicateCandidatesResponse>, Status> {
    let principal = principal(&request)?;
    let req = request.into_inner();
    let probe = match (req.name.is_empty(), req.draft) {
        (false, None) => Probe::Ticket(ticket_id(&req.name, "name")?),
        (true, Some(draft)) => draft_probe(&draft)?,
        (false, Some(_)) => {
            return Err(
                ServiceError::invalid("draft", "give either name or draft, not both").into(),
            );
        }
        (true, None) => {
            return Err(ServiceError::invalid("name", "give a ticket name or a draft").into());
        }
    };
    let within_days = match u32::try_from(req.within_days) {
        Ok(0) => DEFAULT_DAYS,
        Ok(days) => days,
        Err(_) => return Err(ServiceError::invalid("within_days", "must not be negative").into()),
    };
    let limit = CANDIDATE_PAGE.resolve(req.page_size)?;
    let candidates = workflow
        .duplicate_candidates(
            &principal,
            CandidateQuery {
                probe,
                within_days,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
        )
        .await?;
    Ok(Response::new(pb::ListDuplicateCandidatesResponse {
        candidates: candidates
            .iter()
            .map(|c| pb::DuplicateCandidate {
                ticket: Some(list_view(&principal, &c.ticket)),
                score: c.scored.score,
                reasons: c.scored.reasons.iter().map(|r| reason(*r) as i32).collect(),
                text_similarity: c.scored.text_similarity,
                create_time: Some(to_timestamp(c.ticket.create_time)),
            })
            .collect(),
    }))
}

/// A draft's fields that candidates are sought by.
fn draft_probe(draft: &pb::Ticket) -> Result<Probe, ServiceError> {
    let phone = draft
        .caller
        .as_ref()
        .map(|c| c.phone.trim())
        .filter(|p| !p.is_empty())
        .map(|p| at(PhoneNumber::parse(p), "draft.caller.phone"))
        .transpose()?;
    Ok(Probe::Draft {
        title: text(&draft.title, "draft.title", false, 100)?,
        description: text(&draft.description, "draft.description", false, 4000)?,
        region: at(
            RegionCode::parse(draft.region_code.trim()),
            "draft.region_code",
        )?,
        phone,
    })
}

fn reason(r: Reason) -> pb::DuplicateReason {
    match r {
        Reason::SameCaller => pb::DuplicateReason::SameCaller,
        Reason::SamePlaceSimilarText => pb::DuplicateReason::SamePlaceSimilarText,
    }
}

/// The duplicates merged into `primary` as GetTicket shows them, and the
/// ones whose caller it shows unmasked (to be recorded in the PII access
/// log with the primary's).
pub(crate) async fn merged_tickets_view(
    workflow: &Workflow,
    principal: &crate::domain::Principal,
    primary: &Ticket,
) -> Result<(Vec<pb::MergedTicket>, Vec<crate::domain::TicketId>), ServiceError> {
    let duplicates = workflow.merged_tickets(primary).await?;
    if duplicates.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let callbacks = workflow.merged_callbacks(primary.id).await?;
    let mut unmasked = Vec::new();
    let view = duplicates
        .iter()
        .map(|d| {
            let visibility = merged_caller_visibility(principal, d);
            if visibility == CallerVisibility::Full {
                unmasked.push(d.id);
            }
            let mut shown = merged_ticket_to_proto(d, visibility);
            if let Some((_, satisfaction, resolved, time)) =
                callbacks.iter().find(|(id, ..)| *id == d.id)
            {
                shown.satisfaction = satisfaction.to_proto();
                shown.resolved = *resolved;
                shown.callback_time = Some(to_timestamp(*time));
            }
            shown
        })
        .collect();
    Ok((view, unmasked))
}
