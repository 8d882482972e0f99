//! The unit and region directory: who handles tickets, and where.

use super::{
    ServiceError, Workflow,
    workflow::{RequestKey, check_retry, idempotency_key},
};
use crate::{
    domain::{
        Principal, RegionCode, UnitId,
        directory::{Region, Unit, UnitKind, UnitRetirement, check_region_parent},
    },
    store::StoreError,
};

/// A unit as a client describes it, parsed; the service checks the parent
/// and stamps the creation time.
#[derive(Debug, Clone)]
pub struct UnitDraft {
    /// The new unit's id.
    pub id: UnitId,
    /// Its display name.
    pub display_name: String,
    /// Department, district, street, ….
    pub kind: UnitKind,
    /// The area it serves.
    pub region_code: RegionCode,
    /// The unit it belongs to, which must exist.
    pub parent: Option<UnitId>,
}

impl Workflow {
    /// Adds a unit, idempotently on the request's key: a retry gets the
    /// unit the first request created, the key reused for another request
    /// is refused. A new street or district changes territorial routing,
    /// so the router is rebuilt.
    pub async fn create_unit(
        &self,
        principal: &Principal,
        request: &RequestKey,
        draft: UnitDraft,
    ) -> Result<Unit, ServiceError> {
        let store = self.store();
        let key = idempotency_key(principal, request, "CreateUnit")?;
        if let Some(unit) = self.replay_unit(key.as_ref()).await? {
            return Ok(unit);
        }
        draft
            .kind
            .check_region(&draft.region_code)
            .map_err(|e| e.within("unit.region_code"))?;
        if let Some(parent) = &draft.parent {
            self.require_unit(parent, "unit.parent").await?;
        }
        let unit = Unit {
            id: draft.id,
            display_name: draft.display_name,
            kind: draft.kind,
            region_code: draft.region_code,
            parent: draft.parent,
            create_time: self.clock().now(),
        };
        match store.create_unit(&unit, key.clone()).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists(_)) => {
                // A concurrent retry may have committed first: replay it.
                return match self.replay_unit(key.as_ref()).await? {
                    Some(created) => Ok(created),
                    None => Err(ServiceError::AlreadyExists(unit.id.name())),
                };
            }
            Err(other) => return Err(other.into()),
        }
        if matches!(unit.kind, UnitKind::Street | UnitKind::District) {
            self.router().reload().await?;
        }
        Ok(unit)
    }

    /// The unit a key created before, if the key was used (by the same
    /// request; another request under it is refused).
    async fn replay_unit(
        &self,
        key: Option<&crate::store::IdempotencyKey>,
    ) -> Result<Option<Unit>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let Some(previous) = self
            .store()
            .find_idempotent(&key.subject, &key.request_id)
            .await?
        else {
            return Ok(None);
        };
        check_retry(&previous, key, None)?;
        let id = super::error::at(UnitId::from_name(&previous.resource), "request_id")?;
        Ok(Some(self.store().get_unit(&id).await?))
    }

    /// Retires a unit (机构改革), its matters passing to `successor` if
    /// given, and puts the change in force for the dispatch model and the
    /// rules on this replica at once (the others within
    /// `routing.refresh_secs`); from then on no request may hand it a
    /// ticket (see [`Workflow::require_active_unit`]). The successor must exist, differ and not be
    /// retired (INVALID_ARGUMENT on `successor`); a retired unit is
    /// FAILED_PRECONDITION `UNIT_RETIRED`.
    pub async fn retire_unit(
        &self,
        principal: &Principal,
        unit: UnitId,
        successor: Option<UnitId>,
        note: String,
    ) -> Result<UnitRetirement, ServiceError> {
        let store = self.store();
        store.get_unit(&unit).await?;
        if let Some(next) = &successor {
            if *next == unit {
                return Err(ServiceError::invalid(
                    "successor",
                    "a unit cannot succeed itself",
                ));
            }
            self.require_unit(next, "successor").await?;
            if store
                .unit_retirements()
                .await?
                .iter()
                .any(|r| r.unit == *next)
            {
                return Err(ServiceError::invalid(
                    "successor",
                    format!("{} is retired itself", next.name()),
                ));
            }
        }
        let retirement = UnitRetirement {
            unit,
            successor,
            note,
            retired_by: principal.subject.clone(),
            time: self.clock().now(),
        };
        store.retire_unit(&retirement).await.map_err(|e| match e {
            StoreError::AlreadyExists(what) => ServiceError::Precondition {
                kind: "UNIT_RETIRED",
                message: what,
            },
            other => other.into(),
        })?;
        self.model().reload().await?;
        self.router().reload().await?;
        Ok(retirement)
    }

    /// One unit.
    pub async fn get_unit(&self, id: &UnitId) -> Result<Unit, ServiceError> {
        Ok(self.store().get_unit(id).await?)
    }

    /// A page of units in id order, optionally within a region prefix and
    /// of one kind.
    pub async fn list_units(
        &self,
        region_prefix: Option<&str>,
        kind: Option<UnitKind>,
        after: Option<&UnitId>,
        limit: u32,
    ) -> Result<Vec<Unit>, ServiceError> {
        Ok(self
            .store()
            .list_units(region_prefix, kind, after, limit)
            .await?)
    }

    /// Adds a region under an existing parent (INVALID_ARGUMENT on
    /// `region.parent` if the parent is unknown).
    pub async fn create_region(&self, region: Region) -> Result<Region, ServiceError> {
        let store = self.store();
        if let Some(parent) = &region.parent {
            check_region_parent(&region.code, parent).map_err(|e| e.within("region.parent"))?;
            match store.get_region(parent).await {
                Ok(_) => {}
                Err(StoreError::NotFound(_)) => {
                    return Err(ServiceError::invalid(
                        "region.parent",
                        format!("unknown region {parent}"),
                    ));
                }
                Err(e) => return Err(e.into()),
            }
        }
        store.create_region(&region).await.map_err(|e| match e {
            StoreError::AlreadyExists(_) => {
                ServiceError::AlreadyExists(format!("regions/{}", region.code))
            }
            other => other.into(),
        })?;
        Ok(region)
    }

    /// One region.
    pub async fn get_region(&self, code: &RegionCode) -> Result<Region, ServiceError> {
        Ok(self.store().get_region(code).await?)
    }

    /// A page of regions in code order, optionally within a prefix.
    pub async fn list_regions(
        &self,
        prefix: Option<&str>,
        after: Option<&RegionCode>,
        limit: u32,
    ) -> Result<Vec<Region>, ServiceError> {
        Ok(self.store().list_regions(prefix, after, limit).await?)
    }
}
