//! `hotline.v1.RoutingService`: the dispatch catalogue over gRPC.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::paging::{self, PageSize};
use crate::proto::convert::{ProtoEnum, at, optional_enum, required_enum, to_timestamp, unit_id};
use crate::service::ServiceError;
use crate::service::workflow::Workflow;
use crate::{
    auth::authorized,
    domain::{
        RegionCode, SubjectCode, UnitId,
        access::Operation,
        routing::{DecisionSource, RoutingInput, RuleSpec, RuleViolation, Territorial},
        ticket::{RequestType, Urgency},
    },
    proto::v1::{self as pb, routing_service_server::RoutingService},
    store::RuleSetInfo,
};

const RULE_PAGE: PageSize = PageSize {
    default: 100,
    max: 1000,
};
/// Units and features of the model's view in ExplainRouting.
const MODEL_UNITS: usize = 3;
const DECISIVE_FEATURES: usize = 5;

const RULE_SET_PAGE: PageSize = PageSize {
    default: 50,
    max: 500,
};

/// Implements `RoutingService`.
#[derive(Debug, Clone)]
pub(crate) struct RoutingApi {
    workflow: Arc<Workflow>,
}

impl RoutingApi {
    /// A service over the shared workflow.
    pub(crate) fn new(workflow: Arc<Workflow>) -> Self {
        Self { workflow }
    }
}

/// `rules/{id}` to the id.
/// The id is held to the rule ids CreateRule takes, so a name that no
/// rule can have (a NUL byte, a slash) is INVALID_ARGUMENT, not a lookup.
pub(super) fn rule_id_from_name(name: &str, field: &str) -> Result<String, ServiceError> {
    name.strip_prefix("rules/")
        .filter(|id| UnitId::parse(id).is_ok())
        .map(str::to_owned)
        .ok_or_else(|| ServiceError::invalid(field, "must look like rules/{id}"))
}

/// `ruleSets/{version}` to the version.
pub(super) fn rule_set_version(name: &str, field: &str) -> Result<i64, ServiceError> {
    name.strip_prefix("ruleSets/")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| ServiceError::invalid(field, "must look like ruleSets/{version}"))
}

fn territorial_from_proto(value: i32) -> Result<Option<Territorial>, ServiceError> {
    match pb::Territorial::try_from(value) {
        Ok(pb::Territorial::Unspecified) => Ok(None),
        Ok(pb::Territorial::Street) => Ok(Some(Territorial::Street)),
        Ok(pb::Territorial::District) => Ok(Some(Territorial::District)),
        Err(_) => Err(ServiceError::invalid("rule.territorial", "unknown value")),
    }
}

/// A rule from the wire; codes and units are checked by validation.
pub(super) fn rule_from_proto(rule: &pb::Rule, id: String) -> Result<RuleSpec, ServiceError> {
    let unit = |name: &String, field: String| unit_id(name, &field).map(|u| u.as_str().to_owned());
    Ok(RuleSpec {
        id,
        name: rule.display_name.trim().to_owned(),
        priority: rule.priority,
        subject_prefixes: rule.subject_prefixes.clone(),
        request_types: rule
            .request_types
            .iter()
            .enumerate()
            .map(|(i, t)| required_enum::<RequestType>(*t, &format!("rule.request_types[{i}]")))
            .collect::<Result<_, _>>()?,
        region_prefixes: rule.region_prefixes.clone(),
        keywords_any: rule.keywords_any.clone(),
        keywords_all: rule.keywords_all.clone(),
        keywords_none: rule.keywords_none.clone(),
        legacy_hotlines: rule.legacy_hotlines.clone(),
        urgencies: rule
            .urgencies
            .iter()
            .enumerate()
            .map(|(i, u)| required_enum::<Urgency>(*u, &format!("rule.urgencies[{i}]")))
            .collect::<Result<_, _>>()?,
        target_unit: if rule.target_unit.is_empty() {
            None
        } else {
            Some(unit(&rule.target_unit, "rule.target_unit".into())?)
        },
        territorial: territorial_from_proto(rule.territorial)?,
        co_units: rule
            .co_units
            .iter()
            .enumerate()
            .map(|(i, u)| unit(u, format!("rule.co_units[{i}]")))
            .collect::<Result<_, _>>()?,
    })
}

/// A rule on the wire.
pub(crate) fn rule_to_proto(r: &RuleSpec) -> pb::Rule {
    pb::Rule {
        name: format!("rules/{}", r.id),
        display_name: r.name.clone(),
        priority: r.priority,
        subject_prefixes: r.subject_prefixes.clone(),
        request_types: r.request_types.iter().map(|t| t.to_proto()).collect(),
        region_prefixes: r.region_prefixes.clone(),
        keywords_any: r.keywords_any.clone(),
        keywords_all: r.keywords_all.clone(),
        keywords_none: r.keywords_none.clone(),
        legacy_hotlines: r.legacy_hotlines.clone(),
        urgencies: r.urgencies.iter().map(|u| u.to_proto()).collect(),
        target_unit: r
            .target_unit
            .as_ref()
            .map(|u| format!("units/{u}"))
            .unwrap_or_default(),
        territorial: match r.territorial {
            None => pb::Territorial::Unspecified,
            Some(Territorial::Street) => pb::Territorial::Street,
            Some(Territorial::District) => pb::Territorial::District,
        } as i32,
        co_units: r.co_units.iter().map(|u| format!("units/{u}")).collect(),
    }
}

fn rule_set_to_proto(info: &RuleSetInfo) -> pb::RuleSet {
    pb::RuleSet {
        name: format!("ruleSets/{}", info.version),
        version: info.version,
        rule_count: info.rule_count,
        publisher: info.publisher.clone(),
        note: info.note.clone(),
        publish_time: Some(to_timestamp(info.publish_time)),
        active: info.active,
    }
}

fn violation_to_proto(v: &RuleViolation) -> pb::RuleViolation {
    pb::RuleViolation {
        rule: format!("rules/{}", v.rule_id),
        field: v.field.clone(),
        description: v.message.clone(),
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn create_rule(
        &self,
        request: Request<pb::CreateRuleRequest>,
    ) -> Result<Response<pb::CreateRuleResponse>, Status> {
        authorized(&request, Operation::ManageRouting)?;
        let req = request.into_inner();
        let draft = req
            .rule
            .ok_or_else(|| ServiceError::invalid("rule", "required"))?;
        at(UnitId::parse(&req.rule_id), "rule_id")?;
        let spec = rule_from_proto(&draft, req.rule_id)?;
        self.workflow.create_draft_rule(&spec).await?;
        Ok(Response::new(pb::CreateRuleResponse {
            rule: Some(rule_to_proto(&spec)),
        }))
    }

    async fn update_rule(
        &self,
        request: Request<pb::UpdateRuleRequest>,
    ) -> Result<Response<pb::UpdateRuleResponse>, Status> {
        authorized(&request, Operation::ManageRouting)?;
        let draft = request
            .into_inner()
            .rule
            .ok_or_else(|| ServiceError::invalid("rule", "required"))?;
        let id = rule_id_from_name(&draft.name, "rule.name")?;
        let spec = rule_from_proto(&draft, id)?;
        self.workflow.update_draft_rule(&spec).await?;
        Ok(Response::new(pb::UpdateRuleResponse {
            rule: Some(rule_to_proto(&spec)),
        }))
    }

    async fn delete_rule(
        &self,
        request: Request<pb::DeleteRuleRequest>,
    ) -> Result<Response<pb::DeleteRuleResponse>, Status> {
        authorized(&request, Operation::ManageRouting)?;
        let id = rule_id_from_name(&request.get_ref().name, "name")?;
        self.workflow.delete_draft_rule(&id).await?;
        Ok(Response::new(pb::DeleteRuleResponse {}))
    }

    async fn list_rules(
        &self,
        request: Request<pb::ListRulesRequest>,
    ) -> Result<Response<pb::ListRulesResponse>, Status> {
        authorized(&request, Operation::ExplainRouting)?;
        let req = request.into_inner();
        let limit = RULE_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let after: Option<String> = paging::decode(&req.page_token, &fp)?;
        let version = match req.rule_set.as_str() {
            "" | "ruleSets/draft" => None,
            name => Some(rule_set_version(name, "rule_set")?),
        };
        let rules = self.workflow.rules(version).await?;
        let page: Vec<RuleSpec> = rules
            .into_iter()
            .filter(|r| after.as_ref().is_none_or(|a| r.id > *a))
            .take(limit as usize)
            .collect();
        Ok(Response::new(pb::ListRulesResponse {
            next_page_token: paging::next_token(&page, limit, &fp, |r| r.id.clone()),
            rules: page.iter().map(rule_to_proto).collect(),
        }))
    }

    async fn validate_rule_set(
        &self,
        request: Request<pb::ValidateRuleSetRequest>,
    ) -> Result<Response<pb::ValidateRuleSetResponse>, Status> {
        authorized(&request, Operation::ManageRouting)?;
        let (rules, violations) = self.workflow.validate_draft().await?;
        Ok(Response::new(pb::ValidateRuleSetResponse {
            valid: violations.is_empty(),
            violations: violations.iter().map(violation_to_proto).collect(),
            rule_count: i32::try_from(rules.len()).unwrap_or(i32::MAX),
        }))
    }

    async fn publish_rule_set(
        &self,
        request: Request<pb::PublishRuleSetRequest>,
    ) -> Result<Response<pb::PublishRuleSetResponse>, Status> {
        let principal = authorized(&request, Operation::ManageRouting)?;
        let note = crate::proto::convert::text(&request.get_ref().note, "note", false, 500)?;
        let info = self
            .workflow
            .publish_draft(&principal.subject, &note)
            .await?;
        Ok(Response::new(pb::PublishRuleSetResponse {
            rule_set: Some(rule_set_to_proto(&info)),
        }))
    }

    async fn rollback_rule_set(
        &self,
        request: Request<pb::RollbackRuleSetRequest>,
    ) -> Result<Response<pb::RollbackRuleSetResponse>, Status> {
        authorized(&request, Operation::ManageRouting)?;
        let version = rule_set_version(&request.get_ref().name, "name")?;
        let info = self.workflow.rollback_rule_set(version).await?;
        Ok(Response::new(pb::RollbackRuleSetResponse {
            rule_set: Some(rule_set_to_proto(&info)),
        }))
    }

    async fn list_rule_sets(
        &self,
        request: Request<pb::ListRuleSetsRequest>,
    ) -> Result<Response<pb::ListRuleSetsResponse>, Status> {
        authorized(&request, Operation::ExplainRouting)?;
        let req = request.into_inner();
        let limit = RULE_SET_PAGE.resolve(req.page_size)?;
        let fp = paging::fingerprint(&req);
        let before: Option<i64> = paging::decode(&req.page_token, &fp)?;
        let sets = self.workflow.list_rule_sets(before, limit).await?;
        Ok(Response::new(pb::ListRuleSetsResponse {
            next_page_token: paging::next_token(&sets, limit, &fp, |s| s.version),
            rule_sets: sets.iter().map(rule_set_to_proto).collect(),
        }))
    }

    async fn explain_routing(
        &self,
        request: Request<pb::ExplainRoutingRequest>,
    ) -> Result<Response<pb::ExplainRoutingResponse>, Status> {
        authorized(&request, Operation::ExplainRouting)?;
        let req = request.into_inner();
        let t = req.ticket.unwrap_or_default();
        let region = at(
            RegionCode::parse(t.region_code.trim()),
            "ticket.region_code",
        )?;
        let title = crate::proto::convert::text(&t.title, "ticket.title", false, 100)?;
        let description =
            crate::proto::convert::text(&t.description, "ticket.description", false, 4000)?;
        let max = match req.max_matches {
            0 => 5,
            n if n < 0 => {
                return Err(ServiceError::invalid("max_matches", "must not be negative").into());
            }
            n => n.min(50) as usize,
        };
        // Checked as CreateTicket checks them, so a dry run answers only
        // for requests the service would take.
        let subject = t.subject_code.trim();
        if !subject.is_empty() {
            at(SubjectCode::parse(subject), "ticket.subject_code")?;
        }
        let legacy_hotline = at(
            crate::domain::ticket::parse_legacy_hotline(&t.legacy_hotline),
            "ticket.legacy_hotline",
        )?;
        let input = RoutingInput {
            subject_code: Some(subject).filter(|s| !s.is_empty()),
            request_type: optional_enum(t.request_type, "ticket.request_type")?
                .unwrap_or(RequestType::Other),
            region_code: region.as_str(),
            title: &title,
            description: &description,
            legacy_hotline: legacy_hotline.as_deref(),
            urgency: optional_enum(t.urgency, "ticket.urgency")?.unwrap_or(Urgency::Normal),
        };
        let router = self.workflow.router().current();
        let explanation = router.explain(&input, max);
        let decision = self.workflow.decide_route(&input);
        let decision = decision.as_ref();
        let model = self.workflow.model().current();
        let model = model
            .as_ref()
            .as_ref()
            .filter(|_| self.workflow.dispatch_model_settings().enabled);
        let view = model.map(|m| m.explain(&input, MODEL_UNITS, DECISIVE_FEATURES));
        let threshold = model.map(|m| {
            self.workflow
                .dispatch_model_settings()
                .policy()
                .min_probability
                .unwrap_or(m.threshold())
        });
        Ok(Response::new(pb::ExplainRoutingResponse {
            source: match decision.map(|d| d.source) {
                None => pb::RoutingSource::Unspecified,
                Some(DecisionSource::Rule) => pb::RoutingSource::Rule,
                Some(DecisionSource::DistrictFallback) => pb::RoutingSource::DistrictFallback,
                Some(DecisionSource::Model) => pb::RoutingSource::Model,
            } as i32,
            lead_unit: decision.map(|d| d.unit.name()).unwrap_or_default(),
            co_units: decision
                .map(|d| d.co_units.iter().map(UnitId::name).collect())
                .unwrap_or_default(),
            rule: decision
                .and_then(|d| d.rule_id.as_ref())
                .map(|id| format!("rules/{id}"))
                .unwrap_or_default(),
            rule_set_version: router.version(),
            matches: explanation
                .matches
                .iter()
                .map(|m| pb::RuleMatch {
                    rule: format!("rules/{}", m.rule_id),
                    priority: m.priority,
                    specificity: m.specificity,
                    unit: m.unit.name(),
                })
                .collect(),
            dispatch_model: model
                .map(|m| format!("dispatchModels/{}", m.version()))
                .unwrap_or_default(),
            model_units: view
                .iter()
                .flat_map(|v| &v.units)
                .map(|s| pb::UnitProbability {
                    unit: s.unit.name(),
                    probability: s.probability,
                })
                .collect(),
            decisive_features: view
                .iter()
                .flat_map(|v| &v.decisive)
                .map(|(feature, contribution)| pb::DecisiveFeature {
                    feature: feature.clone(),
                    contribution: *contribution,
                })
                .collect(),
            model_threshold: threshold.unwrap_or_default(),
        }))
    }
}
