//! TrainDispatchModel in the background, through the API on the backend
//! the environment names: the request returns the version `training` at
//! once, it becomes `ready` with its figures or `failed` with the reason;
//! a version not ready cannot be activated; one training at a time; a
//! training whose process stopped is marked failed when a server starts,
//! one still alive is left alone.

use hotline::{
    domain::Clock,
    proto::v1 as pb,
    store::{ModelChange, ModelState},
};
use tonic::Code;

use crate::{
    dispatch_model::{close_history, settings, start},
    helpers::{error_reason, spawn_app_on},
};

fn started_by(at: chrono::DateTime<chrono::Utc>) -> ModelChange {
    ModelChange {
        actor: "cli:test".into(),
        actor_role: "admin".into(),
        note: "a training of another process".into(),
        time: at,
    }
}

#[tokio::test]
async fn training_runs_in_the_background_and_ends_ready_or_failed() {
    let app = start().await;
    let mut admin = app.admin();

    // Nothing closed: the version starts, then fails with the reason.
    let first = admin.start_training("nothing closed yet").await.unwrap();
    assert_eq!(first.state, pb::DispatchModelState::Training as i32);
    assert_eq!(first.name, "dispatchModels/1");
    assert!(first.metrics.is_none() && first.units.is_empty());
    let failed = admin.trained(&first.name).await;
    assert_eq!(failed.state, pb::DispatchModelState::Failed as i32);
    assert!(failed.failure.contains("two units"), "{failed:?}");
    let err = admin.activate(&first.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "MODEL_NOT_READY");

    close_history(&app).await;
    let second = admin.start_training("首个版本").await.unwrap();
    assert_eq!(second.state, pb::DispatchModelState::Training as i32);
    let ready = admin.trained(&second.name).await;
    assert_eq!(ready.state, pb::DispatchModelState::Ready as i32);
    assert_eq!(ready.failure, "");
    assert!(ready.trained_on > 0 && ready.metrics.is_some());
    let listed = admin.models().await;
    let states: Vec<i32> = listed.iter().map(|m| m.state).collect();
    assert_eq!(
        states,
        [
            pb::DispatchModelState::Ready as i32,
            pb::DispatchModelState::Failed as i32
        ]
    );
    assert!(admin.activate(&second.name).await.unwrap().active);

    // Another training running (its heartbeat fresh): a second request is
    // refused, and its version cannot be activated.
    let running = app
        .store
        .start_dispatch_model_training(&started_by(app.clock.now()))
        .await
        .unwrap();
    assert_eq!(running.state, ModelState::Training);
    let err = admin.start_training("again").await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&err).0, "TRAINING_IN_PROGRESS");
    let err = admin
        .activate(&format!("dispatchModels/{}", running.version))
        .await
        .unwrap_err();
    assert_eq!(error_reason(&err).0, "MODEL_NOT_READY");

    // A server starting on the database leaves a live training alone.
    let replica = spawn_app_on(app.database.clone().unwrap(), settings).await;
    let mut other = replica.admin();
    let live = other
        .get_model(&format!("dispatchModels/{}", running.version))
        .await;
    assert_eq!(live.state, pb::DispatchModelState::Training as i32);
}

#[tokio::test]
async fn a_training_interrupted_by_a_restart_is_marked_failed_on_start() {
    let app = start().await;
    // A training whose process stopped two minutes ago: its heartbeat is
    // older than the lease.
    let stale = app
        .store
        .start_dispatch_model_training(&started_by(app.clock.now() - chrono::TimeDelta::minutes(2)))
        .await
        .unwrap();
    let restarted = spawn_app_on(app.database.clone().unwrap(), settings).await;
    let mut admin = restarted.admin();
    let name = format!("dispatchModels/{}", stale.version);
    let failed = admin.get_model(&name).await;
    assert_eq!(failed.state, pb::DispatchModelState::Failed as i32);
    assert!(failed.failure.starts_with("interrupted"), "{failed:?}");
    let events = restarted
        .store
        .dispatch_model_events(Some(stale.version), 10)
        .await
        .unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| hotline::domain::text_enum::TextEnum::code(e.kind))
        .collect();
    assert_eq!(kinds, ["training_started", "training_failed"]);
    // Nothing blocks a new training now.
    close_history(&restarted).await;
    let next = admin.start_training("after the restart").await.unwrap();
    assert_eq!(
        admin.trained(&next.name).await.state,
        pb::DispatchModelState::Ready as i32
    );
}
