//! `WatchAlerts`: one stream of two sources, each followed across
//! replicas by its own means — the ticket alerts of the live feed
//! (deadline crossings, urges, supervision orders: ticket events) and the
//! overdue alerts of hotspots (a 5-hour supervision item passed
//! unanswered: a change in the hotspot change sequence, see
//! `service::workflow::sweeper`). A hotspot is not a ticket, so its alert
//! is not an event of the ticket log; rather than give it a ticket trail
//! it does not have, the stream follows both sequences, and its resume
//! token carries a place in each.

use std::collections::HashMap;

use futures_util::StreamExt;
use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

use super::{
    error::ERROR_DOMAIN,
    paging,
    streams::{ServerStream, guarded, parse_resume_token},
};
use crate::{
    auth::SessionExpiry,
    domain::{Principal, UnitId, access::Operation, hotspot::HotspotId},
    proto::{convert::to_timestamp, v1 as pb},
    quota::StreamPermit,
    service::{
        ServiceError, Workflow,
        feed::FeedItem,
        hotspots::{
            Hotspots,
            watch::{ChangeCursor, WatchedHotspot},
        },
    },
    store::FeedPosition,
};

/// A WatchAlerts resume token's fingerprint (a feed-only token, as
/// WatchAlerts gave before hotspot alerts, is still accepted).
const ALERTS_FINGERPRINT: &str = "alerts";

/// The `kind` of a hotspot's overdue alert.
pub(crate) const HOTSPOT_OVERDUE: &str = "hotspot_overdue";

/// Where a WatchAlerts stream is: in the event log, and in the hotspot
/// change sequence (`None`: from wherever it is when the stream starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AlertsCursor {
    feed: FeedPosition,
    hotspots: Option<ChangeCursor>,
}

/// The opaque token of a place in both sequences.
fn resume_token(at: AlertsCursor) -> String {
    let (seq, id) = at.hotspots.unwrap_or((0, None));
    let id = id.map(|id| id.to_string()).unwrap_or_default();
    paging::encode(&(at.feed.xid, at.feed.id, seq, id), ALERTS_FINGERPRINT)
}

/// The place a request's `resume_token` names; `None` when empty. A feed
/// token of an older release resumes the ticket alerts there and the
/// hotspot alerts from now.
pub(crate) fn parse_alerts_token(token: &str) -> Result<Option<AlertsCursor>, ServiceError> {
    let bad = || ServiceError::invalid("resume_token", "malformed resume token");
    if let Ok(Some((xid, id, seq, hotspot))) =
        paging::decode::<(i64, i64, i64, String)>(token, ALERTS_FINGERPRINT)
    {
        if xid < 0 || id < 0 || seq < 0 {
            return Err(bad());
        }
        let hotspot = match hotspot.as_str() {
            "" => None,
            h => Some(HotspotId::parse(h).map_err(|_| bad())?),
        };
        return Ok(Some(AlertsCursor {
            feed: FeedPosition { xid, id },
            hotspots: Some((seq, hotspot)),
        }));
    }
    Ok(parse_resume_token(token)?.map(|feed| AlertsCursor {
        feed,
        hotspots: None,
    }))
}

/// An interrupted source ends the stream UNAVAILABLE with where to resume.
fn interrupted(at: AlertsCursor) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(std::time::Duration::from_secs(1)));
    let metadata = HashMap::from([("resume_token".to_owned(), resume_token(at))]);
    details.set_error_info("FEED_INTERRUPTED", ERROR_DOMAIN, metadata);
    Status::with_error_details(
        tonic::Code::Unavailable,
        "alert stream interrupted (database unreachable); reconnect with the resume_token",
        details,
    )
}

/// One item of either source (boxed: they differ much in size).
enum Part {
    Ticket(Box<Result<FeedItem, crate::service::feed::FeedGap>>),
    Hotspot(Box<Result<WatchedHotspot, ServiceError>>),
}

/// What a WatchAlerts stream is opened with.
pub(crate) struct AlertWatch {
    /// Who watches.
    pub principal: Principal,
    /// When the session ends.
    pub expiry: Option<SessionExpiry>,
    /// The principal's stream quota, held while the stream lives.
    pub permit: Option<StreamPermit>,
    /// Where to resume, if anywhere.
    pub from: Option<AlertsCursor>,
}

/// The alerts `principal` may see: ticket alerts of tickets in its scope;
/// hotspot overdue alerts of hotspots in its area, if its roles read
/// hotspots at all.
pub(crate) async fn watch_alerts(
    workflow: &Workflow,
    hotspots: &Hotspots,
    watch: AlertWatch,
) -> Result<ServerStream<pb::WatchAlertsResponse>, ServiceError> {
    let AlertWatch {
        principal,
        expiry,
        permit,
        from,
    } = watch;
    let feed_start = match from {
        Some(at) => at.feed,
        None => workflow.store().feed_head().await?,
    };
    let tickets = workflow
        .watch(Some(feed_start))
        .await?
        .map(|item| Part::Ticket(Box::new(item)));
    let reads_hotspots = principal.authorize(Operation::ReadHotspots).is_ok();
    let hotspot_start = match from.and_then(|at| at.hotspots) {
        Some(at) => at,
        None => (workflow.store().hotspot_head().await?, None),
    };
    let hotspot_items = if reads_hotspots {
        hotspots
            .watch(&principal, Some(hotspot_start))
            .await?
            .map(|item| Part::Hotspot(Box::new(item)))
            .boxed()
    } else {
        futures_util::stream::pending().boxed()
    };
    let mut at = AlertsCursor {
        feed: feed_start,
        hotspots: Some(hotspot_start),
    };
    let items = futures_util::stream::select(tickets, hotspot_items).filter_map(move |part| {
        let _held = &permit;
        let message = match part {
            Part::Ticket(item) => match *item {
                Ok(item) => {
                    at.feed = item.position;
                    (item.is_alert() && principal.can_see(&item.ticket))
                        .then(|| Ok(ticket_alert(&item, resume_token(at))))
                }
                Err(gap) => {
                    at.feed = gap.resume;
                    Some(Err(interrupted(at)))
                }
            },
            Part::Hotspot(item) => match *item {
                Ok(watched) => {
                    at.hotspots = Some(watched.cursor);
                    watched
                        .overdue_alert
                        .then(|| Ok(hotspot_alert(&watched, resume_token(at))))
                }
                Err(_) => Some(Err(interrupted(at))),
            },
        };
        std::future::ready(message)
    });
    Ok(guarded(workflow.feed(), items, expiry))
}

fn ticket_alert(alert: &FeedItem, resume_token: String) -> pb::WatchAlertsResponse {
    pb::WatchAlertsResponse {
        ticket: alert.ticket.id.name(),
        number: alert.ticket.number.clone(),
        kind: alert.event.kind.event_type().to_owned(),
        lead_unit: alert
            .ticket
            .lead_unit
            .as_ref()
            .map(UnitId::name)
            .unwrap_or_default(),
        sequence: alert.event.sequence,
        time: Some(to_timestamp(alert.event.time)),
        resume_token,
        hotspot: String::new(),
    }
}

/// A hotspot's overdue alert: its first ticket stands for it in `ticket`,
/// the alert's change number is its `sequence`, the deadline it passed
/// its `time`.
fn hotspot_alert(watched: &WatchedHotspot, resume_token: String) -> pb::WatchAlertsResponse {
    let hotspot = &watched.hotspot;
    pb::WatchAlertsResponse {
        ticket: hotspot.seed_ticket.name(),
        number: String::new(),
        kind: HOTSPOT_OVERDUE.to_owned(),
        lead_unit: String::new(),
        sequence: hotspot.supervision.overdue_alert_seq.unwrap_or_default(),
        time: Some(to_timestamp(hotspot.supervision.deadline)),
        resume_token,
        hotspot: hotspot.id.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alerts_token_round_trips_and_an_older_feed_token_still_resumes() {
        let id = HotspotId::parse("0190a4b2-7c1e-7000-8000-000000000001").unwrap();
        for at in [
            AlertsCursor {
                feed: FeedPosition { xid: 5, id: 9 },
                hotspots: Some((0, None)),
            },
            AlertsCursor {
                feed: FeedPosition { xid: 7, id: 1 },
                hotspots: Some((12, Some(id))),
            },
        ] {
            assert_eq!(parse_alerts_token(&resume_token(at)).unwrap(), Some(at));
        }
        let old = super::super::streams::resume_token(FeedPosition { xid: 3, id: 4 });
        assert_eq!(
            parse_alerts_token(&old).unwrap(),
            Some(AlertsCursor {
                feed: FeedPosition { xid: 3, id: 4 },
                hotspots: None
            })
        );
        assert_eq!(parse_alerts_token("").unwrap(), None);
        match parse_alerts_token("not-a-token") {
            Err(ServiceError::InvalidField { field, .. }) => assert_eq!(field, "resume_token"),
            other => panic!("{other:?}"),
        }
    }
}
