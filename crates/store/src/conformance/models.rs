//! The learned dispatch model's versions, its active pointer and audit
//! trail; background trainings; units retired from the directory.

use std::sync::Arc;

use crate::{ModelChange, ModelEventKind, ModelState, NewDispatchModel, Store};
use hotline_domain::directory::UnitRetirement;

use super::fixtures::{
    is_already_exists, is_conflict, is_not_found, micros, seed_more_units, seed_units, t0, unit_id,
};

fn change(actor: &str, note: &str, n: i64) -> ModelChange {
    ModelChange {
        actor: actor.into(),
        actor_role: "admin".into(),
        note: note.into(),
        time: t0() + micros(n),
    }
}

fn model(params: &str, units: &[&str], n: i64) -> NewDispatchModel {
    NewDispatchModel {
        params: params.into(),
        trained_on: 100 + n,
        held_out: 25,
        units: units.iter().map(|u| (*u).to_owned()).collect(),
        metrics: format!("{{\"accuracy\":0.{n}}}"),
        change: change("alice", &format!("nightly {n}"), n),
    }
}

/// Versions count from 1 and are stored inactive with every field (the
/// parameters byte for byte); activation is conditional on the version
/// the caller read (a stale one is `Conflict` and changes nothing), an
/// unknown version is `NotFound`, 0 switches the model off; every change
/// leaves one event in order, naming the versions before and after.
pub async fn dispatch_models_are_versioned_activated_and_audited(store: Arc<dyn Store>) {
    let store = store.as_ref();
    assert_eq!(
        store.active_dispatch_model_version().await.expect("active"),
        0
    );
    assert!(
        store
            .list_dispatch_models(None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    let params = "{\"format\":1,\"w\":[\"b:噪音\",\"r:4301\"],\"x\":\"\\\\\"}";
    let first = store
        .save_dispatch_model(&model(params, &["env-bureau", "market-regulation"], 1))
        .await
        .expect("save 1");
    let second = store
        .save_dispatch_model(&model("{}", &["market-regulation"], 2))
        .await
        .expect("save 2");
    assert_eq!((first.version, second.version), (1, 2));
    assert!(!first.active && !second.active, "stored inactive");
    let (read, read_params) = store.dispatch_model(1).await.expect("read 1");
    assert_eq!(read, first, "every field round-trips");
    assert_eq!(read_params, params, "parameters round-trip byte for byte");
    assert_eq!(read.units, ["env-bureau", "market-regulation"]);
    assert_eq!(read.create_time, t0() + micros(1));
    let listed = store.list_dispatch_models(None, 10).await.expect("list");
    assert_eq!(
        listed.iter().map(|m| m.version).collect::<Vec<_>>(),
        [2, 1],
        "newest first"
    );
    let page = store.list_dispatch_models(Some(2), 10).await.expect("page");
    assert_eq!(page.iter().map(|m| m.version).collect::<Vec<_>>(), [1]);
    assert!(is_not_found(&store.dispatch_model(3).await));

    let activate = |expected, version, n| async move {
        store
            .set_active_dispatch_model(
                expected,
                version,
                ModelEventKind::Activated,
                &change("bob", "go", n),
            )
            .await
    };
    activate(0, 1, 3).await.expect("activate 1");
    assert_eq!(
        store.active_dispatch_model_version().await.expect("active"),
        1
    );
    assert!(store.dispatch_model(1).await.expect("read").0.active);
    assert!(!store.dispatch_model(2).await.expect("read").0.active);
    let stale = activate(0, 2, 4).await;
    assert!(is_conflict(&stale), "a stale expectation: {stale:?}");
    assert_eq!(
        store.active_dispatch_model_version().await.expect("active"),
        1
    );
    assert!(is_not_found(&activate(1, 9, 5).await));
    assert_eq!(
        store.active_dispatch_model_version().await.expect("active"),
        1
    );
    activate(1, 2, 6).await.expect("activate 2");
    store
        .set_active_dispatch_model(2, 1, ModelEventKind::RolledBack, &change("bob", "back", 7))
        .await
        .expect("roll back");
    store
        .set_active_dispatch_model(1, 0, ModelEventKind::RolledBack, &change("bob", "off", 8))
        .await
        .expect("switch off");
    assert_eq!(
        store.active_dispatch_model_version().await.expect("active"),
        0
    );

    let events = store
        .dispatch_model_events(None, 100)
        .await
        .expect("events");
    let trail: Vec<(ModelEventKind, i64, i64, &str)> = events
        .iter()
        .map(|e| (e.kind, e.version, e.previous, e.change.note.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            (ModelEventKind::Trained, 1, 0, "nightly 1"),
            (ModelEventKind::Trained, 2, 0, "nightly 2"),
            (ModelEventKind::Activated, 1, 0, "go"),
            (ModelEventKind::Activated, 2, 1, "go"),
            (ModelEventKind::RolledBack, 1, 2, "back"),
            (ModelEventKind::RolledBack, 0, 1, "off"),
        ],
        "one event per change, none for the refused ones"
    );
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(events[3].change.actor, "bob");
    assert_eq!(events[3].change.actor_role, "admin");
    assert_eq!(events[3].change.time, t0() + micros(6));
    let of_one = store
        .dispatch_model_events(Some(1), 100)
        .await
        .expect("of 1");
    assert_eq!(
        of_one.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            ModelEventKind::Trained,
            ModelEventKind::Activated,
            ModelEventKind::RolledBack
        ]
    );
}

/// A retirement round-trips with or without successor, is listed by unit
/// id, read by unit and counted; retiring a unit twice is `AlreadyExists`, an unknown
/// unit or successor `NotFound`, and neither writes anything.
pub async fn unit_retirements_round_trip(store: Arc<dyn Store>) {
    let store = store.as_ref();
    seed_units(store).await;
    seed_more_units(store).await;
    assert_eq!(store.count_unit_retirements().await.expect("count"), 0);
    let renamed = UnitRetirement {
        unit: unit_id("market-regulation"),
        successor: Some(unit_id("env-bureau")),
        note: "机构改革：并入".into(),
        retired_by: "alice".into(),
        time: t0() + micros(11),
    };
    let abolished = UnitRetirement {
        unit: unit_id("police-330106"),
        successor: None,
        note: String::new(),
        retired_by: "bob".into(),
        time: t0() + micros(12),
    };
    store
        .retire_unit(&renamed)
        .await
        .expect("retire with successor");
    store.retire_unit(&abolished).await.expect("retire without");
    assert_eq!(
        store.unit_retirements().await.expect("list"),
        [renamed.clone(), abolished.clone()],
        "by unit id, every field"
    );
    assert_eq!(
        store
            .unit_retirement(&unit_id("market-regulation"))
            .await
            .expect("one"),
        Some(renamed.clone())
    );
    assert_eq!(
        store
            .unit_retirement(&unit_id("env-bureau"))
            .await
            .expect("one"),
        None,
        "not retired"
    );
    let twice = store.retire_unit(&renamed).await;
    assert!(is_already_exists(&twice), "{twice:?}");
    let unknown = store
        .retire_unit(&UnitRetirement {
            unit: unit_id("nowhere"),
            ..abolished.clone()
        })
        .await;
    assert!(is_not_found(&unknown), "{unknown:?}");
    let unknown_successor = store
        .retire_unit(&UnitRetirement {
            unit: unit_id("d330106"),
            successor: Some(unit_id("nowhere")),
            ..abolished.clone()
        })
        .await;
    assert!(is_not_found(&unknown_successor), "{unknown_successor:?}");
    assert_eq!(store.count_unit_retirements().await.expect("count"), 2);
}

/// A background training: its version is stored `training` (one at a
/// time: a second start is `AlreadyExists`), renews its heartbeat, and
/// becomes `ready` with the model, or `failed` with the reason; a
/// training whose heartbeat is older than the cut-off is failed, a fresh
/// one is not; each step leaves its event.
pub async fn dispatch_model_trainings_run_one_at_a_time(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let started = store
        .start_dispatch_model_training(&change("alice", "nightly", 1))
        .await
        .expect("start");
    assert_eq!(started.state, ModelState::Training);
    assert_eq!(
        store.dispatch_model(started.version).await.expect("read").0,
        started,
        "as returned"
    );
    let twice = store
        .start_dispatch_model_training(&change("bob", "again", 2))
        .await;
    assert!(is_already_exists(&twice), "{twice:?}");
    assert!(
        store
            .heartbeat_dispatch_model_training(started.version, t0() + micros(50))
            .await
            .expect("heartbeat")
    );
    // Stale before 40 µs: the heartbeat (50) is fresh, nothing fails.
    let none = store
        .fail_dispatch_model_trainings(None, Some(t0() + micros(40)), "x", &change("s", "", 3))
        .await
        .expect("fail stale");
    assert!(none.is_empty());
    let ready = store
        .finish_dispatch_model_training(started.version, &model("{}", &["env-bureau"], 4))
        .await
        .expect("finish");
    assert_eq!(ready.state, ModelState::Ready);
    assert_eq!((ready.trained_on, ready.units.len()), (104, 1));
    assert_eq!(
        store.dispatch_model(started.version).await.expect("read").1,
        "{}"
    );
    assert!(
        is_conflict(
            &store
                .finish_dispatch_model_training(started.version, &model("{}", &[], 5))
                .await
        ),
        "ready is final"
    );

    // The next training's process stops: failed once its heartbeat is old.
    let stopped = store
        .start_dispatch_model_training(&change("alice", "stopped", 6))
        .await
        .expect("start after the first ended");
    let failed = store
        .fail_dispatch_model_trainings(
            None,
            Some(t0() + micros(7)),
            "interrupted",
            &change("s", "", 8),
        )
        .await
        .expect("fail stale");
    assert_eq!(failed, [stopped.version]);
    let (read, _) = store.dispatch_model(stopped.version).await.expect("read");
    assert_eq!(read.state, ModelState::Failed);
    assert_eq!(read.failure.as_deref(), Some("interrupted"));
    assert!(
        !store
            .heartbeat_dispatch_model_training(stopped.version, t0() + micros(9))
            .await
            .expect("heartbeat"),
        "no longer training"
    );
    let kinds = |version| async move {
        store
            .dispatch_model_events(Some(version), 10)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(started.version).await,
        [ModelEventKind::TrainingStarted, ModelEventKind::Trained]
    );
    assert_eq!(
        kinds(stopped.version).await,
        [
            ModelEventKind::TrainingStarted,
            ModelEventKind::TrainingFailed
        ]
    );
}
