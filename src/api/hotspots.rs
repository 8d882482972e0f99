//! `hotline.v1.HotspotService`: lists, reads, the live stream and the
//! centre's decisions. Conversion here; the rules in
//! `crate::service::hotspots` and `crate::domain::hotspot`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

use super::{
    idempotency::{IdempotentRequest, request_key},
    paging::{self, PageSize},
    streams::{ServerStream, guarded},
};
use crate::{
    auth::{principal, session_expiry},
    domain::{
        RegionCode, TicketId,
        hotspot::{Hotspot, HotspotAction, HotspotId, HotspotState},
    },
    proto::{
        convert::{time_window, to_timestamp},
        v1::{self as pb, hotspot_service_server::HotspotService},
    },
    service::{
        ServiceError, Workflow,
        hotspots::{DecideRequest, Hotspots, watch::ChangeCursor},
    },
    store::{HotspotCursor, HotspotQuery},
};

/// Page sizes of the hotspot list.
const PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// What a resume token's fingerprint is: a place in the hotspot change
/// sequence, valid with any scope.
const RESUME_FINGERPRINT: &str = "hotspots";

/// Implements `HotspotService`.
#[derive(Debug, Clone)]
pub(crate) struct HotspotApi {
    hotspots: Arc<Hotspots>,
    workflow: Arc<Workflow>,
}

impl HotspotApi {
    /// A service over the hotspot use cases (the workflow's feed tells its
    /// streams when the server shuts down).
    pub(crate) fn new(hotspots: Arc<Hotspots>, workflow: Arc<Workflow>) -> Self {
        Self { hotspots, workflow }
    }
}

fn hotspot_id(name: &str, field: &str) -> Result<HotspotId, ServiceError> {
    HotspotId::from_name(name).map_err(|e| ServiceError::from(e.within(field)))
}

fn state_to_proto(state: HotspotState) -> pb::HotspotState {
    match state {
        HotspotState::Detected => pb::HotspotState::Detected,
        HotspotState::Confirmed => pb::HotspotState::Confirmed,
        HotspotState::Dismissed => pb::HotspotState::Dismissed,
        HotspotState::Merged => pb::HotspotState::Merged,
    }
}

fn state_filter(values: &[i32]) -> Result<Vec<HotspotState>, ServiceError> {
    let mut states = Vec::new();
    for value in values {
        let state = match pb::HotspotState::try_from(*value) {
            Ok(pb::HotspotState::Detected) => HotspotState::Detected,
            Ok(pb::HotspotState::Confirmed) => HotspotState::Confirmed,
            Ok(pb::HotspotState::Dismissed) => HotspotState::Dismissed,
            Ok(pb::HotspotState::Merged) => HotspotState::Merged,
            Ok(pb::HotspotState::Unspecified) | Err(_) => {
                return Err(ServiceError::invalid(
                    "states",
                    "unknown or unspecified state",
                ));
            }
        };
        if !states.contains(&state) {
            states.push(state);
        }
    }
    Ok(states)
}

fn names(tickets: &[TicketId]) -> Vec<String> {
    tickets.iter().map(TicketId::name).collect()
}

/// The message of a hotspot; `now` decides whether it is overdue.
fn to_proto(h: &Hotspot, now: DateTime<Utc>) -> pb::Hotspot {
    let heat = &h.heat;
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    pb::Hotspot {
        name: h.id.name(),
        state: state_to_proto(h.state).into(),
        area: h.area.clone(),
        district: h.district.clone(),
        subject_code: h.subject.clone(),
        heat: Some(pb::HotspotHeat {
            count: count(heat.count),
            recent_count: count(heat.recent),
            growth: heat.growth,
            distinct_callers: count(heat.callers),
            first_ticket_time: Some(to_timestamp(heat.first)),
            last_ticket_time: Some(to_timestamp(heat.last)),
            areas: heat.areas.clone(),
            top_words: heat.top_words.clone(),
            example_tickets: names(&heat.examples),
        }),
        tickets: names(&h.tickets),
        merged_into: h.merged_into.map(|m| m.name()).unwrap_or_default(),
        merged_hotspots: h.merged_from.iter().map(HotspotId::name).collect(),
        supervision: Some(pb::HotspotSupervision {
            response_deadline: Some(to_timestamp(h.supervision.deadline)),
            response_time: h.supervision.response_time.map(to_timestamp),
            responder: h.supervision.responder.clone().unwrap_or_default(),
            overdue: h.supervision.is_overdue(now),
        }),
        note: h.note.clone().unwrap_or_default(),
        seed_ticket: h.seed_ticket.name(),
        create_time: Some(to_timestamp(h.create_time)),
        update_time: Some(to_timestamp(h.update_time)),
        etag: h.change_seq.to_string(),
    }
}

/// The opaque token of a place in the change sequence.
fn resume_token(at: ChangeCursor) -> String {
    let id = at.1.map(|id| id.to_string()).unwrap_or_default();
    paging::encode(&(at.0, id), RESUME_FINGERPRINT)
}

fn parse_resume_token(token: &str) -> Result<Option<ChangeCursor>, ServiceError> {
    let bad = || ServiceError::invalid("resume_token", "malformed resume token");
    let cursor: Option<(i64, String)> =
        paging::decode(token, RESUME_FINGERPRINT).map_err(|_| bad())?;
    match cursor {
        None => Ok(None),
        Some((seq, _)) if seq < 0 => Err(bad()),
        Some((seq, id)) if id.is_empty() => Ok(Some((seq, None))),
        Some((seq, id)) => Ok(Some((seq, Some(HotspotId::parse(&id).map_err(|_| bad())?)))),
    }
}

impl HotspotApi {
    /// Runs a decision; `operation` names the RPC for the idempotency
    /// record.
    async fn decide<R: IdempotentRequest>(
        &self,
        request: Request<R>,
        operation: &'static str,
        what: impl FnOnce(&R) -> Result<(String, String, HotspotAction), ServiceError>,
    ) -> Result<Hotspot, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let (name, etag, action) = what(&req)?;
        let decided = self
            .hotspots
            .decide(
                &principal,
                DecideRequest {
                    operation,
                    id: hotspot_id(&name, "name")?,
                    etag: (!etag.is_empty()).then_some(etag),
                    action,
                    key,
                },
            )
            .await?;
        Ok(decided)
    }

    fn message(&self, h: &Hotspot) -> Option<pb::Hotspot> {
        Some(to_proto(h, self.hotspots.now()))
    }
}

#[tonic::async_trait]
impl HotspotService for HotspotApi {
    async fn list_hotspots(
        &self,
        request: Request<pb::ListHotspotsRequest>,
    ) -> Result<Response<pb::ListHotspotsResponse>, Status> {
        let principal = principal(&request)?;
        let req = request.into_inner();
        let limit = PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: Option<(i64, String)> = paging::decode(&req.page_token, &fp)?;
        let (created_from, created_to) = time_window(
            req.start_time.as_ref(),
            req.end_time.as_ref(),
            ("start_time", "end_time"),
        )?;
        let query = HotspotQuery {
            scope: None,
            area_prefix: match req.area_prefix.as_str() {
                "" => None,
                prefix => Some(
                    RegionCode::parse_prefix(prefix)
                        .map_err(|e| ServiceError::from(e.within("area_prefix")))?,
                ),
            },
            states: state_filter(&req.states)?,
            created_from,
            created_to,
            overdue_at: req.overdue_only.then(|| self.hotspots.now()),
            after: after
                .map(|(us, id)| {
                    let bad = || ServiceError::invalid("page_token", "malformed page token");
                    Ok::<_, ServiceError>(HotspotCursor {
                        create_time: DateTime::from_timestamp_micros(us).ok_or_else(bad)?,
                        id: HotspotId::parse(&id).map_err(|_| bad())?,
                    })
                })
                .transpose()?,
            limit,
        };
        let hotspots = self.hotspots.list(&principal, query).await?;
        let now = self.hotspots.now();
        Ok(Response::new(pb::ListHotspotsResponse {
            next_page_token: paging::next_token(&hotspots, limit, &fp, |h| {
                (h.create_time.timestamp_micros(), h.id.to_string())
            }),
            hotspots: hotspots.iter().map(|h| to_proto(h, now)).collect(),
        }))
    }

    async fn get_hotspot(
        &self,
        request: Request<pb::GetHotspotRequest>,
    ) -> Result<Response<pb::GetHotspotResponse>, Status> {
        let principal = principal(&request)?;
        let id = hotspot_id(&request.get_ref().name, "name")?;
        let hotspot = self.hotspots.get(&principal, id).await?;
        Ok(Response::new(pb::GetHotspotResponse {
            hotspot: self.message(&hotspot),
        }))
    }

    type WatchHotspotsStream = ServerStream<pb::WatchHotspotsResponse>;

    async fn watch_hotspots(
        &self,
        request: Request<pb::WatchHotspotsRequest>,
    ) -> Result<Response<Self::WatchHotspotsStream>, Status> {
        let principal = principal(&request)?;
        let expiry = session_expiry(&request);
        let permit = crate::quota::stream_permit(&request)?;
        let from = parse_resume_token(&request.into_inner().resume_token)?;
        let watch = self.hotspots.watch(&principal, from).await?;
        let hotspots = self.hotspots.clone();
        let items = watch.map(move |item| {
            let _held = &permit;
            match item {
                Ok(w) => Ok(pb::WatchHotspotsResponse {
                    hotspot: Some(to_proto(&w.hotspot, hotspots.now())),
                    detected: w.new,
                    resume_token: resume_token(w.cursor),
                }),
                Err(e) => Err(Status::from(e)),
            }
        });
        Ok(Response::new(guarded(self.workflow.feed(), items, expiry)))
    }

    async fn confirm_hotspot(
        &self,
        request: Request<pb::ConfirmHotspotRequest>,
    ) -> Result<Response<pb::ConfirmHotspotResponse>, Status> {
        let hotspot = self
            .decide(request, "ConfirmHotspot", |r| {
                let action = HotspotAction::Confirm {
                    note: r.note.clone(),
                };
                Ok((r.name.clone(), r.etag.clone(), action))
            })
            .await?;
        Ok(Response::new(pb::ConfirmHotspotResponse {
            hotspot: self.message(&hotspot),
        }))
    }

    async fn dismiss_hotspot(
        &self,
        request: Request<pb::DismissHotspotRequest>,
    ) -> Result<Response<pb::DismissHotspotResponse>, Status> {
        let hotspot = self
            .decide(request, "DismissHotspot", |r| {
                let action = HotspotAction::Dismiss {
                    reason: r.reason.clone(),
                };
                Ok((r.name.clone(), r.etag.clone(), action))
            })
            .await?;
        Ok(Response::new(pb::DismissHotspotResponse {
            hotspot: self.message(&hotspot),
        }))
    }

    async fn merge_hotspots(
        &self,
        request: Request<pb::MergeHotspotsRequest>,
    ) -> Result<Response<pb::MergeHotspotsResponse>, Status> {
        let principal = principal(&request)?;
        let merged = self
            .decide(request, "MergeHotspots", |r| {
                let action = HotspotAction::MergeInto {
                    target: hotspot_id(&r.target, "target")?,
                };
                Ok((r.name.clone(), r.etag.clone(), action))
            })
            .await?;
        let target = match merged.merged_into {
            Some(target) => Some(self.hotspots.get(&principal, target).await?),
            None => None,
        };
        Ok(Response::new(pb::MergeHotspotsResponse {
            hotspot: self.message(&merged),
            target: target.as_ref().and_then(|t| self.message(t)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_token_round_trips_and_a_foreign_one_names_the_field() {
        let id = HotspotId::generate(DateTime::from_timestamp(1_790_000_000, 0).unwrap());
        for at in [(0, None), (42, Some(id))] {
            assert_eq!(parse_resume_token(&resume_token(at)).unwrap(), Some(at));
        }
        assert_eq!(parse_resume_token("").unwrap(), None);
        let foreign = paging::encode(&(1_i64, 2_i64), "feed");
        for bad in ["nope", foreign.as_str()] {
            match parse_resume_token(bad) {
                Err(ServiceError::InvalidField { field, .. }) => assert_eq!(field, "resume_token"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
