//! `TrainDispatchModel` in the background: the request stores a version in
//! state `training` and returns it at once; a task trains it and makes it
//! `ready` with its figures, or `failed` with the reason. A training of
//! thousands of tickets outlasts any RPC deadline; the client follows the
//! version with `GetDispatchModel`/`ListDispatchModels`.
//!
//! - **One at a time.** The store admits one `training` version (a partial
//!   unique index): a second request while one runs is FAILED_PRECONDITION
//!   `TRAINING_IN_PROGRESS` — not ABORTED, which tells a client to retry
//!   now (a lost race); here it must wait until the running training ends,
//!   minutes perhaps, as for any state that refuses a request.
//! - **Interrupted trainings.** The task renews the version's heartbeat
//!   every [`HEARTBEAT`] on the service clock. A `training` version whose
//!   heartbeat is older than [`LEASE`] belongs to a process that stopped
//!   (a restart, a crash): every replica marks such versions `failed`
//!   ("interrupted") when it starts, before a new training starts, and at
//!   each refresh (`routing.refresh_secs`), so none stays `training` for
//!   ever, and a running training on another replica — its heartbeat
//!   fresh — is left alone.

use std::time::Duration;

use super::{
    ServiceError, Workflow,
    dispatch_model::{change, train_model},
};
use crate::{
    domain::Principal,
    store::{DispatchModelInfo, ModelChange, StoreError},
};

/// How often a running training renews its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// How old a training's heartbeat may get before it counts as
/// interrupted: six missed heartbeats.
pub const LEASE: Duration = Duration::from_secs(60);

/// The failure recorded for an interrupted training.
pub const INTERRUPTED: &str = "interrupted: the process training it stopped (restart or crash)";

impl Workflow {
    /// Starts training a version in the background and returns it in
    /// state `training`.
    pub async fn train_dispatch_model(
        &self,
        principal: &Principal,
        note: &str,
    ) -> Result<DispatchModelInfo, ServiceError> {
        self.fail_interrupted_trainings().await?;
        let started = change(principal, note, self);
        let info = self
            .store()
            .start_dispatch_model_training(&started)
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => ServiceError::Precondition {
                    kind: "TRAINING_IN_PROGRESS",
                    message: "a dispatch model is training: wait until it is ready or failed"
                        .into(),
                },
                other => other.into(),
            })?;
        let workflow = self.clone();
        let version = info.version;
        tokio::spawn(async move { workflow.run_training(version, started).await });
        Ok(info)
    }

    /// Trains `version`, renewing its heartbeat, and stores the outcome.
    async fn run_training(&self, version: i64, started: ModelChange) {
        let store = self.store().clone();
        let settings = self.dispatch_model_settings().clone();
        let work = train_model(store.as_ref(), &settings, started.clone());
        tokio::pin!(work);
        let mut beat = tokio::time::interval(HEARTBEAT);
        beat.tick().await;
        let outcome = loop {
            tokio::select! {
                outcome = &mut work => break outcome,
                _ = beat.tick() => {
                    if let Err(e) = store
                        .heartbeat_dispatch_model_training(version, self.clock().now())
                        .await
                    {
                        tracing::warn!(version, error = %e.report(), "dispatch model heartbeat failed");
                    }
                }
            }
        };
        let ended = ModelChange {
            time: self.clock().now(),
            ..started
        };
        let stored = match outcome {
            Ok((new, summary)) => {
                let new = crate::store::NewDispatchModel {
                    change: ended,
                    ..new
                };
                store
                    .finish_dispatch_model_training(version, &new)
                    .await
                    .map(|_| {
                        tracing::info!(
                            version,
                            trained_on = summary.trained_on,
                            "dispatch model trained"
                        )
                    })
            }
            Err(error) => {
                tracing::warn!(version, %error, "dispatch model training failed");
                store
                    .fail_dispatch_model_trainings(Some(version), None, &error.to_string(), &ended)
                    .await
                    .map(|_| ())
            }
        };
        if let Err(e) = stored {
            tracing::error!(version, error = %e.report(), "the outcome of a dispatch model training was not stored");
        }
    }

    /// Marks `failed` every `training` version whose heartbeat is older
    /// than [`LEASE`]: its process stopped. Returns the versions marked.
    pub async fn fail_interrupted_trainings(&self) -> Result<Vec<i64>, ServiceError> {
        let now = self.clock().now();
        let lease = chrono::TimeDelta::from_std(LEASE).unwrap_or(chrono::TimeDelta::MAX);
        let change = ModelChange {
            actor: "system:dispatch-model".into(),
            actor_role: "system".into(),
            note: INTERRUPTED.into(),
            time: now,
        };
        let failed = self
            .store()
            .fail_dispatch_model_trainings(None, Some(now - lease), INTERRUPTED, &change)
            .await?;
        if !failed.is_empty() {
            tracing::warn!(versions = ?failed, "interrupted dispatch model trainings marked failed");
        }
        Ok(failed)
    }
}
