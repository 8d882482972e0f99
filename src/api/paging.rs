//! AIP-158 pagination: page-size coercion and opaque page tokens.
//!
//! A token carries the keyset cursor of the last row and a fingerprint of the
//! request's other parameters, so a token replayed with different filters is
//! rejected instead of silently returning the wrong rows.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use prost::Message;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::proto::v1 as pb;
use crate::service::ServiceError;

/// Page-size policy of one List method.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageSize {
    /// Used when the client sends 0.
    pub default: u32,
    /// Larger requests are coerced down to this.
    pub max: u32,
}

impl PageSize {
    /// The effective page size; negative sizes are invalid.
    pub(crate) fn resolve(self, requested: i32) -> Result<u32, ServiceError> {
        match u32::try_from(requested) {
            Ok(0) => Ok(self.default),
            Ok(n) => Ok(n.min(self.max)),
            Err(_) => Err(ServiceError::invalid("page_size", "must not be negative")),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Token<C> {
    c: C,
    f: String,
}

/// A List request: AIP-158 `page_size` and `page_token` plus filters.
pub(crate) trait ListRequest: Message + Clone {
    /// Clears `page_size` and `page_token`, leaving what must not change between pages.
    fn clear_paging(&mut self);
}

macro_rules! list_requests {
    ($($t:ident),+ $(,)?) => {
        $(impl ListRequest for pb::$t {
            fn clear_paging(&mut self) {
                self.page_size = 0;
                self.page_token.clear();
            }
        })+
    };
}

list_requests!(
    ListTicketsRequest,
    ListTicketEventsRequest,
    LookupCallerRequest,
    ListUnitsRequest,
    ListRegionsRequest,
    ListTriageQueueRequest,
    ListRulesRequest,
    ListRuleSetsRequest,
    ListDispatchModelsRequest,
    ListOverdueRequest,
    ListSupervisionOrdersRequest,
    ListPiiAccessRequest,
    ListWebhookSubscriptionsRequest,
    ListWebhookDeliveriesRequest,
    ListAttachmentsRequest,
    ListArticlesRequest,
    ListArticleVersionsRequest,
    SearchArticlesRequest,
    ListHotspotsRequest,
);

/// Fingerprint of a List request's parameters other than paging, and of
/// its kind: requests of two methods can encode to the same bytes (no
/// filters at all, or the same fields, as ListOverdue and
/// ListSupervisionOrders have), and one method's cursor means nothing to
/// the other's order.
pub(crate) fn fingerprint<M: ListRequest>(request: &M) -> String {
    let mut copy = request.clone();
    copy.clear_paging();
    let mut hash = Sha256::new();
    hash.update(std::any::type_name::<M>().as_bytes());
    hash.update([0]);
    hash.update(copy.encode_to_vec());
    let digest = hash.finalize();
    URL_SAFE_NO_PAD.encode(&digest[..12])
}

/// Encodes the cursor of the last row of a full page.
pub(crate) fn encode<C: Serialize>(cursor: &C, fingerprint: &str) -> String {
    let token = Token {
        c: cursor,
        f: fingerprint.to_owned(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

/// Decodes a page token; empty means the first page.
pub(crate) fn decode<C: DeserializeOwned>(
    token: &str,
    fingerprint: &str,
) -> Result<Option<C>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || ServiceError::invalid("page_token", "malformed or expired page token");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let token: Token<C> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if token.f != fingerprint {
        return Err(ServiceError::invalid(
            "page_token",
            "the request's other parameters changed since this token was issued",
        ));
    }
    Ok(Some(token.c))
}

/// The next-page token: set only when the page came back full.
pub(crate) fn next_token<T, C: Serialize>(
    rows: &[T],
    limit: u32,
    fingerprint: &str,
    cursor_of: impl Fn(&T) -> C,
) -> String {
    match rows.last() {
        Some(last) if rows.len() == limit as usize => encode(&cursor_of(last), fingerprint),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_defaults_and_coerces() {
        let p = PageSize {
            default: 50,
            max: 500,
        };
        assert_eq!(p.resolve(0).unwrap(), 50);
        assert_eq!(p.resolve(7).unwrap(), 7);
        assert_eq!(p.resolve(10_000).unwrap(), 500);
        assert!(p.resolve(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_and_bind_to_the_fingerprint() {
        let token = encode(&(42_i64, "abc".to_owned()), "fp1");
        let back: Option<(i64, String)> = decode(&token, "fp1").unwrap();
        assert_eq!(back, Some((42, "abc".to_owned())));
        assert!(decode::<(i64, String)>(&token, "fp2").is_err());
        assert!(decode::<(i64, String)>("!!!", "fp1").is_err());
        assert_eq!(decode::<(i64, String)>("", "fp1").unwrap(), None);
    }

    #[test]
    fn a_token_of_one_method_is_refused_by_another_with_the_same_fields() {
        // The same fields, the same values: only the method differs.
        let overdue = pb::ListOverdueRequest::default();
        let orders = pb::ListSupervisionOrdersRequest::default();
        assert_eq!(overdue.encode_to_vec(), orders.encode_to_vec());
        let token = encode(&1_i64, &fingerprint(&overdue));
        assert!(decode::<i64>(&token, &fingerprint(&overdue)).is_ok());
        assert!(decode::<i64>(&token, &fingerprint(&orders)).is_err());
        let tickets = fingerprint(&pb::ListTicketsRequest::default());
        assert_ne!(tickets, fingerprint(&pb::ListTriageQueueRequest::default()));
    }

    #[test]
    fn next_token_only_for_full_pages() {
        assert_eq!(next_token(&[1, 2], 3, "f", |x| *x), "");
        assert_ne!(next_token(&[1, 2, 3], 3, "f", |x| *x), "");
    }
}
