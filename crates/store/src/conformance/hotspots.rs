//! Hotspots: the detector's reads of new tickets in log order, idempotent
//! recording by the natural key, decisions with their audit trail and
//! state checks, lists, the change sequence watchers follow, and overdue
//! alerts raised once.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    FeedPosition, HotspotChange, HotspotCursor, HotspotQuery, HotspotSighting, Store,
    TicketSighting,
};
use hotline_domain::{
    TicketId,
    hotspot::{Heat, Hotspot, HotspotDecision, HotspotEventKind, HotspotId, HotspotState},
    ticket::{Intake, RequestType},
};

use super::fixtures::{create_at, intake, is_conflict, is_not_found, key, micros, t0};

/// A burst-pipe ticket of street `street`.
fn pipe(street: &str, phone: &str, text: &str) -> Intake {
    Intake {
        title: "水管爆裂".into(),
        description: text.into(),
        ..intake(street, RequestType::Complaint, Some(phone))
    }
}

/// Creates `n` tickets a minute apart from `start` in `street`; returns
/// their ids and creation times.
async fn tickets(
    store: &dyn Store,
    street: &str,
    n: usize,
    start: DateTime<Utc>,
) -> Vec<(TicketId, DateTime<Utc>)> {
    let mut out = Vec::new();
    for i in 0..n {
        let at = start + TimeDelta::minutes(i64::try_from(i).expect("few"));
        let phone = format!("1380013{:04}", 1000 + i);
        let (t, _) = create_at(store, pipe(street, &phone, "文三路90号水管爆了"), at, None).await;
        out.push((t.id, at));
    }
    out
}

/// Reads new tickets after `after` until `count` are readable (10 s at
/// most): on PostgreSQL a write still running anywhere on the server
/// (another test's) holds later commits back for a moment.
async fn sightings_until(
    store: &dyn Store,
    after: FeedPosition,
    count: usize,
) -> Vec<TicketSighting> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let read = store.read_sightings(after, 100).await.expect("read");
        if read.len() >= count || tokio::time::Instant::now() >= deadline {
            return read;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// What a detector would record of a cluster of `tickets` with `count`.
fn sighting(
    tickets: &[(TicketId, DateTime<Utc>)],
    count: u32,
    known: Option<HotspotId>,
    now: DateTime<Utc>,
) -> HotspotSighting {
    let (seed, first) = tickets[0];
    let last = tickets.last().expect("tickets").1;
    HotspotSighting {
        known,
        new_id: HotspotId::generate(now),
        seed_ticket: seed,
        area: "330106001".into(),
        district: "330106".into(),
        subject: "01".into(),
        heat: Heat {
            count,
            recent: count,
            growth: 1,
            callers: count,
            first,
            last,
            areas: vec!["330106001".into()],
            top_words: vec!["水管".into(), "爆裂".into()],
            examples: tickets.iter().take(3).map(|(t, _)| *t).collect(),
        },
        tickets: tickets.to_vec(),
        now,
    }
}

fn decision(state: HotspotState, event: HotspotEventKind, note: &str) -> HotspotDecision {
    HotspotDecision {
        state,
        event,
        note: Some(note.into()),
        merged_into: None,
    }
}

fn change(h: &Hotspot, decision: HotspotDecision, at: DateTime<Utc>) -> HotspotChange {
    HotspotChange {
        id: h.id,
        expected_state: h.state,
        expected_change_seq: None,
        decision,
        actor: "sup-3301".into(),
        actor_role: "supervisor".into(),
        now: at,
        key: None,
    }
}

/// New tickets come in log order with their opened descriptions; a
/// replay starts just before the first ticket of its window; the lag
/// counts tickets created after a time.
pub async fn the_detector_reads_new_tickets_in_log_order(store: Arc<dyn Store>) {
    let s = store.as_ref();
    assert_eq!(s.replay_start(t0()).await.expect("replay start"), None);
    let early = tickets(s, "330106001", 2, t0() - TimeDelta::hours(20)).await;
    let late = tickets(s, "330106002", 3, t0()).await;
    let all = sightings_until(s, FeedPosition::START, 5).await;
    let ids: Vec<TicketId> = all.iter().map(|x| x.id).collect();
    let expected: Vec<TicketId> = early.iter().chain(&late).map(|(t, _)| *t).collect();
    assert_eq!(ids, expected, "commit order");
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    let first = &all[0];
    assert_eq!(first.description, "文三路90号水管爆了", "opened");
    assert_eq!(
        (first.title.as_str(), first.region.as_str()),
        ("水管爆裂", "330106001")
    );
    assert!(
        first.caller.as_deref().is_some_and(|c| c != "13800131000"),
        "a blind index, not the number"
    );
    let page = s.read_sightings(all[1].position, 2).await.expect("page");
    assert_eq!(
        page,
        all[2..4].to_vec(),
        "after a position, at most the limit"
    );

    let start = s
        .replay_start(t0() - TimeDelta::hours(1))
        .await
        .expect("replay start")
        .expect("recent tickets");
    let replayed = sightings_until(s, start, 3).await;
    assert_eq!(
        replayed.iter().map(|x| x.id).collect::<Vec<_>>(),
        late.iter().map(|(t, _)| *t).collect::<Vec<_>>()
    );
    let behind = s
        .tickets_created_after(late[0].1, 100)
        .await
        .expect("count");
    assert_eq!(behind, 2);
    assert_eq!(s.tickets_created_after(late[0].1, 1).await.expect("cap"), 1);
}

/// A sighting recorded twice is one hotspot with one `detected` event and
/// its supervision item due 5 hours after detection; growth adds tickets
/// and heat once; a lower count never lowers it; a cluster that starts at
/// a later ticket of the same hotspot is recognised by its tickets.
pub async fn hotspots_are_recorded_once_and_grow(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let t = tickets(s, "330106001", 6, t0()).await;
    let now = t0() + micros(10_000_000);
    let first = s
        .record_hotspot(&sighting(&t[..4], 4, None, now))
        .await
        .expect("record");
    assert!(first.created && first.changed);
    let again = s
        .record_hotspot(&sighting(&t[..4], 4, None, now))
        .await
        .expect("again");
    assert_eq!(
        (again.id, again.created, again.changed),
        (first.id, false, false)
    );

    let h = s.get_hotspot(first.id).await.expect("get");
    assert_eq!(h.state, HotspotState::Detected);
    assert_eq!(h.seed_ticket, t[0].0);
    assert_eq!(
        h.tickets,
        t[..4].iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    assert_eq!(h.supervision.deadline, now + TimeDelta::hours(5));
    assert_eq!(h.supervision.response_time, None);
    assert_eq!(h.heat.top_words, vec!["水管".to_owned(), "爆裂".to_owned()]);
    assert_eq!(h.create_seq, h.change_seq);

    let grown = s
        .record_hotspot(&sighting(&t[..5], 5, Some(first.id), now))
        .await
        .expect("grow");
    assert!(grown.changed && !grown.created);
    let lower = s
        .record_hotspot(&sighting(&t[..3], 3, None, now))
        .await
        .expect("lower");
    assert!(!lower.changed, "a shorter view changes nothing");
    // A replica that started later: its cluster's first ticket is t[2].
    let later = s
        .record_hotspot(&sighting(&t[2..], 4, None, now))
        .await
        .expect("later view");
    assert_eq!(
        (later.id, later.created, later.changed),
        (first.id, false, true)
    );
    let h = s.get_hotspot(first.id).await.expect("get");
    assert_eq!(h.tickets.len(), 6);
    assert_eq!(h.heat.count, 5, "the higher count stays");
    let kinds: Vec<HotspotEventKind> = s
        .hotspot_events(first.id)
        .await
        .expect("events")
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            HotspotEventKind::Detected,
            HotspotEventKind::Grown,
            HotspotEventKind::Grown
        ]
    );
    assert!(is_not_found(&s.get_hotspot(HotspotId::generate(now)).await));
}

/// Decisions apply once, answer the supervision item, are audited, and
/// are refused in the wrong state; a merge folds the source's tickets into
/// the target and needs the target open; the idempotency key is recorded
/// with the change.
pub async fn hotspot_decisions_check_state_and_audit(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let now = t0() + micros(60_000_000);
    let a = tickets(s, "330106001", 4, t0()).await;
    let b = tickets(s, "330106001", 4, t0() + TimeDelta::minutes(10)).await;
    let c = tickets(s, "330106001", 4, t0() + TimeDelta::minutes(20)).await;
    let mut ids = Vec::new();
    for t in [&a, &b, &c] {
        ids.push(
            s.record_hotspot(&sighting(t, 4, None, now))
                .await
                .expect("record")
                .id,
        );
    }
    let ha = s.get_hotspot(ids[0]).await.expect("a");
    let later = now + TimeDelta::hours(1);
    let mut confirm = change(
        &ha,
        decision(
            HotspotState::Confirmed,
            HotspotEventKind::Confirmed,
            "派单抢修",
        ),
        later,
    );
    confirm.key = Some(key("sup-3301", "req-1", "ConfirmHotspot"));
    let confirmed = s.change_hotspot(&confirm).await.expect("confirm");
    assert_eq!(confirmed.state, HotspotState::Confirmed);
    assert_eq!(confirmed.supervision.response_time, Some(later));
    assert_eq!(confirmed.supervision.responder.as_deref(), Some("sup-3301"));
    assert_eq!(confirmed.note.as_deref(), Some("派单抢修"));
    let found = s.find_idempotent("sup-3301", "req-1").await.expect("key");
    assert_eq!(found.map(|f| f.resource), Some(ha.id.name()));
    assert!(
        is_conflict(&s.change_hotspot(&confirm).await),
        "no longer detected"
    );

    let hc = s.get_hotspot(ids[2]).await.expect("c");
    let mut stale = change(
        &hc,
        decision(HotspotState::Dismissed, HotspotEventKind::Dismissed, "巧合"),
        later,
    );
    stale.expected_change_seq = Some(hc.change_seq - 1);
    assert!(is_conflict(&s.change_hotspot(&stale).await), "stale etag");
    let mut unknown = stale.clone();
    unknown.id = HotspotId::generate(later);
    unknown.expected_change_seq = None;
    assert!(is_not_found(&s.change_hotspot(&unknown).await));

    // b folds into a (confirmed, still open).
    let hb = s.get_hotspot(ids[1]).await.expect("b");
    let merge = HotspotDecision {
        state: HotspotState::Merged,
        event: HotspotEventKind::Merged,
        note: None,
        merged_into: Some(ids[0]),
    };
    let merged = s
        .change_hotspot(&change(&hb, merge.clone(), later))
        .await
        .expect("merge");
    assert_eq!(
        (merged.state, merged.merged_into),
        (HotspotState::Merged, Some(ids[0]))
    );
    let target = s.get_hotspot(ids[0]).await.expect("target");
    assert_eq!(target.merged_from, vec![ids[1]]);
    let mut expected: Vec<(TicketId, DateTime<Utc>)> = a.iter().chain(&b).copied().collect();
    expected.sort_by_key(|(id, at)| (*at, *id));
    assert_eq!(
        target.tickets,
        expected.iter().map(|(id, _)| *id).collect::<Vec<_>>()
    );
    assert!(
        target.change_seq > confirmed.change_seq,
        "watchers see the target change"
    );

    // c cannot fold into b: b is merged.
    let into_closed = HotspotDecision {
        merged_into: Some(ids[1]),
        ..merge
    };
    assert!(is_conflict(
        &s.change_hotspot(&change(&hc, into_closed, later)).await
    ));
    assert_eq!(
        s.get_hotspot(ids[2]).await.expect("c").state,
        HotspotState::Detected
    );
    let kinds =
        |events: Vec<crate::HotspotEvent>| events.iter().map(|e| e.kind).collect::<Vec<_>>();
    assert_eq!(
        kinds(s.hotspot_events(ids[0]).await.expect("events")),
        [
            HotspotEventKind::Detected,
            HotspotEventKind::Confirmed,
            HotspotEventKind::Absorbed
        ]
    );
    assert_eq!(
        kinds(s.hotspot_events(ids[2]).await.expect("events")),
        [HotspotEventKind::Detected],
        "refused changes leave no event"
    );
}

/// Lists filter by scope, area, state, time and overdue supervision and
/// page newest first without gaps; the change sequence returns every
/// change after a (number, id) in order.
pub async fn hotspot_lists_filter_page_and_follow_changes(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let mut ids = Vec::new();
    for (i, street) in ["330106001", "330106002", "330108001"].iter().enumerate() {
        let start = t0() + TimeDelta::minutes(30 * i64::try_from(i).expect("few"));
        let t = tickets(s, street, 3, start).await;
        let mut x = sighting(&t, 3, None, start + TimeDelta::minutes(5));
        x.area = (*street).into();
        ids.push(s.record_hotspot(&x).await.expect("record").id);
    }
    let head = s.hotspot_head().await.expect("head");
    assert_eq!(head, 3);
    let all = s
        .list_hotspots(&HotspotQuery {
            limit: 10,
            ..HotspotQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(
        all.iter().map(|h| h.id).rev().collect::<Vec<_>>(),
        ids,
        "newest first"
    );
    assert!(all.iter().all(|h| h.tickets.len() == 3));

    let list = |q: HotspotQuery| async move { s.list_hotspots(&q).await.expect("list") };
    let q = |f: fn(&mut HotspotQuery)| {
        let mut q = HotspotQuery {
            limit: 10,
            ..HotspotQuery::default()
        };
        f(&mut q);
        q
    };
    let scoped = list(q(|q| q.scope = Some("330106".into()))).await;
    assert_eq!(scoped.len(), 2);
    let area = list(q(|q| q.area_prefix = Some("330106002".into()))).await;
    assert_eq!(area.iter().map(|h| h.id).collect::<Vec<_>>(), vec![ids[1]]);
    let hb = s.get_hotspot(ids[1]).await.expect("b");
    s.change_hotspot(&change(
        &hb,
        decision(HotspotState::Dismissed, HotspotEventKind::Dismissed, "巧合"),
        t0() + TimeDelta::hours(2),
    ))
    .await
    .expect("dismiss");
    let detected = list(q(|q| q.states = vec![HotspotState::Detected])).await;
    assert_eq!(detected.len(), 2);
    // Detected at t0+5m, +35m, +65m: due 5 hours later.
    let overdue_at = t0() + TimeDelta::hours(5) + TimeDelta::minutes(40);
    let mut overdue_q = q(|_| {});
    overdue_q.overdue_at = Some(overdue_at);
    let overdue = list(overdue_q).await;
    assert_eq!(
        overdue.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[0]],
        "b was answered"
    );
    let mut window = q(|_| {});
    window.created_from = Some(t0() + TimeDelta::minutes(30));
    window.created_to = Some(t0() + TimeDelta::minutes(60));
    assert_eq!(
        list(window).await.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[1]]
    );

    let mut paged = Vec::new();
    let mut after: Option<HotspotCursor> = None;
    loop {
        let page = list(HotspotQuery {
            limit: 2,
            after,
            ..HotspotQuery::default()
        })
        .await;
        after = page.last().map(|h| HotspotCursor {
            create_time: h.create_time,
            id: h.id,
        });
        paged.extend(page.iter().map(|h| h.id));
        if page.len() < 2 {
            break;
        }
    }
    assert_eq!(paged, all.iter().map(|h| h.id).collect::<Vec<_>>());

    let changes = s.hotspot_changes(0, None, 10).await.expect("changes");
    assert_eq!(
        changes.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2], ids[1]],
        "in change order: b changed last"
    );
    let after_first = s
        .hotspot_changes(changes[0].change_seq, Some(changes[0].id), 1)
        .await
        .expect("changes");
    assert_eq!(
        after_first.iter().map(|h| h.id).collect::<Vec<_>>(),
        vec![ids[2]]
    );
    assert_eq!(s.hotspot_head().await.expect("head"), head + 1);
}

/// Overdue alerts: a hotspot unanswered past its deadline is alerted once
/// (its mark, a change number, an `overdue` event), by the first of two
/// concurrent sweeps; one answered in time, or not yet due, is not; a
/// second sweep finds nothing.
pub async fn overdue_hotspots_are_alerted_once(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let now = t0() + micros(60_000_000);
    let late = tickets(s, "330106001", 3, t0()).await;
    let answered = tickets(s, "330106001", 3, t0() + TimeDelta::minutes(10)).await;
    let late = s
        .record_hotspot(&sighting(&late, 3, None, now))
        .await
        .expect("record")
        .id;
    let answered = s
        .record_hotspot(&sighting(&answered, 3, None, now))
        .await
        .expect("record")
        .id;
    let before = s.get_hotspot(answered).await.expect("read");
    let confirm = decision(
        HotspotState::Confirmed,
        HotspotEventKind::Confirmed,
        "处理中",
    );
    s.change_hotspot(&change(&before, confirm, now + TimeDelta::hours(1)))
        .await
        .expect("answer");
    let due = before.supervision.deadline;
    assert!(
        s.raise_overdue_alerts(due, 10)
            .await
            .expect("sweep")
            .is_empty(),
        "at the deadline: not yet overdue"
    );

    let past = due + TimeDelta::seconds(1);
    let (one, two) = tokio::join!(
        s.raise_overdue_alerts(past, 10),
        s.raise_overdue_alerts(past, 10)
    );
    let raised: Vec<Hotspot> = [one.expect("sweep"), two.expect("sweep")].concat();
    assert_eq!(raised.len(), 1, "once between two sweeps: {raised:#?}");
    let alerted = &raised[0];
    assert_eq!(alerted.id, late);
    assert_eq!(
        alerted.supervision.overdue_alert_seq,
        Some(alerted.change_seq)
    );
    assert_eq!(alerted.update_time, past);
    assert_eq!(s.hotspot_head().await.expect("head"), alerted.change_seq);
    assert!(
        s.raise_overdue_alerts(past + TimeDelta::hours(1), 10)
            .await
            .expect("sweep")
            .is_empty()
    );
    let overdue: Vec<_> = s
        .hotspot_events(late)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == HotspotEventKind::Overdue)
        .collect();
    assert_eq!(overdue.len(), 1);
    assert_eq!(
        (overdue[0].actor.as_str(), overdue[0].time),
        ("system:hotspots", past)
    );
    let quiet = s.get_hotspot(answered).await.expect("read");
    assert_eq!(
        quiet.supervision.overdue_alert_seq, None,
        "answered in time"
    );
}
