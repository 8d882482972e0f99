//! The compiled router of the active rule-set version, shared by all RPCs.
//!
//! Readers clone an `Arc<Router>` under a short read lock, so a decision
//! never sees a half-built index; a reload compiles a new router outside the
//! lock and swaps it in. Another replica's publish is noticed by a periodic
//! check of (active version, unit count).

use std::sync::Arc;

use super::snapshot::Snapshot;
use crate::{
    domain::{
        directory::{Unit, UnitKind},
        routing::{Router, RouterOptions, TerritoryMap},
    },
    store::{Store, StoreResult},
};

/// Page size used when loading territorial units.
const UNIT_PAGE: u32 = 1000;

/// Holds the current router.
#[derive(Debug)]
pub struct RouterCell {
    store: Arc<dyn Store>,
    options: RouterOptions,
    current: Snapshot<Fingerprint, Router>,
}

/// What the compiled router was built from.
type Fingerprint = (Option<i64>, i64);

impl RouterCell {
    /// Loads and compiles the active rule set.
    pub async fn load(store: Arc<dyn Store>, options: RouterOptions) -> StoreResult<Self> {
        let (fingerprint, router) = compile(store.as_ref(), options).await?;
        Ok(Self {
            store,
            options,
            current: Snapshot::new(fingerprint, router),
        })
    }

    /// The router to decide with now.
    pub fn current(&self) -> Arc<Router> {
        self.current.get()
    }

    /// Recompiles from the store (after a publish, rollback or unit change).
    pub async fn reload(&self) -> StoreResult<()> {
        let (fingerprint, router) = compile(self.store.as_ref(), self.options).await?;
        self.current.set(fingerprint, router);
        Ok(())
    }

    /// Reloads if the store changed since the last compile.
    pub async fn refresh_if_stale(&self) -> StoreResult<bool> {
        let now = fingerprint(self.store.as_ref()).await?;
        if now == self.current.key() {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }
}

async fn fingerprint(store: &dyn Store) -> StoreResult<Fingerprint> {
    Ok((
        store.active_rule_set_version().await?,
        store.count_units().await?,
    ))
}

async fn compile(store: &dyn Store, options: RouterOptions) -> StoreResult<(Fingerprint, Router)> {
    let fingerprint = fingerprint(store).await?;
    let territory = territory(store).await?;
    let router = match store.active_rule_set().await? {
        Some((info, rules)) => Router::compile(info.version, rules, territory, options),
        None => Router::empty(territory, options),
    };
    Ok((fingerprint, router))
}

/// Street and district units, for territorial rules and the fallback.
async fn territory(store: &dyn Store) -> StoreResult<TerritoryMap> {
    let mut units: Vec<Unit> = Vec::new();
    for kind in [UnitKind::Street, UnitKind::District] {
        let mut after = None;
        loop {
            let page = store
                .list_units(None, Some(kind), after.as_ref(), UNIT_PAGE)
                .await?;
            let full = page.len() == UNIT_PAGE as usize;
            after = page.last().map(|u| u.id.clone());
            units.extend(page);
            if !full {
                break;
            }
        }
    }
    Ok(TerritoryMap::from_units(&units))
}
