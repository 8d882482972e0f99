//! Webhook subscriptions and the outbox ([`crate::WebhookStore`]): events
//! become deliveries once per matching subscription, claims are
//! exclusive, a ticket's events go out in order, and failures wait,
//! dead-letter and can be redelivered.

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};

use crate::{
    ClaimedDelivery, DeliveryOutcome, DeliveryQuery, DeliveryState, FeedPosition, Store,
    WebhookDelivery, WebhookSubscription, WebhookSubscriptionChange,
};
use hotline_domain::{TicketId, UnitId, webhook::SubscriptionSpec};

use super::sealing::keyring;
use crate::testing::TestBackend;

use super::fixtures::{
    agent, create_at, dispatch, full_intake, is_conflict, is_not_found, micros, seed_units, step,
    t0,
};

fn subscription(
    id: &str,
    kinds: &[&str],
    unit: Option<&str>,
    region: Option<&str>,
) -> WebhookSubscription {
    WebhookSubscription {
        id: id.to_owned(),
        spec: SubscriptionSpec {
            url: format!("http://127.0.0.1:9/{id}"),
            event_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            unit: unit.map(|u| UnitId::parse(u).expect("unit id")),
            region_prefix: region.map(str::to_owned),
            pii_allowed: false,
            active: true,
            description: format!("subscription {id}"),
        },
        secret: format!("secret-of-{id}-0123456789"),
        creator: "admin-root".into(),
        create_time: t0(),
        update_time: t0(),
        version: 1,
    }
}

/// Fans out until `expected` deliveries exist in all (PostgreSQL may hold
/// an event back while another test's write runs) or 10 s pass.
async fn fan_out_until(store: &dyn Store, subs: &[&str], expected: usize) -> Vec<WebhookDelivery> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        while store.fan_out_webhooks(t0(), 3).await.expect("fan_out") > 0 {}
        let mut all = Vec::new();
        for sub in subs {
            all.extend(deliveries(store, sub).await);
        }
        if all.len() >= expected || tokio::time::Instant::now() >= deadline {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn deliveries(store: &dyn Store, sub: &str) -> Vec<WebhookDelivery> {
    store
        .list_webhook_deliveries(&DeliveryQuery {
            subscription_id: sub.to_owned(),
            state: None,
            ticket: None,
            before_id: None,
            limit: 1000,
        })
        .await
        .expect("list deliveries")
}

fn events_of(list: &[WebhookDelivery]) -> Vec<(TicketId, i64)> {
    let mut out: Vec<(TicketId, i64)> = list.iter().map(|d| (d.ticket_id, d.sequence)).collect();
    out.sort();
    out
}

async fn claim(store: &dyn Store, at: DateTime<Utc>, limit: u32) -> Vec<ClaimedDelivery> {
    store
        .claim_webhook_deliveries(at, at + TimeDelta::seconds(30), limit)
        .await
        .expect("claim")
}

/// Switches subscription `id` (at `version`) on or off.
async fn set_active(store: &dyn Store, id: &str, active: bool, version: i64) {
    let current = store.get_webhook_subscription(id).await.expect("get");
    let change = WebhookSubscriptionChange {
        id: id.to_owned(),
        expected_version: version,
        spec: SubscriptionSpec {
            active,
            ..current.spec
        },
        secret: None,
        now: t0(),
    };
    store
        .update_webhook_subscription(&change)
        .await
        .expect("update");
}

/// Create, read, list, update under a version, delete; the secret comes
/// back as it was given.
pub async fn webhook_subscriptions_round_trip(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let a = subscription(
        "0001-a",
        &["created", "dispatched"],
        Some("market-regulation"),
        Some("3301"),
    );
    let b = subscription("0002-b", &[], None, None);
    store
        .create_webhook_subscription(&a)
        .await
        .expect("create a");
    store
        .create_webhook_subscription(&b)
        .await
        .expect("create b");
    assert!(
        store.create_webhook_subscription(&a).await.is_err(),
        "an id is unique"
    );
    assert_eq!(
        store.get_webhook_subscription("0001-a").await.expect("get"),
        a
    );
    let page = store
        .list_webhook_subscriptions(None, 1)
        .await
        .expect("list");
    assert_eq!(page, vec![a.clone()]);
    let rest = store
        .list_webhook_subscriptions(Some("0001-a"), 10)
        .await
        .expect("list");
    assert_eq!(rest, vec![b.clone()]);

    let mut spec = a.spec.clone();
    spec.active = false;
    spec.pii_allowed = true;
    spec.unit = None;
    let change = WebhookSubscriptionChange {
        id: a.id.clone(),
        expected_version: 1,
        spec: spec.clone(),
        secret: Some("a-new-secret-0123456789".into()),
        now: t0() + micros(5),
    };
    let changed = store
        .update_webhook_subscription(&change)
        .await
        .expect("update");
    assert_eq!(changed.spec, spec);
    assert_eq!(changed.secret, "a-new-secret-0123456789");
    assert_eq!(changed.version, 2);
    assert_eq!(changed.update_time, t0() + micros(5));
    assert_eq!(changed.create_time, a.create_time);
    let stale = store.update_webhook_subscription(&change).await;
    assert!(is_conflict(&stale), "a stale version conflicts: {stale:?}");
    let kept = WebhookSubscriptionChange {
        expected_version: 2,
        secret: None,
        ..change.clone()
    };
    let again = store
        .update_webhook_subscription(&kept)
        .await
        .expect("update");
    assert_eq!(
        again.secret, "a-new-secret-0123456789",
        "no new secret keeps the old"
    );

    store
        .delete_webhook_subscription("0001-a")
        .await
        .expect("delete");
    assert!(is_not_found(
        &store.get_webhook_subscription("0001-a").await
    ));
    assert!(is_not_found(
        &store.delete_webhook_subscription("0001-a").await
    ));
    let missing = WebhookSubscriptionChange {
        id: "nope".into(),
        ..change
    };
    assert!(is_not_found(
        &store.update_webhook_subscription(&missing).await
    ));
}

/// Each committed event after a subscription's creation becomes one
/// delivery for it if its kinds and scope want it; fanning out again adds
/// nothing; inactive subscriptions collect nothing.
pub async fn webhook_fan_out_writes_one_delivery_per_matching_subscription(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    let (before, _) = create_at(store, full_intake(), t0(), None).await;
    // Until an event is readable in the log's order, a subscription made
    // meanwhile may still receive it (PostgreSQL: another write running
    // since before it holds the head back); this one is settled first.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while store
        .read_feed(FeedPosition::START, 100)
        .await
        .expect("read_feed")
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first event never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A fan-out with nobody subscribed moves past what is there.
    while store.fan_out_webhooks(t0(), 100).await.expect("fan_out") > 0 {}
    let subs = [
        subscription("s1-all", &[], None, None),
        subscription("s2-dispatched", &["dispatched"], None, None),
        subscription("s3-unit", &[], Some("market-regulation"), None),
        subscription("s4-elsewhere", &[], None, Some("3302")),
    ];
    for s in &subs {
        store.create_webhook_subscription(s).await.expect("create");
    }
    let mut off = subscription("s5-inactive", &[], None, None);
    off.spec.active = false;
    store
        .create_webhook_subscription(&off)
        .await
        .expect("create");

    let (ticket, _) = create_at(store, full_intake(), t0() + micros(1), None).await;
    step(
        store,
        &ticket,
        dispatch("market-regulation"),
        &agent(),
        t0() + micros(2),
    )
    .await;
    step(
        store,
        &before,
        dispatch("market-regulation"),
        &agent(),
        t0() + micros(3),
    )
    .await;

    let names = [
        "s1-all",
        "s2-dispatched",
        "s3-unit",
        "s4-elsewhere",
        "s5-inactive",
    ];
    // s1: 3 events; s2: 2 dispatches; s3: all 3 (the unit leads both now).
    let all = fan_out_until(store, &names, 8).await;
    assert_eq!(all.len(), 8, "{all:?}");
    assert_eq!(
        events_of(&deliveries(store, "s1-all").await),
        {
            let mut e = vec![(ticket.id, 1), (ticket.id, 2), (before.id, 2)];
            e.sort();
            e
        },
        "every event after the subscription, none before it"
    );
    let dispatched = deliveries(store, "s2-dispatched").await;
    assert!(
        dispatched.iter().all(|d| d.event_kind == "dispatched"),
        "{dispatched:?}"
    );
    assert_eq!(dispatched.len(), 2);
    assert_eq!(deliveries(store, "s3-unit").await.len(), 3);
    assert!(
        deliveries(store, "s4-elsewhere").await.is_empty(),
        "out of region"
    );
    assert!(
        deliveries(store, "s5-inactive").await.is_empty(),
        "inactive"
    );
    for d in &all {
        assert_eq!((d.state, d.attempts), (DeliveryState::Pending, 0));
    }
    while store.fan_out_webhooks(t0(), 100).await.expect("fan_out") > 0 {}
    let again: usize = {
        let mut n = 0;
        for s in names {
            n += deliveries(store, s).await.len();
        }
        n
    };
    assert_eq!(again, 8, "fanning out again adds nothing");
}

/// Claimers running together never get the same delivery; a lease keeps
/// a claimed delivery from everyone else until it ends; an outcome counts
/// only under the claim that made the attempt.
pub async fn webhook_claims_are_exclusive(store: Arc<dyn Store>) {
    const TICKETS: usize = 12;
    seed_units(store.as_ref()).await;
    store
        .create_webhook_subscription(&subscription("s1", &[], None, None))
        .await
        .expect("create");
    for i in 0..TICKETS {
        let at = t0() + micros(i64::try_from(i).expect("small"));
        create_at(store.as_ref(), full_intake(), at, None).await;
    }
    assert_eq!(
        fan_out_until(store.as_ref(), &["s1"], TICKETS).await.len(),
        TICKETS
    );
    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = claim(store.as_ref(), t0(), 1).await;
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got);
                }
            })
        })
        .collect();
    let mut ids = Vec::new();
    let mut claimed = Vec::new();
    for c in claimers {
        for d in c.await.expect("claimer") {
            ids.push(d.delivery.id);
            claimed.push(d);
        }
    }
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(
        unique.len(),
        ids.len(),
        "no delivery claimed twice: {ids:?}"
    );
    assert_eq!(ids.len(), TICKETS, "every delivery claimed once");
    assert!(claimed.iter().all(|c| c.delivery.attempts == 1));
    assert!(
        claim(store.as_ref(), t0() + micros(10), 10)
            .await
            .is_empty(),
        "leased"
    );

    // The lease (30 s) runs out: the delivery is claimed again, and the
    // first claim's late outcome is refused.
    let later = t0() + TimeDelta::seconds(31);
    let again = claim(store.as_ref(), later, 100).await;
    assert_eq!(again.len(), TICKETS);
    assert!(again.iter().all(|c| c.delivery.attempts == 2));
    let first = &claimed[0];
    let refused = store
        .finish_webhook_delivery(first, &DeliveryOutcome::Delivered { status: 200 }, later)
        .await
        .expect("finish");
    assert!(!refused, "an expired claim records nothing");
    let current = again
        .iter()
        .find(|c| c.delivery.id == first.delivery.id)
        .expect("reclaimed");
    assert!(
        store
            .finish_webhook_delivery(current, &DeliveryOutcome::Delivered { status: 204 }, later)
            .await
            .expect("finish")
    );
    let stored = store
        .get_webhook_delivery(first.delivery.id)
        .await
        .expect("get");
    assert_eq!(
        (stored.state, stored.last_status),
        (DeliveryState::Delivered, Some(204))
    );
}

/// A ticket's next event waits until the previous one was delivered or
/// dead-lettered; a retry waits for its time; a dead letter keeps its
/// error and can be redelivered.
pub async fn webhook_deliveries_keep_ticket_order_retry_and_dead_letter(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    store
        .create_webhook_subscription(&subscription("s1", &[], None, None))
        .await
        .expect("create");
    let (ticket, _) = create_at(store, full_intake(), t0(), None).await;
    step(
        store,
        &ticket,
        dispatch("market-regulation"),
        &agent(),
        t0() + micros(1),
    )
    .await;
    assert_eq!(fan_out_until(store, &["s1"], 2).await.len(), 2);

    let first = claim(store, t0(), 10).await;
    assert_eq!(
        first
            .iter()
            .map(|c| c.delivery.sequence)
            .collect::<Vec<_>>(),
        [1],
        "only the ticket's first event is claimable"
    );
    let retry_at = t0() + TimeDelta::seconds(8);
    assert!(
        store
            .finish_webhook_delivery(
                &first[0],
                &DeliveryOutcome::Retry {
                    retry_at,
                    status: Some(500),
                    error: "HTTP 500".into(),
                },
                t0(),
            )
            .await
            .expect("finish")
    );
    assert!(
        claim(store, retry_at - micros(1), 10).await.is_empty(),
        "nothing before the retry time, and the second event waits for the first"
    );
    // An inactive subscription's due deliveries wait; active again, they go.
    set_active(store, "s1", false, 1).await;
    assert!(
        claim(store, retry_at, 10).await.is_empty(),
        "an inactive subscription's retry is not claimed"
    );
    set_active(store, "s1", true, 2).await;
    let second_try = claim(store, retry_at, 10).await;
    assert_eq!(second_try.len(), 1);
    assert_eq!(
        (
            second_try[0].delivery.sequence,
            second_try[0].delivery.attempts
        ),
        (1, 2)
    );
    assert_eq!(
        second_try[0].delivery.last_error.as_deref(),
        Some("HTTP 500")
    );
    assert!(
        store
            .finish_webhook_delivery(
                &second_try[0],
                &DeliveryOutcome::Dead {
                    status: None,
                    error: "connection refused".into(),
                },
                retry_at,
            )
            .await
            .expect("finish")
    );
    let dead = store
        .get_webhook_delivery(first[0].delivery.id)
        .await
        .expect("get");
    assert_eq!(dead.state, DeliveryState::Dead);
    assert_eq!(dead.last_error.as_deref(), Some("connection refused"));
    assert_eq!(dead.last_status, None);
    let dead_letters = store
        .list_webhook_deliveries(&DeliveryQuery {
            subscription_id: "s1".into(),
            state: Some(DeliveryState::Dead),
            ticket: Some(ticket.id),
            before_id: None,
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(dead_letters, vec![dead.clone()]);

    let next = claim(store, retry_at, 10).await;
    assert_eq!(
        next.iter().map(|c| c.delivery.sequence).collect::<Vec<_>>(),
        [2],
        "after a dead letter the next event goes"
    );
    let redelivered = store
        .redeliver_webhook_delivery(dead.id, retry_at + micros(1))
        .await
        .expect("redeliver");
    assert_eq!(
        (
            redelivered.state,
            redelivered.attempts,
            redelivered.next_attempt_time
        ),
        (DeliveryState::Pending, 0, retry_at + micros(1))
    );
    assert!(is_conflict(
        &store.redeliver_webhook_delivery(dead.id, retry_at).await
    ));
    assert!(is_not_found(
        &store.redeliver_webhook_delivery(i64::MAX, retry_at).await
    ));
    let page = store
        .list_webhook_deliveries(&DeliveryQuery {
            subscription_id: "s1".into(),
            state: None,
            ticket: None,
            before_id: Some(next[0].delivery.id),
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(
        page.iter().map(|d| d.id).collect::<Vec<_>>(),
        [dead.id],
        "keyset below an id"
    );

    // The retention purge takes delivered rows older than its cutoff only.
    assert!(
        store
            .finish_webhook_delivery(
                &next[0],
                &DeliveryOutcome::Delivered { status: 200 },
                retry_at
            )
            .await
            .expect("finish")
    );
    assert_eq!(
        store
            .purge_webhook_deliveries(retry_at, 10)
            .await
            .expect("purge"),
        0
    );
    let cutoff = retry_at + TimeDelta::hours(1);
    assert_eq!(
        store
            .purge_webhook_deliveries(cutoff, 10)
            .await
            .expect("purge"),
        1
    );
    let left = store
        .list_webhook_deliveries(&DeliveryQuery {
            subscription_id: "s1".into(),
            state: None,
            ticket: None,
            before_id: None,
            limit: 10,
        })
        .await
        .expect("list");
    assert_eq!(
        left.iter().map(|d| (d.id, d.state)).collect::<Vec<_>>(),
        [(dead.id, DeliveryState::Pending)],
        "the pending (redelivered) one stays"
    );
}

/// A secret is sealed with the PII keys: readable under a keyring holding
/// its key, re-sealed under the current key by a rotation (once), and then
/// readable without the old key.
pub async fn webhook_secrets_are_resealed_on_rotation(backend: &TestBackend) {
    let database = Arc::new(backend.fresh_database().await);
    let old = database.clone().open_with_pii(keyring(&[("k1", 1)])).await;
    let sub = subscription("s1", &[], None, None);
    old.create_webhook_subscription(&sub).await.expect("create");
    let rotated = database
        .clone()
        .open_with_pii(keyring(&[("k1", 1), ("k2", 2)]))
        .await;
    assert_eq!(
        rotated.get_webhook_subscription("s1").await.expect("get"),
        sub
    );
    assert_eq!(rotated.reseal_webhook_secrets().await.expect("reseal"), 1);
    assert_eq!(
        rotated.reseal_webhook_secrets().await.expect("reseal"),
        0,
        "once"
    );
    let retired = database.clone().open_with_pii(keyring(&[("k2", 2)])).await;
    assert_eq!(
        retired
            .get_webhook_subscription("s1")
            .await
            .expect("get")
            .secret,
        sub.secret,
        "readable without the old key"
    );
    let unknown = database.clone().open_with_pii(keyring(&[("k3", 3)])).await;
    assert!(
        unknown.get_webhook_subscription("s1").await.is_err(),
        "not readable under another key"
    );
}
