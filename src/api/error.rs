//! The one mapping from application errors to gRPC `Status` (AIP-193), with
//! `google.rpc.ErrorInfo` and, where they help a client, `BadRequest`,
//! `PreconditionFailure`, `ResourceInfo`, `QuotaFailure` or `RetryInfo` details.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::service::ServiceError;

/// `ErrorInfo.domain` of every error this service returns.
pub(crate) const ERROR_DOMAIN: &str = "hotline.v1";

fn info(details: &mut ErrorDetails, reason: &str, metadata: HashMap<String, String>) {
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
}

impl From<ServiceError> for Status {
    fn from(err: ServiceError) -> Self {
        let message = err.to_string();
        let mut details = ErrorDetails::new();
        let code = match err {
            ServiceError::InvalidField { field, message } => {
                details.add_bad_request_violation(field.clone(), message);
                info(
                    &mut details,
                    "INVALID_FIELD",
                    HashMap::from([("field".into(), field)]),
                );
                Code::InvalidArgument
            }
            ServiceError::RequestIdReused {
                operation,
                resource,
                message,
            } => {
                details.add_bad_request_violation("request_id", message);
                info(
                    &mut details,
                    "REQUEST_ID_REUSED",
                    HashMap::from([
                        ("field".into(), "request_id".into()),
                        ("operation".into(), operation),
                        ("resource".into(), resource),
                    ]),
                );
                Code::InvalidArgument
            }
            ServiceError::IllegalTransition { action, state } => {
                details.add_precondition_failure_violation(
                    "TICKET_STATE",
                    state.to_string(),
                    format!("{action} is not allowed in state {state}"),
                );
                info(
                    &mut details,
                    "TICKET_STATE",
                    HashMap::from([
                        ("state".into(), state.to_string()),
                        ("action".into(), action.into()),
                    ]),
                );
                Code::FailedPrecondition
            }
            ServiceError::Precondition { kind, message } => {
                details.add_precondition_failure_violation(kind, "ticket", message);
                info(&mut details, kind, HashMap::new());
                Code::FailedPrecondition
            }
            ServiceError::UnitRetired {
                field,
                unit,
                successor,
            } => {
                details.add_precondition_failure_violation(
                    "UNIT_RETIRED",
                    unit.clone(),
                    format!("{field} names a retired unit"),
                );
                let mut metadata = HashMap::from([("field".into(), field), ("unit".into(), unit)]);
                if let Some(successor) = successor {
                    metadata.insert("successor".into(), successor);
                }
                info(&mut details, "UNIT_RETIRED", metadata);
                Code::FailedPrecondition
            }
            ServiceError::PermissionDenied(_) => {
                info(&mut details, "PERMISSION_DENIED", HashMap::new());
                Code::PermissionDenied
            }
            ServiceError::NotFound(resource) => {
                details.set_resource_info(
                    resource_type(&resource),
                    resource.clone(),
                    "",
                    "not found",
                );
                info(
                    &mut details,
                    "NOT_FOUND",
                    HashMap::from([("resource".into(), resource)]),
                );
                Code::NotFound
            }
            ServiceError::AlreadyExists(what) => {
                info(
                    &mut details,
                    "ALREADY_EXISTS",
                    HashMap::from([("resource".into(), what)]),
                );
                Code::AlreadyExists
            }
            ServiceError::EtagMismatch { current } => {
                info(
                    &mut details,
                    "ETAG_MISMATCH",
                    HashMap::from([("current_etag".into(), current)]),
                );
                Code::Aborted
            }
            ServiceError::Conflict(_) => {
                info(&mut details, "CONCURRENT_CHANGE", HashMap::new());
                Code::Aborted
            }
            ServiceError::ResourceExhausted {
                subject,
                quota,
                description,
                retry_after,
            } => {
                details.add_quota_failure_violation(format!("principal:{subject}"), description);
                details.set_retry_info(Some(retry_after));
                info(
                    &mut details,
                    quota,
                    HashMap::from([("principal".into(), subject)]),
                );
                Code::ResourceExhausted
            }
            ServiceError::Unavailable => {
                details.set_retry_info(Some(Duration::from_secs(1)));
                info(&mut details, "DATABASE_UNAVAILABLE", HashMap::new());
                Code::Unavailable
            }
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                Code::Internal
            }
        };
        Status::with_error_details(code, message, details)
    }
}

fn resource_type(name: &str) -> String {
    let collection = name.split('/').next().unwrap_or_default();
    format!("{ERROR_DOMAIN}.{collection}")
}
