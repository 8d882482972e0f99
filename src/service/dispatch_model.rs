//! Use cases of the learned dispatch suggestion (docs/dispatch-model.md):
//! train a version from the closed tickets, activate it, roll back, list
//! the versions. Shared by the gRPC `DispatchModelService` and `hotline
//! model train`; a change is put in force on this replica at once (others
//! follow within `routing.refresh_secs`, see [`super::model_cell`]).

use serde::{Deserialize, Serialize};

use crate::domain::text_enum::TextEnum;

use super::{ServiceError, Workflow, model_cell::LiveUnits};
use crate::{
    config::DispatchModelSettings,
    domain::{Principal, SubjectCode, TicketState, ticket::Ticket},
    store::{
        DispatchModelInfo, ModelChange, ModelEventKind, ModelState, NewDispatchModel, Store,
        TicketCursor, TicketQuery,
    },
};
use hotline_model::{
    DispatchModel, HeldOutMetrics, ModelError, TrainingTicket, held_out, held_out_metrics, train,
};

/// Closed tickets read per page.
const PAGE: u32 = 500;

/// Below this many usable tickets nothing is held out: every ticket is
/// needed to learn from, and a handful would measure nothing.
pub const MIN_TICKETS_TO_HOLD_OUT: usize = 50;

/// What a training did, stored with the version as its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Closed tickets with a lead unit read.
    pub tickets_read: u32,
    /// Of those, labelled with the successor of their retired unit.
    pub mapped: u32,
    /// Of those, left out: their unit is retired without successor.
    pub dropped: u32,
    /// Tickets the model was fitted on.
    pub trained_on: u32,
    /// How it did on the tickets held out (none below
    /// [`MIN_TICKETS_TO_HOLD_OUT`]).
    pub held_out: Option<HeldOutMetrics>,
    /// The L2 penalty chosen.
    pub regularization: f32,
    /// The probability from which it decides, set from its held-out
    /// precision (above 1: never).
    pub threshold: f32,
    /// Features kept.
    pub features: u32,
    /// Units it can suggest.
    pub units: u32,
}

/// A trained and stored version.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The stored version.
    pub info: DispatchModelInfo,
    /// What the training did.
    pub summary: TrainingSummary,
}

fn training_ticket(ticket: &Ticket) -> Option<TrainingTicket> {
    let unit = ticket.lead_unit.as_ref()?;
    let intake = &ticket.intake;
    Some(TrainingTicket {
        id: ticket.id.to_string(),
        subject_code: intake
            .subject_code
            .as_ref()
            .map(|s| SubjectCode::as_str(s).to_owned()),
        request_type: intake.request_type,
        region_code: intake.region_code.as_str().to_owned(),
        title: intake.title.clone(),
        description: intake.description.clone(),
        legacy_hotline: intake.legacy_hotline.clone(),
        urgency: intake.urgency,
        unit: unit.as_str().to_owned(),
    })
}

/// The newest closed tickets with a lead unit, at most `max`.
async fn closed_tickets(store: &dyn Store, max: u32) -> Result<Vec<TrainingTicket>, ServiceError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let mut query = TicketQuery::all(PAGE);
        query.states = vec![TicketState::Closed];
        query.after = after;
        let page = store.list_tickets(&query).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|t| TicketCursor {
            create_time: t.create_time,
            id: t.id,
        });
        out.extend(page.iter().filter_map(training_ticket));
        if !full || out.len() >= max as usize {
            out.truncate(max as usize);
            return Ok(out);
        }
    }
}

fn model_error(e: ModelError) -> ServiceError {
    match e {
        ModelError::NotEnoughData(message) => ServiceError::Precondition {
            kind: "TRAINING_DATA",
            message,
        },
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Trains a version on the newest closed tickets, each labelled with the
/// unit answering for it now (a retired unit's tickets go to its
/// successor, or are left out), and stores it inactive with its metrics
/// (`hotline model train`: no deadline, no background).
pub async fn train_and_store(
    store: &dyn Store,
    settings: &DispatchModelSettings,
    change: ModelChange,
) -> Result<Trained, ServiceError> {
    let (new, summary) = train_model(store, settings, change).await?;
    let info = store.save_dispatch_model(&new).await?;
    Ok(Trained { info, summary })
}

/// Trains a model on the newest closed tickets: what to store, and what
/// the training did.
pub async fn train_model(
    store: &dyn Store,
    settings: &DispatchModelSettings,
    change: ModelChange,
) -> Result<(NewDispatchModel, TrainingSummary), ServiceError> {
    let read = closed_tickets(store, settings.max_training_tickets).await?;
    let live = LiveUnits::load(store).await?;
    let tickets_read = read.len();
    let relabelled = live.successions().relabel(read, &|u| live.exists(u));
    let tickets = relabelled.tickets;
    let (learn, check): (Vec<TrainingTicket>, Vec<TrainingTicket>) =
        if tickets.len() >= MIN_TICKETS_TO_HOLD_OUT {
            tickets.into_iter().partition(|t| !held_out(&t.id))
        } else {
            (tickets, Vec::new())
        };
    let options = settings.training();
    let min_probability = settings.policy().min_probability;
    let (params, model, learn_len) = tokio::task::spawn_blocking(move || {
        let params = train(&learn, &options)?;
        let model = DispatchModel::compile(0, &params, &|u| crate::domain::UnitId::parse(u).ok())?;
        Ok::<_, ModelError>((params, model, learn.len()))
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("training task: {e}")))?
    .map_err(model_error)?;
    let threshold = min_probability.unwrap_or(params.threshold);
    let summary = TrainingSummary {
        tickets_read: tickets_read as u32,
        mapped: relabelled.mapped as u32,
        dropped: relabelled.dropped as u32,
        trained_on: learn_len as u32,
        held_out: (!check.is_empty()).then(|| held_out_metrics(&model, &check, threshold)),
        regularization: params.regularization,
        threshold: params.threshold,
        features: params.weights.len() as u32,
        units: params.units.len() as u32,
    };
    let new = NewDispatchModel {
        params: to_json(&params)?,
        trained_on: i64::from(summary.trained_on),
        held_out: check.len() as i64,
        units: params.units.clone(),
        metrics: to_json(&summary)?,
        change,
    };
    Ok((new, summary))
}

/// A document stored with a version, as JSON.
fn to_json<T: Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value)
        .map_err(|e| ServiceError::Internal(format!("encoding a dispatch model: {e}")))
}

/// The summary stored with a version.
pub fn summary_of(info: &DispatchModelInfo) -> Option<TrainingSummary> {
    serde_json::from_str(&info.metrics).ok()
}

pub(super) fn change(principal: &Principal, note: &str, workflow: &Workflow) -> ModelChange {
    ModelChange {
        actor: principal.subject.clone(),
        actor_role: principal.role_label().to_owned(),
        note: note.to_owned(),
        time: workflow.clock().now(),
    }
}

impl Workflow {
    /// Makes `version` active and puts it in force; activating the active
    /// version changes nothing. A concurrent change is ABORTED.
    pub async fn activate_dispatch_model(
        &self,
        principal: &Principal,
        version: i64,
        note: &str,
    ) -> Result<DispatchModelInfo, ServiceError> {
        let store = self.store();
        let (info, _) = store.dispatch_model(version).await?;
        if info.state != ModelState::Ready {
            // Ready is final: a version read in another state may become
            // ready later, never the reverse.
            return Err(ServiceError::Precondition {
                kind: "MODEL_NOT_READY",
                message: format!(
                    "dispatchModels/{version} is {}: only a ready version can be activated",
                    info.state.code()
                ),
            });
        }
        let active = store.active_dispatch_model_version().await?;
        if active != version {
            store
                .set_active_dispatch_model(
                    active,
                    version,
                    ModelEventKind::Activated,
                    &change(principal, note, self),
                )
                .await?;
        }
        self.model().reload().await?;
        Ok(DispatchModelInfo {
            active: true,
            ..info
        })
    }

    /// Puts back the version that was active before the active one was
    /// activated (`None`: no model, routing by the rules alone); FAILED_PRECONDITION
    /// when no model is active.
    pub async fn rollback_dispatch_model(
        &self,
        principal: &Principal,
        note: &str,
    ) -> Result<Option<DispatchModelInfo>, ServiceError> {
        let store = self.store();
        let active = store.active_dispatch_model_version().await?;
        if active == 0 {
            return Err(ServiceError::Precondition {
                kind: "NO_ACTIVE_MODEL",
                message: "no dispatch model is active: there is nothing to roll back".into(),
            });
        }
        let previous = store
            .dispatch_model_events(Some(active), u32::MAX)
            .await?
            .iter()
            .rev()
            .find(|e| e.kind == ModelEventKind::Activated)
            .map_or(0, |e| e.previous);
        store
            .set_active_dispatch_model(
                active,
                previous,
                ModelEventKind::RolledBack,
                &change(principal, note, self),
            )
            .await?;
        self.model().reload().await?;
        if previous == 0 {
            return Ok(None);
        }
        Ok(Some(store.dispatch_model(previous).await?.0))
    }

    /// A page of versions, newest first.
    pub async fn list_dispatch_models(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<DispatchModelInfo>, ServiceError> {
        Ok(self.store().list_dispatch_models(before, limit).await?)
    }
}
