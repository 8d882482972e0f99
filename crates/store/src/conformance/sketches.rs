//! Duplicate search's narrow reads: each ticket's stored text sketch
//! follows its text, the sketch list reads in the ticket list's order, a
//! row stored before sketches gets one from its text, the candidates
//! shown are read whole by id, and a place's open tickets read as one
//! part give what the per-state parts gave.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::{Store, TicketQuery, testing::TestBackend};
use hotline_domain::{
    Action, lifecycle::IntakePatch, text_enum::TextEnum, ticket::RequestType, ticket::Ticket,
};

use super::{
    events::execute,
    fixtures::{
        agent, create_at, dispatch, full_intake, handler, intake, micros, return_request, step, t0,
    },
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

/// The open tickets of a street or a district (duplicate search's place
/// read), now one part off the partial index of open tickets, are the rows
/// the per-state parts gave, in their order: tickets of every state, in
/// the place and around it, some created at the same instant (ordered by
/// id), read whole and as sketches, with and without a start time, a page
/// shorter than the rows, and for a supervisor of the city.
pub async fn open_place_reads_match_the_per_state_parts(store: Arc<dyn Store>) {
    let store = store.as_ref();
    super::fixtures::seed_units(store).await;
    let market = super::fixtures::unit_id("market-regulation");
    let places = ["330106001", "330106001", "330106002", "330106", "330102001"];
    for i in 0..30_i64 {
        // Every third pair of tickets shares its creation instant.
        let at = t0() + TimeDelta::minutes(i - i % 2 * i64::from(i % 3 == 0));
        let place = places[usize::try_from(i).expect("small") % places.len()];
        let (t, _) = create_at(store, intake(place, RequestType::Help, None), at, None).await;
        let later = at + TimeDelta::seconds(30);
        let dispatched = |t: Ticket| async move {
            step(store, &t, dispatch("market-regulation"), &agent(), later)
                .await
                .ticket
        };
        let _: Ticket = match i % 6 {
            0 => t,
            1 => dispatched(t).await,
            2 => {
                let t = dispatched(t).await;
                step(
                    store,
                    &t,
                    Action::Sign,
                    &handler(&market),
                    later + micros(1),
                )
                .await
                .ticket
            }
            3 => {
                let t = dispatched(t).await;
                let asked = return_request("非本单位职责", "三定方案");
                step(store, &t, asked, &handler(&market), later + micros(1))
                    .await
                    .ticket
            }
            _ => {
                let answer = Action::ResolveAtIntake {
                    answer: "已答复".into(),
                    article_ids: Vec::new(),
                };
                step(store, &t, answer, &agent(), later).await.ticket
            }
        };
    }
    let city = hotline_domain::access::ListScope::Limited {
        region_prefix: Some("3301".into()),
        unit: None,
    };
    let mut checked = 0;
    for place in ["330106001", "330106"] {
        for limit in [4, 100] {
            for from in [None, Some(t0() + TimeDelta::minutes(5))] {
                for scope in [hotline_domain::access::ListScope::All, city.clone()] {
                    let mut q = TicketQuery::all(limit);
                    q.scope = scope;
                    q.region_prefix = Some(place.into());
                    q.created_from = from;
                    q.states = crate::OPEN_STATES.to_vec();
                    let open = store.list_ticket_sketches(&q).await.expect("sketches");
                    // The per-state parts as they were: one list per state,
                    // merged in list order under the page's limit.
                    let mut parts = Vec::new();
                    for state in crate::OPEN_STATES {
                        let mut one = q.clone();
                        one.states = vec![state];
                        parts.extend(store.list_ticket_sketches(&one).await.expect("sketches"));
                    }
                    parts.sort_by_key(|s| std::cmp::Reverse((s.create_time, s.id)));
                    parts.truncate(usize::try_from(limit).expect("small"));
                    assert_eq!(open, parts, "{place}, {limit}, {from:?}, {:?}", q.scope);
                    let whole: Vec<_> = store
                        .list_tickets(&q)
                        .await
                        .expect("list")
                        .iter()
                        .map(|t| t.id)
                        .collect();
                    let ids: Vec<_> = open.iter().map(|s| s.id).collect();
                    assert_eq!(whole, ids, "the whole tickets, the same rows");
                    if limit == 100 && from.is_none() {
                        for state in crate::OPEN_STATES {
                            assert!(open.iter().any(|s| s.state == state), "{place}: {state}");
                        }
                        checked += open.len();
                    }
                }
            }
        }
    }
    // 8 of the street's tickets and 16 of the district's are open (twice:
    // both scopes see them all).
    assert_eq!(checked, 2 * (8 + 16));
}
