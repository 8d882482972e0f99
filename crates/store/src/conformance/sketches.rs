//! Duplicate search's narrow reads: each ticket's stored text sketch
//! follows its text, the sketch list reads in the ticket list's order, a
//! row stored before sketches gets one from its text, and the candidates
//! shown are read whole by id.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{Store, TicketQuery, testing::TestBackend};
use hotline_domain::{
    Action, lifecycle::IntakePatch, text_enum::TextEnum, ticket::RequestType, ticket::Ticket,
};

use super::{
    events::execute,
    fixtures::{agent, create_at, full_intake, intake, micros, step, t0},
};

/// The sketch the store computes for a ticket's current text.
async fn sketch_of(store: &dyn Store, t: &Ticket) -> hotline_domain::duplicates::TextSketch {
    store
        .text_sketch(&t.intake.title, &t.intake.description)
        .await
        .expect("text_sketch")
}

/// Intake stores the sketch of the ticket's text; a correction of the
/// description replaces it (the new text is found, the old one no longer
/// is) while a state change keeps it; a row whose sketch is missing (as
/// before migration 029) reads with the sketch of its text; the list of
/// sketches has the ticket list's rows in its order; tickets read by id
/// are the stored ones, unknown ids left out.
pub async fn sketches_follow_the_text_and_read_like_the_list(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let store = database.clone().open().await;
    let store = &*store;
    let (a, _) = create_at(store, full_intake(), t0(), None).await;
    let mut lamp = intake("330106", RequestType::Help, Some("13900001111"));
    lamp.title = "路灯不亮".into();
    lamp.description = "文三路90号小区门口的路灯坏了一周，晚上很黑".into();
    let (b, _) = create_at(store, lamp, t0() + micros(1), None).await;

    let all = TicketQuery::all(10);
    let listed: Vec<_> = store
        .list_tickets(&all)
        .await
        .expect("list")
        .iter()
        .map(|t| t.id)
        .collect();
    let sketches = store.list_ticket_sketches(&all).await.expect("sketches");
    let ids: Vec<_> = sketches.iter().map(|s| s.id).collect();
    assert_eq!(ids, listed, "the list's rows in its order");
    assert_eq!(ids, vec![b.id, a.id]);
    assert_eq!(
        sketches[0].sketch,
        sketch_of(store, &b).await,
        "written at intake"
    );
    assert_eq!(sketches[0].create_time, b.create_time);
    assert_eq!(sketches[0].state.code(), b.state.code());
    assert_eq!(sketches[1].sketch, sketch_of(store, &a).await);
    assert!(sketches[0].sketch.similarity(&sketches[1].sketch) < 0.15);

    // A correction of the description: the sketch is the new text's.
    let old_text = sketch_of(store, &b).await;
    let mut values = b.intake.clone();
    values.description = "学院路口垃圾桶满了三天没人清运，气味很大".into();
    let patch = IntakePatch {
        values: Some(Box::new(values)),
        fields: vec!["description".into()],
        region_note: None,
    };
    let corrected = step(
        store,
        &b,
        Action::Update(patch),
        &agent(),
        t0() + TimeDelta::minutes(1),
    )
    .await;
    let b = corrected.ticket;
    let now = store.list_ticket_sketches(&all).await.expect("sketches");
    assert_eq!(now[0].id, b.id);
    assert_eq!(now[0].sketch, sketch_of(store, &b).await, "the new text's");
    assert!(
        now[0].sketch.similarity(&old_text) < 0.5,
        "not the old text's"
    );

    // A change of anything else keeps it.
    let mut values = b.intake.clone();
    values.address = "学院路 1 号".into();
    let patch = IntakePatch {
        values: Some(Box::new(values)),
        fields: vec!["address".into()],
        region_note: None,
    };
    let b = step(
        store,
        &b,
        Action::Update(patch),
        &agent(),
        t0() + TimeDelta::minutes(2),
    )
    .await
    .ticket;
    let kept = store.list_ticket_sketches(&all).await.expect("sketches");
    assert_eq!(kept[0].sketch, now[0].sketch);

    // A row without a sketch (written before they were stored).
    let (url, schema) = database.location();
    execute(
        backend,
        url,
        schema,
        format!(
            "UPDATE tickets SET text_sketch = NULL WHERE id = '{}'",
            a.id
        ),
    )
    .await;
    let lazy = store.list_ticket_sketches(&all).await.expect("sketches");
    assert_eq!(lazy[1].id, a.id);
    assert_eq!(
        lazy[1].sketch,
        sketch_of(store, &a).await,
        "computed from its text"
    );

    // Read back by id.
    let unknown = hotline_domain::TicketId::generate(t0());
    let mut whole = store
        .get_tickets(&[a.id, unknown, b.id])
        .await
        .expect("get_tickets");
    whole.sort_by_key(|t| t.create_time);
    assert_eq!(whole, vec![a, b]);
    assert!(store.get_tickets(&[]).await.expect("none").is_empty());
}
