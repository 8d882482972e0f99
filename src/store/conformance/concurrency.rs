//! Concurrency: racing writers on one ticket version, racing publishers.

use std::sync::Arc;

use crate::domain::Action;
use crate::store::{Store, StoreError};

use super::fixtures::{
    agent, all_events, assert_stored, create_at, full_intake, micros, rule, seed_units, t0, unit_id,
};

/// 50 writers race to apply a transition to the same version: exactly one
/// wins, the other 49 get `Conflict`, and the trail gains exactly one event —
/// the winner's.
pub async fn concurrent_transitions_admit_exactly_one(store: Arc<dyn Store>) {
    const WRITERS: i64 = 50;
    seed_units(store.as_ref()).await;
    let (ticket, created) = create_at(store.as_ref(), full_intake(), t0(), None).await;
    let units = ["market-regulation", "d330106", "s330106001"];

    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let transition = ticket
            .apply(
                Action::dispatch(
                    unit_id(units[i as usize % units.len()]),
                    format!("writer {i}"),
                ),
                &agent(),
                t0() + micros(i + 1),
            )
            .expect("dispatch");
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let result = store.apply_transition(1, &transition, None).await;
            (transition, result)
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (transition, result) = task.await.expect("task");
        match result {
            Ok(()) => winners.push(transition),
            Err(StoreError::Conflict(_)) => conflicts += 1,
            Err(other) => panic!("a losing writer must get Conflict, got {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, WRITERS - 1, "every other writer conflicts");
    let winner = &winners[0];
    assert_stored(store.as_ref(), &winner.ticket, "after the race").await;
    assert_eq!(
        all_events(store.as_ref(), ticket.id).await,
        vec![created, winner.event.clone()],
        "exactly one new event, the winner's"
    );
}

/// 20 administrators publish at once: every publish succeeds with its own
/// version (1 to 20, no gaps), and the newest is active.
pub async fn concurrent_publishes_get_distinct_versions(store: Arc<dyn Store>) {
    const PUBLISHERS: i64 = 20;
    let mut tasks = Vec::new();
    for i in 0..PUBLISHERS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let rules = vec![rule(&format!("rule-{i}"), "market-regulation")];
            let result = store
                .publish_rule_set(&rules, &format!("admin-{i}"), "", t0() + micros(i))
                .await;
            (rules, result)
        }));
    }
    let mut published = Vec::new();
    for task in tasks {
        let (rules, result) = task.await.expect("task");
        match result {
            Ok(info) => published.push((info.version, rules)),
            Err(e) => panic!("a concurrent publish must succeed, got {e:?}"),
        }
    }
    published.sort_by_key(|(v, _)| *v);
    let versions: Vec<i64> = published.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        (1..=PUBLISHERS).collect::<Vec<_>>(),
        "distinct versions without gaps"
    );
    for (version, rules) in &published {
        assert_eq!(
            &store.rule_set(*version).await.expect("rule_set").1,
            rules,
            "version {version} holds its publisher's rules"
        );
    }
    assert_eq!(
        store.active_rule_set_version().await.expect("active"),
        Some(PUBLISHERS),
        "the newest version is active"
    );
}
