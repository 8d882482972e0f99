//! Hotspot use cases (热点, docs/hotspots.md): the detector each replica
//! runs ([`detector`]), the centre's decisions on what it finds, lists,
//! and the live stream of new and changed hotspots ([`watch`]).
//!
//! Permissions: reading is [`Operation::ReadHotspots`] within the reader's
//! [`AreaScope`] (a unit's user: its unit's region; a hotspot outside the
//! scope is reported as not found); deciding is the domain's
//! [`Hotspot::decide`] (supervisors in their region, admins). After
//! confirming, a supervisor merges the hotspot's tickets with the existing
//! MergeTickets: a hotspot lists its tickets for that.
//!
//! [`Operation::ReadHotspots`]: crate::domain::access::Operation::ReadHotspots

pub mod detector;
pub mod watch;

use std::sync::Arc;

use self::{
    detector::HotspotRunner,
    watch::{ChangeCursor, HotspotChanges, HotspotWatch},
};
use super::{
    ServiceError, Workflow,
    instruments::HotspotInstruments,
    workflow::{RequestKey, check_retry, idempotency_key},
};
use crate::{
    config::HotspotSettings,
    domain::{
        Principal, Role,
        hotspot::{AreaScope, Hotspot, HotspotAction, HotspotId},
    },
    store::{HotspotChange, HotspotQuery, StoreError},
};

/// The hotspot use cases over the shared workflow.
#[derive(Debug, Clone)]
pub struct Hotspots {
    workflow: Arc<Workflow>,
    settings: HotspotSettings,
    changes: HotspotChanges,
    instruments: HotspotInstruments,
}

/// A decision as requested.
#[derive(Debug, Clone)]
pub struct DecideRequest {
    /// The RPC, for the idempotency record.
    pub operation: &'static str,
    /// The hotspot.
    pub id: HotspotId,
    /// The client's etag, if it sent one.
    pub etag: Option<String>,
    /// What to do.
    pub action: HotspotAction,
    /// The client's `request_id` and the request's fingerprint.
    pub key: RequestKey,
}

impl Hotspots {
    /// The use cases over `workflow`, with the detector's settings.
    pub fn new(
        workflow: Arc<Workflow>,
        settings: HotspotSettings,
        instruments: HotspotInstruments,
    ) -> Self {
        Self {
            workflow,
            settings,
            changes: HotspotChanges::default(),
            instruments,
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &HotspotSettings {
        &self.settings
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn crate::store::Store> {
        self.workflow.store()
    }

    /// This replica's view of the change sequence (its watchers' wake-up).
    pub fn changes(&self) -> &HotspotChanges {
        &self.changes
    }

    /// A detector for this replica, starting with a replay.
    pub fn runner(&self) -> HotspotRunner {
        HotspotRunner::new(
            self.workflow.store().clone(),
            self.workflow.clock().clone(),
            self.settings.detector.clone(),
            self.changes.clone(),
            self.instruments.clone(),
        )
    }

    /// The centre's clock's now.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.workflow.clock().now()
    }

    /// Which hotspots `who` may read (a unit user's scope needs its unit's
    /// region from the directory).
    pub async fn scope(&self, who: &Principal) -> Result<AreaScope, ServiceError> {
        let unit_region = match &who.unit {
            Some(unit) if who.has(Role::UnitHandler) => {
                match self.workflow.store().get_unit(unit).await {
                    Ok(unit) => Some(unit.region_code.as_str().to_owned()),
                    Err(StoreError::NotFound(_)) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            _ => None,
        };
        Ok(AreaScope::of_reader(who, unit_region.as_deref())?)
    }

    /// Lists hotspots in the reader's scope.
    pub async fn list(
        &self,
        who: &Principal,
        mut query: HotspotQuery,
    ) -> Result<Vec<Hotspot>, ServiceError> {
        if let AreaScope::Within(prefix) = self.scope(who).await? {
            query.scope = Some(prefix);
        }
        Ok(self.workflow.store().list_hotspots(&query).await?)
    }

    /// Reads a hotspot in the reader's scope.
    pub async fn get(&self, who: &Principal, id: HotspotId) -> Result<Hotspot, ServiceError> {
        let scope = self.scope(who).await?;
        let hotspot = self.workflow.store().get_hotspot(id).await?;
        if scope.covers(&hotspot.area) {
            Ok(hotspot)
        } else {
            Err(ServiceError::NotFound(id.name()))
        }
    }

    /// Confirms, dismisses or merges a hotspot; a retry with the same
    /// `request_id` gets the hotspot as it is now.
    pub async fn decide(
        &self,
        who: &Principal,
        request: DecideRequest,
    ) -> Result<Hotspot, ServiceError> {
        let store = self.workflow.store();
        let key = idempotency_key(who, &request.key, request.operation)?;
        if let Some(hotspot) = self.replay(who, key.as_ref(), request.id).await? {
            return Ok(hotspot);
        }
        let hotspot = self.get(who, request.id).await?;
        if let Some(etag) = &request.etag
            && *etag != hotspot.change_seq.to_string()
        {
            return Err(ServiceError::EtagMismatch {
                current: hotspot.change_seq.to_string(),
            });
        }
        let target = match &request.action {
            HotspotAction::MergeInto { target } => {
                Some(self.get(who, *target).await.map_err(|e| match e {
                    ServiceError::NotFound(name) => {
                        ServiceError::invalid("target", format!("{name} not found"))
                    }
                    other => other,
                })?)
            }
            _ => None,
        };
        let decision = hotspot.decide(who, &request.action, target.as_ref())?;
        let change = HotspotChange {
            id: hotspot.id,
            expected_state: hotspot.state,
            expected_change_seq: request.etag.as_ref().map(|_| hotspot.change_seq),
            decision,
            actor: who.subject.clone(),
            actor_role: who.role_label().to_owned(),
            now: self.now(),
            key: key.clone(),
        };
        match store.change_hotspot(&change).await {
            Ok(changed) => {
                self.changes.seen(changed.change_seq);
                Ok(changed)
            }
            // The same request committed meanwhile (a concurrent retry).
            Err(StoreError::AlreadyExists(_)) if key.is_some() => self
                .replay(who, key.as_ref(), request.id)
                .await?
                .ok_or_else(|| ServiceError::Conflict("concurrent retry".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// If `key` was used before by the same request, the hotspot as it is
    /// now; a key reused for another request is refused.
    async fn replay(
        &self,
        who: &Principal,
        key: Option<&crate::store::IdempotencyKey>,
        id: HotspotId,
    ) -> Result<Option<Hotspot>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let store = self.workflow.store();
        let Some(previous) = store.find_idempotent(&key.subject, &key.request_id).await? else {
            return Ok(None);
        };
        check_retry(&previous, key, Some(&id.name()))?;
        self.get(who, id).await.map(Some)
    }

    /// The hotspots in `who`'s scope recorded or changed after `from` (or
    /// after now), as they happen, from any replica.
    pub async fn watch(
        &self,
        who: &Principal,
        from: Option<ChangeCursor>,
    ) -> Result<HotspotWatch, ServiceError> {
        let scope = self.scope(who).await?;
        let store = self.workflow.store().clone();
        let head = store.hotspot_head().await?;
        let from = match from {
            Some((seq, _)) if seq > head => {
                return Err(ServiceError::invalid(
                    "resume_token",
                    "points past the newest hotspot change (another deployment's?)",
                ));
            }
            Some(from) => from,
            None => (head, None),
        };
        Ok(self.changes.watch(store, scope, from))
    }
}
