//! Which region codes the directory holds, for the check every ticket's
//! region passes (intake and corrections).
//!
//! Intake is the hottest write, so a code once found is remembered:
//! regions are only ever added, never removed or renamed, so a remembered
//! code cannot go stale. A code not remembered is looked up (a new region
//! created on another replica is found at once); codes not found are not
//! remembered, so the set holds at most the directory.

use std::{
    collections::HashSet,
    sync::{Arc, RwLock},
};

use super::{ServiceError, error::at};
use crate::{
    domain::{RegionCode, directory::RegionStanding},
    store::{Store, StoreError},
};

/// The directory's region codes as far as intake has needed them.
#[derive(Debug)]
pub struct KnownRegions {
    store: Arc<dyn Store>,
    found: RwLock<HashSet<String>>,
}

impl KnownRegions {
    /// Remembers nothing yet.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            found: RwLock::default(),
        }
    }

    /// Where `code` stands in the directory; a code whose district is not
    /// there either is INVALID_ARGUMENT on `field`, naming the code.
    pub async fn standing(
        &self,
        code: &RegionCode,
        field: &str,
    ) -> Result<RegionStanding, ServiceError> {
        let mut finest_known = None;
        for candidate in code.ancestry() {
            if self.holds(&candidate).await? {
                finest_known = Some(candidate);
                break;
            }
        }
        at(RegionStanding::of(code, finest_known.as_ref()), field)
    }

    /// Whether the directory holds `code`.
    async fn holds(&self, code: &RegionCode) -> Result<bool, ServiceError> {
        if self.remembers(code.as_str()) {
            return Ok(true);
        }
        match self.store.get_region(code).await {
            Ok(_) => {
                match self.found.write() {
                    Ok(mut found) => found.insert(code.as_str().to_owned()),
                    Err(poisoned) => poisoned.into_inner().insert(code.as_str().to_owned()),
                };
                Ok(true)
            }
            Err(StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn remembers(&self, code: &str) -> bool {
        match self.found.read() {
            Ok(found) => found.contains(code),
            Err(poisoned) => poisoned.into_inner().contains(code),
        }
    }
}
