//! Errors of domain rules, independent of transport and storage.

use super::ticket::TicketState;

/// A domain rule was broken. The API layer maps each variant to one gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Input failed validation; `field` is the request field path.
    #[error("{field}: {message}")]
    InvalidField {
        /// Field path, e.g. `ticket.caller.phone`.
        field: String,
        /// What is wrong, in plain words.
        message: String,
    },
    /// The action is not allowed in the ticket's current state.
    #[error("cannot {action} a ticket in state {state}")]
    IllegalTransition {
        /// The action attempted, e.g. `reply`.
        action: &'static str,
        /// The ticket's current state.
        state: TicketState,
    },
    /// A rule other than the state forbids the action now (e.g. the return
    /// window has closed); `kind` is a stable UPPER_SNAKE_CASE code.
    #[error("{message}")]
    PreconditionFailed {
        /// Stable code, e.g. `RETURN_WINDOW`.
        kind: &'static str,
        /// Explanation for people.
        message: String,
    },
    /// The principal may not perform this action.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
}

impl DomainError {
    /// Shorthand for [`DomainError::InvalidField`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Prefixes the field path, so nested parsers report the full request path.
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Self::InvalidField { field, message } => Self::InvalidField {
                field: if field.is_empty() {
                    prefix.to_owned()
                } else {
                    format!("{prefix}.{field}")
                },
                message,
            },
            other => other,
        }
    }
}
