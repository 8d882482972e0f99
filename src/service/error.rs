//! What a use case can fail with, in terms of the client's next step (fix a
//! field, wait for a state, retry, give up). Transport-neutral: the gRPC
//! layer maps each variant to one status code (`api::error`), the CLI prints
//! it.

use crate::{
    domain::{DomainError, TicketState},
    store::StoreError,
};

/// Everything an RPC can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A request field is invalid.
    #[error("{field}: {message}")]
    InvalidField {
        /// Request field path.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `request_id` already used for a different request (another
    /// method, resource or payload): a retry must repeat the request
    /// exactly, a new request needs a new key.
    #[error("request_id: {message}")]
    RequestIdReused {
        /// The method the key was first used with.
        operation: String,
        /// What the key produced, e.g. `tickets/…`.
        resource: String,
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
    /// A request names a unit retired from the directory (机构改革) as the
    /// one to hand a ticket to: it takes no tickets any more. Distinct from
    /// [`ServiceError::Precondition`] so that the client learns the field,
    /// the unit and the unit that took its matters over, if any.
    #[error("{field}: {unit} is retired{}", .successor.as_ref().map(|s| format!("; its matters went to {s}")).unwrap_or_default())]
    UnitRetired {
        /// Request field path naming the unit.
        field: String,
        /// The retired unit, `units/{id}`.
        unit: String,
        /// Its successor, `units/{id}`, if the directory names one.
        successor: Option<String>,
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
    /// The caller used up a quota (`crate::quota`); it may retry after
    /// `retry_after`.
    #[error("quota exceeded: {description}")]
    ResourceExhausted {
        /// Whose quota: the principal's token subject.
        subject: String,
        /// Which quota, a stable code: `RATE_LIMIT`, `OPEN_STREAMS`.
        quota: &'static str,
        /// The limit in words.
        description: String,
        /// When trying again can succeed.
        retry_after: std::time::Duration,
    },
    /// The database is unavailable.
    #[error("service temporarily unavailable")]
    Unavailable,
    /// A bug or corrupt data; the detail is logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl ServiceError {
    /// The error for an operator's log line: what a client is told, and
    /// for an internal failure its detail too, which clients never get
    /// but the IT team needs (a background task that logged only
    /// "internal error" gave nothing to act on).
    pub fn report(&self) -> String {
        match self {
            Self::Internal(detail) => format!("internal error: {detail}"),
            other => other.to_string(),
        }
    }

    /// Shorthand for [`ServiceError::InvalidField`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<DomainError> for ServiceError {
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

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::AlreadyExists(what) => Self::AlreadyExists(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Self::Unavailable
            }
            err @ StoreError::Internal { .. } => Self::Internal(err.report()),
        }
    }
}

/// Attaches a field path to a domain parse error.
pub fn at<T>(result: Result<T, DomainError>, field: &str) -> Result<T, ServiceError> {
    result.map_err(|e| match e {
        DomainError::InvalidField {
            field: inner,
            message,
        } => ServiceError::InvalidField {
            field: if inner.is_empty() {
                field.to_owned()
            } else {
                format!("{field}.{inner}")
            },
            message,
        },
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_keeps_an_internal_failures_detail_that_clients_never_see() {
        let err = ServiceError::from(StoreError::internal("tickets/x has an invalid state"));
        assert_eq!(err.to_string(), "internal error", "what a client is told");
        assert_eq!(
            err.report(),
            "internal error: storage failure: tickets/x has an invalid state"
        );
        let other = ServiceError::NotFound("tickets/y".into());
        assert_eq!(other.report(), other.to_string());
    }
}
