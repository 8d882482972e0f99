//! Versions of the learned dispatch model: each trained model stored
//! whole and immutable, which one is active, and every change audited in
//! the transaction of the change.
//!
//! The parameters and the metrics are documents of `hotline-model`
//! (serialized `ModelParams`, held-out metrics), opaque to the store as a
//! rule set's rules are: read whole, never queried inside.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::fmt::Debug;

use super::StoreResult;
use hotline_domain::text_enum;

/// A stored model version, without its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchModelInfo {
    /// Version, from 1.
    pub version: i64,
    /// Closed tickets it was fitted on.
    pub trained_on: i64,
    /// Closed tickets held out to measure it.
    pub held_out: i64,
    /// The units it can suggest, as trained.
    pub units: Vec<String>,
    /// Its held-out metrics (JSON).
    pub metrics: String,
    /// Why it was trained.
    pub note: String,
    /// Who trained it.
    pub creator: String,
    /// When.
    pub create_time: DateTime<Utc>,
    /// Whether routing uses it now.
    pub active: bool,
    /// Training, ready or failed.
    pub state: ModelState,
    /// Why its training failed ([`ModelState::Failed`]).
    pub failure: Option<String>,
}

text_enum! {
    /// Where a version's training stands: only a ready version can be
    /// activated.
    pub enum ModelState {
        /// Its training runs in the background (TrainDispatchModel).
        Training => "training",
        /// Trained, with its parameters and figures.
        Ready => "ready",
        /// The training failed, or its process stopped (a restart): the
        /// version holds no model.
        Failed => "failed",
    }
}

/// A model to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispatchModel {
    /// The serialized parameters (JSON).
    pub params: String,
    /// Closed tickets it was fitted on.
    pub trained_on: i64,
    /// Closed tickets held out.
    pub held_out: i64,
    /// The units it can suggest.
    pub units: Vec<String>,
    /// Its held-out metrics (JSON).
    pub metrics: String,
    /// Who trains it, why and when.
    pub change: ModelChange,
}

/// Who changes the models, why and when: the audit event's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChange {
    /// Token subject (or `cli:…`).
    pub actor: String,
    /// The acting role.
    pub actor_role: String,
    /// Free text.
    pub note: String,
    /// When.
    pub time: DateTime<Utc>,
}

text_enum! {
    /// What happened to the models.
    pub enum ModelEventKind {
        /// A version was trained and stored (not active).
        Trained => "trained",
        /// A training started in the background (its version `training`).
        TrainingStarted => "training_started",
        /// A training failed or was interrupted (its version `failed`).
        TrainingFailed => "training_failed",
        /// A version was made active.
        Activated => "activated",
        /// The version active before the current one's activation was put
        /// back (0: none).
        RolledBack => "rolled_back",
    }
}

/// One audit event of the models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchModelEvent {
    /// Position in the trail, increasing.
    pub id: i64,
    /// What happened.
    pub kind: ModelEventKind,
    /// The version trained, or active after the change (0: none).
    pub version: i64,
    /// The version active before the change (0: none).
    pub previous: i64,
    /// Who, why, when.
    pub change: ModelChange,
}

/// The dispatch model's versions.
#[async_trait]
pub trait ModelStore: Send + Sync + Debug {
    /// Stores a trained model as the next version (inactive) with its
    /// `trained` event.
    async fn save_dispatch_model(&self, model: &NewDispatchModel)
    -> StoreResult<DispatchModelInfo>;
    /// Makes `version` active (0: none) if `expected` is active now, with
    /// its event; `Conflict` if another change came first, `NotFound` if
    /// the version does not exist.
    async fn set_active_dispatch_model(
        &self,
        expected: i64,
        version: i64,
        kind: ModelEventKind,
        change: &ModelChange,
    ) -> StoreResult<()>;
    /// Stores a new version in state `training`, its heartbeat at
    /// `change.time`, with its `training_started` event; `AlreadyExists`
    /// while another version is training (at most one at a time).
    async fn start_dispatch_model_training(
        &self,
        change: &ModelChange,
    ) -> StoreResult<DispatchModelInfo>;
    /// Renews the heartbeat of a version still training; `false` when it
    /// no longer is (it was marked failed meanwhile).
    async fn heartbeat_dispatch_model_training(
        &self,
        version: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Puts the trained model into its `training` version, now `ready`,
    /// with the `trained` event; `Conflict` when it is no longer training.
    async fn finish_dispatch_model_training(
        &self,
        version: i64,
        model: &NewDispatchModel,
    ) -> StoreResult<DispatchModelInfo>;
    /// Marks `training` versions `failed` with `reason` and a
    /// `training_failed` event each: `version` if given, and every one
    /// whose heartbeat is older than `stale_before` if given. Returns the
    /// versions marked.
    async fn fail_dispatch_model_trainings(
        &self,
        version: Option<i64>,
        stale_before: Option<DateTime<Utc>>,
        reason: &str,
        change: &ModelChange,
    ) -> StoreResult<Vec<i64>>;
    /// A version and its parameters.
    async fn dispatch_model(&self, version: i64) -> StoreResult<(DispatchModelInfo, String)>;
    /// The active version, 0 for none: a cheap check for changes.
    async fn active_dispatch_model_version(&self) -> StoreResult<i64>;
    /// Versions older than `before` (all if `None`), newest first.
    async fn list_dispatch_models(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DispatchModelInfo>>;
    /// The audit trail, oldest first: of one version (the events whose
    /// `version` it is) or all.
    async fn dispatch_model_events(
        &self,
        version: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<DispatchModelEvent>>;
}
