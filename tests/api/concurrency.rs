//! Retries, stale etags and races: no lost update, no duplicate event.

use hotline::{proto::v1 as pb, store::TicketQuery};
use tonic::Code;

use crate::helpers::{authed, complaint, error_reason, spawn_app};

#[tokio::test]
async fn a_retried_create_returns_the_first_ticket() {
    let app = spawn_app().await;
    app.add_regions(&["330106"]).await;
    let mut agent = app.agent();
    let first = agent.create_with_id(complaint(), "c1d5a7e2-retry").await;
    let again = agent.create_with_id(complaint(), "c1d5a7e2-retry").await;
    assert_eq!(first.name, again.name);
    assert_eq!(first.number, again.number);

    let racers = (0..8).map(|_| {
        let mut agent = agent.clone();
        tokio::spawn(async move {
            agent
                .create_with_id(complaint(), "concurrent-retry")
                .await
                .name
        })
    });
    let names: Vec<String> = futures_join(racers).await;
    assert!(names.windows(2).all(|w| w[0] == w[1]), "{names:?}");
    let stored = app
        .store
        .list_tickets(&TicketQuery::all(100))
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "one ticket per request_id");
}

async fn futures_join<T: Send + 'static>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test]
async fn a_retried_verb_applies_once_and_a_reused_id_elsewhere_is_invalid() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    let request = pb::DispatchTicketRequest {
        name: t.name.clone(),
        lead_unit: "units/market-regulation".into(),
        request_id: "dispatch-once".into(),
        ..Default::default()
    };
    let a = agent
        .dispatch
        .dispatch_ticket(authed(&agent.token, request.clone()))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    let b = agent
        .dispatch
        .dispatch_ticket(authed(&agent.token, request))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(a.etag, b.etag);
    assert_eq!(agent.events(&t.name).await.len(), 2);

    let other = agent.create(complaint()).await;
    let err = agent
        .dispatch
        .dispatch_ticket(authed(
            &agent.token,
            pb::DispatchTicketRequest {
                name: other.name,
                lead_unit: "units/market-regulation".into(),
                request_id: "dispatch-once".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["request_id".to_owned()])
    );
}

/// A retried change that the ticket's new state would allow again (a
/// second title edit is as valid as the first) is caught by its key's
/// record alone: it replays, once, and the key on another ticket is refused.
#[tokio::test]
async fn a_retried_update_still_allowed_by_the_new_state_applies_once() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    let update = |name: &str| pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            name: name.to_owned(),
            title: "工地夜间施工噪音扰民".into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        request_id: "retitle-once".into(),
    };
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            agent
                .tickets
                .update_ticket(authed(&agent.token, update(&t.name)))
                .await
                .unwrap()
                .into_inner()
                .ticket
                .unwrap(),
        );
    }
    assert_eq!(answers[0].etag, answers[1].etag);
    assert_eq!(answers[1].title, "工地夜间施工噪音扰民");
    let events = agent.events(&t.name).await;
    assert_eq!(events.len(), 2, "created and one update: {events:?}");

    let other = agent.create(complaint()).await;
    let err = agent
        .tickets
        .update_ticket(authed(&agent.token, update(&other.name)))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).1),
        (Code::InvalidArgument, vec!["request_id".to_owned()])
    );
    assert_eq!(agent.events(&other.name).await.len(), 1);
}

#[tokio::test]
async fn a_stale_etag_is_aborted() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let t = agent.create(complaint()).await;
    let update = |etag: &str, title: &str| pb::UpdateTicketRequest {
        ticket: Some(pb::Ticket {
            name: t.name.clone(),
            title: title.into(),
            etag: etag.into(),
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["title".into()],
        }),
        request_id: String::new(),
    };
    let updated = agent
        .tickets
        .update_ticket(authed(&agent.token, update(&t.etag, "工地夜间施工噪音")))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap();
    assert_eq!(updated.title, "工地夜间施工噪音");
    assert_ne!(updated.etag, t.etag);

    let err = agent
        .tickets
        .update_ticket(authed(&agent.token, update(&t.etag, "lost update")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(error_reason(&err).0, "ETAG_MISMATCH");
    let err = agent
        .dispatch
        .dispatch_ticket(authed(
            &agent.token,
            pb::DispatchTicketRequest {
                name: t.name.clone(),
                lead_unit: "units/market-regulation".into(),
                etag: t.etag.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(agent.get(&t.name).await.unwrap().title, "工地夜间施工噪音");
}

#[tokio::test]
async fn fifty_concurrent_signs_and_replies_leave_one_valid_history() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let unit = app.unit_user("market-regulation");
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap();

    let tasks = (0..50).map(|i| {
        let mut unit = unit.clone();
        let name = t.name.clone();
        tokio::spawn(async move {
            if i % 2 == 0 {
                unit.sign(&name).await.map(|_| "sign")
            } else {
                unit.reply(&name, &format!("答复 {i}"))
                    .await
                    .map(|_| "reply")
            }
        })
    });
    let results = futures_join(tasks).await;
    let signs = results.iter().filter(|r| matches!(r, Ok("sign"))).count();
    let replies = results.iter().filter(|r| matches!(r, Ok("reply"))).count();
    assert_eq!(signs, 1, "exactly one sign wins");
    assert!(replies <= 1, "at most one reply wins");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e.code(), Code::FailedPrecondition | Code::Aborted),
                "losers see a state or race error, got {e:?}"
            );
        }
    }
    let kinds: Vec<String> = agent
        .events(&t.name)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    let expected: Vec<&str> = if replies == 1 {
        vec!["created", "dispatched", "signed", "replied"]
    } else {
        vec!["created", "dispatched", "signed"]
    };
    assert_eq!(kinds, expected);
    let now = agent.get(&t.name).await.unwrap();
    assert_eq!(now.etag, format!("\"{}\"", kinds.len()));

    // A second wave of 50 replies on the signed ticket: still exactly one.
    if replies == 0 {
        let tasks = (0..50).map(|i| {
            let mut unit = unit.clone();
            let name = t.name.clone();
            tokio::spawn(async move { unit.reply(&name, &format!("答复 {i}")).await.is_ok() })
        });
        let won = futures_join(tasks)
            .await
            .into_iter()
            .filter(|ok| *ok)
            .count();
        assert_eq!(won, 1);
        assert_eq!(agent.events(&t.name).await.len(), 4);
    }
}
