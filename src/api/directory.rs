//! `hotline.v1.DirectoryService`: handling units and regions.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{
    idempotency::request_key,
    paging::{self, PageSize},
};
use crate::proto::convert::{
    self, at, optional_enum, region_code_from_name, region_to_proto, required_enum, text,
    unit_to_proto,
};
use crate::{
    auth::authorized,
    domain::{RegionCode, UnitId, access::Operation, directory::Region},
    proto::v1::{self as pb, directory_service_server::DirectoryService},
    service::{ServiceError, Workflow, directory::UnitDraft},
};

const DIRECTORY_PAGE: PageSize = PageSize {
    default: 100,
    max: 1000,
};

/// Implements `DirectoryService`.
#[derive(Debug, Clone)]
pub(crate) struct DirectoryApi {
    workflow: Arc<Workflow>,
}

impl DirectoryApi {
    /// A service over the shared store.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

#[tonic::async_trait]
impl DirectoryService for DirectoryApi {
    async fn create_unit(
        &self,
        request: Request<pb::CreateUnitRequest>,
    ) -> Result<Response<pb::CreateUnitResponse>, Status> {
        let principal = authorized(&request, Operation::ManageDirectory)?;
        let req = request.into_inner();
        let key = request_key(&req);
        let draft = req
            .unit
            .ok_or_else(|| ServiceError::invalid("unit", "required"))?;
        let parent = if draft.parent.is_empty() {
            None
        } else {
            Some(convert::unit_id(&draft.parent, "unit.parent")?)
        };
        let draft = UnitDraft {
            id: at(UnitId::parse(&req.unit_id), "unit_id")?,
            display_name: text(&draft.display_name, "unit.display_name", true, 100)?,
            kind: required_enum(draft.kind, "unit.kind")?,
            region_code: at(RegionCode::parse(&draft.region_code), "unit.region_code")?,
            parent,
        };
        let unit = self.workflow.create_unit(&principal, &key, draft).await?;
        Ok(Response::new(pb::CreateUnitResponse {
            unit: Some(unit_to_proto(&unit)),
        }))
    }

    async fn retire_unit(
        &self,
        request: Request<pb::RetireUnitRequest>,
    ) -> Result<Response<pb::RetireUnitResponse>, Status> {
        let principal = authorized(&request, Operation::ManageDirectory)?;
        let req = request.into_inner();
        let unit = convert::unit_id(&req.name, "name")?;
        let successor = match req.successor.as_str() {
            "" => None,
            name => Some(convert::unit_id(name, "successor")?),
        };
        let note = text(&req.note, "note", false, 500)?;
        let retired = self
            .workflow
            .retire_unit(&principal, unit, successor, note)
            .await?;
        Ok(Response::new(pb::RetireUnitResponse {
            retirement: Some(pb::UnitRetirement {
                unit: retired.unit.name(),
                successor: retired.successor.map(|s| s.name()).unwrap_or_default(),
                note: retired.note,
                retired_by: retired.retired_by,
                retire_time: Some(convert::to_timestamp(retired.time)),
            }),
        }))
    }

    async fn get_unit(
        &self,
        request: Request<pb::GetUnitRequest>,
    ) -> Result<Response<pb::GetUnitResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let id = convert::unit_id(&request.get_ref().name, "name")?;
        let unit = self.workflow.get_unit(&id).await?;
        Ok(Response::new(pb::GetUnitResponse {
            unit: Some(unit_to_proto(&unit)),
        }))
    }

    async fn list_units(
        &self,
        request: Request<pb::ListUnitsRequest>,
    ) -> Result<Response<pb::ListUnitsResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let req = request.into_inner();
        let limit = DIRECTORY_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after = paging::decode::<String>(&req.page_token, &fp)?
            .map(|id| at(UnitId::parse(&id), "page_token"))
            .transpose()?;
        let prefix = if req.region_prefix.is_empty() {
            None
        } else {
            Some(at(
                RegionCode::parse_prefix(&req.region_prefix),
                "region_prefix",
            )?)
        };
        let kind = optional_enum(req.kind, "kind")?;
        let units = self
            .workflow
            .list_units(prefix.as_deref(), kind, after.as_ref(), limit)
            .await?;
        Ok(Response::new(pb::ListUnitsResponse {
            next_page_token: paging::next_token(&units, limit, &fp, |u| u.id.to_string()),
            units: units.iter().map(unit_to_proto).collect(),
        }))
    }

    async fn create_region(
        &self,
        request: Request<pb::CreateRegionRequest>,
    ) -> Result<Response<pb::CreateRegionResponse>, Status> {
        authorized(&request, Operation::ManageDirectory)?;
        let draft = request
            .into_inner()
            .region
            .ok_or_else(|| ServiceError::invalid("region", "required"))?;
        let parent = if draft.parent.is_empty() {
            None
        } else {
            Some(region_code_from_name(&draft.parent, "region.parent")?)
        };
        let region = self
            .workflow
            .create_region(Region {
                code: at(RegionCode::parse(&draft.code), "region.code")?,
                display_name: text(&draft.display_name, "region.display_name", true, 100)?,
                parent,
            })
            .await?;
        Ok(Response::new(pb::CreateRegionResponse {
            region: Some(region_to_proto(&region)),
        }))
    }

    async fn get_region(
        &self,
        request: Request<pb::GetRegionRequest>,
    ) -> Result<Response<pb::GetRegionResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let code = region_code_from_name(&request.get_ref().name, "name")?;
        let region = self.workflow.get_region(&code).await?;
        Ok(Response::new(pb::GetRegionResponse {
            region: Some(region_to_proto(&region)),
        }))
    }

    async fn list_regions(
        &self,
        request: Request<pb::ListRegionsRequest>,
    ) -> Result<Response<pb::ListRegionsResponse>, Status> {
        authorized(&request, Operation::ReadDirectory)?;
        let req = request.into_inner();
        let limit = DIRECTORY_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after = paging::decode::<String>(&req.page_token, &fp)?
            .map(|c| at(RegionCode::parse(&c), "page_token"))
            .transpose()?;
        let prefix = if req.code_prefix.is_empty() {
            None
        } else {
            Some(at(
                RegionCode::parse_prefix(&req.code_prefix),
                "code_prefix",
            )?)
        };
        let regions = self
            .workflow
            .list_regions(prefix.as_deref(), after.as_ref(), limit)
            .await?;
        Ok(Response::new(pb::ListRegionsResponse {
            next_page_token: paging::next_token(&regions, limit, &fp, |r| r.code.to_string()),
            regions: regions.iter().map(region_to_proto).collect(),
        }))
    }
}
