//! The act path's ticket cache: a replica starts a verb from its copy of
//! the ticket it wrote last, and a copy that another replica (or any other
//! writer) overtook never decides the answer: the verb is decided again on
//! the database's state. Two servers share one database here: one store
//! object on either backend, and two pools on PostgreSQL (ignored unless
//! CI's PostgreSQL leg runs it).

use hotline::{proto::v1 as pb, store::testing::TestBackend};
use tonic::Code;

use crate::{
    helpers::{
        As, TestApp, authed, complaint, error_reason, spawn_app, spawn_app_configured,
        spawn_app_on, spawn_app_with,
    },
    ops::Scrape,
};

/// The kinds of a ticket's events, in order.
async fn kinds(who: &mut As, name: &str) -> Vec<String> {
    who.events(name).await.into_iter().map(|e| e.kind).collect()
}

/// SignTicket with an expected etag.
async fn sign_expecting(who: &mut As, name: &str, etag: &str) -> Result<pb::Ticket, tonic::Status> {
    who.dispatch
        .sign_ticket(authed(
            &who.token,
            pb::SignTicketRequest {
                name: name.into(),
                etag: etag.into(),
                ..Default::default()
            },
        ))
        .await
        .map(|r| r.into_inner().ticket.unwrap())
}

/// UpdateTicket of the title: a change that moves the version and leaves
/// the state as it was.
async fn retitle(who: &mut As, name: &str, title: &str) -> pb::Ticket {
    who.tickets
        .update_ticket(authed(
            &who.token,
            pb::UpdateTicketRequest {
                ticket: Some(pb::Ticket {
                    name: name.into(),
                    title: title.into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["title".into()],
                }),
                request_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .ticket
        .unwrap()
}

/// A ticket replica `a` created and dispatched to market regulation, so
/// that `a` holds its copy in the dispatched state.
async fn dispatched_on(a: &TestApp) -> pb::Ticket {
    let mut agent = a.agent();
    let t = agent.create(complaint()).await;
    agent
        .dispatch_to(&t.name, "market-regulation")
        .await
        .unwrap()
}

/// `hotline_ticket_cache_lookups_total{outcome}` of a replica.
async fn lookups(app: &TestApp, outcome: &str) -> f64 {
    Scrape::of(app)
        .await
        .get(
            "hotline_ticket_cache_lookups_total",
            &[&format!("outcome=\"{outcome}\"")],
        )
        .unwrap_or(0.0)
}

/// Replica `b` changes tickets `a` holds copies of; `a`'s verbs then behave
/// exactly as on a fresh read of the database.
async fn cached_copies_never_decide(a: &TestApp, b: &TestApp) {
    a.seed_directory().await;
    let mut unit_a = a.unit_user("market-regulation");
    let mut unit_b = b.unit_user("market-regulation");
    let mut agent_b = b.agent();

    // The database's state forbids it (B signed first): refused, once.
    let t = dispatched_on(a).await;
    unit_b.sign(&t.name).await.unwrap();
    let err = unit_a.sign(&t.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(
        kinds(&mut unit_a, &t.name).await,
        ["created", "dispatched", "signed"]
    );

    // A's copy (dispatched) forbids a reply, the database's (signed)
    // allows it: applied, once, and answered as the database now holds it.
    let t = dispatched_on(a).await;
    unit_b.sign(&t.name).await.unwrap();
    let replied = unit_a.reply(&t.name, "已责令停工").await.unwrap();
    assert_eq!(
        kinds(&mut unit_a, &t.name).await,
        ["created", "dispatched", "signed", "replied"]
    );
    assert_eq!(replied, unit_a.get(&t.name).await.unwrap());

    // A's copy has the client's (stale) etag, the database has moved on:
    // ABORTED with the database's etag, nothing written.
    let t = dispatched_on(a).await;
    let moved = retitle(&mut agent_b, &t.name, "夜间施工噪音").await;
    let err = sign_expecting(&mut unit_a, &t.name, &t.etag)
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), error_reason(&err).0.as_str()),
        (Code::Aborted, "ETAG_MISMATCH")
    );
    assert!(err.message().contains(&moved.etag), "{err:?}");
    assert_eq!(
        kinds(&mut unit_a, &t.name).await,
        ["created", "dispatched", "updated"]
    );

    // The client has the database's etag, A's copy an older one: applied
    // on the database's ticket (B's title kept), once.
    let t = dispatched_on(a).await;
    let moved = retitle(&mut agent_b, &t.name, "夜间施工噪音").await;
    let signed = sign_expecting(&mut unit_a, &t.name, &moved.etag)
        .await
        .unwrap();
    assert_eq!(signed.title, "夜间施工噪音");
    assert_eq!(signed.state, pb::TicketState::InProgress as i32);
    assert_eq!(
        kinds(&mut unit_a, &t.name).await,
        ["created", "dispatched", "updated", "signed"]
    );

    // Each of the four dispatches and the four verbs above started from
    // A's copy; the four verbs' copies were stale and decided again.
    assert_eq!(
        (
            lookups(a, "hit").await,
            lookups(a, "miss").await,
            lookups(a, "stale").await
        ),
        (8.0, 0.0, 4.0)
    );
}

#[tokio::test]
async fn two_servers_on_one_store_decide_verbs_on_the_database_state() {
    let a = spawn_app().await;
    let b = spawn_app_with(a.store.clone(), None, |_| {}).await;
    cached_copies_never_decide(&a, &b).await;
}

#[tokio::test]
#[ignore = "PostgreSQL only; CI's PostgreSQL leg runs it"]
async fn two_replicas_on_one_postgresql_decide_verbs_on_the_database_state() {
    let backend = TestBackend::Postgres(TestBackend::postgres_url());
    let (first, second) = backend.fresh_store_pair().await;
    let a = spawn_app_on(first, |_| {}).await;
    let b = spawn_app_on(second, |_| {}).await;
    cached_copies_never_decide(&a, &b).await;
}

/// A lifecycle on one server: every verb after intake starts from the copy
/// the previous write left, and answers what the database then holds.
#[tokio::test]
async fn a_lifecycle_on_one_server_reads_its_ticket_only_at_intake() {
    let app = spawn_app().await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation");
    let t = dispatched_on(&app).await;
    unit.sign(&t.name).await.unwrap();
    let replied = unit.reply(&t.name, "已责令停工").await.unwrap();
    assert_eq!(replied, unit.get(&t.name).await.unwrap());
    assert_eq!(
        (
            lookups(&app, "hit").await,
            lookups(&app, "miss").await,
            lookups(&app, "stale").await
        ),
        (3.0, 0.0, 0.0)
    );
}

/// `workflow.ticket_cache_entries = 0`: every verb reads its ticket.
#[tokio::test]
async fn a_cache_of_no_entries_reads_every_ticket() {
    let app = spawn_app_configured(|s| s.workflow.ticket_cache_entries = 0).await;
    app.seed_directory().await;
    let mut unit = app.unit_user("market-regulation");
    let t = dispatched_on(&app).await;
    let signed = unit.sign(&t.name).await.unwrap();
    assert_eq!(signed.state, pb::TicketState::InProgress as i32);
    assert_eq!(
        lookups(&app, "hit").await + lookups(&app, "miss").await,
        0.0
    );
}
