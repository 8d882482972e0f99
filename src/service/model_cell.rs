//! The compiled dispatch model of the active version, shared by all RPCs,
//! like [`super::router_cell`] for the rules: readers clone an `Arc` under
//! a short read lock, a reload compiles outside it and swaps the result in,
//! and another replica's activation, rollback, new unit or retirement is
//! noticed by a periodic check of (active version, units, retirements).
//!
//! Compiling maps every unit the model was trained on through the
//! directory's retirements (a renamed or merged unit to its successor, an
//! abolished one to nothing), so the model never suggests a unit that no
//! longer exists, even one retired after the model was trained.

use std::{collections::HashMap, sync::Arc};

use super::{catalogue::known_units, snapshot::Snapshot};
use crate::store::{Store, StoreResult};
use hotline_model::{DispatchModel, ModelParams, Successions};

/// Holds the active model, if any.
#[derive(Debug)]
pub struct ModelCell {
    store: Arc<dyn Store>,
    current: Snapshot<Fingerprint, Option<DispatchModel>>,
}

/// What the compiled model was built from: the active version, the number
/// of units and of retirements.
type Fingerprint = (i64, i64, i64);

impl ModelCell {
    /// Loads and compiles the active model.
    pub async fn load(store: Arc<dyn Store>) -> StoreResult<Self> {
        let (fingerprint, model) = compile(store.as_ref()).await?;
        Ok(Self {
            store,
            current: Snapshot::new(fingerprint, model),
        })
    }

    /// The model to decide with now (`None`: no active version).
    pub fn current(&self) -> Arc<Option<DispatchModel>> {
        self.current.get()
    }

    /// Recompiles from the store (after an activation, a rollback or a
    /// directory change).
    pub async fn reload(&self) -> StoreResult<()> {
        let (fingerprint, model) = compile(self.store.as_ref()).await?;
        self.current.set(fingerprint, model);
        Ok(())
    }

    /// Reloads if the store changed since the last compile.
    pub async fn refresh_if_stale(&self) -> StoreResult<bool> {
        if fingerprint(self.store.as_ref()).await? == self.current.key() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }
}

async fn fingerprint(store: &dyn Store) -> StoreResult<Fingerprint> {
    Ok((
        store.active_dispatch_model_version().await?,
        store.count_units().await?,
        store.count_unit_retirements().await?,
    ))
}

/// The directory as the model needs it: which unit answers for a unit's
/// matters now.
#[derive(Debug)]
pub struct LiveUnits {
    units: HashMap<String, crate::domain::directory::UnitKind>,
    successions: Successions,
}

impl LiveUnits {
    /// Reads the directory and its retirements.
    pub async fn load(store: &dyn Store) -> StoreResult<Self> {
        Ok(Self {
            units: known_units(store).await?,
            successions: successions(store).await?,
        })
    }

    /// The unit answering for `unit`'s matters now, if any.
    pub fn resolve(&self, unit: &str) -> Option<crate::domain::UnitId> {
        self.successions
            .resolve(unit, &|u| self.units.contains_key(u))
    }

    /// The retirements.
    pub fn successions(&self) -> &Successions {
        &self.successions
    }

    /// Whether `unit` is in the directory (retired or not).
    pub fn exists(&self, unit: &str) -> bool {
        self.units.contains_key(unit)
    }
}

/// The directory's retirements: which unit answers for a retired unit's
/// matters now (the model's mapping, the router's, a refused dispatch's
/// advice).
pub async fn successions(store: &dyn Store) -> StoreResult<Successions> {
    let retirements = store.unit_retirements().await?;
    Ok(Successions::new(retirements.into_iter().map(|r| {
        (
            r.unit.as_str().to_owned(),
            r.successor.map(|s| s.as_str().to_owned()),
        )
    })))
}

/// The fingerprint is read first: a change racing the compile makes the
/// next check reload again rather than keep a stale model.
async fn compile(store: &dyn Store) -> StoreResult<(Fingerprint, Option<DispatchModel>)> {
    let fingerprint = fingerprint(store).await?;
    let version = fingerprint.0;
    if version == 0 {
        return Ok((fingerprint, None));
    }
    let (_, params) = store.dispatch_model(version).await?;
    let live = LiveUnits::load(store).await?;
    let model = serde_json::from_str::<ModelParams>(&params)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            DispatchModel::compile(version, &p, &|u| live.resolve(u)).map_err(|e| e.to_string())
        });
    match model {
        Ok(model) => Ok((fingerprint, Some(model))),
        Err(error) => {
            // Routing goes on by the rules; the operator sees why.
            tracing::error!(version, %error, "the active dispatch model cannot be used");
            Ok((fingerprint, None))
        }
    }
}
