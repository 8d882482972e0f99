//! Safe retries (AIP-155): a `request_id` names one request, and a repeat of
//! that request gets the first one's result instead of acting twice.
//!
//! A key is bound to the fingerprint of the request it first came with
//! (computed by the API layer from the request without its `request_id`,
//! see `api::idempotency`), recorded in the same transaction as the write.
//! A later use of the key is a retry only if it is the same operation on
//! the same resource with the same fingerprint: then it is answered with
//! the resource as it is now. Anything else is the client reusing a key for
//! a different request, which is refused (`REQUEST_ID_REUSED`, naming what
//! the key produced) rather than silently answered with the first result,
//! on every method that takes a `request_id`, creates included. Records
//! written before fingerprints were recorded have none and are matched on
//! operation and resource alone, as they were then.
//!
//! A request without `request_id` is accepted and is not idempotent: AIP-155
//! makes the field optional, and existing clients (and scripts) send none.
//! Its retry after a lost response acts again — for a create, a second
//! ticket. Clients that retry must send a `request_id` (`docs/retries.md`).
//!
//! Keys expire: a key first used more than `idempotency.retention_hours`
//! ago is deleted by an hourly purge, and its next use is a new request.
//! Without that the table grew with every keyed write for ever.

use chrono::{DateTime, Duration, Utc};

use super::Workflow;
use crate::{
    domain::{
        Principal, TicketId,
        ticket::{Ticket, reject_nul},
    },
    service::{ServiceError, error::at},
    store::{IdempotencyKey, IdempotentResult},
};

/// Keys deleted per statement of the expiry purge.
const PURGE_BATCH: u32 = 10_000;

/// Longest accepted `request_id`.
const MAX_REQUEST_ID: usize = 128;

/// A client's `request_id` and the fingerprint of the request it came with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestKey {
    /// The client's idempotency key; empty for none.
    pub request_id: String,
    /// A digest of the request without its `request_id`.
    pub fingerprint: String,
}

impl RequestKey {
    /// No key: the request is not idempotent.
    pub fn none() -> Self {
        Self::default()
    }
}

/// Validates a `request_id` and scopes it to the principal; `None` when the
/// request has none.
pub fn idempotency_key(
    principal: &Principal,
    request: &RequestKey,
    operation: &'static str,
) -> Result<Option<IdempotencyKey>, ServiceError> {
    let request_id = request.request_id.trim();
    if request_id.is_empty() {
        return Ok(None);
    }
    if request_id.len() > MAX_REQUEST_ID {
        return Err(ServiceError::invalid(
            "request_id",
            format!("at most {MAX_REQUEST_ID} characters"),
        ));
    }
    at(reject_nul(request_id), "request_id")?;
    Ok(Some(IdempotencyKey {
        subject: principal.subject.clone(),
        request_id: request_id.to_owned(),
        operation,
        fingerprint: request.fingerprint.clone(),
    }))
}

/// Whether `key` repeats the request that left `previous` — the same
/// operation, on `expected` (the resource the request names, if it names
/// one) and with the same fingerprint — or reuses its `request_id` for
/// another request, which is refused naming what the key produced.
pub fn check_retry(
    previous: &IdempotentResult,
    key: &IdempotencyKey,
    expected: Option<&str>,
) -> Result<(), ServiceError> {
    let why = if previous.operation != key.operation {
        Some("for another method")
    } else if expected.is_some_and(|resource| resource != previous.resource) {
        Some("on another resource")
    } else if previous
        .fingerprint
        .as_ref()
        .is_some_and(|fp| *fp != key.fingerprint)
    {
        Some("with a different request")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(ServiceError::RequestIdReused {
            operation: previous.operation.clone(),
            resource: previous.resource.clone(),
            message: format!(
                "already used {why}: {} on {}",
                previous.operation, previous.resource
            ),
        }),
    }
}

impl Workflow {
    /// If the key was used before by the same request, the ticket it
    /// produced, as it is now; a key reused for another request is
    /// refused.
    pub(super) async fn replay(
        &self,
        principal: &Principal,
        key: Option<&IdempotencyKey>,
        expected: Option<TicketId>,
    ) -> Result<Option<Ticket>, ServiceError> {
        let Some(key) = key else { return Ok(None) };
        let Some(previous) = self
            .store
            .find_idempotent(&key.subject, &key.request_id)
            .await?
        else {
            return Ok(None);
        };
        check_retry(&previous, key, expected.map(|id| id.name()).as_deref())?;
        let id = TicketId::from_name(&previous.resource).map_err(|_| {
            ServiceError::Internal(format!("idempotency record names {}", previous.resource))
        })?;
        self.load_visible(principal, id).await.map(Some)
    }

    /// Forgets keys first used more than `retention_hours` before `now`,
    /// in batches of [`PURGE_BATCH`] (each its own short statement);
    /// returns how many went. 0 hours keeps every key.
    pub async fn purge_idempotency_keys(
        &self,
        now: DateTime<Utc>,
        retention_hours: u32,
    ) -> Result<u64, ServiceError> {
        if retention_hours == 0 {
            return Ok(0);
        }
        let cutoff = now - Duration::hours(i64::from(retention_hours));
        let mut purged = 0;
        loop {
            let n = self
                .store
                .purge_idempotency_keys(cutoff, PURGE_BATCH)
                .await?;
            purged += n;
            if n < u64::from(PURGE_BATCH) {
                return Ok(purged);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn agent() -> Principal {
        Principal {
            subject: "agent-0001".into(),
            roles: vec![Role::Agent],
            unit: None,
            region: None,
        }
    }

    fn key(operation: &'static str, fingerprint: &str) -> IdempotencyKey {
        let request = RequestKey {
            request_id: "req-1".into(),
            fingerprint: fingerprint.into(),
        };
        idempotency_key(&agent(), &request, operation)
            .expect("valid")
            .expect("a key")
    }

    fn record(operation: &str, resource: &str, fingerprint: Option<&str>) -> IdempotentResult {
        IdempotentResult {
            operation: operation.into(),
            resource: resource.into(),
            fingerprint: fingerprint.map(Into::into),
        }
    }

    fn refusal(result: Result<(), ServiceError>) -> (String, String) {
        match result {
            Err(ServiceError::RequestIdReused {
                resource, message, ..
            }) => (resource, message),
            other => panic!("expected REQUEST_ID_REUSED, got {other:?}"),
        }
    }

    #[test]
    fn keys_are_trimmed_scoped_to_the_subject_and_carry_the_fingerprint() {
        let request = RequestKey {
            request_id: "  req-1 ".into(),
            fingerprint: "fp".into(),
        };
        let key = idempotency_key(&agent(), &request, "SignTicket")
            .unwrap()
            .unwrap();
        assert_eq!(
            key,
            IdempotencyKey {
                subject: "agent-0001".into(),
                request_id: "req-1".into(),
                operation: "SignTicket",
                fingerprint: "fp".into(),
            }
        );
        assert_eq!(
            idempotency_key(&agent(), &RequestKey::none(), "SignTicket").unwrap(),
            None
        );
        let long = RequestKey {
            request_id: "x".repeat(MAX_REQUEST_ID + 1),
            fingerprint: "fp".into(),
        };
        assert!(matches!(
            idempotency_key(&agent(), &long, "SignTicket"),
            Err(ServiceError::InvalidField { field, .. }) if field == "request_id"
        ));
    }

    #[test]
    fn the_same_request_again_is_a_retry() {
        let previous = record("CreateTicket", "tickets/a", Some("fp-1"));
        assert!(check_retry(&previous, &key("CreateTicket", "fp-1"), None).is_ok());
        let previous = record("SignTicket", "tickets/a", Some("fp-1"));
        assert!(check_retry(&previous, &key("SignTicket", "fp-1"), Some("tickets/a")).is_ok());
    }

    #[test]
    fn a_different_payload_under_the_key_is_refused_naming_the_first_resource() {
        let previous = record("CreateTicket", "tickets/a", Some("fp-1"));
        let (resource, message) =
            refusal(check_retry(&previous, &key("CreateTicket", "fp-2"), None));
        assert_eq!(resource, "tickets/a");
        assert!(message.contains("different request"), "{message}");
        assert!(message.contains("tickets/a"), "{message}");
    }

    #[test]
    fn another_method_or_resource_under_the_key_is_refused() {
        let previous = record("DispatchTicket", "tickets/a", Some("fp-1"));
        let (resource, message) = refusal(check_retry(
            &previous,
            &key("SignTicket", "fp-1"),
            Some("tickets/a"),
        ));
        assert_eq!(resource, "tickets/a");
        assert!(message.contains("another method"), "{message}");
        let (_, message) = refusal(check_retry(
            &previous,
            &key("DispatchTicket", "fp-1"),
            Some("tickets/b"),
        ));
        assert!(message.contains("another resource"), "{message}");
    }

    #[test]
    fn records_without_a_fingerprint_match_on_operation_and_resource() {
        let previous = record("CreateTicket", "tickets/a", None);
        assert!(check_retry(&previous, &key("CreateTicket", "anything"), None).is_ok());
        let previous = record("SignTicket", "tickets/a", None);
        assert!(check_retry(&previous, &key("SignTicket", "fp"), Some("tickets/b")).is_err());
    }
}
