//! Merging duplicates (并单) through the gRPC client: MergeTickets,
//! UnmergeTicket, what GetTicket shows of a merge, the callbacks of merged
//! callers and the scorecard (ListDuplicateCandidates: `duplicates.rs`). Run on SQLite here and on PostgreSQL in CI's
//! PostgreSQL leg (the whole suite with `TEST_DATABASE_URL`).

use hotline::{
    domain::{Clock, TicketId},
    proto::v1 as pb,
};
use tonic::Code;

use crate::{
    deadlines::{beijing, dispatched},
    helpers::{As, TestApp, authed, complaint, error_reason, spawn_app},
    metrics::ratio,
    routing::seed_city,
};

/// A complaint from `phone` about `title` / `description`, waiting for
/// dispatch (a region with no unit of its own).
pub(crate) fn call(phone: &str, title: &str, description: &str) -> pb::Ticket {
    let mut t = complaint();
    t.region_code = "330100".into();
    t.caller = Some(pb::Caller {
        name: "王五".into(),
        phone: phone.into(),
        anonymous: false,
    });
    t.title = title.into();
    t.description = description.into();
    t
}

pub(crate) const NOISE: (&str, &str) = (
    "工地夜间施工噪音",
    "文三路工地每天晚上十一点以后还在打桩，严重影响休息",
);
pub(crate) const NOISE_AGAIN: (&str, &str) = (
    "夜间施工扰民",
    "文三路工地每天晚上十一点后还在打桩施工，影响休息",
);

impl As {
    pub(crate) async fn merge(
        &mut self,
        primary: &str,
        duplicates: &[&str],
        request_id: &str,
    ) -> Result<pb::MergeTicketsResponse, tonic::Status> {
        self.dispatch
            .merge_tickets(authed(
                &self.token,
                pb::MergeTicketsRequest {
                    primary: primary.into(),
                    duplicates: duplicates.iter().map(|d| (*d).to_owned()).collect(),
                    reason: "同一工地夜间施工".into(),
                    request_id: request_id.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub(crate) async fn unmerge(
        &mut self,
        name: &str,
    ) -> Result<pb::UnmergeTicketResponse, tonic::Status> {
        self.dispatch
            .unmerge_ticket(authed(
                &self.token,
                pb::UnmergeTicketRequest {
                    name: name.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}

pub(crate) async fn pii_reads(app: &TestApp, name: &str) -> i64 {
    let id = TicketId::from_name(name).unwrap();
    app.store.count_pii_access(id).await.unwrap()
}

#[tokio::test]
async fn a_merge_closes_the_duplicates_links_both_ways_and_keeps_every_caller() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let d1 = agent
        .create(call("13900000002", NOISE_AGAIN.0, NOISE_AGAIN.1))
        .await;
    let d2 = agent.create(call("13700000003", NOISE.0, NOISE.1)).await;
    agent
        .dispatch_to(&d1.name, "market-regulation")
        .await
        .unwrap();

    let merged = agent
        .merge(&primary.name, &[&d1.name, &d2.name], "")
        .await
        .unwrap();
    let p = merged.primary.unwrap();
    assert_eq!(p.state, pb::TicketState::PendingDispatch as i32);
    assert_eq!(merged.duplicates.len(), 2);
    for (d, name) in merged.duplicates.iter().zip([&d1.name, &d2.name]) {
        assert_eq!(&d.name, name, "in request order");
        assert_eq!(d.state, pb::TicketState::Merged as i32);
        assert_eq!(
            d.outcome.as_ref().unwrap().close_reason,
            pb::CloseReason::Merged as i32
        );
        assert_eq!(d.merged_into, primary.name);
    }

    // The primary shows its duplicates and their callers; the view of the
    // callers is recorded for every ticket it showed.
    let before = pii_reads(&app, &d1.name).await;
    let shown = agent.get(&primary.name).await.unwrap();
    let mut listed: Vec<(String, String)> = shown
        .merged_tickets
        .iter()
        .map(|m| (m.name.clone(), m.caller.clone().unwrap().phone))
        .collect();
    listed.sort();
    let mut expected = vec![
        (d1.name.clone(), "13900000002".to_owned()),
        (d2.name.clone(), "13700000003".to_owned()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(shown.merged_tickets.iter().all(|m| m.merge_time.is_some()));
    assert_eq!(pii_reads(&app, &d1.name).await, before + 1);
    assert_eq!(pii_reads(&app, &d2.name).await, before + 1);
    assert_eq!(pii_reads(&app, &primary.name).await, 1);

    // The duplicate names its primary; both trails record the merge.
    let dup = agent.get(&d1.name).await.unwrap();
    assert_eq!(dup.merged_into, primary.name);
    assert!(dup.merged_tickets.is_empty());
    let kinds = |events: Vec<pb::TicketEvent>| -> Vec<String> {
        events.into_iter().map(|e| e.kind).collect()
    };
    assert_eq!(
        kinds(agent.events(&primary.name).await),
        ["created", "merged_from"]
    );
    assert_eq!(
        kinds(agent.events(&d1.name).await),
        ["created", "dispatched", "merged_into"]
    );

    // A unit sees the merged callers masked.
    let mut unit = app.unit_user("market-regulation");
    let masked = unit.get(&d1.name).await.unwrap();
    assert_eq!(masked.state, pb::TicketState::Merged as i32);
}

#[tokio::test]
async fn only_the_centre_merges() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let dup = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    agent
        .dispatch_to(&primary.name, "market-regulation")
        .await
        .unwrap();
    agent
        .dispatch_to(&dup.name, "market-regulation")
        .await
        .unwrap();
    let mut unit = app.unit_user("market-regulation");
    let err = unit
        .merge(&primary.name, &[&dup.name], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = unit
        .candidates(pb::ListDuplicateCandidatesRequest {
            name: primary.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        agent.get(&dup.name).await.unwrap().state,
        pb::TicketState::Dispatched as i32,
        "nothing merged"
    );
    let mut supervisor = app.supervisor("330100");
    supervisor
        .merge(&primary.name, &[&dup.name], "")
        .await
        .expect("a supervisor of the region is centre staff");
}

#[tokio::test]
async fn forbidden_merges_name_the_ticket_and_change_nothing() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let open = agent.create(call("13800000002", NOISE.0, NOISE.1)).await;
    let replied = agent.create(call("13800000003", NOISE.0, NOISE.1)).await;
    agent
        .dispatch_to(&replied.name, "market-regulation")
        .await
        .unwrap();
    unit.sign(&replied.name).await.unwrap();
    unit.reply(&replied.name, "已处理").await.unwrap();

    let err = agent
        .merge(&primary.name, &[&open.name, &replied.name], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&replied.name), "{}", err.message());
    assert_eq!(error_reason(&err).0, "TICKET_STATE");
    assert_eq!(
        agent.get(&open.name).await.unwrap().state,
        pb::TicketState::PendingDispatch as i32,
        "the other duplicate is not merged either"
    );
    assert_eq!(agent.get(&primary.name).await.unwrap().etag, primary.etag);

    // A replied primary takes no duplicates.
    let err = agent
        .merge(&replied.name, &[&open.name], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&replied.name), "{}", err.message());

    // Bad requests: self-merge, none, not a name, unknown ticket.
    let err = agent
        .merge(&primary.name, &[&primary.name], "")
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["duplicates[0]".to_owned()])
    );
    let err = agent.merge(&primary.name, &[], "").await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = agent
        .merge(&primary.name, &["tickets/x"], "")
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).1, vec!["duplicates[0]".to_owned()]);
    let unknown = TicketId::generate(app.clock.now()).name();
    let err = agent
        .merge(&primary.name, &[&unknown], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // A blank reason is the request's own fault, found before any lookup.
    let blank = pb::MergeTicketsRequest {
        primary: primary.name.clone(),
        duplicates: vec![unknown],
        reason: " ".into(),
        ..Default::default()
    };
    let err = agent
        .dispatch
        .merge_tickets(authed(&agent.token, blank))
        .await;
    let err = err.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["reason".to_owned()])
    );

    // No chains: a primary with duplicates is not merged into another.
    agent.merge(&primary.name, &[&open.name], "").await.unwrap();
    let other = agent.create(call("13800000004", NOISE.0, NOISE.1)).await;
    let err = agent
        .merge(&other.name, &[&primary.name], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "MERGE_CHAIN");
    // Nor is a merged ticket merged again.
    let err = agent
        .merge(&other.name, &[&open.name], "")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&open.name), "{}", err.message());
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_a_retried_merge_replays() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let dup = agent.create(call("13800000002", NOISE.0, NOISE.1)).await;
    let stale = agent
        .dispatch
        .merge_tickets(authed(
            &agent.token,
            pb::MergeTicketsRequest {
                primary: primary.name.clone(),
                duplicates: vec![dup.name.clone()],
                reason: "同一事项".into(),
                etag: "\"0\"".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    let first = agent
        .merge(&primary.name, &[&dup.name], "merge-once")
        .await
        .unwrap();
    let again = agent
        .merge(&primary.name, &[&dup.name], "merge-once")
        .await
        .expect("a retry replays");
    assert_eq!(again.primary, first.primary);
    assert_eq!(again.duplicates, first.duplicates);
    assert_eq!(agent.events(&primary.name).await.len(), 2, "merged once");
}

#[tokio::test]
async fn unmerge_restores_the_duplicate_until_the_primary_replies() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let dup = agent.create(call("13800000002", NOISE.0, NOISE.1)).await;
    let later = agent.create(call("13800000003", NOISE.0, NOISE.1)).await;
    agent
        .dispatch_to(&dup.name, "market-regulation")
        .await
        .unwrap();
    unit.sign(&dup.name).await.unwrap();
    agent
        .merge(&primary.name, &[&dup.name, &later.name], "")
        .await
        .unwrap();

    let undone = agent.unmerge(&dup.name).await.unwrap();
    let back = undone.ticket.unwrap();
    assert_eq!(back.state, pb::TicketState::InProgress as i32);
    assert!(back.merged_into.is_empty());
    assert_eq!(
        back.outcome.unwrap().close_reason,
        pb::CloseReason::Unspecified as i32
    );
    assert_eq!(undone.primary.unwrap().name, primary.name);
    let shown = agent.get(&primary.name).await.unwrap();
    let left: Vec<&str> = shown
        .merged_tickets
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(left, [later.name.as_str()]);
    assert_eq!(
        agent.events(&dup.name).await.last().unwrap().kind,
        "unmerged"
    );

    // Not merged (any more): nothing to undo.
    let err = agent.unmerge(&dup.name).await.unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::FailedPrecondition, "NOT_MERGED")
    );
    // Once the primary is replied, the merge stands.
    agent
        .dispatch_to(&primary.name, "market-regulation")
        .await
        .unwrap();
    unit.sign(&primary.name).await.unwrap();
    unit.reply(&primary.name, "已责令停工").await.unwrap();
    let err = agent.unmerge(&later.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains(&primary.name), "{}", err.message());
    // A unit cannot undo a merge.
    let err = unit.unmerge(&later.name).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn every_merged_caller_is_called_back_on_the_primary() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    let primary = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let dup = agent.create(call("13900000002", NOISE.0, NOISE.1)).await;
    let stranger = agent.create(call("13700000003", NOISE.0, NOISE.1)).await;
    let late = agent.create(call("13600000004", NOISE.0, NOISE.1)).await;
    agent
        .merge(&primary.name, &[&dup.name, &late.name], "")
        .await
        .unwrap();
    let callback =
        |merged_caller: &str, satisfaction: pb::Satisfaction| pb::RecordCallbackRequest {
            name: primary.name.clone(),
            satisfaction: satisfaction as i32,
            resolved: true,
            merged_caller: merged_caller.into(),
            ..Default::default()
        };
    // Not before the primary is replied.
    let err = agent
        .dispatch
        .record_callback(authed(
            &agent.token,
            callback(&dup.name, pb::Satisfaction::Satisfied),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);

    agent
        .dispatch_to(&primary.name, "market-regulation")
        .await
        .unwrap();
    unit.sign(&primary.name).await.unwrap();
    unit.reply(&primary.name, "已责令夜间停工").await.unwrap();
    let with_comment = pb::RecordCallbackRequest {
        comment: "夜里不再施工了".into(),
        ..callback(&dup.name, pb::Satisfaction::BasicallySatisfied)
    };
    let after = agent
        .dispatch
        .record_callback(authed(&agent.token, with_comment))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(
        after.state,
        pb::TicketState::AwaitingCallback as i32,
        "the primary's own caller is still to be called"
    );
    let shown = agent.get(&primary.name).await.unwrap();
    let merged = shown
        .merged_tickets
        .iter()
        .find(|m| m.name == dup.name)
        .unwrap();
    assert_eq!(
        (
            merged.satisfaction,
            merged.resolved,
            merged.callback_time.is_some()
        ),
        (pb::Satisfaction::BasicallySatisfied as i32, true, true)
    );
    let last = agent.events(&primary.name).await.pop().unwrap();
    assert_eq!(last.kind, "merged_caller_called_back");
    let payload = last.payload.unwrap();
    assert_eq!(
        payload.fields["duplicate"].kind,
        Some(prost_types::value::Kind::StringValue(dup.name.clone()))
    );
    assert_eq!(
        payload.fields["comment"].kind,
        Some(prost_types::value::Kind::StringValue(
            "夜里不再施工了".into()
        )),
        "what the merged caller said is kept with their call"
    );

    // Only callers merged into this ticket.
    let err = agent
        .dispatch
        .record_callback(authed(
            &agent.token,
            callback(&stranger.name, pb::Satisfaction::Satisfied),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::FailedPrecondition, "NOT_MERGED")
    );
    // The primary's own callback closes the round as before.
    let rated = agent
        .rate(&primary.name, pb::Satisfaction::Satisfied, true)
        .await;
    assert_eq!(rated.state, pb::TicketState::CallbackDone as i32);
    // A merged caller not reached before the primary closed is still owed
    // the call, and it is recorded on the closed primary.
    let closed = agent.close(&primary.name).await;
    assert_eq!(closed.state, pb::TicketState::Closed as i32);
    let after_close = agent
        .dispatch
        .record_callback(authed(
            &agent.token,
            callback(&late.name, pb::Satisfaction::Satisfied),
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(after_close.state, pb::TicketState::Closed as i32);
    let last = agent.events(&primary.name).await.pop().unwrap();
    assert_eq!(last.kind, "merged_caller_called_back");
    // Once only on a closed ticket: its ratings are final.
    for merged_caller in [&late.name, &dup.name] {
        let err = agent
            .dispatch
            .record_callback(authed(
                &agent.token,
                callback(merged_caller, pb::Satisfaction::Dissatisfied),
            ))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code(), error_reason(&err).0.as_str()),
            (Code::FailedPrecondition, "CALLED_BACK"),
            "{merged_caller}"
        );
    }
}

/// A month's scorecard counts a merged matter once: three calls about one
/// site dispatched to the same unit, two of them merged into the first.
#[tokio::test]
async fn a_months_scorecard_counts_a_merged_matter_once() {
    let app = spawn_app().await;
    seed_city(&app).await;
    let mut agent = app.agent();
    let mut unit = app.unit_user("market-regulation");
    app.clock.set(beijing(2026, 11, 2, 10, 0));
    let primary = dispatched(&app, |_| {}).await;
    let signed = dispatched(&app, |_| {}).await;
    let unsigned = dispatched(&app, |_| {}).await;
    unit.sign(&primary.name).await.unwrap();
    unit.sign(&signed.name).await.unwrap();
    let before = agent.scorecard("units/market-regulation").await.unwrap();
    assert_eq!(ratio(&before, "timely_sign_for"), (2, 3));

    app.clock.set(beijing(2026, 11, 3, 10, 0));
    agent
        .merge(&primary.name, &[&signed.name, &unsigned.name], "")
        .await
        .unwrap();
    app.clock.set(beijing(2026, 11, 5, 10, 0));
    unit.reply(&primary.name, "已处理").await.unwrap();
    agent
        .rate(&primary.name, pb::Satisfaction::Satisfied, true)
        .await;
    // The unsigned duplicate's deadline passes: it is merged, not overdue.
    let mut admin = app.admin();
    app.clock.set(beijing(2026, 11, 24, 10, 0));
    admin
        .supervision
        .run_sweep(authed(&admin.token, pb::RunSweepRequest {}))
        .await
        .unwrap();

    let card = agent.scorecard("units/market-regulation").await.unwrap();
    assert_eq!(
        ratio(&card, "timely_sign_for"),
        (1, 1),
        "one matter, signed on time"
    );
    assert_eq!(ratio(&card, "completion"), (1, 1));
    assert_eq!(ratio(&card, "on_time_completion"), (1, 1));
    assert_eq!(ratio(&card, "satisfaction"), (1, 1));
    assert_eq!(card.overdue, 0);

    // The counters are what the event log replays to.
    let ids: Vec<TicketId> = [&primary, &signed, &unsigned]
        .iter()
        .map(|t| TicketId::from_name(&t.name).unwrap())
        .collect();
    let events = app.store.events_of_tickets(&ids).await.unwrap();
    let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let (stored, recomputed) =
        hotline::store::testing::stored_and_replayed_counters(app.store.as_ref(), events, offset)
            .await
            .unwrap();
    assert_eq!(stored, recomputed);
}

/// Two agents merge the same duplicates into different primaries at once:
/// one merge wins whole, the other is refused (ABORTED for the lost race,
/// or FAILED_PRECONDITION if it read the tickets after the winner
/// committed) and leaves no trace on its primary.
#[tokio::test]
async fn concurrent_merges_of_one_duplicate_commit_once_and_whole() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let left = agent.create(call("13800000001", NOISE.0, NOISE.1)).await;
    let right = agent.create(call("13800000002", NOISE.0, NOISE.1)).await;
    let a = agent.create(call("13800000003", NOISE.0, NOISE.1)).await;
    let b = agent.create(call("13800000004", NOISE.0, NOISE.1)).await;
    for _ in 0..3 {
        let (mut one, mut two) = (app.agent(), app.agent());
        let before = [
            agent.events(&left.name).await.len(),
            agent.events(&right.name).await.len(),
        ];
        let (ab, ba) = ([a.name.as_str(), &b.name], [b.name.as_str(), &a.name]);
        let (x, y) = tokio::join!(
            one.merge(&left.name, &ab, ""),
            two.merge(&right.name, &ba, ""),
        );
        let (won, lost, loser, had) = match (x, y) {
            (Ok(w), Err(l)) => (w, l, &right, before[1]),
            (Err(l), Ok(w)) => (w, l, &left, before[0]),
            other => panic!("exactly one merge must win: {other:?}"),
        };
        assert!(
            matches!(lost.code(), Code::Aborted | Code::FailedPrecondition),
            "{lost:?}"
        );
        let winner = won.primary.unwrap().name;
        for d in [&a, &b] {
            assert_eq!(agent.get(&d.name).await.unwrap().merged_into, winner);
        }
        assert_eq!(
            agent.events(&loser.name).await.len(),
            had,
            "nothing of the lost merge was written"
        );
        // Undo for the next round.
        agent.unmerge(&a.name).await.unwrap();
        agent.unmerge(&b.name).await.unwrap();
    }
}
