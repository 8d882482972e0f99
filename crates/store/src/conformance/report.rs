//! The disclosure report's aggregate: ticket volumes of a period.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{Store, VolumeCell};
use hotline_domain::{
    Action, SubjectCode,
    ticket::{Channel, Intake, LegalChannel, RequestType},
};

use super::fixtures::{
    agent, create_at, dispatch, handler, intake, micros, seed_units, step, t0, unit_id,
};

fn classified(mut intake: Intake, channel: Channel, subject: Option<&str>) -> Intake {
    intake.channel = channel;
    intake.subject_code = subject.map(|s| SubjectCode::parse(s).expect("valid subject"));
    intake
}

/// Tickets created in `from..to` (and only those) are grouped by type,
/// channel, first subject segment and six-digit district, and counted as
/// received, accepted (without the exclusions), answered at intake, and
/// with a standing unit reply (a reply sent back no longer counts).
pub async fn ticket_volumes_group_the_periods_tickets(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let market = unit_id("market-regulation");
    let from = t0();
    let to = t0() + TimeDelta::days(1);
    let phone = Some("13800131234");
    let complaint = |region: &str, subject| {
        classified(
            intake(region, RequestType::Complaint, phone),
            Channel::Phone,
            subject,
        )
    };
    // Outside the period on both sides: never counted.
    create_at(store, complaint("330106001", None), from - micros(1), None).await;
    create_at(store, complaint("330106001", None), to, None).await;

    // Two complaints on 01.x in street 330106001 and district 330106: one
    // replied, one replied and sent back.
    for (i, region, send_back) in [(0, "330106001", false), (1, "330106", true)] {
        let now = from + micros(10 + i);
        let (t, _) = create_at(store, complaint(region, Some("01.02.03")), now, None).await;
        let t = step(
            store,
            &t,
            dispatch(market.as_str()),
            &agent(),
            now + micros(1),
        )
        .await
        .ticket;
        let t = step(store, &t, Action::Sign, &handler(&market), now + micros(2))
            .await
            .ticket;
        let reply = Action::Reply {
            text: "已处理".into(),
            contacted_citizen: true,
            after: Default::default(),
        };
        let t = step(store, &t, reply, &handler(&market), now + micros(3))
            .await
            .ticket;
        if send_back {
            let back = Action::ReviewReply {
                approve: false,
                note: "答复不充分".into(),
                callback_deadline: None,
            };
            step(store, &t, back, &agent(), now + micros(4)).await;
        }
    }
    // A complaint on 01.05 declined: received, not accepted.
    let (t, _) = create_at(
        store,
        complaint("330106002", Some("01.05")),
        from + micros(20),
        None,
    )
    .await;
    let decline = Action::MarkNotAccepted {
        channel: LegalChannel::Litigation,
        note: "请依法起诉".into(),
    };
    step(store, &t, decline, &agent(), from + micros(21)).await;
    // An unclassified web enquiry in another district, answered at intake.
    let enquiry = classified(
        intake("330102", RequestType::Enquiry, None),
        Channel::Web,
        None,
    );
    let (t, _) = create_at(store, enquiry, to - micros(1), None).await;
    let answer = Action::ResolveAtIntake {
        answer: "已告知办理流程".into(),
        article_ids: Vec::new(),
    };
    step(store, &t, answer, &agent(), to + micros(1)).await;

    let mut cells = store
        .ticket_volumes(from, to)
        .await
        .expect("ticket_volumes");
    cells.sort_by(|a, b| {
        (
            a.request_type.to_string(),
            a.channel.to_string(),
            &a.subject,
            &a.district,
        )
            .cmp(&(
                b.request_type.to_string(),
                b.channel.to_string(),
                &b.subject,
                &b.district,
            ))
    });
    let cell = |request_type, channel, subject: Option<&str>, counts: [i64; 4]| VolumeCell {
        request_type,
        channel,
        subject: subject.map(str::to_owned),
        district: match request_type {
            RequestType::Enquiry => "330102".into(),
            _ => "330106".into(),
        },
        received: counts[0],
        accepted: counts[1],
        answered_at_intake: counts[2],
        replied_by_unit: counts[3],
    };
    assert_eq!(
        cells,
        vec![
            cell(
                RequestType::Complaint,
                Channel::Phone,
                Some("01"),
                [3, 2, 0, 1]
            ),
            cell(RequestType::Enquiry, Channel::Web, None, [1, 1, 1, 0]),
        ],
        "one cell per (type, channel, first subject segment, district)"
    );
    let empty = store
        .ticket_volumes(to + TimeDelta::days(1), to + TimeDelta::days(2))
        .await
        .expect("ticket_volumes");
    assert!(empty.is_empty(), "a period without tickets has no cells");
}
