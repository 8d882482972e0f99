//! `hotline.v1.DispatchModelService`: the learned dispatch suggestion's
//! versions over gRPC. Training, activation and rollback are the
//! administrators' (`ManageRouting`, as for rule sets); listing is open to
//! whoever may dry-run routing.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::paging::{self, PageSize};
use crate::{
    auth::authorized,
    domain::access::Operation,
    proto::{
        convert::{text, to_timestamp},
        v1::{self as pb, dispatch_model_service_server::DispatchModelService},
    },
    service::{ServiceError, Workflow, dispatch_model::summary_of},
    store::{DispatchModelInfo, ModelState},
};

const MODEL_PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// Longest note, in characters.
const MAX_NOTE: usize = 500;

/// Implements `DispatchModelService`.
#[derive(Debug, Clone)]
pub(crate) struct DispatchModelApi {
    workflow: Arc<Workflow>,
}

impl DispatchModelApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

/// `dispatchModels/{version}` to the version.
fn model_version(name: &str, field: &str) -> Result<i64, ServiceError> {
    name.strip_prefix("dispatchModels/")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| ServiceError::invalid(field, "must look like dispatchModels/{version}"))
}

fn model_to_proto(info: &DispatchModelInfo) -> pb::DispatchModel {
    let summary = summary_of(info);
    let held = summary.as_ref().and_then(|s| s.held_out);
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    pb::DispatchModel {
        name: format!("dispatchModels/{}", info.version),
        version: info.version,
        active: info.active,
        trained_on: info.trained_on,
        held_out: info.held_out,
        units: info.units.iter().map(|u| format!("units/{u}")).collect(),
        metrics: summary.as_ref().map(|s| pb::DispatchModelMetrics {
            tickets_read: count(s.tickets_read),
            mapped: count(s.mapped),
            dropped: count(s.dropped),
            held_out_accuracy: held.map_or(0.0, |h| h.accuracy),
            held_out_macro_f1: held.map_or(0.0, |h| h.macro_f1),
            coverage: held.map_or(0.0, |h| h.coverage),
            confident_accuracy: held.map_or(0.0, |h| h.confident_accuracy),
            threshold: s.threshold,
            regularization: s.regularization,
            features: count(s.features),
        }),
        note: info.note.clone(),
        creator: info.creator.clone(),
        create_time: Some(to_timestamp(info.create_time)),
        state: match info.state {
            ModelState::Training => pb::DispatchModelState::Training,
            ModelState::Ready => pb::DispatchModelState::Ready,
            ModelState::Failed => pb::DispatchModelState::Failed,
        } as i32,
        failure: info.failure.clone().unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl DispatchModelService for DispatchModelApi {
    async fn train_dispatch_model(
        &self,
        request: Request<pb::TrainDispatchModelRequest>,
    ) -> Result<Response<pb::TrainDispatchModelResponse>, Status> {
        let principal = authorized(&request, Operation::ManageRouting)?;
        let note = text(&request.get_ref().note, "note", false, MAX_NOTE)?;
        let started = self
            .workflow
            .train_dispatch_model(&principal, &note)
            .await?;
        Ok(Response::new(pb::TrainDispatchModelResponse {
            dispatch_model: Some(model_to_proto(&started)),
        }))
    }

    async fn get_dispatch_model(
        &self,
        request: Request<pb::GetDispatchModelRequest>,
    ) -> Result<Response<pb::GetDispatchModelResponse>, Status> {
        authorized(&request, Operation::ExplainRouting)?;
        let version = model_version(&request.get_ref().name, "name")?;
        let (info, _) = self
            .workflow
            .store()
            .dispatch_model(version)
            .await
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::GetDispatchModelResponse {
            dispatch_model: Some(model_to_proto(&info)),
        }))
    }

    async fn list_dispatch_models(
        &self,
        request: Request<pb::ListDispatchModelsRequest>,
    ) -> Result<Response<pb::ListDispatchModelsResponse>, Status> {
        authorized(&request, Operation::ExplainRouting)?;
        let req = request.into_inner();
        let limit = MODEL_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let before: Option<i64> = paging::decode(&req.page_token, &fp)?;
        let models = self.workflow.list_dispatch_models(before, limit).await?;
        Ok(Response::new(pb::ListDispatchModelsResponse {
            next_page_token: paging::next_token(&models, limit, &fp, |m| m.version),
            dispatch_models: models.iter().map(model_to_proto).collect(),
        }))
    }

    async fn activate_dispatch_model(
        &self,
        request: Request<pb::ActivateDispatchModelRequest>,
    ) -> Result<Response<pb::ActivateDispatchModelResponse>, Status> {
        let principal = authorized(&request, Operation::ManageRouting)?;
        let req = request.get_ref();
        let version = model_version(&req.name, "name")?;
        let note = text(&req.note, "note", false, MAX_NOTE)?;
        let info = self
            .workflow
            .activate_dispatch_model(&principal, version, &note)
            .await?;
        Ok(Response::new(pb::ActivateDispatchModelResponse {
            dispatch_model: Some(model_to_proto(&info)),
        }))
    }

    async fn rollback_dispatch_model(
        &self,
        request: Request<pb::RollbackDispatchModelRequest>,
    ) -> Result<Response<pb::RollbackDispatchModelResponse>, Status> {
        let principal = authorized(&request, Operation::ManageRouting)?;
        let note = text(&request.get_ref().note, "note", false, MAX_NOTE)?;
        let info = self
            .workflow
            .rollback_dispatch_model(&principal, &note)
            .await?;
        Ok(Response::new(pb::RollbackDispatchModelResponse {
            dispatch_model: info.as_ref().map(model_to_proto),
        }))
    }
}
