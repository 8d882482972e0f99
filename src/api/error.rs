//! The one mapping from application errors to gRPC `Status` (AIP-193), with
//! `google.rpc.ErrorInfo` and, where they help a client, `BadRequest`,
//! `PreconditionFailure`, `ResourceInfo` or `RetryInfo` details.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::{
    domain::{DomainError, TicketState},
    store::StoreError,
};

/// `ErrorInfo.domain` of every error this service returns.
pub const ERROR_DOMAIN: &str = "hotline.v1";

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field is invalid.
    #[error("{field}: {message}")]
    InvalidField {
        /// Request field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The ticket's state forbids the action.
    #[error("cannot {action} a ticket in state {state}")]
    IllegalTransition {
        /// Action attempted.
        action: &'static str,
        /// Current state.
        state: TicketState,
    },
    /// A rule other than the state forbids the action now.
    #[error("{message}")]
    Precondition {
        /// Stable code, e.g. `RETURN_WINDOW`.
        kind: &'static str,
        /// Explanation.
        message: String,
    },
    /// The role or scope does not allow it.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The resource does not exist (or is outside the reader's scope).
    #[error("{0} not found")]
    NotFound(String),
    /// A unique key is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The client's etag is stale.
    #[error("etag mismatch: the ticket changed (current etag {current})")]
    EtagMismatch {
        /// The current etag.
        current: String,
    },
    /// Lost an optimistic race with a concurrent write.
    #[error("concurrent change, retry: {0}")]
    Conflict(String),
    /// The database is unavailable.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or corrupt data; the detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for [`ApiError::InvalidField`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::InvalidField { field, message } => Self::InvalidField { field, message },
            DomainError::IllegalTransition { action, state } => {
                Self::IllegalTransition { action, state }
            }
            DomainError::PreconditionFailed { kind, message } => {
                Self::Precondition { kind, message }
            }
            DomainError::PermissionDenied(why) => Self::PermissionDenied(why),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::AlreadyExists(what) => Self::AlreadyExists(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Self::Unavailable
            }
            StoreError::Internal(detail) => Self::Internal(detail),
        }
    }
}

fn info(details: &mut ErrorDetails, reason: &str, metadata: HashMap<String, String>) {
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let message = err.to_string();
        let mut details = ErrorDetails::new();
        let code = match err {
            ApiError::InvalidField { field, message } => {
                details.add_bad_request_violation(field.clone(), message);
                info(
                    &mut details,
                    "INVALID_FIELD",
                    HashMap::from([("field".into(), field)]),
                );
                Code::InvalidArgument
            }
            ApiError::IllegalTransition { action, state } => {
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
            ApiError::Precondition { kind, message } => {
                details.add_precondition_failure_violation(kind, "ticket", message);
                info(&mut details, kind, HashMap::new());
                Code::FailedPrecondition
            }
            ApiError::PermissionDenied(_) => {
                info(&mut details, "PERMISSION_DENIED", HashMap::new());
                Code::PermissionDenied
            }
            ApiError::NotFound(resource) => {
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
            ApiError::AlreadyExists(what) => {
                info(
                    &mut details,
                    "ALREADY_EXISTS",
                    HashMap::from([("resource".into(), what)]),
                );
                Code::AlreadyExists
            }
            ApiError::EtagMismatch { current } => {
                info(
                    &mut details,
                    "ETAG_MISMATCH",
                    HashMap::from([("current_etag".into(), current)]),
                );
                Code::Aborted
            }
            ApiError::Conflict(_) => {
                info(&mut details, "CONCURRENT_CHANGE", HashMap::new());
                Code::Aborted
            }
            ApiError::Unavailable => {
                details.set_retry_info(Some(Duration::from_secs(1)));
                info(&mut details, "DATABASE_UNAVAILABLE", HashMap::new());
                Code::Unavailable
            }
            ApiError::Internal(detail) => {
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
