//! The working-day calendar in force, shared by all RPCs.
//!
//! The first start stores the shipped national schedule as version 1, so
//! every deadline names a stored calendar version. An import stores a new
//! version; other replicas notice it with a cheap version check.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, Utc};

use super::snapshot::Snapshot;
use crate::{
    domain::calendar::{Calendar, CalendarData, CalendarError, WorkingHours},
    store::{CalendarVersion, Store, StoreError, StoreResult},
};

/// Why a calendar could not be loaded or imported.
#[derive(Debug, thiserror::Error)]
pub enum CalendarLoadError {
    /// The data is not a valid calendar.
    #[error(transparent)]
    Invalid(#[from] CalendarError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Holds the calendar in force.
#[derive(Debug)]
pub struct CalendarCell {
    store: Arc<dyn Store>,
    hours: WorkingHours,
    offset: FixedOffset,
    current: Snapshot<i64, Calendar>,
}

impl CalendarCell {
    /// Loads the latest stored version, storing the national schedule as the
    /// first version when there is none.
    pub async fn load(
        store: Arc<dyn Store>,
        hours: WorkingHours,
        offset: FixedOffset,
        now: DateTime<Utc>,
    ) -> Result<Self, CalendarLoadError> {
        let stored = match store.latest_calendar().await? {
            Some(v) => v,
            None => {
                store
                    .save_calendar(
                        &CalendarData::national(),
                        "national schedule shipped with hotline",
                        "system",
                        now,
                    )
                    .await?
            }
        };
        let calendar = Calendar::new(stored.data, hours, offset, stored.version)?;
        Ok(Self {
            store,
            hours,
            offset,
            current: Snapshot::new(stored.version, calendar),
        })
    }

    /// The calendar in force.
    pub fn current(&self) -> Arc<Calendar> {
        self.current.get()
    }

    /// Merges `import` into the calendar in force, stores the result as a
    /// new version and puts it in force. Deadlines already computed keep the
    /// version they were computed with.
    pub async fn import(
        &self,
        import: &CalendarData,
        note: &str,
        loaded_by: &str,
        now: DateTime<Utc>,
    ) -> Result<CalendarVersion, CalendarLoadError> {
        let merged = self.current().data().merge(import);
        Calendar::new(merged.clone(), self.hours, self.offset, 0)?;
        let stored = self
            .store
            .save_calendar(&merged, note, loaded_by, now)
            .await?;
        let calendar = Calendar::new(stored.data.clone(), self.hours, self.offset, stored.version)?;
        self.current.set(stored.version, calendar);
        Ok(stored)
    }

    /// Reloads if another replica stored a newer version.
    pub async fn refresh_if_stale(&self) -> StoreResult<bool> {
        let latest = self.store.latest_calendar_version().await?;
        if latest.is_none_or(|v| v == self.current.key()) {
            return Ok(false);
        }
        let Some(stored) = self.store.latest_calendar().await? else {
            return Ok(false);
        };
        match Calendar::new(stored.data, self.hours, self.offset, stored.version) {
            Ok(calendar) => {
                self.current.set(stored.version, calendar);
                Ok(true)
            }
            Err(e) => Err(StoreError::internal(format!(
                "stored calendar {} is invalid: {e}",
                stored.version
            ))),
        }
    }
}
