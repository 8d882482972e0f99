//! Safe retries: a `request_id` is bound to its request, concurrent retries
//! all get the one result, and retries leave no gap in the ticket numbers.

use chrono::TimeDelta;
use hotline::{
    domain::Clock,
    proto::v1 as pb,
    store::{TicketQuery, testing::TestBackend},
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{
    As, authed, complaint, error_reason, spawn_app, spawn_app_on, spawn_app_with,
};

/// The `ErrorInfo` reason and its `resource`, and the `BadRequest` fields.
fn refusal(status: &tonic::Status) -> (Code, String, String, Vec<String>) {
    let (reason, fields) = error_reason(status);
    let resource = status
        .get_error_details()
        .error_info()
        .and_then(|i| i.metadata.get("resource").cloned())
        .unwrap_or_default();
    (status.code(), reason, resource, fields)
}

async fn sign_with_id(
    unit: &mut As,
    name: &str,
    etag: &str,
    request_id: &str,
) -> Result<pb::Ticket, tonic::Status> {
    unit.dispatch
        .sign_ticket(authed(
            &unit.token,
            pb::SignTicketRequest {
                name: name.into(),
                etag: etag.into(),
                request_id: request_id.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().ticket.unwrap())
}

fn other_complaint() -> pb::Ticket {
    pb::Ticket {
        title: "另一件事：路灯不亮".into(),
        ..complaint()
    }
}

/// Found: CreateTicket with a used `request_id` and a different payload
/// silently returned the first ticket, and the second request was lost.
/// Now it is INVALID_ARGUMENT `REQUEST_ID_REUSED` naming the first ticket,
/// like a verb reusing a key, and nothing is written.
#[tokio::test]
async fn a_request_id_reused_with_another_payload_is_refused_naming_the_first_result() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let first = agent.create_with_id(complaint(), "reuse-1").await;
    let err = agent
        .try_create(other_complaint(), "reuse-1")
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&err),
        (
            Code::InvalidArgument,
            "REQUEST_ID_REUSED".to_owned(),
            first.name.clone(),
            vec!["request_id".to_owned()]
        ),
        "{err:?}"
    );
    let stored = app.store.list_tickets(&TicketQuery::all(10)).await.unwrap();
    assert_eq!(stored.len(), 1, "the refused create wrote nothing");
    // The same request again is still a retry.
    let again = agent.create_with_id(complaint(), "reuse-1").await;
    assert_eq!(again.name, first.name);

    // A verb: the same key with another etag is another request.
    let mut unit = app.unit_user("market-regulation");
    agent
        .dispatch_to(&first.name, "market-regulation")
        .await
        .unwrap();
    let signed = sign_with_id(&mut unit, &first.name, "", "sign-1")
        .await
        .unwrap();
    let err = sign_with_id(&mut unit, &first.name, &signed.etag, "sign-1")
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&err),
        (
            Code::InvalidArgument,
            "REQUEST_ID_REUSED".to_owned(),
            first.name.clone(),
            vec!["request_id".to_owned()]
        ),
        "{err:?}"
    );

    // CreateUnit: the same key for another unit.
    let mut admin = app.admin();
    let unit_request = |id: &str, name: &str| pb::CreateUnitRequest {
        unit_id: id.into(),
        unit: Some(pb::Unit {
            display_name: name.into(),
            kind: pb::UnitKind::Company as i32,
            region_code: "330100".into(),
            ..Default::default()
        }),
        request_id: "unit-1".into(),
    };
    admin
        .directory
        .create_unit(authed(
            &admin.token,
            unit_request("water-company", "自来水公司"),
        ))
        .await
        .unwrap();
    let err = admin
        .directory
        .create_unit(authed(
            &admin.token,
            unit_request("gas-company", "燃气公司"),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refusal(&err),
        (
            Code::InvalidArgument,
            "REQUEST_ID_REUSED".to_owned(),
            "units/water-company".to_owned(),
            vec!["request_id".to_owned()]
        ),
        "{err:?}"
    );
}

/// Found: 10 concurrent SignTicket retries with one `request_id` — in 4 of
/// 8 rounds one or two callers got FAILED_PRECONDITION "cannot sign a
/// ticket in state in_progress" instead of the replay. Every caller now
/// gets the one signed ticket, and the ticket is signed once, in each of
/// 20 rounds (enough for the race to show reliably before the fix).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_of_a_verb_all_get_the_one_result() {
    const ROUNDS: usize = 20;
    const RACERS: usize = 10;
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let unit = app.unit_user("market-regulation");
    for round in 0..ROUNDS {
        let t = agent.create(complaint()).await;
        agent
            .dispatch_to(&t.name, "market-regulation")
            .await
            .unwrap();
        let request_id = format!("sign-{round}");
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (mut unit, name, request_id) =
                    (unit.clone(), t.name.clone(), request_id.clone());
                let start = start.clone();
                tokio::spawn(async move {
                    start.wait().await;
                    sign_with_id(&mut unit, &name, "", &request_id).await
                })
            })
            .collect();
        let mut signed = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(ticket) => signed.push(ticket),
                Err(e) => panic!("round {round}: a retry must replay, got {e:?}"),
            }
        }
        assert!(
            signed
                .windows(2)
                .all(|w| w[0].etag == w[1].etag && w[0].state == w[1].state),
            "round {round}: one result for all: {:?}",
            signed
                .iter()
                .map(|t| (&t.etag, t.state))
                .collect::<Vec<_>>()
        );
        let kinds: Vec<String> = agent
            .events(&t.name)
            .await
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["created", "dispatched", "signed"], "round {round}");
    }
}

/// Found: idempotent retries burned ticket numbers (1,232 retries made
/// most of the number gaps of one run). A create, its retries — one after
/// another and racing each other — and a refused reuse of its key leave
/// the day's numbers consecutive.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_do_not_burn_ticket_numbers() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let first = agent.create_with_id(complaint(), "numbered-1").await;
    for _ in 0..5 {
        let again = agent.create_with_id(complaint(), "numbered-1").await;
        assert_eq!(again.number, first.number);
    }
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let mut agent = agent.clone();
            tokio::spawn(async move { agent.create_with_id(complaint(), "numbered-1").await })
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.await.unwrap().number, first.number);
    }
    let n = |t: &pb::Ticket| t.number.parse::<u64>().unwrap();
    let second = agent.create(complaint()).await;
    assert_eq!(
        n(&second),
        n(&first) + 1,
        "13 retries, and the next ticket follows the first: {} {}",
        first.number,
        second.number
    );
    agent
        .try_create(other_complaint(), "numbered-1")
        .await
        .expect_err("the key reused with another request is refused");
    let third = agent.create_with_id(complaint(), "numbered-3").await;
    assert_eq!(
        n(&third),
        n(&second) + 1,
        "a refused reuse uses no number either: {} {}",
        second.number,
        third.number
    );
}

/// Keys expire: one first used longer ago than `idempotency.retention_hours`
/// is deleted by a server's purge (at start, then hourly), and its replay
/// is a new request that creates a second ticket; a key inside the window
/// still replays.
#[tokio::test]
async fn a_replay_after_its_key_expired_creates_a_new_ticket() {
    let database = TestBackend::from_env().fresh_store().await;
    let store = database.store();
    let app = spawn_app_on(database, |s| s.idempotency.retention_hours = 24 * 7).await;
    app.seed_directory().await;
    let mut agent = app.agent();
    let start = app.clock.now();
    app.clock.set(start - TimeDelta::days(8));
    let expired = agent.create_with_id(complaint(), "old-key").await;
    app.clock.set(start - TimeDelta::days(6));
    let kept = agent.create_with_id(complaint(), "recent-key").await;
    app.clock.set(start);
    let subject = "agent-alice";
    assert!(
        store
            .find_idempotent(subject, "old-key")
            .await
            .unwrap()
            .is_some()
    );

    // This server purged when it started, before the keys were written;
    // another one starting on the database purges now.
    let _second = spawn_app_with(store.clone(), None, |s| {
        s.idempotency.retention_hours = 24 * 7
    })
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if store
            .find_idempotent(subject, "old-key")
            .await
            .unwrap()
            .is_none()
        {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(gone, "the 8-day-old key was purged");
    assert!(
        store
            .find_idempotent(subject, "recent-key")
            .await
            .unwrap()
            .is_some(),
        "the 6-day-old key is kept"
    );

    let replayed = agent.create_with_id(complaint(), "recent-key").await;
    assert_eq!(
        replayed.name, kept.name,
        "inside the window: the first ticket"
    );
    let again = agent.create_with_id(complaint(), "old-key").await;
    assert_ne!(again.name, expired.name, "after expiry: a new ticket");
    assert_ne!(again.number, expired.number);
    assert_eq!(
        agent.get(&expired.name).await.unwrap().name,
        expired.name,
        "the first stays"
    );
    let all = store.list_tickets(&TicketQuery::all(10)).await.unwrap();
    assert_eq!(all.len(), 3, "two keyed creates and the one after expiry");
}
